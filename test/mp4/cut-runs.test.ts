// The planner at a join between two ffmpeg runs (a camera reboot), pure: sample tables taken from the
// camera suite's reboot case (test/cameras), where the clip's decoded frame times collided at the join.
// Each run has its own clock and composition offsets; the old run ends mid-GOP (the camera died after
// a P-frame whose B-frames never came: a hole of one or two frames before the run's last picture) and
// the new run's first keyframe may be timed a frame early (ffmpeg's guess for the first RTSP packet).
// The clip must decode in order (DTS strictly increasing), present every frame once, in the order the
// recording does, and play the frames back to back: both sides one frame period apart at the join and
// the run-edge holes (frames the runs never had) taken out with the gap between them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CutPlan, type CutSource, planCut } from '../../src/mp4/cut.js';
import type { InitSegment, TrackInfo } from '../../src/mp4/init.js';
import { ticksToNs } from '../../src/mp4/time.js';

const TS = 90_000;
const PERIOD = 3600; // 25 fps

/** [decodeTime, ctsOffset, duration, sync] */
type Row = [number, number, number, number];

const video: TrackInfo = {
  trackId: 1, kind: 'video', handler: 'vide', timescale: TS, sampleEntry: 'avc1', codec: 'h264', codecString: 'avc1.640028',
  width: 1280, height: 720, stsd: Buffer.alloc(0), descriptionKey: 'h264-high',
  defaults: { sampleDescriptionIndex: 1, sampleDuration: 0, sampleSize: 0, sampleFlags: 0 },
};
const init: InitSegment = { bytes: Buffer.alloc(0), tracks: [video], movieTimescale: 1000 };

/** A source whose samples have distinct file offsets (source × 1e6 + index) to tell them apart in the plan. */
function source(id: number, offsetNs: number, rows: Row[]): CutSource {
  const samples = rows.map(([decodeTime, ctsOffset, duration, sync], i) => ({
    decodeTime, ctsOffset, duration, size: 100, isSync: sync === 1, fileOffset: id * 1e6 + i,
  }));
  return { source: id, offsetNs, init, fragments: [{ sequenceNumber: 1, trackRuns: [{ trackId: 1, baseDecodeTime: rows[0][0], samples }] }] };
}

/** An IPBB… GOP as ffmpeg muxes it: n samples from decode time `dts0`, the keyframe's composition offset `k`. */
function gop(dts0: number, k: number, n: number): Row[] {
  const rows: Row[] = [[dts0, k, PERIOD, 1]];
  for (let i = 1; i < n; i++) rows.push([dts0 + i * PERIOD, i % 3 === 1 ? k + 2 * PERIOD : k - PERIOD, PERIOD, 0]);
  return rows;
}

const ptsNs = (src: CutSource, r: Row): number => src.offsetNs + ticksToNs(r[0] + r[1], TS);

interface Out { dts: number; pts: number; id: string }

/** The clip's video as a player sees it: decode times from the durations, the presented samples in presentation order. */
function played(plan: CutPlan): { dts: number[]; presented: Out[] } {
  const v = plan.tracks[0];
  let t = 0;
  const all: Out[] = v.samples.map((s) => {
    const o = { dts: t, pts: t + s.ctsOffset, id: `${s.source}:${s.offset}` };
    t += s.duration;
    return o;
  });
  const from = v.edit.mediaTime;
  const to = from + v.edit.duration;
  return { dts: all.map((o) => o.dts), presented: all.filter((o) => o.pts >= from && o.pts < to).sort((a, b) => a.pts - b.pts) };
}

/** Every sample of the sources whose pts lies in the window, in the recording's presentation order, run by run. */
function wanted(sources: Array<{ src: CutSource; rows: Row[] }>, startNs: number, stopNs: number): string[] {
  const out: string[] = [];
  for (const { src, rows } of sources) {
    const mine = rows.map((r, i) => ({ ns: ptsNs(src, r), id: `${src.source}:${src.source * 1e6 + i}` }))
      .filter((x) => x.ns >= startNs && x.ns < stopNs).sort((a, b) => a.ns - b.ns);
    out.push(...mine.map((x) => x.id));
  }
  return out;
}

function checkJoin(oldRun: { offsetNs: number; rows: Row[] }, newRun: { offsetNs: number; rows: Row[] }): void {
  const a = source(0, oldRun.offsetNs, oldRun.rows);
  const b = source(1, newRun.offsetNs, newRun.rows);
  const startNs = ptsNs(a, oldRun.rows[0]) - 20e6;
  const newPts = newRun.rows.map((r) => ptsNs(b, r)).sort((x, y) => x - y);
  const stopNs = newPts[11] + 20e6;
  const plan = planCut([a, b], { startNs, stopNs });
  const { dts, presented } = played(plan);

  const bad = dts.findIndex((d, i) => i > 0 && !(d > dts[i - 1]));
  assert.equal(bad, -1, `DTS strictly increasing (sample ${bad}: ${dts[bad - 1]} → ${dts[bad]})`);
  const want = wanted([{ src: a, rows: oldRun.rows }, { src: b, rows: newRun.rows }], startNs, stopNs);
  assert.deepEqual(presented.map((o) => o.id), want, 'presents every frame of the window once, in the recording\'s order');
  assert.equal(plan.frames, want.length);
  const steps = presented.slice(1).map((o, i) => o.pts - presented[i].pts);
  assert.deepEqual(steps.filter((d) => d !== PERIOD), [], `frames one period apart (${steps.join(',')})`);
  assert.equal(plan.tracks[0].edit.duration, want.length * PERIOD, 'the edit plays the frames back to back');
  assert.ok(Math.abs(plan.durationNs - want.length * 40e6) < 1000, `durationNs ${plan.durationNs} for ${want.length} frames`);
  assert.equal(plan.partial, false, plan.partialReason ?? '');
  assert.equal(plan.gaps.length, 1, 'the gap between the runs is listed');
  const oldEnd = Math.max(...oldRun.rows.map((r) => ptsNs(a, r))) + 40e6;
  assert.ok(Math.abs(plan.gaps[0].startNs - oldEnd) <= 40e6 && Math.abs(plan.gaps[0].stopNs - newPts[0]) <= 40e6, JSON.stringify(plan.gaps));
}

describe('a clip across two ffmpeg runs (camera reboot)', () => {
  it('the old run ends one B-frame short; the new run has a longer first composition offset (the frames collided)', () => {
    checkJoin(
      { offsetNs: 2_231_500_000, rows: [[720047, 7200, 3600, 1], [723647, 14400, 3600, 0], [727247, 3600, 3600, 0]] },
      { offsetNs: 22_845_377_778, rows: [[0, 7438, 3600, 1], [3600, 14638, 3600, 0], [7200, 3838, 3838, 0], [11038, 3600, 3600, 0], [14638, 14400, 3600, 0], [18238, 3600, 3600, 0], [21838, 3600, 3600, 0], [25438, 14400, 3600, 0], [29038, 3600, 3600, 0], [32638, 3600, 3600, 0], [36238, 14400, 3600, 0], [39838, 3600, 3600, 0], [43438, 3600, 3600, 0], [47038, 14400, 3600, 0], [50638, 3600, 3600, 0], [54238, 3600, 3600, 0]] },
    );
  });

  it('the old run ends two B-frames short', () => {
    checkJoin(
      { offsetNs: 1_692_488_889, rows: [[720046, 7200, 3600, 1], [723646, 14400, 3600, 0], [727246, 3600, 3600, 0], [730846, 3600, 3600, 0], [734446, 14400, 3600, 0]] },
      { offsetNs: 22_399_544_444, rows: [[0, 8681, 3600, 1], [3600, 15881, 3600, 0], [7200, 5081, 5081, 0], [12281, 3600, 3600, 0], [15881, 14400, 3600, 0], [19481, 3600, 3600, 0], [23081, 3600, 3600, 0], [26681, 14400, 3600, 0], [30281, 3600, 3600, 0], [33881, 3600, 3600, 0], [37481, 14400, 3600, 0], [41081, 3600, 3600, 0], [44681, 3600, 3600, 0], [48281, 14400, 3600, 0], [51881, 3600, 3600, 0], [55481, 3600, 3600, 0]] },
    );
  });

  it('the old run\'s last sample has a guessed duration of half a second (the muxer\'s, at the end of the stream)', () => {
    checkJoin(
      { offsetNs: 1e9, rows: [[0, 7200, 3600, 1], [3600, 14400, 3600, 0], [7200, 3600, 3600, 0], [10800, 3600, 3600, 0], [14400, 14400, 3600, 0], [18000, 3600, 3600, 0], [21600, 3600, 45000, 0]] },
      { offsetNs: 30e9, rows: gop(0, 7200, 16) },
    );
  });

  it('the new run has a longer reorder delay than the old one (no B-frames before the reboot)', () => {
    checkJoin(
      { offsetNs: 1e9, rows: Array.from({ length: 12 }, (_, i): Row => [i * PERIOD, 0, PERIOD, i === 0 ? 1 : 0]) },
      { offsetNs: 30e9, rows: gop(0, 2 * PERIOD, 16) },
    );
  });

  it('the old run ends on a whole GOP; the new run\'s first keyframe is timed a frame early', () => {
    checkJoin(
      { offsetNs: 2_068_000_000, rows: [[802979 - 82800, 7200, 3600, 1], ...[[723779, 14400], [727379, 3600], [730979, 3600], [734579, 14400], [738179, 3600], [741779, 3600], [745379, 14400], [748979, 3600], [752579, 3600], [756179, 14400], [759779, 3600], [763379, 3600], [766979, 14400], [770579, 3600], [774179, 3600], [777779, 14400], [781379, 3600], [784979, 3600], [788579, 14400], [792179, 3600], [795779, 3600], [799379, 14400], [802979, 3600], [806579, 3600], [810179, 14400], [813779, 3600], [817379, 3600], [820979, 14400], [824579, 3600], [828179, 3600]].map(([d, c]): Row => [d, c, 3600, 0])] },
      { offsetNs: 25_136_866_786, rows: [[0, 5502, 3600, 1], [3600, 16302, 3600, 0], [7200, 5502, 5502, 0], [12702, 3600, 3600, 0], [16302, 14400, 3600, 0], [19902, 3600, 3600, 0], [23502, 3600, 3600, 0], [27102, 14400, 3600, 0], [30702, 3600, 3600, 0], [34302, 3600, 3600, 0], [37902, 14400, 3600, 0], [41502, 3600, 3600, 0], [45102, 3600, 3600, 0], [48702, 14400, 3600, 0], [52302, 3600, 3600, 0], [55902, 3600, 3600, 0]] },
    );
  });
});
