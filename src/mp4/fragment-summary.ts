// What checks of a parsed moof need to know of its samples, read from the packed tables (no object per
// sample): how many there are, the byte range they occupy in the file, and a track run's presentation
// bounds in ticks. Pure.
import { type ParsedMoof, type TrackRun, SAMPLE_FIELDS, S_CTS, S_DECODE, S_DURATION, S_OFFSET, S_SIZE, S_SYNC, runTable } from './fragment.js';

export interface MoofSpan {
  /** Samples of every track. */
  samples: number;
  /** The least sample offset and the greatest offset + size in the file (Infinity, -Infinity when none). */
  dataStart: number;
  dataEnd: number;
}

export function moofSpan(moof: ParsedMoof): MoofSpan {
  let samples = 0;
  let dataStart = Infinity;
  let dataEnd = -Infinity;
  for (const r of moof.trackRuns) {
    const t = runTable(r);
    samples += t.length / SAMPLE_FIELDS;
    for (let p = 0; p < t.length; p += SAMPLE_FIELDS) {
      const at = t[p + S_OFFSET];
      if (at < dataStart) dataStart = at;
      if (at + t[p + S_SIZE] > dataEnd) dataEnd = at + t[p + S_SIZE];
    }
  }
  return { samples, dataStart, dataEnd };
}

/** A track run's presentation in its track's ticks (pts = decode time + composition offset). */
export interface RunTimes {
  samples: number;
  /** The least pts. */
  startTicks: number;
  /** The greatest pts + (stated) duration. */
  stopTicks: number;
  /** The greatest pts. */
  lastPtsTicks: number;
  /** Whether the run's first sample is a sync sample. */
  startsWithSync: boolean;
  /** The middle one (index length >> 1) of the run's stated durations sorted. */
  medianDurationTicks: number;
}

/** Room for the durations runTimes sorts (reused: one run at a time). */
let scratch = new Float64Array(256);

/** The run's times, or null when it has no samples. */
export function runTimes(run: TrackRun): RunTimes | null {
  const t = runTable(run);
  const n = t.length / SAMPLE_FIELDS;
  if (n === 0) return null;
  let startTicks = Infinity;
  let stopTicks = -Infinity;
  let lastPtsTicks = -Infinity;
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  const durations = scratch.subarray(0, n);
  for (let i = 0, p = 0; i < n; i++, p += SAMPLE_FIELDS) {
    const pts = t[p + S_DECODE] + t[p + S_CTS];
    const d = t[p + S_DURATION];
    if (pts < startTicks) startTicks = pts;
    if (pts > lastPtsTicks) lastPtsTicks = pts;
    if (pts + d > stopTicks) stopTicks = pts + d;
    durations[i] = d;
  }
  durations.sort();
  return { samples: n, startTicks, stopTicks, lastPtsTicks, startsWithSync: t[S_SYNC] === 1, medianDurationTicks: durations[n >> 1] };
}
