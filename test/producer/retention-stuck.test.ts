// A segment left unsealed by a failed recovery (its file cannot be read) can never be removed by
// retention; counted toward --retention-max-bytes it made every new segment look over the limit, so
// retention deleted each one right after sealing it. It is left out of the total (and logged once);
// the segments this process writes, the open one included, still count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createLogger, silentLogger } from '../../src/common/log.js';
import { parseInit } from '../../src/mp4/init.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { fragmentTimes, videoTrack } from '../../src/producer/segments/fragment-times.js';
import { segmentAbsPath, segmentRelPath, segmentsDirOf } from '../../src/producer/segments/paths.js';
import { PinSet, Retention } from '../../src/producer/segments/retention.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { ptsAdd } from '../../src/protocol/pts.js';
import { tempDir } from '../helpers/media.js';
import { listSegments, segmentFile, startTestProducer, waitFor } from '../helpers/producer.js';
import { makeRecording } from '../helpers/recordings.js';
import { at, BASE_EPOCH } from '../helpers/synthetic-index.js';

/** A segment row of `bytes` bytes in one fragment, from run `runId`, sealed or not. */
function addSegment(index: SegmentIndex, i: number, runId: number, bytes: number, sealed: boolean): number {
  const start = at(i * 10);
  const epoch = BASE_EPOCH + i * 10_000;
  const id = index.insertSegment({
    path: `2026-01-01/${start}.mp4`, run_id: runId, start_pts_ns: start, start_epoch_ms: epoch, offset_ns: 0n,
    anchor_epoch_ms: epoch, anchor_pts_ns: start, bytes: 100, init_size: 100, codec: 'avc1',
    codec_string: 'avc1.42c01e', width: 320, height: 180, fps: 15, has_audio: 0, description_key: 'k', created_ms: 0,
  });
  index.addFragment(
    { segment_id: id, seq: 0, start_pts_ns: start, stop_pts_ns: at(i * 10 + 10), offset: 100, size: bytes - 100, moof_size: 100, samples: 150, keyframe: 1, crc: 0 },
    { bytes, frames: 150, startEpochMs: epoch, stopEpochMs: epoch + 10_000 },
  );
  if (sealed) index.seal(id, null);
  return id;
}

test('max bytes leaves out what an earlier run left unsealed, counts the open segment of this one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'segrec-stuck-'));
  try {
    const build = () => {
      const index = new SegmentIndex(openDatabase(':memory:'));
      const stuck = addSegment(index, 0, 1, 1_000_000, false);
      const sealed = [1, 2, 3].map((i) => addSegment(index, i, 2, 1000, true));
      addSegment(index, 4, 2, 1000, false); // the open segment this process writes
      return { index, stuck, sealed };
    };
    const logs: string[] = [];
    const log = createLogger({ level: 'debug', write: (l) => logs.push(l) });
    const limits = { maxAgeMs: null, maxBytes: 5000, minFreeBytes: null };

    let { index, stuck, sealed } = build();
    let r = new Retention({ index, segmentsDir: dir, pins: new PinSet(), log, limits, firstRunId: 2 });
    assert.deepEqual(r.run(BASE_EPOCH), [], '4,000 bytes of this run: under the limit');
    assert.deepEqual(r.run(BASE_EPOCH), []);
    assert.equal(logs.filter((l) => /failed recovery/.test(l) && /\bERROR\b/.test(l)).length, 1, 'the stuck segment is logged once');
    r.limits = { ...limits, maxBytes: 3500 };
    assert.deepEqual(r.run(BASE_EPOCH).map((s) => s.id), [sealed[0]], 'the open segment counts: the oldest sealed one goes');
    assert.equal(index.get(stuck)?.sealed, 0, 'the stuck row is never a candidate');

    // Without knowing this process's first run, as before: the stuck row's bytes push out every sealed segment.
    ({ index, stuck, sealed } = build());
    r = new Retention({ index, segmentsDir: dir, pins: new PinSet(), log: silentLogger, limits });
    assert.deepEqual(r.run(BASE_EPOCH).map((s) => s.id), sealed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an open segment whose recovery fails (its path is a directory) is reported and never makes retention delete new footage', async () => {
  const tmp = tempDir();
  try {
    // The crash state: a row the writer was filling (run 1, unsealed, its fragments indexed), and in
    // place of its file something no read can get through, even as root: a directory.
    const recPath = join(tmp.dir, 'rec.mp4');
    await makeRecording(recPath, { seconds: 3, fps: 30, gop: 30, bframes: 0, codec: 'h264', audio: false, size: '1280x720', qp: 0 });
    const rec = readFileSync(recPath);
    const scan = scanFragmentedFile(rec);
    const init = parseInit(scan.init!.bytes);
    const video = videoTrack(init)!;
    const dataDir = join(tmp.dir, 'data');
    const segmentsDir = segmentsDirOf(dataDir);
    mkdirSync(segmentsDir, { recursive: true });
    const db = openDatabase(join(dataDir, 'index.sqlite'));
    const index = new SegmentIndex(db);
    const baseEpoch = Date.now() - 600_000;
    index.setMeta('clock_base_epoch_ms', String(baseEpoch));
    const startNs = ptsAdd(0n, fragmentTimes(init, scan.fragments[0].moof)!.startRelNs);
    const rel = segmentRelPath(startNs, baseEpoch);
    const id = index.insertSegment({
      path: rel, run_id: 1, start_pts_ns: startNs, start_epoch_ms: baseEpoch, offset_ns: 0n, anchor_epoch_ms: baseEpoch, anchor_pts_ns: startNs,
      bytes: init.bytes.length, init_size: init.bytes.length, codec: video.codec, codec_string: video.codecString, width: video.width ?? 0,
      height: video.height ?? 0, fps: 30, has_audio: 0, description_key: init.tracks.map((x) => x.descriptionKey).join('+'), created_ms: Date.now(),
    });
    let frames = 0;
    for (const [seq, f] of scan.fragments.entries()) {
      const t = fragmentTimes(init, f.moof)!;
      frames += t.frames;
      index.addFragment(
        { segment_id: id, seq, start_pts_ns: ptsAdd(0n, t.startRelNs), stop_pts_ns: ptsAdd(0n, t.stopRelNs), offset: f.offset, size: f.size, moof_size: f.moofSize, samples: t.samples, keyframe: 1, crc: null },
        { bytes: f.offset + f.size, frames, startEpochMs: baseEpoch, stopEpochMs: baseEpoch + t.stopRelNs / 1e6 },
      );
    }
    db.close();
    const stuckBytes = scan.validBytes;
    mkdirSync(segmentAbsPath(segmentsDir, rel), { recursive: true });
    assert.ok(existsSync(dirname(segmentAbsPath(segmentsDir, rel))));

    // Far more than the new footage below, far less than the stuck segment.
    const p = await startTestProducer(dataDir, { segmentSeconds: 1, retentionMaxBytes: Math.floor(stuckBytes / 2) });
    try {
      assert.ok(p.producer.recovery.corrupt.includes(rel), 'the failed recovery is reported');
      assert.ok(p.logs.some((l) => /\bERROR\b/.test(l) && /could not reconcile/.test(l) && l.includes(rel)), 'and logged as an error');
      const sealed = await waitFor('4 new sealed segments', async () => {
        const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
        return s.length >= 4 ? s : null;
      }, 30_000);
      p.producer.runRetention();
      assert.equal(p.producer.retention.removedSegments, 0, 'nothing removed: the new footage is under the limit');
      for (const s of sealed) assert.ok(existsSync(segmentFile(dataDir, s)), `${s.path} kept`);
      assert.ok(p.logs.some((l) => /\bERROR\b/.test(l) && /failed recovery/.test(l) && l.includes(rel)), 'retention says why the stuck segment does not count');
      assert.equal(p.producer.index.get(id)?.sealed, 0);

      // The limit still holds for the new footage itself: the oldest of it goes, never the stuck row.
      const newBytes = sealed.reduce((n, s) => n + s.bytes, 0);
      p.producer.retention.limits = { ...p.producer.retention.limits, maxBytes: Math.floor(newBytes / 2) };
      p.producer.runRetention();
      const removed = p.producer.retention.removedSegments;
      assert.ok(removed >= 1, 'over the limit by new footage alone: some removed');
      const now = (await listSegments(p.url)).segments;
      for (const s of sealed.slice(0, removed)) assert.ok(!now.some((x) => x.id === s.id), `the oldest new segment ${s.path} removed`);
      assert.ok(p.producer.index.get(id), 'the stuck row stays');
    } finally {
      await p.close();
    }
  } finally {
    tmp.cleanup();
  }
});
