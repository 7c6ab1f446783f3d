// Timebase: the epoch-ms <-> PTS-ns formula, rounding, round trips, and validation of /health.timebase.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Timebase, timebaseFromHealthPayload } from '../../src/common/timebase.js';

const HEALTH = {
  ok: true,
  ts_ms: 1764050000123.4,
  pts_ns: 41230000000,
  timebase: { pts_units: 'ns', pts_per_ms: 1000000, base_epoch_ms: 1764049958893.4, base_pts_ns: 0 },
};

describe('Timebase math', () => {
  test('maps epoch ms to PTS with pts = base_pts + (ms - base_ms) * pts_per_ms', () => {
    const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 1_000_000, basePtsNs: 5_000_000_000 });
    assert.equal(tb.ptsUnits, 'ns');
    assert.equal(tb.epochMsToPts(1_000_000), 5_000_000_000);
    assert.equal(tb.epochMsToPts(1_002_500), 5_000_000_000 + 2_500_000_000);
    assert.equal(tb.epochMsToPts(999_000), 4_000_000_000);
    assert.equal(tb.ptsToEpochMs(5_000_000_000), 1_000_000);
    assert.equal(tb.ptsToEpochMs(6_000_000_000), 1_001_000);
  });

  test('uses the real /health example: ts_ms maps close to pts_ns', () => {
    const tb = timebaseFromHealthPayload(HEALTH);
    // 1764050000123.4 - 1764049958893.4 = 41230 ms → 41.23 s of PTS (float error must round away)
    assert.equal(tb.epochMsToPts(HEALTH.ts_ms), 41_230_000_000);
    assert.ok(Number.isInteger(tb.epochMsToPts(HEALTH.ts_ms)));
  });

  test('rounds to a whole nanosecond and never returns -0', () => {
    const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 100, basePtsNs: 0 });
    assert.equal(tb.epochMsToPts(100.0000004), 0);
    assert.ok(Object.is(tb.epochMsToPts(99.9999996), 0));
    assert.equal(tb.epochMsToPts(100.0000006), 1);
    assert.equal(tb.epochMsToPts(100.25), 250_000);
    const tb2 = new Timebase({ ptsPerMs: 3, baseEpochMs: 0, basePtsNs: 0 });
    assert.equal(tb2.epochMsToPts(0.5), 2); // 1.5 rounds half up
    assert.equal(tb2.epochMsToPts(0.1), 0); // 0.3
  });

  test('round-trips epoch → PTS → epoch, and PTS → epoch → PTS within the precision of epoch-ms doubles', () => {
    const tb = timebaseFromHealthPayload(HEALTH);
    for (const ms of [HEALTH.timebase.base_epoch_ms, HEALTH.ts_ms, HEALTH.ts_ms + 86_400_000.123, HEALTH.ts_ms - 1234.5678]) {
      const back = tb.ptsToEpochMs(tb.epochMsToPts(ms));
      assert.ok(Math.abs(back - ms) < 1e-3, `${ms} → ${back}`);
    }
    // An epoch-ms double near 1.76e12 has a resolution of ~244 ns, so PTS survives to within that.
    for (const pts of [0, 1, 33_366_666, 41_230_000_000, 86_400_000_000_000]) {
      assert.ok(Math.abs(tb.epochMsToPts(tb.ptsToEpochMs(pts)) - pts) <= 250, `pts ${pts}`);
    }
    // With a small base the round trip is exact.
    const small = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: 1_000 });
    for (const pts of [0, 1, 999, 33_366_666, 41_230_000_001]) {
      assert.equal(small.epochMsToPts(small.ptsToEpochMs(pts)), pts);
    }
  });

  test('epoch before the base maps to a PTS below base (negative when base is 0)', () => {
    const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 10_000, basePtsNs: 0 });
    assert.equal(tb.epochMsToPts(9_000), -1_000_000_000);
  });

  test('conversions reject non-finite inputs', () => {
    const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: 0 });
    assert.throws(() => tb.epochMsToPts(Number.NaN), /epochMs must be a finite number/);
    assert.throws(() => tb.ptsToEpochMs(Number.POSITIVE_INFINITY), /pts must be a finite number/);
  });
});

describe('Timebase validation', () => {
  test('constructor names the invalid field', () => {
    assert.throws(() => new Timebase({ ptsPerMs: 0, baseEpochMs: 0, basePtsNs: 0 }), /ptsPerMs must be a positive finite number/);
    assert.throws(() => new Timebase({ ptsPerMs: -1, baseEpochMs: 0, basePtsNs: 0 }), /ptsPerMs/);
    assert.throws(() => new Timebase({ ptsPerMs: Number.NaN, baseEpochMs: 0, basePtsNs: 0 }), /ptsPerMs/);
    assert.throws(() => new Timebase({ ptsPerMs: 1e6, baseEpochMs: Number.POSITIVE_INFINITY, basePtsNs: 0 }), /baseEpochMs must be a finite number/);
    assert.throws(() => new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: Number.NaN }), /basePtsNs must be a finite number/);
    assert.throws(() => new Timebase({ ptsUnits: 'us', ptsPerMs: 1e3, baseEpochMs: 0, basePtsNs: 0 }), /ptsUnits must be "ns"/);
  });

  test('timebaseFromHealthPayload reads every field', () => {
    const tb = timebaseFromHealthPayload({
      timebase: { pts_units: 'ns', pts_per_ms: 2e6, base_epoch_ms: 12.5, base_pts_ns: 7 },
    });
    assert.deepEqual(
      { u: tb.ptsUnits, p: tb.ptsPerMs, e: tb.baseEpochMs, b: tb.basePtsNs },
      { u: 'ns', p: 2e6, e: 12.5, b: 7 },
    );
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', 'nope', /health payload must be a JSON object/],
    ['null', null, /health payload must be a JSON object/],
    ['no timebase', { ok: true }, /health\.timebase is missing or not an object/],
    ['timebase not an object', { timebase: 5 }, /health\.timebase is missing or not an object/],
    ['missing pts_units', { timebase: { pts_per_ms: 1e6, base_epoch_ms: 0, base_pts_ns: 0 } }, /health\.timebase\.pts_units is missing/],
    ['wrong pts_units', { timebase: { pts_units: 'us', pts_per_ms: 1e6, base_epoch_ms: 0, base_pts_ns: 0 } }, /health\.timebase\.pts_units must be "ns"/],
    ['missing pts_per_ms', { timebase: { pts_units: 'ns', base_epoch_ms: 0, base_pts_ns: 0 } }, /health\.timebase\.pts_per_ms must be a positive finite number/],
    ['string pts_per_ms', { timebase: { pts_units: 'ns', pts_per_ms: '1000000', base_epoch_ms: 0, base_pts_ns: 0 } }, /health\.timebase\.pts_per_ms must be a positive finite number/],
    ['zero pts_per_ms', { timebase: { pts_units: 'ns', pts_per_ms: 0, base_epoch_ms: 0, base_pts_ns: 0 } }, /health\.timebase\.pts_per_ms/],
    ['missing base_epoch_ms', { timebase: { pts_units: 'ns', pts_per_ms: 1e6, base_pts_ns: 0 } }, /health\.timebase\.base_epoch_ms must be a finite number/],
    ['null base_pts_ns', { timebase: { pts_units: 'ns', pts_per_ms: 1e6, base_epoch_ms: 0, base_pts_ns: null } }, /health\.timebase\.base_pts_ns must be a finite number/],
  ];
  for (const [name, payload, re] of bad) {
    test(`timebaseFromHealthPayload rejects: ${name}`, () => {
      assert.throws(() => timebaseFromHealthPayload(payload), (e: unknown) => e instanceof Error && re.test(e.message));
    });
  }
});
