// footage.js — owns what the page knows of the camera shown's recorded footage: its segments and the
// producer's gaps (from GET /segments and the event stream), merged into continuous spans and the gaps
// between them as the producer's timeline does, and loading older footage as the view reaches it.
import { S, api, camPath, exactOf, ptsText, setMessage } from './api.js';
import { emit } from './util.js';

const GAP_TOLERANCE_NS = 1e6; // as the producer's timeline: smaller breaks are rounding, not holes

export function addSegment(s) {
  S.segs.set(s.id, { start: s.start_pts_ns, stop: s.stop_pts_ns, startText: exactOf(s, 'start_pts_ns'), stopText: exactOf(s, 'stop_pts_ns') });
  S.spansCache = null;
}
export function addGap(g) {
  if (!S.gaps.some((x) => x.start === g.start_pts_ns && x.stop === g.stop_pts_ns)) S.gaps.push({ start: g.start_pts_ns, stop: g.stop_pts_ns, reason: g.reason });
  S.spansCache = null;
}
export function removeSegment(id) {
  S.segs.delete(id);
  S.spansCache = null;
}

/** Continuous spans of footage and the gaps between them, merged as the producer's timeline does. */
export function timeline() {
  if (S.spansCache) return S.spansCache;
  const segs = [...S.segs.values()].sort((a, b) => a.start - b.start);
  const spans = [];
  const gaps = [];
  for (const s of segs) {
    const cur = spans[spans.length - 1];
    if (cur && s.start - cur.stop <= GAP_TOLERANCE_NS) {
      if (s.stop > cur.stop) Object.assign(cur, { stop: s.stop, stopText: s.stopText });
      continue;
    }
    if (cur) {
      const known = S.gaps.find((g) => g.start < s.start && g.stop > cur.stop);
      gaps.push({ start: cur.stop, stop: s.start, startText: cur.stopText, stopText: s.startText, reason: known ? known.reason : 'no footage' });
    }
    spans.push({ start: s.start, stop: s.stop, startText: s.startText, stopText: s.stopText });
  }
  return (S.spansCache = { spans, gaps });
}

/** Loads the footage of [from, to) (to omitted: up to now, and everything the events add later). */
export async function loadSegments(from, to) {
  const q = `from_pts_ns=${ptsText(Math.max(0, Math.floor(from)))}${to ? `&to_pts_ns=${ptsText(Math.ceil(to))}` : ''}`;
  const gen = S.gen;
  const r = await api(camPath(`segments?${q}`));
  if (gen !== S.gen) return;
  for (const s of r.segments) addSegment(s);
  for (const g of r.gaps) addGap(g);
  S.loadedFrom = Math.min(S.loadedFrom, Math.max(0, Math.floor(from)));
  setMessage('segments', null);
  emit('render');
}

/** Fetches older footage when the view (plus one view of margin) reaches left of what is loaded. */
export async function ensureLoaded() {
  if (S.loading || S.authFailed || !S.health) return;
  const want = Math.max(0, S.view.start - S.view.span);
  const oldest = S.health.segments.oldest_start_pts_ns ?? 0;
  if (want >= S.loadedFrom || S.loadedFrom <= oldest) return;
  S.loading = true;
  const gen = S.gen;
  try {
    await loadSegments(want, S.loadedFrom === Infinity ? undefined : S.loadedFrom + 1);
  } catch (e) {
    if (e.status !== 401 && gen === S.gen) setMessage('segments', `Cannot load the timeline: ${e.message}`);
  } finally {
    if (gen === S.gen) S.loading = false;
  }
}
