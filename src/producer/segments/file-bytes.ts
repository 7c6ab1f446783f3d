// A segment file read piecewise with positional reads: the ByteSource the MP4 walk (mp4/scan.ts) reads
// box headers, the init and each moof through, and the CRC-32 of a byte range computed by streaming
// through it in fixed chunks, so recovery reads a file of any size (beyond 2 GiB, where one Buffer
// cannot hold it) in memory bounded by one chunk plus one moof.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { ByteSource } from '../../mp4/scan.js';
import { crc32 } from './crc32.js';

/** Chunk of a streamed checksum. */
export const CRC_CHUNK_BYTES = 1024 * 1024;

export class FileBytes implements ByteSource {
  /** The file's length when it was opened. */
  readonly length: number;
  private chunk: Buffer | null = null;

  constructor(private readonly fd: number, private readonly chunkBytes = CRC_CHUNK_BYTES) {
    this.length = fstatSync(fd).size;
  }

  read(at: number, n: number): Buffer {
    const buf = Buffer.allocUnsafe(n);
    this.fill(buf, at, n);
    return buf;
  }

  /** The CRC-32 of the `n` bytes at `at`, read a chunk at a time. */
  crc32(at: number, n: number): number {
    this.chunk ??= Buffer.allocUnsafe(this.chunkBytes);
    let crc = 0;
    for (let done = 0; done < n;) {
      const k = Math.min(this.chunk.length, n - done);
      this.fill(this.chunk, at + done, k);
      crc = crc32(this.chunk.subarray(0, k), crc);
      done += k;
    }
    return crc;
  }

  /** Reads exactly `n` bytes at `at` into the start of `buf`; a file that ends sooner is an error. */
  private fill(buf: Buffer, at: number, n: number): void {
    if (at < 0 || n < 0 || at + n > this.length) throw new RangeError(`read of ${n} bytes at ${at} outside the file's ${this.length} bytes`);
    let done = 0;
    while (done < n) {
      const k = readSync(this.fd, buf, done, n - done, at + done);
      if (k === 0) throw new Error(`the file ended at ${at + done} while being read (${this.length} bytes when opened)`);
      done += k;
    }
  }
}

/** Opens a file for reading, hands it to `f` as FileBytes, and closes it whatever happens. */
export function withFileBytes<T>(path: string, f: (file: FileBytes) => T, chunkBytes = CRC_CHUNK_BYTES): T {
  const fd = openSync(path, 'r');
  try {
    return f(new FileBytes(fd, chunkBytes));
  } finally {
    closeSync(fd);
  }
}
