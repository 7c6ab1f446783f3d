// Clip assembly benchmark (issue 4): on 1080p30 4 Mbit/s H.264 segments with a 2 s GOP, a 30 s window
// over 4 segments, side by side in one run: our assembly (in process), `ffmpeg -f concat -ss … -c copy`
// (a process, as peers do it), a plain fs.copyFile of a file the size of the clip, and end-to-end
// Recorder.requestClip latency for a past window. Prints medians and ratios.
//   npx tsx bench/clip.ts [--runs 15]
import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fixture1080p, fmt, median } from './lib.js';
import { scanFragmentedFile } from '../src/mp4/scan.js';
import { ticksToNs } from '../src/mp4/time.js';
import { startProducer } from '../src/producer/app.js';
import { assembleClip } from '../src/producer/clips/assemble.js';
import { createLogger } from '../src/common/log.js';
import { Recorder } from '../src/index.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;
const root = join(process.cwd(), '.tmp', 'bench-clip');
rmSync(join(root, 'data'), { recursive: true, force: true });
mkdirSync(join(root, 'data', 'segments', '2026-01-01'), { recursive: true });
const src = fixture1080p(join(process.cwd(), '.tmp', 'src1080p-40s.mp4'), 40);

// Fragment the source exactly like ingest does, then cut it into four 10 s segment files.
const frag = join(root, 'frag.mp4');
const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', src, '-c', 'copy', '-f', 'mp4', '-movflags',
  'frag_keyframe+empty_moov+default_base_moof', frag]);
if (r.status !== 0) throw new Error(String(r.stderr));
const bytes = readFileSync(frag);
const scan = scanFragmentedFile(bytes);
const init = scan.init!;
const video = init.tracks.find((t) => t.kind === 'video')!;
const OFFSET = 1_000_000_000_000n; // 1000 s on the producer clock
const segPaths: string[] = [];
for (let s = 0; s < 4; s++) {
  const frs = scan.fragments.slice(s * 5, s * 5 + 5);
  const vr = frs[0].moof.trackRuns.find((t) => t.trackId === video.trackId)!;
  const startNs = OFFSET + BigInt(ticksToNs(vr.samples[0].decodeTime + vr.samples[0].ctsOffset, video.timescale));
  const p = join(root, 'data', 'segments', '2026-01-01', `${startNs}.mp4`);
  writeFileSync(p, Buffer.concat([init.bytes, ...frs.map((f) => bytes.subarray(f.offset, f.offset + f.size))]));
  segPaths.push(p);
}

// A producer over that data directory (recovery adopts the files); its source is absent, so it records nothing.
const producer = await startProducer({
  dataDir: join(root, 'data'), port: 0, source: join(root, 'no-such-source.mp4'),
  logger: createLogger({ level: 'error' }),
});
const p = producer.producer;
const startNs = OFFSET + 5_000_000_000n;
const stopNs = OFFSET + 35_000_000_000n;
const rows = p.index.overlapping(startNs, stopNs);
if (rows.length !== 4) throw new Error(`expected 4 segments, got ${rows.length}`);
const segments = rows.map((row) => ({ row, fragments: p.index.fragmentsIn(row.id, startNs, stopNs) }));
const out = join(root, 'out');
mkdirSync(out, { recursive: true });

const ours: number[] = [];
let clipBytes = 0;
for (let i = 0; i < runs + 2; i++) {
  const t = performance.now();
  const res = await assembleClip({
    clipId: `clip-${String(i).padStart(16, '0')}`, segments, segmentsDir: p.segmentsDir, startNs, stopNs, outDir: out,
    filename: 'bench.mp4', sidecarExtra: {},
  });
  const ms = performance.now() - t;
  if (i >= 2) ours.push(ms);
  clipBytes = res.bytes;
  unlinkSync(res.path);
  unlinkSync(res.sidecarPath);
}

const list = join(root, 'list.txt');
writeFileSync(list, segPaths.map((s) => `file '${s}'`).join('\n') + '\n');
const ff: number[] = [];
for (let i = 0; i < Math.min(runs, 10) + 1; i++) {
  const t = performance.now();
  const f = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'concat', '-safe', '0', '-ss', '5', '-i', list,
    '-t', '30', '-c', 'copy', join(out, 'ffmpeg.mp4')]);
  if (f.status !== 0) throw new Error(String(f.stderr));
  if (i >= 1) ff.push(performance.now() - t);
}

const same = join(root, 'same-size.bin');
writeFileSync(same, Buffer.alloc(clipBytes, 7));
const cp: number[] = [];
const cpSync: number[] = [];
for (let i = 0; i < runs + 2; i++) {
  let t = performance.now();
  copyFileSync(same, join(out, 'copy.bin'));
  if (i >= 2) cp.push(performance.now() - t);
  unlinkSync(join(out, 'copy.bin'));
  // The same copy made durable the way a clip is (fsync before it counts as written).
  t = performance.now();
  copyFileSync(same, join(out, 'copy.bin'));
  const fd = openSync(join(out, 'copy.bin'), 'r+');
  fsyncSync(fd);
  closeSync(fd);
  if (i >= 2) cpSync.push(performance.now() - t);
  unlinkSync(join(out, 'copy.bin'));
}

const rec = new Recorder({ producerBaseUrl: producer.url, maxWaitMs: 30_000, pollIntervalMs: 50 });
const e2e: number[] = [];
for (let i = 0; i < runs + 2; i++) {
  const t = performance.now();
  const res = await rec.requestClip({ startPtsNs: startNs, stopPtsNs: stopNs });
  if (i >= 2) e2e.push(performance.now() - t);
  unlinkSync(res.path!);
  unlinkSync(res.path!.replace(/\.mp4$/, '.json'));
}
await producer.close();

const mo = median(ours);
const mc = median(cp);
const mcs = median(cpSync);
const mf = median(ff);
const me = median(e2e);
console.log(`clip: 30 s window over 4 segments of 1080p30 ~4 Mbit/s H.264 (2 s GOP); clip ${(clipBytes / 1e6).toFixed(1)} MB; medians of ${runs} runs`);
console.log(`  plain fs.copyFile (same bytes)     ${fmt(mc).padStart(8)} ms   1.00×`);
console.log(`  plain copy + fsync (durable)       ${fmt(mcs).padStart(8)} ms   ${(mcs / mc).toFixed(2)}× copy`);
console.log(`  our assembly (in process, fsynced) ${fmt(mo).padStart(8)} ms   ${(mo / mc).toFixed(2)}× copy, ${(mo / mcs).toFixed(2)}× copy+fsync   (target ≤ 2×)`);
console.log(`  ffmpeg -f concat -ss -c copy       ${fmt(mf).padStart(8)} ms   ${(mf / mc).toFixed(2)}× copy   ${(mf / mo).toFixed(1)}× ours (target ≥ 5×)`);
console.log(`  Recorder.requestClip end to end    ${fmt(me).padStart(8)} ms   (target median < 50 ms)`);
console.log(`  source segment sizes: ${segPaths.map((s) => (statSync(s).size / 1e6).toFixed(1) + ' MB').join(', ')}`);
