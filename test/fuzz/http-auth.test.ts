// Property-based tests (fast-check) of a producer started with an auth token: random routes, methods and
// credentials (missing, wrong, malformed, in the wrong place, in the query of a POST) are a 401 with
// `www-authenticate: Bearer` on every route but the public ones (/health, the web page and its files),
// and nothing else happens; with the right token every route behaves as without one (404/405, and
// POST /clip bodies judged by the same contract oracle as the unauthenticated properties).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { tempDir } from '../helpers/media.js';
import { startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { filenameArb, ident, labelArb, numberToken, oracleClip, routeOutcome, isNoFootage } from './clip-oracle.js';
import {
  assertNamesField, checkAnswerShape, checkProperty, closeClientAgent, send, show, trackProcessFaults,
} from './support.js';

const TOKEN = 'fuzz-Token-0123456789';

/** What the producer should take as the presented token: the Bearer header if it has one, else (GET/HEAD) ?access_token. */
function presented(method: string, authorization: string | undefined, query: URLSearchParams): string | null {
  // (An HTTP header value loses its leading and trailing whitespace on the way.)
  const m = authorization === undefined ? null : /^Bearer\s+(.+)$/i.exec(authorization.replace(/^[ \t]+|[ \t]+$/g, ''));
  if (m) return m[1].trim();
  if (method === 'GET' || method === 'HEAD') return query.get('access_token');
  return null;
}

const isPublic = (pathname: string) => pathname === '/health' || pathname === '/' || pathname.startsWith('/web/');

describe('fuzz: a producer with an auth token', () => {
  const tmp = tempDir('segrec-fuzz-auth-');
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  let segs: SegmentWire[];
  const faults = trackProcessFaults();
  let jobsBefore = 0;

  before(async () => {
    p = await startTestProducer(join(tmp.dir, 'data'), { segmentSeconds: 1, authToken: TOKEN });
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    segs = await waitFor('2 sealed segments', async () => {
      const r = await fetch(`${p.url}/segments`, auth);
      const s = ((await r.json()) as { segments: SegmentWire[] }).segments.filter((x) => x.sealed);
      return s.length >= 2 ? s : null;
    });
  });

  after(async () => {
    await p?.close();
    closeClientAgent();
    faults.dispose();
    tmp.cleanup();
  });

  async function jobCount(): Promise<number> {
    const r = await send(p.url, { path: '/clips?limit=1000', headers: { authorization: `Bearer ${TOKEN}` } });
    return (r.json as { clips: unknown[] }).clips.length;
  }

  function checkClean(what: string): void {
    assert.deepEqual(faults.faults.splice(0), [], `${what}: process faults`);
    assert.deepEqual(p.logs.filter((l) => /request failed|internal error/.test(l)), [], `${what}: internal errors logged`);
  }

  test('random routes, methods and wrong credentials → 401 everywhere but the public routes', async (tc) => {
    jobsBefore = await jobCount();
    const seen = new Map<number | string, number>();
    const word = fc.constantFrom('clip', 'clips', 'health', 'segments', 'web', 'live.mp4', 'events', 'force_rotate', 'file', 'index.html', 'app.js',
      'clip-0000000000000001', 'metrics', 'HEALTH', '%2e%2e', '..', 'x');
    const pathArb = fc.tuple(fc.array(word, { maxLength: 3 }), fc.constantFrom('/', '/', '//'), fc.constantFrom('', '/'))
      .map(([ws, s, tail]) => `/${ws.join(s)}${tail}`);
    const wrongToken = fc.oneof(
      fc.constantFrom('', ' ', TOKEN.toLowerCase(), TOKEN.toUpperCase(), TOKEN.slice(0, -1), `${TOKEN}x`, `x${TOKEN}`, `${TOKEN} ${TOKEN}`, 'null', 'undefined',
        `"${TOKEN}"`, encodeURIComponent(`${TOKEN}\u00e9`), `${TOKEN}\u00e9`, 'a'.repeat(8000)),
      fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
    );
    const authHeader = fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: wrongToken.map((t) => `Bearer ${t}`) },
      { weight: 1, arbitrary: fc.constantFrom(`Bearer${TOKEN}`, `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`, `Token ${TOKEN}`, TOKEN,
        `Bearer\t${TOKEN}x`, 'Bearer', 'Bearer ', `Digest ${TOKEN}`) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }) },
    );
    const query = fc.oneof(
      { weight: 3, arbitrary: fc.constant('') },
      { weight: 2, arbitrary: wrongToken.map((t) => `?access_token=${encodeURIComponent(t)}`) },
      // The right token in the query: only GET and HEAD may use it.
      { weight: 1, arbitrary: fc.constantFrom(`?access_token=${TOKEN}`, `?access_token=x&access_token=${TOKEN}`, `?ACCESS_TOKEN=${TOKEN}`, `?access_token=${TOKEN}%20`) },
    );
    const methodArb = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');
    const otherHeader = fc.constantFrom<Record<string, string>>({}, {}, { 'x-access-token': TOKEN }, { cookie: `access_token=${TOKEN}` }, { 'proxy-authorization': `Bearer ${TOKEN}` });
    await checkProperty('auth: wrong credentials', fc.asyncProperty(pathArb, methodArb, authHeader, query, otherHeader, async (path0, method, authorization, q, extra) => {
      const path = `${path0}${q}`;
      const u = new URL(`http://x${path}`);
      const token = presented(method, authorization, u.searchParams);
      const authorized = token === TOKEN;
      if (authorized) return; // the other property
      const outcome = routeOutcome(method, u.pathname);
      const parts = u.pathname.split('/').filter(Boolean);
      const streaming = outcome === 'served' && parts.length === 1 && (parts[0] === 'events' || parts[0] === 'live.mp4');
      const headers: Record<string, string> = { ...extra };
      if (authorization !== undefined) headers.authorization = authorization;
      const what = `${method} ${path} authorization=${show(authorization, 80)} ${show(extra)}`;
      const a = await send(p.url, { method, path, headers, headOnly: streaming, body: method === 'POST' ? '{"start_pts_ns":1,"stop_pts_ns":2}' : undefined });
      const msg = checkAnswerShape(a, method, what);
      seen.set(a.status, (seen.get(a.status) ?? 0) + 1);
      if (!isPublic(u.pathname)) {
        assert.equal(a.status, 401, `${what}: ${a.status} ${a.text.slice(0, 200)}`);
        assert.equal(a.headers['www-authenticate'], 'Bearer', what);
        if (method !== 'HEAD') assertNamesField(msg!, ['authorization'], what);
      } else {
        // Public: exactly what an unauthenticated producer answers.
        const expected = { served: [200, 404], 'no route': [404], 'wrong method': [405] }[outcome];
        assert.ok(expected.includes(a.status), `${what}: public route answered ${a.status}`);
      }
      checkClean(what);
    }), 250);
    tc.diagnostic(`answers: ${[...seen].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    // Nothing was done on anyone's behalf.
    assert.equal(await jobCount(), jobsBefore, 'no clip job was created without the token');
  });

  test('the right token (header, any case of Bearer, padded; or ?access_token= on GET) → the unauthenticated behaviour', async (tc) => {
    const seen = new Map<number | string, number>();
    const w = () => fc.integer({ min: 0, max: segs.length - 1 }).map((i) => ({ start: segs[i].start_pts_ns + 100_000_000, stop: segs[i].start_pts_ns + 400_000_000 }));
    const bodyArb = fc.oneof(
      fc.record({ w: w(), label: fc.option(labelArb, { nil: undefined }), filename: fc.option(fc.oneof(filenameArb, ident.map((x) => `${x}.mp4`)), { nil: undefined }), max_wait_ms: fc.constant(0) })
        .map((r) => JSON.stringify({ start_pts_ns: r.w.start, stop_pts_ns: r.w.stop, label: r.label, filename: r.filename, max_wait_ms: r.max_wait_ms })),
      fc.tuple(numberToken, numberToken).map(([a, b]) => `{"start_pts_ns":${a},"stop_pts_ns":${b}}`),
      fc.constantFrom('', '{', '[]', '{"access_token":"x"}', `{"access_token":"${TOKEN}"}`, '{"authorization":"Bearer x"}'),
    );
    const how = fc.constantFrom(`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER   ${TOKEN}  `, `Bearer\t${TOKEN}`, 'query');
    const target = fc.oneof(
      fc.record({ kind: fc.constant('clip' as const), body: bodyArb }),
      fc.record({ kind: fc.constantFrom('get' as const), path: fc.constantFrom('/segments?limit=2', '/clips?limit=x', '/clips', '/metrics', '/clip/clip-0000000000000001',
        '/clip/nope', '/nope', '/segments?from_pts_ns=-1', '/clip/clip-0000000000000001/file') }),
      fc.record({ kind: fc.constant('method' as const), path: fc.constantFrom('/clips', '/segments', '/health', '/metrics', '/force_rotate', '/clip/x'), method: fc.constantFrom('PUT', 'DELETE', 'PATCH') }),
    );
    await checkProperty('auth: right token', fc.asyncProperty(target, how, async (t, h) => {
      const viaQuery = h === 'query';
      const method = t.kind === 'clip' ? 'POST' : t.kind === 'method' ? t.method : 'GET';
      const base = t.kind === 'clip' ? '/clip' : t.path;
      // The query token only counts for GET/HEAD; a POST carries the header anyway in that case.
      const path = viaQuery && method === 'GET' ? `${base}${base.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(TOKEN)}` : base;
      const headers: Record<string, string> = viaQuery && method === 'GET' ? {} : { authorization: viaQuery ? `Bearer ${TOKEN}` : h };
      const what = `${method} ${path} ${show(headers)} ${t.kind === 'clip' ? show(t.body) : ''}`;
      const a = await send(p.url, { method, path, headers, body: t.kind === 'clip' ? t.body : undefined });
      const msg = checkAnswerShape(a, method, what);
      assert.notEqual(a.status, 401, `${what}: the right token was refused`);
      seen.set(a.status, (seen.get(a.status) ?? 0) + 1);
      if (t.kind === 'clip') {
        const exp = oracleClip(Buffer.from(t.body));
        if (exp.kind === '400') { assert.equal(a.status, 400, what); assertNamesField(msg!, exp.fields, what); }
        else if (exp.kind === '413') assert.equal(a.status, 413, what);
        else assert.ok(a.status === 202 || (a.status === 409 && isNoFootage(msg)), `${what}: ${a.status} ${msg}`);
      } else {
        const outcome = routeOutcome(method, new URL(`http://x${path}`).pathname);
        if (outcome === 'wrong method') assert.equal(a.status, 405, what);
        else if (outcome === 'no route') assert.equal(a.status, 404, what);
        else assert.ok([200, 400, 404].includes(a.status), `${what}: ${a.status}`);
      }
      checkClean(what);
    }), 150);
    tc.diagnostic(`answers: ${[...seen].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  });
});
