// The leases in a real PostgreSQL: one winner per camera however nodes race, renewals only by the holder
// at its epoch, lapsed leases taken over with the log saying how each tenure ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PgLeases } from '../../src/producer/cluster/pg-leases.js';
import { freshDatabase, requireServices } from '../helpers/services.js';

test('camera leases in PostgreSQL: one holder, fencing epochs, lapse and release', { timeout: 60_000 }, async (t) => {
  const { pgUrl } = requireServices();
  const db = await freshDatabase(pgUrl, 'leases');
  const lease = (node: string, ms = 2500) => new PgLeases(db.url, { node, leaseTimeoutMs: ms, queryTimeoutMs: 5000 });
  const x = lease('x');
  const y = lease('y');
  const check = new pg.Client({ connectionString: db.url });
  t.after(async () => {
    await Promise.all([x.close(), y.close(), check.end()]);
    await db.drop();
  });
  await check.connect();
  await x.migrate();
  const cams = Array.from({ length: 20 }, (_, i) => `cam${i}`);
  await Promise.all([x.heartbeat('http://x', cams), y.heartbeat('http://y', cams)]);

  // Both nodes reach for every camera at once: each camera has exactly one holder.
  const got = await Promise.all(cams.flatMap((c) => [x.acquire(c).then((a) => ({ c, n: 'x', a })), y.acquire(c).then((a) => ({ c, n: 'y', a }))]));
  for (const c of cams) assert.equal(got.filter((g) => g.c === c && g.a !== null).length, 1, `${c}: one winner`);
  const xs = new Map(got.filter((g) => g.n === 'x' && g.a).map((g) => [g.c, g.a!.epoch]));
  const ys = new Map(got.filter((g) => g.n === 'y' && g.a).map((g) => [g.c, g.a!.epoch]));
  assert.equal(xs.size + ys.size, cams.length);

  // Only the holder renews, and only at its epoch.
  assert.deepEqual([...(await x.renew(xs))].sort(), [...xs.keys()].sort());
  assert.deepEqual([...(await y.renew(ys))].sort(), [...ys.keys()].sort());
  assert.equal((await y.renew(xs)).size, 0, 'another node cannot renew x\'s leases');
  assert.equal((await x.renew(ys)).size, 0, 'nor x y\'s');
  const stale = new Map([...xs, ...ys].map(([c, e]) => [c, e - 1n]));
  assert.equal((await x.renew(stale)).size + (await y.renew(stale)).size, 0, 'an old epoch renews nothing');
  await Promise.all([x.heartbeat('http://x', cams), y.heartbeat('http://y', cams)]);
  const nodes = await x.nodes();
  assert.deepEqual(nodes.map((n) => [n.node, n.cameras.length, n.live]), [['x', xs.size, true], ['y', ys.size, true]]);

  // A lease not renewed lapses at the database's expiry; then another node may take it (epoch + 1).
  // (Whichever node won cameras in the race above: either may have won them all.)
  const [holder, other, won, holderName, otherName] = xs.size > 0 ? [x, y, xs, 'x', 'y'] : [y, x, ys, 'y', 'x'];
  const [cam, epoch] = [...won][0];
  assert.equal(await other.acquire(cam), null, 'a live lease cannot be taken');
  await new Promise((r) => setTimeout(r, 2700));
  const taken = await other.acquire(cam);
  assert.ok(taken);
  assert.equal(taken.epoch, epoch + 1n);
  assert.deepEqual([taken.previousNode, taken.previousEnd], [holderName, 'expired']);
  assert.equal((await holder.renew(new Map([[cam, epoch]]))).size, 0, 'the old holder cannot renew it back');

  // A release frees it at once and the log says so.
  await other.release(cam, taken.epoch);
  const again = await holder.acquire(cam);
  assert.deepEqual([again?.previousNode, again?.previousEnd], [otherName, 'released']);
  const log = await check.query<{ node: string; ended_how: string | null }>('SELECT node, ended_how FROM lease_log WHERE camera = $1 ORDER BY epoch', [cam]);
  assert.deepEqual(log.rows.map((r) => [r.node, r.ended_how]), [[holderName, 'expired'], [otherName, 'released'], [holderName, null]]);

  // The clock base is the first one proposed, whoever asks later.
  assert.equal(await x.clockBase('cam0', 1000), 1000);
  assert.equal(await y.clockBase('cam0', 2000), 1000);
});
