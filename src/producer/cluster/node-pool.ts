// A cluster node's connection pool to the catalog, one per part (leases, the follower, clip jobs): every
// query bounded (a node cut off from PostgreSQL learns it within a round instead of hanging), a
// connection that breaks while idle dropped (the next query opens another), the queries sent counted
// (for /metrics and the figures).
import pg from 'pg';

export class NodePool {
  readonly pool: pg.Pool;
  /** Queries sent. */
  queries = 0;

  constructor(url: string, o: { name: string; max: number; queryTimeoutMs: number }) {
    this.pool = new pg.Pool({
      connectionString: url, max: o.max, query_timeout: o.queryTimeoutMs, connectionTimeoutMillis: o.queryTimeoutMs,
      idleTimeoutMillis: 30_000, application_name: o.name,
    });
    this.pool.on('error', () => undefined);
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(q: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    this.queries++;
    return this.pool.query<R>(q);
  }

  async end(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
