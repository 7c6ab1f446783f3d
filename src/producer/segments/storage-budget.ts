// The global free-disk limit (`min_free_bytes`) across the cameras of one App (issue 10). Each camera's
// Retention keeps its own limits (max age, max bytes); the free disk is shared, so when it runs low the
// oldest footage of ALL cameras on that filesystem goes first (by segment start epoch), not the oldest
// of whichever camera happened to run retention. Never a pinned segment (a clip job reads it), never the
// open one (only sealed rows are candidates). The App owns one StorageBudget; every camera attached to it
// asks it to make room whenever it runs retention (after each sealed segment, every 5 s, and when a
// write hits a full disk), and it removes through that camera's Retention (same bookkeeping, logs and
// events, files before rows when SQLite itself is out of room).
//
// A one-source producer is an App with one camera: the choice is then exactly the per-camera one
// (oldest first, pinned ones skipped, until the free space is back).
import { statSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import type { SegmentIndex, SegmentRow } from '../store/catalog.js';
import { freeDiskBytes, type PinSet, type Retention } from './retention.js';

/** What a camera asks of the budget: free disk space now if it is low; returns how many segments went. */
export interface FreeSpaceKeeper {
  makeRoom(): number;
}

/** The parts of a camera (a Producer) the budget reads and removes through. */
export interface BudgetCamera {
  readonly name: string;
  readonly index: SegmentIndex;
  readonly pins: PinSet;
  readonly retention: Retention;
  readonly segmentsDir: string;
  /** Set while the camera is attached: its retention passes then ask the budget for free space. */
  storageBudget: FreeSpaceKeeper | null;
}

export interface BudgetCandidate {
  camera: string;
  row: SegmentRow;
}

/** Why the budget removes a segment (the same words the per-camera limit logs). */
export const MIN_FREE_REASON = 'min free disk';

/**
 * Pure: which sealed segments to remove so that `freeBytes` gets back to `minFreeBytes`, taking the
 * oldest across cameras first. `oldestFirst` holds each camera's sealed segments in its own time order
 * (consumed lazily, only as far as needed); the next one taken is the camera head with the earliest
 * start epoch (ties: camera name, then id). Pinned segments are skipped; each removal is assumed to free
 * its bytes.
 */
export function chooseOldestAcross(
  oldestFirst: ReadonlyMap<string, Iterable<SegmentRow>>, freeBytes: number, minFreeBytes: number,
  isPinned: (camera: string, id: number) => boolean,
): BudgetCandidate[] {
  const out: BudgetCandidate[] = [];
  if (freeBytes >= minFreeBytes) return out;
  const heads = [...oldestFirst].map(([camera, rows]) => {
    const it = rows[Symbol.iterator]();
    return { camera, it, head: it.next() };
  });
  const earlier = (a: (typeof heads)[number], b: (typeof heads)[number]) => {
    const x = a.head.value as SegmentRow;
    const y = b.head.value as SegmentRow;
    if (x.start_epoch_ms !== y.start_epoch_ms) return x.start_epoch_ms < y.start_epoch_ms;
    if (a.camera !== b.camera) return a.camera < b.camera;
    return x.id < y.id;
  };
  let free = freeBytes;
  while (free < minFreeBytes) {
    let best: (typeof heads)[number] | null = null;
    for (const h of heads) if (!h.head.done && (best === null || earlier(h, best))) best = h;
    if (best === null) break;
    const row = best.head.value as SegmentRow;
    best.head = best.it.next();
    if (isPinned(best.camera, row.id)) continue;
    out.push({ camera: best.camera, row });
    free += row.bytes;
  }
  return out;
}

/** A camera's sealed segments in its time order, paged from its index (64 rows at a time, as retention does). */
function* sealedOldestFirst(c: BudgetCamera): Generator<SegmentRow> {
  let cursor = { start: -1n, id: -1 };
  for (;;) {
    const page = c.index.sealedAfter(cursor.start, cursor.id, 64);
    if (page.length === 0) return;
    cursor = { start: page[page.length - 1].start_pts_ns, id: page[page.length - 1].id };
    for (const row of page) if (!c.retention.isPendingRemoval(row.id)) yield row;
  }
}

/** Which filesystem a directory is on (cameras on different disks do not free space for each other). */
function filesystemOf(dir: string): string {
  try {
    return `dev:${statSync(dir).dev}`;
  } catch {
    return `dir:${dir}`;
  }
}

export class StorageBudget implements FreeSpaceKeeper {
  /** The free space to keep on every filesystem the cameras record to; null: no budget (cameras are not attached). */
  readonly minFreeBytes: number | null;
  /** Free bytes on the filesystem holding a path, or null when unknown (replaceable, for tests). */
  probe: (path: string) => number | null;
  removedSegments = 0;
  removedBytes = 0;
  private readonly cameras = new Map<string, { camera: BudgetCamera; filesystem: string }>();
  private readonly log: Logger;
  private running = false;

  constructor(opts: { minFreeBytes: number | null; log: Logger; probe?: (path: string) => number | null }) {
    this.minFreeBytes = opts.minFreeBytes;
    this.log = opts.log;
    this.probe = opts.probe ?? freeDiskBytes;
  }

  get enabled(): boolean {
    return this.minFreeBytes !== null;
  }

  /** The attached cameras' names. */
  get cameraNames(): string[] {
    return [...this.cameras.keys()];
  }

  /**
   * Puts a camera under the budget (before it starts): its Retention stops applying the free-disk limit
   * itself, and its retention passes ask the budget instead. Without a budget (no `min_free_bytes`) the
   * camera is left as it is.
   */
  attach(c: BudgetCamera): void {
    if (this.minFreeBytes === null) return;
    c.retention.limits = { ...c.retention.limits, minFreeBytes: null };
    c.storageBudget = this;
    this.cameras.set(c.name, { camera: c, filesystem: filesystemOf(c.segmentsDir) });
  }

  /** Takes a camera out (before it closes); the budget no longer reads or removes its segments. */
  detach(c: BudgetCamera): void {
    if (this.cameras.get(c.name)?.camera === c) this.cameras.delete(c.name);
    if (c.storageBudget === this) c.storageBudget = null;
  }

  makeRoom(): number {
    return this.run().length;
  }

  /**
   * One pass: on each filesystem whose free space is below the limit, removes the oldest unpinned sealed
   * segments across its cameras until the space is back (or nothing removable is left). Returns what it removed.
   */
  run(): BudgetCandidate[] {
    if (this.minFreeBytes === null || this.running || this.cameras.size === 0) return [];
    this.running = true;
    try {
      const groups = new Map<string, BudgetCamera[]>();
      for (const { camera, filesystem } of this.cameras.values()) {
        const g = groups.get(filesystem) ?? [];
        g.push(camera);
        groups.set(filesystem, g);
      }
      const removed: BudgetCandidate[] = [];
      for (const cams of groups.values()) removed.push(...this.runGroup(cams, this.minFreeBytes));
      return removed;
    } finally {
      this.running = false;
    }
  }

  private runGroup(cams: BudgetCamera[], minFree: number): BudgetCandidate[] {
    const free = this.probe(cams[0].segmentsDir);
    if (free === null || free >= minFree) return [];
    const byName = new Map(cams.map((c) => [c.name, c]));
    const chosen = chooseOldestAcross(
      new Map(cams.map((c) => [c.name, sealedOldestFirst(c)])), free, minFree,
      (camera, id) => byName.get(camera)!.pins.has(id),
    );
    const removed: BudgetCandidate[] = [];
    // In the chosen (global, oldest first) order, a run of one camera's segments at a time.
    for (let i = 0; i < chosen.length;) {
      let j = i + 1;
      while (j < chosen.length && chosen[j].camera === chosen[i].camera) j++;
      const camera = byName.get(chosen[i].camera)!;
      const rows = chosen.slice(i, j).map((c) => c.row);
      try {
        camera.retention.remove(rows, () => MIN_FREE_REASON);
        removed.push(...chosen.slice(i, j));
      } catch (e) {
        this.log.error('min free disk: removing segments failed', { camera: camera.name, error: (e as Error).message });
      }
      i = j;
    }
    if (removed.length > 0) {
      const bytes = removed.reduce((n, c) => n + c.row.bytes, 0);
      this.removedSegments += removed.length;
      this.removedBytes += bytes;
      const perCamera = new Map<string, number>();
      for (const c of removed) perCamera.set(c.camera, (perCamera.get(c.camera) ?? 0) + 1);
      this.log.info('min free disk: removed the oldest footage across cameras', {
        segments: removed.length, bytes, free_bytes: free, min_free_bytes: minFree,
        cameras: [...perCamera].map(([n, k]) => `${n}:${k}`).join(','),
      });
    } else {
      this.log.debug('min free disk: below the limit, nothing removable', { free_bytes: free, min_free_bytes: minFree });
    }
    return removed;
  }
}
