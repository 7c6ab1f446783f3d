// The index database's schema as numbered upgrades (as Moonfire NVR's server/db does): each step runs
// once, in its own transaction, and the database's `user_version` records the last one applied. A data
// directory written by a newer segrec (a higher version than this code knows) is refused rather than
// misread. Steps after REQUIRED_VERSION only speed things up: if one fails (e.g. the disk is full) the
// producer still starts and the step is retried at the next start.
import type Database from 'better-sqlite3';
import { sampleEntryCodecNames } from '../../mp4/init.js';

export interface Migration {
  version: number;
  what: string;
  up(db: Database.Database): void;
}

const CATALOG = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  run_id INTEGER NOT NULL,
  start_pts_ns INTEGER NOT NULL,
  stop_pts_ns INTEGER NOT NULL,
  start_epoch_ms REAL NOT NULL,
  stop_epoch_ms REAL NOT NULL,
  offset_ns INTEGER NOT NULL,
  anchor_epoch_ms REAL NOT NULL,
  anchor_pts_ns INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  init_size INTEGER NOT NULL,
  fragments INTEGER NOT NULL DEFAULT 0,
  frames INTEGER NOT NULL DEFAULT 0,
  codec TEXT NOT NULL,
  codec_string TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  fps REAL NOT NULL,
  has_audio INTEGER NOT NULL,
  description_key TEXT NOT NULL,
  sealed INTEGER NOT NULL DEFAULT 0,
  created_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_start ON segments(start_pts_ns);
CREATE INDEX IF NOT EXISTS segments_stop ON segments(stop_pts_ns);
CREATE INDEX IF NOT EXISTS segments_epoch ON segments(start_epoch_ms);
CREATE INDEX IF NOT EXISTS segments_stop_epoch ON segments(stop_epoch_ms);
CREATE TABLE IF NOT EXISTS fragments (
  segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  start_pts_ns INTEGER NOT NULL,
  stop_pts_ns INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  size INTEGER NOT NULL,
  moof_size INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  keyframe INTEGER NOT NULL,
  PRIMARY KEY (segment_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gaps (
  id INTEGER PRIMARY KEY,
  start_pts_ns INTEGER NOT NULL,
  stop_pts_ns INTEGER NOT NULL,
  reason TEXT NOT NULL,
  created_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS gaps_start ON gaps(start_pts_ns);
`;

const JOBS = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY,
  clip_id TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  spec TEXT NOT NULL,
  start_pts_ns INTEGER NOT NULL,
  stop_pts_ns INTEGER NOT NULL,
  out_dir TEXT NOT NULL,
  outcome TEXT,
  error TEXT,
  created_ms REAL NOT NULL,
  updated_ms REAL NOT NULL,
  deadline_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
`;

// Counts /health, /metrics and retention read without scanning a table, kept by triggers in the same
// transaction as the change they count (so a crash never leaves them wrong). `segments` and
// `segment_bytes` count segments holding at least one fragment (as the API lists them); `jobs:STATUS`
// the clip jobs by status. Filled once from the tables when the step runs.
const TOTALS = `
CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR REPLACE INTO totals SELECT 'segments', COUNT(*) FROM segments WHERE fragments > 0;
INSERT OR REPLACE INTO totals SELECT 'segment_bytes', COALESCE(SUM(bytes), 0) FROM segments WHERE fragments > 0;
INSERT OR REPLACE INTO totals SELECT 'gaps', COUNT(*) FROM gaps;
INSERT OR REPLACE INTO totals VALUES ('jobs:queued', 0), ('jobs:running', 0), ('jobs:done', 0), ('jobs:error', 0);
INSERT OR REPLACE INTO totals SELECT 'jobs:' || status, COUNT(*) FROM jobs GROUP BY status;
CREATE TRIGGER IF NOT EXISTS totals_segment_insert AFTER INSERT ON segments WHEN NEW.fragments > 0 BEGIN
  UPDATE totals SET n = n + 1 WHERE name = 'segments';
  UPDATE totals SET n = n + NEW.bytes WHERE name = 'segment_bytes';
END;
CREATE TRIGGER IF NOT EXISTS totals_segment_delete AFTER DELETE ON segments WHEN OLD.fragments > 0 BEGIN
  UPDATE totals SET n = n - 1 WHERE name = 'segments';
  UPDATE totals SET n = n - OLD.bytes WHERE name = 'segment_bytes';
END;
CREATE TRIGGER IF NOT EXISTS totals_segment_update AFTER UPDATE OF fragments, bytes ON segments
  WHEN OLD.fragments > 0 OR NEW.fragments > 0 BEGIN
  UPDATE totals SET n = n + (NEW.fragments > 0) - (OLD.fragments > 0) WHERE name = 'segments';
  UPDATE totals SET n = n + IIF(NEW.fragments > 0, NEW.bytes, 0) - IIF(OLD.fragments > 0, OLD.bytes, 0) WHERE name = 'segment_bytes';
END;
CREATE TRIGGER IF NOT EXISTS totals_gap_insert AFTER INSERT ON gaps BEGIN UPDATE totals SET n = n + 1 WHERE name = 'gaps'; END;
CREATE TRIGGER IF NOT EXISTS totals_gap_delete AFTER DELETE ON gaps BEGIN UPDATE totals SET n = n - 1 WHERE name = 'gaps'; END;
CREATE TRIGGER IF NOT EXISTS totals_job_insert AFTER INSERT ON jobs BEGIN
  INSERT INTO totals VALUES ('jobs:' || NEW.status, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS totals_job_delete AFTER DELETE ON jobs BEGIN
  UPDATE totals SET n = n - 1 WHERE name = 'jobs:' || OLD.status;
END;
CREATE TRIGGER IF NOT EXISTS totals_job_status AFTER UPDATE OF status ON jobs WHEN NEW.status IS NOT OLD.status BEGIN
  UPDATE totals SET n = n - 1 WHERE name = 'jobs:' || OLD.status;
  INSERT INTO totals VALUES ('jobs:' || NEW.status, 1) ON CONFLICT(name) DO UPDATE SET n = n + 1;
END;
CREATE INDEX IF NOT EXISTS segments_unsealed ON segments(id) WHERE sealed = 0;
CREATE INDEX IF NOT EXISTS segments_run ON segments(run_id);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_ms, clip_id);
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs(status, created_ms, clip_id);
`;

const columns = (db: Database.Database, table: string) =>
  new Set(db.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all().map((c) => c.name));

/** What deleting a segment row queues for the store: its object and its unfinished multipart upload (steps 9 and 11). */
const STORE_DELETE = `  INSERT OR IGNORE INTO store_deletes(key, upload_id, queued_ms)
    SELECT old.object_key, '', unixepoch('subsec') * 1000 WHERE old.object_key IS NOT NULL;
  INSERT OR IGNORE INTO store_deletes(key, upload_id, queued_ms)
    SELECT key, upload_id, unixepoch('subsec') * 1000 FROM uploads WHERE segment_id = old.id;
  DELETE FROM uploads WHERE segment_id = old.id;
`;

// With an object store (store/segment-uploads.ts): `object_key` is where a sealed segment was uploaded
// (NULL: not yet; the upload queue is the partial index of those), `local` whether its file is still on
// local disk (0: evicted after upload, read from the store). A multipart upload in progress is in
// `uploads` (a crash resumes it). Deleting a stored segment's row queues its object (and an unfinished
// upload) in `store_deletes` in the same transaction, whoever deletes it (retention, recovery), so a
// crash never leaves an object nothing refers to.
const OBJECT_STORE = `
ALTER TABLE segments ADD COLUMN object_key TEXT;
ALTER TABLE segments ADD COLUMN local INTEGER NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS segments_upload_pending ON segments(start_pts_ns, id) WHERE sealed = 1 AND object_key IS NULL;
CREATE INDEX IF NOT EXISTS segments_evictable ON segments(start_pts_ns, id) WHERE local = 1 AND object_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS uploads (
  segment_id INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  upload_id TEXT NOT NULL,
  part_bytes INTEGER NOT NULL,
  started_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS store_deletes (
  key TEXT NOT NULL,
  upload_id TEXT NOT NULL DEFAULT '',
  queued_ms REAL NOT NULL,
  PRIMARY KEY (key, upload_id)
);
CREATE TRIGGER IF NOT EXISTS segments_store_delete AFTER DELETE ON segments BEGIN
${STORE_DELETE}END;
`;

// A cluster node imports the segments other nodes recorded of a camera (cluster/catalog-follower.ts) so
// that every read path serves the whole camera; such a row names its node in `origin`, is read from the
// store (local = 0), and is not this node's: it counts in no total (retention's max_bytes is about what
// this node recorded) and its removal here deletes nothing in the store.
const FOREIGN_ROWS = `
ALTER TABLE segments ADD COLUMN origin TEXT;
DROP TRIGGER IF EXISTS totals_segment_insert;
DROP TRIGGER IF EXISTS totals_segment_delete;
DROP TRIGGER IF EXISTS totals_segment_update;
DROP TRIGGER IF EXISTS segments_store_delete;
CREATE TRIGGER totals_segment_insert AFTER INSERT ON segments WHEN NEW.fragments > 0 AND NEW.origin IS NULL BEGIN
  UPDATE totals SET n = n + 1 WHERE name = 'segments';
  UPDATE totals SET n = n + NEW.bytes WHERE name = 'segment_bytes';
END;
CREATE TRIGGER totals_segment_delete AFTER DELETE ON segments WHEN OLD.fragments > 0 AND OLD.origin IS NULL BEGIN
  UPDATE totals SET n = n - 1 WHERE name = 'segments';
  UPDATE totals SET n = n - OLD.bytes WHERE name = 'segment_bytes';
END;
CREATE TRIGGER totals_segment_update AFTER UPDATE OF fragments, bytes ON segments
  WHEN (OLD.fragments > 0 OR NEW.fragments > 0) AND NEW.origin IS NULL BEGIN
  UPDATE totals SET n = n + (NEW.fragments > 0) - (OLD.fragments > 0) WHERE name = 'segments';
  UPDATE totals SET n = n + IIF(NEW.fragments > 0, NEW.bytes, 0) - IIF(OLD.fragments > 0, OLD.bytes, 0) WHERE name = 'segment_bytes';
END;
CREATE TRIGGER segments_store_delete AFTER DELETE ON segments WHEN OLD.origin IS NULL BEGIN
${STORE_DELETE}END;
`;

export const MIGRATIONS: Migration[] = [
  // Steps 1–3 may meet a data directory from before versioning (user_version 0, some of it present):
  // they are written to find their work already done.
  { version: 1, what: 'catalog: meta, segments, fragments, gaps', up: (db) => db.exec(CATALOG) },
  {
    version: 2, what: 'segments.mtime_ms (recovery) and fragments.crc (damage detection)',
    up: (db) => {
      if (!columns(db, 'segments').has('mtime_ms')) db.exec('ALTER TABLE segments ADD COLUMN mtime_ms REAL');
      if (!columns(db, 'fragments').has('crc')) db.exec('ALTER TABLE fragments ADD COLUMN crc INTEGER');
    },
  },
  { version: 3, what: 'clip jobs', up: (db) => db.exec(JOBS) },
  {
    // Rows written before codecs were named as ffprobe names them hold the sample entry fourcc ('avc1',
    // 'hvc1', ...). 'mp4v' stays (its codec is in the segment file's esds).
    version: 4, what: 'codec names as ffprobe gives them',
    up: (db) => {
      const rename = db.prepare('UPDATE segments SET codec = ? WHERE codec = ?');
      for (const [fourcc, name] of sampleEntryCodecNames()) if (fourcc !== name) rename.run(name, fourcc);
    },
  },
  {
    version: 5, what: 'index of published clips (clip retention pages through it)',
    up: (db) => db.exec(`CREATE INDEX IF NOT EXISTS jobs_published ON jobs(updated_ms)
      WHERE status = 'done' AND json_extract(outcome, '$.path') IS NOT NULL`),
  },
  { version: 6, what: 'maintained totals (segments, bytes, gaps, jobs by status); indexes of unsealed segments and of jobs by time', up: (db) => db.exec(TOTALS) },
  {
    // Job-record pruning reads only the records it may delete (a million published clips cost it nothing).
    version: 7, what: 'index of the job records pruning may delete',
    up: (db) => db.exec(`DROP INDEX IF EXISTS jobs_updated;
      CREATE INDEX IF NOT EXISTS jobs_prunable ON jobs(updated_ms)
        WHERE status IN ('done', 'error') AND (outcome IS NULL OR json_extract(outcome, '$.path') IS NULL)`),
  },
  {
    // The longest gap is one step down this index, so the gaps overlapping a window are a range of the
    // start index: those starting in [from − longest, to), not every gap before the window. An index
    // (rather than a maintained maximum) shrinks when retention removes the long gap. PTS are 0 … 2^63 − 1,
    // so a length never overflows. Built from the existing gaps when the step runs.
    version: 8, what: 'index of gap lengths (gap lookups read only the gaps near their window)',
    up: (db) => db.exec('CREATE INDEX IF NOT EXISTS gaps_length ON gaps(stop_pts_ns - start_pts_ns)'),
  },
  { version: 9, what: 'segments in an object store: where each is kept, uploads in progress, objects to delete', up: (db) => db.exec(OBJECT_STORE) },
  {
    // The changes still to apply to a PostgreSQL catalog (store/pg-mirror.ts), in order. Its triggers are
    // created only while a producer runs with --catalog postgres://… (pg-outbox.ts), so a producer without
    // one writes nothing here.
    version: 10, what: 'outbox of changes for the PostgreSQL catalog',
    up: (db) => db.exec('CREATE TABLE IF NOT EXISTS pg_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, a INTEGER, b INTEGER, path TEXT)'),
  },
  { version: 11, what: "segments.origin: other nodes' footage of a camera, imported from the cluster's catalog", up: (db) => db.exec(FOREIGN_ROWS) },
  {
    // Segment files decided to go (rows deleted by retention, local copies evicted), until they are gone
    // (segments/file-removals.ts): a crash between the decision and the unlink leaves no stray file.
    version: 12, what: 'segment files to remove (their removal survives a crash)',
    up: (db) => db.exec('CREATE TABLE IF NOT EXISTS file_removals (path TEXT PRIMARY KEY) WITHOUT ROWID'),
  },
];

/** The version every table and column the code uses exists at (step 9's columns are read by every query of
 * the background check and the store, step 10's table by the catalog mirror, step 11's column and step
 * 12's table by retention); later steps, when there are any, are optional. */
export const REQUIRED_VERSION = 12;
export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export class SchemaError extends Error {
  override name = 'SchemaError';
}

/**
 * Brings the database to the latest version; returns the versions applied. Throws SchemaError for a
 * database newer than this code, and the step's error when a required step fails.
 */
export function migrate(db: Database.Database, o: { onOptionalFailure?: (m: Migration, e: Error) => void; steps?: Migration[]; required?: number } = {}): number[] {
  const steps = o.steps ?? MIGRATIONS;
  const latest = steps[steps.length - 1].version;
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest) {
    throw new SchemaError(`the index database is at schema version ${current}, newer than this segrec knows (${latest}): use a newer segrec for this data directory`);
  }
  const applied: number[] = [];
  for (const m of steps) {
    if (m.version <= current) continue;
    try {
      db.transaction(() => {
        m.up(db);
        db.pragma(`user_version = ${m.version}`);
      })();
    } catch (e) {
      if (m.version <= (o.required ?? REQUIRED_VERSION)) throw e;
      o.onOptionalFailure?.(m, e as Error);
      break;
    }
    applied.push(m.version);
  }
  return applied;
}
