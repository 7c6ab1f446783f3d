// Supervises the ffmpeg child: spawns it (argument array from the ingest plan, no shell; credentials
// written into its pipe 3), splits its stdout into fMP4 boxes, hands the init segment and whole
// moof+mdat fragments to a sink, watches that media flows (bytes on stdout: ffmpeg fragments at least
// every second, so a long GOP is no stall), surfaces ffmpeg's warnings (timestamp trouble) in the log,
// rate-limited, and restarts it with capped exponential backoff whenever it exits, stalls, sends bytes
// that are not MP4, or a keyframe brings video parameters its init does not declare (a mid-stream
// resolution/codec change). Its state
// (`starting|running|stalled|restarting|failed|stopped`) is what /health reports — except that the
// producer reports `degraded` instead of `running` while the segment writer cannot store what ffmpeg
// delivers (disk full): the source is fine then, the storage is not.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../common/log.js';
import { redactSecrets } from '../../common/redact.js';
import { TopLevelBoxSplitter } from '../../mp4/splitter.js';
import { parseInit, type InitSegment } from '../../mp4/init.js';
import { parseMoof, type ParsedMoof } from '../../mp4/fragment.js';
import { declaredParameterSets, sequenceChanged, type ParameterSets } from '../../mp4/param-sets.js';
import type { IngestFragment } from '../segments/segment-writer.js';
import type { SpawnSpec } from './source-args.js';
import { WarningLog } from './warning-log.js';

export type IngestState = 'starting' | 'running' | 'stalled' | 'restarting' | 'failed' | 'stopped' | 'degraded';

export interface IngestSink {
  runStarted(runId: number, init: InitSegment): void;
  fragment(runId: number, f: IngestFragment): void;
  runEnded(runId: number, reason: string): void;
}

/** Where each run's arguments come from, and who hears how a run ended. */
export interface RunPlanner {
  next(): Promise<SpawnSpec>;
  runEnded(hadFragments: boolean, stderrTail: string): void;
}

export interface SupervisorOptions {
  ffmpeg: string;
  plan: RunPlanner;
  /** Strings to scrub from anything reported (source URL passwords). */
  secrets: string[];
  log: Logger;
  sink: IngestSink;
  /** How long ffmpeg may send nothing before it counts as stalled; default max(5 s, 3 × the longest fragment interval seen). */
  stallTimeoutMs?: number | null;
  /** How long a fresh ffmpeg may take to deliver its first fragment (it waits for a keyframe: GOPs up to 30 s). */
  startupTimeoutMs?: number;
  /** First run id (continues the index's numbering). */
  firstRunId: number;
  backoffMs?: number[];
}

// A camera that reboots is back in seconds: retry often enough to lose little (a down camera costs one
// failed connection every 5 s).
const DEFAULT_BACKOFF = [500, 1000, 2000, 3000, 5000];
const DEFAULT_STARTUP_TIMEOUT_MS = 40_000;

export class IngestSupervisor {
  state: IngestState = 'stopped';
  restarts = 0;
  lastError: string | null = null;
  /** When lastError was set (epoch ms). */
  lastErrorAtMs: number | null = null;
  lastFragmentAtMs: number | null = null;
  /** When ffmpeg last wrote anything on stdout (media flowing). */
  lastBytesAtMs: number | null = null;
  runId: number;
  /** ffmpeg's pid while it runs (tests use it to inject faults). */
  pid: number | null = null;
  consecutiveFailures = 0;

  private child: ChildProcess | null = null;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private spawnedAtMs = 0;
  /** The plan is preparing the next run (probing the source); no child yet. */
  private preparing = false;
  private maxFragmentIntervalMs = 0;
  private runHadFragments = false;
  private killReason: string | null = null;
  private stderrTail = '';
  private exitWaiters: Array<() => void> = [];
  private readonly warnings: WarningLog;
  private nonMonotonic: number[] = [];

  constructor(private readonly o: SupervisorOptions) {
    this.runId = o.firstRunId - 1;
    this.warnings = new WarningLog(o.log, (s) => this.redact(s));
  }

  /** The longest recent interval between fragments (about one GOP), 0 before the second fragment. */
  get fragmentIntervalMs(): number {
    return this.maxFragmentIntervalMs;
  }

  start(): void {
    this.stopping = false;
    this.spawnChild();
    this.watchdog = setInterval(() => this.checkStall(), 250);
    this.watchdog.unref();
  }

  /** Stops ffmpeg gracefully (it flushes its last fragment), SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.restartTimer = null;
    this.watchdog = null;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => this.exitWaiters.push(r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    }
    this.state = 'stopped';
  }

  private redact(s: string): string {
    return redactSecrets(s, this.o.secrets);
  }

  private spawnChild(): void {
    this.runId++;
    const runId = this.runId;
    // A source that keeps failing stays 'failed' until it delivers video again.
    if (this.state !== 'failed') this.state = 'starting';
    this.spawnedAtMs = Date.now();
    this.runHadFragments = false;
    this.killReason = null;
    this.stderrTail = '';
    this.preparing = true;
    this.o.plan.next().then((spec) => {
      this.preparing = false;
      if (this.stopping) return; // stopped while probing: no run began, nothing to report
      this.spawnedAtMs = Date.now();
      this.launch(runId, spec);
    }, (e: unknown) => {
      this.preparing = false;
      if (!this.stopping) this.onExit(runId, null, null, `could not prepare ffmpeg: ${(e as Error).message}`);
    });
  }

  private launch(runId: number, spec: SpawnSpec): void {
    let child: ChildProcess;
    try {
      // Own process group: a terminal's Ctrl-C reaches only us, and we stop ffmpeg with one SIGTERM
      // (a second signal makes it exit without flushing its last fragment). If we die, its stdout
      // pipe breaks and it exits on its next write. Pipe 3 carries the input script (credentials).
      child = spawn(this.o.ffmpeg, spec.args, { stdio: ['ignore', 'pipe', 'pipe', spec.fd3 === null ? 'ignore' : 'pipe'], detached: true });
    } catch (e) {
      this.onExit(runId, null, null, (e as Error).message);
      return;
    }
    this.child = child;
    this.pid = child.pid ?? null;
    this.lastBytesAtMs = null;
    if (spec.fd3 !== null) {
      const fd3 = child.stdio[3] as NodeJS.WritableStream;
      fd3.on('error', () => undefined);
      fd3.end(spec.fd3);
    }
    const splitter = new TopLevelBoxSplitter({ maxBoxBytes: 256 * 1024 * 1024 });
    let init: InitSegment | null = null;
    let declared: ParameterSets | null = null;
    let ftyp: Buffer | null = null;
    let pendingMoof: Buffer | null = null;
    let broken = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      this.lastBytesAtMs = Date.now();
      if (broken) return;
      try {
        for (const box of splitter.push(chunk)) {
          if (box.type === 'ftyp') {
            ftyp = box.data;
          } else if (box.type === 'moov') {
            init = parseInit(ftyp ? Buffer.concat([ftyp, box.data]) : box.data);
            const video = init.tracks.find((t) => t.kind === 'video');
            declared = video ? declaredParameterSets(video) : null;
            this.o.sink.runStarted(runId, init);
          } else if (box.type === 'moof') {
            pendingMoof = box.data;
          } else if (box.type === 'mdat') {
            if (!init || !pendingMoof) continue;
            const moofBuf: Buffer = pendingMoof;
            pendingMoof = null;
            const moof = parseMoof(moofBuf, 0, init);
            const bytes = Buffer.concat([moofBuf, box.data]);
            if (declared && keyframeChangesParameters(init, moof, bytes, declared)) {
              // Stream-copied sources carry new SPS in-band when the camera changes resolution or codec
              // settings; this init cannot describe what follows. A fresh ffmpeg writes a new init, and
              // the writer starts a new segment with it (the fragment in between is not recorded).
              broken = true;
              this.kill('video parameters changed mid-stream (new SPS); restarting ingest for a new segment');
              return;
            }
            const arrival = nowEpochMs();
            this.noteFragment(arrival);
            this.o.sink.fragment(runId, { bytes, moofSize: moofBuf.length, moof, arrivalEpochMs: arrival });
          }
          // styp, sidx, mfra, free: nothing to keep.
        }
      } catch (e) {
        broken = true;
        this.kill(`unusable output from ffmpeg: ${(e as Error).message}`);
      }
    });
    let partialLine = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-4000);
      const lines = (partialLine + d).split('\n');
      partialLine = lines.pop()!.slice(-4000);
      for (const line of lines) {
        this.warnings.line(line, runId);
        if (!broken && this.backwardStep(line)) {
          // The video's clock stepped back: ffmpeg would squeeze the frames after it onto consecutive
          // ticks (and swap B-frames). End the run here; the next one starts clean, the seam is a gap.
          broken = true;
          this.kill('source timestamps jumped back (ffmpeg: non-monotonous DTS in the video); restarting the run so the timeline stays true');
        }
      }
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      const msg = e.code === 'ENOENT'
        ? `ffmpeg not found at "${this.o.ffmpeg}" (install it: apt-get install -y ffmpeg, or pass --ffmpeg PATH)`
        : e.message;
      this.killReason = msg;
    });
    child.on('close', (code, signal) => this.onExit(runId, code, signal, null));
  }

  private noteFragment(arrival: number): void {
    if (this.lastFragmentAtMs !== null && this.runHadFragments) {
      this.maxFragmentIntervalMs = Math.max(this.maxFragmentIntervalMs * 0.98, arrival - this.lastFragmentAtMs);
    }
    this.lastFragmentAtMs = arrival;
    this.runHadFragments = true;
    if (this.state !== 'running') {
      this.o.log.info('ingest running', { run: this.runId });
    }
    this.state = 'running';
    this.consecutiveFailures = 0;
  }

  private kill(reason: string): void {
    this.killReason = reason;
    this.o.log.warn('stopping ffmpeg', { reason: this.redact(reason) });
    this.child?.kill('SIGKILL');
  }

  /** A burst of "Non-monotonous DTS" on the video (output stream 0:0): three within two seconds. */
  private backwardStep(line: string): boolean {
    if (!/Non-monotonous DTS in output stream 0:0\b/.test(line)) return false;
    const now = Date.now();
    this.nonMonotonic = this.nonMonotonic.filter((t) => now - t < 2000);
    this.nonMonotonic.push(now);
    return this.nonMonotonic.length >= 3;
  }

  /** The stall limit in force: the flag, else max(5 s, 3 × the longest recent fragment interval). */
  get stallLimitMs(): number {
    return this.o.stallTimeoutMs ?? Math.max(5000, 3 * this.maxFragmentIntervalMs);
  }

  private checkStall(): void {
    if (!this.child || this.stopping) return;
    const now = Date.now();
    if (!this.runHadFragments) {
      const limit = Math.max(this.o.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS, this.o.stallTimeoutMs ?? 0);
      if (now - this.spawnedAtMs > limit) this.kill(`no video from the source within ${limit} ms`);
      return;
    }
    // Media flowing = bytes on stdout (ffmpeg writes a fragment at least every second, GOP or not).
    const limit = this.stallLimitMs;
    const age = now - Math.max(this.lastBytesAtMs ?? 0, this.lastFragmentAtMs ?? 0);
    if (age > limit && this.state === 'running') {
      this.state = 'stalled';
      this.kill(`stalled: no media from ffmpeg for ${age} ms (limit ${limit} ms, --stall-timeout)`);
    }
  }

  private onExit(runId: number, code: number | null, signal: NodeJS.Signals | null, spawnError: string | null): void {
    this.child = null;
    this.pid = null;
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    const tailLines = this.stderrTail.trim().split('\n');
    this.o.plan.runEnded(this.runHadFragments, this.redact(tailLines.slice(-5).join('\n')));
    const tail = this.redact(tailLines.slice(-3).join(' | '));
    const reason = spawnError ?? this.killReason ?? `ffmpeg exited (${signal ? `signal ${signal}` : `code ${code}`})${tail ? ': ' + tail : ''}`;
    this.o.sink.runEnded(runId, this.redact(reason));
    for (const w of waiters) w();
    if (this.stopping) return;
    this.lastError = this.redact(reason);
    this.lastErrorAtMs = Date.now();
    if (!this.runHadFragments) this.consecutiveFailures++;
    const backoff = this.o.backoffMs ?? DEFAULT_BACKOFF;
    const delay = backoff[Math.min(this.consecutiveFailures, backoff.length - 1)];
    this.state = this.consecutiveFailures >= 5 ? 'failed' : 'restarting';
    this.restarts++;
    this.o.log.warn('ingest lost; restarting ffmpeg', { reason: this.lastError, in_ms: delay, restarts: this.restarts });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopping) this.spawnChild();
    }, delay);
  }
}

/** Whether the fragment's first video sample (a keyframe) carries parameter sets the init does not declare. */
function keyframeChangesParameters(init: InitSegment, moof: ParsedMoof, fragment: Buffer, declared: ParameterSets): boolean {
  const video = init.tracks.find((t) => t.kind === 'video');
  const first = moof.trackRuns.find((r) => r.trackId === video?.trackId)?.samples[0];
  if (!first || !first.isSync || first.fileOffset + first.size > fragment.length) return false;
  return sequenceChanged(fragment.subarray(first.fileOffset, first.fileOffset + first.size), declared);
}

/** Wall clock in epoch ms (one place, so tests and the clock agree on what "now" is). */
export function nowEpochMs(): number {
  return Date.now();
}
