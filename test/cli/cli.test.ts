// The segrec command as a person or a script uses it: human output by default, --json for scripts,
// exit codes that tell success from failure, and errors that say what to do.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeErrors, probeStreams, run, tempDir } from '../helpers/media.js';
import { listSegments, startTestProducer, waitFor } from '../helpers/producer.js';
import { startScriptedServer, type RecordedRequest } from '../helpers/scripted-server.js';
import { secs, spanNs } from '../../src/cli/format.js';
import { parseWireJson } from '../../src/protocol/wire-json.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const segrec = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { timeoutMs: 60_000, env });

describe('segrec against a running producer', () => {
  const tmp = tempDir();
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  before(async () => {
    p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
    await waitFor('3 s of footage', async () => (await listSegments(p.url)).segments.filter((s) => s.sealed).length >= 3);
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  test('health: human summary, and --json for scripts', async () => {
    const h = await segrec(['health', '--producer', p.url]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /ingest RUNNING/);
    assert.match(h.stdout, /320x180 @ 15 fps/);
    const j = await segrec(['health', '--producer', p.url, '--json']);
    assert.equal(JSON.parse(j.stdout).ingest.state, 'running');
  });

  test('clip --last: waits with a progress line, prints the clip, exit 0; the file plays', async () => {
    const r = await segrec(['clip', '--producer', p.url, '--last', '2s', '--label', 'cli test']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /clip-\d{16}\s+done/);
    const path = /\n\s+(\/\S+\.mp4)/.exec(r.stdout)?.[1];
    assert.ok(path && existsSync(path), r.stdout);
    assert.equal(await decodeErrors(path), '');
    const [v] = await probeStreams(path);
    assert.ok(Math.abs(v.duration - 2) <= 1 / 15 + 0.01, `2 s asked, ${v.duration} s made`);
  });

  test('clip --from/--to --json and --start-pts/--stop-pts', async () => {
    const r = await segrec(['clip', '--producer', p.url, '--from', '-3s', '--to', '-1s', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const clip = JSON.parse(r.stdout);
    assert.equal(clip.status, 'done');
    assert.equal(clip.mode, 'epoch', 'absolute/relative times go to the producer as epoch ms (mapped with the footage\'s anchors)');
    assert.ok(Math.abs(clip.duration_ms - 2000) <= 1000 / 15 + 1);
    const segs = (await listSegments(p.url)).segments;
    const s = segs[0].start_pts_ns;
    const r2 = await segrec(['clip', '--producer', p.url, '--start-pts', String(s), '--stop-pts', String(s + 1e9), '--json', '--filename', 'exact.mp4']);
    assert.equal(r2.code, 0, r2.stderr);
    const c2 = JSON.parse(r2.stdout);
    assert.equal(c2.frames, 15);
    assert.equal(c2.mode, 'pts');
    assert.match(c2.path, /exact\.mp4$/);
  });

  test('segments, clips and rotate', async () => {
    const s = await segrec(['segments', '--producer', p.url, '--all']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /\d+ segments, .* continuous spans/);
    assert.match(s.stdout, /sealed \d{4}-\d\d-\d\d\/\d+\.mp4/);
    // Pages of 2 segments, folded together: the same spans and segments as one page of everything.
    await segrec(['rotate', '--producer', p.url]);
    type Folded = { count: number; spans: Array<{ start_pts_ns: number; stop_pts_ns: number; segments: number }>; segments: Array<{ id: number }> };
    const whole = await segrec(['segments', '--producer', p.url, '--since', 'all', '--all', '--json']);
    const paged = await segrec(['segments', '--producer', p.url, '--since', 'all', '--all', '--json', '--page', '2']);
    assert.equal(paged.code, 0, paged.stderr);
    const [w, pg] = [JSON.parse(whole.stdout) as Folded, JSON.parse(paged.stdout) as Folded];
    const sealedIds = (f: Folded) => f.segments.map((x) => x.id).slice(0, 3);
    assert.ok(pg.count >= 4, `several pages: ${pg.count} segments`);
    assert.deepEqual(sealedIds(pg), sealedIds(w), 'the same segments, oldest first');
    assert.deepEqual(pg.spans.map((x) => x.start_pts_ns), w.spans.map((x) => x.start_pts_ns), 'spans joined across page seams');
    const c = await segrec(['clips', '--producer', p.url]);
    assert.equal(c.code, 0);
    assert.match(c.stdout, /clip-\d{16}\s+done/);
    const r = await segrec(['rotate', '--producer', p.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sealed .*\.mp4: [\d.]+ s, \d+ frames/);
  });

  test('--camera NAME addresses one camera; an unknown one is named; a bad name is a usage error', async () => {
    const h = await segrec(['health', '--producer', p.url, '--camera', 'default', '--json']);
    assert.equal(h.code, 0, h.stderr);
    assert.equal((JSON.parse(h.stdout) as { ok: boolean }).ok, true);
    const c = await segrec(['clips', '--producer', p.url, '--camera', 'default', '--json']);
    assert.equal(c.code, 0, c.stderr);
    const n = await segrec(['segments', '--producer', p.url, '--camera', 'nope']);
    assert.equal(n.code, 1);
    assert.match(n.stderr, /no camera named "nope"/);
    const b = await segrec(['health', '--producer', p.url, '--camera', '../x']);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--camera: "\.\.\/x" is not a camera name/);
  });

  test('a producer-side refusal is exit 1 with the producer message', async () => {
    const r = await segrec(['clip', '--producer', p.url, '--start-pts', '1', '--stop-pts', '1000']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no segments overlap requested window/);
  });
});

test('format: seconds of big PTS exactly (bigint arithmetic), spans of big PTS', () => {
  assert.equal(secs(41_230_000_000), '41.230 s');
  assert.equal(secs(0), '0.000 s');
  assert.equal(secs(1_499_999), '0.001 s');
  assert.equal(secs(1_500_000), '0.002 s');
  assert.equal(secs(-1_500_000), '-0.002 s');
  assert.equal(secs(2n ** 53n + 1n), '9007199.255 s');
  assert.equal(secs(3_155_760_000_999_999_999n), '3155760001.000 s');
  assert.equal(secs(3_155_760_000_000_499_999n), '3155760000.000 s');
  assert.equal(secs(9_223_372_036_854_775_807n), '9223372036.855 s');
  assert.equal(spanNs(3_155_760_000_000_000_123n, 3_155_760_001_500_000_124n), 1_500_000_001);
  assert.equal(spanNs(Number.MAX_SAFE_INTEGER, 2n ** 53n + 2n), 3);
  assert.equal(spanNs(5, 7), 2);
});

test('segrec at 100 years of producer clock (a scripted producer): PTS past 2^53 exact in flags, requests, answers and output', async () => {
  const Y = 3_155_760_000_000_000_123n; // 100 years and an odd ns
  const S = (s: number) => Y + BigInt(s) * 1_000_000_000n;
  const seg = (id: number, start: bigint, stop: bigint) => ({
    id, path: `2125-11-25/${start}.mp4`, start_pts_ns: start, stop_pts_ns: stop, start_epoch_ms: 0, stop_epoch_ms: 0, duration_ms: 0,
    bytes: 1000, frames: 10, fragments: 1, sealed: true, codec: 'h264', width: 320, height: 180, fps: 15, has_audio: false,
  });
  const span = (start: bigint, stop: bigint, segments = 1) => ({ start_pts_ns: start, stop_pts_ns: stop, start_epoch_ms: 1.7e12, stop_epoch_ms: 1.7e12, segments });
  const nowPts = Y + 41_230_000_007n;
  const clip = {
    clip_id: 'clip-0000000000000009', status: 'done', mode: 'pts', label: null, start_pts_ns: Y + 1n, stop_pts_ns: S(1) + 1n,
    start_epoch_ms: null, stop_epoch_ms: null, error: null, created_ms: 1.7e12, updated_ms: 1.7e12, path: '/clips/x.mp4',
    actual_start_pts_ns: Y + 33_333_334n, actual_stop_pts_ns: S(1) + 33_333_334n, lead_in_ms: 0, duration_ms: 1000, frames: 15,
    bytes: 1000, segments: [], gaps: [], partial: false, partial_reason: null,
  };
  const srv = await startScriptedServer((req: RecordedRequest) => {
    if (req.path === '/health') {
      return { body: {
        ok: true, ts_ms: 1.7e12, pts_ns: nowPts,
        timebase: { pts_units: 'ns', pts_per_ms: 1e6, base_epoch_ms: 1.7e12 - 41_230, base_pts_ns: Y },
        ingest: { state: 'running', source: 'testsrc', codec: 'h264', width: 320, height: 180, fps: 15, restarts: 0, last_frame_age_ms: 5, last_error: null, drift_ms: 0 },
        segments: { count: 3, bytes: 3000, oldest_start_pts_ns: S(0), newest_stop_pts_ns: S(30), gaps: 1, open_start_pts_ns: S(30) },
        clips: { queued: 0, running: 0 },
      } };
    }
    if (req.path === '/segments') {
      // Three pages, newest first: the first two touch (0.5 ms apart: one span), the third leaves a 2 s hole.
      const page = req.query.cursor === undefined ? { segs: [seg(3, S(20), S(30))], spans: [span(S(20), S(30))], next: 'c1' }
        : req.query.cursor === 'c1' ? { segs: [seg(2, S(10), S(20) - 500_000n)], spans: [span(S(10), S(20) - 500_000n)], next: 'c2' }
          : { segs: [seg(1, S(0), S(8))], spans: [span(S(0), S(8))], next: null };
      return { body: { ok: true, segments: page.segs, gaps: [], spans: page.spans, truncated: page.next !== null, next_cursor: page.next, window: { from_pts_ns: 0, to_pts_ns: S(30) } } };
    }
    if (req.method === 'POST' && req.path === '/clip') return { status: 202, body: { ok: true, clip_id: clip.clip_id, status: 'queued' } };
    if (req.path === `/clip/${clip.clip_id}`) return { body: { ok: true, clip, message: null } };
    return { status: 404, body: { ok: false, message: 'no such route' } };
  });
  try {
    const c = await segrec(['clip', '--producer', srv.url, '--start-pts', String(Y + 1n), '--stop-pts', String(S(1) + 1n), '--json', '--wait', '5s']);
    assert.equal(c.code, 0, c.stderr);
    const post = srv.requests.filter((r) => r.method === 'POST');
    assert.equal(post[0].rawBody, '{"start_pts_ns":3155760000000000124,"stop_pts_ns":3155760001000000124,"max_wait_ms":5000}');
    assert.match(c.stdout, /"actual_start_pts_ns": 3155760000033333457,/);
    assert.deepEqual(parseWireJson(c.stdout), clip);

    const last = await segrec(['clip', '--producer', srv.url, '--last', '10s', '--no-wait']);
    assert.equal(last.code, 0, last.stderr);
    assert.equal(srv.requests.filter((r) => r.method === 'POST')[1].rawBody,
      `{"start_pts_ns":${nowPts - 10_000_000_000n},"stop_pts_ns":${nowPts},"max_wait_ms":1000}`);

    const h = await segrec(['health', '--producer', srv.url]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /pts 3155760000\.000 s → 3155760030\.000 s/);
    assert.match(h.stdout, /now pts 3155760041230000130 = /);

    const sg = await segrec(['segments', '--producer', srv.url, '--since', '1h', '--json']);
    assert.equal(sg.code, 0, sg.stderr);
    const segsReq = srv.requests.filter((r) => r.path === '/segments');
    assert.equal(segsReq[0].query.from_pts_ns, String(S(30) - 3_600_000_000_000n), 'the window starts exactly 1 h before the newest footage');
    const folded = parseWireJson(sg.stdout) as { spans: unknown[]; gaps: unknown[]; count: number };
    assert.equal(folded.count, 3);
    assert.deepEqual(folded.spans, [span(S(0), S(8)), span(S(10), S(30), 2)], 'the touching spans of two pages are joined');
    assert.deepEqual(folded.gaps, [{ start_pts_ns: S(8), stop_pts_ns: S(10), duration_ms: 2000, reason: 'no footage' }]);
    const human = await segrec(['segments', '--producer', srv.url]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /gap {3}pts 3155760008\.000 s → 3155760010\.000 s +2\.0 s +no footage/);
    assert.match(human.stdout, /2 continuous spans, 1 gaps/);

    const bad = await segrec(['clip', '--producer', srv.url, '--start-pts', '9223372036854775808', '--stop-pts', '9223372036854775809']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--start-pts must be a non-negative integer \(ns, at most 9223372036854775807\)/);
  } finally {
    await srv.close();
  }
});

test('segrec: unreachable producer is exit 3 with what to do; bad usage is exit 2', async () => {
  const r = await segrec(['health', '--producer', 'http://127.0.0.1:9']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /producer not reachable at http:\/\/127\.0\.0\.1:9 .*segrec producer/);
  assert.ok(!/at .*\.ts:\d+/.test(r.stderr), 'no stack trace');
  const u = await segrec(['clip', '--producer', 'http://127.0.0.1:9', '--bogus']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown flag --bogus/);
  const n = await segrec(['frobnicate']);
  assert.equal(n.code, 2);
  const e = await segrec(['clip', '--producer', 'http://127.0.0.1:9', '--start-pts', 'x', '--stop-pts', '5']);
  assert.equal(e.code, 2);
  assert.match(e.stderr, /--start-pts must be a non-negative integer/);
});

test('segrec producer --config: records the file\'s cameras; SIGHUP re-reads it (adds one, keeps the other running); a bad file is exit 2 naming the line', async () => {
  const tmp = tempDir();
  const cfg = join(tmp.dir, 'segrec.yml');
  const yaml = (cams: string[]) => [`data_dir: ${JSON.stringify(join(tmp.dir, 'data'))}`, 'port: 0', 'cameras:',
    ...cams.flatMap((n) => [`  ${n}:`, '    source: testsrc', '    segment_seconds: 1', '    testsrc: { size: 160x96, fps: 10 }'])].join('\n') + '\n';
  writeFileSync(cfg, yaml(['front']));
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'producer', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  try {
    const url = await waitFor('the producer URL', () => /producer running at (http:\/\/\S+) with 1 camera\(s\): front/.exec(stderr)?.[1], 30_000);
    const cams = async () => ((await (await fetch(`${url}/cameras`)).json()) as { cameras: Array<{ name: string; state: string }> }).cameras;
    await waitFor('front records', async () => (await listSegments(`${url}/cameras/front`)).segments.some((s) => s.sealed), 30_000);
    const frontSegs = (await listSegments(`${url}/cameras/front`)).segments.length;
    writeFileSync(cfg, yaml(['front', 'back']));
    child.kill('SIGHUP');
    await waitFor('back records after SIGHUP', async () => (await listSegments(`${url}/cameras/back`).catch(() => ({ segments: [] }))).segments.some((s) => s.sealed), 30_000);
    assert.deepEqual((await cams()).map((c) => [c.name, c.state]), [['front', 'running'], ['back', 'running']]);
    const front = await listSegments(`${url}/cameras/front`);
    assert.ok(front.segments.length > frontSegs && front.gaps.length === 0, 'front kept recording without a gap');
    // A broken file leaves the running configuration as it is.
    writeFileSync(cfg, yaml(['front', 'back']).replace('segment_seconds: 1', 'segment_seconds: nope'));
    child.kill('SIGHUP');
    await waitFor('the reload refusal', () => /SIGHUP: .*segrec\.yml:\d+: cameras\.front\.segment_seconds/.test(stderr), 10_000);
    assert.equal((await cams()).length, 2);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
  }
  const bad = join(tmp.dir, 'bad.yml');
  writeFileSync(bad, 'cameras:\n  front:\n    source: testsrc\n    bogus: 1\n');
  const r = await segrec(['producer', '--config', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yml:4: cameras\.front\.bogus/);
  tmp.cleanup();
});
