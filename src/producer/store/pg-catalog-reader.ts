// The catalog's read queries on PostgreSQL — the second implementation of what catalog.ts answers from a
// camera's SQLite index (segments overlapping a window, a page of them, the fragments a clip reads, the
// gaps of a window, the newest footage), for a camera whose journal is another node's (issue 14: any node
// answers for any camera). Same rows, same order, same bounded range queries on (camera, start) and
// (camera, stop); PTS come back as exact bigints. Rows carry the catalog-wide id PostgreSQL gives them.
import type pg from 'pg';
import { PTS_MAX } from '../../protocol/pts.js';
import type { FragmentRow, GapRow, SegmentRow } from './catalog.js';

type Row = Record<string, unknown>;
const INT8 = 20;

/** Every BIGINT as a bigint (exact past 2^53), everything else as node-postgres parses it. */
export const exactTypes = (types: typeof pg.types) => ({
  getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === INT8 ? (v: string) => BigInt(v) : types.getTypeParser(oid, format ?? 'text')),
});

const n = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : (v as number));
const nOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : n(v));

export function segmentOf(r: Row): SegmentRow {
  return {
    id: n(r.id), path: r.path as string, run_id: n(r.run_id), start_pts_ns: r.start_pts_ns as bigint, stop_pts_ns: r.stop_pts_ns as bigint,
    start_epoch_ms: r.start_epoch_ms as number, stop_epoch_ms: r.stop_epoch_ms as number, offset_ns: r.offset_ns as bigint,
    anchor_epoch_ms: r.anchor_epoch_ms as number, anchor_pts_ns: r.anchor_pts_ns as bigint, bytes: n(r.bytes), init_size: r.init_size as number,
    fragments: r.fragments as number, frames: r.frames as number, codec: r.codec as string, codec_string: r.codec_string as string,
    width: r.width as number, height: r.height as number, fps: r.fps as number, has_audio: r.has_audio ? 1 : 0,
    description_key: r.description_key as string, sealed: r.sealed ? 1 : 0, created_ms: r.created_ms as number,
    mtime_ms: nOrNull(r.mtime_ms), object_key: (r.object_key as string | null) ?? null,
    // Another node's local disk is not ours: such a segment is read from the store.
    local: 0,
    origin: null,
  };
}

export function fragmentOf(segmentId: number, r: Row): FragmentRow {
  return {
    segment_id: segmentId, seq: r.seq as number, start_pts_ns: r.start_pts_ns as bigint, stop_pts_ns: r.stop_pts_ns as bigint,
    offset: n(r.offset), size: n(r.size), moof_size: r.moof_size as number, samples: r.samples as number, keyframe: r.keyframe ? 1 : 0,
    crc: nOrNull(r.crc),
  };
}

/** The start of the first segment ending after @from: segments overlapping [from, to) start at or after it. */
const LOWER = (from: string, to: string) => `COALESCE((SELECT start_pts_ns FROM segments WHERE camera = $1 AND stop_pts_ns > ${from}
  AND fragments > 0 ORDER BY stop_pts_ns LIMIT 1), ${to})`;

export class PgCatalogReader {
  constructor(private readonly pool: pg.Pool, private readonly types: typeof pg.types, readonly camera: string) {}

  private async rows(text: string, values: unknown[]): Promise<Row[]> {
    const v = values.map((x) => (typeof x === 'bigint' ? x.toString() : x));
    return (await this.pool.query({ text, values: [this.camera, ...v], types: exactTypes(this.types) })).rows as Row[];
  }

  async overlapping(fromPtsNs: bigint, toPtsNs: bigint): Promise<SegmentRow[]> {
    return (await this.rows(`SELECT * FROM segments WHERE camera = $1 AND start_pts_ns >= ${LOWER('$2', '$3')}
      AND start_pts_ns < $3 AND stop_pts_ns > $2 AND fragments > 0 ORDER BY start_pts_ns, id`, [fromPtsNs, toPtsNs])).map(segmentOf);
  }

  async overlappingPage(fromPtsNs: bigint, toPtsNs: bigint, limit: number, before: { startPtsNs: bigint; id: number } | null): Promise<{ rows: SegmentRow[]; more: boolean }> {
    const rows = (await this.rows(`SELECT * FROM segments WHERE camera = $1 AND start_pts_ns >= ${LOWER('$2', '$3')}
      AND start_pts_ns < $3 AND stop_pts_ns > $2 AND fragments > 0 AND (start_pts_ns, id) < ($4, $5)
      ORDER BY start_pts_ns DESC, id DESC LIMIT $6`,
    [fromPtsNs, toPtsNs, before?.startPtsNs ?? PTS_MAX, before?.id ?? Number.MAX_SAFE_INTEGER, limit + 1])).map(segmentOf);
    return { rows: rows.slice(0, limit).reverse(), more: rows.length > limit };
  }

  async fragmentsIn(seg: SegmentRow, fromPtsNs: bigint, toPtsNs: bigint): Promise<FragmentRow[]> {
    return (await this.rows(`SELECT * FROM fragments WHERE camera = $1 AND path = $2 AND stop_pts_ns > $3 AND start_pts_ns < $4 ORDER BY seq`,
      [seg.path, fromPtsNs, toPtsNs])).map((r) => fragmentOf(seg.id, r));
  }

  /** As catalog.ts clipFragments: from the keyframe decoding starts at through the fragment after the window. */
  async clipFragments(fromPtsNs: bigint, toPtsNs: bigint, lookbackNs: number): Promise<Array<{ row: SegmentRow; fragments: FragmentRow[] }>> {
    const lo0 = fromPtsNs - BigInt(Math.round(lookbackNs));
    const keys = await this.rows(`SELECT f.start_pts_ns FROM segments s JOIN fragments f ON f.camera = s.camera AND f.path = s.path
      WHERE s.camera = $1 AND s.start_pts_ns >= ${LOWER('$2', '$3::bigint + 1')} AND s.start_pts_ns <= $3 AND s.fragments > 0
        AND f.keyframe AND f.start_pts_ns >= $2 AND f.start_pts_ns <= $3 ORDER BY f.start_pts_ns DESC LIMIT 2`, [lo0, fromPtsNs]);
    const lo = keys.length > 0 ? (keys[keys.length - 1].start_pts_ns as bigint) : fromPtsNs;
    const out: Array<{ row: SegmentRow; fragments: FragmentRow[] }> = [];
    for (const row of await this.overlapping(lo, toPtsNs)) {
      const fragments = await this.fragmentsIn(row, lo, toPtsNs);
      if (fragments.length > 0) out.push({ row, fragments });
    }
    const tail = out[out.length - 1];
    if (!tail) return out;
    const last = tail.fragments[tail.fragments.length - 1];
    const next = await this.rows('SELECT * FROM fragments WHERE camera = $1 AND path = $2 AND seq > $3 ORDER BY seq LIMIT 1', [tail.row.path, last.seq]);
    if (next.length > 0) {
      tail.fragments.push(fragmentOf(tail.row.id, next[0]));
    } else {
      const seg = await this.rows(`SELECT * FROM segments WHERE camera = $1 AND (start_pts_ns, id) > ($2, $3) AND fragments > 0
        ORDER BY start_pts_ns, id LIMIT 1`, [tail.row.start_pts_ns, tail.row.id]);
      if (seg.length > 0) {
        const row = segmentOf(seg[0]);
        const first = await this.rows('SELECT * FROM fragments WHERE camera = $1 AND path = $2 ORDER BY seq LIMIT 1', [row.path]);
        if (first.length > 0) out.push({ row, fragments: [fragmentOf(row.id, first[0])] });
      }
    }
    return out;
  }

  async gapsIn(fromPtsNs: bigint, toPtsNs: bigint): Promise<GapRow[]> {
    return (await this.rows(`SELECT * FROM gaps WHERE camera = $1 AND start_pts_ns < $3 AND stop_pts_ns > $2
      AND start_pts_ns >= $2::bigint - COALESCE((SELECT MAX(stop_pts_ns - start_pts_ns) FROM gaps WHERE camera = $1), 0)
      ORDER BY start_pts_ns, id`, [fromPtsNs, toPtsNs]))
      .map((r) => ({ id: n(r.id), start_pts_ns: r.start_pts_ns as bigint, stop_pts_ns: r.stop_pts_ns as bigint, reason: r.reason as string, created_ms: r.created_ms as number }));
  }

  async firstEndingAfterEpoch(epochMs: number): Promise<SegmentRow | undefined> {
    const r = await this.rows('SELECT * FROM segments WHERE camera = $1 AND stop_epoch_ms > $2 AND fragments > 0 ORDER BY stop_epoch_ms LIMIT 1', [epochMs]);
    return r.length > 0 ? segmentOf(r[0]) : undefined;
  }

  async lastSegment(): Promise<SegmentRow | undefined> {
    const r = await this.rows('SELECT * FROM segments WHERE camera = $1 AND fragments > 0 ORDER BY stop_pts_ns DESC LIMIT 1', []);
    return r.length > 0 ? segmentOf(r[0]) : undefined;
  }
}
