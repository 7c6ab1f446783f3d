// `segrec motion --producer URL`: the motion pipeline against any producer — its live stream decoded to
// small gray frames, frame-differencing events, preroll/postroll and merging in PTS, /force_rotate when
// an event reaches into the open segment, Recorder.requestClip in PTS mode with retries, and a JSONL
// log of events and clips. Runs until Ctrl-C.
//
// With --detect-source URL (a camera's low-resolution sub-stream), frames are read from that URL instead
// of the producer's live stream and events are mapped onto the producer's PTS by wall-clock time
// (src/analysis/detect-stream.ts explains the method); the clips are still cut from the producer's
// recording of the main stream. `segrec run` starts one of these per camera (src/cli/commands/run.ts).
import { resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseFlags, UsageError, type FlagDef } from '../../common/flags.js';
import { COMMON_FLAGS, connFrom, EXIT } from '../client.js';
import { dur, parseSpan, spanNs } from '../format.js';
import { Recorder } from '../../record/index.js';
import { timebaseFromHealthPayload, type Timebase } from '../../common/timebase.js';
import {
  ClipStage, ClipPlanner, DetectStreamFrames, LiveFrames, MotionDetector, producerAnchorLagFrames, redactCredentials, runMotionPipeline,
  type AnalysisRecord, type DetectFrame, type LiveFrame,
} from '../../analysis/index.js';
import { abortableSleep } from '../../common/sleep.js';
import type { PtsValue } from '../../protocol/pts.js';
import { parseWireJson } from '../../protocol/wire-json.js';

export const MOTION_FLAGS: FlagDef[] = [
  ...COMMON_FLAGS,
  { name: 'log', value: true, help: 'JSONL log of events and clips (default ./motion-events.jsonl)' },
  { name: 'preroll', value: true, help: 'footage kept before an event (default 2s)' },
  { name: 'postroll', value: true, help: 'footage kept after an event (default 2s)' },
  { name: 'label', value: true, help: 'clip label (default motion)' },
  { name: 'min-area', value: true, help: 'fraction of changed pixels that counts as motion (default 0.003)' },
  { name: 'threshold', value: true, help: 'per-pixel change that is not noise, 0-255 (default 25)' },
  { name: 'detect-source', value: true, help: 'read frames from this URL (the camera\'s sub-stream) instead of the live stream' },
];

export interface MotionRunOptions {
  baseUrl: string;
  token: string | null;
  logPath: string;
  prerollMs: number;
  postrollMs: number;
  label: string;
  minArea?: number;
  noiseThreshold?: number;
  /** Stops reading frames: the open event is finished and its clip asked for. */
  signal: AbortSignal;
  /** Aborts clip requests in flight or queued (they end as clip_error records). Default: `signal`. */
  stageSignal?: AbortSignal;
  /** A camera sub-stream URL to detect on (clips are still cut from the producer's main stream); null: the live stream. */
  detectSource?: string | null;
  ffmpegPath?: string;
  /** How often the producer's epoch↔PTS anchor is re-read. Default 2 s. */
  timebaseRefreshMs?: number;
  /** One human-readable line per happening. */
  print: (line: string) => void;
}

/** Footage recorded after the first fragment before detection on a sub-stream starts. */
const LIVE_FOOTAGE_NS = 2e9;

/** The end of the camera's newest footage per a /health answer (null before any; a bigint past 2^53). */
function newestStopPtsNs(h: Record<string, unknown>): PtsValue | null {
  const seg = h.segments as { newest_stop_pts_ns?: unknown } | undefined;
  const v = seg?.newest_stop_pts_ns;
  return typeof v === 'number' || typeof v === 'bigint' ? v : null;
}

/** The main stream's frame interval (ms; NaN when unknown) and the producer's anchor lag in its frames. */
function mainStreamFacts(h: Record<string, unknown>): { frameMs: number; lagFrames: number } {
  const ingest = (h.ingest ?? {}) as { fps?: number | null; codec?: string | null; source?: string | null };
  const fps = typeof ingest.fps === 'number' && ingest.fps > 0 ? ingest.fps : NaN;
  return { frameMs: 1000 / fps, lagFrames: producerAnchorLagFrames(ingest.codec, ingest.source) };
}

export interface MotionRunSummary { events: number; clips: number; clipErrors: number; frames: number }

async function getJson(url: string, token: string | null, init: RequestInit = {}): Promise<Record<string, unknown>> {
  const r = await fetch(url, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });
  if (!r.ok) throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${r.status}`);
  // As the wire has it: PTS past 2^53 become bigints (JSON.parse would round them).
  return parseWireJson(await r.text()) as Record<string, unknown>;
}

export async function runMotion(o: MotionRunOptions): Promise<MotionRunSummary> {
  const health = await getJson(`${o.baseUrl}/health`, o.token);
  // The producer's epoch↔PTS anchor, re-read every few seconds (its estimate improves as fragments
  // arrive and follows the source clock's drift): events on a sub-stream are mapped with it, and the
  // records' wall-clock times come from it.
  let tb: Timebase = timebaseFromHealthPayload(health);
  let main = mainStreamFacts(health);
  const stageSignal = o.stageSignal ?? o.signal;
  const recorder = new Recorder({ producerBaseUrl: o.baseUrl, maxWaitMs: 60_000, pollIntervalMs: 250, authToken: o.token ?? undefined }, tb);
  mkdirSync(dirname(o.logPath), { recursive: true });
  const stage = new ClipStage({
    recorder,
    logPath: o.logPath,
    label: o.label,
    signal: stageSignal,
    forceRotate: () => getJson(`${o.baseUrl}/force_rotate`, o.token, { method: 'POST' }),
    openSegmentStartPtsNs: async () => {
      const h = await getJson(`${o.baseUrl}/health`, o.token);
      const seg = h.segments as { open_start_pts_ns?: PtsValue | null } | undefined;
      return seg?.open_start_pts_ns ?? null;
    },
    epochMsForPtsNs: (pts) => tb.ptsToEpochMs(pts),
    onRecord: (r: AnalysisRecord) => {
      if (r.type === 'event') {
        o.print(`motion event: ${dur(r.durationMs)} (peak ${(r.peakScore * 100).toFixed(1)} % of the picture changed)`);
      } else if (r.type === 'clip') {
        o.print(`clip ${r.jobId}: ${dur(spanNs(r.startPtsNs, r.stopPtsNs) / 1e6)} → ${r.path}`);
      } else {
        o.print(`clip failed: ${r.error.message}`);
      }
    },
  });
  let frames: AsyncIterable<LiveFrame | DetectFrame>;
  let clipTime: ((ptsNs: number) => PtsValue) | undefined;
  if (o.detectSource) {
    const shown = redactCredentials(o.detectSource);
    // Detection starts once the main stream is recorded live: events before its footage could not be
    // clipped, and the producer's epoch↔PTS anchor settles over its first fragments (those ffmpeg held
    // while probing arrive late) — 2 s of new footage after the first.
    let h = health;
    let firstStop: PtsValue | null = null;
    let told = false;
    for (;;) {
      const stop = newestStopPtsNs(h);
      if (stop !== null) firstStop ??= stop;
      if (o.signal.aborted || (stop !== null && firstStop !== null && spanNs(firstStop, stop) >= LIVE_FOOTAGE_NS)) break;
      if (!told) o.print(`waiting for the camera to record before detecting on ${shown}`);
      told = true;
      await abortableSleep(500, o.signal);
      try {
        h = await getJson(`${o.baseUrl}/health`, o.token);
      } catch {
        // The camera is (re)starting: ask again.
      }
    }
    // The main stream's side of the mapping (detect-stream.ts): frame interval and anchor lag in frames.
    main = mainStreamFacts(h);
    tb = timebaseFromHealthPayload(h);
    let lastError = '';
    const detect = new DetectStreamFrames({
      source: o.detectSource, ffmpegPath: o.ffmpegPath, signal: o.signal,
      onStatus: (s) => {
        if (s.type === 'live') {
          lastError = '';
          o.print(s.connection === 1 ? `detecting on ${shown}` : `detecting on ${shown} again (connection ${s.connection})`);
        }
        if (s.type === 'ended' && s.error) {
          // ffmpeg's complaint: its summary line and the last thing it said; a repeat is not printed again.
          const lines = s.error.split('\n').map((l) => l.trim()).filter(Boolean);
          const msg = `${lines[0]}${lines.length > 1 ? ` ${lines[lines.length - 1]}` : ''}`;
          if (msg !== lastError) o.print(`detect stream ended: ${msg} (retrying)`);
          lastError = msg;
        }
      },
    });
    frames = detect;
    clipTime = (pts) => {
      const frameMs = Number.isFinite(main.frameMs) ? main.frameMs : detect.timeline.frameIntervalMs(pts);
      const epochMs = detect.captureEpochMsForPtsNs(pts) + main.lagFrames * frameMs;
      // NaN until the detect stream's frame interval is known (its second frame): nothing is mapped then.
      return Number.isFinite(epochMs) ? tb.epochMsToPts(epochMs) : Number.NaN;
    };
  } else {
    frames = new LiveFrames({
      producerBaseUrl: o.baseUrl,
      authToken: o.token ?? undefined,
      ffmpegPath: o.ffmpegPath,
      signal: o.signal,
      epochMsForPtsNs: (pts) => tb.ptsToEpochMs(pts),
      onStatus: (s) => { if (s.type !== 'connected' && s.error) o.print(`live stream ${s.type}: ${s.error}`); },
    });
  }
  const detector = new MotionDetector({
    ...(o.minArea !== undefined ? { minArea: o.minArea } : {}),
    ...(o.noiseThreshold !== undefined ? { noiseThreshold: o.noiseThreshold } : {}),
  });
  const planner = new ClipPlanner({ prerollMs: o.prerollMs, postrollMs: o.postrollMs });
  const refreshStop = new AbortController();
  const refresher = (async () => {
    while (!refreshStop.signal.aborted) {
      await abortableSleep(o.timebaseRefreshMs ?? 2000, refreshStop.signal);
      if (refreshStop.signal.aborted) break;
      try {
        const fresh = await getJson(`${o.baseUrl}/health`, o.token);
        tb = timebaseFromHealthPayload(fresh);
        main = mainStreamFacts(fresh);
      } catch {
        // The producer is busy or restarting this camera: keep the last anchor.
      }
    }
  })();
  try {
    const summary = await runMotionPipeline({ frames, detector, planner, stage, clipTime });
    return { events: summary.events, clips: summary.clips, clipErrors: summary.clipErrors, frames: summary.frames };
  } finally {
    refreshStop.abort();
    await refresher;
  }
}

function num(v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number`);
  return n;
}

export default async function motionCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, MOTION_FLAGS);
  const c = connFrom(flags);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const print = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 23)}  ${line}\n`);
  let result;
  try {
    result = await runMotion({
      baseUrl: c.baseUrl, token: c.token, logPath: resolve(String(flags.get('log') ?? 'motion-events.jsonl')),
      prerollMs: parseSpan(String(flags.get('preroll') ?? '2s')), postrollMs: parseSpan(String(flags.get('postroll') ?? '2s')),
      label: String(flags.get('label') ?? 'motion'), minArea: num(flags.get('min-area'), 'min-area'),
      noiseThreshold: num(flags.get('threshold'), 'threshold'), signal: ac.signal, print,
      detectSource: (flags.get('detect-source') as string | undefined) ?? null,
    });
  } catch (e) {
    if ((e as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED' || /fetch failed/.test((e as Error).message)) {
      process.stderr.write(`segrec motion: producer not reachable at ${c.baseUrl}. Start one with \`segrec producer\`, or pass --producer URL.\n`);
      return EXIT.unreachable;
    }
    throw e;
  }
  print(`stopped: ${result.events} events, ${result.clips} clips, ${result.clipErrors} failed`);
  return result.clipErrors > 0 ? EXIT.failed : EXIT.ok;
}
