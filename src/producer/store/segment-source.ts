// Where a segment's bytes are read from: its local file while it is on disk, else the object store by
// ranged GETs (after its local copy was evicted). Clips (write-layout.ts), recordings (recording-view.ts)
// and the cut's reads of inits and moofs (cut-layout.ts) open segments through this, never a path.
import { closeSync, openSync, read, readSync } from 'node:fs';
import type { SegmentRow } from './catalog.js';
import type { ObjectStore } from './object-store.js';
import { StoreError } from './object-store.js';
import { segmentAbsPath } from '../segments/paths.js';

/** A segment as the read path names it: its local file, or its object once only the store has it. */
export interface SegmentRef {
  /** Absolute path of the local file (meaningful while `local`). */
  abs: string;
  /** The object's key when the file is not local. */
  key: string | null;
  /** Relative path, as the catalog has it (for messages). */
  path: string;
}

/** What the read path needs to find segments: the local directory and the store, if any. */
export interface SegmentPlace {
  segmentsDir: string;
  store: ObjectStore | null;
  /** Told when a reader finds a sealed segment's file changed since sealing (its camera verifies it at once). */
  changedSealed?: (rowId: number) => void;
}

export function segmentRef(place: SegmentPlace, row: Pick<SegmentRow, 'path' | 'local' | 'object_key'>): SegmentRef {
  const abs = segmentAbsPath(place.segmentsDir, row.path);
  if (row.local || row.object_key === null) return { abs, key: null, path: row.path };
  if (!place.store) throw new StoreError(`segment ${row.path} is only in the object store, and no store is configured`);
  return { abs, key: row.object_key, path: row.path };
}

/** One open segment: exact reads at a position. */
export interface SegmentReader {
  /** Fills buf[0, length) from `position`; a segment that ends sooner is an error. */
  readInto(buf: Buffer, length: number, position: number): Promise<void>;
  /**
   * The same at once, where the bytes are at hand (a local file, bytes fetched already): false, and
   * nothing read, where they are not (the object store).
   */
  readNow(buf: Buffer, length: number, position: number): boolean;
  close(): Promise<void>;
}

/**
 * A segment opened for reading. A local file is opened synchronously (an open of a file the index just
 * named costs microseconds, less than a round trip through libuv's thread pool, which a clip's first
 * write would wait behind); its reads go through the pool.
 */
export async function openSegment(place: SegmentPlace, ref: SegmentRef): Promise<SegmentReader> {
  if (ref.key === null) return new FileReader(openSync(ref.abs, 'r'), ref.path);
  const store = place.store;
  if (!store) throw new StoreError(`segment ${ref.path} is only in the object store, and no store is configured`);
  const key = ref.key;
  return {
    async readInto(buf, length, position) {
      const bytes = await store.getRange(key, position, length);
      bytes.copy(buf, 0, 0, length);
    },
    readNow: () => false,
    close: async () => undefined,
  };
}

/** A local segment file by descriptor (closed once, by `close`), read through the thread pool. */
class FileReader implements SegmentReader {
  private fd: number | null;

  constructor(fd: number, private readonly path: string) {
    this.fd = fd;
  }

  async readInto(buf: Buffer, length: number, position: number): Promise<void> {
    const fd = this.fd;
    if (fd === null) throw new Error(`segment ${this.path} read after it was closed`);
    let done = 0;
    while (done < length) {
      const bytesRead = await new Promise<number>((resolve, reject) => {
        read(fd, buf, done, length - done, position + done, (e, n) => (e ? reject(e) : resolve(n)));
      });
      if (bytesRead === 0) throw endsEarly(this.path, position + length, position + done);
      done += bytesRead;
    }
  }

  /** Read on the calling thread (bytes just recorded are in the page cache: microseconds for a clip's first chunk). */
  readNow(buf: Buffer, length: number, position: number): boolean {
    const fd = this.fd;
    if (fd === null) throw new Error(`segment ${this.path} read after it was closed`);
    readFullySync(fd, buf, length, position, this.path);
    return true;
  }

  /** Closed at once (a read descriptor's close costs microseconds; no thread pool round trip). */
  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) closeSync(fd);
  }
}

/** Fills buf[0, length) from `position` of a segment file, on the calling thread; a file that ends sooner is an error naming `path`. */
export function readFullySync(fd: number, buf: Buffer, length: number, position: number, path: string): void {
  for (let done = 0; done < length;) {
    const bytesRead = readSync(fd, buf, done, length - done, position + done);
    if (bytesRead === 0) throw endsEarly(path, position + length, position + done);
    done += bytesRead;
  }
}

function endsEarly(path: string, wanted: number, at: number): Error {
  return new Error(`segment ${path} ends before byte ${wanted} (at ${at})`);
}

/** Byte ranges of a segment already fetched from the store (by the cut), each span with its bytes. */
export interface FetchedBytes {
  spans: Array<{ offset: number; length: number }>;
  bytes: Buffer[];
}

/** Reads what `fetched` holds from memory; anything else through `fallback` (opened on first need). */
export function fetchedReader(fetched: FetchedBytes, fallback: () => Promise<SegmentReader>): SegmentReader {
  let other: Promise<SegmentReader> | null = null;
  const fromMemory = (buf: Buffer, length: number, position: number): boolean => {
    const k = fetched.spans.findIndex((s) => position >= s.offset && position + length <= s.offset + s.length);
    if (k < 0) return false;
    const at = position - fetched.spans[k].offset;
    fetched.bytes[k].copy(buf, 0, at, at + length);
    return true;
  };
  return {
    async readInto(buf, length, position) {
      if (fromMemory(buf, length, position)) return;
      other ??= fallback();
      await (await other).readInto(buf, length, position);
    },
    readNow: fromMemory,
    async close() {
      if (other) await (await other).close();
    },
  };
}

/** Byte ranges merged where they are at most `maxSkip` apart (one ranged GET instead of several). */
export function coalesceRanges(ranges: Array<{ offset: number; length: number }>, maxSkip: number): Array<{ offset: number; length: number }> {
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  const out: Array<{ offset: number; length: number }> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.offset - (last.offset + last.length) <= maxSkip) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else {
      out.push({ ...r });
    }
  }
  return out;
}
