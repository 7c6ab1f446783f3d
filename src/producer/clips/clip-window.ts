// A clip's window on the producer clock: PTS windows as given; epoch windows mapped through the anchor of
// the footage each end falls in (each segment keeps its own epoch↔PTS anchor, so old footage maps right
// even after the clock drifted; in a gap, the next segment's), or the live clock past the newest footage. A window that
// ends before the clock begins has no footage (409), one too far from the footage to map is refused (400).
import { PTS_MAX, ptsAdd, ptsMax } from '../../protocol/pts.js';
import { DomainError } from '../../protocol/errors.js';
import type { ClipSpec, ClipWindow } from './clip-request.js';

/** What a window without footage is told (with the recorded gap it falls in, when there is one). */
export const NO_OVERLAP_MESSAGE = 'no segments overlap requested window (possibly purged)';

/** A segment's epoch span and the epoch↔PTS anchor its footage maps with. */
export interface AnchoredSpan {
  start_epoch_ms: number;
  stop_epoch_ms: number;
  anchor_epoch_ms: number;
  anchor_pts_ns: bigint;
}

/** The camera's clock as epoch windows are mapped onto it: its footage's anchors and the live one. */
export interface EpochClock {
  /** The first segment ending after the instant (its anchor maps it). */
  firstEndingAfterEpoch(epochMs: number): AnchoredSpan | undefined;
  /** The live epoch↔PTS anchor (past the newest footage). */
  anchor(): { epochMs: number; ptsNs: bigint };
}

/** An epoch instant on the producer clock, with the anchor of the footage it falls in. */
export function epochOnClock(epochMs: number, clock: EpochClock): bigint {
  const first = clock.firstEndingAfterEpoch(epochMs);
  if (first) return ptsAdd(first.anchor_pts_ns, (epochMs - first.anchor_epoch_ms) * 1e6);
  const live = clock.anchor();
  return ptsAdd(live.ptsNs, (epochMs - live.epochMs) * 1e6);
}

/** A window on the producer clock: PTS as given, epoch ms mapped through the footage's anchors. */
export function windowOnClock(w: ClipSpec | ClipWindow, clock: EpochClock): { startPtsNs: bigint; stopPtsNs: bigint } {
  if (w.mode === 'pts') return { startPtsNs: w.startPtsNs!, stopPtsNs: w.stopPtsNs! };
  const stopPtsNs = epochOnClock(w.stopEpochMs!, clock);
  // A window that ends before the producer's clock begins (negative PTS: before this data directory's
  // first start, or before its oldest footage mapped with that footage's anchor) is a window in the
  // past with no footage, as the seed says (409), not a malformed request.
  if (stopPtsNs <= 0n) throw new DomainError('NO_FOOTAGE', NO_OVERLAP_MESSAGE);
  if (stopPtsNs > PTS_MAX) throw new DomainError('INVALID_FIELD', 'stop_epoch_ms: too far from the recorded footage to map onto the producer clock');
  const startPtsNs = ptsMax(0n, epochOnClock(w.startEpochMs!, clock));
  // Only a window shorter than a nanosecond gets here (or ends whose footage's anchors disagree by more than it).
  if (stopPtsNs <= startPtsNs) throw new DomainError('INVALID_FIELD', 'stop_epoch_ms: window maps to nothing on the producer clock');
  return { startPtsNs, stopPtsNs };
}
