// The SQLite side of the PostgreSQL catalog: a camera's local index stays the journal every write goes to
// first (recording never waits for the network, and a catalog outage loses nothing), and while the
// producer runs with --catalog postgres://… triggers record each change to segments, fragments and gaps
// in `pg_outbox` (migration 10), in the same transaction as the change. pg-mirror.ts applies them to
// PostgreSQL in order and then forgets them. Enabling the mirror on an index that had none (or had it
// switched off meanwhile) starts a first copy of the rows already there: the mirror sends them in
// batches, by id, from the tables themselves (a cursor in `meta`), before it applies the outbox — so
// enabling costs the same at any history size, and PostgreSQL ends up holding all of it. Outside a
// cluster the camera's clip jobs are journalled the same way (`clip_jobs`, with their own first copy); in
// a cluster they are the cluster's (cluster/pg-jobs.ts writes them) and are left out here.
import type Database from 'better-sqlite3';
import { segmentRowOf, type FragmentRow, type GapRow, type SegmentRow } from './catalog.js';
import type { JobRow } from './job-store.js';

export interface OutboxEntry {
  seq: number;
  kind: 'seg' | 'seg-del' | 'frag' | 'frag-del' | 'gap' | 'gap-del' | 'job' | 'job-del';
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
const JOB_TRIGGERS = `
CREATE TRIGGER pg_outbox_job_ins AFTER INSERT ON jobs BEGIN
  INSERT INTO pg_outbox(kind, a) VALUES ('job', NEW.seq); END;
CREATE TRIGGER pg_outbox_job_upd AFTER UPDATE ON jobs BEGIN
  INSERT INTO pg_outbox(kind, a) VALUES ('job', NEW.seq); END;
CREATE TRIGGER pg_outbox_job_del AFTER DELETE ON jobs BEGIN
  INSERT INTO pg_outbox(kind, path) VALUES ('job-del', OLD.clip_id); END;
`;
const TRIGGER_NAMES = ['seg_ins', 'seg_upd', 'seg_del', 'frag_ins', 'frag_del', 'gap_ins', 'gap_del', 'job_ins', 'job_upd', 'job_del']
  .map((n) => `pg_outbox_${n}`);

/** Meta key: the catalog the outbox feeds ('' or absent: none). */
const MIRROR_META = 'pg_mirror';
/** Meta key: how far the first copy of the index has come ("segment id:gap id" sent); absent once it is done. */
const COPY_META = 'pg_first_copy';
/** Meta keys: the catalog the jobs are journalled for ('' or absent: none), and their first copy's cursor (the last seq sent). */
const JOBS_META = 'pg_mirror_jobs';
const JOBS_COPY_META = 'pg_first_copy_jobs';

/** Where the first copy of an index stands: the last segment and gap ids sent. */
export interface CopyCursor {
  segmentId: number;
  gapId: number;
}

export class PgOutbox {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      batch: db.prepare<[number, number], OutboxEntry>('SELECT seq, kind, a, b, path FROM pg_outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      forget: db.prepare('DELETE FROM pg_outbox WHERE seq <= ?'),
      // Sequences are consecutive (forget() removes a prefix): the count without a scan of a long backlog.
      count: db.prepare<[], { n: number | null }>('SELECT (SELECT MAX(seq) FROM pg_outbox) - (SELECT MIN(seq) FROM pg_outbox) + 1 AS n'),
      copySegments: db.prepare<[number, number], Record<string, unknown>>('SELECT * FROM segments WHERE id > ? AND origin IS NULL ORDER BY id LIMIT ?'),
      copyFragments: db.prepare<[number, number], FragmentRow>('SELECT * FROM fragments WHERE segment_id >= ? AND segment_id <= ? ORDER BY segment_id, seq'),
      copyGaps: db.prepare<[number, number], GapRow>('SELECT * FROM gaps WHERE id > ? ORDER BY id LIMIT ?'),
      copyJobs: db.prepare<[number, number], JobRow>('SELECT * FROM jobs WHERE seq > ? ORDER BY seq LIMIT ?'),
      maxIds: db.prepare<[], { seg: number | null; gap: number | null; job: number | null }>(
        'SELECT (SELECT MAX(id) FROM segments) AS seg, (SELECT MAX(id) FROM gaps) AS gap, (SELECT MAX(seq) FROM jobs) AS job'),
      deleteMeta: db.prepare('DELETE FROM meta WHERE key = ?'),
      segment: db.prepare<[bigint], Record<string, unknown>>('SELECT * FROM segments WHERE id = ?'),
      fragment: db.prepare<[bigint, bigint], FragmentRow>('SELECT * FROM fragments WHERE segment_id = ? AND seq = ?'),
      gap: db.prepare<[bigint], GapRow>('SELECT * FROM gaps WHERE id = ?'),
      job: db.prepare<[bigint], JobRow>('SELECT * FROM jobs WHERE seq = ?'),
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    };
    for (const k of ['batch', 'segment', 'fragment', 'gap', 'job', 'copySegments', 'copyFragments', 'copyGaps', 'copyJobs'] as const) this.stmts[k].safeIntegers(true);
  }

  /**
   * Starts recording changes for the catalog named `target` (a description without secrets). When the
   * outbox did not feed that catalog before, a first copy of every row already there is started (the
   * mirror sends it before the outbox: copyCursor()). With `jobs` the clip jobs are journalled too (their
   * first copy likewise, when they were not before). Returns whether a first copy was started. The same
   * cost at any size.
   */
  enable(target: string, jobs: boolean): boolean {
    return this.db.transaction(() => {
      const was = this.stmts.getMeta.get(MIRROR_META)?.value ?? '';
      const jobsWere = this.stmts.getMeta.get(JOBS_META)?.value ?? '';
      // Dropped and created again: an index from an older segrec has older trigger bodies.
      for (const t of TRIGGER_NAMES) this.db.exec(`DROP TRIGGER IF EXISTS ${t}`);
      this.db.exec(TRIGGERS);
      if (jobs) this.db.exec(JOB_TRIGGERS);
      if (was !== target) {
        // Everything is sent again from the tables: what was queued for another catalog is not needed.
        this.db.exec('DELETE FROM pg_outbox');
        this.stmts.setMeta.run(COPY_META, '0:0');
        this.stmts.setMeta.run(MIRROR_META, target);
      }
      const jobsTarget = jobs ? target : '';
      if (jobsWere !== jobsTarget || was !== target) {
        if (jobs) this.stmts.setMeta.run(JOBS_COPY_META, '0');
        else {
          // Now a cluster's (cluster/pg-jobs.ts): what was journalled for them is not applied.
          this.stmts.deleteMeta.run(JOBS_COPY_META);
          this.db.exec("DELETE FROM pg_outbox WHERE kind IN ('job', 'job-del')");
        }
        this.stmts.setMeta.run(JOBS_META, jobsTarget);
      }
      return was !== target || (jobs && jobsWere !== jobsTarget);
    })();
  }

  /** Stops recording changes (a producer without a catalog): a later enable() copies everything again. */
  disable(): void {
    this.db.transaction(() => {
      for (const t of TRIGGER_NAMES) this.db.exec(`DROP TRIGGER IF EXISTS ${t}`);
      this.db.exec('DELETE FROM pg_outbox');
      this.stmts.setMeta.run(MIRROR_META, '');
      this.stmts.setMeta.run(JOBS_META, '');
      this.stmts.deleteMeta.run(COPY_META);
      this.stmts.deleteMeta.run(JOBS_COPY_META);
    })();
  }

  /** Where the first copy stands; null when there is none to make (done, or never started). */
  copyCursor(): CopyCursor | null {
    const v = this.stmts.getMeta.get(COPY_META)?.value;
    if (v === undefined) return null;
    const [seg, gap] = v.split(':').map(Number);
    return { segmentId: seg || 0, gapId: gap || 0 };
  }

  /** Records how far the first copy came (null: it is done). */
  setCopyCursor(c: CopyCursor | null): void {
    if (c === null) this.stmts.deleteMeta.run(COPY_META);
    else this.stmts.setMeta.run(COPY_META, `${c.segmentId}:${c.gapId}`);
  }

  /** The next segments of the first copy (this node's own, by id) with their fragments. */
  copySegments(afterId: number, limit: number): Array<{ row: SegmentRow; fragments: FragmentRow[] }> {
    const rows = this.stmts.copySegments.all(afterId, limit).map(segmentRowOf);
    if (rows.length === 0) return [];
    const byId = new Map(rows.map((r) => [Number(r.id), { row: r, fragments: [] as FragmentRow[] }]));
    for (const f of this.stmts.copyFragments.all(Number(rows[0].id), Number(rows[rows.length - 1].id))) byId.get(Number(f.segment_id))?.fragments.push(f);
    return [...byId.values()];
  }

  copyGaps(afterId: number, limit: number): GapRow[] {
    return this.stmts.copyGaps.all(afterId, limit);
  }

  /** Where the first copy of the jobs stands (the last seq sent); null when there is none to make. */
  jobsCopyCursor(): number | null {
    const v = this.stmts.getMeta.get(JOBS_COPY_META)?.value;
    return v === undefined ? null : Number(v) || 0;
  }

  setJobsCopyCursor(seq: number | null): void {
    if (seq === null) this.stmts.deleteMeta.run(JOBS_COPY_META);
    else this.stmts.setMeta.run(JOBS_COPY_META, String(seq));
  }

  copyJobs(afterSeq: number, limit: number): JobRow[] {
    return this.stmts.copyJobs.all(afterSeq, limit);
  }

  /** Rows the first copies have still to send, at most (ids above their cursors; 0 when there are none). */
  copyLeft(): number {
    const c = this.copyCursor();
    const j = this.jobsCopyCursor();
    if (!c && j === null) return 0;
    const m = this.stmts.maxIds.get()!;
    return (c ? Math.max(0, Number(m.seg ?? 0) - c.segmentId) + Math.max(0, Number(m.gap ?? 0) - c.gapId) : 0)
      + (j !== null ? Math.max(0, Number(m.job ?? 0) - j) : 0);
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
    return Number(this.stmts.count.get()?.n ?? 0);
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

  job(seq: bigint): JobRow | undefined {
    return this.stmts.job.get(seq);
  }
}
