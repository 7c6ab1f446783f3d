// The rows of the segment catalogue as TypeScript sees them — segments, fragments, gaps — and their
// conversion from what better-sqlite3 hands back (PTS as BigInts). The SQLite index
// (catalog.ts) reads them; the PostgreSQL catalog's reader (pg-catalog-reader.ts) returns the same rows.
export interface SegmentRow {
  id: number;
  path: string;
  run_id: number;
  start_pts_ns: bigint;
  stop_pts_ns: bigint;
  start_epoch_ms: number;
  stop_epoch_ms: number;
  offset_ns: bigint;
  anchor_epoch_ms: number;
  anchor_pts_ns: bigint;
  bytes: number;
  init_size: number;
  fragments: number;
  frames: number;
  codec: string;
  codec_string: string;
  width: number;
  height: number;
  fps: number;
  has_audio: number;
  description_key: string;
  sealed: number;
  created_ms: number;
  /** The file's mtime (ms) when it was sealed; null when unknown. */
  mtime_ms: number | null;
  /** Its key in the object store once uploaded (null: not uploaded, or no store). */
  object_key: string | null;
  /** 1 while the file is on local disk; 0 once evicted (then read from the store). */
  local: number;
  /** The node that recorded it when that is another node (imported from the cluster's catalog); null: this one. */
  origin: string | null;
}

export interface FragmentRow {
  segment_id: number;
  seq: number;
  start_pts_ns: bigint;
  stop_pts_ns: bigint;
  offset: number;
  size: number;
  moof_size: number;
  samples: number;
  keyframe: number;
  /** CRC-32 of the fragment's bytes (moof through its last mdat); null when unknown. */
  crc: number | null;
}

export interface GapRow {
  id: number;
  start_pts_ns: bigint;
  stop_pts_ns: bigint;
  reason: string;
  created_ms: number;
}

export type NewSegment = Omit<SegmentRow, 'id' | 'fragments' | 'frames' | 'sealed' | 'bytes' | 'stop_pts_ns' | 'stop_epoch_ms' | 'mtime_ms' | 'object_key' | 'local' | 'origin'> & {
  bytes: number;
};

export type Raw = Record<string, unknown>;
export const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : (v as number));
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

// Statements that read PTS columns run with better-sqlite3's safeIntegers (every INTEGER comes back as a
// bigint, exact to 2^63); these turn the columns that are not PTS back into numbers.
export function segmentRowOf(r: Raw): SegmentRow {
  return {
    ...(r as unknown as SegmentRow), id: num(r.id), run_id: num(r.run_id), bytes: num(r.bytes), init_size: num(r.init_size),
    fragments: num(r.fragments), frames: num(r.frames), width: num(r.width), height: num(r.height), has_audio: num(r.has_audio),
    sealed: num(r.sealed), fps: num(r.fps), start_epoch_ms: num(r.start_epoch_ms), stop_epoch_ms: num(r.stop_epoch_ms),
    anchor_epoch_ms: num(r.anchor_epoch_ms), created_ms: num(r.created_ms), mtime_ms: numOrNull(r.mtime_ms),
    object_key: (r.object_key as string | null | undefined) ?? null, local: r.local === undefined ? 1 : num(r.local),
    origin: (r.origin as string | null | undefined) ?? null,
  };
}

export function fragmentRow(r: Raw): FragmentRow {
  return {
    segment_id: num(r.segment_id), seq: num(r.seq), start_pts_ns: r.start_pts_ns as bigint, stop_pts_ns: r.stop_pts_ns as bigint,
    offset: num(r.offset), size: num(r.size), moof_size: num(r.moof_size), samples: num(r.samples), keyframe: num(r.keyframe), crc: numOrNull(r.crc),
  };
}

/** A fragment row's columns in the order fragmentRowOfArray reads them. */
export const FRAGMENT_COLUMNS = 'f.segment_id, f.seq, f.start_pts_ns, f.stop_pts_ns, f.offset, f.size, f.moof_size, f.samples, f.keyframe, f.crc';

export function fragmentRowOfArray(r: unknown[]): FragmentRow {
  return {
    segment_id: num(r[0]), seq: num(r[1]), start_pts_ns: r[2] as bigint, stop_pts_ns: r[3] as bigint, offset: num(r[4]), size: num(r[5]),
    moof_size: num(r[6]), samples: num(r[7]), keyframe: num(r[8]), crc: numOrNull(r[9]),
  };
}

export function gapRow(r: Raw): GapRow {
  return { id: num(r.id), start_pts_ns: r.start_pts_ns as bigint, stop_pts_ns: r.stop_pts_ns as bigint, reason: r.reason as string, created_ms: num(r.created_ms) };
}

export const seg = (r: Raw | undefined): SegmentRow | undefined => (r ? segmentRowOf(r) : undefined);
export const frag = (r: Raw | undefined): FragmentRow | undefined => (r ? fragmentRow(r) : undefined);
