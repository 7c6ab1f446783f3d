// The PostgreSQL catalog's writes of local rows (pg-mirror.ts): segments, fragments and gaps upserted
// by their natural keys (camera + path, + seq; camera + start + stop), many rows per statement. One
// statement shape serves the mirror's single changes and the first copy of an index's history.
import type pg from 'pg';
import type { FragmentRow, GapRow, SegmentRow } from './catalog.js';

/** A parameter as PostgreSQL gets it: 64-bit integers as decimal strings (exact), flags as booleans. */
export const big = (v: bigint | number | null) => (v === null ? null : typeof v === 'bigint' ? v.toString() : v);

/** Parameters per statement, well under PostgreSQL's 65,535. */
const MAX_PARAMS = 30_000;

const SEGMENT_COLUMNS = `camera, path, run_id, start_pts_ns, stop_pts_ns, start_epoch_ms, stop_epoch_ms, offset_ns,
  anchor_epoch_ms, anchor_pts_ns, bytes, init_size, fragments, frames, codec, codec_string, width, height, fps, has_audio,
  description_key, sealed, created_ms, mtime_ms, object_key, node`;
const SEGMENT_UPDATE = `ON CONFLICT (camera, path) DO UPDATE SET run_id = excluded.run_id, start_pts_ns = excluded.start_pts_ns,
  stop_pts_ns = excluded.stop_pts_ns, start_epoch_ms = excluded.start_epoch_ms, stop_epoch_ms = excluded.stop_epoch_ms,
  offset_ns = excluded.offset_ns, anchor_epoch_ms = excluded.anchor_epoch_ms, anchor_pts_ns = excluded.anchor_pts_ns,
  bytes = excluded.bytes, init_size = excluded.init_size, fragments = excluded.fragments, frames = excluded.frames,
  sealed = excluded.sealed, mtime_ms = excluded.mtime_ms, object_key = excluded.object_key, node = excluded.node`;
const FRAGMENT_COLUMNS = 'camera, path, seq, start_pts_ns, stop_pts_ns, "offset", size, moof_size, samples, keyframe, crc';
const FRAGMENT_UPDATE = `ON CONFLICT (camera, path, seq) DO UPDATE SET start_pts_ns = excluded.start_pts_ns, stop_pts_ns = excluded.stop_pts_ns,
  "offset" = excluded."offset", size = excluded.size, moof_size = excluded.moof_size, samples = excluded.samples,
  keyframe = excluded.keyframe, crc = excluded.crc`;
const GAP_COLUMNS = 'camera, start_pts_ns, stop_pts_ns, reason, created_ms';
const GAP_UPDATE = 'ON CONFLICT (camera, start_pts_ns, stop_pts_ns) DO UPDATE SET reason = excluded.reason';

type Param = string | number | boolean | null;

export async function upsertSegments(client: pg.ClientBase, camera: string, node: string, rows: readonly SegmentRow[]): Promise<void> {
  await upsert(client, 'segments', SEGMENT_COLUMNS, SEGMENT_UPDATE, rows.map((s) => [
    camera, s.path, s.run_id, big(s.start_pts_ns), big(s.stop_pts_ns), s.start_epoch_ms, s.stop_epoch_ms, big(s.offset_ns),
    s.anchor_epoch_ms, big(s.anchor_pts_ns), s.bytes, s.init_size, s.fragments, s.frames, s.codec, s.codec_string, s.width,
    s.height, s.fps, s.has_audio !== 0, s.description_key, s.sealed !== 0, s.created_ms, s.mtime_ms, s.object_key, node,
  ]));
}

/** Fragments with the path of their segment (the catalog's key for it). */
export async function upsertFragments(client: pg.ClientBase, camera: string, rows: ReadonlyArray<{ path: string; f: FragmentRow }>): Promise<void> {
  await upsert(client, 'fragments', FRAGMENT_COLUMNS, FRAGMENT_UPDATE, rows.map(({ path, f }) => [
    camera, path, big(f.seq), big(f.start_pts_ns), big(f.stop_pts_ns), big(f.offset), big(f.size), big(f.moof_size),
    big(f.samples), Number(f.keyframe) !== 0, big(f.crc),
  ]));
}

export async function upsertGaps(client: pg.ClientBase, camera: string, rows: readonly GapRow[]): Promise<void> {
  await upsert(client, 'gaps', GAP_COLUMNS, GAP_UPDATE, rows.map((g) => [camera, big(g.start_pts_ns), big(g.stop_pts_ns), g.reason, Number(g.created_ms)]));
}

/** INSERT … VALUES (…), (…) … ON CONFLICT …, as few statements as the parameter limit allows. */
async function upsert(client: pg.ClientBase, table: string, columns: string, onConflict: string, rows: Param[][]): Promise<void> {
  if (rows.length === 0) return;
  const width = rows[0].length;
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / width));
  for (let from = 0; from < rows.length; from += perStatement) {
    const part = rows.slice(from, from + perStatement);
    const values = part.map((_, i) => `(${Array.from({ length: width }, (_, k) => `$${i * width + k + 1}`).join(',')})`).join(',');
    await client.query(`INSERT INTO ${table} (${columns}) VALUES ${values} ${onConflict}`, part.flat());
  }
}
