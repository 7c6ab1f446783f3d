// The catalog on a real PostgreSQL (--catalog postgres://…): every row of the local index (segments,
// fragments, gaps — the history already there included — and, outside a cluster, the clip jobs) reaches
// PostgreSQL exactly, with its totals kept by triggers equal to the index's; PostgreSQL stopped
// while recording → recording goes on, /health says degraded with the backlog, and everything is applied
// when it is back; a batch applied before a crash and not yet forgotten locally is never applied twice.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { getJson, startTestProducer, waitFor, type HealthWire } from '../helpers/producer.js';
import { tempDir } from '../helpers/media.js';
import { freshDatabase, requireServices, startPrivatePostgres } from '../helpers/services.js';
import { fillIndex, indexWith } from '../helpers/synthetic-index.js';
import { PgMirror } from '../../src/producer/store/pg-mirror.js';
import { PgOutbox } from '../../src/producer/store/pg-outbox.js';
import { silentLogger } from '../../src/common/log.js';
import { JobStore } from '../../src/producer/store/job-store.js';
import { PG_MIGRATIONS, migratePg } from '../../src/producer/store/pg-schema.js';
import { upsertGaps, upsertSegments } from '../../src/producer/store/pg-upserts.js';
import type { ClipSpec } from '../../src/producer/clips/clip-request.js';
import { localCatalogRows, pgCatalogRows } from '../helpers/distributed-check.js';

const localRows = localCatalogRows;
const pgRows = pgCatalogRows;

describe('the catalog in PostgreSQL', () => {
  const { pgUrl } = requireServices();

  it('an index with history: all of it reaches PostgreSQL; a batch applied before a crash is not applied again', async (t) => {
    const db = await freshDatabase(pgUrl, 'mirror');
    t.after(() => db.drop());
    const index = indexWith(300, 1n << 60n); // PTS past 2^53: exact as BIGINT
    index.addGap(5n, 7n, 'ingest restart');
    const mirror = new PgMirror({ url: db.url, log: silentLogger, node: 'node-a' });
    t.after(() => mirror.close());
    mirror.attach({ name: 'cam1', db: index.db, clockBaseEpochMs: () => 1_700_000_000_000 });
    await mirror.drain(60_000);
    assert.deepEqual(await pgRows(db.url, 'cam1'), localRows(index));
    assert.equal(mirror.status('cam1').backlog, 0);

    // Changes: a segment removed (as retention does), another's object recorded, a gap added.
    const rows = index.oldestSealed(3);
    index.deleteSegment(rows[0].id);
    index.db.prepare('UPDATE segments SET object_key = ? WHERE id = ?').run('p/cam1/x.mp4', rows[1].id);
    index.addGap(9n, 11n, 'camera offline');
    await mirror.drain(30_000);
    assert.deepEqual(await pgRows(db.url, 'cam1'), localRows(index));

    // A crash after PostgreSQL committed a batch but before the local outbox forgot it: the entries are
    // still queued locally. Re-queue an applied entry (its old sequence) that would remove a segment if
    // it were applied again: it is forgotten, not applied.
    const victim = rows[2];
    const applied = Number((await queryOne(db.url, "SELECT applied_seq FROM mirror_progress WHERE node = 'node-a' AND camera = 'cam1'")).applied_seq);
    index.db.prepare("INSERT INTO pg_outbox(seq, kind, path) VALUES (?, 'seg-del', ?)").run(applied, victim.path);
    await mirror.drain(30_000);
    assert.deepEqual(await pgRows(db.url, 'cam1'), localRows(index), 'the applied entry was not applied twice');
    assert.ok((await pgRows(db.url, 'cam1')).segments.some((r) => r.startsWith(`${victim.path}|`)));
  });

  it("each camera's totals: filled from the rows already there when the step runs, then kept by the changes' triggers", async (t) => {
    const db = await freshDatabase(pgUrl, 'totals');
    const pool = new pg.Pool({ connectionString: db.url });
    pool.on('error', () => undefined); // its idle connections are ended when the database is dropped
    t.after(async () => {
      await pool.end(); // whatever failed: a pool left open keeps the test process alive
      await db.drop();
    });
    // A catalog of the version before: two cameras' rows, one segment without a fragment (not counted, as locally).
    assert.deepEqual(await migratePg(pool, PG_MIGRATIONS.filter((m) => m.version <= 6)), [1, 2, 3, 4, 5, 6]);
    const index = indexWith(12);
    index.addGap(5n, 7n, 'ingest restart');
    const rows = index.oldestSealed(12);
    index.db.prepare('UPDATE segments SET fragments = 0 WHERE id = ?').run(rows[0].id);
    const client = await pool.connect();
    try {
      for (const cam of ['cam1', 'cam2']) {
        await client.query('INSERT INTO cameras(name, clock_base_epoch_ms, created_ms) VALUES ($1, 0, 0)', [cam]);
        await upsertSegments(client, cam, 'node-a', cam === 'cam1' ? index.oldestSealed(12).map((r) => ({ ...r, fragments: r.id === rows[0].id ? 0 : r.fragments })) : rows.slice(0, 2));
      }
      await upsertGaps(client, 'cam1', index.db.prepare<[], never>('SELECT * FROM gaps').all());
    } finally {
      client.release();
    }
    assert.deepEqual(await migratePg(pool), [7, 8]);
    const totals = async () => (await pool.query<Record<string, string>>('SELECT camera, segments, segment_bytes, gaps FROM camera_totals ORDER BY camera')).rows;
    assert.deepEqual(await totals(), [
      { camera: 'cam1', segments: '11', segment_bytes: String(11 * 1000), gaps: '1' },
      { camera: 'cam2', segments: '2', segment_bytes: '2000', gaps: '0' },
    ]);
    // Kept from then on, one row per camera whatever a statement changed: a copy's batch, a segment growing,
    // one gaining its first fragment, deletions.
    const mirror = new PgMirror({ url: db.url, log: silentLogger, node: 'node-a' });
    t.after(() => mirror.close());
    mirror.attach({ name: 'cam1', db: index.db, clockBaseEpochMs: () => 0 });
    mirror.start();
    await mirror.drain(30_000);
    index.db.prepare('UPDATE segments SET fragments = 1 WHERE id = ?').run(rows[0].id);
    index.db.prepare('UPDATE segments SET bytes = bytes + 500 WHERE id = ?').run(rows[1].id);
    index.deleteSegment(rows[2].id);
    fillIndex(index, 3, 1_000_000_000_000n);
    index.addGap(9n, 11n, 'camera offline');
    await mirror.drain(30_000);
    assert.deepEqual((await pgRows(db.url, 'cam1')).totals, localRows(index).totals);
    assert.deepEqual(localRows(index).totals, [`14|${14 * 1000 + 500}|2`]);
    assert.deepEqual((await totals())[1], { camera: 'cam2', segments: '2', segment_bytes: '2000', gaps: '0' }, 'another camera is not touched');
    await waitFor('/health totals read', () => mirror.status('cam1').totals?.segments === 14 || null, 15_000);
    assert.equal(mirror.status('cam1').totals?.bytes, 14 * 1000 + 500);
  });

  it('clip jobs outside a cluster: each job and its outcome reach clip_jobs, claimed for ever by its node; pruned ones leave it; a cluster keeps its own', async (t) => {
    const db = await freshDatabase(pgUrl, 'jobs');
    t.after(() => db.drop());
    const index = indexWith(3);
    const jobs = new JobStore(index.db, 'clip-cam1-');
    const spec: ClipSpec = { mode: 'pts', startPtsNs: 1n, stopPtsNs: 1n << 60n, label: 'door', outDir: null, filename: null, maxWaitMs: 5000 };
    const made = [0, 1, 2].map((i) => jobs.create(spec, { startPtsNs: BigInt(i + 1), stopPtsNs: 1n << 60n }, '/clips', 1_000 + i));
    jobs.markRunning(made[0].clipId);
    jobs.finish(jobs.endOf(made[1], 'error', null, 'no segments overlap requested window'));
    const mirror = new PgMirror({ url: db.url, log: silentLogger, node: 'node-a' });
    t.after(() => mirror.close());
    mirror.attach({ name: 'cam1', db: index.db, clockBaseEpochMs: () => 0 });
    await mirror.drain(30_000);
    assert.equal(localRows(index).jobs.length, 3);
    assert.deepEqual((await pgRows(db.url, 'cam1')).jobs, localRows(index).jobs, 'the jobs there before the catalog: copied');
    const row = await queryOne(db.url, "SELECT node, claim_expires_at = 'infinity' AS forever, start_pts_ns, spec FROM clip_jobs WHERE clip_id = 'clip-cam1-0000000000000001'");
    assert.deepEqual([row.node, row.forever, row.start_pts_ns], ['node-a', true, '1']);
    assert.equal(row.spec, index.db.prepare<[], { spec: string }>('SELECT spec FROM jobs WHERE seq = 1').get()!.spec, 'the spec as recorded (exact PTS)');
    jobs.finish(jobs.endOf(made[0], 'done', {
      path: '/clips/a.mp4', actual_start_pts_ns: 1n << 55n, actual_stop_pts_ns: (1n << 55n) + 1n, lead_in_ms: 0, duration_ms: 2000, frames: 30, bytes: 1,
      segments: ['x.mp4'], gaps: [], partial: false, partial_reason: null, audio: false,
    }, null));
    const later = jobs.create(spec, { startPtsNs: 9n, stopPtsNs: 10n }, '/clips', 2_000);
    assert.equal(jobs.pruneFinished(Date.now() + 1000, 10), 1, 'the failed job is pruned');
    await mirror.drain(30_000);
    assert.deepEqual((await pgRows(db.url, 'cam1')).jobs, localRows(index).jobs, 'changes and pruning applied');
    assert.ok((await pgRows(db.url, 'cam1')).jobs.some((r) => r.startsWith(`${later.clipId}|queued|`)));
    // The same index on a cluster node: its jobs are the cluster's (cluster/pg-jobs.ts), nothing is journalled for them.
    await mirror.close();
    const outbox = new PgOutbox(index.db);
    jobs.markRunning(later.clipId);
    assert.ok(outbox.count() > 0);
    assert.equal(outbox.enable(new PgMirror({ url: db.url, log: silentLogger, node: 'x' }).description, false), false, 'no new copy');
    assert.deepEqual(outbox.batch(0, 100).filter((e) => e.kind.startsWith('job')), [], 'what was journalled for the jobs is dropped');
    jobs.finish(jobs.endOf(later, 'error', null, 'x'));
    assert.equal(outbox.count(), 0, 'and nothing more is');
  });

  it('any mix of changes — the same path deleted and recorded again, gaps removed and added back — applied in runs, leaves PostgreSQL equal to the index', async (t) => {
    const db = await freshDatabase(pgUrl, 'mix');
    t.after(() => db.drop());
    const index = indexWith(10);
    const mirror = new PgMirror({ url: db.url, log: silentLogger, node: 'node-a' });
    t.after(() => mirror.close());
    mirror.attach({ name: 'cam1', db: index.db, clockBaseEpochMs: () => 0 });
    await mirror.drain(30_000);
    let state = 12345;
    const rnd = (n: number) => { state = (state * 1103515245 + 12345) % 2147483648; return state % n; };
    const bases = [1n, 2n, 3n, 4n, 5n].map((k) => k * 1_000_000_000_000n);
    const entries = new PgOutbox(index.db);
    let applied = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 60; i++) {
        const op = rnd(5);
        const rows = index.oldestSealed(1000);
        if (op === 0) {
          try { // a path recorded again after its deletion (one still there is refused, rolled back)
            fillIndex(index, 1 + rnd(3), bases[rnd(bases.length)] + BigInt(rnd(4)) * 10_000_000_000n);
          } catch (err) {
            assert.equal((err as { code?: string }).code, 'SQLITE_CONSTRAINT_UNIQUE');
          }
        } else if (op === 1 && rows.length > 0) index.deleteSegment(rows[rnd(rows.length)].id);
        else if (op === 2) {
          const [x, y] = [BigInt(rnd(20)), 100n + BigInt(rnd(3))];
          if (index.gapsIn(0n, 1000n).every((g) => g.start_pts_ns !== x || g.stop_pts_ns !== y)) index.addGap(x, y, `gap ${rnd(3)}`);
        }
        else if (op === 3) index.db.prepare('DELETE FROM gaps WHERE id IN (SELECT id FROM gaps ORDER BY random() LIMIT 1)').run();
        else if (rows.length > 0) index.db.prepare('UPDATE segments SET bytes = bytes + 1 WHERE id = ?').run(rows[rnd(rows.length)].id);
      }
      applied += entries.count();
      await mirror.drain(30_000);
      assert.deepEqual(await pgRows(db.url, 'cam1'), localRows(index), `round ${round}`);
    }
    assert.ok(applied > 300, `${applied} changes applied`);
  });

  it('a producer stopping its catalog: the outbox stops filling (nothing queued for nobody)', () => {
    const index = indexWith(5);
    const outbox = new PgOutbox(index.db);
    assert.equal(outbox.enable('postgres://x/y', true), true, 'a first copy of the index starts');
    assert.deepEqual(outbox.copyCursor(), { segmentId: 0, gapId: 0 });
    assert.equal(outbox.count(), 0, 'enabling queues nothing (the copy reads the tables)');
    assert.equal(outbox.copyLeft(), 5);
    index.addGap(1n, 2n, 'x');
    assert.equal(outbox.count(), 1, 'a change is queued');
    assert.equal(outbox.enable('postgres://x/y', true), false, 'the same catalog again: no new copy');
    outbox.disable();
    index.addGap(3n, 4n, 'x');
    assert.equal(outbox.count(), 0);
    assert.equal(outbox.copyCursor(), null);
    assert.equal(outbox.enable('postgres://x/y', true), true, 'enabled again: everything is copied again');
  });

  it('the first copy of a long history: enabling queues nothing, batches by id; stopped halfway, it resumes, and changes made meanwhile are applied after it', async (t) => {
    const db = await freshDatabase(pgUrl, 'copy');
    t.after(() => db.drop());
    const index = indexWith(2000);
    for (let i = 0; i < 30; i++) index.addGap(BigInt(i) * 7n + 1n, BigInt(i) * 7n + 3n, `gap ${i}`);
    const camera = { name: 'cam1', db: index.db, clockBaseEpochMs: () => 1_700_000_000_000 };
    const first = new PgMirror({ url: db.url, log: silentLogger, node: 'node-a', copySegments: 25 });
    first.attach(camera);
    assert.equal(new PgOutbox(index.db).count(), 0, 'nothing queued: the copy reads the tables');
    const outbox = new PgOutbox(index.db);
    // Stopped halfway (as a process stopped or killed between two batches would be).
    await waitFor('a part of the copy sent', () => (outbox.copyCursor()?.segmentId ?? 0) > 500 || null, 60_000, 5);
    await first.close();
    const cursor = outbox.copyCursor();
    assert.ok(cursor && cursor.segmentId < 2000, `halfway: ${JSON.stringify(cursor)}`);
    const sentRows = await pgRows(db.url, 'cam1');
    assert.ok(sentRows.segments.length >= cursor.segmentId && sentRows.segments.length < 2000, `${sentRows.segments.length} segments sent so far`);
    // Changes meanwhile: one segment removed that was sent, one that was not, a gap removed, one added, a new segment.
    const rows = index.oldestSealed(2000);
    index.deleteSegment(rows[10].id);
    index.deleteSegment(rows[1900].id);
    index.db.prepare('DELETE FROM gaps WHERE reason = ?').run('gap 3');
    index.addGap(1_000_000n, 1_000_005n, 'camera offline');
    fillIndex(index, 1, 30_000_000_000_000n);
    const second = new PgMirror({ url: db.url, log: silentLogger, node: 'node-a', copySegments: 25 });
    t.after(() => second.close());
    second.attach(camera);
    await second.drain(120_000);
    assert.equal(outbox.copyCursor(), null, 'the copy is done');
    assert.deepEqual(await pgRows(db.url, 'cam1'), localRows(index));
    assert.equal(second.status('cam1').backlog, 0);
  });
});

async function queryOne(url: string, sql: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<Record<string, string>>(sql)).rows[0];
  } finally {
    await c.end();
  }
}

describe('PostgreSQL restarted while recording', () => {
  const tmp = tempDir();
  let pgs: Awaited<ReturnType<typeof startPrivatePostgres>>;
  let p: Awaited<ReturnType<typeof startTestProducer>>;

  before(async () => {
    requireServices();
    pgs = await startPrivatePostgres();
    p = await startTestProducer(tmp.dir, { catalog: pgs.url, segmentSeconds: 1 });
  });
  after(async () => {
    await p?.close();
    await pgs?.destroy();
    tmp.cleanup();
  });

  it('records on into the local index, says degraded with the backlog, and applies everything when it is back', async () => {
    const health = async () => (await getJson<HealthWire>(`${p.url}/health`)).body;
    await waitFor('segments in PostgreSQL', async () => (await pgRows(pgs.url, 'default')).segments.length >= 2, 30_000);
    const h0 = await health();
    assert.equal(h0.catalog?.status, 'ok');
    assert.doesNotMatch(JSON.stringify(h0), /segrec:segrec@/, 'no password in /health');
    assert.match(h0.catalog!.location, /^postgres:\/\/\S*127\.0\.0\.1:\d+\/segrec$/);
    await pgs.stop();
    const degraded = await waitFor('degraded with a backlog', async () => {
      const h = await health();
      return h.catalog?.status === 'degraded' && h.catalog.backlog > 10 ? h : null;
    }, 30_000);
    assert.equal(degraded.ingest.state, 'running', 'recording goes on');
    const localDuring = localRows(p.producer.index).segments.length;
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok(localRows(p.producer.index).segments.length > localDuring, 'segments keep being recorded');
    await pgs.start();
    await waitFor('the backlog applied', async () => {
      const h = await health();
      return h.catalog?.status === 'ok' && h.catalog.backlog === 0;
    }, 60_000);
    // Compared at a quiet moment: the catalog caught up, and nothing queued since.
    await waitFor('PostgreSQL equals the local index', async () => {
      const local = localRows(p.producer.index);
      const remote = await pgRows(pgs.url, 'default');
      return JSON.stringify(local) === JSON.stringify(remote);
    }, 20_000, 50);
    // /health says what PostgreSQL holds (its maintained totals), the same as the local index once caught up.
    await waitFor('/health: the catalog totals equal the local ones', async () => {
      const h = await health();
      return h.catalog?.totals?.segments === h.segments.count && h.catalog.totals.gaps === h.segments.gaps || null;
    }, 20_000, 50);
    assert.ok(!p.logs.some((l) => l.includes('segrec:segrec@')), 'no password in the logs');
  });
});
