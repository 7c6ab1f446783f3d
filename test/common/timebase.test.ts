// Timebase: the epoch-ms <-> PTS-ns formula, rounding, round trips, and validation of /health.timebase;
// exact at 1, 10 and 100 years of producer clock (PTS past 2^53, bigints), checked against bigint arithmetic.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Timebase, timebaseFromHealthPayload } from '../../src/common/timebase.js';
import { parseWireJson } from '../../src/protocol/wire-json.js';

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
      assert.ok(Math.abs(Number(tb.epochMsToPts(tb.ptsToEpochMs(pts))) - pts) <= 250, `pts ${pts}`);
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

describe('Timebase at 1, 10 and 100 years of producer clock (PTS past 2^53)', () => {
  const YEAR_NS = 31_557_600_000_000_000n; // 365.25 days
  const BASE_EPOCH_MS = 1_764_049_958_893.4; // in [2^40, 2^41): its doubles are spaced 2^-12 ms apart
  /** Round half up of n / d for d > 0, by bigint floor division (the oracle). */
  const roundDiv = (n: bigint, d: bigint): bigint => {
    const t = 2n * n + d;
    const q = t / (2n * d);
    return t % (2n * d) < 0n ? q - 1n : q;
  };
  for (const years of [1n, 10n, 100n]) {
    const base = years * YEAR_NS + 123_456_789n; // an odd base: nothing lines up by luck
    test(`${years} year(s): epoch ms → PTS is exact, a bigint; PTS → epoch ms → PTS within an epoch double's resolution`, () => {
      const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: BASE_EPOCH_MS, basePtsNs: base });
      assert.equal(tb.basePtsNs, base);
      assert.equal(tb.epochMsToPts(BASE_EPOCH_MS), base);
      // base + m/4096 ms is an exact double for these m, so the exact PTS is base + round(m × 1e6 / 4096).
      for (const m of [0, 1, 2, 3, 4095, 4096, 409_600_001, -1, -3, -4096 * 3_600_000 - 7, 4096 * 86_400_000 * 30 + 2049]) {
        const epochMs = BASE_EPOCH_MS + m / 4096;
        assert.equal(epochMs - BASE_EPOCH_MS, m / 4096, `m ${m} is exact`);
        const want = base + roundDiv(BigInt(m) * 1_000_000n, 4096n);
        const got = tb.epochMsToPts(epochMs);
        assert.equal(typeof got, 'bigint', `m ${m}: a bigint past 2^53`);
        assert.equal(got, want, `m ${m}`);
      }
      // Every ns near the base survives PTS → epoch → PTS to within the epoch double's spacing (244 ns).
      for (const d of [0n, 1n, 17n, 1_000_000n, 33_366_667n, 86_400_000_000_123n]) {
        const pts = base + d;
        const back = tb.epochMsToPts(tb.ptsToEpochMs(pts));
        assert.ok(typeof back === 'bigint' && (back - pts <= 122n && pts - back <= 122n), `${pts} → ${back}`);
      }
      assert.equal(tb.ptsToEpochMs(base + 2_500_000_000n), BASE_EPOCH_MS + 2500);
    });

    test(`${years} year(s): timebaseFromHealthPayload reads base_pts_ns exactly from parseWireJson, refuses a rounded number`, () => {
      const text = `{"ok":true,"ts_ms":${BASE_EPOCH_MS + 41_230},"pts_ns":${base + 41_230_000_000n},` +
        `"timebase":{"pts_units":"ns","pts_per_ms":1000000,"base_epoch_ms":${BASE_EPOCH_MS},"base_pts_ns":${base}}}`;
      const health = parseWireJson(text) as { ts_ms: number; pts_ns: bigint };
      const tb = timebaseFromHealthPayload(health);
      assert.equal(tb.basePtsNs, base);
      assert.equal(tb.epochMsToPts(health.ts_ms), health.pts_ns);
      assert.throws(() => timebaseFromHealthPayload(JSON.parse(text)), /base_pts_ns is \d+, past 2\^53 .*parseWireJson/);
    });
  }

  test('a base given as a string of digits, and a bigint base inside the safe range, come back as numbers', () => {
    const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: '3155760000000000123' });
    assert.equal(tb.basePtsNs, 3_155_760_000_000_000_123n);
    assert.equal(tb.epochMsToPts(-1), 3_155_759_999_999_000_123n);
    const small = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: 5n });
    assert.equal(small.basePtsNs, 5);
    assert.equal(small.epochMsToPts(1), 1_000_005);
    // Crossing 2^53 switches number → bigint exactly there.
    const edge = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: 2n ** 53n - 1_000_001n });
    assert.equal(edge.epochMsToPts(1), Number.MAX_SAFE_INTEGER);
    assert.equal(edge.epochMsToPts(1.000001), 2n ** 53n);
  });
});

describe('Timebase validation', () => {
  test('constructor names the invalid field', () => {
    assert.throws(() => new Timebase({ ptsPerMs: 0, baseEpochMs: 0, basePtsNs: 0 }), /ptsPerMs must be a positive finite number/);
    assert.throws(() => new Timebase({ ptsPerMs: -1, baseEpochMs: 0, basePtsNs: 0 }), /ptsPerMs/);
    assert.throws(() => new Timebase({ ptsPerMs: Number.NaN, baseEpochMs: 0, basePtsNs: 0 }), /ptsPerMs/);
    assert.throws(() => new Timebase({ ptsPerMs: 1e6, baseEpochMs: Number.POSITIVE_INFINITY, basePtsNs: 0 }), /baseEpochMs must be a finite number/);
    assert.throws(() => new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: Number.NaN }), /basePtsNs must be a whole number of ns/);
    assert.throws(() => new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: 1.5 }), /basePtsNs must be a whole number of ns/);
    assert.throws(() => new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: 2 ** 60 }), /basePtsNs is 1152921504606847000, past 2\^53 .* pass a bigint/);
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
    ['null base_pts_ns', { timebase: { pts_units: 'ns', pts_per_ms: 1e6, base_epoch_ms: 0, base_pts_ns: null } }, /health\.timebase\.base_pts_ns must be a whole number of ns/],
  ];
  for (const [name, payload, re] of bad) {
    test(`timebaseFromHealthPayload rejects: ${name}`, () => {
      assert.throws(() => timebaseFromHealthPayload(payload), (e: unknown) => e instanceof Error && re.test(e.message));
    });
  }
});
