// The video decode timeline of a clip (pure, part of the planner in cut.ts): where each run's samples
// go when footage of several runs (ffmpeg runs, camera reboots: other clocks, other reorder delays) is
// joined, and the frame interval the joins are measured in.
import type { Sample } from './cut-audio.js';

/**
 * The clip's decode timeline (outDts) and composition adjustments of the video samples (decode order).
 * Within a run (one clock: sources with the same offset) the samples keep their decode spacing and
 * composition offsets; gaps between its sources vanish. At a join between runs (a camera reboot, a new
 * ffmpeg run: another clock, possibly another reorder delay) the new run is placed so that its first
 * presented frame follows the old run's last one by one frame period (the old run's median decode
 * duration, not its last sample's duration, which is the muxer's guess): no frame is presented before
 * an earlier one or on top of it, and none lingers. Where that would not leave the new run's first
 * decode time after the old run's last, the new run is decoded just after it and presented through a
 * lower composition offset (`place`, the same for the whole run, part of its producer→clip shift).
 *
 * The runs' edge holes are closed (`fix`, per frame, not part of the shift): at the end of the old run,
 * frames it never decoded (a P-frame's B-frames lost with the camera) leave its last picture(s) a hole
 * after the others; at the start of the new run, its first keyframe may be timed a frame early (the
 * first RTSP packet has no timestamp; ffmpeg's is a guess). Either hole lies next to the gap the clip
 * takes out, so the frames beside it are moved across it, presentation order unchanged. A hole counts
 * as an edge hole only when its missing frames would decode after the old run's last sample (before
 * the new run's first): never within a run's footage, nor in a stream without reordering.
 */
export function placeRuns(included: Sample[], offsetNs: (si: number) => number): { outDts: number[]; place: number[]; fix: number[]; runJoins: number } {
  const n = included.length;
  const outDts = new Array<number>(n).fill(0);
  const place = new Array<number>(n).fill(0);
  const fix = new Array<number>(n).fill(0);
  // Runs: stretches of samples on one clock.
  const runs: Array<{ from: number; to: number }> = [];
  for (let i = 0; i < n; i++) {
    const newRun = i === 0 || (included[i].si !== included[i - 1].si && offsetNs(included[i].si) !== offsetNs(included[i - 1].si));
    if (newRun) runs.push({ from: i, to: i + 1 });
    else runs[runs.length - 1].to = i + 1;
  }
  let t = 0;
  for (const r of runs) {
    for (let i = r.from; i < r.to; i++) {
      outDts[i] = t;
      t += included[i].duration;
    }
  }
  const pres = (i: number): number => outDts[i] + included[i].ctsOffset + place[i] + fix[i];
  const byPts = (r: { from: number; to: number }): number[] => {
    const idx: number[] = [];
    for (let i = r.from; i < r.to; i++) idx.push(i);
    return idx.sort((x, y) => pres(x) - pres(y));
  };
  for (let k = 1; k < runs.length; k++) {
    const a = runs[k - 1];
    const b = runs[k];
    const periodA = medianDuration(included.slice(a.from, a.to));
    const periodB = medianDuration(included.slice(b.from, b.to));
    // The old run's end: a hole among its last pictures whose first missing frame would decode after its
    // last sample (its composition offset is at least the run's least).
    const lastDtsA = outDts[a.to - 1];
    let minCts = Infinity;
    for (let i = a.from; i < a.to; i++) minCts = Math.min(minCts, pres(i) - outDts[i]);
    const pa = byPts(a);
    for (let j = pa.length - 2; j >= 0 && pres(pa[j]) + periodA - minCts > lastDtsA; j--) {
      const hole = pres(pa[j + 1]) - pres(pa[j]) - periodA;
      if (2 * hole < periodA) continue;
      for (let m = j + 1; m < pa.length; m++) fix[pa[m]] -= hole;
    }
    // The new run's start: a hole among its first pictures whose last missing frame would decode before
    // its first sample (its composition offset is at most the run's greatest).
    const firstDtsB = outDts[b.from];
    let maxCts = -Infinity;
    for (let i = b.from; i < b.to; i++) maxCts = Math.max(maxCts, pres(i) - outDts[i]);
    const pb = byPts(b);
    for (let j = 0; j + 1 < pb.length && pres(pb[j + 1]) - periodB - maxCts < firstDtsB; j++) {
      const hole = pres(pb[j + 1]) - pres(pb[j]) - periodB;
      if (2 * hole < periodB) continue;
      for (let m = 0; m <= j; m++) fix[pb[m]] += hole;
    }
    // Place the new run one period after the old run's last picture.
    const endA = pres(pa[pa.length - 1]) + periodA;
    const firstB = pres(pb[0]);
    let move = endA - firstB;
    if (firstDtsB + move <= lastDtsA) {
      const lower = lastDtsA + 1 - firstDtsB - move; // decode it later, present it through lower offsets
      for (let i = b.from; i < b.to; i++) place[i] -= lower;
      move += lower;
    }
    for (let i = b.from; i < n; i++) outDts[i] += move;
  }
  return { outDts, place, fix, runJoins: runs.length - 1 };
}

/** The frame interval (ticks): the median decode duration of the samples (counted: durations take few values). */
export function medianDuration(samples: Sample[]): number {
  const counts = new Map<number, number>();
  for (const s of samples) counts.set(s.duration, (counts.get(s.duration) ?? 0) + 1);
  const mid = samples.length >> 1;
  let seen = 0;
  for (const d of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(d)!;
    if (seen > mid) return d;
  }
  return samples[0].duration;
}

