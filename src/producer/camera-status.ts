// What a camera says about itself in /health: its ingest (state; source; codec, size and rate from the
// running ffmpeg or else the newest segment; the trouble it has now and its newest error with its time),
// its segments, its clip jobs, and the object store and catalog it uses. Read from the camera's parts;
// nothing here changes them.
import { nowEpochMs, type IngestState } from './ingest/supervisor.js';
import { buildHealth, type HealthPayload } from './health.js';
import { videoTrack } from './segments/fragment-times.js';
import type { Producer } from './producer.js';

export function cameraHealth(p: Producer): HealthPayload {
  const stats = p.index.stats();
  const last = p.index.lastSegment() ?? null;
  const run = p.writer.currentRun;
  const video = run ? videoTrack(run.init) : undefined;
  const now = nowEpochMs();
  const anchor = p.currentAnchor(now);
  return buildHealth({
    nowEpochMs: now,
    anchorEpochMs: anchor.epochMs,
    anchorPtsNs: anchor.ptsNs,
    ingest: {
      state: ingestStateOf(p), source: p.sourceForDisplay, codec: video?.codec ?? last?.codec ?? null,
      width: video?.width ?? last?.width ?? null, height: video?.height ?? last?.height ?? null,
      fps: run && run.frameDurationNs > 0 ? Math.round(1e9 / run.frameDurationNs * 1000) / 1000 : last?.fps ?? null,
      restarts: p.ingest.restarts,
      newestStopEpochMs: p.ingest.lastFragmentAtMs, driftMs: p.clock.driftMs(),
      error: currentErrorOf(p), lastError: lastErrorOf(p), audio: p.ingestPlan.audio,
    },
    segments: { ...stats, gaps: p.index.gapCount(), openStartPtsNs: p.writer.openSegment?.start_pts_ns ?? null },
    clips: p.clipEngine?.counts() ?? { queued: 0, running: 0 },
    ...(p.storeStatus ? { store: p.storeStatus() } : {}),
    ...(p.catalogStatus ? { catalog: p.catalogStatus() } : {}),
  });
}

/** The ingest state: `degraded` while ffmpeg delivers but fragments cannot be stored (disk full). */
export function ingestStateOf(p: Producer): IngestState {
  return p.ingest.state === 'running' && p.writer.storageFault ? 'degraded' : p.ingest.state;
}

/** The newest error of ingest (ffmpeg, source) or storage (segment writer), kept after recovery, with when it happened. */
function lastErrorOf(p: Producer): { message: string; atMs: number | null } | null {
  const w = p.writer.lastStorageError;
  const i = p.ingest.lastError;
  if (w && (i === null || w.atMs >= (p.ingest.lastErrorAtMs ?? 0))) return { message: w.message, atMs: w.atMs };
  return i === null ? null : { message: i, atMs: p.ingest.lastErrorAtMs };
}

/**
 * The trouble recording has now; null while it records. While ingest is not running: its newest error
 * if that came after the last fragment (why this outage began), else its state (a stall being dealt
 * with; nothing while a first start is under way). While fragments cannot be stored: the storage fault.
 */
export function currentErrorOf(p: Producer): string | null {
  const parts: string[] = [];
  const { state, lastError, lastErrorAtMs, lastFragmentAtMs } = p.ingest;
  if (state !== 'running' && state !== 'stopped') {
    if (lastError !== null && (lastFragmentAtMs === null || (lastErrorAtMs ?? 0) >= lastFragmentAtMs)) parts.push(lastError);
    else if (state !== 'starting') parts.push(`ingest is ${state}`);
  }
  const fault = p.writer.storageFault;
  if (fault) parts.push(p.writer.lastStorageError?.message ?? fault.message);
  return parts.length > 0 ? parts.join('; ') : null;
}
