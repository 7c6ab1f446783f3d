// Crash recovery of an open segment larger than 4 GiB (an hour at ~9.5 Mbit/s): a real recording's
// fragments repeated, time running on, its last whole fragment's mdat with a 64-bit header, and a crash
// halfway through writing the next one. Recovery must stream it (a Buffer cannot hold more than 2 GiB)
// in bounded memory, index every fragment at its right offset past 2^32, and cut off the partial one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../../src/common/log.js';
import { parseInit } from '../../src/mp4/init.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { ticksToNs } from '../../src/mp4/time.js';
import { crc32 } from '../../src/producer/segments/crc32.js';
import { fragmentTimes, videoTrack } from '../../src/producer/segments/fragment-times.js';
import { segmentAbsPath, segmentRelPath, segmentsDirOf } from '../../src/producer/segments/paths.js';
import { PtsClock } from '../../src/producer/segments/pts-clock.js';
import { reconcile } from '../../src/producer/segments/recovery.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { ptsAdd, ptsMs } from '../../src/protocol/pts.js';
import { writeRepeatedSegment } from '../helpers/big-segment.js';
import { decodeErrors, probeFrames, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { makeRecording } from '../helpers/recordings.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const BASE_EPOCH_MS = 1_764_000_000_000;

/** Peak RSS since the last reset (Linux: VmHWM, reset by writing 5 to clear_refs); null elsewhere. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

function readAt(path: string, offset: number, size: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const k = readSync(fd, b, done, size - done, offset + done);
      if (k === 0) break;
      done += k;
    }
    return b.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

test('a crashed open segment of more than 4 GiB is recovered by streaming: every fragment indexed past 2^32, the partial one cut off, memory bounded', async (t) => {
  const tmp = tempDir('segrec-big-');
  let database: ReturnType<typeof openDatabase> | null = null;
  try {
    const free = statfsSync(tmp.dir);
    assert.ok(free.bavail * free.bsize > 4.5 * GiB, `this test writes a 4.04 GiB file: ${tmp.dir} has ${(free.bavail * free.bsize / GiB).toFixed(1)} GiB free`);
    // A real recording as the producer records one (1280x720 lossless, ~2 MiB fragments: few fragments per GiB).
    const recPath = join(tmp.dir, 'rec.mp4');
    await makeRecording(recPath, { seconds: 4, fps: 30, gop: 30, bframes: 2, codec: 'h264', audio: true, size: '1280x720', qp: 0 });
    const rec = readFileSync(recPath);
    const recScan = scanFragmentedFile(rec);
    const init = parseInit(recScan.init!.bytes);
    const video = videoTrack(init)!;

    // The open segment a crash left: its row (unsealed, the first fragments indexed), its file ending in
    // the next fragment's moof and half its mdat.
    const dataDir = join(tmp.dir, 'data');
    const segmentsDir = segmentsDirOf(dataDir);
    mkdirSync(segmentsDir, { recursive: true });
    const offsetNs = 3_600_000_000_000n;
    const startNs = ptsAdd(offsetNs, fragmentTimes(init, recScan.fragments[0].moof)!.startRelNs);
    const startEpochMs = BASE_EPOCH_MS + ptsMs(startNs);
    const rel = segmentRelPath(startNs, startEpochMs);
    const abs = segmentAbsPath(segmentsDir, rel);
    mkdirSync(dirname(abs), { recursive: true });
    let t0 = performance.now();
    const big = writeRepeatedSegment(abs, rec, 4 * GiB + 32 * MiB, {
      largeLast: true,
      tail: (next) => next.subarray(0, recScan.fragments[0].moofSize + Math.floor((next.length - recScan.fragments[0].moofSize) / 2)),
    });
    const writeMs = performance.now() - t0;
    assert.ok(big.validBytes > 4 * GiB && big.last.offset > 2 ** 32, 'the last whole fragment lies past 4 GiB');
    assert.equal(statSync(abs).size, big.validBytes + big.tailBytes);

    database = openDatabase(join(dataDir, 'index.sqlite'));
    const index = new SegmentIndex(database);
    const audio = init.tracks.find((x) => x.kind === 'audio');
    const id = index.insertSegment({
      path: rel, run_id: 1, start_pts_ns: startNs, start_epoch_ms: startEpochMs, offset_ns: offsetNs, anchor_epoch_ms: startEpochMs,
      anchor_pts_ns: startNs, bytes: init.bytes.length, init_size: init.bytes.length, codec: video.codec,
      codec_string: [video.codecString, audio?.codecString].filter(Boolean).join(','), width: video.width ?? 0, height: video.height ?? 0,
      fps: 30, has_audio: audio ? 1 : 0, description_key: init.tracks.map((x) => x.descriptionKey).join('+'), created_ms: Date.now(),
    });
    let bytes = init.bytes.length;
    for (const [seq, f] of recScan.fragments.slice(0, 2).entries()) {
      const ft = fragmentTimes(init, f.moof)!;
      bytes += f.size;
      index.addFragment(
        { segment_id: id, seq, start_pts_ns: ptsAdd(offsetNs, ft.startRelNs), stop_pts_ns: ptsAdd(offsetNs, ft.stopRelNs), offset: f.offset, size: f.size,
          moof_size: f.moofSize, samples: ft.samples, keyframe: 1, crc: crc32(rec.subarray(f.offset, f.offset + f.size)) },
        { bytes, frames: ft.frames, startEpochMs, stopEpochMs: startEpochMs + (ft.stopRelNs - ft.startRelNs) / 1e6 },
      );
    }

    // Recovery at start, measured.
    const rssBefore = process.memoryUsage().rss;
    const peakKnown = resetPeakRss();
    t0 = performance.now();
    const report = reconcile(index, new PtsClock(BASE_EPOCH_MS), segmentsDir, silentLogger);
    const recoverMs = performance.now() - t0;
    const growth = peakRss() - rssBefore;
    t.diagnostic(`file ${(big.validBytes / GiB).toFixed(2)} GiB, ${big.fragmentCount} fragments: written in ${(writeMs / 1000).toFixed(1)} s, `
      + `recovered in ${(recoverMs / 1000).toFixed(1)} s, ${peakKnown ? 'peak ' : ''}RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    assert.deepEqual(report.corrupt, []);
    assert.equal(report.recoveredOpen, 1);
    assert.equal(report.truncatedBytes, big.tailBytes, 'the partial fragment is cut off');
    assert.ok(growth < 64 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB during recovery`);

    const row = index.get(id)!;
    assert.equal(row.sealed, 1, 'sealed');
    assert.equal(row.fragments, big.fragmentCount);
    assert.equal(row.bytes, big.validBytes);
    assert.equal(statSync(abs).size, big.validBytes, 'truncated to its last whole fragment');
    const frags = index.fragmentsOf(id);
    assert.equal(frags.length, big.fragmentCount);
    // Back to back from the init, no offset wrapped at 2^31 or 2^32, time running on.
    let expectOffset = init.bytes.length;
    for (const [i, f] of frags.entries()) {
      assert.equal(f.offset, expectOffset, `fragment ${i} offset`);
      expectOffset += f.size;
      if (i > 0) assert.ok(f.start_pts_ns > frags[i - 1].start_pts_ns, `fragment ${i} starts after the one before`);
    }
    const last = frags[frags.length - 1];
    assert.equal(last.offset, big.last.offset);
    assert.equal(last.size, big.last.size);
    assert.equal(last.moof_size, big.last.moofSize);
    assert.equal(last.crc, crc32(big.last.bytes));
    const src = recScan.fragments[big.last.index];
    const srcRun = src.moof.trackRuns.find((r) => r.trackId === video.trackId)!;
    const shiftTicks = big.last.repetition * big.durationTicks.get(video.trackId)!;
    const minPts = Math.min(...srcRun.samples.map((s) => s.decodeTime + s.ctsOffset));
    assert.equal(last.start_pts_ns, ptsAdd(offsetNs, ticksToNs(minPts + shiftTicks, video.timescale)), 'the last fragment\'s time');
    assert.equal(row.stop_pts_ns, last.stop_pts_ns);

    // The last fragment, read back from where the index says it is, decodes to the recording's frames.
    const lastFile = join(tmp.dir, 'last.mp4');
    const srcFile = join(tmp.dir, 'src-last.mp4');
    writeFileSync(lastFile, Buffer.concat([readAt(abs, 0, row.init_size), readAt(abs, last.offset, last.size)]));
    writeFileSync(srcFile, Buffer.concat([big.init, big.fragments[big.last.index]]));
    assert.equal(await decodeErrors(lastFile), '');
    const [md5s, srcMd5s, probed, srcProbed] = await Promise.all([videoFrameMd5s(lastFile), videoFrameMd5s(srcFile), probeFrames(lastFile), probeFrames(srcFile)]);
    assert.equal(md5s.length, srcRun.samples.length, 'every frame of the fragment decodes');
    assert.deepEqual(md5s, srcMd5s, 'the same pictures');
    assert.equal(probed[0].pts - srcProbed[0].pts, shiftTicks, 'at the repetition\'s time');
  } finally {
    database?.close();
    tmp.cleanup();
  }
});
