// The I/O half of clip writing: writes an Mp4Layout (from src/mp4/writer.ts) to a file — the head,
// then the sample bytes copied from the source segment files — and fsyncs it. Each source is opened
// once; neighbouring copy ranges are coalesced into positional reads of up to 8 MiB, and the read of
// the next batch overlaps the write of the previous one (two buffers), so a clip costs about what
// copying its bytes costs. Temp names and renaming are the caller's business.
import { type FileHandle, open } from 'node:fs/promises';
import type { CopyRange, Mp4Layout } from '../../mp4/writer.js';

/** Size of one read (and of each of the two buffers). */
const BATCH_BYTES = 8 * 1024 * 1024;
/** Bytes skipped between two ranges of one source that are still read in one go rather than two. */
const MAX_SKIP = 256 * 1024;

interface Batch {
  source: number;
  /** Source offset and length of the span read. */
  offset: number;
  length: number;
  /** The parts of the span that go to the output, relative to `offset`, in order. */
  pieces: Array<{ at: number; length: number }>;
}

export async function writeLayout(layout: Mp4Layout, sourcePaths: string[], outPath: string): Promise<void> {
  const sources = new Map<number, FileHandle>();
  let out: FileHandle | null = null;
  let writing: Promise<void> = Promise.resolve();
  try {
    for (const c of layout.copies) {
      if (sources.has(c.source)) continue;
      const p = sourcePaths[c.source];
      if (p === undefined) throw new Error(`writeLayout: no path for source ${c.source}`);
      sources.set(c.source, await open(p, 'r'));
    }
    out = await open(outPath, 'w');
    const dst = out;
    let outPos = 0;
    await writeFully(dst, layout.head, 0, layout.head.length, outPos);
    outPos += layout.head.length;

    const batches = planBatches(layout.copies);
    const bufSize = batches.reduce((m, b) => Math.max(m, b.length), 0);
    const buffers = [Buffer.allocUnsafe(bufSize), Buffer.allocUnsafe(batches.length > 1 ? bufSize : 0)];
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i];
      const buf = buffers[i % 2];
      // This buffer was last used by the write of batch i-2, which completed before batch i-1's began.
      await readFully(sources.get(batch.source) as FileHandle, buf, batch.length, batch.offset, sourcePaths[batch.source]);
      const len = compact(buf, batch.pieces);
      await writing;
      const at = outPos;
      outPos += len;
      writing = writeFully(dst, buf, 0, len, at);
    }
    await writing;
    if (outPos !== layout.size) throw new Error(`writeLayout: wrote ${outPos} bytes, layout says ${layout.size}`);
    await dst.sync();
    out = null;
    await dst.close();
  } catch (e) {
    await writing.catch(() => undefined); // never close a handle under an in-flight write
    throw e;
  } finally {
    const closing: Array<Promise<void>> = [...sources.values()].map((h) => h.close());
    if (out) closing.push(out.close());
    await Promise.allSettled(closing);
  }
}

/** Groups copy ranges into reads: same source, forward, small skips, at most BATCH_BYTES; splits big ranges. */
export function planBatches(copies: CopyRange[]): Batch[] {
  const batches: Batch[] = [];
  let cur: Batch | null = null;
  for (const c of copies) {
    let offset = c.offset;
    let remaining = c.length;
    while (remaining > 0) {
      const end: number = cur ? cur.offset + cur.length : 0;
      if (cur && cur.source === c.source && offset >= end && offset - end <= MAX_SKIP && offset - cur.offset < BATCH_BYTES) {
        const take = Math.min(remaining, BATCH_BYTES - (offset - cur.offset));
        cur.pieces.push({ at: offset - cur.offset, length: take });
        cur.length = offset - cur.offset + take;
        offset += take;
        remaining -= take;
        continue;
      }
      const take = Math.min(remaining, BATCH_BYTES);
      cur = { source: c.source, offset, length: take, pieces: [{ at: 0, length: take }] };
      batches.push(cur);
      offset += take;
      remaining -= take;
    }
  }
  return batches;
}

/** Moves the pieces to the front of buf, in order (they never overlap backwards); returns their total. */
function compact(buf: Buffer, pieces: Batch['pieces']): number {
  let len = 0;
  for (const p of pieces) {
    if (p.at !== len) buf.copyWithin(len, p.at, p.at + p.length);
    len += p.length;
  }
  return len;
}

async function readFully(h: FileHandle, buf: Buffer, length: number, position: number, path: string | undefined): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await h.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`source ${path ?? '?'} ends before byte ${position + length} (at ${position + done})`);
    done += bytesRead;
  }
}

async function writeFully(h: FileHandle, buf: Buffer, start: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await h.write(buf, start + done, length - done, position + done);
    done += bytesWritten;
  }
}
