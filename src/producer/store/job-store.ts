// Clip jobs in the SQLite index, so they survive restarts (even kill -9): finished jobs keep answering,
// queued and interrupted ones are found and run again. A done job whose clip clip retention deleted
// (clip-retention.ts) stays done, its outcome's path null and `expired_ms` set.
import type Database from 'better-sqlite3';
import type { ClipSpec } from '../clips/clip-request.js';
import { parseWireJson, stringifyWireJson } from '../../protocol/wire-json.js';

export type JobStatus = 'queued' | 'running' | 'done' | 'error';

/** What a finished job produced (wire names, as GET /clip/{id} shows them). */
export interface ClipOutcome {
  path: string | null;
  actual_start_pts_ns: bigint | null;
  actual_stop_pts_ns: bigint | null;
  lead_in_ms: number | null;
  duration_ms: number | null;
  frames: number | null;
  bytes: number | null;
  segments: string[];
  gaps: Array<{ start_pts_ns: bigint; stop_pts_ns: bigint }>;
  partial: boolean;
  partial_reason: string | null;
  audio: boolean;
  /** When clip retention deleted the clip (its path is then null); absent or null while it is published. */
  expired_ms?: number | null;
}

export interface JobRecord {
  clipId: string;
  seq: number;
  status: JobStatus;
  spec: ClipSpec;
  /** The window in producer pts (epoch windows are mapped when the job is accepted). */
  startPtsNs: bigint;
  stopPtsNs: bigint;
  outDir: string;
  outcome: ClipOutcome | null;
  error: string | null;
  createdMs: number;
  updatedMs: number;
  /** Until when the job may wait for footage that has not arrived. */
  deadlineMs: number;
}

/** A job as its table holds it (the index's, and the cluster's in PostgreSQL: cluster/pg-jobs.ts). */
export interface JobRow {
  seq: number | bigint; clip_id: string; status: string; spec: string; start_pts_ns: bigint; stop_pts_ns: bigint; out_dir: string;
  outcome: string | null; error: string | null; created_ms: number; updated_ms: number; deadline_ms: number;
}

/** The ids a cluster node gives: slot × SLOT_SPAN + n (its slot from the catalog, 1–9000; 0 outside a cluster). */
export const SLOT_SPAN = 1e12;

/** The node slot a clip id names (0: a producer outside a cluster), or null for a malformed id. */
export function slotOfClipId(clipId: string): number | null {
  const seq = seqOfClipId(clipId);
  return Number.isNaN(seq) ? null : Math.floor(seq / SLOT_SPAN);
}

/** A clip id: the camera's prefix (camera-names.ts clipIdPrefix) and the job's sequence number. */
export function clipIdOf(seq: number, prefix = 'clip-'): string {
  return `${prefix}${String(seq).padStart(16, '0')}`;
}

// Rows are read with safeIntegers (PTS exact past 2^53); spec and outcome JSON keep their PTS exact too
// (protocol/wire-json.ts), and a PTS that JSON gives back as a number (a safe one) becomes a bigint here.
const big = (v: unknown): bigint => BigInt(v as number | bigint);
const bigOrNull = (v: unknown): bigint | null => (v === null || v === undefined ? null : big(v));

function specOf(text: string): ClipSpec {
  const s = parseWireJson(text) as ClipSpec;
  return { ...s, startPtsNs: s.startPtsNs === undefined ? undefined : big(s.startPtsNs), stopPtsNs: s.stopPtsNs === undefined ? undefined : big(s.stopPtsNs) };
}

function outcomeOf(text: string): ClipOutcome {
  const o = parseWireJson(text) as ClipOutcome;
  return {
    ...o, actual_start_pts_ns: bigOrNull(o.actual_start_pts_ns), actual_stop_pts_ns: bigOrNull(o.actual_stop_pts_ns),
    gaps: (o.gaps ?? []).map((g) => ({ start_pts_ns: big(g.start_pts_ns), stop_pts_ns: big(g.stop_pts_ns) })),
  };
}

/** The sequence number a clip id ends in. */
export function seqOfClipId(clipId: string): number {
  return Number(/(\d{16})$/.exec(clipId)?.[1] ?? NaN);
}

export function jobFromRow(r: JobRow): JobRecord {
  return {
    clipId: r.clip_id, seq: Number(r.seq), status: r.status as JobStatus, spec: specOf(r.spec),
    startPtsNs: r.start_pts_ns, stopPtsNs: r.stop_pts_ns, outDir: r.out_dir,
    outcome: r.outcome ? outcomeOf(r.outcome) : null, error: r.error, createdMs: Number(r.created_ms),
    updatedMs: Number(r.updated_ms), deadlineMs: Number(r.deadline_ms),
  };
}

/**
 * A statement read through a partial index named outright (`INDEXED BY`: the planner, without statistics,
 * prefers jobs_status and reads every done job); without it where an optional migration has not made it.
 */
function withIndexHint<P extends unknown[], R = unknown>(db: Database.Database, index: string, sql: (hint: string) => string): Database.Statement<P, R> {
  try {
    return db.prepare<P, R>(sql(`INDEXED BY ${index}`));
  } catch {
    return db.prepare<P, R>(sql(''));
  }
}

export class JobStore {
  private readonly s;

  /** A cluster node's slot (set once the catalog gave it): new ids carry it (SLOT_SPAN). */
  slot = 0;
  /** The seq of the last id drafted (-1: none yet). */
  private lastDrafted = -1;

  constructor(private readonly db: Database.Database, private readonly idPrefix = 'clip-') {
    this.s = {
      nextSeq: db.prepare<[number, number, number], { n: number }>('SELECT COALESCE(MAX(seq), ?) + 1 AS n FROM jobs WHERE seq >= ? AND seq < ?'),
      insert: db.prepare(`INSERT INTO jobs (seq, clip_id, status, spec, start_pts_ns, stop_pts_ns, out_dir, created_ms, updated_ms, deadline_ms)
        VALUES (@seq, @clip_id, 'queued', @spec, @start_pts_ns, @stop_pts_ns, @out_dir, @now, @now, @deadline_ms)`),
      get: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE clip_id = ?'),
      remove: db.prepare('DELETE FROM jobs WHERE clip_id = ?'),
      adopt: db.prepare(`INSERT OR IGNORE INTO jobs (seq, clip_id, status, spec, start_pts_ns, stop_pts_ns, out_dir, created_ms, updated_ms, deadline_ms)
        VALUES (@seq, @clip_id, 'queued', @spec, @start_pts_ns, @stop_pts_ns, @out_dir, @created_ms, @now, @deadline_ms)`),
      markRunning: db.prepare("UPDATE jobs SET status = 'running', updated_ms = ? WHERE clip_id = ? AND status = 'queued'"),
      finish: db.prepare('UPDATE jobs SET status = @status, outcome = @outcome, error = @error, updated_ms = @now WHERE clip_id = @clip_id'),
      unfinished: db.prepare<[], JobRow>("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY seq"),
      // Newest first by (created_ms, clip_id) — the order GET /clips merges cameras in — before a cursor.
      recent: db.prepare<[number, string, number], JobRow>(
        'SELECT * FROM jobs WHERE (created_ms, clip_id) < (?, ?) ORDER BY created_ms DESC, clip_id DESC LIMIT ?'),
      recentByStatus: db.prepare<[string, number, string, number], JobRow>(
        'SELECT * FROM jobs WHERE status = ? AND (created_ms, clip_id) < (?, ?) ORDER BY created_ms DESC, clip_id DESC LIMIT ?'),
      // Kept by triggers (migrations.ts), not counted: the same cost with a million finished jobs.
      countByStatus: db.prepare<[], { status: string; n: number }>("SELECT substr(name, 6) AS status, n FROM totals WHERE name LIKE 'jobs:%'"),
      // Through the partial index of published clips (migration 5), as pruning below: the planner would
      // rather take jobs_status, read every done job and sort them (1.1–1.5 s with a million clips).
      publishedBefore: withIndexHint<[number, number, number, number], JobRow>(db, 'jobs_published', (hint) => `SELECT * FROM jobs ${hint}
        WHERE status = 'done' AND json_extract(outcome, '$.path') IS NOT NULL AND updated_ms < ? AND (updated_ms, seq) > (?, ?)
        ORDER BY updated_ms, seq LIMIT ?`),
      // Through the partial index of prunable records (migration 7; the planner would rather take
      // jobs_status and read every done job), or without it where that optional step has not run yet.
      pruneFinished: withIndexHint<[number, number]>(db, 'jobs_prunable', (hint) => `DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs ${hint}
        WHERE updated_ms < ? AND status IN ('done', 'error') AND (outcome IS NULL OR json_extract(outcome, '$.path') IS NULL)
        ORDER BY updated_ms LIMIT ?)`),
      expire: db.prepare(`UPDATE jobs SET outcome = json_set(outcome, '$.path', json('null'), '$.expired_ms', @now), updated_ms = @now
        WHERE clip_id = @clip_id AND status = 'done' AND outcome IS NOT NULL`),
    };
    for (const k of ['get', 'unfinished', 'recent', 'recentByStatus', 'publishedBefore'] as const) this.s[k].safeIntegers(true);
  }

  /** A new job: drafted (its id the next free one) and written, queued. */
  create(spec: ClipSpec, window: { startPtsNs: bigint; stopPtsNs: bigint }, outDir: string, nowMs: number): JobRecord {
    const job = this.draft(spec, window, outDir, nowMs);
    this.insert(job);
    return job;
  }

  /**
   * A new job's record, queued, with the next free id of this node's slot — not written yet (insert()
   * does): an id drafted and not yet written is not handed out again.
   */
  draft(spec: ClipSpec, window: { startPtsNs: bigint; stopPtsNs: bigint }, outDir: string, nowMs: number): JobRecord {
    const base = this.slot * SLOT_SPAN;
    const free = this.s.nextSeq.get(base, base, base + SLOT_SPAN)!.n;
    const n = this.lastDrafted >= base && this.lastDrafted < base + SLOT_SPAN ? Math.max(free, this.lastDrafted + 1) : free;
    this.lastDrafted = n;
    return {
      // The spec as a read of the row gives it back.
      clipId: clipIdOf(n, this.idPrefix), seq: n, status: 'queued', spec: specOf(stringifyWireJson(spec)),
      startPtsNs: window.startPtsNs, stopPtsNs: window.stopPtsNs, outDir, outcome: null, error: null,
      createdMs: nowMs, updatedMs: nowMs, deadlineMs: nowMs + spec.maxWaitMs,
    };
  }

  /** Writes a drafted job's row, queued. */
  insert(job: JobRecord): void {
    this.s.insert.run({
      seq: job.seq, clip_id: job.clipId, spec: stringifyWireJson(job.spec), start_pts_ns: job.startPtsNs, stop_pts_ns: job.stopPtsNs,
      out_dir: job.outDir, now: job.createdMs, deadline_ms: job.deadlineMs,
    });
  }

  /**
   * Enters a job another node of a cluster accepted (under its id, whose slot keeps it apart from the ids
   * given here), queued; a job known already is left as it is.
   */
  adopt(job: JobRecord, nowMs: number): void {
    this.s.adopt.run({
      seq: job.seq, clip_id: job.clipId, spec: stringifyWireJson(job.spec), start_pts_ns: job.startPtsNs, stop_pts_ns: job.stopPtsNs,
      out_dir: job.outDir, created_ms: job.createdMs, now: nowMs, deadline_ms: job.deadlineMs,
    });
  }

  /** Forgets a job (in a cluster: one another node took over). */
  remove(clipId: string): void {
    this.s.remove.run(clipId);
  }

  get(clipId: string): JobRecord | undefined {
    const r = this.s.get.get(clipId);
    return r ? jobFromRow(r) : undefined;
  }

  /** A queued job is running now (one that ended already is left as it is): when it was recorded, or null if it was not queued. */
  markRunning(clipId: string): number | null {
    const now = Date.now();
    return this.s.markRunning.run(now, clipId).changes > 0 ? now : null;
  }

  /** How a job ended, as a read gives it once finish() has recorded it (the outcome's PTS are bigints, as a read makes them). */
  endOf(job: JobRecord, status: 'done' | 'error', outcome: ClipOutcome | null, error: string | null, nowMs = Date.now()): JobRecord {
    return { ...job, status, outcome, error, updatedMs: nowMs };
  }

  /** Records a job's end (endOf's record). */
  finish(ended: JobRecord): void {
    const { clipId, status, outcome, error, updatedMs } = ended;
    this.s.finish.run({ clip_id: clipId, status, outcome: outcome ? stringifyWireJson(outcome) : null, error, now: updatedMs });
  }

  unfinished(): JobRecord[] {
    return this.s.unfinished.all().map(jobFromRow);
  }

  /** The newest `limit` jobs (of one status), newest first; with `before`, those created before that job. */
  recent(limit: number, status?: JobStatus, before?: { createdMs: number; clipId: string }): JobRecord[] {
    const t = before?.createdMs ?? Infinity;
    const id = before?.clipId ?? '';
    const rows = status ? this.s.recentByStatus.all(status, t, before ? id : '\uffff', limit) : this.s.recent.all(t, before ? id : '\uffff', limit);
    return rows.map(jobFromRow);
  }

  /**
   * Done jobs whose clip is still published (a path in the outcome) and that finished before `beforeMs`,
   * oldest first, after the (updatedMs, seq) cursor of a previous page.
   */
  publishedBefore(beforeMs: number, after: { updatedMs: number; seq: number }, limit: number): JobRecord[] {
    return this.s.publishedBefore.all(beforeMs, after.updatedMs, after.seq, limit).map(jobFromRow);
  }

  /** Records that a done job's clip is gone (clip retention): its path becomes null, `expired_ms` is now; it stays done. */
  markExpired(clipId: string, nowMs: number): void {
    this.s.expire.run({ clip_id: clipId, now: nowMs });
  }

  /**
   * Deletes up to `limit` records of finished jobs that hold no published clip (failed, or their clip
   * expired) and last changed before `beforeMs`, oldest first; returns how many went.
   */
  pruneFinished(beforeMs: number, limit: number): number {
    return this.s.pruneFinished.run(beforeMs, limit).changes;
  }

  countsByStatus(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.s.countByStatus.all()) out[r.status] = r.n;
    return out;
  }
}
