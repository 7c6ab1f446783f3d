// The streaming scan recovery uses (mp4/scan.ts walkFragmentedFile over positional reads of the file,
// segments/file-bytes.ts) against the in-memory scan of the same bytes: the same init, fragments,
// validBytes and trailing for files cut at every kind of point, with damaged tails, with 64-bit box
// headers; the streamed CRC-32 of each fragment equal to the CRC-32 of its bytes; a moof header claiming
// more than any real moof is reported without being read.
import assert from 'node:assert/strict';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_MOOF_BYTES, type ScanResult, type ScannedFragment, scanFragmentedFile, walkFragmentedFile } from '../../src/mp4/scan.js';
import { crc32 } from '../../src/producer/segments/crc32.js';
import { withFileBytes } from '../../src/producer/segments/file-bytes.js';
import { withLargeHeaders } from '../helpers/big-segment.js';
import { makeVideo, probePackets, tempDir } from '../helpers/media.js';
import { fragmentsOf, topLevelBoxes } from '../mp4/fixtures.js';

const tmp = tempDir('segrec-stream-scan-');
let buf: Buffer;
before(async () => {
  const path = join(tmp.dir, 'src.mp4');
  await makeVideo(path, { seconds: 2, fps: 30, gop: 10, bframes: 2, audio: true });
  buf = readFileSync(path);
});
after(() => tmp.cleanup());

/** The streaming scan of a file (CRC chunks of `chunk` bytes), as a ScanResult, with each fragment's streamed CRC. */
function streamScan(path: string, chunk = 1000): { result: ScanResult; crcs: number[] } {
  return withFileBytes(path, (file) => {
    const fragments: ScannedFragment[] = [];
    const crcs: number[] = [];
    const r = walkFragmentedFile(file, (f) => {
      fragments.push(f);
      crcs.push(file.crc32(f.offset, f.size));
    });
    return { result: { init: r.init, initSize: r.initSize, fragments, validBytes: r.validBytes, trailing: r.trailing }, crcs };
  }, chunk);
}

let n = 0;
/** Writes `bytes` to a file and checks that both scans agree on it; returns the scan. */
function agree(bytes: Buffer, what: string): ScanResult {
  const path = join(tmp.dir, `case-${n++}.mp4`);
  writeFileSync(path, bytes);
  const mem = scanFragmentedFile(bytes);
  const { result, crcs } = streamScan(path);
  assert.deepStrictEqual(result, mem, what);
  assert.deepEqual(crcs, mem.fragments.map((f) => crc32(bytes.subarray(f.offset, f.offset + f.size))), `${what}: streamed CRCs`);
  return mem;
}

describe('streaming scan of a segment file', () => {
  it('agrees with the in-memory scan at every kind of cut', () => {
    const boxes = topLevelBoxes(buf);
    const cuts = new Set<number>([0, 3, 8, 12, buf.length]);
    for (const b of boxes) {
      for (const c of [b.start, b.start + 4, b.start + 8, b.start + 9, b.start + 16, b.start + 100, Math.floor((b.start + b.end) / 2), b.end - 1, b.end]) {
        if (c >= 0 && c <= buf.length) cuts.add(c);
      }
    }
    let withFragments = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      if (agree(buf.subarray(0, cut), `cut at ${cut}`).fragments.length > 0) withFragments++;
    }
    assert.ok(withFragments > 10);
  });

  it('agrees on damaged tails: garbage, a size beyond the file, a size below a header, a lying mdat', () => {
    const boxes = topLevelBoxes(buf);
    const body = buf.subarray(0, boxes[boxes.length - 1].start);
    const huge = Buffer.from('0000moof00000000', 'latin1');
    huge.writeUInt32BE(0x7fffffff, 0);
    const tiny = Buffer.from('00000000mdat', 'latin1');
    tiny.writeUInt32BE(5, 0);
    assert.match(agree(Buffer.concat([body, Buffer.from('\x00\x01\x02\x03\xff\xfe\xfd\xfc random bytes', 'latin1')]), 'garbage').trailing ?? '', /garbage/);
    assert.match(agree(Buffer.concat([body, huge]), 'huge').trailing ?? '', /truncated 'moof'/);
    assert.match(agree(Buffer.concat([body, tiny]), 'tiny').trailing ?? '', /size 5 < 8/);
    const lastMoof = boxes.filter((b) => b.type === 'moof').pop()!;
    const lastMdat = boxes.find((b) => b.start === lastMoof.end)!;
    const bad = Buffer.from(buf.subarray(0, lastMdat.end));
    bad.writeUInt32BE(lastMdat.end - lastMdat.start - 100, lastMdat.start);
    assert.match(agree(bad.subarray(0, lastMdat.end - 100), 'lying mdat').trailing ?? '', /outside its mdat/);
  });

  it('reads 64-bit box headers: samples where ffprobe finds them (64-bit mdat), moof sizes and offsets (64-bit moof too)', async () => {
    const { init, fragments } = fragmentsOf(buf);
    const plain = scanFragmentedFile(Buffer.concat([init, ...fragments]));
    const bigMdat = Buffer.concat([init, ...fragments.map((f) => withLargeHeaders(f, { moof: false }))]);
    const r = agree(bigMdat, '64-bit mdat headers');
    assert.equal(r.fragments.length, fragments.length);
    assert.equal(r.trailing, null);
    const path = join(tmp.dir, 'big-mdat.mp4');
    writeFileSync(path, bigMdat);
    const ours = r.fragments.flatMap((f) => f.moof.trackRuns.flatMap((t) => t.samples.map((s) => s.fileOffset))).sort((a, b) => a - b);
    assert.deepEqual((await probePackets(path)).map((p) => p.pos).sort((a, b) => a - b), ours);

    const big = agree(Buffer.concat([init, ...fragments.map((f) => withLargeHeaders(f))]), '64-bit moof and mdat headers');
    assert.equal(big.fragments.length, fragments.length);
    for (const [i, f] of big.fragments.entries()) {
      const p = plain.fragments[i];
      assert.equal(f.offset, p.offset + 16 * i);
      assert.equal(f.moofSize, p.moofSize + 8, 'the moof size counts its 16-byte header');
      assert.deepEqual(
        f.moof.trackRuns.flatMap((t) => t.samples.map((s) => s.fileOffset)),
        p.moof.trackRuns.flatMap((t) => t.samples.map((s) => s.fileOffset + 16 * (i + 1))),
      );
    }
  });

  it('a moof header claiming more than any real moof is reported, not read (a sparse file of 100 MiB)', () => {
    const boxes = topLevelBoxes(buf);
    const body = buf.subarray(0, boxes[boxes.length - 1].start);
    const path = join(tmp.dir, 'giant-moof.mp4');
    const header = Buffer.from('0000moof', 'latin1');
    const size = MAX_MOOF_BYTES + 1024 * 1024;
    header.writeUInt32BE(size, 0);
    writeFileSync(path, Buffer.concat([body, header]));
    truncateSync(path, body.length + size);
    const rssBefore = process.memoryUsage().rss;
    const { result } = streamScan(path);
    assert.ok(process.memoryUsage().rss - rssBefore < 32 * 1024 * 1024, 'the claimed moof was not read');
    assert.equal(result.validBytes, body.length);
    assert.match(result.trailing ?? '', /exceeds the \d+-byte limit/);
    assert.equal(result.fragments.length, boxes.filter((b) => b.type === 'moof').length);
  });

  it('a file that ends while it is read is an error, not a damaged tail', () => {
    const path = join(tmp.dir, 'shrinks.mp4');
    writeFileSync(path, buf);
    assert.throws(() => withFileBytes(path, (file) => {
      truncateSync(path, 100);
      return walkFragmentedFile(file, () => undefined);
    }), /ended at/);
  });
});
