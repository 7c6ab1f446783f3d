// Fault: `kill -9` of the producer in the middle of a 10 s GOP (issue 9: "fragment by time as well as
// keyframe (about 1 s), so a kill -9 of the producer loses at most about one second of footage whatever
// the GOP"). A file source (H.264 with B-frames, a keyframe every 10 s, AAC) is recorded live (-re);
// 6.5 s into the second GOP (and 0.7 s after a fragment came in) the producer process is killed with SIGKILL and started again on the same
// data directory. The footage recovered from before the kill must end within about a second of the
// producer clock at the kill and keep everything /segments listed live; every recovered segment decodes
// with as many frames as the index says; and a clip of the last 3 s before the kill, whose keyframe lies
// several fragments earlier, is frame-exact (decoded-frame MD5s against the recording's own frames).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { decodeErrors, makeVideo, probeFrames, tempDir } from '../helpers/media.js';
import { makeClip } from '../helpers/clips.js';
import { getJson, listSegments, spawnProducerProcess, waitFor, type SegmentWire } from '../helpers/producer.js';
import { frameMd5s, framesIn, recordedFrames, sleep, type Segment } from '../cameras/support.js';
import type { HealthPayload } from '../../src/producer/health.js';

const FPS = 25;
const GOP_S = 10;
/** Where in the recording the producer is killed: 6.5 s into the second GOP. */
const KILL_AT_S = GOP_S + 6.5;
/** "About one second": the fragment duration (1 s) and a little pipeline latency. */
const MAX_LOSS_S = 1.5;
/** How long after a fragment came in the producer is killed. */
const KILL_INTO_FRAGMENT_MS = 700;

const s3 = (ns: number) => (ns / 1e9).toFixed(3);

test('kill -9 in the middle of a 10 s GOP loses at most about a second; what is left decodes and clips frame-exact', { timeout: 180_000 }, async (t) => {
  const tmp = tempDir('segrec-kill9-gop-');
  const source = join(tmp.dir, 'gop10.mp4');
  await makeVideo(source, { seconds: 60, fps: FPS, width: 320, height: 180, gop: GOP_S * FPS, bframes: 2, audio: true, container: 'plain' });
  const dataDir = join(tmp.dir, 'data');
  const args = ['--data-dir', dataDir, '--port', '0', '--source', source, '--segment-seconds', '4', '--log-level', 'info'];
  let child: ChildProcess | null = null;
  try {
    const first = await spawnProducerProcess(args);
    child = first.child;
    // Poll /segments until the footage is KILL_AT_S long, then kill at once: the last listing is what was seen live.
    let seen: SegmentWire[] = [];
    let runStart = 0;
    let timebase: HealthPayload['timebase'] | null = null;
    await waitFor(`${KILL_AT_S} s of footage`, async () => {
      seen = (await listSegments(first.url)).segments.filter((s) => s.fragments > 0);
      if (seen.length === 0) return null;
      runStart = seen[0].start_pts_ns;
      timebase ??= (await getJson<HealthPayload>(`${first.url}/health`)).body.timebase;
      return Math.max(...seen.map((s) => s.stop_pts_ns)) - runStart >= KILL_AT_S * 1e9 ? true : null;
    }, 90_000, 40);
    // Then most of a fragment later (a fragment has just come in: killing now would lose next to nothing).
    await sleep(KILL_INTO_FRAGMENT_MS);
    seen = (await listSegments(first.url)).segments.filter((s) => s.fragments > 0);
    const exited = new Promise<void>((r) => first.child.once('exit', () => r()));
    const killedAtMs = Date.now();
    first.child.kill('SIGKILL');
    await exited;
    child = null;
    assert.ok(timebase);
    const tb = timebase as HealthPayload['timebase'];
    // The producer clock at the kill (the timebase maps wall time to PTS) and the newest footage seen live.
    const ptsAtKill = Number(tb.base_pts_ns) + (killedAtMs - Number(tb.base_epoch_ms)) * 1e6;
    const seenStop = Math.max(...seen.map((s) => s.stop_pts_ns));

    const second = await spawnProducerProcess(args);
    child = second.child;
    const { segments, gap } = await waitFor('recording again after the kill', async () => {
      const l = await listSegments(second.url);
      const g = l.gaps.find((x) => /producer restart/.test(x.reason) && x.start_pts_ns >= seenStop);
      return g ? { segments: l.segments, gap: g } : null;
    }, 60_000, 100);
    const old = segments.filter((s) => s.stop_pts_ns <= gap.start_pts_ns);
    const recoveredStop = Math.max(...old.map((s) => s.stop_pts_ns));
    const lossS = (ptsAtKill - recoveredStop) / 1e9;
    t.diagnostic(`footage ${s3(recoveredStop - runStart)} s recovered; seen live ${s3(seenStop - runStart)} s; ` +
      `producer clock at the kill ${s3(ptsAtKill - runStart)} s: ${lossS.toFixed(3)} s lost; segments ${old.map((s) => `[${s3(s.start_pts_ns - runStart)}–${s3(s.stop_pts_ns - runStart)} ${s.fragments}fr ${s.frames}f]`).join(' ')}`);

    await t.test('the recovered footage ends within about a second of the kill, nothing seen live lost', () => {
      // The kill came in the middle of a GOP, not at a keyframe (fragments are cut by time).
      const endS = (recoveredStop - runStart) / 1e9;
      assert.ok(endS >= GOP_S + 5 && endS < 2 * GOP_S - 1, `recovered footage ends ${endS} s into the recording: in the middle of the second GOP`);
      const open = old[old.length - 1];
      assert.ok(open.fragments >= (open.stop_pts_ns - open.start_pts_ns) / 1.2e9, `${open.fragments} fragments in ${s3(open.stop_pts_ns - open.start_pts_ns)} s: about one a second`);
      assert.ok(recoveredStop >= seenStop, `recovered footage ends at ${recoveredStop}, not before what /segments listed live (${seenStop})`);
      assert.ok(lossS <= MAX_LOSS_S, `${lossS.toFixed(3)} s of footage lost at a kill 6.5 s into a 10 s GOP (at most ${MAX_LOSS_S} s)`);
      assert.ok(gap.start_pts_ns === recoveredStop, 'the restart gap starts where the recovered footage ends');
    });

    await t.test('every recovered segment decodes, with as many frames as the index says', async () => {
      assert.ok(old.length > 0 && old.every((s) => s.sealed), 'the footage from before the kill is sealed');
      for (const s of old) {
        const file = join(dataDir, 'segments', s.path);
        assert.equal(await decodeErrors(file), '', `${s.path} decodes cleanly`);
        assert.equal((await probeFrames(file)).length, s.frames, `${s.path}: frames in the file = index`);
      }
    });

    await t.test('a clip of the last 3 s before the kill is frame-exact (its keyframe in an earlier fragment)', async () => {
      const rec = await recordedFrames(dataDir, tmp.dir, old as Segment[]);
      const frameNs = 1e9 / FPS;
      const stopNs = recoveredStop;
      const startNs = stopNs - 3e9 - frameNs / 2;
      const want = framesIn(rec.frames, startNs, stopNs);
      assert.ok(want.length >= 3 * FPS - 1, `the window holds ${want.length} recorded frames`);
      assert.ok(!want.some((f) => f.keyframe), 'no keyframe in the window: decoding starts seconds before it');
      const clip = await makeClip(second.url, { start_pts_ns: Math.round(startNs), stop_pts_ns: Math.round(stopNs), label: 'before-kill' }, 60_000);
      assert.equal(clip.status, 'done', String(clip.error));
      const got = await frameMd5s(clip.path!);
      assert.deepEqual(got, want.map((f) => f.md5), 'decoded frames = the recording\'s frames in the window');
      assert.equal(clip.frames, want.length);
      assert.equal(clip.partial, false, String(clip.partial_reason));
      assert.equal(await decodeErrors(clip.path!), '', 'the clip decodes cleanly');
      assert.ok((clip.lead_in_ms ?? 0) >= 1500, `lead-in ${clip.lead_in_ms} ms: the keyframe lies fragments before the window`);
      t.diagnostic(`clip: ${want.length} frames, lead-in ${clip.lead_in_ms} ms, segments ${clip.segments.join(', ')}`);
    });
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    tmp.cleanup();
  }
});
