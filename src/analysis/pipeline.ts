// The motion pipeline's wiring (the "production pattern"): frames → MotionDetector → event records →
// ClipPlanner (preroll/postroll, merging) → ClipStage (force-rotate, Recorder, retries, JSONL).
// A change of `connection` (a live-stream reconnect) is a discontinuity: the detector is flushed.
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
}

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
  const submitted: Array<Promise<void>> = [];
  const submit = (clips: PlannedClip[]): void => {
    for (const clip of clips) {
      o.onClip?.(clip);
      submitted.push(o.stage.submit(clip).then((rec) => {
        summary.records.push(rec);
        if (rec.type === 'clip') summary.clips++;
        else summary.clipErrors++;
      }));
    }
  };
  const onEvents = async (events: MotionEvent[]): Promise<void> => {
    for (const ev of events) {
      summary.events++;
      await o.stage.logEvent(ev);
      o.onEvent?.(ev);
      submit(planner.addEvent(ev));
    }
  };
  let connection: number | undefined;
  try {
    for await (const frame of o.frames) {
      summary.frames++;
      if (frame.connection !== connection) {
        if (connection !== undefined) await onEvents(detector.flush());
        connection = frame.connection;
      }
      await onEvents(detector.push(frame));
      submit(planner.advance(detector.openEventStartPtsNs ?? frame.ptsNs));
    }
  } finally {
    await onEvents(detector.flush());
    submit(planner.flush());
    await Promise.all(submitted);
    await o.stage.drain();
  }
  return summary;
}
