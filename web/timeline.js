// timeline.js — owns the camera's timeline (the SVG): drawing the recorded spans, gaps, footage being
// written, this camera's clips and motion events, the selection, the "now" marker and the playhead of
// recorded playback; and the mouse on it: drag on the track selects a window, a plain click plays the
// footage from that moment (emits "play-at"), dragging the axis pans, the wheel zooms.
/* global ResizeObserver */
import { S, nowPts, ptsText, toEpoch } from './api.js';
import { ensureLoaded, timeline } from './footage.js';
import { $, SEC, SVGNS, clock, dateFmt, emit, fmtDuration, fmtSpan, isMotion, on, pad } from './util.js';

const MIN_SPAN = 10 * SEC;
const MAX_SPAN = 24 * 3600 * SEC;
const ZOOMS = [10, 30, 60, 120, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * SEC);
// Vertical layout of the timeline (px): "now" label, clip marks, recording track, axis.
const CLIP_Y = 13, CLIP_H = 8, TRACK_Y = 25, TRACK_H = 56, AXIS_Y = 85, HEIGHT = 112;
const TICK_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);

const svg = $('tl');
let W = 800;
let renderQueued = false;
export function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}
on('render', scheduleRender);

export const followView = () => { S.view.start = nowPts() + S.view.span * 0.04 - S.view.span; };
const xOf = (pts) => ((pts - S.view.start) / S.view.span) * W;
const ptsAt = (x) => S.view.start + (x / W) * S.view.span;

/**
 * Brings a PTS into view when it is not (stops following live): centred, or, when `paging` (the playhead
 * running off the right edge), near the left edge so it has the view to run through.
 */
export function revealPts(pts, paging = false) {
  const x = xOf(Number(pts));
  if (x >= 0 && x <= W) return;
  S.follow = false;
  S.view.start = Number(pts) - S.view.span * (paging ? 0.05 : 0.5);
  scheduleRender();
}
/** Whether a PTS is in the part of the view shown. */
export const inView = (pts) => { const x = xOf(Number(pts)); return x >= 0 && x <= W; };

/** Keeps one element per key in `layer`, creating, updating and removing as `items` changes. */
const pools = new WeakMap();
function sync(layer, items, tag, apply) {
  const old = pools.get(layer) || new Map();
  const next = new Map();
  for (const it of items) {
    let node = old.get(it.key);
    if (node) old.delete(it.key);
    else { node = document.createElementNS(SVGNS, tag); layer.appendChild(node); }
    apply(node, it);
    next.set(it.key, node);
  }
  for (const node of old.values()) node.remove();
  pools.set(layer, next);
}
function attrs(node, a) { for (const [k, v] of Object.entries(a)) node.setAttribute(k, String(v)); }
function tip(node, text) {
  let t = node.firstElementChild;
  if (!t) { t = document.createElementNS(SVGNS, 'title'); node.appendChild(t); }
  if (t.textContent !== text) t.textContent = text;
}
/** A rect's x and width, clipped to a little outside the view so huge zoom-outs stay drawable. */
function clipX(start, stop) {
  const x0 = Math.max(-10, xOf(start));
  return { x: x0, width: Math.max(1, Math.min(W + 10, xOf(stop)) - x0) };
}

export function render() {
  if (S.follow && !S.drag) followView();
  const v0 = S.view.start, v1 = v0 + S.view.span;
  attrs(svg, { viewBox: `0 0 ${W} ${HEIGHT}`, height: HEIGHT, 'data-view-start-pts': ptsText(v0), 'data-view-stop-pts': ptsText(v1) });
  attrs($('track-bg'), { x: 0, y: TRACK_Y, width: W, height: TRACK_H });
  attrs($('axis-bg'), { x: 0, y: AXIS_Y, width: W, height: HEIGHT - AXIS_Y });
  const overlaps = (r) => r.stop > v0 && r.start < v1;
  const tl = timeline();
  const t = (pts) => clock(toEpoch(pts), S.view.span <= 120 * SEC);

  sync($('l-spans'), tl.spans.filter(overlaps).map((s) => ({ ...s, key: s.start })), 'rect', (n, s) => {
    attrs(n, { class: 'span', y: TRACK_Y, height: TRACK_H, ...clipX(s.start, s.stop), 'data-start-pts': s.startText, 'data-stop-pts': s.stopText });
    tip(n, `recorded ${t(s.start)} – ${t(s.stop)} (${fmtDuration((s.stop - s.start) / 1e6)}) · click to play, drag to select`);
  });
  sync($('l-gaps'), tl.gaps.filter(overlaps).map((g) => ({ ...g, key: g.start })), 'rect', (n, g) => {
    attrs(n, { class: 'gap', y: TRACK_Y, height: TRACK_H, ...clipX(g.start, g.stop), 'data-start-pts': g.startText, 'data-stop-pts': g.stopText });
    tip(n, `gap: ${g.reason} (${t(g.start)} – ${t(g.stop)}, ${fmtDuration((g.stop - g.start) / 1e6)})`);
  });

  // Footage still being written: from the end of what is indexed to now, while ingest runs.
  const rec = $('recording');
  const last = tl.spans.length ? tl.spans[tl.spans.length - 1].stop : null;
  const now = nowPts();
  if (S.health && S.health.ingest.state === 'running' && last !== null && now > last) {
    attrs(rec, { y: TRACK_Y, height: TRACK_H, ...clipX(last, now) });
  } else rec.setAttribute('width', 0);

  // This camera's clips above the track; motion events (the clips the motion pipeline makes) in their
  // own colour, and shaded along the bottom of the track.
  const camName = S.cam ? S.cam.name : null;
  const clips = [...S.clips.values()].filter((c) => c.camera === camName && c.status !== 'error' && overlaps({ start: c.start_pts_ns, stop: c.stop_pts_ns }));
  sync($('l-clips'), clips.map((c) => ({ c, key: c.clip_id })), 'rect', (n, { c }) => {
    attrs(n, {
      class: `clip-mark${isMotion(c) ? ' motion' : ''}${c.clip_id === S.current ? ' current' : ''}`, y: CLIP_Y, height: CLIP_H, rx: 2,
      ...clipX(c.start_pts_ns, c.stop_pts_ns), 'data-clip-id': c.clip_id,
    });
    tip(n, `${isMotion(c) ? 'motion event' : 'clip'} ${c.label || c.clip_id} (${c.status}) · ${t(c.start_pts_ns)} – ${t(c.stop_pts_ns)}`);
  });
  sync($('l-motion'), clips.filter(isMotion).map((c) => ({ c, key: c.clip_id })), 'rect', (n, { c }) => {
    attrs(n, { class: 'motion-band', y: TRACK_Y + TRACK_H - 10, height: 10, ...clipX(c.start_pts_ns, c.stop_pts_ns), 'data-clip-id': c.clip_id });
  });

  const sel = $('selection');
  if (S.sel) attrs(sel, { y: TRACK_Y - 2, height: TRACK_H + 4, ...clipX(S.sel.start, S.sel.stop) });
  else sel.setAttribute('width', 0);

  renderAxis(v0, v1);
  const nx = xOf(now);
  const nowG = $('now');
  nowG.setAttribute('visibility', S.health && nx >= 0 && nx <= W ? 'visible' : 'hidden');
  attrs(nowG.querySelector('line'), { x1: nx, x2: nx, y1: 0, y2: AXIS_Y + 6 });
  attrs(nowG.querySelector('text'), { x: nx, y: 9, 'text-anchor': nx > W - 20 ? 'end' : 'middle' });
  renderPlayhead();
  const empty = $('empty');
  attrs(empty, { x: W / 2, y: TRACK_Y + TRACK_H / 2 + 4, 'text-anchor': 'middle', visibility: tl.spans.some(overlaps) ? 'hidden' : 'visible' });
  empty.textContent = S.authFailed ? 'no access: an access token is required' : 'no recordings in view';

  $('zoom-label').textContent = fmtSpan(S.view.span);
  $('zoom-in').disabled = S.view.span <= MIN_SPAN;
  $('zoom-out').disabled = S.view.span >= MAX_SPAN;
  $('follow').checked = S.follow;
  if (S.tb) {
    const tz = -new Date(toEpoch(v1)).getTimezoneOffset();
    $('view-date').textContent = `${dateFmt.format(new Date(toEpoch(v1)))} · local time (UTC${tz >= 0 ? '+' : '−'}${pad(Math.floor(Math.abs(tz) / 60))}:${pad(Math.abs(tz) % 60)})`;
  }
  void ensureLoaded();
}

/** The playhead of recorded playback (S.playhead, exact): drawn where it is, its PTS in data-pts. */
export function renderPlayhead() {
  const g = $('playhead');
  const p = S.playhead;
  if (p === null) {
    g.setAttribute('visibility', 'hidden');
    g.removeAttribute('data-pts');
    return;
  }
  const x = xOf(Number(p));
  g.setAttribute('data-pts', ptsText(p));
  g.setAttribute('visibility', x >= 0 && x <= W ? 'visible' : 'hidden');
  attrs(g.querySelector('line'), { x1: x, x2: x, y1: CLIP_Y - 3, y2: AXIS_Y + 4 });
  attrs(g.querySelector('polygon'), { points: `${x - 5},${CLIP_Y - 9} ${x + 5},${CLIP_Y - 9} ${x},${CLIP_Y - 2}` });
}

/** Ticks at a "nice" local-time step with at least ~90 px between labels. */
function renderAxis(v0, v1) {
  if (!S.tb) return;
  const e0 = toEpoch(v0), e1 = toEpoch(v1);
  const step = TICK_STEPS_MS.find((s) => (s / (e1 - e0)) * W >= 90) ?? TICK_STEPS_MS[TICK_STEPS_MS.length - 1];
  const off = -new Date(e0).getTimezoneOffset() * 60_000;
  const ticks = [];
  for (let e = Math.ceil((e0 + off) / step) * step - off; e <= e1 && ticks.length < 200; e += step) {
    const d = new Date(e);
    const midnight = d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0;
    const label = midnight && step >= 60_000 ? dateFmt.format(d).replace(/,? \d{4}$/, '') : step < 60_000 ? clock(e) : clock(e).slice(0, 5);
    const x = ((e - e0) / (e1 - e0)) * W;
    if (x > 24 && x < W - 24) ticks.push({ key: e, x, label });
  }
  sync($('l-ticks'), ticks, 'g', (n, tk) => {
    if (!n.firstChild) n.append(document.createElementNS(SVGNS, 'line'), document.createElementNS(SVGNS, 'text'));
    n.setAttribute('class', 'tick');
    attrs(n.firstChild, { x1: tk.x, x2: tk.x, y1: TRACK_Y, y2: AXIS_Y + 5 });
    attrs(n.lastChild, { x: tk.x, y: AXIS_Y + 19, 'text-anchor': 'middle' });
    if (n.lastChild.textContent !== tk.label) n.lastChild.textContent = tk.label;
  });
}

// ---------------------------------------------------------------- interaction
function zoomTo(span, anchorX = W) {
  span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, span));
  const anchor = ptsAt(anchorX);
  S.view.start = anchor - (anchorX / W) * span;
  S.view.span = span;
  render();
}
function zoomStep(dir) {
  const next = dir > 0 ? [...ZOOMS].reverse().find((z) => z < S.view.span - 1) : ZOOMS.find((z) => z > S.view.span + 1);
  if (next) zoomTo(next, S.follow ? W : W / 2);
}
const localX = (ev) => ev.clientX - svg.getBoundingClientRect().left;
/** The PTS under page x, as an exact integer. */
const bigAt = (x) => BigInt(ptsText(Math.max(0, ptsAt(Math.min(W, Math.max(0, x))))));

svg.addEventListener('pointerdown', (ev) => {
  if (ev.button !== 0) return;
  const x = localX(ev), y = ev.clientY - svg.getBoundingClientRect().top;
  const mark = ev.target.closest && ev.target.closest('.clip-mark');
  if (mark) { emit('select-clip', mark.getAttribute('data-clip-id')); return; }
  svg.setPointerCapture(ev.pointerId);
  if (y >= AXIS_Y) {
    S.drag = { kind: 'pan', x0: x, start0: S.view.start };
    svg.classList.add('panning');
  } else {
    const p = Math.round(ptsAt(x));
    S.drag = { kind: 'select', x0: x, anchor: p, before: S.sel };
    S.sel = { start: p, stop: p };
  }
  ev.preventDefault();
  scheduleRender();
});
svg.addEventListener('pointermove', (ev) => {
  if (!S.drag) return;
  const x = localX(ev);
  if (S.drag.kind === 'pan') {
    S.view.start = S.drag.start0 - ((x - S.drag.x0) / W) * S.view.span;
    if (Math.abs(x - S.drag.x0) > 2) S.follow = false;
  } else {
    const p = Math.round(ptsAt(Math.min(W, Math.max(0, x))));
    S.sel = { start: Math.max(0, Math.min(p, S.drag.anchor)), stop: Math.max(p, S.drag.anchor) };
    emit('selection');
  }
  scheduleRender();
});
function endDrag(ev) {
  if (!S.drag) return;
  const d = S.drag;
  S.drag = null;
  svg.classList.remove('panning');
  // A plain click (no drag) plays the recording from that moment. On the track it also clears the
  // selection, unless it fell inside it (to play the window selected, keeping it).
  const click = ev.type === 'pointerup' && Math.abs(localX(ev) - d.x0) < 3;
  if (d.kind === 'select' && Math.abs(localX(ev) - d.x0) < 3) {
    S.sel = d.before && d.before.start <= d.anchor && d.anchor <= d.before.stop ? d.before : null;
  }
  emit('selection');
  scheduleRender();
  if (click) emit('play-at', bigAt(d.x0));
}
svg.addEventListener('pointerup', endDrag);
svg.addEventListener('pointercancel', endDrag);
svg.addEventListener('wheel', (ev) => {
  ev.preventDefault();
  const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? W : 1;
  let dx = ev.deltaX * unit;
  let dy = ev.deltaY * unit;
  if (ev.shiftKey && dx === 0) { dx = dy; dy = 0; }
  if (Math.abs(dx) > Math.abs(dy)) {
    S.view.start += (dx / W) * S.view.span;
    S.follow = false;
    scheduleRender();
    return;
  }
  const factor = Math.exp(Math.max(-1, Math.min(1, dy * 0.002)));
  zoomTo(S.view.span * factor, S.follow ? W * 0.96 : localX(ev));
}, { passive: false });

$('zoom-in').addEventListener('click', () => zoomStep(1));
$('zoom-out').addEventListener('click', () => zoomStep(-1));
$('follow').addEventListener('change', (ev) => { S.follow = ev.target.checked; scheduleRender(); });
document.addEventListener('keydown', (ev) => {
  if (ev.target instanceof HTMLElement && ev.target.closest('input, textarea, select')) return;
  if (ev.key === '+' || ev.key === '=') zoomStep(1);
  else if (ev.key === '-') zoomStep(-1);
  else if (ev.key === 'Escape') { S.sel = null; emit('selection'); scheduleRender(); }
});
new ResizeObserver(() => {
  W = Math.max(200, Math.round($('timeline').clientWidth));
  svg.setAttribute('width', W);
  render();
}).observe($('timeline'));
