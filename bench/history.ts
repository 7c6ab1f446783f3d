// Years-of-footage benchmark (issue 11): memory, start-up and every answer should not depend on how much
// history a producer's data directory holds. For each size, a data directory of N days of continuous 10 s
// segments is generated the producer's way (test/helpers/history.ts: real fMP4 segment files, hard-linked,
// indexed by the producer's own schema; cached in .scratch/history/<days>d and put back as generated after
// each run), then the real producer is started on it as a separate process (`segrec producer --source
// testsrc`, recording on after the history) and measured:
// - start: spawn → the first /health answer; spawn → recording resumed (/health's newest footage past the
//   history's end: a new fragment indexed);
// - memory: RSS at recording resumed, RSS after the use period, and the peak (VmHWM);
// - a use period (--use-seconds, default 60) of a light request mix, once a second: /health, /metrics,
//   /cameras, /segments (default query), /segments of the last 60 s, /clips — median latencies; and 10 s
//   clips 20 days before the newest footage (the middle of shorter histories) over HTTP (POST /clip, then
//   GET /clip/{id}?wait_ms=), each checked to hold 150 frames;
// - a hammer (--hammer-seconds, default 30; 0 = off): /segments, /clips and POST /clip (10 s windows all
//   over the history) hammered concurrently while recording, with /health probed every 200 ms: fragments
//   written against the elapsed time, new gaps, ffmpeg restarts;
// - ffmpeg restarts over the whole run (/health ingest.restarts).
// Every measurement has a timeout; a producer that dies (e.g. out of memory) is reported as dead in the
// table and the bench goes on; the child (and its ffmpeg) is always killed.
//   npm run build && npx tsx bench/history.ts [--days 1,30,365] [--jobs-row 1:1000000] [--cameras N]
//     [--use-seconds 60] [--hammer-seconds 30] [--hammer-concurrency 4] [--clips 3] [--start-timeout 600]
//     [--request-timeout 30] [--fresh] [--tsx | --cli PATH] [--node-options "--max-old-space-size=…"]
// A size is D (days) or D:J (days and J finished clip jobs, e.g. 1:1000000 for "1 day + 1M jobs").
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { childPids, median } from './lib.js';
import { buildHistory, readHistory, resetHistory, type HistoryResult } from '../test/helpers/history.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const has = (name: string) => process.argv.includes(name);
interface Size { days: number; jobs: number; label: string }
const parseSize = (s: string): Size => {
  const [d, j] = s.split(':').map(Number);
  if (!(d > 0) || (j !== undefined && !(Number.isInteger(j) && j >= 0))) throw new Error(`bad size ${s}: D or D:J`);
  const jobs = j ?? 0;
  return { days: d, jobs, label: `${d} d${jobs ? ` + ${jobs >= 1e6 ? `${jobs / 1e6}M` : jobs >= 1e3 ? `${jobs / 1e3}k` : jobs} jobs` : ''}` };
};
const sizes = [...(arg('--days') ?? '1,30').split(','), ...(arg('--jobs-row') ? [arg('--jobs-row')!] : [])].map(parseSize);
const cameras = Number(arg('--cameras') ?? 1);
const useSeconds = Number(arg('--use-seconds') ?? 60);
const hammerSeconds = Number(arg('--hammer-seconds') ?? 30);
const hammerConcurrency = Number(arg('--hammer-concurrency') ?? 4);
const clipCount = Number(arg('--clips') ?? 3);
const startTimeoutMs = Number(arg('--start-timeout') ?? 600) * 1000;
const requestTimeoutMs = Number(arg('--request-timeout') ?? 30) * 1000;
const fresh = has('--fresh');
const useTsx = has('--tsx');
const nodeOptions = arg('--node-options');
if (!(Number.isInteger(cameras) && cameras >= 1) || !(useSeconds >= 0) || !(hammerSeconds >= 0) || !(hammerConcurrency >= 1) || !(clipCount >= 0)) {
  throw new Error('usage: npx tsx bench/history.ts [--days 1,30,365] [--jobs-row D:J] [--cameras N] [--use-seconds 60] [--hammer-seconds 30] ' +
    '[--hammer-concurrency 4] [--clips 3] [--start-timeout 600] [--request-timeout 30] [--fresh] [--tsx | --cli PATH] [--node-options OPTS]');
}

const SEGMENT_S = 10;
const FRAGMENTS_PER_S = 1; // the producer's testsrc: a keyframe (and fragment) every second
const CLIP_FRAMES = 150; // 10 s at 15 fps
const DAY_NS = 86_400e9;
const cwd = process.cwd();
const root = join(cwd, '.scratch', 'history');
const cliPath = resolve(arg('--cli') ?? join(cwd, 'dist', 'cli', 'main.js'));
const cli = useTsx ? ['--import', 'tsx', join(cwd, 'src', 'cli', 'main.ts')] : [cliPath];
const camName = (i: number) => `cam${String(i + 1).padStart(2, '0')}`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const MiB = (kib: number) => kib / 1024;

/** Warns when dist/ is older than a source file (the producer runs what is built). */
function staleDist(): string | null {
  if (useTsx) return null;
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build (or pass --tsx)`);
  const built = statSync(cliPath).mtimeMs;
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const newer = walk(join(cwd, 'src')).filter((f) => statSync(f).mtimeMs > built);
  return newer.length ? `warning: ${cliPath.slice(cwd.length + 1)} is older than ${newer.length} file(s) of src/ (e.g. ${newer[0].slice(cwd.length + 1)}): run npm run build` : null;
}

// ---- the generated data directories ---------------------------------------------------------------------

interface Prepared { dir: string; cams: Array<{ name: string; dataDir: string; history: HistoryResult }>; generatedS: number | null }

const sizeDir = (s: Size) => join(root, `${s.days}d${s.jobs ? `-${s.jobs}j` : ''}${cameras > 1 ? `-${cameras}cams` : ''}`);

async function prepare(s: Size): Promise<Prepared> {
  const dir = sizeDir(s);
  const camDirs = cameras === 1 ? [{ name: 'default', dataDir: dir }] : Array.from({ length: cameras }, (_, i) => ({ name: camName(i), dataDir: join(dir, 'cameras', camName(i)) }));
  const reusable = !fresh && camDirs.every((c) => {
    const h = readHistory(c.dataDir);
    return h !== null && h.jobs === s.jobs && Math.round((h.segments * h.segmentSeconds) / 86_400 * 1000) === Math.round(s.days * 1000) && resetHistory(c.dataDir);
  });
  let generatedS: number | null = null;
  if (!reusable) {
    rmSync(dir, { recursive: true, force: true });
    const t = performance.now();
    for (const c of camDirs) {
      await buildHistory({ dataDir: c.dataDir, days: s.days, jobs: s.jobs, log: (l) => console.log(`  ${c.name}: ${l}`) });
    }
    generatedS = (performance.now() - t) / 1000;
  }
  return { dir, cams: camDirs.map((c) => ({ ...c, history: readHistory(c.dataDir)! })), generatedS };
}

/**
 * Disk used by a generated directory: the real files (source pieces, index, anything but segments/) and
 * the segments/ day directories themselves; the segment files are hard links to the pieces (counted once).
 */
function duBytes(dir: string): number {
  const blocks = (p: string) => statSync(p).blocks * 512;
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && e.name === 'segments') {
        n += blocks(p);
        for (const day of readdirSync(p)) n += blocks(join(p, day));
      } else if (e.isDirectory()) {
        walk(p);
      } else {
        n += blocks(p);
      }
    }
  };
  walk(dir);
  return n;
}

// ---- the producer process ------------------------------------------------------------------------------

interface Proc {
  child: ChildProcess; pid: number; url: string; spawnedAt: number; stderrTail: string[]; stderrLines: number;
  exit: { code: number | null; signal: string | null; atMs: number } | null; ffmpegPids: Set<number>;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

const live = new Set<Proc>();
function killAll(): void {
  for (const p of live) {
    try { p.child.kill('SIGKILL'); } catch { /* gone */ }
    for (const f of p.ffmpegPids) { try { process.kill(f, 'SIGKILL'); } catch { /* gone */ } }
  }
}
process.once('SIGINT', () => { killAll(); process.exit(130); });
process.once('exit', killAll);

async function spawnProducer(p: Prepared): Promise<Proc> {
  const port = await freePort();
  let args: string[];
  if (cameras === 1) {
    args = ['producer', '--source', 'testsrc', '--data-dir', p.dir, '--port', String(port), '--segment-seconds', String(SEGMENT_S),
      '--log-level', 'warn', '--testsrc-size', '640x360'];
  } else {
    const yaml = [`data_dir: ${JSON.stringify(p.dir)}`, `port: ${port}`, 'log_level: warn', 'cameras:',
      ...p.cams.map((c) => `  ${c.name}:\n    source: testsrc\n    segment_seconds: ${SEGMENT_S}\n    testsrc: { width: 640, height: 360 }`)].join('\n') + '\n';
    const config = join(p.dir, 'segrec.yml');
    writeFileSync(config, yaml);
    args = ['producer', '--config', config];
  }
  const env = { ...process.env, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) };
  const child = spawn(process.execPath, [...cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const proc: Proc = { child, pid: child.pid!, url: `http://127.0.0.1:${port}`, spawnedAt: performance.now(), stderrTail: [], stderrLines: 0, exit: null, ffmpegPids: new Set() };
  live.add(proc);
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      proc.stderrLines++;
      proc.stderrTail.push(line.slice(0, 400));
      if (proc.stderrTail.length > 40) proc.stderrTail.shift();
    }
  });
  child.once('exit', (code, signal) => {
    proc.exit = { code, signal, atMs: performance.now() };
    live.delete(proc);
  });
  return proc;
}

const dead = (p: Proc) => p.exit !== null;

function deathNote(p: Proc): string {
  if (!p.exit) return 'alive';
  const oom = p.stderrTail.some((l) => /heap out of memory|Allocation failed|ENOMEM|out of memory/i.test(l));
  return `${oom ? 'OUT OF MEMORY, ' : ''}exited ${p.exit.signal ?? p.exit.code} after ${((p.exit.atMs - p.spawnedAt) / 1000).toFixed(1)} s`;
}

function noteFfmpeg(p: Proc): void {
  for (const c of childPids(p.pid)) {
    try { if (readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'ffmpeg') p.ffmpegPids.add(c); } catch { /* gone */ }
  }
}

function memKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

async function stopProducer(p: Proc): Promise<number> {
  noteFfmpeg(p);
  const t = performance.now();
  if (!dead(p)) {
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
  }
  const ms = performance.now() - t;
  await sleep(500);
  // Its ffmpeg ends on the broken pipe; make sure.
  for (const f of p.ffmpegPids) {
    try {
      if (readFileSync(`/proc/${f}/comm`, 'utf8').trim() === 'ffmpeg') process.kill(f, 'SIGKILL');
    } catch { /* gone */ }
  }
  return ms;
}

// ---- HTTP ----------------------------------------------------------------------------------------------

interface Timed<T> { ms: number; status: number; body: T | null; bytes: number; error: string | null }

async function timed<T>(url: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<Timed<T>> {
  const t = performance.now();
  try {
    const r = await fetch(url, {
      method: init.method ?? 'GET', body: init.body === undefined ? undefined : JSON.stringify(init.body),
      headers: init.body === undefined ? undefined : { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(init.timeoutMs ?? requestTimeoutMs),
    });
    const text = await r.text();
    const ms = performance.now() - t;
    let body: T | null = null;
    try { body = JSON.parse(text) as T; } catch { /* /metrics is text */ }
    return { ms, status: r.status, body: body ?? (text as unknown as T), bytes: text.length, error: r.status >= 400 ? `HTTP ${r.status}` : null };
  } catch (e) {
    const err = e as Error;
    return { ms: performance.now() - t, status: 0, body: null, bytes: 0, error: err.name === 'TimeoutError' ? 'timeout' : (err.cause as Error)?.message ?? err.message };
  }
}

interface Health {
  pts_ns: number;
  ingest: { state: string; restarts: number };
  segments: { count: number; gaps: number; newest_stop_pts_ns: number | null; oldest_start_pts_ns: number | null };
}

// ---- one size ------------------------------------------------------------------------------------------

interface Lat { ok: number[]; errors: string[]; bytes: number[] }
const newLat = (): Lat => ({ ok: [], errors: [], bytes: [] });
const note = (l: Lat, r: Timed<unknown>) => {
  if (r.error) l.errors.push(r.error);
  else { l.ok.push(r.ms); l.bytes.push(r.bytes); }
};

interface Result {
  size: Size; prepared: Prepared; indexBytes: number; diskBytes: number;
  startHealthS: number | null; startRecordingS: number | null; startError: string | null;
  rssStartMiB: number; rssLaterMiB: number; peakMiB: number;
  lat: Record<'health' | 'metrics' | 'cameras' | 'segments' | 'segmentsSmall' | 'clips', Lat>;
  segmentsDefaultCount: number | null;
  clips: Array<{ ms: number; ok: boolean; note: string | null }>;
  clipAtDaysAgo: number;
  hammer: null | {
    seconds: number; requests: Record<string, Lat>; healthProbe: Lat; fragments: number; expected: number; dropped: number;
    newGaps: number; windowGaps: number; restarts: number;
  };
  restarts: number | null; gaps: number | null; shutdownS: number | null; death: string; stderrLines: number; stderrTail: string[];
}

async function oneClip(base: string, startNs: number, timeoutMs: number): Promise<{ ms: number; ok: boolean; note: string | null }> {
  const t = performance.now();
  const post = await timed<{ clip_id?: string; message?: string }>(`${base}/clip`, { method: 'POST', body: { start_pts_ns: startNs, stop_pts_ns: startNs + 10e9 } });
  if (post.status !== 202 || !post.body?.clip_id) return { ms: NaN, ok: false, note: `POST ${post.status || post.error}: ${post.body?.message ?? ''}` };
  const deadline = t + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return { ms: performance.now() - t, ok: false, note: 'timeout' };
    const g = await timed<{ clip?: { status: string; frames: number | null; error: string | null } }>(
      `${base}/clip/${post.body.clip_id}?wait_ms=${Math.max(1, Math.min(10_000, Math.round(left)))}`, { timeoutMs: Math.round(left) + 5000 });
    const c = g.body?.clip;
    if (!c) return { ms: performance.now() - t, ok: false, note: `GET ${g.status || g.error}` };
    if (c.status === 'done' || c.status === 'error') {
      const ms = performance.now() - t;
      if (c.status !== 'done') return { ms, ok: false, note: `error: ${c.error}` };
      if (c.frames !== CLIP_FRAMES) return { ms, ok: false, note: `${c.frames} frames, ${CLIP_FRAMES} expected` };
      return { ms, ok: true, note: null };
    }
  }
}

const metric = (text: string, name: string) => {
  let sum = 0;
  let found = false;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) { sum += Number(m[1]); found = true; }
  return found ? sum : NaN;
};

async function measure(size: Size, prepared: Prepared): Promise<Result> {
  const h0 = prepared.cams[0].history;
  const histStop = Number(h0.stopPtsNs);
  const histStart = Number(h0.startPtsNs);
  const res: Result = {
    size, prepared, indexBytes: prepared.cams.reduce((a, c) => a + statSync(join(c.dataDir, 'index.sqlite')).size, 0), diskBytes: duBytes(prepared.dir),
    startHealthS: null, startRecordingS: null, startError: null, rssStartMiB: NaN, rssLaterMiB: NaN, peakMiB: NaN,
    lat: { health: newLat(), metrics: newLat(), cameras: newLat(), segments: newLat(), segmentsSmall: newLat(), clips: newLat() },
    segmentsDefaultCount: null, clips: [], clipAtDaysAgo: 0, hammer: null, restarts: null, gaps: null, shutdownS: null, death: 'alive',
    stderrLines: 0, stderrTail: [],
  };
  const p = await spawnProducer(prepared);
  const cam = cameras === 1 ? p.url : `${p.url}/cameras/${prepared.cams[0].name}`;
  let lastHealth: Health | null = null;
  const sampler = setInterval(() => noteFfmpeg(p), 2000);
  try {
    // Start: spawn → /health, spawn → a fragment recorded after the history.
    const deadline = p.spawnedAt + startTimeoutMs;
    while (!dead(p) && performance.now() < deadline) {
      const r = await timed<Health>(`${cam}/health`, { timeoutMs: 5000 });
      if (r.status === 200 && r.body) { res.startHealthS = (performance.now() - p.spawnedAt) / 1000; lastHealth = r.body; break; }
      await sleep(50);
    }
    if (res.startHealthS === null) throw new Error(dead(p) ? `died before /health: ${deathNote(p)}` : `no /health in ${startTimeoutMs / 1000} s`);
    console.log(`  /health after ${res.startHealthS.toFixed(2)} s (RSS ${MiB(memKiB(p.pid, 'VmRSS')).toFixed(0)} MiB, peak ${MiB(memKiB(p.pid, 'VmHWM')).toFixed(0)} MiB)`);
    while (!dead(p) && performance.now() < deadline) {
      const r = await timed<Health>(`${cam}/health`, { timeoutMs: 10_000 });
      if (r.body && r.status === 200) {
        lastHealth = r.body;
        if ((r.body.segments.newest_stop_pts_ns ?? 0) > histStop) { res.startRecordingS = (performance.now() - p.spawnedAt) / 1000; break; }
      }
      await sleep(100);
    }
    if (res.startRecordingS === null) throw new Error(dead(p) ? `died before recording: ${deathNote(p)}` : `not recording after ${startTimeoutMs / 1000} s (ingest ${lastHealth?.ingest.state})`);
    res.rssStartMiB = MiB(memKiB(p.pid, 'VmRSS'));
    console.log(`  recording after ${res.startRecordingS.toFixed(2)} s (RSS ${res.rssStartMiB.toFixed(0)} MiB)`);

    // Clips: 20 days before the newest footage, or the middle of a shorter history.
    const spanNs = histStop - histStart;
    const target = spanNs > 21 * DAY_NS ? histStop - 20 * DAY_NS : histStart + spanNs / 2;
    res.clipAtDaysAgo = (histStop - target) / DAY_NS;
    for (let k = 0; k < clipCount && !dead(p); k++) {
      const start = Math.round(target + k * 37e9 + 3.5 * (1e9 / 15));
      res.clips.push(await oneClip(cam, start, requestTimeoutMs * 2).catch((e: Error) => ({ ms: NaN, ok: false, note: e.message })));
    }

    // The use period: a light request mix once a second.
    const useEnd = performance.now() + useSeconds * 1000;
    for (let i = 0; performance.now() < useEnd && !dead(p); i++) {
      const tick = performance.now();
      const hr = await timed<Health>(`${cam}/health`);
      note(res.lat.health, hr);
      if (hr.body && hr.status === 200) lastHealth = hr.body;
      note(res.lat.metrics, await timed(`${p.url}/metrics`));
      note(res.lat.cameras, await timed(`${p.url}/cameras`));
      // The default query is the expensive one on a big index: every 5th second.
      if (i % 5 === 0) {
        const s = await timed<{ segments?: unknown[] }>(`${cam}/segments`);
        note(res.lat.segments, s);
        if (s.body?.segments) res.segmentsDefaultCount = s.body.segments.length;
      }
      const newest = lastHealth?.segments.newest_stop_pts_ns ?? histStop;
      note(res.lat.segmentsSmall, await timed(`${cam}/segments?from_pts_ns=${Math.max(0, newest - 60e9)}&to_pts_ns=${newest}`));
      note(res.lat.clips, await timed(`${cam}/clips`));
      await sleep(tick + 1000 - performance.now());
    }
    if (!dead(p)) res.rssLaterMiB = MiB(memKiB(p.pid, 'VmRSS'));

    if (hammerSeconds > 0 && !dead(p)) res.hammer = await hammer(p, cam, histStart, histStop);
    if (!dead(p)) {
      const hr = await timed<Health>(`${cam}/health`);
      if (hr.body && hr.status === 200) { res.restarts = hr.body.ingest.restarts; res.gaps = hr.body.segments.gaps; }
      res.peakMiB = MiB(memKiB(p.pid, 'VmHWM'));
      if (Number.isNaN(res.rssLaterMiB)) res.rssLaterMiB = MiB(memKiB(p.pid, 'VmRSS'));
    }
  } catch (e) {
    res.startError = (e as Error).message;
    console.log(`  ${res.startError}`);
  } finally {
    clearInterval(sampler);
    if (!dead(p) && Number.isNaN(res.peakMiB)) res.peakMiB = MiB(memKiB(p.pid, 'VmHWM'));
    res.death = deathNote(p);
    const wasDead = dead(p);
    const shutdownMs = await stopProducer(p);
    res.shutdownS = wasDead ? null : shutdownMs / 1000;
    res.stderrLines = p.stderrLines;
    res.stderrTail = p.stderrTail;
  }
  return res;
}

async function hammer(p: Proc, cam: string, histStart: number, histStop: number): Promise<NonNullable<Result['hammer']>> {
  const snap = async () => {
    const m = await timed<string>(`${p.url}/metrics`);
    const h = await timed<Health>(`${cam}/health`);
    const text = typeof m.body === 'string' ? m.body : '';
    return {
      at: performance.now(), fragments: metric(text, 'segrec_ingest_fragments_total'), dropped: metric(text, 'segrec_ingest_fragments_dropped_total'),
      restarts: h.body?.ingest.restarts ?? NaN, gaps: h.body?.segments.gaps ?? NaN, pts: h.body?.pts_ns ?? NaN,
    };
  };
  const before = await snap();
  const requests: Record<string, Lat> = { segments: newLat(), clips: newLat(), clip: newLat() };
  const healthProbe = newLat();
  const end = performance.now() + hammerSeconds * 1000;
  const kinds = ['segments', 'clips', 'clip'] as const;
  const loops = Array.from({ length: hammerConcurrency }, async (_, w) => {
    for (let i = w; performance.now() < end && !dead(p); i++) {
      const kind = kinds[i % kinds.length];
      if (kind === 'segments') note(requests.segments, await timed(`${cam}/segments`));
      else if (kind === 'clips') note(requests.clips, await timed(`${cam}/clips`));
      else {
        const start = Math.round(histStart + Math.random() * (histStop - histStart - 11e9));
        const c = await oneClip(cam, start, requestTimeoutMs);
        if (c.ok) requests.clip.ok.push(c.ms);
        else requests.clip.errors.push(c.note ?? 'failed');
      }
    }
  });
  const probe = (async () => {
    while (performance.now() < end && !dead(p)) {
      const t = performance.now();
      note(healthProbe, await timed(`${cam}/health`));
      await sleep(t + 200 - performance.now());
    }
  })();
  await Promise.all([...loops, probe]);
  const after = dead(p) ? before : await snap();
  const seconds = (after.at - before.at) / 1000;
  let windowGaps = 0;
  if (!dead(p) && Number.isFinite(before.pts)) {
    const s = await timed<{ gaps?: unknown[] }>(`${cam}/segments?from_pts_ns=${Math.round(before.pts)}&to_pts_ns=${Math.round(after.pts) + 60e9}`);
    windowGaps = s.body?.gaps?.length ?? NaN;
  }
  return {
    seconds, requests, healthProbe, fragments: after.fragments - before.fragments, expected: Math.floor(seconds * FRAGMENTS_PER_S * cameras),
    dropped: after.dropped - before.dropped, newGaps: after.gaps - before.gaps, windowGaps, restarts: after.restarts - before.restarts,
  };
}

// ---- report --------------------------------------------------------------------------------------------

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const ms = (l: Lat) => {
  if (l.ok.length === 0) return l.errors.length ? `✗ ${l.errors[0]}` : '—';
  const m = median(l.ok);
  const s = m < 10 ? m.toFixed(2) : m < 1000 ? m.toFixed(1) : m.toFixed(0);
  return `${s} ms${l.errors.length ? ` (${l.errors.length} failed: ${l.errors[0]})` : ''}`;
};
const big = (n: number) => n.toLocaleString('en-US');
const bytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`);
const clipCell = (r: Result) => {
  const ok = r.clips.filter((c) => c.ok).map((c) => c.ms);
  const bad = r.clips.filter((c) => !c.ok);
  if (ok.length === 0) return bad.length ? `✗ ${bad[0].note}` : '—';
  return `${f1(median(ok))} ms${bad.length ? ` (${bad.length} failed: ${bad[0].note})` : ''}`;
};
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

function report(results: Result[]): void {
  const alive = (r: Result) => r.death === 'alive';
  console.log(`\nhistory: ${SEGMENT_S} s segments of 640x360 15 fps H.264 (~0.8 Mbit/s, 10 fragments each), continuous, ending when generated; ` +
    `${cameras} camera(s); producer ${useTsx ? 'src/ through tsx' : cliPath.slice(cwd.length + 1)} recording testsrc 640x360 on after it; ` +
    `use period ${useSeconds} s; hammer ${hammerSeconds} s × ${hammerConcurrency}; page cache warm (the index was just generated or reset)`);
  console.log('');
  console.log(row(['history', 'segments / fragments', 'index size', 'start → /health', 'start → recording', 'RSS after start → later (peak)',
    '/health', '/metrics', '/cameras', '/segments (default)', '/segments 60 s', '/clips', `clip 10 s`, 'restarts']));
  console.log(row(Array(14).fill('---')));
  for (const r of results) {
    const h = r.prepared.cams[0].history;
    const dead = alive(r) ? '' : ` — ${r.death}`;
    const s = (x: number | null) => (x === null ? `✗${dead || ` ${r.startError ?? ''}`}` : `${x.toFixed(2)} s`);
    console.log(row([
      r.size.label + (cameras > 1 ? ` × ${cameras} cams` : ''), `${big(h.segments * cameras)} / ${big(h.fragments * cameras)}`, bytes(r.indexBytes),
      s(r.startHealthS), r.startHealthS === null ? '—' : s(r.startRecordingS),
      `${f1(r.rssStartMiB)} → ${f1(r.rssLaterMiB)} (${f1(r.peakMiB)}) MiB`,
      ms(r.lat.health), ms(r.lat.metrics), ms(r.lat.cameras),
      ms(r.lat.segments) + (r.segmentsDefaultCount !== null ? `, ${big(r.segmentsDefaultCount)} segs, ${bytes(median(r.lat.segments.bytes))}` : ''),
      ms(r.lat.segmentsSmall), ms(r.lat.clips), `${clipCell(r)} (${r.clipAtDaysAgo.toFixed(1)} d ago)`,
      r.restarts === null ? `—${dead}` : String(r.restarts),
    ]));
  }
  const base = results.find((r) => r.size.days === 1 && r.size.jobs === 0) ?? results[0];
  if (base && results.length > 1) {
    console.log(`\nratios to the ${base.size.label} row`);
    console.log(row(['history', 'start → /health', 'start → recording', 'RSS after start', 'RSS later', 'peak RSS', '/health', '/metrics', '/cameras', '/segments', '/segments 60 s', '/clips', 'clip 10 s']));
    console.log(row(Array(13).fill('---')));
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b != null && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
    const med = (l: Lat) => (l.ok.length ? median(l.ok) : null);
    const clipMed = (r: Result) => { const ok = r.clips.filter((c) => c.ok).map((c) => c.ms); return ok.length ? median(ok) : null; };
    for (const r of results) {
      console.log(row([r.size.label, ratio(r.startHealthS, base.startHealthS), ratio(r.startRecordingS, base.startRecordingS),
        ratio(r.rssStartMiB, base.rssStartMiB), ratio(r.rssLaterMiB, base.rssLaterMiB), ratio(r.peakMiB, base.peakMiB),
        ratio(med(r.lat.health), med(base.lat.health)), ratio(med(r.lat.metrics), med(base.lat.metrics)), ratio(med(r.lat.cameras), med(base.lat.cameras)),
        ratio(med(r.lat.segments), med(base.lat.segments)), ratio(med(r.lat.segmentsSmall), med(base.lat.segmentsSmall)),
        ratio(med(r.lat.clips), med(base.lat.clips)), ratio(clipMed(r), clipMed(base))]));
    }
  }
  if (hammerSeconds > 0) {
    console.log(`\nhammer: ${hammerConcurrency} loops of GET /segments (default), GET /clips, POST /clip + GET /clip/{id}?wait_ms= (10 s windows anywhere in the history), /health probed every 200 ms`);
    console.log(row(['history', 'seconds', 'fragments written / expected', 'dropped', 'new gaps', 'gaps in window', 'ffmpeg restarts', '/segments', '/clips', 'clip 10 s', '/health probe (median / max)']));
    console.log(row(Array(11).fill('---')));
    for (const r of results) {
      const hm = r.hammer;
      if (!hm) { console.log(row([r.size.label, `— (${r.death === 'alive' ? r.startError ?? 'not run' : r.death})`, ...Array(9).fill('')])); continue; }
      const n = (l: Lat) => `${ms(l)}, ${l.ok.length} ok`;
      console.log(row([r.size.label, hm.seconds.toFixed(0), `${hm.fragments} / ${hm.expected}`, String(hm.dropped), String(hm.newGaps), String(hm.windowGaps),
        String(hm.restarts), n(hm.requests.segments), n(hm.requests.clips), n(hm.requests.clip),
        hm.healthProbe.ok.length ? `${f1(median(hm.healthProbe.ok))} / ${f1(Math.max(...hm.healthProbe.ok))} ms${hm.healthProbe.errors.length ? ` (${hm.healthProbe.errors.length} failed)` : ''}` : '—']));
    }
  }
  console.log('\nper size');
  for (const r of results) {
    const h = r.prepared.cams[0].history;
    console.log(`  ${r.size.label}: ${r.prepared.generatedS === null ? 'reused' : `generated in ${r.prepared.generatedS.toFixed(1)} s`} ` +
      `(first build ${h.seconds.total.toFixed(1)} s, ${big(Math.round(h.segments / h.seconds.links))} segments/s); on disk ${bytes(r.diskBytes)} ` +
      `(index ${bytes(r.indexBytes)}; the index says ${bytes(h.logicalBytes * cameras)} of footage); producer ${r.death}; ` +
      `shutdown ${r.shutdownS === null ? '—' : `${r.shutdownS.toFixed(1)} s`}; gaps ${r.gaps ?? '—'}; ${r.stderrLines} log lines`);
    if (r.startError) console.log(`    error: ${r.startError}`);
    const clipsBad = r.clips.filter((c) => !c.ok);
    if (clipsBad.length) console.log(`    clips failed: ${clipsBad.map((c) => c.note).join('; ')}`);
    if (r.stderrLines) for (const l of r.stderrTail.slice(-5)) console.log(`    log: ${l.slice(0, 300)}`);
  }
}

// ---- main ----------------------------------------------------------------------------------------------

const stale = staleDist();
if (stale) console.log(stale);
mkdirSync(root, { recursive: true });
const results: Result[] = [];
for (const size of sizes) {
  console.log(`${new Date().toISOString().slice(11, 19)} ${size.label}${cameras > 1 ? ` × ${cameras} cameras` : ''}: preparing ${sizeDir(size).slice(cwd.length + 1)}`);
  const prepared = await prepare(size);
  console.log(`  ${prepared.generatedS === null ? 'reused' : `generated in ${prepared.generatedS.toFixed(1)} s`}; starting the producer`);
  const r = await measure(size, prepared);
  results.push(r);
  for (const c of prepared.cams) {
    if (!resetHistory(c.dataDir)) console.log(`  warning: ${c.dataDir} is not intact after the run; it will be generated again next time`);
  }
  console.log(`  done: ${r.death}`);
  // Kept as each size finishes, so a run cut short still leaves its figures.
  writeFileSync(join(root, 'results.json'), JSON.stringify(results.map((x) => ({ ...x, prepared: { ...x.prepared, cams: x.prepared.cams.map((c) => c.name) } })), null, 1));
}
report(results);
