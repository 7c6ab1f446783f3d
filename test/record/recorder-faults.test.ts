// Recorder failure paths against a real scripted HTTP producer: HTTP statuses, bad bodies, dropped and
// refused connections, DNS failure, timeouts (bounded in time), hung servers, aborts, failed jobs, and
// request validation happening before any network call.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { closedPort, producerScript, serverFor, type ScriptedServer } from '../helpers/scripted-server.js';
import { Recorder } from '../../src/record/recorder.js';
import { requestJson } from '../../src/record/http.js';
import { ClipAbortError, ClipError, ClipHttpError, ClipRequestError, ClipTimeoutError } from '../../src/record/errors.js';
import type { ClipRequest, RecorderConfig } from '../../src/record/types.js';
import { Timebase } from '../../src/common/timebase.js';

const WINDOW: ClipRequest = { startPtsNs: 1_000_000_000, stopPtsNs: 2_000_000_000 };
const NO_SEGMENTS = 'no segments overlap requested window (possibly purged)';

function recorderFor(srv: ScriptedServer | string, extra: Partial<RecorderConfig> = {}, tb?: Timebase): Recorder {
  const url = typeof srv === 'string' ? srv : srv.url;
  return new Recorder({ producerBaseUrl: url, maxWaitMs: 3000, pollIntervalMs: 10, ...extra }, tb);
}

async function rejection(p: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const t0 = performance.now();
  try {
    await p;
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
  throw new Error('expected a rejection, got a result');
}

function httpError(e: unknown): ClipHttpError {
  assert.ok(e instanceof ClipHttpError, `expected ClipHttpError, got ${String(e)}`);
  assert.ok(e instanceof ClipError);
  assert.equal(e.name, 'ClipHttpError');
  return e;
}

describe('HTTP-level faults → ClipHttpError', () => {
  test('409 on POST carries the status and the producer message', async (t) => {
    const srv = await serverFor(t, () => ({ status: 409, body: { ok: false, message: NO_SEGMENTS } }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, 409);
    assert.ok(e.message.includes(NO_SEGMENTS), e.message);
    assert.ok(e.message.includes('409'), e.message);
    assert.deepEqual(e.body, { ok: false, message: NO_SEGMENTS });
    assert.equal(e.jobId, undefined);
    assert.equal(srv.requests.length, 1);
  });

  test('404 on GET (unknown clip id) carries the job id', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ status: 404, body: { ok: false, message: 'unknown clip_id' } }) }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, 404);
    assert.match(e.message, /unknown clip_id/);
    assert.equal(e.jobId, 'clip-0000000000000003');
  });

  test('500 with a JSON error body', async (t) => {
    const srv = await serverFor(t, () => ({ status: 500, body: { ok: false, message: 'disk full' } }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, 500);
    assert.match(e.message, /disk full/);
  });

  test('an HTML error page (non-JSON) with 502', async (t) => {
    const html = '<html><body><h1>502 Bad Gateway</h1></body></html>';
    const srv = await serverFor(t, () => ({ status: 502, body: html }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, 502);
    assert.equal(e.body, html);
    assert.match(e.message, /502.*non-JSON body.*Bad Gateway/);
  });

  test('a 200 answer that is not JSON', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ status: 200, body: 'OK' }) }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, 200);
    assert.match(e.message, /non-JSON/);
    assert.equal(e.jobId, 'clip-0000000000000003');
  });

  test('JSON that is not an object', async (t) => {
    const srv = await serverFor(t, () => ({ status: 200, body: ['clip-1'] }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.match(e.message, /not an object/);
  });

  test('ok:false with a 2xx status on POST', async (t) => {
    const srv = await serverFor(t, () => ({ status: 200, body: { ok: false, message: 'window too long' } }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, 200);
    assert.match(e.message, /ok:false: window too long/);
  });

  test('ok:false with a 2xx status on GET (no job error status)', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ body: { ok: false, message: 'index locked' } }) }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.match(e.message, /index locked/);
    assert.equal(e.jobId, 'clip-0000000000000003');
  });

  test('a 2xx POST answer without an id', async (t) => {
    const srv = await serverFor(t, () => ({ status: 202, body: { ok: true, status: 'queued' } }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, 202);
    assert.match(e.message, /without a clip_id or id/);
    assert.equal(srv.requests.length, 1);
  });

  test('a GET answer without any status', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ body: { ok: true, clip: { clip_id: 'x' } } }) }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.match(e.message, /without a job status/);
  });
});

describe('network faults → ClipHttpError with status null (never a raw TypeError)', () => {
  test('socket destroyed on POST', async (t) => {
    const srv = await serverFor(t, () => ({ destroy: true }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, null);
    assert.match(e.message, /POST \/clip: network error/);
    assert.ok(e.cause instanceof Error);
  });

  test('socket destroyed on GET, after a delay', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ destroy: true, delayMs: 50 }) }));
    const e = httpError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.equal(e.status, null);
    assert.equal(e.jobId, 'clip-0000000000000003');
  });

  test('connection refused', async () => {
    const port = await closedPort();
    const e = httpError((await rejection(recorderFor(`http://127.0.0.1:${port}`).requestClip(WINDOW))).error);
    assert.equal(e.status, null);
    assert.match(e.message, /ECONNREFUSED/);
  });

  test('DNS failure (or, with a resolver that never answers, the time budget)', { timeout: 60_000 }, async () => {
    // A resolver normally refuses .invalid at once; one that does not answer (offline CI, slow retries)
    // turns this into a timeout of the POST. Either way it is a ClipError subclass, never a raw TypeError.
    const maxWaitMs = 20_000;
    const { error, ms } = await rejection(recorderFor('http://nonexistent.invalid', { maxWaitMs }).requestClip(WINDOW));
    assert.ok(error instanceof ClipError, `expected a ClipError, got ${String(error)}`);
    assert.ok(!(error instanceof TypeError));
    if (error instanceof ClipTimeoutError) {
      assert.match(error.message, /POST \/clip got no answer within maxWaitMs/);
      assert.equal(error.jobId, undefined);
      assert.ok(ms >= maxWaitMs - 50, `timed out after ${ms.toFixed(0)} ms`);
    } else {
      const e = httpError(error);
      assert.equal(e.status, null);
      assert.match(e.message, /POST \/clip: network error/);
      assert.match(e.message, /ENOTFOUND|EAI_AGAIN|getaddrinfo|nonexistent\.invalid/);
    }
    assert.ok(ms < maxWaitMs + 3000, `took ${ms.toFixed(0)} ms`);
  });
});

describe('time budget → ClipTimeoutError, bounded', () => {
  test('a job that stays running (instant answers) times out near maxWaitMs', async (t) => {
    const srv = await serverFor(t, producerScript({ statuses: ['queued', 'running'] }));
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 1500, pollIntervalMs: 50 }).requestClip(WINDOW));
    assert.ok(error instanceof ClipTimeoutError, String(error));
    assert.ok(error instanceof ClipError);
    assert.equal(error.name, 'ClipTimeoutError');
    assert.equal(error.jobId, 'clip-0000000000000003');
    assert.equal(error.lastStatus, 'running');
    assert.match(error.message, /1500 ms/);
    assert.ok(ms >= 1450 && ms < 1500 + 3000, `took ${ms.toFixed(0)} ms`);
    // ~30 GETs at 50 ms intervals; a few prove polling repeats (a loaded machine may manage far fewer),
    // and never more often than every 50 ms (start to start).
    const n = srv.requests.filter((r) => r.method === 'GET').length;
    assert.ok(n >= 4 && n <= 1500 / 50 + 2, `${n} GETs for 1500 ms at 50 ms intervals`);
  });

  test('a job that stays running on a producer honouring wait_ms times out near maxWaitMs', async (t) => {
    const srv = await serverFor(t, producerScript({ statuses: ['running'], holdMs: 60_000 }));
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 700 }).requestClip(WINDOW));
    assert.ok(error instanceof ClipTimeoutError, String(error));
    assert.ok(ms >= 650 && ms < 700 + 1500, `took ${ms.toFixed(0)} ms`);
  });

  test('the request maxWaitMs overrides the config', async (t) => {
    const srv = await serverFor(t, producerScript({ statuses: ['running'] }));
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 30_000 }).requestClip({ ...WINDOW, maxWaitMs: 400 }));
    assert.ok(error instanceof ClipTimeoutError, String(error));
    assert.ok(ms < 400 + 1500, `took ${ms.toFixed(0)} ms`);
  });

  test('a server that hangs forever on GET', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ hang: true }) }));
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 800 }).requestClip(WINDOW));
    assert.ok(error instanceof ClipTimeoutError, String(error));
    assert.equal(error.jobId, 'clip-0000000000000003');
    assert.ok(ms >= 750 && ms < 800 + 1500, `took ${ms.toFixed(0)} ms`);
  });

  test('a server that hangs forever on POST', async (t) => {
    const srv = await serverFor(t, () => ({ hang: true }));
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 500 }).requestClip(WINDOW));
    assert.ok(error instanceof ClipTimeoutError, String(error));
    assert.equal(error.jobId, undefined);
    assert.ok(ms >= 450 && ms < 500 + 1500, `took ${ms.toFixed(0)} ms`);
  });

  test('transport: a request that outlives its own timeout is a ClipHttpError with status null', async (t) => {
    const srv = await serverFor(t, () => ({ hang: true }));
    const t0 = performance.now();
    const { error } = await rejection(requestJson({ method: 'GET', url: `${srv.url}/clip/x?wait_ms=0`, what: 'GET /clip/x', timeoutMs: 200 }));
    const e = httpError(error);
    assert.equal(e.status, null);
    assert.match(e.message, /no answer within 200 ms/);
    assert.ok(performance.now() - t0 < 1000);
  });

  test('headers arrive but the body never ends: still bounded by maxWaitMs', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ status: 200, body: { ok: true, status: 'done' }, stallBody: true }) }));
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 500 }).requestClip(WINDOW));
    assert.ok(error instanceof ClipTimeoutError, String(error));
    assert.ok(ms < 500 + 1500, `took ${ms.toFixed(0)} ms`);
  });

  test('transport: a stalled body outliving the per-request timeout is a ClipHttpError', async (t) => {
    const srv = await serverFor(t, () => ({ status: 200, body: { ok: true, padding: 'x'.repeat(100) }, stallBody: true }));
    const { error } = await rejection(requestJson({ method: 'GET', url: `${srv.url}/slow`, what: 'GET /slow', timeoutMs: 150 }));
    const e = httpError(error);
    assert.equal(e.status, null);
    assert.match(e.message, /no answer within 150 ms/);
  });
});

describe('abort via AbortSignal → ClipAbortError (name AbortError)', () => {
  /** "Promptly": far below the 20 s budget and the 5 s pause, with room for a loaded CI machine. */
  const PROMPT_MS = 3000;

  test('an already-aborted signal rejects before any request', async (t) => {
    const srv = await serverFor(t, producerScript());
    const ac = new AbortController();
    ac.abort(new Error('shutting down'));
    const { error } = await rejection(recorderFor(srv).requestClip(WINDOW, { signal: ac.signal }));
    assert.ok(error instanceof ClipAbortError);
    assert.ok(error instanceof ClipError);
    assert.equal(error.name, 'AbortError');
    assert.equal((error.cause as Error).message, 'shutting down');
    assert.equal(srv.requests.length, 0);
  });

  test('abort while the GET hangs rejects promptly with the job id and the reason as cause', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ hang: true }) }));
    const ac = new AbortController();
    const reason = new Error('user cancelled');
    setTimeout(() => ac.abort(reason), 150);
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 20_000 }).requestClip(WINDOW, { signal: ac.signal }));
    assert.ok(error instanceof ClipAbortError, String(error));
    assert.equal(error.name, 'AbortError');
    assert.equal(error.jobId, 'clip-0000000000000003');
    assert.equal(error.cause, reason);
    assert.ok(ms < 150 + PROMPT_MS, `took ${ms.toFixed(0)} ms (maxWaitMs is 20 s)`);
  });

  test('abort while the POST hangs', async (t) => {
    const srv = await serverFor(t, () => ({ hang: true }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 20_000 }).requestClip(WINDOW, { signal: ac.signal }));
    assert.ok(error instanceof ClipAbortError, String(error));
    assert.equal(error.jobId, undefined);
    assert.equal((error.cause as Error).name, 'AbortError'); // the default reason of abort()
    assert.ok(ms < 100 + PROMPT_MS, `took ${ms.toFixed(0)} ms (maxWaitMs is 20 s)`);
  });

  test('abort during the pause between polls', async (t) => {
    const srv = await serverFor(t, producerScript({ statuses: ['running'] }));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const { error, ms } = await rejection(recorderFor(srv, { maxWaitMs: 20_000, pollIntervalMs: 5_000 }).requestClip(WINDOW, { signal: ac.signal }));
    assert.ok(error instanceof ClipAbortError, String(error));
    assert.ok(ms < 150 + PROMPT_MS, `took ${ms.toFixed(0)} ms (the pause is 5 s)`);
    assert.equal(srv.requests.filter((r) => r.method === 'GET').length, 1);
  });
});

describe('jobs ending in error → ClipError (not ClipHttpError)', () => {
  function jobError(e: unknown): ClipError {
    assert.ok(e instanceof ClipError, String(e));
    assert.ok(!(e instanceof ClipHttpError) && !(e instanceof ClipTimeoutError) && !(e instanceof ClipRequestError));
    assert.equal(e.name, 'ClipError');
    return e;
  }

  test('nested clip.error is surfaced with the job id', async (t) => {
    const srv = await serverFor(t, producerScript({ statuses: ['running', 'error'], error: 'incompatible sample descriptions' }));
    const e = jobError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.match(e.message, /incompatible sample descriptions/);
    assert.equal(e.jobId, 'clip-0000000000000003');
  });

  test('flat status "failed" with a top-level message', async (t) => {
    const srv = await serverFor(t, producerScript({ statusShape: 'flat', statuses: ['failed'], error: 'segment purged' }));
    const e = jobError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.match(e.message, /failed: segment purged/);
  });

  test('a status "error" answer with ok:false is still a job error', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ body: { ok: false, status: 'error', message: 'write failed' } }) }));
    const e = jobError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.match(e.message, /write failed/);
  });

  test('an error without any message still names the job', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ body: { ok: true, clip: { status: 'error' } } }) }));
    const e = jobError((await rejection(recorderFor(srv).requestClip(WINDOW))).error);
    assert.match(e.message, /clip job clip-0000000000000003 ended in error/);
  });
});

describe('request validation happens before any network call', () => {
  const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 1_764_049_958_893.4, basePtsNs: 0 });
  const bad: Array<[string, ClipRequest, Timebase | undefined]> = [
    ['no window', {}, undefined],
    ['half PTS window', { startPtsNs: 5 }, undefined],
    ['half PTS with full epoch', { stopPtsNs: 5, startMs: 1, stopMs: 2 }, undefined],
    ['half epoch window', { stopMs: 5 }, undefined],
    ['stop <= start', { startPtsNs: 5, stopPtsNs: 5 }, undefined],
    ['non-finite', { startMs: 1, stopMs: Number.POSITIVE_INFINITY }, undefined],
    ['non-integer PTS', { startPtsNs: 0.5, stopPtsNs: 5 }, undefined],
    ['unsafe PTS', { startPtsNs: 0, stopPtsNs: 2 ** 60 }, undefined],
    ['negative mapped PTS', { startMs: 1_764_049_950_000, stopMs: 1_764_049_960_000 }, tb],
    ['negative preroll', { ...WINDOW, prerollMs: -100 }, undefined],
    ['negative postroll', { ...WINDOW, postrollMs: -1 }, undefined],
    ['bad maxWaitMs', { ...WINDOW, maxWaitMs: -1 }, undefined],
  ];
  for (const [name, req, timebase] of bad) {
    test(name, async (t) => {
      const srv = await serverFor(t, producerScript());
      const { error } = await rejection(recorderFor(srv, {}, timebase).requestClip(req));
      assert.ok(error instanceof ClipRequestError, String(error));
      assert.ok(error instanceof ClipError);
      assert.equal(srv.requests.length, 0);
    });
  }
});
