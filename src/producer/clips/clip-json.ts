// A clip job on the wire (GET /clip/{id}'s and GET /clips' `clip`, the clip event): the job's window
// and, once done, its outcome — the outcome's fields null or empty until then.
import type { ClipJson } from '../../protocol/schemas.js';
import type { ClipOutcome, JobRecord } from '../store/job-store.js';

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
