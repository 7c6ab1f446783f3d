// The composition root of a producer: N cameras (each a Producer: its own ingest, segment writer, clock,
// index, retention and clip engine) behind one HTTP server (fastify, http/server.ts). Routes: GET
// /cameras lists them; /cameras/{name}/… are each camera's own routes; the seed's bare routes (/health,
// /clip, /segments, …) address the default camera (/clip/{id} the camera whose clip it is); GET /clips
// lists the clips of every camera (?camera=); /, /web/…, /metrics, /openapi.json and POST
// /config/reload are the App's. `reload` applies a new configuration: added cameras start, removed ones
// stop after sealing, changed ones restart, and the others are not touched.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '../common/log.js';
import { urlSecrets } from '../common/redact.js';
import { Producer } from './producer.js';
import { nodeIdOf, resolveProducerOptions, type ProducerOptions, type ProducerOptionsInput } from './options.js';
import { cameraDataDir, CLIP_ID, DEFAULT_CAMERA } from './camera-names.js';
import { createHttpApp, listen, route } from './http/server.js';
import { addWebRoutes } from './http/routes-web.js';
import { addMetricsRoute, type ClusterCounters } from './http/routes-metrics.js';
import { addNodesRoute } from './http/routes-nodes.js';
import { addForwarding } from './http/forward.js';
import { recordingRoutes } from './http/routes-recording.js';
import { eventRoutes } from './http/routes-events.js';
import { allClipsRoute, clipRoutes } from './http/routes-clips.js';
import { snapshotRoutes } from './http/routes-snapshot.js';
import { playbackRoutes } from './http/routes-playback.js';
import { errors, type CameraRoute } from './http/camera-route.js';
import { DomainError } from '../protocol/errors.js';
import { CameraParams, CamerasAnswer, ReloadAnswer, type CameraSummary, type ReloadResult } from '../protocol/schemas.js';
import { attachClipEngine } from './clips/engine-attach.js';
import { StorageBudget } from './segments/storage-budget.js';
import { BackgroundLane } from './segments/background-lane.js';
import type { AppConfig, CameraConfig } from './config/app-config.js';
import { parseStoreUrl } from './store/object-store.js';
import { S3Store } from './store/s3-store.js';
import { SegmentUploads } from './store/segment-uploads.js';
import { PgMirror } from './store/pg-mirror.js';
import { PgOutbox } from './store/pg-outbox.js';
import { ClipObjects } from './store/clip-objects.js';
import { ClusterNode } from './cluster/cluster-node.js';

export type { CameraSummary, ReloadResult };

/** How long a stopping camera waits for its last changes to reach PostgreSQL. */
const CATALOG_FLUSH_MS = 5000;

/** How long a stopping cluster node waits for its last segments to reach the store. */
const CLUSTER_STOP_DRAIN_MS = 30_000;

/** Every camera route, served bare (default camera) and under /cameras/{camera}. */
const CAMERA_ROUTES: CameraRoute[] = [...recordingRoutes, ...eventRoutes, ...clipRoutes, ...snapshotRoutes, ...playbackRoutes];

export class App {
  readonly log: Logger;
  /** Recording cameras by name (a camera with `record: false` is listed, not run). */
  readonly cameras = new Map<string, Producer>();
  /** HTTP answers by status code, for /metrics. */
  readonly httpStatusCounts = new Map<number, number>();
  /** Global options (host, port, token, data dir, clip roots), resolved. */
  readonly options: ProducerOptions;
  http: FastifyInstance | null = null;
  url = '';
  private config: AppConfig;
  private closed = false;
  private reloading: Promise<ReloadResult> | null = null;
  /** The global `min_free_bytes` across cameras (storage-budget.ts): each recording camera is attached while it runs. */
  readonly storageBudget: StorageBudget;
  /** The one lane every camera's background check goes through (segments/background-lane.ts). */
  readonly backgroundLane = new BackgroundLane();
  /** With --store: the object store and the service that uploads, evicts and deletes there. */
  readonly uploads: SegmentUploads | null = null;
  /** With --catalog postgres://…: every camera's index mirrored to PostgreSQL. */
  readonly catalog: PgMirror | null = null;
  /** With s3:// clip roots: clips published to the store. */
  readonly clipObjects: ClipObjects | null = null;
  /** With --cluster: this node's camera leases. */
  cluster: ClusterNode | null = null;

  constructor(config: AppConfig, opts: { logger?: Logger } = {}) {
    this.config = config;
    const secrets = [...config.cameras.flatMap((c) => [...urlSecrets(c.options.source ?? ''), ...urlSecrets(c.detectSource ?? '')]),
      ...urlSecrets(config.global.catalog ?? '')];
    this.options = resolveProducerOptions({ ...config.global, source: 'testsrc' });
    this.log = opts.logger ?? config.global.logger ?? createLogger({ level: this.options.logLevel, secrets });
    this.storageBudget = new StorageBudget({ minFreeBytes: this.options.minFreeBytes, log: this.log.child('storage') });
    const o = this.options;
    if (o.store !== null) {
      const store = new S3Store({ location: parseStoreUrl(o.store), endpoint: o.s3Endpoint, region: o.s3Region, pathStyle: o.s3PathStyle });
      this.uploads = new SegmentUploads({ store, log: this.log.child('store'), localKeepMs: o.localKeepMs, minFreeBytes: o.minFreeBytes });
    }
    // Outside a cluster the cameras' clip jobs are journalled to the catalog too; in one they are the cluster's.
    if (o.catalog !== null) this.catalog = new PgMirror({ url: o.catalog, log: this.log.child('catalog'), node: nodeIdOf(o), jobs: !o.cluster });
    if (o.clipStoreRoots.length > 0) {
      this.clipObjects = new ClipObjects((location) => new S3Store({ location, endpoint: o.s3Endpoint, region: o.s3Region, pathStyle: o.s3PathStyle }));
    }
  }

  /** Runs when a camera has stopped recording, before its index closes (tests check the catalog and store there). */
  beforeCameraClose: ((p: Producer) => Promise<void>) | null = null;

  /** Reads the configuration again (for SIGHUP and POST /config/reload); null when started from flags. */
  reloadSource: (() => AppConfig) | null = null;

  get defaultCameraName(): string {
    return this.config.defaultCamera;
  }

  /** The default camera (bare routes), if it records. */
  get defaultCamera(): Producer | undefined {
    return this.cameras.get(this.config.defaultCamera);
  }

  camera(name: string): Producer | undefined {
    return this.cameras.get(name);
  }

  async start(): Promise<void> {
    for (const root of this.options.clipRoots) mkdirSync(root, { recursive: true });
    if (this.uploads) {
      const store = this.uploads.store as S3Store;
      // A store unreachable at start is an outage like any other: recording starts, uploads wait.
      await store.ensureBucket().catch((e: unknown) => this.log.warn('object store not reachable at start; segments stay local until it is', { error: (e as Error).message }));
      this.uploads.start();
      this.log.info('segments are kept in the object store', { store: store.description, local_keep_ms: this.options.localKeepMs });
    }
    this.catalog?.start();
    if (this.options.cluster) {
      // Every camera is served here; each is recorded by the node holding its lease (cluster/).
      this.cluster = new ClusterNode(this, this.options);
      const bases = await this.cluster.prepare(this.config.cameras.filter((c) => c.record).map((c) => c.name));
      for (const c of this.config.cameras) {
        if (!c.record) continue;
        this.startCamera(c, { record: false, clockBaseEpochMs: bases.get(c.name) });
      }
    } else {
      for (const c of this.config.cameras) if (c.record) this.startCamera(c);
    }
    this.http = await createHttpApp({
      authToken: this.options.authToken, log: this.log.child('http'),
      // The page itself holds no data: it loads, then asks for the token it needs (from #token=…).
      isPublic: (path) => path === '/health' || path === '/' || path === '/openapi.json' || path.startsWith('/web/') || /^\/cameras\/[^/]+\/health$/.test(path),
      onStatus: (status) => this.httpStatusCounts.set(status, (this.httpStatusCounts.get(status) ?? 0) + 1),
    });
    this.addRoutes(this.http);
    this.url = await listen(this.http, this.options.port, this.options.host);
    this.cluster?.start();
    this.log.info('producer listening', { url: this.url, cameras: [...this.cameras.keys()].join(','), default_camera: this.config.defaultCamera });
  }

  /** The options a camera runs with: the global ones, its own, its data directory. */
  private cameraOptions(c: CameraConfig): ProducerOptionsInput {
    return {
      ...this.config.global, ...c.options, logger: this.log,
      dataDir: cameraDataDir(this.options.dataDir, c.name), clipRoots: this.options.clipRoots, clipStoreRoots: this.options.clipStoreRoots,
    };
  }

  /** `record: false`: served, uploaded and retained, not recorded (a cluster node records what it leases). */
  private startCamera(c: CameraConfig, o: { record?: boolean; clockBaseEpochMs?: number } = {}): Producer {
    const p = new Producer(this.cameraOptions(c), c.name, {
      backgroundLane: this.backgroundLane, store: this.uploads?.store ?? null, clockBaseEpochMs: o.clockBaseEpochMs,
    });
    p.clipObjects = this.clipObjects;
    const engine = attachClipEngine(p);
    if (this.cluster) {
      // Its clip ids carry this node's slot; its jobs are the cluster's (cluster/job-claims.ts).
      engine.store.slot = this.cluster.slot;
      engine.shared = this.cluster.claims.sharedFor(c.name);
    }
    const catalog = this.catalog;
    if (catalog) {
      catalog.attach({ name: c.name, db: p.index.db, clockBaseEpochMs: () => p.clock.baseEpochMs });
      p.catalogStatus = () => catalog.status(c.name);
      p.events.on('fragment', () => catalog.kick());
    } else {
      // Run once with a catalog and now without: stop queuing changes nobody applies.
      const outbox = new PgOutbox(p.index.db);
      if (outbox.enabledFor !== '') outbox.disable();
    }
    const uploads = this.uploads;
    if (!uploads) {
      this.storageBudget.attach(p);
    } else {
      // With a store the free-disk limit evicts uploaded copies first (segment-uploads.ts relieveDisk).
      p.retention.limits = { ...p.retention.limits, minFreeBytes: null };
      p.storageBudget = { makeRoom: () => uploads.relieveDisk(p) };
      const { bucket, prefix } = uploads.store.location;
      const requeued = p.storedSegments.adoptStore(`s3://${bucket}/${prefix}`);
      if (requeued > 0) this.log.warn('the object store changed: local segments are uploaded to the new one', { camera: c.name, segments: requeued });
      uploads.attach(p);
      p.storeStatus = () => uploads.status(p);
      p.events.on('segment-sealed', () => uploads.kick());
    }
    try {
      p.start({ record: o.record });
    } catch (e) {
      this.storageBudget.detach(p);
      void p.close(async () => {
        await this.uploads?.detach(c.name);
        await this.catalog?.detach(c.name);
      });
      throw e;
    }
    this.cameras.set(c.name, p);
    return p;
  }

  private async stopCamera(name: string): Promise<void> {
    const p = this.cameras.get(name);
    this.cameras.delete(name);
    if (p) this.storageBudget.detach(p);
    await p?.close(async () => {
      // The last changes (the sealed segment) reach PostgreSQL now if it answers; else at the next start.
      try {
        await this.catalog?.flush(name, CATALOG_FLUSH_MS).catch((e: unknown) => this.log.warn('catalog not caught up at stop; the rest is applied at the next start', { camera: name, error: (e as Error).message }));
        await this.beforeCameraClose?.(p);
      } finally {
        await this.uploads?.detach(name);
        await this.catalog?.detach(name);
      }
    });
  }

  /**
   * Applies a new configuration. Global options (host, port, data dir, token) are fixed at start;
   * cameras are compared by their configuration: added ones start, removed ones stop (sealing their
   * open segment), changed ones restart; the others keep recording untouched.
   */
  reload(next: AppConfig): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
      if (this.cluster) throw new DomainError('CONFLICT', 'config: a cluster node takes a new configuration by a (rolling) restart');
      const before = new Map(this.config.cameras.map((c) => [c.name, c]));
      const after = new Map(next.cameras.map((c) => [c.name, c]));
      const r: ReloadResult = { added: [], removed: [], restarted: [], unchanged: [] };
      for (const [name, old] of before) {
        const now = after.get(name);
        if (!now || !now.record) { if (old.record) r.removed.push(name); continue; }
        if (!old.record) { r.added.push(name); continue; }
        (sameCamera(old, now) ? r.unchanged : r.restarted).push(name);
      }
      for (const [name, c] of after) if (!before.has(name) && c.record) r.added.push(name);
      for (const name of [...r.removed, ...r.restarted]) await this.stopCamera(name);
      this.config = { ...this.config, cameras: next.cameras, defaultCamera: next.defaultCamera };
      for (const name of [...r.restarted, ...r.added]) {
        try {
          this.startCamera(after.get(name)!);
        } catch (e) {
          // One camera that cannot start (e.g. its data directory is unusable) does not stop the others.
          this.log.error('camera could not start', { camera: name, error: (e as Error).message });
        }
      }
      this.log.info('configuration reloaded', Object.fromEntries(Object.entries(r).map(([k, v]) => [k, (v as string[]).join(',')])));
      return r;
    };
    const p = (this.reloading ?? Promise.resolve()).then(run, run);
    this.reloading = p.finally(() => { if (this.reloading === p) this.reloading = null; }) as Promise<ReloadResult>;
    return p;
  }

  /** A cluster node's counters for /metrics (null outside a cluster). */
  clusterCounters(): ClusterCounters | null {
    return this.cluster?.counters() ?? null;
  }

  /** The cameras the configuration records. */
  recordedCameras(): string[] {
    return this.config.cameras.filter((c) => c.record).map((c) => c.name);
  }

  summaries(): CameraSummary[] {
    const now = Date.now();
    return this.config.cameras.map((c) => {
      const p = this.cameras.get(c.name);
      const last = p?.ingest.lastFragmentAtMs ?? null;
      return {
        name: c.name, record: c.record, default: c.name === this.config.defaultCamera,
        state: p ? p.ingestState() : 'disabled', source: p ? p.sourceForDisplay : '',
        last_fragment_age_ms: last === null ? null : Math.max(0, now - last),
        error: p ? p.currentError() : null,
      };
    });
  }

  private addRoutes(app: FastifyInstance): void {
    route(app, {
      method: 'GET', url: '/cameras', schema: { summary: 'The cameras, their state and the default one.', response: { 200: CamerasAnswer } },
      handler: (c) => c.json(200, { ok: true, default_camera: this.config.defaultCamera, cameras: this.summaries() }),
    });
    route(app, allClipsRoute({ cameras: this.cameras, defaultCamera: () => this.config.defaultCamera, named: (n) => this.namedCamera(n) }));
    route(app, {
      method: 'POST', url: '/config/reload', schema: { summary: 'Re-read the configuration file (as SIGHUP does).', response: { 200: ReloadAnswer, ...errors(409) } },
      handler: async (c) => {
        await c.body();
        if (!this.reloadSource) throw new DomainError('CONFLICT', 'config: this producer was not started from a configuration file');
        const result = await this.reload(this.reloadSource());
        c.json(200, { ok: true, ...result });
      },
    });
    route(app, {
      method: 'GET', url: '/openapi.json', schema: { summary: 'This document.', hide: true },
      handler: (c) => c.json(200, app.swagger()),
    });
    addNodesRoute(app, () => this.cluster);
    const cluster = this.cluster;
    if (cluster) addForwarding(app, cluster.node, (method, path) => cluster.forwardTarget(method, path, this.config.defaultCamera));
    addWebRoutes(app);
    addMetricsRoute(app, this);
    for (const r of CAMERA_ROUTES) {
      const params = (r.schema?.params as typeof CameraParams | undefined)?.properties ?? {};
      const named = { ...r, url: `/cameras/:camera${r.url}`, schema: { ...r.schema, params: { ...CameraParams, properties: { ...CameraParams.properties, ...params } }, tags: ['camera'] } };
      // Bare /clips lists every camera's clips (above); each camera's own list is /cameras/{camera}/clips.
      if (r.url !== '/clips') route(app, { ...r, handler: (c) => r.handler(c, this.bareCamera(c.params.id)) });
      route(app, { ...named, handler: (c) => r.handler(c, this.namedCamera(c.params.camera)) });
    }
  }

  /** The camera a bare route addresses: the default one, or for /clip/{id} the camera whose clip it is. */
  private bareCamera(clipId: string | undefined): Producer {
    const owner = clipId !== undefined ? CLIP_ID.exec(clipId)?.[1] : undefined;
    return this.namedCamera(owner ?? this.config.defaultCamera);
  }

  private namedCamera(name: string): Producer {
    const p = this.cameras.get(name);
    if (p) return p;
    const configured = this.config.cameras.some((c) => c.name === name);
    throw new DomainError('NOT_FOUND', configured ? `camera: ${name} is configured with record: false` : `camera: no camera named ${JSON.stringify(name.slice(0, 80))}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.reloading?.catch(() => undefined);
    // A cluster node seals and releases its leases first, so other nodes take its cameras at once; then
    // it uploads what it recorded (its disk may go with it: a pod's emptyDir), within a bound.
    if (this.cluster) {
      await this.cluster.stop();
      await this.uploads?.drain(CLUSTER_STOP_DRAIN_MS).catch((e: unknown) =>
        this.log.warn('stopping with segments not yet uploaded; they are uploaded when this node starts again', { error: (e as Error).message }));
    }
    // Everything is closed even when one camera's stop fails; the first failure is reported after.
    const stopped = await Promise.allSettled([...this.cameras.keys()].map((n) => this.stopCamera(n)));
    await this.cluster?.closeJobs();
    await this.uploads?.close();
    this.uploads?.store.close();
    await this.catalog?.close();
    this.clipObjects?.close();
    if (this.http) {
      const h = this.http;
      h.server.closeAllConnections();
      await h.close();
    }
    this.log.info('producer stopped');
    for (const s of stopped) if (s.status === 'rejected') throw s.reason;
  }
}

/** Whether a camera's configuration is unchanged (so a reload leaves it running). */
function sameCamera(a: CameraConfig, b: CameraConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface ProducerHandle {
  url: string;
  app: App;
  /** The default camera. */
  producer: Producer;
  close(): Promise<void>;
}

/** Starts an App from a configuration and returns its URL and a close(). */
export async function startApp(config: AppConfig, opts: { logger?: Logger } = {}): Promise<ProducerHandle> {
  const app = new App(config, opts);
  try {
    await app.start();
  } catch (e) {
    // e.g. the port is taken: release indexes, ffmpeg and timers before reporting it.
    await app.close().catch(() => undefined);
    throw e;
  }
  const producer = app.defaultCamera ?? [...app.cameras.values()][0];
  return { url: app.url, app, producer, close: () => app.close() };
}

/** A producer of one source (the camera `default`): today's `segrec producer --source …`. */
export function startProducer(input: ProducerOptionsInput = {}): Promise<ProducerHandle> {
  const { logger, ...rest } = input;
  const global: ProducerOptionsInput = { ...rest };
  const camera: CameraConfig = {
    name: DEFAULT_CAMERA, options: { source: input.source ?? 'testsrc' }, detectSource: null, record: true,
    motion: { enabled: false, threshold: null, minAreaPct: null, preRollMs: null, postRollMs: null },
  };
  const dataDir = resolve(input.dataDir ?? './data');
  return startApp({ global: { ...global, dataDir }, cameras: [camera], defaultCamera: DEFAULT_CAMERA, file: null }, { logger });
}
