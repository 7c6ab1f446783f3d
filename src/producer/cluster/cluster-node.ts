// A producer as one node of a cluster (--cluster): wires the lease keeper to the App's cameras. Every
// configured camera has a Producer here (served, uploaded, retained) on the catalog's clock, its index
// holding the other nodes' uploaded footage too (catalog-follower.ts); only the ones this node leases
// run ffmpeg. Taking a camera over resumes its recording above the camera's newest
// footage in the catalog, the time between recorded as a gap naming the previous node; giving one up
// seals its segment and lets its last changes reach the catalog before the lease is released.
import type { Logger } from '../../common/log.js';
import type { Producer } from '../producer.js';
import { networkInterfaces } from 'node:os';
import { nodeIdOf, type ProducerOptions } from '../options.js';
import { slotOfClipId } from '../store/job-store.js';
import { LeaseKeeper, type TakeOver } from './lease-keeper.js';
import { PgLeases, type NodeRow } from './pg-leases.js';
import { CatalogFollower } from './catalog-follower.js';
import { PgJobs } from './pg-jobs.js';
import { JobClaims } from './job-claims.js';
import type { ClipEngine } from '../clips/engine.js';
import type { ClusterCounters } from '../http/routes-metrics.js';

/** What the cluster needs of the App. */
export interface ClusterHost {
  readonly log: Logger;
  readonly url: string;
  readonly cameras: Map<string, Producer>;
  readonly catalog: { flush(camera: string, timeoutMs: number): Promise<void> } | null;
  /** The cameras the configuration records. */
  recordedCameras(): string[];
}

/** Clip job reads (any node may hold the job) and the writes the camera's recorder answers. */
const CLIP_PATH = /^\/(?:cameras\/([a-z0-9][a-z0-9_-]{0,63})\/)?clip\/([^/]+)(?:\/file)?$/;
const WRITE_PATH = /^\/(?:cameras\/([a-z0-9][a-z0-9_-]{0,63})\/)?(clip|force_rotate)$/;
/** What only the recorder knows of a camera now (its ingest, the live stream, the newest picture, live events). The bare /health stays this node's (the probes'). */
const LIVE_PATH = /^\/cameras\/([a-z0-9][a-z0-9_-]{0,63})\/(health|live\.mp4|snapshot\.jpg|events)$/;

/** How long a camera given up waits for its last changes to reach the catalog before the release. */
const RELEASE_FLUSH_MS = 3000;
/** How often other nodes' newly uploaded footage is imported. */
const FOLLOW_MS = 2000;

export class ClusterNode {
  readonly node: string;
  private readonly leases: PgLeases;
  readonly keeper: LeaseKeeper;
  readonly follower: CatalogFollower;
  private readonly jobs: PgJobs;
  /** The clip jobs this node holds in the cluster's table (job-claims.ts). */
  readonly claims: JobClaims;
  private readonly log: Logger;
  /** This node's number among the nodes (clip ids carry it); 0 until prepare(). */
  slot = 0;
  private readonly advertiseUrl: string | null;

  constructor(private readonly host: ClusterHost, o: Pick<ProducerOptions, 'nodeId' | 'catalog' | 'leaseTimeoutMs' | 'advertiseUrl'>) {
    this.node = nodeIdOf(o);
    this.advertiseUrl = o.advertiseUrl;
    this.log = host.log.child('cluster');
    this.leases = new PgLeases(o.catalog!, { node: this.node, leaseTimeoutMs: o.leaseTimeoutMs, queryTimeoutMs: Math.round(o.leaseTimeoutMs / 5) });
    this.keeper = new LeaseKeeper({
      node: this.node, leases: this.leases, leaseTimeoutMs: o.leaseTimeoutMs, log: this.log,
      cameras: () => host.recordedCameras(),
      url: () => this.url(),
      proposedClockBase: (camera) => host.cameras.get(camera)?.clock.baseEpochMs ?? Date.now(),
      record: (t) => this.record(t),
      stop: (camera, how) => this.stopRecording(camera, how),
    });
    this.jobs = new PgJobs(o.catalog!, { node: this.node, claimMs: o.leaseTimeoutMs, queryTimeoutMs: 5000 });
    this.claims = new JobClaims(this.jobs, {
      node: this.node, roundMs: this.keeper.roundMs, log: this.log, held: () => this.keeper.cameras,
      engines: () => new Map([...host.cameras].flatMap(([name, p]): Array<[string, ClipEngine]> => (p.clipEngine ? [[name, p.clipEngine]] : []))),
    });
    this.follower = new CatalogFollower(o.catalog!, {
      node: this.node, log: this.log, periodMs: FOLLOW_MS, queryTimeoutMs: 10_000,
      cameras: () => [...host.cameras.values()].map((p) => ({ name: p.name, index: p.index })),
    });
  }

  /**
   * Enters the node list (its slot: the top digits of its clip ids) and reads the catalog's clock base of
   * each camera (set from this node's where the catalog has none). Waits for the catalog: a node cannot
   * record anything before it answers.
   */
  async prepare(cameras: string[]): Promise<Map<string, number>> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.leases.migrate();
        this.slot = await this.leases.register(this.url());
        return await this.leases.clockBases(cameras, () => Date.now());
      } catch (e) {
        if (attempt === 0) this.log.warn('waiting for the catalog before recording anything', { error: (e as Error).message });
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }

  start(): void {
    this.log.info('cluster node joining', { node: this.node, lease_timeout_ms: this.keeper.status().lease_timeout_ms });
    void this.keeper.start();
    this.follower.start();
    this.claims.start();
  }

  counters(): ClusterCounters {
    const k = this.keeper;
    return {
      cameras: k.cameras.length, acquired: k.acquired, released: k.released, fenced: k.fenced, imported: this.follower.imported,
      adoptedJobs: this.claims.adopted,
      queries: { leases: this.leases.queries, follower: this.follower.queries, jobs: this.jobs.queries },
    };
  }

  async nodes(): Promise<NodeRow[]> {
    return this.keeper.nodes();
  }

  /** Where other nodes reach this one: --advertise-url, else the listen address (0.0.0.0: the first non-internal IPv4). */
  url(): string {
    if (this.advertiseUrl !== null) return this.advertiseUrl;
    const any = /^(https?:\/\/)(0\.0\.0\.0|\[::\])(:\d+)?/.exec(this.host.url);
    if (!any) return this.host.url;
    const ip = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address ?? '127.0.0.1';
    return this.host.url.replace(any[2], ip);
  }

  /**
   * The node that should answer a request instead of this one: a clip job's node (the one holding it in
   * the cluster's table; the slot in its id while the catalog is away) if it is live; for a new clip or force_rotate, and a camera's health, live stream, snapshot and live events,
   * the node recording the camera (it has the newest seconds, and every older one through the catalog).
   * Null: answer here.
   */
  async forwardTarget(method: string, path: string, defaultCamera: string): Promise<{ node: string; url: string } | null> {
    const read = (method === 'GET' || method === 'HEAD') ? CLIP_PATH.exec(path) : null;
    if (read) {
      let id: string;
      try { id = decodeURIComponent(read[2]); } catch { return null; }
      const held = await this.jobs.get(id).catch(() => null);
      if (held) {
        // Its holder if live; else this node answers from the table (and serves a clip in the store).
        const n = held.node !== this.node ? this.keeper.liveNode(held.node) : null;
        return n ? { node: n.node, url: n.url } : null;
      }
      const slot = slotOfClipId(id);
      if (!slot || slot === this.slot) return null;
      const n = this.keeper.nodeWithSlot(slot) ?? (await this.keeper.nodes()).find((x) => x.slot === slot);
      return n && n.node !== this.node ? { node: n.node, url: n.url } : null;
    }
    const live = (method === 'GET' || method === 'HEAD') ? LIVE_PATH.exec(path) : null;
    const write = method === 'POST' ? WRITE_PATH.exec(path) : null;
    if (!write && !live) return null;
    const camera = live ? live[1] : write![1] ?? defaultCamera;
    if (this.keeper.cameras.includes(camera)) return null;
    const holder = this.keeper.holderOf(camera);
    return holder && holder.node !== this.node ? { node: holder.node, url: holder.url } : null;
  }

  private async record(t: TakeOver): Promise<void> {
    const p = this.host.cameras.get(t.camera);
    if (!p) throw new Error(`camera ${t.camera} is not configured to record on this node`);
    if (p.clock.baseEpochMs !== t.clockBaseEpochMs) throw new Error(`camera ${t.camera} is on another clock here than in the catalog`);
    const reason = t.previousNode === null ? 'first recording in the cluster'
      : t.previousNode === this.node ? `lease of this node ${t.previousEnd === 'expired' ? 'lapsed' : 'released'} and taken again`
        : `handover from node ${t.previousNode} (${t.previousEnd === 'expired' ? 'its lease lapsed' : 'released'})`;
    p.resumeRecording(reason, t.tail ? { stopPtsNs: t.tail.stopPtsNs, stopEpochMs: t.tail.stopEpochMs } : null);
  }

  private async stopRecording(camera: string, how: 'released' | 'fenced'): Promise<void> {
    const p = this.host.cameras.get(camera);
    if (!p) return;
    // Fenced: the lease may lapse soon; ffmpeg gets a second to flush, then SIGKILL.
    await p.pauseRecording(how === 'fenced' ? 1000 : 3000);
    if (how === 'released') await this.host.catalog?.flush(camera, RELEASE_FLUSH_MS).catch(() => undefined);
    this.log.info('camera no longer recorded here', { camera, how });
  }

  /** Stops importing and recording: every camera sealed and its lease released. */
  async stop(): Promise<void> {
    await this.follower.close();
    await this.keeper.stop();
  }

  /** After the cameras stopped: the last clip job ends sent, the waiting jobs left to the other nodes. */
  async closeJobs(): Promise<void> {
    await this.claims.close();
  }
}
