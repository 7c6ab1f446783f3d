// Plain (non-fragmented, moov-first) MP4 layout for clips: given each track's samples as byte ranges
// of source files, builds the file's head (ftyp + moov + mdat header) and the list of source byte
// ranges to copy after it. No sample is re-packetized: the mdat is the sources' bytes in source order.
// A track's samples come as objects or as columns (writer-tables.ts, which also builds the per-sample
// tables: the planner's tracks are columns); the head is assembled once, in one buffer.
// Pure: the caller (src/producer/clips/write-layout.ts) does the I/O.
//
// The file, box by box (every field not listed is zero; sizes are 32-bit unless noted):
//
//   ftyp                 major 'isom', minor 0x200; compatible 'isom' 'iso2' ['avc1' when a track is
//                        H.264] 'mp41' ['iso4' when a ctts needs version 1]
//   moov
//     mvhd (v0 | v1)     timescale = movie timescale (the video track's unless given);
//                        duration = longest track's edit list, in movie ticks (v1 when > 2^32-1);
//                        rate 1.0, volume 1.0, unity matrix, next_track_ID = tracks + 1
//     trak               one per WriterTrack, in the order given; track ids renumbered 1..n
//       tkhd (v0 | v1)   flags 3 (enabled, in movie); track_ID; duration = the edit list's total in
//                        movie ticks; volume 1.0 for audio; unity matrix; width/height (16.16) of video
//       edts
//         elst (v0 | v1) [an empty edit (media_time -1) of `emptyBefore` when given, then] one edit:
//                        segment_duration = edit.duration in movie ticks, media_time = edit.mediaTime
//                        in track ticks, rate 1.0 — this is what starts presentation at the wanted
//                        frame and hides the frames decoded only as references
//       mdia
//         mdhd (v0 | v1) timescale = the track's; duration = sum of sample durations; language 'und'
//         hdlr           handler_type from the source ('vide', 'soun', ...); name "VideoHandler" etc.
//         minf
//           vmhd | smhd | nmhd   media header by kind (vmhd flags 1)
//           dinf
//             dref       one 'url ' entry with flags 1 (data in this file)
//           stbl
//             stsd       the source's stsd box, verbatim (so codec config is bit-identical)
//             stts       run-length (count, delta) of sample durations
//             ctts       only when some composition offset ≠ 0: run-length (count, offset); v0, or
//                        v1 (signed) when an offset is negative
//             stss       only when not every sample is sync: 1-based numbers of the sync samples
//             stsc       run-length (first_chunk, samples_per_chunk, description 1) over the chunks
//             stsz       sample_size 0, then every sample's size
//             co64       each chunk's 64-bit absolute file offset
//   mdat                 32-bit header, or size 1 + 64-bit largesize when the box exceeds 4 GiB - 1;
//                        payload = the copy ranges, in order
//
// Chunks: a chunk is a maximal run of a track's consecutive samples that are contiguous in the same
// source. All tracks' chunks are placed in (source, source offset) order, which keeps the source's
// audio/video interleave; adjacent ranges of the same source are merged into one copy.
import { rescale } from './time.js';
import type { TrackInfo } from './init.js';
import { type Chunk, type WriterColumns, sampleTables, trackColumns } from './writer-tables.js';

export { columnTrack, type WriterColumns } from './writer-tables.js';

export interface WriterSample {
  size: number;
  /** Decode duration in track ticks. */
  duration: number;
  /** Composition offset in track ticks (presentation = decode time + ctsOffset). */
  ctsOffset: number;
  isSync: boolean;
  /** Index of the source file (into the caller's list of paths). */
  source: number;
  /** Byte offset of the sample in that source. */
  offset: number;
}

export interface WriterTrack {
  info: TrackInfo;
  samples: WriterSample[];
  /**
   * Both in the TRACK's timescale; the writer converts duration to the movie timescale for
   * elst/tkhd/mvhd. `emptyBefore` (optional, track ticks) inserts an empty edit first: presentation
   * of this track starts that late (used when audio begins after the first video frame).
   */
  edit: { mediaTime: number; duration: number; emptyBefore?: number };
  /**
   * The same samples as columns, when the track was made of them (columnTrack: the planner's tracks) and
   * its `samples` were never asked for; layoutMp4 reads these then, and makes no object per sample.
   */
  readonly columns?: WriterColumns;
}

export interface CopyRange { source: number; offset: number; length: number }

export interface Mp4Layout {
  /** ftyp + moov + mdat header. */
  head: Buffer;
  /** Then these source bytes, in order. */
  copies: CopyRange[];
  /** Total file size. */
  size: number;
}

const U32_MAX = 0xffff_ffff;
const I32_MAX = 0x7fff_ffff;

export function layoutMp4(tracks: WriterTrack[], opts: { movieTimescale?: number } = {}): Mp4Layout {
  if (tracks.length === 0) throw new RangeError('layoutMp4: no tracks');
  const movieTimescale = opts.movieTimescale
    ?? (tracks.find((t) => t.info.kind === 'video') ?? tracks[0]).info.timescale;

  // 1. Chunks per track (decode order), then file order over all tracks.
  const columns = tracks.map(trackColumns);
  const trackChunks: Chunk[][] = columns.map((c, ti) => chunksOf(c, ti, tracks[ti]));
  const fileOrder = trackChunks.flat().sort(byFilePosition);

  // 2. Positions in the mdat payload, and the merged copy list.
  const chunkPos: number[][] = trackChunks.map((c) => new Array<number>(c.length).fill(0));
  const copies: CopyRange[] = [];
  let payloadSize = 0;
  for (const c of fileOrder) {
    chunkPos[c.track][c.index] = payloadSize;
    const last = copies[copies.length - 1];
    if (last && last.source === c.source && last.offset + last.length === c.offset) last.length += c.length;
    else copies.push({ source: c.source, offset: c.offset, length: c.length });
    payloadSize += c.length;
  }
  const mdatHeader = payloadSize + 8 > U32_MAX ? mdatHeader64(payloadSize + 16) : mdatHeader32(payloadSize + 8);

  // 3. Boxes. The moov's size does not depend on the chunk offsets (co64 is fixed-width), so it is
  // built once with offsets relative to the mdat payload, which are then moved by where that starts.
  const needsIso4 = columns.some((c) => anyNegative(c.ctsOffset));
  const ftyp = ftypBox(tracks, needsIso4);
  const moov = moovBox(tracks, columns, trackChunks, chunkPos, movieTimescale);
  const head = serialize([ftyp, moov, mdatHeader], ftyp.length + moov.size + mdatHeader.length);
  shiftChunkOffsets(head.subarray(ftyp.length, ftyp.length + moov.size), head.length);
  return { head, copies, size: head.length + payloadSize };
}

const CO64_PATH = ['trak', 'mdia', 'minf', 'stbl', 'co64'];

/** Adds `base` to every co64 entry of a moov this writer built. */
function shiftChunkOffsets(moov: Buffer, base: number): void {
  shiftIn(moov, 8, moov.length, 0, base);
}

/** shiftChunkOffsets in the boxes [from, to) at depth `depth` of CO64_PATH. */
function shiftIn(moov: Buffer, from: number, to: number, depth: number, base: number): void {
  let size: number;
  for (let p = from; p + 8 <= to; p += size) {
    // A verbatim stsd may in theory use a 64-bit size; every box the writer makes has a 32-bit one.
    size = moov.readUInt32BE(p) === 1 ? moov.readUInt32BE(p + 8) * 0x1_0000_0000 + moov.readUInt32BE(p + 12) : moov.readUInt32BE(p);
    if (size < 8) throw new RangeError(`layoutMp4: box of ${size} bytes at ${p} of the moov`);
    if (moov.toString('latin1', p + 4, p + 8) !== CO64_PATH[depth]) continue;
    if (depth < CO64_PATH.length - 1) {
      shiftIn(moov, p + 8, p + size, depth + 1, base);
      continue;
    }
    const n = moov.readUInt32BE(p + 12);
    for (let i = 0, q = p + 16; i < n; i++, q += 8) {
      const v = moov.readUInt32BE(q) * 0x1_0000_0000 + moov.readUInt32BE(q + 4) + base;
      moov.writeUInt32BE(Math.floor(v / 0x1_0000_0000), q);
      moov.writeUInt32BE(v % 0x1_0000_0000, q + 4);
    }
  }
}

/** A track's chunks, its samples checked on the way (fields the boxes can hold). */
function chunksOf(c: WriterColumns, ti: number, t: WriterTrack): Chunk[] {
  const out: Chunk[] = [];
  let cur: Chunk | null = null;
  const { size: sizes, duration, ctsOffset, offset: offsets, source: sources } = c;
  for (let i = 0; i < c.length; i++) {
    const size = sizes[i];
    const d = duration[i];
    const cts = ctsOffset[i];
    const offset = offsets[i];
    const source = sources[i];
    // u32: an integer in [0, 2^32); cts: an integer of magnitude ≤ 2^31 - 1; offset, source: safe integers ≥ 0.
    const ok = (size >>> 0) === size && (d >>> 0) === d && (cts | 0) === cts && cts !== -0x8000_0000
      && offset >= 0 && offset <= Number.MAX_SAFE_INTEGER && Math.floor(offset) === offset
      && source >= 0 && source <= Number.MAX_SAFE_INTEGER && Math.floor(source) === source;
    if (!ok) throw new RangeError(`layoutMp4: track ${ti} sample ${i} has out-of-range fields: ${JSON.stringify(t.samples[i])}`);
    if (cur && cur.source === source && cur.offset + cur.length === offset) {
      cur.count++;
      cur.length += size;
    } else {
      cur = { track: ti, index: out.length, firstSample: i, count: 1, source, offset, length: size };
      out.push(cur);
    }
  }
  return out;
}

function byFilePosition(a: Chunk, b: Chunk): number {
  return a.source - b.source || a.offset - b.offset || a.track - b.track;
}

function anyNegative(v: Float64Array): boolean {
  for (let i = 0; i < v.length; i++) if (v[i] < 0) return true;
  return false;
}

// ---- serialization: boxes are described as data and written in one place ----

/** A growable big-endian byte writer. */
class Bytes {
  private buf: Buffer;
  private len = 0;
  constructor(capacity = 128) { this.buf = Buffer.alloc(capacity); }
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): this { this.room(1); this.buf.writeUInt8(v, this.len); this.len += 1; return this; }
  u16(v: number): this { this.room(2); this.buf.writeUInt16BE(v, this.len); this.len += 2; return this; }
  u32(v: number): this { this.room(4); this.buf.writeUInt32BE(v, this.len); this.len += 4; return this; }
  i32(v: number): this { this.room(4); this.buf.writeInt32BE(v, this.len); this.len += 4; return this; }
  u64(v: number): this { return this.u32(Math.floor(v / 0x1_0000_0000)).u32(v % 0x1_0000_0000); }
  /** A signed 64-bit value (elst v1 media_time may be -1). */
  i64(v: number): this { return v < 0 ? this.u32(0xffff_ffff).u32((0x1_0000_0000 + v) >>> 0) : this.u64(v); }
  /** v0/v1 field: 32 or 64 bits. */
  uv(v: number, version: number): this { return version === 1 ? this.u64(v) : this.u32(v); }
  fourcc(s: string): this { this.room(4); this.buf.write(s, this.len, 4, 'latin1'); this.len += 4; return this; }
  zeros(n: number): this { this.room(n); this.buf.fill(0, this.len, this.len + n); this.len += n; return this; }
  bytes(b: Uint8Array): this { this.room(b.length); this.buf.set(b, this.len); this.len += b.length; return this; }
  done(): Buffer { return this.buf.subarray(0, this.len); }
}

/** A container box not yet written: its parts are copied once, into the head (serialize). */
interface BoxNode { type: string; size: number; parts: Array<Buffer | BoxNode> }

const partSize = (p: Buffer | BoxNode): number => (p instanceof Uint8Array ? p.length : p.size);

function box(type: string, ...body: Array<Buffer | BoxNode>): BoxNode {
  const size = 8 + body.reduce((n, b) => n + partSize(b), 0);
  if (size > U32_MAX) throw new RangeError(`box '${type}' of ${size} bytes is too large`);
  return { type, size, parts: body };
}

/** The parts, boxes written out, in one buffer of `size` bytes. */
function serialize(parts: Array<Buffer | BoxNode>, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  const write = (ps: Array<Buffer | BoxNode>, at: number): number => {
    for (const p of ps) {
      if (p instanceof Uint8Array) {
        out.set(p, at);
        at += p.length;
      } else {
        out.writeUInt32BE(p.size, at);
        out.write(p.type, at + 4, 4, 'latin1');
        at = write(p.parts, at + 8);
      }
    }
    return at;
  };
  if (write(parts, 0) !== size) throw new Error('layoutMp4: head size mismatch');
  return out;
}

function fullBox(type: string, version: number, flags: number, body: (w: Bytes) => void, capacity = 64): Buffer {
  const w = new Bytes(capacity + 12).u32(0).fourcc(type).u8(version).u8((flags >> 16) & 0xff).u16(flags & 0xffff);
  body(w);
  const b = w.done();
  b.writeUInt32BE(b.length, 0);
  return b;
}

function mdatHeader32(size: number): Buffer {
  return new Bytes(8).u32(size).fourcc('mdat').done();
}

function mdatHeader64(size: number): Buffer {
  return new Bytes(16).u32(1).fourcc('mdat').u64(size).done();
}

const UNITY_MATRIX = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

function ftypBox(tracks: WriterTrack[], iso4: boolean): Buffer {
  const brands = ['isom', 'iso2'];
  if (tracks.some((t) => t.info.sampleEntry === 'avc1' || t.info.sampleEntry === 'avc3')) brands.push('avc1');
  brands.push('mp41');
  if (iso4) brands.push('iso4');
  const w = new Bytes(8 + 4 * brands.length).fourcc('isom').u32(0x200);
  for (const b of brands) w.fourcc(b);
  const body = w.done();
  return Buffer.concat([new Bytes(8).u32(8 + body.length).fourcc('ftyp').done(), body]);
}

/** Presentation length of a track in movie ticks (empty edit + edit). */
function trackMovieDuration(t: WriterTrack, movieTimescale: number): number {
  const ts = t.info.timescale;
  return rescale(t.edit.emptyBefore ?? 0, ts, movieTimescale) + rescale(t.edit.duration, ts, movieTimescale);
}

function moovBox(tracks: WriterTrack[], columns: WriterColumns[], chunks: Chunk[][], chunkPos: number[][], movieTimescale: number): BoxNode {
  const duration = Math.max(0, ...tracks.map((t) => trackMovieDuration(t, movieTimescale)));
  const v = duration > U32_MAX ? 1 : 0;
  const mvhd = fullBox('mvhd', v, 0, (w) => {
    w.uv(0, v).uv(0, v).u32(movieTimescale).uv(duration, v);
    w.u32(0x0001_0000).u16(0x0100).zeros(10);
    for (const m of UNITY_MATRIX) w.u32(m);
    w.zeros(24).u32(tracks.length + 1);
  });
  const traks = tracks.map((t, i) => trakBox(t, columns[i], i + 1, chunks[i], chunkPos[i], movieTimescale));
  return box('moov', mvhd, ...traks);
}

function trakBox(t: WriterTrack, c: WriterColumns, trackId: number, chunks: Chunk[], pos: number[], movieTimescale: number): BoxNode {
  const info = t.info;
  const movieDuration = trackMovieDuration(t, movieTimescale);
  const tv = movieDuration > U32_MAX ? 1 : 0;
  const tkhd = fullBox('tkhd', tv, 3, (w) => {
    w.uv(0, tv).uv(0, tv).u32(trackId).u32(0).uv(movieDuration, tv);
    w.zeros(8).u16(0).u16(0).u16(info.kind === 'audio' ? 0x0100 : 0).u16(0);
    for (const m of UNITY_MATRIX) w.u32(m);
    const video = info.kind === 'video';
    w.u32(video ? (info.width ?? 0) * 0x10000 : 0).u32(video ? (info.height ?? 0) * 0x10000 : 0);
  }, 96);

  const entries: Array<{ duration: number; mediaTime: number }> = [];
  if ((t.edit.emptyBefore ?? 0) > 0) entries.push({ duration: rescale(t.edit.emptyBefore ?? 0, info.timescale, movieTimescale), mediaTime: -1 });
  entries.push({ duration: rescale(t.edit.duration, info.timescale, movieTimescale), mediaTime: t.edit.mediaTime });
  const ev = entries.some((e) => e.duration > U32_MAX || e.mediaTime > I32_MAX) ? 1 : 0;
  const elst = fullBox('elst', ev, 0, (w) => {
    w.u32(entries.length);
    for (const e of entries) {
      w.uv(e.duration, ev);
      if (ev === 1) w.i64(e.mediaTime); else w.i32(e.mediaTime);
      w.u16(1).u16(0);
    }
  });

  let mediaDuration = 0;
  for (let i = 0; i < c.length; i++) mediaDuration += c.duration[i];
  const mv = mediaDuration > U32_MAX ? 1 : 0;
  const mdhd = fullBox('mdhd', mv, 0, (w) => {
    w.uv(0, mv).uv(0, mv).u32(info.timescale).uv(mediaDuration, mv);
    w.u16(0x55c4).u16(0); // 'und'
  });
  const name = info.kind === 'video' ? 'VideoHandler' : info.kind === 'audio' ? 'SoundHandler' : 'DataHandler';
  const hdlr = fullBox('hdlr', 0, 0, (w) => {
    w.u32(0).fourcc(info.handler.padEnd(4, ' ').slice(0, 4)).zeros(12).bytes(Buffer.from(`${name}\0`, 'latin1'));
  });
  const mediaHeader = info.kind === 'video'
    ? fullBox('vmhd', 0, 1, (w) => { w.zeros(8); })
    : info.kind === 'audio'
      ? fullBox('smhd', 0, 0, (w) => { w.zeros(4); })
      : fullBox('nmhd', 0, 0, () => undefined);
  const dinf = box('dinf', fullBox('dref', 0, 0, (w) => { w.u32(1).bytes(fullBox('url ', 0, 1, () => undefined)); }));
  const stbl = box('stbl', info.stsd, ...sampleTables(c, chunks, pos));
  const minf = box('minf', mediaHeader, dinf, stbl);
  const mdia = box('mdia', mdhd, hdlr, minf);
  return box('trak', tkhd, box('edts', elst), mdia);
}
