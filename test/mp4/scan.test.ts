// scanFragmentedFile on damaged files: truncated at every kind of point, garbage or an mfra at the
// end, a box with a nonsense size. validBytes must be the end of the last whole fragment, and ffprobe
// must read the file truncated there with exactly the fragments' samples.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { makeVideo, probePackets, tempDir } from '../helpers/media.js';
import { topLevelBoxes } from './fixtures.js';

const tmp = tempDir('segrec-mp4-scan-');
let buf: Buffer;
let path: string;
before(async () => {
  path = join(tmp.dir, 'src.mp4');
  await makeVideo(path, { seconds: 2, fps: 30, gop: 10, bframes: 2, audio: true });
  buf = readFileSync(path);
});
after(() => tmp.cleanup());

describe('scanFragmentedFile', () => {
  it('truncation at every kind of point', () => {
    const boxes = topLevelBoxes(buf);
    const moov = boxes.find((b) => b.type === 'moov')!;
    const fragEnds = boxes.filter((b) => b.type === 'mdat').map((b) => b.end);
    const cuts = new Set<number>([0, 3, 8, 12]);
    for (const b of boxes) {
      for (const c of [b.start, b.start + 4, b.start + 8, b.start + 9, b.start + 16, b.start + 100,
        Math.floor((b.start + b.end) / 2), b.end - 1, b.end]) {
        if (c >= 0 && c <= buf.length) cuts.add(c);
      }
    }
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      const r = scanFragmentedFile(buf.subarray(0, cut));
      const complete = fragEnds.filter((e) => e <= cut);
      const msg = `cut at ${cut}`;
      if (cut < moov.end) {
        assert.equal(r.init, null, msg);
        assert.equal(r.validBytes, 0, msg);
        assert.equal(r.fragments.length, 0, msg);
        assert.equal(r.trailing === null, cut === 0, msg);
        continue;
      }
      assert.ok(r.init, msg);
      assert.equal(r.initSize, moov.end, msg);
      assert.equal(r.fragments.length, complete.length, msg);
      const expectValid = complete.length ? complete[complete.length - 1] : moov.end;
      assert.equal(r.validBytes, expectValid, msg);
      // Nothing lost exactly at a fragment boundary, or when only (part of) nothing follows.
      const atBoundary = cut === expectValid;
      const mfraStart = boxes[boxes.length - 1].start;
      if (atBoundary || cut === buf.length) assert.equal(r.trailing, null, msg);
      else if (cut > mfraStart) assert.match(r.trailing ?? '', /truncated 'mfra'|truncated box header/, msg);
      else assert.notEqual(r.trailing, null, msg);
      if (r.fragments.length) {
        const last = r.fragments[r.fragments.length - 1];
        assert.equal(last.offset + last.size, r.validBytes, msg);
      }
    }
  });

  it('garbage and nonsense sizes after the last fragment', () => {
    const boxes = topLevelBoxes(buf);
    const mfra = boxes[boxes.length - 1];
    const body = buf.subarray(0, mfra.start);
    const frags = boxes.filter((b) => b.type === 'moof').length;
    const garbage = Buffer.from('\x00\x01\x02\x03\xff\xfe\xfd\xfc random bytes here', 'latin1');
    let r = scanFragmentedFile(Buffer.concat([body, garbage]));
    assert.equal(r.fragments.length, frags);
    assert.equal(r.validBytes, body.length);
    assert.match(r.trailing ?? '', /garbage|bad box|truncated/);

    const huge = Buffer.from('0000moof00000000', 'latin1');
    huge.writeUInt32BE(0x7fffffff, 0);
    r = scanFragmentedFile(Buffer.concat([body, huge]));
    assert.equal(r.validBytes, body.length);
    assert.match(r.trailing ?? '', /truncated 'moof'/);

    const tiny = Buffer.from('00000000mdat', 'latin1');
    tiny.writeUInt32BE(5, 0);
    r = scanFragmentedFile(Buffer.concat([body, tiny]));
    assert.equal(r.validBytes, body.length);
    assert.match(r.trailing ?? '', /size 5 < 8/);

    // A moof whose mdat is too short for its samples (mdat header intact, size lying).
    const lastMoof = boxes.filter((b) => b.type === 'moof').pop()!;
    const lastMdat = boxes.find((b) => b.start === lastMoof.end)!;
    const bad = Buffer.from(buf.subarray(0, lastMdat.end));
    bad.writeUInt32BE(lastMdat.end - lastMdat.start - 100, lastMdat.start);
    r = scanFragmentedFile(bad.subarray(0, lastMdat.end - 100));
    assert.equal(r.fragments.length, frags - 1);
    assert.equal(r.validBytes, lastMoof.start);
    assert.match(r.trailing ?? '', /outside its mdat/);
  });

  it('ffprobe reads the file truncated at validBytes: the same samples', async () => {
    const boxes = topLevelBoxes(buf);
    const mdats = boxes.filter((b) => b.type === 'mdat');
    const cut = Math.floor((mdats[2].start + mdats[2].end) / 2);
    const r = scanFragmentedFile(buf.subarray(0, cut));
    assert.equal(r.fragments.length, 2);
    const p = join(tmp.dir, 'recovered.mp4');
    writeFileSync(p, buf.subarray(0, r.validBytes));
    const packets = await probePackets(p);
    const ours = r.fragments.flatMap((f) => f.moof.trackRuns.flatMap((t) => t.samples.map((s) => s.fileOffset))).sort((a, b) => a - b);
    assert.deepEqual(packets.map((x) => x.pos).sort((a, b) => a - b), ours);
  });
});
