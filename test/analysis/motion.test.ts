// Motion detector: unit behaviour on synthetic frames (start/stop/cooldown/min length/gaps/splitting),
// then the real thing: the built-in testsrc (with its per-frame clock/counter text) encoded to H.264 with
// known motion intervals, read by the FrameReader, must give exactly those intervals (± one frame) and
// nothing during the still periods; and the whole pipeline turns them into padded clip requests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FrameReader, type Frame } from '../../src/analysis/frame-reader.js';
import {
  DEFAULT_MOTION_OPTIONS, MotionDetector, boxBlurGray, changedFraction, downscaleGray, type MotionEvent, type MotionFrame,
} from '../../src/analysis/motion-detector.js';
import { ClipPlanner, parseJsonl, toJsonl, type AnalysisRecord } from '../../src/analysis/event-clips.js';
import { ClipStage, type ClipRequester, type PtsClipRequest } from '../../src/analysis/clip-stage.js';
import { runMotionPipeline } from '../../src/analysis/pipeline.js';
import { findOverlayFont, testsrcGraph, type TestsrcOptions } from '../../src/producer/ingest/testsrc.js';
import { runOk, tempDir } from '../helpers/media.js';

const W = 32;
const H = 24;
const FRAME_NS = 100_000_000; // 10 fps

/** A flat grey picture with an optional bright 8×8 square at x. */
function synth(i: number, squareX: number | null, ptsNs = i * FRAME_NS): MotionFrame {
  const gray = new Uint8Array(W * H).fill(60);
  if (squareX !== null) {
    for (let y = 8; y < 16; y++) for (let x = squareX; x < squareX + 8 && x < W; x++) gray[y * W + x] = 200;
  }
  return { gray, width: W, height: H, ptsNs };
}

function runSynthetic(det: MotionDetector, frames: MotionFrame[]): MotionEvent[] {
  const out: MotionEvent[] = [];
  for (const f of frames) out.push(...det.push(f));
  out.push(...det.flush());
  return out;
}

const unitOpts = { blurRadius: 0, minArea: 0.02, cooldownMs: 300, minEventMs: 0 };

describe('MotionDetector (synthetic frames)', () => {
  it('scores the fraction of pixels that changed by more than the threshold', () => {
    const a = new Uint8Array([10, 10, 10, 10]);
    const b = new Uint8Array([10, 36, 35, 200]);
    assert.equal(changedFraction(a, b, 25), 0.5);
    assert.deepEqual([...downscaleGray(new Uint8Array([0, 4, 8, 12, 1, 1, 1, 1]), 4, 2, 2).data], [2, 6]);
    assert.deepEqual([...boxBlurGray(new Uint8Array([0, 9, 0]), 3, 1, 1)], [3, 3, 3]);
  });

  it('[start, stop) covers exactly the frames that differ from their predecessor', () => {
    // Square visible in frames 10..20 (moving 1 px per frame): frames 10..21 differ from the previous one
    // (21 is the frame where it disappears).
    const frames = Array.from({ length: 40 }, (_, i) => synth(i, i >= 10 && i <= 20 ? i : null));
    const events = runSynthetic(new MotionDetector(unitOpts), frames);
    assert.equal(events.length, 1);
    assert.equal(events[0].startPtsNs, 10 * FRAME_NS);
    assert.equal(events[0].stopPtsNs, 22 * FRAME_NS);
    assert.equal(events[0].frames, 12);
    assert.ok(events[0].peakScore > 0.02 && events[0].peakScore <= 1);
  });

  it('reports an event only once the cooldown has passed, bridging shorter pauses', () => {
    const det = new MotionDetector(unitOpts);
    const visible = (i: number): boolean => (i >= 5 && i <= 8) || (i >= 11 && i <= 14) || (i >= 30 && i <= 33);
    const completedAt: number[] = [];
    const events: MotionEvent[] = [];
    for (let i = 0; i < 60; i++) {
      const done = det.push(synth(i, visible(i) ? i % W : null));
      if (done.length) completedAt.push(i);
      events.push(...done);
    }
    assert.deepEqual(events.map((e) => [e.startPtsNs / FRAME_NS, e.stopPtsNs / FRAME_NS]), [[5, 16], [30, 35]]);
    // The first event's last motion frame is 15; the cooldown (300 ms = 3 frames) passes at frame 18.
    assert.equal(completedAt[0], 18);
    assert.equal(det.openEventStartPtsNs, null);
  });

  it('drops events shorter than minEventMs and ignores changes below minArea', () => {
    // One-frame flash: frames 10 and 11 differ → a 200 ms event.
    const flash = Array.from({ length: 20 }, (_, i) => synth(i, i === 10 ? 4 : null));
    assert.equal(runSynthetic(new MotionDetector({ ...unitOpts, minEventMs: 250 }), flash).length, 0);
    assert.equal(runSynthetic(new MotionDetector({ ...unitOpts, minEventMs: 200 }), flash).length, 1);
    // A single changed pixel per frame is 0.13 % of the picture: not motion.
    const speck = Array.from({ length: 20 }, (_, i) => {
      const f = synth(i, null);
      f.gray[i] = 255;
      return f;
    });
    assert.equal(runSynthetic(new MotionDetector(unitOpts), speck).length, 0);
  });

  it('ends the open event at a PTS gap, a size change or backwards PTS, without diffing across it', () => {
    const det = new MotionDetector(unitOpts);
    const out: MotionEvent[] = [];
    for (let i = 0; i < 10; i++) out.push(...det.push(synth(i, i >= 5 ? i : null)));
    assert.equal(det.openEventStartPtsNs, 5 * FRAME_NS);
    // 5 s later (> maxGapMs): the event ends at its last frame + one interval; the new frame is a fresh reference.
    out.push(...det.push(synth(60, null)));
    assert.deepEqual(out.map((e) => [e.startPtsNs, e.stopPtsNs]), [[5 * FRAME_NS, 10 * FRAME_NS]]);
    assert.equal(det.lastScore, 0);
    assert.equal(det.openEventStartPtsNs, null);
    // Backwards PTS is a discontinuity too.
    assert.deepEqual(det.push(synth(61, null)), []);
    assert.deepEqual(det.push(synth(0, 3)), []);
    assert.equal(det.lastScore, 0);
    // A different picture size restarts the reference instead of throwing.
    assert.deepEqual(det.push({ gray: new Uint8Array(16 * 12).fill(200), width: 16, height: 12, ptsNs: 2 * FRAME_NS }), []);
    assert.equal(det.lastScore, 0);
    assert.deepEqual(det.push({ gray: new Uint8Array(16 * 12).fill(20), width: 16, height: 12, ptsNs: 3 * FRAME_NS }), []);
    assert.equal(det.lastScore, 1);
    // Non-finite PTS frames are skipped.
    assert.deepEqual(det.push({ ...synth(1, null), ptsNs: Number.NaN }), []);
    assert.equal(det.skippedFrames, 1);
  });

  it('splits continuous motion every maxEventMs into contiguous events', () => {
    const frames = Array.from({ length: 50 }, (_, i) => synth(i, i % 2 === 0 ? 0 : 16));
    const events = runSynthetic(new MotionDetector({ ...unitOpts, maxEventMs: 2000 }), frames);
    assert.deepEqual(events.map((e) => [e.startPtsNs / FRAME_NS, e.stopPtsNs / FRAME_NS]), [[1, 21], [21, 41], [41, 50]]);
  });

  it('validates its options', () => {
    assert.throws(() => new MotionDetector({ minArea: 0 }), RangeError);
    assert.throws(() => new MotionDetector({ downscale: 1.5 }), RangeError);
    assert.throws(() => new MotionDetector({ noiseThreshold: 300 }), RangeError);
  });
});

/** testsrc without `realtime`, encoded as fast as possible. */
async function makeTestsrc(path: string, o: TestsrcOptions, seconds: number): Promise<void> {
  const graph = testsrcGraph(o).replace(',realtime[out0]', '[out0]');
  assert.ok(!graph.includes('realtime'));
  await runOk('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', graph, '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '30', '-g', String(o.fps), '-bf', '0', '-pix_fmt', 'yuv420p', path]);
}

/** The frames in which the object is drawn: n/fps within [offset, offset + duration] of a period (overlay's `between`). */
function knownIntervalsNs(o: TestsrcOptions, seconds: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let p = 0; p * o.motionPeriodS < seconds; p++) {
    const first = Math.round((p * o.motionPeriodS + o.motionOffsetS) * o.fps);
    const last = Math.round((p * o.motionPeriodS + o.motionOffsetS + o.motionDurationS) * o.fps);
    if (first >= seconds * o.fps) break;
    out.push([first * 1e9 / o.fps, (Math.min(last, seconds * o.fps - 1) + 1) * 1e9 / o.fps]);
  }
  return out;
}

describe('pipeline at 100 years of producer clock (frames on a bigint base, PTS past 2^53)', () => {
  it('places events on base + frame time exactly, per connection, and asks for exact bigint clips', async () => {
    const B1 = 3_155_760_000_000_000_007n; // 100 years and an odd ns
    const B2 = B1 + 3_600_000_000_001n; // the next ingest run, an hour later
    const requests: PtsClipRequest[] = [];
    const recorder: ClipRequester = {
      requestClip: async (req) => {
        requests.push(req);
        return { jobId: `clip-${requests.length}`, path: null };
      },
    };
    const records: AnalysisRecord[] = [];
    async function* frames(): AsyncGenerator<MotionFrame & { connection: number; ptsBaseNs: bigint }> {
      // Connection 1: the square is visible in frames 10..20 → event [10, 22) frames; connection 2: 5..10 → [5, 12).
      for (let i = 0; i < 40; i++) yield { ...synth(i, i >= 10 && i <= 20 ? i : null), connection: 1, ptsBaseNs: B1 };
      for (let i = 0; i < 40; i++) yield { ...synth(i, i >= 5 && i <= 10 ? i : null), connection: 2, ptsBaseNs: B2 };
    }
    const summary = await runMotionPipeline({
      frames: frames(),
      detector: new MotionDetector(unitOpts),
      stage: new ClipStage({ recorder, label: 'motion_event', onRecord: (r) => records.push(r) }),
      planner: new ClipPlanner({ prerollMs: 1000, postrollMs: 500 }),
    });
    assert.equal(summary.events, 2);
    const F = BigInt(FRAME_NS);
    assert.deepEqual(requests, [
      { startPtsNs: B1 + 10n * F - 1_000_000_000n, stopPtsNs: B1 + 22n * F + 500_000_000n, label: 'motion_event' },
      { startPtsNs: B2 + 5n * F - 1_000_000_000n, stopPtsNs: B2 + 12n * F + 500_000_000n, label: 'motion_event' },
    ]);
    const events = records.filter((r) => r.type === 'event');
    assert.deepEqual(events.map((e) => [e.startPtsNs, e.stopPtsNs, e.durationMs]),
      [[B1 + 10n * F, B1 + 22n * F, 1200], [B2 + 5n * F, B2 + 12n * F, 700]]);
    // On disk (JSONL) the PTS are plain integers with all their digits, and they read back exactly.
    const line = toJsonl(events[0]);
    assert.match(line, new RegExp(`"start_pts_ns":${B1 + 10n * F},"stop_pts_ns":${B1 + 22n * F},`));
    assert.deepEqual(parseJsonl(line), [events[0]]);
  });
});

describe('motion on the real testsrc', () => {
  const tmp = tempDir('segrec-motion-');
  const small: TestsrcOptions = { width: 320, height: 180, fps: 15, gopSeconds: 1, motionPeriodS: 10, motionDurationS: 3, motionOffsetS: 4 };
  const hd: TestsrcOptions = { width: 1280, height: 720, fps: 15, gopSeconds: 1, motionPeriodS: 6, motionDurationS: 2, motionOffsetS: 2 };
  const smallMp4 = join(tmp.dir, 'small.mp4');
  const hdMp4 = join(tmp.dir, 'hd.mp4');
  let smallFrames: Frame[] = [];

  before(async () => {
    await Promise.all([makeTestsrc(smallMp4, small, 20), makeTestsrc(hdMp4, hd, 6)]);
    for await (const f of new FrameReader({ input: smallMp4 })) smallFrames.push(f);
  });
  after(() => {
    smallFrames = [];
    tmp.cleanup();
  });

  it('draws the clock/frame-counter text (so ignoring it is really tested)', () => {
    assert.ok(findOverlayFont(), 'a DejaVu font must be installed for the testsrc overlay');
    assert.match(testsrcGraph(small), /drawtext=.*%\{n\}/);
    // The text corner changes on every frame (the counter), also during still periods.
    const corner = (f: Frame): number[] => Array.from({ length: 10 }, (_, y) => [...f.gray.subarray((3 + y) * f.width, (3 + y) * f.width + 100)]).flat();
    assert.notDeepEqual(corner(smallFrames[20]), corner(smallFrames[21]));
  });

  it('finds exactly the known motion intervals (± one frame) and nothing in the still periods', () => {
    assert.equal(smallFrames.length, 300);
    const det = new MotionDetector();
    const events: MotionEvent[] = [];
    const scores: number[] = [];
    for (const f of smallFrames) {
      events.push(...det.push(f));
      scores.push(det.lastScore);
    }
    events.push(...det.flush());
    const known = knownIntervalsNs(small, 20);
    assert.deepEqual(known, [[4e9, 106e9 / 15], [14e9, 256e9 / 15]]);
    const frameNs = 1e9 / 15;
    assert.equal(events.length, known.length, JSON.stringify(events));
    events.forEach((ev, i) => {
      assert.ok(Math.abs(ev.startPtsNs - known[i][0]) <= frameNs + 1, `event ${i} start ${ev.startPtsNs} vs ${known[i][0]}`);
      assert.ok(Math.abs(ev.stopPtsNs - known[i][1]) <= frameNs + 1, `event ${i} stop ${ev.stopPtsNs} vs ${known[i][1]}`);
      // And the event covers every frame that shows the object.
      assert.ok(ev.startPtsNs <= known[i][0] && ev.stopPtsNs >= known[i][1]);
    });
    // Still periods: far below the threshold despite the changing text.
    const stillMax = Math.max(...scores.filter((_, i) => {
      const t = (i / 15) % 10;
      return t < 4 || t > 7 + 2 / 15;
    }));
    assert.ok(stillMax < DEFAULT_MOTION_OPTIONS.minArea / 3, `still max score ${stillMax}`);
  });

  it('also at the producer default size (1280×720 read at 160 px)', async () => {
    const det = new MotionDetector();
    const events: MotionEvent[] = [];
    for await (const f of new FrameReader({ input: hdMp4 })) events.push(...det.push(f));
    events.push(...det.flush());
    const known = knownIntervalsNs(hd, 6);
    assert.deepEqual(known, [[2e9, 4e9 + 1e9 / 15]]);
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.ok(Math.abs(events[0].startPtsNs - known[0][0]) <= 1e9 / 15 + 1);
    assert.ok(Math.abs(events[0].stopPtsNs - known[0][1]) <= 1e9 / 15 + 1);
  });

  it('pipeline: frames → events → padded clip requests → JSONL', async () => {
    const requests: PtsClipRequest[] = [];
    const recorder: ClipRequester = {
      requestClip: async (req) => {
        requests.push(req);
        return { jobId: `clip-${requests.length}`, path: `/clips/${requests.length}.mp4` };
      },
    };
    const logPath = join(tmp.dir, 'motion.jsonl');
    const released: number[] = [];
    async function* frames(): AsyncGenerator<Frame> {
      for (const f of smallFrames) {
        yield f;
        released.push(f.ptsNs);
      }
    }
    const clipAt: number[] = [];
    const summary = await runMotionPipeline({
      frames: frames(),
      stage: new ClipStage({ recorder, logPath, label: 'motion_event' }),
      planner: new ClipPlanner({ prerollMs: 1000, postrollMs: 1500 }),
      onClip: () => clipAt.push(released[released.length - 1]),
    });
    assert.equal(summary.frames, 300);
    assert.equal(summary.events, 2);
    assert.equal(summary.clips, 2);
    assert.equal(summary.clipErrors, 0);
    const recs = parseJsonl(readFileSync(logPath, 'utf8'));
    assert.deepEqual(recs.map((r) => r.type), ['event', 'clip', 'event', 'clip']);
    const evs = recs.filter((r) => r.type === 'event');
    assert.deepEqual(requests, evs.map((e) => ({ startPtsNs: Number(e.startPtsNs) - 1e9, stopPtsNs: Number(e.stopPtsNs) + 1.5e9, label: 'motion_event' })));
    // The first clip was released while streaming, once no later event could merge with it (not at the end).
    assert.ok(clipAt[0] < 10e9, `first clip released at ${clipAt[0]}`);
  });
});
