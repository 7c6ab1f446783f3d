// Keeps every camera's sealed segments in the object store (one service per process, the App's): uploads
// each sealed segment (the queue is the catalog itself: sealed rows without an object key, oldest first,
// so it survives a crash or an outage of any length), a few at a time across cameras; retries with
// exponential backoff while the store fails (recording goes on locally meanwhile, /health says
// `degraded` with the backlog); evicts the local copies of uploaded segments once older than
// `local_keep`, or sooner, oldest first, when the disk runs below `min_free_bytes`; and deletes from the
// store the objects whose rows retention removed (queued in the catalog by the same transaction).
// Nothing is evicted before it is uploaded and verified, nor while a reader has it pinned.
import { statSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import { freeDiskBytes } from '../segments/retention.js';
import { segmentAbsPath } from '../segments/paths.js';
import { sealedFileChange } from '../segments/sealed-file.js';
import type { SegmentRow } from './catalog.js';
import { segmentKey, StoreError, type ObjectStore } from './object-store.js';
import type { SegmentPlace } from './segment-source.js';
import type { StoredSegments } from './stored-segments.js';
import type { FileRemovals } from '../segments/file-removals.js';

/** The parts of a camera the uploads work through. */
export interface UploadCamera {
  readonly name: string;
  readonly storedSegments: StoredSegments;
  readonly segmentsDir: string;
  /** Records the evicted copies as to be removed with their rows' change, and removes them (crash-safe). */
  readonly fileRemovals: Pick<FileRemovals, 'commit' | 'finish'>;
  /** Told of a sealed file found changed since sealing (the camera verifies it at once). */
  readonly place: Pick<SegmentPlace, 'changedSealed'>;
  readonly pins: { pin(ids: number[]): () => void; has(id: number): boolean };
  /** Removes segments with retention's bookkeeping (used when the disk stays short after evicting). */
  readonly retention: { remove(victims: SegmentRow[], reasonOf: (seg: SegmentRow) => string | undefined): void };
}

export interface SegmentUploadsOptions {
  store: ObjectStore;
  log: Logger;
  /** Local copies of uploaded segments are kept this long after their footage ends (ms). */
  localKeepMs: number;
  /** Free disk below which uploaded local copies are evicted at once, oldest first (null: no limit). */
  minFreeBytes: number | null;
  /** Uploads in flight at once. */
  workers?: number;
  /** First and longest pause after a failed request (ms). */
  backoffMs?: { first: number; max: number };
  /** Housekeeping period: eviction, deletes, a retry check (ms). */
  periodMs?: number;
}

export interface StoreStatus {
  status: 'ok' | 'degraded';
  location: string;
  backlog_segments: number;
  backlog_bytes: number;
  /** Age of the oldest segment waiting to be uploaded (ms), null when none waits. */
  oldest_pending_age_ms: number | null;
  uploaded_segments: number;
  uploaded_bytes: number;
  evicted_segments: number;
  queued_deletes: number;
  last_error: string | null;
  last_error_at_ms: number | null;
}

/** Evictions and deletions per step (one catalog transaction each). */
const BATCH = 64;

/** What a segment row says of its file (recovery changes it when it reconciles a damaged file). */
const rowState = (row: SegmentRow): string => `${row.bytes}:${row.mtime_ms}`;

export class SegmentUploads {
  readonly store: ObjectStore;
  private readonly cameras = new Map<string, UploadCamera>();
  private readonly inFlight = new Map<string, Set<number>>();
  private readonly active = new Set<Promise<void>>();
  /**
   * Segments whose local file cannot be read (not a store fault), with the row as it was then: left for
   * recovery, retried here once recovery changed the row (a damaged file reconciled: its new size, mtime).
   */
  private readonly unreadable = new Map<string, string>();
  /**
   * Segments stored whose row the index could not update (a full disk: SQLITE_FULL), by camera/row id,
   * with the object's key and the row as it was: only the row is written at the next try, the object is
   * not sent again (unless the row changed meanwhile: a verified file is sent as it is now).
   */
  private readonly unrecorded = new Map<string, string>();
  private indexFailing = false;
  private readonly workers: number;
  private readonly backoff: { first: number; max: number };
  private delayMs = 0;
  private retryAtMs = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private periodic: NodeJS.Timeout | null = null;
  private housekeeping: Promise<void> | null = null;
  private closed = false;
  private failing = false;
  uploadedSegments = 0;
  uploadedBytes = 0;
  evictedSegments = 0;
  lastError: { message: string; atMs: number } | null = null;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: SegmentUploadsOptions) {
    this.store = o.store;
    this.workers = Math.max(1, o.workers ?? 2);
    this.backoff = o.backoffMs ?? { first: 500, max: 30_000 };
  }

  start(): void {
    this.periodic = setInterval(() => this.tick(), this.o.periodMs ?? 5000);
    this.periodic.unref();
    this.tick();
  }

  attach(camera: UploadCamera): void {
    this.cameras.set(camera.name, camera);
    this.inFlight.set(camera.name, new Set());
    this.pump();
  }

  /** Stops taking this camera's segments; resolves once nothing of it is in flight (its catalog may then close). */
  async detach(name: string): Promise<void> {
    this.cameras.delete(name);
    await Promise.allSettled([...this.active, this.housekeeping]);
  }

  /** New footage was sealed (or the store may be back): look for work now. */
  kick(): void {
    this.pump();
  }

  /** Eviction, store deletes and a retry, on the period (and once at start). */
  tick(): void {
    this.pump();
    if (this.housekeeping || this.closed) return;
    this.housekeeping = this.houseKeep().catch((e: unknown) => {
      this.o.log.error('object store housekeeping failed', { error: (e as Error).message });
    }).finally(() => { this.housekeeping = null; });
  }

  /** What /health says about the store for one camera (its backlog) and the process (its state). */
  status(camera: UploadCamera | null): StoreStatus {
    let segments = 0;
    let bytes = 0;
    let oldest: number | null = null;
    let deletes = 0;
    for (const c of camera ? [camera] : this.cameras.values()) {
      const b = c.storedSegments.backlog();
      segments += b.segments;
      bytes += b.bytes;
      if (b.oldestCreatedMs !== null) oldest = oldest === null ? b.oldestCreatedMs : Math.min(oldest, b.oldestCreatedMs);
      deletes += c.storedSegments.queuedDeleteCount();
    }
    return {
      status: this.failing ? 'degraded' : 'ok', location: this.store.description,
      backlog_segments: segments, backlog_bytes: bytes, oldest_pending_age_ms: oldest === null ? null : Math.max(0, Date.now() - oldest),
      uploaded_segments: this.uploadedSegments, uploaded_bytes: this.uploadedBytes, evicted_segments: this.evictedSegments,
      queued_deletes: deletes, last_error: this.lastError?.message ?? null, last_error_at_ms: this.lastError?.atMs ?? null,
    };
  }

  /** Resolves once nothing is queued nor in flight (tests, a graceful stop); rejects after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.pump();
      // (A segment whose local file cannot be read waits for recovery, not for the store.)
      const waiting = [...this.cameras.values()].some((c) => c.storedSegments.pendingUploads(1000)
        .some((r) => !this.isUnreadable(c.name, r)));
      if (!waiting && this.active.size === 0) return;
      if (Date.now() > deadline) throw new StoreError(`uploads did not catch up within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.idleWaiters.push(r);
        setTimeout(r, 200); // kept: a caller waiting here keeps the process alive
      });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.periodic) clearInterval(this.periodic);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await Promise.allSettled([...this.active, this.housekeeping]);
  }

  /**
   * Starts uploads while workers are free and the store is not in its backoff pause. Called from timers
   * and events: nothing it throws (a catalog error) may escape.
   */
  private pump(): void {
    try {
      this.pumpOnce();
    } catch (e) {
      this.o.log.error('upload scheduling failed; retrying on the next tick', { error: (e as Error).message });
    }
  }

  private pumpOnce(): void {
    if (this.closed) return;
    const now = Date.now();
    if (now < this.retryAtMs) {
      this.armRetry();
      return;
    }
    while (this.active.size < this.workers) {
      const next = this.next();
      if (!next) return;
      const job = this.upload(next.camera, next.row).finally(() => {
        this.active.delete(job);
        for (const w of this.idleWaiters.splice(0)) w();
        this.pump();
      });
      this.active.add(job);
    }
  }

  private armRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, Math.max(0, this.retryAtMs - Date.now()));
    this.retryTimer.unref();
  }

  private isUnreadable(camera: string, row: SegmentRow): boolean {
    return this.unreadable.get(`${camera}/${row.id}`) === rowState(row);
  }

  /** The oldest waiting segment across cameras (by creation), not already being uploaded. */
  private next(): { camera: UploadCamera; row: SegmentRow } | null {
    let best: { camera: UploadCamera; row: SegmentRow } | null = null;
    for (const camera of this.cameras.values()) {
      const busy = this.inFlight.get(camera.name)!;
      // The oldest few only: enough to pass those in flight and those whose file cannot be read.
      const row = camera.storedSegments.pendingUploads(busy.size + this.unreadable.size + 1)
        .find((r) => !busy.has(r.id) && !this.isUnreadable(camera.name, r));
      if (row && (!best || row.created_ms < best.row.created_ms)) best = { camera, row };
    }
    if (best) this.inFlight.get(best.camera.name)!.add(best.row.id);
    return best;
  }

  private async upload(camera: UploadCamera, row: SegmentRow): Promise<void> {
    const release = camera.pins.pin([row.id]);
    const key = segmentKey(this.store.location, camera.name, row.path);
    const copies = camera.storedSegments;
    try {
      const abs = segmentAbsPath(camera.segmentsDir, row.path);
      // A sealed file changed after sealing is verified first (its row then changes, and it is uploaded
      // as verified): the store keeps footage as it was recorded.
      const changed = sealedFileChange(row, statSync(abs, { throwIfNoEntry: false }));
      if (changed !== null) {
        camera.place.changedSealed?.(row.id);
        throw Object.assign(new Error(`it changed since sealing (${changed}); verifying it`), { code: 'ECHANGED' });
      }
      const stored = `${camera.name}/${row.id}`;
      const what = `${key}|${rowState(row)}`;
      if (this.unrecorded.get(stored) !== what) {
        await this.store.putFile(key, abs, {
          size: row.bytes, resume: copies.multipart(row.id, key),
          onMultipart: (state) => copies.beginMultipart(row.id, key, state),
        });
        this.unrecorded.set(stored, what);
      }
      copies.markUploaded(row.id, key);
      this.unrecorded.delete(stored);
      if (this.indexFailing) {
        this.indexFailing = false;
        this.o.log.info('the index records uploads again', { camera: camera.name });
      }
      this.uploadedSegments++;
      this.uploadedBytes += row.bytes;
      this.delayMs = 0;
      if (this.failing) {
        this.failing = false;
        this.o.log.info('object store reachable again; uploads resumed', { store: this.store.description });
      }
    } catch (e) {
      const message = (e as Error).message;
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && code.startsWith('SQLITE_')) {
        // The local index could not record the upload (a full disk: SQLITE_FULL): the object is stored,
        // the row still says "not uploaded" — neither a store failure nor an unreadable file. Retried with
        // backoff, writing only the row (a restart meanwhile uploads the same object again).
        this.lastError = { message: `the index could not record an upload: ${message}`, atMs: Date.now() };
        this.delayMs = this.delayMs === 0 ? this.backoff.first : Math.min(this.backoff.max, this.delayMs * 2);
        this.retryAtMs = Date.now() + this.delayMs;
        if (!this.indexFailing) this.o.log.warn('segment uploaded, but the index could not record it; retried', { camera: camera.name, path: row.path, error: message });
        this.indexFailing = true;
        return;
      }
      if (!(e instanceof StoreError) && code !== undefined) {
        // The local file, not the store: recovery's business (a missing or changed sealed file).
        this.unreadable.set(`${camera.name}/${row.id}`, rowState(row));
        this.o.log.error('segment not uploaded: its local file cannot be read', { camera: camera.name, path: row.path, error: message });
        return;
      }
      this.lastError = { message, atMs: Date.now() };
      this.delayMs = this.delayMs === 0 ? this.backoff.first : Math.min(this.backoff.max, this.delayMs * 2);
      this.retryAtMs = Date.now() + this.delayMs;
      if (!this.failing) this.o.log.warn('object store failing; segments stay local and are uploaded when it is back', { error: message });
      this.failing = true;
    } finally {
      release();
      this.inFlight.get(camera.name)?.delete(row.id);
    }
  }

  private async houseKeep(): Promise<void> {
    for (const camera of [...this.cameras.values()]) {
      this.evict(camera);
      if (!this.failing) await this.deleteQueued(camera);
    }
  }

  /**
   * Evicts uploaded local copies: those whose footage ended more than `local_keep` ago, and while the
   * disk is below `min_free_bytes` any uploaded copy, oldest first. The row says "not local" before the
   * file goes, the file recorded as to be removed in the same transaction (a crash between: removed at the
   * next start; never a row whose bytes are nowhere, never a stray file).
   */
  evict(camera: UploadCamera, nowMs = Date.now()): number {
    const keepUntil = nowMs - this.o.localKeepMs;
    const low = () => this.o.minFreeBytes !== null && (freeDiskBytes(camera.segmentsDir) ?? Infinity) < this.o.minFreeBytes;
    let evicted = 0;
    let cursor = { startPtsNs: -1n, id: -1 };
    for (;;) {
      const page = camera.storedSegments.evictable(BATCH, cursor);
      if (page.length === 0) break;
      cursor = { startPtsNs: page[page.length - 1].start_pts_ns, id: page[page.length - 1].id };
      const short = low();
      const due = page.filter((r) => (short || r.stop_epoch_ms < keepUntil) && !camera.pins.has(r.id));
      if (due.length > 0) {
        camera.fileRemovals.commit(() => camera.storedSegments.markEvicted(due.map((r) => r.id)), due.map((r) => r.path));
        camera.fileRemovals.finish();
        evicted += due.length;
        this.evictedSegments += due.length;
      }
      // Oldest first: once one is too young (and the disk is not short), so are the rest.
      if (!short && page.some((r) => r.stop_epoch_ms >= keepUntil)) break;
    }
    if (evicted > 0) this.o.log.info('evicted local copies of uploaded segments', { camera: camera.name, segments: evicted });
    return evicted;
  }

  /**
   * The free-disk limit with a store (the camera's retention asks after each sealed segment and when a
   * write meets a full disk): first the uploaded local copies go (the footage stays in the store), then,
   * if the disk is still short — the store down, nothing uploaded — the oldest footage not yet uploaded,
   * as retention would without a store. Returns the segments deleted (evictions are not deletions).
   */
  relieveDisk(camera: UploadCamera): number {
    const min = this.o.minFreeBytes;
    const free = () => freeDiskBytes(camera.segmentsDir);
    if (min === null || (free() ?? Infinity) >= min) return 0;
    this.evict(camera);
    let deleted = 0;
    let freeNow = free();
    while (freeNow !== null && freeNow < min) {
      const victims: SegmentRow[] = [];
      for (const r of camera.storedSegments.pendingUploads(BATCH)) {
        if (camera.pins.has(r.id)) continue;
        victims.push(r);
        freeNow += r.bytes;
        if (freeNow >= min) break;
      }
      if (victims.length === 0) break;
      camera.retention.remove(victims, () => 'min free disk');
      deleted += victims.length;
      freeNow = free();
    }
    return deleted;
  }

  /** Deletes from the store what retention removed from the catalog, a batch at a time. */
  private async deleteQueued(camera: UploadCamera): Promise<void> {
    for (;;) {
      const batch = camera.storedSegments.queuedDeletes(BATCH);
      if (batch.length === 0 || this.closed) return;
      const objects = batch.filter((d) => d.uploadId === '').map((d) => d.key);
      try {
        if (objects.length > 0) await this.store.deleteKeys(objects);
        for (const d of batch) if (d.uploadId !== '') await this.store.abortMultipart(d.key, d.uploadId);
      } catch (e) {
        this.lastError = { message: (e as Error).message, atMs: Date.now() };
        return; // kept in the queue; the next pass tries again
      }
      camera.storedSegments.forgetDeletes(batch);
    }
  }
}
