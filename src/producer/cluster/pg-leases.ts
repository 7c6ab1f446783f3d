// The leases' half of the PostgreSQL catalog (schema: pg-schema.ts step 3): node heartbeats, camera leases
// and the lease log. Every expiry is on the database's clock (now()), so nodes' clocks need not agree; an
// acquisition is one conditional UPDATE (free or lapsed only) that raises the epoch, so two nodes never
// both win a camera. Each query is bounded (query_timeout): a node cut off from PostgreSQL learns it
// within a round instead of hanging.
import pg from 'pg';
import { migratePg } from '../store/pg-schema.js';
import { NodePool } from './node-pool.js';

export interface LeaseRow {
  camera: string;
  /** The holder while the lease is live (null: free or lapsed). */
  node: string | null;
  epoch: bigint;
}

export interface NodeRow {
  node: string;
  url: string;
  /** The number its clip ids carry. */
  slot: number;
  startedAtMs: number;
  heartbeatAtMs: number;
  /** Fresh heartbeat and not stopping. */
  live: boolean;
  stopping: boolean;
  /** The cameras it holds live leases of. */
  cameras: string[];
}

export interface Acquired {
  epoch: bigint;
  /** Who held it before (null: nobody ever) and how that tenure ended. */
  previousNode: string | null;
  previousEnd: 'released' | 'expired' | null;
}

/** The newest footage of a camera in the catalog, whoever recorded it. */
export interface CatalogTail {
  stopPtsNs: bigint;
  stopEpochMs: number;
  node: string;
}

export class PgLeases {
  private readonly db: NodePool;
  /** Cameras whose lease row is known to exist. */
  private readonly known = new Set<string>();

  constructor(url: string, private readonly o: { node: string; leaseTimeoutMs: number; queryTimeoutMs: number }) {
    this.db = new NodePool(url, { name: `segrec-leases ${o.node}`, max: 2, queryTimeoutMs: o.queryTimeoutMs });
  }

  /** Queries sent (for /metrics and the figures). */
  get queries(): number {
    return this.db.queries;
  }

  private q<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.db.query<R>({ text, values });
  }

  /** Brings the catalog's schema up to date (as the mirror does; whichever comes first). */
  async migrate(): Promise<void> {
    await migratePg(this.db.pool);
  }

  /**
   * Enters this node in the node list (or finds it there) and returns its slot, the number its clip ids
   * carry. Slots of nodes silent for a week go back to the pool (the sequence cycles; a slot still taken
   * is skipped).
   */
  async register(url: string): Promise<number> {
    await this.q("DELETE FROM nodes WHERE heartbeat_at < now() - interval '7 days' AND node <> $1", [this.o.node]);
    for (let attempt = 0; ; attempt++) {
      try {
        // (Not an upsert: the slot's default would take a number from the sequence at every call.)
        await this.q(`INSERT INTO nodes (node, url, started_at, heartbeat_at) SELECT $1, $2, now(), now()
          WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE node = $1) ON CONFLICT (node) DO NOTHING`, [this.o.node, url]);
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== '23505' || attempt > 20) throw e;
      }
    }
    const r = await this.q<{ slot: number }>('UPDATE nodes SET url = $2, started_at = now(), heartbeat_at = now(), stopping = false WHERE node = $1 RETURNING slot',
      [this.o.node, url]);
    return r.rows[0].slot;
  }

  async heartbeat(url: string, cameras: string[]): Promise<void> {
    const r = await this.q('UPDATE nodes SET url = $2, heartbeat_at = now(), stopping = false WHERE node = $1', [this.o.node, url]);
    if (r.rowCount === 0) await this.register(url);
    const missing = cameras.filter((c) => !this.known.has(c));
    if (missing.length === 0) return;
    await this.q('INSERT INTO camera_leases (camera) SELECT unnest($1::text[]) ON CONFLICT (camera) DO NOTHING', [missing]);
    for (const c of missing) this.known.add(c);
  }

  async state(cameras: string[]): Promise<{ leases: LeaseRow[]; nodes: NodeRow[] }> {
    const leases = await this.q<{ camera: string; node: string | null; epoch: string }>(
      `SELECT camera, CASE WHEN expires_at > now() THEN node END AS node, epoch FROM camera_leases WHERE camera = ANY($1::text[])`, [cameras]);
    return { leases: leases.rows.map((r) => ({ camera: r.camera, node: r.node, epoch: BigInt(r.epoch) })), nodes: await this.nodes() };
  }

  async nodes(): Promise<NodeRow[]> {
    const r = await this.q<{ node: string; url: string; slot: number; started: number; beat: number; live: boolean; stopping: boolean; cameras: string[] }>(
      `SELECT n.node, n.url, n.slot, extract(epoch FROM n.started_at) * 1000 AS started, extract(epoch FROM n.heartbeat_at) * 1000 AS beat,
        n.heartbeat_at > now() - $1 * interval '1 millisecond' AND NOT n.stopping AS live, n.stopping,
        COALESCE((SELECT array_agg(l.camera ORDER BY l.camera) FROM camera_leases l WHERE l.node = n.node AND l.expires_at > now()), '{}') AS cameras
        FROM nodes n ORDER BY n.node`, [this.o.leaseTimeoutMs]);
    return r.rows.map((x) => ({
      node: x.node, url: x.url, slot: x.slot, startedAtMs: Number(x.started), heartbeatAtMs: Number(x.beat), live: x.live, stopping: x.stopping, cameras: x.cameras,
    }));
  }

  /** Every camera's clock base in the catalog, each set to `proposed(camera)` where the catalog has none. */
  async clockBases(cameras: string[], proposed: (camera: string) => number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const c of cameras) out.set(c, await this.clockBase(c, proposed(c)));
    return out;
  }

  /** Extends the leases this node holds at these epochs; returns the cameras it still holds. */
  async renew(held: Map<string, bigint>): Promise<Set<string>> {
    if (held.size === 0) return new Set();
    const r = await this.q<{ camera: string }>(
      `UPDATE camera_leases l SET expires_at = now() + $2 * interval '1 millisecond'
        FROM unnest($3::text[], $4::bigint[]) AS h(camera, epoch)
        WHERE l.camera = h.camera AND l.epoch = h.epoch AND l.node = $1 AND l.expires_at > now() RETURNING l.camera`,
      [this.o.node, this.o.leaseTimeoutMs, [...held.keys()], [...held.values()].map(String)]);
    return new Set(r.rows.map((x) => x.camera));
  }

  /** Takes a camera whose lease is free or lapsed; null when another node has it. */
  async acquire(camera: string): Promise<Acquired | null> {
    const c = await this.db.pool.connect();
    this.db.queries += 5;
    let failed: Error | undefined;
    try {
      await c.query('BEGIN');
      const before = await c.query<{ node: string | null; epoch: string; live: boolean }>(
        'SELECT node, epoch, expires_at > now() AS live FROM camera_leases WHERE camera = $1 FOR UPDATE', [camera]);
      const b = before.rows[0];
      if (!b || (b.live && b.node !== null)) {
        await c.query('ROLLBACK');
        return null;
      }
      const epoch = BigInt(b.epoch) + 1n;
      await c.query(`UPDATE camera_leases SET node = $2, epoch = $3, expires_at = now() + $4 * interval '1 millisecond', acquired_at = now()
        WHERE camera = $1`, [camera, this.o.node, String(epoch), this.o.leaseTimeoutMs]);
      // The previous tenure, if it did not end by a release, ended by lapsing.
      const prev = await c.query<{ node: string; ended_how: string | null }>(
        `UPDATE lease_log SET ended_at = COALESCE(ended_at, now()), ended_how = COALESCE(ended_how, 'expired')
          WHERE camera = $1 AND epoch = $2 RETURNING node, ended_how`, [camera, b.epoch]);
      await c.query('INSERT INTO lease_log (camera, epoch, node, acquired_at) VALUES ($1, $2, $3, now())', [camera, String(epoch), this.o.node]);
      await c.query('COMMIT');
      const p = prev.rows[0];
      return { epoch, previousNode: p?.node ?? null, previousEnd: (p?.ended_how as Acquired['previousEnd']) ?? null };
    } catch (e) {
      failed = e as Error;
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release(failed);
    }
  }

  /** Gives a camera up (after its recording here stopped and its segment was sealed). */
  async release(camera: string, epoch: bigint): Promise<void> {
    await this.q(`WITH l AS (UPDATE camera_leases SET node = NULL, expires_at = now() WHERE camera = $1 AND node = $2 AND epoch = $3 RETURNING camera)
      UPDATE lease_log SET ended_at = now(), ended_how = 'released' WHERE camera = $1 AND epoch = $3 AND EXISTS (SELECT 1 FROM l)`,
    [camera, this.o.node, String(epoch)]);
  }

  async markStopping(): Promise<void> {
    await this.q('UPDATE nodes SET stopping = true WHERE node = $1', [this.o.node]);
  }

  /** The camera's clock base in the catalog, set to `proposed` when the catalog has none yet. */
  async clockBase(camera: string, proposed: number): Promise<number> {
    await this.q('INSERT INTO cameras (name, clock_base_epoch_ms, created_ms) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
      [camera, proposed, Date.now()]);
    const r = await this.q<{ b: number }>('SELECT clock_base_epoch_ms AS b FROM cameras WHERE name = $1', [camera]);
    return Number(r.rows[0].b);
  }

  /** The newest footage of the camera that reached the catalog (a handover's gap starts there). */
  async tail(camera: string): Promise<CatalogTail | null> {
    const r = await this.q<{ stop: string; epoch: number; node: string }>(
      'SELECT stop_pts_ns AS stop, stop_epoch_ms AS epoch, node FROM segments WHERE camera = $1 ORDER BY stop_pts_ns DESC LIMIT 1', [camera]);
    const x = r.rows[0];
    return x ? { stopPtsNs: BigInt(x.stop), stopEpochMs: Number(x.epoch), node: x.node } : null;
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}
