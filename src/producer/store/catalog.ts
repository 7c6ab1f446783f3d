// The SQLite index (better-sqlite3, WAL): opening it (the schema is store/migrations.ts), and every
// query over segments, fragments, gaps and clock metadata. The segment files stay the truth; this is a fast, crash-safe catalogue of them
// (reconciled with the files at start by segments/recovery.ts). Clip jobs are in job-store.ts, the schema in migrations.ts.
// Each fragment row carries the CRC-32 of its bytes and each sealed segment the file's mtime at sealing,
// so recovery can tell a file that changed after it was sealed and find exactly what was damaged
// (both are NULL in rows written before they existed: such rows are checked by structure only).
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';
import { PTS_MAX } from '../../protocol/pts.js';
import {
  FRAGMENT_COLUMNS, frag, fragmentRow, fragmentRowOfArray, gapRow, numOrNull, seg, segmentRowOf,
  type FragmentRow, type GapRow, type NewSegment, type Raw, type SegmentRow,
} from './catalog-rows.js';

export type { FragmentRow, GapRow, NewSegment, Raw, SegmentRow } from './catalog-rows.js';
export { segmentRowOf } from './catalog-rows.js';

/**
 * Page cache of an index connection (one per camera), KiB. The index is read by indexed range queries, a
 * few pages each, which the kernel's page cache serves as well: at 365 days (bench/index-cache.ts) every
 * query the producer makes takes the same time with 512 KiB as with 2 MiB (SQLite's default), and a
 * camera with history holds 1.5 MiB less (at 256 KiB the newest-footage lookups begin to slow).
 */
export const INDEX_CACHE_KIB = 512;

export function openDatabase(path: string): Database.Database {
  const db = new Database(path);
  // A new index gives the pages retention frees back to the disk (releaseFreePages); this can only be
  // chosen before the first table exists (an older index keeps reusing its free pages instead).
  if (db.pragma('page_count', { simple: true }) === 0) db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // A small page cache (better-sqlite3 builds it with 16 MiB per connection, which was the largest part of
  // what a producer on a long history held beyond an empty one's): see INDEX_CACHE_KIB.
  db.pragma(`cache_size = -${INDEX_CACHE_KIB}`);
  // Numbered schema upgrades (store/migrations.ts); a failing optional step is retried at the next start.
  migrate(db);
  return db;
}

/** Typed queries over the segment catalogue. */
export class SegmentIndex {
  private readonly stmts;

  constructor(readonly db: Database.Database) {
    this.stmts = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      insertSegment: db.prepare(`INSERT INTO segments (path, run_id, start_pts_ns, stop_pts_ns, start_epoch_ms, stop_epoch_ms,
          offset_ns, anchor_epoch_ms, anchor_pts_ns, bytes, init_size, codec, codec_string, width, height, fps, has_audio,
          description_key, created_ms)
        VALUES (@path, @run_id, @start_pts_ns, @start_pts_ns, @start_epoch_ms, @start_epoch_ms, @offset_ns, @anchor_epoch_ms,
          @anchor_pts_ns, @bytes, @init_size, @codec, @codec_string, @width, @height, @fps, @has_audio, @description_key, @created_ms)`),
      insertFragment: db.prepare(`INSERT INTO fragments (segment_id, seq, start_pts_ns, stop_pts_ns, offset, size, moof_size, samples, keyframe, crc)
        VALUES (@segment_id, @seq, @start_pts_ns, @stop_pts_ns, @offset, @size, @moof_size, @samples, @keyframe, @crc)`),
      extendSegment: db.prepare(`UPDATE segments SET stop_pts_ns = MAX(stop_pts_ns, @stop_pts_ns), stop_epoch_ms = MAX(stop_epoch_ms, @stop_epoch_ms),
          start_pts_ns = CASE WHEN fragments = 0 THEN @start_pts_ns ELSE start_pts_ns END,
          start_epoch_ms = CASE WHEN fragments = 0 THEN @start_epoch_ms ELSE start_epoch_ms END,
          bytes = @bytes, fragments = fragments + 1, frames = @frames WHERE id = @id`),
      seal: db.prepare('UPDATE segments SET sealed = 1, mtime_ms = ? WHERE id = ?'),
      lowerStop: db.prepare(`UPDATE segments SET stop_pts_ns = @stop_pts_ns, stop_epoch_ms = MIN(stop_epoch_ms, @stop_epoch_ms)
          WHERE id = @id AND stop_pts_ns > @stop_pts_ns AND start_pts_ns < @stop_pts_ns`),
      byId: db.prepare<[number], Raw>('SELECT * FROM segments WHERE id = ?'),
      // Segments never overlap, so those overlapping [from, to) start at or after the first one that ends
      // after `from`: found through the stop index, then a range on the start index (no walk from the
      // oldest row).
      overlapping: db.prepare<{ from: bigint; to: bigint }, Raw>(`SELECT * FROM segments
        WHERE start_pts_ns >= COALESCE((SELECT start_pts_ns FROM segments WHERE stop_pts_ns > @from AND fragments > 0
                                         ORDER BY stop_pts_ns LIMIT 1), @to)
          AND start_pts_ns < @to AND stop_pts_ns > @from AND fragments > 0 ORDER BY start_pts_ns, id`),
      // A page of `overlapping`, newest first, before a (start, id) cursor: walks the start index down
      // from the window's end and stops after @limit rows; bounded below as `overlapping` is.
      pageBefore: db.prepare<{ from: bigint; to: bigint; cs: bigint; cid: number; limit: number }, Raw>(`SELECT * FROM segments
        WHERE start_pts_ns >= COALESCE((SELECT start_pts_ns FROM segments WHERE stop_pts_ns > @from AND fragments > 0
                                         ORDER BY stop_pts_ns LIMIT 1), @to)
          AND start_pts_ns < @to AND stop_pts_ns > @from AND fragments > 0 AND (start_pts_ns, id) < (@cs, @cid)
        ORDER BY start_pts_ns DESC, id DESC LIMIT @limit`),
      firstEndingAfterEpoch: db.prepare<[number], Raw>(
        'SELECT * FROM segments WHERE stop_epoch_ms > ? AND fragments > 0 ORDER BY stop_epoch_ms LIMIT 1'),
      oldestSealed: db.prepare<[number], Raw>('SELECT * FROM segments WHERE sealed = 1 ORDER BY start_pts_ns, id LIMIT ?'),
      sealedAfter: db.prepare<[bigint, number, number], Raw>(
        'SELECT * FROM segments WHERE sealed = 1 AND origin IS NULL AND (start_pts_ns, id) > (?, ?) ORDER BY start_pts_ns, id LIMIT ?'),
      // A range of the start index (a gap ends after it starts): the gaps retention made prunable and the
      // few that straddle the oldest footage, not the whole table.
      pruneGaps: db.prepare(`DELETE FROM gaps WHERE start_pts_ns <= (SELECT MIN(start_pts_ns) FROM segments)
        AND stop_pts_ns <= (SELECT MIN(start_pts_ns) FROM segments)`),
      fragmentsOf: db.prepare<[number], Raw>('SELECT * FROM fragments WHERE segment_id = ? ORDER BY seq'),
      fragmentsIn: db.prepare<[number, bigint, bigint], Raw>(
        'SELECT * FROM fragments WHERE segment_id = ? AND stop_pts_ns > ? AND start_pts_ns < ? ORDER BY seq'),
      // The two newest keyframe fragments starting in [@lo, @from]: segments from a range of the start
      // index (bounded below as in `overlapping`), their fragments through the primary key.
      keyframesBefore: db.prepare<{ lo: bigint; from: bigint }, { start_pts_ns: bigint }>(`SELECT f.start_pts_ns
        FROM segments s JOIN fragments f ON f.segment_id = s.id
        WHERE s.start_pts_ns >= COALESCE((SELECT start_pts_ns FROM segments WHERE stop_pts_ns > @lo AND fragments > 0
                                           ORDER BY stop_pts_ns LIMIT 1), @from + 1)
          AND s.start_pts_ns <= @from AND s.fragments > 0
          AND f.keyframe = 1 AND f.start_pts_ns >= @lo AND f.start_pts_ns <= @from
        ORDER BY f.start_pts_ns DESC LIMIT 2`),
      fragmentAfter: db.prepare<[number, number], Raw>('SELECT * FROM fragments WHERE segment_id = ? AND seq > ? ORDER BY seq LIMIT 1'),
      segmentAfter: db.prepare<[bigint, number], Raw>(
        'SELECT * FROM segments WHERE (start_pts_ns, id) > (?, ?) AND fragments > 0 ORDER BY start_pts_ns, id LIMIT 1'),
      newestFragmentStart: db.prepare<[], { start_pts_ns: bigint }>(`SELECT start_pts_ns FROM fragments
        WHERE segment_id = (SELECT id FROM segments WHERE fragments > 0 ORDER BY stop_pts_ns DESC LIMIT 1) ORDER BY seq DESC LIMIT 1`),
      deleteFragments: db.prepare('DELETE FROM fragments WHERE segment_id = ?'),
      deleteSegment: db.prepare('DELETE FROM segments WHERE id = ?'),
      // Counts from the totals the triggers keep (migrations.ts), bounds from one step down an index:
      // the same cost at any history size.
      stats: db.prepare<[], { count: bigint | null; bytes: bigint | null; oldest: bigint | null; newest: bigint | null; newest_epoch: number | null }>(
        `SELECT (SELECT n FROM totals WHERE name = 'segments') AS count, (SELECT n FROM totals WHERE name = 'segment_bytes') AS bytes,
          (SELECT start_pts_ns FROM segments WHERE fragments > 0 ORDER BY start_pts_ns LIMIT 1) AS oldest,
          (SELECT stop_pts_ns FROM segments WHERE fragments > 0 ORDER BY stop_pts_ns DESC LIMIT 1) AS newest,
          (SELECT stop_epoch_ms FROM segments WHERE fragments > 0 ORDER BY stop_epoch_ms DESC LIMIT 1) AS newest_epoch`),
      insertGap: db.prepare('INSERT INTO gaps (start_pts_ns, stop_pts_ns, reason, created_ms) VALUES (?, ?, ?, ?)'),
      // A gap ending after @from starts after @from − (the longest gap): a range of the start index, with
      // the longest gap one step down the length index (migration 8; without it, a scan for it, still right).
      gapsIn: db.prepare<{ from: bigint; to: bigint }, Raw>(`SELECT * FROM gaps
        WHERE start_pts_ns >= @from - COALESCE((SELECT MAX(stop_pts_ns - start_pts_ns) FROM gaps), 0)
          AND start_pts_ns < @to AND stop_pts_ns > @from ORDER BY start_pts_ns, id`),
      gapCount: db.prepare<[], { n: number }>("SELECT n FROM totals WHERE name = 'gaps'"),
      lastSegment: db.prepare<[], Raw>('SELECT * FROM segments WHERE fragments > 0 ORDER BY stop_pts_ns DESC LIMIT 1'),
      replaceBounds: db.prepare(`UPDATE segments SET start_pts_ns = @start_pts_ns, stop_pts_ns = @stop_pts_ns, start_epoch_ms = @start_epoch_ms,
          stop_epoch_ms = @stop_epoch_ms, bytes = @bytes, fragments = @fragments, frames = @frames WHERE id = @id`),
      maxRun: db.prepare<[], { run: number | null }>('SELECT MAX(run_id) AS run FROM segments'),
      unsealed: db.prepare<[], Raw>('SELECT * FROM segments WHERE sealed = 0 ORDER BY id'),
      // Through the path's UNIQUE index: the rows of one day directory.
      pathsUnder: db.prepare<[string, string], { path: string }>('SELECT path FROM segments WHERE path >= ? AND path < ?'),
      hasPath: db.prepare<[string], number>('SELECT 1 FROM segments WHERE path = ?').pluck(),
      fileFactsAfterId: db.prepare<[number, number, number], { id: number; path: string; bytes: number; mtime_ms: number | null }>(
        'SELECT id, path, bytes, mtime_ms FROM segments WHERE id > ? AND id <= ? AND sealed = 1 AND local = 1 ORDER BY id LIMIT ?'),
      maxId: db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM segments'),
      importSegment: db.prepare(`INSERT INTO segments (path, run_id, start_pts_ns, stop_pts_ns, start_epoch_ms, stop_epoch_ms,
          offset_ns, anchor_epoch_ms, anchor_pts_ns, bytes, init_size, fragments, frames, codec, codec_string, width, height, fps, has_audio,
          description_key, sealed, created_ms, mtime_ms, object_key, local, origin)
        VALUES (@path, @run_id, @start_pts_ns, @stop_pts_ns, @start_epoch_ms, @stop_epoch_ms, @offset_ns, @anchor_epoch_ms,
          @anchor_pts_ns, @bytes, @init_size, @fragments, @frames, @codec, @codec_string, @width, @height, @fps, @has_audio, @description_key,
          1, @created_ms, @mtime_ms, @object_key, 0, @origin)`),
      foreignBefore: db.prepare<[bigint], { id: number }>('SELECT id FROM segments WHERE origin IS NOT NULL AND start_pts_ns < ?'),
      // The fragments of every segment `overlapping` finds, in one statement (a window of an hour is
      // hundreds of segments): the same range of the start index, each segment's fragments by its key.
      // Rows as arrays (FRAGMENT_COLUMNS; half the cost of objects for an hour's 3,600 fragments).
      fragmentsInWindow: db.prepare<{ from: bigint; to: bigint }, unknown[]>(`SELECT ${FRAGMENT_COLUMNS} FROM segments s JOIN fragments f ON f.segment_id = s.id
        WHERE s.start_pts_ns >= COALESCE((SELECT start_pts_ns FROM segments WHERE stop_pts_ns > @from AND fragments > 0
                                           ORDER BY stop_pts_ns LIMIT 1), @to)
          AND s.start_pts_ns < @to AND s.stop_pts_ns > @from AND s.fragments > 0
          AND f.stop_pts_ns > @from AND f.start_pts_ns < @to ORDER BY s.start_pts_ns, s.id, f.seq`),
    };
    // PTS come back as bigints (exact past 2^53); the row mappers above turn the other columns into numbers.
    for (const k of ['byId', 'overlapping', 'pageBefore', 'firstEndingAfterEpoch', 'oldestSealed', 'sealedAfter', 'fragmentsOf', 'fragmentsIn',
      'keyframesBefore', 'fragmentAfter', 'segmentAfter', 'newestFragmentStart', 'stats', 'gapsIn', 'lastSegment', 'unsealed', 'fragmentsInWindow'] as const) {
      this.stmts[k].safeIntegers(true);
    }
    this.stmts.fragmentsInWindow.raw(true);
  }

  getMeta(key: string): string | undefined {
    return this.stmts.getMeta.get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmts.setMeta.run(key, value);
  }

  insertSegment(s: NewSegment): number {
    return Number(this.stmts.insertSegment.run(s).lastInsertRowid);
  }

  /** Records one fragment written to a segment file and extends the segment's bounds, atomically.
   *  `seg.bytes` and `seg.frames` are the segment's new totals. */
  addFragment(f: FragmentRow, seg: { bytes: number; frames: number; startEpochMs: number; stopEpochMs: number }): void {
    this.db.transaction(() => {
      this.stmts.insertFragment.run(f);
      this.stmts.extendSegment.run({
        id: f.segment_id, start_pts_ns: f.start_pts_ns, stop_pts_ns: f.stop_pts_ns, start_epoch_ms: seg.startEpochMs,
        stop_epoch_ms: seg.stopEpochMs, bytes: seg.bytes, frames: seg.frames,
      });
    })();
  }

  /** Replaces a segment's fragment list and bounds (recovery, rescans). */
  replaceFragments(segmentId: number, frags: FragmentRow[], bounds: {
    start_pts_ns: bigint; stop_pts_ns: bigint; start_epoch_ms: number; stop_epoch_ms: number; bytes: number; frames: number;
  }): void {
    this.db.transaction(() => {
      this.stmts.deleteFragments.run(segmentId);
      for (const f of frags) this.stmts.insertFragment.run(f);
      this.stmts.replaceBounds.run({ id: segmentId, fragments: frags.length, ...bounds });
    })();
  }

  /** Marks a segment sealed; `mtimeMs` is its file's mtime now (null when unknown); `stop` lowers its
   *  stop (never raises it) in the same transaction. */
  seal(id: number, mtimeMs: number | null, stop?: { stopPtsNs: bigint; stopEpochMs: number }): void {
    if (!stop) {
      this.stmts.seal.run(mtimeMs, id);
      return;
    }
    this.db.transaction(() => {
      this.stmts.lowerStop.run({ id, stop_pts_ns: stop.stopPtsNs, stop_epoch_ms: stop.stopEpochMs });
      this.stmts.seal.run(mtimeMs, id);
    })();
  }

  get(id: number): SegmentRow | undefined {
    return seg(this.stmts.byId.get(id));
  }

  overlapping(fromPtsNs: bigint, toPtsNs: bigint): SegmentRow[] {
    return this.stmts.overlapping.all({ from: fromPtsNs, to: toPtsNs }).map(segmentRowOf);
  }

  /**
   * The newest `limit` segments overlapping [from, to) that start before the cursor (start, id) — none
   * given: from the window's end — in time order, and whether older ones remain (the next page's cursor
   * is the first row's (start_pts_ns, id)).
   */
  overlappingPage(fromPtsNs: bigint, toPtsNs: bigint, limit: number, before: { startPtsNs: bigint; id: number } | null): { rows: SegmentRow[]; more: boolean } {
    const rows = this.stmts.pageBefore.all({
      from: fromPtsNs, to: toPtsNs, cs: before?.startPtsNs ?? PTS_MAX, cid: before?.id ?? Number.MAX_SAFE_INTEGER, limit: limit + 1,
    }).map(segmentRowOf);
    const more = rows.length > limit;
    return { rows: rows.slice(0, limit).reverse(), more };
  }

  /** The first segment (in time) whose footage ends after an epoch instant, or undefined. */
  firstEndingAfterEpoch(epochMs: number): SegmentRow | undefined {
    return seg(this.stmts.firstEndingAfterEpoch.get(epochMs));
  }

  /** Sealed segments this node recorded after (start, id) in time order: a cursor for paging through the oldest (retention). */
  sealedAfter(startPtsNs: bigint, id: number, limit: number): SegmentRow[] {
    return this.stmts.sealedAfter.all(startPtsNs, id, limit).map(segmentRowOf);
  }

  /** Forgets gaps that lie wholly before the oldest footage left (retention removed what they bordered). */
  pruneGaps(): number {
    return this.stmts.pruneGaps.run().changes;
  }



  oldestSealed(limit: number): SegmentRow[] {
    return this.stmts.oldestSealed.all(limit).map(segmentRowOf);
  }

  fragmentsOf(segmentId: number): FragmentRow[] {
    return this.stmts.fragmentsOf.all(segmentId).map(fragmentRow);
  }

  fragmentsIn(segmentId: number, fromPtsNs: bigint, toPtsNs: bigint): FragmentRow[] {
    return this.stmts.fragmentsIn.all(segmentId, fromPtsNs, toPtsNs).map(fragmentRow);
  }

  /**
   * The fragments a clip of [from, to) reads, by segment in time order: from the keyframe fragment
   * decoding starts at — one keyframe fragment before the last one starting at or before `from` (an
   * open GOP's leading pictures need the previous GOP), looking back at most `lookbackNs` — through
   * the fragment after the last one overlapping the window (it holds that one's last audio), across
   * segment boundaries. Indexed range queries only: bounded by the look-back, the window, one fragment.
   */
  clipFragments(fromPtsNs: bigint, toPtsNs: bigint, lookbackNs: number): Array<{ row: SegmentRow; fragments: FragmentRow[] }> {
    return this.db.transaction(() => {
      const keys = this.stmts.keyframesBefore.all({ lo: fromPtsNs - BigInt(Math.round(lookbackNs)), from: fromPtsNs });
      const lo = keys.length > 0 ? keys[keys.length - 1].start_pts_ns : fromPtsNs;
      const bySegment = new Map<number, FragmentRow[]>();
      for (const r of this.stmts.fragmentsInWindow.all({ from: lo, to: toPtsNs })) {
        const f = fragmentRowOfArray(r);
        const list = bySegment.get(f.segment_id);
        if (list) list.push(f);
        else bySegment.set(f.segment_id, [f]);
      }
      const out = this.overlapping(lo, toPtsNs)
        .map((row) => ({ row, fragments: bySegment.get(row.id) ?? [] }))
        .filter((s) => s.fragments.length > 0);
      const tail = out[out.length - 1];
      if (!tail) return out;
      const lastFragment = tail.fragments[tail.fragments.length - 1];
      const next = frag(this.stmts.fragmentAfter.get(tail.row.id, lastFragment.seq));
      if (next) {
        tail.fragments.push(next);
      } else {
        const row = seg(this.stmts.segmentAfter.get(tail.row.start_pts_ns, tail.row.id));
        const first = row && frag(this.stmts.fragmentAfter.get(row.id, -1));
        if (row && first) out.push({ row, fragments: [first] });
      }
      return out;
    })();
  }

  /** Start pts of the newest indexed fragment, or null. */
  newestFragmentStart(): bigint | null {
    return this.stmts.newestFragmentStart.get()?.start_pts_ns ?? null;
  }

  deleteSegment(id: number): void {
    this.stmts.deleteSegment.run(id);
  }

  stats(): { count: number; bytes: number; oldestStartPtsNs: bigint | null; newestStopPtsNs: bigint | null; newestStopEpochMs: number | null } {
    const r = this.stmts.stats.get()!;
    return {
      count: Number(r.count ?? 0), bytes: Number(r.bytes ?? 0), oldestStartPtsNs: r.oldest, newestStopPtsNs: r.newest,
      newestStopEpochMs: numOrNull(r.newest_epoch),
    };
  }


  lastSegment(): SegmentRow | undefined {
    return seg(this.stmts.lastSegment.get());
  }

  maxRunId(): number {
    return this.stmts.maxRun.get()?.run ?? 0;
  }

  /** Gives up to `pages` free pages back to the filesystem (an index made with incremental auto-vacuum). */
  releaseFreePages(pages = 4096): void {
    this.db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(pages))})`);
  }

  /** Rows not sealed: at start, the open segments a crash left. */
  unsealed(): SegmentRow[] {
    return this.stmts.unsealed.all().map(segmentRowOf);
  }

  /** The paths of the rows whose path starts with `prefix` (a day directory and '/'). */
  pathsUnder(prefix: string): string[] {
    return this.stmts.pathsUnder.all(prefix, `${prefix}\uffff`).map((r) => r.path);
  }

  /** Whether a row has this path (one step down the path's UNIQUE index). */
  hasPath(path: string): boolean {
    return this.stmts.hasPath.get(path) !== undefined;
  }

  /** What the background check compares with each sealed file (afterId < id <= maxId, by id: a cursor). */
  fileFactsAfterId(afterId: number, maxId: number, limit: number): Array<{ id: number; path: string; bytes: number; mtime_ms: number | null }> {
    return this.stmts.fileFactsAfterId.all(afterId, maxId, limit);
  }

  maxId(): number {
    return this.stmts.maxId.get()?.id ?? 0;
  }

  /**
   * Adds a sealed segment another node recorded (imported from the cluster's catalog: read from the
   * store, `origin` its node) with its fragments, in one transaction; false when the path is known here.
   */
  importForeign(seg: SegmentRow, fragments: FragmentRow[], origin: string): boolean {
    return this.db.transaction(() => {
      if (this.stmts.hasPath.get(seg.path)) return false;
      const id = Number(this.stmts.importSegment.run({ ...seg, origin }).lastInsertRowid);
      for (const f of fragments) this.stmts.insertFragment.run({ ...f, segment_id: id });
      return true;
    })();
  }

  /** Removes the imported rows of other nodes that start before `ptsNs` (their nodes' retention removed them). */
  dropForeignBefore(ptsNs: bigint): number {
    return this.db.transaction(() => {
      const ids = this.stmts.foreignBefore.all(ptsNs);
      for (const { id } of ids) {
        this.stmts.deleteFragments.run(id);
        this.stmts.deleteSegment.run(id);
      }
      return ids.length;
    })();
  }

  addGap(startPtsNs: bigint, stopPtsNs: bigint, reason: string): void {
    this.stmts.insertGap.run(startPtsNs, stopPtsNs, reason, Date.now());
  }

  gapsIn(fromPtsNs: bigint, toPtsNs: bigint): GapRow[] {
    return this.stmts.gapsIn.all({ from: fromPtsNs, to: toPtsNs }).map(gapRow);
  }

  gapCount(): number {
    return this.stmts.gapCount.get()?.n ?? 0;
  }
}
