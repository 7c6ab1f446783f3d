// The video decode timeline of a clip (pure, part of the planner in cut.ts): where each run's samples
// go when footage of several runs (ffmpeg runs, camera reboots: other clocks, other reorder delays) is
// joined. Works on an index range of the planner's sample table (cut-table.ts).
import { type SampleTable, medianDuration } from './cut-table.js';

/**
 * The clip's decode timeline (outDts) and composition adjustments of the video samples [lo, hi) of the
 * table (decode order; the answers' index i is sample lo + i).
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
export function placeRuns(
  t: SampleTable, lo: number, hi: number, offsetNs: ArrayLike<number>,
): { outDts: Float64Array; place: Float64Array; fix: Float64Array; runJoins: number } {
  const n = hi - lo;
  const outDts = new Float64Array(n);
  const place = new Float64Array(n);
  const fix = new Float64Array(n);
  const { si, duration } = t;
  const cts = t.ctsOffset.subarray(lo, hi);
  // Runs: stretches of samples on one clock (starting at runFrom[r]).
  const runFrom: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = si[lo + i];
    if (i === 0 || (a !== si[lo + i - 1] && offsetNs[a] !== offsetNs[si[lo + i - 1]])) runFrom.push(i);
  }
  runFrom.push(n);
  let clock = 0;
  for (let i = 0; i < n; i++) {
    outDts[i] = clock;
    clock += duration[lo + i];
  }
  let moved = 0; // what the joins so far moved the runs after them (applied to a run when it is reached)
  let periodA = medianDuration(duration, lo + runFrom[0], lo + runFrom[1]);
  for (let k = 1; k + 1 < runFrom.length; k++) {
    const aFrom = runFrom[k - 1];
    const bFrom = runFrom[k];
    const bTo = runFrom[k + 1];
    for (let i = bFrom; i < bTo; i++) outDts[i] += moved;
    const periodB = medianDuration(duration, lo + bFrom, lo + bTo);
    // The old run's end: a hole among its last pictures whose first missing frame would decode after its
    // last sample (its composition offset is at least the run's least). `pa`: those pictures in
    // presentation order, the run's last one last.
    const lastDtsA = outDts[bFrom - 1];
    let minCts = Infinity;
    let lastPresA = -Infinity;
    for (let i = aFrom; i < bFrom; i++) {
      const p = pres(outDts, cts, place, fix, i);
      minCts = Math.min(minCts, p - outDts[i]);
      lastPresA = Math.max(lastPresA, p);
    }
    const pa = edgeByPts(outDts, cts, place, fix, aFrom, bFrom, 1, periodA, minCts, lastDtsA);
    for (let j = pa.length - 2; j >= 0; j--) {
      const hole = pres(outDts, cts, place, fix, pa[j + 1]) - pres(outDts, cts, place, fix, pa[j]) - periodA;
      if (2 * hole < periodA) continue;
      for (let m = j + 1; m < pa.length; m++) fix[pa[m]] -= hole;
    }
    // The new run's start: a hole among its first pictures whose last missing frame would decode before
    // its first sample (its composition offset is at most the run's greatest). `pb`: those pictures in
    // presentation order, the run's first one first.
    const firstDtsB = outDts[bFrom];
    let maxCts = -Infinity;
    let firstPresB = Infinity;
    for (let i = bFrom; i < bTo; i++) {
      const p = pres(outDts, cts, place, fix, i);
      maxCts = Math.max(maxCts, p - outDts[i]);
      firstPresB = Math.min(firstPresB, p);
    }
    const pb = edgeByPts(outDts, cts, place, fix, bFrom, bTo, -1, -periodB, maxCts, firstDtsB);
    for (let j = 0; j + 1 < pb.length; j++) {
      const hole = pres(outDts, cts, place, fix, pb[j + 1]) - pres(outDts, cts, place, fix, pb[j]) - periodB;
      if (2 * hole < periodB) continue;
      for (let m = 0; m <= j; m++) fix[pb[m]] += hole;
    }
    // Place the new run one period after the old run's last picture.
    const endA = (pa.length > 0 ? pres(outDts, cts, place, fix, pa[pa.length - 1]) : lastPresA) + periodA;
    const firstB = pb.length > 0 ? pres(outDts, cts, place, fix, pb[0]) : firstPresB;
    let move = endA - firstB;
    if (firstDtsB + move <= lastDtsA) {
      const lower = lastDtsA + 1 - firstDtsB - move; // decode it later, present it through lower offsets
      for (let i = bFrom; i < bTo; i++) place[i] -= lower;
      move += lower;
    }
    for (let i = bFrom; i < bTo; i++) outDts[i] += move;
    moved += move;
    periodA = periodB;
  }
  return { outDts, place, fix, runJoins: runFrom.length - 2 };
}

/** Presentation time of sample i in the clip as placed so far. */
function pres(outDts: Float64Array, cts: Float64Array, place: Float64Array, fix: Float64Array, i: number): number {
  return outDts[i] + cts[i] + place[i] + fix[i];
}

/**
 * The samples [from, to) at a run's edge, in presentation order (a stable sort: equal times keep decode
 * order): with side 1 those whose presentation time p has p + add - sub > bound (the run's last
 * pictures), with side -1 those with p + add - sub < bound (its first). Only these pictures of a run are
 * ever looked at, and they are exactly where a sort of the whole run would put them.
 */
function edgeByPts(
  outDts: Float64Array, cts: Float64Array, place: Float64Array, fix: Float64Array,
  from: number, to: number, side: 1 | -1, add: number, sub: number, bound: number,
): number[] {
  const idx: number[] = [];
  const key: number[] = [];
  for (let i = from; i < to; i++) {
    const p = pres(outDts, cts, place, fix, i);
    if (side === 1 ? p + add - sub > bound : p + add - sub < bound) {
      idx.push(i);
      key.push(p);
    }
  }
  // Stable sorts: equal times keep decode order. Few pictures are ever at a run's edge (insertion sort);
  // odd footage may put many there.
  if (idx.length > 64) {
    const order = idx.map((_, x) => x).sort((x, y) => key[x] - key[y]);
    return order.map((x) => idx[x]);
  }
  for (let x = 1; x < idx.length; x++) {
    const i = idx[x];
    const p = key[x];
    let y = x - 1;
    for (; y >= 0 && key[y] > p; y--) {
      idx[y + 1] = idx[y];
      key[y + 1] = key[y];
    }
    idx[y + 1] = i;
    key[y + 1] = p;
  }
  return idx;
}
