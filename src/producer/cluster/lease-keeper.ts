// A node's side of the camera leases (one per process in cluster mode): every round (a fifth of the lease
// timeout) it beats its heartbeat, renews the leases it holds, and takes or gives up cameras as
// lease-plan.ts decides, starting and stopping their recording through the App. Fencing: a lease is
// trusted only until `FENCE_AT` of the timeout after the round that last renewed it *began* (the
// database's expiry is at least a full timeout after that moment), so a node that cannot renew —
// PostgreSQL down, or this node cut off from it — stops recording the camera before any other node may
// take it. No two nodes record one camera at once, whatever the network does.
import type { Logger } from '../../common/log.js';
import { planLeases } from './lease-plan.js';
import type { Acquired, CatalogTail, NodeRow, PgLeases } from './pg-leases.js';

/** Rounds per lease timeout. */
const ROUNDS_PER_TIMEOUT = 5;
/** The part of the timeout after a renewal's start until which a lease is trusted. */
export const FENCE_AT = 0.6;

export interface TakeOver extends Acquired {
  camera: string;
  clockBaseEpochMs: number;
  /** The camera's newest footage in the catalog (the gap before this node's recording starts there). */
  tail: CatalogTail | null;
}

export interface LeaseKeeperOptions {
  node: string;
  leases: PgLeases;
  leaseTimeoutMs: number;
  log: Logger;
  /** Cameras the recorder records (same configuration on every node). */
  cameras: () => string[];
  /** This node's HTTP address, as other nodes and /nodes show it. */
  url: () => string;
  /** The clock base this node would give a camera the catalog does not know yet. */
  proposedClockBase: (camera: string) => number;
  /** Starts recording a camera this node just leased. */
  record: (t: TakeOver) => Promise<void>;
  /** Stops recording a camera (sealing its segment) before the lease is released or lapses. `fenced`: be quick. */
  stop: (camera: string, how: 'released' | 'fenced') => Promise<void>;
  /** How long to wait after the first heartbeat before taking cameras (nodes starting together see each other). */
  joinDelayMs?: number;
}

interface Held {
  epoch: bigint;
  /** performance.now() until which the lease is trusted. */
  trustedUntil: number;
}

export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | null = null;
  private fenceTimer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopping = false;
  private joinedAt = 0;
  private lastError: string | null = null;
  private lastNodes: NodeRow[] = [];
  private migrated = false;
  /** Cameras being given up (beside the rounds). */
  private readonly leaving = new Map<string, Promise<void>>();
  readonly roundMs: number;
  /** Handovers started here (for /metrics and the tests). */
  acquired = 0;
  released = 0;
  fenced = 0;

  constructor(private readonly o: LeaseKeeperOptions) {
    this.roundMs = Math.round(o.leaseTimeoutMs / ROUNDS_PER_TIMEOUT);
  }

  async start(): Promise<void> {
    this.joinedAt = performance.now();
    this.fenceTimer = setInterval(() => this.checkFences(), 100);
    this.fenceTimer.unref();
    this.schedule(0);
  }

  /** The cameras this node holds now. */
  get cameras(): string[] {
    return [...this.held.keys()].sort();
  }

  status(): { node: string; cameras: string[]; last_error: string | null; lease_timeout_ms: number } {
    return { node: this.o.node, cameras: this.cameras, last_error: this.lastError, lease_timeout_ms: this.o.leaseTimeoutMs };
  }

  /** The live node recording a camera, as of the last round (null: none, or not known). */
  holderOf(camera: string): NodeRow | null {
    return this.lastNodes.find((n) => n.live && n.cameras.includes(camera)) ?? null;
  }

  /** A node by name if it is live, as of the last round (null: not live, or not known). */
  liveNode(node: string): NodeRow | null {
    return this.lastNodes.find((n) => n.node === node && n.live) ?? null;
  }

  /** The node with this slot (clip ids carry it), as of the last round (null: not known). */
  nodeWithSlot(slot: number): NodeRow | null {
    return this.lastNodes.find((n) => n.slot === slot) ?? null;
  }

  /** Every node the catalog knows (as of the last round that reached it). */
  async nodes(): Promise<NodeRow[]> {
    try {
      this.lastNodes = await this.o.leases.nodes();
    } catch {
      // The last known list: /nodes still answers while the catalog is away.
    }
    return this.lastNodes;
  }

  private schedule(ms: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.round = this.runRound().catch((e: unknown) => this.noteError(e)).finally(() => {
        this.round = null;
        this.schedule(this.roundMs);
      });
    }, ms);
    this.timer.unref();
  }

  private noteError(e: unknown): void {
    const msg = (e as Error).message;
    if (msg !== this.lastError) this.o.log.warn('lease round failed; leases are kept until they would be at risk', { error: msg });
    this.lastError = msg;
  }

  private async runRound(): Promise<void> {
    const began = performance.now();
    if (!this.migrated) {
      await this.o.leases.migrate();
      this.migrated = true;
    }
    const cameras = this.o.cameras();
    await this.o.leases.heartbeat(this.o.url(), cameras);
    const snapshot = new Map([...this.held].map(([c, h]) => [c, h.epoch]));
    const kept = await this.o.leases.renew(snapshot);
    for (const [camera, epoch] of snapshot) {
      const h = this.held.get(camera);
      if (!h || h.epoch !== epoch) continue;
      if (kept.has(camera)) {
        h.trustedUntil = began + this.o.leaseTimeoutMs * FENCE_AT;
      } else {
        this.o.log.error('lease no longer ours (it lapsed, or another node took it): recording here stops', { camera });
        await this.drop(camera, 'fenced');
      }
    }
    if (this.lastError !== null) this.o.log.info('lease rounds reach the catalog again');
    this.lastError = null;
    if (performance.now() - this.joinedAt < (this.o.joinDelayMs ?? this.roundMs)) return;
    const { leases, nodes } = await this.o.leases.state(cameras);
    this.lastNodes = nodes;
    const plan = planLeases({
      me: this.o.node, cameras, accepting: !this.stopping,
      leases: leases.map((l) => ({ camera: l.camera, node: l.node })),
      liveNodes: nodes.filter((n) => n.live).map((n) => n.node),
    });
    for (const camera of plan.acquire) {
      if (this.stopping) break;
      const at = performance.now();
      const got = await this.o.leases.acquire(camera);
      if (!got) continue;
      this.held.set(camera, { epoch: got.epoch, trustedUntil: at + this.o.leaseTimeoutMs * FENCE_AT });
      this.acquired++;
      await this.take(camera, got);
    }
    // A release waits for the camera's segment to be sealed and its changes to reach the catalog (seconds):
    // beside the rounds, so the other leases keep being renewed meanwhile.
    for (const camera of plan.release) {
      if (this.leaving.has(camera)) continue;
      const done = this.giveUp(camera).finally(() => this.leaving.delete(camera));
      this.leaving.set(camera, done);
    }
  }

  private async take(camera: string, got: Acquired): Promise<void> {
    try {
      const clockBaseEpochMs = await this.o.leases.clockBase(camera, this.o.proposedClockBase(camera));
      const tail = await this.o.leases.tail(camera);
      this.o.log.info('camera leased: recording it here', {
        camera, epoch: String(got.epoch), from_node: got.previousNode ?? '(none)', previous_end: got.previousEnd ?? '(first)',
      });
      await this.o.record({ camera, ...got, clockBaseEpochMs, tail });
    } catch (e) {
      this.o.log.error('could not record a leased camera; giving the lease up', { camera, error: (e as Error).message });
      await this.giveUp(camera);
    }
  }

  /** Stops recording a camera and releases its lease (a rebalancing move, or this node stopping). */
  private async giveUp(camera: string): Promise<void> {
    const h = this.held.get(camera);
    if (!h) return;
    // Still held (and renewed, and fenced if that fails) until the recording has stopped here.
    await this.o.stop(camera, 'released').catch((e: unknown) => this.o.log.error('stopping a camera failed', { camera, error: (e as Error).message }));
    if (this.held.get(camera) !== h) return; // fenced meanwhile: the lease lapses instead
    this.held.delete(camera);
    this.released++;
    await this.o.leases.release(camera, h.epoch).catch((e: unknown) =>
      this.o.log.warn('lease release failed; it lapses at its expiry instead', { camera, error: (e as Error).message }));
    this.o.log.info('camera lease released', { camera });
  }

  private async drop(camera: string, how: 'released' | 'fenced'): Promise<void> {
    this.held.delete(camera);
    await this.o.stop(camera, how).catch((e: unknown) => this.o.log.error('stopping a camera failed', { camera, error: (e as Error).message }));
  }

  private checkFences(): void {
    const now = performance.now();
    for (const [camera, h] of this.held) {
      if (now < h.trustedUntil) continue;
      this.fenced++;
      this.o.log.error('lease not renewed in time (catalog unreachable?): recording stops before another node may take the camera', { camera });
      void this.drop(camera, 'fenced');
    }
  }

  /** Stops every recording, releases every lease, leaves the node list (graceful stop). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.round?.catch(() => undefined);
    await Promise.allSettled(this.leaving.values());
    await this.o.leases.markStopping().catch(() => undefined);
    await Promise.all(this.cameras.map((c) => this.giveUp(c)));
    if (this.fenceTimer) clearInterval(this.fenceTimer);
    await this.o.leases.close();
  }
}
