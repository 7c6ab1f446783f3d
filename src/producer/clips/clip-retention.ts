// Clip retention (issue 10): with a global `clip_max_age` (`--clip-max-age`; default: keep forever), a
// sweep at start and every minute deletes published clips older than that — the .mp4 and its .json
// sidecar — so clip roots do not grow forever. It deletes only what this producer made: the clips its
// job store recorded as published (status done, a path in the outcome), by the time the job finished,
// and only after checking the file is still that clip: inside a clip root, a regular file of the size
// the job recorded, beside a sidecar naming the job's clip id (a name the producer handed out may since
// hold someone else's file). A clip still being written is never a candidate (its job is not done; its
// temp files are not published paths). The job record is kept: it stays `done`, its path becomes null
// and `expired_ms` says when (GET /clip/{id} answers `expired: true`). The clip goes first, its sidecar
// after it (publishing is the reverse), so a crash in between leaves a sidecar the next sweep removes.
// The records of finished jobs that hold no clip (failed, or expired) are deleted JOB_RECORD_MAX_AGE_MS
// after they finished, so the jobs table does not grow forever either.
import { lstatSync, readFileSync, realpathSync, unlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { Logger } from '../../common/log.js';
import type { JobRecord, JobStore } from '../store/job-store.js';
import { sidecarPathOf } from './output-paths.js';

/** How often the sweep runs (it also runs when the clip engine starts). */
export const CLIP_SWEEP_INTERVAL_MS = 60_000;
const PAGE = 256;
/** How long the record of a finished job without a published clip (failed, or expired) is kept. */
export const JOB_RECORD_MAX_AGE_MS = 30 * 24 * 3600_000;
/** Job records one step of pruning deletes; a backlog continues after a short pause. */
const PRUNE_BATCH = 1000;

export interface ClipSweepResult {
  /** Jobs marked expired by this sweep. */
  expired: string[];
  /** Files deleted (clips and their sidecars). */
  deleted: string[];
  /** Jobs marked expired whose file was left in place: it is no longer provably the clip this producer made. */
  leftInPlace: string[];
}

function within(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith('..' + sep) && r !== '..' && !isAbsolute(r));
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** Whose the sidecar beside a clip path is: this job's, missing, or something else (another clip's, unreadable). */
function sidecarOwner(clipPath: string, clipId: string): 'ours' | 'absent' | 'other' {
  let text: string;
  try {
    text = readFileSync(sidecarPathOf(clipPath), 'utf8');
  } catch (e) {
    return errno(e) === 'ENOENT' ? 'absent' : 'other';
  }
  try {
    return (JSON.parse(text) as { clip_id?: unknown }).clip_id === clipId ? 'ours' : 'other';
  } catch {
    return 'other';
  }
}

export class ClipRetention {
  private timer: NodeJS.Timeout | null = null;
  /** Clips outside every clip root, already warned about (left alone, looked at again each sweep). */
  private readonly warnedOutside = new Set<string>();

  constructor(
    private readonly deps: {
      store: JobStore; clipRoots: string[]; maxAgeMs: number | null; log: Logger; intervalMs?: number;
      /** How long records of finished jobs without a clip are kept (default JOB_RECORD_MAX_AGE_MS). */
      jobRecordMaxAgeMs?: number;
    },
  ) {}

  get enabled(): boolean {
    return this.deps.maxAgeMs !== null;
  }

  /**
   * What this retention keeps, as cut-off times at `nowMs`: published clips of jobs that ended before
   * `expireBeforeMs` expire (null: kept for ever); records without a clip last changed before
   * `pruneBeforeMs` go. A cluster node applies them to the jobs it holds in the catalog (pg-jobs.ts).
   */
  cutoffs(nowMs = Date.now()): { expireBeforeMs: number | null; pruneBeforeMs: number } {
    return {
      expireBeforeMs: this.deps.maxAgeMs === null ? null : nowMs - this.deps.maxAgeMs,
      pruneBeforeMs: nowMs - (this.deps.jobRecordMaxAgeMs ?? JOB_RECORD_MAX_AGE_MS),
    };
  }

  /** Sweeps now and then every interval: expired clips (when clips are not kept forever) and old job records. */
  start(): void {
    if (this.timer) return;
    this.sweepSafely();
    this.timer = setInterval(() => this.sweepSafely(), this.deps.intervalMs ?? CLIP_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pruneTimer) clearTimeout(this.pruneTimer);
    this.timer = null;
    this.pruneTimer = null;
  }

  private pruneTimer: NodeJS.Timeout | null = null;

  private sweepSafely(): void {
    try {
      this.sweep();
      this.pruneRecords();
    } catch (e) {
      // An SQLite error under a full disk, say: the next sweep tries again.
      this.deps.log.error('clip retention failed; retrying at the next sweep', { error: (e as Error).message });
    }
  }

  /**
   * Deletes the records of finished jobs that hold no clip and are older than the record max age, a
   * batch at a time: a backlog (a million old jobs) continues in steps with pauses between them.
   */
  pruneRecords(nowMs = Date.now()): number {
    const n = this.deps.store.pruneFinished(this.cutoffs(nowMs).pruneBeforeMs, PRUNE_BATCH);
    if (n === PRUNE_BATCH && this.timer && !this.pruneTimer) {
      this.pruneTimer = setTimeout(() => {
        this.pruneTimer = null;
        try { this.pruneRecords(); } catch (e) { this.deps.log.error('pruning old clip job records failed', { error: (e as Error).message }); }
      }, 20);
      this.pruneTimer.unref();
    }
    if (n > 0) this.deps.log.debug('pruned records of old finished clip jobs', { jobs: n });
    return n;
  }

  /** One sweep: deletes the published clips that finished more than the max age before `nowMs`. */
  sweep(nowMs = Date.now()): ClipSweepResult {
    const result: ClipSweepResult = { expired: [], deleted: [], leftInPlace: [] };
    const maxAge = this.deps.maxAgeMs;
    const before = this.cutoffs(nowMs).expireBeforeMs;
    if (maxAge === null || before === null) return result;
    const roots = this.realRoots();
    let cursor = { updatedMs: -1, seq: -1 };
    for (;;) {
      const page = this.deps.store.publishedBefore(before, cursor, PAGE);
      for (const job of page) this.expire(job, roots, nowMs, result);
      if (page.length < PAGE) break;
      const last = page[page.length - 1];
      cursor = { updatedMs: last.updatedMs, seq: last.seq };
    }
    if (result.expired.length > 0) {
      this.deps.log.info('clip retention: expired clips', {
        clips: result.expired.length, files_deleted: result.deleted.length, left_in_place: result.leftInPlace.length,
        max_age_ms: maxAge,
      });
    }
    return result;
  }

  private realRoots(): string[] {
    const out: string[] = [];
    for (const r of this.deps.clipRoots) {
      try { out.push(realpathSync(r)); } catch { /* a root that is gone holds nothing to delete */ }
    }
    return out;
  }

  private expire(job: JobRecord, roots: string[], nowMs: number, result: ClipSweepResult): void {
    const recorded = job.outcome?.path;
    if (!recorded) return;
    const log = this.deps.log;
    if (recorded.startsWith('s3://')) {
      // A clip in the object store is the store's to expire (a lifecycle rule on its prefix), not ours.
      if (!this.warnedOutside.has(job.clipId)) {
        this.warnedOutside.add(job.clipId);
        log.info('clip retention: a clip in the object store is left to the bucket\'s lifecycle rules', { clip_id: job.clipId, path: recorded });
      }
      return;
    }
    let dir: string | null;
    try {
      dir = realpathSync(dirname(recorded));
    } catch (e) {
      if (errno(e) !== 'ENOENT') {
        log.warn('clip retention: cannot look at a clip; retrying at the next sweep', { clip_id: job.clipId, error: (e as Error).message });
        return;
      }
      dir = null; // its directory is gone, and the clip with it
    }
    if (dir !== null && !roots.some((root) => within(root, dir))) {
      // Not in a clip root (the roots changed since): not the sweep's to touch.
      if (!this.warnedOutside.has(job.clipId)) {
        this.warnedOutside.add(job.clipId);
        log.warn('clip retention: clip lies outside every clip root; left alone', { clip_id: job.clipId, path: recorded });
      }
      return;
    }
    const deleted: string[] = [];
    let leftInPlace = false;
    if (dir !== null) {
      const file = join(dir, basename(recorded));
      let st: ReturnType<typeof lstatSync> | null;
      try {
        st = lstatSync(file);
      } catch (e) {
        if (errno(e) !== 'ENOENT') {
          log.warn('clip retention: cannot look at a clip; retrying at the next sweep', { clip_id: job.clipId, error: (e as Error).message });
          return;
        }
        st = null;
      }
      const sidecar = sidecarPathOf(file);
      const owner = sidecarOwner(file, job.clipId);
      const remove = (p: string) => {
        try {
          unlinkSync(p);
          deleted.push(p);
        } catch (e) {
          if (errno(e) !== 'ENOENT') throw e;
        }
      };
      try {
        if (st === null) {
          // The clip is gone already (deleted by hand, or a sweep died between the two files): its sidecar goes too.
          if (owner === 'ours') remove(sidecar);
        } else if (st.isFile() && st.size === job.outcome!.bytes && owner === 'ours') {
          remove(file);
          remove(sidecar);
        } else {
          leftInPlace = true;
        }
      } catch (e) {
        result.deleted.push(...deleted);
        log.warn('clip retention: cannot delete a clip; retrying at the next sweep', { clip_id: job.clipId, error: (e as Error).message });
        return;
      }
    }
    this.deps.store.markExpired(job.clipId, nowMs);
    result.expired.push(job.clipId);
    result.deleted.push(...deleted);
    if (leftInPlace) {
      result.leftInPlace.push(job.clipId);
      log.warn('clip retention: the file at an expired clip\'s path is not that clip any more (size or sidecar differ); left in place', {
        clip_id: job.clipId, path: recorded,
      });
    } else {
      const what = deleted.length > 0 ? 'clip retention deleted clip' : 'clip retention: expired clip was gone already';
      log.info(what, { clip_id: job.clipId, path: recorded, age_ms: Math.round(nowMs - job.updatedMs) });
    }
  }
}
