// The pure lease plan: even spread, quick failover, gradual rebalancing one camera per round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planLeases, type LeaseView } from '../../src/producer/cluster/lease-plan.js';

const CAMS = Array.from({ length: 12 }, (_, i) => `c${i}`);
const view = (holders: Record<string, string | null>): LeaseView[] => CAMS.map((camera) => ({ camera, node: holders[camera] ?? null }));
const held = (l: LeaseView[], node: string) => l.filter((x) => x.node === node).length;

/** Runs rounds of every node in turn (each sees the others' moves) until nothing changes. */
function settle(nodes: string[], leases: LeaseView[], maxRounds = 100): { leases: LeaseView[]; rounds: number; moves: number } {
  let moves = 0;
  for (let round = 0; round < maxRounds; round++) {
    let changed = false;
    for (const me of nodes) {
      const p = planLeases({ me, cameras: CAMS, leases, liveNodes: nodes, accepting: true });
      for (const c of p.acquire) { const l = leases.find((x) => x.camera === c)!; if (l.node === null) { l.node = me; changed = true; } }
      for (const c of p.release) { leases.find((x) => x.camera === c)!.node = null; changed = true; moves++; }
    }
    if (!changed) return { leases, rounds: round, moves };
  }
  throw new Error('did not settle');
}

test('free cameras spread evenly over the live nodes', () => {
  const r = settle(['a', 'b', 'c'], view({}));
  assert.deepEqual(['a', 'b', 'c'].map((n) => held(r.leases, n)), [4, 4, 4]);
});

test('a node takes its whole share of lapsed leases at once (failover), not one per round', () => {
  const l = view(Object.fromEntries(CAMS.map((c, i) => [c, i < 6 ? 'a' : null])));
  const p = planLeases({ me: 'b', cameras: CAMS, leases: l, liveNodes: ['a', 'b'], accepting: true });
  assert.equal(p.acquire.length, 6);
  assert.deepEqual(p.release, []);
});

test('a returning node gets its share gradually: one release per round from the fullest node', () => {
  const l = view(Object.fromEntries(CAMS.map((c, i) => [c, i < 6 ? 'a' : 'b'])));
  const p = planLeases({ me: 'a', cameras: CAMS, leases: l, liveNodes: ['a', 'b', 'c'], accepting: true });
  assert.equal(p.release.length, 1);
  assert.deepEqual(p.acquire, []);
  const r = settle(['a', 'b', 'c'], l);
  assert.deepEqual(['a', 'b', 'c'].map((n) => held(r.leases, n)), [4, 4, 4]);
  assert.equal(r.moves, 4, 'only the cameras that must move do');
});

test('an uneven count stays within one camera of even, without moves back and forth', () => {
  const cams = CAMS.slice(0, 11);
  let leases = cams.map((camera) => ({ camera, node: null as string | null }));
  for (let round = 0; round < 20; round++) {
    for (const me of ['a', 'b', 'c']) {
      const p = planLeases({ me, cameras: cams, leases, liveNodes: ['a', 'b', 'c'], accepting: true });
      leases = leases.map((x) => (p.acquire.includes(x.camera) && x.node === null ? { ...x, node: me } : p.release.includes(x.camera) ? { ...x, node: null } : x));
    }
  }
  const counts = ['a', 'b', 'c'].map((n) => leases.filter((x) => x.node === n).length).sort();
  assert.deepEqual(counts, [3, 4, 4]);
  const p = planLeases({ me: 'b', cameras: cams, leases, liveNodes: ['a', 'b', 'c'], accepting: true });
  assert.deepEqual([p.acquire, p.release], [[], []], 'settled');
});

test('a stopping node takes nothing and gives everything up', () => {
  const l = view({ c0: 'a', c1: 'a' });
  const p = planLeases({ me: 'a', cameras: CAMS, leases: l, liveNodes: ['a'], accepting: false });
  assert.deepEqual(p.acquire, []);
  assert.deepEqual(p.release.sort(), ['c0', 'c1']);
});
