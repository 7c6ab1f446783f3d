// The producer's PTS clock: nanoseconds on one monotonic timeline per data directory, surviving ffmpeg
// and producer restarts. Pure bookkeeping (no I/O): the caller persists `baseEpochMs` and tells it where
// recorded footage ends.
//
// - At the data directory's first start, pts 0 = `baseEpochMs` (wall clock).
// - Within one ffmpeg run, pts follow the source's own timestamps (offset + ticks): exact frame spacing.
// - A run's offset is chosen when its first fragment arrives, so that the fragment's end maps to the wall
//   clock at arrival, but never earlier than the end of footage already recorded: a restart or stall
//   leaves a gap and never overlapping or reused PTS. A new run after earlier footage starts at least
//   `minGapNs` (the caller passes a frame) above it: its source was stopped and started again, which no
//   camera does within a frame, while the wall-clock estimate is only as good as a pipeline latency (a
//   quick restart under load could otherwise land exactly on the old run's end, a seam with no gap).
// - Drift: the estimated epoch of pts 0 (arrival − pts, minimum over recent fragments, which removes
//   pipeline jitter) is tracked per run; its change since the run started is the source clock's drift
//   from the wall clock. Each segment stores the current estimate as its own epoch↔pts anchor.

import { ptsMs } from '../../protocol/pts.js';

export interface RunOffset {
  /** Producer pts of the run's tick 0 (exact; PTS are bigints, protocol/pts.ts). */
  offsetNs: bigint;
  /** A hole in the timeline before this run's first frame, when there was earlier footage. */
  gap: { startNs: bigint; stopNs: bigint } | null;
}

export class PtsClock {
  private epochOfZeroRun = 0;
  private readonly recent: number[] = [];
  private epochOfZeroNow: number;

  constructor(readonly baseEpochMs: number) {
    this.epochOfZeroNow = baseEpochMs;
  }

  /** The wall-clock pts of an epoch time, on this data directory's base. */
  wallPtsNs(epochMs: number): bigint {
    return BigInt(Math.round((epochMs - this.baseEpochMs) * 1e6));
  }

  /**
   * Picks the offset of a new run from its first fragment's relative bounds (ns from tick 0) and the
   * wall time it arrived; `floorNs` is the end of footage recorded so far (0 when none), captured at
   * `floorEpochMs` when known; with earlier footage the run starts at least `minGapNs` above the floor.
   */
  startRun(firstStartRelNs: number, firstStopRelNs: number, arrivalEpochMs: number, floorNs: bigint, hadFootage: boolean, floorEpochMs?: number, minGapNs = 0): RunOffset {
    const startRel = BigInt(Math.round(firstStartRelNs));
    let offsetNs = this.wallPtsNs(arrivalEpochMs) - BigInt(Math.round(firstStopRelNs));
    // When the footage at the floor is known to end at `floorEpochMs` (wall clock), the new run starts
    // no closer to it than the wall time that passed between the two: the time nothing was recorded is
    // a gap even when the earlier run's timestamps had run ahead of the clock (a camera clock step).
    const lostNs = floorEpochMs === undefined ? 0 : Math.max(0, (arrivalEpochMs - floorEpochMs) * 1e6 - (firstStopRelNs - firstStartRelNs));
    const minStartNs = floorNs + BigInt(Math.round(Math.max(lostNs, hadFootage ? minGapNs : 0)));
    const startNs = offsetNs + startRel;
    if (startNs < minStartNs) offsetNs += minStartNs - startNs;
    const newStart = offsetNs + startRel;
    this.recent.length = 0;
    this.epochOfZeroRun = arrivalEpochMs - ptsMs(offsetNs) - firstStopRelNs / 1e6;
    this.epochOfZeroNow = this.epochOfZeroRun;
    this.recent.push(this.epochOfZeroRun);
    const gap = hadFootage && newStart > floorNs ? { startNs: floorNs, stopNs: newStart } : null;
    return { offsetNs, gap };
  }

  /** Feeds the arrival of a fragment ending at `stopNs` (producer pts). */
  observe(stopNs: bigint, arrivalEpochMs: number): void {
    this.recent.push(arrivalEpochMs - ptsMs(stopNs));
    if (this.recent.length > 20) this.recent.shift();
    this.epochOfZeroNow = Math.min(...this.recent);
  }

  /** Epoch ms of a pts under the current anchor estimate. */
  epochMsOf(ptsNs: bigint): number {
    return this.epochOfZeroNow + ptsMs(ptsNs);
  }


  /** Drift of the source clock from the wall clock since the current run began (ms; + = source slow). */
  driftMs(): number {
    return this.epochOfZeroNow - this.epochOfZeroRun;
  }

}
