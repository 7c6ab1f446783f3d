// What the analysis' two frame sources share (live-frames.ts: the producer's /live.mp4; detect-stream.ts:
// a camera's sub-stream): an async iterable, iterated once, that reads frames one connection after the
// other until close() or the caller's signal, with capped exponential backoff between connections (reset
// by a connection that gave frames, doubled after each that gave none). Each source says how to read one
// connection; an error it throws out of that ends the iteration (e.g. an authentication refusal).
import { abortableSleep } from '../common/sleep.js';
import { redactCredentials } from './ffmpeg-log.js';
import type { FrameReader } from './frame-reader.js';

/** Backoff between connections (ms): starts at `initialMs`, doubles after each connection without frames, at most `maxMs`. */
export interface ReconnectBackoff {
  initialMs: number;
  maxMs: number;
}

/** How one connection ended: the frames it gave, and its error (credential-redacted), if any. */
export interface ConnectionEnd {
  frames: number;
  error: string | null;
}

/** An error's message for a status, with credentials taken out. */
export function statusMessage(e: unknown): string {
  return redactCredentials(e instanceof Error ? e.message : String(e));
}

export abstract class ReconnectingFrames<F> implements AsyncIterable<F> {
  /** Aborted by close() or the caller's signal: ends the connection being read and the wait between them. */
  protected readonly ac = new AbortController();
  /** The connection's frame reader while one is open (closed by close()). */
  protected reader: FrameReader | null = null;
  private used = false;
  private readonly onAbort = (): void => { void this.close(); };

  constructor(private readonly signal: AbortSignal | undefined, private readonly backoff: ReconnectBackoff) {
    if (signal?.aborted) this.ac.abort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<F> {
    if (this.used) throw new Error(`${this.constructor.name} can be iterated once`);
    this.used = true;
    return this.run();
  }

  /** Stops: ends the connection being read (its ffmpeg stopped) and the iteration. */
  async close(): Promise<void> {
    this.ac.abort();
    this.signal?.removeEventListener('abort', this.onAbort);
    await this.reader?.close();
  }

  /** Makes one connection and reads it, yielding its frames. */
  protected abstract connect(): AsyncGenerator<F, ConnectionEnd, undefined>;

  /** Says that the next connection is tried in `delayMs` (after `error`, if the last one had one). */
  protected abstract retrying(delayMs: number, error: string | null): void;

  private async *run(): AsyncGenerator<F, void, undefined> {
    const { initialMs } = this.backoff;
    const max = Math.max(initialMs, this.backoff.maxMs);
    const signal = this.ac.signal;
    let delay = initialMs;
    try {
      while (!signal.aborted) {
        const { frames, error } = yield* this.connect();
        if (signal.aborted) break;
        if (frames > 0) delay = initialMs;
        this.retrying(delay, error);
        await abortableSleep(delay, signal);
        if (frames === 0) delay = Math.min(max, delay * 2);
      }
    } finally {
      this.ac.abort();
      this.signal?.removeEventListener('abort', this.onAbort);
    }
  }
}
