// Catalog benchmark (issue 13): pointing a producer that already holds history at PostgreSQL. An index
// of `--days` of one camera's footage (10 s segments of ten 1 s fragments, as the producer writes them)
// is built on disk; a private PostgreSQL is started; then, measured in the same run:
//   - enabling the catalog on that index (what the camera's start waits for) — today's first copy
//     (a cursor, nothing queued) against queuing every row in the outbox as before (the same SQL, rolled back);
//   - the first copy to PostgreSQL: rows per second, and the longest event-loop stall while it runs
//     (ingest and HTTP share that loop);
//   - the outbox path on a recording's journal (each fragment, then its segment's update), applied in runs
//     (a statement per table per run) against the same entries applied one statement each (the path before).
//   npx tsx bench/catalog.ts [--days 3]
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fmt } from './lib.js';
import { startPrivatePostgres } from '../test/helpers/services.js';
import { openDatabase, SegmentIndex } from '../src/producer/store/catalog.js';
import { PgMirror } from '../src/producer/store/pg-mirror.js';
import { PgOutbox } from '../src/producer/store/pg-outbox.js';
import { upsertFragments, upsertSegments } from '../src/producer/store/pg-upserts.js';
import pg from 'pg';
import { silentLogger } from '../src/common/log.js';

const days = Number(process.argv[process.argv.indexOf('--days') + 1]) || 3;
const SEGMENT_S = 10;
const FRAGMENTS = 10;
const root = join(process.cwd(), '.tmp', 'bench-catalog');
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });

// ---- the index -------------------------------------------------------------------------------------
const segments = Math.round((days * 86_400) / SEGMENT_S);
const index = new SegmentIndex(openDatabase(join(root, 'index.sqlite')));
let t = performance.now();
const BASE_EPOCH = 1_764_000_000_000;
for (let from = 0; from < segments; from += 10_000) {
  index.db.transaction(() => {
    for (let i = from; i < Math.min(segments, from + 10_000); i++) {
      const start = BigInt(i) * BigInt(SEGMENT_S * 1e9);
      const epoch = BASE_EPOCH + i * SEGMENT_S * 1000;
      const id = index.insertSegment({
        path: `${new Date(epoch).toISOString().slice(0, 10)}/${start}.mp4`, run_id: 1, start_pts_ns: start, start_epoch_ms: epoch, offset_ns: 0n,
        anchor_epoch_ms: epoch, anchor_pts_ns: start, bytes: 0, init_size: 700, codec: 'h264', codec_string: 'avc1.640028',
        width: 1920, height: 1080, fps: 30, has_audio: 1, description_key: 'k', created_ms: epoch,
      });
      for (let k = 0; k < FRAGMENTS; k++) {
        const fs = start + BigInt(k) * 1_000_000_000n;
        index.addFragment(
          { segment_id: id, seq: k, start_pts_ns: fs, stop_pts_ns: fs + 1_000_000_000n, offset: 700 + k * 500_000, size: 500_000, moof_size: 900, samples: 80, keyframe: k % 2 === 0 ? 1 : 0, crc: 1234 + k },
          { bytes: 500_000, frames: 30, startEpochMs: epoch + k * 1000, stopEpochMs: epoch + (k + 1) * 1000 },
        );
      }
      index.seal(id, epoch + SEGMENT_S * 1000);
    }
  })();
}
const rows = segments * (1 + FRAGMENTS);
console.log(`index: ${days} days, ${segments} segments + ${segments * FRAGMENTS} fragments (built in ${fmt(performance.now() - t)} ms)`);

// ---- enabling ----------------------------------------------------------------------------------------
// As before: every row queued in the outbox, in the camera's start (the same SQL; rolled back).
t = performance.now();
try {
  index.db.transaction(() => {
    index.db.prepare("INSERT INTO pg_outbox(kind, a) SELECT 'seg', id FROM segments WHERE origin IS NULL ORDER BY id").run();
    index.db.prepare(`INSERT INTO pg_outbox(kind, a, b) SELECT 'frag', f.segment_id, f.seq FROM fragments f JOIN segments s ON s.id = f.segment_id
      WHERE s.origin IS NULL ORDER BY f.segment_id, f.seq`).run();
    throw new Error('rollback');
  })();
} catch { /* rolled back */ }
const queueAllMs = performance.now() - t;

const pgs = await startPrivatePostgres();
try {
  const camera = { name: 'cam', db: index.db, clockBaseEpochMs: () => BASE_EPOCH };
  const mirror = new PgMirror({ url: pgs.url, log: silentLogger, node: 'bench' });
  const stall = monitorEventLoopDelay({ resolution: 5 });
  t = performance.now();
  mirror.attach(camera);
  const enableMs = performance.now() - t;
  console.log(`enabling the catalog: ${fmt(enableMs)} ms (queuing every row as before: ${fmt(queueAllMs)} ms, ${fmt(queueAllMs / enableMs)}×)`);

  // ---- the first copy ------------------------------------------------------------------------------
  stall.enable();
  t = performance.now();
  await mirror.drain(3_600_000);
  const copyMs = performance.now() - t;
  stall.disable();
  console.log(`first copy: ${rows} rows in ${fmt(copyMs / 1000)} s = ${fmt(rows / (copyMs / 1000))} rows/s; event loop stalls: max ${fmt(stall.max / 1e6)} ms, p99 ${fmt(stall.percentile(99) / 1e6)} ms`);

  // ---- the outbox path: a recording's journal, each fragment followed by its segment's update ------------
  const sample = Math.min(segments * FRAGMENTS, 20_000);
  const outbox = new PgOutbox(index.db);
  const queue = () => index.db.transaction(() => {
    const frags = index.db.prepare<[number], { segment_id: number; seq: number }>('SELECT segment_id, seq FROM fragments ORDER BY segment_id, seq LIMIT ?').all(sample);
    const add = index.db.prepare('INSERT INTO pg_outbox(kind, a, b) VALUES (?, ?, ?)');
    for (const f of frags) {
      add.run('frag', f.segment_id, f.seq);
      add.run('seg', f.segment_id, null);
    }
  })();
  queue();
  const entries = outbox.count();
  t = performance.now();
  await mirror.drain(3_600_000);
  const runsMs = performance.now() - t;
  const runsRate = entries / (runsMs / 1000);
  // The same entries, one statement each in transactions of 500 (what the mirror did before runs).
  queue();
  const client = new pg.Client({ connectionString: pgs.url });
  await client.connect();
  t = performance.now();
  for (let after = 0; ;) {
    const batch = outbox.batch(after, 500);
    if (batch.length === 0) break;
    await client.query('BEGIN');
    for (const e of batch) {
      const seg = outbox.segment(e.a!)!;
      if (e.kind === 'seg') await upsertSegments(client, 'cam', 'bench', [seg]);
      else await upsertFragments(client, 'cam', [{ path: seg.path, f: outbox.fragment(e.a!, e.b!)! }]);
    }
    await client.query('COMMIT');
    after = batch[batch.length - 1].seq;
  }
  const oneEachMs = performance.now() - t;
  outbox.forget(Number.MAX_SAFE_INTEGER);
  await client.end();
  const oneEachRate = entries / (oneEachMs / 1000);
  console.log(`outbox path, a recording's journal of ${entries} changes: in runs ${fmt(runsMs / 1000)} s = ${fmt(runsRate)} changes/s; one statement each ${fmt(oneEachMs / 1000)} s = ${fmt(oneEachRate)} changes/s (${fmt(runsRate / oneEachRate)}×)`);
  console.log(`the first copy is ${fmt(rows / (copyMs / 1000) / runsRate)}× the outbox path in runs (all ${rows} rows through it: ~${fmt(rows / runsRate)} s)`);
  if (outbox.count() !== 0) throw new Error('outbox not drained');
  await mirror.close();
} finally {
  await pgs.destroy();
  index.db.close();
  rmSync(root, { recursive: true, force: true });
}
