// The catalog's half of keeping segments in an object store (schema: migrations.ts step 9): the upload
// queue (sealed segments not yet uploaded, oldest first), where each uploaded segment is, multipart
// uploads in progress (so a crash resumes them), local copies that may be evicted, and the objects
// whose rows were deleted (queued by a trigger in the same transaction), to delete from the store.
import type Database from 'better-sqlite3';
import { segmentRowOf, type SegmentRow } from './catalog.js';
import type { MultipartState } from './object-store.js';

type Raw = Record<string, unknown>;

export interface UploadBacklog {
  segments: number;
  bytes: number;
  /** When the oldest segment waiting was created (ms since the epoch), or null when none waits. */
  oldestCreatedMs: number | null;
}

export class StoredSegments {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      pending: db.prepare<[bigint, number, number], Raw>(`SELECT * FROM segments WHERE sealed = 1 AND object_key IS NULL
        AND (start_pts_ns, id) > (?, ?) ORDER BY start_pts_ns, id LIMIT ?`),
      backlog: db.prepare<[], { n: number; bytes: number | null; oldest: number | null }>(
        'SELECT COUNT(*) AS n, SUM(bytes) AS bytes, MIN(created_ms) AS oldest FROM segments WHERE sealed = 1 AND object_key IS NULL'),
      uploaded: db.prepare('UPDATE segments SET object_key = ? WHERE id = ? AND object_key IS NULL'),
      multipart: db.prepare<[number], { upload_id: string; part_bytes: number; key: string }>('SELECT upload_id, part_bytes, key FROM uploads WHERE segment_id = ?'),
      beginMultipart: db.prepare(`INSERT INTO uploads(segment_id, key, upload_id, part_bytes, started_ms) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(segment_id) DO UPDATE SET key = excluded.key, upload_id = excluded.upload_id, part_bytes = excluded.part_bytes, started_ms = excluded.started_ms`),
      endMultipart: db.prepare('DELETE FROM uploads WHERE segment_id = ?'),
      evictable: db.prepare<[bigint, number, number], Raw>(`SELECT * FROM segments WHERE local = 1 AND object_key IS NOT NULL
        AND (start_pts_ns, id) > (?, ?) ORDER BY start_pts_ns, id LIMIT ?`),
      evict: db.prepare('UPDATE segments SET local = 0 WHERE id = ? AND object_key IS NOT NULL'),
      deletes: db.prepare<[number], { key: string; upload_id: string }>('SELECT key, upload_id FROM store_deletes ORDER BY queued_ms LIMIT ?'),
      deleted: db.prepare('DELETE FROM store_deletes WHERE key = ? AND upload_id = ?'),
      deleteCount: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM store_deletes'),
    };
    for (const k of ['pending', 'evictable'] as const) this.stmts[k].safeIntegers(true);
  }

  /**
   * Records which store (`s3://bucket/prefix`) the segments go to. When it changed since the last start,
   * the local copies recorded as uploaded to the old one are queued again (the new store has none of
   * them); segments only in the old store stay as they are (readable while it is configured). Returns
   * how many were queued again.
   */
  adoptStore(location: string): number {
    return this.db.transaction(() => {
      const was = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'object_store'").get()?.value;
      if (was === location) return 0;
      this.db.prepare("INSERT INTO meta(key, value) VALUES ('object_store', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(location);
      if (was === undefined) return 0;
      this.db.exec('DELETE FROM uploads');
      return this.db.prepare('UPDATE segments SET object_key = NULL WHERE local = 1 AND object_key IS NOT NULL').run().changes;
    })();
  }

  /** Sealed segments not yet uploaded after the cursor (start, id), oldest first. */
  pendingUploads(limit: number, after: { startPtsNs: bigint; id: number } = { startPtsNs: -1n, id: -1 }): SegmentRow[] {
    return this.stmts.pending.all(after.startPtsNs, after.id, limit).map(segmentRowOf);
  }

  backlog(): UploadBacklog {
    const r = this.stmts.backlog.get()!;
    return { segments: r.n, bytes: r.bytes ?? 0, oldestCreatedMs: r.oldest };
  }

  /** Records that a segment is in the store under `key` (and forgets its multipart state), atomically. */
  markUploaded(id: number, key: string): void {
    this.db.transaction(() => {
      this.stmts.uploaded.run(key, id);
      this.stmts.endMultipart.run(id);
    })();
  }

  /** The multipart upload an earlier attempt began for this segment, if any. */
  multipart(id: number, key: string): MultipartState | null {
    const r = this.stmts.multipart.get(id);
    return r && r.key === key ? { uploadId: r.upload_id, partBytes: r.part_bytes } : null;
  }

  beginMultipart(id: number, key: string, state: MultipartState): void {
    this.stmts.beginMultipart.run(id, key, state.uploadId, state.partBytes, Date.now());
  }

  /** Uploaded segments whose file is still local, oldest first, after the cursor. */
  evictable(limit: number, after: { startPtsNs: bigint; id: number } = { startPtsNs: -1n, id: -1 }): SegmentRow[] {
    return this.stmts.evictable.all(after.startPtsNs, after.id, limit).map(segmentRowOf);
  }

  /** Marks uploaded segments as no longer local (before their files are removed: never a row without bytes; the uploader records the files' removal in the same transaction). */
  markEvicted(ids: number[]): void {
    this.db.transaction(() => { for (const id of ids) this.stmts.evict.run(id); })();
  }

  /** Objects (and unfinished multipart uploads, upload_id non-empty) whose rows are gone, oldest first. */
  queuedDeletes(limit: number): Array<{ key: string; uploadId: string }> {
    return this.stmts.deletes.all(limit).map((r) => ({ key: r.key, uploadId: r.upload_id }));
  }

  forgetDeletes(done: Array<{ key: string; uploadId: string }>): void {
    this.db.transaction(() => { for (const d of done) this.stmts.deleted.run(d.key, d.uploadId); })();
  }

  queuedDeleteCount(): number {
    return this.stmts.deleteCount.get()?.n ?? 0;
  }
}
