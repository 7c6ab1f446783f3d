// parseInit / parseMoof / scanFragmentedFile against ffprobe's packet list, the streaming splitter
// against arbitrary chunkings, and the box/time primitives.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Mp4ParseError, childBoxes, readBoxHeader } from '../../src/mp4/box.js';
import { type FragmentSample, SAMPLE_FIELDS, parseMoof, runLength, runTable, unpackSamples } from '../../src/mp4/fragment.js';
import { type InitSegment, parseInit } from '../../src/mp4/init.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { TopLevelBoxSplitter } from '../../src/mp4/splitter.js';
import { nsToTicks, ticksToNs } from '../../src/mp4/time.js';
import { type MakeVideoOptions, makeVideo, probePackets, tempDir } from '../helpers/media.js';
import { hasX265, makeVariant, rng, topLevelBoxes } from './fixtures.js';

const tmp = tempDir('segrec-mp4-parse-');
after(() => tmp.cleanup());

const VIDEOS: Record<string, MakeVideoOptions> = {
  plain: { seconds: 2, fps: 30, gop: 30 },
  bframesAudio: { seconds: 3, fps: 30, gop: 15, bframes: 2, audio: true },
  fps15Audio: { seconds: 2, fps: 15, gop: 15, audio: true },
  h265: { seconds: 2, fps: 30, gop: 15, bframes: 2, codec: 'h265' },
};
const made = new Map<string, Promise<string | null>>();
function video(name: string): Promise<string | null> {
  let p = made.get(name);
  if (!p) {
    const o = VIDEOS[name];
    p = (async () => {
      if (o.codec === 'h265' && !(await hasX265())) return null;
      const path = join(tmp.dir, `${name}.mp4`);
      await makeVideo(path, o);
      return path;
    })();
    made.set(name, p);
  }
  return p;
}

describe('parseInit + parseMoof agree with ffprobe -show_packets', () => {
  for (const name of Object.keys(VIDEOS)) {
    it(name, async (t) => {
      const path = await video(name);
      if (path === null) { t.skip('libx265 not available'); return; }
      const buf = readFileSync(path);
      const init = parseInit(buf);
      const o = VIDEOS[name];
      assert.equal(init.tracks.length, o.audio ? 2 : 1);
      const v = init.tracks[0];
      assert.equal(v.kind, 'video');
      assert.equal(v.handler, 'vide');
      assert.equal(v.width, 320);
      assert.equal(v.height, 240);
      if (o.codec === 'h265') {
        assert.equal(v.sampleEntry, 'hvc1');
        assert.equal(v.codec, 'hevc');
        assert.match(v.codecString, /^hvc1\.1\.6\.L\d+(\.[0-9A-F]{1,2})*$/);
      } else {
        assert.equal(v.sampleEntry, 'avc1');
        assert.equal(v.codec, 'h264');
        assert.match(v.codecString, /^avc1\.[0-9a-f]{6}$/);
      }
      if (o.audio) {
        const a = init.tracks[1];
        assert.equal(a.kind, 'audio');
        assert.equal(a.sampleEntry, 'mp4a');
        assert.equal(a.codec, 'aac');
        assert.equal(a.codecString, 'mp4a.40.2');
        assert.equal(a.sampleRate, 48000);
        assert.equal(a.channelCount, 1);
        assert.equal(a.timescale, 48000);
      }
      assert.equal(init.bytes.subarray(0, 8).toString('latin1', 4), 'ftyp');
      assert.equal(readBoxHeader(v.stsd, 0)?.type, 'stsd');

      // Walk the top-level boxes and parse every moof at its file offset.
      const ours = new Map<number, Array<{ pts: number; dts: number; size: number; keyframe: boolean; pos: number }>>();
      let seq = 0;
      for (const b of topLevelBoxes(buf)) {
        if (b.type !== 'moof') continue;
        const m = parseMoof(buf.subarray(b.start, b.end), b.start, init);
        assert.equal(m.sequenceNumber, ++seq);
        for (const r of m.trackRuns) {
          const list = ours.get(r.trackId) ?? [];
          for (const s of r.samples) {
            list.push({ pts: s.decodeTime + s.ctsOffset, dts: s.decodeTime, size: s.size, keyframe: s.isSync, pos: s.fileOffset });
          }
          ours.set(r.trackId, list);
        }
      }
      const packets = await probePackets(path);
      init.tracks.forEach((track, index) => {
        const theirs = packets.filter((p) => p.streamIndex === index)
          .map((p) => ({ pts: p.pts, dts: p.dts, size: p.size, keyframe: p.keyframe, pos: p.pos }));
        assert.ok(theirs.length > 10);
        assert.deepEqual(ours.get(track.trackId), theirs, `track ${track.trackId}`);
      });
      if (o.bframes) assert.ok((ours.get(v.trackId) ?? []).some((s) => s.pts !== s.dts), 'B-frames give cts offsets');

      // The scan finds the same fragments, and stops cleanly at ffmpeg's mfra.
      const scan = scanFragmentedFile(buf);
      assert.equal(scan.fragments.length, seq);
      assert.equal(scan.trailing, null);
      assert.equal(scan.initSize, init.bytes.length);
      const boxes = topLevelBoxes(buf);
      assert.equal(boxes[boxes.length - 1].type, 'mfra');
      assert.equal(scan.validBytes, boxes[boxes.length - 1].start);
    });
  }

  it('descriptionKey: equal for the same settings, different for another size or codec', async () => {
    const a = parseInit(readFileSync((await video('plain'))!)).tracks[0];
    const b = parseInit(readFileSync((await video('bframesAudio'))!)).tracks[0];
    assert.match(a.descriptionKey, /^[0-9a-f]{40}$/);
    assert.notEqual(a.descriptionKey, b.descriptionKey); // different encoder settings → different avcC
    const c = parseInit(readFileSync((await video('bframesAudio'))!)).tracks[0];
    assert.equal(b.descriptionKey, c.descriptionKey);
    assert.deepEqual(b.defaults, { sampleDescriptionIndex: 1, sampleDuration: 0, sampleSize: 0, sampleFlags: 0 });
  });
});

/** Every sample of every fragment, per track id, walking the file's top-level boxes. */
function samplesByTrack(buf: Buffer, init: InitSegment): Map<number, FragmentSample[]> {
  const out = new Map<number, FragmentSample[]>();
  for (const b of topLevelBoxes(buf)) {
    if (b.type !== 'moof') continue;
    for (const r of parseMoof(buf.subarray(b.start, b.end), b.start, init).trackRuns) {
      out.set(r.trackId, [...(out.get(r.trackId) ?? []), ...r.samples]);
    }
  }
  return out;
}

describe('muxer variants (the general cases)', () => {
  it('tfhd base-data-offset (no default_base_moof) and avc3', async () => {
    const path = join(tmp.dir, 'bdo.mp4');
    await makeVariant(path, 'frag_keyframe+empty_moov', ['-c:v', 'libx264', '-preset', 'ultrafast', '-tag:v', 'avc3']);
    const buf = readFileSync(path);
    const moof = topLevelBoxes(buf).find((b) => b.type === 'moof')!;
    const tfhdAt = buf.indexOf('tfhd', moof.start, 'latin1');
    assert.equal(buf.readUInt32BE(tfhdAt + 4) & 0x1, 1, 'ffmpeg wrote a base-data-offset');
    const init = parseInit(buf);
    assert.equal(init.tracks[0].sampleEntry, 'avc3');
    assert.equal(init.tracks[0].codec, 'h264');
    assert.match(init.tracks[0].codecString, /^avc3\.[0-9a-f]{6}$/);
    const ours = samplesByTrack(buf, init).get(1)!;
    const theirs = await probePackets(path);
    assert.deepEqual(ours.map((s) => [s.decodeTime + s.ctsOffset, s.decodeTime, s.size, s.isSync, s.fileOffset]),
      theirs.map((p) => [p.pts, p.dts, p.size, p.keyframe, p.pos]));
  });

  it('trun v1 with negative composition offsets', async () => {
    const path = join(tmp.dir, 'neg.mp4');
    await makeVariant(path, 'frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets',
      ['-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '2']);
    const buf = readFileSync(path);
    const ours = samplesByTrack(buf, parseInit(buf)).get(1)!;
    assert.ok(ours.some((s) => s.ctsOffset < 0), 'negative offsets parsed as such');
    const theirs = await probePackets(path);
    // ffmpeg's demuxer shifts pts by a constant (its dts_shift) instead of letting it go negative.
    const shift = theirs[0].pts - (ours[0].decodeTime + ours[0].ctsOffset);
    assert.deepEqual(ours.map((s) => [s.decodeTime + s.ctsOffset + shift, s.decodeTime, s.size, s.isSync, s.fileOffset]),
      theirs.map((p) => [p.pts, p.dts, p.size, p.keyframe, p.pos]));
  });

  it('hev1', async (t) => {
    if (!(await hasX265())) { t.skip('libx265 not available'); return; }
    const path = join(tmp.dir, 'hev1.mp4');
    await makeVariant(path, 'frag_keyframe+empty_moov+default_base_moof',
      ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-tag:v', 'hev1']);
    const init = parseInit(readFileSync(path));
    assert.equal(init.tracks[0].sampleEntry, 'hev1');
    assert.equal(init.tracks[0].codec, 'hevc');
    assert.match(init.tracks[0].codecString, /^hev1\.1\.6\.L\d+(\.[0-9A-F]{1,2})*$/);
  });

  // Hand-built moofs for what ffmpeg does not write: trex defaults, chained trafs/truns, explicit bases.
  const be32 = (...v: number[]): Buffer => { const b = Buffer.alloc(4 * v.length); v.forEach((x, i) => b.writeInt32BE(x | 0, 4 * i)); return b; };
  const box = (type: string, ...parts: Buffer[]): Buffer => {
    const body = Buffer.concat(parts);
    const h = Buffer.alloc(8);
    h.writeUInt32BE(8 + body.length, 0);
    h.write(type, 4, 'latin1');
    return Buffer.concat([h, body]);
  };
  const full = (type: string, version: number, flags: number, ...parts: Buffer[]): Buffer => box(type, be32(((version << 24) | flags) >>> 0), ...parts);

  it('trex defaults, first-sample flags, default-base-is-moof', async () => {
    const src = readFileSync((await video('plain'))!);
    const init0 = parseInit(src);
    // Patch the init's trex: duration 512, size 100, flags non-sync.
    const bytes = Buffer.from(init0.bytes);
    const trex = bytes.indexOf('trex', 0, 'latin1');
    bytes.writeUInt32BE(512, trex + 16);
    bytes.writeUInt32BE(100, trex + 20);
    bytes.writeUInt32BE(0x10000, trex + 24);
    const init = parseInit(bytes);
    assert.deepEqual(init.tracks[0].defaults, { sampleDescriptionIndex: 1, sampleDuration: 512, sampleSize: 100, sampleFlags: 0x10000 });
    const build = (dataOffset: number) => box('moof', full('mfhd', 0, 0, be32(9)), box('traf',
      full('tfhd', 0, 0x20000, be32(1)), full('tfdt', 1, 0, be32(0, 1000)),
      full('trun', 0, 0x001 | 0x004, be32(3, dataOffset, 0))));
    const size = build(0).length;
    const m = parseMoof(build(size + 8), 4000, init);
    assert.equal(m.sequenceNumber, 9);
    assert.deepEqual(m.trackRuns[0].samples, [0, 1, 2].map((i) => ({
      decodeTime: 1000 + 512 * i, duration: 512, size: 100, ctsOffset: 0, isSync: i === 0, fileOffset: 4000 + size + 8 + 100 * i,
    })));
  });

  it('chained truns and trafs without data offsets, explicit base-data-offset, no tfdt', async () => {
    const init = parseInit(readFileSync((await video('bframesAudio'))!));
    const traf1 = box('traf', full('tfhd', 0, 0x08 | 0x10, be32(1, 512, 50)),
      full('trun', 1, 0x001 | 0x800, be32(2, 300, -512, 1024)),
      full('trun', 0, 0x200, be32(1, 70)));
    const traf2 = box('traf', full('tfhd', 0, 0x08 | 0x10, be32(2, 1024, 20)), full('tfdt', 0, 0, be32(48000)), full('trun', 0, 0, be32(2)));
    const m = parseMoof(box('moof', full('mfhd', 0, 0, be32(1)), traf1, traf2), 5000, init, new Map([[1, 7000]]));
    const pick = (s: FragmentSample) => [s.decodeTime, s.duration, s.size, s.ctsOffset, s.fileOffset];
    assert.deepEqual(m.trackRuns[0].samples.map(pick), [[7000, 512, 50, -512, 5300], [7512, 512, 50, 1024, 5350], [8024, 512, 70, 0, 5400]]);
    assert.deepEqual(m.trackRuns[1].samples.map(pick), [[48000, 1024, 20, 0, 5470], [49024, 1024, 20, 0, 5490]]);
    // tfhd base-data-offset: absolute in the file, whatever the moof's position.
    const traf3 = box('traf', full('tfhd', 0, 0x01 | 0x08 | 0x10, be32(1, 0, 123456, 512, 10)), full('tfdt', 0, 0, be32(0)),
      full('trun', 0, 0x001, be32(2, 8)));
    const m3 = parseMoof(box('moof', full('mfhd', 0, 0, be32(2)), traf3), 999, init);
    assert.deepEqual(m3.trackRuns[0].samples.map((s) => s.fileOffset), [123464, 123474]);
    assert.throws(() => parseMoof(box('moof', box('traf', full('tfhd', 0, 0, be32(77)))), 0, init), /track 77/);
  });

  it('each run is a packed table; its sample objects are made from it on first use, and samples set anew replace it', async () => {
    const init = parseInit(readFileSync((await video('bframesAudio'))!));
    const traf = (n: number) => box('traf', full('tfhd', 0, 0x08 | 0x10 | 0x20000, be32(1, 512, 50)), full('tfdt', 0, 0, be32(1000)),
      full('trun', 1, 0x001 | 0x800, be32(n, 100, ...Array.from({ length: n }, (_, i) => (i % 3) * 512 - 512))));
    const moofs = [1, 7, 300].map((n) => parseMoof(box('moof', full('mfhd', 0, 0, be32(1)), traf(n)), 5000, init));
    for (const m of moofs) {
      const r = m.trackRuns[0];
      assert.ok(r.table, 'parseMoof packs the run');
      assert.equal(runLength(r), r.table.length / SAMPLE_FIELDS);
      const objects = r.samples;
      assert.deepEqual(objects, unpackSamples(r.table));
      assert.equal(r.samples, objects, 'made once');
      assert.deepEqual(objects.map((x) => x.ctsOffset), objects.map((_, i) => (i % 3) * 512 - 512));
      assert.equal(objects[objects.length - 1].fileOffset, 5100 + 50 * (objects.length - 1));
    }
    // Tables of several moofs share storage but never overlap.
    assert.deepEqual(moofs.map((m) => m.trackRuns[0].samples.length), [1, 7, 300]);
    const r = moofs[1].trackRuns[0];
    r.samples = r.samples.slice(0, 2);
    assert.equal(r.table, undefined);
    assert.deepEqual(unpackSamples(runTable(r)), r.samples);
  });
});

describe('TopLevelBoxSplitter', () => {
  it('returns identical boxes whatever the chunking', async () => {
    const buf = readFileSync((await video('bframesAudio'))!);
    const expected = topLevelBoxes(buf).map((b) => ({ type: b.type, hex: buf.subarray(b.start, b.end).toString('base64') }));
    const rand = rng(42);
    for (let round = 0; round < 40; round++) {
      const sp = new TopLevelBoxSplitter();
      const got: Array<{ type: string; hex: string }> = [];
      let pos = 0;
      const maxChunk = [1, 7, 100, 5000, 70000, buf.length][round % 6];
      while (pos < buf.length) {
        const n = Math.max(1, Math.floor(rand() * maxChunk));
        const chunk = buf.subarray(pos, Math.min(buf.length, pos + n));
        pos += chunk.length;
        for (const b of sp.push(Buffer.from(chunk))) got.push({ type: b.type, hex: b.data.toString('base64') });
        if (round === 3) assert.ok(sp.pendingBytes >= 0);
      }
      assert.equal(sp.pendingBytes, 0);
      assert.deepEqual(got, expected, `round ${round}`);
    }
  });

  it('keeps a partial box pending and handles 64-bit sizes', () => {
    const big = Buffer.alloc(16 + 10, 0xab);
    big.writeUInt32BE(1, 0);
    big.write('mdat', 4, 'latin1');
    big.writeUInt32BE(0, 8);
    big.writeUInt32BE(26, 12);
    const free = Buffer.from('\0\0\0\x08free', 'latin1');
    const stream = Buffer.concat([free, big]);
    const sp = new TopLevelBoxSplitter();
    assert.deepEqual(sp.push(stream.subarray(0, 12)).map((b) => b.type), ['free']);
    assert.equal(sp.pendingBytes, 4);
    assert.deepEqual(sp.push(stream.subarray(12, 30)), []);
    assert.equal(sp.pendingBytes, 22);
    const out = sp.push(stream.subarray(30));
    assert.equal(out.length, 1);
    assert.equal(out[0].type, 'mdat');
    assert.ok(out[0].data.equals(big));
    assert.equal(sp.pendingBytes, 0);
  });

  it('rejects garbage, size 0, nonsense and oversized boxes', () => {
    assert.throws(() => new TopLevelBoxSplitter().push(Buffer.from('0000001000ff00ff0000000000000000', 'hex')), Mp4ParseError);
    const zero = Buffer.from('00000000mdat', 'latin1');
    zero.writeUInt32BE(0, 0);
    assert.throws(() => new TopLevelBoxSplitter().push(zero), /size-0/);
    const tiny = Buffer.from('....free', 'latin1');
    tiny.writeUInt32BE(4, 0);
    assert.throws(() => new TopLevelBoxSplitter().push(tiny), /size 4 < 8/);
    const huge = Buffer.from('....mdat', 'latin1');
    huge.writeUInt32BE(2_000_000, 0);
    const sp = new TopLevelBoxSplitter({ maxBoxBytes: 1_000_000 });
    assert.throws(() => sp.push(huge), /exceeds/);
    assert.throws(() => sp.push(Buffer.alloc(0)), /exceeds/, 'stays failed');
  });
});

describe('box and time primitives', () => {
  it('readBoxHeader: null when short, sizes 0/1, nonsense throws', () => {
    const b = Buffer.alloc(32);
    b.writeUInt32BE(0, 0);
    b.write('mdat', 4, 'latin1');
    assert.deepEqual(readBoxHeader(b, 0), { type: 'mdat', start: 0, headerSize: 8, size: 32, end: 32 });
    assert.deepEqual(readBoxHeader(b, 0, 20), { type: 'mdat', start: 0, headerSize: 8, size: 20, end: 20 });
    assert.equal(readBoxHeader(b, 0, 7), null);
    b.writeUInt32BE(1, 0);
    assert.equal(readBoxHeader(b, 0, 12), null);
    b.writeUInt32BE(1, 8);
    b.writeUInt32BE(5, 12);
    assert.deepEqual(readBoxHeader(b, 0), { type: 'mdat', start: 0, headerSize: 16, size: 2 ** 32 + 5, end: 2 ** 32 + 5 });
    b.writeUInt32BE(0, 8);
    assert.throws(() => readBoxHeader(b, 0), Mp4ParseError); // 64-bit size 5 < 16
    b.writeUInt32BE(3, 0);
    assert.throws(() => readBoxHeader(b, 0), Mp4ParseError);
    b.writeUInt32BE(0xffffffff, 8);
    b.writeUInt32BE(1, 0);
    assert.throws(() => readBoxHeader(b, 0), /too large/);
  });

  it('childBoxes: tiles a container, rejects overruns, tolerates a zero terminator', () => {
    const kid = (type: string, n: number) => { const k = Buffer.alloc(n); k.writeUInt32BE(n, 0); k.write(type, 4, 'latin1'); return k; };
    const body = Buffer.concat([kid('aaaa', 8), kid('bbbb', 12), Buffer.alloc(4)]);
    assert.deepEqual(childBoxes(body, 0, body.length).map((x) => [x.type, x.start, x.end]), [['aaaa', 0, 8], ['bbbb', 8, 20]]);
    assert.throws(() => childBoxes(body, 0, 18), /overruns/);
    const junk = Buffer.concat([kid('aaaa', 8), Buffer.from([1, 2, 3])]);
    assert.throws(() => childBoxes(junk, 0, junk.length), /truncated box header/);
  });

  it('ticksToNs / nsToTicks round half up, exactly, for large values', () => {
    assert.equal(ticksToNs(1, 15360), 65104); // 65104.1666
    assert.equal(ticksToNs(1, 3), 333333333);
    assert.equal(ticksToNs(2, 3), 666666667);
    assert.equal(ticksToNs(1, 2_000_000_000), 1); // 0.5 → 1
    assert.equal(ticksToNs(-1, 2_000_000_000), 0); // -0.5 → 0 (Math.round)
    assert.equal(nsToTicks(65104, 15360), 1);
    // 30 days at 90 kHz: ticks * 1e9 is far beyond 2^53.
    const ticks = 90000 * 86400 * 30 + 1;
    assert.equal(ticksToNs(ticks, 90000), 86400 * 30 * 1e9 + 11111);
    assert.equal(nsToTicks(86400 * 30 * 1e9 + 11111, 90000), ticks);
    const big = BigInt(ticks) * 1_000_000_000n;
    assert.equal(ticksToNs(ticks, 15360), Number((2n * big + 15360n) / 30720n));
    for (let t = 9_000_000_000; t < 9_000_000_000 + 50_000; t += 7) {
      const ns = ticksToNs(t, 15360);
      assert.equal(ns, Number((2n * BigInt(t) * 1_000_000_000n + 15360n) / 30720n));
      assert.equal(nsToTicks(ns, 15360), t, 'round trip');
    }
  });
});
