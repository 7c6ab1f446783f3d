// Pure window normalization and POST /clip body building, without any network.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Timebase } from '../../src/common/timebase.js';
import { ClipRequestError } from '../../src/record/errors.js';
import { buildClipBody, normalizeClipWindow, prepareClip } from '../../src/record/window.js';
import type { ClipRequest } from '../../src/record/types.js';
import { PTS_MAX } from '../../src/protocol/pts.js';
import { stringifyWireJson } from '../../src/protocol/wire-json.js';

const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 1_700_000_000_000, basePtsNs: 0 });

function rejects(req: ClipRequest, re: RegExp, defaults = {}, timebase?: Timebase) {
  assert.throws(
    () => prepareClip(req, defaults, timebase),
    (e: unknown) => e instanceof ClipRequestError && e.name === 'ClipRequestError' && re.test(e.message),
  );
}

describe('window mode selection', () => {
  test('PTS window → PTS mode', () => {
    assert.deepEqual(normalizeClipWindow({ startPtsNs: 1_000, stopPtsNs: 2_000 }), { mode: 'pts', startPtsNs: 1_000, stopPtsNs: 2_000 });
  });

  test('PTS takes precedence over a complete epoch window, which is then ignored', () => {
    const w = normalizeClipWindow({ startPtsNs: 5e9, stopPtsNs: 6e9, startMs: 1, stopMs: 2 }, {}, tb);
    assert.deepEqual(w, { mode: 'pts', startPtsNs: 5e9, stopPtsNs: 6e9 });
  });

  test('PTS takes precedence even over an invalid epoch window', () => {
    const w = normalizeClipWindow({ startPtsNs: 5, stopPtsNs: 6, startMs: Number.NaN, stopMs: 1 });
    assert.equal(w.mode, 'pts');
    assert.equal(normalizeClipWindow({ startPtsNs: 5, stopPtsNs: 6, stopMs: 1 }).mode, 'pts');
  });

  test('epoch window without Timebase stays in epoch ms', () => {
    assert.deepEqual(normalizeClipWindow({ startMs: 1000.5, stopMs: 2000 }), { mode: 'epoch', startMs: 1000.5, stopMs: 2000 });
  });

  test('epoch window with Timebase is mapped to PTS and keeps both', () => {
    const w = normalizeClipWindow({ startMs: 1_700_000_001_000, stopMs: 1_700_000_003_500.25 }, {}, tb);
    assert.deepEqual(w, {
      mode: 'epoch', startMs: 1_700_000_001_000, stopMs: 1_700_000_003_500.25,
      startPtsNs: 1_000_000_000, stopPtsNs: 3_500_250_000,
    });
  });

  test('null fields count as absent', () => {
    const req = { startPtsNs: null, stopPtsNs: null, startMs: 1, stopMs: 2 } as unknown as ClipRequest;
    assert.equal(normalizeClipWindow(req).mode, 'epoch');
  });
});

describe('window rejections (ClipRequestError)', () => {
  test('no window at all', () => rejects({ label: 'x' }, /needs a window/));
  test('only startPtsNs', () => rejects({ startPtsNs: 1 }, /half-given PTS window: startPtsNs is set but stopPtsNs is not/));
  test('only stopPtsNs', () => rejects({ stopPtsNs: 1 }, /half-given PTS window: stopPtsNs is set/));
  test('half PTS window with a complete epoch window is still an error', () =>
    rejects({ startPtsNs: 1, startMs: 1, stopMs: 2 }, /half-given PTS window/));
  test('only startMs', () => rejects({ startMs: 1 }, /half-given epoch window: startMs is set but stopMs is not/));
  test('only stopMs', () => rejects({ stopMs: 1 }, /half-given epoch window: stopMs is set/));
  test('PTS stop == start', () => rejects({ startPtsNs: 5, stopPtsNs: 5 }, /stopPtsNs \(5\) must be greater than startPtsNs \(5\)/));
  test('PTS stop < start', () => rejects({ startPtsNs: 6, stopPtsNs: 5 }, /must be greater/));
  test('epoch stop == start', () => rejects({ startMs: 5, stopMs: 5 }, /stopMs \(5\) must be greater than startMs \(5\)/));
  test('epoch stop < start', () => rejects({ startMs: 6, stopMs: 5.5 }, /must be greater/));
  test('NaN PTS', () => rejects({ startPtsNs: Number.NaN, stopPtsNs: 5 }, /startPtsNs must be a finite number/));
  test('infinite PTS stop', () => rejects({ startPtsNs: 0, stopPtsNs: Number.POSITIVE_INFINITY }, /stopPtsNs must be a finite number/));
  test('NaN epoch', () => rejects({ startMs: 0, stopMs: Number.NaN }, /stopMs must be a finite number/));
  test('infinite epoch', () => rejects({ startMs: Number.NEGATIVE_INFINITY, stopMs: 5 }, /startMs must be a finite number/));
  test('string number', () => rejects({ startMs: '5', stopMs: 6 } as unknown as ClipRequest, /startMs must be a finite number/));
  test('an object is quoted as JSON', () => rejects({ startMs: { at: 5 }, stopMs: 6 } as unknown as ClipRequest, /startMs must be a finite number \(got \{"at":5\}\)/));
  test('non-integer PTS', () => rejects({ startPtsNs: 1.5, stopPtsNs: 5 }, /startPtsNs must be a safe integer/));
  test('unsafe-integer PTS (a number past 2^53: pass a bigint)', () =>
    rejects({ startPtsNs: 0, stopPtsNs: 2 ** 53 }, /stopPtsNs must be a safe integer number of ns \(got 9007199254740992\): .*pass a bigint/));
  test('negative PTS', () => rejects({ startPtsNs: -1, stopPtsNs: 5 }, /startPtsNs must not be negative/));
  test('negative bigint PTS', () => rejects({ startPtsNs: -1n, stopPtsNs: 5n }, /startPtsNs must not be negative \(got -1\)/));
  test('bigint PTS beyond 2^63 − 1', () => rejects({ startPtsNs: 0n, stopPtsNs: PTS_MAX + 1n }, /stopPtsNs must be at most 9223372036854775807/));
  test('bigint PTS stop == start', () =>
    rejects({ startPtsNs: 4_611_686_018_427_388_416n, stopPtsNs: 4_611_686_018_427_388_416n },
      /stopPtsNs \(4611686018427388416\) must be greater than startPtsNs \(4611686018427388416\)/));
  test('bigint PTS stop < start by 1 ns', () =>
    rejects({ startPtsNs: 4_611_686_018_427_388_417n, stopPtsNs: 4_611_686_018_427_388_416n }, /must be greater/));
  test('a string is not a PTS', () =>
    rejects({ startPtsNs: '5', stopPtsNs: 6 } as unknown as ClipRequest, /startPtsNs must be a finite number or a bigint \(got "5"\)/));
  test('postroll pushing PTS past the largest PTS', () =>
    rejects({ startPtsNs: 0, stopPtsNs: PTS_MAX - 10n, postrollMs: 1 }, /beyond the largest PTS \(9223372036854775807/));
  test('negative epoch start', () => rejects({ startMs: -5, stopMs: 5 }, /startMs must not be negative/));
  test('epoch window mapping to negative PTS', () =>
    rejects({ startMs: 1_699_999_999_000, stopMs: 1_700_000_001_000 }, /maps to a negative PTS/, {}, tb));
  test('epoch window collapsing once mapped to PTS', () =>
    rejects({ startMs: 1000, stopMs: 1000.0000001 }, /empty once mapped to PTS/, {}, new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: 0 })));
  test('negative preroll (request)', () => rejects({ startPtsNs: 0, stopPtsNs: 5, prerollMs: -1 }, /prerollMs must not be negative/));
  test('negative postroll (config default)', () =>
    rejects({ startPtsNs: 0, stopPtsNs: 5 }, /postrollMs must not be negative/, { postrollMs: -2 }));
  test('non-finite preroll', () => rejects({ startMs: 0, stopMs: 5, prerollMs: Number.NaN }, /prerollMs must be a finite number/));
  test('non-positive maxWaitMs', () => rejects({ startMs: 0, stopMs: 5, maxWaitMs: 0 }, /maxWaitMs must be positive/));
  test('non-string label', () => rejects({ startMs: 0, stopMs: 5, label: 5 } as unknown as ClipRequest, /label must be a string/));
  test('empty filename', () => rejects({ startMs: 0, stopMs: 5, filename: '' }, /filename must not be empty/));
});

describe('preroll and postroll', () => {
  test('PTS mode without Timebase widens by ms × 1e6', () => {
    const w = normalizeClipWindow({ startPtsNs: 10_000_000_000, stopPtsNs: 12_000_000_000, prerollMs: 1500, postrollMs: 250 });
    assert.deepEqual(w, { mode: 'pts', startPtsNs: 8_500_000_000, stopPtsNs: 12_250_000_000 });
  });

  test('PTS mode uses the Timebase ptsPerMs, but does not map the window', () => {
    const odd = new Timebase({ ptsPerMs: 2e6, baseEpochMs: 123, basePtsNs: 456 });
    const w = normalizeClipWindow({ startPtsNs: 10_000_000_000, stopPtsNs: 12_000_000_000, prerollMs: 1000, postrollMs: 500 }, {}, odd);
    assert.deepEqual(w, { mode: 'pts', startPtsNs: 8_000_000_000, stopPtsNs: 13_000_000_000 });
  });

  test('PTS preroll clamps at 0', () => {
    const w = normalizeClipWindow({ startPtsNs: 300_000_000, stopPtsNs: 900_000_000, prerollMs: 2000 });
    assert.deepEqual(w, { mode: 'pts', startPtsNs: 0, stopPtsNs: 900_000_000 });
  });

  test('fractional ms rolls give integer PTS', () => {
    const w = normalizeClipWindow({ startPtsNs: 1_000_000, stopPtsNs: 2_000_000, prerollMs: 0.0000004, postrollMs: 0.0000006 });
    assert.deepEqual(w, { mode: 'pts', startPtsNs: 1_000_000, stopPtsNs: 2_000_001 });
  });

  test('epoch mode without Timebase widens in ms, clamped at 0', () => {
    assert.deepEqual(
      normalizeClipWindow({ startMs: 5000, stopMs: 8000, prerollMs: 1000, postrollMs: 2000 }),
      { mode: 'epoch', startMs: 4000, stopMs: 10000 },
    );
    assert.deepEqual(normalizeClipWindow({ startMs: 500, stopMs: 800, prerollMs: 1000 }), { mode: 'epoch', startMs: 0, stopMs: 800 });
  });

  test('epoch mode with Timebase widens in ms, then maps', () => {
    const w = normalizeClipWindow({ startMs: 1_700_000_010_000, stopMs: 1_700_000_012_000, prerollMs: 3000, postrollMs: 1000 }, {}, tb);
    assert.deepEqual(w, {
      mode: 'epoch', startMs: 1_700_000_007_000, stopMs: 1_700_000_013_000,
      startPtsNs: 7_000_000_000, stopPtsNs: 13_000_000_000,
    });
  });

  test('epoch mode with Timebase: a preroll reaching before PTS 0 clamps to PTS 0 (not an error)', () => {
    const w = normalizeClipWindow({ startMs: 1_700_000_001_000, stopMs: 1_700_000_002_000, prerollMs: 5000 }, {}, tb);
    assert.deepEqual(w, { mode: 'epoch', startMs: 1_700_000_000_000, stopMs: 1_700_000_002_000, startPtsNs: 0, stopPtsNs: 2_000_000_000 });
  });

  test('config defaults apply; request values (even 0) override them', () => {
    const defaults = { prerollMs: 1000, postrollMs: 2000 };
    assert.deepEqual(normalizeClipWindow({ startMs: 5000, stopMs: 6000 }, defaults), { mode: 'epoch', startMs: 4000, stopMs: 8000 });
    assert.deepEqual(
      normalizeClipWindow({ startMs: 5000, stopMs: 6000, prerollMs: 0, postrollMs: 500 }, defaults),
      { mode: 'epoch', startMs: 5000, stopMs: 6500 },
    );
  });
});

describe('PTS past 2^53 (bigints)', () => {
  const Y100 = 3_155_760_000_000_000_123n; // 100 years of producer clock, an odd ns

  test('a bigint window stays exact through preroll/postroll and comes back as bigints', () => {
    const w = normalizeClipWindow({ startPtsNs: Y100, stopPtsNs: Y100 + 1n, prerollMs: 1.5, postrollMs: 0.000001 });
    assert.deepEqual(w, { mode: 'pts', startPtsNs: Y100 - 1_500_000n, stopPtsNs: Y100 + 2n });
  });

  test('numbers and bigints mix; results are numbers while exact, bigints past 2^53', () => {
    const max = Number.MAX_SAFE_INTEGER;
    assert.deepEqual(normalizeClipWindow({ startPtsNs: 5n, stopPtsNs: 10 }), { mode: 'pts', startPtsNs: 5, stopPtsNs: 10 });
    // A safe window whose postroll crosses 2^53: the stop becomes a bigint, exact.
    assert.deepEqual(normalizeClipWindow({ startPtsNs: max - 5, stopPtsNs: max, postrollMs: 0.000002 }),
      { mode: 'pts', startPtsNs: max - 5, stopPtsNs: 2n ** 53n + 1n });
    // A bigint window whose preroll reaches below 2^53 gives a number start.
    assert.deepEqual(normalizeClipWindow({ startPtsNs: 2n ** 53n, stopPtsNs: 2n ** 53n + 7n, prerollMs: 0.000001 }),
      { mode: 'pts', startPtsNs: max, stopPtsNs: 2n ** 53n + 7n });
  });

  test('the body keeps bigints, and the wire text carries all their digits', () => {
    const { body } = prepareClip({ startPtsNs: 4_611_686_018_427_388_416n, stopPtsNs: 4_611_686_018_427_388_417n, label: 'x' });
    assert.equal(stringifyWireJson(body), '{"start_pts_ns":4611686018427388416,"stop_pts_ns":4611686018427388417,"label":"x"}');
  });

  for (const years of [1n, 10n, 100n]) {
    test(`epoch window with a Timebase at ${years} year(s) of producer clock maps to exact bigint PTS`, () => {
      const base = years * 31_557_600_000_000_000n + 987n;
      const big = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 1_700_000_000_000, basePtsNs: base });
      const w = normalizeClipWindow({ startMs: 1_700_000_001_000.25, stopMs: 1_700_000_003_000, prerollMs: 500 }, {}, big);
      assert.deepEqual(w, {
        mode: 'epoch', startMs: 1_700_000_000_500.25, stopMs: 1_700_000_003_000,
        startPtsNs: base + 500_250_000n, stopPtsNs: base + 3_000_000_000n,
      });
      // One epoch double apart (2^-12 ms = 244.140625 ns): two PTS 244 ns apart, each rounded to the ns.
      assert.deepEqual(normalizeClipWindow({ startMs: 1_700_000_001_000, stopMs: 1_700_000_001_000 + 2 ** -12 }, {}, big), {
        mode: 'epoch', startMs: 1_700_000_001_000, stopMs: 1_700_000_001_000 + 2 ** -12,
        startPtsNs: base + 1_000_000_000n, stopPtsNs: base + 1_000_000_244n,
      });
    });
  }
});

describe('POST /clip body', () => {
  test('PTS body carries only the PTS keys when nothing else is given', () => {
    const { body } = prepareClip({ startPtsNs: 1, stopPtsNs: 2 });
    assert.deepEqual(body, { start_pts_ns: 1, stop_pts_ns: 2 });
  });

  test('epoch body without Timebase uses start_epoch_ms/stop_epoch_ms', () => {
    const { body } = prepareClip({ startMs: 1.5, stopMs: 2.5 });
    assert.deepEqual(body, { start_epoch_ms: 1.5, stop_epoch_ms: 2.5 });
  });

  test('epoch body with Timebase sends PTS, never epoch keys', () => {
    const { body } = prepareClip({ startMs: 1_700_000_001_000, stopMs: 1_700_000_002_000 }, {}, tb);
    assert.deepEqual(body, { start_pts_ns: 1_000_000_000, stop_pts_ns: 2_000_000_000 });
  });

  test('label/out_dir fall back to config defaults; filename and max_wait_ms only from the request', () => {
    const cfg = { defaultLabel: 'motion', defaultOutDir: '/clips/default' };
    assert.deepEqual(prepareClip({ startPtsNs: 1, stopPtsNs: 2 }, cfg).body, {
      start_pts_ns: 1, stop_pts_ns: 2, label: 'motion', out_dir: '/clips/default',
    });
    assert.deepEqual(
      prepareClip({ startPtsNs: 1, stopPtsNs: 2, label: 'door', outDir: '/clips/door', filename: 'a.mp4', maxWaitMs: 5000 }, cfg).body,
      { start_pts_ns: 1, stop_pts_ns: 2, label: 'door', out_dir: '/clips/door', filename: 'a.mp4', max_wait_ms: 5000 },
    );
  });

  test('undefined and null request fields are left out entirely', () => {
    const req = { startPtsNs: 1, stopPtsNs: 2, label: undefined, outDir: null, filename: undefined, maxWaitMs: undefined } as unknown as ClipRequest;
    const { body } = prepareClip(req, { defaultLabel: undefined });
    assert.deepEqual(Object.keys(body), ['start_pts_ns', 'stop_pts_ns']);
    assert.equal(JSON.stringify(body), '{"start_pts_ns":1,"stop_pts_ns":2}');
  });

  test('buildClipBody refuses a window with neither range', () => {
    assert.throws(() => buildClipBody({}, { mode: 'pts' }), ClipRequestError);
  });
});
