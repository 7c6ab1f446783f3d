// Ingest benchmark (issue 3): the producer's own CPU (not ffmpeg's) and memory while recording a
// pre-encoded 1080p30 4 Mbit/s H.264 file stream-copied in real time — 1 stream, then N side by side.
// ffmpeg's own CPU for the same streams is the baseline measured in the same run.
//   npm run build && npx tsx bench/ingest.ts [--seconds 60] [--streams 8]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { builtSegrec, childPids, cpuMs, fixture1080p, median, rssKiB } from './lib.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const seconds = arg('--seconds', 60);
const streams = arg('--streams', 8);
const root = join(process.cwd(), '.tmp', 'bench-ingest');
const src = fixture1080p(join(process.cwd(), '.tmp', 'src1080p-40s.mp4'), 40);
const segrec = builtSegrec();

async function startOne(i: number): Promise<{ child: ChildProcess; pid: number }> {
  const dir = join(root, `s${i}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, [...segrec, 'producer', '--source', src, '--data-dir', dir, '--port', '0', '--segment-seconds', '10',
    '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('producer running at')) resolve();
    });
    child.once('exit', (c) => reject(new Error(`producer exited ${c}: ${out}`)));
  });
  return { child, pid: child.pid! };
}

async function measure(n: number): Promise<void> {
  const procs = await Promise.all(Array.from({ length: n }, (_, i) => startOne(i)));
  await new Promise((r) => setTimeout(r, 5000)); // warm-up: ffmpeg started, first segments written
  const ff = procs.map((p) => childPids(p.pid)[0]);
  const cpu0 = procs.map((p) => cpuMs(p.pid));
  const ffCpu0 = ff.map((pid) => (pid ? cpuMs(pid) : 0));
  const rss: number[][] = procs.map(() => []);
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    await new Promise((r) => setTimeout(r, Math.min(5000, seconds * 250)));
    procs.forEach((p, i) => rss[i].push(rssKiB(p.pid)));
  }
  const wall = Date.now() - t0;
  const ours = procs.map((p, i) => ((cpuMs(p.pid) - cpu0[i]) / wall) * 100);
  const theirs = ff.map((pid, i) => (pid ? ((cpuMs(pid) - ffCpu0[i]) / wall) * 100 : NaN));
  for (const p of procs) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => new Promise((r) => p.child.once('exit', r))));
  const firstQ = rss.map((s) => s[Math.floor(s.length / 4)]);
  const last = rss.map((s) => s[s.length - 1]);
  console.log(`${n} stream(s), ${seconds} s each: producer CPU per stream (median) ${median(ours).toFixed(2)} % of a core ` +
    `(max ${Math.max(...ours).toFixed(2)} %); ffmpeg -c copy per stream ${median(theirs).toFixed(2)} %; ` +
    `ratio producer/ffmpeg ${(median(ours) / median(theirs)).toFixed(2)}`);
  console.log(`  producer RSS per stream: after 1/4 of the run ${(median(firstQ) / 1024).toFixed(1)} MiB, at the end ` +
    `${(median(last) / 1024).toFixed(1)} MiB (growth ${((median(last) - median(firstQ)) / 1024).toFixed(1)} MiB)`);
}

console.log('ingest: pre-encoded 1080p30 ~4 Mbit/s H.264, stream-copied in real time (target: < 1 % of a core per stream, flat memory)');
await measure(1);
if (streams > 1) await measure(streams);
