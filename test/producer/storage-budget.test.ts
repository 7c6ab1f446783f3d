// Retention across the cameras of one producer (issue 10): each camera's own limits (max_age, max_bytes)
// reach its Producer and act on its footage alone; the global min_free_bytes removes the oldest footage
// across ALL cameras (by segment start epoch) until the free space is back, never a pinned segment and
// never an open one — checked on the pure choice, on synthetic indexes, on real producers with a fake
// free-space probe (exact expectations), and on a real tmpfs that really fills up (root only). A
// one-camera producer chooses exactly as the per-camera limit did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeVideo, tempDir } from '../helpers/media.js';
import { allSegmentRows, segmentFile, startTestProducer, waitFor } from '../helpers/producer.js';
import { App } from '../../src/producer/app.js';
import type { Producer } from '../../src/producer/producer.js';
import { parseAppConfig } from '../../src/producer/config/app-config.js';
import { createLogger, silentLogger } from '../../src/common/log.js';
import { openDatabase, SegmentIndex, type SegmentRow } from '../../src/producer/store/catalog.js';
import { chooseRemovals, freeDiskBytes, PinSet, Retention } from '../../src/producer/segments/retention.js';
import { chooseOldestAcross, StorageBudget, type BudgetCamera } from '../../src/producer/segments/storage-budget.js';
import { fillDisk, withTmpfs } from '../faults/support.js';
import { at } from '../helpers/synthetic-index.js';

const row = (id: number, startEpochMs: number, bytes = 100): SegmentRow => ({ id, start_epoch_ms: startEpochMs, bytes, stop_epoch_ms: startEpochMs + 1000 } as SegmentRow);
const ids = (c: Array<{ camera: string; row: SegmentRow }>) => c.map((x) => `${x.camera}${x.row.id}`);

test('chooseOldestAcross: the oldest across cameras first, pinned ones skipped, only until the free space is back', () => {
  const a = [row(1, 1000), row(2, 3000), row(3, 5000), row(4, 7000)];
  const b = [row(1, 2000), row(2, 4000), row(3, 6000)];
  const cams = () => new Map([['a', a], ['b', b]]);
  const none = () => false;
  assert.deepEqual(chooseOldestAcross(cams(), 1000, 1000, none), [], 'free space at the limit: nothing');
  assert.deepEqual(ids(chooseOldestAcross(cams(), 999, 1000, none)), ['a1']);
  assert.deepEqual(ids(chooseOldestAcross(cams(), 650, 1000, none)), ['a1', 'b1', 'a2', 'b2'], 'interleaved by start epoch');
  assert.deepEqual(ids(chooseOldestAcross(cams(), 650, 1000, (c, id) => c === 'a' && id === 1)), ['b1', 'a2', 'b2', 'a3'], 'a pinned segment is skipped, the next oldest goes instead');
  assert.deepEqual(ids(chooseOldestAcross(cams(), 0, 1e9, none)), ['a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4'], 'everything, and no more, when the limit cannot be met');
  assert.deepEqual(ids(chooseOldestAcross(new Map([['b', [row(9, 500)]], ['a', [row(8, 500)]]]), 0, 150, none)), ['a8', 'b9'], 'ties: by camera name');

  // Each camera's list is read lazily, only as far as needed (the coordinator pages through indexes).
  let pulled = 0;
  function* lazy(rows: SegmentRow[]) { for (const r of rows) { pulled++; yield r; } }
  chooseOldestAcross(new Map([['a', lazy(a)], ['b', lazy(b)]]), 850, 1000, none);
  assert.equal(pulled, 4, 'two heads, then one more of each camera it took from');

  // One camera: exactly the per-camera free-disk choice.
  const limits = { maxAgeMs: null, maxBytes: null, minFreeBytes: 1000 };
  for (const [free, pinned] of [[650, -1], [650, 2], [0, 3], [999, 1], [1000, -1]] as const) {
    const single = chooseOldestAcross(new Map([['default', a]]), free, 1000, (_c, id) => id === pinned).map((c) => c.row.id);
    assert.deepEqual(single, chooseRemovals(a, limits, 0, 400, free, (id) => id === pinned).remove.map((s) => s.id), `free ${free}, pinned ${pinned}`);
  }
});

/** A synthetic camera: an in-memory index of n sealed 1,000-byte segments every 10 s from `firstEpochMs`. */
function syntheticCamera(name: string, n: number, firstEpochMs: number, dir: string): BudgetCamera {
  const index = new SegmentIndex(openDatabase(':memory:'));
  for (let i = 0; i < n; i++) {
    const start = at(i * 10);
    const epoch = firstEpochMs + i * 10_000;
    const id = index.insertSegment({
      path: `2026-01-01/${name}-${i}.mp4`, run_id: 1, start_pts_ns: start, start_epoch_ms: epoch, offset_ns: 0n, anchor_epoch_ms: epoch,
      anchor_pts_ns: start, bytes: 0, init_size: 100, codec: 'h264', codec_string: 'avc1.42c01e', width: 320, height: 180, fps: 15,
      has_audio: 0, description_key: 'k', created_ms: 0,
    });
    index.addFragment(
      { segment_id: id, seq: 0, start_pts_ns: start, stop_pts_ns: at(i * 10 + 10), offset: 100, size: 900, moof_size: 100, samples: 150, keyframe: 1, crc: 0 },
      { bytes: 1000, frames: 150, startEpochMs: epoch, stopEpochMs: epoch + 10_000 },
    );
    index.seal(id, null);
  }
  const pins = new PinSet();
  const segmentsDir = join(dir, name);
  mkdirSync(segmentsDir, { recursive: true });
  const retention = new Retention({ index, segmentsDir, pins, log: silentLogger, limits: { maxAgeMs: null, maxBytes: null, minFreeBytes: 5000 } });
  return { name, index, pins, retention, segmentsDir, storageBudget: null };
}

test('the budget over synthetic indexes: attach takes the free-disk limit off each camera; the oldest across cameras go; detach', () => {
  const tmp = tempDir('segrec-budget-');
  try {
    // a: 20 segments from t=0; b: 20 segments from t=95 s (its first is newer than a's first 10).
    const a = syntheticCamera('a', 20, 1_764_000_000_000, tmp.dir);
    const b = syntheticCamera('b', 20, 1_764_000_095_000, tmp.dir);
    let free = 10_000;
    const budget = new StorageBudget({ minFreeBytes: 10_000, log: silentLogger, probe: () => free });
    budget.attach(a);
    budget.attach(b);
    assert.equal(a.retention.limits.minFreeBytes, null, 'the camera no longer applies the free-disk limit itself');
    assert.equal(a.storageBudget, budget);
    assert.deepEqual(budget.cameraNames, ['a', 'b']);
    assert.deepEqual(a.retention.run(), [], 'its own pass removes nothing (no other limit)');

    assert.deepEqual(budget.run(), [], 'free space at the limit: nothing');
    free = 10_000 - 12_500; // 12.5 segments short
    const release = a.pins.pin([3]);
    const removed = budget.run();
    assert.deepEqual(ids(removed), ['a1', 'a2', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', 'a10', 'b1', 'a11', 'b2', 'a12'],
      'a\'s older footage first (its pinned segment skipped), then both cameras in start order');
    assert.deepEqual(allSegmentRows(a.index).slice(0, 2).map((s) => s.id), [3, 13], 'pinned segment kept');
    assert.equal(allSegmentRows(b.index)[0].id, 3);
    assert.equal(budget.removedSegments, 13);
    release();

    // Through a camera's own retention pass (as a Producer's runRetention does): makeRoom.
    free = 10_000 - 1;
    assert.equal(b.storageBudget!.makeRoom(), 1);
    assert.equal(a.index.get(3), undefined, 'the oldest across cameras: a\'s once-pinned segment');

    budget.detach(a);
    assert.equal(a.storageBudget, null);
    free = 0;
    const last = budget.run();
    assert.equal(last.length, 10, 'ten segments give the 10,000 bytes back');
    assert.ok(last.every((c) => c.camera === 'b'), 'a detached camera is not touched');
    assert.equal(a.index.stats().count, 8);
    assert.equal(b.index.stats().count, 8);

    // Without min_free_bytes nothing is attached and cameras keep their own limits.
    const off = new StorageBudget({ minFreeBytes: null, log: silentLogger });
    const c = syntheticCamera('c', 1, 0, tmp.dir);
    off.attach(c);
    assert.equal(c.retention.limits.minFreeBytes, 5000);
    assert.equal(c.storageBudget, null);
  } finally {
    tmp.cleanup();
  }
});

test('cameras on different filesystems do not free space for each other', { skip: !existsSync('/dev/shm') }, (t) => {
  const tmp = tempDir('segrec-budget-fs-');
  const shm = join('/dev/shm', `segrec-budget-${process.pid}`);
  try {
    mkdirSync(shm, { recursive: true });
    if (statSync(shm).dev === statSync(tmp.dir).dev) { t.skip('/dev/shm is on the same filesystem as the temp dir'); return; }
    const a = syntheticCamera('a', 5, 1000, tmp.dir);
    const b = syntheticCamera('b', 5, 0, shm);
    const free = new Map([[a.segmentsDir, 0], [b.segmentsDir, 10_000]]);
    const budget = new StorageBudget({ minFreeBytes: 2000, log: silentLogger, probe: (p) => free.get(p) ?? null });
    budget.attach(a);
    budget.attach(b);
    assert.deepEqual(ids(budget.run()), ['a1', 'a2'], 'only the full filesystem\'s camera, though b\'s footage is older');
  } finally {
    tmp.cleanup();
    rmSync(shm, { recursive: true, force: true });
  }
});

const yaml = (dataDir: string, minFree: string, cams: string[]) => `
data_dir: ${JSON.stringify(dataDir)}
port: 0
min_free_bytes: ${minFree}
cameras:
${cams.join('')}`;
const camera = (name: string, extra = '') => `  ${name}:
    source: testsrc
    segment_seconds: 1
    testsrc: { size: 160x96, fps: 10 }
${extra}`;

const sealedRows = (p: Producer) => allSegmentRows(p.index).filter((s) => s.sealed === 1);
const cameraOf = (app: App, name: string) => {
  const p = app.cameras.get(name);
  assert.ok(p, `camera ${name} records`);
  return p;
};

test('per-camera retention: each camera\'s max_age / max_bytes reach its own Producer and act on its footage alone', async () => {
  const tmp = tempDir();
  const logs: string[] = [];
  const dataDir = join(tmp.dir, 'data');
  const config = parseAppConfig(`
data_dir: ${JSON.stringify(dataDir)}
port: 0
cameras:
${camera('small', '    retention: { max_bytes: 1 }\n')}${camera('long', '    retention: { max_age: 1h }\n')}${camera('plain')}`, 'segrec.yml');
  const app = new App(config, { logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }) });
  await app.start();
  try {
    const small = cameraOf(app, 'small');
    const long = cameraOf(app, 'long');
    const plain = cameraOf(app, 'plain');
    assert.deepEqual([small.options.retentionMaxBytes, small.options.retentionMaxAgeMs], [1, null]);
    assert.deepEqual(small.retention.limits, { maxAgeMs: null, maxBytes: 1, minFreeBytes: null });
    assert.deepEqual(long.retention.limits, { maxAgeMs: 3_600_000, maxBytes: null, minFreeBytes: null });
    assert.deepEqual(plain.retention.limits, { maxAgeMs: null, maxBytes: null, minFreeBytes: null });
    assert.equal(app.storageBudget.enabled, false, 'no min_free_bytes: no budget');
    await waitFor('3 sealed segments of long and plain, 3 removed of small', () =>
      sealedRows(long).length >= 3 && sealedRows(plain).length >= 3 && small.retention.removedSegments >= 3, 30_000, 100);
    assert.equal(long.retention.removedSegments, 0, 'long keeps its footage (an hour)');
    assert.equal(plain.retention.removedSegments, 0, 'plain keeps its footage (no limit)');
    assert.ok(sealedRows(small).length <= 1, 'small keeps (almost) nothing sealed: max_bytes 1');
    assert.ok(logs.some((l) => /retention removed segment/.test(l) && /max bytes/.test(l) && /small/.test(l)), 'small\'s removals are logged as its own');
  } finally {
    await app.close();
    tmp.cleanup();
  }
});

test('min_free_bytes across cameras on real producers: the globally oldest go first (fake free-space probe), pins respected', async () => {
  const tmp = tempDir();
  const logs: string[] = [];
  const dataDir = join(tmp.dir, 'data');
  const MIN = 1_000_000_000;
  const app = new App(parseAppConfig(yaml(dataDir, '1GB', [camera('a')]), 'segrec.yml'),
    { logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }) });
  // The disk is "short" by `deficit` bytes; every removal (of any camera) gives its bytes back.
  let deficit = 0;
  const probe = () => MIN - deficit;
  app.storageBudget.probe = probe;
  const removedEvents: Array<{ camera: string; row: SegmentRow }> = [];
  const watch = (p: Producer) => p.events.on('segment-removed', (r) => {
    deficit -= r.bytes;
    removedEvents.push({ camera: p.name, row: r });
  });
  await app.start();
  try {
    watch(cameraOf(app, 'a'));
    await waitFor('4 sealed segments of a', () => sealedRows(cameraOf(app, 'a')).length >= 4, 30_000, 100);
    const r = await app.reload(parseAppConfig(yaml(dataDir, '1GB', [camera('a'), camera('b')]), 'segrec.yml'));
    assert.deepEqual(r.added, ['b']);
    const a = cameraOf(app, 'a');
    const b = cameraOf(app, 'b');
    watch(b);
    await waitFor('4 sealed segments of b', () => sealedRows(b).length >= 4, 30_000, 100);
    assert.deepEqual(app.storageBudget.cameraNames.sort(), ['a', 'b']);
    for (const p of [a, b]) assert.equal(p.retention.limits.minFreeBytes, null, `${p.name}: the free-disk limit is the budget's, not the camera's`);
    assert.equal(removedEvents.length, 0, 'nothing removed while the free space is fine');

    // Pin a's oldest; be short by exactly the bytes of the unpinned sealed segments up to b's second one.
    const pinnedId = sealedRows(a)[0].id;
    const release = a.pins.pin([pinnedId]);
    const bothSealed = () => [...sealedRows(a).map((row) => ({ camera: 'a', row })), ...sealedRows(b).map((row) => ({ camera: 'b', row }))]
      .sort((x, y) => x.row.start_epoch_ms - y.row.start_epoch_ms);
    const bSecond = sealedRows(b)[1].start_epoch_ms;
    const expected = bothSealed().filter((c) => c.row.start_epoch_ms <= bSecond && !(c.camera === 'a' && c.row.id === pinnedId));
    assert.ok(expected.filter((c) => c.camera === 'a').length >= 3 && expected.filter((c) => c.camera === 'b').length === 2, 'both cameras are due');
    const openBefore = [a, b].map((p) => p.writer.openSegment?.id ?? null);
    deficit = expected.reduce((n, c) => n + c.row.bytes, 0);
    const removed = app.storageBudget.run();
    assert.deepEqual(removed.map((c) => `${c.camera}:${c.row.id}`), expected.map((c) => `${c.camera}:${c.row.id}`),
      'exactly the oldest across both cameras, in start order, the pinned one skipped');
    assert.ok(deficit <= 0, 'the free space is back');
    assert.deepEqual(removedEvents.map((c) => `${c.camera}:${c.row.id}`), expected.map((c) => `${c.camera}:${c.row.id}`), 'each camera reports its removals');
    for (const c of expected) {
      const p = c.camera === 'a' ? a : b;
      assert.equal(p.index.get(c.row.id), undefined, `${c.camera} segment ${c.row.id} left the index`);
      assert.ok(!existsSync(segmentFile(p.options.dataDir, c.row)), `${c.camera} segment ${c.row.id}: file removed`);
    }
    const pinned = a.index.get(pinnedId);
    assert.ok(pinned && existsSync(segmentFile(a.options.dataDir, pinned)), 'the pinned segment is kept');
    const oldestKept = Math.min(...bothSealed().filter((c) => !(c.camera === 'a' && c.row.id === pinnedId)).map((c) => c.row.start_epoch_ms));
    assert.ok(removed.every((c) => c.row.start_epoch_ms < oldestKept), 'nothing removed is newer than anything kept (but the pinned one)');
    [a, b].forEach((p, i) => { if (openBefore[i] !== null) assert.ok(p.index.get(openBefore[i]!), `${p.name}: the open segment is never removed`); });
    assert.ok(logs.some((l) => /retention removed segment/.test(l) && /min free disk/.test(l)), 'removals logged with their reason');
    assert.ok(logs.some((l) => /min free disk: removed the oldest footage across cameras/.test(l) && /a:\d+,b:2|b:2,a:\d+/.test(l)), 'and summed up per camera');

    // Through the cameras' own triggers (a sealed segment, the 5 s timer): nothing called by hand.
    release();
    const before = removedEvents.length;
    const oldestNow = bothSealed()[0];
    assert.deepEqual([oldestNow.camera, oldestNow.row.id], ['a', pinnedId]);
    deficit = 1;
    await waitFor('a camera to make room on its own', () => deficit <= 0, 10_000, 50);
    assert.deepEqual(removedEvents.slice(before).map((c) => `${c.camera}:${c.row.id}`), [`${oldestNow.camera}:${oldestNow.row.id}`],
      'one segment, the oldest across cameras (the formerly pinned one)');
  } finally {
    await app.close();
    tmp.cleanup();
  }
});

test('a one-camera producer: min_free_bytes chooses exactly as the per-camera limit did', async () => {
  const tmp = tempDir();
  // 1 byte: the real disk always has that much, so nothing goes until the fake probe says otherwise.
  const p = await startTestProducer(tmp.dir, { segmentSeconds: 1, minFreeBytes: 1 });
  try {
    const budget = p.app.storageBudget;
    if (p.app.uploads) {
      // The distributed run (a store configured): the free-disk limit is the uploader's — uploaded local
      // copies go first (test/store/disk-pressure.test.ts fills a real disk for that), not this budget's.
      assert.deepEqual(budget.cameraNames, [], 'with a store the budget owns no camera');
      assert.equal(p.producer.retention.limits.minFreeBytes, null);
      assert.ok(p.producer.storageBudget, 'the camera asks the uploader for room');
      return;
    }
    assert.deepEqual(budget.cameraNames, ['default']);
    assert.equal(p.producer.retention.limits.minFreeBytes, null);
    await waitFor('5 sealed segments', () => sealedRows(p.producer).length >= 5, 30_000, 100);
    const sealed = sealedRows(p.producer);
    const release = p.producer.pins.pin([sealed[1].id]);
    const free = 1 - (sealed[0].bytes + sealed[2].bytes + sealed[3].bytes);
    budget.probe = () => free;
    const want = chooseRemovals(sealed, { maxAgeMs: null, maxBytes: null, minFreeBytes: 1 }, Date.now(), 0, free, (id) => p.producer.pins.has(id)).remove;
    const removed = budget.run();
    assert.deepEqual(removed.map((c) => c.row.id), want.map((s) => s.id), 'the same segments the single-camera retention picks');
    assert.deepEqual(removed.map((c) => c.row.id), [sealed[0].id, sealed[2].id, sealed[3].id], 'oldest first, the pinned one skipped');
    assert.ok(existsSync(segmentFile(tmp.dir, sealed[1])), 'the pinned segment is kept');
    release();
    budget.probe = freeDiskBytes;
  } finally {
    await p.close();
    tmp.cleanup();
  }
});

test('a real disk filling up (tmpfs): the oldest footage across cameras makes room, recording goes on', { timeout: 120_000 }, async (t) => {
  const tmp = tempDir('segrec-budget-disk-');
  const mnt = join(tmp.dir, 'disk');
  try {
    await withTmpfs(t, mnt, 32, async () => {
      const dataDir = join(mnt, 'data');
      const MIN = 1024 * 1024;
      // A camera-like bit rate (a few hundred kB/s, looped): each camera's index (its WAL) grows by ~50 kB/s
      // too, which a tiny disk must find room for as well; the synthetic testsrc writes less than that.
      const source = join(tmp.dir, 'camera.mp4');
      await makeVideo(source, { seconds: 20, fps: 15, gop: 15, width: 640, height: 480, container: 'plain' });
      const big = (name: string) => `  ${name}:\n    source: ${JSON.stringify(source)}\n    segment_seconds: 1\n`;
      const logs: string[] = [];
      const app = new App(parseAppConfig(yaml(dataDir, String(MIN), [big('a')]), 'segrec.yml'),
        { logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }) });
      await app.start();
      let filler: string | null = null;
      try {
        await waitFor('3 sealed segments of a', () => sealedRows(cameraOf(app, 'a')).length >= 3, 30_000, 100);
        await app.reload(parseAppConfig(yaml(dataDir, String(MIN), [big('a'), big('b')]), 'segrec.yml'));
        const a = cameraOf(app, 'a');
        const b = cameraOf(app, 'b');
        const total = () => [a, b].reduce((n, p) => n + sealedRows(p).reduce((m, s) => m + s.bytes, 0), 0);
        await waitFor('footage worth four times the limit', () => total() > 4 * MIN && sealedRows(b).length >= 3, 60_000, 200);
        const pinnedRow = sealedRows(b)[0];
        const release = b.pins.pin([pinnedRow.id]);
        // At every removal, nothing sealed and unpinned that is older may be left on either camera.
        const violations: string[] = [];
        const removed: string[] = [];
        for (const p of [a, b]) {
          p.events.on('segment-removed', (r) => {
            removed.push(`${p.name}:${r.id}`);
            if (r.sealed !== 1) violations.push(`${p.name}:${r.id} was not sealed`);
            for (const q of [a, b]) {
              const older = sealedRows(q).filter((s) => s.start_epoch_ms < r.start_epoch_ms && !q.pins.has(s.id) && !q.retention.isPendingRemoval(s.id));
              if (older.length > 0) violations.push(`${p.name}:${r.id} removed while ${q.name}:${older[0].id} is older`);
            }
          });
        }
        const oldestA = sealedRows(a)[0];
        const fill = fillDisk(mnt, 'filler.bin');
        filler = fill.path;
        const newest = () => Math.max(...[a, b].map((p) => p.index.stats().newestStopEpochMs ?? 0));
        const endAtFull = newest();
        try {
          await waitFor('room made and recording going on', () => removed.length > 0 && newest() > endAtFull + 3000, 30_000, 100);
        } catch (e) {
          t.diagnostic(`free ${freeDiskBytes(dataDir)}, removed ${removed.length}, newest +${newest() - endAtFull} ms; log:\n${logs.filter((l) => !/ DEBUG /.test(l)).slice(-40).join('\n')}`);
          throw e;
        }
        assert.deepEqual(violations, [], 'every removal took the oldest footage across cameras');
        assert.equal(removed[0], `a:${oldestA.id}`, 'a\'s older footage went first');
        assert.ok(b.index.get(pinnedRow.id), 'b\'s pinned segment is kept');
        assert.ok(logs.some((l) => /min free disk: removed the oldest footage across cameras/.test(l)));
        release();
        t.diagnostic(`filler ${fill.bytes} bytes; removed ${removed.length} segments: ${removed.join(' ')}`);
      } finally {
        await app.close();
        if (filler) rmSync(filler, { force: true });
      }
    });
  } finally {
    tmp.cleanup();
  }
});
