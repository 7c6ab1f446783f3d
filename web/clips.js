// clips.js — owns the selection panel (the window selected on the timeline: making a clip of it, or
// downloading it as it was recorded through recording.mp4?download=1) and the clips of every camera:
// loading them, the list (filterable by camera), and picking one to play in the player.
import { S, api, apiUrl, prefixOf, ptsText, setMessage, toEpoch, withFields } from './api.js';
import { showClip } from './player.js';
import { scheduleRender } from './timeline.js';
import { $, SEC, clock, el, fmtBytes, fmtDuration, isMotion, on } from './util.js';

const MAX_WINDOW_NS = 3600 * SEC; // a clip, and a recording.mp4 window, are at most an hour

// ---------------------------------------------------------------- the selection
/** The URL that downloads the selected window as recorded (the camera shown's recording.mp4). */
function spanUrl(s) {
  const q = `start_pts_ns=${ptsText(s.start)}&stop_pts_ns=${ptsText(s.stop)}&download=1`;
  return apiUrl(`${S.cam ? S.cam.prefix : ''}recording.mp4?${q}`, true);
}

export function updateSelection() {
  const s = S.sel;
  const has = !!s && s.stop > s.start;
  for (const [id, pts] of [['sel-start', has ? s.start : null], ['sel-stop', has ? s.stop : null]]) {
    const dd = $(id);
    dd.textContent = pts === null ? '—' : clock(toEpoch(pts), true);
    if (pts === null) dd.removeAttribute('data-pts'); else dd.setAttribute('data-pts', ptsText(pts));
  }
  const dur = $('sel-dur');
  const tooLong = has && s.stop - s.start > MAX_WINDOW_NS;
  if (has) {
    const fps = S.health && S.health.ingest.fps;
    dur.textContent = fmtDuration((s.stop - s.start) / 1e6);
    dur.title = fps ? `about ${Math.round(((s.stop - s.start) / SEC) * fps)} frames` : '';
    dur.className = tooLong ? 'bad-text' : '';
  } else dur.textContent = '—';
  $('make-clip').disabled = !has || S.authFailed || tooLong;
  $('clear-sel').disabled = !s;
  // "Download span": a plain link (the producer answers with Content-Disposition: attachment).
  const dl = $('download-span');
  if (has && !S.authFailed && !tooLong) {
    dl.setAttribute('href', spanUrl(s));
    dl.removeAttribute('aria-disabled');
    dl.setAttribute('download', `${S.cam && S.cam.name ? `${S.cam.name}-` : ''}${ptsText(s.start)}.mp4`);
  } else {
    dl.removeAttribute('href');
    dl.removeAttribute('download');
    dl.setAttribute('aria-disabled', 'true');
  }
}
on('selection', updateSelection);

export function clipStatus(text, kind = '') {
  Object.assign($('clip-status'), { textContent: text, className: `clip-status ${kind}` });
}

$('clear-sel').addEventListener('click', () => { S.sel = null; updateSelection(); scheduleRender(); });
$('clip-form').addEventListener('submit', (ev) => { ev.preventDefault(); void makeClip(); });

async function makeClip() {
  const s = S.sel;
  if (!s || s.stop <= s.start) return;
  const cam = S.cam; // the clip is the camera's whose timeline it was selected on, even if another is shown meanwhile
  const camApi = (path, init) => api(`${cam.prefix}${path}`, init);
  const upsert = (c) => upsertClip(withFields(c, { camera: cam.name }));
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

// ---------------------------------------------------------------- clips of every camera
/** The clip's camera's clock (its /health timebase), for wall-clock labels of any camera's clip. */
function clipEpoch(c, pts) {
  const tb = S.tbs.get(c.camera ?? '');
  return tb ? tb.base_epoch_ms + (pts - tb.base_pts_ns) / tb.pts_per_ms : NaN;
}

/** Adds or updates a clip (with its `camera`), keeping the newer of two answers about the same job. */
export function upsertClip(c) {
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
export async function loadAllClips() {
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
      for (const c of r.clips) upsertClip(withFields(c, { camera: name }));
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
export function renderFilter() {
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

export function selectClip(id) {
  const c = S.clips.get(id);
  if (!c || c.status !== 'done') return;
  S.current = id;
  const src = apiUrl(`${prefixOf(c.camera)}clip/${id}/file`, true);
  const e0 = clipEpoch(c, c.actual_start_pts_ns ?? c.start_pts_ns);
  const e1 = clipEpoch(c, c.actual_stop_pts_ns ?? c.stop_pts_ns);
  const span = Number.isNaN(e0) ? '' : `${clock(e0, true)} – ${clock(e1, true)} · `;
  showClip(src, `Player — ${c.camera && S.cams.length > 1 ? `${c.camera} · ` : ''}${c.label || id}`, [
    `${span}${fmtDuration(c.duration_ms)} · ${c.frames} frames · lead-in ${Math.round(c.lead_in_ms ?? 0)} ms${c.partial ? ` · partial: ${c.partial_reason}` : ''} · `,
    el('a', { href: src, download: `${id}.mp4` }, 'download'),
  ]);
  renderClips();
  scheduleRender();
}
on('select-clip', selectClip);
