// The wire contract of POST /clip as an independent oracle (DESIGN.md §4, written without looking at how
// src/ implements it), the router's route table, and the fast-check generators of adversarial clip-body
// parts shared by the property-based tests of test/fuzz.
import fc from 'fast-check';

export const KEYS = ['start_pts_ns', 'stop_pts_ns', 'start_epoch_ms', 'stop_epoch_ms', 'label', 'out_dir', 'filename', 'max_wait_ms'] as const;
export const MAX_BODY = 64 * 1024;
export const NO_OVERLAP = 'no segments overlap requested window (possibly purged)';
/** A 409's message: the seed's text, followed by the recorded gap (and its reason) the window lies in, if any. */
export const isNoFootage = (msg: string | undefined): boolean =>
  msg === NO_OVERLAP || (msg !== undefined && msg.startsWith(`${NO_OVERLAP}: it lies in a recorded gap (`));
export const CLIP_ID = /^clip-\d{16}$/;

// ---- The oracle of POST /clip (the contract, written independently of src/) ---------------------------

export type ClipExpect =
  | { kind: '413' }
  | { kind: '400'; fields: Set<string> }
  | { kind: 'valid'; obj: Record<string, unknown>; mode: 'pts' | 'epoch'; pts?: { start: bigint; stop: bigint } };

/** The largest PTS (a signed 64-bit integer): the contract takes PTS as JSON integers of any size up to it, or as strings of digits. */
export const PTS_LIMIT = 2n ** 63n - 1n;

/**
 * The exact value of a PTS field as sent: JSON.parse rounds integers past 2^53, so for those the literal
 * is read from the text (the last occurrence of the key, as JSON.parse keeps the last); a string of 1–19
 * digits is its value. null when the value is no PTS (not an integer, negative, past PTS_LIMIT).
 */
export function exactPts(text: string, key: string, v: unknown): bigint | null {
  let p: bigint;
  if (typeof v === 'string') {
    if (!/^[0-9]{1,19}$/.test(v)) return null;
    p = BigInt(v);
  } else if (typeof v === 'number' && Number.isInteger(v)) {
    if (Number.isSafeInteger(v)) p = BigInt(v);
    else {
      const lits = [...text.matchAll(new RegExp(`(?<!\\\\)"${key}"\\s*:\\s*(-?[0-9]+)(?![0-9.eE])`, 'g'))];
      if (lits.length === 0) return null;
      p = BigInt(lits[lits.length - 1][1]);
    }
  } else return null;
  return p >= 0n && p <= PTS_LIMIT ? p : null;
}

export const given = (v: unknown) => v !== undefined && v !== null;
// eslint-disable-next-line no-control-regex -- control characters are what is being looked for
export const CONTROL = /[\u0000-\u001f\u007f]/;
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function goodString(v: unknown, maxLen: number): v is string {
  return typeof v === 'string' && v.length <= maxLen && !CONTROL.test(v) && !LONE_SURROGATE.test(v);
}

export function oracleClip(body: Buffer): ClipExpect {
  if (body.length > MAX_BODY) return { kind: '413' };
  const text = body.toString('utf8');
  let parsed: unknown;
  if (text.trim() === '') return { kind: '400', fields: new Set(['start_pts_ns', 'body']) };
  try { parsed = JSON.parse(text); } catch { return { kind: '400', fields: new Set(['body']) }; }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { kind: '400', fields: new Set(['body']) };
  const obj = parsed as Record<string, unknown>;
  const bad = new Set<string>();
  for (const k of Object.keys(obj)) {
    if (!(KEYS as readonly string[]).includes(k)) bad.add(k.length > 64 ? `${k.slice(0, 64)}…` : k);
  }
  const own = (k: string) => (Object.prototype.hasOwnProperty.call(obj, k) ? obj[k] : undefined);
  const isPts = (v: unknown, k: string) => exactPts(text, k, v) !== null;
  const isEpoch = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1e15;
  for (const k of ['start_pts_ns', 'stop_pts_ns'] as const) if (given(own(k)) && !isPts(own(k), k)) bad.add(k);
  for (const k of ['start_epoch_ms', 'stop_epoch_ms'] as const) if (given(own(k)) && !isEpoch(own(k))) bad.add(k);
  if (given(own('label')) && !goodString(own('label'), 200)) bad.add('label');
  const outDir = own('out_dir');
  if (given(outDir) && (!goodString(outDir, 4096) || outDir.trim() === '')) bad.add('out_dir');
  const fn = own('filename');
  if (given(fn)) {
    const plain = goodString(fn, 200) && !fn.includes('/') && !fn.includes('\\') && !fn.startsWith('.')
      && fn.toLowerCase().endsWith('.mp4') && fn.length > 4 && Buffer.byteLength(fn) <= 240;
    if (!plain) bad.add('filename');
  }
  const mw = own('max_wait_ms');
  if (given(mw) && !(typeof mw === 'number' && Number.isInteger(mw) && mw >= 0 && mw <= 600_000)) bad.add('max_wait_ms');
  // The window: PTS wins when any PTS field is given.
  const [sp, tp, se, te] = [own('start_pts_ns'), own('stop_pts_ns'), own('start_epoch_ms'), own('stop_epoch_ms')];
  let mode: 'pts' | 'epoch' = 'pts';
  if (given(sp) || given(tp)) {
    if (!given(sp)) bad.add('start_pts_ns');
    if (!given(tp)) bad.add('stop_pts_ns');
    const [a, b] = [exactPts(text, 'start_pts_ns', sp), exactPts(text, 'stop_pts_ns', tp)];
    if (a !== null && b !== null && (b <= a || b - a > 3_600_000_000_000n)) bad.add('stop_pts_ns');
    if (a !== null && b !== null && bad.size === 0) return { kind: 'valid', obj, mode, pts: { start: a, stop: b } };
  } else if (given(se) || given(te)) {
    mode = 'epoch';
    if (!given(se)) bad.add('start_epoch_ms');
    if (!given(te)) bad.add('stop_epoch_ms');
    if (isEpoch(se) && isEpoch(te) && ((te as number) <= (se as number) || ((te as number) - (se as number)) * 1e6 > 3600e9)) bad.add('stop_epoch_ms');
  } else {
    bad.add('start_pts_ns');
  }
  return bad.size > 0 ? { kind: '400', fields: bad } : { kind: 'valid', obj, mode };
}

// ---- Generators -----------------------------------------------------------------------------------

/** Raw JSON (or almost-JSON) number-ish tokens. */
export const numberToken = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String),
  fc.constantFrom('-0', '0', '2e63', '9223372036854775808', '9223372036854775807', '-9223372036854775808', '18446744073709551616',
    '9007199254740991', '9007199254740992', '9007199254740993', '1e400', '-1e400', '1e-400', '0.5', '1.0', '1e3', '-1', '1E2', '5e-324',
    '1e15', '1000000000000001', '600000', '600001', '3600000000000', '1.7976931348623157e308'),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.constantFrom('"NaN"', '"Infinity"', '"-Infinity"', '"123"', '""', 'true', 'false', 'null', '[]', '{}', '[1]', '{"a":1}', '"1e3"', '"0x10"'),
  // Not JSON at all: the whole body is then malformed.
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '0x10', '01', '+1', '.5', '1.', "'1'", 'undefined', '1_000', '١٢٣'),
);

export const FIXTURE_NAMES = ['sneaky', 'dangle', 'loop', 'afile', 'rel-up', 'outlink'];

/** One path component, adversarial. */
export const pathPart = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('..', '.', '...', '%2e%2e', '%2E%2E%2F', '..%2f', '..\\', '..\\..', 'events', 'cam 1', 'trail.', 'trail ',
    'trail. .', ' lead', '\u202eevil\u202c', 'emoji😀🎥', 'nul\u0000x', 'tab\tx', '\ud800', 'x\udfff', 'ok', 'x\u0085y', 'CON', 'a:b', '*?', '~',
    '$HOME', 'ｆｕｌｌ', 'e\u0301', '\u200b', ...FIXTURE_NAMES) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }) },
  { weight: 1, arbitrary: fc.integer({ min: 240, max: 300 }).map((n) => 'n'.repeat(n)) },
  { weight: 1, arbitrary: fc.integer({ min: 78, max: 90 }).map((n) => '日'.repeat(n)) },
);

export const ident = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/).filter((s) => !FIXTURE_NAMES.includes(s));

export function outDirArb(roots: { sandbox: string; outside: string; root1: string; root2: string }) {
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(
      fc.constantFrom('', '', '/', `${roots.sandbox}/`, `${roots.outside}/`, `${roots.root1}/`, `${roots.root2}/`, '/tmp/', '~/', '\\\\?\\', './', '../'),
      fc.array(pathPart, { maxLength: 5 }),
      fc.constantFrom('/', '/', '\\', '//', '/./'),
      fc.constantFrom('', '', '/', '.', ' ', '/..'),
    ).map(([lead, parts, s, trail]) => lead + parts.join(s) + trail) },
    { weight: 3, arbitrary: fc.array(ident, { minLength: 1, maxLength: 3 }).map((p) => p.join('/')) },
    { weight: 1, arbitrary: fc.integer({ min: 1330, max: 1370 }).map((n) => 'ab/'.repeat(n)) },
    { weight: 1, arbitrary: fc.integer({ min: 3900, max: 4200 }).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '\t', '/', '.', '..', '../../../../../../..', roots.outside, `${roots.outside}/sub`,
      `${roots.root1}/../escape`, `${roots.root1}/sneaky/deeper`, 'sneaky', 'sneaky/x', 'dangle', 'dangle/x', 'loop', 'loop/x', 'afile', 'afile/x',
      'rel-up/escaped', 'outlink', `${roots.outside}/inner-link/x`, roots.root2, `${roots.root2}/sub`, 'x'.repeat(1 << 20)) },
  );
}

export const filenameArb = fc.oneof(
  { weight: 4, arbitrary: pathPart.map((s) => `${s}.mp4`) },
  { weight: 2, arbitrary: ident.map((s) => `${s}.mp4`) },
  { weight: 1, arbitrary: pathPart },
  { weight: 2, arbitrary: fc.constantFrom('x.mp4', 'X.MP4', '.mp4', '..mp4', 'a/b.mp4', 'a\\b.mp4', '../x.mp4', '..\\x.mp4', 'x.mp4.', 'x.mp4 ',
    'x.mp4\u0000', 'clip.mov', 'ok.mp4', '/etc/x.mp4', '%2e%2e%2fx.mp4', 'same.mp4', 'same.json.mp4', 'a'.repeat(196) + '.mp4', 'a'.repeat(197) + '.mp4',
    '😀'.repeat(59) + '.mp4', '😀'.repeat(61) + '.mp4', 'é'.repeat(118) + '.mp4', 'é'.repeat(119) + '.mp4', '\u202e4pm.exe.mp4', 'con.mp4') },
);

export const labelArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('', 'door opened!', '\u202eRTL', 'nul\u0000', '\ud83d', 'a\nb', '../../etc/passwd', '__proto__', 'x'.repeat(200), 'x'.repeat(201),
    '日'.repeat(200), '😀'.repeat(100), '😀'.repeat(101)),
);

/** Deeply nested JSON text (10k levels by default). */
export const nested = (depth: number, kind: 'array' | 'object') =>
  kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

export const anyValueToken = fc.oneof(
  numberToken,
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
  labelArb.map((s) => JSON.stringify(s)),
  fc.constantFrom(nested(10_000, 'array'), '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}'),
);

// ---- The route table ----------------------------------------------------------------------------------

/** Every route of the producer: method and pattern (`:name` matches one non-empty segment). */
/** Each camera's routes: bare (the default camera) and under /cameras/:camera. */
const CAMERA_ROUTES: Array<[string, string]> = [['GET', '/health'], ['POST', '/force_rotate'], ['GET', '/segments'], ['GET', '/live.mp4'],
  ['GET', '/events'], ['POST', '/clip'], ['GET', '/clip/:id'], ['GET', '/clips'], ['GET', '/clip/:id/file'], ['GET', '/snapshot.jpg']];
export const ROUTES: Array<[string, string]> = [...CAMERA_ROUTES, ...CAMERA_ROUTES.map(([m, p]): [string, string] => [m, `/cameras/:camera${p}`]),
  ['GET', '/metrics'], ['GET', '/'], ['GET', '/web/:file'], ['GET', '/cameras'], ['POST', '/config/reload'], ['GET', '/openapi.json']];

/** The routes whose pattern matches `pathname` (empty segments do not count; a parameter must percent-decode). */
export function routesFor(pathname: string): Array<[string, string]> {
  const parts = pathname.split('/').filter(Boolean);
  return ROUTES.filter(([, pat]) => {
    const pp = pat.split('/').filter(Boolean);
    if (pp.length !== parts.length) return false;
    return pp.every((x, i) => {
      if (!x.startsWith(':')) return x === parts[i];
      try { decodeURIComponent(parts[i]); return true; } catch { return false; }
    });
  });
}

/** Whether `method` is served on `pathname` (HEAD wherever GET is), 'no route' (404) or 'wrong method' (405). */
export function routeOutcome(method: string, pathname: string): 'served' | 'no route' | 'wrong method' {
  const matching = routesFor(pathname);
  if (matching.length === 0) return 'no route';
  return matching.some(([m]) => m === method || (method === 'HEAD' && m === 'GET')) ? 'served' : 'wrong method';
}
