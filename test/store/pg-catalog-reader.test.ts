// The catalog's reads on PostgreSQL (store/pg-catalog-reader.ts) answer exactly what the SQLite index
// answers for the same camera: an index with history, PTS past 2^53 and gaps, mirrored to a real
// PostgreSQL, then the same queries on both over many windows — same segments in the same order, same
// fragments, same gaps, same pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { freshDatabase, requireServices } from '../helpers/services.js';
import { at, indexWith } from '../helpers/synthetic-index.js';
import { PgMirror } from '../../src/producer/store/pg-mirror.js';
import { PgCatalogReader } from '../../src/producer/store/pg-catalog-reader.js';
import { silentLogger } from '../../src/common/log.js';
import type { FragmentRow, GapRow, SegmentRow } from '../../src/producer/store/catalog.js';

const seg = (r: SegmentRow) => ({ ...r, id: 0, local: 0 });
const frag = (f: FragmentRow) => ({ ...f, segment_id: 0 });
const gap = (g: GapRow) => ({ ...g, id: 0 });

for (const [clock, base] of [['0', 0n], ['100 years', 1n << 61n]] as const) {
  test(`PostgreSQL answers the catalog's reads as SQLite does (clock at ${clock})`, { timeout: 120_000 }, async (t) => {
    const { pgUrl } = requireServices();
    const db = await freshDatabase(pgUrl, 'reader');
    t.after(() => db.drop());
    const index = indexWith(400, base);
    for (const [a, b] of [[15, 17], [100, 130], [131, 132], [395, 4000]] as const) index.addGap(at(a, base), at(b, base), `gap ${a}`);
    index.deleteSegment(index.oldestSealed(1)[0].id);
    const mirror = new PgMirror({ url: db.url, log: silentLogger, node: 'a' });
    t.after(() => mirror.close());
    mirror.attach({ name: 'cam', db: index.db, clockBaseEpochMs: () => 0 });
    await mirror.drain(60_000);
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => undefined); // the database is dropped at the end, under its idle connections
    t.after(() => pool.end());
    const reader = new PgCatalogReader(pool, pg.types, 'cam');

    let seed = 7;
    const rnd = (k: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % k; };
    for (let i = 0; i < 40; i++) {
      const from = at(rnd(4100), base) + BigInt(rnd(1000)) * 1_000_000n;
      const to = from + BigInt(1 + rnd(600)) * 100_000_000n;
      assert.deepEqual((await reader.overlapping(from, to)).map(seg), index.overlapping(from, to).map(seg), `overlapping ${from}..${to}`);
      const want = index.clipFragments(from, to, 10e9).map((s) => ({ row: seg(s.row), fragments: s.fragments.map(frag) }));
      const got = (await reader.clipFragments(from, to, 10e9)).map((s) => ({ row: seg(s.row), fragments: s.fragments.map(frag) }));
      assert.deepEqual(got, want, `clipFragments ${from}..${to}`);
      assert.deepEqual((await reader.gapsIn(from, to)).map(gap), index.gapsIn(from, to).map(gap), `gapsIn ${from}..${to}`);
    }
    // Pages of a long window, newest first, every segment once, in the same pages.
    const lo = at(0, base);
    const hi = at(5000, base);
    let before: { startPtsNs: bigint; id: number } | null = null;
    let beforeLocal: { startPtsNs: bigint; id: number } | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const a = await reader.overlappingPage(lo, hi, 37, before);
      const b = index.overlappingPage(lo, hi, 37, beforeLocal);
      assert.deepEqual(a.rows.map(seg), b.rows.map(seg));
      assert.equal(a.more, b.more);
      if (!a.more) break;
      before = { startPtsNs: a.rows[0].start_pts_ns, id: a.rows[0].id };
      beforeLocal = { startPtsNs: b.rows[0].start_pts_ns, id: b.rows[0].id };
    }
    const last = index.lastSegment()!;
    assert.deepEqual(seg((await reader.lastSegment())!), seg(last));
    const probe = index.oldestSealed(50)[30];
    assert.deepEqual(seg((await reader.firstEndingAfterEpoch(probe.stop_epoch_ms - 1))!), seg(index.firstEndingAfterEpoch(probe.stop_epoch_ms - 1)!));
  });
}
