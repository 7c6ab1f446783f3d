// One ingest run's place on the producer's timeline (no I/O): the offset of its tick 0 (chosen at its
// first fragment, above the footage already recorded — pts-clock.ts), its presentation frontier, the
// holes in its presentation (gaps, judged frame by frame — discontinuity.ts) and the jumps that
// re-anchor it on the wall clock. The segment writer asks it where each fragment lies and records
// the gaps it collects with the next fragment stored.
import type { InitSegment } from '../../mp4/init.js';
import { ptsAdd, ptsDiff, ptsMax } from '../../protocol/pts.js';
import { classifyJump, holeReason, presentationHoles } from './discontinuity.js';
import { presentedStopRelNs, type FragmentTimes } from './fragment-times.js';
import type { PtsClock } from './pts-clock.js';

export type Gap = { startNs: bigint; stopNs: bigint; reason: string };

/** Where the footage recorded before a run ends (the floor its first fragment is placed above). */
export interface RunFloor {
  floorNs: bigint;
  /** Whether there is footage below the floor (then the run starts at least a frame above it, the hole a gap). */
  hadFootage: boolean;
  /** Wall time the footage at the floor was recorded, when known. */
  floorEpochMs?: number;
  /** The reason of the gap before the run. */
  gapReason: string;
}

/** A fragment's producer pts, and the re-anchoring jump it made (the writer seals the open segment there). */
export interface Placement { startNs: bigint; stopNs: bigint; jump: string | null }

export class RunTimeline {
  /** Producer pts of the run's tick 0 (null before its first fragment). */
  offsetNs: bigint | null = null;
  frameDurationNs = 0;
  /** Gaps before the next fragment stored (a new run, a timestamp jump, presentation holes). */
  pendingGaps: Gap[] = [];
  /** The presentation frontier: end of the furthest frame recorded in this run (null before the first). */
  private lastStopNs: bigint | null = null;
  /** Wall time the previous fragment arrived. */
  private lastArrivalMs = 0;
  /** Presentation start of the run's first fragment, and whether its A/V re-sync step was seen. */
  private startNs: bigint | null = null;
  private resyncSeen = false;
  /** Whether the run carries audio (its holes are judged with the A/V re-sync in mind). */
  private readonly hasAudio: boolean;

  constructor(readonly runId: number, readonly init: InitSegment, private readonly clock: PtsClock) {
    this.hasAudio = init.tracks.some((x) => x.kind === 'audio');
  }

  /**
   * Places a fragment: its times (`t.stopRelNs` becomes its presented end) in producer pts. The run's
   * first fragment fixes the offset above `floor()`; a later one whose timestamps went far back, or
   * stepped far ahead of the wall clock, re-anchors the run (the seam a gap, `jump` its reason).
   */
  place(t: FragmentTimes, arrivalEpochMs: number, floor: () => RunFloor): Placement {
    // A fragment of a frame or two (cut short by a jump) says little about the frame rate.
    if (t.frameDurationNs > 0 && (t.frames >= 4 || this.frameDurationNs === 0)) this.frameDurationNs = t.frameDurationNs;
    t.stopRelNs = presentedStopRelNs(t, this.frameDurationNs);
    let jump: string | null = null;
    if (this.offsetNs === null) {
      const f = floor();
      // The wall time nothing was recorded is a gap (at least a frame), even when the old run's
      // timestamps ran ahead of the clock.
      const r = this.clock.startRun(t.startRelNs, t.stopRelNs, arrivalEpochMs, f.floorNs, f.hadFootage, f.floorEpochMs, this.frameDurationNs);
      this.offsetNs = r.offsetNs;
      if (r.gap && r.gap.stopNs > r.gap.startNs) this.pendingGaps.push({ ...r.gap, reason: f.gapReason });
    } else {
      jump = this.followJump(t, arrivalEpochMs);
    }
    return { startNs: ptsAdd(this.offsetNs, t.startRelNs), stopNs: ptsAdd(this.offsetNs, t.stopRelNs), jump };
  }

  /** A placed fragment is taken: its presentation holes become gaps, the frontier and the clock move on. */
  advance(t: FragmentTimes, p: Placement, arrivalEpochMs: number): void {
    const offset = this.offsetNs!;
    // Holes are judged on times relative to the run's offset (numbers: a run's span is far below 2^53 ns).
    const frontierRel = this.lastStopNs === null ? -Infinity : ptsDiff(this.lastStopNs, offset);
    const seen = presentationHoles(frontierRel, t.videoSamples.map((v) => v.ptsRelNs), this.frameDurationNs);
    this.startNs ??= p.startNs;
    for (const h of seen.holes) {
      const why = holeReason({ startNs: h.startNs, stopNs: h.stopNs, runStartNs: ptsDiff(this.startNs, offset), hasAudio: this.hasAudio, resyncSeen: this.resyncSeen });
      this.resyncSeen ||= why.resync;
      this.pendingGaps.push({ startNs: ptsAdd(offset, h.startNs), stopNs: ptsAdd(offset, h.stopNs), reason: why.reason });
    }
    const frontier = Number.isFinite(seen.frontierNs) ? ptsMax(ptsAdd(offset, seen.frontierNs), p.stopNs) : p.stopNs;
    this.lastStopNs = this.lastStopNs === null ? frontier : ptsMax(this.lastStopNs, frontier);
    this.lastArrivalMs = arrivalEpochMs;
    this.clock.observe(p.stopNs, arrivalEpochMs);
  }

  /**
   * A fragment of a running run whose timestamps went far back, or stepped far ahead of the wall clock:
   * re-anchors the run on the wall clock, above the footage already recorded, with the seam recorded as
   * a gap. (Smaller forward holes are found frame by frame in advance.)
   */
  private followJump(t: FragmentTimes, arrivalEpochMs: number): string | null {
    if (this.lastStopNs === null) return null;
    // Relative to the run's offset: the frontier and this fragment are within one run's span of it.
    const jump = classifyJump({
      frontierNs: ptsDiff(this.lastStopNs, this.offsetNs!), startNs: t.startRelNs, stopNs: t.stopRelNs,
      frameNs: this.frameDurationNs, wallElapsedMs: arrivalEpochMs - this.lastArrivalMs,
    });
    if (jump.kind === 'continuous') return null;
    const frame = Math.max(1, this.frameDurationNs);
    const r = this.clock.startRun(t.startRelNs, t.stopRelNs, arrivalEpochMs, ptsAdd(this.lastStopNs, frame), true, this.clock.epochMsOf(this.lastStopNs));
    this.offsetNs = r.offsetNs;
    this.pendingGaps.push({ startNs: this.lastStopNs, stopNs: ptsAdd(r.offsetNs, t.startRelNs), reason: jump.reason });
    return jump.reason;
  }
}
