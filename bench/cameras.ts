// Many-cameras benchmark (issue 10): N camera-like streams (a 60 s 1080p30 ~4 Mbit/s H.264 + AAC file,
// looped in real time and stream-copied) recorded by ONE producer process (`segrec producer --config`),
// side by side in the same run with one producer process per camera (today's way: `segrec producer
// --source`). Configurations: 1 camera in one process (the clip-latency baseline), then for each N of
// --cameras: N in one process and N as one process each. Per configuration, after a warm-up: fragments
// written against the elapsed time (and dropped, new gaps, ffmpeg restarts); the producers' own CPU
// (utime+stime of the node processes only; ffmpeg is measured apart); their RSS every 10 s (summed over
// the processes); ~20 clips of 1 s of sealed footage spread over the run (POST → done). Prints tables,
// ratios and the issue's targets. Needs a current build (the producers run dist/cli/main.js; --tsx runs
// src/ through the tsx loader instead, which costs every process its loader thread; --cli PATH runs another
// built main.js, e.g. a copy of dist/ kept still while the tree changes), with the Node flags of its first line.
//   npm run build && npx tsx bench/cameras.ts [--minutes 10] [--cameras 16,32] [--clips 20] [--tsx | --cli PATH] [--keep]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { childPids, cpuMs, median, quantile, rssKiB } from './lib.js';
import { shebangNodeFlags } from '../scripts/node-flags.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const minutes = Number(arg('--minutes') ?? 10);
const cameraCounts = [...new Set((arg('--cameras') ?? '16,32').split(',').map(Number))];
const clipsPerRun = Number(arg('--clips') ?? 20);
const useTsx = process.argv.includes('--tsx');
const keep = process.argv.includes('--keep');
if (!(minutes > 0) || !(clipsPerRun >= 1) || cameraCounts.some((n) => !Number.isInteger(n) || n < 1)) {
  throw new Error('usage: npx tsx bench/cameras.ts [--minutes 10] [--cameras 16,32] [--clips 20] [--tsx | --cli PATH] [--keep]');
}

const SEGMENT_S = 10;
const FRAGMENTS_PER_S = 1; // ingest cuts a fragment every second (1 s frag_duration, 2 s GOP)
const SAMPLE_MS = 10_000;
const CLIP_FRAMES = 30; // 1 s at 30 fps
const CORES = readFileSync('/proc/cpuinfo', 'utf8').split('\n').filter((l) => l.startsWith('processor')).length;
const cwd = process.cwd();
const root = join(cwd, '.scratch', 'bench-cameras');
const cliPath = resolve(arg('--cli') ?? join(cwd, 'dist', 'cli', 'main.js'));
const cliSource = useTsx ? join(cwd, 'src', 'cli', 'main.ts') : cliPath;
/** The producers run with the Node flags `segrec` runs with (its first line). */
const cli = [...shebangNodeFlags(cliSource), ...(useTsx ? ['--import', 'tsx', cliSource] : [cliPath])];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const MiB = (kib: number) => kib / 1024;
/** Least-squares slope of y over x. */
const slope = (pts: Array<{ x: number; y: number }>) => {
  if (pts.length < 2) return NaN;
  const mx = pts.reduce((a, p) => a + p.x, 0) / pts.length;
  const my = pts.reduce((a, p) => a + p.y, 0) / pts.length;
  const num = pts.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const den = pts.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return den === 0 ? NaN : num / den;
};

/** The camera-like file: 60 s of 1080p30 H.264 at ~4 Mbit/s (2 s GOP, no B-frames) with AAC, made once. */
function cameraFile(path: string): string {
  if (existsSync(path)) return path;
  mkdirSync(root, { recursive: true });
  const tmp = path.replace(/\.mp4$/, '.partial.mp4');
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '60', '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '4M', '-maxrate', '4M', '-bufsize', '8M', '-g', '60', '-keyint_min', '60',
    '-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k', '-ac', '1', '-movflags', '+faststart', tmp], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg failed to make the camera file');
  writeFileSync(path, readFileSync(tmp));
  rmSync(tmp);
  return path;
}

function describeFile(path: string): string {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,bit_rate:format=duration', '-of', 'json', path], { encoding: 'utf8' });
  const j = JSON.parse(r.stdout) as { streams: Array<{ codec_name: string; bit_rate: string }>; format: { duration: string } };
  return j.streams.map((s) => `${s.codec_name} ${(Number(s.bit_rate) / 1e6).toFixed(2)} Mbit/s`).join(' + ') + `, ${Number(j.format.duration).toFixed(0)} s`;
}

/** Warns when dist/ is older than a source file (the producers run what is built). */
function staleDist(): string | null {
  if (useTsx) return null;
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build (or pass --tsx)`);
  const built = statSync(cliPath).mtimeMs;
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const newer = walk(join(cwd, 'src')).filter((f) => statSync(f).mtimeMs > built);
  return newer.length ? `warning: ${cliPath.slice(cwd.length + 1)} is older than ${newer.length} file(s) of src/ (e.g. ${newer[0].slice(cwd.length + 1)}): run npm run build` : null;
}

// ---- producers ----------------------------------------------------------------------------------

interface Proc { child: ChildProcess; pid: number; url: string; logLines: string[]; logCount: number }
interface Cam { name: string; base: string; metricsUrl: string; label: string; proc: Proc }
interface Setup { title: string; mode: 'one' | 'each'; n: number; dir: string; procs: Proc[]; cams: Cam[] }

const live = new Set<ChildProcess>();
process.once('SIGINT', () => {
  for (const c of live) c.kill('SIGTERM');
  process.exit(130);
});

function startProducer(args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, [...cli, 'producer', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const proc: Proc = { child, pid: child.pid!, url: '', logLines: [], logCount: 0 };
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`producer did not start in 180 s: ${proc.logLines.slice(-3).join(' | ')}`)), 180_000);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /producer running at (\S+)/.exec(line);
        if (m && !proc.url) {
          proc.url = m[1];
          clearTimeout(timer);
          resolve(proc);
        } else if (line.trim()) {
          proc.logCount++;
          if (proc.logLines.length < 200) proc.logLines.push(line);
        }
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (!proc.url) reject(new Error(`producer exited (${code ?? sig}): ${proc.logLines.slice(-3).join(' | ')}`));
    });
  });
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
  await exited;
  clearTimeout(t);
}

const camName = (i: number) => `cam${String(i + 1).padStart(2, '0')}`;

async function startSetup(mode: 'one' | 'each', n: number, file: string): Promise<Setup> {
  const dir = join(root, 'runs', `${mode}-${n}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const title = mode === 'one' ? `${n} camera${n > 1 ? 's' : ''}, one process` : `${n} cameras, a process each`;
  if (mode === 'one') {
    // JSON strings are YAML strings: paths need no further quoting.
    const yaml = [`data_dir: ${JSON.stringify(join(dir, 'data'))}`, 'port: 0', 'log_level: warn', 'cameras:',
      ...Array.from({ length: n }, (_, i) => `  ${camName(i)}:\n    source: ${JSON.stringify(file)}\n    segment_seconds: ${SEGMENT_S}`)].join('\n') + '\n';
    const config = join(dir, 'segrec.yml');
    writeFileSync(config, yaml);
    const proc = await startProducer(['--config', config]);
    const cams = Array.from({ length: n }, (_, i) => ({
      name: camName(i), base: `${proc.url}/cameras/${camName(i)}`, metricsUrl: `${proc.url}/metrics`, label: camName(i), proc,
    }));
    return { title, mode, n, dir, procs: [proc], cams };
  }
  const started = await Promise.allSettled(Array.from({ length: n }, (_, i) => startProducer(['--source', file,
    '--data-dir', join(dir, camName(i)), '--port', '0', '--segment-seconds', String(SEGMENT_S), '--log-level', 'warn'])));
  const procs = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(procs.map(stopProc));
    throw (failed as PromiseRejectedResult).reason;
  }
  const cams = procs.map((proc, i) => ({
    name: camName(i), base: `${proc.url}/cameras/default`, metricsUrl: `${proc.url}/metrics`, label: 'default', proc,
  }));
  return { title, mode, n, dir, procs, cams };
}

// ---- HTTP -----------------------------------------------------------------------------------------

interface Health {
  pts_ns: number;
  ingest: { state: string; restarts: number; audio: unknown; codec: string | null };
  segments: { gaps: number; oldest_start_pts_ns: number | null; open_start_pts_ns: number | null };
}
interface ClipState { status: string; frames: number | null; error: string | null }

async function getJson<T>(url: string, init: { method?: string; body?: string } = {}): Promise<{ status: number; body: T }> {
  const r = await fetch(url, {
    ...init, headers: init.body ? { 'content-type': 'application/json' } : undefined, signal: AbortSignal.timeout(60_000),
  });
  return { status: r.status, body: (await r.json()) as T };
}
const health = async (c: Cam) => (await getJson<Health>(`${c.base}/health`)).body;

/** The footage sealed so far: [oldest start, start of the open segment). */
const sealedSpan = (h: Health) => (h.segments.oldest_start_pts_ns !== null && h.segments.open_start_pts_ns !== null
  ? { lo: h.segments.oldest_start_pts_ns, hi: h.segments.open_start_pts_ns } : null);

interface Snap { atMs: number; fragments: number; dropped: number; restarts: number; gaps: number; ptsNs: number; state: string }

async function snapshot(cams: Cam[]): Promise<Snap[]> {
  const texts = new Map<string, { text: string; atMs: number }>();
  const out: Snap[] = [];
  for (const c of cams) {
    if (!texts.has(c.metricsUrl)) {
      const atMs = Date.now();
      texts.set(c.metricsUrl, { text: await (await fetch(c.metricsUrl, { signal: AbortSignal.timeout(60_000) })).text(), atMs });
    }
    const { text, atMs } = texts.get(c.metricsUrl)!;
    const metric = (name: string) => Number(new RegExp(`^${name}\\{camera="${c.label}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const h = await health(c);
    out.push({
      atMs, fragments: metric('segrec_ingest_fragments_total'), dropped: metric('segrec_ingest_fragments_dropped_total'),
      restarts: h.ingest.restarts, gaps: h.segments.gaps, ptsNs: h.pts_ns, state: h.ingest.state,
    });
  }
  return out;
}

async function waitForFootage(s: Setup): Promise<Health> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const hs = await Promise.all(s.cams.map(health));
    const ready = hs.filter((h) => { const sp = sealedSpan(h); return sp !== null && sp.hi - sp.lo >= 3e9; }).length;
    if (ready === s.cams.length) return hs[0];
    if (Date.now() > deadline) throw new Error(`${s.title}: ${ready}/${s.cams.length} cameras had sealed footage after 180 s`);
    await sleep(2000);
  }
}

interface ClipSample { ms: number; ok: boolean; note: string | null }

/** One 1 s clip from the camera's newest sealed segment, POST → done. */
async function oneClip(c: Cam): Promise<ClipSample> {
  const sp = sealedSpan(await health(c));
  if (!sp || sp.hi - sp.lo < 2e9) return { ms: NaN, ok: false, note: 'no sealed footage' };
  const lo = Math.max(sp.lo, sp.hi - SEGMENT_S * 1e9);
  const start = Math.round(lo + Math.random() * (sp.hi - lo - 1.5e9));
  const t = performance.now();
  const post = await getJson<{ clip_id?: string; message?: string }>(`${c.base}/clip`, {
    method: 'POST', body: JSON.stringify({ start_pts_ns: start, stop_pts_ns: start + 1e9 }),
  });
  if (post.status !== 202 || !post.body.clip_id) return { ms: NaN, ok: false, note: `POST ${post.status}: ${post.body.message}` };
  let clip: ClipState | undefined;
  for (let i = 0; i < 20 && (!clip || (clip.status !== 'done' && clip.status !== 'error')); i++) {
    clip = (await getJson<{ clip: ClipState }>(`${c.base}/clip/${post.body.clip_id}?wait_ms=10000`)).body.clip;
  }
  const ms = performance.now() - t;
  if (clip?.status !== 'done') return { ms, ok: false, note: `status ${clip?.status}: ${clip?.error}` };
  if (clip.frames === null || Math.abs(clip.frames - CLIP_FRAMES) > 1) return { ms, ok: false, note: `${clip.frames} frames` };
  return { ms, ok: true, note: null };
}

// ---- one configuration ----------------------------------------------------------------------------

interface Result {
  title: string; mode: 'one' | 'each'; n: number; wallS: number;
  fragments: number; expected: number; short: number; dropped: number; newGaps: number; windowGaps: number; restarts: number; notRunning: number;
  exited: number; logLines: number; firstLogs: string[];
  producerPctPerCam: number; producerPctPerProcMedian: number; ffmpegPctPerCam: number; ffmpegSeen: number;
  rss: Array<{ t: number; kib: number }>; perProcRssMedianKiB: number;
  clips: ClipSample[]; machineBusyPct: number; stealPct: number; othersPctOfCore: number; benchPct: number;
}

function machineStat(): { total: number; idle: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + f[4], steal: f[7] };
}

async function measure(s: Setup): Promise<Result> {
  await waitForFootage(s);
  await sleep(10_000); // let startup (module loading, ffprobe, first segments) settle out of the CPU figures
  const before = await snapshot(s.cams);
  const t0 = Date.now();
  const m0 = machineStat();
  const b0 = process.cpuUsage();
  const cpu0 = s.procs.map((p) => cpuMs(p.pid));
  const logs0 = s.procs.reduce((a, p) => a + p.logCount, 0);
  const ffmpeg = new Map<number, { first: number; last: number }>();
  const rss: Array<{ t: number; kib: number }> = [];
  const perProc: number[] = [];
  const sample = () => {
    let sum = 0;
    for (const p of s.procs) {
      try {
        const k = rssKiB(p.pid);
        sum += k;
        perProc.push(k);
      } catch { /* exited: counted at the end */ }
      for (const c of childPids(p.pid)) {
        try {
          if (readFileSync(`/proc/${c}/comm`, 'utf8').trim() !== 'ffmpeg') continue;
          const v = cpuMs(c);
          const e = ffmpeg.get(c);
          if (e) e.last = v;
          else ffmpeg.set(c, { first: v, last: v });
        } catch { /* gone between the listing and the read */ }
      }
    }
    rss.push({ t: (Date.now() - t0) / 1000, kib: sum });
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  const durationMs = minutes * 60_000;
  const clips: ClipSample[] = [];
  for (let k = 0; k < clipsPerRun; k++) {
    await sleep(t0 + ((k + 0.5) * durationMs) / clipsPerRun - Date.now());
    const cam = s.cams[Math.floor((k * s.cams.length) / clipsPerRun)];
    clips.push(await oneClip(cam).catch((e: Error) => ({ ms: NaN, ok: false, note: e.message })));
  }
  await sleep(t0 + durationMs - Date.now());
  clearInterval(timer);
  sample();
  const wallMs = Date.now() - t0;
  const cpu1 = s.procs.map((p) => { try { return cpuMs(p.pid); } catch { return NaN; } });
  const m1 = machineStat();
  const b1 = process.cpuUsage(b0);
  const exited = s.procs.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null).length;
  const after = await snapshot(s.cams);
  // Gaps the timeline shows inside the measured window.
  let windowGaps = 0;
  for (let i = 0; i < s.cams.length; i++) {
    const seg = await getJson<{ gaps: unknown[] }>(`${s.cams[i].base}/segments?from_pts_ns=${before[i].ptsNs}`);
    windowGaps += seg.body.gaps.length;
  }
  let fragments = 0, expected = 0, short = 0;
  for (let i = 0; i < s.cams.length; i++) {
    const written = after[i].fragments - before[i].fragments;
    const exp = Math.floor(((after[i].atMs - before[i].atMs) / 1000) * FRAGMENTS_PER_S);
    fragments += written;
    expected += exp;
    if (exp - written > 1) short += exp - written; // one fragment of slack for where the snapshots fall
  }
  const sum = (f: (a: Snap, b: Snap) => number) => after.reduce((acc, a, i) => acc + f(a, before[i]), 0);
  const perProcPct = s.procs.map((_, i) => ((cpu1[i] - cpu0[i]) / wallMs) * 100);
  const ffPct = [...ffmpeg.values()].reduce((a, e) => a + (e.last - e.first), 0) / wallMs * 100;
  const logs = s.procs.flatMap((p) => p.logLines);
  const dT = m1.total - m0.total;
  const busyPct = ((dT - (m1.idle - m0.idle) - (m1.steal - m0.steal)) / dT) * 100;
  const benchPct = ((b1.user + b1.system) / 1000 / wallMs) * 100;
  const oursPct = perProcPct.reduce((a, b) => a + b, 0) + ffPct + benchPct;
  return {
    title: s.title, mode: s.mode, n: s.n, wallS: wallMs / 1000,
    fragments, expected, short,
    dropped: sum((a, b) => a.dropped - b.dropped), newGaps: sum((a, b) => a.gaps - b.gaps), windowGaps,
    restarts: sum((a, b) => a.restarts - b.restarts), notRunning: after.filter((a) => a.state !== 'running').length,
    exited, logLines: s.procs.reduce((a, p) => a + p.logCount, 0) - logs0, firstLogs: [...new Set(logs.map((l) => l.slice(0, 200)))].slice(0, 3),
    producerPctPerCam: perProcPct.reduce((a, b) => a + b, 0) / s.n, producerPctPerProcMedian: median(perProcPct),
    ffmpegPctPerCam: ffPct / s.n, ffmpegSeen: ffmpeg.size,
    rss, perProcRssMedianKiB: median(perProc),
    clips, machineBusyPct: busyPct, stealPct: ((m1.steal - m0.steal) / dT) * 100,
    othersPctOfCore: (busyPct / 100) * CORES * 100 - oursPct, benchPct,
  };
}

// ---- report ---------------------------------------------------------------------------------------

function rssFigures(r: Result) {
  const ys = r.rss.map((x) => MiB(x.kib));
  const half = r.rss.filter((x) => x.t >= r.wallS / 2);
  return {
    start: ys[0], median: median(ys), max: Math.max(...ys), end: ys[ys.length - 1],
    slope: slope(r.rss.map((x) => ({ x: x.t / 60, y: MiB(x.kib) }))),
    slope2: slope(half.map((x) => ({ x: x.t / 60, y: MiB(x.kib) }))),
    growth2: MiB(half[half.length - 1].kib - half[0].kib),
  };
}
const clipFig = (r: Result) => {
  const ok = r.clips.filter((c) => c.ok).map((c) => c.ms);
  return { ok: ok.length, failed: r.clips.length - ok.length, p50: median(ok), p90: quantile(ok, 0.9), max: Math.max(...ok) };
};
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');
const row = (cells: Array<string | number>, widths: number[]) =>
  cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');

function report(results: Result[], file: string): void {
  const W = 30;
  console.log(`\ncameras: ${file}, looped in real time and stream-copied; ${SEGMENT_S} s segments; ${minutes} min measured per configuration ` +
    `after a warm-up; ${clipsPerRun} clips of 1 s per configuration; producers: ${useTsx ? 'src/ through tsx' : cliPath.slice(cwd.length + 1)}; ${CORES} cores`);
  console.log('\nrecording (summed over cameras; lost = dropped + short of elapsed × 1 fragment/s + new gaps + restarts)');
  const w1 = [W, 22, 6, 8, 9, 12, 9, 10, 10];
  console.log(row(['configuration', 'fragments / expected', 'lost', 'dropped', 'new gaps', 'window gaps', 'restarts', 'exited', 'log lines'], w1));
  for (const r of results) {
    console.log(row([r.title, `${r.fragments} / ${r.expected}`, r.dropped + r.short + r.newGaps + r.restarts, r.dropped, r.newGaps, r.windowGaps,
      r.restarts, r.exited + (r.notRunning ? ` (${r.notRunning} not running)` : ''), r.logLines], w1));
  }
  console.log('\nresources (producer = the node process(es) only; % of one core; RSS summed over the producer processes, sampled every 10 s;');
  console.log(`machine busy = of all ${CORES} cores; others = what else ran meanwhile, in % of one core)`);
  const w2 = [W, 13, 13, 10, 30, 14, 17, 13, 8];
  console.log(row(['configuration', 'producer/cam', 'ffmpeg/cam', 'RSS/proc', 'RSS start/median/max/end MiB', 'slope MiB/min', '2nd half MiB/min', 'machine busy', 'others'], w2));
  for (const r of results) {
    const m = rssFigures(r);
    console.log(row([r.title, `${f3(r.producerPctPerCam)} %`, `${f3(r.ffmpegPctPerCam)} %`, f1(MiB(r.perProcRssMedianKiB)),
      `${f1(m.start)} / ${f1(m.median)} / ${f1(m.max)} / ${f1(m.end)}`, f2(m.slope), f2(m.slope2),
      `${f1(r.machineBusyPct)} %${r.stealPct >= 0.5 ? ` (+${f1(r.stealPct)} steal)` : ''}`, `${r.othersPctOfCore.toFixed(0)} %`], w2));
  }
  console.log('\nclips (1 s of sealed footage, POST → done, spread over the run and over the cameras)');
  const w3 = [W, 10, 8, 10, 10, 10];
  console.log(row(['configuration', 'done', 'failed', 'p50 ms', 'p90 ms', 'max ms'], w3));
  for (const r of results) {
    const c = clipFig(r);
    console.log(row([r.title, c.ok, c.failed, f1(c.p50), f1(c.p90), f1(c.max)], w3));
  }

  console.log('\nratios (same run)');
  const one = (n: number) => results.find((r) => r.mode === 'one' && r.n === n);
  const each = (n: number) => results.find((r) => r.mode === 'each' && r.n === n);
  const base = one(1);
  for (const n of cameraCounts) {
    const a = one(n), b = each(n);
    if (!a || !b) continue;
    const ra = rssFigures(a), rb = rssFigures(b);
    console.log(`  ${n} cameras: producer CPU per camera, one process ${f3(a.producerPctPerCam)} % vs a process each ${f3(b.producerPctPerCam)} %` +
      ` → ${f2(a.producerPctPerCam / b.producerPctPerCam)}×; RSS (median) ${f1(ra.median)} MiB vs ${f1(rb.median)} MiB → ${f2(ra.median / rb.median)}×`);
  }
  if (base) {
    const cb = clipFig(base);
    for (const n of cameraCounts) {
      for (const r of [one(n), each(n)]) {
        if (!r) continue;
        const c = clipFig(r);
        console.log(`  clip latency, ${r.title} vs 1 camera: p50 ${f1(c.p50)} / ${f1(cb.p50)} ms → ${f2(c.p50 / cb.p50)}×; ` +
          `p90 ${f1(c.p90)} / ${f1(cb.p90)} ms → ${f2(c.p90 / cb.p90)}×`);
      }
    }
  }

  console.log('\nissue 10 targets (one process)');
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT MET');
  for (const r of results.filter((x) => x.mode === 'one')) {
    const lost = r.dropped + r.short + r.newGaps + r.restarts + r.exited;
    console.log(`  ${r.title}: fragments lost ${lost} (target 0) ${verdict(lost === 0)}` +
      (r.n > 1 ? `; producer CPU ${f3(r.producerPctPerCam)} % of a core per camera (≤ 0.5 %) ${verdict(r.producerPctPerCam <= 0.5)}` : ''));
  }
  const big = one(Math.max(...cameraCounts));
  if (big) {
    const m = rssFigures(big);
    // "Flat": it grows by less than 5 % over the second half of the run.
    const flat = m.growth2 < 0.05 * m.median;
    console.log(`  ${big.title}: RSS max ${f1(m.max)} MiB (≤ 200 MiB) ${verdict(m.max <= 200)}; second half ${m.growth2 >= 0 ? '+' : ''}${f1(m.growth2)} MiB ` +
      `(${f2(m.slope2)} MiB/min; flat = < 5 % of the median over the second half) ${verdict(flat)}`);
    if (base) {
      const c = clipFig(big), cb = clipFig(base);
      console.log(`  ${big.title}: clip latency p50 ${f2(c.p50 / cb.p50)}× one camera's (≤ 2×) ${verdict(c.p50 / cb.p50 <= 2)}; p90 ${f2(c.p90 / cb.p90)}×`);
    }
  }
  const notes = results.filter((r) => r.firstLogs.length || r.clips.some((c) => !c.ok));
  if (notes.length) {
    console.log('\nnotes');
    for (const r of notes) {
      for (const l of r.firstLogs) console.log(`  ${r.title}: log: ${l}`);
      for (const c of r.clips.filter((x) => !x.ok).slice(0, 3)) console.log(`  ${r.title}: clip failed: ${c.note}`);
    }
  }
  console.log(`\nharness: this process used ${results.map((r) => f2(r.benchPct)).join(' / ')} % of a core per configuration`);
}

// ---- main -----------------------------------------------------------------------------------------

const stale = staleDist();
if (stale) console.log(stale);
const file = cameraFile(join(root, 'camera-1080p30-4M-aac-60s.mp4'));
const fileDesc = `1080p30 ${describeFile(file)}`;
const plan: Array<{ mode: 'one' | 'each'; n: number }> = [{ mode: 'one', n: 1 },
  ...cameraCounts.filter((n) => n > 1).flatMap((n) => [{ mode: 'one' as const, n }, { mode: 'each' as const, n }])];
console.log(`cameras: ${fileDesc}; ${plan.length} configurations of ${minutes} min (+ warm-up) each`);
const results: Result[] = [];
for (const step of plan) {
  const s = await startSetup(step.mode, step.n, file);
  let r: Result;
  try {
    r = await measure(s);
  } finally {
    await Promise.all(s.procs.map(stopProc));
    if (!keep) rmSync(s.dir, { recursive: true, force: true });
  }
  results.push(r);
  const c = clipFig(r);
  console.log(`  ${new Date().toISOString().slice(11, 19)} ${r.title}: ${r.fragments}/${r.expected} fragments, dropped ${r.dropped}, ` +
    `new gaps ${r.newGaps}, restarts ${r.restarts}; producer ${f3(r.producerPctPerCam)} %/camera, ffmpeg ${f3(r.ffmpegPctPerCam)} %/camera; ` +
    `RSS median ${f1(rssFigures(r).median)} MiB; clips ${c.ok}/${r.clips.length} p50 ${f1(c.p50)} ms; machine ${f1(r.machineBusyPct)} % busy ` +
    `(others ${r.othersPctOfCore.toFixed(0)} % of a core)`);
}
report(results, fileDesc);
