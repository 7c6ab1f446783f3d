// Pure: the presentation bounds of one fMP4 fragment, in ns relative to tick 0 of its file, from the
// video track's samples (pts = decode time + composition offset).
import type { InitSegment, TrackInfo } from '../../mp4/init.js';
import type { ParsedMoof } from '../../mp4/fragment.js';
import { nsToTicks, ticksToNs } from '../../mp4/time.js';

export interface FragmentTimes {
  startRelNs: number;
  stopRelNs: number;
  /** Video samples in the fragment. */
  frames: number;
  /** Every sample of every track. */
  samples: number;
  keyframe: boolean;
  /** Median video sample duration in ns (frame interval), or 0. */
  frameDurationNs: number;
  /** Each video sample's presentation time and decode duration (relative ns, and in ticks), in decode order. */
  videoSamples: Array<{ ptsRelNs: number; durationNs: number; ptsTicks: number; durationTicks: number }>;
  /** The video track's timescale (ticks per second). */
  timescale: number;
}

export function videoTrack(init: InitSegment): TrackInfo | undefined {
  return init.tracks.find((t) => t.kind === 'video');
}

export function fragmentTimes(init: InitSegment, moof: ParsedMoof): FragmentTimes | null {
  const video = videoTrack(init);
  if (!video) return null;
  const run = moof.trackRuns.find((r) => r.trackId === video.trackId);
  const samples = moof.trackRuns.reduce((n, r) => n + r.samples.length, 0);
  if (!run || run.samples.length === 0) return null;
  let minPts = Infinity;
  let maxEnd = -Infinity;
  const durations: number[] = [];
  const ts = video.timescale;
  const videoSamples: FragmentTimes['videoSamples'] = [];
  for (const s of run.samples) {
    const pts = s.decodeTime + s.ctsOffset;
    videoSamples.push({ ptsRelNs: ticksToNs(pts, ts), durationNs: ticksToNs(s.duration, ts), ptsTicks: pts, durationTicks: s.duration });
    if (pts < minPts) minPts = pts;
    if (pts + s.duration > maxEnd) maxEnd = pts + s.duration;
    durations.push(s.duration);
  }
  durations.sort((a, b) => a - b);
  const frameDurationNs = ticksToNs(durations[durations.length >> 1], video.timescale);
  return {
    startRelNs: ticksToNs(minPts, video.timescale),
    stopRelNs: ticksToNs(maxEnd, video.timescale),
    frames: run.samples.length,
    samples,
    keyframe: run.samples[0].isSync,
    frameDurationNs,
    videoSamples,
    timescale: ts,
  };
}

/** Whether a fragment's first video sample is a keyframe (where a decoder can start). */
export function fragmentStartsOnKeyframe(init: InitSegment, f: { moof: ParsedMoof }): boolean {
  const video = videoTrack(init);
  return f.moof.trackRuns.find((r) => r.trackId === video?.trackId)?.samples[0]?.isSync === true;
}

/** A sample lasting more than this many frame periods is a hole in the source's timestamps, not a frame. */
export const STRETCHED_FRAMES = 2.5;

/**
 * The fragment's presentation end (relative ns) with stretched sample durations cut to one frame: at a
 * forward step in the source's timestamps the muxer gives the sample before it the whole step as its
 * duration (DTS difference); taken as footage, that would hide the step and make the B-frames that
 * follow look like a step back. The hole then shows before the next frame instead. Summed in ticks and
 * converted once, so the end is the same ns as the next fragment's start at that tick (ns rounded twice
 * would overlap it by 1 ns at frame rates whose period is no whole ns, e.g. 15 or 30 fps).
 */
export function presentedStopRelNs(t: FragmentTimes, frameNs: number): number {
  const frame = frameNs > 0 ? frameNs : t.frameDurationNs;
  if (!(frame > 0)) return t.stopRelNs;
  const frameTicks = nsToTicks(frame, t.timescale);
  let stop = -Infinity;
  for (const v of t.videoSamples) stop = Math.max(stop, v.ptsTicks + (v.durationNs > STRETCHED_FRAMES * frame ? frameTicks : v.durationTicks));
  return Number.isFinite(stop) ? ticksToNs(stop, t.timescale) : t.stopRelNs;
}
