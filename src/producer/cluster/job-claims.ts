// A cluster node's side of the shared clip jobs (pg-jobs.ts). Each camera's clip engine writes through it
// the jobs it accepts, starts and ends (an end is kept and sent again until the catalog has it: an outage
// loses no result). Every round (a fifth of the lease timeout) it renews the claims of this node's
// unfinished jobs (while it has any) and takes lapsed ones — of cameras it records, or that no node records — so a job never
// waits for a node that went away. At its first round it agrees with the catalog on the jobs its own
// index has unfinished (one another node took over meanwhile is that node's; one the catalog says is
// this node's but its index no longer has is let lapse for any node to take). At a graceful stop it lets
// its waiting jobs lapse at once. About once a minute it applies each camera's clip retention to the
// finished jobs it holds in the catalog (expired clips marked, old records deleted), as the camera's own
// index has it done to its copy.
import type { Logger } from '../../common/log.js';
import type { ClipEngine } from '../clips/engine.js';
import type { SharedJobs } from '../clips/shared-jobs.js';
import type { JobRecord } from '../store/job-store.js';
import type { PgJobs } from './pg-jobs.js';

/** Jobs taken over per round at most (each then waits for a worker like any other). */
const ADOPT_PER_ROUND = 8;
/** How often the retention of the jobs held here runs in the catalog (as clip-retention.ts's sweep). */
const CATALOG_RETENTION_MS = 60_000;
/** Rows one camera's retention changes per pass (a backlog continues at the next). */
const RETAIN_PER_PASS = 1000;

export interface ClaimsOptions {
  node: string;
  roundMs: number;
  log: Logger;
  /** Each camera's clip engine here. */
  engines: () => Map<string, ClipEngine>;
  /** The cameras this node records now. */
  held: () => string[];
}

export class JobClaims {
  /** Ends not yet in the catalog, by clip id. */
  private readonly outbox = new Map<string, { camera: string; job: JobRecord }>();
  private flushing: Promise<void> | null = null;
  private reconciled = false;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private closed = false;
  private lastError: string | null = null;
  /** Jobs taken over from other nodes, and ends here the catalog refused (another node held the job by then). */
  adopted = 0;
  superseded = 0;
  /** When the retention of the jobs held here last ran in the catalog (0: not yet). */
  private retainedAt = 0;

  constructor(private readonly jobs: PgJobs, private readonly o: ClaimsOptions) {}

  /** The port a camera's clip engine writes its jobs through. */
  sharedFor(camera: string): SharedJobs {
    return {
      node: this.o.node,
      accepted: (job) => this.jobs.accept(camera, job),
      started: (job) => { void this.jobs.started(job.clipId).catch(() => undefined); },
      finished: (job) => {
        this.outbox.set(job.clipId, { camera, job });
        void this.flush().catch(() => undefined);
      },
      lookup: (id) => this.jobs.get(id),
      recent: (limit, status, before) => this.jobs.recent(camera, limit, status, before),
    };
  }

  start(): void {
    const tick = () => {
      if (this.closed) return;
      this.round = this.runRound().catch((e: unknown) => this.noteError(e)).finally(() => {
        this.round = null;
        if (this.closed) return;
        this.timer = setTimeout(tick, this.o.roundMs);
        this.timer.unref();
      });
    };
    tick();
  }

  private noteError(e: unknown): void {
    const msg = (e as Error).message;
    if (msg !== this.lastError) this.o.log.warn('clip job round failed; retrying', { error: msg });
    this.lastError = msg;
  }

  private async runRound(): Promise<void> {
    if (!this.reconciled) {
      await this.reconcile();
      this.reconciled = true;
    }
    await this.flush();
    const engines = this.o.engines();
    // Claims to renew only while this node has jobs queued or running (a query fewer per round when idle).
    if ([...engines.values()].some((e) => { const c = e.counts(); return c.queued + c.running > 0; })) await this.jobs.renew();
    for (const a of await this.jobs.adoptLapsed(this.o.held(), [...engines.keys()], ADOPT_PER_ROUND)) {
      this.adopted++;
      this.o.log.info('clip job taken over (its node went away)', { clip_id: a.job.clipId, camera: a.camera, from_node: a.from });
      engines.get(a.camera)?.adopt(a.job);
    }
    const now = Date.now();
    if (now - this.retainedAt >= CATALOG_RETENTION_MS) {
      for (const [camera, engine] of engines) {
        const r = await this.jobs.retain(camera, { nowMs: now, ...engine.clipRetention.cutoffs(now), limit: RETAIN_PER_PASS });
        if (r.expired + r.pruned > 0) this.o.log.debug('clip retention in the catalog', { camera, expired: r.expired, pruned: r.pruned });
      }
      this.retainedAt = now;
    }
    this.lastError = null;
  }

  /** Sends the ends the catalog does not have yet (one pass at a time; what fails stays for the next). */
  private flush(): Promise<void> {
    this.flushing ??= this.sendEnds().finally(() => { this.flushing = null; });
    return this.flushing;
  }

  private async sendEnds(): Promise<void> {
    while (this.outbox.size > 0) {
      const [id, e] = this.outbox.entries().next().value!;
      if (!await this.jobs.finish(e.camera, e.job)) {
        this.superseded++;
        this.o.log.warn('clip job ended here after another node took it over; its result there stands', { clip_id: id });
      }
      if (this.outbox.get(id) === e) this.outbox.delete(id);
    }
  }

  private async reconcile(): Promise<void> {
    const engines = this.o.engines();
    const local = new Map<string, { camera: string; engine: ClipEngine; job: JobRecord }>();
    for (const [camera, engine] of engines) for (const job of engine.store.unfinished()) local.set(job.clipId, { camera, engine, job });
    const holders = await this.jobs.holders([...local.keys()]);
    for (const [id, l] of local) {
      const h = holders.get(id);
      if (!h) {
        await this.jobs.accept(l.camera, l.job);
      } else if (h.node !== this.o.node) {
        this.o.log.info('clip job taken over by another node while this one was away: left to it', { clip_id: id, node: h.node });
        l.engine.forget(id);
      }
    }
    const lost: string[] = [];
    for (const [id, h] of holders) {
      if (h.node !== this.o.node || local.has(id) || (h.status !== 'queued' && h.status !== 'running')) continue;
      const ended = engines.get(h.camera)?.get(id);
      if (ended) this.outbox.set(id, { camera: h.camera, job: ended });
      else lost.push(id);
    }
    if (lost.length > 0) this.o.log.warn('clip jobs of this node not in its index any more: left to any node', { jobs: lost.length });
    await this.jobs.letLapse(lost);
  }

  /** Graceful stop (after the cameras stopped): the last ends sent, the jobs still waiting left to the other nodes at once. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.round?.catch(() => undefined);
    await this.flush().catch(() => undefined);
    await this.jobs.letLapse(null).catch(() => undefined);
    await this.jobs.close();
  }
}
