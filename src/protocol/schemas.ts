// The wire contract as JSON Schemas (TypeBox): every request the producer validates and every answer it
// gives, snake_case as the spec has it. The HTTP layer validates requests with these schemas and
// generates /openapi.json from them; the Recorder, the CLI and the web page's types come from here too.
import Type, { type Static, type TSchema } from 'typebox';
import { ERROR_CODES, type ErrorCode } from './errors.js';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Int = (o: { minimum?: number; maximum?: number; description?: string } = {}) => Type.Integer(o);
/**
 * A PTS in a request (protocol/pts.ts): a JSON integer from 0 to 2^63 − 1, or a string of its digits. The
 * body parser hands integers past 2^53 over as their digits (JSON.parse would round them), so they meet
 * the string branch; `x-pts` marks the field for the query walker and the routes, which read it exactly.
 */
const PtsNs = (description: string) => Type.Unsafe<number | string>({
  anyOf: [
    { type: 'integer', minimum: 0, maximum: Number(2n ** 63n - 1n) },
    { type: 'string', pattern: '^[0-9]{1,19}$' },
  ],
  'x-pts': true, description,
});
/** A PTS in an answer: a JSON integer with all its digits (a bigint inside the producer; may pass 2^53). */
const PtsOut = (description?: string) => Type.Unsafe<number | bigint>({ type: 'integer', format: 'int64', ...(description ? { description } : {}) });

export const ErrorBody = Type.Object({
  ok: Type.Literal(false),
  message: Type.String({ description: 'What is wrong; a 400 starts with the field it names ("start_pts_ns: …").' }),
  code: Type.Unsafe<ErrorCode>({ type: 'string', enum: [...ERROR_CODES], description: 'Stable error code.' }),
}, { $id: 'ErrorBody' });
export type ErrorBody = Static<typeof ErrorBody>;

// ---- Requests --------------------------------------------------------------------------------------

/** Longest window one clip may cover (ns). */
export const MAX_CLIP_NS = 3600 * 1e9;
/** Longest a job may wait for footage that has not arrived yet (ms). */
export const MAX_WAIT_MS = 600_000;
/** The longest GET /clip/{id}?wait_ms= holds an answer (ms). */
export const WAIT_MS_CAP = 30_000;

/**
 * POST /clip. Types and ranges are checked by this schema; the rules across fields (a window is a pair,
 * PTS wins over epoch, stop after start, at most an hour, a plain .mp4 file name) by the clip request
 * parser. null counts as absent.
 */
export const ClipBody = Type.Object({
  start_pts_ns: Type.Optional(Nullable(PtsNs('Window start, producer PTS (ns).'))),
  stop_pts_ns: Type.Optional(Nullable(PtsNs('Window stop (exclusive), producer PTS (ns).'))),
  start_epoch_ms: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1e15, description: 'Window start, epoch ms (used when no PTS is given).' }))),
  stop_epoch_ms: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1e15, description: 'Window stop, epoch ms.' }))),
  label: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  out_dir: Type.Optional(Nullable(Type.String({ maxLength: 4096, description: 'A directory inside a clip root, or an s3://bucket/prefix inside an s3 clip root (the clip is then published to the object store).' }))),
  filename: Type.Optional(Nullable(Type.String({ maxLength: 200, description: 'A plain name ending in .mp4.' }))),
  max_wait_ms: Type.Optional(Nullable(Int({ minimum: 0, maximum: MAX_WAIT_MS, description: 'How long the job may wait for footage.' }))),
}, { additionalProperties: false, $id: 'ClipBody' });
export type ClipBody = Static<typeof ClipBody>;

/** Breaks between segments shorter than this (ns) are rounding within one run, not gaps (the timeline's spans). */
export const GAP_TOLERANCE_NS = 1_000_000;
/** GET /segments without a window: the footage of this long before the newest (ns). */
export const RECENT_WINDOW_NS = 24 * 3600 * 1e9;
/** GET /segments: segments per page unless `limit` says otherwise. */
export const SEGMENTS_PAGE = 1000;
/** A page cursor of GET /segments: the (start_pts_ns, id) of the oldest segment of the page before. */
export const SEGMENTS_CURSOR = '^[0-9]{1,19}:[0-9]{1,19}$';
export const SegmentsQuery = Type.Object({
  from_pts_ns: Type.Optional(PtsNs('Segments overlapping [from, to). Without from and to: the 24 h before the newest footage.')),
  to_pts_ns: Type.Optional(PtsNs('Exclusive end.')),
  limit: Type.Optional(Int({ minimum: 1, maximum: 100_000, description: `Segments per page (default ${SEGMENTS_PAGE}); a page holds the newest of the window.` })),
  cursor: Type.Optional(Type.String({ pattern: SEGMENTS_CURSOR, description: 'next_cursor of the previous page: the page of older segments.' })),
});
/** GET /recording.mp4: a window of recorded footage as an MP4 (at most MAX_CLIP_NS long), like a clip's. */
export const RecordingQuery = Type.Object({
  start_pts_ns: Type.Optional(PtsNs('Window start, producer PTS (ns).')),
  stop_pts_ns: Type.Optional(PtsNs('Window stop (exclusive), producer PTS (ns).')),
  start_epoch_ms: Type.Optional(Type.Number({ minimum: 0, maximum: 1e15, description: 'Window start, epoch ms (used when no PTS is given).' })),
  stop_epoch_ms: Type.Optional(Type.Number({ minimum: 0, maximum: 1e15, description: 'Window stop, epoch ms.' })),
  download: Type.Optional(Type.Union([Type.Literal('1'), Type.Literal('0'), Type.Literal('true'), Type.Literal('false')], { description: 'Ask the browser to save the file (Content-Disposition: attachment).' })),
});
export const ClipWaitQuery = Type.Object({
  wait_ms: Type.Optional(Int({ minimum: 0, maximum: 3_600_000, description: `Hold the answer until the job ends (at most ${WAIT_MS_CAP} ms).` })),
});
export const JOB_STATUSES = ['queued', 'running', 'done', 'error'] as const;
export const JobStatus = Type.Unsafe<(typeof JOB_STATUSES)[number]>({ type: 'string', enum: [...JOB_STATUSES] });
/** A page cursor of GET /clips: the clip id of the oldest clip of the page before. */
export const ClipsQuery = Type.Object({
  limit: Type.Optional(Int({ minimum: 1, maximum: 1000 })),
  before: Type.Optional(Type.String({ pattern: '^clip-([a-z0-9][a-z0-9_-]{0,63}-)?[0-9]{16}$', description: 'next_before of the previous page: clips older than this one.' })),
  status: Type.Optional(JobStatus),
  camera: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$', description: 'Only this camera (GET /clips across cameras).' })),
});
export const CameraParams = Type.Object({ camera: Type.String() });
export const ClipParams = Type.Object({ id: Type.String() });
export const FileParams = Type.Object({ file: Type.String() });

// ---- Answers ---------------------------------------------------------------------------------------

export const INGEST_STATES = ['starting', 'running', 'degraded', 'stalled', 'restarting', 'failed', 'stopped'] as const;
export const IngestState = Type.Unsafe<(typeof INGEST_STATES)[number]>({ type: 'string', enum: [...INGEST_STATES] });
export const AudioStatus = Type.Object({
  codec: Nullable(Type.String({ description: 'The source audio codec as ffprobe names it.' })),
  kept: Type.Boolean(),
  mode: Type.Union([Type.Literal('copy'), Type.Literal('aac'), Type.Literal('none')]),
  reason: Nullable(Type.String()),
});

export const HealthPayload = Type.Object({
  ok: Type.Literal(true),
  ts_ms: Type.Number(),
  pts_ns: PtsOut(),
  timebase: Type.Object({ pts_units: Type.Literal('ns'), pts_per_ms: Type.Number(), base_epoch_ms: Type.Number(), base_pts_ns: PtsOut() }),
  ingest: Type.Object({
    state: IngestState, source: Type.String(), codec: Nullable(Type.String()), width: Nullable(Type.Number()), height: Nullable(Type.Number()),
    fps: Nullable(Type.Number()), restarts: Type.Number(), last_frame_age_ms: Nullable(Type.Number()),
    error: Nullable(Type.String({ description: 'The current problem; null while it records.' })),
    last_error: Nullable(Type.String()), last_error_at_ms: Nullable(Type.Number()), drift_ms: Type.Number(), audio: AudioStatus,
  }),
  segments: Type.Object({
    count: Type.Number(), bytes: Type.Number(), oldest_start_pts_ns: Nullable(PtsOut()), newest_stop_pts_ns: Nullable(PtsOut()),
    gaps: Type.Number(), open_start_pts_ns: Nullable(PtsOut()),
  }),
  clips: Type.Object({ queued: Type.Number(), running: Type.Number() }),
  store: Type.Optional(Type.Object({
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')], { description: 'degraded: the object store is failing; segments stay local and queue.' }),
    location: Type.String({ description: 's3://bucket/prefix and endpoint (never credentials).' }),
    backlog_segments: Type.Number({ description: "This camera's sealed segments not yet uploaded." }),
    backlog_bytes: Type.Number(),
    oldest_pending_age_ms: Nullable(Type.Number()),
    uploaded_segments: Type.Number({ description: 'Uploaded by this process since it started (every camera).' }),
    uploaded_bytes: Type.Number(),
    evicted_segments: Type.Number(),
    queued_deletes: Type.Number({ description: 'Objects retention removed from the catalog, still to delete from the store.' }),
    last_error: Nullable(Type.String()),
    last_error_at_ms: Nullable(Type.Number()),
  }, { description: 'Present when segments are kept in an object store (--store).' })),
  catalog: Type.Optional(Type.Object({
    kind: Type.Literal('postgres'),
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')], { description: 'degraded: PostgreSQL is failing; changes queue in the local index.' }),
    location: Type.String({ description: 'The database URL without its password.' }),
    backlog: Type.Number({ description: "This camera's changes not yet applied to PostgreSQL." }),
    last_error: Nullable(Type.String()),
    last_error_at_ms: Nullable(Type.Number()),
    totals: Nullable(Type.Object({
      segments: Type.Number(), bytes: Type.Number(), gaps: Type.Number(),
      read_at_ms: Type.Number({ description: 'When they were read from PostgreSQL.' }),
    }, { description: "What PostgreSQL holds of this camera (its maintained totals, every node's footage of it): equal to `segments` once the backlog is applied. Null until first read." })),
  }, { description: 'Present when the catalog is kept in PostgreSQL (--catalog).' })),
}, { $id: 'Health' });
export type HealthPayload = Static<typeof HealthPayload>;

export const SegmentJson = Type.Object({
  id: Type.Integer(), path: Type.String(), start_pts_ns: PtsOut(), stop_pts_ns: PtsOut(), start_epoch_ms: Type.Number(),
  stop_epoch_ms: Type.Number(), duration_ms: Type.Number(), bytes: Type.Number(), frames: Type.Number(), fragments: Type.Number(),
  sealed: Type.Boolean(), codec: Type.String(), width: Type.Number(), height: Type.Number(), fps: Type.Number(), has_audio: Type.Boolean(),
}, { $id: 'Segment' });
export type SegmentJson = Static<typeof SegmentJson>;
export const GapJson = Type.Object({ start_pts_ns: PtsOut(), stop_pts_ns: PtsOut(), duration_ms: Type.Number(), reason: Type.String() });
export type GapJson = Static<typeof GapJson>;
export const SpanJson = Type.Object({
  start_pts_ns: PtsOut(), stop_pts_ns: PtsOut(), start_epoch_ms: Type.Number(), stop_epoch_ms: Type.Number(), segments: Type.Number(),
});
export type SpanJson = Static<typeof SpanJson>;
export const SegmentsAnswer = Type.Object({
  ok: Type.Literal(true), segments: Type.Array(SegmentJson), gaps: Type.Array(GapJson), spans: Type.Array(SpanJson),
  truncated: Type.Boolean({ description: 'Older segments of the window are on further pages.' }),
  next_cursor: Nullable(Type.String({ description: 'Pass as ?cursor= (same window) for the page of older segments; null on the last page.' })),
  window: Type.Object({ from_pts_ns: PtsOut(), to_pts_ns: PtsOut() }, { description: 'The window answered (the default one when none was given).' }),
});
export const ForceRotateAnswer = Type.Object({ ok: Type.Literal(true), sealed: Nullable(SegmentJson) });

export const ClipJson = Type.Object({
  clip_id: Type.String(), status: JobStatus, mode: Type.Union([Type.Literal('pts'), Type.Literal('epoch')]), label: Nullable(Type.String()),
  start_pts_ns: PtsOut(), stop_pts_ns: PtsOut(), start_epoch_ms: Nullable(Type.Number()), stop_epoch_ms: Nullable(Type.Number()),
  error: Nullable(Type.String()), created_ms: Type.Number(), updated_ms: Type.Number(),
  path: Nullable(Type.String()), actual_start_pts_ns: Nullable(PtsOut()), actual_stop_pts_ns: Nullable(PtsOut()),
  lead_in_ms: Nullable(Type.Number()), duration_ms: Nullable(Type.Number()), frames: Nullable(Type.Number()), bytes: Nullable(Type.Number()),
  segments: Type.Array(Type.String()), gaps: Type.Array(Type.Object({ start_pts_ns: PtsOut(), stop_pts_ns: PtsOut() })),
  partial: Type.Boolean(), partial_reason: Nullable(Type.String()),
  expired_ms: Type.Optional(Nullable(Type.Number({ description: 'When clip retention (clip_max_age) deleted the clip; its path is then null.' }))),
}, { $id: 'Clip' });
export type ClipJson = Static<typeof ClipJson>;
export const ClipAccepted = Type.Object({ ok: Type.Literal(true), clip_id: Type.String(), status: JobStatus, clip: ClipJson });
export const ClipAnswer = Type.Object({ ok: Type.Literal(true), clip: ClipJson, message: Nullable(Type.String()) });
export const ClipsAnswer = Type.Object({
  ok: Type.Literal(true), clips: Type.Array(Type.Intersect([ClipJson, Type.Object({ camera: Type.Optional(Type.String()) })])),
  next_before: Type.Optional(Nullable(Type.String({ description: "One camera's list: pass as ?before= for the page of older clips; null on the last page." }))),
});

export const CameraSummary = Type.Object({
  name: Type.String(), record: Type.Boolean(), default: Type.Boolean(), state: Type.String(), source: Type.String(),
  last_fragment_age_ms: Nullable(Type.Number()), error: Nullable(Type.String()),
});
export type CameraSummary = Static<typeof CameraSummary>;
export const CamerasAnswer = Type.Object({ ok: Type.Literal(true), default_camera: Type.String(), cameras: Type.Array(CameraSummary) });
export const ReloadAnswer = Type.Object({
  ok: Type.Literal(true), added: Type.Array(Type.String()), removed: Type.Array(Type.String()), restarted: Type.Array(Type.String()), unchanged: Type.Array(Type.String()),
});
export type ReloadResult = Omit<Static<typeof ReloadAnswer>, 'ok'>;

/** GET /nodes: the nodes of a cluster (from the catalog) and the cameras each leases; empty outside a cluster. */
export const NodesAnswer = Type.Object({
  ok: Type.Literal(true),
  cluster: Type.Boolean(),
  node: Type.Union([Type.String(), Type.Null()], { description: 'This node' }),
  nodes: Type.Array(Type.Object({
    node: Type.String(), url: Type.String(), live: Type.Boolean(), stopping: Type.Boolean(),
    started_at_ms: Type.Number(), heartbeat_at_ms: Type.Number(), cameras: Type.Array(Type.String()),
  })),
});
