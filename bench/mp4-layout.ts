// Benchmark of the clip path without ffmpeg: planCut + layoutMp4 for an hour of 30 fps video + AAC
// spread over 60 one-minute segments, then writeLayout of a ~256 MiB clip from synthetic segment
// files, compared with fs.copyFile of the same number of bytes. Run: npx tsx bench/mp4-layout.ts
import { copyFile, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CutSource, planCut } from '../src/mp4/cut.js';
import type { ParsedMoof, TrackRun } from '../src/mp4/fragment.js';
import type { InitSegment, TrackInfo } from '../src/mp4/init.js';
import { layoutMp4 } from '../src/mp4/writer.js';
import { writeLayout } from '../src/producer/clips/write-layout.js';

const VIDEO_TS = 15360;
const FPS = 30;
const GOP = 30;
const FRAGS_PER_SEGMENT = 60;
const SEGMENTS = Number(process.env.BENCH_SEGMENTS ?? 60);

function track(kind: 'video' | 'audio', trackId: number, timescale: number): TrackInfo {
  const stsd = Buffer.alloc(16);
  stsd.writeUInt32BE(16, 0);
  stsd.write('stsd', 4, 'latin1');
  return {
    trackId, kind, handler: kind === 'video' ? 'vide' : 'soun', timescale, sampleEntry: kind === 'video' ? 'avc1' : 'mp4a', codec: kind === 'video' ? 'h264' : 'aac',
    codecString: '', width: 1280, height: 720, stsd, descriptionKey: kind,
    defaults: { sampleDescriptionIndex: 1, sampleDuration: 0, sampleSize: 0, sampleFlags: 0 },
  };
}

/** One segment's fragments: per GOP a moof (1 KiB) + video frames (~4 Mbit/s) and AAC frames interleaved. */
function segment(index: number, frameBytes: number): { frags: ParsedMoof[]; bytes: number } {
  const frags: ParsedMoof[] = [];
  let pos = 1024; // init
  let audioDts = (index * FRAGS_PER_SEGMENT * GOP * 48000) / FPS;
  for (let f = 0; f < FRAGS_PER_SEGMENT; f++) {
    pos += 1024; // moof + mdat header
    const gop = index * FRAGS_PER_SEGMENT + f;
    const v: TrackRun = { trackId: 1, baseDecodeTime: gop * GOP * 512, samples: [] };
    const a: TrackRun = { trackId: 2, baseDecodeTime: audioDts, samples: [] };
    for (let i = 0; i < GOP; i++) {
      const size = i === 0 ? frameBytes * 8 : frameBytes;
      v.samples.push({ decodeTime: v.baseDecodeTime + i * 512, duration: 512, size, ctsOffset: 0, isSync: i === 0, fileOffset: pos });
      pos += size;
    }
    const audioEnd = ((gop + 1) * GOP * 48000) / FPS;
    while (audioDts + 1024 <= audioEnd) {
      a.samples.push({ decodeTime: audioDts, duration: 1024, size: 300, ctsOffset: 0, isSync: true, fileOffset: pos });
      pos += 300;
      audioDts += 1024;
    }
    frags.push({ sequenceNumber: gop + 1, trackRuns: [v, a] });
  }
  return { frags, bytes: pos };
}

async function main(): Promise<void> {
  const init: InitSegment = { bytes: Buffer.alloc(0), tracks: [track('video', 1, VIDEO_TS), track('audio', 2, 48000)], movieTimescale: 1000 };

  // 1. Planning an hour-long clip (metadata only).
  const big = Array.from({ length: SEGMENTS }, (_, i) => segment(i, 16_000));
  const sources: CutSource[] = big.map((s, i) => ({ source: i, offsetNs: 0, init, fragments: s.frags }));
  let t0 = performance.now();
  const plan = planCut(sources, { startNs: 1.5e9, stopNs: SEGMENTS * 60e9 - 0.5e9 });
  const tPlan = performance.now() - t0;
  t0 = performance.now();
  const layout = layoutMp4(plan.tracks);
  const tLayout = performance.now() - t0;
  console.log(`planCut: ${plan.frames} frames from ${plan.sourcesUsed.length} segments in ${tPlan.toFixed(0)} ms; `
    + `layoutMp4: moov ${(layout.head.length / 1024).toFixed(0)} KiB, ${layout.copies.length} copies in ${tLayout.toFixed(0)} ms`);

  // 2. Writing a ~256 MiB clip from 4 real segment files.
  const dir = await mkdtemp(join(tmpdir(), 'segrec-bench-'));
  try {
    const small = Array.from({ length: 4 }, (_, i) => segment(i, 32_000));
    const paths: string[] = [];
    for (const [i, s] of small.entries()) {
      const p = join(dir, `seg-${i}.mp4`);
      const fh = await open(p, 'w');
      const chunk = Buffer.alloc(8 * 1024 * 1024, i + 1);
      for (let done = 0; done < s.bytes; done += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, s.bytes - done));
      await fh.sync(); // no writeback of the inputs competing with the timed part
      await fh.close();
      paths.push(p);
    }
    const srcs: CutSource[] = small.map((s, i) => ({ source: i, offsetNs: 0, init, fragments: s.frags }));
    const clipPlan = planCut(srcs, { startNs: 0.2e9, stopNs: 4 * 60e9 });
    const clipLayout = layoutMp4(clipPlan.tracks);
    const out = join(dir, 'clip.mp4');
    t0 = performance.now();
    await writeLayout(clipLayout, paths, out);
    const tWrite = performance.now() - t0;
    const mib = clipLayout.size / 1024 / 1024;
    // Baseline: copy one file of the same size (the kernel's own copy path).
    const same = join(dir, 'same.bin');
    const fh = await open(same, 'w');
    await fh.truncate(clipLayout.size);
    const fill = Buffer.alloc(8 * 1024 * 1024, 7);
    for (let done = 0; done < clipLayout.size; done += fill.length) await fh.write(fill, 0, Math.min(fill.length, clipLayout.size - done), done);
    await fh.sync();
    await fh.close();
    t0 = performance.now();
    await copyFile(same, join(dir, 'copy.bin'));
    const cf = await open(join(dir, 'copy.bin'), 'r+');
    await cf.sync();
    await cf.close();
    const tCopy = performance.now() - t0;
    console.log(`writeLayout: ${mib.toFixed(0)} MiB, ${clipLayout.copies.length} copy ranges, in ${tWrite.toFixed(0)} ms `
      + `(${(mib / (tWrite / 1000)).toFixed(0)} MiB/s, incl. fsync); fs.copyFile + fsync of the same size: ${tCopy.toFixed(0)} ms`);
    console.log(`clip file: ${(await stat(out)).size} bytes`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
