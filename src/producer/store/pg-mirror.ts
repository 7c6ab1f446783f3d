// The catalog on PostgreSQL (--catalog postgres://…), kept from each camera's local journal (pg-outbox.ts):
// the changes queued in the outbox are applied in order (in runs of a statement per table:
// pg-outbox-runs.ts), a batch per transaction that also records how
// far this node's journal of that camera is applied (`mirror_progress`), so nothing is applied twice and
// nothing is lost — PostgreSQL restarted or unreachable, recording goes on into the local index, the
// outbox grows, and it is applied when the database is back (retried with backoff; /health says
// `degraded` with the backlog, and the camera's totals as PostgreSQL keeps them). One pool per process;
// the URL's password never reaches a log or /health.
import pg from 'pg';
import type Database from 'better-sqlite3';
import type { Logger } from '../../common/log.js';
import { redactUrl } from '../../common/redact.js';
import { migratePg } from './pg-schema.js';
import { PgOutbox } from './pg-outbox.js';
import { lastByKey, outboxRuns, type OutboxRun } from './pg-outbox-runs.js';
import type { FragmentRow, GapRow, SegmentRow } from './catalog.js';
import type { JobRow } from './job-store.js';
import { big, upsertFragments, upsertGaps, upsertJobs, upsertSegments } from './pg-upserts.js';

/** The parts of a camera the mirror reads. */
export interface MirrorCamera {
  readonly name: string;
  readonly db: Database.Database;
  clockBaseEpochMs(): number;
}

export interface CatalogStatus {
  kind: 'postgres';
  status: 'ok' | 'degraded';
  location: string;
  /** Changes of this camera not yet in PostgreSQL (with, during the first copy of an index, the rows it has still to send, at most). */
  backlog: number;
  last_error: string | null;
  last_error_at_ms: number | null;
  /** What PostgreSQL holds of this camera, from its maintained totals (pg-schema.ts step 7); null until read. */
  totals: CatalogTotals | null;
}

export interface CatalogTotals {
  segments: number;
  bytes: number;
  gaps: number;
  read_at_ms: number;
}

/** Outbox entries applied per transaction. */
const BATCH = 500;
/** Segments (with their fragments) and gaps per transaction of an index's first copy. */
const COPY_SEGMENTS = 100;
const COPY_GAPS = 2000;
const COPY_JOBS = 1000;
const COPY_BATCHES_PER_PASS = 8;
/** The totals are read again at most this often while changes are applied, and at least this often otherwise. */
const TOTALS_MIN_MS = 1000;
const TOTALS_MAX_MS = 10_000;

/** What a camera has still to send: its outbox, and during the first copy the rows left (at most). */
const pending = (outbox: PgOutbox) => outbox.count() + outbox.copyLeft();

interface Attached {
  camera: MirrorCamera;
  outbox: PgOutbox;
  ready: boolean;
  /** Batches of the first copy sent by this process (the statistics are refreshed at 1, 2, 4, 8, … of them). */
  copied: number;
}

export class PgMirror {
  readonly node: string;
  readonly description: string;
  private readonly pool: pg.Pool;
  private readonly cameras = new Map<string, Attached>();
  private schemaReady: Promise<void> | null = null;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private delayMs = 0;
  private closed = false;
  private failing = false;
  lastError: { message: string; atMs: number } | null = null;
  appliedEntries = 0;
  private readonly totals = new Map<string, CatalogTotals>();
  private totalsRead = { atMs: 0, applied: -1 };

  constructor(private readonly o: {
    url: string; log: Logger; node: string; periodMs?: number; backoffMs?: { first: number; max: number };
    /** Segments per transaction of an index's first copy (tests make it small). */
    copySegments?: number;
    /** Whether the cameras' clip jobs are journalled here (outside a cluster; in one they are the cluster's). */
    jobs?: boolean;
  }) {
    this.node = o.node;
    this.description = redactUrl(o.url).replace(/\?.*$/, '');
    this.pool = new pg.Pool({ connectionString: o.url, max: 2, connectionTimeoutMillis: 5000, query_timeout: 15_000, idleTimeoutMillis: 10_000 });
    // A connection lost while idle (the database restarted) is not a crash: the next query reconnects.
    this.pool.on('error', (e) => this.fail(e));
  }

  /** Starts mirroring a camera: its outbox is enabled (the first time, after a copy of what the index holds). */
  attach(camera: MirrorCamera): void {
    const outbox = new PgOutbox(camera.db);
    if (outbox.enable(this.description, this.o.jobs ?? true)) this.o.log.info('catalog: the local index is copied to PostgreSQL, in batches beside recording', { camera: camera.name });
    this.cameras.set(camera.name, { camera, outbox, ready: false, copied: 0 });
    this.kick();
  }

  async detach(name: string): Promise<void> {
    this.cameras.delete(name);
    await this.running?.catch(() => undefined);
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.periodMs ?? 250);
    this.timer.unref();
  }

  /** Applies what is queued now (unless a pass runs, or the backoff after a failure has not passed). */
  kick(): void {
    if (this.running || this.closed) return;
    this.running = this.pass().finally(() => { this.running = null; });
  }

  status(name: string): CatalogStatus {
    const a = this.cameras.get(name);
    return {
      kind: 'postgres', status: this.failing ? 'degraded' : 'ok', location: this.description, backlog: a ? pending(a.outbox) : 0,
      last_error: this.lastError?.message ?? null, last_error_at_ms: this.lastError?.atMs ?? null, totals: this.totals.get(name) ?? null,
    };
  }

  /** Resolves once every attached camera's outbox is empty (tests); rejects after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void> {
    return this.waitEmpty([...this.cameras.keys()], timeoutMs);
  }

  /** Resolves once this camera's outbox is empty (a graceful stop); rejects after `timeoutMs`. */
  flush(name: string, timeoutMs: number): Promise<void> {
    return this.waitEmpty([name], timeoutMs);
  }

  private async waitEmpty(names: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (names.some((n) => { const a = this.cameras.get(n); return a !== undefined && pending(a.outbox) > 0; })) {
      if (Date.now() > deadline) throw new Error(`the catalog did not catch up within ${timeoutMs} ms`);
      this.kick();
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  private retryAtMs = 0;

  private async pass(): Promise<void> {
    if (Date.now() < this.retryAtMs) return;
    try {
      this.schemaReady ??= migratePg(this.pool).then((v) => {
        if (v.length > 0) this.o.log.info('catalog schema upgraded', { catalog: this.description, versions: v.join(',') });
      });
      await this.schemaReady;
      let copying = false;
      for (const a of [...this.cameras.values()]) {
        if (this.closed) return;
        if (!a.ready) {
          await this.pool.query(`INSERT INTO cameras(name, clock_base_epoch_ms, created_ms) VALUES ($1, $2, $3)
            ON CONFLICT (name) DO NOTHING`, [a.camera.name, a.camera.clockBaseEpochMs(), Date.now()]);
          a.ready = true;
        }
        const current = () => !this.closed && this.cameras.get(a.camera.name) === a;
        // A first copy goes a few batches a pass, so that the other cameras' changes are applied meanwhile.
        for (let n = 0; n < COPY_BATCHES_PER_PASS && current() && await this.copyBatch(a); n++);
        if (a.outbox.copyCursor() !== null || a.outbox.jobsCopyCursor() !== null) {
          copying = true;
          continue;
        }
        while (current() && await this.applyBatch(a));
      }
      await this.readTotals();
      // The copy goes on at once (not at the next period) once every camera had its turn.
      if (copying && !this.closed) setImmediate(() => this.kick());
      if (this.failing) this.o.log.info('catalog reachable again; changes applied', { catalog: this.description });
      this.failing = false;
      this.delayMs = 0;
    } catch (e) {
      this.schemaReady = null;
      this.fail(e as Error);
    }
  }

  /** The attached cameras' totals as PostgreSQL keeps them (one row each), when they may have changed. */
  private async readTotals(): Promise<void> {
    const since = Date.now() - this.totalsRead.atMs;
    if (this.closed || since < TOTALS_MIN_MS || (this.appliedEntries === this.totalsRead.applied && since < TOTALS_MAX_MS)) return;
    const applied = this.appliedEntries;
    const r = await this.pool.query<{ camera: string; segments: string; segment_bytes: string; gaps: string }>(
      'SELECT camera, segments, segment_bytes, gaps FROM camera_totals WHERE camera = ANY($1::text[])', [[...this.cameras.keys()]]);
    const atMs = Date.now();
    for (const row of r.rows) {
      this.totals.set(row.camera, { segments: Number(row.segments), bytes: Number(row.segment_bytes), gaps: Number(row.gaps), read_at_ms: atMs });
    }
    this.totalsRead = { atMs, applied };
  }

  private fail(e: Error): void {
    const message = redactUrl(e.message).slice(0, 300);
    this.lastError = { message, atMs: Date.now() };
    this.delayMs = this.delayMs === 0 ? (this.o.backoffMs?.first ?? 500) : Math.min(this.o.backoffMs?.max ?? 15_000, this.delayMs * 2);
    this.retryAtMs = Date.now() + this.delayMs;
    if (!this.failing) this.o.log.warn('catalog (PostgreSQL) failing; changes stay in the local index and are applied when it is back', { error: message });
    this.failing = true;
  }

  /**
   * One transaction of the first copy of an index: the next segments with their fragments, or (once
   * they are all sent) the next gaps, upserted; then the cursor moves on. A crash between PostgreSQL's
   * commit and the cursor sends the batch again, read afresh from the index (an upsert: the same
   * result). Changes meanwhile wait in the outbox, applied after the copy (a segment removed meanwhile
   * is not read here, and its deletion applied then finds nothing or the copy's row). False when done.
   */
  private async copyBatch(a: Attached): Promise<boolean> {
    const cursor = a.outbox.copyCursor();
    if (!cursor) return this.copyJobs(a);
    const camera = a.camera.name;
    const segments = a.outbox.copySegments(cursor.segmentId, this.o.copySegments ?? COPY_SEGMENTS);
    const gaps = segments.length === 0 ? a.outbox.copyGaps(cursor.gapId, COPY_GAPS) : [];
    if (segments.length === 0 && gaps.length === 0) {
      a.outbox.setCopyCursor(null);
      this.o.log.info('catalog: the local index is copied to PostgreSQL', { camera });
      return false;
    }
    await this.inTransaction(async (client) => {
      await upsertSegments(client, camera, this.node, segments.map((s) => s.row));
      await upsertFragments(client, camera, segments.flatMap((s) => s.fragments.map((f) => ({ path: s.row.path, f }))));
      await upsertGaps(client, camera, gaps);
    });
    a.outbox.setCopyCursor(segments.length > 0
      ? { segmentId: Number(segments[segments.length - 1].row.id), gapId: cursor.gapId }
      : { segmentId: cursor.segmentId, gapId: Number(gaps[gaps.length - 1].id) });
    this.appliedEntries += segments.reduce((n, s) => n + 1 + s.fragments.length, 0) + gaps.length;
    // A table that grew from nothing keeps the plans made while it was tiny: each fragment's foreign-key
    // check then scanned every segment (200 fragments: 8 ms at the first batch, 50 ms at the eighth).
    // Fresh statistics make PostgreSQL plan them again (an index lookup); as the table doubles, so that
    // the cost stays a few statements per copy.
    a.copied++;
    if ((a.copied & (a.copied - 1)) === 0) {
      await this.pool.query('ANALYZE segments, fragments').catch((e: unknown) => this.o.log.debug('catalog: ANALYZE refused', { error: (e as Error).message }));
    }
    return true;
  }

  /** One transaction of the first copy of the clip jobs (after the footage's); false when done. */
  private async copyJobs(a: Attached): Promise<boolean> {
    const after = a.outbox.jobsCopyCursor();
    if (after === null) return false;
    const jobs = a.outbox.copyJobs(after, COPY_JOBS);
    if (jobs.length === 0) {
      a.outbox.setJobsCopyCursor(null);
      return false;
    }
    await this.inTransaction((client) => upsertJobs(client, a.camera.name, this.node, jobs));
    a.outbox.setJobsCopyCursor(Number(jobs[jobs.length - 1].seq));
    this.appliedEntries += jobs.length;
    return true;
  }

  /** Runs `work` in one transaction on a pooled client; a client that failed is not handed out again. */
  private async inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A connection the server ends while this client is checked out is reported on the client (the pool
    // listens only to idle ones): the query in flight fails with it anyway.
    const onError = () => undefined;
    client.on('error', onError);
    let failed: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      failed = e as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.off('error', onError);
      client.release(failed);
    }
  }

  /** One transaction: the entries after this node's applied sequence, and the new sequence. False when none are left. */
  private async applyBatch(a: Attached): Promise<boolean> {
    const camera = a.camera.name;
    const done = await this.inTransaction(async (client) => {
      const prog = await client.query<{ applied_seq: string }>(
        'SELECT applied_seq FROM mirror_progress WHERE node = $1 AND camera = $2 FOR UPDATE', [this.node, camera]);
      const applied = prog.rows.length > 0 ? Number(prog.rows[0].applied_seq) : 0;
      const entries = a.outbox.batch(applied, BATCH);
      if (entries.length === 0) return { through: applied, entries: 0 }; // applied before a crash, not yet forgotten here
      for (const run of outboxRuns(entries)) await this.applyRun(client, a, run);
      const last = entries[entries.length - 1].seq;
      await client.query(`INSERT INTO mirror_progress(node, camera, applied_seq, updated_ms) VALUES ($1, $2, $3, $4)
        ON CONFLICT (node, camera) DO UPDATE SET applied_seq = excluded.applied_seq, updated_ms = excluded.updated_ms`,
      [this.node, camera, last, Date.now()]);
      return { through: last, entries: entries.length };
    });
    a.outbox.forget(done.through);
    this.appliedEntries += done.entries;
    return done.entries > 0;
  }

  /**
   * One run of a batch (pg-outbox-runs.ts): its upserts as one statement per table, each row read as it is
   * now (one deleted since is not sent: its deletion follows in a later run), or its deletions likewise.
   */
  private async applyRun(client: pg.PoolClient, a: Attached, run: OutboxRun): Promise<void> {
    const camera = a.camera.name;
    const o = a.outbox;
    const present = <T>(v: T | undefined): v is T => v !== undefined;
    if (!run.deletion) {
      // Each segment row read once: the run's segments, and the path of a fragment's segment from them when it is one.
      const read = new Map(run.segments.map((id) => [id, o.segment(id)]));
      const segments = lastByKey([...read.values()].filter(present), (s: SegmentRow) => s.path);
      const pathOf = (id: bigint) => (read.has(id) ? read.get(id) : read.set(id, o.segment(id)).get(id))?.path;
      const fragments = lastByKey(run.fragments.flatMap(([id, seq]) => {
        const f: FragmentRow | undefined = o.fragment(id, seq);
        const path = f && pathOf(id);
        return f && path !== undefined ? [{ path, f }] : [];
      }), (x) => `${x.path}\n${x.f.seq}`);
      const gaps = lastByKey(run.gaps.map((id) => o.gap(id)).filter(present), (g: GapRow) => `${g.start_pts_ns}:${g.stop_pts_ns}`);
      const jobs = lastByKey(run.jobs.map((seq) => o.job(seq)).filter(present), (j: JobRow) => j.clip_id);
      await upsertSegments(client, camera, this.node, segments);
      await upsertFragments(client, camera, fragments);
      await upsertGaps(client, camera, gaps);
      await upsertJobs(client, camera, this.node, jobs);
      return;
    }
    if (run.fragments.length > 0) {
      await client.query('DELETE FROM fragments WHERE camera = $1 AND (path, seq) IN (SELECT * FROM unnest($2::text[], $3::int4[]))',
        [camera, run.fragments.map(([p]) => p), run.fragments.map(([, seq]) => big(seq))]);
    }
    if (run.segments.length > 0) await client.query('DELETE FROM segments WHERE camera = $1 AND path = ANY($2::text[])', [camera, run.segments]);
    if (run.gaps.length > 0) {
      await client.query('DELETE FROM gaps WHERE camera = $1 AND (start_pts_ns, stop_pts_ns) IN (SELECT * FROM unnest($2::int8[], $3::int8[]))',
        [camera, run.gaps.map(([x]) => big(x)), run.gaps.map(([, y]) => big(y))]);
    }
    if (run.jobs.length > 0) await client.query('DELETE FROM clip_jobs WHERE camera = $1 AND node = $2 AND clip_id = ANY($3::text[])', [camera, this.node, run.jobs]);
  }
}
