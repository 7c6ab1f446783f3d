// The I/O half of clip writing: writes an Mp4Layout (from src/mp4/writer.ts) to a file — the head,
// then the sample bytes copied from the source segment files — and fsyncs it. The sources are opened
// together; neighbouring copy ranges are coalesced into positional reads of up to 2 MiB, and the read
// of the next batch overlaps the write of the previous one (two buffers, kept for the next clip: fresh
// ones cost their page faults). While later batches are written, an fdatasync of what is written so
// far runs beside them, so the disk writes the file back while it is being written instead of all at
// once at the final fsync: a clip then costs what an fsynced copy of its bytes costs. The final fsync
// is what makes the file durable; the early ones only start the work sooner, and a failure of any of
// them fails the write. Temp names and publishing are the caller's business. A source evicted to the
// object store is read by ranged GETs of the same batches (store/segment-source.ts).
import { type FileHandle, open } from 'node:fs/promises';
import type { CopyRange, Mp4Layout } from '../../mp4/writer.js';
import { fetchedReader, openSegment, type FetchedBytes, type SegmentPlace, type SegmentReader, type SegmentRef } from '../store/segment-source.js';

/** Size of one read (and of each of the two buffers). */
const BATCH_BYTES = 2 * 1024 * 1024;
/** Bytes skipped between two ranges of one source that are still read in one go rather than two. */
const MAX_SKIP = 256 * 1024;
/** Buffers kept for later clips (two per clip being written; a few clips run side by side). */
const POOL_MAX = 8;
const pool: Buffer[] = [];

interface Batch {
  source: number;
  /** Source offset and length of the span read. */
  offset: number;
  length: number;
  /** The parts of the span that go to the output, relative to `offset`, in order. */
  pieces: Array<{ at: number; length: number }>;
}

/**
 * Writes the layout to `outPath` and fsyncs it. `sources` are the segments the copy ranges name by
 * index: local file paths, or SegmentRefs (read from the store when evicted, through `place`).
 */
export async function writeLayout(
  layout: Mp4Layout, sources: ReadonlyArray<SegmentRef | string>, outPath: string, place: SegmentPlace | null = null,
  fetched: ReadonlyMap<number, FetchedBytes> = new Map(),
): Promise<void> {
  const sourceRefs = sources.map((s) => (typeof s === 'string' ? { abs: s, key: null, path: s } : s));
  const readers = new Map<number, SegmentReader>();
  const buffers: Buffer[] = [];
  let out: FileHandle | null = null;
  let writing: Promise<void> = Promise.resolve();
  let flusher: Flusher | null = null;
  try {
    await openSources(layout.copies, sourceRefs, place ?? { segmentsDir: '', store: null }, readers, fetched);
    out = await open(outPath, 'w');
    const dst = out;
    const flush = new Flusher(dst);
    flusher = flush;
    // Each write is awaited before the next starts; meanwhile a failure of it must not count as unhandled.
    writing = writeFully(dst, [layout.head], 0);
    writing.catch(() => undefined);
    let outPos = layout.head.length;
    const batches = planBatches(layout.copies);
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i];
      // This buffer was last used by the write of batch i-2, which completed before batch i-1's began.
      const buf = buffers[i % 2] ?? (buffers[i % 2] = pool.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES));
      await (readers.get(batch.source) as SegmentReader).readInto(buf, batch.length, batch.offset);
      await writing;
      flush.kick();
      const at = outPos;
      const parts = batch.pieces.map((p) => buf.subarray(p.at, p.at + p.length));
      outPos += parts.reduce((n, p) => n + p.length, 0);
      writing = writeFully(dst, parts, at);
      writing.catch(() => undefined);
    }
    // Every read is done: the sources close while the last write and the syncs run.
    const closingSources = closeAll(readers);
    closingSources.catch(() => undefined); // awaited below; a failure is not left unhandled meanwhile
    await writing;
    if (outPos !== layout.size) throw new Error(`writeLayout: wrote ${outPos} bytes, layout says ${layout.size}`);
    // The final fsync starts at once, beside an early fdatasync still running (it writes back the last
    // batches meanwhile instead of after it); it began after every write ended, so it covers them all.
    const syncing = dst.sync();
    const settled = await Promise.allSettled([syncing, flush.settle()]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    out = null;
    await Promise.all([dst.close(), closingSources]);
  } catch (e) {
    // Never close a handle (nor reuse a buffer) under an in-flight write or sync.
    await writing.catch(() => undefined);
    await flusher?.settle().catch(() => undefined);
    throw e;
  } finally {
    await Promise.allSettled([closeAll(readers), out?.close()]);
    for (const b of buffers) if (pool.length < POOL_MAX) pool.push(b);
  }
}

/** Closes the handles and forgets them (so a second call closes nothing twice); the first failure rejects. */
async function closeAll(handles: Map<number, SegmentReader>): Promise<void> {
  const list = [...handles.values()];
  handles.clear();
  const closed = await Promise.allSettled(list.map((h) => h.close()));
  for (const c of closed) if (c.status === 'rejected') throw c.reason;
}

/** Opens every source the copies name, side by side; on a failure the ones opened are in `into`, for closing. */
async function openSources(
  copies: CopyRange[], refs: SegmentRef[], place: SegmentPlace, into: Map<number, SegmentReader>, fetched: ReadonlyMap<number, FetchedBytes>,
): Promise<void> {
  const ids = [...new Set(copies.map((c) => c.source))];
  for (const id of ids) if (refs[id] === undefined) throw new Error(`writeLayout: no path for source ${id}`);
  const opened = await Promise.allSettled(ids.map(async (id) => {
    const f = fetched.get(id);
    return f ? fetchedReader(f, () => openSegment(place, refs[id])) : openSegment(place, refs[id]);
  }));
  opened.forEach((o, k) => { if (o.status === 'fulfilled') into.set(ids[k], o.value); });
  for (const o of opened) if (o.status === 'rejected') throw o.reason;
}

/**
 * fdatasync of the output while it is still being written: `kick` starts one (flushing what is
 * written so far) unless one runs; `settle` waits for it and reports the first failure.
 */
class Flusher {
  private running: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;

  constructor(private readonly fh: FileHandle) {}

  kick(): void {
    if (this.running || this.failure) return;
    this.running = this.fh.datasync().then(
      () => { this.running = null; },
      (e: unknown) => { this.failure ??= { error: e }; this.running = null; },
    );
  }

  async settle(): Promise<void> {
    while (this.running) await this.running;
    if (this.failure) throw this.failure.error;
  }
}

/** Groups copy ranges into reads: same source, forward, small skips, at most `batchBytes`; splits big ranges. */
export function planBatches(copies: CopyRange[], batchBytes = BATCH_BYTES): Batch[] {
  const batches: Batch[] = [];
  let cur: Batch | null = null;
  for (const c of copies) {
    let offset = c.offset;
    let remaining = c.length;
    while (remaining > 0) {
      const end: number = cur ? cur.offset + cur.length : 0;
      if (cur && cur.source === c.source && offset >= end && offset - end <= MAX_SKIP && offset - cur.offset < batchBytes) {
        const take = Math.min(remaining, batchBytes - (offset - cur.offset));
        cur.pieces.push({ at: offset - cur.offset, length: take });
        cur.length = offset - cur.offset + take;
        offset += take;
        remaining -= take;
        continue;
      }
      const take = Math.min(remaining, batchBytes);
      cur = { source: c.source, offset, length: take, pieces: [{ at: 0, length: take }] };
      batches.push(cur);
      offset += take;
      remaining -= take;
    }
  }
  return batches;
}

/** Writes the parts one after another from `position` (one writev; another for what a short write left). */
async function writeFully(h: FileHandle, parts: Buffer[], position: number): Promise<void> {
  let rest = parts.filter((p) => p.length > 0);
  while (rest.length > 0) {
    let { bytesWritten } = await h.writev(rest, position);
    position += bytesWritten;
    while (rest.length > 0 && bytesWritten >= rest[0].length) {
      bytesWritten -= rest[0].length;
      rest = rest.slice(1);
    }
    if (bytesWritten > 0) rest = [rest[0].subarray(bytesWritten), ...rest.slice(1)];
  }
}
