// Removals of segment files survive a crash (segments/file-removals.ts): the decision (rows deleted or
// marked not local) and the files' names are one transaction; the files go after it. Checked on the
// record itself (atomic with the change, idempotent, a file already gone counts as removed) and on a
// real producer restarted on the state a crash between a retention pass's transaction and its unlinks
// leaves: the files are removed at start, not adopted back into the index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/media.js';
import { allSegmentRows, SMALL_TESTSRC, waitFor } from '../helpers/producer.js';
import { startProducer } from '../../src/producer/app.js';
import { createLogger } from '../../src/common/log.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { FileRemovals } from '../../src/producer/segments/file-removals.js';
import { segmentsDirOf } from '../../src/producer/segments/paths.js';

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
  const removals = new FileRemovals(index.db, dir);
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
  rmSync(join(dir, '2026-01-03/4.mp4'), { recursive: true });
  assert.deepEqual(removals.finish(), { removed: 1, failed: [] }, 'gone once it can be');
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
