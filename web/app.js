// segment-recorder — the producer's web page: a grid of the producer's cameras (name, state, a
// thumbnail refreshed every few seconds, the age of the newest frame); the chosen camera's view — a
// live timeline of its recorded spans and gaps with its clips and motion events marked, making a clip
// by selecting a window on it; and one list of the clips of every camera (filterable by camera) with
// a player. Plain ES module, no framework, no build step; it talks only to the producer's HTTP API:
//   GET /cameras; per camera, under /cameras/{name}/: health, segments, clip (POST), clip/{id}?wait_ms,
//   clips, clip/{id}/file, snapshot.jpg, events (server-sent events: segment, segment-removed, gap,
//   clip, health). When /cameras cannot be read (no token, or an older producer) the page shows the
//   default camera through the bare routes (/health, /segments, …).
// Time is kept in producer PTS nanoseconds throughout; wall-clock labels come from the camera's
// /health timebase (epoch_ms = base_epoch_ms + (pts − base_pts_ns) / pts_per_ms).
// PTS past 2^53 ns (a data directory's clock gets there after 104 days) are JSON integers a Number does
// not hold exactly (at 100 years its spacing is 512 ns). The page draws with Numbers (sub-µs does not
// show), but keeps the exact digits of the footage's bounds as the producer sent them (JSON.parse's
// source text, `exactOf`), and writes every PTS it shows in an attribute or sends (a selected window, a
// query) as the exact digits of an integer (`ptsText`), never as a Number's shortest decimal form.
// Auth: a token in the URL fragment (#token=…, or ?access_token=…) goes out as a bearer header, or as
// ?access_token= where no header can be set (<video src>, EventSource). #camera=NAME picks the camera.
// Interaction: drag on the recording band to select; drag the axis to pan; the wheel zooms.
/* global location, history, ResizeObserver, URLSearchParams */

const SVGNS = 'http://www.w3.org/2000/svg';
const SEC = 1e9;
const MIN_SPAN = 10 * SEC;
const MAX_SPAN = 24 * 3600 * SEC;
const ZOOMS = [10, 30, 60, 120, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * SEC);
const GAP_TOLERANCE_NS = 1e6; // as the producer's timeline: smaller breaks are rounding, not holes
const MAX_CLIP_NS = 3600 * SEC;
// Vertical layout of the timeline (px): "now" label, clip marks, recording track, axis.
const CLIP_Y = 13, CLIP_H = 8, TRACK_Y = 25, TRACK_H = 56, AXIS_Y = 85, HEIGHT = 112;
const TICK_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);

const THUMB_MS = 4000; // thumbnails are asked for this often (the producer makes a new one at most every ~5 s)
const CAMERAS_MS = 3000;
const ALL_CLIPS_MS = 10_000;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.hash.replace(/^#/, ''));
const S = {
  token: params.get('token') || new URLSearchParams(location.search).get('access_token') || null,
  base: new URL(location.pathname.replace(/web\/[^/]*$/, ''), location.origin),
  // Cameras: the list from GET /cameras, the grid's elements by name, and the camera shown ({name, prefix}:
  // prefix is the path its routes live under; name null with prefix '' is the default camera's bare routes).
  cams: [], camsLoaded: false, noCameras: false, defaultCam: null, grid: new Map(), cam: null,
  gen: 0, // bumped on every camera change: answers for an earlier camera are dropped
  // The camera shown: its /health, footage and view.
  tb: null, health: null, healthAt: 0,
  segs: new Map(), // id → {start, stop}
  gaps: [], // known gaps with reasons: {start, stop, reason}
  spansCache: null,
  loadedFrom: Infinity, loading: false, started: false,
  view: { start: 0, span: 5 * 60 * SEC }, follow: true,
  sel: null, drag: null,
  // Clips of every camera (clip ids are unique across cameras), each with its `camera`.
  clips: new Map(), current: null, clipFilter: '',
  tbs: new Map(), // camera name ('' for the bare routes) → its /health timebase
  events: null, eventsOk: false, authFailed: false,
  messages: new Map(),
};
const hashToken = params.get('token') || null;

// ---------------------------------------------------------------- HTTP
class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }

/** The exact digits of the integers past 2^53 of parsed answers: holder object → {key: digits}. */
const exactDigits = new WeakMap();
/** JSON.parse that also records, for every integer a Number cannot hold exactly, its digits (see exactOf). */
function parseJson(text) {
  return JSON.parse(text, function (key, value, ctx) {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && ctx && /^-?\d+$/.test(ctx.source)) {
      let m = exactDigits.get(this);
      if (!m) exactDigits.set(this, (m = {}));
      m[key] = ctx.source;
    }
    return value;
  });
}
/** The exact digits of an integer (a Number or a BigInt): `String(2 ** 60)` would write 1152921504606847000. */
function ptsText(n) {
  if (typeof n === 'bigint') return n.toString();
  return Number.isFinite(n) ? BigInt(Math.round(n)).toString() : '';
}
/** The digits of `obj[key]` as the producer sent them (exact past 2^53). */
const exactOf = (obj, key) => exactDigits.get(obj)?.[key] ?? ptsText(obj[key]);

/** The API URL for a path, with ?access_token= when `tokenInQuery` (for <video> and EventSource). */
function apiUrl(path, tokenInQuery = false) {
  const u = new URL(path, S.base);
  if (tokenInQuery && S.token) u.searchParams.set('access_token', S.token);
  return u.href;
}

const authHeaders = () => (S.token ? { authorization: `Bearer ${S.token}` } : {});
/** Where a camera's routes live (`cameras/NAME/`); null: the default camera's bare routes. */
const prefixOf = (name) => (name === null || name === undefined ? '' : `cameras/${encodeURIComponent(name)}/`);
/** A path of the camera shown. */
const camPath = (path) => `${S.cam ? S.cam.prefix : ''}${path}`;

async function api(path, init = {}) {
  // /health (bare or per camera) is public: it still works without a token.
  if (S.authFailed && !/(^|\/)health$/.test(path)) throw new ApiError(401, 'unauthorized');
  const headers = { ...(init.headers || {}), ...authHeaders() };
  let res;
  try {
    res = await fetch(apiUrl(path), { ...init, headers });
  } catch (e) {
    throw new ApiError(0, `the producer is unreachable (${e.message})`);
  }
  const body = await res.text().then(parseJson).catch(() => null);
  if (res.status === 401) { unauthorized(); throw new ApiError(401, 'unauthorized'); }
  if (!res.ok || !body) throw new ApiError(res.status, (body && body.message) || `HTTP ${res.status} from ${path}`);
  return body;
}

function unauthorized() {
  if (S.authFailed) return;
  S.authFailed = true;
  if (S.events) { S.events.close(); S.events = null; }
  setEventsState('off (unauthorized)', 'bad');
  setMessage('auth', S.token
    ? 'Unauthorized: the producer refused the access token given in the page address (#token=…).'
    : 'Unauthorized: this producer requires an access token. Open the page as …/#token=YOUR_TOKEN.');
  updateSelection();
  renderGrid();
}

// ---------------------------------------------------------------- messages and formatting
function setMessage(key, text) {
  if (text) S.messages.set(key, text); else S.messages.delete(key);
  $('messages').replaceChildren(...[...S.messages.values()].map((t) => el('p', { class: 'message' }, t)));
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : String(v));
  e.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return e;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');
function clock(epochMs, ms = false) {
  const d = new Date(epochMs);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return ms ? `${hms}.${pad(d.getMilliseconds(), 3)}` : hms;
}
const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(3)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor(s / 60) % 60)} min`;
}
function fmtSpan(ns) {
  const s = ns / SEC;
  return s < 60 ? `${Math.round(s)} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${+(s / 3600).toFixed(1)} h`;
}
function fmtBytes(b) {
  if (b === null || b === undefined) return '—';
  const i = Math.max(0, Math.min(4, Math.floor(Math.log10(Math.max(1, b)) / 3)));
  return `${i === 0 ? b : (b / 1000 ** i).toFixed(1)} ${['B', 'kB', 'MB', 'GB', 'TB'][i]}`;
}
/** "850 ms ago", "12.3 s ago", "3 min 04 s ago". */
function fmtAge(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms ago` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s ago` : `${fmtDuration(ms)} ago`;
}
/** The pill class of an ingest state. */
function stateClass(state) {
  return state === 'running' ? 'ok' : state === 'failed' || state === 'stalled' || state === 'degraded' ? 'bad' : state === 'disabled' ? '' : 'warn';
}

// ---------------------------------------------------------------- clock (PTS ↔ wall clock)
const toEpoch = (pts) => (S.tb ? S.tb.base_epoch_ms + (pts - S.tb.base_pts_ns) / S.tb.pts_per_ms : NaN);
/** The producer's current PTS, extrapolated from the last /health by the page's monotonic clock. */
const nowPts = () => (S.health ? S.health.pts_ns + (performance.now() - S.healthAt) * 1e6 : 0);

// ---------------------------------------------------------------- cameras (the grid)
/** Reads GET /cameras into the grid; false when it cannot (no token, an older producer, unreachable). */
async function loadCameras() {
  try {
    const r = await api('cameras');
    S.cams = r.cameras;
    S.defaultCam = r.default_camera ?? null;
    S.camsLoaded = true;
    setMessage('cameras', null);
  } catch (e) {
    // 401: unauthorized() says so; 404: a producer without /cameras (the bare routes still work: stop asking).
    if (e.status === 404) S.noCameras = true;
    else if (e.status !== 401) setMessage('cameras', `Cannot list the cameras: ${e.message}`);
    renderGrid();
    return false;
  }
  renderGrid();
  // The camera shown was removed (or stopped recording): show the default one instead.
  if (S.cam && (S.cam.name === null || !S.cams.some((c) => c.name === S.cam.name && c.record))) {
    const next = initialCamera();
    if (next !== null && next !== S.cam.name) selectCamera(next);
  }
  return true;
}

/** The camera to show first: #camera=NAME, else the default camera, else the first one that records. */
function initialCamera() {
  const rec = S.cams.filter((c) => c.record);
  const wanted = new URLSearchParams(location.hash.replace(/^#/, '')).get('camera');
  return (rec.find((c) => c.name === wanted) ?? rec.find((c) => c.name === S.defaultCam) ?? rec[0])?.name ?? null;
}

/** Builds or updates one card per camera, in the producer's order, keeping each card's elements (and picture). */
function renderGrid() {
  const list = $('cameras');
  const seen = new Set();
  for (const c of S.cams) {
    seen.add(c.name);
    let g = S.grid.get(c.name);
    if (!g) {
      const img = el('img', { class: 'thumb', alt: `${c.name}: latest picture`, draggable: 'false' });
      const none = el('span', { class: 'thumb-none' }, 'no picture yet');
      const state = el('span', { class: 'pill cam-state' });
      const frame = el('span', { class: 'cam-frame' });
      const age = el('span', { class: 'cam-age' });
      const btn = el('button', { type: 'button', class: 'camera', 'data-camera': c.name },
        el('span', { class: 'thumb-box' }, img, none), el('span', { class: 'cam-name' }, c.name), state, frame, age);
      btn.addEventListener('click', () => selectCamera(c.name, true));
      g = { li: el('li', {}, btn), btn, img, none, state, frame, age, etag: null, url: null, busy: false, summary: c, at: 0 };
      S.grid.set(c.name, g);
    }
    g.summary = c;
    g.at = performance.now();
    list.appendChild(g.li); // (re)appending in order keeps the producer's order
    g.state.textContent = c.state;
    g.state.className = `pill cam-state ${stateClass(c.state)}`;
    g.btn.disabled = !c.record;
    g.btn.setAttribute('aria-pressed', String(!!S.cam && S.cam.name === c.name));
    g.btn.title = [`${c.name}${c.default ? ' (default camera)' : ''}`, c.source, c.error ? `error: ${c.error}` : ''].filter(Boolean).join('\n');
    g.none.textContent = !c.record ? 'not recorded' : c.last_fragment_age_ms === null ? 'no footage yet' : 'loading…';
    if (c.record && c.last_fragment_age_ms !== null && g.etag === null) void refreshThumb(g);
  }
  for (const [name, g] of S.grid) {
    if (seen.has(name)) continue;
    g.li.remove();
    if (g.url) URL.revokeObjectURL(g.url);
    S.grid.delete(name);
  }
  const recording = S.cams.filter((c) => c.record && c.state === 'running').length;
  $('cameras-count').textContent = S.cams.length ? `${S.cams.length} camera${S.cams.length > 1 ? 's' : ''} · ${recording} recording` : '';
  $('cams-summary').textContent = S.cams.length > 1 ? `${S.cams.length} cameras` : '';
  const empty = $('cameras-empty');
  empty.hidden = S.cams.length > 0;
  empty.textContent = S.authFailed ? 'The list of cameras needs an access token.' : S.camsLoaded ? 'No cameras are configured.' : 'Showing the default camera.';
  renderFilter();
  tickGrid();
}

/** Last-frame ages on the cards, extrapolated from the last /cameras by the page's clock. */
function tickGrid() {
  const now = performance.now();
  for (const g of S.grid.values()) {
    const a = g.summary.last_fragment_age_ms;
    if (!g.summary.record || a === null) { g.age.textContent = g.summary.record ? 'no frame yet' : ''; g.age.className = 'cam-age'; continue; }
    const ms = a + (now - g.at);
    g.age.textContent = fmtAge(ms);
    g.age.className = `cam-age${ms > 15_000 ? ' bad-text' : ''}`;
  }
}

/**
 * Fetches a camera's snapshot.jpg (with the token as a header; the browser revalidates it by its ETag)
 * and shows it when it changed. Asked only of cameras that have footage, so no 503 is expected.
 */
async function refreshThumb(g) {
  const c = g.summary;
  if (g.busy || S.authFailed || !c.record || c.last_fragment_age_ms === null) return;
  g.busy = true;
  try {
    const res = await fetch(apiUrl(`${prefixOf(c.name)}snapshot.jpg`), { headers: authHeaders(), cache: 'no-cache' });
    if (res.status === 401) { unauthorized(); return; }
    const etag = res.headers.get('etag');
    if (!res.ok || (etag && etag === g.etag)) { await res.body?.cancel().catch(() => {}); return; }
    const blob = await res.blob();
    if (!S.grid.has(c.name)) return;
    const old = g.url;
    g.url = URL.createObjectURL(blob);
    g.etag = etag ?? String(Date.now());
    g.img.src = g.url;
    if (old) URL.revokeObjectURL(old);
    const pts = res.headers.get('x-segrec-frame-pts-ns');
    const epoch = Number(res.headers.get('x-segrec-frame-epoch-ms'));
    if (pts) g.img.setAttribute('data-frame-pts', pts);
    g.frame.textContent = epoch > 0 ? `frame ${clock(epoch)}` : '';
  } catch {
    // Unreachable for a moment: the next round tries again.
  } finally {
    g.busy = false;
  }
}

function refreshThumbs() {
  for (const g of S.grid.values()) void refreshThumb(g);
}

/**
 * Shows a camera: its health, timeline, selection and live updates (the clips list stays: it holds every
 * camera's clips). `name` null: the default camera through the bare routes.
 */
function selectCamera(name, fromUser = false) {
  if (S.cam && S.cam.name === name) return;
  S.gen++;
  if (S.events) { S.events.close(); S.events = null; }
  S.cam = { name, prefix: prefixOf(name) };
  Object.assign(S, {
    tb: null, health: null, healthAt: 0, segs: new Map(), gaps: [], spansCache: null, loadedFrom: Infinity, loading: false,
    started: false, follow: true, sel: null, drag: null, eventsOk: false,
  });
  $('camera-title').textContent = name ?? 'default';
  $('sel-camera').textContent = name && S.cams.length > 1 ? `· ${name}` : '';
  for (const id of ['h-source', 'h-segments', 'h-age', 'h-clips']) $(id).textContent = '…';
  Object.assign($('h-state'), { textContent: '…', className: 'pill', title: '' });
  if (!S.authFailed) Object.assign($('h-events'), { textContent: 'connecting…', className: '' });
  clipStatus('');
  for (const key of ['health', 'segments', 'events']) setMessage(key, null);
  for (const [n, g] of S.grid) g.btn.setAttribute('aria-pressed', String(n === name));
  if (fromUser) {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    if (name) p.set('camera', name); else p.delete('camera');
    history.replaceState(null, '', `${location.pathname}${location.search}#${p}`);
  }
  updateSelection();
  scheduleRender();
  const gen = S.gen;
  void (async () => {
    await loadHealth();
    if (gen === S.gen) await startData();
  })();
}

// ---------------------------------------------------------------- health (the camera shown)
function applyHealth(h) {
  S.health = h;
  S.healthAt = performance.now();
  S.tb = h.timebase;
  S.tbs.set(S.cam && S.cam.name !== null ? S.cam.name : '', h.timebase);
  const ing = h.ingest;
  const st = $('h-state');
  st.textContent = ing.state;
  st.className = `pill ${stateClass(ing.state)}`;
  st.title = ing.last_error ? `last error: ${ing.last_error}` : `${ing.restarts} restart(s)`;
  const res = ing.width ? ` · ${ing.width}×${ing.height}` : '';
  const fps = ing.fps ? ` · ${+ing.fps.toFixed(2)} fps` : '';
  $('h-source').textContent = `${ing.source}${res}${fps}${ing.codec ? ` · ${ing.codec}` : ''}`;
  $('h-segments').textContent = `${h.segments.count} · ${fmtBytes(h.segments.bytes)}${h.segments.gaps ? ` · ${h.segments.gaps} gap(s)` : ''}`;
  $('h-clips').textContent = `${h.clips.queued} queued · ${h.clips.running} running`;
  tickAge();
  setMessage('health', null);
  scheduleRender();
}

function tickAge() {
  const h = S.health;
  const age = $('h-age');
  if (!h || h.ingest.last_frame_age_ms === null) { age.textContent = '—'; return; }
  const ms = h.ingest.last_frame_age_ms + (performance.now() - S.healthAt);
  age.textContent = fmtAge(ms);
  age.className = ms > 15_000 ? 'bad-text' : '';
}

async function loadHealth() {
  const gen = S.gen;
  try {
    const h = await api(camPath('health'));
    if (gen === S.gen) applyHealth(h);
  } catch (e) {
    if (gen !== S.gen) return;
    setMessage('health', `Cannot read /${camPath('health')}: ${e.message}`);
    Object.assign($('h-state'), { textContent: 'unreachable', className: 'pill bad' });
  }
}

// ---------------------------------------------------------------- footage (segments, spans, gaps)
function addSegment(s) {
  S.segs.set(s.id, { start: s.start_pts_ns, stop: s.stop_pts_ns, startText: exactOf(s, 'start_pts_ns'), stopText: exactOf(s, 'stop_pts_ns') });
  S.spansCache = null;
}
function addGap(g) {
  if (!S.gaps.some((x) => x.start === g.start_pts_ns && x.stop === g.stop_pts_ns)) S.gaps.push({ start: g.start_pts_ns, stop: g.stop_pts_ns, reason: g.reason });
  S.spansCache = null;
}

/** Continuous spans of footage and the gaps between them, merged as the producer's timeline does. */
function timeline() {
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
async function loadSegments(from, to) {
  const q = `from_pts_ns=${ptsText(Math.max(0, Math.floor(from)))}${to ? `&to_pts_ns=${ptsText(Math.ceil(to))}` : ''}`;
  const gen = S.gen;
  const r = await api(camPath(`segments?${q}`));
  if (gen !== S.gen) return;
  for (const s of r.segments) addSegment(s);
  for (const g of r.gaps) addGap(g);
  S.loadedFrom = Math.min(S.loadedFrom, Math.max(0, Math.floor(from)));
  setMessage('segments', null);
  scheduleRender();
}

/** Fetches older footage when the view (plus one view of margin) reaches left of what is loaded. */
async function ensureLoaded() {
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

// ---------------------------------------------------------------- the timeline (SVG)
const svg = $('tl');
let W = 800;
let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

const followView = () => { S.view.start = nowPts() + S.view.span * 0.04 - S.view.span; };
const xOf = (pts) => ((pts - S.view.start) / S.view.span) * W;
const ptsAt = (x) => S.view.start + (x / W) * S.view.span;

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

function render() {
  if (S.follow && !S.drag) followView();
  const v0 = S.view.start, v1 = v0 + S.view.span;
  attrs(svg, { viewBox: `0 0 ${W} ${HEIGHT}`, height: HEIGHT, 'data-view-start-pts': ptsText(v0), 'data-view-stop-pts': ptsText(v1) });
  attrs($('track-bg'), { x: 0, y: TRACK_Y, width: W, height: TRACK_H });
  attrs($('axis-bg'), { x: 0, y: AXIS_Y, width: W, height: HEIGHT - AXIS_Y });
  const inView = (r) => r.stop > v0 && r.start < v1;
  const tl = timeline();
  const t = (pts) => clock(toEpoch(pts), S.view.span <= 120 * SEC);

  sync($('l-spans'), tl.spans.filter(inView).map((s) => ({ ...s, key: s.start })), 'rect', (n, s) => {
    attrs(n, { class: 'span', y: TRACK_Y, height: TRACK_H, ...clipX(s.start, s.stop), 'data-start-pts': s.startText, 'data-stop-pts': s.stopText });
    tip(n, `recorded ${t(s.start)} – ${t(s.stop)} (${fmtDuration((s.stop - s.start) / 1e6)})`);
  });
  sync($('l-gaps'), tl.gaps.filter(inView).map((g) => ({ ...g, key: g.start })), 'rect', (n, g) => {
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
  const clips = [...S.clips.values()].filter((c) => c.camera === camName && c.status !== 'error' && inView({ start: c.start_pts_ns, stop: c.stop_pts_ns }));
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
  const empty = $('empty');
  attrs(empty, { x: W / 2, y: TRACK_Y + TRACK_H / 2 + 4, 'text-anchor': 'middle', visibility: tl.spans.some(inView) ? 'hidden' : 'visible' });
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

// ---------------------------------------------------------------- timeline interaction
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

svg.addEventListener('pointerdown', (ev) => {
  if (ev.button !== 0) return;
  const x = localX(ev), y = ev.clientY - svg.getBoundingClientRect().top;
  const mark = ev.target.closest && ev.target.closest('.clip-mark');
  if (mark) { selectClip(mark.getAttribute('data-clip-id')); return; }
  svg.setPointerCapture(ev.pointerId);
  if (y >= AXIS_Y) {
    S.drag = { kind: 'pan', x0: x, start0: S.view.start };
    svg.classList.add('panning');
  } else {
    const p = Math.round(ptsAt(x));
    S.drag = { kind: 'select', x0: x, anchor: p };
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
    updateSelection();
  }
  scheduleRender();
});
function endDrag(ev) {
  if (!S.drag) return;
  const d = S.drag;
  S.drag = null;
  svg.classList.remove('panning');
  if (d.kind === 'select' && Math.abs(localX(ev) - d.x0) < 3) S.sel = null; // a click clears the selection
  updateSelection();
  scheduleRender();
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
  if (ev.target instanceof HTMLElement && ev.target.closest('input, textarea')) return;
  if (ev.key === '+' || ev.key === '=') zoomStep(1);
  else if (ev.key === '-') zoomStep(-1);
  else if (ev.key === 'Escape') { S.sel = null; updateSelection(); scheduleRender(); }
});
new ResizeObserver(() => {
  W = Math.max(200, Math.round($('timeline').clientWidth));
  svg.setAttribute('width', W);
  render();
}).observe($('timeline'));

// ---------------------------------------------------------------- selection and making a clip
function updateSelection() {
  const s = S.sel;
  const has = !!s && s.stop > s.start;
  for (const [id, pts] of [['sel-start', has ? s.start : null], ['sel-stop', has ? s.stop : null]]) {
    const dd = $(id);
    dd.textContent = pts === null ? '—' : clock(toEpoch(pts), true);
    if (pts === null) dd.removeAttribute('data-pts'); else dd.setAttribute('data-pts', ptsText(pts));
  }
  const dur = $('sel-dur');
  if (has) {
    const fps = S.health && S.health.ingest.fps;
    dur.textContent = fmtDuration((s.stop - s.start) / 1e6);
    dur.title = fps ? `about ${Math.round(((s.stop - s.start) / SEC) * fps)} frames` : '';
    dur.className = s.stop - s.start > MAX_CLIP_NS ? 'bad-text' : '';
  } else dur.textContent = '—';
  $('make-clip').disabled = !has || S.authFailed || s.stop - s.start > MAX_CLIP_NS;
  $('clear-sel').disabled = !s;
}

function clipStatus(text, kind = '') {
  Object.assign($('clip-status'), { textContent: text, className: `clip-status ${kind}` });
}

$('clear-sel').addEventListener('click', () => { S.sel = null; updateSelection(); scheduleRender(); });
$('clip-form').addEventListener('submit', (ev) => { ev.preventDefault(); void makeClip(); });

async function makeClip() {
  const s = S.sel;
  if (!s || s.stop <= s.start) return;
  const cam = S.cam; // the clip is the camera's whose timeline it was selected on, even if another is shown meanwhile
  const camApi = (path, init) => api(`${cam.prefix}${path}`, init);
  const upsert = (c) => upsertClip({ ...c, camera: cam.name });
  const label = $('clip-label').value.trim();
  // The window as shown (#sel-start/#sel-stop data-pts): integers written with all their digits.
  const body = `{"start_pts_ns":${ptsText(s.start)},"stop_pts_ns":${ptsText(s.stop)}${label ? `,"label":${JSON.stringify(label)}` : ''}}`;
  $('make-clip').disabled = true;
  clipStatus('Requesting clip…', 'busy');
  try {
    const r = await camApi('clip', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const id = r.clip_id;
    if (r.clip) upsert(r.clip);
    for (;;) {
      const st = S.clips.get(id)?.status ?? r.status;
      clipStatus(st === 'queued' ? `${id}: queued (waits for the footage to be recorded)…` : `${id}: cutting…`, 'busy');
      const { clip } = await camApi(`clip/${id}?wait_ms=20000`);
      upsert(clip);
      if (clip.status === 'done') {
        const flags = [clip.partial ? `partial: ${clip.partial_reason || 'footage missing'}` : '', clip.gaps.length ? `${clip.gaps.length} gap(s)` : ''].filter(Boolean).join(', ');
        clipStatus(`Done: ${clip.label || id} — ${clip.frames} frames, ${fmtDuration(clip.duration_ms)}, ${fmtBytes(clip.bytes)}${flags ? ` (${flags})` : ''}.`, clip.partial ? 'warn' : 'ok');
        selectClip(id);
        break;
      }
      if (clip.status === 'error') { clipStatus(`Clip failed: ${clip.error}`, 'bad'); break; }
    }
  } catch (e) {
    clipStatus(e.status === 401 ? 'Not allowed: the producer needs an access token.' : `Clip request refused: ${e.message}`, 'bad');
  } finally {
    updateSelection();
  }
}

// ---------------------------------------------------------------- clips of every camera, and the player
const isMotion = (c) => /motion/i.test(c.label || '');
/** The clip's camera's clock (its /health timebase), for wall-clock labels of any camera's clip. */
function clipEpoch(c, pts) {
  const tb = S.tbs.get(c.camera ?? '');
  return tb ? tb.base_epoch_ms + (pts - tb.base_pts_ns) / tb.pts_per_ms : NaN;
}

/** Adds or updates a clip (with its `camera`), keeping the newer of two answers about the same job. */
function upsertClip(c) {
  const old = S.clips.get(c.clip_id);
  if (old && (old.updated_ms ?? 0) > (c.updated_ms ?? 0)) return;
  S.clips.set(c.clip_id, c);
  renderClips();
  scheduleRender();
}

/**
 * Loads the newest clips of every recording camera (GET /cameras/{name}/clips each, merged by creation
 * time), and each camera's timebase (its public /health) for the list's wall-clock times.
 */
async function loadAllClips() {
  if (S.authFailed) return;
  const names = S.camsLoaded ? S.cams.filter((c) => c.record).map((c) => c.name) : [S.cam ? S.cam.name : null];
  const failed = [];
  await Promise.all(names.map(async (name) => {
    const prefix = prefixOf(name);
    try {
      const [r, h] = await Promise.all([
        api(`${prefix}clips?limit=100`),
        S.tbs.has(name ?? '') ? null : api(`${prefix}health`).catch(() => null),
      ]);
      if (h) S.tbs.set(name ?? '', h.timebase);
      for (const c of r.clips) upsertClip({ ...c, camera: name });
    } catch (e) {
      if (e.status !== 401 && e.status !== 404) failed.push(`${name ?? 'default'} (${e.message})`);
    }
  }));
  if (S.camsLoaded) {
    // Cameras that are gone from the configuration take their clips with them.
    for (const [id, c] of S.clips) if (!names.includes(c.camera)) S.clips.delete(id);
  }
  setMessage('clips', failed.length ? `Cannot load the clips of ${failed.join(', ')}` : null);
  renderClips();
  scheduleRender();
}

/** The filter's choices: every camera (kept in step with the grid); hidden with only one camera. */
function renderFilter() {
  const sel = $('clip-filter');
  const names = S.cams.map((c) => c.name);
  const want = ['', ...names];
  const have = [...sel.options].map((o) => o.value);
  if (want.join('\n') !== have.join('\n')) {
    sel.replaceChildren(el('option', { value: '' }, 'all cameras'), ...names.map((n) => el('option', { value: n }, n)));
    if (!names.includes(S.clipFilter)) S.clipFilter = '';
    sel.value = S.clipFilter;
  }
  sel.parentElement.hidden = names.length < 2;
}

$('clip-filter').addEventListener('change', (ev) => { S.clipFilter = ev.target.value; renderClips(); });

function renderClips() {
  const all = [...S.clips.values()];
  const list = all.filter((c) => !S.clipFilter || c.camera === S.clipFilter)
    .sort((a, b) => b.created_ms - a.created_ms || (a.clip_id < b.clip_id ? 1 : -1));
  const many = S.cams.length > 1;
  const empty = $('clips-empty');
  empty.hidden = list.length > 0;
  empty.textContent = S.clipFilter && all.length ? `No clips of ${S.clipFilter}.` : 'No clips yet — select a window on the timeline and press “Make clip”.';
  $('clips-count').textContent = !all.length ? '' : list.length === all.length ? `${all.length}` : `${list.length} of ${all.length}`;
  $('clips').replaceChildren(...list.map((c) => {
    const e = clipEpoch(c, c.actual_start_pts_ns ?? c.start_pts_ns);
    const when = Number.isNaN(e) ? '' : `${new Date(e).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${clock(e, true)}`;
    const badges = [
      isMotion(c) ? el('span', { class: 'pill warn' }, 'motion') : null,
      el('span', { class: `pill ${c.status === 'done' ? 'ok' : c.status === 'error' ? 'bad' : 'warn'}` }, c.status),
      c.partial ? el('span', { class: 'pill warn', title: c.partial_reason || '' }, 'partial') : null,
      c.gaps && c.gaps.length ? el('span', { class: 'pill warn' }, `${c.gaps.length} gap${c.gaps.length > 1 ? 's' : ''}`) : null,
    ];
    const meta = c.status === 'error' ? c.error || 'failed'
      : c.status === 'done' ? `${fmtDuration(c.duration_ms)} · ${c.frames} frames · ${fmtBytes(c.bytes)}`
        : `${fmtDuration((c.stop_pts_ns - c.start_pts_ns) / 1e6)} requested`;
    const btn = el('button', {
      type: 'button', class: 'clip', 'data-clip-id': c.clip_id, 'data-camera': c.camera ?? '', 'aria-current': c.clip_id === S.current ? 'true' : null,
      disabled: c.status !== 'done',
    },
    el('span', { class: 'clip-label' }, many && c.camera ? el('span', { class: 'clip-camera' }, c.camera) : null, c.label || c.clip_id),
    el('span', { class: 'clip-when' }, when),
    el('span', { class: 'clip-meta' }, meta),
    el('span', { class: 'clip-badges' }, ...badges));
    btn.addEventListener('click', () => selectClip(c.clip_id));
    return el('li', {}, btn);
  }));
}

function selectClip(id) {
  const c = S.clips.get(id);
  if (!c || c.status !== 'done') return;
  S.current = id;
  const video = $('player');
  const src = apiUrl(`${prefixOf(c.camera)}clip/${id}/file`, true);
  if (video.getAttribute('src') !== src) {
    video.setAttribute('src', src);
    video.load();
  }
  $('player-title').textContent = `Player — ${c.camera && S.cams.length > 1 ? `${c.camera} · ` : ''}${c.label || id}`;
  const e0 = clipEpoch(c, c.actual_start_pts_ns ?? c.start_pts_ns);
  const e1 = clipEpoch(c, c.actual_stop_pts_ns ?? c.stop_pts_ns);
  const span = Number.isNaN(e0) ? '' : `${clock(e0, true)} – ${clock(e1, true)} · `;
  $('player-info').replaceChildren(
    `${span}${fmtDuration(c.duration_ms)} · ${c.frames} frames · lead-in ${Math.round(c.lead_in_ms ?? 0)} ms${c.partial ? ` · partial: ${c.partial_reason}` : ''} · `,
    el('a', { href: src, download: `${id}.mp4` }, 'download'),
  );
  renderClips();
  scheduleRender();
}

$('player').addEventListener('error', () => {
  if ($('player').getAttribute('src')) setMessage('player', 'The clip file could not be played (it may have been removed).');
});
$('player').addEventListener('loadedmetadata', () => setMessage('player', null));

// ---------------------------------------------------------------- live updates of the camera shown (server-sent events)
function setEventsState(text, kind) {
  Object.assign($('h-events'), { textContent: text, className: `${kind}-text` });
}

function connectEvents() {
  if (S.authFailed || !S.cam) return;
  const gen = S.gen;
  const camera = S.cam.name;
  const es = new EventSource(apiUrl(camPath('events'), true));
  S.events = es;
  const live = () => gen === S.gen && S.events === es;
  const on = (name, fn) => es.addEventListener(name, (m) => {
    if (!live()) return;
    try { fn(parseJson(m.data)); } catch (e) { setMessage('events', `Bad ${name} event: ${e.message}`); }
  });
  es.addEventListener('open', () => {
    if (!live()) return;
    const wasDown = !S.eventsOk;
    S.eventsOk = true;
    setEventsState('connected', 'ok');
    setMessage('events', null);
    if (wasDown && S.health) void catchUp();
  });
  es.addEventListener('error', () => {
    if (!live()) { es.close(); return; }
    S.eventsOk = false;
    setEventsState('reconnecting…', 'bad');
    if (es.readyState === EventSource.CLOSED) {
      // Closed for good (an error status): find out why, then try again later.
      S.events = null;
      void loadSegments(Math.max(0, nowPts() - SEC), undefined).catch(() => {});
      setTimeout(() => { if (!S.events && gen === S.gen) connectEvents(); }, 5000);
    }
  });
  on('health', applyHealth);
  on('segment', (s) => { addSegment(s); scheduleRender(); });
  on('segment-removed', (s) => { S.segs.delete(s.id); S.spansCache = null; scheduleRender(); });
  on('gap', (g) => { addGap(g); scheduleRender(); });
  on('clip', (c) => upsertClip({ ...c, camera }));
}

/** After the event stream was down: reload what may have been missed. */
async function catchUp() {
  const gen = S.gen;
  try {
    const spans = timeline().spans;
    await loadSegments(spans.length ? spans[spans.length - 1].stop - SEC : Math.max(0, nowPts() - S.view.span), undefined);
    await loadAllClips();
  } catch (e) {
    if (e.status !== 401 && gen === S.gen) setMessage('segments', `Cannot load the timeline: ${e.message}`);
  }
}

// ---------------------------------------------------------------- start
/** Loads the camera's timeline and subscribes to its events, once its /health has answered. */
async function startData() {
  if (S.started || !S.health) return;
  S.started = true;
  const gen = S.gen;
  followView();
  try {
    await loadSegments(Math.max(0, S.view.start - S.view.span), undefined);
  } catch (e) {
    if (e.status !== 401 && gen === S.gen) setMessage('segments', `Cannot load the timeline: ${e.message}`);
  }
  if (gen !== S.gen) return;
  S.eventsOk = true; // the initial load is fresh; only later reconnects need a catch-up
  connectEvents();
}

window.addEventListener('hashchange', () => {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  if ((p.get('token') || null) !== hashToken) { location.reload(); return; } // e.g. a #token=… pasted into the address
  const name = p.get('camera');
  if (name && S.cams.some((c) => c.name === name && c.record)) selectCamera(name);
});

async function main() {
  updateSelection();
  // Without the camera list (no token, or an older producer) the default camera is shown through the
  // bare routes, whose /health is public: the page still says what it can.
  const listed = await loadCameras();
  selectCamera(listed ? initialCamera() : null);
  void loadAllClips();
  // The clock ticks on: now marker and last-frame ages; the grid, its thumbnails and every camera's clips
  // are polled; the shown camera's /health is polled while its event stream is down.
  setInterval(() => { tickAge(); tickGrid(); scheduleRender(); }, 1000);
  setInterval(() => { if (!S.authFailed && !S.noCameras && !document.hidden) void loadCameras(); }, CAMERAS_MS);
  setInterval(() => { if (!document.hidden) refreshThumbs(); }, THUMB_MS);
  setInterval(() => { if (!document.hidden) void loadAllClips(); }, ALL_CLIPS_MS);
  setInterval(async () => {
    if (S.events && S.eventsOk) return;
    const gen = S.gen;
    await loadHealth();
    if (gen === S.gen) await startData();
  }, 5000);
}

void main();
