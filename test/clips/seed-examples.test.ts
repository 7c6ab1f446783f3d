// The seed spec's two usage examples, run through the Recorder against the real producer:
// 1. the epoch-ms smoke test (no Timebase: the window goes out as start_epoch_ms/stop_epoch_ms);
// 2. the PTS event clip (Timebase from /health; the window goes out as PTS), checked frame-exact.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { decodeErrors, probeStreams, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { getJson, listSegments, postJson, startTestProducer, waitFor } from '../helpers/producer.js';
import { framesIn, sourceFrames } from '../helpers/clips.js';
import { Recorder, recorderConfigFromCfg, timebaseFromHealthPayload, ClipHttpError } from '../../src/index.js';

describe('the seed usage examples through the Recorder', () => {
  const tmp = tempDir();
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  before(async () => {
    p = await startTestProducer(tmp.dir, { segmentSeconds: 2 });
    await waitFor('6 s of footage', async () => {
      const s = (await listSegments(p.url)).segments;
      return s.length > 0 && s[s.length - 1].stop_pts_ns - s[0].start_pts_ns > 6e9;
    }, 30_000);
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  test('epoch-ms smoke test: window [now-5 s, now-2 s], force_rotate, Recorder without a Timebase', async () => {
    const cfg = { HEALTH_URL: `${p.url}/health`, CLIP_MAX_WAIT_MS: 20000, CLIP_POLL_INTERVAL_MS: 100 };
    const health = (await getJson(cfg.HEALTH_URL)).body;
    const tb = timebaseFromHealthPayload(health);
    const nowMs = Number(health.ts_ms ?? tb.baseEpochMs);
    const startMs = nowMs - 5000;
    const stopMs = nowMs - 2000;
    const rot = await postJson(`${p.url}/force_rotate`, {});
    assert.equal(rot.status, 200);
    const rec = new Recorder(recorderConfigFromCfg(cfg));
    const result = await rec.requestClip({ startMs, stopMs, label: 'smoke_test' });
    assert.equal(result.status, 'done');
    assert.equal(result.mode, 'epoch');
    assert.ok(result.path && existsSync(result.path));
    assert.equal(await decodeErrors(result.path), '');
    const [v] = await probeStreams(result.path);
    assert.ok(Math.abs(v.duration - 3) <= 1 / 15 + 1e-3, `3 s window → ${v.duration}s clip`);
    const clip = (result.raw.clip ?? {}) as Record<string, unknown>;
    // The producer mapped the epoch window with the footage's anchor: the clip starts within a frame of it.
    const expectedStart = tb.epochMsToPts(startMs);
    assert.ok(Math.abs(Number(clip.actual_start_pts_ns) - Number(expectedStart)) <= 1e9 / 15 + 5e6, 'epoch start mapped onto the footage');
  });

  test('PTS event clip: Timebase from /health, PTS window, frame-exact result', async () => {
    const health = (await getJson(`${p.url}/health`)).body;
    const tb = timebaseFromHealthPayload(health);
    const rec = new Recorder(recorderConfigFromCfg({ PRODUCER_BASE_URL: p.url, CLIP_MAX_WAIT_MS: 20000 }), tb);
    const segs = (await listSegments(p.url)).segments.filter((s) => s.sealed);
    const eventStart = segs[0].start_pts_ns + 700_000_000;
    const eventStop = eventStart + 1_500_000_000;
    const preroll = 300;
    const postroll = 200;
    const result = await rec.requestClip({ startPtsNs: eventStart, stopPtsNs: eventStop, label: 'motion_event', prerollMs: preroll, postrollMs: postroll });
    assert.equal(result.status, 'done');
    assert.equal(result.mode, 'pts');
    assert.equal(result.startPtsNs, eventStart - preroll * 1e6);
    assert.equal(result.stopPtsNs, eventStop + postroll * 1e6);
    const frames = await sourceFrames(tmp.dir, segs);
    const expected = framesIn(frames, result.startPtsNs!, result.stopPtsNs!);
    assert.deepEqual(await videoFrameMd5s(result.path!), expected.map((f) => f.md5));
  });

  test('a purged/past window surfaces as ClipHttpError 409 with the producer message', async () => {
    const rec = new Recorder(recorderConfigFromCfg({ PRODUCER_BASE_URL: p.url }));
    await assert.rejects(rec.requestClip({ startPtsNs: 10, stopPtsNs: 20 }), (e: unknown) =>
      e instanceof ClipHttpError && e.status === 409 && /no segments overlap/.test(e.message));
  });
});
