// Fault: segment files damaged on disk. While the producer is down one sealed segment is truncated in the
// middle, one gets bytes flipped inside a moof and one inside an mdat. On restart, reconciliation finds
// each (logged as an error, reported) and keeps what is intact: the damaged fragments leave the index and
// become recorded gaps naming the segment, the files themselves are not touched. Clips that do not need
// the damage are frame-exact; clips across it skip it as a reported gap (and decode cleanly: no damaged
// byte is copied); a clip wholly inside it fails naming the segment. A segment damaged while the
// producer runs fails the clip that finds it, by name, and is verified at once: clips across it then skip
// the damage as well. A second restart reports nothing new.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readFileSync, statSync, truncateSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { decodeErrors, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { getJson, listSegments, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { framesIn, makeClip, sourceFrames, type SourceFrame } from '../helpers/clips.js';
import type { FragmentRow } from '../../src/producer/store/catalog.js';
import type { HealthPayload } from '../../src/producer/health.js';
import { Figures, md5File } from './support.js';

type Producer = Awaited<ReturnType<typeof startTestProducer>>;
// Fragments of 0.5 s (8 frames at 16 fps) and segments of 1.5 s: three fragments per segment.
const OPTS = { segmentSeconds: 1.5, testsrc: { fps: 16, gopSeconds: 0.5 } };

/** A fragment's bounds as the wire gives them (numbers: this test's clock is small). */
const wireNs = (f: FragmentRow) => ({ start: Number(f.start_pts_ns), stop: Number(f.stop_pts_ns) });

/** XORs `n` bytes at `at` with 0xff. */
function flip(path: string, at: number, n: number): void {
  const buf = readFileSync(path).subarray(at, at + n);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.from(buf.map((b) => b ^ 0xff)), 0, n, at);
  } finally {
    closeSync(fd);
  }
}

/** Offset of the trun's sample_count inside a fragment (so the damage is structural, not just bytes). */
function trunSampleCountAt(path: string, f: FragmentRow): number {
  const moof = readFileSync(path).subarray(f.offset, f.offset + f.moof_size);
  const i = moof.indexOf('trun');
  assert.ok(i > 0, 'moof has a trun');
  return f.offset + i + 8;
}

test('damaged segment files: reconciled at restart, reported, clips skip or name the damage', { timeout: 120_000 }, async (t) => {
  const tmp = tempDir('segrec-corrupt-');
  const fig = new Figures('corrupt');
  const dataDir = tmp.dir;
  const file = (s: { path: string }) => join(dataDir, 'segments', s.path);
  let p: Producer = await startTestProducer(dataDir, OPTS);
  try {
    const segs = await waitFor('6 sealed segments of 3 fragments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed && x.fragments === 3);
      return s.length >= 6 ? s.slice(0, 6) : null;
    }, 40_000);
    const [A, B, C, D, E] = segs;
    const frags = new Map(segs.map((s) => [s.id, p.producer.index.fragmentsOf(s.id)]));
    const frames = await sourceFrames(dataDir, segs);
    await p.close();

    // The damage, done while the producer is down.
    const a2 = frags.get(A.id)![1];
    truncateSync(file(A), a2.offset + Math.floor(a2.size / 2)); // cut in the middle of A's 2nd fragment
    const b2 = frags.get(B.id)![1];
    flip(file(B), b2.offset + Math.floor(b2.moof_size / 2), 4); // inside B's 2nd moof
    const c2 = frags.get(C.id)![1];
    flip(file(C), c2.offset + c2.moof_size + Math.floor((c2.size - c2.moof_size) / 2), 16); // deep inside C's 2nd mdat
    const damagedSums = new Map([A, B, C].map((s) => [s.path, md5File(file(s))]));
    const dSum = md5File(file(D));

    const t0 = Date.now();
    p = await startTestProducer(dataDir, OPTS);
    const restartMs = Date.now() - t0;
    // Sealed files that changed are the background check's (start-up only recovers what a crash left).
    await p.producer.backgroundCheck.done;
    const rec = p.producer.recovery;
    assert.deepEqual([...rec.corrupt].sort(), [A.path, B.path, C.path].sort(), 'reconciliation reports exactly the damaged segments');
    assert.equal(rec.damagedFragments, 2 + 1 + 1, "A's 2nd and 3rd, B's 2nd and C's 2nd fragment are left out");
    for (const s of [A, B, C]) {
      assert.ok(p.logs.some((l) => / ERROR /.test(l) && l.includes(s.path) && /damaged/.test(l)), `an error names ${s.path}`);
      assert.equal(md5File(file(s)), damagedSums.get(s.path), `${s.path} itself is left as it is`);
    }
    assert.equal(md5File(file(D)), dSum, 'an intact segment is untouched');

    const { segments: now, gaps } = await listSegments(p.url);
    const byId = (s: SegmentWire) => now.find((x) => x.id === s.id)!;
    assert.equal(byId(A).fragments, 1, 'A keeps its intact first fragment');
    assert.equal(byId(A).stop_pts_ns, wireNs(frags.get(A.id)![0]).stop);
    assert.equal(byId(B).fragments, 2, 'B keeps its 1st and 3rd fragments');
    assert.equal(byId(C).fragments, 2, 'C keeps its 1st and 3rd fragments');
    assert.equal(byId(D).fragments, 3);
    const gapFor = (s: SegmentWire, f: FragmentRow) => gaps.find((g) => g.start_pts_ns === wireNs(f).start && g.reason.includes(`segment damaged: ${s.path}`));
    assert.ok(gapFor(A, a2), `A's lost tail is a recorded gap: ${JSON.stringify(gaps)}`);
    assert.match(gapFor(A, a2)!.reason, /truncated/);
    assert.ok(gapFor(B, b2), "B's damaged fragment is a recorded gap (a hole inside the segment)");
    assert.ok(gapFor(C, c2), "C's damaged fragment is a recorded gap (a hole inside the segment)");
    assert.match(gapFor(C, c2)!.reason, /checksum/);
    const h = (await getJson<HealthPayload>(`${p.url}/health`)).body;
    assert.equal(h.ingest.state === 'running' || h.ingest.state === 'starting', true, 'recording goes on');

    // Clips that do not need the damage: frame-exact.
    const exact = async (startNs: number, stopNs: number, expect: SourceFrame[], what: string) => {
      const c = await makeClip(p.url, { start_pts_ns: Math.round(startNs), stop_pts_ns: Math.round(stopNs) });
      assert.equal(c.status, 'done', `${what}: ${c.error}`);
      assert.equal(await decodeErrors(c.path!), '', `${what} decodes cleanly`);
      assert.deepEqual(await videoFrameMd5s(c.path!), expect.map((f) => f.md5), `${what}: exactly the intact frames`);
      return c;
    };
    await exact(D.start_pts_ns + 1e8, D.stop_pts_ns - 1e8, framesIn(frames, D.start_pts_ns + 1e8, D.stop_pts_ns - 1e8), 'a clip inside D');
    const bFirst = wireNs(frags.get(B.id)![0]);
    await exact(bFirst.start + 1e8, bFirst.stop - 1e8, framesIn(frames, bFirst.start + 1e8, bFirst.stop - 1e8), "a clip in B's intact part");

    // Clips across the damage: the damaged fragment is skipped as a reported gap.
    const outside = (f: FragmentRow) => (x: SourceFrame) => x.ptsNs < wireNs(f).start || x.ptsNs >= wireNs(f).stop;
    const across: Record<string, unknown> = {};
    for (const [s, f] of [[B, b2], [C, c2]] as const) {
      const win = [s.start_pts_ns + 1e8, s.stop_pts_ns - 1e8];
      const c = await exact(win[0], win[1], framesIn(frames, win[0], win[1]).filter(outside(f)), `a clip across ${s.path}'s damage`);
      assert.ok(c.gaps.some((g) => g.start_pts_ns <= wireNs(f).start + 1e6 && g.stop_pts_ns >= wireNs(f).stop - 1e6), 'the hole is reported in the clip');
      across[s.path] = { frames: c.frames, gaps: c.gaps.length };
    }
    // A clip wholly inside damaged footage fails, naming the segment.
    const inside = await makeClip(p.url, { start_pts_ns: wireNs(b2).start + 1e8, stop_pts_ns: wireNs(b2).stop - 1e8 });
    assert.equal(inside.status, 'error');
    assert.ok(String(inside.error).includes(B.path) && /damaged/.test(String(inside.error)), `the error names the damaged segment: ${inside.error}`);

    // Damage while the producer runs: E's moof loses its sample count; the clip that finds it fails by
    // name, and has E verified at once (not at the next start): then clips across it skip the damage.
    const e2 = frags.get(E.id)![1];
    flip(file(E), trunSampleCountAt(file(E), e2), 4);
    const live = await makeClip(p.url, { start_pts_ns: E.start_pts_ns + 1e8, stop_pts_ns: E.stop_pts_ns - 1e8 });
    assert.equal(live.status, 'error');
    assert.ok(String(live.error).includes(E.path) && /damaged/.test(String(live.error)), `the error names ${E.path}: ${live.error}`);
    await exact(D.start_pts_ns + 1e8, D.stop_pts_ns - 1e8, framesIn(frames, D.start_pts_ns + 1e8, D.stop_pts_ns - 1e8), 'D still clips');
    const askedAt = Date.now();
    await waitFor('E verified while running', async () => p.producer.recovery.corrupt.includes(E.path) || null, 10_000);
    const verifiedMs = Date.now() - askedAt;
    const afterLive = await exact(E.start_pts_ns + 1e8, E.stop_pts_ns - 1e8, framesIn(frames, E.start_pts_ns + 1e8, E.stop_pts_ns - 1e8).filter(outside(e2)), "a clip across E's damage, once verified");
    assert.ok(afterLive.gaps.some((g) => g.start_pts_ns <= wireNs(e2).start + 1e6 && g.stop_pts_ns >= wireNs(e2).stop - 1e6), 'the hole is reported in the clip');
    await p.close();

    // Second restart: nothing newly damaged; A, B, C and E are not reported again.
    p = await startTestProducer(dataDir, OPTS);
    await p.producer.backgroundCheck.done;
    assert.deepEqual(p.producer.recovery.corrupt, [], 'every damage was found before');
    const gapsAfter = (await listSegments(p.url)).gaps.filter((g) => /segment damaged/.test(g.reason));
    assert.equal(gapsAfter.length, 4, 'A, B, C and E damage each recorded once');
    assert.ok(statSync(file(E)).size > 0);
    fig.set('damage', {
      truncatedMiddle: { segment: A.path, fragmentsLeftOut: 2, gap: gapFor(A, a2)!.reason },
      flippedInMoof: { segment: B.path, fragmentsLeftOut: 1, gap: gapFor(B, b2)!.reason },
      flippedInMdat: { segment: C.path, fragmentsLeftOut: 1, gap: gapFor(C, c2)!.reason },
      clipsAcrossDamage: across, clipInsideDamage: inside.error, clipWhileRunning: live.error, verifiedWhileRunningMs: verifiedMs, restartMs,
      secondRestartReports: p.producer.recovery.corrupt,
    });
  } finally {
    await p.close();
    tmp.cleanup();
  }
  fig.report(t);
});
