// Faults of the source and of ffmpeg, against a real producer: ffmpeg killed, ffmpeg hung (SIGSTOP: the
// stall watchdog must kill and restart it), a source that is unreachable when the producer starts (an
// http URL nothing listens on, then a server appears there), and a source that sends garbage bytes and
// later real video. In every case the producer stays up, /health tells the truth (state, restarts,
// last_error), footage recorded before the fault stays intact, and recording resumes by itself.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeErrors, makeVideo, probeFrames, tempDir } from '../helpers/media.js';
import { getJson, listSegments, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import type { HealthPayload } from '../../src/producer/health.js';
import { faultSeed, Figures, md5File, prng, SourceServer, unusedPort } from './support.js';

type Producer = Awaited<ReturnType<typeof startTestProducer>>;
interface Seen { atMs: number; state: string; restarts: number; lastError: string | null }

const fig = new Figures('ingest');
const tmp = tempDir('segrec-ingest-faults-');
after(() => tmp.cleanup());

async function health(url: string): Promise<HealthPayload> {
  const r = await getJson<HealthPayload>(`${url}/health`);
  assert.equal(r.status, 200, '/health answers');
  return r.body;
}

/** Polls /health every `everyMs` and keeps each change of state (with restarts and last_error). */
function watchHealth(url: string, everyMs = 50): { seen: Seen[]; stop: () => Promise<Seen[]> } {
  const seen: Seen[] = [];
  let stopped = false;
  const sample = async () => {
    try {
      const h = await health(url);
      const last = seen[seen.length - 1];
      if (!last || last.state !== h.ingest.state || last.restarts !== h.ingest.restarts) {
        seen.push({ atMs: Date.now(), state: h.ingest.state, restarts: h.ingest.restarts, lastError: h.ingest.last_error });
      }
    } catch {
      seen.push({ atMs: Date.now(), state: 'HTTP-DOWN', restarts: -1, lastError: null });
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await sample();
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  // One last look after the loop ends, so the final state is always recorded.
  return { seen, stop: async () => { stopped = true; await loop; await sample(); return seen; } };
}

/** Sealed segments and their hashes, to prove later that a fault did not touch them. */
function sealedHashes(dataDir: string, segs: SegmentWire[]): Map<string, string> {
  return new Map(segs.filter((s) => s.sealed).map((s) => [s.path, md5File(join(dataDir, 'segments', s.path))]));
}

async function assertIntactAndDecodable(p: Producer, dataDir: string, hashes: Map<string, string>): Promise<void> {
  const { segments } = await listSegments(p.url);
  for (const [path, sum] of hashes) {
    assert.ok(segments.some((s) => s.path === path && s.sealed), `${path} still indexed`);
    assert.equal(md5File(join(dataDir, 'segments', path)), sum, `${path} byte-identical`);
  }
  for (const s of segments.filter((x) => x.sealed)) {
    const file = join(dataDir, 'segments', s.path);
    assert.equal(await decodeErrors(file), '', `${s.path} decodes cleanly`);
    assert.equal((await probeFrames(file)).length, s.frames, `${s.path}: frames = index`);
  }
  for (let i = 1; i < segments.length; i++) {
    assert.ok(segments[i].start_pts_ns >= segments[i - 1].stop_pts_ns, 'PTS monotonic, never reused');
  }
}

/** Resolves once a fragment newer than `afterPtsNs` is indexed; returns when (Date.now()). */
async function recordingAgain(p: Producer, afterPtsNs: number, what: string, timeoutMs = 30_000): Promise<number> {
  await waitFor(what, async () => (await listSegments(p.url)).segments.some((s) => s.stop_pts_ns > afterPtsNs && s.fragments > 0), timeoutMs, 50);
  return Date.now();
}

test('ffmpeg killed: restarted, the gap recorded, earlier footage intact', async () => {
  const dir = join(tmp.dir, 'killed');
  const p = await startTestProducer(dir, { segmentSeconds: 1 });
  try {
    await waitFor('2 sealed segments', async () => (await listSegments(p.url)).segments.filter((s) => s.sealed).length >= 2);
    const before = (await listSegments(p.url)).segments;
    const hashes = sealedHashes(dir, before);
    const pid = p.producer.ingest.pid!;
    const watch = watchHealth(p.url);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const endBefore = Math.max(...before.map((s) => s.stop_pts_ns));
    const again = await recordingAgain(p, endBefore + 1, 'footage after the kill');
    const seen = await watch.stop();
    const h = await health(p.url);
    assert.equal(h.ingest.state, 'running');
    assert.equal(h.ingest.restarts, 1);
    assert.match(String(h.ingest.last_error), /SIGKILL/);
    assert.ok(seen.some((s) => s.state === 'restarting' || s.state === 'starting'), `states seen: ${seen.map((s) => s.state).join(' → ')}`);
    const { gaps } = await listSegments(p.url);
    assert.ok(gaps.some((g) => /ingest restart/.test(g.reason) && /SIGKILL/.test(g.reason)), 'the restart is a recorded gap, with its reason');
    await assertIntactAndDecodable(p, dir, hashes);
    fig.set('ffmpegKilled', { recordAgainMs: again - killedAt, states: seen.map((s) => s.state).join(' → '), lastError: h.ingest.last_error });
  } finally {
    await p.close();
  }
});

test('ffmpeg hung (SIGSTOP): the stall watchdog kills and restarts it', async () => {
  const dir = join(tmp.dir, 'hung');
  const p = await startTestProducer(dir, { segmentSeconds: 1 });
  try {
    await waitFor('2 sealed segments', async () => (await listSegments(p.url)).segments.filter((s) => s.sealed).length >= 2);
    const before = (await listSegments(p.url)).segments;
    const hashes = sealedHashes(dir, before);
    const pid = p.producer.ingest.pid!;
    const watch = watchHealth(p.url);
    const stoppedAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    const detected = await waitFor('the watchdog to notice the stall', () => p.producer.ingest.pid !== pid ? Date.now() : null, 20_000, 20);
    const endBefore = Math.max(...(await listSegments(p.url)).segments.map((s) => s.stop_pts_ns));
    const again = await recordingAgain(p, endBefore + 1, 'footage after the stall');
    await waitFor('/health running', async () => (await health(p.url)).ingest.state === 'running');
    const seen = await watch.stop();
    const states = seen.map((s) => s.state);
    const firstNotRunning = states.findIndex((s) => s !== 'running');
    assert.ok(firstNotRunning > 0 && ['stalled', 'restarting'].includes(states[firstNotRunning]), `/health went stalled/restarting: ${states.join(' → ')}`);
    assert.equal(states[states.length - 1], 'running', `then running again: ${states.join(' → ')}`);
    assert.ok(!states.includes('HTTP-DOWN'), 'HTTP stayed up');
    const h = await health(p.url);
    assert.equal(h.ingest.restarts, 1);
    assert.match(String(h.ingest.last_error), /stalled/);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the hung ffmpeg is gone (killed, not leaked)');
    const { gaps } = await listSegments(p.url);
    assert.ok(gaps.some((g) => /stalled/.test(g.reason)), 'the stall is a recorded gap, with its reason');
    await assertIntactAndDecodable(p, dir, hashes);
    const notRunningAt = seen[firstNotRunning].atMs;
    fig.set('ffmpegHung', {
      stallDetectedMs: detected - stoppedAt, healthNotRunningAfterMs: notRunningAt - stoppedAt, recordAgainMs: again - stoppedAt,
      recordAgainAfterDetectionMs: again - detected, states: states.join(' → '), lastError: h.ingest.last_error,
    });
  } finally {
    await p.close();
  }
});

/** A 20 s fragmented MP4 like a small camera's stream. */
async function cameraFile(): Promise<Buffer> {
  const path = join(tmp.dir, 'camera.mp4');
  await makeVideo(path, { seconds: 20, fps: 15, gop: 15, width: 320, height: 180, container: 'frag' });
  return readFileSync(path);
}

test('source unreachable at start: the producer stays up, reports it, and records once a server appears there', async () => {
  const dir = join(tmp.dir, 'unreachable');
  const port = await unusedPort();
  const video = await cameraFile();
  const p = await startTestProducer(dir, { source: `http://127.0.0.1:${port}/cam.mp4`, segmentSeconds: 1 });
  const server = new SourceServer(prng(faultSeed()).next);
  try {
    const watch = watchHealth(p.url);
    const down = await waitFor('two failed attempts', async () => {
      const h = await health(p.url);
      return h.ingest.restarts >= 2 ? h : null;
    }, 20_000);
    assert.ok(['starting', 'restarting', 'failed'].includes(down.ingest.state), `state while unreachable: ${down.ingest.state}`);
    assert.match(String(down.ingest.last_error), /refused|Connection|failed/i);
    assert.equal(down.segments.count, 0);
    server.serveFile(video, 20);
    await server.listen(port);
    const upAt = Date.now();
    const again = await recordingAgain(p, -1, 'footage once the source is reachable', 40_000);
    await waitFor('/health running', async () => (await health(p.url)).ingest.state === 'running');
    const seen = await watch.stop();
    assert.ok(!seen.some((s) => s.state === 'HTTP-DOWN'), 'HTTP stayed up');
    await waitFor('a sealed segment', async () => (await listSegments(p.url)).segments.some((s) => s.sealed), 20_000);
    await assertIntactAndDecodable(p, dir, new Map());
    fig.set('sourceUnreachable', {
      failedAttemptsBeforeServer: down.ingest.restarts, lastErrorWhileDown: down.ingest.last_error,
      recordAgainAfterSourceUpMs: again - upAt, states: seen.map((s) => s.state).join(' → '),
    });
  } finally {
    await p.close();
    await server.close();
  }
});

test('a source sending garbage: reported, retried with backoff, and recorded once it sends real video', async (t) => {
  const dir = join(tmp.dir, 'garbage');
  const video = await cameraFile();
  const server = new SourceServer(prng(faultSeed() + 1).next);
  const port = await server.listen(0);
  const p = await startTestProducer(dir, { source: `http://127.0.0.1:${port}/cam.mp4`, segmentSeconds: 1 });
  try {
    const watch = watchHealth(p.url);
    const bad = await waitFor('two failed attempts on garbage', async () => {
      const h = await health(p.url);
      return h.ingest.restarts >= 2 ? h : null;
    }, 20_000);
    assert.ok(['starting', 'restarting', 'failed'].includes(bad.ingest.state), `state on garbage: ${bad.ingest.state}`);
    assert.ok(bad.ingest.last_error, 'last_error says why');
    assert.match(bad.ingest.last_error, /invalid data|could not find|unusable|no video|error/i);
    assert.equal(bad.segments.count, 0, 'nothing recorded from garbage');
    const switchedAt = Date.now();
    server.serveFile(video, 20);
    const again = await recordingAgain(p, -1, 'footage once the source sends video', 40_000);
    await waitFor('/health running', async () => (await health(p.url)).ingest.state === 'running');
    const seen = await watch.stop();
    assert.ok(!seen.some((s) => s.state === 'HTTP-DOWN'), 'HTTP stayed up');
    await waitFor('a sealed segment', async () => (await listSegments(p.url)).segments.some((s) => s.sealed), 20_000);
    await assertIntactAndDecodable(p, dir, new Map());
    fig.set('garbageSource', {
      requestsWhileGarbage: bad.ingest.restarts, lastErrorOnGarbage: bad.ingest.last_error, recordAgainAfterRealVideoMs: again - switchedAt,
      states: seen.map((s) => s.state).join(' → '),
    });
  } finally {
    await p.close();
    await server.close();
  }
  fig.report(t);
});
