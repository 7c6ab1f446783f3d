// The clip service's port to a cluster's shared job table (cluster/job-claims.ts implements it over
// PostgreSQL), and the reads of a job through it: in a cluster a job may be held by another node (it was
// accepted there, or taken over from a node that went away), and the table's row is then the job's truth.
import { DomainError } from '../../protocol/errors.js';
import { abortableSleep } from '../../common/sleep.js';
import { CLIP_ID } from '../camera-names.js';
import type { JobRecord, JobStatus, JobStore } from '../store/job-store.js';

/** A job as the cluster knows it: its camera and the node holding it. */
export interface SharedJob {
  camera: string;
  node: string;
  job: JobRecord;
}

export interface SharedJobs {
  /** The node this camera's engine runs on. */
  readonly node: string;
  /** A job accepted here; awaited before it is acknowledged (rejects while the catalog is away). */
  accepted(job: JobRecord): Promise<void>;
  started(job: JobRecord): void;
  /** A job ended here (kept and sent again until the catalog has it). */
  finished(job: JobRecord): void;
  lookup(clipId: string): Promise<SharedJob | null>;
  /** The camera's newest jobs, whichever node holds them (as JobStore.recent). */
  recent(limit: number, status?: JobStatus, before?: { createdMs: number; clipId: string }): Promise<JobRecord[]>;
}

/** What the reads need of the clip engine. */
export interface JobReader {
  readonly shared: SharedJobs | null;
  readonly store: Pick<JobStore, 'recent'>;
  get(clipId: string): JobRecord | undefined;
  /** Resolves with the job as it ended, when it ended meanwhile (else undefined: get() says how it is). */
  waitTerminal(clipId: string, ms: number, signal: AbortSignal): Promise<JobRecord | undefined>;
}

const terminal = (j: JobRecord) => j.status === 'done' || j.status === 'error';
/** How often a job another node holds is read again while a client waits for it. */
const POLL_MS = 500;

/**
 * A clip job: this node's, or the cluster's row when another node holds it (`elsewhere` names that
 * node). Throws NOT_FOUND for an id no one knows.
 */
export async function findJob(engine: JobReader, id: string): Promise<{ job: JobRecord; elsewhere: string | null }> {
  if (!CLIP_ID.test(id)) throw new DomainError('NOT_FOUND', `clip_id: unknown clip ${JSON.stringify(id.slice(0, 80))}`);
  // The catalog away: this node's own record answers (as outside a cluster).
  const shared = engine.shared ? await engine.shared.lookup(id).catch(() => null) : null;
  const local = engine.get(id);
  if (shared && (shared.node !== engine.shared!.node || !local)) return { job: shared.job, elsewhere: shared.node === engine.shared!.node ? null : shared.node };
  if (!local) throw new DomainError('NOT_FOUND', `clip_id: unknown clip ${id}`);
  return { job: local, elsewhere: null };
}

/** The job once it ended, or as it is after `ms` (or when the client goes away); `found`: findJob's answer already had. */
export async function waitForJob(engine: JobReader, id: string, ms: number, signal: AbortSignal, found?: Awaited<ReturnType<typeof findJob>>): Promise<JobRecord> {
  const until = Date.now() + ms;
  for (let known = found; ; known = undefined) {
    const { job, elsewhere } = known ?? await findJob(engine, id);
    if (elsewhere === null && engine.get(id)) {
      return await engine.waitTerminal(id, until - Date.now(), signal) ?? engine.get(id)!;
    }
    if (terminal(job) || Date.now() >= until || signal.aborted) return job;
    await abortableSleep(Math.min(POLL_MS, until - Date.now()), signal);
  }
}

/** The camera's newest jobs: the cluster's (this node's own while the catalog is away), else this node's. */
export async function recentJobs(engine: JobReader, limit: number, status?: JobStatus, before?: { createdMs: number; clipId: string }): Promise<JobRecord[]> {
  const local = () => engine.store.recent(limit, status, before);
  return engine.shared ? engine.shared.recent(limit, status, before).catch(local) : local();
}
