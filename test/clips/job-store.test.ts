// The clip job store's records: what create() answers is the record the index then holds (it is not read
// back), PTS past 2^53 exact, in a plain producer and in a cluster node's id slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../src/producer/store/catalog.js';
import { JobStore, SLOT_SPAN } from '../../src/producer/store/job-store.js';
import type { ClipSpec } from '../../src/producer/clips/clip-request.js';

const BEYOND_2_53 = 2n ** 60n + 7n;

test('create() answers the record get() then reads: PTS past 2^53 exact, ids in sequence and in a cluster slot', () => {
  const db = openDatabase(':memory:');
  try {
    const store = new JobStore(db);
    const pts: ClipSpec = { mode: 'pts', startPtsNs: BEYOND_2_53, stopPtsNs: BEYOND_2_53 + 1_000_000_000n, label: 'door', outDir: null, filename: 'a.mp4', maxWaitMs: 5000 };
    const epoch: ClipSpec = { mode: 'epoch', startEpochMs: 1_764_000_000_000.5, stopEpochMs: 1_764_000_001_000, label: null, outDir: 'sub', filename: null, maxWaitMs: 0 };
    const a = store.create(pts, { startPtsNs: BEYOND_2_53, stopPtsNs: BEYOND_2_53 + 1_000_000_000n }, '/clips', 1_000);
    const b = store.create(epoch, { startPtsNs: 5n, stopPtsNs: 9n }, '/clips/sub', 2_000);
    store.slot = 3;
    const c = store.create(pts, { startPtsNs: 1n, stopPtsNs: 2n }, '/clips', 3_000);
    for (const job of [a, b, c]) assert.deepEqual(job, store.get(job.clipId));
    assert.equal(a.spec.startPtsNs, BEYOND_2_53);
    assert.equal(a.startPtsNs, BEYOND_2_53);
    assert.deepEqual([a.seq, b.seq, c.seq], [1, 2, 3 * SLOT_SPAN + 1]);
    assert.deepEqual([a.status, a.outcome, a.error, a.createdMs, a.updatedMs, a.deadlineMs], ['queued', null, null, 1_000, 1_000, 6_000]);
    assert.equal(b.spec.startEpochMs, 1_764_000_000_000.5);
  } finally {
    db.close();
  }
});

test('draft() hands out ids not written yet only once, after those written; insert() writes the drafted record', () => {
  const db = openDatabase(':memory:');
  try {
    const store = new JobStore(db);
    const spec: ClipSpec = { mode: 'pts', startPtsNs: 1n, stopPtsNs: 2n, label: null, outDir: null, filename: null, maxWaitMs: 100 };
    const w = { startPtsNs: 1n, stopPtsNs: 2n };
    const a = store.draft(spec, w, '/clips', 1_000);
    const b = store.draft(spec, w, '/clips', 1_000);
    assert.deepEqual([a.seq, b.seq], [1, 2], 'two drafts before either is written');
    assert.equal(store.get(a.clipId), undefined, 'a draft is not in the table');
    store.insert(b);
    assert.deepEqual(store.get(b.clipId), b);
    // A draft never written (its request refused) leaves its id unused; the next comes after every id handed out.
    assert.equal(store.create(spec, w, '/clips', 2_000).seq, 3);
    store.slot = 2;
    assert.equal(store.draft(spec, w, '/clips', 3_000).seq, 2 * SLOT_SPAN + 1, 'a new slot starts its own sequence');
    assert.throws(() => store.insert(b), /UNIQUE/, 'a record is written once');
  } finally {
    db.close();
  }
});

test('markRunning() answers when it recorded the job running; endOf() is the record get() reads once finish() wrote it: the outcome with PTS past 2^53, an error', () => {
  const db = openDatabase(':memory:');
  try {
    const store = new JobStore(db);
    const spec: ClipSpec = { mode: 'pts', startPtsNs: BEYOND_2_53, stopPtsNs: BEYOND_2_53 + 9n, label: null, outDir: null, filename: null, maxWaitMs: 0 };
    const a = store.create(spec, { startPtsNs: BEYOND_2_53, stopPtsNs: BEYOND_2_53 + 9n }, '/clips', 1_000);
    const b = store.create(spec, { startPtsNs: 1n, stopPtsNs: 2n }, '/clips', 1_000);
    const t0 = Date.now();
    const ranAt = store.markRunning(a.clipId);
    assert.ok(ranAt !== null && ranAt >= t0, 'a queued job: when it was recorded running');
    assert.equal(store.get(a.clipId)!.updatedMs, ranAt);
    assert.equal(store.markRunning(a.clipId), null, 'one running already is left as it is');
    const done = store.endOf({ ...a, status: 'running', updatedMs: ranAt! }, 'done', {
      path: '/clips/a.mp4', actual_start_pts_ns: BEYOND_2_53, actual_stop_pts_ns: 3n, lead_in_ms: 0, duration_ms: 1, frames: 1, bytes: 10,
      segments: ['x.mp4'], gaps: [{ start_pts_ns: 1n, stop_pts_ns: BEYOND_2_53 }], partial: false, partial_reason: null, audio: true,
    }, null);
    assert.equal(store.get(a.clipId)!.status, 'running', 'endOf() writes nothing');
    store.finish(done);
    assert.deepEqual(done, store.get(a.clipId));
    assert.equal(done.outcome!.actual_start_pts_ns, BEYOND_2_53);
    assert.equal(done.status, 'done');
    const failed = store.endOf(b, 'error', null, 'no footage', 5_000);
    store.finish(failed);
    assert.equal(failed.updatedMs, 5_000);
    assert.deepEqual(failed, store.get(b.clipId));
    assert.equal(store.markRunning(b.clipId), null, 'a job that ended keeps its end');
    assert.equal(store.get(b.clipId)!.status, 'error');
  } finally {
    db.close();
  }
});
