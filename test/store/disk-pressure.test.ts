// The local disk filling up with a store configured (a small tmpfs holds the data directory): below
// min_free_bytes the local copies of uploaded segments go first — their footage stays, read from the
// store — and only when the store is down too (nothing uploaded to evict) does the oldest footage not yet
// uploaded go, as retention would without a store. Recording never stops for a full disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { getJson, startTestProducer, waitFor, type HealthWire } from '../helpers/producer.js';
import { makeVideo, tempDir } from '../helpers/media.js';
import { freshBucket, requireServices, startPrivateRgw } from '../helpers/services.js';
import { withTmpfs } from '../faults/support.js';

const MIB = 1024 * 1024;

test('a filling disk: uploaded local copies are evicted first; with the store down too, the oldest not uploaded go', { timeout: 180_000 }, async (t) => {
  const { s3 } = requireServices();
  const bucket = await freshBucket(s3, 'pressure');
  t.after(() => bucket.cleanup());
  const rgw = await startPrivateRgw();
  t.after(() => rgw.destroy());
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  // A camera-like bit rate (a few hundred kB/s), looped.
  const source = join(tmp.dir, 'camera.mp4');
  await makeVideo(source, { seconds: 20, fps: 15, gop: 15, width: 1280, height: 720, container: 'plain' });
  const mnt = join(tmp.dir, 'disk');
  await withTmpfs(t, mnt, 24, async () => {
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    const minFree = 14 * MIB;
    const p = await startTestProducer(join(mnt, 'data'), {
      source, segmentSeconds: 1, minFreeBytes: minFree,
      store: `s3://${bucket.name}`, s3Endpoint: rgw.endpoint, s3PathStyle: true, s3Region: s3.region,
    });
    try {
      const free = () => Number(statfsSync(mnt).bavail) * Number(statfsSync(mnt).bsize);
      const health = async () => (await getJson<HealthWire>(`${p.url}/health`)).body;
      const index = p.producer.index;
      const count = () => index.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM segments').get()!.n;
      const removed: string[] = [];
      p.producer.events.on('segment-removed', (r) => removed.push(r.path));

      // 1. The store is up: the disk runs short, and uploaded copies are evicted; nothing is deleted.
      await waitFor('local copies evicted for space', async () => ((await health()).store?.evicted_segments ?? 0) >= 3, 90_000);
      assert.deepEqual(removed, [], 'no footage deleted while uploaded copies could go');
      const evictedIds = index.db.prepare<[], { id: number }>('SELECT id FROM segments WHERE local = 0').all().map((r) => r.id);
      assert.ok(evictedIds.length >= 3);
      const first = index.db.prepare<[], { id: number }>('SELECT MIN(id) AS id FROM segments').get()!.id;
      assert.ok(evictedIds.includes(first), 'the oldest went first');
      assert.ok(free() > minFree - 3 * MIB, `free disk kept near the limit (${(free() / MIB).toFixed(1)} MiB free)`);

      // 2. The store goes down: nothing new can be uploaded or evicted; the oldest not-uploaded footage goes.
      await rgw.stop();
      const countBefore = count();
      await waitFor('the oldest footage not uploaded removed for space', () => removed.length >= 2, 90_000);
      for (const id of evictedIds) assert.ok(index.get(id), `evicted segment ${id} (in the store) is kept`);
      const h = await health();
      assert.equal(h.ingest.state, 'running', `recording goes on (${h.ingest.last_error ?? ''})`);
      assert.doesNotMatch(h.ingest.last_error ?? '', /ENOSPC|no space/i, 'the disk never filled up');
      assert.equal(h.store?.status, 'degraded');
      assert.ok(count() >= countBefore - removed.length, 'rows go only through retention');
    } finally {
      await p.close();
    }
  });
});
