// Public entry of segment-recorder: the Recorder client, the Timebase and the producer.
export { Timebase, timebaseFromHealthPayload } from './common/timebase.js';
export type { TimebaseInit, PtsUnits } from './common/timebase.js';
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
