// The SQLite side of the PostgreSQL catalog: a camera's local index stays the journal every write goes to
// first (recording never waits for the network, and a catalog outage loses nothing), and while the
// producer runs with --catalog postgres://… triggers record each change to segments, fragments and gaps
// in `pg_outbox` (migration 10), in the same transaction as the change. pg-mirror.ts applies them to
// PostgreSQL in order and then forgets them. Enabling the mirror on an index that had none (or had it
// switched off meanwhile) first queues every row, so PostgreSQL ends up holding all of it.
import type Database from 'better-sqlite3';
import { segmentRowOf, type FragmentRow, type GapRow, type SegmentRow } from './catalog.js';

export interface OutboxEntry {
  seq: number;
  kind: 'seg' | 'seg-del' | 'frag' | 'frag-del' | 'gap' | 'gap-del';
  a: bigint | null;
  b: bigint | null;
  path: string | null;
}

// Rows imported from the catalog (segments.origin: another node's footage) are the catalog's already.
const OWN_SEGMENT = (id: string) => `(SELECT origin FROM segments WHERE id = ${id}) IS NULL`;
const TRIGGERS = `
CREATE TRIGGER pg_outbox_seg_ins AFTER INSERT ON segments WHEN NEW.origin IS NULL BEGIN
  INSERT INTO pg_outbox(kind, a) VALUES ('seg', NEW.id); END;
CREATE TRIGGER pg_outbox_seg_upd AFTER UPDATE ON segments WHEN NEW.origin IS NULL BEGIN
  INSERT INTO pg_outbox(kind, a) VALUES ('seg', NEW.id); END;
CREATE TRIGGER pg_outbox_seg_del AFTER DELETE ON segments WHEN OLD.origin IS NULL BEGIN
  INSERT INTO pg_outbox(kind, path) VALUES ('seg-del', OLD.path); END;
CREATE TRIGGER pg_outbox_frag_ins AFTER INSERT ON fragments WHEN ${OWN_SEGMENT('NEW.segment_id')} BEGIN
  INSERT INTO pg_outbox(kind, a, b) VALUES ('frag', NEW.segment_id, NEW.seq); END;
CREATE TRIGGER pg_outbox_frag_del AFTER DELETE ON fragments WHEN ${OWN_SEGMENT('OLD.segment_id')} BEGIN
  INSERT INTO pg_outbox(kind, a, b, path) VALUES ('frag-del', OLD.segment_id, OLD.seq, (SELECT path FROM segments WHERE id = OLD.segment_id)); END;
CREATE TRIGGER pg_outbox_gap_ins AFTER INSERT ON gaps BEGIN
  INSERT INTO pg_outbox(kind, a) VALUES ('gap', NEW.id); END;
CREATE TRIGGER pg_outbox_gap_del AFTER DELETE ON gaps BEGIN
  INSERT INTO pg_outbox(kind, a, b) VALUES ('gap-del', OLD.start_pts_ns, OLD.stop_pts_ns); END;
`;
const TRIGGER_NAMES = ['seg_ins', 'seg_upd', 'seg_del', 'frag_ins', 'frag_del', 'gap_ins', 'gap_del'].map((n) => `pg_outbox_${n}`);

/** Meta key: the catalog the outbox feeds ('' or absent: none). */
const MIRROR_META = 'pg_mirror';

export class PgOutbox {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      batch: db.prepare<[number, number], OutboxEntry>('SELECT seq, kind, a, b, path FROM pg_outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      forget: db.prepare('DELETE FROM pg_outbox WHERE seq <= ?'),
      count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM pg_outbox'),
      segment: db.prepare<[bigint], Record<string, unknown>>('SELECT * FROM segments WHERE id = ?'),
      fragment: db.prepare<[bigint, bigint], FragmentRow>('SELECT * FROM fragments WHERE segment_id = ? AND seq = ?'),
      gap: db.prepare<[bigint], GapRow>('SELECT * FROM gaps WHERE id = ?'),
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    };
    for (const k of ['batch', 'segment', 'fragment', 'gap'] as const) this.stmts[k].safeIntegers(true);
  }

  /**
   * Starts recording changes for the catalog named `target` (a description without secrets). When the
   * outbox did not feed that catalog before, every row is queued first (one transaction): PostgreSQL then
   * receives the whole index, not only what changes from now on. Returns how many rows were queued so.
   */
  enable(target: string): number {
    return this.db.transaction(() => {
      const was = this.stmts.getMeta.get(MIRROR_META)?.value ?? '';
      // Dropped and created again: an index from an older segrec has older trigger bodies.
      for (const t of TRIGGER_NAMES) this.db.exec(`DROP TRIGGER IF EXISTS ${t}`);
      this.db.exec(TRIGGERS);
      if (was === target) return 0;
      this.db.exec('DELETE FROM pg_outbox');
      const n = this.db.prepare("INSERT INTO pg_outbox(kind, a) SELECT 'seg', id FROM segments WHERE origin IS NULL ORDER BY id").run().changes
        + this.db.prepare(`INSERT INTO pg_outbox(kind, a, b) SELECT 'frag', f.segment_id, f.seq FROM fragments f JOIN segments s ON s.id = f.segment_id
            WHERE s.origin IS NULL ORDER BY f.segment_id, f.seq`).run().changes
        + this.db.prepare("INSERT INTO pg_outbox(kind, a) SELECT 'gap', id FROM gaps ORDER BY id").run().changes;
      this.stmts.setMeta.run(MIRROR_META, target);
      return n;
    })();
  }

  /** Stops recording changes (a producer without a catalog): a later enable() queues everything again. */
  disable(): void {
    this.db.transaction(() => {
      for (const t of TRIGGER_NAMES) this.db.exec(`DROP TRIGGER IF EXISTS ${t}`);
      this.db.exec('DELETE FROM pg_outbox');
      this.stmts.setMeta.run(MIRROR_META, '');
    })();
  }

  /** Whether an index has ever fed a catalog (its triggers may exist): cheap to check at every start. */
  get enabledFor(): string {
    return this.stmts.getMeta.get(MIRROR_META)?.value ?? '';
  }

  batch(afterSeq: number, limit: number): OutboxEntry[] {
    return this.stmts.batch.all(afterSeq, limit).map((e) => ({ ...e, seq: Number(e.seq) }));
  }

  forget(throughSeq: number): void {
    this.stmts.forget.run(throughSeq);
  }

  count(): number {
    return this.stmts.count.get()?.n ?? 0;
  }

  segment(id: bigint): SegmentRow | undefined {
    const r = this.stmts.segment.get(id);
    return r ? segmentRowOf(r) : undefined;
  }

  fragment(segmentId: bigint, seq: bigint): FragmentRow | undefined {
    return this.stmts.fragment.get(segmentId, seq);
  }

  gap(id: bigint): GapRow | undefined {
    return this.stmts.gap.get(id);
  }
}
