// Pure: the recorded timeline as the API shows it — segments in wire form, the gaps between them
// (with the recorded reason where the index knows one), holes inside a segment (a recorded gap within
// its bounds: fragments recovery left out as damaged) and the merged spans of continuous footage.
import type { GapRow, SegmentRow } from '../store/catalog.js';
import { ptsDiff, ptsMax } from '../../protocol/pts.js';
import { GAP_TOLERANCE_NS, type GapJson, type SegmentJson, type SpanJson } from '../../protocol/schemas.js';

export type { GapJson, SegmentJson, SpanJson };

export function segmentJson(s: SegmentRow): SegmentJson {
  return {
    id: s.id, path: s.path, start_pts_ns: s.start_pts_ns, stop_pts_ns: s.stop_pts_ns, start_epoch_ms: s.start_epoch_ms,
    stop_epoch_ms: s.stop_epoch_ms, duration_ms: ptsDiff(s.stop_pts_ns, s.start_pts_ns) / 1e6, bytes: s.bytes, frames: s.frames,
    fragments: s.fragments, sealed: s.sealed === 1, codec: s.codec, width: s.width, height: s.height, fps: s.fps,
    has_audio: s.has_audio === 1,
  };
}

export { GAP_TOLERANCE_NS } from '../../protocol/schemas.js';

/** A span as built here: its PTS exact (bigints). */
type Span = Omit<SpanJson, 'start_pts_ns' | 'stop_pts_ns'> & { start_pts_ns: bigint; stop_pts_ns: bigint };

export function timeline(segments: SegmentRow[], gapRows: GapRow[]): { gaps: GapJson[]; spans: SpanJson[] } {
  const gaps: GapJson[] = [];
  const spans: Span[] = [];
  let cur: Span | null = null;
  let prev: SegmentRow | null = null;
  for (const s of segments) {
    if (prev && ptsDiff(s.start_pts_ns, prev.stop_pts_ns) > GAP_TOLERANCE_NS) {
      const known = gapRows.find((g) => g.start_pts_ns < s.start_pts_ns && g.stop_pts_ns > prev!.stop_pts_ns);
      gaps.push({
        start_pts_ns: prev.stop_pts_ns, stop_pts_ns: s.start_pts_ns, duration_ms: ptsDiff(s.start_pts_ns, prev.stop_pts_ns) / 1e6,
        reason: known ? known.reason : 'no footage',
      });
      cur = null;
    }
    // The segment's continuous pieces: one, or more when recorded gaps lie inside it.
    const holes = gapRows.filter((g) => g.start_pts_ns > s.start_pts_ns && g.stop_pts_ns < s.stop_pts_ns && g.stop_pts_ns > g.start_pts_ns);
    const epochOf = (pts: bigint) => s.anchor_epoch_ms + ptsDiff(pts, s.anchor_pts_ns) / 1e6;
    const pieces: Array<[bigint, bigint]> = [];
    let from = s.start_pts_ns;
    for (const h of holes) { pieces.push([from, h.start_pts_ns]); from = h.stop_pts_ns; }
    pieces.push([from, s.stop_pts_ns]);
    pieces.forEach(([a, b], i) => {
      if (i > 0) {
        const h = holes[i - 1];
        gaps.push({ start_pts_ns: h.start_pts_ns, stop_pts_ns: h.stop_pts_ns, duration_ms: ptsDiff(h.stop_pts_ns, h.start_pts_ns) / 1e6, reason: h.reason });
        cur = null;
      }
      if (!cur) {
        cur = { start_pts_ns: a, stop_pts_ns: b, start_epoch_ms: i === 0 ? s.start_epoch_ms : epochOf(a), stop_epoch_ms: 0, segments: 0 };
        spans.push(cur);
      }
      cur.stop_pts_ns = ptsMax(cur.stop_pts_ns, b);
      cur.stop_epoch_ms = Math.max(cur.stop_epoch_ms, i === pieces.length - 1 ? s.stop_epoch_ms : epochOf(b));
      cur.segments++;
    });
    prev = s;
  }
  return { gaps, spans };
}
