// Pure: does a moof read back from a segment file describe the fragment the index recorded? (sample
// count, every sample inside the fragment's own bytes, presentation bounds.) Used by recovery when it
// verifies a segment file that changed after sealing, and by clip assembly before it trusts a moof.
// Reads the moof's packed sample tables (mp4/fragment-summary.ts): no object per sample.
import { ptsAdd, ptsDiff } from '../../protocol/pts.js';
import type { InitSegment } from '../../mp4/init.js';
import { parseMoof, type ParsedMoof } from '../../mp4/fragment.js';
import { moofSpan, runTimes } from '../../mp4/fragment-summary.js';
import { ticksToNs } from '../../mp4/time.js';
import { videoTrack } from './fragment-times.js';
import type { FragmentRow } from '../store/catalog.js';

/** Why the moof bytes do not match the index row, or (when they do) the parsed moof and its video frame count. */
export function checkFragment(moofBytes: Buffer, f: FragmentRow, init: InitSegment, offsetNs: bigint): { why: string } | { moof: ParsedMoof; frames: number } {
  let moof;
  try {
    moof = parseMoof(moofBytes, f.offset, init);
  } catch (e) {
    return { why: `unreadable moof (${(e as Error).message})` };
  }
  const span = moofSpan(moof);
  if (span.samples !== f.samples) return { why: `${span.samples} samples, the index says ${f.samples}` };
  if (span.dataStart < f.offset + f.moof_size || span.dataEnd > f.offset + f.size) return { why: 'a sample lies outside the fragment' };
  const video = videoTrack(init);
  const run = video && moof.trackRuns.find((r) => r.trackId === video.trackId);
  const t = run ? runTimes(run) : null;
  if (!video || !t) return { why: 'no video samples' };
  // Relative to the file's offset (numbers: within one file).
  const ts = video.timescale;
  const startNs = ticksToNs(t.startTicks, ts);
  const stopNs = ticksToNs(t.stopTicks, ts);
  const indexStart = ptsDiff(f.start_pts_ns, offsetNs);
  const indexStop = ptsDiff(f.stop_pts_ns, offsetNs);
  // The writer may have cut a stretched last duration (fragment-times.ts presentedStopRelNs): the index
  // then ends after the last frame's start and before the file's stretched end.
  const lastPtsNs = ticksToNs(t.lastPtsTicks, ts);
  const stopOk = Math.abs(stopNs - indexStop) <= 1000 || (indexStop < stopNs && indexStop > lastPtsNs);
  if (Math.abs(startNs - indexStart) > 1000 || !stopOk) {
    return { why: `times ${ptsAdd(offsetNs, startNs)}..${ptsAdd(offsetNs, stopNs)} ns, the index says ${f.start_pts_ns}..${f.stop_pts_ns}` };
  }
  return { moof, frames: t.samples };
}
