// A clip window on the producer clock (pure, no producer): epoch ends mapped with the anchor of the footage
// each falls in, the live anchor past the newest footage; before the clock began is "no footage", too far
// from it or mapping to nothing is a bad field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../../src/protocol/errors.js';
import { NO_OVERLAP_MESSAGE, windowOnClock, type AnchoredSpan, type EpochClock } from '../../src/producer/clips/clip-window.js';
import type { ClipWindow } from '../../src/producer/clips/clip-request.js';

const MS = 1_000_000n;
// Two segments recorded with different anchors (the clock drifted 40 ms between them), then the live clock.
const spans: AnchoredSpan[] = [
  { start_epoch_ms: 10_000, stop_epoch_ms: 20_000, anchor_epoch_ms: 10_000, anchor_pts_ns: 1_000n * MS },
  { start_epoch_ms: 30_000, stop_epoch_ms: 40_000, anchor_epoch_ms: 30_000, anchor_pts_ns: 21_040n * MS },
];
const clock: EpochClock = {
  firstEndingAfterEpoch: (ms) => spans.find((s) => ms < s.stop_epoch_ms),
  anchor: () => ({ epochMs: 50_000, ptsNs: 41_100n * MS }),
};
const epoch = (startEpochMs: number, stopEpochMs: number): ClipWindow => ({ mode: 'epoch', startEpochMs, stopEpochMs }) as ClipWindow;
const code = (f: () => unknown) => {
  try { f(); } catch (e) { return e instanceof DomainError ? `${e.code}: ${e.message}` : String(e); }
  return 'no error';
};

test('PTS windows pass as given; epoch ends use the anchor of the footage they fall in, or the next, or the live clock', () => {
  assert.deepEqual(windowOnClock({ mode: 'pts', startPtsNs: 2n ** 60n, stopPtsNs: 2n ** 60n + 1n } as ClipWindow, clock), { startPtsNs: 2n ** 60n, stopPtsNs: 2n ** 60n + 1n });
  // Inside the first segment, then inside the second (its own anchor, 40 ms later than the first's would say).
  assert.deepEqual(windowOnClock(epoch(12_000, 35_000), clock), { startPtsNs: 3_000n * MS, stopPtsNs: 26_040n * MS });
  // In the gap between them: the next segment's anchor. Past the newest footage: the live anchor.
  assert.deepEqual(windowOnClock(epoch(25_000, 45_000), clock), { startPtsNs: 16_040n * MS, stopPtsNs: 36_100n * MS });
  // A start before the clock began is clamped to 0.
  assert.deepEqual(windowOnClock(epoch(0, 12_000), clock).startPtsNs, 0n);
});

test('before the clock began: no footage; too far to map or mapping to nothing: the field named', () => {
  assert.equal(code(() => windowOnClock(epoch(0, 8_000), clock)), `NO_FOOTAGE: ${NO_OVERLAP_MESSAGE}`);
  assert.match(code(() => windowOnClock(epoch(0, 1e13), clock)), /^INVALID_FIELD: stop_epoch_ms: too far from the recorded footage/);
  assert.match(code(() => windowOnClock(epoch(12_000, 12_000.0000001), clock)), /^INVALID_FIELD: stop_epoch_ms: window maps to nothing/);
});
