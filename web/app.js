// app.js — the producer's web page (segment-recorder), entry module: it wires the others together and owns
// switching the camera shown, its live updates (server-sent events) and the page's start and timers.
// Plain ES modules, no framework, no build step; they talk only to the producer's HTTP API:
//   GET /cameras; per camera, under /cameras/{name}/: health, segments, clip (POST), clip/{id}?wait_ms,
//   clips, clip/{id}/file, recording.mp4, snapshot.jpg, events (server-sent events: segment,
//   segment-removed, gap, clip, health). When /cameras cannot be read (no token, or an older producer)
//   the page shows the default camera through the bare routes (/health, /segments, …).
// The modules: util.js (helpers, the bus), api.js (state, HTTP, exact PTS), footage.js (spans and gaps),
// timeline.js (the SVG and the mouse on it), clips.js (selection, clips list), player.js (the player:
// clips and recorded footage, playhead, events, speed), cameras.js (the grid, health).
// Time is kept in producer PTS nanoseconds throughout; wall-clock labels come from the camera's
// /health timebase (epoch_ms = base_epoch_ms + (pts − base_pts_ns) / pts_per_ms).
// Auth: a token in the URL fragment (#token=…, or ?access_token=…) goes out as a bearer header, or as
// ?access_token= where no header can be set (<video src>, links, EventSource). #camera=NAME picks the camera.
/* global location, history, URLSearchParams */
import { S, apiUrl, camPath, hashToken, nowPts, parseJson, prefixOf, setEventsState, setMessage, withFields } from './api.js';
import { applyHealth, initialCamera, loadCameras, loadHealth, refreshThumbs, renderGrid, tickAge, tickGrid } from './cameras.js';
import { clipStatus, loadAllClips, updateSelection, upsertClip } from './clips.js';
import { addGap, addSegment, loadSegments, removeSegment, timeline } from './footage.js';
import { updateNav } from './player.js';
import { followView, scheduleRender } from './timeline.js';
import { $, SEC, emit, on } from './util.js';

const THUMB_MS = 4000; // thumbnails are asked for this often (the producer makes a new one at most every ~5 s)
const CAMERAS_MS = 3000;
const ALL_CLIPS_MS = 10_000;

on('unauthorized', () => { updateSelection(); renderGrid(); });

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
  emit('camera-changed');
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
on('select-camera', selectCamera);

// ---------------------------------------------------------------- live updates of the camera shown (server-sent events)
function connectEvents() {
  if (S.authFailed || !S.cam) return;
  const gen = S.gen;
  const camera = S.cam.name;
  const es = new EventSource(apiUrl(camPath('events'), true));
  S.events = es;
  const live = () => gen === S.gen && S.events === es;
  const onEvent = (name, fn) => es.addEventListener(name, (m) => {
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
  onEvent('health', applyHealth);
  onEvent('segment', (s) => { addSegment(s); scheduleRender(); });
  onEvent('segment-removed', (s) => { removeSegment(s.id); scheduleRender(); });
  onEvent('gap', (g) => { addGap(g); scheduleRender(); });
  onEvent('clip', (c) => upsertClip(withFields(c, { camera })));
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
  setInterval(() => { tickAge(); tickGrid(); updateNav(); scheduleRender(); }, 1000);
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
