// Builds the /health payload exactly as DESIGN §4 gives it (pure: the producer passes in its state).
import { ptsAdd } from '../protocol/pts.js';
import type { IngestState } from './ingest/supervisor.js';
import type { AudioStatus } from './ingest/ingest-plan.js';
import type { HealthPayload } from '../protocol/schemas.js';

export interface HealthInput {
  nowEpochMs: number;
  anchorEpochMs: number;
  anchorPtsNs: bigint;
  ingest: {
    state: IngestState; source: string; codec: string | null; width: number | null; height: number | null; fps: number | null;
    restarts: number; newestStopEpochMs: number | null; driftMs: number;
    /** The trouble recording has now (null while it records). */
    error: string | null;
    /** The newest error, kept after recovery, and when it happened (epoch ms). */
    lastError: { message: string; atMs: number | null } | null;
    audio: AudioStatus;
  };
  segments: { count: number; bytes: number; oldestStartPtsNs: bigint | null; newestStopPtsNs: bigint | null; gaps: number; openStartPtsNs: bigint | null };
  clips: { queued: number; running: number };
  store?: NonNullable<HealthPayload['store']>;
  catalog?: NonNullable<HealthPayload['catalog']>;
}

export type { HealthPayload };

export function buildHealth(h: HealthInput): HealthPayload {
  const ptsNow = ptsAdd(h.anchorPtsNs, (h.nowEpochMs - h.anchorEpochMs) * 1e6);
  const newest = h.ingest.newestStopEpochMs;
  return {
    ok: true,
    ts_ms: h.nowEpochMs,
    pts_ns: ptsNow,
    timebase: { pts_units: 'ns', pts_per_ms: 1_000_000, base_epoch_ms: h.anchorEpochMs, base_pts_ns: h.anchorPtsNs },
    ingest: {
      state: h.ingest.state,
      source: h.ingest.source,
      codec: h.ingest.codec,
      width: h.ingest.width,
      height: h.ingest.height,
      fps: h.ingest.fps,
      restarts: h.ingest.restarts,
      last_frame_age_ms: newest === null ? null : Math.max(0, Math.round(h.nowEpochMs - newest)),
      error: h.ingest.error,
      last_error: h.ingest.lastError?.message ?? null,
      last_error_at_ms: h.ingest.lastError?.atMs ?? null,
      drift_ms: Math.round(h.ingest.driftMs * 1000) / 1000,
      audio: h.ingest.audio,
    },
    segments: {
      count: h.segments.count, bytes: h.segments.bytes, oldest_start_pts_ns: h.segments.oldestStartPtsNs,
      newest_stop_pts_ns: h.segments.newestStopPtsNs, gaps: h.segments.gaps,
      open_start_pts_ns: h.segments.openStartPtsNs,
    },
    clips: h.clips,
    ...(h.store ? { store: h.store } : {}),
    ...(h.catalog ? { catalog: h.catalog } : {}),
  };
}
