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
import { findJob, recentJobs, waitForJob, type SharedJob } from '../../src/producer/clips/shared-jobs.js';
import { clipIdOf, SLOT_SPAN, type JobRecord } from '../../src/producer/store/job-store.js';

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
    assert.deepEqual(engine.get(job.clipId), engine.store.get(job.clipId), 'a waiting job reads as its row');
    const ac = new AbortController();
    const waiters = [engine.waitTerminal(job.clipId, 5000, ac.signal), engine.waitTerminal(job.clipId, 5000, ac.signal)];
    const gone = new AbortController();
    const leaving = engine.waitTerminal(job.clipId, 5000, gone.signal);
    gone.abort();
    assert.equal(await leaving, undefined, 'a client that went away stops waiting, with no record');
    const [ended, same] = await Promise.all(waiters);
    const done = engine.get(job.clipId)!;
    assert.equal(done.status, 'error', stringifyWireJson(done));
    assert.deepEqual(ended, engine.store.get(job.clipId), 'the long-polls answer the job as its row then holds it');
    assert.equal(same, ended);
    assert.deepEqual(done, ended);
    assert.equal(await engine.waitTerminal(job.clipId, 5000, ac.signal), undefined, 'an ended job: no wait');
    assert.deepEqual(finished.map((c) => [c.clip_id, c.status]), [[job.clipId, 'error']]);
  } finally {
    await engine.close();
  }
  assert.match(codeOf(() => engine.submit(pts(150, 151))), /^SHUTTING_DOWN:/);
  tmp.cleanup();
});

test('in a cluster the clip service writes its jobs through the shared port, adopts and forgets jobs, and reads jobs other nodes hold', async () => {
  const tmp = tempDir();
  const { ports } = fakePorts(tmp.dir, at(100), []);
  const engine = new ClipEngine(ports);
  const calls: string[] = [];
  const elsewhere = new Map<string, SharedJob>();
  engine.shared = {
    node: 'n1',
    accepted: async (j) => { calls.push(`accepted ${j.clipId}`); },
    started: (j) => calls.push(`started ${j.clipId}`),
    finished: (j) => calls.push(`finished ${j.clipId} ${j.status}`),
    lookup: async (id) => elsewhere.get(id) ?? null,
    recent: async (limit) => {
      if (elsewhere.size === 0) throw new Error('catalog away');
      return [...elsewhere.values()].map((x) => x.job).slice(0, limit);
    },
  };
  engine.start();
  try {
    const ac = new AbortController();
    // Accepted: in the shared table before it is acknowledged; its end reported there.
    const own = await engine.accept(pts(150, 151, { maxWaitMs: 50 }));
    assert.deepEqual(calls, [`accepted ${own.clipId}`]);
    await engine.waitTerminal(own.clipId, 5000, ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(calls.slice(1), [`started ${own.clipId}`, `finished ${own.clipId} error`]);

    // A job of another node (slot 7) taken over: entered under its id, run, its end reported.
    const theirs: JobRecord = { ...own, clipId: clipIdOf(7 * SLOT_SPAN + 3, 'clip-front-'), seq: 7 * SLOT_SPAN + 3, status: 'running', deadlineMs: Date.now() + 50 };
    engine.adopt(theirs);
    engine.adopt(theirs);
    await engine.waitTerminal(theirs.clipId, 5000, ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(engine.get(theirs.clipId)?.status, 'error');
    assert.deepEqual(calls.filter((c) => c.includes(theirs.clipId)), [`started ${theirs.clipId}`, `finished ${theirs.clipId} error`], 'adopted once, run once');
    engine.adopt(theirs);
    assert.equal(calls.at(-1), `finished ${theirs.clipId} error`, 'adopting a job that ended here reports its end again');

    // A waiting job another node took over is dropped here, its record too; taken back later, it runs afresh.
    const waiting = await engine.accept(pts(150, 151, { maxWaitMs: 60_000 }));
    engine.forget(waiting.clipId);
    assert.equal(engine.get(waiting.clipId), undefined);
    const back = await engine.accept(pts(150, 151, { maxWaitMs: 60_000 }));
    engine.forget(back.clipId);
    engine.adopt({ ...back, deadlineMs: Date.now() + 50 });
    await engine.waitTerminal(back.clipId, 5000, ac.signal);
    assert.equal(engine.get(back.clipId)?.status, 'error');
    assert.match(String(engine.get(back.clipId)?.error), /no segments overlap/, 'run here, not reported as taken over');

    // Reads: a job another node holds is the table's; one this node holds is its own; unknown is 404.
    elsewhere.set(waiting.clipId, { camera: 'front', node: 'n2', job: { ...waiting, status: 'running' } });
    const found = await findJob(engine, waiting.clipId);
    assert.deepEqual([found.elsewhere, found.job.status], ['n2', 'running']);
    elsewhere.set(own.clipId, { camera: 'front', node: 'n1', job: { ...own, status: 'queued' } });
    assert.deepEqual([(await findJob(engine, own.clipId)).elsewhere, (await findJob(engine, own.clipId)).job.status], [null, 'error'], 'its own record');
    await assert.rejects(findJob(engine, 'clip-front-0000000000000999'), (e: DomainError) => e.code === 'NOT_FOUND');
    // Lists: the cluster's (here the jobs other nodes hold), this node's own while the catalog is away.
    assert.deepEqual((await recentJobs(engine, 10)).map((j) => j.status), ['running', 'queued']);
    const held = new Map(elsewhere);
    elsewhere.clear();
    assert.deepEqual((await recentJobs(engine, 10)).map((j) => j.clipId).sort(), [own.clipId, theirs.clipId, back.clipId].sort());
    for (const [k, v] of held) elsewhere.set(k, v);
    // A client waiting on a job another node runs sees it end there.
    setTimeout(() => elsewhere.set(waiting.clipId, { camera: 'front', node: 'n2', job: { ...waiting, status: 'done' } }), 300);
    const t0 = Date.now();
    const ended = await waitForJob(engine, waiting.clipId, 5000, ac.signal);
    assert.equal(ended.status, 'done');
    assert.ok(Date.now() - t0 < 2000, 'seen within a poll or two');
  } finally {
    await engine.close();
    tmp.cleanup();
  }
});
