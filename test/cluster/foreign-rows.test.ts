// Other nodes' footage imported into a camera's index (segments.origin): read like any row, but not this
// node's — no total, no retention, no outbox entry, no store delete — and dropped when the catalog lost it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { at, indexWith } from '../helpers/synthetic-index.js';
import { PgOutbox } from '../../src/producer/store/pg-outbox.js';
import { Retention, PinSet } from '../../src/producer/segments/retention.js';
import { silentLogger } from '../../src/common/log.js';
import type { FragmentRow, SegmentRow } from '../../src/producer/store/catalog.js';

test('imported rows: served, but never counted, retained, mirrored back or deleted from the store', () => {
  const index = indexWith(3); // this node's own: 0–30 s
  const outbox = new PgOutbox(index.db);
  outbox.enable('postgres://catalog', false);
  const queued = outbox.count();
  const stats = index.stats();
  const own = index.get(1)!;
  // Another node's two segments, 30–50 s, uploaded.
  const foreign = (i: number): { seg: SegmentRow; frags: FragmentRow[] } => {
    const start = at(30 + i * 10);
    return {
      seg: { ...own, id: 0, path: `2026-01-01/${start}.mp4`, start_pts_ns: start, stop_pts_ns: at(40 + i * 10), object_key: `p/cam/${start}.mp4`, local: 0, origin: null },
      frags: [{ segment_id: 0, seq: 0, start_pts_ns: start, stop_pts_ns: at(40 + i * 10), offset: 100, size: 900, moof_size: 100, samples: 150, keyframe: 1, crc: 0 }],
    };
  };
  for (const i of [0, 1]) assert.equal(index.importForeign(foreign(i).seg, foreign(i).frags, 'node-b'), true);
  assert.equal(index.importForeign(foreign(0).seg, foreign(0).frags, 'node-b'), false, 'a known path is not imported twice');

  // Read paths see the whole camera.
  assert.deepEqual(index.overlapping(at(25), at(45)).map((s) => [Number(s.start_pts_ns / 1_000_000_000n), s.origin, s.local]), [[20, null, 1], [30, 'node-b', 0], [40, 'node-b', 0]]);
  assert.equal(index.fragmentsOf(index.overlapping(at(35), at(36))[0].id).length, 1);
  assert.equal(index.lastSegment()!.stop_pts_ns, at(50), 'a new run starts above other nodes\' footage');
  // Not this node's: no totals, no outbox entries.
  assert.deepEqual(index.stats().count, stats.count);
  assert.deepEqual(index.stats().bytes, stats.bytes);
  assert.equal(outbox.count(), queued, 'nothing queued for the catalog');

  // Retention removes only what this node recorded, and queues only its objects for deletion.
  const retention = new Retention({ index, segmentsDir: '/nonexistent', pins: new PinSet(), log: silentLogger, limits: { maxAgeMs: null, maxBytes: 1, minFreeBytes: null } });
  const removed = retention.run();
  assert.deepEqual(removed.map((s) => s.origin), [null, null, null]);
  assert.equal(index.overlapping(at(0), at(60)).length, 2, 'the imported rows stay');
  const deletes = index.db.prepare<[], { key: string }>('SELECT key FROM store_deletes').all().map((r) => r.key);
  assert.ok(!deletes.some((k) => k.startsWith('p/cam/')), 'no object of another node queued for deletion');

  // The catalog lost the older one (its node's retention): dropped here, still nothing queued.
  assert.equal(index.dropForeignBefore(at(40)), 1);
  assert.deepEqual(index.overlapping(at(0), at(60)).map((s) => s.path), [foreign(1).seg.path]);
  assert.equal(index.db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM store_deletes WHERE key LIKE ?').get('p/cam/%')!.n, 0);
  assert.equal(outbox.batch(0, 1000).filter((e) => e.kind === 'seg-del' && e.path === foreign(0).seg.path).length, 0);
});
