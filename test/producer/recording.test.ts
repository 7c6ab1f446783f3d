// The recording half against real ffmpeg, real files and real HTTP: segments match what ffprobe sees,
// force_rotate loses and duplicates nothing, ffmpeg restarts leave a recorded gap and monotonic PTS.
import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { decodeErrors, probeFrames, probeStreams, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { getJson, listSegments, postJson, segmentFile, startTestProducer, waitFor, type HealthWire, type SegmentWire } from '../helpers/producer.js';

describe('recording from testsrc', () => {
  const tmp = tempDir();
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  before(async () => {
    p = await startTestProducer(tmp.dir, { segmentSeconds: 2 });
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  test('sealed segments match the index: frame counts, durations, clean decode', async () => {
    const segs = await waitFor('3 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 3 ? s : null;
    });
    for (const s of segs) {
      const file = segmentFile(tmp.dir, s);
      const [stream] = await probeStreams(file);
      assert.equal(stream.codecType, 'video');
      assert.equal(stream.width, 320);
      assert.equal(stream.nbFrames, s.frames, `${s.path}: frames in file vs index`);
      assert.equal(await decodeErrors(file), '', `${s.path} decodes cleanly`);
      const frames = await probeFrames(file);
      const step = frames[1].ptsTime - frames[0].ptsTime;
      const fileDurationNs = (frames[frames.length - 1].ptsTime - frames[0].ptsTime + step) * 1e9;
      assert.ok(Math.abs(fileDurationNs - (s.stop_pts_ns - s.start_pts_ns)) < 1e6, `${s.path}: duration ${fileDurationNs} vs index`);
      assert.ok(s.stop_pts_ns - s.start_pts_ns >= 2e9 - 1e6, 'rotated after --segment-seconds');
      assert.ok(frames[0].keyframe, 'segment starts on a keyframe');
    }
    for (let i = 1; i < segs.length; i++) {
      assert.equal(segs[i].start_pts_ns, segs[i - 1].stop_pts_ns, 'consecutive segments of one run touch');
    }
  });

  test('/health reports the contract fields', async () => {
    const { status, body } = await getJson<HealthWire>(`${p.url}/health`);
    assert.equal(status, 200);
    assert.equal(body.ok, true);
    assert.equal(body.timebase.pts_units, 'ns');
    assert.equal(body.timebase.pts_per_ms, 1_000_000);
    assert.equal(body.ingest.state, 'running');
    assert.equal(body.ingest.source, 'testsrc');
    assert.equal(body.ingest.width, 320);
    assert.equal(body.ingest.fps, 15);
    assert.ok(body.segments.count >= 1);
    // pts_ns is "now" on the producer clock: the newest footage is at most a couple of GOPs behind.
    assert.ok(body.pts_ns >= body.segments.newest_stop_pts_ns!);
    assert.ok(body.pts_ns - body.segments.newest_stop_pts_ns! < 3e9);
    const mapped = body.timebase.base_pts_ns + (body.ts_ms - body.timebase.base_epoch_ms) * body.timebase.pts_per_ms;
    assert.ok(Math.abs(mapped - body.pts_ns) < 1e6, 'pts_ns follows the timebase formula');
  });

  test('force_rotate seals within one GOP; the next segment continues without a frame lost or duplicated', async () => {
    await waitFor('ingest running', async () => (await getJson<HealthWire>(`${p.url}/health`)).body.ingest.state === 'running');
    // "Now" on the producer clock just before asking: the sealed segment ends at most one GOP (1 s) later
    // in media time, whatever the HTTP and scheduling latency on the test machine.
    const ptsBefore = (await getJson<HealthWire>(`${p.url}/health`)).body.pts_ns;
    const t0 = Date.now();
    const r = await postJson<{ ok: boolean; sealed: SegmentWire }>(`${p.url}/force_rotate`, {});
    const elapsed = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.ok(r.body.sealed && r.body.sealed.sealed, 'answers with the sealed segment');
    const a = r.body.sealed;
    const sealedAfter = a.stop_pts_ns - ptsBefore;
    assert.ok(sealedAfter <= 1e9 + 0.5e9, `sealed within one GOP (1 s) plus 0.5 s of media time: it ends ${sealedAfter / 1e6} ms after the request`);
    assert.ok(elapsed < 5000, `force_rotate answered (sanity bound), took ${elapsed} ms`);
    const b = await waitFor('the segment after the rotation to be sealed', async () =>
      (await listSegments(p.url)).segments.find((s) => s.start_pts_ns === a.stop_pts_ns && s.sealed));
    const fa = await probeFrames(segmentFile(tmp.dir, a));
    const fb = await probeFrames(segmentFile(tmp.dir, b));
    const all = [...fa, ...fb].map((f) => f.pts);
    const step = all[1] - all[0];
    for (let i = 1; i < all.length; i++) assert.equal(all[i] - all[i - 1], step, `frame ${i} follows its predecessor by one frame`);
    const md5 = [...await videoFrameMd5s(segmentFile(tmp.dir, a)), ...await videoFrameMd5s(segmentFile(tmp.dir, b))];
    assert.equal(md5.length, all.length);
    assert.equal(new Set(md5).size, md5.length, 'no frame appears twice (each testsrc frame carries its number)');
  });
});

describe('ingest restarts', () => {
  test('killing ffmpeg restarts it, records a gap, and keeps PTS monotonic', async () => {
    const tmp = tempDir();
    const p = await startTestProducer(tmp.dir, { segmentSeconds: 2 });
    try {
      await waitFor('a sealed segment', async () => (await listSegments(p.url)).segments.some((s) => s.sealed));
      const pid = p.producer.ingest.pid!;
      process.kill(pid, 'SIGKILL');
      await waitFor('restart and new footage', async () => {
        const h = (await getJson<HealthWire>(`${p.url}/health`)).body;
        const segs = (await listSegments(p.url)).segments;
        return h.ingest.restarts >= 1 && h.ingest.state === 'running' && p.producer.ingest.pid !== pid &&
          segs.some((s) => s.fragments > 0 && s.start_pts_ns > 0 && segs.indexOf(s) > 0 && s.start_pts_ns > segs[0].stop_pts_ns);
      });
      const h = (await getJson<HealthWire>(`${p.url}/health`)).body;
      assert.ok(h.ingest.last_error && /signal SIGKILL|exited/.test(h.ingest.last_error), `last_error tells why: ${h.ingest.last_error}`);
      const { segments, gaps } = await listSegments(p.url);
      for (let i = 1; i < segments.length; i++) {
        assert.ok(segments[i].start_pts_ns >= segments[i - 1].stop_pts_ns, 'no overlapping or reused PTS');
      }
      assert.ok(gaps.length >= 1, 'the restart left a recorded gap');
      assert.match(gaps[0].reason, /ingest restart/);
      assert.ok(gaps[0].stop_pts_ns > gaps[0].start_pts_ns);
    } finally {
      await p.close();
      tmp.cleanup();
    }
  });

  test('an unreachable source with credentials: the producer stays up, reports it, and never shows the password', async () => {
    const tmp = tempDir();
    const p = await startTestProducer(tmp.dir, { source: 'rtsp://admin:s3cretPW@127.0.0.1:9/stream' });
    try {
      const h = await waitFor('a failed attempt', async () => {
        const b = (await getJson<HealthWire>(`${p.url}/health`)).body;
        return b.ingest.restarts >= 1 ? b : null;
      });
      assert.ok(['restarting', 'starting', 'failed'].includes(h.ingest.state));
      const everything = JSON.stringify(h) + p.logs.join('\n');
      assert.ok(!everything.includes('s3cretPW'), 'password never appears in /health or logs');
      assert.match(h.ingest.source, /rtsp:\/\/\*\*\*@127\.0\.0\.1:9\/stream/);
      assert.ok(h.ingest.last_error);
    } finally {
      await p.close();
      tmp.cleanup();
    }
  });
});
