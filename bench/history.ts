// Years-of-footage benchmark (issue 11): memory, start-up and every answer should not depend on how much
// history a producer's data directory holds. For each size, a data directory of N days of continuous 10 s
// segments is generated the producer's way (test/helpers/history.ts: real fMP4 segment files, hard-linked,
// indexed by the producer's own schema; cached in .scratch/history/<days>d and put back as generated after
// each run), then the real producer is started on it as a separate process (`segrec producer --source
// testsrc`, recording on after the history) and measured:
// - start: spawn → the first /health answer; spawn → recording resumed (/health's newest footage past the
//   history's end: a new fragment indexed);
// - memory: RSS at recording resumed, RSS after the use period, and the peak (VmHWM); where it is after the
//   use period (V8's new and old spaces and external memory from /metrics, malloc's heap from smaps);
// - a use period (--use-seconds, default 60) of a light request mix, once a second: /health, /metrics,
//   /cameras, /segments (default query), /segments of the last 60 s, /clips — median latencies; and 10 s
//   clips 20 days before the newest footage (the middle of shorter histories) over HTTP (POST /clip, then
//   GET /clip/{id}?wait_ms=), each checked to hold 150 frames;
// - a hammer (--hammer-seconds, default 30; 0 = off): /segments, /clips and POST /clip (10 s windows all
//   over the history) hammered concurrently while recording, with /health probed every 200 ms: fragments
//   written against the elapsed time, new gaps, ffmpeg restarts;
// - ffmpeg restarts over the whole run (/health ingest.restarts);
// - the producer's CPU (utime+stime from /proc, its own, not ffmpeg's) over the use period; spawn → the
//   start-up's background check of every row against its file has finished (the producer runs at log level
//   info for its line); then, once it has (waiting up to --check-timeout, default 900 s), the producer's
//   CPU and its ffmpeg's over --idle-seconds (default 60) with no requests: the steady state;
// - the machine's load while each size ran (1-min load average; other processes' CPU from /proc/stat).
// Every measurement has a timeout; a producer that dies (e.g. out of memory) is reported as dead in the
// table and the bench goes on; the child (and its ffmpeg) is always killed.
//   npm run build && npx tsx bench/history.ts [--days 1,30,365] [--jobs-row 1:1000000] [--cameras N]
//     [--use-seconds 60] [--hammer-seconds 30] [--hammer-concurrency 4] [--clips 3] [--start-timeout 600]
//     [--request-timeout 30] [--idle-seconds 60] [--check-timeout 900] [--fresh] [--tsx | --cli PATH]
//     [--node-options "--max-old-space-size=…"] [--side-by-side]
// A size is D (days) or D:J (days and J finished clip jobs, e.g. 1:1000000 for "1 day + 1M jobs"); 0 is an
// empty data directory, the baseline of the ratios when present (else 1 day). --side-by-side runs every
// size's producer at the same time (ratios then free of another run's machine load; the sizes share the
// machine: read latencies against a size run alone).
//
// Retention mode (--purge-to AGE, e.g. 7d; one camera; sizes from --days, default 30): a lowered
// retention limit meeting a long history. The size is generated afresh into .scratch/history/<size>-purge
// (a purged directory cannot be put back, and a hard-linked copy of the cache would pass ext4's 65,000
// links per piece) and removed afterwards; the producer starts on it with --retention-max-age AGE (at its
// default log level, info: its log volume is part of the cost) and is measured:
// - the purge: spawn → done (the oldest segment left is within AGE, give or take a retention interval and
//   a segment), the segment count /health gives then, segments removed (segrec_retention_removed_*) and
//   their rate; GET /health and POST /clip (2 s windows 1–6 days back, kept footage; their outcomes are
//   checked afterwards) every 250 ms, median and max; fragments written against the elapsed time, dropped,
//   new gaps and ffmpeg restarts from recording resumed to done; RSS every 250 ms; producer CPU;
// - the index file (index.sqlite + -wal) before, at done and --purge-after seconds later (default 60), its
//   pages and free pages after the run; free disk (statfs) at the same points (the segment files are hard
//   links to a few pieces, so removing them frees next to nothing: the index shrink and the removal rate
//   are what to read);
// - the steady state afterwards: once the start-up's background check has finished (it logs it; waiting
//   up to --check-timeout), the producer's CPU over --idle-seconds (default 60) with no requests, while
//   retention passes every 5 s and at each seal.
//   npm run build && npx tsx bench/history.ts --purge-to 7d [--days 30] [--purge-after 60] [--idle-seconds 60]
//     [--check-timeout 900] [--purge-timeout 1800] [--keep]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { childPids, cpuMs, median } from './lib.js';
import { buildHistory, readHistory, resetHistory, type HistoryResult } from '../test/helpers/history.js';
import { parseDurationMs } from '../src/common/units.js';
import { shebangNodeFlags } from '../scripts/node-flags.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const has = (name: string) => process.argv.includes(name);
interface Size { days: number; jobs: number; label: string }
const parseSize = (s: string): Size => {
  const [d, j] = s.split(':').map(Number);
  if (!(d >= 0) || (j !== undefined && !(Number.isInteger(j) && j >= 0))) throw new Error(`bad size ${s}: D or D:J`);
  const jobs = j ?? 0;
  if (d === 0) return { days: 0, jobs: 0, label: 'empty' };
  return { days: d, jobs, label: `${d} d${jobs ? ` + ${jobs >= 1e6 ? `${jobs / 1e6}M` : jobs >= 1e3 ? `${jobs / 1e3}k` : jobs} jobs` : ''}` };
};
const purgeTo = arg('--purge-to');
const purgeAgeMs = purgeTo === undefined ? null : parseDurationMs(purgeTo, '--purge-to');
const purgeAfterS = Number(arg('--purge-after') ?? 60);
const idleSeconds = Number(arg('--idle-seconds') ?? 60);
const purgeTimeoutMs = Number(arg('--purge-timeout') ?? 1800) * 1000;
const checkTimeoutMs = Number(arg('--check-timeout') ?? 900) * 1000;
const keepPurged = has('--keep');
const sizes = [...(arg('--days') ?? (purgeTo ? '30' : '1,30')).split(','), ...(arg('--jobs-row') ? [arg('--jobs-row')!] : [])].map(parseSize);
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
const sideBySide = has('--side-by-side');
if (!(Number.isInteger(cameras) && cameras >= 1) || !(useSeconds >= 0) || !(hammerSeconds >= 0) || !(hammerConcurrency >= 1) || !(clipCount >= 0) ||
  !(purgeAfterS >= 0) || !(idleSeconds > 0) || !(purgeTimeoutMs > 0) || !(checkTimeoutMs >= 0) || (purgeTo !== undefined && cameras !== 1)) {
  throw new Error('usage: npx tsx bench/history.ts [--days 1,30,365] [--jobs-row D:J] [--cameras N] [--use-seconds 60] [--hammer-seconds 30] ' +
    '[--hammer-concurrency 4] [--clips 3] [--start-timeout 600] [--request-timeout 30] [--idle-seconds 60] [--check-timeout 900] [--fresh] ' +
    '[--tsx | --cli PATH] [--node-options OPTS] [--side-by-side]\n' +
    '   or: npx tsx bench/history.ts --purge-to 7d [--days 30] [--purge-after 60] [--idle-seconds 60] [--purge-timeout 1800] [--keep] (one camera)');
}

const SEGMENT_S = 10;
const FRAGMENTS_PER_S = 1; // the producer's testsrc: a keyframe (and fragment) every second
const CLIP_FRAMES = 150; // 10 s at 15 fps
const DAY_NS = 86_400e9;
const cwd = process.cwd();
const root = join(cwd, '.scratch', 'history');
const cliPath = resolve(arg('--cli') ?? join(cwd, 'dist', 'cli', 'main.js'));
const cliSource = useTsx ? join(cwd, 'src', 'cli', 'main.ts') : cliPath;
/** The producer runs with the Node flags `segrec` runs with (its first line). */
const cliFlags = shebangNodeFlags(cliSource);
const cli = [...cliFlags, ...(useTsx ? ['--import', 'tsx', cliSource] : [cliPath])];
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

async function prepare(s: Size, o: { dir?: string; fresh?: boolean } = {}): Promise<Prepared> {
  const dir = o.dir ?? sizeDir(s);
  const camDirs = cameras === 1 ? [{ name: 'default', dataDir: dir }] : Array.from({ length: cameras }, (_, i) => ({ name: camName(i), dataDir: join(dir, 'cameras', camName(i)) }));
  if (s.days === 0) {
    // The baseline of the memory target: a data directory with nothing in it.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    return { dir, cams: camDirs.map((c) => ({ ...c, history: emptyHistory(c.dataDir) })), generatedS: null };
  }
  const reusable = !(o.fresh ?? fresh) && camDirs.every((c) => {
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

function emptyHistory(dataDir: string): HistoryResult {
  return {
    dataDir, segments: 0, fragments: 0, frames: 0, jobs: 0, logicalBytes: 0, startPtsNs: '0', stopPtsNs: '0', clockBaseEpochMs: Date.now(),
    startEpochMs: Date.now(), stopEpochMs: Date.now(), segmentSeconds: SEGMENT_S, fragmentSeconds: 1, codec: 'h264', width: 0, height: 0,
    fps: 0, audio: false, sources: 0, schemaVersion: 0, indexBytes: 0, seconds: { sources: 0, index: 0, links: 0, jobs: 0, total: 0 },
  };
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
  child: ChildProcess; pid: number; url: string; spawnedAt: number; stderrTail: string[]; stderrLines: number; stderrBytes: number;
  /** The last 100 lines logged at warn or error (an ffmpeg restart says why), whatever the tail keeps. */
  warnings: string[];
  exit: { code: number | null; signal: string | null; atMs: number } | null; ffmpegPids: Set<number>;
}

interface SpawnOptions {
  /** More producer arguments (one camera). */
  args?: string[];
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Sees every non-empty stderr line. */
  onLine?: (line: string) => void;
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

async function spawnProducer(p: Prepared, o: SpawnOptions = {}): Promise<Proc> {
  const port = await freePort();
  const logLevel = o.logLevel ?? 'warn';
  let args: string[];
  if (cameras === 1) {
    args = ['producer', '--source', 'testsrc', '--data-dir', p.dir, '--port', String(port), '--segment-seconds', String(SEGMENT_S),
      '--log-level', logLevel, '--testsrc-size', '640x360', ...(o.args ?? [])];
  } else {
    if (o.args?.length) throw new Error('producer arguments are for one camera');
    const yaml = [`data_dir: ${JSON.stringify(p.dir)}`, `port: ${port}`, `log_level: ${logLevel}`, 'cameras:',
      ...p.cams.map((c) => `  ${c.name}:\n    source: testsrc\n    segment_seconds: ${SEGMENT_S}\n    testsrc: { size: 640x360 }`)].join('\n') + '\n';
    const config = join(p.dir, 'segrec.yml');
    writeFileSync(config, yaml);
    args = ['producer', '--config', config];
  }
  const env = { ...process.env, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) };
  const child = spawn(process.execPath, [...cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const proc: Proc = {
    child, pid: child.pid!, url: `http://127.0.0.1:${port}`, spawnedAt: performance.now(), stderrTail: [], stderrLines: 0, stderrBytes: 0, warnings: [], exit: null,
    ffmpegPids: new Set(),
  };
  live.add(proc);
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    proc.stderrBytes += d.length;
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      proc.stderrLines++;
      o.onLine?.(line);
      proc.stderrTail.push(line.slice(0, 400));
      if (proc.stderrTail.length > 40) proc.stderrTail.shift();
      if (/^\S+ (WARN|ERROR) /.test(line)) {
        proc.warnings.push(line.slice(0, 400));
        if (proc.warnings.length > 100) proc.warnings.shift();
      }
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

const CLK_TCK = 100;

/** CPU (ms) of the producer's children: those it reaped (cutime+cstime) and the live ones (ffmpeg). */
function childrenCpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    let ms = ((Number(rest[13]) + Number(rest[14])) * 1000) / CLK_TCK;
    for (const c of childPids(pid)) { try { ms += cpuMs(c); } catch { /* gone */ } }
    return ms;
  } catch {
    return NaN;
  }
}

const ownCpuMs = (pid: number) => { try { return cpuMs(pid); } catch { return NaN; } };

/** CPU (ms) all processes of the machine have used (user, nice, system, irq, softirq, steal), from /proc/stat. */
function machineBusyMs(): number {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return ((v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1000) / CLK_TCK;
}

interface Load { seconds: number; loadMean: number; loadMax: number; othersPct: number }

/**
 * The machine's load while a producer is measured: the 1-min load average every 2 s, and the CPU that
 * other processes used (all busy CPU minus the producer, its ffmpeg and this bench), in % of one core.
 */
function watchLoad(pid: number): () => Load {
  const t0 = performance.now();
  const busy0 = machineBusyMs();
  const ours = () => ownCpuMs(pid) + childrenCpuMs(pid);
  const ours0 = ours();
  const bench0 = process.cpuUsage();
  const samples = [loadavg()[0]];
  let oursLast = ours0;
  const timer = setInterval(() => {
    samples.push(loadavg()[0]);
    const o = ours();
    if (Number.isFinite(o)) oursLast = o;
  }, 2000);
  return () => {
    clearInterval(timer);
    samples.push(loadavg()[0]);
    const o = ours();
    if (Number.isFinite(o)) oursLast = o;
    const bench = process.cpuUsage(bench0);
    const ms = performance.now() - t0;
    const others = machineBusyMs() - busy0 - (oursLast - ours0) - (bench.user + bench.system) / 1000;
    return { seconds: ms / 1000, loadMean: samples.reduce((a, b) => a + b, 0) / samples.length, loadMax: Math.max(...samples), othersPct: (100 * Math.max(0, others)) / ms };
  };
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

/** Where a producer's memory is: V8's new and old spaces (size), external memory (/metrics), the malloc heap (smaps). */
async function memoryBreakdown(pid: number, url: string): Promise<string | null> {
  const m = await timed<string>(`${url}/metrics`);
  if (typeof m.body !== 'string') return null;
  const text = m.body;
  const value = (re: RegExp) => { const v = re.exec(text)?.[1]; return v === undefined ? NaN : Number(v) / 2 ** 20; };
  let mallocKiB = NaN;
  try {
    const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
    const at = smaps.indexOf('[heap]');
    if (at >= 0) mallocKiB = Number(/Rss:\s+(\d+) kB/.exec(smaps.slice(at))?.[1]);
  } catch { /* gone */ }
  return `V8 new space ${f1(value(/nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/))} MiB, old ${f1(value(/nodejs_heap_space_size_total_bytes\{space="old"\} (\d+)/))} MiB ` +
    `(${f1(value(/nodejs_heap_space_size_used_bytes\{space="old"\} (\d+)/))} used), external ${f1(value(/nodejs_external_memory_bytes (\d+)/))} MiB, malloc heap ${f1(mallocKiB / 1024)} MiB`;
}

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
  /** V8's heap spaces and external memory after the use period (MiB; /metrics), and the malloc heap ([heap] of smaps). */
  memLater: string | null;
  lat: Record<'health' | 'metrics' | 'cameras' | 'segments' | 'segmentsSmall' | 'clips', Lat>;
  segmentsDefaultCount: number | null;
  clips: Array<{ ms: number; ok: boolean; note: string | null }>;
  clipAtDaysAgo: number;
  hammer: null | {
    seconds: number; requests: Record<string, Lat>; healthProbe: Lat; fragments: number; expected: number; dropped: number;
    newGaps: number; windowGaps: number; restarts: number;
  };
  restarts: number | null; gaps: number | null; shutdownS: number | null; death: string; stderrLines: number; stderrTail: string[]; warnings: string[];
  /** Producer CPU over the use period (% of one core; its own, not ffmpeg's). */
  cpuUsePct: number;
  /** Spawn → every camera's background check of the index against the files finished (its log line), s. */
  checkDoneS: number | null;
  checkLine: string | null;
  /** The use period's /health answers: when (s after spawn) and how long (ms), to tell those during the check. */
  healthAt: Array<[number, number]>;
  /** Producer CPU (and its ffmpeg's) over --idle-seconds with no requests once the background check is over. */
  idle: null | { seconds: number; cpuPct: number; ffmpegPct: number };
  load: Load | null;
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
  // Side by side, each size's lines are told apart by its label.
  const say = (l: string) => console.log(sideBySide ? `  [${size.label}] ${l.trim()}` : l);
  const h0 = prepared.cams[0].history;
  const histStop = Number(h0.stopPtsNs);
  const histStart = Number(h0.startPtsNs);
  const res: Result = {
    size, prepared, indexBytes: prepared.cams.reduce((a, c) => a + (existsSync(join(c.dataDir, 'index.sqlite')) ? statSync(join(c.dataDir, 'index.sqlite')).size : 0), 0), diskBytes: duBytes(prepared.dir),
    startHealthS: null, startRecordingS: null, startError: null, rssStartMiB: NaN, rssLaterMiB: NaN, peakMiB: NaN, memLater: null,
    lat: { health: newLat(), metrics: newLat(), cameras: newLat(), segments: newLat(), segmentsSmall: newLat(), clips: newLat() },
    segmentsDefaultCount: null, clips: [], clipAtDaysAgo: 0, hammer: null, restarts: null, gaps: null, shutdownS: null, death: 'alive',
    stderrLines: 0, stderrTail: [], warnings: [], cpuUsePct: NaN, checkDoneS: null, checkLine: null, healthAt: [], idle: null, load: null,
  };
  let checks = 0;
  const p = await spawnProducer(prepared, {
    // Info: the background check logs when it has finished (nothing else logs at info but a line per sealed segment).
    logLevel: 'info',
    onLine: (l) => {
      if (!l.includes(CHECK_DONE)) return;
      res.checkLine = l;
      if (++checks === cameras) res.checkDoneS = (performance.now() - p.spawnedAt) / 1000;
    },
  });
  const cam = cameras === 1 ? p.url : `${p.url}/cameras/${prepared.cams[0].name}`;
  let lastHealth: Health | null = null;
  const sampler = setInterval(() => noteFfmpeg(p), 2000);
  const load = watchLoad(p.pid);
  try {
    // Start: spawn → /health, spawn → a fragment recorded after the history.
    const deadline = p.spawnedAt + startTimeoutMs;
    while (!dead(p) && performance.now() < deadline) {
      const r = await timed<Health>(`${cam}/health`, { timeoutMs: 5000 });
      if (r.status === 200 && r.body) { res.startHealthS = (performance.now() - p.spawnedAt) / 1000; lastHealth = r.body; break; }
      await sleep(50);
    }
    if (res.startHealthS === null) throw new Error(dead(p) ? `died before /health: ${deathNote(p)}` : `no /health in ${startTimeoutMs / 1000} s`);
    say(`  /health after ${res.startHealthS.toFixed(2)} s (RSS ${MiB(memKiB(p.pid, 'VmRSS')).toFixed(0)} MiB, peak ${MiB(memKiB(p.pid, 'VmHWM')).toFixed(0)} MiB)`);
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
    say(`  recording after ${res.startRecordingS.toFixed(2)} s (RSS ${res.rssStartMiB.toFixed(0)} MiB)`);

    // Clips: 20 days before the newest footage, or the middle of a shorter history.
    const spanNs = histStop - histStart;
    const target = spanNs > 21 * DAY_NS ? histStop - 20 * DAY_NS : histStart + spanNs / 2;
    res.clipAtDaysAgo = (histStop - target) / DAY_NS;
    for (let k = 0; k < clipCount && h0.segments > 0 && !dead(p); k++) {
      const start = Math.round(target + k * 37e9 + 3.5 * (1e9 / 15));
      res.clips.push(await oneClip(cam, start, requestTimeoutMs * 2).catch((e: Error) => ({ ms: NaN, ok: false, note: e.message })));
    }

    // The use period: a light request mix once a second.
    const useStart = { at: performance.now(), cpu: ownCpuMs(p.pid) };
    const useEnd = useStart.at + useSeconds * 1000;
    for (let i = 0; performance.now() < useEnd && !dead(p); i++) {
      const tick = performance.now();
      const hr = await timed<Health>(`${cam}/health`);
      note(res.lat.health, hr);
      if (!hr.error) res.healthAt.push([(tick - p.spawnedAt) / 1000, hr.ms]);
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
    if (!dead(p)) {
      res.rssLaterMiB = MiB(memKiB(p.pid, 'VmRSS'));
      res.cpuUsePct = (100 * (ownCpuMs(p.pid) - useStart.cpu)) / (performance.now() - useStart.at);
      res.memLater = await memoryBreakdown(p.pid, p.url);
    }

    if (hammerSeconds > 0 && h0.segments > 0 && !dead(p)) res.hammer = await hammer(p, cam, histStart, histStop);
    if (!dead(p)) {
      res.idle = await idleCpu(p, () => res.checkDoneS !== null);
      if (res.checkDoneS === null) say(`  the background check has not finished after ${((performance.now() - p.spawnedAt) / 1000).toFixed(0)} s`);
    }
    if (!dead(p)) {
      const hr = await timed<Health>(`${cam}/health`);
      if (hr.body && hr.status === 200) { res.restarts = hr.body.ingest.restarts; res.gaps = hr.body.segments.gaps; }
      res.peakMiB = MiB(memKiB(p.pid, 'VmHWM'));
      if (Number.isNaN(res.rssLaterMiB)) res.rssLaterMiB = MiB(memKiB(p.pid, 'VmRSS'));
    }
  } catch (e) {
    res.startError = (e as Error).message;
    say(`  ${res.startError}`);
  } finally {
    clearInterval(sampler);
    res.load = load();
    if (!dead(p) && Number.isNaN(res.peakMiB)) res.peakMiB = MiB(memKiB(p.pid, 'VmHWM'));
    res.death = deathNote(p);
    const wasDead = dead(p);
    const shutdownMs = await stopProducer(p);
    res.shutdownS = wasDead ? null : shutdownMs / 1000;
    res.stderrLines = p.stderrLines;
    res.stderrTail = p.stderrTail;
    res.warnings = p.warnings;
  }
  return res;
}

const CHECK_DONE = 'background check of the index against the files finished';

/**
 * The steady state: waits (up to --check-timeout) until the start-up's background check is over, then
 * the producer's own CPU and its ffmpeg's over --idle-seconds with no requests.
 */
async function idleCpu(p: Proc, checked: () => boolean): Promise<{ seconds: number; cpuPct: number; ffmpegPct: number } | null> {
  const waitUntil = performance.now() + checkTimeoutMs;
  while (!checked() && !dead(p) && performance.now() < waitUntil) await sleep(500);
  console.log(`  idle for ${idleSeconds} s${checked() ? '' : ' (the background check has not finished)'}`);
  const t0 = { at: performance.now(), cpu: ownCpuMs(p.pid), ff: childrenCpuMs(p.pid) };
  await sleep(idleSeconds * 1000);
  if (dead(p)) return null;
  const ms = performance.now() - t0.at;
  return { seconds: ms / 1000, cpuPct: (100 * (ownCpuMs(p.pid) - t0.cpu)) / ms, ffmpegPct: (100 * (childrenCpuMs(p.pid) - t0.ff)) / ms };
}

/** Ingest and retention counters now (/metrics, /health): what was written, dropped, restarted, removed. */
async function ingestSnap(p: Proc, cam: string) {
  const m = await timed<string>(`${p.url}/metrics`);
  const h = await timed<Health>(`${cam}/health`);
  const text = typeof m.body === 'string' ? m.body : '';
  return {
    at: performance.now(), fragments: metric(text, 'segrec_ingest_fragments_total'), dropped: metric(text, 'segrec_ingest_fragments_dropped_total'),
    removed: metric(text, 'segrec_retention_removed_segments_total'), removedBytes: metric(text, 'segrec_retention_removed_bytes_total'),
    restarts: h.body?.ingest.restarts ?? NaN, gaps: h.body?.segments.gaps ?? NaN, pts: h.body?.pts_ns ?? NaN, health: h.body,
  };
}

async function hammer(p: Proc, cam: string, histStart: number, histStop: number): Promise<NonNullable<Result['hammer']>> {
  const snap = () => ingestSnap(p, cam);
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

// ---- retention mode: a lowered limit meeting the history ------------------------------------------------

interface PurgeResult {
  size: Size; ageMs: number; history: HistoryResult; generatedS: number | null; error: string | null;
  before: { index: IndexFiles; freeBytes: number };
  startHealthS: number | null; startRecordingS: number | null;
  /** Spawn → the oldest segment left is within the limit. */
  doneS: number | null;
  countAtDone: number | null; recordedAtDone: number | null; dueAtDone: number;
  removed: number; removedBytes: number; removedLogLines: number;
  health: Lat; clipPost: Lat; clipOutcomes: Record<string, number>;
  ingest: null | { seconds: number; fragments: number; expected: number; dropped: number; newGaps: number; windowGaps: number; restarts: number };
  rssMiB: number[]; rssDoneMiB: number; rssLaterMiB: number; rssIdleEndMiB: number; peakMiB: number;
  /** Producer CPU from spawn to done, % of one core (its own; ffmpeg apart). */
  cpuPurgePct: number; ffmpegPurgePct: number;
  /** The same from the first /health (the start-up's own work left out). */
  cpuPurgeFromHealthPct: number;
  atDone: { index: IndexFiles; freeBytes: number }; later: { index: IndexFiles; freeBytes: number };
  idle: null | { seconds: number; cpuPct: number; ffmpegPct: number; removed: number; oldestOverdueS: number | null };
  backgroundCheck: { atS: number; line: string } | null;
  pages: null | { pageSize: number; pages: number; free: number; autoVacuum: number };
  logLines: number; logBytes: number; load: Load | null; death: string; shutdownS: number | null; stderrTail: string[];
}

interface IndexFiles { main: number; wal: number }
const indexFiles = (dir: string): IndexFiles => {
  const size = (f: string) => (existsSync(join(dir, f)) ? statSync(join(dir, f)).size : 0);
  return { main: size('index.sqlite'), wal: size('index.sqlite-wal') };
};
const indexTotal = (f: IndexFiles) => f.main + f.wal;
const freeDisk = (dir: string) => { const s = statfsSync(dir); return Number(s.bavail) * Number(s.bsize); };

async function purge(size: Size): Promise<PurgeResult> {
  const ageMs = purgeAgeMs!;
  const dir = `${sizeDir(size)}-purge`;
  rmSync(dir, { recursive: true, force: true });
  const prepared = await prepare(size, { dir, fresh: true });
  const h = prepared.cams[0].history;
  const segMs = (h.stopEpochMs - h.startEpochMs) / h.segments;
  const histStop = Number(h.stopPtsNs);
  const histStart = Number(h.startPtsNs);
  const epochOfPts = (pts: number) => h.clockBaseEpochMs + pts / 1e6;
  // History segments due at `now` (their footage ended more than the limit ago): the i-th ends at start + (i + 1) × segMs.
  const dueAt = (now: number) => Math.max(0, Math.min(h.segments, Math.floor((now - ageMs - h.startEpochMs) / segMs)));
  const res: PurgeResult = {
    size, ageMs, history: h, generatedS: prepared.generatedS, error: null,
    before: { index: indexFiles(dir), freeBytes: freeDisk(dir) }, startHealthS: null, startRecordingS: null, doneS: null,
    countAtDone: null, recordedAtDone: null, dueAtDone: 0, removed: NaN, removedBytes: NaN, removedLogLines: 0,
    health: newLat(), clipPost: newLat(), clipOutcomes: {}, ingest: null, rssMiB: [], rssDoneMiB: NaN, rssLaterMiB: NaN, rssIdleEndMiB: NaN, peakMiB: NaN,
    cpuPurgePct: NaN, ffmpegPurgePct: NaN, cpuPurgeFromHealthPct: NaN, atDone: { index: { main: NaN, wal: NaN }, freeBytes: NaN },
    later: { index: { main: NaN, wal: NaN }, freeBytes: NaN }, idle: null,
    backgroundCheck: null, pages: null, logLines: 0, logBytes: 0, load: null, death: 'alive', shutdownS: null, stderrTail: [],
  };
  console.log(`  ${bytes(indexTotal(res.before.index))} index, ${bytes(res.before.freeBytes)} free; starting the producer with --retention-max-age ${purgeTo}` +
    ` (${big(dueAt(Date.now()))} of ${big(h.segments)} segments due)`);
  const p = await spawnProducer(prepared, {
    args: ['--retention-max-age', purgeTo!], logLevel: 'info',
    onLine: (l) => {
      if (l.includes('retention removed segment')) { if (res.doneS === null) res.removedLogLines++; }
      else if (l.includes(CHECK_DONE)) res.backgroundCheck = { atS: (performance.now() - p.spawnedAt) / 1000, line: l };
    },
  });
  const sampler = setInterval(() => noteFfmpeg(p), 2000);
  const load = watchLoad(p.pid);
  const clipIds: string[] = [];
  // Clip windows in the footage the limit keeps (1–6 days back for 7 days), 2 s long.
  const keepNs = Math.min(ageMs * 1e6, histStop - histStart);
  try {
    const deadline = p.spawnedAt + startTimeoutMs;
    while (!dead(p) && performance.now() < deadline) {
      const r = await timed<Health>(`${p.url}/health`, { timeoutMs: 5000 });
      if (r.status === 200 && r.body) { res.startHealthS = (performance.now() - p.spawnedAt) / 1000; break; }
      await sleep(50);
    }
    if (res.startHealthS === null) throw new Error(dead(p) ? `died before /health: ${deathNote(p)}` : `no /health in ${startTimeoutMs / 1000} s`);
    const cpuAtHealth = ownCpuMs(p.pid);
    console.log(`  /health after ${res.startHealthS.toFixed(2)} s; sampling /health and POST /clip every 250 ms until the purge is done`);
    let before: Awaited<ReturnType<typeof ingestSnap>> | null = null;
    const purgeDeadline = p.spawnedAt + purgeTimeoutMs;
    let lastLog = performance.now();
    while (!dead(p) && performance.now() < purgeDeadline) {
      const tick = performance.now();
      const hr = await timed<Health>(`${p.url}/health`);
      note(res.health, hr);
      const start = Math.round(histStop - keepNs * (0.15 + 0.7 * Math.random()));
      const post = await timed<{ clip_id?: string }>(`${p.url}/clip`, { method: 'POST', body: { start_pts_ns: start, stop_pts_ns: start + 2e9 } });
      note(res.clipPost, post);
      if (post.body?.clip_id) clipIds.push(post.body.clip_id);
      res.rssMiB.push(MiB(memKiB(p.pid, 'VmRSS')));
      const hb = hr.status === 200 ? hr.body : null;
      if (res.startRecordingS === null && hb && (hb.segments.newest_stop_pts_ns ?? 0) > histStop) {
        res.startRecordingS = (performance.now() - p.spawnedAt) / 1000;
        before = await ingestSnap(p, p.url);
      }
      const oldest = hb?.segments.oldest_start_pts_ns;
      // Done: the oldest segment left ends within the limit, give or take a retention interval (5 s) and a segment.
      if (before && oldest != null && epochOfPts(oldest) + segMs >= Date.now() - ageMs - (SEGMENT_S + 5) * 1000) {
        res.doneS = (performance.now() - p.spawnedAt) / 1000;
        res.countAtDone = hb!.segments.count;
        break;
      }
      if (performance.now() - lastLog > 15_000 && hb) {
        lastLog = performance.now();
        console.log(`  ${((lastLog - p.spawnedAt) / 1000).toFixed(0)} s: ${big(hb.segments.count)} segments, RSS ${res.rssMiB[res.rssMiB.length - 1].toFixed(0)} MiB`);
      }
      await sleep(tick + 250 - performance.now());
    }
    if (res.doneS === null) throw new Error(dead(p) ? `died during the purge: ${deathNote(p)}` : `purge not done in ${purgeTimeoutMs / 1000} s`);
    res.cpuPurgePct = (100 * ownCpuMs(p.pid)) / (res.doneS * 1000);
    res.cpuPurgeFromHealthPct = (100 * (ownCpuMs(p.pid) - cpuAtHealth)) / ((res.doneS - res.startHealthS) * 1000);
    res.ffmpegPurgePct = (100 * childrenCpuMs(p.pid)) / (res.doneS * 1000);
    res.dueAtDone = dueAt(Date.now());
    res.rssDoneMiB = MiB(memKiB(p.pid, 'VmRSS'));
    res.atDone = { index: indexFiles(dir), freeBytes: freeDisk(dir) };
    const after = await ingestSnap(p, p.url);
    res.removed = after.removed;
    res.removedBytes = after.removedBytes;
    const rec = await timed<{ segments?: unknown[]; gaps?: unknown[] }>(`${p.url}/segments?from_pts_ns=${histStop}&to_pts_ns=${Math.round(after.pts) + 60e9}`);
    res.recordedAtDone = rec.body?.segments?.length ?? null;
    const win = await timed<{ gaps?: unknown[] }>(`${p.url}/segments?from_pts_ns=${Math.round(before!.pts)}&to_pts_ns=${Math.round(after.pts) + 60e9}`);
    const seconds = (after.at - before!.at) / 1000;
    res.ingest = {
      seconds, fragments: after.fragments - before!.fragments, expected: Math.floor(seconds * FRAGMENTS_PER_S), dropped: after.dropped - before!.dropped,
      newGaps: after.gaps - before!.gaps, windowGaps: win.body?.gaps?.length ?? NaN, restarts: after.restarts - before!.restarts,
    };
    console.log(`  purge done after ${res.doneS.toFixed(1)} s: ${big(res.countAtDone!)} segments left, ${big(res.removed)} removed; ` +
      `index ${bytes(indexTotal(res.before.index))} → ${bytes(indexTotal(res.atDone.index))}; waiting ${purgeAfterS} s`);

    await sleep(purgeAfterS * 1000);
    if (dead(p)) throw new Error(`died after the purge: ${deathNote(p)}`);
    res.later = { index: indexFiles(dir), freeBytes: freeDisk(dir) };
    res.rssLaterMiB = MiB(memKiB(p.pid, 'VmRSS'));
    for (const id of clipIds) {
      const g = await timed<{ clip?: { status: string } }>(`${p.url}/clip/${id}`);
      const st = g.body?.clip?.status ?? `HTTP ${g.status || g.error}`;
      res.clipOutcomes[st] = (res.clipOutcomes[st] ?? 0) + 1;
    }

    // The steady state, once the start-up's background check is over.
    const removed0 = (await ingestSnap(p, p.url)).removed;
    const idle = await idleCpu(p, () => res.backgroundCheck !== null);
    if (!idle) throw new Error(`died while idle: ${deathNote(p)}`);
    const end = await ingestSnap(p, p.url);
    const oldest = end.health?.segments.oldest_start_pts_ns;
    res.idle = {
      ...idle, removed: end.removed - removed0, oldestOverdueS: oldest == null ? null : (Date.now() - ageMs - (epochOfPts(oldest) + segMs)) / 1000,
    };
    res.rssIdleEndMiB = MiB(memKiB(p.pid, 'VmRSS'));
    res.peakMiB = MiB(memKiB(p.pid, 'VmHWM'));
  } catch (e) {
    res.error = (e as Error).message;
    console.log(`  ${res.error}`);
  } finally {
    clearInterval(sampler);
    res.load = load();
    if (!dead(p) && Number.isNaN(res.peakMiB)) res.peakMiB = MiB(memKiB(p.pid, 'VmHWM'));
    res.death = deathNote(p);
    const wasDead = dead(p);
    const shutdownMs = await stopProducer(p);
    res.shutdownS = wasDead ? null : shutdownMs / 1000;
    res.logLines = p.stderrLines;
    res.logBytes = p.stderrBytes;
    res.stderrTail = p.stderrTail.filter((l) => !l.includes('retention removed segment'));
  }
  try {
    const db = new Database(join(dir, 'index.sqlite'), { readonly: true });
    try {
      const n = (q: string) => db.pragma(q, { simple: true }) as number;
      res.pages = { pageSize: n('page_size'), pages: n('page_count'), free: n('freelist_count'), autoVacuum: n('auto_vacuum') };
    } finally {
      db.close();
    }
  } catch (e) {
    console.log(`  could not read the index's pages: ${(e as Error).message}`);
  }
  if (!keepPurged) rmSync(dir, { recursive: true, force: true });
  return res;
}

function reportPurge(results: PurgeResult[]): void {
  const pct = (x: number) => (Number.isFinite(x) ? `${x < 1 ? x.toFixed(2) : x.toFixed(1)} %` : '—');
  const lat = (l: Lat) => (l.ok.length ? `${fmtMs(median(l.ok))} / ${fmtMs(Math.max(...l.ok))} ms (${l.ok.length} ok${l.errors.length ? `, ${l.errors.length} failed: ${l.errors[0]}` : ''})` : ms(l));
  const files = (f: IndexFiles) => (Number.isFinite(f.main) ? `${bytes(f.main)} + ${bytes(f.wal)} = ${bytes(f.main + f.wal)}` : '—');
  const signedBytes = (n: number) => (Number.isFinite(n) ? `${n < 0 ? '−' : ''}${bytes(Math.abs(n))}` : '—');
  for (const r of results) {
    const h = r.history;
    const days = (x: number) => `${(x / 86_400_000).toFixed(x % 86_400_000 ? 2 : 0)} d`;
    const doneAfterHealth = r.doneS !== null && r.startHealthS !== null ? r.doneS - r.startHealthS : NaN;
    console.log(`\nretention: ${r.size.label} of ${SEGMENT_S} s segments (${big(h.segments)} segments, ${big(h.fragments)} fragments, ending when generated) → ` +
      `--retention-max-age ${purgeTo} (${days(r.ageMs)}); producer ${useTsx ? 'src/ through tsx' : cliPath.slice(cwd.length + 1)} at log level info, recording testsrc 640x360`);
    console.log('');
    console.log(row(['measure', 'value']));
    console.log(row(['---', '---']));
    const lines: Array<[string, string]> = [
      ['index before: index.sqlite + -wal', `${files(r.before.index)} (${r.generatedS === null ? 'reused' : `generated in ${r.generatedS.toFixed(1)} s`})`],
      ['start → /health, → recording', `${r.startHealthS?.toFixed(2) ?? '—'} s, ${r.startRecordingS?.toFixed(2) ?? '—'} s`],
      ['start → purge done', r.doneS === null ? `✗ ${r.error ?? ''}` : `${r.doneS.toFixed(1)} s (${doneAfterHealth.toFixed(1)} s after the first /health)`],
      ['segments: removed / due (history) at done', `${big(r.removed)} / ${big(r.dueAtDone)} (${big(r.removedLogLines)} log lines about removals); ${signedBytes(r.removedBytes)} of footage by the index`],
      ['segments left at done (/health)', r.countAtDone === null ? '—' : `${big(r.countAtDone)} (${big(r.countAtDone - (r.recordedAtDone ?? 0))} of the history + ${r.recordedAtDone ?? '—'} recorded; ${days(r.ageMs)} = ${big(Math.round(r.ageMs / segMsOf(h)))} segments)`],
      ['removal rate', r.doneS === null ? '—' : `${big(Math.round(r.removed / r.doneS))} segments/s (${big(Math.round((r.removed * h.fragments) / h.segments / r.doneS))} fragment rows/s)`],
      ['GET /health every 250 ms (median / max)', lat(r.health)],
      ['POST /clip (2 s, kept footage) every 250 ms (median / max)', lat(r.clipPost)],
      ['those clips afterwards', Object.entries(r.clipOutcomes).map(([k, v]) => `${big(v)} ${k}`).join(', ') || '—'],
      ['fragments written / expected (recording → done)', r.ingest ? `${r.ingest.fragments} / ${r.ingest.expected} in ${r.ingest.seconds.toFixed(0)} s; dropped ${r.ingest.dropped}, new gaps ${r.ingest.newGaps}, gaps in window ${r.ingest.windowGaps}` : '—'],
      ['ffmpeg restarts during the purge', r.ingest ? String(r.ingest.restarts) : '—'],
      ['RSS during the purge: median / max', r.rssMiB.length ? `${f1(median(r.rssMiB))} / ${f1(Math.max(...r.rssMiB))} MiB` : '—'],
      ['RSS at done → +' + `${purgeAfterS} s → after idle (peak)`, `${f1(r.rssDoneMiB)} → ${f1(r.rssLaterMiB)} → ${f1(r.rssIdleEndMiB)} MiB (${f1(r.peakMiB)})`],
      ['producer CPU, spawn → done (ffmpeg apart)', `${pct(r.cpuPurgePct)} of a core (${pct(r.cpuPurgeFromHealthPct)} from the first /health; ffmpeg ${pct(r.ffmpegPurgePct)})`],
      ['index at done → +' + `${purgeAfterS} s`, `${files(r.atDone.index)} → ${files(r.later.index)} (${pct((100 * indexTotal(r.later.index)) / indexTotal(r.before.index))} of before)`],
      ['index pages after the run', r.pages ? `${big(r.pages.pages)} × ${r.pages.pageSize} B, ${big(r.pages.free)} free; auto_vacuum ${['none', 'full', 'incremental'][r.pages.autoVacuum] ?? r.pages.autoVacuum}` : '—'],
      ['free disk (statfs) before → done → +' + `${purgeAfterS} s`, `${bytes(r.before.freeBytes)} → ${signedBytes(r.atDone.freeBytes - r.before.freeBytes)} → ${signedBytes(r.later.freeBytes - r.before.freeBytes)} (other work writes to this disk too)`],
      ['background check finished', r.backgroundCheck ? `${r.backgroundCheck.atS.toFixed(1)} s after spawn` : 'not seen'],
      [`idle CPU after (${r.idle ? r.idle.seconds.toFixed(0) : idleSeconds} s, no requests)`, r.idle ? `${pct(r.idle.cpuPct)} of a core (ffmpeg ${pct(r.idle.ffmpegPct)}); ${r.idle.removed} segments removed meanwhile; oldest left ${r.idle.oldestOverdueS === null ? '—' : r.idle.oldestOverdueS > 0 ? `${r.idle.oldestOverdueS.toFixed(1)} s past the limit` : 'within the limit'}` : '—'],
      ['log', `${big(r.logLines)} lines, ${bytes(r.logBytes)}`],
      ['machine load', r.load ? `1-min load average ${r.load.loadMean.toFixed(2)} (max ${r.load.loadMax.toFixed(2)}); other processes ${pct(r.load.othersPct)} of a core over ${r.load.seconds.toFixed(0)} s` : '—'],
      ['producer', `${r.death}; shutdown ${r.shutdownS === null ? '—' : `${r.shutdownS.toFixed(1)} s`}`],
    ];
    for (const [k, v] of lines) console.log(row([k, v]));
    if (r.error) console.log(`\n  error: ${r.error}`);
    if (r.backgroundCheck) console.log(`  log: ${r.backgroundCheck.line.slice(0, 300)}`);
    for (const l of r.stderrTail.slice(-5)) console.log(`  log: ${l.slice(0, 300)}`);
  }
}

const segMsOf = (h: HistoryResult) => (h.stopEpochMs - h.startEpochMs) / h.segments;
const fmtMs = (m: number) => (m < 10 ? m.toFixed(2) : m < 1000 ? m.toFixed(1) : m.toFixed(0));

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
/** The use period's slowest /health while the background check ran, and after it (— when none). */
const healthMax = (r: Result) => {
  const done = r.checkDoneS ?? Infinity;
  const max = (xs: number[]) => (xs.length ? `${f1(Math.max(...xs))} ms (${xs.length})` : '—');
  return `${max(r.healthAt.filter(([t]) => t < done).map(([, v]) => v))} / ${max(r.healthAt.filter(([t]) => t >= done).map(([, v]) => v))}`;
};

function report(results: Result[]): void {
  const alive = (r: Result) => r.death === 'alive';
  console.log(`\nhistory: ${SEGMENT_S} s segments of 640x360 15 fps H.264 (~0.8 Mbit/s, 10 fragments each), continuous, ending when generated; ` +
    `${cameras} camera(s); producer ${useTsx ? 'src/ through tsx' : cliPath.slice(cwd.length + 1)} (node ${cliFlags.join(' ') || 'without flags'}${nodeOptions ? `, NODE_OPTIONS ${nodeOptions}` : ''}) recording testsrc 640x360 on after it; ` +
    `use period ${useSeconds} s; hammer ${hammerSeconds} s × ${hammerConcurrency}; page cache warm (the index was just generated or reset)`);
  console.log('');
  console.log(row(['history', 'segments / fragments', 'index size', 'start → /health', 'start → recording', 'RSS after start → later (peak)',
    'CPU, use period', 'start → background check done', `idle CPU (${idleSeconds} s after it)`,
    '/health', '/health max: check running / after', '/metrics', '/cameras', '/segments (default)', '/segments 60 s', '/clips', `clip 10 s`, 'restarts']));
  console.log(row(Array(18).fill('---')));
  for (const r of results) {
    const h = r.prepared.cams[0].history;
    const dead = alive(r) ? '' : ` — ${r.death}`;
    const s = (x: number | null) => (x === null ? `✗${dead || ` ${r.startError ?? ''}`}` : `${x.toFixed(2)} s`);
    console.log(row([
      r.size.label + (cameras > 1 ? ` × ${cameras} cams` : ''), `${big(h.segments * cameras)} / ${big(h.fragments * cameras)}`, bytes(r.indexBytes),
      s(r.startHealthS), r.startHealthS === null ? '—' : s(r.startRecordingS),
      `${f1(r.rssStartMiB)} → ${f1(r.rssLaterMiB)} (${f1(r.peakMiB)}) MiB`, Number.isFinite(r.cpuUsePct) ? `${r.cpuUsePct.toFixed(2)} %` : '—',
      r.checkDoneS === null ? '—' : `${r.checkDoneS.toFixed(1)} s`, r.idle ? `${r.idle.cpuPct.toFixed(2)} % (ffmpeg ${r.idle.ffmpegPct.toFixed(2)} %)` : '—',
      ms(r.lat.health), healthMax(r), ms(r.lat.metrics), ms(r.lat.cameras),
      ms(r.lat.segments) + (r.segmentsDefaultCount !== null ? `, ${big(r.segmentsDefaultCount)} segs, ${bytes(median(r.lat.segments.bytes))}` : ''),
      ms(r.lat.segmentsSmall), ms(r.lat.clips), `${clipCell(r)} (${r.clipAtDaysAgo.toFixed(1)} d ago)`,
      r.restarts === null ? `—${dead}` : String(r.restarts),
    ]));
  }
  // Ratios to the empty directory (the memory target's baseline) and to 1 day (the issue's table), when run.
  const bases = [results.find((r) => r.size.days === 0), results.find((r) => r.size.days === 1 && r.size.jobs === 0)].filter((r) => r !== undefined);
  for (const base of bases.length > 0 ? bases : results.slice(0, 1)) {
    if (results.length < 2) break;
    console.log(`\nratios to the ${base.size.label} row`);
    console.log(row(['history', 'start → /health', 'start → recording', 'RSS after start', 'RSS later', 'peak RSS', 'CPU, use period', 'background check',
      'idle CPU', '/health', '/metrics', '/cameras', '/segments', '/segments 60 s', '/clips', 'clip 10 s']));
    console.log(row(Array(16).fill('---')));
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b != null && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
    const med = (l: Lat) => (l.ok.length ? median(l.ok) : null);
    const clipMed = (r: Result) => { const ok = r.clips.filter((c) => c.ok).map((c) => c.ms); return ok.length ? median(ok) : null; };
    for (const r of results) {
      console.log(row([r.size.label, ratio(r.startHealthS, base.startHealthS), ratio(r.startRecordingS, base.startRecordingS),
        ratio(r.rssStartMiB, base.rssStartMiB), ratio(r.rssLaterMiB, base.rssLaterMiB), ratio(r.peakMiB, base.peakMiB), ratio(r.cpuUsePct, base.cpuUsePct),
        ratio(r.checkDoneS, base.checkDoneS), ratio(r.idle?.cpuPct, base.idle?.cpuPct), ratio(med(r.lat.health), med(base.lat.health)), ratio(med(r.lat.metrics), med(base.lat.metrics)), ratio(med(r.lat.cameras), med(base.lat.cameras)),
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
    console.log(`  ${r.size.label}: ${r.size.days === 0 ? 'empty' : r.prepared.generatedS === null ? 'reused' : `generated in ${r.prepared.generatedS.toFixed(1)} s`} ` +
      `${r.size.days === 0 ? '' : `(first build ${h.seconds.total.toFixed(1)} s, ${big(Math.round(h.segments / h.seconds.links))} segments/s)`}; on disk ${bytes(r.diskBytes)} ` +
      `(index ${bytes(r.indexBytes)}; the index says ${bytes(h.logicalBytes * cameras)} of footage); producer ${r.death}; ` +
      `shutdown ${r.shutdownS === null ? '—' : `${r.shutdownS.toFixed(1)} s`}; gaps ${r.gaps ?? '—'}; ${r.stderrLines} log lines`);
    if (cameras > 1) {
      console.log(`    per camera: RSS ${f1(r.rssStartMiB / cameras)} → ${f1(r.rssLaterMiB / cameras)} (peak ${f1(r.peakMiB / cameras)}) MiB, ` +
        `CPU ${(r.cpuUsePct / cameras).toFixed(2)} % (use period), ${r.idle ? (r.idle.cpuPct / cameras).toFixed(2) : '—'} % (idle)`);
    }
    if (r.load) {
      console.log(`    machine while it ran (${r.load.seconds.toFixed(0)} s): 1-min load average ${r.load.loadMean.toFixed(2)} (max ${r.load.loadMax.toFixed(2)}), ` +
        `other processes ${r.load.othersPct.toFixed(0)} % of a core`);
    }
    if (r.memLater) console.log(`    memory after the use period: ${r.memLater}`);
    if (r.startError) console.log(`    error: ${r.startError}`);
    const clipsBad = r.clips.filter((c) => !c.ok);
    if (clipsBad.length) console.log(`    clips failed: ${clipsBad.map((c) => c.note).join('; ')}`);
    // The producer logs at info for the background check's line: show what is not routine.
    if (r.checkLine) console.log(`    log: ${r.checkLine.slice(0, 300)}`);
    // Every warning (an ffmpeg restart, a stall), not only those still in the log's tail.
    if (r.warnings.length) console.log(`    warnings and errors logged: ${r.warnings.length}${r.warnings.length === 100 ? ' (the last 100)' : ''}`);
    for (const l of r.warnings.slice(-10)) console.log(`    log: ${l.slice(0, 300)}`);
  }
}

// ---- main ----------------------------------------------------------------------------------------------

const stale = staleDist();
if (stale) console.log(stale);
mkdirSync(root, { recursive: true });
if (purgeTo !== undefined) {
  const purged: PurgeResult[] = [];
  for (const size of sizes) {
    console.log(`${new Date().toISOString().slice(11, 19)} ${size.label} → ${purgeTo}: generating ${sizeDir(size).slice(cwd.length + 1)}-purge`);
    purged.push(await purge(size));
    writeFileSync(join(root, 'purge-results.json'), JSON.stringify(purged, null, 1));
  }
  reportPurge(purged);
} else {
  const results: Result[] = [];
  const prepareSize = async (size: Size) => {
    console.log(`${new Date().toISOString().slice(11, 19)} ${size.label}${cameras > 1 ? ` × ${cameras} cameras` : ''}: preparing ${sizeDir(size).slice(cwd.length + 1)}`);
    const prepared = await prepare(size);
    console.log(`  ${prepared.generatedS === null ? (size.days === 0 ? 'empty' : 'reused') : `generated in ${prepared.generatedS.toFixed(1)} s`}`);
    return prepared;
  };
  const finish = (r: Result) => {
    for (const c of r.prepared.cams) {
      if (r.size.days === 0) rmSync(c.dataDir, { recursive: true, force: true });
      else if (!resetHistory(c.dataDir)) console.log(`  warning: ${c.dataDir} is not intact after the run; it will be generated again next time`);
    }
    // Several cameras share the data directory's clips/ (resetHistory removes a camera's own).
    rmSync(join(r.prepared.dir, 'clips'), { recursive: true, force: true });
    console.log(`  done: ${r.size.label}: ${r.death}`);
    results.push(r);
    // Kept as each size finishes, so a run cut short still leaves its figures.
    writeFileSync(join(root, 'results.json'), JSON.stringify(results.map((x) => ({ ...x, prepared: { ...x.prepared, cams: x.prepared.cams.map((c) => c.name) } })), null, 1));
  };
  if (sideBySide) {
    // Every size's producer at once, on the same machine at the same time: ratios free of another run's load.
    const prepared: Prepared[] = [];
    for (const size of sizes) prepared.push(await prepareSize(size));
    console.log(`${new Date().toISOString().slice(11, 19)} starting ${sizes.length} producers side by side`);
    await Promise.all(sizes.map(async (size, i) => finish(await measure(size, prepared[i]))));
    results.sort((a, b) => sizes.indexOf(a.size) - sizes.indexOf(b.size));
  } else {
    for (const size of sizes) finish(await measure(size, await prepareSize(size)));
  }
  report(results);
}
