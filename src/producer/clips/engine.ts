// The clip engine: accepts validated clip requests (mapping epoch windows to PTS with the anchors of the
// footage they fall in), keeps jobs in the index (a new job's row is written while the disk takes its
// clip's first bytes: the job starts first and publishes only once the row is in), lets a job whose
// window reaches past the newest footage wait (up to its max_wait_ms) — and, while ingest runs, for the
// fragment after its window, which holds the window's last audio (up to TAIL_WAIT_MS) — runs jobs on a
// bounded worker pool reading from the keyframe decoding starts at (KEYFRAME_LOOKBACK_NS at most) with
// the segments they read pinned against retention, and answers long-polls as jobs finish. After a
// restart, finished jobs still answer and queued or interrupted ones run again (adopting a clip one had
// published just before the crash); stale temp files are removed. A job whose window holds no footage
// says why (purged, or a recorded gap and its reason).
import { mkdirSync, rmSync } from 'node:fs';
import { setImmediate as setImmediateP } from 'node:timers/promises';
import { join } from 'node:path';
import type { Logger } from '../../common/log.js';
import type { ClipEngineHooks } from '../producer.js';
import type { ClipPorts } from './clip-ports.js';
export type { ClipPorts } from './clip-ports.js';
import { DomainError } from '../../protocol/errors.js';
import type { ClipSpec, ClipWindow } from './clip-request.js';
import { labelForFilename } from './clip-request.js';
import { clipIdPrefix } from '../camera-names.js';
import { JobStore, type JobRecord } from '../store/job-store.js';
import { removeStaleTemps, resolveOutDir, TEMP_PREFIX } from './output-paths.js';
import { resolveStoreOutDir } from '../store/clip-objects.js';
import type { JobReader, SharedJobs } from './shared-jobs.js';
import { NO_OVERLAP_MESSAGE, windowOnClock } from './clip-window.js';
import { CutError } from '../../mp4/cut.js';
import { assembleClip } from './assemble.js';
import { ClipRetention } from './clip-retention.js';
import { CLIP_LATENCY_BUCKETS, Histogram } from '../metrics.js';
import { clipJson, clipOutcome, sidecarFields } from './clip-json.js';
import { deferred, type Deferred } from '../../common/deferred.js';
import { JobWaiters } from './job-waiters.js';

/** Under the first local clip root: where clips for the store are made before they are uploaded. */
const STAGING_DIR = `${TEMP_PREFIX}staging`;
const MAX_PENDING = 10_000;
/**
 * How far before a window's start a clip looks for the keyframe decoding starts at (and the one before
 * it, for open GOPs): two of the longest GOPs recorded (30 s).
 */
export const KEYFRAME_LOOKBACK_NS = 2 * 30e9 + 1e9;
/**
 * How long a job whose window the footage already covers waits for the next fragment (which holds the
 * window's last audio) while ingest runs, before it is cut without it.
 */
export const TAIL_WAIT_MS = 3000;

export class ClipEngine implements ClipEngineHooks, JobReader {
  readonly store: JobStore;
  /** In a cluster, the table of jobs all nodes share (cluster/job-claims.ts); null outside one. */
  shared: SharedJobs | null = null;
  private readonly pending = new Map<string, JobRecord>();
  /** Jobs running here, as their rows say (then as they ended, until they leave): reads of them need no SQL. */
  private readonly running = new Map<string, JobRecord>();
  private readonly waiters = new JobWaiters();
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly log: Logger;
  private readonly active = new Set<Promise<void>>();
  /** Jobs found unfinished at start (they may have published their clip before the crash). */
  private readonly resumed = new Set<string>();
  /** New jobs whose row accept() has not written yet: they start meanwhile, and publish and end once it is. */
  private readonly unrecorded = new Map<string, Deferred>();
  /** accept()s waiting for their job's first write (called by it, or at the loop's next turn). */
  private readonly launching = new Map<string, () => void>();
  /** When each waiting job's window was first covered by footage (for TAIL_WAIT_MS). */
  private readonly coveredSince = new Map<string, number>();
  /** Accepted → published latency of finished clips, seconds (for /metrics). */
  readonly latency = new Histogram(CLIP_LATENCY_BUCKETS);
  /** Deletes published clips older than `clip_max_age` (clip-retention.ts), at start and every minute. */
  readonly clipRetention: ClipRetention;

  constructor(private readonly p: ClipPorts) {
    this.store = new JobStore(p.db, clipIdPrefix(p.name));
    this.log = p.log.child('clips');
    this.clipRetention = new ClipRetention({
      store: this.store, clipRoots: p.clipRoots, maxAgeMs: p.clipMaxAgeMs, log: this.log.child('retention'),
    });
  }

  counts(): { queued: number; running: number } {
    return { queued: this.pending.size, running: this.running.size };
  }

  jobCounts(): Record<string, number> {
    return this.store.countsByStatus();
  }

  start(): void {
    removeStaleTemps(this.p.clipRoots, this.log);
    this.clipRetention.start();
    for (const j of this.store.unfinished()) {
      this.log.info('resuming clip job after restart', { clip_id: j.clipId, was: j.status });
      this.pending.set(j.clipId, j);
      this.resumed.add(j.clipId);
    }
    const onFragment = () => this.pump();
    this.p.onFragment(onFragment);
    this.timer = setInterval(() => this.pump(), 250);
    this.timer.unref();
    this.pump();
  }

  async close(): Promise<void> {
    this.closing = true;
    this.clipRetention.stop();
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.active]);
    this.waiters.wakeAll();
  }

  /** Newest recorded footage (ns), or null. */
  private footageEnd(): bigint | null {
    return this.p.catalog.lastSegment()?.stop_pts_ns ?? null;
  }

  /** A window on the producer clock (clip-window.ts): PTS as given, epoch ms mapped through the footage's anchors. */
  resolveWindow(w: ClipSpec | ClipWindow): { startPtsNs: bigint; stopPtsNs: bigint } {
    return windowOnClock(w, { firstEndingAfterEpoch: (ms) => this.p.catalog.firstEndingAfterEpoch(ms), anchor: () => this.p.anchor() });
  }

  /** Validates placement, decides 409, queues the job and writes its row. */
  submit(spec: ClipSpec): JobRecord {
    const job = this.enqueue(spec);
    this.record(job);
    return job;
  }

  /**
   * submit(), the row written once the job's first bytes are on their way to the disk (the clip waits for
   * the disk, not for its row: the row, and the answer, are made while the disk writes) or at the loop's
   * next turn when the job waits (for footage, a worker, the object store); in a cluster the job is also
   * written to the shared table before it is acknowledged.
   */
  async accept(spec: ClipSpec): Promise<JobRecord> {
    const job = this.enqueue(spec);
    await new Promise<void>((resolve) => {
      const go = () => {
        clearImmediate(turn);
        this.launching.delete(job.clipId);
        resolve();
      };
      const turn = setImmediate(go);
      this.launching.set(job.clipId, go);
    });
    this.record(job);
    await this.shared?.accepted(job).catch((e: unknown) => this.log.warn(
      'clip job not in the cluster\'s table yet (catalog unreachable): it runs here and is written there when it ends', { clip_id: job.clipId, error: (e as Error).message }));
    return job;
  }

  /** Validates placement, decides 409, and queues the job, its row not written yet (record() writes it). */
  private enqueue(spec: ClipSpec): JobRecord {
    if (this.closing) throw new DomainError('SHUTTING_DOWN', 'producer is shutting down');
    if (this.pending.size >= MAX_PENDING) throw new DomainError('QUEUE_FULL', `too many clip jobs waiting (${MAX_PENDING}); retry later`);
    const outDir = spec.outDir?.startsWith('s3://') && this.p.clipObjects
      ? resolveStoreOutDir(spec.outDir, this.p.clipStoreRoots)
      : resolveOutDir(spec.outDir, this.p.clipRoots);
    const { startPtsNs, stopPtsNs } = this.resolveWindow(spec);
    const nowPts = this.p.anchor().nowPtsNs;
    if (stopPtsNs <= nowPts && this.p.catalog.overlapping(startPtsNs, stopPtsNs).length === 0) throw new DomainError('NO_FOOTAGE', this.noFootageMessage({ startPtsNs, stopPtsNs }));
    const job = this.store.draft(spec, { startPtsNs, stopPtsNs }, outDir, Date.now());
    this.unrecorded.set(job.clipId, deferred());
    this.pending.set(job.clipId, job);
    queueMicrotask(() => this.pump());
    return job;
  }

  /** Writes a queued job's row; one that cannot be written is dropped (a running one publishes nothing) and the error thrown. */
  private record(job: JobRecord): void {
    const row = this.unrecorded.get(job.clipId);
    try {
      this.store.insert(job);
    } catch (e) {
      // A running job finds out before it publishes (and forgets the row's promise when it ends).
      this.pending.delete(job.clipId);
      this.coveredSince.delete(job.clipId);
      if (!this.running.has(job.clipId)) this.unrecorded.delete(job.clipId);
      row?.reject(e);
      throw e;
    }
    this.unrecorded.delete(job.clipId);
    row?.resolve();
    this.log.info('clip job queued', {
      clip_id: job.clipId, start_pts_ns: job.startPtsNs, stop_pts_ns: job.stopPtsNs, mode: job.spec.mode, label: job.spec.label ?? undefined,
    });
  }

  /** Resolves once the job's row is written (at once for one written already); rejects if it could not be. */
  private rowWritten(clipId: string): Promise<void> {
    return this.unrecorded.get(clipId)?.promise ?? Promise.resolve();
  }

  /** Queues a job taken over from another node of the cluster; one known here already runs (or reports its end) as it is. */
  adopt(job: JobRecord): void {
    const known = this.store.get(job.clipId);
    if (known?.status === 'done' || known?.status === 'error') {
      this.shared?.finished(known);
      return;
    }
    if (this.pending.has(job.clipId) || this.running.has(job.clipId)) return;
    if (!known) this.store.adopt(job, Date.now());
    this.pending.set(job.clipId, this.store.get(job.clipId)!);
    // Its clip may be in the store already (published just before its node went away): adopted then.
    this.resumed.add(job.clipId);
    queueMicrotask(() => this.pump());
  }

  /**
   * Drops a waiting job another node of the cluster took over: its record here goes too (the cluster's
   * table answers for it; should the job come back here, it runs afresh). One already running ends; its
   * result is not the job's.
   */
  forget(clipId: string): void {
    if (this.pending.delete(clipId)) this.store.remove(clipId);
  }

  /** A job as its row says (one waiting or running here from memory, as it was written). */
  get(clipId: string): JobRecord | undefined {
    return this.pending.get(clipId) ?? this.running.get(clipId) ?? this.store.get(clipId);
  }

  /** Resolves when the job is terminal or `ms` pass (or the client goes away): with its end record if it ended here meanwhile. */
  async waitTerminal(clipId: string, ms: number, signal: AbortSignal): Promise<JobRecord | undefined> {
    const j = this.get(clipId);
    if (!j || j.status === 'done' || j.status === 'error' || ms <= 0) return undefined;
    return this.waiters.wait(clipId, ms, signal);
  }

  /**
   * Starts the jobs that may run. Called from timers and from the ingest's fragment events, so nothing
   * it throws (an SQLite error under a full disk) may escape: that would stop ingest or the process.
   */
  private pump(): void {
    try {
      this.pumpOnce();
    } catch (e) {
      this.log.error('clip scheduling failed; retrying on the next tick', { error: (e as Error).message });
    }
  }

  private pumpOnce(): void {
    if (this.closing) return;
    const end = this.footageEnd();
    const now = Date.now();
    let newestStart: bigint | null | undefined;
    /** The fragment after the window's end is in (it holds the window's last audio), or waiting for it is pointless. */
    const tailIn = (job: JobRecord): boolean => {
      const newest = newestStart === undefined ? this.p.catalog.newestFragmentStart() : newestStart;
      newestStart = newest;
      if ((newest !== null && newest >= job.stopPtsNs) || !this.p.ingestRunning()) return true;
      const since = this.coveredSince.get(job.clipId) ?? now;
      this.coveredSince.set(job.clipId, since);
      return now - since >= TAIL_WAIT_MS;
    };
    for (const job of this.pending.values()) {
      if (this.running.size >= this.p.workers) break;
      const ready = (end !== null && end >= job.stopPtsNs && tailIn(job)) || now >= job.deadlineMs;
      if (!ready) continue;
      this.coveredSince.delete(job.clipId);
      this.pending.delete(job.clipId);
      this.running.set(job.clipId, job);
      const run = this.runJob(job).catch((e: unknown) => {
        // Only the job store itself failing gets here (the job's own errors are recorded as its result);
        // the job stays unfinished in the index and runs again after a restart.
        this.log.error('clip job could not be recorded', { clip_id: job.clipId, error: (e as Error).message });
      }).finally(() => {
        if (this.shared) this.reportEnd(job.clipId);
        this.running.delete(job.clipId);
        this.active.delete(run);
        this.waiters.wake(job.clipId);
        this.pump();
      });
      this.active.add(run);
    }
  }

  private async runJob(job: JobRecord): Promise<void> {
    // Recorded at the loop's next turn after its row (in a cluster, after its acceptance there), once the clip's
    // first reads and write are queued (a clip waits for the disk; this need not come first). A job that has ended by then keeps its end.
    const markRunning = () => setImmediate(() => {
      try {
        const atMs = this.store.markRunning(job.clipId);
        const known = this.running.get(job.clipId);
        if (atMs !== null && known?.status === 'queued') this.running.set(job.clipId, { ...known, status: 'running', updatedMs: atMs });
      } catch (e) {
        this.log.warn('clip job not recorded as running', { clip_id: job.clipId, error: (e as Error).message });
      }
    });
    this.rowWritten(job.clipId).then(() => {
      this.shared?.started(job);
      markRunning();
    }, () => undefined);
    const launched = () => this.launching.get(job.clipId)?.();
    // From the keyframe decoding starts at (an earlier fragment or segment) through the fragment after
    // the window. The query and the pin run in one synchronous step: retention cannot remove a row between them.
    const segments = this.p.catalog.clipFragments(job.startPtsNs, job.stopPtsNs, KEYFRAME_LOOKBACK_NS);
    const release = this.p.pins.pin(segments.map((s) => s.row.id));
    try {
      if (segments.length === 0) throw new Error(this.noFootageMessage(job));
      const label = labelForFilename(job.spec.label);
      const filename = job.spec.filename ?? `${job.clipId}${label ? '_' + label : ''}.mp4`;
      // A clip for the store is made in a local staging directory, then uploaded (clip-objects.ts).
      const toStore = job.outDir.startsWith('s3://');
      const clipObjects = this.p.clipObjects;
      if (toStore && !clipObjects) throw new Error(`out_dir ${job.outDir}: no s3:// clip root is configured any more`);
      const staging = join(this.p.clipRoots[0], STAGING_DIR);
      if (toStore) mkdirSync(staging, { recursive: true });
      const result = await assembleClip({
        clipId: job.clipId, segments, place: this.p.place, startNs: job.startPtsNs, stopNs: job.stopPtsNs,
        outDir: toStore ? staging : job.outDir, filename,
        sidecarExtra: sidecarFields(job, this.p.sourceForDisplay()),
        resumed: this.resumed.has(job.clipId),
        onWriting: launched,
        // Alone, its first chunk is read at once (the disk starts sooner); beside others, through the pool.
        firstChunkNow: this.running.size === 1,
        beforePublish: () => this.rowWritten(job.clipId),
      });
      if (result.adopted) this.log.info('resumed clip job had published its clip before the restart', { clip_id: job.clipId, path: result.path });
      if (toStore) {
        const url = await clipObjects!.publish({ mp4: result.path, sidecar: result.sidecarPath, dirUrl: job.outDir, filename, clipId: job.clipId });
        rmSync(result.path, { force: true });
        rmSync(result.sidecarPath, { force: true });
        result.path = url;
      }
      const outcome = clipOutcome(job, result);
      // Long-polls answer first, with the record the job's row gets next (written before the loop's next turn,
      // which this waits for: no request is read in between); then the row (killed before it, the restart adopts the clip).
      const ended = this.ended(this.store.endOf(job, 'done', outcome, null));
      await setImmediateP();
      this.store.finish(ended);
      this.latency.observe((Date.now() - job.createdMs) / 1000);
      this.log.info('clip done', {
        clip_id: job.clipId, path: result.path, frames: result.plan.frames, duration_ms: outcome.duration_ms ?? 0,
        bytes: result.bytes, partial: outcome.partial,
      });
      this.p.clipFinished(clipJson(ended));
    } catch (e) {
      // Answered done already: only its row failed (left unfinished, the restart adopts the clip).
      if (this.running.get(job.clipId)?.status === 'done') throw e;
      // Its end is recorded in its row, once that is written (a job whose row could not be has no end to record).
      launched();
      await this.rowWritten(job.clipId);
      // Segments whose bounds touch the window but hold no frame inside it: that is "no footage" too,
      // said the same way as when no segment overlaps at all (with the gap it falls in, if recorded).
      const message = e instanceof CutError ? `${this.noFootageMessage(job)} (${(e as Error).message})` : (e as Error).message;
      const ended = this.store.endOf(job, 'error', null, message);
      this.store.finish(ended);
      this.ended(ended);
      this.log.warn('clip failed', { clip_id: job.clipId, error: message });
      this.p.clipFinished(clipJson(ended));
    } finally {
      release();
      this.resumed.delete(job.clipId);
      this.unrecorded.delete(job.clipId);
    }
  }

  /** A job's end (endOf's record): what reads of it answer until it leaves `running`, and the long-polls' answer. */
  private ended(job: JobRecord): JobRecord {
    if (this.running.has(job.clipId)) this.running.set(job.clipId, job);
    this.waiters.wake(job.clipId, job);
    return job;
  }

  /** Tells the cluster's table how a job ended here (an index that cannot be read tells it after a restart). */
  private reportEnd(clipId: string): void {
    try {
      const ended = this.store.get(clipId);
      if (ended && (ended.status === 'done' || ended.status === 'error')) this.shared?.finished(ended);
    } catch { /* reconciled at the next start (cluster/job-claims.ts) */ }
  }

  /** Why a window (a request's or a job's) has no footage: the recorded gaps it falls in (with their reasons), or purged. */
  private noFootageMessage(window: { startPtsNs: bigint; stopPtsNs: bigint }): string {
    const reasons = [...new Set(this.p.catalog.gapsIn(window.startPtsNs, window.stopPtsNs).map((g) => g.reason))];
    if (reasons.length === 0) return NO_OVERLAP_MESSAGE;
    return `${NO_OVERLAP_MESSAGE}: it lies in a recorded gap (${reasons.join('; ').slice(0, 300)})`;
  }
}
