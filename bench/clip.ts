// Clip benchmark (issues 4 and 12): a clip as a user sees it, beside what it costs to copy its bytes.
// A producer records a looped 1080p30 ~4 Mbit/s H.264 file (2 s GOP) into 8 s segments, in real time;
// once 40 s are recorded, a 30 s window starting mid-GOP (over 5 segments, the newest still being
// written) is cut again and again while it keeps recording. Interleaved, each run measures:
//   - ours over HTTP: POST /clip, then GET /clip/{id}?wait_ms= until `done` (keep-alive connection), timed
//     by a client in its own process (bench/clip-client.ts), as a user's client is;
//   - our assembly in process (assembleClip: read, plan, write, fsync, publish), no HTTP or job store,
//     and the CPU time it takes (every thread of the process; the copies' too, and the producer's side
//     of the clip over HTTP);
//   - a plain copy of the clip's bytes (fs.copyFileSync), and the same copy fsynced;
//   - `ffmpeg -ss … -f concat -c copy` over the same segment files (one process per clip, not fsynced).
// Prints medians of the runs and the two ratios the issue asks for.
//   npx tsx bench/clip.ts [--runs 15]
import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { once } from 'node:events';
import { fixture1080p, fmt, median, quantile } from './lib.js';
import type { ClientResult } from './clip-client.js';
import { startProducer } from '../src/producer/app.js';
import { assembleClip } from '../src/producer/clips/assemble.js';
import { KEYFRAME_LOOKBACK_NS } from '../src/producer/clips/engine.js';
import { segmentAbsPath } from '../src/producer/segments/paths.js';
import { createLogger } from '../src/common/log.js';

const runs = Math.max(15, Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15);
const SEGMENT_SECONDS = 8;
const root = join(process.cwd(), '.tmp', 'bench-clip');
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
const src = fixture1080p(join(process.cwd(), '.tmp', 'src1080p-40s.mp4'), 40);

const producer = await startProducer({
  dataDir: join(root, 'data'), port: 0, source: src, loop: true, segmentSeconds: SEGMENT_SECONDS,
  logger: createLogger({ level: 'error' }),
});
const p = producer.producer;
const clipRoot = p.options.clipRoots[0];

// Record until a 30 s window from 5 s after the first frame (mid-GOP) is covered, with the fragment after it.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let first = p.index.overlapping(0n, 1n << 62n)[0];
for (const t0 = Date.now(); !first; first = p.index.overlapping(0n, 1n << 62n)[0]) {
  if (Date.now() - t0 > 30_000) throw new Error('the producer recorded nothing in 30 s');
  await sleep(200);
}
const startNs = first.start_pts_ns + 5_000_000_000n;
const stopNs = startNs + 30_000_000_000n;
process.stderr.write('recording 40 s of 1080p30 before clipping…\n');
for (const t0 = Date.now(); (p.index.newestFragmentStart() ?? 0n) < stopNs;) {
  if (Date.now() - t0 > 120_000) throw new Error('the producer did not record 40 s in 120 s');
  await sleep(200);
}

const segments = p.index.clipFragments(startNs, stopNs, KEYFRAME_LOOKBACK_NS);
const local = join(clipRoot, 'in-process');
mkdirSync(local, { recursive: true });
let seq = 0;
const inProcess = async () => assembleClip({
  clipId: `clip-bench-${String(seq++).padStart(16, '0')}`, segments, place: p.place, startNs, stopNs, outDir: local,
  filename: 'bench.mp4', sidecarExtra: {}, firstChunkNow: true, // as the engine writes a clip alone
});

// The clip's own bytes, for the copies; the segment files it uses, for ffmpeg.
const ref = await inProcess();
const clipBytes = ref.bytes;
const same = join(root, 'same-bytes.mp4');
copyFileSync(ref.path, same);
unlinkSync(ref.path);
unlinkSync(ref.sidecarPath);
const used = ref.segmentPaths.map((rel) => segmentAbsPath(p.segmentsDir, rel));
const firstUsed = segments.find((s) => s.row.path === ref.segmentPaths[0])!.row;
const list = join(root, 'list.txt');
writeFileSync(list, used.map((s) => `file '${s}'`).join('\n') + '\n');
const ffSs = (Number(startNs - firstUsed.start_pts_ns) / 1e9).toFixed(6);

const body = JSON.stringify({ start_pts_ns: String(startNs), stop_pts_ns: String(stopNs) });
const client = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'clip-client.ts'), producer.url, body], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
await once(client, 'message');

const measures = {
  http: async () => {
    client.send('clip');
    const [{ ms, clip }] = await once(client, 'message') as [ClientResult];
    if (clip.status !== 'done' || clip.bytes !== clipBytes) throw new Error(`clip over HTTP: ${JSON.stringify(clip)}`);
    // The client's own time (POST sent → `done` parsed), not the message round trip to it.
    return { ms, cleanup: () => { unlinkSync(clip.path!); unlinkSync(clip.path!.replace(/\.mp4$/, '.json')); } };
  },
  assembly: async () => {
    const r = await inProcess();
    return () => { unlinkSync(r.path); unlinkSync(r.sidecarPath); };
  },
  copy: () => {
    copyFileSync(same, join(local, 'copy.mp4'));
    return () => unlinkSync(join(local, 'copy.mp4'));
  },
  copyFsync: () => {
    copyFileSync(same, join(local, 'copy.mp4'));
    const fd = openSync(join(local, 'copy.mp4'), 'r+');
    fsyncSync(fd);
    closeSync(fd);
    return () => unlinkSync(join(local, 'copy.mp4'));
  },
  ffmpeg: () => {
    const f = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-ss', ffSs, '-f', 'concat', '-safe', '0', '-i', list,
      '-t', '30', '-c', 'copy', join(local, 'ffmpeg.mp4')]);
    if (f.status !== 0) throw new Error(String(f.stderr));
    return () => unlinkSync(join(local, 'ffmpeg.mp4'));
  },
};
type Name = keyof typeof measures;
const names = Object.keys(measures) as Name[];
const times = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Name, number[]>;
/** CPU time of this process (every thread: libuv's pool too) while a measure ran. */
const cpuTimes = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Name, number[]>;
const WARMUP = 2;
for (let i = 0; i < runs + WARMUP; i++) {
  // Interleaved, and each run in another order, so drift and neighbours weigh on all alike.
  for (let k = 0; k < names.length; k++) {
    const name = names[(i + k) % names.length];
    const t = performance.now();
    const c0 = process.cpuUsage();
    const r = await measures[name]();
    const ms = performance.now() - t;
    const cpu = process.cpuUsage(c0);
    const { cleanup, ms: own } = typeof r === 'function' ? { cleanup: r, ms: undefined } : r;
    if (i >= WARMUP) times[name].push(own ?? ms);
    if (i >= WARMUP) cpuTimes[name].push((cpu.user + cpu.system) / 1000);
    cleanup();
    await sleep(20);
  }
}
client.send('close');
await once(client, 'exit');
const recorded = Number((p.index.newestFragmentStart() ?? 0n) - first.start_pts_ns) / 1e9;
await producer.close();

const m = Object.fromEntries(names.map((n) => [n, median(times[n])])) as Record<Name, number>;
const spread = (n: Name) => `(${fmt(quantile(times[n], 0.25))}–${fmt(quantile(times[n], 0.75))})`;
const row = (label: string, n: Name, note: string) => console.log(`  ${label.padEnd(46)} ${fmt(m[n]).padStart(8)} ms ${spread(n).padEnd(14)} ${note}`);
console.log(`clip: 30 s window (mid-GOP start) over ${used.length} segments of 1080p30 ~4 Mbit/s H.264 (2 s GOP, ${SEGMENT_SECONDS} s segments), ` +
  `clip ${(clipBytes / 1e6).toFixed(1)} MB, ${ref.plan.frames} frames; producer recording throughout (${recorded.toFixed(0)} s recorded); ` +
  `medians (p25–p75) of ${runs} interleaved runs`);
row('ours over HTTP (POST /clip + long-poll to done)', 'http', '');
row('our assembly in process (assembleClip)', 'assembly', `${(m.http - m.assembly).toFixed(1)} ms of HTTP, scheduling and job store around it`);
row('plain copy of the same bytes (copyFileSync)', 'copy', '');
row('copy + fsync', 'copyFsync', '');
row('ffmpeg -ss … -f concat -c copy (a process)', 'ffmpeg', 'not fsynced');
console.log(`  CPU of this process per clip: over HTTP (the producer's side) ${fmt(median(cpuTimes.http))} ms, assembly ${fmt(median(cpuTimes.assembly))} ms, copyFileSync ${fmt(median(cpuTimes.copy))} ms, copy + fsync ${fmt(median(cpuTimes.copyFsync))} ms`);
console.log(`  HTTP / (copy + fsync)   ${(m.http / m.copyFsync).toFixed(2)}×   (target ≤ 1.5×)`);
console.log(`  ffmpeg / HTTP           ${(m.ffmpeg / m.http).toFixed(2)}×   (target ≥ 5×)`);
console.log(`  segment sizes: ${used.map((s) => (statSync(s).size / 1e6).toFixed(1) + ' MB').join(', ')}`);
