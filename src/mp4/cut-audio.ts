// Clip audio planning (pure, part of mp4/cut): given the video result of planCut (which sources it
// uses, each source's producer→clip time shift, which joins are discontinuous) picks the audio samples
// that overlap the clip, lays out their decode timeline (the sources' own spacing across seamless joins,
// the video's placement at other joins) and the edit list that starts the audio with the first frame
// and ends it with the last. Sources whose video the clip does not use may lend audio at either end
// when they continue the clip's footage seamlessly: ffmpeg muxes a fragment's last audio (and sometimes
// its first) into the neighbouring fragment, which may be the first or last of another segment file.
// Works on the planner's audio table (cut-table.ts) and hands the writer columns.
import type { SampleTable } from './cut-table.js';
import type { TrackInfo } from './init.js';
import { nsToTicks, ticksToNs } from './time.js';
import type { WriterTrack } from './writer.js';
import { allocColumns, columnTrack } from './writer-tables.js';

export interface AudioInput {
  /** Indexes of the sources whose samples the clip may use, ascending (video sources and seamless neighbours). */
  sources: number[];
  /** The audio samples of (at least) those sources. */
  table: SampleTable;
  /** Producer ns − clip presentation ns, per source in `sources`. */
  shift: Map<number, number>;
  /** Sources whose join to the previous one is not seamless. */
  discontinuity: Set<number>;
  /** Video presentation bounds (producer ns) of each source. */
  bounds: (si: number) => { start: number; end: number };
  /** Each source's offsetNs (CutSource.offsetNs), by source index. */
  offsetNs: readonly number[];
  /** The caller's id of each source (WriterSample.source), by source index. */
  sourceId: readonly number[];
  actualStartNs: number;
  actualStopNs: number;
  durationNs: number;
  info: TrackInfo | undefined;
}

export function planAudio(a: AudioInput): WriterTrack | null {
  const info = a.info;
  if (!info) return null;
  const ats = info.timescale;
  const t = a.table;
  // Samples overlapping the clip; at a discontinuous join, only those overlapping each side's video.
  const picked: number[] = [];
  a.sources.forEach((si, u) => {
    let lo = a.actualStartNs;
    let hi = a.actualStopNs;
    if (u > 0 && a.discontinuity.has(si)) lo = Math.max(lo, a.bounds(si).start);
    if (u + 1 < a.sources.length && a.discontinuity.has(a.sources[u + 1])) hi = Math.min(hi, a.bounds(si).end);
    const offsetNs = a.offsetNs[si];
    for (let i = t.from[si]; i < t.to[si]; i++) {
      const end = offsetNs + ticksToNs(t.ptsTicks[i] + t.duration[i], ats);
      if (t.ptsNs[i] < hi && end > lo) picked.push(i);
    }
  });
  if (picked.length === 0) return null;

  const clipNs = (i: number): number => t.ptsNs[i] - (a.shift.get(t.si[i]) as number); // presentation time in the clip
  const firstNs = clipNs(picked[0]);
  // The first sample decodes at 0, so its composition time is its ctsOffset.
  const mediaTime = t.ctsOffset[picked[0]] + (firstNs <= 0 ? nsToTicks(-firstNs, ats) : 0);
  const emptyBefore = firstNs > 0 ? nsToTicks(firstNs, ats) : 0;

  // Output decode times: the sources' own spacing within a source (and across seamless joins of one
  // clock); at other joins, where the video shift says the next sample belongs. A stack of the samples
  // placed so far: each one's table index, decode time and duration.
  const outIdx = new Int32Array(picked.length);
  const outT = new Float64Array(picked.length);
  const outDur = new Float64Array(picked.length);
  let m = 0;
  for (const s of picked) {
    if (m === 0) {
      outIdx[0] = s; outT[0] = 0; outDur[0] = t.duration[s]; m = 1;
      continue;
    }
    const prev = outIdx[m - 1];
    const seamless = t.si[prev] === t.si[s] || (!a.discontinuity.has(t.si[s]) && a.offsetNs[t.si[prev]] === a.offsetNs[t.si[s]]);
    const natural = t.decodeTime[s] - t.decodeTime[prev];
    if (seamless && natural > 0) {
      outDur[m - 1] = natural;
      outIdx[m] = s; outT[m] = outT[m - 1] + natural; outDur[m] = t.duration[s]; m++;
      continue;
    }
    const want = nsToTicks(clipNs(s), ats) + mediaTime - emptyBefore - t.ctsOffset[s];
    while (m > 1 && want <= outT[m - 1]) m--;
    if (want <= outT[m - 1]) continue; // cannot place it after the only earlier sample: leave it out
    outDur[m - 1] = want - outT[m - 1];
    outIdx[m] = s; outT[m] = want; outDur[m] = t.duration[s]; m++;
  }
  const mediaEnd = outT[m - 1] + outDur[m - 1];
  const duration = Math.min(nsToTicks(a.durationNs, ats) - emptyBefore, mediaEnd - mediaTime);
  if (duration <= 0) return null;
  const c = allocColumns(m);
  for (let k = 0; k < m; k++) {
    const i = outIdx[k];
    c.size[k] = t.size[i];
    c.duration[k] = outDur[k];
    c.ctsOffset[k] = t.ctsOffset[i];
    c.isSync[k] = t.sync[i];
    c.source[k] = a.sourceId[t.si[i]];
    c.offset[k] = t.fileOffset[i];
  }
  return columnTrack(info, c, emptyBefore > 0 ? { mediaTime, duration, emptyBefore } : { mediaTime, duration });
}
