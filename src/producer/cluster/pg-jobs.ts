// The cluster's clip jobs in PostgreSQL (schema: pg-schema.ts step 6). A job is written here when a node
// accepts it, claimed by that node until `claim_expires_at` (on the database's clock, renewed every round
// while the job is unfinished), and its outcome written when it ends — only by the node holding the claim,
// so a job another node took over keeps that node's result. A claim that lapses (its node died, or lost
// the catalog) is taken by another node with FOR UPDATE SKIP LOCKED: two nodes never take the same one.
// Each node applies its clip retention to the finished jobs it holds (expired clips, old records).
import pg from 'pg';
import { stringifyWireJson } from '../../protocol/wire-json.js';
import { jobFromRow, seqOfClipId, type JobRecord, type JobStatus } from '../store/job-store.js';
import type { SharedJob } from '../clips/shared-jobs.js';
import { NodePool } from './node-pool.js';

/** A job taken over from another node. */
export interface AdoptedJob extends SharedJob {
  from: string;
}

interface Row {
  clip_id: string; camera: string; status: string; spec: string; start_pts_ns: string; stop_pts_ns: string; out_dir: string;
  outcome: string | null; error: string | null; created_ms: string; updated_ms: string; deadline_ms: string; node: string;
}

function sharedOf(r: Row): SharedJob {
  const job = jobFromRow({
    seq: seqOfClipId(r.clip_id), clip_id: r.clip_id, status: r.status, spec: r.spec, start_pts_ns: BigInt(r.start_pts_ns),
    stop_pts_ns: BigInt(r.stop_pts_ns), out_dir: r.out_dir, outcome: r.outcome, error: r.error, created_ms: Number(r.created_ms),
    updated_ms: Number(r.updated_ms), deadline_ms: Number(r.deadline_ms),
  });
  return { camera: r.camera, node: r.node, job };
}

const UNFINISHED = "status IN ('queued', 'running')";

/** A job entered as `values()` gives it, claimed by this node for `claimMs`. */
const INSERT_JOB = `INSERT INTO clip_jobs (clip_id, camera, status, spec, start_pts_ns, stop_pts_ns, out_dir, outcome, error, created_ms, updated_ms,
      deadline_ms, node, claim_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now() + $14 * interval '1 millisecond')`;

export class PgJobs {
  private readonly db: NodePool;

  constructor(url: string, private readonly o: { node: string; claimMs: number; queryTimeoutMs: number }) {
    this.db = new NodePool(url, { name: `segrec-jobs ${o.node}`, max: 2, queryTimeoutMs: o.queryTimeoutMs });
  }

  /** Queries sent (for /metrics and the figures). */
  get queries(): number {
    return this.db.queries;
  }

  private q<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.db.query<R>({ text, values });
  }

  private values(camera: string, j: JobRecord): unknown[] {
    return [
      j.clipId, camera, j.status, stringifyWireJson(j.spec), String(j.startPtsNs), String(j.stopPtsNs), j.outDir,
      j.outcome ? stringifyWireJson(j.outcome) : null, j.error, j.createdMs, j.updatedMs, j.deadlineMs, this.o.node, this.o.claimMs,
    ];
  }

  /** A job accepted here: entered, claimed by this node (a job entered already is left as it is). */
  async accept(camera: string, job: JobRecord): Promise<void> {
    await this.q(`${INSERT_JOB} ON CONFLICT (clip_id) DO NOTHING`, this.values(camera, job));
  }

  /** A job this node holds has started running. */
  async started(clipId: string): Promise<void> {
    await this.q(`UPDATE clip_jobs SET status = 'running', updated_ms = $3 WHERE clip_id = $1 AND node = $2 AND status = 'queued'`,
      [clipId, this.o.node, Date.now()]);
  }

  /**
   * A job ended here: its outcome recorded (the job entered with it if its acceptance never reached the
   * catalog). False: another node holds the job now (it took the lapsed claim), and its result stands.
   */
  async finish(camera: string, job: JobRecord): Promise<boolean> {
    const r = await this.q(`${INSERT_JOB}
      ON CONFLICT (clip_id) DO UPDATE SET status = EXCLUDED.status, outcome = EXCLUDED.outcome, error = EXCLUDED.error, updated_ms = EXCLUDED.updated_ms
      WHERE clip_jobs.node = EXCLUDED.node AND clip_jobs.${UNFINISHED}`, this.values(camera, job));
    return r.rowCount === 1;
  }

  /** Extends the claims of every unfinished job this node holds; returns how many. */
  async renew(): Promise<number> {
    const r = await this.q(`UPDATE clip_jobs SET claim_expires_at = now() + $2 * interval '1 millisecond' WHERE node = $1 AND ${UNFINISHED}`,
      [this.o.node, this.o.claimMs]);
    return r.rowCount ?? 0;
  }

  /**
   * Takes up to `limit` unfinished jobs whose claim lapsed, oldest first: of the cameras this node records
   * (`held`, whose newest footage is here) and of cameras no node records now; of `cameras` only (those
   * configured here). Rows another node is taking at the same moment are skipped, not waited for.
   */
  async adoptLapsed(held: string[], cameras: string[], limit: number): Promise<AdoptedJob[]> {
    const r = await this.q<Row & { was: string }>(`WITH picked AS (
        SELECT clip_id, node AS was FROM clip_jobs j
        WHERE ${UNFINISHED} AND claim_expires_at < now() AND camera = ANY($3::text[])
          AND (camera = ANY($2::text[]) OR NOT EXISTS (
            SELECT 1 FROM camera_leases l WHERE l.camera = j.camera AND l.node IS NOT NULL AND l.expires_at > now()))
        ORDER BY created_ms LIMIT $4 FOR UPDATE SKIP LOCKED)
      UPDATE clip_jobs j SET node = $1, status = 'queued', claims = claims + 1, claim_expires_at = now() + $5 * interval '1 millisecond'
      FROM picked WHERE j.clip_id = picked.clip_id RETURNING j.*, picked.was`, [this.o.node, held, cameras, limit, this.o.claimMs]);
    return r.rows.map((x) => ({ ...sharedOf(x), from: x.was }));
  }

  /**
   * This node's clip retention on the jobs of `camera` it holds (clip-retention.ts does the same to its
   * own index): done jobs whose clip was published before `expireBeforeMs` are marked expired (path null,
   * `expired_ms` now); records of finished jobs that hold no clip, last changed before `pruneBeforeMs`,
   * are deleted. Up to `limit` rows of each; returns how many.
   */
  async retain(camera: string, o: { nowMs: number; expireBeforeMs: number | null; pruneBeforeMs: number; limit: number }): Promise<{ expired: number; pruned: number }> {
    let expired = 0;
    if (o.expireBeforeMs !== null) {
      const r = await this.q(`UPDATE clip_jobs SET updated_ms = $4,
          outcome = (outcome::jsonb || jsonb_build_object('path', NULL::text, 'expired_ms', $4::bigint))::text
        WHERE clip_id IN (SELECT clip_id FROM clip_jobs WHERE node = $1 AND camera = $2 AND status = 'done' AND updated_ms < $3
          AND outcome IS NOT NULL AND outcome::jsonb ->> 'path' IS NOT NULL ORDER BY updated_ms LIMIT $5)`,
      [this.o.node, camera, o.expireBeforeMs, o.nowMs, o.limit]);
      expired = r.rowCount ?? 0;
    }
    const r = await this.q(`DELETE FROM clip_jobs WHERE clip_id IN (SELECT clip_id FROM clip_jobs
        WHERE node = $1 AND camera = $2 AND status IN ('done', 'error') AND updated_ms < $3
          AND (outcome IS NULL OR outcome::jsonb ->> 'path' IS NULL) ORDER BY updated_ms LIMIT $4)`,
    [this.o.node, camera, o.pruneBeforeMs, o.limit]);
    return { expired, pruned: r.rowCount ?? 0 };
  }

  /** A job as the cluster knows it, or null. */
  async get(clipId: string): Promise<SharedJob | null> {
    const r = await this.q<Row>('SELECT * FROM clip_jobs WHERE clip_id = $1', [clipId]);
    return r.rows[0] ? sharedOf(r.rows[0]) : null;
  }

  /** A camera's newest jobs (of one status), newest first, created before a (created_ms, clip_id) cursor. */
  async recent(camera: string, limit: number, status?: JobStatus, before?: { createdMs: number; clipId: string }): Promise<JobRecord[]> {
    const r = await this.q<Row>(`SELECT * FROM clip_jobs WHERE camera = $1 AND ($2::text IS NULL OR status = $2)
      AND ($3::bigint IS NULL OR (created_ms, clip_id) < ($3, $4)) ORDER BY created_ms DESC, clip_id DESC LIMIT $5`,
    [camera, status ?? null, before?.createdMs ?? null, before?.clipId ?? '', limit]);
    return r.rows.map((x) => sharedOf(x).job);
  }

  /**
   * What a node starting again needs to agree with the catalog: who holds each of `ids` (its unfinished
   * jobs) and which unfinished jobs the catalog says it holds.
   */
  async holders(ids: string[]): Promise<Map<string, { camera: string; node: string; status: JobStatus }>> {
    const r = await this.q<{ clip_id: string; camera: string; node: string; status: JobStatus }>(
      `SELECT clip_id, camera, node, status FROM clip_jobs WHERE clip_id = ANY($2::text[]) OR (node = $1 AND ${UNFINISHED})`, [this.o.node, ids]);
    return new Map(r.rows.map((x) => [x.clip_id, { camera: x.camera, node: x.node, status: x.status }]));
  }

  /**
   * Lets these unfinished jobs of this node (null: all of them) lapse now — it no longer has them (its disk
   * was lost), or it is stopping — so another node takes them at once.
   */
  async letLapse(ids: string[] | null): Promise<void> {
    if (ids?.length === 0) return;
    await this.q(`UPDATE clip_jobs SET claim_expires_at = now() WHERE node = $1 AND ${UNFINISHED} AND ($2::text[] IS NULL OR clip_id = ANY($2::text[]))`,
      [this.o.node, ids]);
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}
