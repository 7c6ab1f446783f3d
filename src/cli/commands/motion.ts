// `segrec motion --producer URL`: the motion pipeline against any producer — its live stream decoded to
// small gray frames, frame-differencing events, preroll/postroll and merging in PTS, /force_rotate when
// an event reaches into the open segment, Recorder.requestClip in PTS mode with retries, and a JSONL
// log of events and clips. Runs until Ctrl-C.
import { resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseFlags, UsageError, type FlagDef } from '../../common/flags.js';
import { COMMON_FLAGS, connFrom, EXIT } from '../client.js';
import { dur, parseSpan } from '../format.js';
import { Recorder } from '../../record/index.js';
import { timebaseFromHealthPayload } from '../../common/timebase.js';
import { ClipStage, ClipPlanner, LiveFrames, MotionDetector, runMotionPipeline, type AnalysisRecord } from '../../analysis/index.js';

export const MOTION_FLAGS: FlagDef[] = [
  ...COMMON_FLAGS,
  { name: 'log', value: true, help: 'JSONL log of events and clips (default ./motion-events.jsonl)' },
  { name: 'preroll', value: true, help: 'footage kept before an event (default 2s)' },
  { name: 'postroll', value: true, help: 'footage kept after an event (default 2s)' },
  { name: 'label', value: true, help: 'clip label (default motion)' },
  { name: 'min-area', value: true, help: 'fraction of changed pixels that counts as motion (default 0.003)' },
  { name: 'threshold', value: true, help: 'per-pixel change that is not noise, 0-255 (default 25)' },
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
  signal: AbortSignal;
  /** One human-readable line per happening. */
  print: (line: string) => void;
}

async function getJson(url: string, token: string | null, init: RequestInit = {}): Promise<Record<string, unknown>> {
  const r = await fetch(url, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });
  if (!r.ok) throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${r.status}`);
  return (await r.json()) as Record<string, unknown>;
}

export async function runMotion(o: MotionRunOptions): Promise<{ events: number; clips: number; clipErrors: number }> {
  const health = await getJson(`${o.baseUrl}/health`, o.token);
  const tb = timebaseFromHealthPayload(health);
  const recorder = new Recorder({ producerBaseUrl: o.baseUrl, maxWaitMs: 60_000, pollIntervalMs: 250, authToken: o.token ?? undefined }, tb);
  mkdirSync(dirname(o.logPath), { recursive: true });
  const stage = new ClipStage({
    recorder,
    logPath: o.logPath,
    label: o.label,
    signal: o.signal,
    forceRotate: () => getJson(`${o.baseUrl}/force_rotate`, o.token, { method: 'POST' }),
    openSegmentStartPtsNs: async () => {
      const h = await getJson(`${o.baseUrl}/health`, o.token);
      const seg = h.segments as { open_start_pts_ns?: number | null } | undefined;
      return seg?.open_start_pts_ns ?? null;
    },
    epochMsForPtsNs: (pts) => tb.ptsToEpochMs(pts),
    onRecord: (r: AnalysisRecord) => {
      if (r.type === 'event') {
        o.print(`motion event: ${dur(r.durationMs)} (peak ${(r.peakScore * 100).toFixed(1)} % of the picture changed)`);
      } else if (r.type === 'clip') {
        o.print(`clip ${r.jobId}: ${dur((r.stopPtsNs - r.startPtsNs) / 1e6)} → ${r.path}`);
      } else {
        o.print(`clip failed: ${r.error.message}`);
      }
    },
  });
  const frames = new LiveFrames({
    producerBaseUrl: o.baseUrl,
    authToken: o.token ?? undefined,
    signal: o.signal,
    epochMsForPtsNs: (pts) => tb.ptsToEpochMs(pts),
    onStatus: (s) => { if (s.type !== 'connected' && s.error) o.print(`live stream ${s.type}: ${s.error}`); },
  });
  const detector = new MotionDetector({
    ...(o.minArea !== undefined ? { minArea: o.minArea } : {}),
    ...(o.noiseThreshold !== undefined ? { noiseThreshold: o.noiseThreshold } : {}),
  });
  const planner = new ClipPlanner({ prerollMs: o.prerollMs, postrollMs: o.postrollMs });
  const summary = await runMotionPipeline({ frames, detector, planner, stage });
  return { events: summary.events, clips: summary.clips, clipErrors: summary.clipErrors };
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
