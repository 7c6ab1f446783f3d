// The catalog's record of the object store (store/stored-segments.ts, migration 9), on SQLite alone: the
// upload queue oldest first, the multipart state, evictions, and the deletes a trigger queues whoever
// deletes a row — each through an index, never a scan of the segments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoredSegments } from '../../src/producer/store/stored-segments.js';
import { indexWith } from '../helpers/synthetic-index.js';

function setup(n = 20) {
  const index = indexWith(n);
  return { index, stored: new StoredSegments(index.db), ids: index.oldestSealed(n).map((r) => r.id) };
}

test('the upload queue is the sealed segments without an object key, oldest first; the backlog counts them', () => {
  const { index, stored, ids } = setup();
  assert.deepEqual(stored.pendingUploads(5).map((r) => r.id), ids.slice(0, 5));
  const total = index.stats().bytes;
  assert.deepEqual({ ...stored.backlog(), oldestCreatedMs: null }, { segments: 20, bytes: total, oldestCreatedMs: null });
  stored.markUploaded(ids[0], 'p/cam/a.mp4');
  stored.markUploaded(ids[2], 'p/cam/c.mp4');
  assert.deepEqual(stored.pendingUploads(3).map((r) => r.id), [ids[1], ids[3], ids[4]]);
  assert.equal(stored.backlog().segments, 18);
  assert.equal(index.get(ids[0])!.object_key, 'p/cam/a.mp4');
  // After a cursor: the next page.
  const first = index.get(ids[3])!;
  assert.deepEqual(stored.pendingUploads(2, { startPtsNs: first.start_pts_ns, id: first.id }).map((r) => r.id), [ids[4], ids[5]]);
});

test('a multipart upload is remembered for its segment and key until the segment is uploaded', () => {
  const { stored, ids } = setup(3);
  assert.equal(stored.multipart(ids[0], 'k'), null);
  stored.beginMultipart(ids[0], 'k', { uploadId: 'u1', partBytes: 8 });
  assert.deepEqual(stored.multipart(ids[0], 'k'), { uploadId: 'u1', partBytes: 8 });
  assert.equal(stored.multipart(ids[0], 'other-key'), null, 'an upload of another key is not resumed');
  stored.beginMultipart(ids[0], 'k', { uploadId: 'u2', partBytes: 8 });
  assert.deepEqual(stored.multipart(ids[0], 'k'), { uploadId: 'u2', partBytes: 8 });
  stored.markUploaded(ids[0], 'k');
  assert.equal(stored.multipart(ids[0], 'k'), null);
});

test('only uploaded local copies can be evicted; an evicted row stays, marked not local', () => {
  const { index, stored, ids } = setup(6);
  assert.deepEqual(stored.evictable(10), []);
  for (const id of ids.slice(0, 3)) stored.markUploaded(id, `k/${id}`);
  assert.deepEqual(stored.evictable(10).map((r) => r.id), ids.slice(0, 3));
  stored.markEvicted([ids[0], ids[4]]); // ids[4] was never uploaded: refused
  assert.equal(index.get(ids[0])!.local, 0);
  assert.equal(index.get(ids[4])!.local, 1, 'a segment not uploaded is never marked evicted');
  assert.deepEqual(stored.evictable(10).map((r) => r.id), ids.slice(1, 3));
});

test('deleting a row queues its object and its unfinished upload, in the same transaction, whoever deletes it', () => {
  const { index, stored, ids } = setup(4);
  stored.markUploaded(ids[0], 'k/0');
  stored.beginMultipart(ids[1], 'k/1', { uploadId: 'u-1', partBytes: 8 });
  index.deleteSegment(ids[0]);
  index.deleteSegment(ids[1]);
  index.deleteSegment(ids[2]); // neither uploaded nor uploading: nothing to delete in the store
  assert.deepEqual(stored.queuedDeletes(10).sort((a, b) => a.key.localeCompare(b.key)), [{ key: 'k/0', uploadId: '' }, { key: 'k/1', uploadId: 'u-1' }]);
  assert.equal(stored.queuedDeleteCount(), 2);
  assert.equal(stored.multipart(ids[1], 'k/1'), null, 'the upload record went with its row');
  // A transaction that rolls back queues nothing.
  stored.markUploaded(ids[3], 'k/3');
  assert.throws(() => index.db.transaction(() => { index.deleteSegment(ids[3]); throw new Error('crash'); })());
  assert.equal(stored.queuedDeleteCount(), 2);
  stored.forgetDeletes(stored.queuedDeletes(10));
  assert.equal(stored.queuedDeleteCount(), 0);
});

test('the store queries read their partial indexes, not the whole segments table', () => {
  const { index } = setup(50);
  const plan = (sql: string) => index.db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all().map((r) => r.detail).join(' | ');
  const stmts = (new StoredSegments(index.db) as unknown as { stmts: Record<string, { source: string }> }).stmts;
  const bind = (sql: string) => sql.replace(/\?/g, '1');
  const pending = plan(bind(stmts.pending.source));
  assert.match(pending, /USING INDEX segments_upload_pending/, pending);
  assert.doesNotMatch(pending, /TEMP B-TREE/, pending);
  const backlog = plan(stmts.backlog.source);
  assert.match(backlog, /USING INDEX segments_upload_pending|USING COVERING INDEX segments_upload_pending/, backlog);
  const evictable = plan(bind(stmts.evictable.source));
  assert.match(evictable, /USING INDEX segments_evictable/, evictable);
  assert.doesNotMatch(evictable, /TEMP B-TREE/, evictable);
});

test('a new store location queues the local copies again; those only in the old store stay as they are', () => {
  const { index, stored, ids } = setup(4);
  assert.equal(stored.adoptStore('s3://a/p/'), 0, 'the first store: nothing to redo');
  for (const id of ids.slice(0, 3)) stored.markUploaded(id, `p/${id}`);
  stored.markEvicted([ids[0]]);
  stored.beginMultipart(ids[3], 'p/x', { uploadId: 'u', partBytes: 8 });
  assert.equal(stored.adoptStore('s3://a/p/'), 0, 'the same store: nothing to redo');
  assert.equal(stored.adoptStore('s3://b/q/'), 2, 'the two local uploaded copies are queued again');
  assert.deepEqual(stored.pendingUploads(10).map((r) => r.id), ids.slice(1));
  assert.equal(index.get(ids[0])!.object_key, `p/${ids[0]}`, 'the evicted one still names its object');
  assert.equal(stored.multipart(ids[3], 'p/x'), null, 'an upload to the old store is not resumed in the new one');
});
