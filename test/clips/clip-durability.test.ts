// Jobs survive crashes and retention: a job in flight when the producer is kill -9'ed finishes after the
// restart with no temp file left; segments a running job reads are pinned against retention.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeErrors, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { getJson, listSegments, postJson, segmentFile, spawnProducerProcess, startTestProducer, waitFor } from '../helpers/producer.js';
import { framesIn, makeClip, sourceFrames } from '../helpers/clips.js';
import type { ClipJson } from '../../src/protocol/schemas.js';

const ARGS = ['--port', '0', '--segment-seconds', '1', '--testsrc-size', '320x180', '--log-level', 'info'];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]);
}

test('kill -9 with a job in flight: after the restart the job finishes, finished jobs still answer, no temp files', async () => {
  const tmp = tempDir();
  const a = await spawnProducerProcess(['--data-dir', tmp.dir, ...ARGS]);
  let doneId: string;
  let pendingId: string;
  try {
    await waitFor('2 sealed segments', async () => (await listSegments(a.url)).segments.filter((s) => s.sealed).length >= 2);
    const segs = (await listSegments(a.url)).segments;
    const done = await makeClip(a.url, { start_pts_ns: segs[0].start_pts_ns + 1e8, stop_pts_ns: segs[0].start_pts_ns + 5e8 });
    assert.equal(done.status, 'done');
    doneId = done.clip_id;
    const h = (await getJson<{ pts_ns: number; segments: { newest_stop_pts_ns: number } }>(`${a.url}/health`)).body;
    // The window starts in footage already recorded (the clock's "now" runs up to a fragment ahead of it:
    // a window starting there may begin in the downtime, and then no gap lies inside it) and reaches well
    // past the restart (a loaded machine takes seconds to bring the producer and its ffmpeg back), so it
    // holds footage from both sides of the downtime.
    const r = await postJson<{ clip_id: string }>(`${a.url}/clip`, { start_pts_ns: h.segments.newest_stop_pts_ns - 5e8, stop_pts_ns: h.pts_ns + 8e9, max_wait_ms: 40000 });
    assert.equal(r.status, 202);
    pendingId = r.body.clip_id;
  } finally {
    a.child.kill('SIGKILL');
  }
  await new Promise((r) => a.child.once('exit', r));
  const b = await spawnProducerProcess(['--data-dir', tmp.dir, ...ARGS]);
  try {
    const old = await getJson<{ clip: ClipJson }>(`${b.url}/clip/${doneId}`);
    assert.equal(old.status, 200);
    assert.equal(old.body.clip.status, 'done', 'a finished job still answers after kill -9');
    const resumed = await waitFor('the interrupted job to finish', async () => {
      const g = await getJson<{ clip: ClipJson }>(`${b.url}/clip/${pendingId}?wait_ms=5000`);
      return g.body.clip.status === 'done' || g.body.clip.status === 'error' ? g.body.clip : null;
    }, 40_000);
    assert.equal(resumed.status, 'done', String(resumed.error));
    assert.equal(await decodeErrors(resumed.path!), '');
    assert.match(b.output(), /resuming clip job after restart/);
    assert.ok(resumed.gaps.length >= 1, 'the window spans the downtime: the gap is reported');
    const leftovers = walk(join(tmp.dir, 'clips')).filter((f) => f.endsWith('.tmp'));
    assert.deepEqual(leftovers, [], 'no temp file left behind');
  } finally {
    b.child.kill('SIGTERM');
    await new Promise((r) => b.child.once('exit', r));
    tmp.cleanup();
  }
});

test('retention firing while a job reads its segments does not delete them', async () => {
  const tmp = tempDir();
  const p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
  try {
    const segs = await waitFor('3 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 3 ? s.slice(0, 3) : null;
    });
    const frames = await sourceFrames(tmp.dir, segs);
    // Retention becomes aggressive exactly when the job pins its segments (as if it fired mid-assembly).
    // Only the job's own pin (all three segments) fires it: with an object store the upload workers pin
    // one segment at a time too.
    const pins = p.producer.pins;
    const realPin = pins.pin.bind(pins);
    let removedDuringJob = null as number[] | null;
    pins.pin = (ids) => {
      const release = realPin(ids);
      const pinned = [...ids];
      if (removedDuringJob === null && segs.every((s) => pinned.includes(s.id))) {
        p.producer.retention.limits = { maxAgeMs: null, maxBytes: 1, minFreeBytes: null };
        removedDuringJob = p.producer.retention.run().map((s) => s.id);
      }
      return release;
    };
    const start = segs[0].start_pts_ns + 2.5e9 / 15;
    const stop = segs[2].start_pts_ns + 4.5e9 / 15;
    const clip = await makeClip(p.url, { start_pts_ns: Math.round(start), stop_pts_ns: Math.round(stop) });
    assert.equal(clip.status, 'done', String(clip.error));
    assert.deepEqual(await videoFrameMd5s(clip.path!), framesIn(frames, start, stop).map((f) => f.md5));
    assert.ok(removedDuringJob !== null, 'retention fired while the job had its segments pinned');
    for (const s of segs) assert.ok(!removedDuringJob.includes(s.id), `segment ${s.id} was pinned while the job read it`);
    pins.pin = realPin;
    // Once the job released them they go at the next pass (one an upload in flight still pins, after it).
    await waitFor('the segments removed once the job released them', () => {
      p.producer.runRetention();
      return segs.every((s) => !existsSync(segmentFile(tmp.dir, s)));
    }, 30_000);
    p.producer.retention.limits = { maxAgeMs: null, maxBytes: null, minFreeBytes: null };
  } finally {
    await p.close();
    tmp.cleanup();
  }
});
