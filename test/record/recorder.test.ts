// Recorder against a real scripted HTTP producer: the exact requests sent in both window modes, both
// POST answer shapes, both status shapes, job sequences, long-poll wait_ms and the poll interval.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { producerScript, serverFor, type ScriptedServer } from '../helpers/scripted-server.js';
import { Recorder } from '../../src/record/recorder.js';
import { Timebase, timebaseFromHealthPayload } from '../../src/common/timebase.js';
import type { RecorderConfig } from '../../src/record/types.js';
import { ClipRequestError } from '../../src/record/errors.js';
import { parseWireJson } from '../../src/protocol/wire-json.js';

const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 1_764_049_958_893.4, basePtsNs: 0 });

function recorderFor(srv: ScriptedServer, extra: Partial<RecorderConfig> = {}, timebase?: Timebase): Recorder {
  return new Recorder({ producerBaseUrl: srv.url, maxWaitMs: 3000, pollIntervalMs: 10, ...extra }, timebase);
}

function posts(srv: ScriptedServer) {
  return srv.requests.filter((r) => r.method === 'POST');
}
function gets(srv: ScriptedServer) {
  return srv.requests.filter((r) => r.method === 'GET');
}

describe('request bodies', () => {
  test('PTS mode without Timebase: exact body, headers, result', async (t) => {
    const srv = await serverFor(t, producerScript());
    const res = await recorderFor(srv).requestClip({ startPtsNs: 41_000_000_000, stopPtsNs: 44_000_000_000 });
    assert.equal(posts(srv).length, 1);
    const post = posts(srv)[0];
    assert.equal(post.path, '/clip');
    assert.equal(post.rawBody, '{"start_pts_ns":41000000000,"stop_pts_ns":44000000000}');
    assert.equal(post.headers['content-type'], 'application/json');
    assert.equal(post.headers.authorization, undefined);
    assert.deepEqual(res, {
      jobId: 'clip-0000000000000003', status: 'done', mode: 'pts', path: '/data/clips/clip_foo.mp4',
      startPtsNs: 41_000_000_000, stopPtsNs: 44_000_000_000,
      raw: {
        ok: true, message: null,
        clip: { clip_id: 'clip-0000000000000003', status: 'done', path: '/data/clips/clip_foo.mp4', error: null },
      },
    });
  });

  test('PTS mode with Timebase: PTS is not remapped, preroll/postroll use its ptsPerMs, clamped at 0', async (t) => {
    const srv = await serverFor(t, producerScript());
    const odd = new Timebase({ ptsPerMs: 2e6, baseEpochMs: 5, basePtsNs: 77 });
    const res = await recorderFor(srv, {}, odd).requestClip({ startPtsNs: 1_000_000_000, stopPtsNs: 3_000_000_000, prerollMs: 2000, postrollMs: 250 });
    assert.deepEqual(posts(srv)[0].json, { start_pts_ns: 0, stop_pts_ns: 3_500_000_000 });
    assert.equal(res.startPtsNs, 0);
    assert.equal(res.stopPtsNs, 3_500_000_000);
    assert.equal(res.mode, 'pts');
    assert.equal('startMs' in res, false);
  });

  test('epoch mode without Timebase sends start_epoch_ms/stop_epoch_ms, widened in ms', async (t) => {
    const srv = await serverFor(t, producerScript());
    const res = await recorderFor(srv, { prerollMs: 1000, postrollMs: 500 }).requestClip({ startMs: 1_764_050_000_000.5, stopMs: 1_764_050_003_000 });
    assert.deepEqual(posts(srv)[0].json, { start_epoch_ms: 1_764_049_999_000.5, stop_epoch_ms: 1_764_050_003_500 });
    assert.equal(res.mode, 'epoch');
    assert.equal(res.startMs, 1_764_049_999_000.5);
    assert.equal(res.stopMs, 1_764_050_003_500);
    assert.equal('startPtsNs' in res, false);
  });

  test('epoch mode with Timebase sends the mapped PTS and reports both windows', async (t) => {
    const srv = await serverFor(t, producerScript());
    const startMs = 1_764_049_958_893.4 + 10_000;
    const res = await recorderFor(srv, {}, tb).requestClip({ startMs, stopMs: startMs + 2500, prerollMs: 500, postrollMs: 500 });
    const body = posts(srv)[0].json;
    assert.deepEqual(body, { start_pts_ns: 9_500_000_000, stop_pts_ns: 13_000_000_000 });
    assert.equal(res.mode, 'epoch');
    assert.equal(res.startPtsNs, 9_500_000_000);
    assert.equal(res.stopPtsNs, 13_000_000_000);
    assert.equal(res.startMs, startMs - 500);
    assert.equal(res.stopMs, startMs + 3000);
  });

  test('config defaults (label, out_dir, rolls) apply; request values override them; auth header is sent', async (t) => {
    const srv = await serverFor(t, producerScript());
    const rec = recorderFor(srv, { defaultLabel: 'motion', defaultOutDir: '/data/clips/motion', prerollMs: 1000, postrollMs: 1000, authToken: 'tok3n' });
    await rec.requestClip({ startPtsNs: 5_000_000_000, stopPtsNs: 6_000_000_000 });
    await rec.requestClip({
      startPtsNs: 5_000_000_000, stopPtsNs: 6_000_000_000, label: 'door', outDir: '/data/clips/door',
      filename: 'door.mp4', prerollMs: 0, postrollMs: 10, maxWaitMs: 2000,
    });
    const [a, b] = posts(srv);
    assert.deepEqual(a.json, { start_pts_ns: 4_000_000_000, stop_pts_ns: 7_000_000_000, label: 'motion', out_dir: '/data/clips/motion' });
    assert.deepEqual(b.json, {
      start_pts_ns: 5_000_000_000, stop_pts_ns: 6_010_000_000, label: 'door', out_dir: '/data/clips/door',
      filename: 'door.mp4', max_wait_ms: 2000,
    });
    for (const r of srv.requests) assert.equal(r.headers.authorization, 'Bearer tok3n', `${r.method} ${r.path}`);
  });

  test('no undefined or null keys reach the wire', async (t) => {
    const srv = await serverFor(t, producerScript());
    await recorderFor(srv).requestClip({ startMs: 1000, stopMs: 2000, label: undefined, filename: undefined, outDir: undefined });
    assert.equal(posts(srv)[0].rawBody, '{"start_epoch_ms":1000,"stop_epoch_ms":2000}');
  });

  test('a base URL with a path prefix and trailing slash is honoured', async (t) => {
    const srv = await serverFor(t, producerScript());
    const rec = new Recorder({ producerBaseUrl: `${srv.url}/segrec/`, maxWaitMs: 2000, pollIntervalMs: 10 });
    await rec.requestClip({ startPtsNs: 1, stopPtsNs: 2 });
    assert.deepEqual(srv.requests.map((r) => r.path), ['/segrec/clip', '/segrec/clip/clip-0000000000000003']);
  });
});

describe('PTS past 2^53 (1, 10 and 100 years of producer clock)', () => {
  const YEAR_NS = 31_557_600_000_000_000n;
  for (const years of [1n, 10n, 100n]) {
    test(`${years} year(s): a bigint window goes out with all its digits; the answer's 19-digit PTS come back exact`, async (t) => {
      const start = years * YEAR_NS + 41_000_000_007n;
      const stop = start + 3_000_000_000n;
      // The producer's answer as it would send it: every PTS a plain JSON integer.
      const clip = {
        clip_id: 'clip-0000000000000003', status: 'done', path: '/clips/x.mp4', error: null,
        start_pts_ns: start - 500_000_000n, stop_pts_ns: stop,
        actual_start_pts_ns: start - 500_000_000n + 33_333_334n, actual_stop_pts_ns: stop + 1n,
        gaps: [{ start_pts_ns: start + 1n, stop_pts_ns: start + 2n }],
      };
      const srv = await serverFor(t, producerScript({ get: () => ({ body: { ok: true, clip, message: null } }) }));
      const res = await recorderFor(srv).requestClip({ startPtsNs: start, stopPtsNs: stop, prerollMs: 500 });
      assert.equal(posts(srv)[0].rawBody, `{"start_pts_ns":${start - 500_000_000n},"stop_pts_ns":${stop}}`);
      assert.deepEqual(posts(srv)[0].json, { start_pts_ns: start - 500_000_000n, stop_pts_ns: stop });
      assert.equal(res.startPtsNs, start - 500_000_000n);
      assert.equal(res.stopPtsNs, stop);
      assert.equal(res.actualStartPtsNs, start - 500_000_000n + 33_333_334n);
      assert.equal(res.actualStopPtsNs, stop + 1n);
      assert.deepEqual(res.raw.clip, clip);
    });

    test(`${years} year(s): epoch mode with a Timebase from /health parsed by parseWireJson sends exact PTS`, async (t) => {
      const base = years * YEAR_NS + 999n;
      const health = parseWireJson(
        `{"ok":true,"timebase":{"pts_units":"ns","pts_per_ms":1000000,"base_epoch_ms":1764049958893.4,"base_pts_ns":${base}}}`);
      const srv = await serverFor(t, producerScript());
      const res = await recorderFor(srv, {}, timebaseFromHealthPayload(health))
        .requestClip({ startMs: 1_764_049_958_893.4 + 10_000, stopMs: 1_764_049_958_893.4 + 12_500.25 });
      assert.equal(posts(srv)[0].rawBody, `{"start_pts_ns":${base + 10_000_000_000n},"stop_pts_ns":${base + 12_500_250_000n}}`);
      assert.equal(res.startPtsNs, base + 10_000_000_000n);
      assert.equal(res.stopPtsNs, base + 12_500_250_000n);
    });
  }

  test('an actual window that fits a number comes back as numbers (flat answers too); a number past 2^53 is refused', async (t) => {
    const srv = await serverFor(t, producerScript({
      get: () => ({ body: { ok: true, status: 'done', path: '/x.mp4', actual_start_pts_ns: 40_999_999_999, actual_stop_pts_ns: 44_000_000_000 } }),
    }));
    const res = await recorderFor(srv).requestClip({ startPtsNs: 41_000_000_000, stopPtsNs: 44_000_000_000 });
    assert.equal(res.actualStartPtsNs, 40_999_999_999);
    assert.equal(res.actualStopPtsNs, 44_000_000_000);
    await assert.rejects(recorderFor(srv).requestClip({ startPtsNs: 3_155_760_000_000_000_000, stopPtsNs: 3_155_760_001_000_000_000 }),
      (e: unknown) => e instanceof ClipRequestError && /startPtsNs must be a safe integer number of ns .*pass a bigint/.test(e.message));
    assert.equal(posts(srv).length, 1, 'nothing was sent for the refused request');
  });
});

describe('answer shapes', () => {
  for (const idShape of ['clip_id', 'id', 'nested'] as const) {
    for (const statusShape of ['flat', 'nested'] as const) {
      test(`POST answer {${idShape}} with ${statusShape} status answers`, async (t) => {
        const srv = await serverFor(t, producerScript({ idShape, statusShape, id: `job-${idShape}`, statuses: ['queued', 'running', 'done'], path: 'D:/clips/x.mp4' }));
        const res = await recorderFor(srv).requestClip({ startPtsNs: 1, stopPtsNs: 2 });
        assert.equal(res.jobId, `job-${idShape}`);
        assert.equal(res.status, 'done');
        assert.equal(res.path, 'D:/clips/x.mp4');
        assert.deepEqual(gets(srv).map((r) => r.path), Array(3).fill(`/clip/job-${idShape}`));
        if (statusShape === 'flat') assert.deepEqual(res.raw, { ok: true, status: 'done', path: 'D:/clips/x.mp4', message: null });
        else assert.deepEqual(res.raw.clip, { clip_id: `job-${idShape}`, status: 'done', path: 'D:/clips/x.mp4', error: null });
      });
    }
  }

  test('a done job without a path gives path null; upper-case status is understood', async (t) => {
    const srv = await serverFor(t, producerScript({ get: () => ({ body: { ok: true, status: 'DONE' } }) }));
    const res = await recorderFor(srv).requestClip({ startPtsNs: 1, stopPtsNs: 2 });
    assert.equal(res.path, null);
    assert.deepEqual(res.raw, { ok: true, status: 'DONE' });
  });

  test('a numeric job id is accepted and the clip id is URL-encoded in the path', async (t) => {
    const weird = 'clip/a b?c#d%';
    const srv = await serverFor(t, (req) => req.method === 'POST'
      ? { status: 202, body: { ok: true, clip_id: weird } }
      : { body: { ok: true, status: 'done', path: '/x.mp4' } });
    const res = await recorderFor(srv).requestClip({ startPtsNs: 1, stopPtsNs: 2 });
    assert.equal(res.jobId, weird);
    assert.match(gets(srv)[0].rawUrl, /^\/clip\/clip%2Fa%20b%3Fc%23d%25\?wait_ms=\d+$/);

    const srv2 = await serverFor(t, (req) => req.method === 'POST' ? { status: 202, body: { id: 42 } } : { body: { status: 'done' } });
    assert.equal((await recorderFor(srv2).requestClip({ startPtsNs: 1, stopPtsNs: 2 })).jobId, '42');
    assert.equal(gets(srv2)[0].path, '/clip/42');
  });
});

describe('polling', () => {
  test('queued → running → done: one GET per state, each with wait_ms, spaced by pollIntervalMs', async (t) => {
    const srv = await serverFor(t, producerScript({ statuses: ['queued', 'running', 'running', 'done'] }));
    const rec = recorderFor(srv, { pollIntervalMs: 120, maxWaitMs: 5000 });
    const res = await rec.requestClip({ startPtsNs: 1, stopPtsNs: 2 });
    assert.equal(res.status, 'done');
    const g = gets(srv);
    assert.equal(g.length, 4);
    for (const r of g) {
      assert.match(r.query.wait_ms ?? '', /^\d+$/, 'wait_ms must be an integer');
      const w = Number(r.query.wait_ms);
      assert.ok(w > 0 && w <= 5000, `wait_ms ${w} within the budget`);
      assert.equal(r.headers.accept, 'application/json');
    }
    for (let i = 1; i < g.length; i++) {
      const gap = g[i].atMs - g[i - 1].atMs;
      assert.ok(gap >= 100, `GETs ${i - 1}→${i} only ${gap.toFixed(1)} ms apart`);
    }
  });

  test('wait_ms is capped at 10 s for long budgets and never exceeds a short budget', async (t) => {
    const srv = await serverFor(t, producerScript());
    await recorderFor(srv, { maxWaitMs: 60_000 }).requestClip({ startPtsNs: 1, stopPtsNs: 2 });
    assert.equal(Number(gets(srv)[0].query.wait_ms), 10_000);
    await recorderFor(srv, { maxWaitMs: 60_000 }).requestClip({ startPtsNs: 1, stopPtsNs: 2, maxWaitMs: 1500 });
    const w = Number(gets(srv)[1].query.wait_ms);
    assert.ok(w > 1000 && w <= 1500, `wait_ms ${w}`);
  });

  test('a producer that honours wait_ms (holds the answer) is asked again without an extra pause', async (t) => {
    // Hold and interval are long so that the difference between "no pause" and "a pause after each held
    // answer" (3 s against 6 s) stays clear of scheduling delays on a loaded machine.
    const HOLD_MS = 1500;
    const srv = await serverFor(t, producerScript({ statuses: ['running', 'running', 'done'], holdMs: HOLD_MS }));
    const t0 = performance.now();
    const res = await recorderFor(srv, { pollIntervalMs: HOLD_MS, maxWaitMs: 30_000 }).requestClip({ startPtsNs: 1, stopPtsNs: 2 });
    const ms = performance.now() - t0;
    assert.equal(res.status, 'done');
    assert.equal(gets(srv).length, 3);
    assert.equal(Number(gets(srv)[0].query.wait_ms), 10_000, 'the producer is asked to hold (and holds for HOLD_MS)');
    // Two held answers of 1.5 s (~3 s); pausing another 1.5 s after each would take ≥ 6 s.
    assert.ok(ms >= 2 * HOLD_MS - 20 && ms < 4 * HOLD_MS - 500, `took ${ms.toFixed(0)} ms`);
  });

  test('an unknown non-terminal status keeps polling', async (t) => {
    const srv = await serverFor(t, producerScript({ statuses: ['pending', 'assembling', 'done'] }));
    const res = await recorderFor(srv).requestClip({ startPtsNs: 1, stopPtsNs: 2 });
    assert.equal(res.status, 'done');
    assert.equal(gets(srv).length, 3);
  });
});
