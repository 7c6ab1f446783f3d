// The background half of reconciliation: after start-up (recovery.ts reconcile(), which handles only
// what a crash can have left), every other index row is checked against its file — a missing file drops
// the row, a file whose size or mtime changed since sealing is verified fragment by fragment — and every
// older day directory is searched for files the index does not know. It runs in small batches with
// pauses, so ingest and HTTP never wait behind it, and in bounded memory (one batch of rows, one day's
// names) at any history size. Rows and files written by this process are not its business: it stops at
// the newest row and the newest start pts that existed when it was created.
import { statSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import { abortableSleep } from '../../common/sleep.js';
import type { SegmentIndex } from '../store/catalog.js';
import type { PtsClock } from './pts-clock.js';
import { segmentAbsPath, startPtsFromName } from './paths.js';
import { adoptFile, dayDirs, reconcileRow, unknownFilesIn, type ReconcileContext, type RecoveryReport } from './recovery.js';

export interface BackgroundCheckOptions {
  /** Rows per batch. */
  batch?: number;
  /** Pause between batches (ms). */
  pauseMs?: number;
}

/** Whether a sealed segment's file is as it was sealed (size, and mtime where recorded); false when missing. */
function fileUnchanged(abs: string, r: { bytes: number; mtime_ms: number | null }): boolean {
  const st = statSync(abs, { throwIfNoEntry: false });
  return st !== undefined && st.size === r.bytes && (r.mtime_ms === null || r.mtime_ms === st.mtimeMs);
}

export class BackgroundCheck {
  /** Resolves when the pass has gone through everything (or was stopped). */
  readonly done: Promise<void>;
  rowsChecked = 0;
  private readonly abort = new AbortController();
  private readonly ctx: ReconcileContext;
  private readonly maxId: number;
  private readonly boundaryPtsNs: bigint;
  private resolveDone!: () => void;

  constructor(
    deps: { index: SegmentIndex; clock: PtsClock; segmentsDir: string; log: Logger; report: RecoveryReport },
    private readonly o: BackgroundCheckOptions = {},
  ) {
    this.ctx = { ...deps };
    this.maxId = deps.index.maxId();
    // Files named at or after the newest indexed footage belong to this process's writer.
    this.boundaryPtsNs = deps.index.stats().newestStopPtsNs ?? 0n;
    this.done = new Promise((r) => { this.resolveDone = r; });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run().finally(() => this.resolveDone());
  }

  stop(): void {
    this.abort.abort();
    if (!this.started) this.resolveDone();
  }

  private started = false;

  private async run(): Promise<void> {
    const { index, log, report } = this.ctx;
    const batch = this.o.batch ?? 256;
    // At most half of the time it runs is work: each pause is as long as the batch before it took.
    let workStart = Date.now();
    const pause = async () => {
      await abortableSleep(Math.max(this.o.pauseMs ?? 5, Date.now() - workStart), this.abort.signal);
      workStart = Date.now();
    };
    const before = { dropped: report.droppedRows, corrupt: report.corrupt.length, adopted: report.adopted };
    const t0 = Date.now();
    try {
      let after = 0;
      for (;;) {
        if (this.abort.signal.aborted) return;
        // A stat per row against what the index says; the whole row is read only for one that changed.
        const rows = index.fileFactsAfterId(after, this.maxId, batch);
        if (rows.length === 0) break;
        for (const r of rows) {
          if (fileUnchanged(segmentAbsPath(this.ctx.segmentsDir, r.path), r)) continue;
          const row = index.get(r.id);
          if (row) reconcileRow(this.ctx, row);
        }
        this.rowsChecked += rows.length;
        after = rows[rows.length - 1].id;
        await pause();
      }
      const days = dayDirs(this.ctx.segmentsDir);
      for (const day of days) {
        if (this.abort.signal.aborted) return;
        const files = unknownFilesIn(this.ctx, day).filter((abs) => {
          const start = startPtsFromName(abs.split('/').pop()!);
          return start !== null && start < this.boundaryPtsNs;
        });
        for (let i = 0; i < files.length; i++) {
          adoptFile(this.ctx, files[i]);
          if (i % 16 === 15) await pause();
        }
        await pause();
      }
      log.info('background check of the index against the files finished', {
        rows: this.rowsChecked, days: days.length, ms: Date.now() - t0, dropped_rows: report.droppedRows - before.dropped,
        corrupt: report.corrupt.length - before.corrupt, adopted: report.adopted - before.adopted,
      });
    } catch (e) {
      if (!this.abort.signal.aborted) log.error('background check of the index failed', { error: (e as Error).message });
    }
  }
}
