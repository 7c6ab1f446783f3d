// The clip stage (I/O side of event → clip): requests planned clips one at a time from anything shaped
// like the Recorder (`requestClip({startPtsNs, stopPtsNs, label}, {signal})`), optionally force-rotating
// the producer's open segment first, retrying transient failures with capped backoff, and appending
// one JSONL record per event, clip and failed clip to a log file. Policy lives in event-clips.ts.
import { appendFile } from 'node:fs/promises';
import {
  DEFAULT_RETRY_POLICY, describeError, eventRecord, isTransientClipError, needsForceRotate, retryDelayMs, shouldRetry, toJsonl,
  type AnalysisRecord, type ClipErrorRecord, type ClipRecord, type PlannedClip, type PtsEvent, type PtsWindow, type RetryPolicy,
} from './event-clips.js';
import { abortableSleep } from '../common/sleep.js';
import type { PtsValue } from '../protocol/pts.js';

/** The PTS-mode subset of the Recorder's ClipRequest that this stage sends (a bigint past 2^53 ns). */
export interface PtsClipRequest { startPtsNs: PtsValue; stopPtsNs: PtsValue; label?: string }

/** What this stage reads from a successful answer (the Recorder's ClipResult has these fields). */
export interface ClipOutcome { jobId: string; path: string | null }

/** Anything that makes clips like `Recorder` does (the Recorder itself satisfies it). */
export interface ClipRequester {
  requestClip(req: PtsClipRequest, opts?: { signal?: AbortSignal }): Promise<ClipOutcome>;
}

export interface ClipStageOptions {
  recorder: ClipRequester;
  /** JSONL file the records are appended to (none: records only go to `onRecord`). */
  logPath?: string;
  /** Clip label. Default `motion`. */
  label?: string;
  retry?: Partial<RetryPolicy>;
  /** Seals the producer's open segment (e.g. `POST /force_rotate`). Failures are recorded, not fatal. */
  forceRotate?: () => Promise<unknown>;
  /**
   * Start PTS of the producer's open segment, to call `forceRotate` only when a clip reaches into it.
   * Without it (or when it answers null) `forceRotate`, if given, is called before every clip.
   */
  openSegmentStartPtsNs?: () => PtsValue | null | Promise<PtsValue | null>;
  /** Maps PTS to epoch ms for the event records. */
  epochMsForPtsNs?: (ptsNs: PtsValue) => number;
  /** Called with every record as it is written. */
  onRecord?: (record: AnalysisRecord) => void;
  /** Cancels waiting and in-flight requests (they end as clip_error records). */
  signal?: AbortSignal;
  /** Injectable for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => Date;
}

export class ClipStage {
  private readonly opts: ClipStageOptions;
  private readonly policy: RetryPolicy;
  private queue: Promise<unknown> = Promise.resolve();
  private writes: Promise<void> = Promise.resolve();
  private writeError: unknown = null;

  constructor(options: ClipStageOptions) {
    this.opts = options;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    if (!(this.policy.maxAttempts >= 1)) throw new RangeError('retry.maxAttempts must be ≥ 1');
  }

  /** Writes an `event` record. */
  logEvent(ev: PtsEvent): Promise<void> {
    return this.write(eventRecord(ev, this.now(), this.opts.epochMsForPtsNs));
  }

  /**
   * Queues a clip; clips are requested one at a time in submission order. Resolves with the record
   * written for it (`clip` or `clip_error`); rejects only if the log file cannot be written.
   */
  submit(clip: PlannedClip<PtsWindow>): Promise<ClipRecord | ClipErrorRecord> {
    const run = this.queue.then(() => this.requestWithRetries(clip));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Waits for every queued clip and record write; rethrows the first log write failure. */
  async drain(): Promise<void> {
    await this.queue;
    await this.writes;
    if (this.writeError) throw this.writeError;
  }

  private now(): Date {
    return this.opts.now ? this.opts.now() : new Date();
  }

  private write(record: AnalysisRecord): Promise<void> {
    this.opts.onRecord?.(record);
    const path = this.opts.logPath;
    if (!path) return Promise.resolve();
    const w = this.writes.then(() => appendFile(path, toJsonl(record), 'utf8'));
    this.writes = w.catch((e: unknown) => { this.writeError ??= e; });
    return w;
  }

  private async rotateIfNeeded(clip: PtsWindow): Promise<{ rotated: boolean; rotateError: string | null }> {
    const { forceRotate, openSegmentStartPtsNs } = this.opts;
    if (!forceRotate) return { rotated: false, rotateError: null };
    let openStart: PtsValue | null = null;
    try {
      openStart = openSegmentStartPtsNs ? await openSegmentStartPtsNs() : null;
    } catch {
      // Unknown where the open segment starts: rotate to be safe, as when no lookup is given.
    }
    if (!needsForceRotate(clip.stopPtsNs, openStart)) return { rotated: false, rotateError: null };
    try {
      await forceRotate();
      return { rotated: true, rotateError: null };
    } catch (e) {
      return { rotated: true, rotateError: describeError(e).message };
    }
  }

  private async requestWithRetries(clip: PlannedClip<PtsWindow>): Promise<ClipRecord | ClipErrorRecord> {
    const label = this.opts.label ?? 'motion';
    const signal = this.opts.signal;
    const sleep = this.opts.sleep ?? abortableSleep;
    const events = clip.events.map((e) => ({ startPtsNs: e.startPtsNs, stopPtsNs: e.stopPtsNs }));
    const window = { startPtsNs: clip.startPtsNs, stopPtsNs: clip.stopPtsNs };
    const rotation = await this.rotateIfNeeded(window);
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
        const res = await this.opts.recorder.requestClip({ ...window, label }, { signal });
        const rec: ClipRecord = {
          type: 'clip', ts: this.now().toISOString(), label, ...window, events, attempts: attempt,
          jobId: res.jobId, path: res.path, ...rotation,
        };
        await this.write(rec);
        return rec;
      } catch (err) {
        if (!signal?.aborted && shouldRetry(err, attempt, this.policy)) {
          await sleep(retryDelayMs(attempt, this.policy), signal);
          continue;
        }
        const rec: ClipErrorRecord = {
          type: 'clip_error', ts: this.now().toISOString(), label, ...window, events, attempts: attempt, ...rotation,
          error: describeError(err), transient: isTransientClipError(err),
        };
        await this.write(rec);
        return rec;
      }
    }
  }
}
