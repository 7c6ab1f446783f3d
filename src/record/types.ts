// The Recorder's public data shapes (camelCase): its configuration, a clip request, a clip result,
// and the JSON value types used for raw producer payloads.
// PTS: the Recorder takes a PTS as a number (a safe integer: exact only up to 2^53 ns, 104 days of producer
// clock) or a bigint (any size up to 2^63 − 1), and returns every PTS as a number while that is exact and as
// a bigint beyond (PtsValue). Raw answers are parsed the same way (parseWireJson): an integer past 2^53 is a
// bigint there too.
import type { PtsValue } from '../protocol/pts.js';

export type JsonPrimitive = string | number | bigint | boolean | null;
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
  /**
   * Window in producer PTS nanoseconds: a safe-integer number, or a bigint (needed past 2^53 ns, where a
   * number is no longer exact: such a number is refused). Takes precedence over the epoch window.
   */
  startPtsNs?: number | bigint;
  stopPtsNs?: number | bigint;
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
  /**
   * The normalized window as sent (PTS fields present in PTS mode and in epoch mode with a Timebase): a
   * number while exact, a bigint past 2^53.
   */
  startPtsNs?: PtsValue;
  stopPtsNs?: PtsValue;
  /**
   * The clip's actual window as the producer reports it (`actual_start_pts_ns`/`actual_stop_pts_ns`: its
   * first frame, and the end of its last), when the answer carries them: a number while exact, a bigint past 2^53.
   */
  actualStartPtsNs?: PtsValue;
  actualStopPtsNs?: PtsValue;
  /** Present in epoch mode: the widened epoch window. */
  startMs?: number;
  stopMs?: number;
  /** The last `GET /clip/{id}` answer (parsed with parseWireJson: integers past 2^53 are bigints). */
  raw: JsonObject;
}

export interface RequestClipOptions {
  /** Cancels the call; it then rejects with a ClipAbortError (`name === 'AbortError'`). */
  signal?: AbortSignal;
}
