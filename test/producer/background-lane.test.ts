// One background lane per process (segments/background-lane.ts): the background checks of several
// cameras take turns at it, one batch at a time, round robin, with the lane resting after each batch as
// long as the batch took — so together they use at most about half of the process's time. Observed
// through the lane's own record of its batches: first with plain members (order, rests, a member
// leaving, a failing batch), then for real: an App of three recording cameras, each with a history of
// sealed segments on disk, whose checks share the App's lane; a reload removes one camera halfway and
// the other two still finish, taking turns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BackgroundLane, LaneLeft, type LaneBatch } from '../../src/producer/segments/background-lane.js';
import { App } from '../../src/producer/app.js';
import { parseAppConfig } from '../../src/producer/config/app-config.js';
import { cameraDataDir } from '../../src/producer/camera-names.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { segmentRelPath, segmentsDirOf } from '../../src/producer/segments/paths.js';
import { createLogger } from '../../src/common/log.js';
import { tempDir } from '../helpers/media.js';
import { waitFor } from '../helpers/producer.js';

const busy = (ms: number) => {
  const t = performance.now();
  while (performance.now() - t < ms);
};

/** Each batch starts after the one before it ended and the lane rested (a timer may fire up to 1 ms early by the clock used here). */
function assertRested(batches: LaneBatch[], pauseMs: number): void {
  for (let i = 1; i < batches.length; i++) {
    const a = batches[i - 1];
    assert.ok(a.restMs >= Math.max(pauseMs, a.ms), `rest ${a.restMs} after a batch of ${a.ms} ms`);
    const gap = batches[i].startMs - (a.startMs + a.ms);
    assert.ok(gap >= a.restMs - 1, `batch ${i} (${batches[i].member}) began ${gap.toFixed(2)} ms after ${a.member}'s batch of ${a.ms.toFixed(2)} ms`);
  }
}

test('members take turns round robin, one batch at a time, the lane resting as long as each batch took', async () => {
  const lane = new BackgroundLane({ pauseMs: 2 });
  const seen: LaneBatch[] = [];
  lane.onBatch = (b) => seen.push(b);
  const member = async (name: string, batches: number, ms: number) => {
    const m = lane.join(name);
    for (let i = 0; i < batches; i++) await m.turn(() => busy(ms));
    m.leave();
  };
  await Promise.all([member('a', 6, 3), member('b', 6, 1), member('c', 3, 0.5)]);
  assert.deepEqual(seen.map((b) => b.member).join(''), 'abcabcabcababab');
  assert.equal(lane.maxRunning, 1);
  assert.equal(lane.running, null);
  assertRested(seen, 2);
  assert.deepEqual(lane.members, []);
});

test('a member that leaves loses only its own waiting turn; a failing batch fails only its own turn', async () => {
  const lane = new BackgroundLane({ pauseMs: 1 });
  const order: string[] = [];
  lane.onBatch = (b) => order.push(b.member);
  const a = lane.join('a');
  const b = lane.join('b');
  const c = lane.join('c');
  const loop = async (m: typeof a, n: number) => {
    for (let i = 0; i < n; i++) await m.turn(() => i);
  };
  const doneA = loop(a, 100);
  const doneC = loop(c, 4);
  const failed = b.turn(() => { throw new Error('disk on fire'); });
  await assert.rejects(failed, /disk on fire/);
  const leftB = b.turn(() => 1);
  b.leave();
  await assert.rejects(leftB, LaneLeft, 'its waiting turn is given up');
  await assert.rejects(b.turn(() => 1), LaneLeft, 'and it gets no more');
  await doneC;
  a.leave();
  await assert.rejects(doneA, LaneLeft);
  // a, b (failed), c, then a and c alternate: b's leaving took no one's turn.
  assert.deepEqual(order.slice(0, 9), ['a', 'b', 'c', 'a', 'c', 'a', 'c', 'a', 'c']);
  await assert.rejects(lane.join('d').turn(() => Promise.resolve(1)), /must be synchronous/);
});

// ---- For real: three recording cameras, each with a history on disk, in one App. ----

const ROWS = 1200;
const BASE_EPOCH = Date.now() - 8 * 86_400_000;

/** A history of `ROWS` sealed 60 s segments, one every 5 min from 8 days ago (small files; rows that match them), and two files the index does not know. */
function makeHistory(dataDir: string): void {
  const segmentsDir = segmentsDirOf(dataDir);
  mkdirSync(segmentsDir, { recursive: true });
  const index = new SegmentIndex(openDatabase(join(dataDir, 'index.sqlite')));
  index.setMeta('clock_base_epoch_ms', String(BASE_EPOCH));
  index.db.transaction(() => {
    for (let i = 0; i < ROWS; i++) {
      const start = BigInt(i) * 300_000_000_000n;
      const epoch = BASE_EPOCH + i * 300_000;
      const path = segmentRelPath(start, epoch);
      const abs = join(segmentsDir, path);
      mkdirSync(dirname(abs), { recursive: true });
      writeFileSync(abs, Buffer.alloc(1000));
      const id = index.insertSegment({
        path, run_id: 1, start_pts_ns: start, start_epoch_ms: epoch, offset_ns: 0n, anchor_epoch_ms: epoch, anchor_pts_ns: start,
        bytes: 100, init_size: 100, codec: 'h264', codec_string: 'avc1.42c01e', width: 320, height: 180, fps: 15, has_audio: 0,
        description_key: 'k', created_ms: 0,
      });
      index.addFragment({ segment_id: id, seq: 0, start_pts_ns: start, stop_pts_ns: start + 60_000_000_000n, offset: 100, size: 900, moof_size: 100, samples: 900, keyframe: 1, crc: 0 },
        { bytes: 1000, frames: 900, startEpochMs: epoch, stopEpochMs: epoch + 60_000 });
      index.seal(id, statSync(abs).mtimeMs);
    }
  })();
  // Two files of the oldest day (not one start-up looks at) the index does not know (not segments: reported, left alone).
  const oldest = join(segmentsDir, segmentRelPath(0n, BASE_EPOCH).split('/')[0]);
  writeFileSync(join(oldest, '1.mp4'), 'not a segment');
  writeFileSync(join(oldest, '2.mp4'), 'not a segment');
  index.db.close();
}

const yaml = (dataDir: string, names: string[]) => `
data_dir: ${JSON.stringify(dataDir)}
port: 0
cameras:
${names.map((n) => `  ${n}:\n    source: testsrc\n    segment_seconds: 2\n    testsrc: { size: 160x96, fps: 10 }\n`).join('')}`;

test('the background checks of several cameras share the App\'s lane: one batch at a time, in turns; a removed camera does not stall the others', async () => {
  const tmp = tempDir();
  const dataDir = join(tmp.dir, 'data');
  const names = ['front', 'back', 'yard'];
  for (const n of names) makeHistory(cameraDataDir(dataDir, n));
  const app = new App(parseAppConfig(yaml(dataDir, names), join(tmp.dir, 'segrec.yml')), { logger: createLogger({ level: 'error', write: () => undefined }) });
  const batches: LaneBatch[] = [];
  app.backgroundLane.onBatch = (b) => batches.push(b);
  try {
    await app.start();
    const lane = app.backgroundLane;
    assert.deepEqual(lane.members, names, 'every camera\'s check joined the one lane');
    const cams = names.map((n) => app.camera(n)!);
    // Halfway through, a reload removes `back`.
    await waitFor('a few rounds', () => batches.length >= 9, 20_000, 2);
    const removedAt = batches.length;
    const back = cams[1];
    await app.reload(parseAppConfig(yaml(dataDir, ['front', 'yard']), join(tmp.dir, 'segrec.yml')));
    await back.backgroundCheck.done;
    assert.ok(back.backgroundCheck.rowsChecked < ROWS, 'it was stopped before it finished');
    const removedBatches = batches.filter((b) => b.member === 'back').length;
    await Promise.all([cams[0].backgroundCheck.done, cams[2].backgroundCheck.done]);
    for (const p of [cams[0], cams[2]]) {
      assert.equal(p.backgroundCheck.rowsChecked, ROWS, `${p.name} checked every row`);
      assert.equal(p.recovery.droppedRows, 0, `${p.name}: every file is as sealed`);
      assert.equal(p.recovery.corrupt.filter((c) => /\/[12]\.mp4$/.test(c)).length, 2, `${p.name}: the day directories were searched`);
    }
    assert.equal(batches.filter((b) => b.member === 'back').length, removedBatches, 'no batch of the removed camera after it stopped');
    assert.deepEqual(lane.members, [], 'finished checks leave the lane');

    // Never two batches at once, each after the rest the one before it earned, whichever camera ran them.
    assert.equal(lane.maxRunning, 1);
    assertRested(batches, lane.pauseMs);
    const span = batches[batches.length - 1].startMs + batches[batches.length - 1].ms - batches[0].startMs;
    const busyMs = batches.reduce((n, b) => n + b.ms, 0);
    assert.ok(busyMs / span <= 0.55, `the checks together worked ${busyMs.toFixed(0)} of ${span.toFixed(0)} ms`);
    // Turns: while all three checked, strictly front, back, yard, …; then front and yard alternate until one finishes.
    const seq = batches.map((b) => b.member);
    const three = seq.slice(0, removedAt);
    three.forEach((m, i) => assert.equal(m, names[i % 3], `batch ${i} of ${three.join(',')}`));
    const firstDone = Math.min(seq.lastIndexOf('front'), seq.lastIndexOf('yard'));
    const two = seq.slice(removedAt, firstDone + 1).filter((m) => m !== 'back');
    assert.ok(two.length > 10, `${two.length} batches after the reload`);
    for (let i = 1; i < two.length; i++) assert.notEqual(two[i], two[i - 1], `after the reload: ${two.join(',')}`);
  } finally {
    await app.close();
    tmp.cleanup();
  }
});
