// Clips complete at both ends, at the planner (planCut + layoutMp4 + writeLayout over segment files
// cut from recordings made like the producer's: stream-copied into fragmented MP4, by keyframe, and by
// time with long GOPs), judged by ffmpeg: audio covers the window to within one AAC frame when the
// window ends just before a keyframe or a segment boundary (the last audio is muxed into the next
// fragment); an open-GOP (x265) window starting on a segment's start keeps its first frame; a segment
// that begins mid-GOP decodes from the previous one's keyframe; and `partial` says when a frame of the
// window is missing, by count, not hidden by a tolerance.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CutPlan, type CutSource, planCut } from '../../src/mp4/cut.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { layoutMp4 } from '../../src/mp4/writer.js';
import { writeLayout } from '../../src/producer/clips/write-layout.js';
import { decodeErrors, probeStreams, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { AAC_FRAME_S, checkAudioAlignment, framesIn, recording, type Recording, writeSegmentFiles } from '../helpers/recordings.js';
import { hasX265 } from './fixtures.js';

const tmp = tempDir('segrec-cut-complete-');
after(() => tmp.cleanup());
let clipNo = 0;

function sourcesOf(paths: string[]): CutSource[] {
  return paths.map((p, i) => {
    const scan = scanFragmentedFile(readFileSync(p));
    assert.ok(scan.init);
    return { source: i, offsetNs: 0, init: scan.init, fragments: scan.fragments.map((f) => f.moof) };
  });
}

async function cut(paths: string[], startNs: number, stopNs: number): Promise<{ plan: CutPlan; out: string }> {
  const plan = planCut(sourcesOf(paths), { startNs, stopNs });
  const out = join(tmp.dir, `clip-${++clipNo}.mp4`);
  await writeLayout(layoutMp4(plan.tracks), paths, out);
  return { plan, out };
}

/** Frame-exact (decoded MD5s), clean, and — with audio — audio covering the clip within one AAC frame. */
async function checkExact(rec: Recording, out: string, plan: CutPlan, startNs: number, stopNs: number, audio: boolean): Promise<number> {
  const want = framesIn(rec, 0, startNs, stopNs);
  const [md5s, errors, streams] = await Promise.all([videoFrameMd5s(out), decodeErrors(out), probeStreams(out)]);
  assert.deepEqual(md5s, want.map((f) => f.md5), 'decoded frames = the recording\'s frames in the window');
  assert.equal(errors, '', 'decodes cleanly');
  assert.equal(plan.frames, want.length);
  assert.equal(plan.actualStartNs, want[0].ns);
  assert.ok(Math.abs(plan.actualStopNs - (want[want.length - 1].ns + rec.frameNs)) < 1000, 'the clip ends when its last frame does');
  assert.ok(Math.abs(plan.durationNs - want.length * rec.frameNs) < 1000, `plays ${plan.durationNs} ns for ${want.length} frames`);
  const a = streams.find((s) => s.codecType === 'audio');
  if (!audio) return 0;
  assert.ok(a, 'has audio');
  const videoS = plan.durationNs / 1e9;
  assert.ok(a.duration >= videoS - AAC_FRAME_S - 1e-6, `audio ${a.duration}s covers the clip's ${videoS}s within one AAC frame`);
  assert.ok(a.duration <= videoS + AAC_FRAME_S + 1e-6, `audio ${a.duration}s not longer than the clip's ${videoS}s`);
  return a.duration;
}

// H.264 with B-frames + AAC, stream-copied like the producer's ingest: a fragment per keyframe (0.5 s),
// segments of two fragments. ffmpeg muxes the last ~60 ms of a fragment's audio into the next one.
describe('audio to the end of a window that ends just before a keyframe', () => {
  let rec: Recording;
  let segs: string[];
  let byTime: Recording;
  let byTimeSegs: string[];
  before(async () => {
    rec = await recording(join(tmp.dir, 'kf.mp4'), { seconds: 4, fps: 30, gop: 15, bframes: 2, codec: 'h264', audio: true });
    segs = writeSegmentFiles(rec.buf, join(tmp.dir, 'kf'), [2, 4, 6], 0).map((s) => s.path);
    byTime = await recording(join(tmp.dir, 'dur.mp4'),
      { seconds: 8, fps: 30, gop: 120, bframes: 2, codec: 'h264', audio: true, fragDurationUs: 1_000_000 });
    // Fragments of about 1 s, a keyframe every 4 s: the second and third files begin mid-GOP.
    byTimeSegs = writeSegmentFiles(byTime.buf, join(tmp.dir, 'dur'), [2, 5], 0).map((s) => s.path);
  });

  it('the next segment lends the audio of the window\'s last frames (keyframe fragments)', async () => {
    const boundary = rec.fragments[4].startNs; // segment 2 starts here, on a keyframe
    for (const stopNs of [boundary, boundary - rec.frameNs / 2]) {
      const startNs = framesIn(rec, 0, boundary - 0.6e9, Infinity)[0].ns;
      const { plan, out } = await cut([segs[1], segs[2]], startNs, stopNs);
      await checkExact(rec, out, plan, startNs, stopNs, true);
      assert.deepEqual(plan.sourcesUsed, [0, 1], 'audio bytes come from the next segment too');
      assert.equal(plan.partial, false);
      const n = await checkAudioAlignment(out, rec.path, [{ clipNs: 0, srcNs: plan.actualStartNs, lengthNs: plan.durationNs }]);
      assert.ok(n > 10_000);
    }
  });

  it('the same with fragments cut by time and a segment boundary mid-GOP', async () => {
    const boundary = byTime.fragments[5].startNs; // segment 2 starts here, not on a keyframe
    assert.equal(byTime.fragments[5].keyframe, false);
    const startNs = framesIn(byTime, 0, boundary - 0.7e9, Infinity)[0].ns;
    const { plan, out } = await cut([byTimeSegs[1], byTimeSegs[2]], startNs, boundary);
    await checkExact(byTime, out, plan, startNs, boundary, true);
    assert.equal(plan.partial, false);
  });

  it('one frame before a keyframe inside a segment', async () => {
    const k = byTime.fragments[4];
    assert.equal(k.keyframe, true);
    const startNs = framesIn(byTime, 0, k.startNs - 0.8e9, Infinity)[0].ns;
    const { plan, out } = await cut(byTimeSegs, startNs, k.startNs - byTime.frameNs / 2);
    await checkExact(byTime, out, plan, startNs, k.startNs - byTime.frameNs / 2, true);
  });
});

describe('a segment that begins mid-GOP (fragments cut by time, 4 s GOP)', () => {
  let rec: Recording;
  let segs: string[];
  before(async () => {
    rec = await recording(join(tmp.dir, 'gop.mp4'),
      { seconds: 8, fps: 30, gop: 120, bframes: 2, codec: 'h264', audio: true, fragDurationUs: 1_000_000 });
    segs = writeSegmentFiles(rec.buf, join(tmp.dir, 'gop'), [2, 5], 0).map((s) => s.path);
  });

  it('a window inside it decodes from the keyframe in the previous segment', async () => {
    const startNs = framesIn(rec, 0, 2.5e9, Infinity)[0].ns + rec.frameNs / 3;
    const stopNs = 3.5e9;
    const { plan, out } = await cut([segs[0], segs[1]], startNs, stopNs);
    await checkExact(rec, out, plan, startNs, stopNs, true);
    assert.ok(plan.leadInNs > 2e9, `decoding starts at the keyframe 2.4 s earlier (lead-in ${plan.leadInNs / 1e6} ms)`);
    assert.deepEqual(plan.gaps, []);
    assert.equal(plan.partial, false);
    await checkAudioAlignment(out, rec.path, [{ clipNs: 0, srcNs: plan.actualStartNs, lengthNs: plan.durationNs }]);
  });

  it('a window across the mid-GOP join: one timeline, no gap, audio continuous', async () => {
    const startNs = 1.5e9;
    const stopNs = 2.6e9;
    const { plan, out } = await cut([segs[0], segs[1]], startNs, stopNs);
    await checkExact(rec, out, plan, startNs, stopNs, true);
    assert.deepEqual(plan.gaps, []);
    assert.deepEqual(plan.sourcesUsed, [0, 1]);
    // Within a source and across a seamless join, audio keeps the recording's own spacing (1024).
    assert.ok(plan.tracks[1].samples.slice(0, -1).every((s) => s.duration === 1024));
    await checkAudioAlignment(out, rec.path, [{ clipNs: 0, srcNs: plan.actualStartNs, lengthNs: plan.durationNs }]);
  });
});

describe('H.265 open GOPs (x265 defaults: CRA keyframes with leading pictures)', () => {
  let rec: Recording | null = null;
  let segs: string[] = [];
  before(async () => {
    if (!(await hasX265())) return;
    rec = await recording(join(tmp.dir, 'hevc.mp4'), { seconds: 4, fps: 30, gop: 30, bframes: 3, codec: 'h265', audio: true });
    segs = writeSegmentFiles(rec.buf, join(tmp.dir, 'hevc'), [1, 2, 3], 0).map((s) => s.path);
  });

  it('a window starting exactly at a segment\'s start keeps its first frame', async (t) => {
    if (!rec) { t.skip('libx265 not available'); return; }
    const startNs = rec.fragments[2].startNs;
    const first = framesIn(rec, 0, startNs, Infinity)[0];
    assert.equal(first.ns, startNs, 'the segment starts with a frame presented before its keyframe');
    assert.equal(first.keyframe, false);
    const { plan, out } = await cut([segs[1], segs[2]], startNs, startNs + 0.5e9);
    await checkExact(rec, out, plan, startNs, startNs + 0.5e9, true);
    assert.equal(plan.partial, false);
  });

  it('without the previous GOP that frame is missing, and the clip says so', async (t) => {
    if (!rec) { t.skip('libx265 not available'); return; }
    const startNs = rec.fragments[2].startNs;
    const stopNs = startNs + 0.5e9;
    const want = framesIn(rec, 0, startNs, stopNs);
    const keyNs = want.find((f) => f.keyframe)!.ns;
    const leading = want.filter((f) => f.ns < keyNs).length;
    assert.ok(leading >= 1);
    const { plan, out } = await cut([segs[2]], startNs, stopNs);
    assert.equal(plan.frames, want.length - leading);
    assert.deepEqual(await videoFrameMd5s(out), want.slice(leading).map((f) => f.md5));
    assert.equal(plan.partial, true);
    assert.match(plan.partialReason ?? '', new RegExp(`^${leading} frames? of the window could not be included`));
  });
});

describe('partial: footage missing at an end, by whole frame intervals', () => {
  let rec: Recording;
  before(async () => {
    rec = await recording(join(tmp.dir, 'ends.mp4'), { seconds: 2, fps: 30, gop: 15, bframes: 0, codec: 'h264', audio: false });
  });

  it('a frame interval before the first frame is missing footage; less is not', () => {
    const sources = sourcesOf([rec.path]);
    const first = rec.frames[0].ns;
    const lastEnd = rec.frames[rec.frames.length - 1].ns + rec.frameNs;
    const at = (startNs: number, stopNs: number) => planCut(sources, { startNs, stopNs });
    assert.equal(at(first, 1e9).partial, false);
    assert.equal(at(first - rec.frameNs / 2, 1e9).partial, false);
    assert.equal(at(Math.round(first - rec.frameNs), 1e9).partialReason, 'footage missing at the start of the window');
    assert.equal(at(1e9, Math.round(lastEnd)).partial, false);
    assert.equal(at(1e9, Math.round(lastEnd + rec.frameNs / 2)).partial, false);
    assert.equal(at(1e9, Math.round(lastEnd + rec.frameNs)).partialReason, 'footage missing at the end of the window');
    assert.equal(at(first - 1e9, lastEnd + 1e9).partialReason, 'footage missing at both ends of the window');
  });
});
