// Event → clip planning (pure, no I/O): preroll/postroll in PTS units, merging of overlapping or adjacent
// padded events into one clip window (in batch, or streaming as events arrive), the retry policy for
// clip requests, the force-rotate decision, and the JSONL records the clip stage writes.
// Windows are in producer PTS, exact at any size: a number while exact, a bigint past 2^53 ns (PtsValue);
// the arithmetic below keeps plain number arithmetic while every value is a number and the result stays
// exact, and goes through bigint otherwise. A PTS that could not be mapped is NaN and stays NaN.
import type { PtsValue } from '../protocol/pts.js';
import { ptsOut } from '../protocol/pts.js';
import { parseWireJson, stringifyWireJson } from '../protocol/wire-json.js';

/** A half-open window [startPtsNs, stopPtsNs) in producer PTS nanoseconds (numbers while exact, else bigints). */
export interface PtsWindow { startPtsNs: PtsValue; stopPtsNs: PtsValue }

/** A motion event placed on the producer's PTS (a MotionEvent of frames whose time is producer PTS fits). */
export interface PtsEvent extends PtsWindow {
  /** Highest per-frame score (fraction of changed pixels, 0..1) seen in the event. */
  peakScore: number;
  /** Number of frames with motion in the event. */
  frames: number;
}

const isNaNPts = (p: PtsValue): boolean => typeof p === 'number' && !Number.isFinite(p);
const toBig = (p: PtsValue): bigint => (typeof p === 'bigint' ? p : BigInt(Math.round(p)));

/** `p + ns` (ns a number, rounded to a whole ns when the sum is taken in bigint); NaN when either is not finite. */
export function ptsPlus(p: PtsValue, ns: number): PtsValue {
  if (isNaNPts(p) || !Number.isFinite(ns)) return Number.NaN;
  if (typeof p === 'number') {
    const r = p + ns;
    if (Math.abs(r) <= Number.MAX_SAFE_INTEGER && Math.abs(p) <= Number.MAX_SAFE_INTEGER) return r;
  }
  return ptsOut(toBig(p) + BigInt(Math.round(ns)));
}

/** `stop − start` in ns as a number, exact while under 2^53 ns (NaN when either is NaN). */
export function ptsSpanNs(start: PtsValue, stop: PtsValue): number {
  if (isNaNPts(start) || isNaNPts(stop)) return Number.NaN;
  if (typeof start === 'number' && typeof stop === 'number') return stop - start;
  return Number(toBig(stop) - toBig(start));
}

const ptsLesser = (a: PtsValue, b: PtsValue): PtsValue => (isNaNPts(a) || isNaNPts(b) ? Number.NaN : a <= b ? a : b);
const ptsGreater = (a: PtsValue, b: PtsValue): PtsValue => (isNaNPts(a) || isNaNPts(b) ? Number.NaN : a >= b ? a : b);
const ptsCompare = (a: PtsValue, b: PtsValue): number => (a < b ? -1 : a > b ? 1 : 0);

export interface PaddingOptions {
  /** Added before an event's start (ms). */
  prerollMs: number;
  /** Added after an event's stop (ms). */
  postrollMs: number;
}

export interface MergeOptions {
  /** Padded windows whose gap is at most this (ms) become one clip. 0 = only overlapping/touching ones. */
  mergeGapMs: number;
  /** A merge that would make a clip longer than this (ms) is not made. */
  maxClipMs: number;
}

export type PlannerOptions = PaddingOptions & MergeOptions;

export const DEFAULT_PLANNER_OPTIONS: PlannerOptions = { prerollMs: 2000, postrollMs: 2000, mergeGapMs: 0, maxClipMs: 900_000 };

/** A clip to request: the padded (and possibly merged) window and the events it covers. */
export interface PlannedClip<E extends PtsWindow = PtsEvent> extends PtsWindow {
  events: E[];
}

/** Milliseconds → PTS nanoseconds (integer). */
export function msToNs(ms: number): number {
  return Math.round(ms * 1e6);
}

/** Applies preroll/postroll in PTS units; the start is clamped at 0 (the producer clock's origin). */
export function padWindow(w: PtsWindow, pad: PaddingOptions): PtsWindow {
  return {
    startPtsNs: ptsGreater(0, ptsPlus(w.startPtsNs, -msToNs(pad.prerollMs))),
    stopPtsNs: ptsPlus(w.stopPtsNs, msToNs(pad.postrollMs)),
  };
}

function canMerge(a: PtsWindow, b: PtsWindow, o: MergeOptions): boolean {
  const start = ptsLesser(a.startPtsNs, b.startPtsNs);
  const stop = ptsGreater(a.stopPtsNs, b.stopPtsNs);
  return b.startPtsNs <= ptsPlus(a.stopPtsNs, msToNs(o.mergeGapMs)) && a.startPtsNs <= ptsPlus(b.stopPtsNs, msToNs(o.mergeGapMs))
    && ptsSpanNs(start, stop) <= msToNs(o.maxClipMs);
}

function mergeInto<E extends PtsWindow>(clip: PlannedClip<E>, padded: PtsWindow, ev: E): void {
  clip.startPtsNs = ptsLesser(clip.startPtsNs, padded.startPtsNs);
  clip.stopPtsNs = ptsGreater(clip.stopPtsNs, padded.stopPtsNs);
  clip.events.push(ev);
}

/** Pads every event and merges the overlapping/adjacent ones (batch form; any input order). */
export function planClips<E extends PtsWindow>(events: readonly E[], options: Partial<PlannerOptions> = {}): PlannedClip<E>[] {
  const o = { ...DEFAULT_PLANNER_OPTIONS, ...options };
  const sorted = [...events].sort((a, b) => ptsCompare(a.startPtsNs, b.startPtsNs) || ptsCompare(a.stopPtsNs, b.stopPtsNs));
  const out: PlannedClip<E>[] = [];
  for (const ev of sorted) {
    const padded = padWindow(ev, o);
    const last = out[out.length - 1];
    if (last && canMerge(last, padded, o)) mergeInto(last, padded, ev);
    else out.push({ ...padded, events: [ev] });
  }
  return out;
}

/**
 * Streaming form of `planClips` for events that arrive in start order (as the detector emits them).
 * A clip is held back while a later event could still merge into it, and released by `addEvent` (when
 * an event that does not merge arrives), by `advance` (when no future event can reach it) or by `flush`.
 */
export class ClipPlanner<E extends PtsWindow = PtsEvent> {
  readonly options: PlannerOptions;
  private pending: PlannedClip<E> | null = null;

  constructor(options: Partial<PlannerOptions> = {}) {
    const o = { ...DEFAULT_PLANNER_OPTIONS, ...options };
    if (!(o.prerollMs >= 0 && o.postrollMs >= 0 && o.mergeGapMs >= 0 && o.maxClipMs > 0)) {
      throw new RangeError('prerollMs, postrollMs and mergeGapMs must be ≥ 0, maxClipMs > 0');
    }
    this.options = o;
  }

  /** The clip being held back, if any. */
  get pendingClip(): PlannedClip<E> | null {
    return this.pending;
  }

  /** Adds a completed event; returns the clips that can no longer grow. */
  addEvent(ev: E): PlannedClip<E>[] {
    const padded = padWindow(ev, this.options);
    if (this.pending && canMerge(this.pending, padded, this.options)) {
      mergeInto(this.pending, padded, ev);
      return [];
    }
    const out = this.pending ? [this.pending] : [];
    this.pending = { ...padded, events: [ev] };
    return out;
  }

  /**
   * Tells the planner that no event starting before `horizonPtsNs` will be added any more (pass the
   * detector's open event start, or else the PTS of the frame just pushed). Returns the held clip
   * once no such event could merge with it.
   */
  advance(horizonPtsNs: PtsValue): PlannedClip<E>[] {
    const p = this.pending;
    if (!p) return [];
    const earliestPaddedStart = ptsPlus(horizonPtsNs, -msToNs(this.options.prerollMs));
    if (earliestPaddedStart > ptsPlus(p.stopPtsNs, msToNs(this.options.mergeGapMs))) {
      this.pending = null;
      return [p];
    }
    return [];
  }

  /** Releases the held clip (end of stream). */
  flush(): PlannedClip<E>[] {
    const p = this.pending;
    this.pending = null;
    return p ? [p] : [];
  }
}

// ---- retry policy -------------------------------------------------------------------------------

export interface RetryPolicy {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  /** Delay before the 2nd attempt; doubled for each further one ... */
  baseDelayMs: number;
  /** ... up to this. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 10_000 };

/**
 * Whether a failed `requestClip` is worth retrying: a network/HTTP-5xx fault (`ClipHttpError` with
 * status null or ≥ 500) or a job that did not finish in time (`ClipTimeoutError`). Not: 4xx answers,
 * invalid requests, jobs that ended in `error`, aborts, or anything unknown. Recognised by the error's
 * `name` and `status`, so this module does not depend on the Recorder's classes.
 */
export function isTransientClipError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'ClipTimeoutError') return true;
  if (err.name !== 'ClipHttpError') return false;
  const status = (err as Error & { status?: unknown }).status;
  return status === null || status === undefined || (typeof status === 'number' && status >= 500);
}

/** Delay before attempt `attempt + 1` after `attempt` failed (attempt counts from 1). */
export function retryDelayMs(attempt: number, policy: RetryPolicy): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

/** Whether to retry after `attempt` attempts ended with `err`. */
/**
 * Retry a transient failure only when no job was created: an error that carries a `jobId` (a timeout
 * while polling, a hung GET) means the producer accepted the job and is still making the clip — a new
 * POST would make a second clip of the same window.
 */
export function shouldRetry(err: unknown, attempt: number, policy: RetryPolicy): boolean {
  const jobId = (err as { jobId?: unknown } | null)?.jobId;
  return attempt < policy.maxAttempts && isTransientClipError(err) && (jobId === undefined || jobId === null);
}

/**
 * Whether to force-rotate before requesting a clip ending at `stopPtsNs`: when the window reaches into
 * the open segment (`stop > openSegmentStartPtsNs`), or when the open segment's start is unknown.
 */
export function needsForceRotate(stopPtsNs: PtsValue, openSegmentStartPtsNs: PtsValue | null | undefined): boolean {
  return openSegmentStartPtsNs === null || openSegmentStartPtsNs === undefined || stopPtsNs > openSegmentStartPtsNs;
}

// ---- JSONL records ------------------------------------------------------------------------------

/** A detected motion event. */
export interface EventRecord {
  type: 'event';
  /** ISO time the record was written. */
  ts: string;
  startPtsNs: PtsValue;
  stopPtsNs: PtsValue;
  durationMs: number;
  peakScore: number;
  frames: number;
  /** Wall-clock bounds when a PTS → epoch mapping is known, else null. */
  startEpochMs: number | null;
  stopEpochMs: number | null;
}

/** What every clip request records, whether it succeeded or not. */
interface ClipAttemptRecord {
  ts: string;
  label: string;
  startPtsNs: PtsValue;
  stopPtsNs: PtsValue;
  /** The events the clip covers. */
  events: PtsWindow[];
  attempts: number;
  /** Whether `forceRotate` was called first, and its failure if it failed (the clip was still requested). */
  rotated: boolean;
  rotateError: string | null;
}

/** A clip the producer made. */
export interface ClipRecord extends ClipAttemptRecord {
  type: 'clip';
  jobId: string;
  path: string | null;
}

/** A clip that could not be made (after retries, if the error was transient). */
export interface ClipErrorRecord extends ClipAttemptRecord {
  type: 'clip_error';
  error: { name: string; message: string; status: number | null };
  /** Whether the last error was transient (i.e. retries ran out rather than a permanent failure). */
  transient: boolean;
}

export type AnalysisRecord = EventRecord | ClipRecord | ClipErrorRecord;

export function eventRecord(ev: PtsEvent, now: Date, epochMsForPtsNs?: (ptsNs: PtsValue) => number): EventRecord {
  return {
    type: 'event',
    ts: now.toISOString(),
    startPtsNs: ev.startPtsNs,
    stopPtsNs: ev.stopPtsNs,
    durationMs: ptsSpanNs(ev.startPtsNs, ev.stopPtsNs) / 1e6,
    peakScore: Number(ev.peakScore.toFixed(5)),
    frames: ev.frames,
    startEpochMs: epochMsForPtsNs ? epochMsForPtsNs(ev.startPtsNs) : null,
    stopEpochMs: epochMsForPtsNs ? epochMsForPtsNs(ev.stopPtsNs) : null,
  };
}

/** name / message / HTTP status of any thrown value, for a clip_error record. */
export function describeError(err: unknown): ClipErrorRecord['error'] {
  if (err instanceof Error) {
    const status = (err as Error & { status?: unknown }).status;
    return { name: err.name, message: err.message, status: typeof status === 'number' ? status : null };
  }
  return { name: 'Error', message: String(err), status: null };
}

/** One JSONL line (with its newline). */
/** Renames object keys recursively (arrays and nested objects included). */
function mapKeys(v: unknown, f: (k: string) => string): unknown {
  if (Array.isArray(v)) return v.map((x) => mapKeys(x, f));
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [f(k), mapKeys(x, f)]));
  }
  return v;
}
const toSnake = (k: string) => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
const toCamel = (k: string) => k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

/**
 * One JSONL line. On disk the keys are snake_case and PTS are integers with all their digits, like the
 * producer's wire format (`start_pts_ns`).
 */
export function toJsonl(record: AnalysisRecord): string {
  return `${stringifyWireJson(mapKeys(record, toSnake))}\n`;
}

/**
 * Parses JSONL text back into records (blank lines skipped; snake_case keys become camelCase; integers
 * past 2^53 become bigints, as parseWireJson reads them).
 */
export function parseJsonl(text: string): AnalysisRecord[] {
  return text.split('\n').filter((l) => l.trim()).map((l) => mapKeys(parseWireJson(l), toCamel) as AnalysisRecord);
}
