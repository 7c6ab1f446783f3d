// Live frames from the producer: fetches `GET /live.mp4` (fragmented MP4 of the current ingest run),
// reads the run's PTS offset from the `X-Segrec-Pts-Offset-Ns` header of that same response, and pipes
// the response body into a FrameReader (`-i pipe:0`), so header and bytes always belong together and
// every frame carries producer PTS. When the response ends (the producer's ingest restarted) or fails,
// it reconnects with capped exponential backoff; each response is one numbered `connection`.
// Producer PTS pass 2^53 ns (where a number stops being exact) after 104 days of a data directory's clock:
// the offset is read exactly as a bigint, and a frame carries it as `ptsBaseNs` with its time since then as
// the number `ptsNs` (the frame's producer PTS is `ptsBaseNs + ptsNs`, exact at any size).
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { FrameReader, type Frame } from './frame-reader.js';
import { redactCredentials } from './ffmpeg-log.js';
import { ReconnectingFrames, statusMessage, type ConnectionEnd } from './reconnecting-frames.js';
import { PTS_MAX, ptsOut, type PtsValue } from '../protocol/pts.js';

export const PTS_OFFSET_HEADER = 'x-segrec-pts-offset-ns';

/**
 * ffmpeg input options for the live body, chosen for latency. The moov already describes the stream, so
 * stream probing is cut to the minimum: with ffmpeg's defaults (5 s analyzeduration, 5 MB probesize) no
 * frame comes out until seconds of live video have arrived, after every (re)connect. One decoder thread:
 * frame threading holds back one frame per extra thread (up to 16), i.e. up to a whole GOP on a big host
 * until the next fragment arrives; a single thread decodes 720p/1080p H.264 many times faster than real
 * time. (`inputArgs: ['-threads', '0']` restores automatic threading: the last option wins.)
 */
export const LIVE_INPUT_ARGS: readonly string[] = ['-f', 'mov', '-probesize', '32', '-analyzeduration', '0', '-threads', '1'];

/**
 * A frame of the live stream; `connection` (from 1) changes whenever the stream was reconnected. Its
 * producer PTS is `ptsBaseNs + ptsNs`: `ptsBaseNs` is the connection's offset (the header), `ptsNs` the
 * frame's time in the stream (ns, a number). `epochMs` is mapped from the producer PTS.
 */
export interface LiveFrame extends Frame { connection: number; ptsBaseNs: bigint }

/** A live frame's producer PTS: a number while exact, else a bigint. */
export function livePts(f: Pick<LiveFrame, 'ptsNs' | 'ptsBaseNs'>): PtsValue {
  return Number.isFinite(f.ptsNs) ? ptsOut(f.ptsBaseNs + BigInt(Math.round(f.ptsNs))) : Number.NaN;
}

export type LiveStatus =
  /** `ptsOffsetNs`: the connection's offset, a number while exact, else a bigint. */
  | { type: 'connected'; connection: number; ptsOffsetNs: PtsValue }
  | { type: 'ended'; connection: number; frames: number; error: string | null }
  | { type: 'retry'; delayMs: number; error: string | null };

export interface LiveFramesOptions {
  /** e.g. `http://127.0.0.1:8765` (a path prefix is kept). */
  producerBaseUrl: string;
  /** Sent as `Authorization: Bearer …`. */
  authToken?: string;
  /** Endpoint path. Default `/live.mp4`. */
  path?: string;
  ffmpegPath?: string;
  /** Frame width (see FrameReader). Default 160. */
  width?: number;
  maxQueuedFrames?: number;
  /** Maps a frame's producer PTS (a number while exact, else a bigint) to epoch ms (e.g. `timebase.ptsToEpochMs`). */
  epochMsForPtsNs?: (ptsNs: PtsValue) => number;
  /** Extra ffmpeg input options (after LIVE_INPUT_ARGS). */
  inputArgs?: string[];
  /** Backoff between connections: starts at `initialDelayMs`, doubles after each failed or empty response, capped at `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Stops the iteration (it then ends without an error). */
  signal?: AbortSignal;
  /** Connection life cycle, for logs and metrics. Messages are credential-redacted. */
  onStatus?: (status: LiveStatus) => void;
}

/** Authentication was refused (401/403): retrying would not help, so the iteration throws this. */
export class LiveFramesAuthError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
    this.name = 'LiveFramesAuthError';
  }
}

/** Parses the offset header exactly: a (possibly negative) integer of nanoseconds within ±(2^63 − 1). */
export function parsePtsOffsetHeader(value: string | null): bigint | null {
  if (value === null || !/^\s*-?\d{1,19}\s*$/.test(value)) return null;
  const n = BigInt(value.trim());
  return n <= PTS_MAX && n >= -PTS_MAX ? n : null;
}

/** `base` + `path`, keeping a path prefix of the base (`http://h/x` + `/live.mp4` → `http://h/x/live.mp4`). */
export function liveUrl(base: string, path = '/live.mp4'): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Iterates the producer's live stream forever (until `close()`, the signal, or an auth refusal). */
export class LiveFrames extends ReconnectingFrames<LiveFrame> {
  private readonly opts: LiveFramesOptions;
  private readonly url: string;
  private connection = 0;

  constructor(options: LiveFramesOptions) {
    super(options.signal, { initialMs: options.initialDelayMs ?? 250, maxMs: options.maxDelayMs ?? 5000 });
    this.opts = options;
    this.url = liveUrl(options.producerBaseUrl, options.path);
  }

  protected retrying(delayMs: number, error: string | null): void {
    this.opts.onStatus?.({ type: 'retry', delayMs, error });
  }

  /** One GET of the live stream (numbered `connection` once it answers with a stream), its body piped into a FrameReader. */
  protected async *connect(): AsyncGenerator<LiveFrame, ConnectionEnd, undefined> {
    const o = this.opts;
    const signal = this.ac.signal;
    const headers: Record<string, string> = o.authToken ? { authorization: `Bearer ${o.authToken}` } : {};
    let error: string | null = null;
    let frames = 0;
    try {
      const res = await fetch(this.url, { headers, signal });
      const offset = parsePtsOffsetHeader(res.headers.get(PTS_OFFSET_HEADER));
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel().catch(() => undefined);
        throw new LiveFramesAuthError(`${redactCredentials(this.url)} refused: HTTP ${res.status}`, res.status);
      }
      if (!res.ok || !res.body || offset === null) {
        await res.body?.cancel().catch(() => undefined);
        return { frames, error: !res.ok ? `HTTP ${res.status}` : !res.body ? 'empty response' : `missing or invalid ${PTS_OFFSET_HEADER} header` };
      }
      const connection = ++this.connection;
      o.onStatus?.({ type: 'connected', connection, ptsOffsetNs: ptsOut(offset) });
      const body = Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>);
      const toEpoch = o.epochMsForPtsNs;
      // The reader's times are the stream's own (offset 0); the offset is added exactly, in bigint.
      const reader = new FrameReader({
        input: 'pipe:0', stdin: body, inputArgs: [...LIVE_INPUT_ARGS, ...(o.inputArgs ?? [])],
        ffmpegPath: o.ffmpegPath, width: o.width, maxQueuedFrames: o.maxQueuedFrames,
        epochMsForPtsNs: toEpoch ? (ns) => toEpoch(livePts({ ptsNs: ns, ptsBaseNs: offset })) : undefined,
      });
      this.reader = reader;
      try {
        for await (const f of reader) {
          frames++;
          yield { ...f, connection, ptsBaseNs: offset };
        }
      } catch (e) {
        error = statusMessage(e);
      } finally {
        body.destroy();
        await reader.close();
        this.reader = null;
      }
      o.onStatus?.({ type: 'ended', connection, frames, error });
    } catch (e) {
      if (e instanceof LiveFramesAuthError) throw e;
      if (!signal.aborted) error = statusMessage(e);
    }
    return { frames, error };
  }
}

/** Convenience: `new LiveFrames(options)`. */
export function liveFrames(options: LiveFramesOptions): LiveFrames {
  return new LiveFrames(options);
}
