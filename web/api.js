// api.js — owns the page's shared state (`S`) and everything about talking to the producer: URLs of the
// camera shown, the access token (bearer header, or ?access_token= where no header can be set), the
// exact digits of integers past 2^53 in answers (`parseJson`/`exactOf`) and in what the page writes
// (`ptsText`), the messages bar, and the PTS ↔ wall-clock conversion of the camera shown.
// PTS past 2^53 ns (a data directory's clock gets there after 104 days) are JSON integers a Number does
// not hold exactly (at 100 years its spacing is 512 ns). The page draws with Numbers (sub-µs does not
// show), but keeps the exact digits of the footage's bounds as the producer sent them (JSON.parse's
// source text, `exactOf`), and writes every PTS it shows in an attribute or sends (a selected window, a
// query) as the exact digits of an integer (`ptsText`), never as a Number's shortest decimal form.
/* global location, URLSearchParams */
import { $, el, emit, SEC } from './util.js';

const params = new URLSearchParams(location.hash.replace(/^#/, ''));
export const hashToken = params.get('token') || null;
export const S = {
  token: hashToken || new URLSearchParams(location.search).get('access_token') || null,
  base: new URL(location.pathname.replace(/web\/[^/]*$/, ''), location.origin),
  // Cameras: the list from GET /cameras, the grid's elements by name, and the camera shown ({name, prefix}:
  // prefix is the path its routes live under; name null with prefix '' is the default camera's bare routes).
  cams: [], camsLoaded: false, noCameras: false, defaultCam: null, grid: new Map(), cam: null,
  gen: 0, // bumped on every camera change: answers for an earlier camera are dropped
  // The camera shown: its /health, footage and view.
  tb: null, health: null, healthAt: 0,
  segs: new Map(), // id → {start, stop, startText, stopText}
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
  // Recorded footage playing in the player (player.js): the PTS shown now (a BigInt), or null.
  playhead: null,
};

// ---------------------------------------------------------------- exact integers
/** The exact digits of the integers past 2^53 of parsed answers: holder object → {key: digits}. */
const exactDigits = new WeakMap();
/** JSON.parse that also records, for every integer a Number cannot hold exactly, its digits (see exactOf). */
export function parseJson(text) {
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
export function ptsText(n) {
  if (typeof n === 'bigint') return n.toString();
  return Number.isFinite(n) ? BigInt(Math.round(n)).toString() : '';
}
/** The digits of `obj[key]` as the producer sent them (exact past 2^53). */
export const exactOf = (obj, key) => exactDigits.get(obj)?.[key] ?? ptsText(obj[key]);
/** `obj[key]` as an exact BigInt. */
export const exactBig = (obj, key) => BigInt(exactOf(obj, key) || '0');
/** A copy of a parsed object with more fields, keeping the exact digits of the original's integers. */
export function withFields(obj, more) {
  const copy = { ...obj, ...more };
  const m = exactDigits.get(obj);
  if (m) exactDigits.set(copy, m);
  return copy;
}

// ---------------------------------------------------------------- HTTP
export class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }

/** The API URL for a path, with ?access_token= when `tokenInQuery` (for <video>, links and EventSource). */
export function apiUrl(path, tokenInQuery = false) {
  const u = new URL(path, S.base);
  if (tokenInQuery && S.token) u.searchParams.set('access_token', S.token);
  return u.href;
}

export const authHeaders = () => (S.token ? { authorization: `Bearer ${S.token}` } : {});
/** Where a camera's routes live (`cameras/NAME/`); null: the default camera's bare routes. */
export const prefixOf = (name) => (name === null || name === undefined ? '' : `cameras/${encodeURIComponent(name)}/`);
/** A path of the camera shown. */
export const camPath = (path) => `${S.cam ? S.cam.prefix : ''}${path}`;

export async function api(path, init = {}) {
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

export function setEventsState(text, kind) {
  Object.assign($('h-events'), { textContent: text, className: `${kind}-text` });
}

export function unauthorized() {
  if (S.authFailed) return;
  S.authFailed = true;
  if (S.events) { S.events.close(); S.events = null; }
  setEventsState('off (unauthorized)', 'bad');
  setMessage('auth', S.token
    ? 'Unauthorized: the producer refused the access token given in the page address (#token=…).'
    : 'Unauthorized: this producer requires an access token. Open the page as …/#token=YOUR_TOKEN.');
  emit('unauthorized');
}

// ---------------------------------------------------------------- messages
export function setMessage(key, text) {
  if (text) S.messages.set(key, text); else S.messages.delete(key);
  $('messages').replaceChildren(...[...S.messages.values()].map((t) => el('p', { class: 'message' }, t)));
}

// ---------------------------------------------------------------- clock (PTS ↔ wall clock)
export const toEpoch = (pts) => (S.tb ? S.tb.base_epoch_ms + (Number(pts) - S.tb.base_pts_ns) / S.tb.pts_per_ms : NaN);
/** The producer's current PTS, extrapolated from the last /health by the page's monotonic clock. */
export const nowPts = () => (S.health ? S.health.pts_ns + (performance.now() - S.healthAt) * 1e6 : 0);
