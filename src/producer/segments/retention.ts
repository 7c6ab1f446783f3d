// Retention: removes the oldest sealed segments while any limit is exceeded (age, total bytes, free disk),
// never one that a reader has pinned (clip jobs pin what they read), and logs what it removed. A pass
// removes a bounded batch; the producer spaces the passes of a backlog out so ingest and HTTP go on.
// Normally the index row goes first, with the file's name recorded as to be removed in the same
// transaction, then the file (file-removals.ts: a crash in between is finished at the next start). When
// the disk is so full that SQLite cannot even record the removal, the file goes first to make room and
// the row after it (a crash in between leaves a row whose file is missing, which recovery drops). Inside an App with a global `min_free_bytes` the free-disk limit is the App's
// storage budget's instead (storage-budget.ts: the oldest footage across all cameras goes first); it
// removes through remove() here, with the same bookkeeping.
// The max-bytes total counts what retention can ever free: sealed segments, and the segments this
// process is writing (the open one, and one whose sealing the index has not recorded yet), which will be
// sealed. A segment a previous run left unsealed that recovery could not recover (an unreadable file: a
// failed recovery, reported by recovery and logged here once) can never be removed by retention; counting
// it would make every new segment look over the limit and be removed right after it is sealed.
import { rmdirSync, statfsSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../common/log.js';
import type { SegmentIndex, SegmentRow } from '../store/catalog.js';
import { segmentAbsPath } from './paths.js';
import { FileRemovals } from './file-removals.js';

/** Segments one retention pass removes at most. */
export const RETENTION_BATCH = 256;

export interface RetentionLimits {
  maxAgeMs: number | null;
  maxBytes: number | null;
  minFreeBytes: number | null;
}

/** Counts readers per segment id. */
export class PinSet {
  private readonly counts = new Map<number, number>();

  pin(ids: Iterable<number>): () => void {
    const list = [...ids];
    for (const id of list) this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const id of list) {
        const n = (this.counts.get(id) ?? 1) - 1;
        if (n <= 0) this.counts.delete(id);
        else this.counts.set(id, n);
      }
    };
  }

  has(id: number): boolean {
    return this.counts.has(id);
  }
}

export interface RetentionDecision { remove: SegmentRow[]; reason: Map<number, string> }

/**
 * Pure: which sealed segments to remove, oldest first, skipping pinned ones. `freeBytes` is the disk's
 * free space now; each removal is assumed to free its bytes.
 */
export function chooseRemovals(
  sealedOldestFirst: SegmentRow[], limits: RetentionLimits, nowEpochMs: number, totalBytes: number, freeBytes: number | null,
  isPinned: (id: number) => boolean,
): RetentionDecision {
  const remove: SegmentRow[] = [];
  const reason = new Map<number, string>();
  let total = totalBytes;
  let free = freeBytes;
  for (const seg of sealedOldestFirst) {
    let why: string | null = null;
    if (limits.maxAgeMs !== null && nowEpochMs - seg.stop_epoch_ms > limits.maxAgeMs) why = 'max age';
    else if (limits.maxBytes !== null && total > limits.maxBytes) why = 'max bytes';
    else if (limits.minFreeBytes !== null && free !== null && free < limits.minFreeBytes) why = 'min free disk';
    if (!why) continue;
    if (isPinned(seg.id)) continue;
    remove.push(seg);
    reason.set(seg.id, why);
    total -= seg.bytes;
    if (free !== null) free += seg.bytes;
  }
  return { remove, reason };
}

export function freeDiskBytes(path: string): number | null {
  try {
    const s = statfsSync(path);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

export class Retention {
  removedSegments = 0;
  removedBytes = 0;

  /** The limits in force (may be changed at run time). */
  limits: RetentionLimits;

  constructor(
    private readonly deps: {
      index: SegmentIndex; segmentsDir: string; limits: RetentionLimits; pins: PinSet; log: Logger;
      onRemoved?: (row: SegmentRow) => void;
      /** The camera's record of files to remove (one over the same index is made when not given). */
      removals?: FileRemovals;
      /**
       * The first ingest run of this process: unsealed rows of earlier runs are failed recoveries, left
       * out of the max-bytes total. Without it every row with fragments counts.
       */
      firstRunId?: number;
    },
  ) {
    this.limits = { ...deps.limits };
    this.removals = deps.removals ?? new FileRemovals(deps.index.db, deps.segmentsDir, deps.log);
  }

  private readonly removals: FileRemovals;

  get enabled(): boolean {
    const l = this.limits;
    return l.maxAgeMs !== null || l.maxBytes !== null || l.minFreeBytes !== null;
  }

  /** Whether the last pass stopped at its batch size with more segments due (the caller runs another soon). */
  more = false;

  /**
   * One pass: removes at most `batch` segments (rows in one transaction, then their files), so a large
   * backlog (a retention limit lowered on years of footage) goes in small steps the caller spaces out,
   * freeing disk as it goes; `more` says whether segments are still due. Returns the removed segments.
   */
  run(nowEpochMs = Date.now(), batch = RETENTION_BATCH): SegmentRow[] {
    this.more = false;
    this.dropOrphanRows();
    if (!this.enabled) return [];
    const { index } = this.deps;
    const limits = this.limits;
    // Page through the oldest sealed segments until one that is not pinned is kept: every limit is
    // monotonic in time (ages grow older, totals shrink, free space grows), so nothing after it is due.
    // A pass where no limit is exceeded reads one page, not the whole table.
    const free = limits.minFreeBytes !== null ? freeDiskBytes(this.deps.segmentsDir) : null;
    const isPinned = (id: number) => this.deps.pins.has(id);
    let total = index.stats().bytes - this.stuckBytes();
    let freeNow = free;
    const victims: SegmentRow[] = [];
    const reason = new Map<number, string>();
    let cursor = { start: -1n, id: -1 };
    for (;;) {
      const page = index.sealedAfter(cursor.start, cursor.id, 64);
      if (page.length === 0) break;
      cursor = { start: page[page.length - 1].start_pts_ns, id: page[page.length - 1].id };
      const candidates = page.filter((s) => !this.orphanRows.has(s.id));
      const d = chooseRemovals(candidates, limits, nowEpochMs, total, freeNow, isPinned);
      for (const seg of d.remove) {
        if (victims.length === batch) { this.more = true; break; }
        victims.push(seg);
        reason.set(seg.id, d.reason.get(seg.id)!);
        total -= seg.bytes;
        if (freeNow !== null) freeNow += seg.bytes;
      }
      if (this.more || candidates.some((s) => !isPinned(s.id) && !d.reason.has(s.id))) break;
    }
    this.remove(victims, (seg) => reason.get(seg.id));
    return victims;
  }

  /**
   * Whether a segment's file is already gone and only its index row is left (an emergency pass under a
   * full disk removed the file; the row goes at the next pass): not a candidate for removal.
   */
  isPendingRemoval(id: number): boolean {
    return this.orphanRows.has(id);
  }

  /**
   * Removes the given sealed segments (index row, then file; files first when the disk is too full for
   * SQLite), logging the batch with its reasons (each segment at debug level). The caller chose them:
   * unpinned, sealed, not pending removal.
   * Used by run() and by the App's storage budget (min free disk across cameras).
   */
  remove(victims: SegmentRow[], reasonOf: (seg: SegmentRow) => string | undefined): void {
    const { index } = this.deps;
    if (victims.length === 0) return;
    const dropRows = () => this.removals.commit(() => { for (const seg of victims) index.deleteSegment(seg.id); }, victims.map((s) => s.path));
    try {
      // The rows and the files' names in one transaction (one WAL append), then the files.
      dropRows();
      this.removals.finish();
      for (const seg of victims) this.removed(seg, reasonOf(seg));
    } catch (e) {
      if (!isSqliteFull(e)) throw e;
      // The disk is too full for SQLite to record even a removal: free the bytes first, then the rows.
      for (const seg of victims) unlinkIfPresent(segmentAbsPath(this.deps.segmentsDir, seg.path));
      this.deps.log.warn('disk full: removed segment files before their index rows', { segments: victims.length });
      try {
        dropRows();
      } catch (e2) {
        if (!isSqliteFull(e2)) throw e2;
        for (const seg of victims) this.orphanRows.add(seg.id);
        this.deps.log.error('disk full: segment files removed, their index rows not yet (retried next pass)', { segments: victims.length });
      }
      try {
        this.removals.finish();
      } catch (e3) {
        if (!isSqliteFull(e3)) throw e3; // the names stay recorded (their files are gone): forgotten at a later pass or start
      }
      for (const seg of victims) this.removed(seg, reasonOf(seg));
    }
    this.logBatch(victims, reasonOf);
    try {
      index.pruneGaps();
      index.releaseFreePages();
    } catch { /* a full disk can refuse this too; next pass */ }
  }

  /** Unsealed rows of earlier runs (failed recoveries) already logged. */
  private readonly stuckLogged = new Set<number>();

  /** Bytes of the segments earlier runs left unsealed (failed recoveries): never removable, so not counted. */
  private stuckBytes(): number {
    const first = this.deps.firstRunId;
    if (first === undefined) return 0;
    let bytes = 0;
    for (const row of this.deps.index.unsealed()) {
      if (row.run_id >= first || row.fragments === 0) continue;
      bytes += row.bytes;
      if (!this.stuckLogged.has(row.id)) {
        this.stuckLogged.add(row.id);
        this.deps.log.error('segment left unsealed by a failed recovery: it is not counted toward max bytes, and retention never removes it (repair or remove the file, then restart)', {
          path: row.path, bytes: row.bytes,
        });
      }
    }
    return bytes;
  }

  /** Rows whose files an emergency pass already removed. */
  private readonly orphanRows = new Set<number>();

  private dropOrphanRows(): void {
    if (this.orphanRows.size === 0) return;
    const ids = [...this.orphanRows];
    try {
      this.deps.index.db.transaction(() => { for (const id of ids) this.deps.index.deleteSegment(id); })();
      this.orphanRows.clear();
    } catch (e) {
      if (!isSqliteFull(e)) throw e;
    }
  }

  private removed(seg: SegmentRow, reason: string | undefined): void {
    try { rmdirSync(dirname(segmentAbsPath(this.deps.segmentsDir, seg.path))); } catch { /* not empty */ }
    this.removedSegments++;
    this.removedBytes += seg.bytes;
    this.deps.log.debug('retention removed segment', { path: seg.path, bytes: seg.bytes, reason });
    this.deps.onRemoved?.(seg);
  }

  /** One line per batch (a purge of years of footage is thousands of batches, not millions of lines). */
  private logBatch(victims: SegmentRow[], reasonOf: (seg: SegmentRow) => string | undefined): void {
    if (victims.length === 0) return;
    const reasons = [...new Set(victims.map((v) => reasonOf(v) ?? 'unknown'))].join(', ');
    this.deps.log.info(victims.length === 1 ? 'retention removed segment' : 'retention removed segments', {
      segments: victims.length, bytes: victims.reduce((n, v) => n + v.bytes, 0), reason: reasons,
      path: victims[0].path, ...(victims.length > 1 ? { last_path: victims[victims.length - 1].path } : {}),
    });
  }
}

function isSqliteFull(e: unknown): boolean {
  return /^SQLITE_(FULL|IOERR)/.test(String((e as { code?: unknown } | null)?.code));
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
