// The upload service (store/segment-uploads.ts) with a small fake of its store port (the real one is
// tested against Ceph in s3-store.test.ts and store-producer.test.ts): oldest first across cameras, a
// failing store backs off and says so then catches up, a segment whose file changed after sealing waits
// for its camera's verification without blocking the others, and eviction keeps pinned and young copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, existsSync, appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SegmentUploads, type UploadCamera } from '../../src/producer/store/segment-uploads.js';
import { StoredSegments } from '../../src/producer/store/stored-segments.js';
import { StoreError, type ObjectStore, type PutFileOptions } from '../../src/producer/store/object-store.js';
import { PinSet } from '../../src/producer/segments/retention.js';
import { FileRemovals } from '../../src/producer/segments/file-removals.js';
import { silentLogger } from '../../src/common/log.js';
import { indexWith } from '../helpers/synthetic-index.js';
import type { SegmentIndex } from '../../src/producer/store/catalog.js';
import { tempDir } from '../helpers/media.js';
import { waitFor } from '../helpers/producer.js';

class FakeStore implements ObjectStore {
  readonly description = 's3://fake/';
  readonly location = { bucket: 'fake', prefix: '' };
  readonly puts: string[] = [];
  down = false;
  async putFile(key: string, _path: string, o: PutFileOptions): Promise<number> {
    await new Promise((r) => setTimeout(r, 2));
    if (this.down) throw new StoreError(`upload of ${key} failed: connect ECONNREFUSED`);
    this.puts.push(key);
    return o.size;
  }
  async head(): Promise<number | null> { return null; }
  async getRange(): Promise<Buffer> { return Buffer.alloc(0); }
  async deleteKeys(): Promise<void> {}
  async abortMultipart(): Promise<void> {}
  close(): void {}
}

/** A camera whose index holds n sealed segments, each with a real file of its recorded size; `asked`: rows it was asked to verify. */
function camera(name: string, n: number, dir: string, epochOffsetMs = 0): UploadCamera & { pins: PinSet; asked: number[]; db: SegmentIndex['db'] } {
  const index = indexWith(n);
  index.db.prepare('UPDATE segments SET stop_epoch_ms = stop_epoch_ms + ?, created_ms = stop_epoch_ms + ?').run(epochOffsetMs, epochOffsetMs);
  const segmentsDir = join(dir, name);
  for (const r of index.oldestSealed(n)) {
    const file = join(segmentsDir, r.path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, Buffer.alloc(r.bytes, 1));
  }
  const asked: number[] = [];
  return {
    name, storedSegments: new StoredSegments(index.db), segmentsDir, pins: new PinSet(), retention: { remove: () => undefined },
    fileRemovals: new FileRemovals(index.db, segmentsDir),
    place: { changedSealed: (id) => asked.push(id) }, asked, db: index.db,
  };
}

test('uploads go oldest first across cameras; a failing store backs off, says degraded, and catches up', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const store = new FakeStore();
  const uploads = new SegmentUploads({ store, log: silentLogger, localKeepMs: 3600_000, minFreeBytes: null, backoffMs: { first: 50, max: 200 } });
  t.after(() => uploads.close());
  const a = camera('a', 4, tmp.dir, 0);
  const b = camera('b', 4, tmp.dir, 5_000); // b's footage is 5 s newer, interleaved with a's (10 s apart)
  store.down = true;
  uploads.attach(a);
  uploads.attach(b);
  await waitFor('degraded', () => uploads.status(null).status === 'degraded', 5000, 10);
  const st = uploads.status(a);
  assert.equal(st.backlog_segments, 4);
  assert.match(st.last_error ?? '', /ECONNREFUSED/);
  store.down = false;
  await uploads.drain(10_000);
  assert.equal(uploads.status(null).status, 'ok');
  assert.equal(store.puts.length, 8, 'each segment once');
  assert.deepEqual(store.puts.map((k) => k.split('/')[0]), ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b'], 'oldest first across cameras');
  assert.equal(a.storedSegments.backlog().segments + b.storedSegments.backlog().segments, 0);
});

test('the index unable to record an upload (disk full: SQLITE_FULL): the row retried until it can, the object not sent again, not taken for an unreadable file', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const store = new FakeStore();
  const uploads = new SegmentUploads({ store, log: silentLogger, localKeepMs: 3600_000, minFreeBytes: null, backoffMs: { first: 50, max: 200 } });
  t.after(() => uploads.close());
  const a = camera('a', 3, tmp.dir);
  // The index's own error for a full disk (better-sqlite3's SqliteError carries the code), twice.
  const record = a.storedSegments.markUploaded.bind(a.storedSegments);
  let refusals = 2;
  a.storedSegments.markUploaded = (id, key) => {
    if (refusals-- > 0) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    record(id, key);
  };
  uploads.attach(a);
  await uploads.drain(10_000);
  assert.equal(a.storedSegments.backlog().segments, 0, 'every segment recorded as uploaded in the end');
  assert.equal(store.puts.length, 3, 'each object sent once: only the rows were written again');
  assert.match(uploads.status(a).last_error ?? '', /index could not record an upload: database or disk is full/);
});

test('a segment whose file changed after sealing is verified before it is uploaded; the rest upload', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const store = new FakeStore();
  const uploads = new SegmentUploads({ store, log: silentLogger, localKeepMs: 3600_000, minFreeBytes: null });
  t.after(() => uploads.close());
  const a = camera('a', 3, tmp.dir);
  const first = a.storedSegments.pendingUploads(1)[0];
  appendFileSync(join(a.segmentsDir, first.path), 'x');
  uploads.attach(a);
  await uploads.drain(10_000);
  assert.equal(store.puts.length, 2);
  assert.equal(a.storedSegments.pendingUploads(5).map((r) => r.id).join(), String(first.id), 'the changed one waits');
  assert.deepEqual(a.asked, [first.id], 'its camera is asked to verify it (then its row changes, and it goes up as verified)');
  assert.equal(uploads.status(null).status, 'ok', 'a local file problem is not a store outage');
});

test('eviction: uploaded copies older than local_keep go, pinned and young ones stay, the row first', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const store = new FakeStore();
  const uploads = new SegmentUploads({ store, log: silentLogger, localKeepMs: 60_000, minFreeBytes: null });
  t.after(() => uploads.close());
  const a = camera('a', 6, tmp.dir);
  uploads.attach(a);
  await uploads.drain(10_000);
  const rows = a.storedSegments.evictable(10);
  assert.equal(rows.length, 6);
  const release = a.pins.pin([rows[1].id]);
  // "Now" is such that the first four ended more than local_keep ago.
  const now = rows[3].stop_epoch_ms + 60_000 + 1;
  assert.equal(uploads.evict(a, now), 3, 'the four old ones but the pinned one');
  for (const [i, r] of rows.entries()) {
    const gone = i < 4 && i !== 1;
    assert.equal(existsSync(join(a.segmentsDir, r.path)), !gone, `${r.path}`);
  }
  release();
  assert.equal(uploads.evict(a, now), 1, 'the pinned one once released');
});

test('eviction interrupted by a crash (rows marked, files not yet removed): the next start removes the files', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const store = new FakeStore();
  const uploads = new SegmentUploads({ store, log: silentLogger, localKeepMs: 0, minFreeBytes: null });
  t.after(() => uploads.close());
  // The process "dies" right after the transaction: finish() never runs.
  const dying = camera('a', 3, tmp.dir);
  const crash = Object.assign(new Error('killed'), { code: 'TEST_KILLED' });
  const a: UploadCamera & { pins: PinSet } = { ...dying, fileRemovals: { commit: (c, p) => dying.fileRemovals.commit(c, p), finish: () => { throw crash; } } };
  uploads.attach(a);
  await uploads.drain(10_000);
  const rows = a.storedSegments.evictable(10);
  assert.equal(rows.length, 3);
  assert.throws(() => uploads.evict(a, rows[2].stop_epoch_ms + 1), /killed/);
  assert.deepEqual(a.storedSegments.evictable(10), [], 'the rows say "not local" (in the store)');
  for (const r of rows) assert.ok(existsSync(join(a.segmentsDir, r.path)), 'the files are still there: the crash came first');
  // What the producer does at its next start, before recovery reads the directories.
  const next = new FileRemovals(dying.db, a.segmentsDir);
  assert.equal(next.pending(), 3);
  assert.deepEqual(next.finish(), { removed: 3, failed: [] });
  for (const r of rows) assert.ok(!existsSync(join(a.segmentsDir, r.path)), `no stray copy left: ${r.path}`);
  assert.equal(next.pending(), 0);
});
