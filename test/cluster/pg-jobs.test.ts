// The cluster's clip jobs in a real PostgreSQL: a job accepted by one node is read by any; its claim is
// renewed by its holder only; a lapsed claim is taken by exactly one of the nodes reaching for it at once
// (FOR UPDATE SKIP LOCKED), by the node recording the camera or by any when none does; the end a node
// reports after another took its job over is refused; exact PTS past 2^53 survive the round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PgLeases } from '../../src/producer/cluster/pg-leases.js';
import { PgJobs } from '../../src/producer/cluster/pg-jobs.js';
import { clipIdOf, SLOT_SPAN, type JobRecord } from '../../src/producer/store/job-store.js';
import { freshDatabase, requireServices } from '../helpers/services.js';

const CLAIM_MS = 1200;
const BIG = 2n ** 60n + 7n;

function job(slot: number, n: number, camera: string): JobRecord {
  const seq = slot * SLOT_SPAN + n;
  return {
    clipId: clipIdOf(seq, `clip-${camera}-`), seq, status: 'queued',
    spec: { mode: 'pts', startPtsNs: BIG, stopPtsNs: BIG + 2_000_000_000n, label: 'door', outDir: null, filename: null, maxWaitMs: 30_000 },
    startPtsNs: BIG, stopPtsNs: BIG + 2_000_000_000n, outDir: '/clips', outcome: null, error: null,
    createdMs: 1_700_000_000_000 + n, updatedMs: 1_700_000_000_000 + n, deadlineMs: 1_700_000_030_000 + n,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('clip jobs shared in PostgreSQL: any node reads them, lapsed claims taken once, ends fenced by the holder', { timeout: 60_000 }, async (t) => {
  const { pgUrl } = requireServices();
  const db = await freshDatabase(pgUrl, 'jobs');
  const leases = new PgLeases(db.url, { node: 'y', leaseTimeoutMs: 60_000, queryTimeoutMs: 5000 });
  const nodes = Object.fromEntries(['a', 'b', 'c', 'y'].map((n) => [n, new PgJobs(db.url, { node: n, claimMs: CLAIM_MS, queryTimeoutMs: 5000 })]));
  const { a, b, c, y } = nodes;
  const check = new pg.Client({ connectionString: db.url });
  t.after(async () => {
    await Promise.all([...Object.values(nodes).map((n) => n.close()), leases.close(), check.end()]);
    await db.drop();
  });
  await check.connect();
  await leases.migrate();

  // Accepted on a, read on b exactly; started there; entering it twice changes nothing.
  const first = job(1, 1, 'cam1');
  await a.accept('cam1', first);
  await a.accept('cam1', { ...first, status: 'done' });
  const seen = await b.get(first.clipId);
  assert.equal(seen?.node, 'a');
  assert.equal(seen?.camera, 'cam1');
  assert.deepEqual(seen?.job, first, 'the job as accepted, PTS past 2^53 exact');
  assert.equal(await b.get('clip-cam1-0000000000000099'), null);
  await b.started(first.clipId);
  assert.equal((await a.get(first.clipId))?.job.status, 'queued', 'only its holder marks it running');
  await a.started(first.clipId);
  assert.equal((await b.get(first.clipId))?.job.status, 'running');

  // Twenty more of a's jobs; a renews, so nobody takes them.
  const many = Array.from({ length: 20 }, (_, i) => job(1, 10 + i, 'cam2'));
  for (const j of many) await a.accept('cam2', j);
  assert.equal(await a.renew(), 21);
  assert.deepEqual(await b.adoptLapsed([], ['cam1', 'cam2'], 50), [], 'claims that have not lapsed are not taken');

  // a goes silent: its claims lapse; b and c reach for them at once, and each job goes to one of them.
  await sleep(CLAIM_MS + 300);
  const [byB, byC] = await Promise.all([b.adoptLapsed([], ['cam1', 'cam2'], 15), c.adoptLapsed([], ['cam1', 'cam2'], 15)]);
  const taken = [...byB, ...byC].map((x) => x.job.clipId).sort();
  assert.deepEqual(taken, [first, ...many].map((j) => j.clipId).sort(), 'every lapsed job taken exactly once');
  assert.ok(byB.every((x) => x.from === 'a' && x.node === 'b' && x.job.status === 'queued'));
  assert.ok(byC.every((x) => x.from === 'a' && x.node === 'c'));
  const claims = await check.query<{ claims: number }>('SELECT DISTINCT claims FROM clip_jobs');
  assert.deepEqual(claims.rows.map((r) => r.claims), [2]);

  // Any node lists a camera's jobs newest first, a page at a time, of one status.
  const newest = await c.recent('cam2', 5);
  assert.deepEqual(newest.map((j) => j.clipId), many.slice(-5).reverse().map((j) => j.clipId));
  const next = await c.recent('cam2', 5, undefined, { createdMs: newest[4].createdMs, clipId: newest[4].clipId });
  assert.deepEqual(next.map((j) => j.clipId), many.slice(-10, -5).reverse().map((j) => j.clipId));
  assert.equal((await c.recent('cam2', 50, 'queued')).length, 20);
  assert.equal((await c.recent('cam2', 50, 'done')).length, 0);

  // The first job's end: a (no longer its holder) is refused; its new holder's is recorded.
  const holder = byB.some((x) => x.job.clipId === first.clipId) ? b : c;
  const outcome = {
    path: '/clips/x.mp4', actual_start_pts_ns: BIG, actual_stop_pts_ns: BIG + 1_900_000_000n, lead_in_ms: 0, duration_ms: 1900, frames: 19, bytes: 1234,
    segments: ['s1.mp4'], gaps: [{ start_pts_ns: BIG + 1n, stop_pts_ns: BIG + 2n }], partial: true, partial_reason: 'gap', audio: false,
  };
  assert.equal(await a.finish('cam1', { ...first, status: 'done', outcome, updatedMs: 5 }), false, 'the old holder\'s end is refused');
  assert.equal(await holder.finish('cam1', { ...first, status: 'done', outcome, updatedMs: 6 }), true);
  const ended = await a.get(first.clipId);
  assert.equal(ended?.job.status, 'done');
  assert.deepEqual(ended?.job.outcome, outcome, 'the outcome exact');
  assert.equal(ended?.job.updatedMs, 6);
  assert.equal(await holder.finish('cam1', { ...first, status: 'error', error: 'again' }), false, 'an ended job stays ended');

  // A job whose acceptance never reached the catalog is entered with its end.
  const unseen = job(1, 90, 'cam1');
  assert.equal(await a.finish('cam1', { ...unseen, status: 'error', error: 'no footage' }), true);
  assert.equal((await c.get(unseen.clipId))?.job.error, 'no footage');

  // A camera another node records: only that node takes its lapsed jobs (its newest footage is there).
  await check.query("INSERT INTO camera_leases (camera, node, epoch, expires_at) VALUES ('cam3', 'y', 1, now() + interval '1 hour')");
  const held = job(1, 200, 'cam3');
  await a.accept('cam3', held);
  await sleep(CLAIM_MS + 300);
  assert.deepEqual(await c.adoptLapsed([], ['cam3'], 5), [], 'not by a node that does not record cam3');
  assert.deepEqual((await y.adoptLapsed(['cam3'], ['cam3'], 5)).map((x) => x.job.clipId), [held.clipId], 'by its recorder');
  assert.deepEqual(await b.adoptLapsed([], ['cam9'], 5), [], 'nor jobs of cameras a node does not have');

  // A node starting again: who holds its unfinished jobs; those it no longer has lapse at once.
  const mine = job(2, 1, 'cam1');
  await b.accept('cam1', mine);
  const h = await b.holders([first.clipId]);
  assert.equal(h.get(first.clipId)?.node, holder === b ? 'b' : 'c');
  assert.equal(h.get(mine.clipId)?.node, 'b', 'its own unfinished jobs are listed too');
  await b.letLapse([mine.clipId]);
  assert.deepEqual((await c.adoptLapsed([], ['cam1'], 5)).map((x) => x.job.clipId).filter((id) => id === mine.clipId), [mine.clipId], 'taken at once');
  await c.letLapse(null);
  const left = await check.query<{ n: string }>("SELECT count(*) AS n FROM clip_jobs WHERE node = 'c' AND status IN ('queued', 'running') AND claim_expires_at > now()");
  assert.equal(Number(left.rows[0].n), 0, 'a stopping node lets all its waiting jobs lapse');
});

test("a node's clip retention on the jobs it holds in the catalog: old clips expire, old records without a clip go, nothing else", { timeout: 60_000 }, async (t) => {
  const { pgUrl } = requireServices();
  const db = await freshDatabase(pgUrl, 'jobsret');
  const leases = new PgLeases(db.url, { node: 'a', leaseTimeoutMs: 60_000, queryTimeoutMs: 5000 });
  const a = new PgJobs(db.url, { node: 'a', claimMs: CLAIM_MS, queryTimeoutMs: 5000 });
  const b = new PgJobs(db.url, { node: 'b', claimMs: CLAIM_MS, queryTimeoutMs: 5000 });
  t.after(async () => {
    await Promise.all([a.close(), b.close(), leases.close()]);
    await db.drop();
  });
  await leases.migrate();
  const now = 1_800_000_000_000;
  const DAY = 86_400_000;
  const published = (n: number) => ({
    path: `/clips/${n}.mp4`, actual_start_pts_ns: BIG, actual_stop_pts_ns: BIG + 1_900_000_000n, lead_in_ms: 0, duration_ms: 1900, frames: 19, bytes: 1234,
    segments: ['s1.mp4'], gaps: [{ start_pts_ns: BIG + 1n, stop_pts_ns: BIG + 2n }], partial: false, partial_reason: null, audio: true,
  });
  // Each job ended (or was accepted) `daysAgo` days before now.
  const ended = async (node: PgJobs, n: number, camera: string, daysAgo: number, how: 'done' | 'error' | 'expired' | 'queued') => {
    const j = { ...job(1, n, camera), updatedMs: now - daysAgo * DAY };
    if (how === 'queued') await node.accept(camera, j);
    else if (how === 'error') await node.finish(camera, { ...j, status: 'error', error: 'no footage' });
    else await node.finish(camera, { ...j, status: 'done', outcome: how === 'done' ? published(n) : { ...published(n), path: null, expired_ms: now - daysAgo * DAY } });
    return j.clipId;
  };
  const oldClip = await ended(a, 1, 'cam1', 10, 'done');
  const newClip = await ended(a, 2, 'cam1', 1, 'done');
  const oldError = await ended(a, 3, 'cam1', 40, 'error');
  const newError = await ended(a, 4, 'cam1', 10, 'error');
  const oldExpired = await ended(a, 5, 'cam1', 40, 'expired');
  const oldQueued = await ended(a, 6, 'cam1', 40, 'queued');
  const othersError = await ended(b, 7, 'cam1', 40, 'error');
  const otherCamera = await ended(a, 8, 'cam2', 40, 'error');

  // Clips kept 7 days, records without a clip 30 days (as clip-retention.ts's cutoffs give them).
  const r = await a.retain('cam1', { nowMs: now, expireBeforeMs: now - 7 * DAY, pruneBeforeMs: now - 30 * DAY, limit: 100 });
  assert.deepEqual(r, { expired: 1, pruned: 2 });
  const get = async (id: string) => (await b.get(id))?.job ?? null;
  const x = await get(oldClip);
  assert.equal(x?.status, 'done');
  assert.deepEqual(x?.outcome, { ...published(1), path: null, expired_ms: now }, 'expired: path null, when said, the rest exact (PTS past 2^53)');
  assert.equal(x?.updatedMs, now);
  assert.deepEqual((await get(newClip))?.outcome, published(2), 'a clip within its age is kept');
  assert.equal(await get(oldError), null, 'an old failed job\'s record goes');
  assert.equal(await get(oldExpired), null, 'an old expired job\'s record goes');
  for (const id of [newError, oldQueued, othersError, otherCamera]) assert.notEqual(await get(id), null, `${id} stays (recent, unfinished, another node's or another camera's)`);
  // Clips kept for ever: nothing expires; a limit bounds a pass; a second pass finds nothing more.
  assert.deepEqual(await b.retain('cam1', { nowMs: now, expireBeforeMs: null, pruneBeforeMs: now - 30 * DAY, limit: 100 }), { expired: 0, pruned: 1 });
  assert.equal(await get(othersError), null);
  assert.deepEqual(await a.retain('cam1', { nowMs: now, expireBeforeMs: now - 7 * DAY, pruneBeforeMs: now - 30 * DAY, limit: 100 }), { expired: 0, pruned: 0 });
  // The expired record goes once it is older than the record age.
  assert.deepEqual(await a.retain('cam1', { nowMs: now + 31 * DAY, expireBeforeMs: null, pruneBeforeMs: now + DAY, limit: 1 }), { expired: 0, pruned: 1 });
});
