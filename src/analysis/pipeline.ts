// The motion pipeline's wiring (the "production pattern"): frames → MotionDetector → event records →
// ClipPlanner (preroll/postroll, merging) → ClipStage (force-rotate, Recorder, retries, JSONL).
// A change of `connection` (a live-stream reconnect) is a discontinuity: the detector is flushed.
// When the frames come from another stream than the one clips are cut from (a camera's detect
// sub-stream), `clipTime` maps the frames' PTS to the clip stream's PTS: every completed event is mapped
// before it is logged and planned, and so is the planner's horizon, so planning, force-rotate and the
// clip requests all work in the clip stream's PTS.
// Producer PTS pass 2^53 ns (where a number stops being exact) after 104 days of a data directory's clock,
// so frames may carry their time as a number relative to a bigint base (`ptsBaseNs`, as LiveFrames does):
// the detector works on those numbers, and events are placed on the producer's PTS (base + time, exact:
// a bigint past 2^53) before they are logged and planned.
import type { ClipErrorRecord, ClipRecord, PlannedClip, PtsEvent } from './event-clips.js';
import { ClipPlanner } from './event-clips.js';
import type { ClipStage } from './clip-stage.js';
import { MotionDetector, type MotionEvent, type MotionFrame } from './motion-detector.js';
import { ptsOut, type PtsValue } from '../protocol/pts.js';

export interface MotionPipelineOptions {
  /**
   * The frames; `ptsBaseNs` (default 0): the frame's producer PTS is `ptsBaseNs + ptsNs` (it may change
   * only with `connection`).
   */
  frames: AsyncIterable<MotionFrame & { connection?: number; ptsBaseNs?: bigint }>;
  detector?: MotionDetector;
  planner?: ClipPlanner;
  stage: ClipStage;
  /** Called for every completed event (after its record was queued), on the clip stream's PTS. */
  onEvent?: (ev: PtsEvent) => void;
  /** Called when a clip window is released to the stage. */
  onClip?: (clip: PlannedClip) => void;
  /**
   * Maps a frame's `ptsNs` to the PTS of the stream clips are cut from (default: the frame's own producer
   * PTS, `ptsBaseNs + ptsNs`); NaN when it cannot be mapped (yet).
   */
  clipTime?: (framePtsNs: number) => PtsValue;
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
  /** A frame time on the clip stream's PTS (whole ns), with the base of the frames it came from. */
  const place = (ptsNs: number, base: bigint): PtsValue => {
    if (map) {
      const v = map(ptsNs);
      return typeof v === 'bigint' ? v : Math.round(v);
    }
    if (base === 0n || !Number.isFinite(ptsNs)) return ptsNs;
    return ptsOut(base + BigInt(Math.round(ptsNs)));
  };
  const toClipTime = (ev: MotionEvent, base: bigint): PtsEvent => (map || base !== 0n
    ? { ...ev, startPtsNs: place(ev.startPtsNs, base), stopPtsNs: place(ev.stopPtsNs, base) }
    : ev);
  const onEvents = async (detected: MotionEvent[], base: bigint): Promise<void> => {
    for (const ev of detected.map((e) => toClipTime(e, base))) {
      summary.events++;
      await o.stage.logEvent(ev);
      o.onEvent?.(ev);
      submit(planner.addEvent(ev));
    }
  };
  let connection: number | undefined;
  // The base of the current connection's frames (what the detector's open event and flush belong to).
  let base = 0n;
  try {
    for await (const frame of o.frames) {
      if (stageError) break;
      summary.frames++;
      const frameBase = frame.ptsBaseNs ?? 0n;
      if (frame.connection !== connection || frameBase !== base) {
        // A new connection (or base) is a discontinuity: what the detector holds ends on the old base.
        if (connection !== undefined || frameBase !== base) await onEvents(detector.flush(), base);
        connection = frame.connection;
        base = frameBase;
      }
      await onEvents(detector.push(frame), base);
      const horizon = detector.openEventStartPtsNs ?? frame.ptsNs;
      if (Number.isFinite(horizon)) submit(planner.advance(place(horizon, base)));
    }
  } finally {
    await onEvents(detector.flush(), base);
    submit(planner.flush());
    await Promise.all(inFlight);
    await o.stage.drain();
  }
  if (stageError) throw (stageError as { error: unknown }).error;
  return summary;
}
