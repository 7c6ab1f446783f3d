// Streaming top-level box splitter: feed it ffmpeg's stdout chunks as they arrive, get back every
// top-level box (ftyp, moov, moof, mdat, mfra, ...) as soon as its last byte is in, byte-exact and
// independent of how the stream was chunked. Pure: no I/O, no timers.
import { Mp4ParseError, isPrintableType, printable, readBoxHeader } from './box.js';

/** Default cap on one top-level box: larger declared sizes mean a corrupt or desynchronized stream. */
export const DEFAULT_MAX_BOX_BYTES = 512 * 1024 * 1024;

export interface SplitBox { type: string; data: Buffer }

/**
 * Splits a byte stream into complete top-level boxes.
 *
 * - A box that lies wholly inside one pushed chunk is returned as a zero-copy view of that chunk;
 *   a box spanning chunks is copied once into a buffer of its exact size.
 * - Throws Mp4ParseError (and must then be discarded) when the stream cannot be an MP4 box stream:
 *   a type that is not four printable ASCII characters, a size smaller than its header, a size
 *   above `maxBoxBytes`, or a size-0 ("extends to end of file") box, which has no end in a stream.
 */
export class TopLevelBoxSplitter {
  private readonly maxBoxBytes: number;
  /** Received chunks; chunks[first] is the oldest with unconsumed bytes, from offset `head`. */
  private chunks: Buffer[] = [];
  private first = 0;
  private head = 0;
  private pending = 0;
  /** Size of the box at the front, once its header has been read (so it is read only once). */
  private frontSize: number | null = null;
  private frontType = '';
  private failed: Mp4ParseError | null = null;

  constructor(opts: { maxBoxBytes?: number } = {}) {
    this.maxBoxBytes = opts.maxBoxBytes ?? DEFAULT_MAX_BOX_BYTES;
  }

  /** Bytes received but not yet returned as part of a complete box. */
  get pendingBytes(): number {
    return this.pending;
  }

  push(chunk: Buffer): Array<{ type: string; data: Buffer }> {
    if (this.failed) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.pending += chunk.length;
    }
    const out: SplitBox[] = [];
    for (;;) {
      if (this.frontSize === null && !this.readFrontHeader()) break;
      const size = this.frontSize as number;
      if (this.pending < size) break;
      out.push({ type: this.frontType, data: this.take(size) });
      this.frontSize = null;
    }
    if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
    return out;
  }

  /** Reads the header of the box at the front; false when its bytes are not all here yet. */
  private readFrontHeader(): boolean {
    if (this.pending < 8) return false;
    const hdr = this.peek(Math.min(16, this.pending));
    let h;
    try {
      h = readBoxHeader(hdr, 0, hdr.length);
    } catch (e) {
      throw this.fail(e instanceof Mp4ParseError ? e.message : String(e));
    }
    if (h === null) return false; // 64-bit size not complete yet
    if (!isPrintableType(h.type)) throw this.fail(`not an MP4 box stream: box type '${printable(h.type)}'`);
    if (hdr.readUInt32BE(0) === 0) throw this.fail(`size-0 '${h.type}' box (extends to end of file) cannot be split from a stream`);
    if (h.size > this.maxBoxBytes) throw this.fail(`'${h.type}' box of ${h.size} bytes exceeds the ${this.maxBoxBytes}-byte limit`);
    this.frontSize = h.size;
    this.frontType = h.type;
    return true;
  }

  private fail(msg: string): Mp4ParseError {
    this.failed = new Mp4ParseError(msg);
    return this.failed;
  }

  /** The first n pending bytes (n ≤ 16, so copying is cheap). */
  private peek(n: number): Buffer {
    const c0 = this.chunks[this.first];
    if (c0.length - this.head >= n) return c0.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let skip = this.head;
    for (let i = this.first; filled < n; i++) {
      const piece = this.chunks[i].subarray(skip, skip + (n - filled));
      piece.copy(out, filled);
      filled += piece.length;
      skip = 0;
    }
    return out;
  }

  /** Removes and returns the first n pending bytes (n ≤ pending). */
  private take(n: number): Buffer {
    this.pending -= n;
    const c0 = this.chunks[this.first];
    if (c0.length - this.head >= n) {
      const view = c0.subarray(this.head, this.head + n);
      this.advance(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[this.first];
      const len = Math.min(c.length - this.head, n - filled);
      c.copy(out, filled, this.head, this.head + len);
      filled += len;
      this.advance(len);
    }
    return out;
  }

  /** Consumes n bytes of the oldest chunk (n ≤ its remaining bytes). */
  private advance(n: number): void {
    this.head += n;
    if (this.head === this.chunks[this.first].length) {
      this.chunks[this.first] = EMPTY;
      this.first++;
      this.head = 0;
      if (this.first === this.chunks.length) {
        this.chunks = [];
        this.first = 0;
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);
