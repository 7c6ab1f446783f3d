// The motion pipeline's wiring (the "production pattern"): frames → MotionDetector → event records →
// ClipPlanner (preroll/postroll, merging) → ClipStage (force-rotate, Recorder, retries, JSONL).
// A change of `connection` (a live-stream reconnect) is a discontinuity: the detector is flushed.
// When the frames come from another stream than the one clips are cut from (a camera's detect
// sub-stream), `clipTime` maps the frames' PTS to the clip stream's PTS: every completed event is mapped
// before it is logged and planned, and so is the planner's horizon, so planning, force-rotate and the
// clip requests all work in the clip stream's PTS.
import type { ClipErrorRecord, ClipRecord, PlannedClip } from './event-clips.js';
import { ClipPlanner } from './event-clips.js';
import type { ClipStage } from './clip-stage.js';
import { MotionDetector, type MotionEvent, type MotionFrame } from './motion-detector.js';

export interface MotionPipelineOptions {
  frames: AsyncIterable<MotionFrame & { connection?: number }>;
  detector?: MotionDetector;
  planner?: ClipPlanner;
  stage: ClipStage;
  /** Called for every completed event (after its record was queued). */
  onEvent?: (ev: MotionEvent) => void;
  /** Called when a clip window is released to the stage. */
  onClip?: (clip: PlannedClip) => void;
  /** Maps a frame PTS to the PTS of the stream clips are cut from (default: the same stream). */
  clipTime?: (framePtsNs: number) => number;
}

/** How many clip records the summary keeps (the newest; the JSONL log has them all). */
const MAX_RECORDS = 1000;

export interface MotionPipelineSummary {
  frames: number;
  events: number;
  clips: number;
  clipErrors: number;
  records: Array<ClipRecord | ClipErrorRecord>;
}

/** Runs until the frame source ends (or throws); then flushes everything and waits for the clips. */
export async function runMotionPipeline(o: MotionPipelineOptions): Promise<MotionPipelineSummary> {
  const detector = o.detector ?? new MotionDetector();
  const planner = o.planner ?? new ClipPlanner();
  const summary: MotionPipelineSummary = { frames: 0, events: 0, clips: 0, clipErrors: 0, records: [] };
  // Clip requests in flight; a failure of the stage itself (e.g. the JSONL log cannot be written) is kept
  // and ends the pipeline, rather than escaping as an unhandled rejection.
  const inFlight = new Set<Promise<void>>();
  let stageError: { error: unknown } | null = null;
  const submit = (clips: PlannedClip[]): void => {
    for (const clip of clips) {
      o.onClip?.(clip);
      const p: Promise<void> = o.stage.submit(clip).then((rec) => {
        summary.records.push(rec);
        if (summary.records.length > MAX_RECORDS) summary.records.shift();
        if (rec.type === 'clip') summary.clips++;
        else summary.clipErrors++;
      }, (error: unknown) => {
        stageError ??= { error };
      }).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  };
  const map = o.clipTime;
  const toClipTime = (ev: MotionEvent): MotionEvent => (map
    ? { ...ev, startPtsNs: Math.round(map(ev.startPtsNs)), stopPtsNs: Math.round(map(ev.stopPtsNs)) }
    : ev);
  const onEvents = async (detected: MotionEvent[]): Promise<void> => {
    for (const ev of detected.map(toClipTime)) {
      summary.events++;
      await o.stage.logEvent(ev);
      o.onEvent?.(ev);
      submit(planner.addEvent(ev));
    }
  };
  let connection: number | undefined;
  try {
    for await (const frame of o.frames) {
      if (stageError) break;
      summary.frames++;
      if (frame.connection !== connection) {
        if (connection !== undefined) await onEvents(detector.flush());
        connection = frame.connection;
      }
      await onEvents(detector.push(frame));
      const horizon = detector.openEventStartPtsNs ?? frame.ptsNs;
      if (Number.isFinite(horizon)) submit(planner.advance(map ? map(horizon) : horizon));
    }
  } finally {
    await onEvents(detector.flush());
    submit(planner.flush());
    await Promise.all(inFlight);
    await o.stage.drain();
  }
  if (stageError) throw (stageError as { error: unknown }).error;
  return summary;
}
