// Frame exactness, checked by an oracle that is not our code: the decoded frames of a clip
// (ffmpeg -f framemd5, which honours edit lists) must be exactly the contiguous run of recorded source
// frames whose pts lie in the window — with and without B-frames, across 1, 2 and 4 segments, starting on
// and off a keyframe, inside the open segment, and with audio.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { decodeErrors, makeVideo, probeStreams, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { listSegments, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { framesIn, makeClip, sourceFrames, type SourceFrame } from '../helpers/clips.js';

const FRAME_NS = 1e9 / 15;

async function checkExact(url: string, dataDir: string, frames: SourceFrame[], startNs: number, stopNs: number, what: string) {
  const clip = await makeClip(url, { start_pts_ns: Math.round(startNs), stop_pts_ns: Math.round(stopNs), label: what });
  assert.equal(clip.status, 'done', `${what}: ${clip.error}`);
  const expected = framesIn(frames, startNs, stopNs);
  assert.ok(expected.length > 0);
  const got = await videoFrameMd5s(clip.path!);
  assert.deepEqual(got, expected.map((f) => f.md5), `${what}: decoded frames are exactly the window's source frames`);
  assert.equal(clip.frames, expected.length);
  assert.ok(Math.abs(clip.actual_start_pts_ns! - expected[0].ptsNs) < 1000, `${what}: actual start is the first frame in the window`);
  assert.equal(await decodeErrors(clip.path!), '', `${what}: decodes without error`);
  const [v] = (await probeStreams(clip.path!)).filter((s) => s.codecType === 'video');
  assert.ok(Math.abs(v.duration * 1e9 - expected.length * FRAME_NS) <= FRAME_NS, `${what}: stream duration ${v.duration}s for ${expected.length} frames`);
  assert.equal(clip.partial, false);
  return { clip, expected };
}

describe('frame-exact clips from testsrc (no B-frames)', () => {
  const tmp = tempDir();
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  let segs: SegmentWire[];
  let frames: SourceFrame[];
  before(async () => {
    p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
    segs = await waitFor('5 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 5 ? s.slice(0, 5) : null;
    }, 30_000);
    frames = await sourceFrames(tmp.dir, segs);
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  test('inside one segment, starting off a keyframe', async () => {
    const { clip } = await checkExact(p.url, tmp.dir, frames, segs[1].start_pts_ns + 3.5 * FRAME_NS, segs[1].start_pts_ns + 10.5 * FRAME_NS, 'one-off-key');
    assert.ok(clip.lead_in_ms! > 0, 'frames before the start were decoded but hidden');
    assert.equal(clip.segments.length, 1);
  });

  test('inside one segment, starting on a keyframe', async () => {
    const { clip } = await checkExact(p.url, tmp.dir, frames, segs[1].start_pts_ns - 1000, segs[1].start_pts_ns + 6.5 * FRAME_NS, 'one-on-key');
    assert.ok(clip.lead_in_ms! < 0.01, 'no lead-in when the window starts on a keyframe');
  });

  test('across 2 segments', async () => {
    const { clip } = await checkExact(p.url, tmp.dir, frames, segs[1].start_pts_ns + 7.5 * FRAME_NS, segs[2].start_pts_ns + 5.5 * FRAME_NS, 'two');
    assert.equal(clip.segments.length, 2);
  });

  test('across 4 segments', async () => {
    const { clip } = await checkExact(p.url, tmp.dir, frames, segs[0].start_pts_ns + 2.5 * FRAME_NS, segs[3].start_pts_ns + 8.5 * FRAME_NS, 'four');
    assert.equal(clip.segments.length, 4);
    assert.deepEqual(clip.gaps, []);
  });
});

describe('frame-exact clips from a B-frame source with AAC audio', () => {
  const tmp = tempDir();
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  let segs: SegmentWire[];
  let frames: SourceFrame[];
  before(async () => {
    const src = join(tmp.dir, 'src.mp4');
    await makeVideo(src, { seconds: 4, fps: 15, gop: 15, bframes: 2, audio: true, container: 'plain' });
    p = await startTestProducer(join(tmp.dir, 'data'), { source: src, segmentSeconds: 1 });
    segs = await waitFor('4 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 4 ? s.slice(0, 4) : null;
    }, 30_000);
    frames = await sourceFrames(join(tmp.dir, 'data'), segs);
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  test('off a keyframe across 2 segments, audio cut to the same window', async () => {
    const start = segs[1].start_pts_ns + 4.5 * FRAME_NS;
    const stop = segs[2].start_pts_ns + 9.5 * FRAME_NS;
    const { clip, expected } = await checkExact(p.url, join(tmp.dir, 'data'), frames, start, stop, 'bframes-audio');
    const audio = (await probeStreams(clip.path!)).find((s) => s.codecType === 'audio');
    assert.ok(audio, 'the clip keeps the audio track');
    const videoSeconds = expected.length * FRAME_NS / 1e9;
    assert.ok(Math.abs(audio.duration - videoSeconds) <= 1024 / 48000 + 1e-6, `audio ${audio.duration}s vs window ${videoSeconds}s: within one AAC frame`);
  });

  test('on a keyframe across 4 segments', async () => {
    await checkExact(p.url, join(tmp.dir, 'data'), frames, Math.max(0, segs[0].start_pts_ns - 1000), segs[3].start_pts_ns + 12.5 * FRAME_NS, 'bframes-4');
  });
});

test('a window inside the still-open segment', async () => {
  const tmp = tempDir();
  const p = await startTestProducer(tmp.dir, { segmentSeconds: 60 });
  try {
    const open = await waitFor('an open segment with 3 fragments', async () =>
      (await listSegments(p.url)).segments.find((s) => !s.sealed && s.fragments >= 3), 20_000);
    const frames = await sourceFrames(tmp.dir, [open]);
    const start = open.start_pts_ns + 5.5 * FRAME_NS;
    const stop = open.start_pts_ns + 25.5 * FRAME_NS;
    const clip = await makeClip(p.url, { start_pts_ns: Math.round(start), stop_pts_ns: Math.round(stop) });
    assert.equal(clip.status, 'done', String(clip.error));
    assert.deepEqual(await videoFrameMd5s(clip.path!), framesIn(frames, start, stop).map((f) => f.md5));
    const still = (await listSegments(p.url)).segments.find((s) => s.id === open.id)!;
    assert.equal(still.sealed, false, 'the segment was still open when the clip was cut');
  } finally {
    await p.close();
    tmp.cleanup();
  }
});
