// The Recorder's public data shapes (camelCase): its configuration, a clip request, a clip result,
// and the JSON value types used for raw producer payloads.

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject { [key: string]: JsonValue }

export interface RecorderConfig {
  /** Base URL of the producer, e.g. `http://127.0.0.1:8765` (a path prefix is kept). */
  producerBaseUrl: string;
  /** Sent as `out_dir` when a request gives none. */
  defaultOutDir?: string;
  /** Sent as `label` when a request gives none. */
  defaultLabel?: string;
  /** Overall budget of one `requestClip` call (POST + polling), in ms. */
  maxWaitMs: number;
  /** Pause between two status answers that were not terminal, in ms. */
  pollIntervalMs: number;
  /** Default preroll (ms) when a request gives none; 0 if unset. */
  prerollMs?: number;
  /** Default postroll (ms) when a request gives none; 0 if unset. */
  postrollMs?: number;
  /** Sent as `Authorization: Bearer <token>` on every request. */
  authToken?: string;
}

export interface ClipRequest {
  /** Window in producer PTS nanoseconds (integers). Takes precedence over the epoch window. */
  startPtsNs?: number;
  stopPtsNs?: number;
  /** Window in epoch milliseconds, used when no PTS window is given. */
  startMs?: number;
  stopMs?: number;
  label?: string;
  outDir?: string;
  filename?: string;
  prerollMs?: number;
  postrollMs?: number;
  /** Overrides the config's budget for this call; also sent to the producer as `max_wait_ms`. */
  maxWaitMs?: number;
}

export type ClipMode = 'pts' | 'epoch';

export interface ClipResult {
  jobId: string;
  status: 'done';
  mode: ClipMode;
  /** The clip's path as reported by the producer (null if it reported none). */
  path: string | null;
  /** The normalized window as sent (PTS fields present in PTS mode and in epoch mode with a Timebase). */
  startPtsNs?: number;
  stopPtsNs?: number;
  /** Present in epoch mode: the widened epoch window. */
  startMs?: number;
  stopMs?: number;
  /** The last `GET /clip/{id}` answer. */
  raw: JsonObject;
}

export interface RequestClipOptions {
  /** Cancels the call; it then rejects with a ClipAbortError (`name === 'AbortError'`). */
  signal?: AbortSignal;
}
