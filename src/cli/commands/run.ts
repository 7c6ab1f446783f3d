// `segrec run --config segrec.yml` (or `--camera NAME=URL …`): the producer and, in the same process, one
// motion pipeline per camera whose `motion` is enabled — what `segrec producer` plus one `segrec motion`
// per camera would do, kept in step with the cameras.
//
// Each pipeline talks to its camera's own routes (`/cameras/NAME/…`: live.mp4, health, force_rotate,
// clip) with the camera's motion settings (threshold, min_area_pct, pre_roll, post_roll). It detects on
// the camera's `detect_source` when one is configured (the sub-stream, read straight from the camera;
// events are mapped onto the main stream's PTS by wall-clock time, see src/analysis/detect-stream.ts),
// else on the camera's live stream; either way clips are cut from the recording of the main stream.
// Events and clips go to DATA/…/motion-events.jsonl of the camera and to the terminal, one line each,
// prefixed with the camera's name.
//
// Reload (SIGHUP, or POST /config/reload): the App's `reload` is wrapped so that, whichever way it comes,
// the pipelines of cameras that stop or restart are stopped first — they finish their open event and
// ask for its clip while the camera still records — and after the reload every camera that should
// have a pipeline has one (a restarted camera gets a new one). A pipeline that fails is started again
// after a pause.
//
// With --camera flags every camera gets motion (that is what `run` adds to `segrec producer`), with
// the detector's defaults and 2 s of pre/post roll; `--detect NAME=URL` gives camera NAME a sub-stream.
import { join } from 'node:path';
import { OptionsError, parseProducerArgs } from '../../producer/options.js';
import { startApp, type ProducerHandle } from '../../producer/app.js';
import type { Producer } from '../../producer/producer.js';
import { cameraDataDir } from '../../producer/camera-names.js';
import { ConfigError, loadAppConfig, type AppConfig, type CameraConfig } from '../../producer/config/app-config.js';
import { redactUrl } from '../../common/redact.js';
import { EXIT } from '../client.js';
import { configFromArgv, PRODUCER_HELP, startFailure, takeCameraFlags } from '../producer-cmd.js';
import { runMotion } from './motion.js';

export const RUN_HELP = `segrec run [--config segrec.yml | --camera NAME=URL … [--detect NAME=URL …] [producer flags]]
  the producer plus a motion pipeline for every camera with motion enabled (with --camera: every camera);
  a camera's detect_source (--detect NAME=URL) is its low-resolution sub-stream for detection; clips are
  cut from its main stream. SIGHUP re-reads --config; pipelines follow the cameras.`;

/** Pre/post roll when a camera's motion block gives none. */
export const DEFAULT_ROLL_MS = 2000;
/** How long a stopping pipeline may still spend asking for the clips of its last events. */
export const STOP_GRACE_MS = 15_000;
/** Pause before a failed pipeline is started again. */
const RESTART_DELAY_MS = 5000;

/** One line for the terminal, for one camera (null: the run as a whole). */
export type CameraPrinter = (camera: string | null, line: string) => void;

/** Prints `HH:MM:SS.mmm  camera  line` to stdout, camera names padded to a common width. */
export function terminalPrinter(names: () => string[], write: (s: string) => void = (s) => process.stdout.write(s)): CameraPrinter {
  return (camera, line) => {
    const width = Math.max(6, ...names().map((n) => n.length));
    const who = (camera ?? '').padEnd(width);
    write(`${new Date().toISOString().slice(11, 23)}  ${who}  ${line}\n`);
  };
}

/** The motion settings a camera's pipeline runs with. */
export function motionSettings(c: CameraConfig): {
  prerollMs: number; postrollMs: number; minArea?: number; noiseThreshold?: number; detectSource: string | null;
} {
  return {
    prerollMs: c.motion.preRollMs ?? DEFAULT_ROLL_MS,
    postrollMs: c.motion.postRollMs ?? DEFAULT_ROLL_MS,
    ...(c.motion.minAreaPct !== null ? { minArea: c.motion.minAreaPct / 100 } : {}),
    ...(c.motion.threshold !== null ? { noiseThreshold: c.motion.threshold } : {}),
    detectSource: c.detectSource,
  };
}

/** Whether a camera gets a motion pipeline. */
export function wantsMotion(c: CameraConfig): boolean {
  return c.record && c.motion.enabled;
}

export interface PipelineSummary { events: number; clips: number; clipErrors: number }

interface Running {
  camera: string;
  /** The camera's configuration and Producer the pipeline was started for. */
  config: string;
  producer: Producer;
  frames: AbortController;
  stage: AbortController;
  done: Promise<void>;
  totals: PipelineSummary;
}

export interface MotionSupervisorOptions {
  handle: ProducerHandle;
  print: CameraPrinter;
  label?: string;
  /** Stop grace (ms) for the clips of the last events. Default STOP_GRACE_MS. */
  stopGraceMs?: number;
}

/** Runs one motion pipeline per camera that wants one, and keeps that so across reloads. */
export class MotionSupervisor {
  private readonly running = new Map<string, Running>();
  private stopped = false;
  /** Events and clips of pipelines that have ended, per camera. */
  readonly totals = new Map<string, PipelineSummary>();

  constructor(private readonly o: MotionSupervisorOptions) {}

  /** Camera names with a running pipeline. */
  get cameras(): string[] {
    return [...this.running.keys()];
  }

  /** Starts (or restarts) pipelines to match `config` and the App's running cameras; stops the others. */
  async sync(config: AppConfig): Promise<void> {
    const want = new Map(config.cameras.filter(wantsMotion).map((c) => [c.name, c]));
    const stops: Promise<void>[] = [];
    for (const [name, r] of this.running) {
      const c = want.get(name);
      const producer = this.o.handle.app.cameras.get(name);
      if (!c || producer !== r.producer || JSON.stringify(c) !== r.config) stops.push(this.stopOne(name));
    }
    await Promise.all(stops);
    if (this.stopped) return;
    for (const [name, c] of want) {
      const producer = this.o.handle.app.cameras.get(name);
      if (producer && !this.running.has(name)) this.startOne(c, producer);
    }
  }

  /** Before a reload to `next`: stops the pipelines of cameras that stop or change, while they still record. */
  async beforeReload(next: AppConfig): Promise<void> {
    const after = new Map(next.cameras.map((c) => [c.name, c]));
    await Promise.all([...this.running.values()]
      .filter((r) => {
        const c = after.get(r.camera);
        return !c || !wantsMotion(c) || JSON.stringify(c) !== r.config;
      })
      .map((r) => this.stopOne(r.camera)));
  }

  /** Stops every pipeline (each finishes its open event; clips get the stop grace). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.running.keys()].map((n) => this.stopOne(n)));
  }

  private startOne(c: CameraConfig, producer: Producer): void {
    const handle = this.o.handle;
    const name = c.name;
    const s = motionSettings(c);
    const frames = new AbortController();
    const stage = new AbortController();
    const totals: PipelineSummary = { events: 0, clips: 0, clipErrors: 0 };
    const print = (line: string) => this.o.print(name, line);
    const r: Running = { camera: name, config: JSON.stringify(c), producer, frames, stage, totals, done: Promise.resolve() };
    const app = handle.app;
    const logPath = join(cameraDataDir(app.options.dataDir, name), 'motion-events.jsonl');
    print(`motion: detecting on ${s.detectSource ? redactUrl(s.detectSource) + ' (sub-stream; clips from the main stream)' : 'the live stream'}` +
      `, pre/post roll ${s.prerollMs / 1000}/${s.postrollMs / 1000} s, events in ${logPath}`);
    r.done = (async () => {
      while (!frames.signal.aborted) {
        try {
          const sum = await runMotion({
            baseUrl: `${handle.url}/cameras/${encodeURIComponent(name)}`, token: app.options.authToken, logPath,
            prerollMs: s.prerollMs, postrollMs: s.postrollMs, label: this.o.label ?? 'motion', minArea: s.minArea,
            noiseThreshold: s.noiseThreshold, detectSource: s.detectSource, ffmpegPath: app.options.ffmpeg,
            signal: frames.signal, stageSignal: stage.signal, print,
          });
          totals.events += sum.events;
          totals.clips += sum.clips;
          totals.clipErrors += sum.clipErrors;
        } catch (e) {
          if (frames.signal.aborted) break;
          print(`motion pipeline failed: ${redactUrl((e as Error).message)} (restarting in ${RESTART_DELAY_MS / 1000} s)`);
        }
        if (frames.signal.aborted) break;
        await new Promise<void>((res) => {
          const t = setTimeout(done, RESTART_DELAY_MS);
          function done(): void { clearTimeout(t); frames.signal.removeEventListener('abort', done); res(); }
          frames.signal.addEventListener('abort', done, { once: true });
        });
      }
    })();
    this.running.set(name, r);
  }

  private async stopOne(name: string): Promise<void> {
    const r = this.running.get(name);
    if (!r) return;
    this.running.delete(name);
    r.frames.abort();
    const grace = setTimeout(() => r.stage.abort(), this.o.stopGraceMs ?? STOP_GRACE_MS);
    try {
      await r.done;
    } finally {
      clearTimeout(grace);
    }
    const t = this.totals.get(name) ?? { events: 0, clips: 0, clipErrors: 0 };
    this.totals.set(name, { events: t.events + r.totals.events, clips: t.clips + r.totals.clips, clipErrors: t.clipErrors + r.totals.clipErrors });
    this.o.print(name, `motion pipeline stopped: ${r.totals.events} events, ${r.totals.clips} clips, ${r.totals.clipErrors} failed`);
  }
}

/**
 * Starts one motion pipeline per camera of the App that wants one, and wraps the App's `reload` so the
 * pipelines follow the cameras (see the header).
 */
export async function startMotion(handle: ProducerHandle, config: AppConfig, o: Omit<MotionSupervisorOptions, 'handle'>): Promise<MotionSupervisor> {
  const sup = new MotionSupervisor({ ...o, handle });
  const app = handle.app;
  const reload = app.reload.bind(app);
  let chain: Promise<unknown> = Promise.resolve();
  app.reload = (next: AppConfig) => {
    const step = chain.then(async () => {
      await sup.beforeReload(next);
      try {
        return await reload(next);
      } finally {
        await sup.sync(next);
      }
    });
    chain = step.catch(() => undefined);
    return step;
  };
  await sup.sync(config);
  return sup;
}

/** `--detect NAME=URL` flags taken out of argv. */
export function takeDetectFlags(argv: string[]): { detect: Map<string, string>; rest: string[] } {
  const detect = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = /^--detect(?:=(.*))?$/s.exec(argv[i]);
    if (!m) { rest.push(argv[i]); continue; }
    const value = m[1] ?? argv[++i];
    const eq = value === undefined ? -1 : value.indexOf('=');
    if (value === undefined || eq <= 0 || eq === value.length - 1) throw new OptionsError('--detect must look like NAME=URL (the camera\'s sub-stream)');
    detect.set(value.slice(0, eq), value.slice(eq + 1).trim());
  }
  return { detect, rest };
}

/** The configuration `segrec run` argv asks for: a file as it is, or --camera flags with motion on every camera. */
export function runConfigFromArgv(argv: string[], env: NodeJS.ProcessEnv = process.env): AppConfig {
  const { detect, rest } = takeDetectFlags(argv);
  if (detect.size > 0 && takeCameraFlags(rest).config !== null) throw new OptionsError('with --config, detect_source goes in the file');
  const config = configFromArgv(rest, env);
  if (config.file !== null) return config;
  for (const name of detect.keys()) {
    if (!config.cameras.some((c) => c.name === name)) throw new OptionsError(`--detect ${JSON.stringify(name)}: no camera of that name (give it with --camera NAME=URL)`);
  }
  return {
    ...config,
    cameras: config.cameras.map((c) => ({ ...c, detectSource: detect.get(c.name) ?? c.detectSource, motion: { ...c.motion, enabled: true } })),
  };
}

export default async function runCommand(argv: string[]): Promise<number> {
  let config: AppConfig;
  try {
    config = runConfigFromArgv(argv);
  } catch (e) {
    if (e instanceof OptionsError || e instanceof ConfigError || e instanceof Error) {
      process.stderr.write(`segrec run: ${e.message}\n\n${RUN_HELP}\n\n${PRODUCER_HELP}\n`);
      return EXIT.usage;
    }
    throw e;
  }
  let handle: ProducerHandle;
  try {
    // The terminal is for events and clips: the producer's own log says only warnings unless asked.
    handle = await startApp({ ...config, global: { logLevel: 'warn', ...config.global } });
  } catch (e) {
    process.stderr.write(`segrec run: ${startFailure(e)}\n`);
    return e instanceof OptionsError ? EXIT.usage : EXIT.failed;
  }
  const app = handle.app;
  const print = terminalPrinter(() => [...app.cameras.keys()]);
  const file = config.file;
  if (file !== null) app.reloadSource = () => loadAppConfig(file, parseProducerArgs([], process.env));
  const onHup = () => {
    if (file === null) return;
    let next: AppConfig;
    try {
      next = loadAppConfig(file, parseProducerArgs([], process.env));
    } catch (e) {
      process.stderr.write(`segrec run: SIGHUP: ${(e as Error).message} (configuration unchanged)\n`);
      return;
    }
    app.reload(next).then(
      (r) => print(null, `configuration reloaded: added ${r.added.join(',') || '-'}, removed ${r.removed.join(',') || '-'}, restarted ${r.restarted.join(',') || '-'}`),
      (e: Error) => process.stderr.write(`segrec run: reload failed: ${e.message}\n`),
    );
  };
  process.on('SIGHUP', onHup);
  const names = [...app.cameras.keys()];
  process.stderr.write(`producer running at ${handle.url} with ${names.length} camera(s): ${names.join(', ')} (Ctrl-C to stop)\n`);
  const s = await startMotion(handle, config, { print });
  if (s.cameras.length === 0) print(null, 'no camera has motion enabled (motion: {enabled: true} in the camera\'s block)');
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      process.off('SIGHUP', onHup);
      print(null, `${sig}: finishing open events, sealing the open segments…`);
      s.stop()
        .then(() => handle.close())
        .then(() => resolve(EXIT.ok), (e: Error) => {
          process.stderr.write(`segrec run: error while stopping: ${e.message}\n`);
          resolve(EXIT.failed);
        });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
