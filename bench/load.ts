// Load benchmark (issue 6): 200 clip requests kept in flight plus 1,000 status polls a second for a
// minute against one recording producer (a separate process, so its RSS is its own). Checks that every
// job finishes correctly (status done, frame count = the window's, file size = bytes) and that recording
// loses no fragment (no new gap, no restart, no dropped fragment, recorded frames = elapsed × fps).
// Prints throughput, latency percentiles and peak RSS.
//   npm run build && npx tsx bench/load.ts [--seconds 60] [--inflight 200] [--polls 1000]
import { spawn } from 'node:child_process';
import { rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { builtSegrec, quantile, rssKiB } from './lib.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const seconds = arg('--seconds', 60);
const inflight = arg('--inflight', 200);
const pollsPerSec = arg('--polls', 1000);
const FPS = 15;


const dir = join(process.cwd(), '.tmp', 'bench-load');
rmSync(dir, { recursive: true, force: true });
const child = spawn(process.execPath, [...builtSegrec(), 'producer', '--data-dir', dir, '--port', '0',
  '--segment-seconds', '2', '--testsrc-size', '640x360', '--testsrc-fps', String(FPS), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /producer running at (\S+)/.exec(out);
    if (m) resolve(m[1]);
  });
  child.once('exit', (c) => reject(new Error(`producer exited ${c}: ${out}`)));
});

interface Health { ingest: { restarts: number; state: string }; segments: { gaps: number; newest_stop_pts_ns: number; oldest_start_pts_ns: number } }
const health = async () => (await (await fetch(`${url}/health`)).json()) as Health;
/** A counter summed over its samples (one per camera, labelled); NaN when the producer does not export it. */
const metric = async (name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0);
};

console.log(`load: producer ${url}, warming up (12 s of footage)…`);
for (;;) {
  const h = await health();
  if (h.segments.newest_stop_pts_ns !== null && h.segments.newest_stop_pts_ns - h.segments.oldest_start_pts_ns > 12e9) break;
  await new Promise((r) => setTimeout(r, 500));
}
const before = await health();
const framesBefore = await metric('segrec_ingest_fragments_total');
const t0 = Date.now();
const deadline = t0 + seconds * 1000;
let peakRss = 0;
const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, rssKiB(child.pid!)); }, 250);

const clipLatency: number[] = [];
const pollLatency: number[] = [];
const ids: string[] = [];
let done = 0;
let wrong = 0;
let failed = 0;
let polls = 0;
let pollErrors = 0;
const failures: string[] = [];

async function clipWorker(): Promise<void> {
  while (Date.now() < deadline) {
    const h = await health();
    const lo = h.segments.oldest_start_pts_ns + 1e9;
    const hi = h.segments.newest_stop_pts_ns - 3e9;
    // A 2 s window starting mid-frame, so exactly 30 frames at 15 fps lie in it.
    const start = Math.round(lo + Math.random() * (hi - lo));
    const stop = start + 2e9;
    const t = performance.now();
    try {
      const r = await fetch(`${url}/clip`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ start_pts_ns: start, stop_pts_ns: stop }) });
      const j = (await r.json()) as { clip_id?: string; message?: string };
      if (r.status !== 202 || !j.clip_id) throw new Error(`POST ${r.status}: ${j.message}`);
      ids.push(j.clip_id);
      let clip: { status: string; frames: number; bytes: number; path: string; error: string | null } | undefined;
      while (!clip || (clip.status !== 'done' && clip.status !== 'error')) {
        const g = await fetch(`${url}/clip/${j.clip_id}?wait_ms=10000`);
        clip = ((await g.json()) as { clip: typeof clip }).clip;
      }
      clipLatency.push(performance.now() - t);
      if (clip.status !== 'done') throw new Error(`job error: ${clip.error}`);
      const size = statSync(clip.path).size;
      if (Math.abs(clip.frames - 2 * FPS) > 1 || size !== clip.bytes) {
        wrong++;
        failures.push(`${j.clip_id}: frames ${clip.frames}, size ${size} vs ${clip.bytes}`);
      } else {
        done++;
      }
      unlinkSync(clip.path);
      unlinkSync(clip.path.replace(/\.mp4$/, '.json'));
    } catch (e) {
      failed++;
      if (failures.length < 10) failures.push((e as Error).message);
    }
  }
}

async function poller(): Promise<void> {
  // Paced against elapsed time (not per timer tick), so timer jitter does not lower the rate.
  const startedAt = Date.now();
  while (Date.now() < deadline) {
    const due = Math.floor(((Date.now() - startedAt) / 1000) * pollsPerSec);
    while (polls < due && ids.length > 0) {
      const id = ids[Math.floor(Math.random() * ids.length)];
      const t = performance.now();
      polls++;
      fetch(`${url}/clip/${id}`).then(async (r) => {
        await r.arrayBuffer();
        if (r.status !== 200) pollErrors++;
        pollLatency.push(performance.now() - t);
      }, () => { pollErrors++; });
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

await Promise.all([...Array.from({ length: inflight }, () => clipWorker()), poller()]);
const wall = (Date.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 1500));
clearInterval(rssTimer);
const after = await health();
const framesAfter = await metric('segrec_ingest_fragments_total');
const dropped = await metric('segrec_ingest_fragments_dropped_total');
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));

console.log(`${wall.toFixed(0)} s with ${inflight} clip requests in flight and ${pollsPerSec} status polls/s (target):`);
console.log(`  clips: ${done} correct, ${wrong} wrong, ${failed} failed; throughput ${(done / wall).toFixed(1)} clips/s`);
console.log(`  clip latency (POST → done): p50 ${quantile(clipLatency, 0.5).toFixed(0)} ms, p90 ${quantile(clipLatency, 0.9).toFixed(0)} ms, p99 ${quantile(clipLatency, 0.99).toFixed(0)} ms, max ${quantile(clipLatency, 1).toFixed(0)} ms`);
console.log(`  status polls: ${(polls / wall).toFixed(0)}/s achieved, ${pollErrors} errors; latency p50 ${quantile(pollLatency, 0.5).toFixed(1)} ms, p99 ${quantile(pollLatency, 0.99).toFixed(1)} ms`);
console.log(`  recording: fragments ${framesAfter - framesBefore} in ${wall.toFixed(1)} s (1 per s expected), dropped ${dropped}, new gaps ${after.segments.gaps - before.segments.gaps}, restarts ${after.ingest.restarts - before.ingest.restarts}`);
console.log(`  producer peak RSS ${(peakRss / 1024).toFixed(1)} MiB`);
if (failures.length) console.log(`  first failures: ${failures.slice(0, 5).join(' | ')}`);
