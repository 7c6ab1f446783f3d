// Public entry of segment-recorder: the Recorder client, the Timebase and the producer.
export { Timebase, timebaseFromHealthPayload } from './common/timebase.js';
export type { TimebaseInit, PtsUnits } from './common/timebase.js';
// The wire's JSON (PTS are integers of up to 19 digits): parse answers and write requests with these.
export { parseWireJson, stringifyWireJson } from './protocol/wire-json.js';
export { PTS_MAX } from './protocol/pts.js';
export type { PtsValue } from './protocol/pts.js';
export {
  Recorder, recorderConfigFromCfg, recorderConfigFromEnv,
  ClipError, ClipRequestError, ClipHttpError, ClipTimeoutError, ClipAbortError,
  normalizeClipWindow,
} from './record/index.js';
export type {
  RecorderConfig, ClipRequest, ClipResult, ClipMode, RequestClipOptions, JsonObject, JsonValue,
} from './record/index.js';
export { Producer } from './producer/producer.js';
export { App, startApp, startProducer } from './producer/app.js';
export type { ProducerHandle, CameraSummary, ReloadResult } from './producer/app.js';
export type { ProducerOptions, ProducerOptionsInput } from './producer/options.js';
