// Fault: `kill -9` of the producer at random moments — while it ingests, and right after clip jobs are
// submitted (so some die queued, waiting for footage, or mid-assembly) — for SEGREC_FAULT_ROUNDS rounds
// (default 20) on one data directory. After every restart: each sealed segment from before the kill is
// byte-identical, every sealed segment decodes cleanly with as many frames as the index says, the open
// one was recovered and sealed, finished jobs still answer `done` with their files untouched, interrupted
// jobs finish (`done`, or `error` only for a window that fell into the downtime), no temp or half-written
// clip is visible, and PTS stay monotonic with the downtime recorded as a gap. The moments are drawn from
// a seeded PRNG (SEGREC_FAULT_SEED; the seed is printed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { decodeErrors, probeFrames, tempDir } from '../helpers/media.js';
import { getJson, listSegments, postJson, spawnProducerProcess, waitFor, type SegmentWire, type SegmentsWire } from '../helpers/producer.js';
import type { ClipJson } from '../../src/protocol/schemas.js';
import { clipRootState, faultSeed, Figures, md5File, prng, sleep, stats } from './support.js';

const ROUNDS = Number(process.env.SEGREC_FAULT_ROUNDS || 20);
const ARGS = ['--port', '0', '--segment-seconds', '3', '--testsrc-size', '320x180', '--log-level', 'info'];

interface TrackedJob {
  id: string;
  kind: 'past' | 'straddle' | 'future' | 'big';
  /** Last status seen. */
  status: string;
  /** Files of a job seen done, with their hashes. */
  done?: { path: string; mp4: string; json: string };
}

async function clip(url: string, id: string, waitMs = 0): Promise<ClipJson> {
  const g = await getJson<{ clip: ClipJson }>(`${url}/clip/${id}${waitMs ? `?wait_ms=${waitMs}` : ''}`);
  assert.equal(g.status, 200, `GET /clip/${id} answered ${g.status}`);
  return g.body.clip;
}

function sidecarOf(path: string): string {
  return path.replace(/\.mp4$/, '.json');
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

test(`kill -9 of the producer at random moments, ${ROUNDS} rounds: nothing recorded before a kill is lost`, { timeout: ROUNDS * 20_000 + 60_000 }, async (t) => {
  const seed = faultSeed();
  t.diagnostic(`seed ${seed} (set SEGREC_FAULT_SEED to replay), rounds ${ROUNDS} (SEGREC_FAULT_ROUNDS)`);
  const rng = prng(seed);
  const tmp = tempDir('segrec-kill9-');
  const clipsDir = join(tmp.dir, 'clips');
  /** Sealed segments checked once (decode + frames) and their hash: path → md5. */
  const verified = new Map<string, string>();
  const clipsVerified = new Map<string, string>();
  const jobs = new Map<string, TrackedJob>();
  const fig = {
    kills: 0, killsDuringClipJobs: 0, segmentsChecked: 0, byteIdenticalChecks: 0, openBeforeKillSealedAfter: 0, recoveredOpenLogged: 0, initOnlyFilesRemoved: 0, bytesLost: 0,
    jobsSubmitted: 0, jobsDoneBeforeKill: 0, jobsInterrupted: 0, jobsInterruptedWhileRunning: 0, jobsFinishedAfterRestart: 0,
    jobsErrorAfterRestart: 0, jobErrors: [] as string[], doneJobsRechecked: 0, clipsChecked: 0,
    listenMs: [] as number[], recordAgainMs: [] as number[], resumeToTerminalMs: [] as number[],
  };
  let child: ChildProcess | null = null;
  /** What was known just before the last kill. */
  let before: { segments: SegmentWire[]; hashes: Map<string, string>; killedAt: number } | null = null;

  try {
    for (let spawnNo = 0; spawnNo <= ROUNDS; spawnNo++) {
      const t0 = Date.now();
      const proc = await spawnProducerProcess(['--data-dir', tmp.dir, ...ARGS]);
      child = proc.child;
      fig.listenMs.push(Date.now() - t0);
      const url = proc.url;
      const where = `after kill ${spawnNo} (seed ${seed})`;

      if (before) {
        const prior = before;
        const observedEnd = Math.max(0, ...prior.segments.map((s) => s.stop_pts_ns));
        // Recording again: the gap that records the downtime appears with the new run's first fragment.
        const { list, gap } = await waitFor(`recording again ${where}`, async () => {
          const l = await listSegments(url);
          const g = l.gaps.find((x) => /producer restart/.test(x.reason) && x.start_pts_ns >= observedEnd);
          return g ? { list: l, gap: g } : null;
        }, 30_000, 50);
        fig.recordAgainMs.push(Date.now() - prior.killedAt);
        checkTimeline(list, gap, where);
        const old = list.segments.filter((s) => s.stop_pts_ns <= gap.start_pts_ns);

        // Nothing observed before the kill is lost; sealed ones are byte-identical.
        for (const b of prior.segments) {
          const now = old.find((s) => s.path === b.path);
          assert.ok(now, `${b.path} (indexed before the kill) is still indexed ${where}`);
          assert.equal(now.sealed, true, `${b.path} is sealed ${where}`);
          fig.bytesLost += Math.max(0, b.bytes - now.bytes);
          assert.ok(now.fragments >= b.fragments && now.frames >= b.frames, `${b.path}: fragments indexed before the kill kept ${where}`);
          const want = prior.hashes.get(b.path);
          if (want !== undefined) {
            assert.equal(md5File(join(tmp.dir, 'segments', b.path)), want, `${b.path} byte-identical ${where}`);
            fig.byteIdenticalChecks++;
          } else {
            fig.openBeforeKillSealedAfter++;
          }
        }
        for (const [path, sum] of verified) {
          assert.equal(md5File(join(tmp.dir, 'segments', path)), sum, `${path} byte-identical ${where}`);
          fig.byteIdenticalChecks++;
        }
        // Every segment not checked yet (the recovered open one, ones sealed since the last look) decodes cleanly.
        for (const s of old) {
          assert.equal(s.sealed, true, `${s.path} from before the kill is sealed ${where}`);
          if (verified.has(s.path)) continue;
          await verifySegment(tmp.dir, s, where);
          verified.set(s.path, md5File(join(tmp.dir, 'segments', s.path)));
          fig.segmentsChecked++;
        }
        assert.doesNotMatch(proc.output(), /unreadable|not a usable segment|damaged|changed after sealing/, `no segment reported damaged ${where}`);
        fig.recoveredOpenLogged += (proc.output().match(/recovered open segment/g) ?? []).length;
        fig.initOnlyFilesRemoved += (proc.output().match(/removed an unindexed segment file/g) ?? []).length;

        // Jobs: finished ones still answer with their files intact; interrupted ones finish.
        fig.jobsInterruptedWhileRunning += (proc.output().match(/resuming clip job after restart .*was=running/g) ?? []).length;
        const resumedAt = Date.now();
        for (const j of jobs.values()) {
          if (j.status === 'done' || j.status === 'error') {
            const c = await clip(url, j.id);
            assert.equal(c.status, j.status, `job ${j.id} still answers ${j.status} ${where}`);
            if (j.done) {
              assert.equal(c.path, j.done.path);
              assert.equal(md5File(j.done.path), j.done.mp4, `clip ${j.done.path} intact ${where}`);
              assert.equal(md5File(sidecarOf(j.done.path)), j.done.json, `sidecar of ${j.done.path} intact ${where}`);
              fig.doneJobsRechecked++;
            }
            continue;
          }
          fig.jobsInterrupted++;
          const c = await waitFor(`interrupted job ${j.id} (${j.kind}) to finish ${where}`, async () => {
            const x = await clip(url, j.id, 5000);
            return x.status === 'done' || x.status === 'error' ? x : null;
          }, 40_000, 10);
          fig.resumeToTerminalMs.push(Date.now() - resumedAt);
          await settleJob(j, c, where);
          if (c.status === 'done') fig.jobsFinishedAfterRestart++;
          else { fig.jobsErrorAfterRestart++; fig.jobErrors.push(`${j.kind}: ${c.error}`); }
        }
        await checkClipRoot(where);
      } else {
        await waitFor('first footage', async () => (await listSegments(url)).segments.some((s) => s.fragments > 0), 30_000, 50);
      }
      if (spawnNo === ROUNDS) break;

      // Record a while, maybe ask for clips, then kill -9 at a random moment.
      await sleep(rng.between(300, 1500));
      const health = async () => (await getJson<{ pts_ns: number }>(`${url}/health`)).body;
      const submit = async (kind: TrackedJob['kind'], start: number, stop: number, maxWait = 20_000) => {
        const r = await postJson<{ clip_id: string; message?: string }>(`${url}/clip`, {
          start_pts_ns: Math.round(start), stop_pts_ns: Math.round(stop), max_wait_ms: maxWait, label: kind,
        });
        assert.equal(r.status, 202, `POST /clip (${kind}) answered ${r.status} ${r.body.message ?? ''}`);
        jobs.set(r.body.clip_id, { id: r.body.clip_id, kind, status: 'queued' });
        fig.jobsSubmitted++;
      };
      const recorded = (await listSegments(url)).segments.filter((s) => s.fragments > 0);
      const first = recorded[0].start_pts_ns;
      const last = recorded[recorded.length - 1].stop_pts_ns;
      if (rng.next() < 0.6) {
        // A window that starts inside recorded footage (it may run on across a downtime gap).
        const s = recorded[rng.int(0, recorded.length - 1)];
        const a = rng.between(s.start_pts_ns, s.stop_pts_ns - 1e8);
        await submit('past', a, Math.min(last, a + rng.between(3e8, 3e9)));
      }
      if (rng.next() < 0.4) {
        const now = (await health()).pts_ns;
        await submit('straddle', now - 5e8, now + rng.between(5e8, 2.5e9));
      }
      if (rng.next() < 0.25) {
        const now = (await health()).pts_ns;
        await submit('future', now + 2e8, now + 1.2e9);
      }
      const duringClip = rng.next() < 0.4;
      if (!duringClip) await sleep(rng.between(0, 1200));
      // What is known just before the kill: the index, the hashes of sealed segments, finished jobs.
      const listing = (await listSegments(url)).segments;
      const hashes = new Map<string, string>();
      for (const s of listing) if (s.sealed) hashes.set(s.path, md5File(join(tmp.dir, 'segments', s.path)));
      for (const j of jobs.values()) {
        if (j.status === 'done' || j.status === 'error') continue;
        const c = await clip(url, j.id);
        if (c.status === 'done' || c.status === 'error') { await settleJob(j, c, `before kill ${spawnNo + 1}`); fig.jobsDoneBeforeKill++; }
      }
      if (duringClip) {
        // A clip of everything recorded so far (up to a minute), then the kill a few ms later: the job is
        // queued, planning, or writing its temp file.
        await submit('big', Math.max(first, last - 60e9), last);
        await sleep(rng.int(0, 25));
        fig.killsDuringClipJobs++;
      }
      const killedAt = Date.now();
      await killHard(proc.child);
      child = null;
      fig.kills++;
      before = { segments: listing, hashes, killedAt };
    }
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    tmp.cleanup();
  }

  assert.equal(fig.bytesLost, 0, 'no byte indexed before a kill was lost');
  assert.equal(fig.kills, ROUNDS);
  const f = new Figures('kill9');
  f.set('seed', seed);
  f.set('rounds', ROUNDS);
  for (const [k, v] of Object.entries(fig)) {
    f.set(k, Array.isArray(v) && typeof v[0] === 'number' ? stats(v as number[]) : v);
  }
  f.report(t);

  async function verifySegment(dataDir: string, s: SegmentWire, where: string): Promise<void> {
    const file = join(dataDir, 'segments', s.path);
    assert.equal(await decodeErrors(file), '', `${s.path} decodes cleanly ${where}`);
    assert.equal((await probeFrames(file)).length, s.frames, `${s.path}: frames in the file = index ${where}`);
  }

  async function settleJob(j: TrackedJob, c: ClipJson, where: string): Promise<void> {
    j.status = c.status;
    if (c.status === 'error') {
      // The only acceptable failure: the window lies where nothing was recorded (the downtime).
      assert.match(String(c.error), /no segments overlap|no footage|gap/, `job ${j.id} (${j.kind}) failed with a clear reason ${where}: ${c.error}`);
      return;
    }
    assert.equal(c.status, 'done');
    const path = c.path!;
    assert.ok(existsSync(path) && existsSync(sidecarOf(path)), `clip ${path} and its sidecar exist ${where}`);
    assert.equal(await decodeErrors(path), '', `clip ${path} decodes cleanly ${where}`);
    j.done = { path, mp4: md5File(path), json: md5File(sidecarOf(path)) };
  }

  async function checkClipRoot(where: string): Promise<void> {
    const st = clipRootState(clipsDir);
    assert.deepEqual(st.temps, [], `no temp file in the clip root ${where}`);
    for (const mp4 of st.mp4) {
      assert.ok(existsSync(sidecarOf(mp4)), `visible clip ${mp4} has its sidecar ${where}`);
      const known = clipsVerified.get(mp4);
      if (known) {
        assert.equal(md5File(mp4), known, `clip ${mp4} unchanged ${where}`);
        continue;
      }
      assert.equal(await decodeErrors(mp4), '', `visible clip ${mp4} decodes cleanly ${where}`);
      clipsVerified.set(mp4, md5File(mp4));
      fig.clipsChecked++;
    }
    for (const json of st.json) {
      assert.ok(existsSync(json.replace(/\.json$/, '.mp4')), `sidecar ${json} belongs to a visible clip ${where}`);
    }
  }
});

/** PTS never overlap or repeat, and the downtime is exactly the recorded gap between old and new footage. */
function checkTimeline(list: SegmentsWire, gap: SegmentsWire['gaps'][number], where: string): void {
  const segs = list.segments;
  for (let i = 1; i < segs.length; i++) {
    assert.ok(segs[i].start_pts_ns >= segs[i - 1].stop_pts_ns, `PTS monotonic ${where}: ${segs[i - 1].path} → ${segs[i].path}`);
  }
  assert.ok(gap.stop_pts_ns > gap.start_pts_ns, `the downtime is a gap of positive length ${where}`);
  assert.ok(!segs.some((s) => s.start_pts_ns < gap.stop_pts_ns && s.stop_pts_ns > gap.start_pts_ns), `no footage inside the downtime gap ${where}`);
  assert.ok(segs.some((s) => s.stop_pts_ns === gap.start_pts_ns), `the gap starts where footage before the kill ends ${where}`);
  assert.ok(segs.some((s) => s.start_pts_ns === gap.stop_pts_ns), `the gap ends where the new footage starts ${where}`);
}
