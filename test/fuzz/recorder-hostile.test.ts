// The Recorder against hostile producers (fast-check): a real node:http server (test/helpers/scripted-server)
// answering with generated garbage — random statuses, JSON and non-JSON bodies, wrong shapes, huge bodies,
// missing ids, ids with path characters, stalls, resets, delays — and a raw node:net server answering with
// truncated and malformed HTTP. `requestClip` only ever rejects with ClipError subclasses (never a
// TypeError/SyntaxError/URIError), never outlives its maxWaitMs by more than a grace period, and resolves
// only when a GET for the job really answered `done`.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { startScriptedServer, type RecordedRequest, type ScriptedAnswer, type ScriptedServer } from '../helpers/scripted-server.js';
import { Recorder } from '../../src/record/recorder.js';
import { ClipError } from '../../src/record/errors.js';
import type { ClipResult } from '../../src/record/types.js';
import { checkProperty, show, trackProcessFaults } from './support.js';

/** How much longer than maxWaitMs a call may take (timers, parsing a megabyte, a loaded 2-core machine). */
const GRACE_MS = 1000;
const ERROR_NAMES = new Set(['ClipError', 'ClipHttpError', 'ClipTimeoutError', 'ClipRequestError', 'AbortError']);

// ---- Generators of hostile answers ----------------------------------------------------------------

const idArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constant('clip-0000000000000003') },
  { weight: 3, arbitrary: fc.constantFrom('..', '.', '../..', '../../etc/passwd', '%2e%2e', '%2F', 'a/b', 'a?b#c', 'a b', '\ud800', 'x\udfff', '😀', '',
    ' ', '\u0000', 'clip-1/..', '\\..\\', 'http://evil/', '//evil', '?', '#', 'CON', 'x'.repeat(20_000)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom(1, 0, -1, 1.5, 2 ** 53, 2 ** 63, 1e308, null, true, [], {}, ['clip-1'], { id: 'x' }) },
);
const jobStatusArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('done', 'DONE', 'Done', 'error', 'failed', 'cancelled', 'queued', 'running') },
  { weight: 2, arbitrary: fc.constantFrom('', 'don e', 'done\u0000', ' done', 'pending', 'unknown', 'ok', 'success') },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(1, null, true, ['done'], { status: 'done' })) },
);
const pathArb: fc.Arbitrary<unknown> = fc.oneof(fc.constantFrom('/data/clips/a.mp4', '', '../../etc/passwd', null, 5, '\ud800'), fc.string({ maxLength: 12 }));
const messageArb: fc.Arbitrary<unknown> = fc.oneof(fc.constantFrom('disk full', '', null, 42, { nested: true }, 'x'.repeat(5000)), fc.string({ unit: 'binary', maxLength: 12 }));
const okArb: fc.Arbitrary<unknown> = fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constantFrom(false, undefined, 'true', 0, null) });

/** An object that looks more or less like a producer answer (flat or nested), with any field wrong. */
const shapedBody: fc.Arbitrary<Record<string, unknown>> = fc.record({
  ok: okArb,
  clip_id: idArb,
  id: idArb,
  status: jobStatusArb,
  path: pathArb,
  message: messageArb,
  error: messageArb,
  clip: fc.oneof(
    fc.record({ clip_id: idArb, id: idArb, status: jobStatusArb, path: pathArb, error: messageArb }, { requiredKeys: [] }),
    fc.constantFrom(null, 'clip', [], 5),
  ),
}, { requiredKeys: [] });

const textBody = fc.oneof(
  fc.constantFrom('', '<html><h1>502 Bad Gateway</h1></html>', 'null', 'OK', '{"ok":true,"clip_id":"cl', '{"ok":true,"clip_id":"clip-0000000000000003","status":"do',
    '\ufeff{"ok":true,"clip_id":"clip-0000000000000003"}', '{"ok":true,"clip_id":"clip-0000000000000003"}garbage', '[', ']', 'NaN', '{"a":1e999}',
    '['.repeat(10_000) + ']'.repeat(10_000), '{"clip":'.repeat(5_000) + '{}' + '}'.repeat(5_000),
    `{"ok":true,"clip_id":"clip-0000000000000003","status":"done","pad":"${'x'.repeat(1 << 20)}"}`),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

const statusArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(200, 202) },
  { weight: 3, arbitrary: fc.constantFrom(201, 204, 206, 299, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 413, 418, 429, 500, 502, 503, 504, 599) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 599 }) },
);

const answerArb: fc.Arbitrary<ScriptedAnswer> = fc.record({
  status: statusArb,
  body: fc.oneof({ weight: 6, arbitrary: shapedBody }, { weight: 2, arbitrary: textBody }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }),
  headers: fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.constantFrom<Record<string, string>>(
    { 'content-type': 'text/plain' }, { 'content-type': 'application/json; charset=latin1' }, { location: '/health' }, { 'content-encoding': 'gzip' }) }),
  delayMs: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 60 }) }),
  fault: fc.oneof({ weight: 12, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: fc.constantFrom('destroy' as const, 'hang' as const, 'stallBody' as const) }),
}).map(({ fault, ...a }) => ({ ...a, ...(fault === 'none' ? {} : { [fault]: true }) }));

/** A well-formed 202 for the POST, so that many runs reach the polling loop. */
const goodPost: fc.Arbitrary<ScriptedAnswer> = idArb.map((id) => ({ status: 202, body: { ok: true, clip_id: id, status: 'queued' } }));
/** A well-formed GET answer with some status. */
const goodGet: fc.Arbitrary<ScriptedAnswer> = fc.tuple(jobStatusArb, fc.boolean()).map(([status, nested]) => ({
  status: 200, body: nested ? { ok: true, clip: { clip_id: 'clip-0000000000000003', status, path: '/data/clips/x.mp4', error: null }, message: null } : { ok: true, status, path: '/data/clips/x.mp4' },
}));

const scenarioArb = fc.record({
  post: fc.oneof({ weight: 2, arbitrary: goodPost }, { weight: 1, arbitrary: answerArb }),
  gets: fc.array(fc.oneof({ weight: 2, arbitrary: goodGet }, { weight: 1, arbitrary: answerArb }), { minLength: 1, maxLength: 5 }),
  maxWaitMs: fc.integer({ min: 80, max: 300 }),
  pollIntervalMs: fc.integer({ min: 0, max: 30 }),
});

/** What the Recorder must have seen to resolve: the answer was 2xx JSON saying done (flat or nested). */
function saysDone(a: ScriptedAnswer): boolean {
  if (a.destroy || a.hang || a.stallBody || a.headers?.['content-encoding']) return false;
  const st = a.status ?? 200;
  if (st < 200 || st > 299 || st === 204) return false;
  if (typeof a.body === 'string' || typeof a.body !== 'object' || a.body === null || Array.isArray(a.body)) {
    if (typeof a.body !== 'string') return false;
    try { return saysDone({ ...a, body: JSON.parse(a.body) as unknown }); } catch { return false; }
  }
  const b = a.body as Record<string, unknown>;
  if (b.ok === false) return false;
  const src = b.clip !== null && typeof b.clip === 'object' && !Array.isArray(b.clip) ? (b.clip as Record<string, unknown>) : b;
  const raw = typeof src.status === 'string' ? src.status : b.status;
  return typeof raw === 'string' && raw.toLowerCase() === 'done';
}

describe('fuzz: the Recorder against hostile producers', () => {
  const faults = trackProcessFaults();
  after(() => faults.dispose());

  async function runOne(rec: Recorder): Promise<{ result?: ClipResult; error?: unknown; ms: number }> {
    const t0 = performance.now();
    try {
      const result = await rec.requestClip({ startPtsNs: 1_000_000_000, stopPtsNs: 2_000_000_000, label: 'fuzz' });
      return { result, ms: performance.now() - t0 };
    } catch (error) {
      return { error, ms: performance.now() - t0 };
    }
  }

  function checkOutcome(o: { result?: ClipResult; error?: unknown; ms: number }, maxWaitMs: number, what: string): void {
    assert.ok(o.ms <= maxWaitMs + GRACE_MS, `${what}: took ${Math.round(o.ms)} ms with maxWaitMs ${maxWaitMs}`);
    if (o.error !== undefined) {
      const e = o.error as Error;
      assert.ok(e instanceof ClipError, `${what}: rejected with ${e?.name}: ${e?.message?.slice(0, 300)}`);
      assert.ok(ERROR_NAMES.has(e.name), `${what}: error name ${e.name}`);
      assert.equal(typeof e.message, 'string');
    }
    assert.deepEqual(faults.faults, [], `${what}: process faults`);
  }

  test('scripted garbage (statuses, bodies, shapes, ids, stalls, resets, delays) → ClipError or a real done', async () => {
    const srv: ScriptedServer = await startScriptedServer();
    const outcomes = new Map<string, number>();
    try {
      await checkProperty('Recorder vs scripted garbage', fc.asyncProperty(scenarioArb, async (sc) => {
        const answered: Array<{ req: RecordedRequest; answer: ScriptedAnswer }> = [];
        let gets = 0;
        srv.setScript((req) => {
          const answer = req.method === 'POST' ? sc.post : sc.gets[Math.min(gets++, sc.gets.length - 1)];
          answered.push({ req, answer });
          return answer;
        });
        const rec = new Recorder({ producerBaseUrl: srv.url, maxWaitMs: sc.maxWaitMs, pollIntervalMs: sc.pollIntervalMs });
        const o = await runOne(rec);
        const what = `scenario ${show(sc, 600)}`;
        checkOutcome(o, sc.maxWaitMs, what);
        const kind = o.error ? (o.error as Error).name : 'done';
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        const post = answered.find((x) => x.req.method === 'POST');
        const lastGet = answered.filter((x) => x.req.method === 'GET').at(-1);
        if (o.result) {
          // Resolved: the POST gave the id, and the last GET for exactly that job said done.
          assert.ok(post && lastGet, `${what}: resolved without a POST and a GET`);
          assert.ok(saysDone(lastGet.answer), `${what}: resolved although the last GET said ${show(lastGet.answer, 300)}`);
          assert.equal(o.result.status, 'done');
          assert.equal(lastGet.req.path, `/clip/${encodeURIComponent(o.result.jobId)}`, `${what}: polled ${lastGet.req.path}`);
          const body = typeof lastGet.answer.body === 'string' ? JSON.parse(lastGet.answer.body) as unknown : lastGet.answer.body;
          assert.deepEqual(o.result.raw, JSON.parse(JSON.stringify(body)), what);
        }
        // Every GET went to the job's own URL: an id never walks the path (`..`) or adds a query.
        for (const g of answered.filter((x) => x.req.method === 'GET')) {
          assert.match(g.req.path, /^\/clip\/[^/]+$/, `${what}: GET ${g.req.rawUrl.slice(0, 200)}`);
          assert.deepEqual(Object.keys(g.req.query), ['wait_ms'], `${what}: GET ${g.req.rawUrl.slice(0, 200)}`);
        }
      }), 200);
    } finally {
      console.log(`[fuzz] Recorder outcomes: ${[...outcomes].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
      await srv.close();
    }
  });

  test('raw malformed and truncated HTTP responses → ClipError within the budget', async () => {
    const CRLF = '\r\n';
    const ok202 = '{"ok":true,"clip_id":"clip-0000000000000003","status":"queued"}';
    const done = '{"ok":true,"clip":{"clip_id":"clip-0000000000000003","status":"done","path":"/x.mp4"}}';
    const rawAnswer = fc.oneof(
      fc.constantFrom(
        // Truncated: fewer bytes than Content-Length, then close (or not).
        `HTTP/1.1 200 OK${CRLF}Content-Length: 500${CRLF}${CRLF}${done}`,
        `HTTP/1.1 202 Accepted${CRLF}Content-Length: 500${CRLF}${CRLF}${ok202.slice(0, 20)}`,
        // Chunked garbage and chunked truncation.
        `HTTP/1.1 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}ZZ${CRLF}${done}${CRLF}`,
        `HTTP/1.1 200 OK${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}10${CRLF}${done.slice(0, 16)}${CRLF}`,
        // Bad status lines and headers.
        `HTTP/1.1 2000 OK${CRLF}${CRLF}`, `HTTP/1.1 abc${CRLF}${CRLF}`, `HTTP/9.9 200 OK${CRLF}Content-Length: 2${CRLF}${CRLF}{}`, `ICY 200 OK${CRLF}${CRLF}${done}`,
        `HTTP/1.1 200 OK${CRLF}Content-Length: -1${CRLF}${CRLF}${done}`, `HTTP/1.1 200 OK${CRLF}Content-Length: 5${CRLF}Content-Length: 6${CRLF}${CRLF}{}`,
        `HTTP/1.1 200 OK${CRLF}Bad Header${CRLF}${CRLF}{}`, `HTTP/1.1 200 OK${CRLF}X: \x00${CRLF}Content-Length: 2${CRLF}${CRLF}{}`,
        // Not HTTP at all / HTTP/0.9 style / nothing.
        done, '\xff\xfe\x00garbage', '', `HTTP/1.1 100 Continue${CRLF}${CRLF}`, `HTTP/1.1 101 Switching Protocols${CRLF}Upgrade: x${CRLF}${CRLF}`,
        // Valid answers (so the GET loop is reached).
        `HTTP/1.1 202 Accepted${CRLF}Content-Length: ${ok202.length}${CRLF}${CRLF}${ok202}`,
        `HTTP/1.1 200 OK${CRLF}Content-Length: ${done.length}${CRLF}${CRLF}${done}`,
      ),
      fc.uint8Array({ maxLength: 48 }).map((u) => Buffer.from(u).toString('latin1')),
    );
    const valid = (body: string, status: string) => `HTTP/1.1 ${status}${CRLF}Content-Type: application/json${CRLF}Content-Length: ${body.length}${CRLF}${CRLF}${body}`;
    const scenario = fc.record({
      post: fc.oneof({ weight: 3, arbitrary: rawAnswer }, { weight: 2, arbitrary: fc.constant(valid(ok202, '202 Accepted')) }),
      get: fc.oneof({ weight: 3, arbitrary: rawAnswer }, { weight: 1, arbitrary: fc.constant(valid(done, '200 OK')) }),
      close: fc.constantFrom('end', 'destroy', 'keep'),
      maxWaitMs: fc.integer({ min: 80, max: 250 }),
    });
    let current: { post: string; get: string; close: string } = { post: '', get: '', close: 'end' };
    const sockets = new Set<Socket>();
    const server: Server = createServer((sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => { /* the client went away */ });
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const len = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, headEnd))?.[1] ?? 0);
        if (buf.length < headEnd + 4 + len) return;
        const isPost = buf.startsWith('POST');
        buf = '';
        sock.write(Buffer.from(isPost ? current.post : current.get, 'latin1'));
        if (current.close === 'end') sock.end();
        else if (current.close === 'destroy') sock.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const outcomes = new Map<string, number>();
    try {
      await checkProperty('Recorder vs raw HTTP garbage', fc.asyncProperty(scenario, async (sc) => {
        current = sc;
        const rec = new Recorder({ producerBaseUrl: url, maxWaitMs: sc.maxWaitMs, pollIntervalMs: 5 });
        const o = await runOne(rec);
        const what = `raw scenario ${show(sc, 400)}`;
        checkOutcome(o, sc.maxWaitMs, what);
        if (o.result) {
          assert.ok(sc.get.includes('"status":"done"'), `${what}: resolved without a done`);
          assert.equal(o.result.jobId, 'clip-0000000000000003');
        }
        const kind = o.error ? (o.error as Error).name : 'done';
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        for (const s of sockets) s.destroy();
      }), 150);
    } finally {
      console.log(`[fuzz] Recorder raw outcomes: ${[...outcomes].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
