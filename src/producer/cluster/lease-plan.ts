// Pure: which cameras a node should take or give up in one lease round. Cameras spread evenly over the
// live nodes (no node holds more than ceil(cameras / nodes)); a node takes free or lapsed leases up to
// that share at once (a dead node's cameras must move quickly), but gives one up only when it is among
// the fullest and another live node holds two fewer, one per round (each move is a handover with a recorded gap, so a
// returning node takes its share gradually). Among free cameras each node prefers those it ranks first by
// rendezvous hashing, so nodes starting together mostly reach for different cameras.
import { createHash } from 'node:crypto';

export interface LeaseView {
  camera: string;
  /** The holder while the lease is live; null when free or lapsed. */
  node: string | null;
}

export interface LeaseRound {
  me: string;
  /** Every camera the recorder records (the same configuration on every node). */
  cameras: string[];
  leases: LeaseView[];
  /** Nodes with a fresh heartbeat that are not stopping, this one included. */
  liveNodes: string[];
  /** Whether this node may take cameras (false while it stops). */
  accepting: boolean;
}

export interface LeasePlan {
  acquire: string[];
  release: string[];
  share: number;
}

/** How much `node` wants `camera` (rendezvous hashing: a stable, even, independent preference). */
export function rank(node: string, camera: string): number {
  return createHash('sha1').update(`${node}\u0000${camera}`).digest().readUInt32BE(0);
}

export function planLeases(r: LeaseRound): LeasePlan {
  const nodes = new Set(r.liveNodes);
  nodes.add(r.me);
  const holder = new Map(r.leases.map((l) => [l.camera, l.node]));
  const counts = new Map([...nodes].map((n) => [n, 0]));
  for (const c of r.cameras) {
    const n = holder.get(c);
    if (n != null && counts.has(n)) counts.set(n, counts.get(n)! + 1);
  }
  const mine = r.cameras.filter((c) => holder.get(c) === r.me);
  if (!r.accepting) return { acquire: [], release: mine, share: 0 };
  const share = Math.ceil(r.cameras.length / nodes.size);
  const byPreference = (a: string, b: string) => rank(r.me, b) - rank(r.me, a);
  // Free, or held by a node that is not live (its lease runs out; the database decides when).
  const free = r.cameras.filter((c) => holder.get(c) == null).sort(byPreference);
  const acquire = free.slice(0, Math.max(0, share - mine.length));
  const release: string[] = [];
  const fewest = Math.min(...counts.values());
  const most = Math.max(...counts.values());
  // Only the fullest nodes give up cameras, so none moves twice.
  if (acquire.length === 0 && free.length === 0 && mine.length === most && mine.length - fewest >= 2) {
    // The camera this node wants least goes first.
    release.push([...mine].sort(byPreference)[mine.length - 1]);
  }
  return { acquire, release, share };
}
