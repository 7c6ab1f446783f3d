// layoutMp4's box structure, read back with our own box reader (every sample's bytes must be where the
// sample tables say), its ffprobe view, the chunking of writeLayout, its O_DIRECT and buffered writes, and
// its error paths.
import assert from 'node:assert/strict';
import { constants, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BoxHeader, childBoxes, readBoxHeader } from '../../src/mp4/box.js';
import { type TrackInfo, parseInit } from '../../src/mp4/init.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { type Mp4Layout, type WriterSample, type WriterTrack, layoutMp4 } from '../../src/mp4/writer.js';
import { alignedMemory, keptBufferSets, planChunks, writeLayout } from '../../src/producer/clips/write-layout.js';
import { withRamfs } from '../faults/support.js';
import { makeVideo, probePackets, probeStreams, tempDir } from '../helpers/media.js';
import { rng } from './fixtures.js';

const tmp = tempDir('segrec-mp4-writer-');
after(() => tmp.cleanup());
let video: TrackInfo;
let audio: TrackInfo;
let srcPath: string;
before(async () => {
  srcPath = join(tmp.dir, 'src.mp4');
  await makeVideo(srcPath, { seconds: 2, fps: 30, gop: 15, bframes: 2, audio: true });
  const init = parseInit(readFileSync(srcPath));
  [video, audio] = init.tracks;
});

/** A parsed view of one box tree node: header plus children (for containers we know). */
interface Node { h: BoxHeader; kids: Node[] }
const CONTAINERS = new Set(['moov', 'trak', 'edts', 'mdia', 'minf', 'dinf', 'stbl']);
function tree(buf: Buffer, start: number, end: number): Node[] {
  return childBoxes(buf, start, end).map((h) => ({
    h, kids: CONTAINERS.has(h.type) ? tree(buf, h.start + h.headerSize, h.end) : h.type === 'dref' ? tree(buf, h.start + 16, h.end) : [],
  }));
}
function shape(nodes: Node[]): unknown[] {
  return nodes.map((n) => (n.kids.length ? { [n.h.type]: shape(n.kids) } : n.h.type));
}
function find(nodes: Node[], path: string): Node {
  const [first, ...rest] = path.split('/');
  const n = nodes.find((x) => x.h.type === first);
  if (!n) throw new Error(`no ${first}`);
  return rest.length ? find(n.kids, rest.join('/')) : n;
}
const body = (buf: Buffer, n: Node): Buffer => buf.subarray(n.h.start + n.h.headerSize, n.h.end);

/** Reads a track's sample tables back: per sample its size and absolute offset, durations, cts, sync. */
function readTables(buf: Buffer, trak: Node): { offsets: number[]; sizes: number[]; durations: number[]; cts: number[] | null; sync: number[] | null; cttsVersion: number | null } {
  const stbl = find(trak.kids, 'mdia/minf/stbl');
  const get = (type: string): Buffer | null => { const n = stbl.kids.find((k) => k.h.type === type); return n ? body(buf, n) : null; };
  const stsz = get('stsz') as Buffer;
  const count = stsz.readUInt32BE(8);
  const sizes = Array.from({ length: count }, (_, i) => stsz.readUInt32BE(12 + 4 * i));
  const stts = get('stts') as Buffer;
  const durations: number[] = [];
  for (let i = 0; i < stts.readUInt32BE(4); i++) for (let j = 0; j < stts.readUInt32BE(8 + 8 * i); j++) durations.push(stts.readUInt32BE(12 + 8 * i));
  const cttsBox = get('ctts');
  let cts: number[] | null = null;
  if (cttsBox) {
    cts = [];
    for (let i = 0; i < cttsBox.readUInt32BE(4); i++) {
      for (let j = 0; j < cttsBox.readUInt32BE(8 + 8 * i); j++) cts.push(cttsBox[0] === 1 ? cttsBox.readInt32BE(12 + 8 * i) : cttsBox.readUInt32BE(12 + 8 * i));
    }
  }
  const stssBox = get('stss');
  const sync = stssBox ? Array.from({ length: stssBox.readUInt32BE(4) }, (_, i) => stssBox.readUInt32BE(8 + 4 * i)) : null;
  const stsc = get('stsc') as Buffer;
  const co64 = get('co64') as Buffer;
  const chunkOffsets = Array.from({ length: co64.readUInt32BE(4) }, (_, i) => Number(co64.readBigUInt64BE(8 + 8 * i)));
  const entries = Array.from({ length: stsc.readUInt32BE(4) }, (_, i) => ({ first: stsc.readUInt32BE(8 + 12 * i), per: stsc.readUInt32BE(12 + 12 * i) }));
  const offsets: number[] = [];
  let sample = 0;
  chunkOffsets.forEach((off, c) => {
    const e = [...entries].reverse().find((x) => x.first <= c + 1) as { per: number };
    let pos = off;
    for (let j = 0; j < e.per; j++) { offsets.push(pos); pos += sizes[sample++]; }
  });
  assert.equal(sample, count, 'stsc/co64 cover every sample');
  return { offsets, sizes, durations, cts, sync, cttsVersion: cttsBox ? cttsBox[0] : null };
}

/** Builds the whole output in memory from in-memory sources. */
function materialize(layout: Mp4Layout, sources: Buffer[]): Buffer {
  const out = Buffer.concat([layout.head, ...layout.copies.map((c) => sources[c.source].subarray(c.offset, c.offset + c.length))]);
  assert.equal(out.length, layout.size);
  return out;
}

describe('layoutMp4', () => {
  it('writes the documented box tree, and every sample lands where its tables say', () => {
    const rand = rng(7);
    const sources = [Buffer.alloc(4000), Buffer.alloc(3000)];
    for (const s of sources) for (let i = 0; i < s.length; i++) s[i] = Math.floor(rand() * 256);
    // Interleaved video/audio in each source: v(100) a(20) a(20) v(90) v(80) a(20) ... with one hole.
    const vs: WriterSample[] = [];
    const as: WriterSample[] = [];
    for (const [src, base] of [[0, 0], [1, 500]] as const) {
      let pos = base;
      for (let g = 0; g < 6; g++) {
        vs.push({ size: 100 + g, duration: 512, ctsOffset: g % 3 === 0 ? 1024 : 0, isSync: g === 0, source: src, offset: pos });
        pos += 100 + g;
        for (let k = 0; k < 2; k++) { as.push({ size: 20, duration: 1024, ctsOffset: 0, isSync: true, source: src, offset: pos }); pos += 20; }
        if (g === 3) pos += 7; // a hole: bytes no track uses
      }
    }
    const tracks: WriterTrack[] = [
      { info: video, samples: vs, edit: { mediaTime: 1536, duration: 512 * 10 } },
      { info: audio, samples: as, edit: { mediaTime: 448, duration: 24 * 1024 - 1000, emptyBefore: 480 } },
    ];
    const layout = layoutMp4(tracks);
    const out = materialize(layout, sources);
    const top = tree(out, 0, out.length);
    assert.deepEqual(top.map((n) => n.h.type), ['ftyp', 'moov', 'mdat']);
    assert.equal(find(top, 'mdat').h.start + 8, layout.head.length, 'head ends with the mdat header');
    const ftyp = body(out, find(top, 'ftyp'));
    assert.equal(ftyp.toString('latin1', 0, 4), 'isom');
    assert.deepEqual(ftyp.toString('latin1', 8).match(/.{4}/g), ['isom', 'iso2', 'avc1', 'mp41']);
    const trakShape = (mh: string, extra: string[]) => ({ trak: ['tkhd', { edts: ['elst'] }, { mdia: ['mdhd', 'hdlr',
      { minf: [mh, { dinf: [{ dref: ['url '] }] }, { stbl: ['stsd', 'stts', ...extra, 'stsc', 'stsz', 'co64'] }] }] }] });
    assert.deepEqual(shape(find(top, 'moov').kids), ['mvhd', trakShape('vmhd', ['ctts', 'stss']), trakShape('smhd', [])]);

    const traks = find(top, 'moov').kids.filter((n) => n.h.type === 'trak');
    for (const [ti, t] of tracks.entries()) {
      const got = readTables(out, traks[ti]);
      assert.deepEqual(got.sizes, t.samples.map((s) => s.size));
      assert.deepEqual(got.durations, t.samples.map((s) => s.duration));
      t.samples.forEach((s, i) => {
        assert.ok(out.subarray(got.offsets[i], got.offsets[i] + s.size).equals(sources[s.source].subarray(s.offset, s.offset + s.size)), `track ${ti} sample ${i}`);
      });
      assert.ok(body(out, find(traks[ti].kids, 'mdia/minf/stbl/stsd')).equals(t.info.stsd.subarray(8)), 'stsd verbatim');
      const hdlr = body(out, find(traks[ti].kids, 'mdia/hdlr'));
      assert.equal(hdlr.toString('latin1', 8, 12), t.info.handler);
      const mdhd = body(out, find(traks[ti].kids, 'mdia/mdhd'));
      assert.equal(mdhd.readUInt32BE(12), t.info.timescale);
      assert.equal(mdhd.readUInt32BE(16), t.samples.reduce((n, s) => n + s.duration, 0));
      const tkhd = body(out, find(traks[ti].kids, 'tkhd'));
      assert.equal(tkhd.readUInt32BE(12), ti + 1, 'track ids 1..n');
      assert.equal(tkhd.readUInt32BE(0) & 0xffffff, 3, 'enabled + in movie');
    }
    assert.deepEqual(readTables(out, traks[0]).cts, vs.map((s) => s.ctsOffset));
    assert.deepEqual(readTables(out, traks[0]).sync, [1, 7]);
    // Copies: one per source run, the hole splits source 0's run and source 1's.
    assert.deepEqual(layout.copies.map((c) => [c.source, c.offset]), [[0, 0], [0, 4 * 100 + 6 + 8 * 20 + 7], [1, 500], [1, 500 + 4 * 100 + 6 + 8 * 20 + 7]]);

    // Edit lists and durations, converted to the movie timescale (the video's: 15360).
    const mvhd = body(out, find(top, 'moov/mvhd'));
    assert.equal(mvhd.readUInt32BE(12), 15360);
    const audioMovieTicks = Math.round((480 * 15360) / 48000) + Math.round(((24 * 1024 - 1000) * 15360) / 48000);
    assert.equal(mvhd.readUInt32BE(16), Math.max(512 * 10, audioMovieTicks), 'the longest track');
    assert.equal(mvhd.readUInt32BE(96), 3, 'next_track_ID');
    const velst = body(out, find(traks[0].kids, 'edts/elst'));
    assert.deepEqual([velst.readUInt32BE(4), velst.readUInt32BE(8), velst.readInt32BE(12), velst.readUInt32BE(16)], [1, 5120, 1536, 0x10000]);
    const aelst = body(out, find(traks[1].kids, 'edts/elst'));
    assert.equal(aelst.readUInt32BE(4), 2);
    assert.deepEqual([aelst.readUInt32BE(8), aelst.readInt32BE(12)], [Math.round((480 * 15360) / 48000), -1]);
    assert.deepEqual([aelst.readUInt32BE(20), aelst.readInt32BE(24)], [Math.round(((24 * 1024 - 1000) * 15360) / 48000), 448]);
    const atkhd = body(out, find(traks[1].kids, 'tkhd'));
    assert.equal(atkhd.readUInt32BE(20), aelst.readUInt32BE(8) + aelst.readUInt32BE(20));
  });

  it('ctts v1 for negative offsets, no ctts/stss when not needed', () => {
    const samples = (cts: number[], sync: boolean[]): WriterSample[] => cts.map((c, i) => ({ size: 10, duration: 512, ctsOffset: c, isSync: sync[i], source: 0, offset: i * 10 }));
    let layout = layoutMp4([{ info: video, samples: samples([0, 0, 0], [true, true, true]), edit: { mediaTime: 0, duration: 1536 } }]);
    let out = materialize(layout, [Buffer.alloc(30)]);
    let trak = find(tree(out, 0, out.length), 'moov/trak');
    let t = readTables(out, trak);
    assert.equal(t.cts, null);
    assert.equal(t.sync, null);
    layout = layoutMp4([{ info: video, samples: samples([0, -512, 512], [true, false, false]), edit: { mediaTime: 0, duration: 1536 } }]);
    out = materialize(layout, [Buffer.alloc(30)]);
    trak = find(tree(out, 0, out.length), 'moov/trak');
    t = readTables(out, trak);
    assert.deepEqual(t.cts, [0, -512, 512]);
    assert.equal(t.cttsVersion, 1);
    assert.deepEqual(t.sync, [1]);
    assert.ok(body(out, find(tree(out, 0, out.length), 'ftyp')).toString('latin1').includes('iso4'));
  });

  it('uses a 64-bit mdat header and 64-bit chunk offsets beyond 4 GiB', () => {
    const gib3 = 3 * 1024 ** 3;
    const layout = layoutMp4([{
      info: video,
      samples: [
        { size: gib3, duration: 512, ctsOffset: 0, isSync: true, source: 0, offset: 0 },
        { size: gib3, duration: 512, ctsOffset: 0, isSync: true, source: 1, offset: 0 },
      ],
      edit: { mediaTime: 0, duration: 1024 },
    }]);
    assert.equal(layout.size, layout.head.length + 2 * gib3);
    const mdat = readBoxHeader(layout.head, layout.head.length - 16) as BoxHeader;
    assert.equal(mdat.type, 'mdat');
    assert.equal(mdat.headerSize, 16);
    assert.equal(mdat.size, 2 * gib3 + 16);
    const top = tree(layout.head, 0, layout.head.length - 16);
    const co64 = body(layout.head, find(top, 'moov/trak/mdia/minf/stbl/co64'));
    assert.equal(Number(co64.readBigUInt64BE(16)), layout.head.length + gib3);
    assert.deepEqual(layout.copies, [{ source: 0, offset: 0, length: gib3 }, { source: 1, offset: 0, length: gib3 }]);
  });

  it('ffprobe reads a layout of real samples: same packets, sizes and timing', async () => {
    const buf = readFileSync(srcPath);
    const scan = scanFragmentedFile(buf);
    const runs = scan.fragments.flatMap((f) => f.moof.trackRuns);
    const tracks: WriterTrack[] = [video, audio].map((info) => {
      const samples = runs.filter((r) => r.trackId === info.trackId).flatMap((r) => r.samples)
        .map((s) => ({ size: s.size, duration: s.duration, ctsOffset: s.ctsOffset, isSync: s.isSync, source: 0, offset: s.fileOffset }));
      const total = samples.reduce((n, s) => n + s.duration, 0);
      return { info, samples, edit: { mediaTime: info.kind === 'video' ? 1024 : 0, duration: total } };
    });
    const out = join(tmp.dir, 'whole.mp4');
    const layout = layoutMp4(tracks);
    await writeLayout(layout, [srcPath], out);
    assert.equal(layout.copies.length, scan.fragments.length, 'one copy per mdat: the samples of both tracks in it are contiguous');
    const [packets, srcPackets, streams] = await Promise.all([probePackets(out), probePackets(srcPath), probeStreams(out)]);
    for (const idx of [0, 1]) {
      const ours = packets.filter((p) => p.streamIndex === idx);
      const theirs = srcPackets.filter((p) => p.streamIndex === idx);
      assert.deepEqual(ours.map((p) => [p.size, p.keyframe, p.pts - p.dts]), theirs.map((p) => [p.size, p.keyframe, p.pts - p.dts]));
    }
    assert.deepEqual(streams.map((s) => [s.codecType, s.codecName, s.nbFrames]), [['video', 'h264', 60], ['audio', 'aac', srcPackets.filter((p) => p.streamIndex === 1).length]]);
    assert.ok(Math.abs(streams[0].duration - 2) < 1e-3, `video ${streams[0].duration}`);
  });
});

describe('writeLayout', () => {
  it('cuts the output into chunks: the head and the copy ranges split at chunk boundaries, in order', () => {
    const layout: Mp4Layout = {
      head: Buffer.alloc(10),
      copies: [{ source: 0, offset: 100, length: 25 }, { source: 1, offset: 0, length: 3 }, { source: 0, offset: 500, length: 2 }],
      size: 40,
    };
    const chunks = planChunks(layout, 16, 16);
    assert.deepEqual(chunks.map((c) => [c.start, c.length, c.pieces.map((p) => [p.at, p.length, p.source, p.offset])]), [
      [0, 16, [[0, 10, null, 0], [10, 6, 0, 100]]],
      [16, 16, [[0, 16, 0, 106]]],
      [32, 8, [[0, 3, 0, 122], [3, 3, 1, 0], [6, 2, 0, 500]]],
    ]);
    // A smaller first chunk (the disk starts sooner), the others full size.
    assert.deepEqual(planChunks(layout, 16, 8).map((c) => [c.start, c.length, c.pieces.map((p) => [p.at, p.length, p.source, p.offset])]), [
      [0, 8, [[0, 8, null, 0]]],
      [8, 16, [[0, 2, null, 8], [2, 14, 0, 100]]],
      [24, 16, [[0, 11, 0, 114], [11, 3, 1, 0], [14, 2, 0, 500]]],
    ]);
    assert.throws(() => planChunks({ ...layout, size: 41 }, 16, 16), /holds 40 bytes, its size says 41/);
    assert.throws(() => planChunks(layout, 16, 32), /does not fit/);
  });

  it('copies exactly, across many chunks and sources, written straight to the disk or buffered', async () => {
    const rand = rng(3);
    const a = Buffer.alloc(9 * 1024 * 1024 + 123);
    const b = Buffer.alloc(300_000);
    for (const s of [a, b]) for (let i = 0; i < s.length; i += 4) s.writeUInt32LE(Math.floor(rand() * 2 ** 32), i - (i + 4 > s.length ? 4 - (s.length - i) : 0));
    const pa = join(tmp.dir, 'a.bin');
    const pb = join(tmp.dir, 'b.bin');
    writeFileSync(pa, a);
    writeFileSync(pb, b);
    const layout: Mp4Layout = {
      head: Buffer.from('HEAD'),
      copies: [
        { source: 0, offset: 5, length: 1000 }, { source: 0, offset: 2000, length: 9 * 1024 * 1024 - 2000 },
        { source: 1, offset: 0, length: 100 }, { source: 1, offset: 100_000, length: 200_000 },
      ],
      size: 0,
    };
    layout.size = 4 + layout.copies.reduce((n, c) => n + c.length, 0);
    const expected = materialize(layout, [a, b]);
    const out = join(tmp.dir, 'copy.bin');
    const mode = await writeLayout(layout, [pa, pb], out);
    assert.ok(readFileSync(out).equals(expected));
    // Where this directory's filesystem takes O_DIRECT, the clip is written so (the last chunk truncated).
    assert.equal(mode, await directWorks(tmp.dir) ? 'direct' : 'buffered');
    // A smaller output over an existing file: nothing of the old one is left.
    const small: Mp4Layout = { head: Buffer.from('H'), copies: [{ source: 1, offset: 7, length: 5000 }], size: 5001 };
    await writeLayout(small, [pa, pb], out);
    assert.ok(readFileSync(out).equals(materialize(small, [a, b])));
    assert.equal(await writeLayout(layout, [pa, pb], out, { buffered: true }), 'buffered');
    assert.ok(readFileSync(out).equals(expected));
  });

  it('more clips written at once than aligned buffer sets are kept: the rest buffered, every one exact', async () => {
    const { src, bytes, layout } = oneSourceLayout('many', 5 * 1024 * 1024 + 333, 101, 7, 9);
    const outs = Array.from({ length: 6 }, (_, i) => join(tmp.dir, `many-${i}.bin`));
    const modes = await Promise.all(outs.map((o) => writeLayout(layout, [src], o)));
    const expected = materialize(layout, [bytes]);
    for (const o of outs) assert.ok(readFileSync(o).equals(expected), `${o} exact`);
    if (await directWorks(tmp.dir)) {
      const direct = modes.filter((m) => m === 'direct').length;
      assert.ok(direct >= 1 && direct <= 3, `${direct} of 6 written O_DIRECT (3 aligned sets at most)`);
    } else {
      assert.deepEqual(new Set(modes), new Set(['buffered']));
    }
  });

  it('keeps its aligned buffer sets for the clips that follow, and lets them go once none is written for a while', async () => {
    const { src, bytes, layout } = oneSourceLayout('keep', 2 * 1024 * 1024 + 17, 13, 5, 3);
    const out = join(tmp.dir, 'keep-out.bin');
    // A keep time well above what a clip and the pause take on a loaded machine (300 ms was not).
    const before = keptBufferSets(2000);
    try {
      await writeLayout(layout, [src], out);
      assert.equal(keptBufferSets(), Math.max(before, 1), 'kept after the clip');
      await new Promise((r) => setTimeout(r, 150));
      await writeLayout(layout, [src], out);
      assert.equal(keptBufferSets(), Math.max(before, 1), 'a clip within the keep time takes a kept set and puts it back');
      await new Promise((r) => setTimeout(r, 2600));
      assert.equal(keptBufferSets(), 0, 'none kept once no clip was written for the keep time');
      // Made again for the next clip, which is as exact as ever.
      await writeLayout(layout, [src], out);
      assert.ok(readFileSync(out).equals(materialize(layout, [bytes])));
      assert.equal(keptBufferSets(), 1);
    } finally {
      keptBufferSets(10_000);
    }
  });

  it('writes buffered where the filesystem refuses O_DIRECT (a ramfs)', async (t) => {
    const mnt = join(tmp.dir, 'ramfs');
    await withRamfs(t, mnt, async () => {
      const src = join(tmp.dir, 'r.bin');
      const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
      for (let i = 0; i < bytes.length; i += 997) bytes[i] = i % 251;
      writeFileSync(src, bytes);
      const layout: Mp4Layout = { head: Buffer.from('ramfs'), copies: [{ source: 0, offset: 3, length: bytes.length - 3 }], size: 5 + bytes.length - 3 };
      assert.equal(await directWorks(mnt), false, 'a ramfs refuses O_DIRECT');
      for (let i = 0; i < 2; i++) {
        assert.equal(await writeLayout(layout, [src], join(mnt, `r${i}.bin`)), 'buffered');
        assert.ok(readFileSync(join(mnt, `r${i}.bin`)).equals(materialize(layout, [bytes])));
      }
    });
  });

  it('rejects a source that is too short or missing', async () => {
    const p = join(tmp.dir, 'short.bin');
    writeFileSync(p, Buffer.alloc(100));
    const layout: Mp4Layout = { head: Buffer.alloc(8), copies: [{ source: 0, offset: 50, length: 100 }], size: 108 };
    await assert.rejects(writeLayout(layout, [p], join(tmp.dir, 'o1.bin')), /ends before byte 150/);
    await assert.rejects(writeLayout(layout, [join(tmp.dir, 'nope.bin')], join(tmp.dir, 'o2.bin')), /ENOENT/);
    await assert.rejects(writeLayout(layout, [], join(tmp.dir, 'o3.bin')), /no path for source 0/);
  });
});

/** Whether `dir`'s filesystem takes an O_DIRECT write of one aligned block (probed apart from the writer). */
/**
 * A source file `name`.bin of `size` bytes (every `step`-th byte patterned with `mul`, the rest zero) and a
 * layout of a 4-byte head (the name) and one copy of the source from `skip` on.
 */
function oneSourceLayout(name: string, size: number, step: number, mul: number, skip: number): { src: string; bytes: Buffer; layout: Mp4Layout } {
  const src = join(tmp.dir, `${name}.bin`);
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < bytes.length; i += step) bytes[i] = (i * mul) % 256;
  writeFileSync(src, bytes);
  const head = Buffer.from(name.toUpperCase());
  return { src, bytes, layout: { head, copies: [{ source: 0, offset: skip, length: size - skip }], size: head.length + size - skip } };
}

async function directWorks(dir: string): Promise<boolean> {
  const probe = join(dir, '.direct-probe');
  try {
    const h = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT);
    try {
      const aligned = alignedMemory(4096).subarray(0, 4096);
      await h.write(aligned, 0, 4096, 0);
      return true;
    } finally {
      await h.close();
      rmSync(probe, { force: true });
    }
  } catch {
    return false;
  }
}
