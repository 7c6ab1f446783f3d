// Pure: maps an epoch-ms instant to producer PTS with the anchor of the footage it falls in (each
// segment keeps its own epoch↔pts anchor, so old footage maps right even after the clock drifted).
import { ptsAdd } from '../../protocol/pts.js';

export interface AnchoredSpan {
  start_epoch_ms: number;
  stop_epoch_ms: number;
  anchor_epoch_ms: number;
  anchor_pts_ns: bigint;
}

/**
 * `spans` are segments sorted by time. Inside a segment its anchor is used; in a gap or before the
 * first segment, the next segment's anchor; after the last, `fallback` (the live clock).
 */
export function epochToPts(epochMs: number, spans: AnchoredSpan[], fallback: (epochMs: number) => bigint): bigint {
  const map = (s: AnchoredSpan) => ptsAdd(s.anchor_pts_ns, (epochMs - s.anchor_epoch_ms) * 1e6);
  for (const s of spans) {
    if (epochMs < s.stop_epoch_ms) return map(s);
  }
  return fallback(epochMs);
}
