// The clip service on fakes of its ports (engine.ts ClipPorts), without a camera, ffmpeg or HTTP: domain
// errors carry their codes (NO_FOOTAGE for a past window without footage, its gap's reason included;
// OUT_OF_ROOT for an out_dir outside the clip roots; SHUTTING_DOWN once closing), a window in the future
// waits for footage, and a job whose footage never comes ends in error when its wait runs out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/media.js';
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';
import { ClipEngine, type ClipPorts } from '../../src/producer/clips/engine.js';
import { DomainError } from '../../src/protocol/errors.js';
import { silentLogger } from '../../src/common/log.js';
import type { ClipSpec } from '../../src/producer/clips/clip-request.js';
import type { ClipJson } from '../../src/protocol/schemas.js';
import { stringifyWireJson } from '../../src/protocol/wire-json.js';
import { at } from '../helpers/synthetic-index.js';

function fakePorts(dir: string, nowPtsNs: bigint, finished: ClipJson[]): { ports: ClipPorts; index: SegmentIndex } {
  const db = openDatabase(':memory:');
  const index = new SegmentIndex(db);
  const ports: ClipPorts = {
    name: 'front', log: silentLogger, db, catalog: index, pins: { pin: () => () => undefined },
    anchor: () => ({ epochMs: 1_700_000_000_000, ptsNs: nowPtsNs, nowPtsNs }),
    place: { segmentsDir: dir, store: null }, clipStoreRoots: [], clipObjects: null, clipRoots: [dir], clipMaxAgeMs: null, workers: 1,
    ingestRunning: () => true, sourceForDisplay: () => 'fake', onFragment: () => undefined,
    clipFinished: (c) => finished.push(c),
  };
  return { ports, index };
}

/** A PTS window [startS, stopS) in seconds. */
const pts = (startS: number, stopS: number, extra: Partial<ClipSpec> = {}): ClipSpec =>
  ({ mode: 'pts', startPtsNs: at(startS), stopPtsNs: at(stopS), label: null, outDir: null, filename: null, maxWaitMs: 30_000, ...extra });

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { assert.ok(e instanceof DomainError, String(e)); return `${e.code}: ${e.message}`; }
  return 'no error';
}

test('the clip service refuses with domain codes and queues what may still come, on fakes of its ports', async () => {
  const tmp = tempDir();
  const finished: ClipJson[] = [];
  const { ports, index } = fakePorts(tmp.dir, at(100), finished);
  index.addGap(at(10), at(20), 'camera unreachable');
  const engine = new ClipEngine(ports);
  engine.start();
  try {
    assert.match(codeOf(() => engine.submit(pts(12, 14))), /^NO_FOOTAGE: .*camera unreachable/);
    assert.match(codeOf(() => engine.submit(pts(50, 60))), /^NO_FOOTAGE: no segments overlap/);
    assert.match(codeOf(() => engine.submit(pts(150, 151, { outDir: '/etc' }))), /^OUT_OF_ROOT: out_dir:/);
    // A window in the future waits; with a 100 ms wait and no footage coming it ends in error.
    const job = engine.submit(pts(150, 151, { maxWaitMs: 100 }));
    assert.match(job.clipId, /^clip-front-\d{16}$/);
    assert.equal(job.status, 'queued');
    const ac = new AbortController();
    await engine.waitTerminal(job.clipId, 5000, ac.signal);
    const done = engine.get(job.clipId)!;
    assert.equal(done.status, 'error', stringifyWireJson(done));
    assert.deepEqual(finished.map((c) => [c.clip_id, c.status]), [[job.clipId, 'error']]);
  } finally {
    await engine.close();
  }
  assert.match(codeOf(() => engine.submit(pts(150, 151))), /^SHUTTING_DOWN:/);
  tmp.cleanup();
});
