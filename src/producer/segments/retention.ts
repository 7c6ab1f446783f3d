// Retention: removes the oldest sealed segments while any limit is exceeded (age, total bytes, free disk),
// never one that a reader has pinned (clip jobs pin what they read), and logs what it removed.
import { rmdirSync, statfsSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../common/log.js';
import type { SegmentIndex, SegmentRow } from './index-db.js';
import { segmentAbsPath } from './paths.js';

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
    },
  ) {
    this.limits = { ...deps.limits };
  }

  get enabled(): boolean {
    const l = this.limits;
    return l.maxAgeMs !== null || l.maxBytes !== null || l.minFreeBytes !== null;
  }

  /** One pass; returns the removed segments. */
  run(nowEpochMs = Date.now()): SegmentRow[] {
    if (!this.enabled) return [];
    const { index } = this.deps;
    const limits = this.limits;
    const sealed = index.oldestSealed(100_000);
    const free = limits.minFreeBytes !== null ? freeDiskBytes(this.deps.segmentsDir) : null;
    const d = chooseRemovals(sealed, limits, nowEpochMs, index.stats().bytes, free, (id) => this.deps.pins.has(id));
    for (const seg of d.remove) {
      if (this.deps.pins.has(seg.id)) continue;
      const abs = segmentAbsPath(this.deps.segmentsDir, seg.path);
      index.deleteSegment(seg.id);
      try {
        unlinkSync(abs);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      try { rmdirSync(dirname(abs)); } catch { /* not empty */ }
      this.removedSegments++;
      this.removedBytes += seg.bytes;
      this.deps.log.info('retention removed segment', { path: seg.path, bytes: seg.bytes, reason: d.reason.get(seg.id) });
      this.deps.onRemoved?.(seg);
    }
    return d.remove;
  }
}
