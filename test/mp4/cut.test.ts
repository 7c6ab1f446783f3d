// Clip exactness: planCut + layoutMp4 + writeLayout over producer-like segment files, judged by ffmpeg:
// the clip's decoded frames must be exactly the source's frames whose pts lie in the window, decode
// cleanly, and last as long as the plan says (audio within one AAC frame of the video).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CutError, type CutPlan, type CutSource, planCut } from '../../src/mp4/cut.js';
import { parseInit } from '../../src/mp4/init.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { layoutMp4 } from '../../src/mp4/writer.js';
import { writeLayout } from '../../src/producer/clips/write-layout.js';
import {
  type MakeVideoOptions, audioPcm, decodeErrors, makeVideo, probeFrames, probeStreams, tempDir, videoFrameMd5s,
} from '../helpers/media.js';
import { fragmentsOf, hasX265, makeVariant, writeSegments } from './fixtures.js';

const tmp = tempDir('segrec-mp4-cut-');
after(() => tmp.cleanup());
let clipNo = 0;

interface Source { path: string; timescale: number; frames: Array<{ ns: number; md5: string; keyframe: boolean }>; frameNs: number }

/** Makes a video and lists its frames (presentation order) with their ns and md5, from ffmpeg alone. */
async function source(name: string, o: MakeVideoOptions): Promise<Source> {
  const path = join(tmp.dir, `${name}.mp4`);
  await makeVideo(path, o);
  const [probed, md5s] = await Promise.all([probeFrames(path), videoFrameMd5s(path)]);
  assert.equal(probed.length, md5s.length);
  // ffprobe gives pts in the stream time base: pts_time * timescale = pts.
  const timescale = Math.round(probed[1].pts / probed[1].ptsTime);
  const frames = probed.map((f, i) => ({ ns: Math.round((f.pts * 1e9) / timescale), md5: md5s[i], keyframe: f.keyframe }));
  return { path, timescale, frames, frameNs: 1e9 / (o.fps ?? 30) };
}

function loadSources(paths: string[], offsets: number[]): CutSource[] {
  return paths.map((p, i) => {
    const scan = scanFragmentedFile(readFileSync(p));
    assert.ok(scan.init, p);
    return { source: i, offsetNs: offsets[i], init: scan.init, fragments: scan.fragments.map((f) => f.moof) };
  });
}

async function cut(paths: string[], offsets: number[], startNs: number, stopNs: number): Promise<{ plan: CutPlan; out: string }> {
  const plan = planCut(loadSources(paths, offsets), { startNs, stopNs });
  const layout = layoutMp4(plan.tracks);
  const out = join(tmp.dir, `clip-${++clipNo}.mp4`);
  await writeLayout(layout, paths, out);
  assert.equal(readFileSync(out).length, layout.size);
  return { plan, out };
}

/** The contiguous run of source frames whose pts lie in [start, stop). */
function expectedFrames(src: Source, startNs: number, stopNs: number, offsetNs = 0): Array<{ ns: number; md5: string }> {
  const sorted = [...src.frames].sort((a, b) => a.ns - b.ns);
  return sorted.filter((f) => f.ns + offsetNs >= startNs && f.ns + offsetNs < stopNs).map((f) => ({ ns: f.ns + offsetNs, md5: f.md5 }));
}

const pcmCache = new Map<string, Promise<Int16Array>>();
function sourcePcm(path: string): Promise<Int16Array> {
  let p = pcmCache.get(path);
  if (!p) { p = audioPcm(path); pcmCache.set(path, p); }
  return p;
}

/**
 * A/V alignment: each piece of the clip (clip time → source time) must carry the source's decoded
 * audio at the same place. AAC decoding is not bit-exact across a cut (noise substitution state),
 * so the test is the mean absolute difference: a few LSB when aligned, ~100× that when off by one
 * sample of the 440 Hz tone. The first 2048 samples of a piece are skipped (a frame decodes from
 * itself and its predecessor, which the clip lacks at a cut), and the last 1024.
 */
async function checkAudioAlignment(out: string, srcPath: string, pieces: Array<{ clipNs: number; srcNs: number; lengthNs: number }>): Promise<void> {
  const [clip, src] = await Promise.all([audioPcm(out), sourcePcm(srcPath)]);
  const meanDiff = (c0: number, s0: number, n: number): number => {
    let d = 0;
    for (let i = 0; i < n; i++) d += Math.abs(clip[c0 + i] - src[s0 + i]);
    return d / n;
  };
  let compared = 0;
  for (const p of pieces) {
    const c0 = Math.round((p.clipNs * 48000) / 1e9) + 2048;
    const s0 = Math.round((p.srcNs * 48000) / 1e9) + 2048;
    const n = Math.min(Math.round((p.lengthNs * 48000) / 1e9) - 3072, clip.length - c0 - 1024, src.length - s0 - 64);
    if (n <= 0) continue;
    const d = meanDiff(c0, s0, n);
    if (d > 4) {
      let best = 0;
      for (let k = -Math.min(s0, 4800); k < 4800; k++) if (meanDiff(c0, s0 + k, Math.min(n, 2048)) < meanDiff(c0, s0 + best, Math.min(n, 2048))) best = k;
      assert.fail(`audio piece at clip ${p.clipNs} ns ↔ source ${p.srcNs} ns: mean |diff| ${d.toFixed(1)}; best match ${best} samples off`);
    }
    compared += n;
  }
  assert.ok(compared > 4000, `compared ${compared} audio samples`);
}

/**
 * `audioShortS`: how much earlier than the video the audio may end (footage whose audio is in a
 * source the clip could not use); otherwise audio must be within one AAC frame of the video.
 */
async function checkClip(
  out: string, plan: CutPlan, want: Array<{ ns: number; md5: string }>, src: Source, audio: boolean, audioShortS = 0,
): Promise<void> {
  const [md5s, errors, streams] = await Promise.all([videoFrameMd5s(out), decodeErrors(out), probeStreams(out)]);
  assert.deepEqual(md5s, want.map((f) => f.md5), 'decoded frames = the source frames in the window');
  assert.equal(errors, '', 'decodes cleanly');
  assert.equal(plan.frames, want.length);
  assert.equal(plan.actualStartNs, want[0].ns);
  const v = streams.find((s) => s.codecType === 'video');
  assert.ok(v);
  assert.equal(v.nbFrames, want.length);
  const windowS = plan.durationNs / 1e9;
  assert.ok(Math.abs(v.duration - windowS) <= src.frameNs / 1e9 + 1e-6, `video duration ${v.duration} vs ${windowS}`);
  if (plan.gaps.length === 0) assert.equal(plan.durationNs, plan.actualStopNs - plan.actualStartNs);
  const a = streams.find((s) => s.codecType === 'audio');
  if (audio) {
    assert.ok(a, 'has audio');
    const aac = 1024 / 48000 + 1e-6;
    assert.ok(a.duration <= windowS + aac && a.duration >= windowS - aac - audioShortS, `audio duration ${a.duration} vs ${windowS}`);
  } else {
    assert.equal(a, undefined);
  }
}

const SPLITS: Array<{ name: string; cuts: number[] }> = [
  { name: '1 segment', cuts: [] },
  { name: '2 segments', cuts: [4] },
  { name: '4 segments', cuts: [2, 4, 6] },
];

// 4 s at 30 fps, GOP 15 (0.5 s): 8 fragments. Windows in seconds; "on" = starts on a keyframe.
const WINDOWS: Array<{ name: string; start: number; stop: number }> = [
  { name: 'on keyframe, inside segment 1', start: 0.5, stop: 0.9 },
  { name: 'off keyframe, inside segment 1', start: 0.57, stop: 0.93 },
  { name: 'off keyframe, across the middle', start: 1.73, stop: 2.41 },
  { name: 'on keyframe, across all four', start: 0.5, stop: 3.5 },
  { name: 'off keyframe, across all four', start: 0.37, stop: 3.61 },
  { name: 'whole recording and beyond', start: -1, stop: 10 },
];

const VARIANTS: Array<{ name: string; o: MakeVideoOptions }> = [
  { name: 'H.264 + AAC', o: { seconds: 4, fps: 30, gop: 15, audio: true } },
  { name: 'H.264 B-frames + AAC', o: { seconds: 4, fps: 30, gop: 15, bframes: 2, audio: true } },
  { name: 'H.265 B-frames', o: { seconds: 4, fps: 30, gop: 15, bframes: 2, codec: 'h265' } },
];

for (const variant of VARIANTS) {
  describe(`clip exactness: ${variant.name}`, () => {
    let src: Source | null = null;
    const segs = new Map<string, string[]>();
    before(async () => {
      if (variant.o.codec === 'h265' && !(await hasX265())) return;
      src = await source(variant.name.replace(/\W+/g, '_'), variant.o);
      const buf = readFileSync(src.path);
      assert.equal(fragmentsOf(buf).fragments.length, 8);
      for (const s of SPLITS) segs.set(s.name, writeSegments(buf, tmp.dir, `${variant.name.replace(/\W+/g, '_')}-${s.cuts.length}`, s.cuts));
    });
    for (const split of SPLITS) {
      for (const w of WINDOWS) {
        // Keep the matrix small: the widest windows only on the 4-way split, the narrow ones on all.
        if (w.name.includes('four') && split.cuts.length < 3) continue;
        if (w.name.includes('whole') && split.cuts.length === 0) continue;
        it(`${split.name}: ${w.name}`, async (t) => {
          if (!src) { t.skip('libx265 not available'); return; }
          const startNs = Math.round(w.start * 1e9);
          const stopNs = Math.round(w.stop * 1e9);
          const paths = segs.get(split.name) as string[];
          const { plan, out } = await cut(paths, paths.map(() => 0), startNs, stopNs);
          const want = expectedFrames(src, startNs, stopNs);
          await checkClip(out, plan, want, src, variant.o.audio === true);
          if (variant.o.audio) await checkAudioAlignment(out, src.path, [{ clipNs: 0, srcNs: plan.actualStartNs, lengthNs: plan.durationNs }]);
          // The widest window starts and ends a second beyond the footage: frames of it are missing.
          assert.equal(plan.partial, w.name.includes('whole'));
          assert.equal(plan.partialReason, w.name.includes('whole') ? 'footage missing at both ends of the window' : null);
          assert.deepEqual(plan.gaps, []);
          const keyframeNs = Math.max(...src.frames.filter((f) => f.keyframe && f.ns <= want[0].ns).map((f) => f.ns));
          assert.equal(plan.leadInNs, want[0].ns - keyframeNs, 'lead-in from the keyframe before');
          // Frame n (presentation order) is in fragment floor(n / 15); which segment holds that fragment:
          const bounds = [0, ...split.cuts, 8];
          const segOf = (frag: number) => bounds.findIndex((b, i) => frag >= b && frag < bounds[i + 1]);
          const sorted = [...src.frames].sort((a, b) => a.ns - b.ns);
          const segsWanted = [...new Set(want.map((f) => segOf(Math.floor(sorted.findIndex((x) => x.ns === f.ns) / 15))))];
          assert.deepEqual(plan.sourcesUsed, segsWanted);
        });
      }
    }
  });
}

describe('joins, gaps and description changes', () => {
  let src: Source;
  let other: string;
  before(async () => {
    src = await source('join', { seconds: 4, fps: 30, gop: 15, bframes: 2, audio: true });
    other = join(tmp.dir, 'other.mp4');
    await makeVideo(other, { seconds: 2, fps: 30, gop: 15, bframes: 2, audio: true, width: 160, height: 120 });
  });

  it('a gap between two segments is removed from the timeline and reported', async () => {
    const paths = writeSegments(readFileSync(src.path), tmp.dir, 'gap', [4]);
    const gapNs = 5e9;
    const startNs = 1.27e9;
    const stopNs = 3.33e9 + gapNs;
    const { plan, out } = await cut(paths, [0, gapNs], startNs, stopNs);
    const firstHalf = expectedFrames(src, startNs, stopNs).filter((f) => f.ns < 2.05e9);
    const secondHalf = expectedFrames(src, startNs, stopNs, gapNs).filter((f) => f.ns >= 2.05e9 + gapNs);
    const want = [...firstHalf, ...secondHalf];
    await checkClip(out, plan, want, src, true);
    assert.equal(plan.gaps.length, 1);
    const g = plan.gaps[0];
    assert.ok(Math.abs(g.startNs - (firstHalf[firstHalf.length - 1].ns + src.frameNs)) < 2, `gap starts at the end of the footage: ${g.startNs}`);
    assert.equal(g.stopNs, secondHalf[0].ns);
    assert.deepEqual(plan.sourcesUsed, [0, 1]);
    assert.ok(Math.abs(plan.durationNs - (plan.actualStopNs - plan.actualStartNs - (g.stopNs - g.startNs))) < 2);
    const firstLen = g.startNs - plan.actualStartNs;
    // The first segment's audio ends where its last fragment's audio does (muxed by decode time, so
    // about the B-frame delay before its video ends): the clip has no audio for that bit.
    const first = loadSources([paths[0]], [0])[0];
    const aTrack = first.init.tracks.find((x) => x.kind === 'audio')!;
    const lastAudio = first.fragments.flatMap((m) => m.trackRuns.filter((r) => r.trackId === aTrack.trackId).flatMap((r) => r.samples)).pop()!;
    const audioEndNs = Math.round(((lastAudio.decodeTime + lastAudio.duration) * 1e9) / aTrack.timescale);
    assert.ok(audioEndNs < g.startNs);
    await checkAudioAlignment(out, src.path, [
      { clipNs: 0, srcNs: plan.actualStartNs, lengthNs: audioEndNs - plan.actualStartNs },
      { clipNs: firstLen, srcNs: g.stopNs - gapNs, lengthNs: plan.actualStopNs - g.stopNs },
    ]);
  });

  it('contiguous segments join seamlessly (no gap reported)', async () => {
    const paths = writeSegments(readFileSync(src.path), tmp.dir, 'seam', [1, 2, 3, 4, 5, 6, 7]);
    const { plan } = await cut(paths, paths.map(() => 0), 0, 10e9);
    assert.deepEqual(plan.gaps, []);
    assert.equal(plan.sourcesUsed.length, 8);
    assert.equal(plan.frames, src.frames.length);
    const audio = plan.tracks[1];
    // One clock, no gaps: every audio sample keeps its source duration (1024).
    assert.ok(audio.samples.slice(0, -1).every((s) => s.duration === 1024));
  });

  it('a description change ends the clip before it: partial', async () => {
    const paths = writeSegments(readFileSync(src.path), tmp.dir, 'desc', [4]);
    const startNs = 0.6e9;
    const stopNs = 5e9;
    const secondOffset = 2.2e9; // the 160x120 recording starts after the first half's footage
    const { plan, out } = await cut([paths[0], other], [0, secondOffset], startNs, stopNs);
    assert.equal(plan.partial, true);
    assert.match(plan.partialReason ?? '', /video sample description changes at source 1.*320x240.*160x120/);
    const want = expectedFrames(src, startNs, 2.05e9);
    // The audio of the last two frames' time (B-frame delay) was muxed into the second half, which
    // the clip cannot use: the audio may end that much early.
    await checkClip(out, plan, want, src, true, 3 * src.frameNs / 1e9);
    assert.deepEqual(plan.sourcesUsed, [0]);
  });

  it('a description change after the window is not partial', async () => {
    const paths = writeSegments(readFileSync(src.path), tmp.dir, 'desc2', [4]);
    const { plan } = await cut([paths[0], other], [0, 2.2e9], 0.6e9, 1.5e9);
    assert.equal(plan.partial, false);
    assert.equal(plan.partialReason, null);
  });

  it('no frame in the window, or a nonsense window, is a CutError', () => {
    const sources = loadSources([src.path], [0]);
    assert.throws(() => planCut(sources, { startNs: 20e9, stopNs: 21e9 }), CutError);
    assert.throws(() => planCut(sources, { startNs: 2e9, stopNs: 2e9 }), CutError);
    assert.throws(() => planCut(sources, { startNs: Number.NaN, stopNs: 2e9 }), CutError);
    assert.throws(() => planCut([], { startNs: 0, stopNs: 1 }), CutError);
    // The window falls in the gap between two sources: nothing to return.
    const paths = writeSegments(readFileSync(src.path), tmp.dir, 'hole', [4]);
    assert.throws(() => planCut(loadSources(paths, [0, 10e9]), { startNs: 3e9, stopNs: 9e9 }), /no video frame/);
  });
});

describe('negative composition offsets (trun v1)', () => {
  it('a clip across two segments is frame-exact and decodes cleanly', async () => {
    const path = join(tmp.dir, 'negcts.mp4');
    await makeVariant(path, 'frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets',
      ['-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '2'], 2);
    const buf = readFileSync(path);
    const paths = writeSegments(buf, tmp.dir, 'negcts', [2]);
    const [probed, md5s] = await Promise.all([probeFrames(path), videoFrameMd5s(path)]);
    // ffmpeg shows these pts shifted up by its dts_shift (the largest negative offset); undo that,
    // measured on the earliest frame, to get the file's own presentation times.
    const ours = scanFragmentedFile(buf).fragments.flatMap((f) => f.moof.trackRuns[0].samples);
    const ts = parseInit(buf).tracks[0].timescale;
    const shift = Math.min(...probed.map((x) => x.pts)) - Math.min(...ours.map((x) => x.decodeTime + x.ctsOffset));
    const frames = probed.map((f, i) => ({ ns: Math.round(((f.pts - shift) * 1e9) / ts), md5: md5s[i], keyframe: f.keyframe }));
    const src: Source = { path, timescale: ts, frames, frameNs: 1e9 / 30 };
    const startNs = 0.37e9;
    const stopNs = 1.71e9;
    const { plan, out } = await cut(paths, [0, 0], startNs, stopNs);
    assert.ok(plan.tracks[0].samples.some((x) => x.ctsOffset < 0), 'the clip keeps negative offsets (ctts v1)');
    await checkClip(out, plan, expectedFrames(src, startNs, stopNs), src, false);
  });
});
