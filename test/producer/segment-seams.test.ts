// Where one segment ends and the next begins inside one ingest run (segments/segment-writer.ts): the
// segments of a run never overlap, even when the source's timing steps back by a tick at the keyframe
// that starts the next segment — ffmpeg re-maps an RTSP stream's clock at each RTCP sender report, and
// a camera-suite run saw the segment after a +2000.011111 ms jump begin 11 µs before its predecessor's
// stop. Real files and a real index; the step is made by shifting the parsed moofs' decode times.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeVideo, tempDir } from '../helpers/media.js';
import { allSegmentRows } from '../helpers/producer.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import type { ParsedMoof } from '../../src/mp4/fragment.js';
import { ticksToNs } from '../../src/mp4/time.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { PtsClock } from '../../src/producer/segments/pts-clock.js';
import { SegmentWriter, type IngestFragment } from '../../src/producer/segments/segment-writer.js';
import { checkFragment } from '../../src/producer/segments/fragment-check.js';
import { createLogger } from '../../src/common/log.js';
import { ptsDiff } from '../../src/protocol/pts.js';

const tmp = tempDir('segrec-seams-');
after(() => tmp.cleanup());

/** The moof with every decode time moved by `ticks` (what the writer reads; the bytes stay as they are). */
const shifted = (m: ParsedMoof, ticks: number): ParsedMoof => ({
  sequenceNumber: m.sequenceNumber,
  trackRuns: m.trackRuns.map((r) => ({ trackId: r.trackId, baseDecodeTime: r.baseDecodeTime + ticks, samples: r.samples.map((s) => ({ ...s, decodeTime: s.decodeTime + ticks })) })),
});

async function record(label: string, stepAt: number, stepTicks: number) {
  const src = join(tmp.dir, `${label}.mp4`);
  // 15 fps, a keyframe (and fragment) every second, B-frames; 3 s segments: the 4th fragment starts the 2nd.
  await makeVideo(src, { seconds: 8, fps: 15, gop: 15, bframes: 2 });
  const bytes = readFileSync(src);
  const scan = scanFragmentedFile(bytes);
  const init = scan.init!;
  const video = init.tracks.find((t) => t.kind === 'video')!;
  const frags: IngestFragment[] = scan.fragments.map((f, i) => ({
    bytes: bytes.subarray(f.offset, f.offset + f.size), moofSize: bytes.readUInt32BE(f.offset),
    moof: i >= stepAt ? shifted(f.moof, stepTicks) : f.moof, arrivalEpochMs: 1e12 + (i + 1) * 1000,
  }));
  const index = new SegmentIndex(openDatabase(join(tmp.dir, `${label}.sqlite`)));
  const writer = new SegmentWriter({ index, clock: new PtsClock(1e12), segmentsDir: join(tmp.dir, `${label}-segments`), segmentSeconds: 3, log: createLogger({ level: 'error' }) });
  writer.startRun(1, init);
  for (const f of frags) writer.appendFragment(f);
  writer.close();
  return { index, rows: allSegmentRows(index), tickNs: ticksToNs(1, video.timescale), init, segmentsDir: join(tmp.dir, `${label}-segments`) };
}

test('a tick of backward jitter at the keyframe that starts a segment: the sealed segment stops where the next one starts', async () => {
  const even = await record('even', 3, 0);
  assert.ok(even.rows.length >= 2, `${even.rows.length} segments`);
  assert.equal(even.rows[1].start_pts_ns, even.rows[0].stop_pts_ns, 'without jitter the segments meet exactly');

  const step = await record('step', 3, -1);
  const [a, b] = step.rows;
  assert.equal(step.rows.length, even.rows.length);
  for (let i = 1; i < step.rows.length; i++) {
    assert.ok(step.rows[i].start_pts_ns >= step.rows[i - 1].stop_pts_ns, `segment ${i} starts at or after ${i - 1}'s stop (${step.rows[i].start_pts_ns} < ${step.rows[i - 1].stop_pts_ns})`);
  }
  assert.equal(b.start_pts_ns, a.stop_pts_ns, 'the sealed segment was brought down to the next start');
  const aboutATick = (ns: number) => Math.abs(ns - step.tickNs) <= 1; // ns rounding of absolute tick times
  assert.ok(aboutATick(ptsDiff(even.rows[0].stop_pts_ns, a.stop_pts_ns)), 'by the one tick the source stepped back');
  assert.ok(Math.abs(ptsDiff(a.stop_pts_ns, a.start_pts_ns) / 1e6 - (a.stop_epoch_ms - a.start_epoch_ms)) < 0.001, 'its epoch stop lowered with it');
  // Its fragments keep the times their moofs give (the last one ends a tick into the next segment), and
  // still match the file as clip assembly checks them.
  const frags = step.index.fragmentsOf(a.id);
  const last = frags[frags.length - 1];
  assert.ok(aboutATick(ptsDiff(last.stop_pts_ns, b.start_pts_ns)), `last fragment ends ${ptsDiff(last.stop_pts_ns, b.start_pts_ns)} ns into the next segment`);
  const file = readFileSync(join(step.segmentsDir, a.path));
  for (const f of frags) {
    const r = checkFragment(file.subarray(f.offset, f.offset + f.moof_size), f, step.init, a.offset_ns);
    assert.ok(!('why' in r), 'why' in r ? r.why : '');
  }
  assert.equal(step.rows.reduce((n, r) => n + r.frames, 0), even.rows.reduce((n, r) => n + r.frames, 0), 'no frame lost');
});
