// Movie fragment ('moof') parsing: every sample's decode time, duration, size, composition offset,
// sync flag and absolute byte offset in its file, resolving tfhd/trex defaults, tfhd base-data-offset,
// default-base-is-moof, chained truns/trafs without data offsets, tfdt v0/v1 and trun v0/v1 (signed cts).
// Each track run's samples are one packed Float64Array (`table`, SAMPLE_FIELDS numbers a sample: no
// object per sample; an hour is ~108,000 of them); `samples`, the same as objects, is made on first use.
// Pure: the moof's bytes and where it sits in its file in, sample tables out.
import { Mp4ParseError, childBoxes, i32, payload, readBoxHeader, u8, u24, u32, u64 } from './box.js';
import { type InitSegment, trackById } from './init.js';

export interface FragmentSample {
  /** Decode time in the track's timescale (tfdt-based: absolute within the producing stream). */
  decodeTime: number;
  duration: number;
  size: number;
  /** Composition offset: presentation time = decodeTime + ctsOffset. */
  ctsOffset: number;
  isSync: boolean;
  /** Absolute offset of the sample's first byte in the file that holds the moof. */
  fileOffset: number;
}

export interface TrackRun {
  trackId: number;
  baseDecodeTime: number;
  /** The samples as objects (parseMoof makes them on first use, from `table`: treat them as read-only). */
  samples: FragmentSample[];
  /**
   * The same samples packed (parseMoof sets it; runs made by hand may leave it out): SAMPLE_FIELDS
   * numbers a sample in decode order, at the S_* offsets. Read it through runTable().
   */
  table?: Float64Array;
}
export interface ParsedMoof { sequenceNumber: number; trackRuns: TrackRun[] }

/** Numbers per sample in a packed table, and where each field is (S_SYNC: 1 sync, 0 not). */
export const SAMPLE_FIELDS = 6;
export const S_DECODE = 0;
export const S_DURATION = 1;
export const S_SIZE = 2;
export const S_CTS = 3;
export const S_SYNC = 4;
export const S_OFFSET = 5;

/** sample_is_non_sync_sample in the 32-bit sample flags. */
export const SAMPLE_FLAG_NON_SYNC = 0x10000;

/** A run's packed samples: its `table`, or one packed from its `samples` (a run made by hand). */
export function runTable(run: TrackRun): Float64Array {
  return run.table ?? packSamples(run.samples);
}

/** Number of samples in a run. */
export function runLength(run: TrackRun): number {
  return run.table ? run.table.length / SAMPLE_FIELDS : run.samples.length;
}

export function packSamples(samples: readonly FragmentSample[]): Float64Array {
  const t = new Float64Array(samples.length * SAMPLE_FIELDS);
  for (let i = 0, p = 0; i < samples.length; i++, p += SAMPLE_FIELDS) {
    const s = samples[i];
    t[p + S_DECODE] = s.decodeTime;
    t[p + S_DURATION] = s.duration;
    t[p + S_SIZE] = s.size;
    t[p + S_CTS] = s.ctsOffset;
    t[p + S_SYNC] = s.isSync ? 1 : 0;
    t[p + S_OFFSET] = s.fileOffset;
  }
  return t;
}

export function unpackSamples(t: Float64Array): FragmentSample[] {
  const out = new Array<FragmentSample>(t.length / SAMPLE_FIELDS);
  for (let i = 0, p = 0; p < t.length; i++, p += SAMPLE_FIELDS) {
    out[i] = {
      decodeTime: t[p + S_DECODE], duration: t[p + S_DURATION], size: t[p + S_SIZE], ctsOffset: t[p + S_CTS],
      isSync: t[p + S_SYNC] === 1, fileOffset: t[p + S_OFFSET],
    };
  }
  return out;
}

/**
 * Tables are views of shared slabs: one backing store for many moofs, not one each (an hour's window
 * parses 3,600 moofs; a backing store apiece costs more than the parse). A slab lives as long as any
 * table in it; a large table gets its own.
 */
const SLAB_NUMBERS = 8192;
let slab = new Float64Array(0);
let slabUsed = 0;

function allocTable(numbers: number): Float64Array {
  if (numbers > SLAB_NUMBERS / 4) return new Float64Array(numbers);
  if (slabUsed + numbers > slab.length) {
    slab = new Float64Array(SLAB_NUMBERS);
    slabUsed = 0;
  }
  const t = slab.subarray(slabUsed, slabUsed + numbers);
  slabUsed += numbers;
  return t;
}

/**
 * A parsed run: the packed table, and the sample objects made from it when first asked for. Samples
 * set anew replace the table (runTable then packs them).
 */
class PackedRun implements TrackRun {
  private objects: FragmentSample[] | null = null;
  private packed: Float64Array | undefined;
  constructor(readonly trackId: number, readonly baseDecodeTime: number, table: Float64Array) {
    this.packed = table;
  }
  get table(): Float64Array | undefined {
    return this.packed;
  }
  get samples(): FragmentSample[] {
    return (this.objects ??= unpackSamples(this.packed as Float64Array));
  }
  set samples(s: FragmentSample[]) {
    this.objects = s;
    this.packed = undefined;
  }
}

const TFHD_BASE_DATA_OFFSET = 0x1;
const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x2;
const TFHD_DEFAULT_DURATION = 0x8;
const TFHD_DEFAULT_SIZE = 0x10;
const TFHD_DEFAULT_FLAGS = 0x20;
const TFHD_DEFAULT_BASE_IS_MOOF = 0x20000;
const TRUN_DATA_OFFSET = 0x1;
const TRUN_FIRST_SAMPLE_FLAGS = 0x4;
const TRUN_DURATION = 0x100;
const TRUN_SIZE = 0x200;
const TRUN_FLAGS = 0x400;
const TRUN_CTS = 0x800;

/** A trun with no per-sample fields claiming more samples than this is damaged (see parseTraf). */
const MAX_DEFAULTED_SAMPLES = 1_000_000;

/**
 * Parses one moof box (`moof` starts with its header) that sits at `moofFileOffset` in its file.
 * `decodeTimeWithoutTfdt` supplies the base decode time of tracks whose traf has no tfdt (the end of
 * the previous fragment's samples); absent entries are 0.
 */
export function parseMoof(
  moof: Uint8Array, moofFileOffset: number, init: InitSegment,
  decodeTimeWithoutTfdt?: ReadonlyMap<number, number>,
): ParsedMoof {
  const h = readBoxHeader(moof, 0);
  if (h === null || h.type !== 'moof') throw new Mp4ParseError('not a moof box');
  if (h.end > moof.length) throw new Mp4ParseError(`truncated moof: needs ${h.size} bytes, ${moof.length} present`);
  let sequenceNumber = 0;
  const trackRuns: TrackRun[] = [];
  let prevTrafDataEnd: number | null = null;
  const kids = children(moof, payload(h), h.end);
  for (let k = 0; k < kids.length; k += 4) {
    if (kids[k] === MFHD) {
      sequenceNumber = u32(moof, kids[k + 2] + 4);
    } else if (kids[k] === TRAF) {
      const r = parseTraf(moof, kids[k + 1], kids[k + 3], moofFileOffset, prevTrafDataEnd, init, decodeTimeWithoutTfdt);
      trackRuns.push(r.run);
      prevTrafDataEnd = r.dataEnd;
    }
  }
  return { sequenceNumber, trackRuns };
}

const code = (type: string): number => ((type.charCodeAt(0) << 24) >>> 0) + ((type.charCodeAt(1) << 16) | (type.charCodeAt(2) << 8) | type.charCodeAt(3));
const MFHD = code('mfhd');
const TRAF = code('traf');
const TFHD = code('tfhd');
const TFDT = code('tfdt');
const TRUN = code('trun');

/**
 * The boxes that tile [start, end) as childBoxes finds them (and its errors), flat: type code, start,
 * payload start, end for each. Plain 32-bit sizes are read here without making an object per box; any
 * other case (64-bit or "to the end" sizes, a bad size, trailing bytes) is left to childBoxes.
 */
function children(buf: Uint8Array, start: number, end: number): number[] {
  const out: number[] = [];
  for (let p = start; p < end;) {
    const size = p + 8 <= end && end <= buf.length ? be32(buf, p) : 0;
    if (size < 8 || p + size > end) return childBoxes(buf, start, end).flatMap((b) => [code(b.type), b.start, payload(b), b.end]);
    out.push(be32(buf, p + 4), p, p + 8, p + size);
    p += size;
  }
  return out;
}

/** The first box of the type in a children() list, as its index there, or -1. */
function first(kids: number[], type: number): number {
  for (let k = 0; k < kids.length; k += 4) if (kids[k] === type) return k;
  return -1;
}

/** Bytes of per-sample fields a trun with these flags has. */
function perSampleBytes(trFlags: number): number {
  return 4 * (((trFlags & TRUN_DURATION) ? 1 : 0) + ((trFlags & TRUN_SIZE) ? 1 : 0)
    + ((trFlags & TRUN_FLAGS) ? 1 : 0) + ((trFlags & TRUN_CTS) ? 1 : 0));
}

/** Where a trun's per-sample fields start (after version, flags, count and the optional fields). */
function trunFieldsAt(start: number, trFlags: number): number {
  return start + 8 + ((trFlags & TRUN_DATA_OFFSET) ? 4 : 0) + ((trFlags & TRUN_FIRST_SAMPLE_FLAGS) ? 4 : 0);
}

/** Big-endian u32 at a position already known to be inside the buffer. */
function be32(b: Uint8Array, q: number): number {
  return ((b[q] << 24) >>> 0) + ((b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3]);
}

function parseTraf(
  buf: Uint8Array, start: number, end: number, moofFileOffset: number, prevTrafDataEnd: number | null,
  init: InitSegment, decodeTimeWithoutTfdt: ReadonlyMap<number, number> | undefined,
): { run: TrackRun; dataEnd: number } {
  const kids = children(buf, start + 8, end);
  const tfhd = first(kids, TFHD);
  if (tfhd < 0) throw new Mp4ParseError('traf without tfhd');
  let p = kids[tfhd + 2];
  const tfFlags = u24(buf, p + 1);
  const trackId = u32(buf, p + 4);
  const track = trackById(init, trackId);
  p += 8;
  let base: number;
  if (tfFlags & TFHD_BASE_DATA_OFFSET) { base = u64(buf, p); p += 8; }
  else if (tfFlags & TFHD_DEFAULT_BASE_IS_MOOF || prevTrafDataEnd === null) base = moofFileOffset;
  else base = prevTrafDataEnd;
  if (tfFlags & TFHD_SAMPLE_DESCRIPTION_INDEX) {
    const sdi = u32(buf, p);
    p += 4;
    if (sdi !== 1) throw new Mp4ParseError(`track ${trackId}: sample description index ${sdi} (only 1 is supported)`);
  }
  let defDuration = track.defaults.sampleDuration;
  let defSize = track.defaults.sampleSize;
  let defFlags = track.defaults.sampleFlags;
  if (tfFlags & TFHD_DEFAULT_DURATION) { defDuration = u32(buf, p); p += 4; }
  if (tfFlags & TFHD_DEFAULT_SIZE) { defSize = u32(buf, p); p += 4; }
  if (tfFlags & TFHD_DEFAULT_FLAGS) defFlags = u32(buf, p);

  const tfdt = first(kids, TFDT);
  let baseDecodeTime: number;
  if (tfdt >= 0) {
    const tp = kids[tfdt + 2];
    baseDecodeTime = u8(buf, tp) === 1 ? u64(buf, tp + 4) : u32(buf, tp + 4);
  } else {
    baseDecodeTime = decodeTimeWithoutTfdt?.get(trackId) ?? 0;
  }

  // The table's size: the truns' counts, as far as they are sound (the loop below throws at the first
  // that is not, before writing any of its samples).
  let total = 0;
  for (let k = 0; k < kids.length; k += 4) {
    if (kids[k] !== TRUN) continue;
    const q = kids[k + 2];
    if (q + 8 > buf.length) break;
    const trFlags = u24(buf, q + 1);
    const count = u32(buf, q + 4);
    const per = perSampleBytes(trFlags);
    if (trunFieldsAt(q, trFlags) + per * count > kids[k + 3] || (per === 0 && count > MAX_DEFAULTED_SAMPLES)) break;
    total += count;
  }
  const table = allocTable(total * SAMPLE_FIELDS);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);

  let w = 0;
  let dts = baseDecodeTime;
  let dataPos = base;
  for (let k = 0; k < kids.length; k += 4) {
    if (kids[k] !== TRUN) continue;
    const trunEnd = kids[k + 3];
    let q = kids[k + 2];
    const version = u8(buf, q);
    const trFlags = u24(buf, q + 1);
    const count = u32(buf, q + 4);
    q += 8;
    if (trFlags & TRUN_DATA_OFFSET) { dataPos = base + i32(buf, q); q += 4; }
    let firstFlags: number | null = null;
    if (trFlags & TRUN_FIRST_SAMPLE_FLAGS) { firstFlags = u32(buf, q); q += 4; }
    const per = perSampleBytes(trFlags);
    if (q + per * count > trunEnd) throw new Mp4ParseError(`track ${trackId}: trun of ${count} samples overruns its box`);
    // With every field defaulted the box size does not bound the count, so a damaged count would allocate
    // billions of samples: no real fragment comes near a million (an hour at 120 fps is 432,000).
    if (per === 0 && count > MAX_DEFAULTED_SAMPLES) {
      throw new Mp4ParseError(`track ${trackId}: trun claims ${count} samples with no per-sample fields`);
    }
    const hasDuration = (trFlags & TRUN_DURATION) !== 0;
    const hasSize = (trFlags & TRUN_SIZE) !== 0;
    const hasFlags = (trFlags & TRUN_FLAGS) !== 0;
    const hasCts = (trFlags & TRUN_CTS) !== 0;
    for (let i = 0; i < count; i++) {
      let duration = defDuration;
      let size = defSize;
      let flags = defFlags;
      let cts = 0;
      // Inside the box (checked above).
      if (hasDuration) { duration = dv.getUint32(q); q += 4; }
      if (hasSize) { size = dv.getUint32(q); q += 4; }
      if (hasFlags) { flags = dv.getUint32(q); q += 4; }
      else if (i === 0 && firstFlags !== null) flags = firstFlags;
      if (hasCts) { cts = version === 0 ? dv.getUint32(q) : dv.getInt32(q); q += 4; }
      if (dataPos < 0) throw new Mp4ParseError(`track ${trackId}: negative sample offset`);
      table[w + S_DECODE] = dts;
      table[w + S_DURATION] = duration;
      table[w + S_SIZE] = size;
      table[w + S_CTS] = cts;
      table[w + S_SYNC] = (flags & SAMPLE_FLAG_NON_SYNC) === 0 ? 1 : 0;
      table[w + S_OFFSET] = dataPos;
      w += SAMPLE_FIELDS;
      dts += duration;
      dataPos += size;
    }
  }
  return { run: new PackedRun(trackId, baseDecodeTime, table), dataEnd: dataPos };
}
