// The record package's public surface: the Recorder, its config shims, types and errors.
export { Recorder, MAX_LONG_POLL_MS, REQUEST_GRACE_MS } from './recorder.js';
export {
  recorderConfigFromCfg, recorderConfigFromEnv, validateRecorderConfig,
  DEFAULT_PRODUCER_BASE_URL, DEFAULT_MAX_WAIT_MS, DEFAULT_POLL_INTERVAL_MS,
} from './config.js';
export { ClipError, ClipRequestError, ClipHttpError, ClipTimeoutError, ClipAbortError } from './errors.js';
export type { ClipErrorOptions } from './errors.js';
export { normalizeClipWindow, buildClipBody, prepareClip, DEFAULT_PTS_PER_MS } from './window.js';
export type { NormalizedWindow, PreparedClip } from './window.js';
export type {
  RecorderConfig, ClipRequest, ClipResult, ClipMode, RequestClipOptions, JsonObject, JsonValue, JsonPrimitive,
} from './types.js';
