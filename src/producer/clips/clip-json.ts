// A clip job on the wire (GET /clip/{id}'s and GET /clips' `clip`, the clip event): the job's window
// and, once done, its outcome — the outcome's fields null or empty until then; what its sidecar says of
// the request, and the outcome a finished assembly gives.
import type { ClipJson } from '../../protocol/schemas.js';
import { ptsAdd } from '../../protocol/pts.js';
import type { ClipOutcome, JobRecord } from '../store/job-store.js';
import type { AssemblyResult } from './assemble.js';

const NO_OUTCOME: Omit<ClipOutcome, 'audio'> = {
  path: null, actual_start_pts_ns: null, actual_stop_pts_ns: null, lead_in_ms: null, duration_ms: null, frames: null,
  bytes: null, segments: [], gaps: [], partial: false, partial_reason: null,
};

export function clipJson(j: JobRecord): ClipJson {
  const { audio: _audio, ...outcome } = j.outcome ?? { ...NO_OUTCOME, audio: false };
  return {
    clip_id: j.clipId, status: j.status, mode: j.spec.mode, label: j.spec.label, start_pts_ns: j.startPtsNs,
    stop_pts_ns: j.stopPtsNs, start_epoch_ms: j.spec.startEpochMs ?? null, stop_epoch_ms: j.spec.stopEpochMs ?? null,
    ...outcome, error: j.error, created_ms: j.createdMs, updated_ms: j.updatedMs,
  };
}

/** The job's part of its clip's sidecar (assemble.ts adds what the cut made): the request as given, the window, the source. */
export function sidecarFields(job: JobRecord, source: string): Record<string, unknown> {
  const s = job.spec;
  return {
    clip_id: job.clipId, label: s.label, mode: s.mode,
    request: {
      start_pts_ns: s.startPtsNs ?? null, stop_pts_ns: s.stopPtsNs ?? null, start_epoch_ms: s.startEpochMs ?? null, stop_epoch_ms: s.stopEpochMs ?? null,
      filename: s.filename, out_dir: s.outDir, max_wait_ms: s.maxWaitMs,
    },
    start_pts_ns: job.startPtsNs, stop_pts_ns: job.stopPtsNs, created_ms: job.createdMs, source,
  };
}

/** A done job's outcome: the plan's times (ns from the window's start) made absolute; `partial` the planner's, as the sidecar has it. */
export function clipOutcome(job: JobRecord, result: Pick<AssemblyResult, 'path' | 'bytes' | 'plan' | 'segmentPaths'>): ClipOutcome {
  const plan = result.plan;
  const at = (ns: number) => ptsAdd(job.startPtsNs, ns);
  return {
    path: result.path, actual_start_pts_ns: at(plan.actualStartNs), actual_stop_pts_ns: at(plan.actualStopNs),
    lead_in_ms: plan.leadInNs / 1e6, duration_ms: plan.durationNs / 1e6, frames: plan.frames, bytes: result.bytes, segments: result.segmentPaths,
    gaps: plan.gaps.map((g) => ({ start_pts_ns: at(g.startNs), stop_pts_ns: at(g.stopNs) })),
    partial: plan.partial, partial_reason: plan.partialReason,
    audio: plan.tracks.some((t) => t.info.kind === 'audio'),
  };
}
