// The packed (columnar) sample paths of src/mp4, pure: a run's table and its sample objects agree both
// ways; the planner's table (effective durations, producer times, per-source ranges) and frame interval;
// a moof's span and a run's times; columnTrack's samples-on-demand rule; layoutMp4 gives the same bytes
// from columns as from objects.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FragmentSample, type ParsedMoof, type TrackRun, SAMPLE_FIELDS, packSamples, runLength, runTable, unpackSamples } from '../../src/mp4/fragment.js';
import {
  anyPresentedBefore, anyPresentedIn, buildTable, countPresentedIn, earliestIn, lastIn, medianDuration, presentedIn,
} from '../../src/mp4/cut-table.js';
import { moofSpan, runTimes } from '../../src/mp4/fragment-summary.js';
import type { TrackInfo } from '../../src/mp4/init.js';
import { ticksToNs, ticksToNsRange } from '../../src/mp4/time.js';
import { type WriterSample, type WriterTrack, columnTrack, layoutMp4 } from '../../src/mp4/writer.js';
import { packWriterSamples, trackColumns, unpackWriterColumns } from '../../src/mp4/writer-tables.js';
import { rng } from './fixtures.js';

const track = (trackId: number, timescale: number, kind: TrackInfo['kind'] = 'video'): TrackInfo => ({
  trackId, kind, handler: kind === 'video' ? 'vide' : 'soun', timescale, sampleEntry: kind === 'video' ? 'avc1' : 'mp4a',
  codec: kind === 'video' ? 'h264' : 'aac', codecString: kind === 'video' ? 'avc1.640028' : 'mp4a.40.2', width: 640, height: 360,
  stsd: Buffer.from([0, 0, 0, 16, 0x73, 0x74, 0x73, 0x64, 0, 0, 0, 0, 0, 0, 0, 0]), descriptionKey: `k${kind}`,
  defaults: { sampleDescriptionIndex: 1, sampleDuration: 0, sampleSize: 0, sampleFlags: 0 },
});

const sample = (decodeTime: number, duration: number, ctsOffset = 0, isSync = false, size = 100, fileOffset = 0): FragmentSample =>
  ({ decodeTime, duration, size, ctsOffset, isSync, fileOffset });

describe('packed sample tables', () => {
  it('pack and unpack are inverse, for every field (negative and u32 composition offsets, 2^53 offsets)', () => {
    const r = rng(1);
    const samples = Array.from({ length: 50 }, (_, i) => sample(
      i * 1000 + Math.floor(r() * 10), Math.floor(r() * 0xffff_ffff), i % 3 === 0 ? -Math.floor(r() * 1e6) : Math.floor(r() * 0xffff_ffff),
      i % 7 === 0, Math.floor(r() * 1e7), Number.MAX_SAFE_INTEGER - i * 1e6));
    const t = packSamples(samples);
    assert.equal(t.length, 50 * SAMPLE_FIELDS);
    assert.deepEqual(unpackSamples(t), samples);
  });

  it('runTable packs a run made by hand; runLength counts either form', () => {
    const samples = [sample(0, 512, 0, true), sample(512, 512, 1024)];
    const run: TrackRun = { trackId: 1, baseDecodeTime: 0, samples };
    assert.deepEqual(unpackSamples(runTable(run)), samples);
    assert.equal(runLength(run), 2);
    assert.equal(runLength({ trackId: 1, baseDecodeTime: 0, samples: [], table: packSamples(samples) }), 2);
  });

  it('moofSpan and runTimes read the tables', () => {
    const v: TrackRun = { trackId: 1, baseDecodeTime: 0, samples: [
      sample(1000, 512, 1024, true, 30, 500), sample(1512, 512, 2048, false, 20, 530), sample(2024, 700, 0, false, 10, 550),
    ] };
    const a: TrackRun = { trackId: 2, baseDecodeTime: 0, samples: [sample(0, 1024, 0, true, 5, 400), sample(1024, 1024, 0, true, 5, 560)] };
    const moof: ParsedMoof = { sequenceNumber: 1, trackRuns: [v, a] };
    assert.deepEqual(moofSpan(moof), { samples: 5, dataStart: 400, dataEnd: 565 });
    assert.deepEqual(moofSpan({ sequenceNumber: 1, trackRuns: [] }), { samples: 0, dataStart: Infinity, dataEnd: -Infinity });
    // pts 2024, 3560, 2024; ends 2536, 4072, 2724; durations sorted 512, 512, 700.
    assert.deepEqual(runTimes(v), { samples: 3, startTicks: 2024, stopTicks: 4072, lastPtsTicks: 3560, startsWithSync: true, medianDurationTicks: 512 });
    assert.equal(runTimes({ trackId: 1, baseDecodeTime: 0, samples: [] }), null);
  });
});

describe('the planner\'s sample table', () => {
  const v = track(1, 90_000);
  const au = track(2, 48_000, 'audio');
  const src = (offsetNs: number, runs: TrackRun[][]) => ({ offsetNs, fragments: runs.map((trackRuns, i) => ({ sequenceNumber: i + 1, trackRuns })) });

  it('holds each source\'s samples of its track in order, with effective durations and producer times', () => {
    const s0 = src(1e9, [
      [{ trackId: 1, baseDecodeTime: 0, samples: [sample(0, 3000, 3000, true, 10, 100), sample(3000, 9999, -3000, false, 11, 110)] },
        { trackId: 2, baseDecodeTime: 0, samples: [sample(0, 1024)] }],
      [{ trackId: 1, baseDecodeTime: 6000, samples: [sample(6000, 0, 0, false, 12, 200)] }],
    ]);
    const s1 = src(5e9, [[{ trackId: 1, baseDecodeTime: 0, samples: [sample(7, 3003, 1, true, 13, 300)] }]]);
    const empty = src(0, []);
    const t = buildTable([s0, empty, s1], [v, v, v]);
    assert.equal(t.n, 4);
    assert.deepEqual([...t.from], [0, 3, 3]);
    assert.deepEqual([...t.to], [3, 3, 4]);
    assert.deepEqual([...t.si], [0, 0, 0, 2]);
    // The stated 9999 becomes the distance to the next sample; the last one's 0 becomes 1.
    assert.deepEqual([...t.duration], [3000, 3000, 1, 3003]);
    assert.deepEqual([...t.ptsTicks], [3000, 0, 6000, 8]);
    assert.deepEqual([...t.ptsNs], [1e9 + ticksToNs(3000, 90_000), 1e9, 1e9 + ticksToNs(6000, 90_000), 5e9 + ticksToNs(8, 90_000)]);
    assert.deepEqual([...t.sync], [1, 0, 0, 1]);
    assert.deepEqual([...t.size], [10, 11, 12, 13]);
    assert.deepEqual([...t.fileOffset], [100, 110, 200, 300]);
    assert.deepEqual([...t.ctsOffset], [3000, -3000, 0, 1]);
    // Another kind, and sources left out (no track given).
    const a = buildTable([s0, empty, s1], [au, undefined, undefined]);
    assert.equal(a.n, 1);
    assert.deepEqual([...a.to], [1, 1, 1]);
    assert.equal(a.ptsNs[0], 1e9);
  });

  it('the scans of a range agree with their plain definitions', () => {
    const r = rng(3);
    const runs: TrackRun[] = [0, 1, 2].map((k) => ({
      trackId: 1, baseDecodeTime: 0,
      samples: Array.from({ length: 40 }, (_, i) => sample(k * 40_000 + i * 1000, 1000, Math.floor(r() * 4) * 1000 - 1000, i % 10 === 0)),
    }));
    const t = buildTable(runs.map((run) => src(0, [[run]])), [v, v, v]);
    const idx = Array.from({ length: t.n }, (_, i) => i);
    const win = (i: number, a: number, b: number) => t.ptsNs[i] >= a && t.ptsNs[i] < b;
    for (let k = 0; k < 300; k++) {
      const lo = Math.floor(r() * t.n);
      const hi = lo + Math.floor(r() * (t.n - lo + 1));
      const a = Math.floor(r() * 1.5e9);
      const b = a + Math.floor(r() * 8e8);
      const minPts = k % 2 ? -Infinity : Math.floor(r() * 1.5e9);
      const range = idx.slice(lo, hi);
      const wanted = range.filter((i) => win(i, a, b) && t.ptsNs[i] >= minPts);
      const byPts = (better: (x: number, y: number) => boolean) => wanted.reduce((f, i) => (f < 0 || better(t.ptsNs[i], t.ptsNs[f]) ? i : f), -1);
      assert.equal(anyPresentedIn(t, lo, hi, a, b), range.some((i) => win(i, a, b)));
      assert.equal(anyPresentedBefore(t, lo, hi, b), range.some((i) => t.ptsNs[i] < b));
      assert.equal(earliestIn(t, lo, hi, a, b, minPts), byPts((x, y) => x < y));
      assert.equal(lastIn(t, lo, hi, a, b), range.filter((i) => win(i, a, b)).pop() ?? -1);
      assert.deepEqual(presentedIn(t, lo, hi, a, b, minPts), { frames: wanted.length, first: byPts((x, y) => x < y), last: byPts((x, y) => x > y) });
      const from = Math.floor(r() * 3);
      const all = idx.filter((i) => win(i, a, b));
      assert.deepEqual(countPresentedIn(t, a, b, from), { all: all.length, later: all.filter((i) => t.si[i] >= from).length });
    }
  });

  it('ticksToNsRange gives what ticksToNs gives, on every path', () => {
    const ticks = new Float64Array([0, 1, -1, 511, 4_503_599, 4_503_600, -4_600_000, 123_456_789_012, 2 ** 53 - 1, 0.5, -2.5, 1e15 + 0.25]);
    for (const ts of [1000, 15_360, 48_000, 90_000, 4_400_000, 10_000_000]) {
      const out = new Float64Array(ticks.length + 2);
      ticksToNsRange(ticks, 0, ticks.length, ts, 7, out);
      ticks.forEach((x, i) => assert.equal(out[i], 7 + ticksToNs(x, ts), `${x} at ${ts}`));
      assert.deepEqual([...out.subarray(ticks.length)], [0, 0]);
    }
    assert.throws(() => ticksToNsRange(ticks, 0, 1, 0, 0, new Float64Array(1)), RangeError);
  });

  it('medianDuration: the middle of the sorted durations of a range', () => {
    const d = new Float64Array([5, 1, 1, 3, 3, 3, 9, 2]);
    const naive = (lo: number, hi: number) => [...d.subarray(lo, hi)].sort((x, y) => x - y)[(hi - lo) >> 1];
    for (let lo = 0; lo < d.length; lo++) for (let hi = lo + 1; hi <= d.length; hi++) assert.equal(medianDuration(d, lo, hi), naive(lo, hi), `[${lo}, ${hi})`);
  });
});

describe('columnTrack and layoutMp4 from columns', () => {
  const v = track(1, 15_360);
  const au = track(2, 48_000, 'audio');
  const r = rng(9);
  const samplesOf = (n: number, source: number, base: number, cts: boolean): WriterSample[] => {
    let offset = base;
    return Array.from({ length: n }, (_, i) => {
      const size = 50 + Math.floor(r() * 5000);
      const s = { size, duration: 512 + (i % 5 === 4 ? 1 : 0), ctsOffset: cts ? (i % 3) * 512 - 512 : 0, isSync: i % 30 === 0, source: source + (i > n / 2 ? 1 : 0), offset };
      offset += size + (i % 4 === 3 ? 77 : 0);
      return s;
    });
  };

  it('samples made on demand; once read (or set) they are the track', () => {
    const objects = samplesOf(20, 0, 1000, true);
    const t = columnTrack(v, packWriterSamples(objects), { mediaTime: 512, duration: 5000 });
    assert.ok(t.columns, 'columns while the samples were never asked for');
    assert.deepEqual(t.samples, objects);
    assert.equal(t.columns, undefined, 'the objects are the track once handed out');
    t.samples[3].size += 1;
    assert.equal(trackColumns(t).size[3], objects[3].size + 1, 'a change to them is seen');
    const u = columnTrack(v, packWriterSamples(objects), { mediaTime: 0, duration: 1 });
    u.samples = objects.slice(0, 2);
    assert.equal(trackColumns(u).length, 2);
    assert.deepEqual(unpackWriterColumns(packWriterSamples(objects)), objects);
  });

  it('the same file from columns as from sample objects (B-frames, audio, several sources)', () => {
    for (const cts of [false, true]) {
      const vs = samplesOf(300, 0, 5000, cts);
      const as = samplesOf(200, 0, 9_000_000, false).map((s) => ({ ...s, isSync: true }));
      const objectTracks: WriterTrack[] = [
        { info: v, samples: vs, edit: { mediaTime: 1024, duration: 150_000 } },
        { info: au, samples: as, edit: { mediaTime: 0, duration: 400_000, emptyBefore: 1000 } },
      ];
      const columnTracks = objectTracks.map((t) => columnTrack(t.info, packWriterSamples(t.samples), t.edit));
      const a = layoutMp4(objectTracks);
      const b = layoutMp4(columnTracks);
      assert.ok(columnTracks.every((t) => t.columns), 'layoutMp4 read the columns');
      assert.ok(a.head.equals(b.head));
      assert.deepEqual(b.copies, a.copies);
      assert.equal(b.size, a.size);
    }
  });

  it('out-of-range fields in columns are refused as in objects', () => {
    const objects = samplesOf(3, 0, 0, false);
    objects[1].duration = -1;
    const t = columnTrack(v, packWriterSamples(objects), { mediaTime: 0, duration: 1 });
    assert.throws(() => layoutMp4([t]), /track 0 sample 1 has out-of-range fields: .*"duration":-1/);
  });
});
