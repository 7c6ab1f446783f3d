// Pure: what a jump in the source's timestamps inside one ingest run means for the recording. ffmpeg
// (with the setts repair in source-args: a backward step in decode time becomes a fixed forward seam)
// keeps decode times increasing, but a camera's clock can still step, and packets can be lost. Judged
// in presentation time, against the furthest presentation end recorded so far (the frontier), so that
// fragments cut mid-GOP, whose B-frames overlap the previous fragment's, are not mistaken for jumps:
// - a frame presented more than a few frame periods past the frontier, within what the wall clock
//   allows: footage is missing there — keep the source's timing and record the hole as a gap;
// - a fragment that lies wholly well before the frontier, or starts far beyond the wall time that
//   passed (a clock step): the source's timing can no longer be trusted across it — re-anchor the run on
//   the wall clock (never below the footage already recorded), start a new segment, record the seam;
// - anything smaller is the jitter of a continuous stream.
// A small forward step of the video early in a run that also carries audio is most often not lost
// footage: until the camera's first RTCP sender report, ffmpeg starts both tracks at the packets the
// PLAY answer names; the report then re-synchronises them and one track moves by the difference of the
// two encoders' latencies (a few frames; x265 here: 263 ms). It is still a stretch without pictures,
// so it stays a gap, but its reason says what it most likely is.

export type Jump = { kind: 'continuous' } | { kind: 'reanchor'; reason: string };

/** A frame further than this many frame periods past the frontier leaves a hole. */
export const JUMP_FRAMES = 3;
/** A forward step this much (ms) beyond the wall time that passed is a clock step, not lost footage. */
export const CLOCK_STEP_SLACK_MS = 2000;
/** A fragment ending this far (ns) before the frontier went back in time. */
export const BACKWARD_LIMIT_NS = 1e9;

/** Whether a fragment [startNs, stopNs) continues the run or needs re-anchoring. */
export function classifyJump(a: { frontierNs: number; startNs: number; stopNs: number; frameNs: number; wallElapsedMs: number }): Jump {
  const frame = Math.max(1, a.frameNs);
  if (a.stopNs < a.frontierNs - Math.max(BACKWARD_LIMIT_NS, 10 * frame)) {
    const ms = Math.round((a.frontierNs - a.startNs) / 1e6);
    return { kind: 'reanchor', reason: `source timestamps jumped back ${ms} ms within one ingest run; re-anchored on the wall clock` };
  }
  const ahead = a.startNs - a.frontierNs;
  if (ahead > JUMP_FRAMES * frame && ahead / 1e6 > Math.max(0, a.wallElapsedMs) + CLOCK_STEP_SLACK_MS) {
    return {
      kind: 'reanchor',
      reason: `source timestamps jumped ahead ${Math.round(ahead / 1e6)} ms while ${Math.round(a.wallElapsedMs)} ms passed; re-anchored on the wall clock`,
    };
  }
  return { kind: 'continuous' };
}

/** A camera's first sender report arrives within this much of a run's start (RTCP: every ~5 s ± 50 %). */
export const RESYNC_WINDOW_NS = 15e9;
/** A re-synchronisation moves a track by an encoder latency difference: below this. */
export const RESYNC_LIMIT_NS = 1e9;

/** Why a presentation hole is there, for its gap's reason. */
export function holeReason(h: { startNs: number; stopNs: number; runStartNs: number; hasAudio: boolean; resyncSeen: boolean }): { reason: string; resync: boolean } {
  const ms = Math.round((h.stopNs - h.startNs) / 1e6);
  if (h.hasAudio && !h.resyncSeen && h.stopNs - h.startNs < RESYNC_LIMIT_NS && h.startNs - h.runStartNs < RESYNC_WINDOW_NS) {
    return { reason: `video moved ahead ${ms} ms early in the run (most likely the camera's first RTCP sender report re-synchronising video with audio)`, resync: true };
  }
  return { reason: `source timestamps jumped ahead ${ms} ms (frames missing from the source, or its clock stepped)`, resync: false };
}

/**
 * Holes in presentation: walks the fragment's frame times (absolute ns, any order) from the frontier,
 * returning the spans where more than JUMP_FRAMES frame periods pass without a frame, and the new
 * frontier (end of the furthest frame).
 */
export function presentationHoles(frontierNs: number, pts: number[], frameNs: number): { holes: Array<{ startNs: number; stopNs: number }>; frontierNs: number } {
  const frame = Math.max(1, frameNs);
  const holes: Array<{ startNs: number; stopNs: number }> = [];
  let frontier = frontierNs;
  for (const p of [...pts].sort((x, y) => x - y)) {
    if (Number.isFinite(frontier) && frameNs > 0 && p - frontier > JUMP_FRAMES * frame) holes.push({ startNs: frontier, stopNs: p });
    frontier = Math.max(frontier, p + frame);
  }
  return { holes, frontierNs: frontier };
}
