// Pure validation and normalization of a ClipRequest: picks the window mode, applies preroll/postroll,
// maps epoch windows through a Timebase, and builds the snake_case POST /clip body. No I/O here.
// PTS arithmetic is done in bigint (exact at any size); results are numbers while exact, bigints beyond.
import { describeValue } from '../common/describe-value.js';
import type { Timebase } from '../common/timebase.js';
import { PTS_MAX, ptsOut, type PtsValue } from '../protocol/pts.js';
import { ClipRequestError } from './errors.js';
import type { ClipMode, ClipRequest, JsonObject, RecorderConfig } from './types.js';

/** PTS units per ms when no Timebase is known (the producer's PTS is in nanoseconds). */
export const DEFAULT_PTS_PER_MS = 1_000_000;

export interface NormalizedWindow {
  mode: ClipMode;
  /** PTS window as sent (PTS mode, or epoch mode mapped through a Timebase): a number while exact, else a bigint. */
  startPtsNs?: PtsValue;
  stopPtsNs?: PtsValue;
  /** Epoch window after preroll/postroll (epoch mode only). */
  startMs?: number;
  stopMs?: number;
}

export interface PreparedClip {
  window: NormalizedWindow;
  body: JsonObject;
}

type WindowDefaults = Pick<RecorderConfig, 'prerollMs' | 'postrollMs'>;
type BodyDefaults = Pick<RecorderConfig, 'defaultLabel' | 'defaultOutDir'>;

function given(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function finite(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ClipRequestError(`${name} must be a finite number (got ${describeValue(v)})`);
  }
  return v;
}

/** A PTS field of a request: a safe-integer number or a bigint, 0 to PTS_MAX. */
function ptsValue(name: string, v: unknown): bigint {
  let p: bigint;
  if (typeof v === 'bigint') p = v;
  else {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ClipRequestError(`${name} must be a finite number or a bigint (got ${describeValue(v)})`);
    }
    if (!Number.isSafeInteger(v)) {
      throw new ClipRequestError(Number.isInteger(v)
        ? `${name} must be a safe integer number of ns (got ${v}): past 2^53 a number is not exact, pass a bigint`
        : `${name} must be a safe integer number of ns (got ${v})`);
    }
    p = BigInt(v);
  }
  if (p < 0n) throw new ClipRequestError(`${name} must not be negative (got ${p})`);
  if (p > PTS_MAX) throw new ClipRequestError(`${name} must be at most ${PTS_MAX} (2^63 − 1 ns; got ${p})`);
  return p;
}

/** A PTS from a Timebase as a bigint (it returns integers). */
const big = (v: PtsValue): bigint => (typeof v === 'bigint' ? v : BigInt(v));

/** The effective roll (request value, else default, else 0), checked finite and non-negative. */
function roll(name: string, requested: unknown, fallback: unknown): number {
  const v = given(requested) ? requested : given(fallback) ? fallback : 0;
  const n = finite(name, v);
  if (n < 0) throw new ClipRequestError(`${name} must not be negative (got ${n})`);
  return n;
}

/**
 * Validates the window of `req` and widens it by preroll/postroll.
 *
 * - Both PTS fields given → PTS mode; the epoch fields are then ignored entirely.
 * - Exactly one PTS field given → ClipRequestError, even if the epoch window is complete (a half PTS
 *   window is almost certainly a bug in the caller, and silently falling back to epoch would hide it).
 * - No PTS field → epoch mode, which needs both `startMs` and `stopMs`.
 * - PTS values must be non-negative safe-integer numbers or bigints (up to 2^63 − 1); epoch values finite
 *   and non-negative; `stop > start`; an epoch window whose start maps (via the Timebase) to a negative PTS
 *   is rejected.
 * - Preroll is subtracted and postroll added in the window's own units (ms × ptsPerMs for PTS, where
 *   ptsPerMs comes from the Timebase or defaults to 1e6, rounded to a whole ns); a widened start is
 *   clamped at 0. PTS results are numbers while exact, else bigints.
 */
export function normalizeClipWindow(req: ClipRequest, defaults: WindowDefaults = {}, timebase?: Timebase): NormalizedWindow {
  if (typeof req !== 'object' || req === null) throw new ClipRequestError('clip request must be an object');
  const prerollMs = roll('prerollMs', req.prerollMs, defaults.prerollMs);
  const postrollMs = roll('postrollMs', req.postrollMs, defaults.postrollMs);

  const hasStartPts = given(req.startPtsNs);
  const hasStopPts = given(req.stopPtsNs);
  if (hasStartPts !== hasStopPts) {
    const [set, unset] = hasStartPts ? ['startPtsNs', 'stopPtsNs'] : ['stopPtsNs', 'startPtsNs'];
    throw new ClipRequestError(`half-given PTS window: ${set} is set but ${unset} is not (give both, or neither and use startMs/stopMs)`);
  }

  if (hasStartPts) {
    const start = ptsValue('startPtsNs', req.startPtsNs);
    const stop = ptsValue('stopPtsNs', req.stopPtsNs);
    if (stop <= start) throw new ClipRequestError(`stopPtsNs (${stop}) must be greater than startPtsNs (${start})`);
    const ptsPerMs = timebase?.ptsPerMs ?? DEFAULT_PTS_PER_MS;
    const widenedStart = start - BigInt(Math.round(prerollMs * ptsPerMs));
    const stopPtsNs = stop + BigInt(Math.round(postrollMs * ptsPerMs));
    if (stopPtsNs > PTS_MAX) {
      throw new ClipRequestError(`stopPtsNs plus postroll (${stopPtsNs}) is beyond the largest PTS (${PTS_MAX}, 2^63 − 1 ns)`);
    }
    return { mode: 'pts', startPtsNs: ptsOut(widenedStart > 0n ? widenedStart : 0n), stopPtsNs: ptsOut(stopPtsNs) };
  }

  const hasStartMs = given(req.startMs);
  const hasStopMs = given(req.stopMs);
  if (!hasStartMs && !hasStopMs) {
    throw new ClipRequestError('clip request needs a window: startPtsNs+stopPtsNs or startMs+stopMs');
  }
  if (hasStartMs !== hasStopMs) {
    const [set, unset] = hasStartMs ? ['startMs', 'stopMs'] : ['stopMs', 'startMs'];
    throw new ClipRequestError(`half-given epoch window: ${set} is set but ${unset} is not`);
  }
  const start = finite('startMs', req.startMs);
  const stop = finite('stopMs', req.stopMs);
  if (start < 0) throw new ClipRequestError(`startMs must not be negative (got ${start})`);
  if (stop <= start) throw new ClipRequestError(`stopMs (${stop}) must be greater than startMs (${start})`);

  let startMs = Math.max(0, start - prerollMs);
  const stopMs = stop + postrollMs;
  if (!timebase) return { mode: 'epoch', startMs, stopMs };

  const rawStartPts = big(timebase.epochMsToPts(start));
  if (rawStartPts < 0n) {
    throw new ClipRequestError(
      `epoch window maps to a negative PTS: startMs ${start} → ${rawStartPts} ns (timebase base_epoch_ms ${timebase.baseEpochMs})`,
    );
  }
  let startPtsNs = big(timebase.epochMsToPts(startMs));
  if (startPtsNs < 0n) {
    // Only the preroll reaches before the producer's PTS origin: clamp, as PTS mode does.
    startPtsNs = 0n;
    startMs = timebase.ptsToEpochMs(0);
  }
  const stopPtsNs = big(timebase.epochMsToPts(stopMs));
  if (stopPtsNs > PTS_MAX) {
    throw new ClipRequestError(`epoch window maps beyond the largest PTS (${startPtsNs}..${stopPtsNs}; at most ${PTS_MAX})`);
  }
  if (stopPtsNs <= startPtsNs) {
    throw new ClipRequestError(`epoch window is empty once mapped to PTS (${startPtsNs}..${stopPtsNs})`);
  }
  return { mode: 'epoch', startMs, stopMs, startPtsNs: ptsOut(startPtsNs), stopPtsNs: ptsOut(stopPtsNs) };
}

function optionalString(name: string, v: unknown, nonEmpty: boolean): string | undefined {
  if (!given(v)) return undefined;
  if (typeof v !== 'string') throw new ClipRequestError(`${name} must be a string (got ${describeValue(v)})`);
  if (nonEmpty && v.length === 0) throw new ClipRequestError(`${name} must not be empty`);
  return v;
}

/** Checks a per-request `maxWaitMs` override; returns undefined when not given. */
export function requestMaxWaitMs(req: ClipRequest): number | undefined {
  if (!given(req.maxWaitMs)) return undefined;
  const n = finite('maxWaitMs', req.maxWaitMs);
  if (n <= 0) throw new ClipRequestError(`maxWaitMs must be positive (got ${n})`);
  return n;
}

/**
 * Builds the POST /clip body for a normalized window. The window is sent as `start_pts_ns`/`stop_pts_ns`
 * whenever PTS is known (a bigint stays a bigint: stringifyWireJson writes all its digits), else as
 * `start_epoch_ms`/`stop_epoch_ms`. `label` and `out_dir` fall back to the
 * config defaults; `filename` and `max_wait_ms` come only from the request. Absent values are omitted.
 */
export function buildClipBody(req: ClipRequest, window: NormalizedWindow, defaults: BodyDefaults = {}): JsonObject {
  const body: JsonObject = {};
  if (window.startPtsNs !== undefined && window.stopPtsNs !== undefined) {
    body.start_pts_ns = window.startPtsNs;
    body.stop_pts_ns = window.stopPtsNs;
  } else if (window.startMs !== undefined && window.stopMs !== undefined) {
    body.start_epoch_ms = window.startMs;
    body.stop_epoch_ms = window.stopMs;
  } else {
    throw new ClipRequestError('normalized window has neither a PTS nor an epoch range');
  }
  const label = optionalString('label', req.label, false) ?? optionalString('defaultLabel', defaults.defaultLabel, false);
  if (label !== undefined) body.label = label;
  const outDir = optionalString('outDir', req.outDir, true) ?? optionalString('defaultOutDir', defaults.defaultOutDir, true);
  if (outDir !== undefined) body.out_dir = outDir;
  const filename = optionalString('filename', req.filename, true);
  if (filename !== undefined) body.filename = filename;
  const maxWaitMs = requestMaxWaitMs(req);
  if (maxWaitMs !== undefined) body.max_wait_ms = maxWaitMs;
  return body;
}

/** Validates everything about a request (window, strings, overrides) and builds its body. */
export function prepareClip(
  req: ClipRequest,
  cfg: WindowDefaults & BodyDefaults = {},
  timebase?: Timebase,
): PreparedClip {
  const window = normalizeClipWindow(req, cfg, timebase);
  return { window, body: buildClipBody(req, window, cfg) };
}
