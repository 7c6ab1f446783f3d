// Pure rules for timestamp jumps inside one ingest run (segments/discontinuity.ts, the fragment end in
// fragment-times.ts, a new run's placement in pts-clock.ts) and the rate limit on ffmpeg's warnings
// (ingest/warning-log.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyJump, holeReason, presentationHoles } from '../../src/producer/segments/discontinuity.js';
import { presentedStopRelNs, type FragmentTimes } from '../../src/producer/segments/fragment-times.js';
import { RunTimeline } from '../../src/producer/segments/run-timeline.js';
import type { InitSegment } from '../../src/mp4/init.js';
import { PtsClock } from '../../src/producer/segments/pts-clock.js';
import { WarningLog } from '../../src/producer/ingest/warning-log.js';
import { createLogger } from '../../src/common/log.js';

const F = 40e6; // 25 fps

test('holes in presentation: B-frame overlap and jitter are not holes; a forward step is, from the frontier', () => {
  // A fragment cut mid-GOP whose B-frames are presented before the previous fragment's last P.
  assert.deepEqual(presentationHoles(10 * F, [9 * F, 8 * F, 10 * F, 11 * F], F), { holes: [], frontierNs: 12 * F });
  // Two frames missing: within JUMP_FRAMES, jitter of a continuous stream.
  assert.equal(presentationHoles(10 * F, [12 * F, 13 * F], F).holes.length, 0);
  // A 2 s step: the hole runs from the frontier to the first frame after it.
  const r = presentationHoles(10 * F, [10 * F, 11 * F, 11 * F + 2e9, 12 * F + 2e9], F);
  assert.deepEqual(r.holes, [{ startNs: 12 * F, stopNs: 11 * F + 2e9 }]);
  assert.equal(r.frontierNs, 13 * F + 2e9);
  // The first fragment of a run has no frontier yet: holes inside it still count.
  assert.deepEqual(presentationHoles(-Infinity, [0, F], F).holes, []);
  assert.deepEqual(presentationHoles(-Infinity, [0, 5e9], F).holes, [{ startNs: F, stopNs: 5e9 }]);
});

test("a small early video step in a run with audio is named as the sender report's re-sync, once per run", () => {
  const base = { startNs: 6.08e9, stopNs: 6.08e9 + 263e6, runStartNs: 0, hasAudio: true, resyncSeen: false };
  const r = holeReason(base);
  assert.equal(r.resync, true);
  assert.match(r.reason, /video moved ahead 263 ms early in the run .*RTCP sender report/);
  // Not when: video only, already seen in this run, a second or more, or long after the run began.
  for (const other of [{ hasAudio: false }, { resyncSeen: true }, { stopNs: 6.08e9 + 1e9 }, { startNs: 20e9, stopNs: 20.3e9 }]) {
    const x = holeReason({ ...base, ...other });
    assert.equal(x.resync, false, JSON.stringify(other));
    assert.match(x.reason, /^source timestamps jumped ahead \d+ ms \(frames missing/);
  }
});

test('jumps that need re-anchoring: a fragment wholly in the past, or far beyond the wall time that passed', () => {
  assert.equal(classifyJump({ frontierNs: 10e9, startNs: 10e9, stopNs: 11e9, frameNs: F, wallElapsedMs: 1000 }).kind, 'continuous');
  assert.equal(classifyJump({ frontierNs: 10e9, startNs: 9.9e9, stopNs: 10.9e9, frameNs: F, wallElapsedMs: 1000 }).kind, 'continuous',
    'B-frame overlap with the previous fragment');
  const back = classifyJump({ frontierNs: 10e9, startNs: 7e9, stopNs: 8e9, frameNs: F, wallElapsedMs: 1000 });
  assert.equal(back.kind, 'reanchor');
  assert.match(back.kind === 'reanchor' ? back.reason : '', /jumped back 3000 ms/);
  // +2 s while 1 s passed: lost footage, kept (recorded as a hole); +1 h while 1 s passed: a clock step.
  assert.equal(classifyJump({ frontierNs: 10e9, startNs: 12e9, stopNs: 13e9, frameNs: F, wallElapsedMs: 1000 }).kind, 'continuous');
  const step = classifyJump({ frontierNs: 10e9, startNs: 10e9 + 3600e9, stopNs: 11e9 + 3600e9, frameNs: F, wallElapsedMs: 1000 });
  assert.equal(step.kind, 'reanchor');
  assert.match(step.kind === 'reanchor' ? step.reason : '', /jumped ahead 3600000 ms while 1000 ms passed/);
});

test("ffmpeg's warnings reach the log once per kind per interval, with the count of repeats, and redacted", () => {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l) });
  let now = 0;
  const w = new WarningLog(log, (s) => s.replace('s3cret', '***'), 30_000, () => now);
  for (let i = 0; i < 50; i++) {
    w.line(`[mp4 @ 0x55d] Non-monotonous DTS in output stream 0:1; previous: ${1000 + i}, current: ${900 + i}; changing to ${1001 + i}.`, 3);
  }
  w.line('[rtsp @ 0x1] method DESCRIBE failed for rtsp://u:s3cret@cam/x', 3);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /WARN.*timestamp trouble/i);
  assert.ok(!lines.join('\n').includes('s3cret'));
  now = 31_000;
  w.line('[mp4 @ 0x55d] Non-monotonous DTS in output stream 0:1; previous: 5, current: 4; changing to 6.', 3);
  assert.equal(lines.length, 3);
  assert.match(lines[2], /repeated=49/);
  assert.equal(w.total, 52);
});

test("a stretched sample duration (the muxer's DTS step before a forward jump) is cut to one frame in the fragment's end", () => {
  // A sample at `ms` lasting `durMs`, in a 90 kHz track.
  const at = (ms: number, durMs: number) => ({ ptsRelNs: ms * 1e6, durationNs: durMs * 1e6, ptsTicks: ms * 90, durationTicks: durMs * 90 });
  const t = {
    startRelNs: 0, stopRelNs: 2_120e6, frames: 3, samples: 3, keyframe: true, frameDurationNs: 40e6, timescale: 90_000,
    videoSamples: [at(0, 40), at(80, 2_040), at(40, 40)],
  };
  assert.equal(presentedStopRelNs(t, 40e6), 120e6);
  // Without a known frame period, the fragment's own median is used; ordinary durations are kept.
  assert.equal(presentedStopRelNs(t, 0), 120e6);
  assert.equal(presentedStopRelNs({ ...t, videoSamples: [at(0, 40), at(40, 90)] }, 40e6), 130e6);
  // 15 fps in ffmpeg's 1/15360: a frame is 1024 ticks, 66,666,666.7 ns. The end is the next frame's start
  // to the ns (two rounded ns values summed, 66,666,667 + 66,666,667, would be 1 ns past it).
  const f15 = { ...t, frameDurationNs: 66_666_667, timescale: 15_360, videoSamples: [0, 1].map((k) => ({ ptsRelNs: Math.round(k * 1e9 / 15), durationNs: 66_666_667, ptsTicks: k * 1024, durationTicks: 1024 })) };
  assert.equal(presentedStopRelNs(f15, 66_666_667), 133_333_333);
});

test('a new run starts no closer to the earlier footage than the wall time that passed, even when its pts ran ahead', () => {
  const clock = new PtsClock(1_000_000);
  // Earlier footage ends at pts 12 s, but was captured at epoch base + 10 s (its pts ran 2 s ahead).
  const floorNs = 12_000_000_000n;
  const floorEpochMs = 1_000_000 + 10_000;
  // A new run's first 1 s fragment arrives 3 s (wall) after that: 2 s of wall time were not recorded.
  const r = clock.startRun(0, 1e9, floorEpochMs + 3000, floorNs, true, floorEpochMs);
  assert.deepEqual(r.gap, { startNs: floorNs, stopNs: floorNs + 2_000_000_000n });
  // Without that knowledge the wall clock places it at 12 s, right after the earlier footage: no gap.
  assert.equal(new PtsClock(1_000_000).startRun(0, 1e9, floorEpochMs + 3000, floorNs, true).gap, null);
});

test('a new run after earlier footage is never seamless: it starts at least a frame above it', () => {
  // A quick restart under load: the wall-clock estimate lands the new run 5 ms before the old run's end.
  const floorNs = 5_866_000_000n;
  const floorEpochMs = 1_000_000 + 5_866;
  const r = new PtsClock(1_000_000).startRun(0, 1e9, floorEpochMs + 995, floorNs, true, floorEpochMs, 100e6);
  assert.deepEqual(r.gap, { startNs: floorNs, stopNs: floorNs + 100_000_000n }, 'one frame (100 ms at 10 fps) recorded as lost');
  assert.equal(r.offsetNs, floorNs + 100_000_000n);
  // A longer outage keeps its measured length; a first run (no earlier footage) has no gap and no shift.
  assert.deepEqual(new PtsClock(1_000_000).startRun(0, 1e9, floorEpochMs + 3000, floorNs, true, floorEpochMs, 100e6).gap, { startNs: floorNs, stopNs: floorNs + 2_000_000_000n });
  const first = new PtsClock(1_000_000).startRun(0, 1e9, 1_002_000, 0n, false, undefined, 100e6);
  assert.deepEqual([first.gap, first.offsetNs], [null, 1_000_000_000n]);
});

test("one run's timeline: placed above the earlier footage, holes as gaps, a step back re-anchored on the wall clock", () => {
  // 25 fps in a 90 kHz track: 1 s fragments of 25 frames from `startMs` (run-relative).
  const frag = (startMs: number): FragmentTimes => {
    const videoSamples = Array.from({ length: 25 }, (_, k) => ({ ptsRelNs: (startMs + 40 * k) * 1e6, durationNs: 40e6, ptsTicks: (startMs + 40 * k) * 90, durationTicks: 3600 }));
    return { startRelNs: startMs * 1e6, stopRelNs: (startMs + 1000) * 1e6, frames: 25, samples: 25, keyframe: true, frameDurationNs: 40e6, videoSamples, timescale: 90_000 };
  };
  const base = 1_000_000;
  const run = new RunTimeline(1, { bytes: Buffer.alloc(0), tracks: [] } as unknown as InitSegment, new PtsClock(base));
  // Earlier footage ends at 10 s, recorded at base + 10 s; the run's first fragment arrives 3 s later.
  let asked = 0;
  const floor = () => { asked++; return { floorNs: 10_000_000_000n, hadFootage: true, floorEpochMs: base + 10_000, gapReason: 'ingest restart' }; };
  const a = run.place(frag(0), base + 13_000, floor);
  assert.equal(a.jump, null);
  assert.equal(a.startNs, 12_000_000_000n, 'its end at the wall time it arrived');
  run.advance(frag(0), a, base + 13_000);
  assert.deepEqual(run.pendingGaps, [{ startNs: 10_000_000_000n, stopNs: 12_000_000_000n, reason: 'ingest restart' }]);
  run.pendingGaps = [];
  // The next second, then one with 2 s missing before it (a hole: the source's timing kept).
  const b = run.place(frag(1000), base + 14_000, floor);
  run.advance(frag(1000), b, base + 14_000);
  const c = run.place(frag(4000), base + 15_000, floor);
  assert.equal(c.jump, null);
  assert.equal(c.startNs - b.stopNs, 2_000_000_000n);
  run.advance(frag(4000), c, base + 15_000);
  assert.equal(asked, 1, 'the floor is asked for once, by the first fragment');
  assert.equal(run.pendingGaps.length, 1);
  assert.match(run.pendingGaps[0].reason, /jumped ahead 2000 ms/);
  run.pendingGaps = [];
  // Back 4 s: re-anchored on the wall clock above what was recorded, the seam a gap.
  const d = run.place(frag(1000), base + 16_000, floor);
  assert.match(d.jump ?? '', /jumped back 4000 ms/);
  assert.ok(d.startNs > c.stopNs, `re-anchored above the frontier (${d.startNs} > ${c.stopNs})`);
  assert.equal(run.pendingGaps.length, 1);
  assert.deepEqual([run.pendingGaps[0].startNs, run.pendingGaps[0].stopNs], [c.stopNs, d.startNs]);
});
