// The catalog on a real PostgreSQL (--catalog postgres://…): every row of the local index (segments,
// fragments, gaps — the history already there included) reaches PostgreSQL exactly; PostgreSQL stopped
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

  it('a producer stopping its catalog: the outbox stops filling (nothing queued for nobody)', () => {
    const index = indexWith(5);
    const outbox = new PgOutbox(index.db);
    assert.equal(outbox.enable('postgres://x/y'), true, 'a first copy of the index starts');
    assert.deepEqual(outbox.copyCursor(), { segmentId: 0, gapId: 0 });
    assert.equal(outbox.count(), 0, 'enabling queues nothing (the copy reads the tables)');
    assert.equal(outbox.copyLeft(), 5);
    index.addGap(1n, 2n, 'x');
    assert.equal(outbox.count(), 1, 'a change is queued');
    assert.equal(outbox.enable('postgres://x/y'), false, 'the same catalog again: no new copy');
    outbox.disable();
    index.addGap(3n, 4n, 'x');
    assert.equal(outbox.count(), 0);
    assert.equal(outbox.copyCursor(), null);
    assert.equal(outbox.enable('postgres://x/y'), true, 'enabled again: everything is copied again');
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
    assert.ok(!p.logs.some((l) => l.includes('segrec:segrec@')), 'no password in the logs');
  });
});
