// Movie fragment ('moof') parsing: every sample's decode time, duration, size, composition offset,
// sync flag and absolute byte offset in its file, resolving tfhd/trex defaults, tfhd base-data-offset,
// default-base-is-moof, chained truns/trafs without data offsets, tfdt v0/v1 and trun v0/v1 (signed cts).
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

export interface TrackRun { trackId: number; baseDecodeTime: number; samples: FragmentSample[] }
export interface ParsedMoof { sequenceNumber: number; trackRuns: TrackRun[] }

/** sample_is_non_sync_sample in the 32-bit sample flags. */
export const SAMPLE_FLAG_NON_SYNC = 0x10000;

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
  for (const b of childBoxes(moof, payload(h), h.end)) {
    if (b.type === 'mfhd') {
      sequenceNumber = u32(moof, payload(b) + 4);
    } else if (b.type === 'traf') {
      const r = parseTraf(moof, b.start, b.end, moofFileOffset, prevTrafDataEnd, init, decodeTimeWithoutTfdt);
      trackRuns.push(r.run);
      prevTrafDataEnd = r.dataEnd;
    }
  }
  return { sequenceNumber, trackRuns };
}

function parseTraf(
  buf: Uint8Array, start: number, end: number, moofFileOffset: number, prevTrafDataEnd: number | null,
  init: InitSegment, decodeTimeWithoutTfdt: ReadonlyMap<number, number> | undefined,
): { run: TrackRun; dataEnd: number } {
  const kids = childBoxes(buf, start + 8, end);
  const tfhd = kids.find((k) => k.type === 'tfhd');
  if (!tfhd) throw new Mp4ParseError('traf without tfhd');
  let p = payload(tfhd);
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

  const tfdt = kids.find((k) => k.type === 'tfdt');
  let baseDecodeTime: number;
  if (tfdt) {
    const tp = payload(tfdt);
    baseDecodeTime = u8(buf, tp) === 1 ? u64(buf, tp + 4) : u32(buf, tp + 4);
  } else {
    baseDecodeTime = decodeTimeWithoutTfdt?.get(trackId) ?? 0;
  }

  const samples: FragmentSample[] = [];
  let dts = baseDecodeTime;
  let dataPos = base;
  for (const t of kids) {
    if (t.type !== 'trun') continue;
    let q = payload(t);
    const version = u8(buf, q);
    const trFlags = u24(buf, q + 1);
    const count = u32(buf, q + 4);
    q += 8;
    if (trFlags & TRUN_DATA_OFFSET) { dataPos = base + i32(buf, q); q += 4; }
    let firstFlags: number | null = null;
    if (trFlags & TRUN_FIRST_SAMPLE_FLAGS) { firstFlags = u32(buf, q); q += 4; }
    const per = 4 * (((trFlags & TRUN_DURATION) ? 1 : 0) + ((trFlags & TRUN_SIZE) ? 1 : 0)
      + ((trFlags & TRUN_FLAGS) ? 1 : 0) + ((trFlags & TRUN_CTS) ? 1 : 0));
    if (q + per * count > t.end) throw new Mp4ParseError(`track ${trackId}: trun of ${count} samples overruns its box`);
    // With every field defaulted the box size does not bound the count, so a damaged count would allocate
    // billions of samples: no real fragment comes near a million (an hour at 120 fps is 432,000).
    if (per === 0 && count > MAX_DEFAULTED_SAMPLES) {
      throw new Mp4ParseError(`track ${trackId}: trun claims ${count} samples with no per-sample fields`);
    }
    for (let i = 0; i < count; i++) {
      let duration = defDuration;
      let size = defSize;
      let flags = defFlags;
      let cts = 0;
      if (trFlags & TRUN_DURATION) { duration = u32(buf, q); q += 4; }
      if (trFlags & TRUN_SIZE) { size = u32(buf, q); q += 4; }
      if (trFlags & TRUN_FLAGS) { flags = u32(buf, q); q += 4; }
      else if (i === 0 && firstFlags !== null) flags = firstFlags;
      if (trFlags & TRUN_CTS) { cts = version === 0 ? u32(buf, q) : i32(buf, q); q += 4; }
      if (dataPos < 0) throw new Mp4ParseError(`track ${trackId}: negative sample offset`);
      samples.push({
        decodeTime: dts, duration, size, ctsOffset: cts, isSync: (flags & SAMPLE_FLAG_NON_SYNC) === 0, fileOffset: dataPos,
      });
      dts += duration;
      dataPos += size;
    }
  }
  return { run: { trackId, baseDecodeTime, samples }, dataEnd: dataPos };
}
