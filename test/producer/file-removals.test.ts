// Removals of segment files survive a crash (segments/file-removals.ts): the decision (rows deleted or
// marked not local) and the files' names are one transaction; the files go after it. Checked on the
// record itself (atomic with the change, idempotent, a file already gone counts as removed) and on a
// real producer restarted on the state a crash between a retention pass's transaction and its unlinks
// leaves: the files are removed at start, not adopted back into the index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from '../helpers/media.js';
import { allSegmentRows, SMALL_TESTSRC, waitFor } from '../helpers/producer.js';
import { startProducer } from '../../src/producer/app.js';
import { createLogger } from '../../src/common/log.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { FileRemovals } from '../../src/producer/segments/file-removals.js';
import { segmentRelPath, segmentsDirOf } from '../../src/producer/segments/paths.js';
import { BackgroundCheck } from '../../src/producer/segments/background-check.js';
import { BackgroundLane } from '../../src/producer/segments/background-lane.js';
import { emptyReport } from '../../src/producer/segments/recovery.js';
import { PtsClock } from '../../src/producer/segments/pts-clock.js';

test('the record: names kept only with their change, files removed and forgotten, a missing file counts as removed', (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const index = new SegmentIndex(openDatabase(join(tmp.dir, 'index.sqlite')));
  t.after(() => index.db.close());
  const dir = join(tmp.dir, 'segments');
  const paths = ['2026-01-01/1.mp4', '2026-01-01/2.mp4', '2026-01-02/3.mp4'];
  for (const p of paths) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), 'x');
  }
  const lines: string[] = [];
  const removals = new FileRemovals(index.db, dir, createLogger({ level: 'info', write: (l) => lines.push(l) }));
  const said = (re: RegExp) => lines.filter((l) => re.test(l)).length;
  // A change that fails takes the names with it.
  assert.throws(() => removals.commit(() => { index.setMeta('probe', 'set'); throw new Error('refused'); }, paths), /refused/);
  assert.equal(removals.pending(), 0);
  assert.equal(index.getMeta('probe'), undefined, 'the change rolled back too');
  removals.commit(() => index.setMeta('probe', 'set'), paths);
  assert.equal(index.getMeta('probe'), 'set');
  assert.equal(removals.pending(), 3);
  for (const p of paths) assert.ok(existsSync(join(dir, p)), 'nothing removed before finish()');
  rmSync(join(dir, paths[1]));
  assert.deepEqual(removals.finish(), { removed: 3, failed: [] }, 'the one already gone counts');
  for (const p of paths) assert.ok(!existsSync(join(dir, p)), p);
  assert.equal(removals.pending(), 0);
  assert.deepEqual(removals.finish(), { removed: 0, failed: [] }, 'nothing left to do');
  // A name that would reach outside the segments directory is never unlinked, only forgotten.
  writeFileSync(join(tmp.dir, 'outside.mp4'), 'x');
  removals.commit(() => undefined, ['../outside.mp4']);
  assert.equal(removals.finish().removed, 1);
  assert.ok(existsSync(join(tmp.dir, 'outside.mp4')), 'nothing outside the segments directory is removed');
  assert.equal(removals.pending(), 0);
  // One that cannot be removed (a directory in its place: EISDIR) stays recorded; the others go on.
  mkdirSync(join(dir, '2026-01-03/4.mp4'), { recursive: true });
  writeFileSync(join(dir, '2026-01-03/5.mp4'), 'x');
  removals.commit(() => undefined, ['2026-01-03/4.mp4', '2026-01-03/5.mp4']);
  const tried = removals.finish();
  assert.equal(tried.removed, 1);
  assert.deepEqual(tried.failed.map((f) => f.path), ['2026-01-03/4.mp4']);
  assert.ok(!existsSync(join(dir, '2026-01-03/5.mp4')));
  assert.equal(removals.pending(), 1, 'kept for the next try');
  const failing = /WARN .*could not be removed.*2026-01-03\/4\.mp4/;
  assert.equal(said(failing), 1, 'the failure is said');
  // Tried again at every removal: said once while the same file keeps failing, again when that changes.
  for (let i = 0; i < 5; i++) assert.equal(removals.finish().failed.length, 1);
  assert.equal(said(failing), 1, 'not again while nothing changed');
  mkdirSync(join(dir, '2026-01-03/6.mp4'), { recursive: true });
  removals.commit(() => undefined, ['2026-01-03/6.mp4']);
  assert.equal(removals.finish().failed.length, 2);
  assert.equal(said(/could not be removed.*files\W+2\b/), 1, 'a second failing file is said');
  rmSync(join(dir, '2026-01-03/4.mp4'), { recursive: true });
  rmSync(join(dir, '2026-01-03/6.mp4'), { recursive: true });
  assert.deepEqual(removals.finish(), { removed: 2, failed: [] }, 'gone once it can be');
  assert.equal(said(/INFO .*whose removal had failed are removed now/), 1, 'and its end is said');
  assert.equal(removals.finish().removed, 0);
  assert.equal(said(/removed now/), 1, 'once');
  assert.equal(removals.pending(), 0);
});

test('a crash between a retention pass\'s transaction and its unlinks: the next start removes the files, nothing is adopted back', { timeout: 90_000 }, async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const start = async (logs: string[]) => startProducer({
    dataDir: tmp.dir, port: 0, segmentSeconds: 1, testsrc: SMALL_TESTSRC,
    logger: createLogger({ level: 'info', write: (l) => logs.push(l) }),
  });
  const first = await start([]);
  let victims: Array<{ id: number; path: string }>;
  try {
    await waitFor('4 sealed segments', () => allSegmentRows(first.producer.index).filter((s) => s.sealed === 1).length >= 4, 30_000, 100);
  } finally {
    await first.close();
  }
  {
    // The state retention's transaction leaves when the process dies before the unlinks.
    const index = new SegmentIndex(openDatabase(join(tmp.dir, 'index.sqlite')));
    victims = allSegmentRows(index).filter((s) => s.sealed === 1).slice(0, 2).map((s) => ({ id: s.id, path: s.path }));
    new FileRemovals(index.db, segmentsDirOf(tmp.dir)).commit(() => { for (const v of victims) index.deleteSegment(v.id); }, victims.map((v) => v.path));
    index.db.close();
  }
  for (const v of victims) assert.ok(existsSync(join(segmentsDirOf(tmp.dir), v.path)), 'the files outlived the crash');
  const logs: string[] = [];
  const second = await start(logs);
  try {
    for (const v of victims) assert.ok(!existsSync(join(segmentsDirOf(tmp.dir), v.path)), `removed at start: ${v.path}`);
    const paths = new Set(allSegmentRows(second.producer.index).map((s) => s.path));
    for (const v of victims) assert.ok(!paths.has(v.path), `not adopted back: ${v.path}`);
    assert.equal(second.producer.recovery.adopted, 0);
    assert.equal(second.producer.fileRemovals.pending(), 0);
    const said = logs.find((l) => l.includes('removed segment files whose removal a crash interrupted'));
    assert.ok(said, 'said in the log'); assert.match(said, /files\W+2\b/);
  } finally {
    await second.close();
  }
});

test('the background pass beside retention: names it read before retention removed their files are no error; a file whose removal failed is not adopted back', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const index = new SegmentIndex(openDatabase(join(tmp.dir, 'index.sqlite')));
  t.after(() => index.db.close());
  const dir = join(tmp.dir, 'segments');
  const baseEpoch = Date.now() - 3 * 86_400_000;
  // 40 sealed segments of one day, their files as the rows say (small files: the check only stats them).
  const rows = index.db.transaction(() => Array.from({ length: 40 }, (_, i) => {
    const start = BigInt(i) * 60_000_000_000n;
    const epoch = baseEpoch + i * 60_000;
    const path = segmentRelPath(start, epoch);
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), Buffer.alloc(1000));
    const id = index.insertSegment({
      path, run_id: 1, start_pts_ns: start, start_epoch_ms: epoch, offset_ns: 0n, anchor_epoch_ms: epoch, anchor_pts_ns: start,
      bytes: 100, init_size: 100, codec: 'h264', codec_string: 'avc1.42c01e', width: 320, height: 180, fps: 15, has_audio: 0, description_key: 'k', created_ms: 0,
    });
    index.addFragment({ segment_id: id, seq: 0, start_pts_ns: start, stop_pts_ns: start + 60_000_000_000n, offset: 100, size: 900, moof_size: 100, samples: 900, keyframe: 1, crc: 0 },
      { bytes: 1000, frames: 900, startEpochMs: epoch, stopEpochMs: epoch + 60_000 });
    index.seal(id, statSync(join(dir, path)).mtimeMs);
    return { id, path };
  }))();
  const removals = new FileRemovals(index.db, dir);
  // A removal decided whose unlink fails (a directory in the file's place: EISDIR): the row is gone, the name recorded, the entry still there.
  const stuck = rows[35];
  rmSync(join(dir, stuck.path));
  mkdirSync(join(dir, stuck.path, 'x'), { recursive: true });
  removals.commit(() => index.deleteSegment(stuck.id), [stuck.path]);
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(l) });
  const report = emptyReport();
  const lane = new BackgroundLane();
  const check = new BackgroundCheck({ index, clock: new PtsClock(baseEpoch), segmentsDir: dir, log, report, lane, name: 'check', removals }, { batch: 40, entries: 2 });
  // Retention takes turns on the same lane (as the App's cameras do), two of the oldest at a time, files and rows.
  const retention = lane.join('retention');
  check.start();
  for (let i = 0; i < 30; i += 2) {
    await retention.turn(() => {
      removals.commit(() => { for (const r of rows.slice(i, i + 2)) index.deleteSegment(r.id); }, rows.slice(i, i + 2).map((r) => r.path));
      removals.finish();
    });
  }
  retention.leave();
  await check.done;
  assert.deepEqual(report.corrupt, [], lines.filter((l) => / (ERROR|WARN) /.test(l)).join('\n'));
  assert.equal(report.adopted, 0, 'nothing adopted: neither the names read before their removal nor the file whose removal failed');
  assert.ok(lines.some((l) => l.includes('background check of the index against the files finished')), 'the pass ran through');
  assert.ok(existsSync(join(dir, stuck.path)) && !index.hasPath(stuck.path) && removals.isPending(stuck.path), 'the stuck file is left to its removal');
  rmSync(join(dir, stuck.path), { recursive: true });
  writeFileSync(join(dir, stuck.path), 'x');
  assert.equal(removals.finish().removed, 1, 'and goes at the next removal once it can');
});
