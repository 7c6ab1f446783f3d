// cameras.js — owns the grid of the producer's cameras (GET /cameras: name, state, a thumbnail from
// snapshot.jpg refreshed every few seconds, the age of the newest frame) and the health header of the
// camera shown (its /health: ingest state, source, segments, clip jobs, the PTS ↔ epoch timebase).
/* global location, URLSearchParams */
import { S, api, apiUrl, authHeaders, camPath, prefixOf, setMessage, unauthorized } from './api.js';
import { renderFilter } from './clips.js';
import { scheduleRender } from './timeline.js';
import { $, clock, el, emit, fmtAge, fmtBytes, stateClass } from './util.js';

/** Reads GET /cameras into the grid; false when it cannot (no token, an older producer, unreachable). */
export async function loadCameras() {
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
    if (next !== null && next !== S.cam.name) emit('select-camera', next);
  }
  return true;
}

/** The camera to show first: #camera=NAME, else the default camera, else the first one that records. */
export function initialCamera() {
  const rec = S.cams.filter((c) => c.record);
  const wanted = new URLSearchParams(location.hash.replace(/^#/, '')).get('camera');
  return (rec.find((c) => c.name === wanted) ?? rec.find((c) => c.name === S.defaultCam) ?? rec[0])?.name ?? null;
}

/** Builds or updates one card per camera, in the producer's order, keeping each card's elements (and picture). */
export function renderGrid() {
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
      btn.addEventListener('click', () => emit('select-camera', c.name, true));
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
export function tickGrid() {
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

export function refreshThumbs() {
  for (const g of S.grid.values()) void refreshThumb(g);
}

// ---------------------------------------------------------------- health (the camera shown)
export function applyHealth(h) {
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

export function tickAge() {
  const h = S.health;
  const age = $('h-age');
  if (!h || h.ingest.last_frame_age_ms === null) { age.textContent = '—'; return; }
  const ms = h.ingest.last_frame_age_ms + (performance.now() - S.healthAt);
  age.textContent = fmtAge(ms);
  age.className = ms > 15_000 ? 'bad-text' : '';
}

export async function loadHealth() {
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
