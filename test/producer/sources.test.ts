// File sources stream-copied in real time: B-frames, a long (4 s) GOP, and AAC audio all record
// correctly into segments that decode cleanly and match the index.
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { decodeErrors, makeVideo, probeFrames, probeStreams, tempDir } from '../helpers/media.js';
import { listSegments, segmentFile, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';

async function recordUntilSealed(source: string, dataDir: string, n: number, segmentSeconds = 2): Promise<SegmentWire[]> {
  const p = await startTestProducer(dataDir, { source, segmentSeconds });
  try {
    return await waitFor(`${n} sealed segments`, async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= n ? s : null;
    }, 40_000);
  } finally {
    await p.close();
  }
}

describe('file sources', () => {
  const tmp = tempDir();
  before(async () => {
    await makeVideo(join(tmp.dir, 'bframes.mp4'), { seconds: 3, fps: 15, gop: 15, bframes: 2, container: 'plain' });
    await makeVideo(join(tmp.dir, 'longgop.mp4'), { seconds: 8, fps: 15, gop: 60, container: 'plain' });
    await makeVideo(join(tmp.dir, 'audio.mp4'), { seconds: 3, fps: 15, gop: 15, audio: true, container: 'plain' });
  });
  after(() => tmp.cleanup());

  test('a source with B-frames records with composition offsets intact', async () => {
    const data = join(tmp.dir, 'd-b');
    const segs = await recordUntilSealed(join(tmp.dir, 'bframes.mp4'), data, 2);
    let sawB = false;
    for (const s of segs) {
      const file = segmentFile(data, s);
      assert.equal(await decodeErrors(file), '', `${s.path} decodes cleanly`);
      const frames = await probeFrames(file);
      assert.equal(frames.length, s.frames);
      sawB ||= frames.some((f) => f.pictType === 'B');
      for (let i = 1; i < frames.length; i++) assert.ok(frames[i].pts > frames[i - 1].pts, 'presentation order strictly increasing');
      assert.ok(frames[0].keyframe);
    }
    assert.ok(sawB, 'B-frames were kept (stream copy, no re-encode)');
  });

  test('a source with a 4 s GOP rotates at keyframes (segments are whole GOPs)', async () => {
    const data = join(tmp.dir, 'd-g');
    const segs = await recordUntilSealed(join(tmp.dir, 'longgop.mp4'), data, 2);
    for (const s of segs) {
      const file = segmentFile(data, s);
      assert.equal(await decodeErrors(file), '');
      const frames = await probeFrames(file);
      assert.equal(frames.length, s.frames);
      assert.ok(frames[0].keyframe, 'starts on a keyframe');
      assert.equal(frames.length % 60, 0, 'whole 4 s GOPs');
      assert.ok(s.stop_pts_ns - s.start_pts_ns >= 4e9 - 1e6);
    }
  });

  test('a file with AAC audio keeps its audio track in every segment', async () => {
    const data = join(tmp.dir, 'd-a');
    const segs = await recordUntilSealed(join(tmp.dir, 'audio.mp4'), data, 1);
    for (const s of segs) {
      assert.equal(s.has_audio, true);
      const streams = await probeStreams(segmentFile(data, s));
      const audio = streams.find((x) => x.codecType === 'audio');
      const video = streams.find((x) => x.codecType === 'video')!;
      assert.ok(audio, 'audio stream present');
      assert.equal(audio.codecName, 'aac');
      assert.ok(audio.nbFrames > 0);
      assert.ok(Math.abs(audio.duration - video.duration) < 0.2, `audio ${audio.duration}s vs video ${video.duration}s`);
      assert.equal(await decodeErrors(segmentFile(data, s)), '');
    }
  });
});
