// player.js — owns the <video> player and what plays in it: a clip's file (showClip), or the camera's
// recorded footage from any moment (playAt), streamed from GET {camera}/recording.mp4?start_pts_ns=&
// stop_pts_ns= in windows of up to WINDOW_NS, the next window loaded when one ends so playback goes on.
// A window's answer says which PTS its media time 0 is (X-Segrec-Actual-Start-Pts-Ns) and which gaps it
// holds (X-Segrec-Gaps; footage after a gap follows on directly in media time), so the PTS on screen is
// mapped exactly (BigInt) from currentTime both ways: the playhead on the timeline (S.playhead), and
// seeking to a PTS (next / previous clip or motion event). Also the playback speed.
import { S, api, apiUrl, authHeaders, exactBig, nowPts, parseJson, ptsText, setMessage, toEpoch, unauthorized } from './api.js';
import { inView, renderPlayhead, revealPts, scheduleRender } from './timeline.js';
import { $, clock, el, on } from './util.js';

const video = $('player');
const NS = 1_000_000_000n;
const WINDOW_NS = 10n * 60n * NS; // each window of footage asked for (the producer allows up to an hour)
const MIN_WINDOW_NS = 50_000_000n; // less footage than this is not worth a window (nor, at the live edge, there yet)
const PREV_GRACE_NS = 1_000_000_000n; // "previous" within this of an event's start goes to the one before
const SEEK_NUDGE_S = 0.001; // seeks land this far into a frame, so float rounding never shows the one before
const big = (n) => (typeof n === 'bigint' ? n : BigInt(ptsText(n)));
const nsToS = (ns) => Number(ns) / 1e9;

/**
 * The recorded footage playing: the camera, the window asked for [reqStart, reqStop), the answer's
 * actual start and stop and gaps (BigInt PTS), or null while a clip (or nothing) plays.
 */
let rec = null;
let loads = 0; // bumped per window asked for: a slower earlier answer is dropped
let waitTimer = null;

function status(text, kind = '') {
  Object.assign($('play-status'), { textContent: text, className: `play-status muted ${kind}` });
}

// ---------------------------------------------------------------- media time ↔ PTS
/** The PTS shown at media time `t` (s) of window `w`: past each gap the footage follows on directly. */
export function ptsOfTime(w, t) {
  let p = w.start + BigInt(Math.round(t * 1e9));
  for (const g of w.gaps) {
    if (p < g.start) break;
    p += g.stop - g.start;
  }
  return p;
}
/** The media time (s) of PTS `p` in window `w` (a PTS in a gap: where the footage resumes), or null outside it. */
export function timeOfPts(w, p) {
  if (p < w.start || p >= w.stop) return null;
  let shift = 0n;
  for (const g of w.gaps) {
    if (p >= g.stop) shift += g.stop - g.start;
    else if (p >= g.start) return nsToS(g.start - w.start - shift);
    else break;
  }
  return nsToS(p - w.start - shift);
}

// ---------------------------------------------------------------- showing a clip
/** Plays a clip's file (stops recorded playback). */
export function showClip(src, title, info) {
  stopRecording();
  video.setAttribute('data-mode', 'clip');
  if (video.getAttribute('src') !== src) {
    video.setAttribute('src', src);
    video.load();
  }
  $('player-title').textContent = title;
  $('player-info').replaceChildren(...info);
  status('');
}

/** Ends recorded playback (the player keeps whatever it shows), and hides the playhead. */
export function stopRecording() {
  loads++;
  clearTimeout(waitTimer);
  if (rec) {
    rec = null;
    for (const a of ['data-actual-start-pts', 'data-actual-stop-pts', 'data-gaps', 'data-window-start-pts', 'data-window-stop-pts']) video.removeAttribute(a);
  }
  S.playhead = null;
  renderPlayhead();
  updateNav();
}

// ---------------------------------------------------------------- recorded playback
/**
 * The footage recorded in [from, from + WINDOW_NS), as the producer has it now (GET segments, the open
 * segment included): where it starts (`from`, or where footage resumes after a gap) and how far it goes.
 * null when there is none (yet): asking recording.mp4 for it would only be refused.
 */
async function footageIn(cam, from) {
  const r = await api(`${cam.prefix}segments?from_pts_ns=${from}&to_pts_ns=${from + WINDOW_NS}`);
  let start = null, stop = null;
  for (const seg of r.segments) {
    const a = exactBig(seg, 'start_pts_ns'), b = exactBig(seg, 'stop_pts_ns');
    if (b <= from) continue;
    const s0 = a > from ? a : from;
    if (start === null || s0 < start) start = s0;
    if (stop === null || b > stop) stop = b;
  }
  if (start === null || stop - start < MIN_WINDOW_NS) return null;
  return { start, stop: stop < start + WINDOW_NS ? stop : start + WINDOW_NS };
}

/**
 * Plays the camera shown's recorded footage from PTS `p` (a click on the timeline, an event). Inside the
 * window loaded it seeks there (the frame on screen at that moment); `exact`: a window is loaded from `p`,
 * so media time 0 is exactly the first frame at or after it (an event's first frame).
 */
export function playAt(p, { play = true, exact = false } = {}) {
  p = big(p);
  if (!exact && rec && S.cam && rec.cam.name === S.cam.name && video.readyState >= 1) {
    const t = timeOfPts(rec, p);
    if (t !== null && t + SEEK_NUDGE_S < video.duration) {
      video.currentTime = t + SEEK_NUDGE_S;
      setPlayhead(ptsOfTime(rec, video.currentTime));
      if (play) void video.play().catch(() => {});
      return;
    }
  }
  void loadWindow(p, play);
}
on('play-at', (p) => playAt(p));

/**
 * Loads the window of footage from `from` into the player (and plays it when `play`). `next`: it follows
 * on from a window that ended — where there is no footage yet (the live edge) it waits for more.
 */
async function loadWindow(from, play, next = false) {
  const cam = S.cam;
  if (!cam) return;
  const mine = ++loads;
  clearTimeout(waitTimer);
  status(next ? 'Loading the next footage…' : 'Loading the recording…', 'busy');
  let w;
  try {
    w = await footageIn(cam, from);
  } catch (e) {
    if (mine === loads) status(`Cannot play the recording: ${e.message}`, 'bad-text');
    return;
  }
  if (mine !== loads) return;
  if (!w) {
    const live = S.health && S.health.ingest.state === 'running';
    if (next && live) {
      status('Waiting for more footage…', 'busy');
      waitTimer = setTimeout(() => { if (mine === loads) void loadWindow(from, play, true); }, 2000);
    } else status(next ? 'End of the recorded footage.' : 'No footage recorded after this moment (yet).', 'warn');
    return;
  }
  const path = `${cam.prefix}recording.mp4?start_pts_ns=${w.start}&stop_pts_ns=${w.stop}`;
  // The window's X-Segrec-* headers first (a <video> does not show them), then the video itself.
  let res;
  try {
    res = await fetch(apiUrl(path), { method: 'HEAD', headers: authHeaders() });
  } catch (e) {
    if (mine === loads) status(`The producer is unreachable (${e.message}).`, 'bad-text');
    return;
  }
  if (mine !== loads) return;
  if (res.status === 401) { unauthorized(); status('Not allowed: the producer needs an access token.', 'bad-text'); return; }
  if (!res.ok) {
    // HEAD has no body: ask again for the producer's reason.
    const why = await fetch(apiUrl(path), { headers: authHeaders() }).then((r) => r.text()).then(parseJson).then((b) => b.message).catch(() => null);
    if (mine === loads) status(`Cannot play the recording: ${why || `HTTP ${res.status}`}`, 'bad-text');
    return;
  }
  const h = (name) => res.headers.get(name);
  const digits = (v, fallback) => (/^\d+$/.test(v ?? '') ? BigInt(v) : fallback);
  let gaps = [];
  try {
    gaps = (parseJson(h('x-segrec-gaps') || '[]') || []).map((g) => ({ start: exactBig(g, 'start_pts_ns'), stop: exactBig(g, 'stop_pts_ns') }));
  } catch { /* no gaps said: none */ }
  gaps.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  rec = {
    cam, reqStart: w.start, reqStop: w.stop, gaps,
    start: digits(h('x-segrec-actual-start-pts-ns'), w.start), stop: digits(h('x-segrec-actual-stop-pts-ns'), w.stop),
  };
  video.setAttribute('data-mode', 'recording');
  video.setAttribute('data-window-start-pts', String(w.start));
  video.setAttribute('data-window-stop-pts', String(w.stop));
  video.setAttribute('data-actual-start-pts', String(rec.start));
  video.setAttribute('data-actual-stop-pts', String(rec.stop));
  video.setAttribute('data-gaps', JSON.stringify(gaps.map((g) => [String(g.start), String(g.stop)])));
  video.setAttribute('src', apiUrl(path, true));
  video.load();
  S.current = null;
  setPlayhead(rec.start);
  if (!next) revealPts(rec.start);
  $('player-title').textContent = `Player — ${cam.name && S.cams.length > 1 ? `${cam.name} · ` : ''}recording`;
  const e0 = toEpoch(rec.start), e1 = toEpoch(rec.stop);
  $('player-info').replaceChildren(
    `${Number.isNaN(e0) ? '' : `${clock(e0, true)} – ${clock(e1, true)} · `}${gaps.length ? `${gaps.length} gap${gaps.length > 1 ? 's' : ''} skipped · ` : ''}`,
    el('a', { href: apiUrl(`${path}&download=1`, true), download: `${cam.name ? `${cam.name}-` : ''}${w.start}.mp4` }, 'download this window'),
  );
  status('');
  scheduleRender();
  if (play) void video.play().catch(() => {});
}

/**
 * A window ended: the next one follows on. Its frames were those before the stop asked for, so the next
 * starts there — or where its footage ended, when that was sooner (the newest footage then).
 */
video.addEventListener('ended', () => {
  if (!rec) return;
  void loadWindow(rec.stop < rec.reqStop ? rec.stop : rec.reqStop, true, true);
});

// ---------------------------------------------------------------- the playhead
function setPlayhead(p) {
  const wasIn = S.playhead !== null && inView(S.playhead);
  S.playhead = p;
  video.setAttribute('data-playhead-pts', String(p));
  // Playing off the right edge of the view: the view pages on with it (unless following live).
  if (wasIn && !inView(p) && !video.paused && !S.follow) revealPts(p, true);
  renderPlayhead();
  const e = toEpoch(p);
  $('play-pos').textContent = Number.isNaN(e) ? '' : clock(e, true);
  updateNav();
}
function tick() {
  if (rec) setPlayhead(ptsOfTime(rec, video.currentTime));
}
for (const ev of ['timeupdate', 'seeked', 'loadeddata', 'pause']) video.addEventListener(ev, tick);
(function frame() {
  if (rec && !video.paused) tick();
  requestAnimationFrame(frame);
})();

// ---------------------------------------------------------------- events: next / previous
/** Start PTS (exact) of the camera shown's clips and motion events, ascending. */
function eventStarts() {
  const name = S.cam ? S.cam.name : null;
  return [...S.clips.values()].filter((c) => c.camera === name && c.status !== 'error')
    .map((c) => exactBig(c, 'start_pts_ns')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
const navBase = () => S.playhead ?? big(Math.floor(nowPts()));
const nextEvent = () => eventStarts().find((p) => p > navBase()) ?? null;
const prevEvent = () => eventStarts().reverse().find((p) => p < navBase() - PREV_GRACE_NS) ?? null;

export function updateNav() {
  $('next-event').disabled = nextEvent() === null;
  $('prev-event').disabled = prevEvent() === null;
}
on('render', updateNav);
/** Jumps to an event: playing on if it played (or nothing did yet), else paused on the event's first frame. */
function jump(p) {
  if (p === null) return;
  revealPts(p);
  playAt(p, { play: !rec || !video.paused, exact: true });
}
$('next-event').addEventListener('click', () => jump(nextEvent()));
$('prev-event').addEventListener('click', () => jump(prevEvent()));

// ---------------------------------------------------------------- speed, errors
$('play-rate').addEventListener('change', (ev) => {
  const r = Number(ev.target.value);
  video.defaultPlaybackRate = r; // a new window (video.load()) starts at the default rate
  video.playbackRate = r;
});

video.addEventListener('error', () => {
  if (video.getAttribute('src')) setMessage('player', rec ? 'The recording could not be played.' : 'The clip file could not be played (it may have been removed).');
});
video.addEventListener('loadedmetadata', () => setMessage('player', null));

on('camera-changed', () => {
  if (rec) { video.pause(); stopRecording(); status(''); }
});
