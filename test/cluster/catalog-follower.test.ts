// The follower against a real PostgreSQL: another node's uploaded segments reach this node's index (in
// pages, from a cursor that survives a restart), its not-yet-uploaded ones do not, this node's own are
// never imported back, and what the other node's retention removed is dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { at, indexWith } from '../helpers/synthetic-index.js';
import { freshDatabase, requireServices } from '../helpers/services.js';
import { PgMirror } from '../../src/producer/store/pg-mirror.js';
import { CatalogFollower } from '../../src/producer/cluster/catalog-follower.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { silentLogger } from '../../src/common/log.js';

test("another node's uploaded footage is imported page by page, once; what its retention removed is dropped", { timeout: 60_000 }, async (t) => {
  const { pgUrl } = requireServices();
  const db = await freshDatabase(pgUrl, 'follower');
  const check = new pg.Client({ connectionString: db.url });
  await check.connect();
  // Node b recorded 0–120 s of cam1 (12 segments); this node (a) recorded 120–150 s.
  const other = indexWith(12);
  const mine = new SegmentIndex(openDatabase(':memory:'));
  const own = indexWith(3, at(120));
  const mirrorB = new PgMirror({ url: db.url, log: silentLogger, node: 'b' });
  const mirrorA = new PgMirror({ url: db.url, log: silentLogger, node: 'a' });
  const follower = new CatalogFollower(db.url, { node: 'a', log: silentLogger, periodMs: 60_000, queryTimeoutMs: 10_000, page: 4, cameras: () => [{ name: 'cam1', index: mine }] });
  t.after(async () => {
    await Promise.all([mirrorA.close(), mirrorB.close(), follower.close(), check.end()]);
    await db.drop();
  });
  mirrorB.attach({ name: 'cam1', db: other.db, clockBaseEpochMs: () => 1 });
  mirrorA.attach({ name: 'cam1', db: own.db, clockBaseEpochMs: () => 1 });
  // Only b's first 10 segments are uploaded.
  for (const s of other.oldestSealed(10)) other.db.prepare('UPDATE segments SET object_key = ? WHERE id = ?').run(`p/cam1/${s.path}`, s.id);
  for (const s of own.oldestSealed(3)) own.db.prepare('UPDATE segments SET object_key = ? WHERE id = ?').run(`p/cam1/${s.path}`, s.id);
  await Promise.all([mirrorB.drain(30_000), mirrorA.drain(30_000)]);

  await follower.poll();
  const imported = () => mine.overlapping(0n, at(1000)).map((s) => [Number(s.start_pts_ns / 1_000_000_000n), s.origin, s.object_key !== null, s.local]);
  assert.deepEqual(imported(), Array.from({ length: 10 }, (_, i) => [i * 10, 'b', true, 0]), 'the 10 uploaded, in pages of 4; not the 2 still local to b; none of a\'s own');
  assert.equal(mine.fragmentsOf(mine.overlapping(at(35), at(36))[0].id).length, 1, 'with their fragments');
  const queries = follower.queries;
  await follower.poll();
  assert.equal(imported().length, 10, 'a second pass imports nothing twice');
  assert.ok(follower.queries - queries <= 3, `an idle pass is a query or two, not a scan (${follower.queries - queries})`);

  // The last two reach the store; a new follower (a restart) goes on from the stored cursor.
  for (const s of other.oldestSealed(12).slice(10)) other.db.prepare('UPDATE segments SET object_key = ? WHERE id = ?').run(`p/cam1/${s.path}`, s.id);
  await mirrorB.drain(30_000);
  const again = new CatalogFollower(db.url, { node: 'a', log: silentLogger, periodMs: 60_000, queryTimeoutMs: 10_000, page: 4, cameras: () => [{ name: 'cam1', index: mine }] });
  t.after(() => again.close());
  await again.poll();
  assert.equal(imported().length, 12);

  // b's retention removes its 5 oldest: dropped here too; nothing of it queued for the store or the catalog.
  for (const s of other.oldestSealed(5)) other.deleteSegment(s.id);
  await mirrorB.drain(30_000);
  await again.dropRemoved([{ name: 'cam1', index: mine }]);
  assert.equal(imported()[0][0], 50);
  assert.equal(imported().length, 7);
  const n = (await check.query<{ n: string }>("SELECT count(*) AS n FROM segments WHERE camera = 'cam1'")).rows[0].n;
  assert.equal(Number(n), 7 + 3, "the catalog holds b's 7 and a's 3: nothing imported went back");
});
