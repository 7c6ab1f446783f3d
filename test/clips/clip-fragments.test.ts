// Which fragments a clip reads (SegmentIndex.clipFragments), on an in-memory index with synthetic rows:
// from one keyframe fragment before the last one starting at or before the window's start (across
// segment boundaries, segments that begin mid-GOP included), never further back than the look-back,
// through exactly one fragment after the window (in the next segment when the window ends one's last),
// and only rows near the window are visited however long the index is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { KEYFRAME_LOOKBACK_NS } from '../../src/producer/clips/engine.js';
import { at, SEC, secOf } from '../helpers/synthetic-index.js';

/**
 * Back-to-back segments of `perSegment` 1 s fragments from pts 0, a keyframe fragment every `gop`
 * fragments (counted over the whole recording, so segments may begin mid-GOP).
 */
function indexWith(segments: number, perSegment: number, gop: number): SegmentIndex {
  const index = new SegmentIndex(openDatabase(':memory:'));
  index.db.transaction(() => {
    for (let i = 0; i < segments; i++) {
      const startS = i * perSegment;
      const start = at(startS);
      const id = index.insertSegment({
        path: `2026-01-01/${start}.mp4`, run_id: 1, start_pts_ns: start, start_epoch_ms: startS * 1000, offset_ns: 0n,
        anchor_epoch_ms: startS * 1000, anchor_pts_ns: start, bytes: 100, init_size: 100, codec: 'h264',
        codec_string: 'avc1.42c01e', width: 320, height: 180, fps: 15, has_audio: 1, description_key: 'k', created_ms: 0,
      });
      for (let k = 0; k < perSegment; k++) {
        index.addFragment(
          { segment_id: id, seq: k, start_pts_ns: at(startS + k), stop_pts_ns: at(startS + k + 1), offset: 100 + k * 1000, size: 1000, moof_size: 100, samples: 15, keyframe: (i * perSegment + k) % gop === 0 ? 1 : 0, crc: 0 },
          { bytes: 100 + (k + 1) * 1000, frames: 15 * (k + 1), startEpochMs: startS * 1000, stopEpochMs: (startS + k + 1) * 1000 },
        );
      }
      index.seal(id, null);
    }
  })();
  return index;
}

/** The selection of the window [from s, to s) as [segment start s, fragment start s] pairs. */
function picked(index: SegmentIndex, from: number, to: number, lookback = KEYFRAME_LOOKBACK_NS): Array<[number, number]> {
  return index.clipFragments(at(from), at(to), lookback).flatMap((s) => s.fragments.map((f): [number, number] => [secOf(s.row.start_pts_ns), secOf(f.start_pts_ns)]));
}

const range = (seg: number, a: number, b: number): Array<[number, number]> => Array.from({ length: b - a }, (_, i) => [seg, a + i]);

test('from one keyframe fragment before the last at or before the start, through one fragment after the stop', () => {
  const index = indexWith(10, 5, 4); // keyframes at 0, 4, 8, 12, ... s; segments of 5 s
  // Window 9.5–11.2 s: last keyframe ≤ 9.5 is 8 s, one before it 4 s (in the previous segment).
  assert.deepEqual(picked(index, 9.5, 11.2), [...range(0, 4, 5), ...range(5, 5, 10), ...range(10, 10, 13)]);
  // A window starting exactly on a keyframe fragment still reads the GOP before it (open GOPs).
  assert.deepEqual(picked(index, 12, 12.5), [...range(5, 8, 10), ...range(10, 10, 14)]);
  // A window ending where a segment does: the fragment after it is the next segment's first.
  assert.deepEqual(picked(index, 13.2, 15).slice(-2), [[10, 14], [15, 15]]);
});

test('segments that begin mid-GOP: the keyframe is found segments back', () => {
  const index = indexWith(12, 1, 5); // one fragment per segment, keyframes every 5 s
  // Window 7.5–8 s: keyframes at 5 and 0 s, seven and eight segments back; the fragment after is 8 s.
  assert.deepEqual(picked(index, 7.5, 8), Array.from({ length: 9 }, (_, i) => [i, i]));
});

test('never further back than the look-back, never more than one fragment after', () => {
  const index = indexWith(10, 10, 40); // keyframes every 40 s
  // Keyframes at 40 and 80 s: a window at 85 s reads from 40 s.
  assert.equal(picked(index, 85, 86)[0][1], 40);
  // With a 30 s look-back only the keyframe at 80 s is in reach.
  assert.equal(picked(index, 85, 86, 30 * SEC)[0][1], 80);
  // With none in reach, the window's own fragments (the planner then says what it cannot decode).
  assert.deepEqual(picked(index, 75, 76, 30 * SEC), [[70, 75], [70, 76]]);
  assert.equal(picked(index, 85, 99.5).pop()![1], 99, 'nothing after the newest fragment');
  assert.deepEqual(picked(index, 200, 201), [], 'no footage, no selection');
});

test('a long index: the selection is found by index, not by a scan', () => {
  // A year of 10 s segments at 1 fragment per second would be 3 million rows; 10,000 segments of 10
  // fragments show the shape: a selection takes ~0.1 ms wherever it is (a scan of these rows, ~10 ms),
  // and does not grow with the rows before the window.
  const index = indexWith(10_000, 10, 4);
  const time = (fromS: number) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 50; i++) index.clipFragments(at(fromS), at(fromS + 5), KEYFRAME_LOOKBACK_NS);
    return Number(process.hrtime.bigint() - t0) / 50 / 1e6;
  };
  time(1000); // warm up
  const early = time(1000);
  const late = time(95_000);
  assert.ok(late < 3 && late < early * 3 + 1, `a selection takes ${late.toFixed(2)} ms late in the index, ${early.toFixed(2)} ms early`);
});
