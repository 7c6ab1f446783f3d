// Security by default and operations: the bearer token guards every route but /health (header, or
// ?access_token= on GET for <video> and EventSource), the Recorder sends it, a non-loopback bind
// without a token is refused, and /metrics tells the producer's state in Prometheus text.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir, run } from '../helpers/media.js';
import { getJson, listSegments, startTestProducer, waitFor } from '../helpers/producer.js';
import { makeClip } from '../helpers/clips.js';
import { resolveProducerOptions, OptionsError } from '../../src/producer/options.js';
import { Recorder, ClipHttpError } from '../../src/index.js';

const TOKEN = 'correct-horse-battery';

describe('bearer token', () => {
  const tmp = tempDir();
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  before(async () => {
    p = await startTestProducer(tmp.dir, { segmentSeconds: 1, authToken: TOKEN });
    await waitFor('a sealed segment', async () => (await getJson<{ segments: { count: number } }>(`${p.url}/health`)).body.segments.count >= 2);
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  test('every route but /health and the page\'s static files needs the token', async () => {
    assert.equal((await fetch(`${p.url}/health`)).status, 200);
    for (const path of ['/', '/web/app.js']) {
      const r = await fetch(`${p.url}${path}`);
      assert.equal(r.status, 200, `${path} is public (static, no data)`);
      await r.arrayBuffer();
    }
    const routes: Array<[string, string]> = [['GET', '/segments'], ['GET', '/clips'], ['POST', '/clip'], ['POST', '/force_rotate'],
      ['GET', '/metrics'], ['GET', '/events'], ['GET', '/live.mp4'], ['GET', '/clip/clip-0000000000000001'],
      ['GET', '/clip/clip-0000000000000001/file'], ['GET', '/nope']];
    for (const [method, path] of routes) {
      for (const auth of [undefined, 'Bearer wrong-token-xyz', `Basic ${TOKEN}`, TOKEN]) {
        const r = await fetch(`${p.url}${path}`, { method, headers: auth ? { authorization: auth } : {}, body: method === 'POST' ? '{}' : undefined });
        assert.equal(r.status, 401, `${method} ${path} with ${auth ?? 'no auth'}`);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
        const body = await r.json() as { ok: boolean; message: string };
        assert.equal(body.ok, false);
        assert.match(body.message, /token/);
      }
    }
    const ok = await fetch(`${p.url}/segments`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
  });

  test('?access_token= works for GET (video, EventSource) but not for POST', async () => {
    const g = await fetch(`${p.url}/segments?access_token=${TOKEN}`);
    assert.equal(g.status, 200);
    await g.arrayBuffer();
    const post = await fetch(`${p.url}/force_rotate?access_token=${TOKEN}`, { method: 'POST' });
    assert.equal(post.status, 401);
    await post.arrayBuffer();
  });

  test('the Recorder sends RecorderConfig.authToken; without it the producer says 401', async () => {
    const segs = (await fetch(`${p.url}/segments`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.json())) as { segments: Array<{ start_pts_ns: number }> };
    const s = segs.segments[0].start_pts_ns;
    const good = new Recorder({ producerBaseUrl: p.url, maxWaitMs: 20_000, pollIntervalMs: 100, authToken: TOKEN });
    const res = await good.requestClip({ startPtsNs: s, stopPtsNs: s + 5e8 });
    assert.equal(res.status, 'done');
    const bad = new Recorder({ producerBaseUrl: p.url, maxWaitMs: 5_000, pollIntervalMs: 100 });
    await assert.rejects(bad.requestClip({ startPtsNs: s, stopPtsNs: s + 5e8 }), (e: unknown) => e instanceof ClipHttpError && e.status === 401);
  });
});

test('cross-site writes from a browser are refused; same-origin and non-browser clients are not', async () => {
  const tmp = tempDir();
  const p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
  try {
    const host = new URL(p.url).host;
    const post = (headers: Record<string, string>) => fetch(`${p.url}/clip`, {
      method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body: '{"start_pts_ns": 1, "stop_pts_ns": 2}',
    });
    const crossSite: Array<Record<string, string>> = [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { origin: `http://${host}.evil.example` }];
    for (const headers of crossSite) {
      const r = await post(headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.match(((await r.json()) as { message: string }).message, /^origin: cross-site/);
    }
    const rot = await fetch(`${p.url}/force_rotate`, { method: 'POST', headers: { origin: 'https://evil.example' } });
    assert.equal(rot.status, 403);
    await rot.arrayBuffer();
    // The page itself (same origin) and plain clients get the normal answer (here 409: no footage at pts 1).
    const sameSite: Array<Record<string, string>> = [{ origin: `http://${host}` }, {}];
    for (const headers of sameSite) {
      const r = await post(headers);
      assert.equal(r.status, 409, JSON.stringify(headers));
      await r.arrayBuffer();
    }
    const g = await fetch(`${p.url}/health`, { headers: { origin: 'https://evil.example' } });
    assert.equal(g.status, 200, 'reads are not writes');
    await g.arrayBuffer();
    const m = await fetch(`${p.url}/health`, { method: 'DELETE' });
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'GET, HEAD');
    await m.arrayBuffer();
  } finally {
    await p.close();
    tmp.cleanup();
  }
});

test('binding a non-loopback address without a token is refused', async () => {
  assert.throws(() => resolveProducerOptions({ host: '0.0.0.0' }), (e: unknown) => e instanceof OptionsError && /auth-token/.test((e as Error).message));
  assert.throws(() => resolveProducerOptions({ host: '192.168.1.10' }), OptionsError);
  assert.doesNotThrow(() => resolveProducerOptions({ host: '0.0.0.0', authToken: TOKEN }));
  assert.doesNotThrow(() => resolveProducerOptions({ host: '127.0.0.1' }));
  assert.doesNotThrow(() => resolveProducerOptions({ host: '::1' }));
  assert.equal(resolveProducerOptions({}).host, '127.0.0.1', 'loopback by default');
  const cli = await run(process.execPath, ['--import', 'tsx', new URL('../../src/cli/main.ts', import.meta.url).pathname, 'producer', '--host', '0.0.0.0', '--port', '0']);
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /refusing to bind non-loopback host 0\.0\.0\.0 without --auth-token/);
});

test('/metrics reports ingest, segments, gaps, clip jobs, clip latency and the process memory in Prometheus text', async () => {
  const tmp = tempDir();
  const p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
  try {
    const segs = await waitFor('2 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 2 ? s : null;
    });
    const clip = await makeClip(p.url, { start_pts_ns: segs[0].start_pts_ns, stop_pts_ns: segs[0].start_pts_ns + 5e8 });
    assert.equal(clip.status, 'done');
    const r = await fetch(`${p.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
    const text = await r.text();
    const value = (line: string) => {
      const m = new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
      assert.ok(m, `${line} present`);
      return Number(m[1]);
    };
    assert.equal(value('segrec_ingest_state{camera="default",state="running"}'), 1);
    assert.equal(value('segrec_ingest_state{camera="default",state="failed"}'), 0);
    assert.ok(value('segrec_ingest_fragments_total{camera="default"}') >= 2);
    assert.ok(value('segrec_ingest_bytes_total{camera="default"}') > 0);
    assert.ok(value('segrec_segments{camera="default"}') >= 2);
    assert.equal(value('segrec_ingest_restarts_total{camera="default"}'), 0);
    assert.equal(value('segrec_clip_jobs{camera="default",status="done"}'), 1);
    assert.equal(value('segrec_clip_latency_seconds_count{camera="default"}'), 1);
    assert.equal(value('segrec_clip_latency_seconds_bucket{camera="default",le="+Inf"}'), 1);
    assert.ok(value('segrec_http_requests_total{code="202"}') >= 1);
    assert.ok(Number.isFinite(value('segrec_clock_drift_ms{camera="default"}')));
    // The process's memory: resident, V8's spaces (the young generation is "new"), external.
    const rss = value('process_resident_memory_bytes');
    assert.ok(rss > 20 * 2 ** 20 && rss < 2 ** 33, `resident ${rss}`);
    for (const space of ['new', 'old', 'code', 'large_object']) assert.ok(value(`nodejs_heap_space_size_total_bytes{space="${space}"}`) >= 0);
    assert.ok(value('nodejs_heap_space_size_used_bytes{space="old"}') > 2 ** 20);
    assert.ok(value('nodejs_heap_space_size_used_bytes{space="old"}') <= value('nodejs_heap_space_size_total_bytes{space="old"}'));
    assert.ok(value('nodejs_external_memory_bytes') > 0);
    for (const line of text.trim().split('\n')) {
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? \S+)$/, `valid exposition line: ${line}`);
    }
  } finally {
    await p.close();
    tmp.cleanup();
  }
});
