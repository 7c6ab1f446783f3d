// The catalog on PostgreSQL (--catalog postgres://…), kept from each camera's local journal (pg-outbox.ts):
// the changes queued in the outbox are applied in order, a batch per transaction that also records how
// far this node's journal of that camera is applied (`mirror_progress`), so nothing is applied twice and
// nothing is lost — PostgreSQL restarted or unreachable, recording goes on into the local index, the
// outbox grows, and it is applied when the database is back (retried with backoff; /health says
// `degraded` with the backlog). One pool per process; the URL's password never reaches a log or /health.
import pg from 'pg';
import type Database from 'better-sqlite3';
import type { Logger } from '../../common/log.js';
import { redactUrl } from '../../common/redact.js';
import { migratePg } from './pg-schema.js';
import { PgOutbox, type OutboxEntry } from './pg-outbox.js';

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
  /** Changes of this camera not yet in PostgreSQL. */
  backlog: number;
  last_error: string | null;
  last_error_at_ms: number | null;
}

/** Outbox entries applied per transaction. */
const BATCH = 500;

/** A parameter as PostgreSQL gets it: 64-bit integers as decimal strings (exact), flags as booleans. */
const big = (v: bigint | number | null) => (v === null ? null : typeof v === 'bigint' ? v.toString() : v);

interface Attached {
  camera: MirrorCamera;
  outbox: PgOutbox;
  ready: boolean;
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

  constructor(private readonly o: { url: string; log: Logger; node: string; periodMs?: number; backoffMs?: { first: number; max: number } }) {
    this.node = o.node;
    this.description = redactUrl(o.url).replace(/\?.*$/, '');
    this.pool = new pg.Pool({ connectionString: o.url, max: 2, connectionTimeoutMillis: 5000, query_timeout: 15_000, idleTimeoutMillis: 10_000 });
    // A connection lost while idle (the database restarted) is not a crash: the next query reconnects.
    this.pool.on('error', (e) => this.fail(e));
  }

  /** Starts mirroring a camera: its outbox is enabled (queuing every row the first time). */
  attach(camera: MirrorCamera): void {
    const outbox = new PgOutbox(camera.db);
    const queued = outbox.enable(this.description);
    if (queued > 0) this.o.log.info('catalog: the whole local index is queued for PostgreSQL', { camera: camera.name, rows: queued });
    this.cameras.set(camera.name, { camera, outbox, ready: false });
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
      kind: 'postgres', status: this.failing ? 'degraded' : 'ok', location: this.description, backlog: a ? a.outbox.count() : 0,
      last_error: this.lastError?.message ?? null, last_error_at_ms: this.lastError?.atMs ?? null,
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
    while (names.some((n) => (this.cameras.get(n)?.outbox.count() ?? 0) > 0)) {
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
      for (const a of [...this.cameras.values()]) {
        if (this.closed) return;
        if (!a.ready) {
          await this.pool.query(`INSERT INTO cameras(name, clock_base_epoch_ms, created_ms) VALUES ($1, $2, $3)
            ON CONFLICT (name) DO NOTHING`, [a.camera.name, a.camera.clockBaseEpochMs(), Date.now()]);
          a.ready = true;
        }
        while (!this.closed && this.cameras.get(a.camera.name) === a && await this.applyBatch(a));
      }
      if (this.failing) this.o.log.info('catalog reachable again; changes applied', { catalog: this.description });
      this.failing = false;
      this.delayMs = 0;
    } catch (e) {
      this.schemaReady = null;
      this.fail(e as Error);
    }
  }

  private fail(e: Error): void {
    const message = redactUrl(e.message).slice(0, 300);
    this.lastError = { message, atMs: Date.now() };
    this.delayMs = this.delayMs === 0 ? (this.o.backoffMs?.first ?? 500) : Math.min(this.o.backoffMs?.max ?? 15_000, this.delayMs * 2);
    this.retryAtMs = Date.now() + this.delayMs;
    if (!this.failing) this.o.log.warn('catalog (PostgreSQL) failing; changes stay in the local index and are applied when it is back', { error: message });
    this.failing = true;
  }

  /** One transaction: the entries after this node's applied sequence, and the new sequence. False when none are left. */
  private async applyBatch(a: Attached): Promise<boolean> {
    const camera = a.camera.name;
    const client = await this.pool.connect();
    // A connection the server ends while this client is checked out is reported on the client (the pool
    // listens only to idle ones): the query in flight fails with it anyway.
    const onError = () => undefined;
    client.on('error', onError);
    let last: number;
    let failed: Error | undefined;
    try {
      await client.query('BEGIN');
      const prog = await client.query<{ applied_seq: string }>(
        'SELECT applied_seq FROM mirror_progress WHERE node = $1 AND camera = $2 FOR UPDATE', [this.node, camera]);
      const applied = prog.rows.length > 0 ? Number(prog.rows[0].applied_seq) : 0;
      const entries = a.outbox.batch(applied, BATCH);
      if (entries.length === 0) {
        await client.query('COMMIT');
        a.outbox.forget(applied); // applied before a crash, not yet forgotten here
        return false;
      }
      for (const e of entries) await this.apply(client, a, e);
      last = entries[entries.length - 1].seq;
      await client.query(`INSERT INTO mirror_progress(node, camera, applied_seq, updated_ms) VALUES ($1, $2, $3, $4)
        ON CONFLICT (node, camera) DO UPDATE SET applied_seq = excluded.applied_seq, updated_ms = excluded.updated_ms`,
      [this.node, camera, last, Date.now()]);
      await client.query('COMMIT');
      this.appliedEntries += entries.length;
    } catch (e) {
      failed = e as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.off('error', onError);
      client.release(failed); // a client that failed is not given to the next batch
    }
    a.outbox.forget(last);
    return true;
  }

  private async apply(client: pg.PoolClient, a: Attached, e: OutboxEntry): Promise<void> {
    const camera = a.camera.name;
    switch (e.kind) {
      case 'seg': {
        const s = a.outbox.segment(e.a!);
        if (!s) return; // deleted since: its seg-del follows
        await client.query(`INSERT INTO segments (camera, path, run_id, start_pts_ns, stop_pts_ns, start_epoch_ms, stop_epoch_ms, offset_ns,
            anchor_epoch_ms, anchor_pts_ns, bytes, init_size, fragments, frames, codec, codec_string, width, height, fps, has_audio,
            description_key, sealed, created_ms, mtime_ms, object_key, node)
          VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26)
          ON CONFLICT (camera, path) DO UPDATE SET run_id = excluded.run_id, start_pts_ns = excluded.start_pts_ns,
            stop_pts_ns = excluded.stop_pts_ns, start_epoch_ms = excluded.start_epoch_ms, stop_epoch_ms = excluded.stop_epoch_ms,
            offset_ns = excluded.offset_ns, anchor_epoch_ms = excluded.anchor_epoch_ms, anchor_pts_ns = excluded.anchor_pts_ns,
            bytes = excluded.bytes, init_size = excluded.init_size, fragments = excluded.fragments, frames = excluded.frames,
            sealed = excluded.sealed, mtime_ms = excluded.mtime_ms, object_key = excluded.object_key, node = excluded.node`,
        [camera, s.path, s.run_id, big(s.start_pts_ns), big(s.stop_pts_ns), s.start_epoch_ms, s.stop_epoch_ms, big(s.offset_ns),
          s.anchor_epoch_ms, big(s.anchor_pts_ns), s.bytes, s.init_size, s.fragments, s.frames, s.codec, s.codec_string, s.width,
          s.height, s.fps, s.has_audio !== 0, s.description_key, s.sealed !== 0, s.created_ms, s.mtime_ms, s.object_key, this.node]);
        return;
      }
      case 'seg-del':
        await client.query('DELETE FROM segments WHERE camera = $1 AND path = $2', [camera, e.path]);
        return;
      case 'frag': {
        const f = a.outbox.fragment(e.a!, e.b!);
        const s = f && a.outbox.segment(e.a!);
        if (!f || !s) return;
        await client.query(`INSERT INTO fragments (camera, path, seq, start_pts_ns, stop_pts_ns, "offset", size, moof_size, samples, keyframe, crc)
          VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
          ON CONFLICT (camera, path, seq) DO UPDATE SET start_pts_ns = excluded.start_pts_ns, stop_pts_ns = excluded.stop_pts_ns,
            "offset" = excluded."offset", size = excluded.size, moof_size = excluded.moof_size, samples = excluded.samples,
            keyframe = excluded.keyframe, crc = excluded.crc`,
        [camera, s.path, big(f.seq), big(f.start_pts_ns), big(f.stop_pts_ns), big(f.offset), big(f.size), big(f.moof_size),
          big(f.samples), Number(f.keyframe) !== 0, big(f.crc)]);
        return;
      }
      case 'frag-del':
        if (e.path !== null) await client.query('DELETE FROM fragments WHERE camera = $1 AND path = $2 AND seq = $3', [camera, e.path, big(e.b)]);
        return;
      case 'gap': {
        const g = a.outbox.gap(e.a!);
        if (!g) return;
        await client.query(`INSERT INTO gaps (camera, start_pts_ns, stop_pts_ns, reason, created_ms) VALUES ($1,$2,$3,$4,$5)
          ON CONFLICT (camera, start_pts_ns, stop_pts_ns) DO UPDATE SET reason = excluded.reason`,
        [camera, big(g.start_pts_ns), big(g.stop_pts_ns), g.reason, Number(g.created_ms)]);
        return;
      }
      case 'gap-del':
        await client.query('DELETE FROM gaps WHERE camera = $1 AND start_pts_ns = $2 AND stop_pts_ns = $3', [camera, big(e.a), big(e.b)]);
        return;
    }
  }
}
