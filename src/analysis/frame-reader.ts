// The frame reader: one ffmpeg child process (argument array, never a shell) that decodes any input
// into small grayscale frames on stdout, each paired with its exact source PTS. The PTS comes from a
// `showinfo` filter at the end of the chain (scale and format do not touch timestamps), whose stderr
// lines are matched one-to-one and in order with the raw frames: with `-copyts` and
// `-fps_mode passthrough` ffmpeg neither shifts, duplicates nor drops frames, so line k is frame k.
// Exposed as a pull-based async iterator: stdout is read in paused mode, one frame-sized `read()` at a
// time and only while fewer than `maxQueuedFrames` frames wait, so a slow consumer stalls ffmpeg (pipe
// back-pressure) instead of growing memory.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { LineSplitter, LineTail, parseShowinfoLine, redactCredentials, ticksToNs, type ShowinfoFrame, type TimeBase } from './ffmpeg-log.js';

/** One decoded low-resolution frame. */
export interface Frame {
  /** Luma plane, `width × height` bytes, row-major, no padding. */
  gray: Uint8Array;
  width: number;
  height: number;
  /** The source PTS in stream ticks (NaN when the source frame had no timestamp). */
  ptsTicks: number;
  /** Ticks per second of the stream (`timeBase.den / timeBase.num`, e.g. 15360 or 90000). */
  timescale: number;
  timeBase: TimeBase;
  /** `ptsOffsetNs + round(ptsTicks × 1e9 / timescale)` (NaN when the frame had no timestamp). */
  ptsNs: number;
  /** Wall-clock time from the `epochMsForPtsNs` mapper; null when no mapper was given (or no PTS). */
  epochMs: number | null;
  /**
   * When ffmpeg reported the frame (epoch ms, sub-millisecond resolution): the moment its showinfo line
   * was read from stderr, which is read as it comes whatever the consumer does (a slow consumer stalls
   * stdout, not this stamp — until ffmpeg itself blocks). A live source's arrival time, for clocks that
   * map a stream's own timestamps to the wall clock (see detect-stream.ts).
   */
  arrivalEpochMs: number;
  /** 0-based position of the frame in this reader's output. */
  index: number;
}

export interface FrameReaderOptions {
  /** A file path or URL, or `pipe:0` together with `stdin`. */
  input: string;
  /** Input options placed before `-i` (e.g. `['-re', '-stream_loop', '-1']`, `['-rtsp_transport', 'tcp']`). */
  inputArgs?: string[];
  /** Bytes piped into ffmpeg's stdin (use with `input: 'pipe:0'`). */
  stdin?: Readable;
  /**
   * Text written into ffmpeg's pipe 3, then closed (use with `input: 'pipe:3'`): e.g. a one-entry
   * ffconcat script naming a URL with credentials, which must not appear on a command line.
   */
  fd3?: string;
  /** ffmpeg binary (default `ffmpeg` from PATH). */
  ffmpegPath?: string;
  /** Output width in pixels (height keeps the aspect ratio, rounded to even). Default 160. */
  width?: number;
  /** Added to every frame's PTS: the producer's PTS of tick 0 of this input. Default 0. */
  ptsOffsetNs?: number;
  /** Maps a frame's `ptsNs` to epoch ms (e.g. `timebase.ptsToEpochMs`). Without it `epochMs` is null. */
  epochMsForPtsNs?: (ptsNs: number) => number;
  /** Frames decoded ahead of the consumer before ffmpeg is paused. Default 8. */
  maxQueuedFrames?: number;
  /** Aborting closes the reader (the iterator then ends without an error). */
  signal?: AbortSignal;
  /** Grace period between SIGTERM and SIGKILL on close. Default 2000 ms. */
  killTimeoutMs?: number;
}

/** ffmpeg failed (bad input, exit code ≠ 0) or its output could not be paired. Message is redacted. */
export class FrameReaderError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderrTail: string,
  ) {
    super(message);
    this.name = 'FrameReaderError';
  }
}

const SHOWINFO_NAME = 'segrec';

/** The ffmpeg argument array the reader runs (exported for logging and tests). */
export function frameReaderArgs(input: string, inputArgs: readonly string[] = [], width = 160): string[] {
  return [
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'repeat+info',
    '-copyts',
    ...inputArgs, '-i', input,
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', `scale=${width}:-2:flags=area,format=gray,showinfo@${SHOWINFO_NAME}=checksum=0`,
    '-fps_mode', 'passthrough',
    '-f', 'rawvideo', 'pipe:1',
  ];
}

interface Waiter { resolve: (r: IteratorResult<Frame>) => void; reject: (e: unknown) => void }
interface PendingMeta { frame: ShowinfoFrame; timeBase: TimeBase | null; arrivalEpochMs: number }

/** Wall clock in epoch ms with sub-millisecond resolution. */
export function preciseNowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Decodes `input` with ffmpeg and yields its frames. Single use: iterate once (a `break` closes it).
 * ffmpeg starts on the first `next()`.
 */
export class FrameReader implements AsyncIterableIterator<Frame> {
  private readonly opts: Required<Pick<FrameReaderOptions, 'ffmpegPath' | 'width' | 'ptsOffsetNs' | 'maxQueuedFrames' | 'killTimeoutMs'>> & FrameReaderOptions;
  private child: ChildProcess | null = null;
  private started = false;
  private finished = false;
  private closing = false;
  private failure: Error | null = null;
  private exitPromise: Promise<void> = Promise.resolve();
  private readonly ready: Frame[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly meta: PendingMeta[] = [];
  private timeBase: TimeBase | null = null;
  private produced = 0;
  private stderrEnded = false;
  private unpairedBytes = 0;
  private readonly tail = new LineTail();
  private killTimer: NodeJS.Timeout | null = null;
  private readonly onAbort = (): void => { void this.close(); };
  /** Most frames that were ever waiting for the consumer at once (a back-pressure witness). */
  highWaterFrames = 0;
  /** The input's video codec as ffmpeg names it (`h264`, `hevc`, `mjpeg`…), once ffmpeg has said; else null. */
  codec: string | null = null;
  private inputDescribed = false;

  constructor(options: FrameReaderOptions) {
    const ptsOffsetNs = options.ptsOffsetNs ?? 0;
    if (!Number.isSafeInteger(ptsOffsetNs)) throw new RangeError('ptsOffsetNs must be a safe integer');
    const width = options.width ?? 160;
    if (!Number.isInteger(width) || width < 2) throw new RangeError('width must be an integer ≥ 2');
    this.opts = {
      ...options,
      ffmpegPath: options.ffmpegPath ?? 'ffmpeg',
      width,
      ptsOffsetNs,
      maxQueuedFrames: Math.max(1, options.maxQueuedFrames ?? 8),
      killTimeoutMs: options.killTimeoutMs ?? 2000,
    };
    if (options.signal?.aborted) this.closing = this.finished = true;
    else options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The last lines ffmpeg wrote that were not per-frame info (credentials redacted). */
  stderrTail(): string {
    return this.tail.text();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Frame> {
    return this;
  }

  next(): Promise<IteratorResult<Frame>> {
    if (!this.started && !this.finished) this.start();
    const frame = this.ready.shift();
    if (frame) {
      this.pump();
      return Promise.resolve({ value: frame, done: false });
    }
    if (this.failure) {
      const e = this.failure;
      this.failure = null;
      return Promise.reject(e);
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async return(): Promise<IteratorResult<Frame>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Stops ffmpeg (SIGTERM, then SIGKILL after `killTimeoutMs`) and ends the iteration. Idempotent. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.ready.length = 0;
      const child = this.child;
      // Always drop the pipes: a child that already exited with frames still unread only emits 'close'
      // (which exitPromise waits for) once its stdout ends, and nothing reads it any more.
      child?.stdin?.destroy();
      child?.stdout?.destroy();
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        this.killTimer = setTimeout(() => child.kill('SIGKILL'), this.opts.killTimeoutMs);
      }
      if (!child) this.finish(null);
    }
    await this.exitPromise;
  }

  private start(): void {
    this.started = true;
    const o = this.opts;
    const args = frameReaderArgs(o.input, o.inputArgs, o.width);
    const child = spawn(o.ffmpegPath, args, { stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', o.fd3 === undefined ? 'ignore' : 'pipe'] });
    this.child = child;
    if (o.fd3 !== undefined) {
      const fd3 = child.stdio[3] as NodeJS.WritableStream | null;
      fd3?.on('error', () => { /* ffmpeg went away; its exit status tells the story */ });
      fd3?.end(o.fd3);
    }
    this.exitPromise = new Promise<void>((resolve) => {
      child.on('error', (e) => {
        this.finish(new FrameReaderError(`cannot run ${o.ffmpegPath}: ${e.message}`, null, ''));
        resolve();
      });
      child.on('close', (code, signal) => {
        if (this.killTimer) clearTimeout(this.killTimer);
        this.onExit(code, signal);
        resolve();
      });
    });
    if (o.stdin && child.stdin) {
      const sink = child.stdin;
      sink.on('error', () => { /* ffmpeg went away; its exit status tells the story */ });
      o.stdin.on('error', () => sink.end());
      o.stdin.pipe(sink);
    }
    const splitter = new LineSplitter((line) => this.onStderrLine(line));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => splitter.write(d));
    child.stderr!.on('end', () => {
      splitter.end();
      this.stderrEnded = true;
      this.pump();
    });
    child.stdout!.on('readable', () => this.pump());
    child.stdout!.on('error', () => { /* destroyed on close */ });
  }

  private onStderrLine(line: string): void {
    const parsed = parseShowinfoLine(line, SHOWINFO_NAME);
    if (!parsed && !this.inputDescribed) {
      // The input's description comes first ("Input #0 …  Stream #0:0…: Video: h264 (…), …"), then the output's.
      if (/^Output #\d/.test(line)) this.inputDescribed = true;
      const v = /^\s*Stream #\d+:\d+\S*: Video: ([A-Za-z0-9_]+)/.exec(line);
      if (v && this.codec === null) this.codec = v[1];
    }
    if (!parsed) {
      if (line.trim() && !line.startsWith(`[showinfo@${SHOWINFO_NAME} @ `)) this.tail.push(line);
      return;
    }
    if (parsed.kind === 'timebase') {
      this.timeBase = parsed.timeBase;
    } else {
      this.meta.push({ frame: parsed.frame, timeBase: this.timeBase, arrivalEpochMs: preciseNowMs() });
      this.pump();
    }
  }

  /** Reads every raw frame whose showinfo line has arrived, while the ready queue has room. */
  private pump(): void {
    const stdout = this.child?.stdout;
    while (stdout && !this.closing && this.meta.length > 0 && this.ready.length < this.opts.maxQueuedFrames) {
      const m = this.meta[0];
      const size = m.frame.width * m.frame.height;
      const buf = stdout.read(size) as Buffer | null;
      if (buf === null) return;
      this.meta.shift();
      if (buf.length !== size || !m.timeBase) {
        this.fail(new FrameReaderError(buf.length !== size
          ? `ffmpeg ended inside a frame (${buf.length} of ${size} bytes)`
          : 'ffmpeg reported a frame before its time base', null, this.tail.text()));
        return;
      }
      this.emit(this.makeFrame(new Uint8Array(buf), m.frame, m.timeBase, m.arrivalEpochMs));
    }
    // ffmpeg is done talking and no frame info is left: any raw bytes still buffered can never be paired.
    // Read them anyway, so stdout can end (and the exit be reported) instead of waiting forever.
    if (stdout && this.stderrEnded && this.meta.length === 0 && stdout.readableLength > 0) {
      const rest = stdout.read() as Buffer | null;
      this.unpairedBytes += rest?.length ?? 0;
    }
  }

  private makeFrame(gray: Uint8Array, f: ShowinfoFrame, tb: TimeBase, arrivalEpochMs: number): Frame {
    const ptsNs = f.pts === null ? Number.NaN : ticksToNs(f.pts, tb, this.opts.ptsOffsetNs);
    const mapper = this.opts.epochMsForPtsNs;
    return {
      gray,
      width: f.width,
      height: f.height,
      ptsTicks: f.pts === null ? Number.NaN : Number(f.pts),
      timescale: tb.den / tb.num,
      timeBase: tb,
      ptsNs,
      epochMs: mapper && Number.isFinite(ptsNs) ? mapper(ptsNs) : null,
      arrivalEpochMs,
      index: this.produced++,
    };
  }

  private emit(frame: Frame): void {
    const w = this.waiters.shift();
    if (w) {
      w.resolve({ value: frame, done: false });
      return;
    }
    this.ready.push(frame);
    this.highWaterFrames = Math.max(this.highWaterFrames, this.ready.length);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.closing) {
      this.finish(null);
      return;
    }
    this.pump();
    const o = this.opts;
    const where = redactCredentials(o.input);
    if (code !== 0) {
      const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`;
      this.finish(new FrameReaderError(`ffmpeg reading ${where} ${how}:\n${this.tail.text()}`, code, this.tail.text()));
    } else if (this.meta.length !== 0 || this.unpairedBytes !== 0) {
      const left = this.unpairedBytes;
      this.finish(new FrameReaderError(
        `ffmpeg reading ${where}: ${left} raw bytes and ${this.meta.length} frame infos left unpaired`,
        code, this.tail.text()));
    } else {
      this.finish(null);
    }
  }

  private fail(e: Error): void {
    if (this.finished) return;
    this.finish(e);
    const child = this.child;
    this.closing = true;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.stdout?.destroy();
      child.kill('SIGKILL');
    }
  }

  private finish(error: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    if (error) {
      const w = this.waiters.shift();
      if (w) w.reject(error);
      else this.failure = error;
    }
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }
}

/** Convenience: `new FrameReader(options)`. */
export function readFrames(options: FrameReaderOptions): FrameReader {
  return new FrameReader(options);
}
