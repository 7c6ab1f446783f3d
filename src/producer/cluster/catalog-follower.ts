// Any node answers for any camera: every few seconds a cluster node imports, for each camera, the
// segments other nodes recorded and uploaded (their rows and fragments from the PostgreSQL catalog, in the
// order they reached the store) into the camera's local index, marked with their node (`origin`) and read
// from the store. Every read path — /segments, clips, recording.mp4, the web page — then serves the
// camera's whole footage whoever recorded it, with the same code and the same SQLite queries. Imported rows
// are never mirrored back, counted, retained or deleted from the store here; once their node's retention
// removed them from the catalog (oldest first), they are dropped here too.
import pg from 'pg';
import type { Logger } from '../../common/log.js';
import type { SegmentIndex } from '../store/catalog.js';
import { exactTypes, fragmentOf, segmentOf } from '../store/pg-catalog-reader.js';
import { NodePool } from './node-pool.js';

/** Rows per query; a camera's backlog (a node joining years of footage) goes in pages. */
const PAGE = 500;
/** Rows stamped this long before the newest one seen are read again (transactions commit out of order). */
const OVERLAP_MS = 30_000;
/** Every this many passes, rows the catalog no longer has are looked for. */
const DROP_EVERY = 10;
/** Meta key: the newest `uploaded_at` imported (ms), so a restart does not read the whole history again. */
const CURSOR_META = 'cluster_import_cursor_ms';

export interface FollowedCamera {
  name: string;
  index: SegmentIndex;
}

export class CatalogFollower {
  private readonly db: NodePool;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private failing = false;
  /** Segments imported and dropped since start (for /metrics and the figures). */
  imported = 0;
  dropped = 0;
  private polls = 0;

  private readonly page: number;

  /** Queries sent (for /metrics and the figures). */
  get queries(): number {
    return this.db.queries;
  }

  constructor(url: string, private readonly o: {
    node: string; log: Logger; periodMs: number; queryTimeoutMs: number; cameras: () => FollowedCamera[];
    /** Rows per camera per query (tests page with a few). */
    page?: number;
  }) {
    this.page = o.page ?? PAGE;
    this.db = new NodePool(url, { name: `segrec-follower ${o.node}`, max: 1, queryTimeoutMs: o.queryTimeoutMs });
  }

  start(): void {
    const tick = () => {
      if (this.closed) return;
      this.running = this.poll().finally(() => {
        this.running = null;
        this.timer = setTimeout(tick, this.o.periodMs);
        this.timer.unref();
      });
    };
    tick();
  }

  /** One pass over every camera; failures are logged once and retried at the next pass. */
  async poll(): Promise<void> {
    try {
      const cameras = this.o.cameras();
      if (cameras.length > 0) {
        await this.importNew(cameras);
        if (this.polls++ % DROP_EVERY === 0) await this.dropRemoved(cameras);
      }
      if (this.failing) this.o.log.info('importing other nodes\' footage again');
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.o.log.warn('cannot import other nodes\' footage from the catalog (retried)', { error: (e as Error).message });
      this.failing = true;
    }
  }

  private async query(text: string, values: unknown[]): Promise<Array<Record<string, unknown>>> {
    return (await this.db.query({ text, values, types: exactTypes(pg.types) })).rows as Array<Record<string, unknown>>;
  }

  /** Every camera's segments uploaded since its cursor: one query a page for all cameras, one for their fragments. */
  private async importNew(cameras: FollowedCamera[]): Promise<void> {
    const byName = new Map(cameras.map((c) => [c.name, c]));
    const cursors = new Map(cameras.map((c) => [c.name, Number(c.index.getMeta(CURSOR_META) ?? '0')]));
    // The first page of a pass reads the overlap again; the next pages go on from where the last ended.
    for (let overlap = OVERLAP_MS; ; overlap = 0) {
      // Each camera from its own cursor, through the (camera, uploaded_at) index.
      const names = [...cursors.keys()];
      const rows = await this.query(`SELECT s.*, extract(epoch FROM s.uploaded_at) * 1000 AS uploaded_ms
        FROM unnest($1::text[], $2::float8[]) AS c(name, since)
        CROSS JOIN LATERAL (SELECT * FROM segments WHERE camera = c.name AND node <> $3 AND sealed AND object_key IS NOT NULL
          AND uploaded_at > to_timestamp(c.since / 1000) ORDER BY uploaded_at LIMIT ${this.page}) AS s`,
      [names, names.map((n) => cursors.get(n)! - overlap), this.o.node]);
      const fresh = rows.filter((r) => !byName.get(r.camera as string)!.index.hasPath(r.path as string));
      if (fresh.length > 0) {
        const frags = await this.query('SELECT * FROM fragments WHERE (camera, path) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY camera, path, seq',
          [fresh.map((r) => r.camera), fresh.map((r) => r.path)]);
        const of = new Map<string, Array<Record<string, unknown>>>();
        for (const f of frags) {
          const k = `${f.camera as string}\u0000${f.path as string}`;
          of.set(k, [...(of.get(k) ?? []), f]);
        }
        for (const r of fresh) {
          const seg = segmentOf(r);
          const fragments = (of.get(`${r.camera as string}\u0000${r.path as string}`) ?? []).map((f) => fragmentOf(0, f));
          if (fragments.length === seg.fragments && byName.get(r.camera as string)!.index.importForeign(seg, fragments, r.node as string)) this.imported++;
        }
      }
      // Cameras whose page was full have more: another page for those alone.
      const full = new Set<string>();
      const count = new Map<string, number>();
      for (const r of rows) {
        const name = r.camera as string;
        const ms = Number(r.uploaded_ms);
        if (ms > cursors.get(name)!) cursors.set(name, ms);
        count.set(name, (count.get(name) ?? 0) + 1);
        if (count.get(name) === this.page) full.add(name);
      }
      for (const [name, ms] of cursors) byName.get(name)!.index.setMeta(CURSOR_META, String(ms));
      for (const name of [...cursors.keys()]) if (!full.has(name)) cursors.delete(name);
      if (cursors.size === 0) break;
    }
  }

  /** What other nodes' retention removed from the catalog (oldest first) goes here too. */
  async dropRemoved(cameras: FollowedCamera[]): Promise<void> {
    const rows = await this.query(`SELECT c AS camera, (SELECT start_pts_ns FROM segments WHERE camera = c ORDER BY start_pts_ns LIMIT 1) AS oldest
      FROM unnest($1::text[]) AS c`, [cameras.map((c) => c.name)]);
    for (const r of rows) {
      if (r.oldest === null) continue;
      this.dropped += cameras.find((c) => c.name === r.camera)!.index.dropForeignBefore(r.oldest as bigint);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    await this.db.end();
  }
}
