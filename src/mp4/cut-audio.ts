// Clip audio planning (pure, part of mp4/cut): given the video result of planCut (which sources it
// uses, each source's producer→clip time shift, which joins are discontinuous) picks the audio samples
// that overlap the clip, lays out their decode timeline (the sources' own spacing across seamless joins,
// the video's placement at other joins) and the edit list that starts the audio with the first frame
// and ends it with the last. Sources whose video the clip does not use may lend audio at either end
// when they continue the clip's footage seamlessly: ffmpeg muxes a fragment's last audio (and sometimes
// its first) into the neighbouring fragment, which may be the first or last of another segment file.
import type { FragmentSample } from './fragment.js';
import type { TrackInfo } from './init.js';
import { nsToTicks, ticksToNs } from './time.js';
import type { WriterSample, WriterTrack } from './writer.js';

/**
 * One sample of a source, with its producer times. `duration` is the effective decode duration: the
 * distance to the next sample of the same source, else the stated one.
 */
export interface Sample extends FragmentSample {
  /** Index into the sources array. */
  si: number;
  /** decodeTime + ctsOffset, in track ticks. */
  ptsTicks: number;
  ptsNs: number;
}

export interface AudioInput {
  /** Indexes of the sources whose samples the clip may use, ascending (video sources and seamless neighbours). */
  sources: number[];
  samplesOf: (si: number) => Sample[];
  /** Producer ns − clip presentation ns, per source in `sources`. */
  shift: Map<number, number>;
  /** Sources whose join to the previous one is not seamless. */
  discontinuity: Set<number>;
  /** Video presentation bounds (producer ns) of each source. */
  bounds: (si: number) => { start: number; end: number };
  offsetNs: (si: number) => number;
  /** The caller's id of each source (WriterSample.source). */
  sourceId: (si: number) => number;
  actualStartNs: number;
  actualStopNs: number;
  durationNs: number;
  info: TrackInfo | undefined;
}

export function toWriter(s: Sample, sourceId: number): WriterSample {
  return { size: s.size, duration: s.duration, ctsOffset: s.ctsOffset, isSync: s.isSync, source: sourceId, offset: s.fileOffset };
}

export function planAudio(a: AudioInput): WriterTrack | null {
  const info = a.info;
  if (!info) return null;
  const ats = info.timescale;
  // Samples overlapping the clip; at a discontinuous join, only those overlapping each side's video.
  const picked: Sample[] = [];
  a.sources.forEach((si, u) => {
    let lo = a.actualStartNs;
    let hi = a.actualStopNs;
    if (u > 0 && a.discontinuity.has(si)) lo = Math.max(lo, a.bounds(si).start);
    if (u + 1 < a.sources.length && a.discontinuity.has(a.sources[u + 1])) hi = Math.min(hi, a.bounds(si).end);
    for (const s of a.samplesOf(si)) {
      const end = a.offsetNs(si) + ticksToNs(s.ptsTicks + s.duration, ats);
      if (s.ptsNs < hi && end > lo) picked.push(s);
    }
  });
  if (picked.length === 0) return null;

  const clipNs = (s: Sample): number => s.ptsNs - (a.shift.get(s.si) as number); // presentation time in the clip
  const firstNs = clipNs(picked[0]);
  // The first sample decodes at 0, so its composition time is its ctsOffset.
  const mediaTime = picked[0].ctsOffset + (firstNs <= 0 ? nsToTicks(-firstNs, ats) : 0);
  const emptyBefore = firstNs > 0 ? nsToTicks(firstNs, ats) : 0;

  // Output decode times: the sources' own spacing within a source (and across seamless joins of one
  // clock); at other joins, where the video shift says the next sample belongs.
  const out: Array<{ s: Sample; t: number; duration: number }> = [];
  for (const s of picked) {
    const prev = out[out.length - 1];
    if (!prev) { out.push({ s, t: 0, duration: s.duration }); continue; }
    const seamless = prev.s.si === s.si || (!a.discontinuity.has(s.si) && a.offsetNs(prev.s.si) === a.offsetNs(s.si));
    const natural = s.decodeTime - prev.s.decodeTime;
    if (seamless && natural > 0) {
      prev.duration = natural;
      out.push({ s, t: prev.t + natural, duration: s.duration });
      continue;
    }
    const want = nsToTicks(clipNs(s), ats) + mediaTime - emptyBefore - s.ctsOffset;
    while (out.length > 1 && want <= out[out.length - 1].t) out.pop();
    const p = out[out.length - 1];
    if (want <= p.t) continue; // cannot place it after the only earlier sample: leave it out
    p.duration = want - p.t;
    out.push({ s, t: want, duration: s.duration });
  }
  const lastOut = out[out.length - 1];
  const mediaEnd = lastOut.t + lastOut.duration;
  const duration = Math.min(nsToTicks(a.durationNs, ats) - emptyBefore, mediaEnd - mediaTime);
  if (duration <= 0) return null;
  return {
    info,
    samples: out.map((o) => ({ ...toWriter(o.s, a.sourceId(o.s.si)), duration: o.duration })),
    edit: emptyBefore > 0 ? { mediaTime, duration, emptyBefore } : { mediaTime, duration },
  };
}
