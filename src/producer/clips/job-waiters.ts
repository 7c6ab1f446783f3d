// The long-polls of clip jobs (GET /clip/{id}?wait_ms=): each waits until its job ends (answered with
// the end record, the one the job's row gets), its time is up or its client goes away.
import type { JobRecord } from '../store/job-store.js';

export class JobWaiters {
  private readonly byJob = new Map<string, Set<(ended?: JobRecord) => void>>();

  /** Resolves with the job's end record when it ends within `ms`; with undefined when the time is up or `signal` aborts. */
  wait(clipId: string, ms: number, signal: AbortSignal): Promise<JobRecord | undefined> {
    return new Promise<JobRecord | undefined>((resolve) => {
      const set = this.byJob.get(clipId) ?? new Set();
      this.byJob.set(clipId, set);
      const done = (ended?: JobRecord) => {
        clearTimeout(t);
        set.delete(done);
        if (set.size === 0) this.byJob.delete(clipId);
        signal.removeEventListener('abort', onAbort);
        resolve(ended);
      };
      const onAbort = () => done();
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', onAbort, { once: true });
      set.add(done);
    });
  }

  /** Answers the job's waiters (each goes once called): with its end record, or none (they read the job again). */
  wake(clipId: string, ended?: JobRecord): void {
    const set = this.byJob.get(clipId);
    if (set) for (const w of [...set]) w(ended);
  }

  /** How many wait for the job. */
  waiting(clipId: string): number {
    return this.byJob.get(clipId)?.size ?? 0;
  }

  /** Answers every waiter, with no record (the producer is closing). */
  wakeAll(): void {
    for (const set of [...this.byJob.values()]) for (const w of [...set]) w();
  }
}
