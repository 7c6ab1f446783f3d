// What keeps answers independent of history size, on in-memory indexes with synthetic rows: the totals
// the triggers maintain always equal a count of the tables (through every kind of change, and when the
// step fills them on an existing database), pages of segments walk the whole window exactly once newest
// first, and the queries behind /health, /segments and /clips use indexes, never a scan of the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { migrate, MIGRATIONS } from '../../src/producer/store/migrations.js';
import { SegmentIndex } from '../../src/producer/store/catalog.js';
import { JobStore } from '../../src/producer/store/job-store.js';
import type { ClipSpec } from '../../src/producer/clips/clip-request.js';
import { join } from 'node:path';
import { openDatabase } from '../../src/producer/store/catalog.js';
import { PinSet, Retention, RETENTION_BATCH } from '../../src/producer/segments/retention.js';
import { ClipRetention } from '../../src/producer/clips/clip-retention.js';
import { silentLogger } from '../../src/common/log.js';
import { tempDir } from '../helpers/media.js';
import { at, BASE_EPOCH, CENTURY_NS, fillIndex, indexWith } from '../helpers/synthetic-index.js';
import { PTS_MAX } from '../../src/protocol/pts.js';

type Counted = { segments: number; bytes: number; gaps: number; jobs: Record<string, number> };

function counted(db: Database.Database): Counted {
  const s = db.prepare<[], { n: number; b: number | null }>('SELECT COUNT(*) AS n, SUM(bytes) AS b FROM segments WHERE fragments > 0').get()!;
  const jobs: Record<string, number> = { queued: 0, running: 0, done: 0, error: 0 };
  for (const r of db.prepare<[], { status: string; n: number }>('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all()) jobs[r.status] = r.n;
  return { segments: s.n, bytes: s.b ?? 0, gaps: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM gaps').get()!.n, jobs };
}

function maintained(index: SegmentIndex, jobs: JobStore): Counted {
  const st = index.stats();
  return { segments: st.count, bytes: st.bytes, gaps: index.gapCount(), jobs: jobs.countsByStatus() };
}

const spec = (): ClipSpec => ({ mode: 'pts', label: null, outDir: null, filename: null, maxWaitMs: 0 } as unknown as ClipSpec);

test('the maintained totals equal a count of the tables through every kind of change', () => {
  const index = indexWith(40);
  const jobs = new JobStore(index.db);
  const check = (what: string) => assert.deepEqual(maintained(index, jobs), counted(index.db), what);
  check('after inserts');
  // An empty (just opened) segment is not counted until its first fragment.
  const id = index.insertSegment({
    path: '2026-01-01/x.mp4', run_id: 2, start_pts_ns: at(400), start_epoch_ms: BASE_EPOCH, offset_ns: 0n, anchor_epoch_ms: BASE_EPOCH,
    anchor_pts_ns: 0n, bytes: 77, init_size: 77, codec: 'h264', codec_string: 'avc1', width: 1, height: 1, fps: 1, has_audio: 0,
    description_key: 'k', created_ms: 0,
  });
  check('an empty segment');
  index.addFragment({ segment_id: id, seq: 0, start_pts_ns: at(400), stop_pts_ns: at(401), offset: 77, size: 10, moof_size: 5, samples: 1, keyframe: 1, crc: 0 },
    { bytes: 87, frames: 1, startEpochMs: BASE_EPOCH, stopEpochMs: BASE_EPOCH + 1000 });
  check('its first fragment');
  index.replaceFragments(id, [], { start_pts_ns: at(400), stop_pts_ns: at(400), start_epoch_ms: BASE_EPOCH, stop_epoch_ms: BASE_EPOCH, bytes: 5, frames: 0 });
  check('its fragments replaced by none');
  index.deleteSegment(id);
  index.deleteSegment(3);
  check('deletes');
  index.addGap(1n, 2n, 'x');
  index.addGap(3n, 4n, 'y');
  check('gaps added');
  index.db.prepare('DELETE FROM gaps WHERE reason = ?').run('x');
  check('a gap removed');
  const a = jobs.create(spec(), { startPtsNs: 0n, stopPtsNs: at(1) }, '/tmp', 1);
  const b = jobs.create(spec(), { startPtsNs: 0n, stopPtsNs: at(1) }, '/tmp', 2);
  jobs.markRunning(a.clipId);
  jobs.finish(jobs.endOf(a, 'done', null, null));
  jobs.finish(jobs.endOf(b, 'error', null, 'no'));
  check('jobs through their states');
  index.db.prepare('DELETE FROM jobs WHERE clip_id = ?').run(a.clipId);
  check('a job removed');
});

test('the totals step fills the totals from the rows of an existing database', () => {
  const db = new Database(':memory:');
  migrate(db, { steps: MIGRATIONS.filter((m) => m.version <= 5) });
  const fresh = indexWith(25);
  // The columns the old schema has (later steps add more).
  const cols = db.prepare<[], { name: string }>('PRAGMA table_info(segments)').all().map((c) => c.name);
  for (const r of fresh.db.prepare<[], Record<string, unknown>>('SELECT * FROM segments').all()) {
    const row = Object.fromEntries(cols.map((k) => [k, r[k]]));
    db.prepare(`INSERT INTO segments (${cols.join(',')}) VALUES (${cols.map((k) => `@${k}`).join(',')})`).run(row);
  }
  db.prepare("INSERT INTO gaps (start_pts_ns, stop_pts_ns, reason, created_ms) VALUES (1, 2, 'g', 0)").run();
  db.prepare(`INSERT INTO jobs (seq, clip_id, status, spec, start_pts_ns, stop_pts_ns, out_dir, created_ms, updated_ms, deadline_ms)
    VALUES (1, 'clip-0000000000000001', 'done', '{}', 0, 1, '/tmp', 0, 0, 0)`).run();
  migrate(db);
  assert.deepEqual(maintained(new SegmentIndex(db), new JobStore(db)), counted(db));
  assert.deepEqual(counted(db).segments, 25);
});

for (const [clock, base] of [['0', 0n], ['100 years', CENTURY_NS]] as const) {
  test(`pages of segments walk a window newest first, each page in time order, every segment exactly once (clock at ${clock})`, () => {
    const index = indexWith(1000, base);
    for (const [from, to, limit] of [[base, PTS_MAX, 64], [at(1234, base), at(5678, base), 100], [at(95, base), at(105, base), 1], [at(20, base), at(30, base), 5]] as const) {
      const want = index.overlapping(from, to).map((s) => s.id);
      const got: number[] = [];
      let before: { startPtsNs: bigint; id: number } | null = null;
      let pages = 0;
      for (;;) {
        const { rows, more } = index.overlappingPage(from, to, limit, before);
        pages++;
        assert.ok(rows.length <= limit);
        for (let i = 1; i < rows.length; i++) assert.ok(rows[i].start_pts_ns > rows[i - 1].start_pts_ns, 'a page is in time order');
        if (got.length > 0 && rows.length > 0) assert.ok(rows[rows.length - 1].id < got[0], 'each page is older than the one before');
        got.unshift(...rows.map((r) => r.id));
        if (!more) break;
        before = { startPtsNs: rows[0].start_pts_ns, id: rows[0].id };
      }
      assert.deepEqual(got, want, `[${from}, ${to}) by ${limit}`);
      assert.equal(pages, Math.max(1, Math.ceil(want.length / limit)));
    }
  });
}

test('the queries behind /health, /segments, /clips and retention use indexes, never a scan of a table', () => {
  const index = indexWith(10);
  const plan = (sql: string, ...args: unknown[]) =>
    index.db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all(...args).map((r) => r.detail).join(' | ');
  const cases: Array<[string, string, unknown[]]> = [
    ['stats', `SELECT (SELECT start_pts_ns FROM segments WHERE fragments > 0 ORDER BY start_pts_ns LIMIT 1),
      (SELECT stop_pts_ns FROM segments WHERE fragments > 0 ORDER BY stop_pts_ns DESC LIMIT 1),
      (SELECT stop_epoch_ms FROM segments WHERE fragments > 0 ORDER BY stop_epoch_ms DESC LIMIT 1)`, []],
    ['unsealed', 'SELECT * FROM segments WHERE sealed = 0 ORDER BY id', []],
    ['max run', 'SELECT MAX(run_id) FROM segments', []],
    ['day', 'SELECT path FROM segments WHERE path >= ? AND path < ?', ['a', 'b']],
    ['jobs', 'SELECT * FROM jobs WHERE (created_ms, clip_id) < (?, ?) ORDER BY created_ms DESC, clip_id DESC LIMIT 5', [1, 'x']],
    ['jobs by status', "SELECT * FROM jobs WHERE status = 'done' AND (created_ms, clip_id) < (?, ?) ORDER BY created_ms DESC, clip_id DESC LIMIT 5", [1, 'x']],
  ];
  for (const [what, sql, args] of cases) {
    const p = plan(sql, ...args);
    // A walk down an index in order is fine where a LIMIT stops it, and so is one of a partial index
    // (it holds only the rows it names); anything else must be a SEARCH.
    const walks = (/\bLIMIT\b/.test(sql) ? p.replace(/SCAN \w+ USING (COVERING )?INDEX \w+/g, 'ORDERED WALK') : p)
      .replace('SCAN CONSTANT ROW', '').replace('SCAN segments USING INDEX segments_unsealed', 'PARTIAL INDEX');
    assert.doesNotMatch(walks, /\bSCAN\b/, `${what}: ${p}`);
    assert.doesNotMatch(p, /USE TEMP B-TREE/, `${what} sorts nothing: ${p}`);
  }
  assert.match(plan('SELECT COUNT(*) FROM segments'), /\bSCAN\b/, 'the check sees a scan');
  // A clip's fragments, in one statement: a range of the start index, each segment's fragments by key, no sort.
  const windowed = plan((index as unknown as { stmts: Record<string, { source: string }> }).stmts.fragmentsInWindow.source, { from: 0n, to: 50_000_000_000n });
  assert.doesNotMatch(windowed, /\bSCAN\b|TEMP B-TREE/, windowed);
});

test('records of old finished jobs without a clip are pruned in batches; published clips and recent jobs stay', () => {
  const index = indexWith(1);
  const jobs = new JobStore(index.db);
  const day = 24 * 3600_000;
  const now = 100 * day;
  const made: string[] = [];
  for (let i = 0; i < 2500; i++) {
    const j = jobs.create(spec(), { startPtsNs: 0n, stopPtsNs: at(1) }, '/tmp', 1);
    made.push(j.clipId);
    jobs.finish(jobs.endOf(j, 'error', null, 'no footage'));
  }
  const published = jobs.create(spec(), { startPtsNs: 0n, stopPtsNs: at(1) }, '/tmp', 1);
  jobs.finish(jobs.endOf(published, 'done', { path: '/tmp/x.mp4' } as never, null));
  const queued = jobs.create(spec(), { startPtsNs: 0n, stopPtsNs: at(1) }, '/tmp', 1);
  // All of them finished long ago…
  index.db.prepare('UPDATE jobs SET updated_ms = ?').run(now - 60 * day);
  // …but one failed only yesterday.
  index.db.prepare('UPDATE jobs SET updated_ms = ? WHERE clip_id = ?').run(now - day, made[7]);
  const r = new ClipRetention({ store: jobs, clipRoots: [], maxAgeMs: null, log: silentLogger });
  assert.equal(r.pruneRecords(now), 1000, 'one batch');
  assert.equal(r.pruneRecords(now), 1000);
  assert.equal(r.pruneRecords(now), 499, 'the rest but the recent one');
  assert.equal(r.pruneRecords(now), 0);
  assert.ok(jobs.get(made[7]), 'a recent failure is kept');
  assert.ok(jobs.get(published.clipId), 'a job whose clip is published is kept');
  assert.ok(jobs.get(queued.clipId), 'an unfinished job is kept');
  assert.deepEqual(jobs.countsByStatus(), { queued: 1, running: 0, done: 1, error: 1 });
});

test('retention removes a backlog in batches, and a new index gives the freed pages back to the disk', () => {
  const tmp = tempDir();
  try {
    const index = new SegmentIndex(openDatabase(join(tmp.dir, 'index.sqlite')));
    fillIndex(index, 4000);
    const pages = () => index.db.pragma('page_count', { simple: true }) as number;
    const full = pages();
    const r = new Retention({ index, segmentsDir: tmp.dir, pins: new PinSet(), log: silentLogger, limits: { maxAgeMs: null, maxBytes: 200 * 1000, minFreeBytes: null } });
    const sizes: number[] = [];
    do sizes.push(r.run(BASE_EPOCH).length); while (r.more);
    assert.deepEqual([...new Set(sizes.slice(0, -1))], [RETENTION_BATCH], 'full batches while more are due');
    assert.equal(sizes.reduce((a, b) => a + b, 0), 3800);
    assert.equal(index.stats().count, 200);
    assert.ok(pages() < full / 4, `the index shrank: ${full} → ${pages()} pages`);
  } finally {
    tmp.cleanup();
  }
});

test('pruning old job records and clip retention read only the records they may touch', () => {
  const index = indexWith(1);
  const p = index.db.prepare<[], { detail: string }>(`EXPLAIN QUERY PLAN SELECT seq FROM jobs INDEXED BY jobs_prunable
    WHERE updated_ms < 5 AND status IN ('done', 'error') AND (outcome IS NULL OR json_extract(outcome, '$.path') IS NULL)
    ORDER BY updated_ms LIMIT 10`).all().map((r) => r.detail).join(' | ');
  assert.match(p, /SEARCH jobs USING INDEX jobs_prunable \(updated_ms<\?\)/, p);
  assert.doesNotMatch(p, /TEMP B-TREE/, p);
  // The statements the job store prepares are those: pruning, and clip retention's page of published clips.
  const stmts = (new JobStore(index.db) as unknown as { s: Record<string, { source: string }> }).s;
  assert.match(stmts.pruneFinished.source, /INDEXED BY jobs_prunable/);
  assert.match(stmts.publishedBefore.source, /INDEXED BY jobs_published/);
  const q = index.db.prepare<[], { detail: string }>(`EXPLAIN QUERY PLAN ${stmts.publishedBefore.source.replace(/\?/g, '1')}`).all().map((r) => r.detail).join(' | ');
  assert.match(q, /SEARCH jobs USING INDEX jobs_published/, q);
  assert.doesNotMatch(q, /TEMP B-TREE/, q);
});

// The plain overlap query (every gap before the window read): what gapsIn and pruneGaps must agree with.
const OLD_GAPS_IN = 'SELECT * FROM gaps NOT INDEXED WHERE stop_pts_ns > ? AND start_pts_ns < ? ORDER BY start_pts_ns, id';
const OLD_PRUNABLE = 'SELECT id FROM gaps NOT INDEXED WHERE stop_pts_ns <= (SELECT MIN(start_pts_ns) FROM segments) ORDER BY id';

/** A deterministic PRNG (mulberry32): the same gap sets at every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const [clock, base] of [['0', 0n], ['100 years', CENTURY_NS]] as const) {
  test(`the gaps of a window and the gaps pruned are those the plain queries find, on random gap sets (clock at ${clock})`, () => {
    for (let seed = 1; seed <= 12; seed++) {
      const rnd = prng(seed);
      const int = (n: number) => Math.floor(rnd() * n);
      const index = indexWith(0);
      const span = 1 + int(5000);
      // Short gaps (some overlapping, some touching, some empty), now and then a very long one; ns-exact
      // offsets so that values past 2^53 must stay exact.
      index.db.transaction(() => {
        for (let i = 0, n = int(300); i < n; i++) {
          const start = at(int(span), base) + BigInt(int(1000));
          const len = rnd() < 0.02 ? at(span * (0.2 + rnd())) : rnd() < 0.05 ? 0n : BigInt(1 + int(3_000_000_000));
          index.addGap(start, start + len, `g${i}`);
        }
      })();
      const old = index.db.prepare<[bigint, bigint], Record<string, unknown>>(OLD_GAPS_IN).safeIntegers(true);
      const key = (g: { id: unknown; start_pts_ns: unknown; stop_pts_ns: unknown } | Record<string, unknown>) => `${Number(g.id)}:${g.start_pts_ns}:${g.stop_pts_ns}`;
      for (let q = 0; q < 60; q++) {
        const from = at(int(span + 20) - 10, base) + BigInt(int(1000));
        const to = q % 10 === 0 ? PTS_MAX : from + BigInt(int(q % 3 === 0 ? 3 : 400)) * 1_000_000_000n + BigInt(int(1000));
        const got = index.gapsIn(from, to);
        assert.deepEqual(got.map(key), old.all(from, to).map(key), `seed ${seed}: [${from}, ${to})`);
        for (const g of got) assert.equal(typeof g.start_pts_ns, 'bigint');
      }
      // Pruning: the footage's oldest start moves forward; each pass removes exactly what the plain query names.
      const remaining = () => index.db.prepare<[], { id: number }>('SELECT id FROM gaps ORDER BY id').all().map((r) => r.id);
      for (const sec of [int(span / 3), int(span / 2), span]) {
        fillSegmentAt(index, at(sec, base) + BigInt(int(1000)));
        const due = index.db.prepare<[], { id: number }>(OLD_PRUNABLE).all().map((r) => r.id);
        const want = remaining().filter((id) => !due.includes(id));
        assert.equal(index.pruneGaps(), due.length, `seed ${seed}: pruned at ${sec} s`);
        assert.deepEqual(remaining(), want);
        assert.equal(index.gapCount(), want.length, 'the maintained count follows');
      }
      index.db.close();
    }
  });
}

/** Makes `start` the oldest segment start (the only segment). */
function fillSegmentAt(index: SegmentIndex, start: bigint): void {
  index.db.prepare('DELETE FROM segments').run();
  index.insertSegment({
    path: `2026-01-01/${start}.mp4`, run_id: 1, start_pts_ns: start, start_epoch_ms: BASE_EPOCH, offset_ns: 0n, anchor_epoch_ms: BASE_EPOCH,
    anchor_pts_ns: start, bytes: 100, init_size: 100, codec: 'h264', codec_string: 'avc1', width: 1, height: 1, fps: 1, has_audio: 0,
    description_key: 'k', created_ms: 0,
  });
}

test('gap lookups and gap pruning read a range of the start index, the longest gap one step down the length index', () => {
  const index = indexWith(10);
  const stmts = (index as unknown as { stmts: Record<'gapsIn' | 'pruneGaps', { source: string }> }).stmts;
  const plan = (sql: string) => index.db.prepare<[{ from: bigint; to: bigint }], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
    .all({ from: 1n, to: 2n }).map((r) => r.detail).join(' | ');
  const g = plan(stmts.gapsIn.source);
  assert.match(g, /SEARCH gaps USING INDEX gaps_start \(start_pts_ns>\? AND start_pts_ns<\?\)/, g);
  assert.match(g, /SEARCH gaps USING COVERING INDEX gaps_length/, g);
  assert.doesNotMatch(g, /\bSCAN\b|TEMP B-TREE/, g);
  const p = plan(stmts.pruneGaps.source);
  assert.match(p, /SEARCH gaps USING INDEX gaps_start \(start_pts_ns<\?\)/, p);
  assert.doesNotMatch(p, /\bSCAN\b/, p);
  // Through those ranges, on many gaps and one long one: the gaps of a window near the newest.
  index.db.transaction(() => {
    for (let i = 0; i < 20_000; i++) index.addGap(at(i * 10), at(i * 10 + (i === 7 ? 100 : 1)), 'r');
  })();
  assert.deepEqual(index.gapsIn(at(150_000), at(150_100)).map((r) => Number(r.start_pts_ns / 1_000_000_000n)),
    [150_000, 150_010, 150_020, 150_030, 150_040, 150_050, 150_060, 150_070, 150_080, 150_090]);
  assert.deepEqual(index.gapsIn(at(150), at(151)).map((r) => Number(r.start_pts_ns / 1_000_000_000n)), [70, 150], 'the long gap reaches in');
  index.db.close();
});
