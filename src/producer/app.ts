// The composition root of a producer: N cameras (each a Producer: its own ingest, segment writer, clock,
// index, retention and clip engine) behind one HTTP server. Routes: GET /cameras lists them;
// /cameras/{name}/… are each camera's own routes; the seed's bare routes (/health, /clip, /segments, …)
// address the default camera; /, /web/…, /metrics and POST /config/reload are the App's. `reload`
// applies a new configuration: added cameras start, removed ones stop after sealing, changed ones
// restart, and the others are not touched.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../common/log.js';
import { urlSecrets } from '../common/redact.js';
import { Producer } from './producer.js';
import { resolveProducerOptions, type ProducerOptions, type ProducerOptionsInput } from './options.js';
import { cameraDataDir, CLIP_ID, DEFAULT_CAMERA } from './camera-names.js';
import { createHttpServer } from './http/server.js';
import { HttpError, Router, type RouteMatch, type RouteTable } from './http/router.js';
import { addWebRoutes } from './http/routes-web.js';
import { addMetricsRoute } from './http/routes-metrics.js';
import { attachClipEngine } from './clips/engine-attach.js';
import type { AppConfig, CameraConfig } from './config/app-config.js';

/** What GET /cameras says of one camera. */
export interface CameraSummary {
  name: string;
  record: boolean;
  default: boolean;
  state: string;
  source: string;
  /** Age of the newest fragment (ms), or null before the first. */
  last_fragment_age_ms: number | null;
  error: string | null;
}

export interface ReloadResult { added: string[]; removed: string[]; restarted: string[]; unchanged: string[] }

export class App {
  readonly log: Logger;
  /** Recording cameras by name (a camera with `record: false` is listed, not run). */
  readonly cameras = new Map<string, Producer>();
  /** HTTP answers by status code, for /metrics. */
  readonly httpStatusCounts = new Map<number, number>();
  /** Global options (host, port, token, data dir, clip roots), resolved. */
  readonly options: ProducerOptions;
  server: Server | null = null;
  url = '';
  private config: AppConfig;
  private routers = new Map<string, Router>();
  private readonly top = new Router();
  private closed = false;
  private reloading: Promise<ReloadResult> | null = null;

  constructor(config: AppConfig, opts: { logger?: Logger } = {}) {
    this.config = config;
    const secrets = config.cameras.flatMap((c) => [...urlSecrets(c.options.source ?? ''), ...urlSecrets(c.detectSource ?? '')]);
    this.options = resolveProducerOptions({ ...config.global, source: 'testsrc' });
    this.log = opts.logger ?? config.global.logger ?? createLogger({ level: this.options.logLevel, secrets });
    this.top.add('GET', '/cameras', (c) => c.json(200, { ok: true, default_camera: this.config.defaultCamera, cameras: this.summaries() }));
    this.top.add('POST', '/config/reload', async (c) => {
      await c.body();
      if (!this.reloadSource) throw new HttpError(409, 'config: this producer was not started from a configuration file');
      const result = await this.reload(this.reloadSource());
      c.json(200, { ok: true, ...result });
    });
    addWebRoutes(this.top);
    addMetricsRoute(this.top, this);
  }

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
    for (const c of this.config.cameras) if (c.record) this.startCamera(c);
    this.server = createHttpServer({
      router: this.routeTable(), authToken: this.options.authToken, log: this.log.child('http'),
      // The page itself holds no data: it loads, then asks for the token it needs (from #token=…).
      isPublic: (path) => path === '/health' || path === '/' || path.startsWith('/web/') || /^\/cameras\/[^/]+\/health$/.test(path),
      onRequestDone: ({ status }) => this.httpStatusCounts.set(status, (this.httpStatusCounts.get(status) ?? 0) + 1),
    });
    await new Promise<void>((res, rej) => {
      this.server!.once('error', rej);
      this.server!.listen(this.options.port, this.options.host, () => res());
    });
    const addr = this.server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.url = `http://${host}:${addr.port}`;
    this.log.info('producer listening', { url: this.url, cameras: [...this.cameras.keys()].join(','), default_camera: this.config.defaultCamera });
  }

  /** The options a camera runs with: the global ones, its own, its data directory. */
  private cameraOptions(c: CameraConfig): ProducerOptionsInput {
    return {
      ...this.config.global, ...c.options, logger: this.log,
      dataDir: cameraDataDir(this.options.dataDir, c.name), clipRoots: this.options.clipRoots,
    };
  }

  private startCamera(c: CameraConfig): Producer {
    const p = new Producer(this.cameraOptions(c), c.name);
    attachClipEngine(p);
    try {
      p.start();
    } catch (e) {
      void p.close();
      throw e;
    }
    this.cameras.set(c.name, p);
    this.routers.set(c.name, p.cameraRouter());
    return p;
  }

  private async stopCamera(name: string): Promise<void> {
    const p = this.cameras.get(name);
    this.cameras.delete(name);
    this.routers.delete(name);
    await p?.close();
  }

  /**
   * Applies a new configuration. Global options (host, port, data dir, token) are fixed at start;
   * cameras are compared by their configuration: added ones start, removed ones stop (sealing their
   * open segment), changed ones restart; the others keep recording untouched.
   */
  reload(next: AppConfig): Promise<ReloadResult> {
    const run = async (): Promise<ReloadResult> => {
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
      for (const name of [...r.restarted, ...r.added]) this.startCamera(after.get(name)!);
      this.log.info('configuration reloaded', Object.fromEntries(Object.entries(r).map(([k, v]) => [k, (v as string[]).join(',')])));
      return r;
    };
    const p = (this.reloading ?? Promise.resolve()).then(run, run);
    this.reloading = p.finally(() => { if (this.reloading === p) this.reloading = null; }) as Promise<ReloadResult>;
    return p;
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

  /**
   * Dispatch: /cameras/{name}/… to that camera's routes; the App's own routes; anything else to the
   * default camera (the seed's bare routes) — except /clip/{id} of another camera's clip, which goes
   * to that camera.
   */
  private routeTable(): RouteTable {
    return {
      match: (method: string, pathname: string): RouteMatch => {
        const segs = pathname.split('/').filter(Boolean);
        if (segs[0] === 'cameras' && segs.length >= 2) return this.cameraRoutes(safeDecode(segs[1])).match(method, '/' + segs.slice(2).join('/'));
        try {
          return this.top.match(method, pathname);
        } catch (e) {
          if (!(e instanceof HttpError) || e.status !== 404) throw e;
        }
        const owner = segs[0] === 'clip' && segs.length >= 2 ? CLIP_ID.exec(safeDecode(segs[1]))?.[1] : undefined;
        return this.cameraRoutes(owner ?? this.config.defaultCamera).match(method, pathname);
      },
    };
  }

  private cameraRoutes(name: string): Router {
    const r = this.routers.get(name);
    if (r) return r;
    const configured = this.config.cameras.some((c) => c.name === name);
    throw new HttpError(404, configured ? `camera: ${name} is configured with record: false` : `camera: no camera named ${JSON.stringify(name.slice(0, 80))}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.reloading?.catch(() => undefined);
    await Promise.all([...this.cameras.keys()].map((n) => this.stopCamera(n)));
    if (this.server) {
      const s = this.server;
      await new Promise<void>((res) => {
        s.close(() => res());
        s.closeAllConnections();
      });
    }
    this.log.info('producer stopped');
  }
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
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
