// The per-sample side of the plain MP4 writer (part of mp4/writer): a track's samples as columns
// (WriterColumns: what the planner hands over, no object per sample), a WriterTrack made of columns whose
// `samples` objects exist only if asked for, and the sample table boxes built straight from the columns
// into buffers of their exact size (stts, ctts, stss, stsc, stsz, co64; see writer.ts for the format).
import type { TrackInfo } from './init.js';
import type { WriterSample, WriterTrack } from './writer.js';

/** A track's samples in decode order, one typed array per WriterSample field (isSync: 1 or 0). */
export interface WriterColumns {
  length: number;
  size: Float64Array;
  duration: Float64Array;
  ctsOffset: Float64Array;
  isSync: Uint8Array;
  source: Float64Array;
  offset: Float64Array;
}

export function allocColumns(n: number): WriterColumns {
  return {
    length: n, size: new Float64Array(n), duration: new Float64Array(n), ctsOffset: new Float64Array(n),
    isSync: new Uint8Array(n), source: new Float64Array(n), offset: new Float64Array(n),
  };
}

export function packWriterSamples(samples: readonly WriterSample[]): WriterColumns {
  const c = allocColumns(samples.length);
  samples.forEach((s, i) => {
    c.size[i] = s.size;
    c.duration[i] = s.duration;
    c.ctsOffset[i] = s.ctsOffset;
    c.isSync[i] = s.isSync ? 1 : 0;
    c.source[i] = s.source;
    c.offset[i] = s.offset;
  });
  return c;
}

export function unpackWriterColumns(c: WriterColumns): WriterSample[] {
  const out = new Array<WriterSample>(c.length);
  for (let i = 0; i < c.length; i++) {
    out[i] = { size: c.size[i], duration: c.duration[i], ctsOffset: c.ctsOffset[i], isSync: c.isSync[i] === 1, source: c.source[i], offset: c.offset[i] };
  }
  return out;
}

/**
 * A track made of columns. Its `samples` are made from them when first read, and from then on (they
 * may be changed) they are the track: `columns` is then undefined.
 */
class ColumnTrack implements WriterTrack {
  private objects: WriterSample[] | null = null;
  constructor(readonly info: TrackInfo, private readonly cols: WriterColumns, readonly edit: WriterTrack['edit']) {}
  get samples(): WriterSample[] {
    return (this.objects ??= unpackWriterColumns(this.cols));
  }
  set samples(s: WriterSample[]) {
    this.objects = s;
  }
  get columns(): WriterColumns | undefined {
    return this.objects === null ? this.cols : undefined;
  }
}

export function columnTrack(info: TrackInfo, columns: WriterColumns, edit: WriterTrack['edit']): WriterTrack {
  return new ColumnTrack(info, columns, edit);
}

/** A track's samples as columns: its own, or packed from its sample objects. */
export function trackColumns(t: WriterTrack): WriterColumns {
  return t.columns ?? packWriterSamples(t.samples);
}

/** A chunk: a run of a track's consecutive samples contiguous in one source. */
export interface Chunk { track: number; index: number; firstSample: number; count: number; source: number; offset: number; length: number }

const U32_MAX = 0xffff_ffff;

/**
 * stts, [ctts], [stss], stsc, stsz, co64 (its offsets relative to the mdat payload: the writer shifts
 * them). Each table is written by a function of its own (no closure per call: see cut-table.ts's note).
 */
export function sampleTables(c: WriterColumns, chunks: Chunk[], pos: number[]): Buffer[] {
  const n = c.length;
  const out: Buffer[] = [];

  const sttsRuns = runCount(c.duration, n);
  out.push(writeRuns(tableBox('stts', 0, 4 + 8 * sttsRuns), c.duration, n, sttsRuns, false));

  const cts = ctsKind(c.ctsOffset, n);
  if (cts !== 0) {
    const cttsRuns = runCount(c.ctsOffset, n);
    out.push(writeRuns(tableBox('ctts', cts === 2 ? 1 : 0, 4 + 8 * cttsRuns), c.ctsOffset, n, cttsRuns, cts === 2));
  }

  const syncs = countSync(c.isSync, n);
  if (syncs < n) out.push(writeStss(tableBox('stss', 0, 4 + 4 * syncs), c.isSync, n, syncs));

  const stsc: Array<[number, number]> = [];
  for (let i = 0; i < chunks.length; i++) {
    if (stsc.length === 0 || stsc[stsc.length - 1][1] !== chunks[i].count) stsc.push([i + 1, chunks[i].count]);
  }
  const stscBox = tableBox('stsc', 0, 4 + 12 * stsc.length);
  let at = stscBox.writeUInt32BE(stsc.length, 12);
  for (const [f, k] of stsc) at = stscBox.writeUInt32BE(1, stscBox.writeUInt32BE(k, stscBox.writeUInt32BE(f, at)));
  out.push(stscBox);

  out.push(writeStsz(tableBox('stsz', 0, 8 + 4 * n), c.size, n));
  out.push(writeCo64(tableBox('co64', 0, 4 + 8 * chunks.length), pos));
  return out;
}

/** 0 when every composition offset is 0, 2 when one is negative (ctts v1), else 1. */
function ctsKind(v: Float64Array, n: number): number {
  let kind = 0;
  for (let i = 0; i < n; i++) {
    if (v[i] < 0) return 2;
    if (v[i] !== 0) kind = 1;
  }
  return kind;
}

function countSync(isSync: Uint8Array, n: number): number {
  let syncs = 0;
  for (let i = 0; i < n; i++) syncs += isSync[i];
  return syncs;
}

/** stss body: the count, then the 1-based numbers of the sync samples. */
function writeStss(b: Buffer, isSync: Uint8Array, n: number, syncs: number): Buffer {
  const dv = viewOf(b);
  dv.setUint32(12, syncs);
  for (let i = 0, at = 16; i < n; i++) if (isSync[i] === 1) { dv.setUint32(at, i + 1); at += 4; }
  return b;
}

/** stsz body: sample_size 0, the count, every size. */
function writeStsz(b: Buffer, size: Float64Array, n: number): Buffer {
  const dv = viewOf(b);
  dv.setUint32(12, 0);
  dv.setUint32(16, n);
  for (let i = 0, at = 20; i < n; i++, at += 4) dv.setUint32(at, size[i]);
  return b;
}

/** co64 body: the count, every chunk's 64-bit offset. */
function writeCo64(b: Buffer, pos: number[]): Buffer {
  let at = b.writeUInt32BE(pos.length, 12);
  for (const p of pos) at = b.writeUInt32BE(p % 0x1_0000_0000, b.writeUInt32BE(Math.floor(p / 0x1_0000_0000), at));
  return b;
}

/** Number of runs of equal values among the first n. */
function runCount(v: Float64Array, n: number): number {
  let runs = 0;
  for (let i = 0; i < n; i++) if (i === 0 || v[i] !== v[i - 1]) runs++;
  return runs;
}

/**
 * The run-length table (entry count, then (count, value) pairs) of the first n values, into the body of
 * b; value signed or not (the values were checked to fit: see the writer's chunksOf).
 */
function writeRuns(b: Buffer, v: Float64Array, n: number, runs: number, signed: boolean): Buffer {
  const dv = viewOf(b);
  dv.setUint32(12, runs);
  let at = 16;
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && v[j] === v[i]) j++;
    dv.setUint32(at, j - i);
    if (signed) dv.setInt32(at + 4, v[i]);
    else dv.setUint32(at + 4, v[i]);
    at += 8;
    i = j;
  }
  return b;
}

function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A sample table: a full box (flags 0) whose body after version and flags is `bodyBytes` long, in one
 * buffer of the box's exact size; the caller writes the body from offset 12.
 */
export function tableBox(type: string, version: number, bodyBytes: number): Buffer {
  const size = 12 + bodyBytes;
  if (size > U32_MAX) throw new RangeError(`box '${type}' of ${size} bytes is too large`);
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32BE(size, 0);
  b.write(type, 4, 4, 'latin1');
  b.writeUInt32BE(version * 0x100_0000, 8);
  return b;
}
