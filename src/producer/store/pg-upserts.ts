// The PostgreSQL catalog's writes of local rows (pg-mirror.ts): segments, fragments and gaps upserted
// by their natural keys (camera + path, + seq; camera + start + stop), clip jobs by their id, any number
// of rows in one statement of constant text (one array per column, unnest()ed: no statement grows with
// the rows). One statement serves a run of the outbox (pg-outbox-runs.ts) and a batch of the first copy.
import type pg from 'pg';
import type { FragmentRow, GapRow, SegmentRow } from './catalog.js';
import type { JobRow } from './job-store.js';

/** A parameter as PostgreSQL gets it: 64-bit integers as decimal strings (exact), flags as booleans. */
export const big = (v: bigint | number | null) => (v === null ? null : typeof v === 'bigint' ? v.toString() : v);

/** Each table's columns as the statements write them, with their PostgreSQL types (for the arrays). */
const SEGMENT_COLUMNS: ReadonlyArray<[string, string]> = [
  ['camera', 'text'], ['path', 'text'], ['run_id', 'int8'], ['start_pts_ns', 'int8'], ['stop_pts_ns', 'int8'], ['start_epoch_ms', 'float8'],
  ['stop_epoch_ms', 'float8'], ['offset_ns', 'int8'], ['anchor_epoch_ms', 'float8'], ['anchor_pts_ns', 'int8'], ['bytes', 'int8'],
  ['init_size', 'int4'], ['fragments', 'int4'], ['frames', 'int4'], ['codec', 'text'], ['codec_string', 'text'], ['width', 'int4'],
  ['height', 'int4'], ['fps', 'float8'], ['has_audio', 'bool'], ['description_key', 'text'], ['sealed', 'bool'], ['created_ms', 'float8'],
  ['mtime_ms', 'float8'], ['object_key', 'text'], ['node', 'text'],
];
const SEGMENT_UPDATE = `ON CONFLICT (camera, path) DO UPDATE SET run_id = excluded.run_id, start_pts_ns = excluded.start_pts_ns,
  stop_pts_ns = excluded.stop_pts_ns, start_epoch_ms = excluded.start_epoch_ms, stop_epoch_ms = excluded.stop_epoch_ms,
  offset_ns = excluded.offset_ns, anchor_epoch_ms = excluded.anchor_epoch_ms, anchor_pts_ns = excluded.anchor_pts_ns,
  bytes = excluded.bytes, init_size = excluded.init_size, fragments = excluded.fragments, frames = excluded.frames,
  sealed = excluded.sealed, mtime_ms = excluded.mtime_ms, object_key = excluded.object_key, node = excluded.node`;
const FRAGMENT_COLUMNS: ReadonlyArray<[string, string]> = [
  ['camera', 'text'], ['path', 'text'], ['seq', 'int4'], ['start_pts_ns', 'int8'], ['stop_pts_ns', 'int8'], ['"offset"', 'int8'], ['size', 'int8'],
  ['moof_size', 'int4'], ['samples', 'int4'], ['keyframe', 'bool'], ['crc', 'int8'],
];
const FRAGMENT_UPDATE = `ON CONFLICT (camera, path, seq) DO UPDATE SET start_pts_ns = excluded.start_pts_ns, stop_pts_ns = excluded.stop_pts_ns,
  "offset" = excluded."offset", size = excluded.size, moof_size = excluded.moof_size, samples = excluded.samples,
  keyframe = excluded.keyframe, crc = excluded.crc`;
const GAP_COLUMNS: ReadonlyArray<[string, string]> = [
  ['camera', 'text'], ['start_pts_ns', 'int8'], ['stop_pts_ns', 'int8'], ['reason', 'text'], ['created_ms', 'float8'],
];
const GAP_UPDATE = 'ON CONFLICT (camera, start_pts_ns, stop_pts_ns) DO UPDATE SET reason = excluded.reason';

// A node's own jobs outside a cluster: claimed by it for ever (a cluster node never takes one over), and
// only its node's row is updated (a cluster's job of the same id is left as it is).
const JOB_COLUMNS: ReadonlyArray<[string, string]> = [
  ['clip_id', 'text'], ['camera', 'text'], ['status', 'text'], ['spec', 'text'], ['start_pts_ns', 'int8'], ['stop_pts_ns', 'int8'],
  ['out_dir', 'text'], ['outcome', 'text'], ['error', 'text'], ['created_ms', 'int8'], ['updated_ms', 'int8'], ['deadline_ms', 'int8'],
  ['node', 'text'], ['claim_expires_at', 'timestamptz'],
];
const JOB_UPDATE = `ON CONFLICT (clip_id) DO UPDATE SET status = excluded.status, outcome = excluded.outcome, error = excluded.error,
  updated_ms = excluded.updated_ms WHERE clip_jobs.node = excluded.node AND clip_jobs.camera = excluded.camera`;

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

export async function upsertJobs(client: pg.ClientBase, camera: string, node: string, rows: readonly JobRow[]): Promise<void> {
  await upsert(client, 'clip_jobs', JOB_COLUMNS, JOB_UPDATE, rows.map((j) => [
    j.clip_id, camera, j.status, j.spec, big(j.start_pts_ns), big(j.stop_pts_ns), j.out_dir, j.outcome, j.error,
    Math.round(Number(j.created_ms)), Math.round(Number(j.updated_ms)), Math.round(Number(j.deadline_ms)), node, 'infinity',
  ]));
}

/** INSERT … SELECT * FROM unnest(one array per column) ON CONFLICT …: one statement whatever the rows. */
async function upsert(client: pg.ClientBase, table: string, columns: ReadonlyArray<[string, string]>, onConflict: string, rows: Param[][]): Promise<void> {
  if (rows.length === 0) return;
  const arrays = columns.map((_, k) => rows.map((r) => r[k]));
  const names = columns.map(([name]) => name).join(', ');
  const unnest = columns.map(([, type], k) => `$${k + 1}::${type}[]`).join(', ');
  await client.query(`INSERT INTO ${table} (${names}) SELECT * FROM unnest(${unnest}) ${onConflict}`, arrays);
}
