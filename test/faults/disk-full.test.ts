// Fault: the disk fills up. Recording on a small tmpfs (the whole data directory, index included): when
// a fragment cannot be written (ENOSPC) the producer neither crashes nor wedges — it drops what it cannot
// store (a recorded gap, a logged error, /health says so), keeps every sealed segment intact, runs
// retention (min free disk) to make room, and records again once there is room. A clip whose clip root
// is full ends in `error` naming the full disk, leaves no partial file, and works once space returns.
// Needs root to mount the tmpfs (skipped with a message otherwise; CI runs as root).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { decodeErrors, makeVideo, probeFrames, tempDir } from '../helpers/media.js';
import { allSegmentRows, getJson, listSegments, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { makeClip } from '../helpers/clips.js';
import type { HealthPayload } from '../../src/producer/health.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { PtsClock } from '../../src/producer/segments/pts-clock.js';
import { SegmentWriter, type IngestFragment } from '../../src/producer/segments/segment-writer.js';
import { createLogger } from '../../src/common/log.js';
import { PTS_MAX, ptsDiff } from '../../src/protocol/pts.js';
import { clipRootState, Figures, fillDisk, md5File, sleep, withTmpfs } from './support.js';

type Producer = Awaited<ReturnType<typeof startTestProducer>>;

const fig = new Figures('disk-full');
const tmp = tempDir('segrec-diskfull-');
after(() => tmp.cleanup());

async function health(url: string): Promise<HealthPayload> {
  return (await getJson<HealthPayload>(`${url}/health`)).body;
}

async function checkSegments(p: Producer, dataDir: string, hashes: Map<string, string>): Promise<SegmentWire[]> {
  const { segments } = await listSegments(p.url);
  for (const [path, sum] of hashes) {
    if (!segments.some((s) => s.path === path)) continue; // removed by retention (logged), checked by the caller
    assert.equal(md5File(join(dataDir, 'segments', path)), sum, `${path} byte-identical`);
  }
  for (const s of segments.filter((x) => x.sealed)) {
    const file = join(dataDir, 'segments', s.path);
    // Retention may remove the oldest segment while it is being checked (the disk is nearly full).
    if (!existsSync(file)) continue;
    const size = statSync(file, { throwIfNoEntry: false })?.size;
    if (size === undefined) continue;
    const errors = await decodeErrors(file);
    const frames = await probeFrames(file).catch((e: unknown) => e as Error);
    // Retention may remove the oldest segment while it is being checked (the disk is nearly full).
    if (!existsSync(file)) continue;
    assert.equal(size, s.bytes, `${s.path}: file size = index`);
    assert.equal(errors, '', `${s.path} decodes cleanly`);
    if (frames instanceof Error) throw frames;
    assert.equal(frames.length, s.frames, `${s.path}: frames = index`);
  }
  for (let i = 1; i < segments.length; i++) assert.ok(segments[i].start_pts_ns >= segments[i - 1].stop_pts_ns, 'PTS monotonic');
  return segments;
}

const newestStop = async (p: Producer) => Math.max(0, ...(await listSegments(p.url)).segments.map((s) => s.stop_pts_ns));

test('the segment writer on a full disk: drops whole fragments, cuts partial writes, retries once after making room', { timeout: 60_000 }, async (t) => {
  const mnt = join(tmp.dir, 'writer-disk');
  await withTmpfs(t, mnt, 4, async () => {
    const src = join(tmp.dir, 'writer-src.mp4');
    await makeVideo(src, { seconds: 10, fps: 15, gop: 15, width: 320, height: 240 });
    const bytes = readFileSync(src);
    const scan = scanFragmentedFile(bytes);
    const init = scan.init!;
    const frags: IngestFragment[] = scan.fragments.map((f, i) => ({
      bytes: bytes.subarray(f.offset, f.offset + f.size), moofSize: bytes.readUInt32BE(f.offset), moof: f.moof, arrivalEpochMs: 1e12 + (i + 1) * 1000,
    }));
    const db = openDatabase(join(tmp.dir, 'writer-index.sqlite'));
    const index = new SegmentIndex(db);
    const logs: string[] = [];
    let makeRoom = () => 0;
    const segmentsDir = join(mnt, 'segments');
    const writer = new SegmentWriter({
      index, clock: new PtsClock(1e12), segmentsDir, segmentSeconds: 3, makeRoom: () => makeRoom(),
      log: createLogger({ level: 'debug', write: (l) => logs.push(l) }),
    });
    const onDisk = () => readdirSync(segmentsDir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name)).sort();
    const consistent = () => {
      const rows = allSegmentRows(index);
      assert.deepEqual(onDisk(), rows.map((r) => join(segmentsDir, r.path)).sort(), 'every file on disk is an indexed segment');
      for (const r of rows) assert.equal(statSync(join(segmentsDir, r.path)).size, r.bytes, `${r.path}: no partial fragment after the indexed bytes`);
    };
    try {
      writer.startRun(1, init);
      for (const f of frags.slice(0, 4)) writer.appendFragment(f);
      const fill = fillDisk(mnt);
      writer.appendFragment(frags[4]); // nothing fits
      assert.equal(writer.counters.fragmentsDropped, 1);
      assert.ok(writer.storageFault && /disk full \(ENOSPC\)/.test(writer.storageFault.message), 'the writer reports the full disk');
      assert.equal(writer.openSegment, null, 'the open segment was sealed at its last whole fragment');
      consistent();
      truncateSync(fill.path, fill.bytes - 16 * 1024); // room for a part of the next fragment only
      writer.appendFragment(frags[5]);
      assert.equal(writer.counters.fragmentsDropped, 2, 'a fragment that fits only partly is dropped');
      consistent();
      makeRoom = () => { rmSync(fill.path); return 1; };
      writer.appendFragment(frags[6]); // fails, makes room, stored on the retry
      assert.equal(writer.counters.fragmentsDropped, 2, 'stored after making room');
      assert.equal(writer.storageFault, null, 'the fault is over');
      assert.ok(logs.some((l) => /fragment stored after retention made room/.test(l)));
      for (const f of frags.slice(7)) writer.appendFragment(f);
      writer.close();
      consistent();
      const gaps = index.gapsIn(0n, PTS_MAX);
      assert.equal(gaps.length, 1, 'one recorded gap');
      assert.match(gaps[0].reason, /disk full \(ENOSPC\).*2 fragment\(s\) not recorded/);
      const gapNs = ptsDiff(gaps[0].stop_pts_ns, gaps[0].start_pts_ns);
      assert.equal(Math.round(gapNs / 1e9), 2, 'the gap is the two dropped seconds');
      const rows = allSegmentRows(index);
      assert.equal(rows.reduce((n, r) => n + r.fragments, 0), frags.length - 2, 'every other fragment is indexed');
      for (const r of rows) {
        assert.equal(r.sealed, 1);
        const file = join(segmentsDir, r.path);
        assert.equal(await decodeErrors(file), '', `${r.path} decodes cleanly`);
        assert.equal((await probeFrames(file)).length, r.frames, `${r.path}: frames = index`);
      }
      fig.set('writer', { fragments: frags.length, dropped: 2, partialWriteCutOff: true, retriedAfterMakingRoom: true, gapMs: gapNs / 1e6 });
    } finally {
      db.close();
    }
  });
});

test('recording onto a full disk: degrades, reports, frees space with retention, records again', { timeout: 120_000 }, async (t) => {
  const mnt = join(tmp.dir, 'disk');
  await withTmpfs(t, mnt, 16, async () => {
    const dataDir = join(mnt, 'data');
    // A camera-like bit rate (~70 kB/s; the synthetic testsrc is ~6 kB/s, less than the index's own growth).
    const source = join(tmp.dir, 'camera.mp4');
    await makeVideo(source, { seconds: 30, fps: 15, gop: 15, width: 320, height: 240, container: 'plain' });
    const p = await startTestProducer(dataDir, { source, segmentSeconds: 1 });
    let filler: string | null = null;
    try {
      await waitFor('3 sealed segments', async () => (await listSegments(p.url)).segments.filter((s) => s.sealed).length >= 3, 30_000);
      const hashes = new Map((await listSegments(p.url)).segments.filter((s) => s.sealed)
        .map((s) => [s.path, md5File(join(dataDir, 'segments', s.path))]));

      // 1. Another tenant fills the disk; no retention limit is configured, so nothing can be freed.
      const fill = fillDisk(mnt);
      filler = fill.path;
      const fullAt = Date.now();
      const endAtFull = await newestStop(p);
      const degraded = await waitFor('/health to report the full disk', async () => {
        const h = await health(p.url);
        return /disk full|ENOSPC|no space/i.test(h.ingest.last_error ?? '') ? h : null;
      }, 15_000, 50);
      const reportedMs = Date.now() - fullAt;
      await sleep(3000); // a few fragments that cannot be stored
      const during = await health(p.url);
      assert.equal(during.ok, true, 'the producer answers while the disk is full');
      assert.notEqual(during.ingest.state, 'running', `/health state says recording is degraded: ${during.ingest.state}`);
      assert.ok(p.logs.some((l) => /ERROR/.test(l) && /disk full|ENOSPC|no space/i.test(l)), 'an error is logged');
      assert.ok(p.producer.ingest.pid !== null, 'ffmpeg keeps running (the source is fine, the disk is not)');
      await checkSegments(p, dataDir, hashes);

      // 2. Space returns: recording resumes by itself, and the dropped time is a recorded gap.
      rmSync(fill.path);
      filler = null;
      const freedAt = Date.now();
      await waitFor('recording again after space returns', async () => (await newestStop(p)) > endAtFull + 3e9, 20_000, 50);
      const againMs = Date.now() - freedAt;
      await waitFor('/health running', async () => (await health(p.url)).ingest.state === 'running', 10_000);
      const { gaps } = await listSegments(p.url);
      const gap = gaps.find((g) => /disk full/i.test(g.reason));
      assert.ok(gap, `the dropped footage is a recorded gap: ${JSON.stringify(gaps)}`);
      const droppedMs = (gap.stop_pts_ns - gap.start_pts_ns) / 1e6;
      assert.ok(droppedMs >= 2000, `the gap covers the time the disk was full (${droppedMs} ms)`);
      await checkSegments(p, dataDir, hashes);

      // 3. With --min-free-bytes, a full disk triggers retention at once: the oldest footage makes room.
      const minFree = 512 * 1024;
      await waitFor('enough footage for retention to free', async () =>
        (await listSegments(p.url)).segments.filter((s) => s.sealed).reduce((n, s) => n + s.bytes, 0) > 2 * minFree, 30_000);
      const removedBefore = p.producer.retention.removedSegments;
      const gapsBefore = (await listSegments(p.url)).gaps.length;
      p.producer.retention.limits = { maxAgeMs: null, maxBytes: null, minFreeBytes: minFree };
      const fill2 = fillDisk(mnt, 'filler2.bin');
      filler = fill2.path;
      const full2At = Date.now();
      const end2 = await newestStop(p);
      await waitFor('recording to continue with retention making room', async () => (await newestStop(p)) > end2 + 3e9, 20_000, 50);
      const removed = p.producer.retention.removedSegments - removedBefore;
      assert.ok(removed >= 1, 'retention removed the oldest segments');
      assert.ok(p.logs.some((l) => /retention removed segment/.test(l) && /min free disk/.test(l)), 'and logged why');
      const after3 = await listSegments(p.url);
      const newGaps = after3.gaps.slice(gapsBefore).filter((g) => g.start_pts_ns >= end2 - 1e9);
      assert.deepEqual(newGaps.filter((g) => /disk full/.test(g.reason)), [], 'with retention making room, no footage is dropped');
      // Either the next fragment hits ENOSPC and the writer retries after retention made room, or the
      // 5-second retention timer runs first and makes room before anything fails (the writer's retry is
      // tested on its own above). Either way SQLite itself may be out of room: retention then removes
      // the files before their rows.
      const viaWriterRetry = p.logs.some((l) => /fragment stored after retention made room/.test(l));
      const retentionBeforeIndex = p.logs.some((l) => /disk full: removed segment files before their index rows/.test(l));
      await waitFor('/health running', async () => (await health(p.url)).ingest.state === 'running', 10_000);
      await checkSegments(p, dataDir, hashes);
      fig.set('recording', {
        tmpfsMiB: 16, fillerBytes: fill.bytes, reportedAfterMs: reportedMs, stateWhileFull: during.ingest.state,
        lastErrorWhileFull: degraded.ingest.last_error, recordAgainAfterSpaceMs: againMs, gapWhileFullMs: Math.round(droppedMs),
        retention: { minFreeBytes: minFree, segmentsRemoved: removed, viaWriterRetry, retentionBeforeIndex, continuedWithinMs: Date.now() - full2At,
          gapsWithRetention: newGaps.map((g) => `${Math.round((g.stop_pts_ns - g.start_pts_ns) / 1e6)} ms (${g.reason})`) },
        fragmentsDropped: p.producer.writer.counters.fragmentsDropped,
      });
    } catch (e) {
      t.diagnostic(`producer log (last 60 lines):\n${p.logs.filter((l) => !/ DEBUG /.test(l)).slice(-60).join('\n')}`);
      throw e;
    } finally {
      // Space first: with a store (the distributed pass) close() checks that every upload is recorded, which
      // a full index cannot do (the uploader retries until it can).
      if (filler) rmSync(filler, { force: true });
      await p.close();
    }
  });
});

test('a clip onto a full clip root ends in error naming the full disk, leaves nothing behind, works once space returns', { timeout: 120_000 }, async (t) => {
  const root = join(tmp.dir, 'cliproot');
  await withTmpfs(t, root, 2, async () => {
    const dataDir = join(tmp.dir, 'clipdata');
    const p = await startTestProducer(dataDir, { segmentSeconds: 1, clipRoots: [root] });
    try {
      const segs = await waitFor('5 sealed segments', async () => {
        const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
        return s.length >= 5 ? s : null;
      }, 30_000);
      const hashes = new Map(segs.map((s) => [s.path, md5File(join(dataDir, 'segments', s.path))]));
      const win = { start_pts_ns: segs[0].start_pts_ns + 2e8, stop_pts_ns: segs[4].stop_pts_ns - 1e8 };
      const fill = fillDisk(root);
      const results: string[] = [];
      // Completely full, then with a little room (the clip's head fits, its samples do not).
      for (const room of [0, 12 * 1024]) {
        if (room > 0) truncateSync(fill.path, fill.bytes - room);
        const c = await makeClip(p.url, win);
        assert.equal(c.status, 'error', `with ${room} bytes free the clip fails`);
        assert.match(String(c.error), /disk.*full|no space left/i, `the error names the full disk: ${c.error}`);
        assert.ok(String(c.error).includes(root), `and where: ${c.error}`);
        results.push(String(c.error));
        const st = clipRootState(root);
        assert.deepEqual(st.temps, [], 'no temp file left');
        assert.deepEqual(st.mp4, [], 'no partial clip visible');
        assert.deepEqual(st.json, [], 'no sidecar without a clip');
      }
      for (const [path, sum] of hashes) assert.equal(md5File(join(dataDir, 'segments', path)), sum, `${path} intact`);
      const h = await health(p.url);
      assert.equal(h.ingest.state, 'running', 'recording is unaffected by a full clip root');
      rmSync(fill.path);
      const ok = await makeClip(p.url, win);
      assert.equal(ok.status, 'done', String(ok.error));
      assert.equal(await decodeErrors(ok.path!), '');
      fig.set('clip', { clipRootTmpfsMiB: 2, errors: results, afterSpaceReturns: ok.status });
    } finally {
      await p.close();
    }
  });
  fig.report(t);
});
