// The index queries and retention over many segments, on an in-memory SQLite index with synthetic rows
// (pure bookkeeping: no files or processes are needed to check which rows are chosen).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SegmentIndex, SegmentRow } from '../../src/producer/store/catalog.js';
import { PinSet, Retention } from '../../src/producer/segments/retention.js';
import { silentLogger } from '../../src/common/log.js';

import { at, BASE_EPOCH, CENTURY_NS, indexWith, secOf } from '../helpers/synthetic-index.js';
import { PTS_MAX } from '../../src/protocol/pts.js';

function retention(index: SegmentIndex, pins: PinSet, limits: Partial<Retention['limits']>): Retention {
  const dir = mkdtempSync(join(tmpdir(), 'segrec-ret-'));
  const r = new Retention({ index, segmentsDir: dir, pins, log: silentLogger, limits: { maxAgeMs: null, maxBytes: null, minFreeBytes: null, ...limits } });
  return Object.assign(r, { cleanup: () => rmSync(dir, { recursive: true, force: true }) });
}

for (const [clock, base] of [['0', 0n], ['100 years', CENTURY_NS]] as const) {
  test(`overlapping and firstEndingAfterEpoch find the right segments at both ends of a long index (clock at ${clock})`, () => {
    const index = indexWith(500, base);
    const secs = (rows: SegmentRow[]) => rows.map((s) => secOf(s.start_pts_ns, base));
    assert.deepEqual(secs(index.overlapping(at(25, base), at(45, base))), [20, 30, 40]);
    assert.deepEqual(secs(index.overlapping(at(4_985, base), at(9_999, base))), [4_980, 4_990]);
    assert.deepEqual(index.overlapping(base, base + 1n).map((s) => s.start_pts_ns), [base], 'exact to the ns');
    assert.deepEqual(index.overlapping(base + 10_000_000_000n - 1n, base + 10_000_000_000n).map((s) => s.start_pts_ns), [base], 'the last ns of the first segment');
    assert.deepEqual(secs(index.overlapping(at(10, base), at(20, base))), [10], 'stop is exclusive, touching is not overlapping');
    assert.deepEqual(index.overlapping(at(6_000, base), at(7_000, base)), [], 'after all footage');
    assert.equal(index.firstEndingAfterEpoch(BASE_EPOCH + 12_000)?.start_pts_ns, at(10, base));
    assert.equal(index.firstEndingAfterEpoch(BASE_EPOCH - 1e6)?.start_pts_ns, base, 'before all footage: the first segment');
    assert.equal(index.firstEndingAfterEpoch(BASE_EPOCH + 5_000_000), undefined, 'after all footage: none');
  });
}

test('retention pages through the oldest sealed segments: bytes limit across pages, pinned ones skipped', () => {
  const index = indexWith(300);
  const pins = new PinSet();
  const release = pins.pin(Array.from({ length: 100 }, (_, i) => i + 1)); // the 100 oldest (ids 1..100)
  const r = retention(index, pins, { maxBytes: 120 * 1000 });
  try {
    const removed = r.run(BASE_EPOCH);
    assert.equal(removed.length, 180, 'removes just enough to get under the limit, reading past two pages of pinned rows');
    assert.ok(removed.every((s) => s.id > 100), 'never a pinned one');
    assert.deepEqual(removed.map((s) => s.id), Array.from({ length: 180 }, (_, i) => i + 101), 'oldest unpinned first');
    assert.equal(index.stats().count, 120);
    assert.deepEqual(r.run(BASE_EPOCH), [], 'a pass under the limits removes nothing');
    release();
    assert.equal(r.run(BASE_EPOCH).length, 0, 'still under the limit once unpinned');
  } finally {
    (r as unknown as { cleanup: () => void }).cleanup();
  }
});

test('retention by age stops at the first segment young enough; gaps before the oldest footage are forgotten', () => {
  const index = indexWith(200);
  index.addGap(at(5), at(6), 'old gap');
  index.addGap(at(1_500), at(1_501), 'recent gap');
  const r = retention(index, new PinSet(), { maxAgeMs: 1000 * 1000 });
  try {
    const now = BASE_EPOCH + 2_000 * 1000; // 2,000 s after the start: footage that ended before 1,000 s goes
    const removed = r.run(now);
    assert.equal(removed.length, 99, 'segments ending at 10..990 s');
    assert.equal(index.stats().oldestStartPtsNs, at(990));
    assert.deepEqual(index.gapsIn(0n, PTS_MAX).map((g) => g.reason), ['recent gap']);
  } finally {
    (r as unknown as { cleanup: () => void }).cleanup();
  }
});
