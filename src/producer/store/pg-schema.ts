// The PostgreSQL catalog's schema as numbered upgrades (as migrations.ts is SQLite's): each runs once, in
// its own transaction, recorded in `schema_migrations`; nodes starting together serialise on an advisory
// lock, and a database newer than this code is refused. Rows are keyed by camera and segment path (ids
// are each node's own), PTS are BIGINT (0 … 2^63 − 1, exact).
import type pg from 'pg';

export interface PgMigration {
  version: number;
  what: string;
  sql: string;
}

export const PG_MIGRATIONS: PgMigration[] = [
  {
    version: 1, what: 'cameras, segments, fragments, gaps, mirror progress',
    sql: `
CREATE TABLE cameras (
  name TEXT PRIMARY KEY,
  clock_base_epoch_ms DOUBLE PRECISION NOT NULL,
  created_ms DOUBLE PRECISION NOT NULL
);
CREATE TABLE segments (
  camera TEXT NOT NULL REFERENCES cameras(name),
  path TEXT NOT NULL,
  run_id BIGINT NOT NULL,
  start_pts_ns BIGINT NOT NULL,
  stop_pts_ns BIGINT NOT NULL,
  start_epoch_ms DOUBLE PRECISION NOT NULL,
  stop_epoch_ms DOUBLE PRECISION NOT NULL,
  offset_ns BIGINT NOT NULL,
  anchor_epoch_ms DOUBLE PRECISION NOT NULL,
  anchor_pts_ns BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  init_size INTEGER NOT NULL,
  fragments INTEGER NOT NULL,
  frames INTEGER NOT NULL,
  codec TEXT NOT NULL,
  codec_string TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  fps DOUBLE PRECISION NOT NULL,
  has_audio BOOLEAN NOT NULL,
  description_key TEXT NOT NULL,
  sealed BOOLEAN NOT NULL,
  created_ms DOUBLE PRECISION NOT NULL,
  mtime_ms DOUBLE PRECISION,
  object_key TEXT,
  node TEXT NOT NULL,
  PRIMARY KEY (camera, path)
);
CREATE INDEX segments_camera_start ON segments (camera, start_pts_ns);
CREATE INDEX segments_camera_stop ON segments (camera, stop_pts_ns);
CREATE TABLE fragments (
  camera TEXT NOT NULL,
  path TEXT NOT NULL,
  seq INTEGER NOT NULL,
  start_pts_ns BIGINT NOT NULL,
  stop_pts_ns BIGINT NOT NULL,
  "offset" BIGINT NOT NULL,
  size BIGINT NOT NULL,
  moof_size INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  keyframe BOOLEAN NOT NULL,
  crc BIGINT,
  PRIMARY KEY (camera, path, seq),
  FOREIGN KEY (camera, path) REFERENCES segments (camera, path) ON DELETE CASCADE
);
CREATE TABLE gaps (
  camera TEXT NOT NULL REFERENCES cameras(name),
  start_pts_ns BIGINT NOT NULL,
  stop_pts_ns BIGINT NOT NULL,
  reason TEXT NOT NULL,
  created_ms DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (camera, start_pts_ns, stop_pts_ns)
);
-- How far each node's journal of each camera has been applied (the outbox sequence), updated in the
-- same transaction as what it applied: a batch is never applied twice.
CREATE TABLE mirror_progress (
  node TEXT NOT NULL,
  camera TEXT NOT NULL,
  applied_seq BIGINT NOT NULL,
  updated_ms DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (node, camera)
);`,
  },
  {
    // The reads of pg-catalog-reader.ts: catalog-wide ids (in the order rows arrive, which is each journal's
    // order) to break ties and page as SQLite does, and the ranges its queries walk.
    version: 2, what: 'row ids and the indexes of the catalog reads',
    sql: `
ALTER TABLE segments ADD COLUMN id BIGSERIAL;
CREATE UNIQUE INDEX segments_id ON segments (id);
CREATE INDEX segments_camera_start_id ON segments (camera, start_pts_ns, id);
CREATE INDEX segments_camera_stop_epoch ON segments (camera, stop_epoch_ms);
ALTER TABLE gaps ADD COLUMN id BIGSERIAL;
CREATE INDEX gaps_camera_start ON gaps (camera, start_pts_ns);
CREATE INDEX gaps_camera_length ON gaps (camera, (stop_pts_ns - start_pts_ns));`,
  },
  {
    // Several nodes as one recorder (cluster/): each node's heartbeat, each camera's lease (its holder, an
    // expiry on the database's clock, an epoch raised at every acquisition: the fencing token), and a log
    // of every tenure (who recorded a camera when; handover times are read from it).
    version: 3, what: 'nodes, camera leases, lease log',
    sql: `
CREATE TABLE nodes (
  node TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  heartbeat_at TIMESTAMPTZ NOT NULL,
  stopping BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE camera_leases (
  camera TEXT PRIMARY KEY,
  node TEXT,
  epoch BIGINT NOT NULL DEFAULT 0,
  expires_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
  acquired_at TIMESTAMPTZ
);
CREATE TABLE lease_log (
  camera TEXT NOT NULL,
  epoch BIGINT NOT NULL,
  node TEXT NOT NULL,
  acquired_at TIMESTAMPTZ NOT NULL,
  ended_at TIMESTAMPTZ,
  ended_how TEXT,
  PRIMARY KEY (camera, epoch)
);`,
  },
  {
    // When each segment reached the store (set by the database when its object key is first set): the
    // other nodes of a cluster import a camera's uploaded footage in that order (cluster/catalog-follower.ts).
    version: 4, what: 'segments.uploaded_at',
    sql: `
ALTER TABLE segments ADD COLUMN uploaded_at TIMESTAMPTZ;
CREATE FUNCTION segrec_segments_uploaded_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.object_key IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.object_key IS DISTINCT FROM NEW.object_key) THEN
    NEW.uploaded_at := clock_timestamp();
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER segments_uploaded_at BEFORE INSERT OR UPDATE ON segments FOR EACH ROW EXECUTE FUNCTION segrec_segments_uploaded_at();
UPDATE segments SET uploaded_at = now() WHERE object_key IS NOT NULL;
CREATE INDEX segments_camera_uploaded ON segments (camera, uploaded_at) WHERE uploaded_at IS NOT NULL;`,
  },
  {
    // A number per node (1–9000), the top digits of the clip ids it gives (slot × 10^12 + n, below 2^53):
    // any node tells from a clip id which node holds the job.
    version: 5, what: 'nodes.slot',
    sql: `
CREATE SEQUENCE node_slots MINVALUE 1 MAXVALUE 9000 CYCLE;
ALTER TABLE nodes ADD COLUMN slot INTEGER UNIQUE;
UPDATE nodes SET slot = nextval('node_slots');
ALTER TABLE nodes ALTER COLUMN slot SET DEFAULT nextval('node_slots');`,
  },
  {
    // The cluster's clip jobs (cluster/pg-jobs.ts): every job any node accepted, the node holding it and
    // until when (renewed by that node; a lapsed claim is taken by another node with FOR UPDATE SKIP
    // LOCKED), and its outcome once it ended, so any node answers for any job. Spec and outcome are wire
    // JSON (exact PTS), as in each node's own index.
    version: 6, what: 'clip jobs shared by the nodes',
    sql: `
CREATE TABLE clip_jobs (
  clip_id TEXT PRIMARY KEY,
  camera TEXT NOT NULL,
  status TEXT NOT NULL,
  spec TEXT NOT NULL,
  start_pts_ns BIGINT NOT NULL,
  stop_pts_ns BIGINT NOT NULL,
  out_dir TEXT NOT NULL,
  outcome TEXT,
  error TEXT,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  deadline_ms BIGINT NOT NULL,
  node TEXT NOT NULL,
  claim_expires_at TIMESTAMPTZ NOT NULL,
  claims INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX clip_jobs_unfinished ON clip_jobs (claim_expires_at) WHERE status IN ('queued', 'running');
CREATE INDEX clip_jobs_node_unfinished ON clip_jobs (node) WHERE status IN ('queued', 'running');
CREATE INDEX clip_jobs_camera_created ON clip_jobs (camera, created_ms, clip_id);`,
  },
  {
    // Each camera's totals (segments holding a fragment and their bytes, as the local index counts them;
    // gaps), kept by statement triggers in the same transaction as the change, so that what the catalog
    // holds is read in one row at any history size (/health's catalog.totals, the distributed check).
    // One statement's rows are summed per camera: a batch of the first copy updates each row once.
    version: 7, what: 'camera_totals kept by triggers',
    sql: `
CREATE TABLE camera_totals (
  camera TEXT PRIMARY KEY,
  segments BIGINT NOT NULL DEFAULT 0,
  segment_bytes BIGINT NOT NULL DEFAULT 0,
  gaps BIGINT NOT NULL DEFAULT 0
);
INSERT INTO camera_totals (camera, segments, segment_bytes, gaps)
SELECT c.name, COALESCE(s.n, 0), COALESCE(s.b, 0)::bigint, COALESCE(g.n, 0) FROM cameras c
  LEFT JOIN (SELECT camera, COUNT(*) AS n, SUM(bytes) AS b FROM segments WHERE fragments > 0 GROUP BY camera) s ON s.camera = c.name
  LEFT JOIN (SELECT camera, COUNT(*) AS n FROM gaps GROUP BY camera) g ON g.camera = c.name;
CREATE FUNCTION segrec_add_totals(d_camera TEXT, d_segments BIGINT, d_bytes BIGINT, d_gaps BIGINT) RETURNS void LANGUAGE sql AS $$
  INSERT INTO camera_totals AS t (camera, segments, segment_bytes, gaps) VALUES (d_camera, d_segments, d_bytes, d_gaps)
  ON CONFLICT (camera) DO UPDATE SET segments = t.segments + excluded.segments, segment_bytes = t.segment_bytes + excluded.segment_bytes,
    gaps = t.gaps + excluded.gaps
$$;
CREATE FUNCTION segrec_segment_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM segrec_add_totals(camera, COUNT(*), SUM(bytes)::bigint, 0) FROM new_rows WHERE fragments > 0 GROUP BY camera;
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM segrec_add_totals(camera, -COUNT(*), -SUM(bytes)::bigint, 0) FROM old_rows WHERE fragments > 0 GROUP BY camera;
  ELSE
    PERFORM segrec_add_totals(camera, SUM(n)::bigint, SUM(b)::bigint, 0) FROM (
      SELECT camera, 1 AS n, bytes AS b FROM new_rows WHERE fragments > 0
      UNION ALL SELECT camera, -1, -bytes FROM old_rows WHERE fragments > 0) d
    GROUP BY camera HAVING SUM(n) <> 0 OR SUM(b) <> 0;
  END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION segrec_gap_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM segrec_add_totals(camera, 0, 0, COUNT(*)) FROM new_rows GROUP BY camera;
  ELSE
    PERFORM segrec_add_totals(camera, 0, 0, -COUNT(*)) FROM old_rows GROUP BY camera;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER segments_totals_ins AFTER INSERT ON segments REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION segrec_segment_totals();
CREATE TRIGGER segments_totals_upd AFTER UPDATE ON segments REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION segrec_segment_totals();
CREATE TRIGGER segments_totals_del AFTER DELETE ON segments REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION segrec_segment_totals();
CREATE TRIGGER gaps_totals_ins AFTER INSERT ON gaps REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION segrec_gap_totals();
CREATE TRIGGER gaps_totals_del AFTER DELETE ON gaps REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION segrec_gap_totals();`,
  },
  {
    // Each node's clip retention on the finished jobs it holds (pg-jobs.ts retain): found by node and
    // camera, oldest first, without reading the unfinished ones or other nodes'.
    version: 8, what: 'clip_jobs: finished jobs by node',
    sql: `CREATE INDEX clip_jobs_node_finished ON clip_jobs (node, camera, updated_ms) WHERE status IN ('done', 'error');`,
  },
];

/** Any fixed number: the advisory lock nodes take while they migrate. */
const MIGRATION_LOCK = 726_571_003;

export class PgSchemaError extends Error {
  override name = 'PgSchemaError';
}

/** Brings the database to the latest version; returns the versions applied. */
export async function migratePg(pool: pg.Pool, steps: PgMigration[] = PG_MIGRATIONS): Promise<number[]> {
  const client = await pool.connect();
  // (A connection ended while checked out is reported on the client; the query in flight fails with it.)
  const onError = () => undefined;
  client.on('error', onError);
  const applied: number[] = [];
  let failed: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, what TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    const current = rows[0]?.v ?? 0;
    const latest = steps[steps.length - 1].version;
    if (current > latest) {
      throw new PgSchemaError(`the catalog database is at schema version ${current}, newer than this segrec knows (${latest}): use a newer segrec`);
    }
    for (const m of steps) {
      if (m.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations(version, what) VALUES ($1, $2)', [m.version, m.what]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
      applied.push(m.version);
    }
  } catch (e) {
    failed = e as Error;
    throw e;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.off('error', onError);
    client.release(failed);
  }
  return applied;
}
