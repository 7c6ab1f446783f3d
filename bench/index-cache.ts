// Index page cache benchmark (issue 11): what SQLite's page cache per index connection (one per camera,
// INDEX_CACHE_KIB in src/producer/store/catalog.ts) buys on a long history. Opens a data directory's index
// read-only once per cache size and runs the reads the producer makes, interleaved across the sizes (each
// round in another order): a clip's fragments for a 10 s window anywhere in the history and 20 days
// back, the segments of the last 60 s, a page of 1,000 segments (GET /segments' default), and the newest-
// footage lookups of /health and clip scheduling. Prints the median and 90th percentile of each per size.
// The history is one bench/history generated (`npx tsx bench/history.ts --days 365` leaves it cached).
//   npx tsx bench/index-cache.ts [--index .scratch/history/365d/index.sqlite] [--sizes 2048,1024,512,256] [--rounds 300]
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SegmentIndex } from '../src/producer/store/catalog.js';
import { quantile } from './lib.js';

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const path = arg('--index') ?? '.scratch/history/365d/index.sqlite';
const sizes = (arg('--sizes') ?? '2048,1024,512,256').split(',').map(Number);
const rounds = Number(arg('--rounds') ?? 300);
const WARMUP = 20;
if (!existsSync(path) || !sizes.every((s) => Number.isInteger(s) && s > 0) || !(rounds > WARMUP)) {
  throw new Error(`usage: npx tsx bench/index-cache.ts [--index PATH] [--sizes 2048,512] [--rounds N > ${WARMUP}] (${path}: ${existsSync(path) ? 'found' : 'missing; run bench/history first'})`);
}

const conns = sizes.map((kib) => {
  const db = new Database(path, { readonly: true });
  db.pragma(`cache_size = -${kib}`);
  return { kib, index: new SegmentIndex(db) };
});
const { newestStopPtsNs, oldestStartPtsNs, count } = conns[0].index.stats();
if (newestStopPtsNs === null || oldestStartPtsNs === null) throw new Error(`${path}: no segments`);
const SECOND = 1_000_000_000n;
const DAY = 86_400n * SECOND;
const span = Number(newestStopPtsNs - oldestStartPtsNs - 20n * SECOND);
const back20 = newestStopPtsNs - 20n * DAY > oldestStartPtsNs ? newestStopPtsNs - 20n * DAY : oldestStartPtsNs;
const LOOKBACK_NS = 4e9;
const reads: Record<string, (index: SegmentIndex) => unknown> = {
  'clip 10 s, anywhere': (index) => {
    const s = oldestStartPtsNs + BigInt(Math.floor(Math.random() * span));
    return index.clipFragments(s, s + 10n * SECOND, LOOKBACK_NS);
  },
  'clip 10 s, 20 days back': (index) => {
    const s = back20 + BigInt(Math.floor(Math.random() * 3600)) * SECOND;
    return index.clipFragments(s, s + 10n * SECOND, LOOKBACK_NS);
  },
  'segments of the last 60 s': (index) => index.overlapping(newestStopPtsNs - 60n * SECOND, newestStopPtsNs),
  'a page of 1,000 segments': (index) => index.overlappingPage(newestStopPtsNs - DAY, newestStopPtsNs, 1000, null),
  'newest footage (3 lookups)': (index) => [index.lastSegment(), index.newestFragmentStart(), index.stats()],
};
const times: Record<string, Map<number, number[]>> = Object.fromEntries(Object.keys(reads).map((k) => [k, new Map(sizes.map((s) => [s, []]))]));
for (let round = 0; round < rounds; round++) {
  for (const [name, read] of Object.entries(reads)) {
    for (let k = 0; k < conns.length; k++) {
      const c = conns[(round + k) % conns.length];
      const t = process.hrtime.bigint();
      read(c.index);
      const us = Number(process.hrtime.bigint() - t) / 1000;
      if (round >= WARMUP) times[name].get(c.kib)!.push(us);
    }
  }
}
console.log(`${path}: ${count} segments; ${rounds - WARMUP} rounds; median / 90th percentile per page cache size`);
console.log('read'.padEnd(30) + sizes.map((s) => `${s} KiB`.padStart(18)).join(''));
for (const [name, bySize] of Object.entries(times)) {
  console.log(name.padEnd(30) + sizes.map((s) => `${quantile(bySize.get(s)!, 0.5).toFixed(0)} / ${quantile(bySize.get(s)!, 0.9).toFixed(0)} µs`.padStart(18)).join(''));
}
