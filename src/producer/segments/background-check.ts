// The background half of reconciliation: after start-up (recovery.ts reconcile(), which handles only
// what a crash can have left), every other index row is checked against its file — a missing file drops
// the row, a file whose size or mtime changed since sealing is verified fragment by fragment — and every
// older day directory is searched for files the index does not know. Its work goes through the
// process's background lane (background-lane.ts) in small synchronous batches — a few hundred rows, a few
// hundred directory entries (each looked up in the index by path), one file adopted — each cut short
// once it has worked `budgetMs`, so ingest and HTTP never wait behind it however many cameras check at
// once; and in bounded memory (one batch of rows, a day's unknown names) at any history size. Rows and
// files written by this process are not its business: it stops at the newest row and the newest start
// pts that existed when it was created — except a sealed row whose file a reader found changed
// (verifySoon), which is verified at once, whenever it was written.
import { opendirSync, statSync, type Dir } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../common/log.js';
import type { SegmentIndex } from '../store/catalog.js';
import type { PtsClock } from './pts-clock.js';
import type { BackgroundLane, LaneMember } from './background-lane.js';
import { segmentAbsPath, startPtsFromName } from './paths.js';
import { adoptFile, dayDirs, reconcileRow, type ReconcileContext, type RecoveryReport } from './recovery.js';
import { sealedFileChange } from './sealed-file.js';

export interface BackgroundCheckOptions {
  /** Rows per batch at most. */
  batch?: number;
  /** Directory entries per batch at most. */
  entries?: number;
  /** A batch ends once it has worked this long (ms); the rest goes in the next one. */
  budgetMs?: number;
}

/** Whether a sealed segment's file is as it was sealed; false when missing. */
function fileUnchanged(abs: string, r: { bytes: number; mtime_ms: number | null }): boolean {
  return sealedFileChange(r, statSync(abs, { throwIfNoEntry: false })) === null;
}

export class BackgroundCheck {
  /** Resolves when the pass has gone through everything (or was stopped). */
  readonly done: Promise<void>;
  rowsChecked = 0;
  private readonly abort = new AbortController();
  private readonly ctx: ReconcileContext;
  private readonly lane: BackgroundLane;
  private readonly name: string;
  private member: LaneMember | null = null;
  private readonly maxId: number;
  private readonly boundaryPtsNs: bigint;
  private resolveDone!: () => void;
  private started = false;
  /** Rows a reader found changed since sealing (verifySoon), and the lane seat their checks take turns on. */
  private readonly asked = new Set<number>();
  private askSeat: LaneMember | null = null;
  private askTurn = false;

  constructor(
    deps: {
      index: SegmentIndex; clock: PtsClock; segmentsDir: string; log: Logger; report: RecoveryReport; lane: BackgroundLane; name: string;
      removals?: ReconcileContext['removals'];
    },
    private readonly o: BackgroundCheckOptions = {},
  ) {
    const { lane, name, ...ctx } = deps;
    this.ctx = ctx;
    this.lane = lane;
    this.name = name;
    this.maxId = deps.index.maxId();
    // Files named at or after the newest indexed footage belong to this process's writer.
    this.boundaryPtsNs = deps.index.stats().newestStopPtsNs ?? 0n;
    this.done = new Promise((r) => { this.resolveDone = r; });
  }

  start(): void {
    if (this.started || this.abort.signal.aborted) return;
    this.started = true;
    this.member = this.lane.join(this.name);
    void this.run().finally(() => {
      this.member?.leave();
      this.resolveDone();
    });
  }

  /** Stops the pass (its waiting turn is given up; the lane's other members keep theirs). */
  stop(): void {
    this.abort.abort();
    this.member?.leave();
    this.askSeat?.leave();
    if (!this.started) this.resolveDone();
  }

  /**
   * Verifies a sealed row whose file a reader (a clip, a recording view, the uploader) found changed
   * since sealing — at its next turn of the background lane, one row a turn, rather than at the next
   * start: intact, it is sealed again with the file's mtime and read as before; damaged, its damaged
   * fragments leave the index as gaps naming the damage; gone, its row goes.
   */
  verifySoon(rowId: number): void {
    if (this.abort.signal.aborted) return;
    this.asked.add(rowId);
    if (this.askTurn) return;
    this.askTurn = true;
    this.askSeat ??= this.lane.join(`${this.name} (files found changed)`);
    this.askSeat.turn(() => {
      const id = this.asked.values().next().value as number;
      this.asked.delete(id);
      const row = this.ctx.index.get(id);
      // reconcileRow checks the file itself: one unchanged since sealing is left as it is.
      if (row?.sealed) reconcileRow(this.ctx, row);
    }).catch((e: unknown) => {
      if (!this.abort.signal.aborted) this.ctx.log.error('verifying a segment file found changed failed', { error: (e as Error).message });
    }).finally(() => {
      this.askTurn = false;
      const next = this.asked.values().next();
      if (!next.done) {
        this.asked.delete(next.value);
        this.verifySoon(next.value);
      }
    });
  }

  private async run(): Promise<void> {
    const { log, report } = this.ctx;
    const member = this.member!;
    const budgetMs = this.o.budgetMs ?? 4;
    const before = { dropped: report.droppedRows, corrupt: report.corrupt.length, adopted: report.adopted };
    const t0 = Date.now();
    let dir: Dir | null = null;
    try {
      // A stat per row against what the index says; the whole row is read only for one that changed.
      const cursor = { after: 0 };
      while (await member.turn(() => this.checkRows(cursor, budgetMs)));
      const days = await member.turn(() => dayDirs(this.ctx.segmentsDir));
      for (const day of days) {
        // The day's names a few hundred at a time, each looked up in the index; then the unknown ones adopted.
        const unknown: string[] = [];
        dir = await member.turn(() => openDay(this.ctx.segmentsDir, day));
        while (dir && await member.turn(() => this.readNames(dir!, day, unknown, budgetMs)));
        const d = dir;
        dir = null;
        d?.closeSync();
        unknown.sort();
        for (let i = 0; i < unknown.length;) i = await member.turn(() => this.adopt(unknown, i, budgetMs));
      }
      log.info('background check of the index against the files finished', {
        rows: this.rowsChecked, days: days.length, ms: Date.now() - t0, dropped_rows: report.droppedRows - before.dropped,
        corrupt: report.corrupt.length - before.corrupt, adopted: report.adopted - before.adopted,
      });
    } catch (e) {
      if (!this.abort.signal.aborted) log.error('background check of the index failed', { error: (e as Error).message });
    } finally {
      try {
        dir?.closeSync();
      } catch {
        // already closed
      }
    }
  }

  /** One batch of rows after the cursor (moved past those checked); false when none are left. */
  private checkRows(cursor: { after: number }, budgetMs: number): boolean {
    const t0 = performance.now();
    const rows = this.ctx.index.fileFactsAfterId(cursor.after, this.maxId, this.o.batch ?? 256);
    if (rows.length === 0) return false;
    for (const r of rows) {
      cursor.after = r.id;
      this.rowsChecked++;
      if (!fileUnchanged(segmentAbsPath(this.ctx.segmentsDir, r.path), r)) {
        const row = this.ctx.index.get(r.id);
        if (row) reconcileRow(this.ctx, row);
      }
      if (performance.now() - t0 >= budgetMs) break;
    }
    return true;
  }

  /**
   * Reads the next names of a day directory, adding to `unknown` the segment files older than this
   * process's footage that the index does not know; false once the directory is read through.
   */
  private readNames(dir: Dir, day: string, unknown: string[], budgetMs: number): boolean {
    const t0 = performance.now();
    for (let n = this.o.entries ?? 256; n > 0; n--) {
      const e = dir.readSync();
      if (e === null) return false;
      const start = e.name.endsWith('.mp4') ? startPtsFromName(e.name) : null;
      if (start !== null && start < this.boundaryPtsNs && !this.ctx.index.hasPath(`${day}/${e.name}`)) {
        unknown.push(join(this.ctx.segmentsDir, day, e.name));
      }
      if (performance.now() - t0 >= budgetMs) break;
    }
    return true;
  }

  /** Adopts unknown files from `i` on (at least one) while the budget lasts; the index of the next one. */
  private adopt(files: string[], i: number, budgetMs: number): number {
    const t0 = performance.now();
    do adoptFile(this.ctx, files[i++]);
    while (i < files.length && performance.now() - t0 < budgetMs);
    return i;
  }
}

/** A day directory opened for reading its names a few at a time, or null when it cannot be read. */
function openDay(segmentsDir: string, day: string): Dir | null {
  try {
    return opendirSync(join(segmentsDir, day), { bufferSize: 128 });
  } catch {
    return null;
  }
}
