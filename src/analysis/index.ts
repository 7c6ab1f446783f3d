// Public surface of the analysis side: frame reading (files, URLs, the producer's live stream, a camera's
// detect sub-stream placed on the wall clock), the motion detector, event → clip planning, the clip stage
// and the pipeline that wires them together.
export * from './ffmpeg-log.js';
export * from './frame-reader.js';
export * from './live-frames.js';
export * from './detect-stream.js';
export * from './motion-detector.js';
export * from './event-clips.js';
export * from './clip-stage.js';
export * from './pipeline.js';
