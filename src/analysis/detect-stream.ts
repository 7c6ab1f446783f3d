// Frames of a camera's detect stream (`detect_source`: the low-resolution sub-stream a camera offers next
// to its main stream, read straight from the camera by ffmpeg), placed on the wall clock so that motion
// found in them can be cut from the producer's recording of the MAIN stream.
//
// Why a mapping is needed: the sub-stream is another RTSP session with its own RTP clock; its timestamps
// start wherever ffmpeg's do and say nothing about the producer's PTS. What the two streams share is
// the moment a picture was taken: the camera encodes the same sensor frame into both.
//
// The method: both sides estimate "capture time + least delivery delay", and the known difference of
// the two delays is taken out.
//   - The producer maps its PTS to epoch by arrival: `arrival − stop PTS` of every fragment, minimum over
//     recent fragments (src/producer/segments/pts-clock.ts); /health `timebase` is that anchor now. The
//     minimum removes jitter, so its epoch of a frame is the frame's capture time plus the least delay of
//     its ingest.
//   - Here every decoded frame gives `arrival − pts` (arrival: when ffmpeg reported the decoded frame,
//     read from its stderr as it comes, FrameReader.arrivalEpochMs); the minimum over a sliding window
//     (30 s of stream time: long enough to catch the least delay, short against clock drift) maps a
//     sub-stream PTS to the same kind of epoch.
//   - The two least delays differ by what each ffmpeg holds back (ffmpeg 5.1, measured on the test
//     camera below): for H.264/H.265 over RTSP the parser releases a frame only when the next one begins
//     (one frame interval of that stream, on both sides); the producer's stream-copy ingest of a network
//     source also holds one packet in its first-PTS fix (FIRST_PTS_FIX, src/producer/ingest/source-args.ts).
//     So capture = sub epoch − 1 sub frame, and main PTS = the producer's timebase applied to
//     capture + 2 main frames (`producerAnchorLagFrames`): with equal frame rates, one frame later than
//     the plain wall-clock mapping — which is exactly the error that mapping shows on the test camera.
//   - An event's bounds are mapped when it completes (the estimate has then seen the whole event), with
//     the producer's timebase re-read every few seconds; the clip is asked for in main PTS.
// The residual is the difference of the delivery/decode floors of the two sessions (≈ 1 ms on one
// host). test/cameras/substream-motion.test.ts measures the event → clip error in frames on a camera with
// two encoders of one sensor (test/cameras/rtsp_server.py /pair-main + /pair-sub): 0 frames at both ends
// of every clip (|error| ≤ 0.01 frame, < 1 ms, at 15 fps); the plain wall-clock mapping (no frame holds
// taken out) gives −1 frame at both ends there.
// Not modelled: B-frames in the sub-stream (the decoder's reorder delay makes detection late by that
// many frames — cameras' sub-streams normally have none) and a producer that re-encodes the main stream
// (`transcode: always`: the encoder's delay is added to the producer's side).
//
// A new connection's backlog — what ffmpeg buffered while probing the stream, let out at once — is left
// out: its frames arrive faster than real time, so the clock has not yet seen the stream's real delay
// and an event found in them would be mapped late. Frames are yielded from the first one that arrives
// about as long after its predecessor as their PTS differ.
//
// Timeline: frames come out with `ptsNs` on a detect timeline, not the raw stream PTS: each connection
// (one ffmpeg run; a reconnect starts a new one) is shifted so that its first frame sits at its arrival
// time (ns since the timeline's origin, the reader's creation: safe integers for 100 days), and after
// the previous connection's frames, so the timeline only moves forward and every PTS belongs to exactly
// one connection, whose own estimate maps it (`captureEpochMsForPtsNs`).
//
// A URL with credentials never appears on ffmpeg's command line: it goes in a one-entry ffconcat script
// written into ffmpeg's pipe 3 (as the producer's ingest does).
import { FrameReader, type Frame } from './frame-reader.js';
import { ReconnectingFrames, statusMessage, type ConnectionEnd } from './reconnecting-frames.js';

/** A frame of the detect stream; `ptsNs` is on the detect timeline, `connection` counts from 1. */
export interface DetectFrame extends Frame { connection: number }

export type DetectStatus =
  | { type: 'connected'; connection: number }
  /** The connection's backlog is over: frames are yielded from here on (`skipped` were not). */
  | { type: 'live'; connection: number; skipped: number }
  | { type: 'ended'; connection: number; frames: number; error: string | null }
  | { type: 'retry'; delayMs: number; error: string | null };

/**
 * Frame intervals an ffmpeg reader of a live stream holds each frame back before anything downstream
 * sees it: H.264/H.265 parsers release a frame when the next one begins; other codecs (MJPEG…) arrive
 * as whole frames.
 */
export function parserLagFrames(codec: string | null | undefined): number {
  return codec && /^(h264|hevc|h265)$/i.test(codec) ? 1 : 0;
}

/**
 * Frame intervals (of the main stream) the producer's arrival-based anchor runs behind capture for a
 * live network source it stream-copies (rtsp://, http://…): the parser's lag plus the one packet its
 * ingest holds in FIRST_PTS_FIX. 0 for anything else (a file or the test source: no camera to pair a
 * sub-stream with).
 */
export function producerAnchorLagFrames(codec: string | null | undefined, source: string | null | undefined): number {
  const network = !!source && /^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:\/\//i.test(source);
  return network ? parserLagFrames(codec) + 1 : 0;
}

/** Sliding minimum of `arrival − pts` over a window of stream time: one connection's epoch mapping. */
export class ArrivalClock {
  private readonly deque: Array<{ ptsNs: number; offsetMs: number }> = [];
  private head = 0;
  /** Timestamped frames seen. */
  samples = 0;

  constructor(readonly windowMs = 30_000) {
    if (!(windowMs > 0)) throw new RangeError('windowMs must be > 0');
  }

  /** Feeds one frame: its PTS (ns) and when it arrived (epoch ms). Frames come in PTS order. */
  observe(ptsNs: number, arrivalEpochMs: number): void {
    if (!Number.isFinite(ptsNs) || !Number.isFinite(arrivalEpochMs)) return;
    this.samples++;
    const offsetMs = arrivalEpochMs - ptsNs / 1e6;
    while (this.deque.length > this.head && this.deque[this.deque.length - 1].offsetMs >= offsetMs) this.deque.pop();
    this.deque.push({ ptsNs, offsetMs });
    const oldest = ptsNs - this.windowMs * 1e6;
    while (this.deque.length - this.head > 1 && this.deque[this.head].ptsNs < oldest) this.head++;
    if (this.head > 1024) {
      this.deque.splice(0, this.head);
      this.head = 0;
    }
  }

  /** `epoch ms − pts ms` (least delay seen in the window), or null before the first frame. */
  get offsetMs(): number | null {
    return this.deque.length > this.head ? this.deque[this.head].offsetMs : null;
  }

  /** Epoch ms of a PTS under the current estimate (NaN before the first frame). */
  epochMsOf(ptsNs: number): number {
    const o = this.offsetMs;
    return o === null ? Number.NaN : ptsNs / 1e6 + o;
  }
}

interface Connection {
  connection: number; baseNs: number; firstPtsNs: number; lastPtsNs: number; clock: ArrivalClock;
  /** Recent positive PTS steps (ns), for the frame interval. */
  steps: number[];
  codec: string | null;
}

/** The detect timeline (see the header): connections shifted onto epoch-like ns, each with its clock. */
export class DetectTimeline {
  private readonly connections: Connection[] = [];
  private current: Connection | null = null;

  /** `originEpochMs`: the epoch instant of timeline PTS 0. */
  constructor(readonly windowMs = 30_000, readonly originEpochMs = Date.now(), private readonly keep = 16) {}

  /** Starts a connection at its first timestamped frame (raw PTS, arrival). */
  begin(connection: number, rawPtsNs: number, arrivalEpochMs: number): void {
    const prev = this.connections[this.connections.length - 1];
    let first = Math.max(0, Math.round((arrivalEpochMs - this.originEpochMs) * 1e6));
    // After everything the previous connection placed (its estimate may have moved its frames later
    // than their arrival), with a second of room.
    if (prev && first <= prev.lastPtsNs + 1e9) first = prev.lastPtsNs + 1e9;
    const c: Connection = {
      connection, baseNs: first - rawPtsNs, firstPtsNs: first, lastPtsNs: first, clock: new ArrivalClock(this.windowMs), steps: [], codec: null,
    };
    this.connections.push(c);
    if (this.connections.length > this.keep) this.connections.shift();
    this.current = c;
  }

  /** Whether `connection` has begun (its first timestamped frame was seen). */
  has(connection: number): boolean {
    return this.current?.connection === connection;
  }

  /** Places a raw PTS of the current connection on the timeline and feeds its arrival to the clock. */
  place(rawPtsNs: number, arrivalEpochMs: number): number {
    const c = this.current;
    if (!c) throw new Error('DetectTimeline.place before begin');
    const pts = rawPtsNs + c.baseNs;
    const step = pts - c.lastPtsNs;
    if (step > 0) {
      c.steps.push(step);
      if (c.steps.length > 31) c.steps.shift();
    }
    c.lastPtsNs = Math.max(c.lastPtsNs, pts);
    c.clock.observe(pts, arrivalEpochMs);
    return pts;
  }

  /** Records the current connection's codec (it decides the reader's lag, `parserLagFrames`). */
  setCodec(codec: string | null): void {
    if (this.current) this.current.codec = codec;
  }

  private connectionOf(ptsNs: number): Connection | null {
    for (let i = this.connections.length - 1; i >= 0; i--) {
      const c = this.connections[i];
      if (ptsNs >= c.firstPtsNs || i === 0) return c;
    }
    return null;
  }

  /** The median frame interval (ms) of the connection a timeline PTS belongs to (NaN before two frames). */
  frameIntervalMs(ptsNs: number): number {
    const c = this.connectionOf(ptsNs);
    if (!c || c.steps.length === 0) return Number.NaN;
    const sorted = [...c.steps].sort((a, b) => a - b);
    return sorted[sorted.length >> 1] / 1e6;
  }

  /**
   * Capture time (epoch ms) of a timeline PTS: its arrival-based epoch less the reader's own lag (one
   * frame interval for H.264/H.265, see `parserLagFrames`).
   */
  captureEpochMsForPtsNs(ptsNs: number): number {
    const c = this.connectionOf(ptsNs);
    if (!c) return Number.NaN;
    const lag = parserLagFrames(c.codec);
    return this.epochMsForPtsNs(ptsNs) - (lag > 0 ? lag * this.frameIntervalMs(ptsNs) : 0);
  }

  /** Arrival-based epoch ms of a timeline PTS, by the estimate of its connection (NaN when unknown). */
  epochMsForPtsNs(ptsNs: number): number {
    const c = this.connectionOf(ptsNs);
    return c ? c.clock.epochMsOf(ptsNs) : Number.NaN;
  }

  /** The current connection's least delay offset (epoch − pts, ms), for diagnostics. */
  get offsetMs(): number | null {
    return this.current?.clock.offsetMs ?? null;
  }
}

export interface DetectStreamOptions {
  /** An rtsp(s):// or http(s):// URL, or a file (read in real time, looped). */
  source: string;
  ffmpegPath?: string;
  /** Frame width (see FrameReader). Default 160. */
  width?: number;
  maxQueuedFrames?: number;
  /** Extra ffmpeg input options (after the ones chosen for the source kind). */
  inputArgs?: string[];
  /** Window of the least-delay estimate (ms of stream time). Default 30 s. */
  windowMs?: number;
  /** Backoff between connections (as LiveFrames). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** Connection life cycle; messages are credential-redacted. */
  onStatus?: (status: DetectStatus) => void;
}

function hasCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

function ffconcatQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/**
 * How ffmpeg opens the detect source: input options, the input, and the pipe-3 script when the URL has
 * credentials. One decoder thread (frame threading would hold frames back and bias the arrival times);
 * RTSP over TCP with a 5 s socket timeout, so a camera that stops sending ends the connection.
 */
export function detectInput(source: string, extra: readonly string[] = []): { input: string; inputArgs: string[]; fd3?: string } {
  const decoder = ['-threads', '1'];
  const demuxer: string[] = [];
  if (/^rtsps?:\/\//i.test(source)) demuxer.push('-rtsp_transport', 'tcp', '-timeout', '5000000');
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:\/\//i.test(source)) demuxer.push('-rw_timeout', '10000000');
  else demuxer.push('-re', '-stream_loop', '-1');
  if (!hasCredentials(source)) return { input: source.replace(/^file:\/\//i, ''), inputArgs: [...decoder, ...demuxer, ...extra] };
  const lines = ['ffconcat version 1.0', `file ${ffconcatQuote(source)}`];
  for (let i = 0; i + 1 < demuxer.length; i += 2) lines.push(`option ${demuxer[i].slice(1)} ${ffconcatQuote(demuxer[i + 1])}`);
  return {
    input: 'pipe:3',
    inputArgs: [...decoder, '-protocol_whitelist', 'pipe,file,rtsp,rtsps,rtp,srtp,udp,tcp,tls,crypto,http,https,httpproxy',
      '-f', 'concat', '-safe', '0', ...extra],
    fd3: lines.join('\n') + '\n',
  };
}

/** Iterates the detect stream forever (until `close()` or the signal), reconnecting with backoff. */
export class DetectStreamFrames extends ReconnectingFrames<DetectFrame> {
  readonly timeline: DetectTimeline;
  private readonly opts: DetectStreamOptions;
  private spec: ReturnType<typeof detectInput> | null = null;
  private connection = 0;

  constructor(options: DetectStreamOptions) {
    super(options.signal, { initialMs: options.initialDelayMs ?? 500, maxMs: options.maxDelayMs ?? 10_000 });
    this.opts = options;
    this.timeline = new DetectTimeline(options.windowMs ?? 30_000);
  }

  /** Capture time (epoch ms) of a detect-timeline PTS (see the header). */
  captureEpochMsForPtsNs(ptsNs: number): number {
    return this.timeline.captureEpochMsForPtsNs(ptsNs);
  }

  protected retrying(delayMs: number, error: string | null): void {
    this.opts.onStatus?.({ type: 'retry', delayMs, error });
  }

  /** One ffmpeg reading the stream: its frames placed on the detect timeline once they come live (see the header). */
  protected async *connect(): AsyncGenerator<DetectFrame, ConnectionEnd, undefined> {
    const o = this.opts;
    const spec = (this.spec ??= detectInput(o.source, o.inputArgs));
    const connection = ++this.connection;
    let frames = 0;
    let error: string | null = null;
    const reader = new FrameReader({
      input: spec.input, inputArgs: spec.inputArgs, fd3: spec.fd3, ffmpegPath: o.ffmpegPath, width: o.width,
      maxQueuedFrames: o.maxQueuedFrames, signal: this.ac.signal,
    });
    this.reader = reader;
    o.onStatus?.({ type: 'connected', connection });
    let live = false;
    let prev: { ptsNs: number; arrivalEpochMs: number } | null = null;
    try {
      for await (const f of reader) {
        frames++;
        let ptsNs = f.ptsNs;
        if (!Number.isFinite(ptsNs)) {
          if (live) yield { ...f, epochMs: null, connection };
          continue;
        }
        if (!this.timeline.has(connection)) {
          this.timeline.begin(connection, ptsNs, f.arrivalEpochMs);
          this.timeline.setCodec(reader.codec);
        }
        // The backlog: ffmpeg holds what arrives while it probes a new stream and then lets it out
        // at once. Until a frame comes about as long after the previous one as their PTS differ,
        // the clock has not seen the stream's real delay, and an event mapped then would land
        // late; those frames are left out (about as long as ffmpeg probed, at each connection).
        if (!live && prev && f.arrivalEpochMs - prev.arrivalEpochMs >= (ptsNs - prev.ptsNs) / 2e6) {
          live = true;
          o.onStatus?.({ type: 'live', connection, skipped: frames - 1 });
        }
        prev = { ptsNs, arrivalEpochMs: f.arrivalEpochMs };
        ptsNs = this.timeline.place(ptsNs, f.arrivalEpochMs);
        if (live) yield { ...f, ptsNs, epochMs: this.timeline.captureEpochMsForPtsNs(ptsNs), connection };
      }
    } catch (e) {
      error = statusMessage(e);
    } finally {
      await reader.close();
      this.reader = null;
    }
    if (!this.ac.signal.aborted) o.onStatus?.({ type: 'ended', connection, frames, error });
    return { frames, error };
  }
}
