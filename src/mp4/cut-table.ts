// The planner's view of the sources (pure, part of mp4/cut): one track kind's samples of every source
// as columns — source after source, each in decode order — with each sample's effective duration and
// producer times, so that the planner works on index ranges of typed arrays instead of an object per
// sample (an hour of 1080p30 is 108,000 frames). Also the frame interval of a range (medianDuration)
// and the planner's scans of a range (which samples a window holds, the earliest and latest presented).
import { type TrackRun, SAMPLE_FIELDS, S_CTS, S_DECODE, S_DURATION, S_OFFSET, S_SIZE, S_SYNC, runTable } from './fragment.js';
import type { TrackInfo } from './init.js';
import { ticksToNsRange } from './time.js';

/** What the table needs of a source (a CutSource). */
export interface TableSource { offsetNs: number; fragments: ReadonlyArray<{ trackRuns: TrackRun[] }> }

export interface SampleTable {
  /** Samples in all. */
  n: number;
  /** Index (into the sources array) of each sample's source. */
  si: Int32Array;
  decodeTime: Float64Array;
  /** Effective decode duration: the distance to the source's next sample when positive, else the stated one (at least 1). */
  duration: Float64Array;
  size: Float64Array;
  ctsOffset: Float64Array;
  /** 1 for a sync sample. */
  sync: Uint8Array;
  /** Absolute offset of the sample in its file. */
  fileOffset: Float64Array;
  /** decodeTime + ctsOffset, in track ticks. */
  ptsTicks: Float64Array;
  /** Producer PTS (ns): the source's offsetNs + ticksToNs(ptsTicks). */
  ptsNs: Float64Array;
  /** Per source: its samples are [from[si], to[si]). */
  from: Int32Array;
  to: Int32Array;
}

/** The samples of each source's `tracks[si]` (none for a source without one). */
export function buildTable(sources: readonly TableSource[], tracks: ReadonlyArray<TrackInfo | undefined>): SampleTable {
  const from = new Int32Array(sources.length);
  const to = new Int32Array(sources.length);
  let n = 0;
  sources.forEach((src, si) => {
    from[si] = n;
    const id = tracks[si]?.trackId;
    if (id !== undefined) {
      for (const m of src.fragments) for (const r of m.trackRuns) if (r.trackId === id) n += runTable(r).length / SAMPLE_FIELDS;
    }
    to[si] = n;
  });
  // One allocation for all the columns (views of one buffer).
  const block = new Float64Array(7 * n);
  const col = (k: number): Float64Array => block.subarray(k * n, (k + 1) * n);
  const t: SampleTable = {
    n, si: new Int32Array(n), decodeTime: col(0), duration: col(1), size: col(2), ctsOffset: col(3), sync: new Uint8Array(n),
    fileOffset: col(4), ptsTicks: col(5), ptsNs: col(6), from, to,
  };
  for (let si = 0; si < sources.length; si++) {
    const track = tracks[si];
    if (track && from[si] < to[si]) fillSource(t, si, sources[si], track);
  }
  return t;
}

function fillSource(t: SampleTable, si: number, src: TableSource, track: TrackInfo): void {
  const { si: sis, decodeTime, duration, size, ctsOffset, sync, fileOffset, ptsTicks, ptsNs } = t;
  let k = t.from[si];
  for (const m of src.fragments) {
    for (const r of m.trackRuns) {
      if (r.trackId !== track.trackId) continue;
      const rt = runTable(r);
      for (let p = 0; p < rt.length; p += SAMPLE_FIELDS, k++) {
        sis[k] = si;
        decodeTime[k] = rt[p + S_DECODE];
        duration[k] = rt[p + S_DURATION];
        size[k] = rt[p + S_SIZE];
        ctsOffset[k] = rt[p + S_CTS];
        sync[k] = rt[p + S_SYNC];
        fileOffset[k] = rt[p + S_OFFSET];
      }
    }
  }
  const end = t.to[si];
  for (let i = t.from[si]; i < end; i++) {
    // Effective durations: the decode-time distance to the next sample (robust to sloppy trun durations).
    if (i + 1 < end) {
      const d = decodeTime[i + 1] - decodeTime[i];
      if (d > 0) duration[i] = d;
    }
    if (duration[i] <= 0) duration[i] = 1;
    ptsTicks[i] = decodeTime[i] + ctsOffset[i];
  }
  ticksToNsRange(ptsTicks, t.from[si], end, track.timescale, src.offsetNs, ptsNs);
}

/** The frame interval (ticks): the median of the durations [lo, hi), lo < hi (counted: durations take few values). */
export function medianDuration(duration: Float64Array, lo: number, hi: number): number {
  const counts = new Map<number, number>();
  let run = duration[lo];
  let runCount = 0;
  for (let i = lo; i < hi; i++) {
    const d = duration[i];
    if (d === run) { runCount++; continue; }
    counts.set(run, (counts.get(run) ?? 0) + runCount);
    run = d;
    runCount = 1;
  }
  if (runCount > 0) counts.set(run, (counts.get(run) ?? 0) + runCount);
  const mid = (hi - lo) >> 1;
  let seen = 0;
  for (const d of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(d)!;
    if (seen > mid) return d;
  }
  return duration[lo];
}

// ---- scans of a table: each its own small function, so that each loop is optimized on its own (one
// big planner function with many loops is compiled loop by loop, and recompiled call after call) ----

/** Whether a sample of [lo, hi) is presented in [start, stop). */
export function anyPresentedIn(t: SampleTable, lo: number, hi: number, start: number, stop: number): boolean {
  const { ptsNs } = t;
  for (let i = lo; i < hi; i++) if (ptsNs[i] >= start && ptsNs[i] < stop) return true;
  return false;
}

/** Whether a sample of [lo, hi) is presented before `stop`. */
export function anyPresentedBefore(t: SampleTable, lo: number, hi: number, stop: number): boolean {
  const { ptsNs } = t;
  for (let i = lo; i < hi; i++) if (ptsNs[i] < stop) return true;
  return false;
}

/**
 * The earliest-presented sample of [lo, hi) presented in [start, stop) and no earlier than minPts (the
 * first in decode order among equals), or -1.
 */
export function earliestIn(t: SampleTable, lo: number, hi: number, start: number, stop: number, minPts: number): number {
  const { ptsNs } = t;
  let f = -1;
  for (let i = lo; i < hi; i++) {
    const p = ptsNs[i];
    if (p >= start && p < stop && p >= minPts && (f < 0 || p < ptsNs[f])) f = i;
  }
  return f;
}

/** The last sample of [lo, hi) in decode order presented in [start, stop), or -1. */
export function lastIn(t: SampleTable, lo: number, hi: number, start: number, stop: number): number {
  const { ptsNs } = t;
  for (let i = hi - 1; i >= lo; i--) if (ptsNs[i] >= start && ptsNs[i] < stop) return i;
  return -1;
}

/**
 * The samples of [lo, hi) presented in [start, stop) no earlier than minPts: how many, and the
 * earliest- and latest-presented of them (the first in decode order among equals; -1 when none).
 */
export function presentedIn(t: SampleTable, lo: number, hi: number, start: number, stop: number, minPts: number): { frames: number; first: number; last: number } {
  const { ptsNs } = t;
  let frames = 0;
  let first = -1;
  let last = -1;
  for (let i = lo; i < hi; i++) {
    const p = ptsNs[i];
    if (!(p >= start && p < stop) || p < minPts) continue;
    frames++;
    if (first < 0 || p < ptsNs[first]) first = i;
    if (last < 0 || p > ptsNs[last]) last = i;
  }
  return { frames, first, last };
}

/** Samples of the whole table presented in [start, stop): all of them, and those of sources ≥ fromSource. */
export function countPresentedIn(t: SampleTable, start: number, stop: number, fromSource: number): { all: number; later: number } {
  const { ptsNs, si } = t;
  let all = 0;
  let later = 0;
  for (let i = 0; i < t.n; i++) {
    if (!(ptsNs[i] >= start && ptsNs[i] < stop)) continue;
    all++;
    if (si[i] >= fromSource) later++;
  }
  return { all, later };
}
