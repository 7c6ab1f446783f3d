// The index database's numbered schema upgrades (store/migrations.ts): a new database gets every step;
// a data directory from before versioning (tables without the later columns, fourcc codec names, no jobs
// table, user_version 0) is upgraded in place with its rows kept; a database at a later version than
// the code knows is refused; a failing optional step leaves the database usable at the last version that
// worked (retried next time), while a failing required step stops the open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir } from '../helpers/media.js';
import { INDEX_CACHE_KIB, openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { JobStore } from '../../src/producer/store/job-store.js';
import { LATEST_VERSION, MIGRATIONS, migrate, REQUIRED_VERSION, SchemaError, type Migration } from '../../src/producer/store/migrations.js';

const version = (db: Database.Database) => db.pragma('user_version', { simple: true }) as number;
const cols = (db: Database.Database, t: string) => db.prepare<[], { name: string }>(`PRAGMA table_info(${t})`).all().map((c) => c.name);

test('a new database gets every step, and the tables the code queries', () => {
  const db = openDatabase(':memory:');
  assert.equal(version(db), LATEST_VERSION);
  // Its page cache is SQLite's default 2 MiB, not the 16 MiB better-sqlite3 builds in (per camera, on every history).
  assert.equal(db.pragma('cache_size', { simple: true }), -INDEX_CACHE_KIB);
  assert.ok(INDEX_CACHE_KIB <= 4096);
  assert.deepEqual(MIGRATIONS.map((m) => m.version), MIGRATIONS.map((_, i) => i + 1), 'steps are numbered 1, 2, 3, …');
  assert.ok(cols(db, 'segments').includes('mtime_ms') && cols(db, 'fragments').includes('crc'));
  const idx = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'jobs_published'").get();
  assert.equal(idx?.name, 'jobs_published');
  new SegmentIndex(db);
  assert.equal(new JobStore(db).recent(10).length, 0);
  assert.deepEqual(migrate(db), [], 'a second run applies nothing');
  db.close();
});

test('a data directory from before versioning is upgraded in place, its rows kept', () => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'index.sqlite');
  const old = new Database(path);
  // The first schema: no mtime_ms, no crc, no jobs table; codecs named by their sample entry.
  old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE segments (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, run_id INTEGER NOT NULL, start_pts_ns INTEGER NOT NULL,
      stop_pts_ns INTEGER NOT NULL, start_epoch_ms REAL NOT NULL, stop_epoch_ms REAL NOT NULL, offset_ns INTEGER NOT NULL,
      anchor_epoch_ms REAL NOT NULL, anchor_pts_ns INTEGER NOT NULL, bytes INTEGER NOT NULL, init_size INTEGER NOT NULL,
      fragments INTEGER NOT NULL DEFAULT 0, frames INTEGER NOT NULL DEFAULT 0, codec TEXT NOT NULL, codec_string TEXT NOT NULL,
      width INTEGER NOT NULL, height INTEGER NOT NULL, fps REAL NOT NULL, has_audio INTEGER NOT NULL, description_key TEXT NOT NULL,
      sealed INTEGER NOT NULL DEFAULT 0, created_ms REAL NOT NULL);
    CREATE TABLE fragments (segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
      start_pts_ns INTEGER NOT NULL, stop_pts_ns INTEGER NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL,
      moof_size INTEGER NOT NULL, samples INTEGER NOT NULL, keyframe INTEGER NOT NULL, PRIMARY KEY (segment_id, seq)) WITHOUT ROWID;
    CREATE TABLE gaps (id INTEGER PRIMARY KEY, start_pts_ns INTEGER NOT NULL, stop_pts_ns INTEGER NOT NULL, reason TEXT NOT NULL, created_ms REAL NOT NULL);
    INSERT INTO meta VALUES ('clock_base_epoch_ms', '1700000000000');
    INSERT INTO segments (path, run_id, start_pts_ns, stop_pts_ns, start_epoch_ms, stop_epoch_ms, offset_ns, anchor_epoch_ms, anchor_pts_ns,
      bytes, init_size, fragments, frames, codec, codec_string, width, height, fps, has_audio, description_key, sealed, created_ms)
      VALUES ('2023-11-14/0.mp4', 1, 0, 2000000000, 1700000000000, 1700000002000, 0, 1700000000000, 0, 1000, 100, 1, 50, 'avc1',
      'avc1.64001f', 320, 240, 25, 0, 'k', 1, 1700000002000);
    INSERT INTO fragments VALUES (1, 0, 0, 2000000000, 100, 900, 80, 50, 1);
    INSERT INTO gaps (start_pts_ns, stop_pts_ns, reason, created_ms) VALUES (2000000000, 3000000000, 'ingest restart', 1700000003000);`);
  assert.equal(version(old), 0);
  old.close();
  const db = openDatabase(path);
  try {
    assert.equal(version(db), LATEST_VERSION);
    const idx = new SegmentIndex(db);
    const seg = idx.lastSegment()!;
    assert.deepEqual([seg.path, seg.codec, seg.frames, seg.mtime_ms], ['2023-11-14/0.mp4', 'h264', 50, null], 'row kept, codec renamed, new column NULL');
    assert.equal(db.prepare<[], { crc: number | null }>('SELECT crc FROM fragments').get()!.crc, null);
    assert.equal(idx.gapsIn(0n, 4_000_000_000n).length, 1);
    assert.equal(idx.getMeta('clock_base_epoch_ms'), '1700000000000');
    assert.equal(new JobStore(db).recent(5).length, 0, 'the jobs table exists');
  } finally {
    db.close();
    tmp.cleanup();
  }
});

test('a database newer than the code is refused; nothing is changed', () => {
  const db = new Database(':memory:');
  db.pragma(`user_version = ${LATEST_VERSION + 1}`);
  assert.throws(() => migrate(db), (e: unknown) => e instanceof SchemaError && /newer than this segrec knows/.test(e.message));
  assert.equal(version(db), LATEST_VERSION + 1);
  db.close();
});

test('a failing optional step leaves the last good version (retried later); a failing required step throws', () => {
  const fail: Migration = { version: 3, what: 'fails', up: () => { throw new Error('disk full'); } };
  const steps = [MIGRATIONS[0], MIGRATIONS[1], fail, { version: 4, what: 'never reached', up: () => assert.fail('not after a failure') }];
  const db = new Database(':memory:');
  const failures: string[] = [];
  assert.deepEqual(migrate(db, { steps, required: 2, onOptionalFailure: (m, e) => failures.push(`${m.version}: ${e.message}`) }), [1, 2]);
  assert.equal(version(db), 2, 'the failed step did not count');
  assert.deepEqual(failures, ['3: disk full']);
  assert.deepEqual(migrate(db, { steps: [MIGRATIONS[0], MIGRATIONS[1], { ...fail, up: (d) => d.exec('CREATE TABLE later (x)') }], required: 2 }), [3], 'retried next time');
  const db2 = new Database(':memory:');
  assert.throws(() => migrate(db2, { steps, required: 3 }), /disk full/);
  assert.equal(version(db2), 2);
  assert.ok(REQUIRED_VERSION <= LATEST_VERSION);
  db.close();
  db2.close();
});

test('step 8 indexes the gap lengths of an existing index: its gaps are found through a range, as before', () => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'index.sqlite');
  const old = new Database(path);
  migrate(old, { steps: MIGRATIONS.filter((m) => m.version <= 7) });
  const insert = old.prepare("INSERT INTO gaps (start_pts_ns, stop_pts_ns, reason, created_ms) VALUES (?, ?, 'r', 0)");
  // A clock past 2^53 ns: lengths and bounds must stay exact.
  const base = 2n ** 60n;
  for (let i = 0n; i < 50n; i++) insert.run(base + i * 10_000_000_000n, base + i * 10_000_000_000n + 1_000_000_001n);
  insert.run(base + 5n, base + 200_000_000_000n);
  old.close();
  const db = openDatabase(path);
  try {
    assert.equal(version(db), LATEST_VERSION);
    const idx = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'gaps_length'").get();
    assert.equal(idx?.name, 'gaps_length');
    assert.equal(db.prepare<[], { n: bigint }>('SELECT MAX(stop_pts_ns - start_pts_ns) AS n FROM gaps').safeIntegers(true).get()!.n, 200_000_000_000n - 5n);
    const index = new SegmentIndex(db);
    // The window [base + 150 s, base + 151 s): the long gap reaches into it from 150 s before.
    const got = index.gapsIn(base + 150_000_000_000n, base + 151_000_000_001n);
    assert.deepEqual(got.map((g) => [g.start_pts_ns, g.stop_pts_ns]), [[base + 5n, base + 200_000_000_000n], [base + 150_000_000_000n, base + 151_000_000_001n]]);
    assert.equal(index.gapCount(), 51);
  } finally {
    db.close();
    tmp.cleanup();
  }
});
