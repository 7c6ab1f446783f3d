// The outbox's batches applied in runs (pg-outbox-runs.ts): upserts commute with upserts and deletions
// with deletions, so a batch is cut into alternating runs, each entry once per run, in journal order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lastByKey, outboxRuns } from '../../src/producer/store/pg-outbox-runs.js';
import type { OutboxEntry } from '../../src/producer/store/pg-outbox.js';

let seq = 0;
const e = (kind: OutboxEntry['kind'], a: number | null, b: number | null = null, path: string | null = null): OutboxEntry =>
  ({ seq: ++seq, kind, a: a === null ? null : BigInt(a), b: b === null ? null : BigInt(b), path });

describe('outbox runs', () => {
  it('recording (a segment updated at each fragment): one run, each segment once, every fragment', () => {
    const runs = outboxRuns([e('seg', 1), e('frag', 1, 0), e('seg', 1), e('frag', 1, 1), e('seg', 1), e('gap', 4), e('seg', 2), e('frag', 2, 0), e('job', 7), e('job', 7)]);
    assert.deepEqual(runs, [{ deletion: false, segments: [1n, 2n], fragments: [[1n, 0n], [1n, 1n], [2n, 0n]], gaps: [4n], jobs: [7n] }]);
  });

  it('a deletion cuts the batch: what was upserted before it, and what after, stay on their sides', () => {
    const runs = outboxRuns([
      e('seg', 1), e('frag', 1, 0),
      e('frag-del', 1, 0, 'a.mp4'), e('seg-del', null, null, 'a.mp4'), e('gap-del', 5, 9), e('job-del', null, null, 'clip-x'), e('seg-del', null, null, 'a.mp4'),
      e('seg', 3), e('gap', 2),
      e('gap-del', 5, 9),
    ]);
    assert.deepEqual(runs.map((r) => r.deletion), [false, true, false, true]);
    assert.deepEqual(runs[1], { deletion: true, segments: ['a.mp4'], fragments: [['a.mp4', 0n]], gaps: [[5n, 9n]], jobs: ['clip-x'] });
    assert.deepEqual(runs[2], { deletion: false, segments: [3n], fragments: [], gaps: [2n], jobs: [] });
    assert.deepEqual(runs[3].gaps, [[5n, 9n]], 'the same key again after an upsert run is its own deletion');
  });

  it('no entries: no runs', () => {
    assert.deepEqual(outboxRuns([]), []);
  });

  it('lastByKey keeps each key once, the last row of it, in the order of the last ones', () => {
    assert.deepEqual(lastByKey([{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 3 }], (r) => r.k), [{ k: 'b', v: 2 }, { k: 'a', v: 3 }]);
  });
});
