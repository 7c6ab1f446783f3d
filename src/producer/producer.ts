// One camera: wires ingest (ffmpeg supervision) → segment writer → SQLite index, retention, recovery
// and the clip engine into one object with a `close()`. It knows nothing of HTTP: the App (app.ts)
// serves every camera's routes (http/routes-*.ts) on one server.
import { ptsAdd, ptsDiff } from '../protocol/pts.js';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, withSecrets, type Logger } from '../common/log.js';
import { redactUrl, urlSecrets } from '../common/redact.js';
import type { InitSegment } from '../mp4/init.js';
import { resolveProducerOptions, type ProducerOptions, type ProducerOptionsInput } from './options.js';
import { IngestPlan } from './ingest/ingest-plan.js';
import { IngestSupervisor, nowEpochMs, type IngestState } from './ingest/supervisor.js';
import { openDatabase, SegmentIndex, type GapRow, type SegmentRow } from './store/catalog.js';
import { DomainError } from '../protocol/errors.js';
import { PtsClock } from './segments/pts-clock.js';
import { reconcile, type RecoveryReport } from './segments/recovery.js';
import { FileRemovals } from './segments/file-removals.js';
import { PinSet, Retention } from './segments/retention.js';
import { BackgroundCheck } from './segments/background-check.js';
import { BackgroundLane } from './segments/background-lane.js';
import { RecordingViews } from './clips/recording-view.js';
import type { FreeSpaceKeeper } from './segments/storage-budget.js';
import { SegmentWriter, type IngestFragment } from './segments/segment-writer.js';
import { segmentsDirOf } from './segments/paths.js';
import { DEFAULT_CAMERA } from './camera-names.js';
import { SnapshotCache } from './snapshot.js';
import type { Histogram } from './metrics.js';
import type { HealthPayload } from './health.js';
import { cameraHealth, currentErrorOf, ingestStateOf } from './camera-status.js';
import { fragmentStartsOnKeyframe, videoTrack } from './segments/fragment-times.js';
import type { ClipEngine } from './clips/engine.js';
import type { ClipJson } from '../protocol/schemas.js';
import type { ObjectStore } from './store/object-store.js';
import type { StoreStatus } from './store/segment-uploads.js';
import type { CatalogStatus } from './store/pg-mirror.js';
import type { ClipObjects } from './store/clip-objects.js';
import { StoredSegments } from './store/stored-segments.js';
import type { SegmentPlace } from './store/segment-source.js';

/** The pause between two retention batches of a backlog (ms). */
const RETENTION_PAUSE_MS = 20;

export interface ProducerEvents {
  'segment-sealed': [SegmentRow];
  'segment-removed': [SegmentRow];
  fragment: [{ segmentId: number; startNs: bigint; stopNs: bigint; bytes: number; runId: number; offsetNs: bigint }];
  'run-started': [{ runId: number; init: InitSegment }];
  'run-ended': [{ runId: number; reason: string }];
  'live-fragment': [{ runId: number; bytes: Buffer; offsetNs: bigint; keyframe: boolean }];
  gap: [{ startNs: bigint; stopNs: bigint; reason: string }];
  'clip-finished': [ClipJson];
}

/** Hooks a clip engine provides to the producer (counts for /health, its routes, its lifecycle). */
export interface ClipEngineHooks {
  counts(): { queued: number; running: number };
  /** Persisted jobs by status (for /metrics). */
  jobCounts(): Record<string, number>;
  /** Accepted → published latency, seconds. */
  readonly latency: Histogram;
  start(): void;
  close(): Promise<void>;
}

export class Producer {
  readonly options: ProducerOptions;
  /** The camera's name (`default` for a producer of one source). */
  readonly name: string;
  readonly log: Logger;
  readonly index: SegmentIndex;
  readonly clock: PtsClock;
  readonly pins = new PinSet();
  readonly events = new EventEmitter<ProducerEvents>();
  readonly segmentsDir: string;
  /** Where its segments are read from: the local directory, and the object store once evicted. */
  readonly place: SegmentPlace;
  /** The catalog's record of uploads, evictions and store deletions (used when a store is configured). */
  readonly storedSegments: StoredSegments;
  /** Segment files decided to go (retention, eviction), until they are gone. */
  readonly fileRemovals: FileRemovals;
  readonly writer: SegmentWriter;
  readonly ingest: IngestSupervisor;
  readonly ingestPlan: IngestPlan;
  readonly retention: Retention;
  /** What reconciliation found: at start, then (as it goes) the background check's findings too. */
  readonly recovery: RecoveryReport;
  /** Checks every other row and file against the index after start (segments/background-check.ts). */
  readonly backgroundCheck: BackgroundCheck;
  readonly startedAtMs = Date.now();
  /** Recorded footage of any window as an MP4 served without writing it (GET …/recording.mp4). */
  readonly recordingViews: RecordingViews;
  /** The camera's latest picture (GET …/snapshot.jpg), cached. */
  readonly snapshots: SnapshotCache = new SnapshotCache(this);
  clipEngine: ClipEngine | null = null;
  /** Where clips with an `s3://` out_dir are published (the App's; null without s3 clip roots). */
  clipObjects: ClipObjects | null = null;
  /** The object store's state for /health (set by the App while uploads run for this camera). */
  storeStatus: (() => StoreStatus) | null = null;
  /** The PostgreSQL catalog's state for /health (set by the App while it mirrors this camera). */
  catalogStatus: (() => CatalogStatus) | null = null;
  /**
   * The App's storage budget (global `min_free_bytes`, oldest footage across cameras first), set while
   * this camera is attached to it; the camera's own Retention then leaves the free-disk limit to it.
   */
  storageBudget: FreeSpaceKeeper | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private retentionFollowUp: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly db;
  /** The running ffmpeg's init and offset, for /live.mp4. */
  live: { runId: number; init: InitSegment; offsetNs: bigint | null } | null = null;

  /**
   * `backgroundLane`: the process's lane for background work, shared by its cameras (the App's); a
   * producer without one makes its own.
   */
  constructor(input: ProducerOptionsInput = {}, name = DEFAULT_CAMERA, shared: { backgroundLane?: BackgroundLane; store?: ObjectStore | null; clockBaseEpochMs?: number } = {}) {
    this.options = resolveProducerOptions(input);
    this.name = name;
    const o = this.options;
    const secrets = urlSecrets(o.source);
    const logBase = o.logger ? withSecrets(o.logger, secrets) : createLogger({ level: o.logLevel, secrets });
    this.log = name === DEFAULT_CAMERA ? logBase : logBase.child(name);
    this.segmentsDir = segmentsDirOf(o.dataDir);
    mkdirSync(this.segmentsDir, { recursive: true });
    for (const root of o.clipRoots) mkdirSync(root, { recursive: true });
    this.db = openDatabase(join(o.dataDir, 'index.sqlite'));
    this.index = new SegmentIndex(this.db);
    this.storedSegments = new StoredSegments(this.db);
    this.place = { segmentsDir: this.segmentsDir, store: shared.store ?? null, changedSealed: (id) => this.backgroundCheck.verifySoon(id) };
    // The epoch of pts 0 (before 1970, negative, for a clock that has run for decades).
    const stored = this.index.getMeta('clock_base_epoch_ms');
    let base = stored === undefined || stored.trim() === '' ? NaN : Number(stored);
    // A camera of several nodes has one clock, the catalog's: a node that never recorded it adopts it.
    const given = shared.clockBaseEpochMs;
    if (given !== undefined && base !== given) {
      if (Number.isFinite(base) && this.index.lastSegment()) {
        this.db.close();
        throw new Error(`camera ${name}: this node's footage is on another clock (base ${base} ms) than the catalog's (${given} ms)`);
      }
      base = given;
      this.index.setMeta('clock_base_epoch_ms', String(base));
    }
    if (!Number.isFinite(base)) {
      base = nowEpochMs();
      this.index.setMeta('clock_base_epoch_ms', String(base));
    }
    this.clock = new PtsClock(base);
    // Removals a crash interrupted are finished before anything reads the directories (recovery would
    // adopt a retention victim's file back into the index).
    this.fileRemovals = new FileRemovals(this.db, this.segmentsDir, this.log);
    const finished = this.fileRemovals.finish();
    if (finished.removed > 0) this.log.info('removed segment files whose removal a crash interrupted', { files: finished.removed });
    this.recovery = reconcile(this.index, this.clock, this.segmentsDir, this.log.child('recovery'), this.fileRemovals);
    this.backgroundCheck = new BackgroundCheck({
      index: this.index, clock: this.clock, segmentsDir: this.segmentsDir, log: this.log.child('recovery'), report: this.recovery, removals: this.fileRemovals,
      lane: shared.backgroundLane ?? new BackgroundLane(), name,
    });
    this.recordingViews = new RecordingViews({ catalog: this.index, pins: this.pins, place: this.place });
    this.writer = new SegmentWriter({
      index: this.index, clock: this.clock, segmentsDir: this.segmentsDir, segmentSeconds: o.segmentSeconds,
      log: this.log.child('segments'),
      gapReason: () => this.gapReason,
      makeRoom: () => this.runRetention(),
      events: {
        segmentSealed: (row) => {
          this.events.emit('segment-sealed', row);
          this.runRetention();
        },
        fragment: (f) => this.events.emit('fragment', f),
        gap: (g) => this.events.emit('gap', g),
      },
    });
    this.retention = new Retention({
      index: this.index, segmentsDir: this.segmentsDir, pins: this.pins, log: this.log.child('retention'),
      limits: { maxAgeMs: o.retentionMaxAgeMs, maxBytes: o.retentionMaxBytes, minFreeBytes: o.minFreeBytes },
      onRemoved: (row) => this.events.emit('segment-removed', row), removals: this.fileRemovals,
      // The ingest's first run (below): rows of earlier runs still unsealed now are failed recoveries.
      firstRunId: this.index.maxRunId() + 1,
    });
    this.ingestPlan = new IngestPlan({
      args: o, policy: o.audio, ffprobe: ffprobeBeside(o.ffmpeg), log: this.log.child('ingest'),
    });
    this.ingest = new IngestSupervisor({
      ffmpeg: o.ffmpeg,
      plan: this.ingestPlan,
      secrets,
      log: this.log.child('ingest'),
      stallTimeoutMs: o.stallTimeoutMs,
      firstRunId: this.index.maxRunId() + 1,
      sink: {
        runStarted: (runId, init) => {
          if (!videoTrack(init)) {
            throw new Error('the source has no video track');
          }
          this.writer.startRun(runId, init);
          this.live = { runId, init, offsetNs: null };
          this.events.emit('run-started', { runId, init });
        },
        fragment: (runId, f: IngestFragment) => {
          this.writer.appendFragment(f);
          const run = this.writer.currentRun;
          if (this.live && this.live.runId === runId && run && run.offsetNs !== null) {
            this.live.offsetNs = run.offsetNs;
            this.events.emit('live-fragment', { runId, bytes: f.bytes, offsetNs: run.offsetNs, keyframe: fragmentStartsOnKeyframe(run.init, f) });
          }
        },
        runEnded: (runId, reason) => {
          this.gapReason = `ingest restart (${reason.slice(0, 200)})`;
          this.writer.endRun(reason);
          if (this.live?.runId === runId) this.live = null;
          this.events.emit('run-ended', { runId, reason });
        },
      },
    });
  }

  /**
   * Starts ingest, the clip engine and retention (the App serves the routes). `record: false`: everything
   * but ingest (a node of a cluster keeps serving, uploading and retaining a camera another node records).
   */
  start(o2: { record?: boolean } = {}): void {
    const o = this.options;
    this.recording = o2.record ?? true;
    if (this.recording) this.ingest.start();
    this.clipEngine?.start();
    this.backgroundCheck.start();
    this.runRetention();
    this.retentionTimer = setInterval(() => this.runRetention(), 5000);
    this.retentionTimer.unref();
    this.log.info('camera recording', {
      camera: this.name, source: redactUrl(o.source), data_dir: o.dataDir, segment_seconds: o.segmentSeconds,
      recovered_open: this.recovery.recoveredOpen, adopted: this.recovery.adopted,
    });
  }

  /** Whether ffmpeg runs for this camera here (a cluster node records only the cameras it leases). */
  recording = false;
  /** The reason recorded for the gap before the next run. */
  private gapReason = 'producer restart';

  /** Stops recording (ffmpeg stops, the open segment is sealed); everything else goes on. */
  async pauseRecording(graceMs: number): Promise<void> {
    this.recording = false;
    await this.ingest.stop(graceMs);
  }

  /**
   * Records again (a cluster node took the camera's lease): the time since `floor` — the camera's newest
   * footage, possibly another node's — is recorded as a gap with `gapReason`.
   */
  resumeRecording(gapReason: string, floor: { stopPtsNs: bigint; stopEpochMs: number } | null): void {
    if (this.recording || this.closed) return;
    this.gapReason = gapReason;
    this.writer.handoverFloor = floor;
    this.recording = true;
    this.ingest.start();
  }

  /**
   * One retention pass (the camera's own limits, then the storage budget's free-disk limit when attached:
   * that may remove other cameras' older footage); returns how many segments it removed.
   */
  runRetention(): number {
    let n = 0;
    try {
      n += this.retention.run().length;
      // A backlog goes in batches with a pause between them, so ingest and HTTP are served in between.
      if (this.retention.more && !this.retentionFollowUp && !this.closed) {
        this.retentionFollowUp = setTimeout(() => { this.retentionFollowUp = null; this.runRetention(); }, RETENTION_PAUSE_MS);
      }
    } catch (e) {
      this.log.error('retention failed', { error: (e as Error).message });
    }
    if (this.storageBudget) {
      try {
        n += this.storageBudget.makeRoom();
      } catch (e) {
        this.log.error('retention (min free disk) failed', { error: (e as Error).message });
      }
    }
    return n;
  }

  /** The source as it may be shown (credentials redacted). */
  get sourceForDisplay(): string {
    return redactUrl(this.options.source);
  }

  /**
   * The current epoch↔pts anchor: the clock's latest estimate, expressed at the newest footage; with no
   * run yet, the newest segment's own anchor; with nothing recorded, the wall clock. `nowPtsNs` is "now".
   */
  currentAnchor(now = nowEpochMs()): { epochMs: number; ptsNs: bigint; nowPtsNs: bigint } {
    const last = this.index.lastSegment() ?? null;
    const run = this.writer.currentRun;
    const ptsNs = last ? last.stop_pts_ns : this.clock.wallPtsNs(now);
    const epochMs = run?.offsetNs != null || !last
      ? this.clock.epochMsOf(ptsNs)
      : last.anchor_epoch_ms + ptsDiff(ptsNs, last.anchor_pts_ns) / 1e6;
    return { epochMs, ptsNs, nowPtsNs: ptsAdd(ptsNs, (now - epochMs) * 1e6) };
  }

  /** What /health says about this camera (camera-status.ts). */
  health(): HealthPayload {
    return cameraHealth(this);
  }

  /** The ingest state for /health: `degraded` while ffmpeg delivers but fragments cannot be stored (disk full). */
  ingestState(): IngestState {
    return ingestStateOf(this);
  }

  /** The trouble recording has now, for /health's `error`; null while it records. */
  currentError(): string | null {
    return currentErrorOf(this);
  }

  /**
   * Seals the open segment at the next fragment boundary (POST /force_rotate): the sealed segment, or
   * null when the run ended with nothing to seal. NOT_RECORDING while ingest does not run.
   */
  async forceRotate(): Promise<SegmentRow | null> {
    const state = this.ingest.state;
    if (state !== 'running') {
      throw new DomainError('NOT_RECORDING', `ingest is ${state}${this.ingest.lastError ? ` (last error: ${this.ingest.lastError})` : ''}; nothing to seal`);
    }
    // The next fragment boundary is at most one GOP away; allow a few.
    const timeoutMs = Math.max(5000, 3 * this.ingest.fragmentIntervalMs);
    try {
      return await this.writer.requestRotate(timeoutMs);
    } catch (e) {
      throw new DomainError('NOT_RECORDING', `force_rotate: ${(e as Error).message}`);
    }
  }

  /**
   * A page of GET /segments: the newest `limit` segments overlapping [from, to) before a cursor, in time
   * order, the recorded gaps among them, and whether older ones remain.
   */
  segmentsPage(from: bigint, to: bigint, limit: number, before: { startPtsNs: bigint; id: number } | null): { segments: SegmentRow[]; gaps: GapRow[]; more: boolean } {
    const { rows, more } = this.index.overlappingPage(from, to, limit, before);
    if (rows.length === 0) return { segments: rows, gaps: [], more };
    // The recorded gaps the page's timeline can name: those between and inside its segments.
    return { segments: rows, gaps: this.index.gapsIn(rows[0].start_pts_ns, rows[rows.length - 1].stop_pts_ns), more };
  }

  /**
   * Stops ingest (ffmpeg flushes its last fragment), seals the open segment, closes the index.
   * `beforeIndexCloses` runs once nothing records any more and the index is still open (the App applies
   * the last changes to the catalog there, and detaches the camera from its services).
   */
  async close(beforeIndexCloses?: () => Promise<void>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    if (this.retentionFollowUp) clearTimeout(this.retentionFollowUp);
    this.backgroundCheck.stop();
    this.snapshots.close();
    await this.ingest.stop();
    this.writer.close();
    await this.clipEngine?.close();
    await this.backgroundCheck.done;
    try {
      await beforeIndexCloses?.();
    } finally {
      this.db.close();
    }
    this.log.info('camera stopped', { camera: this.name });
  }
}

/** ffprobe from the same place as the configured ffmpeg (`/opt/ff/ffmpeg` → `/opt/ff/ffprobe`). */
function ffprobeBeside(ffmpeg: string): string {
  return ffmpeg.replace(/ffmpeg([^/\\]*)$/, 'ffprobe$1');
}
