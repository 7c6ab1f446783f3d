// Pure: how a batch of outbox entries (pg-outbox.ts) is applied in a few statements instead of one per
// entry. An upsert writes its row as it is when applied (read from the index then), so any two upserts
// give the same result in either order, and so do any two deletions; an upsert and a deletion do not. A
// batch is therefore cut, in journal order, into alternating runs of upserts and of deletions, and each
// run is applied as one statement per table (pg-mirror.ts): segments before their fragments.
import type { OutboxEntry } from './pg-outbox.js';

export interface UpsertRun {
  deletion: false;
  /** Segment ids, fragments (segment id, seq), gap ids, job seqs — each once, in journal order. */
  segments: bigint[];
  fragments: Array<[bigint, bigint]>;
  gaps: bigint[];
  jobs: bigint[];
}

export interface DeletionRun {
  deletion: true;
  /** Segment paths; fragments (segment path, seq); gaps (start, stop); clip ids. */
  segments: string[];
  fragments: Array<[string, bigint]>;
  gaps: Array<[bigint, bigint]>;
  jobs: string[];
}

export type OutboxRun = UpsertRun | DeletionRun;

const DELETIONS = new Set<OutboxEntry['kind']>(['seg-del', 'frag-del', 'gap-del', 'job-del']);

/** The runs of a batch, in order. */
export function outboxRuns(entries: readonly OutboxEntry[]): OutboxRun[] {
  const runs: OutboxRun[] = [];
  let seen = new Set<string>();
  for (const e of entries) {
    const deletion = DELETIONS.has(e.kind);
    let run = runs[runs.length - 1];
    if (run === undefined || run.deletion !== deletion) {
      run = deletion ? { deletion: true, segments: [], fragments: [], gaps: [], jobs: [] } : { deletion: false, segments: [], fragments: [], gaps: [], jobs: [] };
      runs.push(run);
      seen = new Set();
    }
    const key = `${e.kind}:${e.a}:${e.b}:${e.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (run.deletion) {
      if (e.kind === 'seg-del' && e.path !== null) run.segments.push(e.path);
      else if (e.kind === 'frag-del' && e.path !== null) run.fragments.push([e.path, e.b!]);
      else if (e.kind === 'gap-del') run.gaps.push([e.a!, e.b!]);
      else if (e.kind === 'job-del' && e.path !== null) run.jobs.push(e.path);
    } else if (e.kind === 'seg') run.segments.push(e.a!);
    else if (e.kind === 'frag') run.fragments.push([e.a!, e.b!]);
    else if (e.kind === 'gap') run.gaps.push(e.a!);
    else if (e.kind === 'job') run.jobs.push(e.a!);
  }
  return runs;
}

/** The rows with each key once, the last of each kept (a statement may not upsert one row twice). */
export function lastByKey<T>(rows: readonly T[], key: (row: T) => string): T[] {
  const m = new Map<string, T>();
  for (const r of rows) {
    const k = key(r);
    m.delete(k);
    m.set(k, r);
  }
  return [...m.values()];
}
