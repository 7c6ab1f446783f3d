// The I/O half of clip writing: writes an Mp4Layout (from src/mp4/writer.ts) to a file — the head,
// then the sample bytes copied from the source segment files — and fsyncs it. The output is made in
// chunks of 4 MiB (the first of 1 MiB: the disk, which is what a clip waits for, starts sooner), each
// filled in place (the head's bytes copied, each copy range read straight from its source into its
// place, the reads of a chunk side by side) and written while the next chunk fills (three buffers: two
// writes in flight, kept for the next clip). The files are opened at once, not through the thread pool,
// and, for a clip written alone, the first chunk read at once where its bytes are at hand (local files,
// bytes fetched already): the disk starts in the same turn of the event loop as the request that asked for it.
//
// Where the filesystem takes it (ext4, XFS, btrfs, tmpfs since Linux 6.6), the output is opened
// O_DIRECT: a chunk goes from our page-aligned buffer to the disk, with neither a copy into the page
// cache nor the writeback the final fsync would otherwise wait for — measured on these machines, a
// 15.7 MB clip is written and synced in 0.89–0.96× the time of `copyFileSync` + fsync of its bytes, with
// ~40 % less CPU than buffered writes. The last chunk is written whole (block-aligned) and the file
// truncated to its size. Elsewhere (ramfs, non-Linux, a filesystem answering O_DIRECT with EINVAL at
// open or on a write, or no aligned memory to be had) the chunks are buffered writes with an fdatasync
// running beside them, so the disk writes the file back while it is being written. Either way the
// final fsync is what makes the file durable. Temp names and publishing are
// the caller's business. A source evicted to the object store is read from the bytes fetched with its
// fragments, or by ranged GETs (store/segment-source.ts).
import { closeSync, constants as fsc, fdatasync, fsync, ftruncateSync, openSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { dirname } from 'node:path';
import type { CopyRange, Mp4Layout } from '../../mp4/writer.js';
import { fetchedReader, openSegment, type FetchedBytes, type SegmentPlace, type SegmentReader, type SegmentRef } from '../store/segment-source.js';

/**
 * Size of one output chunk (a multiple of every block size O_DIRECT may ask alignment to). Large enough
 * that the write queued behind the running one outlasts a pause of the event loop (ingest's work on a
 * fragment): with 2 MiB the disk went idle more often (bench/clip, 4 MiB: ~1 ms less at the median).
 */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/**
 * Size of the first chunk: small, so the disk starts writing after a quarter of a chunk's filling
 * (the disk is what a clip waits for; the next chunk fills while this one is written).
 */
export const FIRST_CHUNK_BYTES = 1024 * 1024;
/** Alignment of O_DIRECT offsets, lengths and memory (the largest logical block size in use). */
const DIRECT_ALIGN = 4096;
/** Chunk buffers per clip being written: one filling, two being written (two threads of libuv's four). */
const BUFFERS = 3;
/**
 * Aligned buffer sets (12 MiB each) made at most, kept for the clips that follow: more clips written
 * side by side at once write buffered, from plain memory (allocated for the clip, then collected).
 */
const ALIGNED_SETS_MAX = 3;
/**
 * How long the kept sets outlive the last clip written: clips come in bursts (an event, a user's
 * exports); a producer that cuts none for a while gives their memory back (12 MiB a set).
 */
let keepBuffersMs = 10_000;
let alignedSets = 0;
const pool: Buffer[][] = [];
let releaseTimer: NodeJS.Timeout | null = null;
/** Directories whose filesystem refused O_DIRECT: buffered there from then on. */
const noDirect = new Set<string>();

/** How the output is written: straight to the disk, or through the page cache. */
export type WriteMode = 'direct' | 'buffered';

export interface WriteOptions {
  /** Where the sources are (local files and the object store), for SegmentRefs. */
  place?: SegmentPlace | null;
  /** Bytes of store sources fetched already (layoutCut's, with the fragments), by source index. */
  fetched?: ReadonlyMap<number, FetchedBytes>;
  /** Buffered writes even where O_DIRECT would work (tests compare both modes). */
  buffered?: boolean;
  /** Called once the first chunk's write is out (the clip's own bookkeeping may run while the disk works). */
  onWriting?: () => void;
  /**
   * Read the first chunk at once, on the calling thread, where its bytes are at hand (a clip someone waits
   * for alone); else through the pool like the others (with clips in flight the main thread is what is scarce).
   */
  firstChunkNow?: boolean;
}

/** One output chunk: `length` bytes at `start` in the file, made of pieces. */
export interface Chunk {
  start: number;
  length: number;
  pieces: ChunkPiece[];
}

/** One part of an output chunk: `length` bytes at `at` in it, from the head or from a source. */
export interface ChunkPiece {
  at: number;
  length: number;
  /** Index of the source in `sources`, or null for the layout's head. */
  source: number | null;
  /** Offset in the source (or in the head). */
  offset: number;
}

/**
 * Writes the layout to `outPath` and fsyncs it; says how it was written. `sources` are the segments the
 * copy ranges name by index: local file paths, or SegmentRefs (read from the store when evicted).
 */
export async function writeLayout(
  layout: Mp4Layout, sources: ReadonlyArray<SegmentRef | string>, outPath: string, opts: WriteOptions = {},
): Promise<WriteMode> {
  const sourceRefs = sources.map((s) => (typeof s === 'string' ? { abs: s, key: null, path: s } : s));
  const readers = new Map<number, SegmentReader>();
  const { buffers, aligned } = takeBuffers();
  try {
    await openSources(layout.copies, sourceRefs, opts.place ?? { segmentsDir: '', store: null }, readers, opts.fetched ?? new Map());
    const chunks = planChunks(layout);
    const dir = dirname(outPath);
    if (aligned && !opts.buffered && !noDirect.has(dir) && fsc.O_DIRECT !== undefined) {
      const done = await writeChunks('direct', layout, chunks, readers, buffers, outPath, opts);
      if (done) return 'direct';
      noDirect.add(dir);
    }
    await writeChunks('buffered', layout, chunks, readers, buffers, outPath, opts);
    return 'buffered';
  } finally {
    await closeAll(readers).catch(() => undefined);
    if (aligned) keepBuffers(buffers);
  }
}

/** Puts a set back for the next clip; the kept sets go (to the garbage collector) once none is taken for `keepBuffersMs`. */
function keepBuffers(buffers: Buffer[]): void {
  pool.push(buffers);
  if (releaseTimer) clearTimeout(releaseTimer);
  releaseTimer = setTimeout(() => {
    releaseTimer = null;
    alignedSets -= pool.length;
    pool.length = 0;
  }, keepBuffersMs);
  releaseTimer.unref();
}

/** Aligned buffer sets kept for the next clips (tests), and how long they are kept (ms) when given. */
export function keptBufferSets(keepMs?: number): number {
  if (keepMs !== undefined) keepBuffersMs = keepMs;
  return pool.length;
}

/** A set of chunk buffers: a pooled aligned one, a new aligned one while fewer than the most are made, else plain memory. */
function takeBuffers(): { buffers: Buffer[]; aligned: boolean } {
  const pooled = pool.pop();
  if (pooled) return { buffers: pooled, aligned: true };
  if (alignedSets < ALIGNED_SETS_MAX) {
    try {
      const all = alignedMemory(BUFFERS * CHUNK_BYTES);
      alignedSets++;
      return { buffers: Array.from({ length: BUFFERS }, (_, i) => all.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)), aligned: true };
    } catch {
      // No address space for it (a WebAssembly memory reserves far more than it uses; `ulimit -v`): plain memory.
    }
  }
  return { buffers: Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(CHUNK_BYTES)), aligned: false };
}

/**
 * Writes every chunk in `mode` and syncs the file. False (nothing left half done: the file is written
 * again from the start) when the filesystem refuses O_DIRECT, at open or on a write.
 */
async function writeChunks(
  mode: WriteMode, layout: Mp4Layout, chunks: Chunk[], readers: Map<number, SegmentReader>, buffers: Buffer[], outPath: string,
  { onWriting, firstChunkNow }: Pick<WriteOptions, 'onWriting' | 'firstChunkNow'>,
): Promise<boolean> {
  const direct = mode === 'direct';
  let out: OutFile;
  try {
    // Opened at once, not through the thread pool: the first chunk's write is not queued behind it.
    out = new OutFile(openSync(outPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | (direct ? fsc.O_DIRECT : 0), 0o666));
  } catch (e) {
    if (direct && (e as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw e;
  }
  // The write that last used each buffer: awaited before the buffer is filled again, and all of them
  // before the handle closes (or the buffers go back to the pool), whatever failed.
  const writes: Array<Promise<void>> = buffers.map(() => Promise.resolve());
  const flush = direct ? null : new Flusher(out);
  try {
    for (let k = 0; k < chunks.length; k++) {
      const slot = k % buffers.length;
      await writes[slot];
      const buf = buffers[slot];
      const { start, length, pieces } = chunks[k];
      // The first chunk (small), read at once where its bytes are at hand: its write goes out in the same
      // turn of the event loop as the request that asked for the clip, ahead of the answer to it.
      if (k > 0 || !firstChunkNow || !fillChunkNow(buf, pieces, layout.head, readers)) await fillChunk(buf, pieces, layout.head, readers);
      // O_DIRECT writes whole blocks: the last chunk is padded with zeros, the file truncated after.
      const padded = direct ? Math.ceil(length / DIRECT_ALIGN) * DIRECT_ALIGN : length;
      buf.fill(0, length, padded);
      flush?.kick();
      writes[slot] = writeFully(out, buf.subarray(0, padded), start);
      writes[slot].catch(() => undefined); // awaited later; a failure is not left unhandled meanwhile
      if (k === 0) onWriting?.();
    }
    for (const w of writes) await w;
    if (direct && layout.size % DIRECT_ALIGN !== 0) out.truncate(layout.size);
    // The final fsync starts at once, beside an early fdatasync still running (it writes back the last
    // chunks meanwhile instead of after it); it began after every write ended, so it covers them all.
    const settled = await Promise.allSettled([out.sync(), flush?.settle()]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    return true;
  } catch (e) {
    // A filesystem that opens O_DIRECT but refuses its writes says so with EINVAL (no other write fails so).
    if (direct && (e as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw e;
  } finally {
    // Never close the handle (nor reuse a buffer) under an in-flight write or sync.
    await Promise.allSettled(writes);
    await flush?.settle().catch(() => undefined);
    await out.close().catch(() => undefined);
  }
}

/** Fills `buf` with a chunk's pieces at once if every source has its bytes at hand; false if one has not (then fillChunk fills it all). */
function fillChunkNow(buf: Buffer, pieces: ChunkPiece[], head: Buffer, readers: Map<number, SegmentReader>): boolean {
  for (const p of pieces) {
    if (p.source === null) head.copy(buf, p.at, p.offset, p.offset + p.length);
    else if (!(readers.get(p.source) as SegmentReader).readNow(buf.subarray(p.at, p.at + p.length), p.length, p.offset)) return false;
  }
  return true;
}

/** Fills `buf` with a chunk's pieces: the head's bytes copied, the sources' read in place, side by side. */
async function fillChunk(buf: Buffer, pieces: ChunkPiece[], head: Buffer, readers: Map<number, SegmentReader>): Promise<void> {
  const reads: Array<Promise<void>> = [];
  for (const p of pieces) {
    if (p.source === null) head.copy(buf, p.at, p.offset, p.offset + p.length);
    else reads.push((readers.get(p.source) as SegmentReader).readInto(buf.subarray(p.at, p.at + p.length), p.length, p.offset));
  }
  // Every read must end before the buffer is written or reused, even when one fails.
  const settled = await Promise.allSettled(reads);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
}

/**
 * The layout's output (head, then the copy ranges in order) cut into chunks: the first of `firstBytes`,
 * the others of `chunkBytes` (the last holds what is left).
 */
export function planChunks(layout: Mp4Layout, chunkBytes = CHUNK_BYTES, firstBytes = FIRST_CHUNK_BYTES): Chunk[] {
  if (firstBytes > chunkBytes) throw new Error(`writeLayout: a first chunk of ${firstBytes} bytes does not fit a buffer of ${chunkBytes}`);
  const chunks: Chunk[] = [];
  let pos = 0;
  let room = 0;
  const add = (source: number | null, offset: number, length: number) => {
    while (length > 0) {
      if (room === 0) {
        chunks.push({ start: pos, length: 0, pieces: [] });
        room = chunks.length === 1 ? firstBytes : chunkBytes;
      }
      const chunk = chunks[chunks.length - 1];
      const take = Math.min(length, room);
      chunk.pieces.push({ at: chunk.length, length: take, source, offset });
      chunk.length += take;
      room -= take;
      pos += take;
      offset += take;
      length -= take;
    }
  };
  add(null, 0, layout.head.length);
  for (const c of layout.copies) add(c.source, c.offset, c.length);
  if (pos !== layout.size) throw new Error(`writeLayout: the layout holds ${pos} bytes, its size says ${layout.size}`);
  return chunks;
}

/** What of WebAssembly this module uses (Node has it; the TypeScript libs in use do not declare it). */
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } };

/**
 * `bytes` (rounded up to 64 KiB) of page-aligned memory, as O_DIRECT needs: a WebAssembly memory's is
 * (V8 maps it on page boundaries; a Buffer's own is not). Were it not, the filesystem would answer
 * EINVAL, and the clip be written buffered.
 */
export function alignedMemory(bytes: number): Buffer {
  return Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(bytes / 65_536) }).buffer);
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

  constructor(private readonly fh: OutFile) {}

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

/** Writes `buf` at `position`, again for what a short write left. */
async function writeFully(h: OutFile, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length;) {
    const bytesWritten = await h.write(buf, done, buf.length - done, position + done);
    if (bytesWritten === 0) throw new Error(`writeLayout: no byte written at ${position + done}`);
    done += bytesWritten;
  }
}

const writeAsync = promisify(write);
const syncAsync = promisify(fsync);
const datasyncAsync = promisify(fdatasync);

/** The output file by descriptor: writes and syncs through the thread pool, closed at once (once). */
class OutFile {
  constructor(private readonly fd: number) {}
  private closed = false;

  async write(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    return (await writeAsync(this.fd, buf, offset, length, position)).bytesWritten;
  }

  /** At once: a few blocks' worth of metadata, no round trip through the pool between the last write and the sync. */
  truncate(size: number): void {
    ftruncateSync(this.fd, size);
  }

  sync(): Promise<void> {
    return syncAsync(this.fd);
  }

  datasync(): Promise<void> {
    return datasyncAsync(this.fd);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
