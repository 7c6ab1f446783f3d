// Clip retention (issue 10): `clip_max_age` / `--clip-max-age` (default: keep forever) deletes published
// clips older than that — the .mp4 and its sidecar — at start and every minute; only clips this
// producer's job store recorded, and only while the file is still that clip (size, sidecar naming the
// clip id); never a job still running or waiting, never a file it did not make; the job stays `done`
// with `path: null` and `expired_ms`, and GET /clip/{id} says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, realpathSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/media.js';
import { getJson, listSegments, postJson, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { makeClip, type ClipWire } from '../helpers/clips.js';
import type { ClipEngine } from '../../src/producer/clips/engine.js';
import type { ClipSpec } from '../../src/producer/clips/clip-request.js';
import { JobStore, type ClipOutcome } from '../../src/producer/store/job-store.js';
import { ClipRetention } from '../../src/producer/clips/clip-retention.js';
import { openDatabase } from '../../src/producer/store/catalog.js';
import { OptionsError, parseProducerArgs, resolveProducerOptions } from '../../src/producer/options.js';
import { silentLogger } from '../../src/common/log.js';

/** GET /clip/{id}'s clip, with the expiry field clip retention adds. */
type WireClip = ClipWire & { expired_ms?: number | null };

const SEC_NS = 1_000_000_000n;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sidecarOf = (p: string) => p.replace(/\.mp4$/, '.json');
const SPEC: ClipSpec = { mode: 'pts', startPtsNs: 0n, stopPtsNs: SEC_NS, label: null, outDir: null, filename: null, maxWaitMs: 0 };

test('--clip-max-age: a duration flag (and SEGREC_CLIP_MAX_AGE), positive; clips are kept forever by default', () => {
  assert.equal(parseProducerArgs(['--clip-max-age', '30d'], {}).clipMaxAgeMs, 30 * 86_400_000);
  assert.equal(parseProducerArgs(['--clip-max-age=90m'], {}).clipMaxAgeMs, 90 * 60_000);
  assert.equal(parseProducerArgs([], { SEGREC_CLIP_MAX_AGE: '12h' }).clipMaxAgeMs, 12 * 3_600_000);
  assert.throws(() => parseProducerArgs(['--clip-max-age', 'a while'], {}), /--clip-max-age: "a while" is not a duration/);
  assert.equal(resolveProducerOptions({}).clipMaxAgeMs, null);
  assert.throws(() => resolveProducerOptions({ clipMaxAgeMs: 0 }), (e: unknown) => e instanceof OptionsError && /clip-max-age must be positive/.test(e.message));
  assert.equal(resolveProducerOptions({ clipMaxAgeMs: 1000 }).clipMaxAgeMs, 1000);
});

/** A done job with a published clip (real files: the clip and a sidecar naming it), as the engine leaves one. */
function publish(store: JobStore, dir: string, name: string, bytes = 1000): { clipId: string; path: string } {
  const job = store.create(SPEC, { startPtsNs: 0n, stopPtsNs: SEC_NS }, dir, Date.now());
  const path = join(dir, name);
  writeFileSync(sidecarOf(path), JSON.stringify({ clip_id: job.clipId, path }));
  writeFileSync(path, Buffer.alloc(bytes, 1));
  const outcome: ClipOutcome = {
    path, actual_start_pts_ns: 0n, actual_stop_pts_ns: SEC_NS, lead_in_ms: 0, duration_ms: 1000, frames: 15, bytes, segments: [], gaps: [],
    partial: false, partial_reason: null, audio: false,
  };
  store.markRunning(job.clipId);
  store.finish(store.endOf(job, 'done', outcome, null));
  return { clipId: job.clipId, path };
}

test('the sweep runs at start and periodically; a running job and files it did not make are never touched', async () => {
  const tmp = tempDir('segrec-clipret-');
  const db = openDatabase(':memory:');
  try {
    const root = join(tmp.dir, 'clips');
    mkdirSync(root);
    const store = new JobStore(db);
    const old = publish(store, root, 'old.mp4');
    // A job still running: its temp file, and a file already at the name it will most likely get.
    const running = store.create(SPEC, { startPtsNs: 0n, stopPtsNs: SEC_NS }, root, Date.now() - 1e9);
    store.markRunning(running.clipId);
    const temp = join(root, `.segrec-${running.clipId}.mp4.tmp`);
    writeFileSync(temp, 'being written');
    const foreign = join(root, 'holiday.mp4');
    writeFileSync(foreign, 'not a clip of ours');
    writeFileSync(sidecarOf(foreign), JSON.stringify({ clip_id: old.clipId }));
    utimesSync(foreign, new Date('2001-01-01'), new Date('2001-01-01'));

    const r = new ClipRetention({ store, clipRoots: [root], maxAgeMs: 100, log: silentLogger, intervalMs: 50 });
    await sleep(150);
    const late = publish(store, root, 'late.mp4');
    r.start();
    try {
      assert.ok(!existsSync(old.path) && !existsSync(sidecarOf(old.path)), 'swept at start: the old clip and its sidecar');
      assert.ok(existsSync(late.path), 'a young clip is kept');
      await waitFor('the periodic sweep to delete the second clip', () => !existsSync(late.path), 5000, 20);
      assert.ok(!existsSync(sidecarOf(late.path)));
    } finally {
      r.stop();
    }
    assert.ok(existsSync(temp), 'a running job\'s temp file is untouched');
    assert.equal(store.get(running.clipId)!.status, 'running');
    assert.ok(existsSync(foreign) && existsSync(sidecarOf(foreign)), 'a file the store does not know is never touched (whatever it claims)');
    for (const id of [old.clipId, late.clipId]) {
      const j = store.get(id)!;
      assert.equal(j.status, 'done');
      assert.equal(j.outcome!.path, null);
      assert.equal(typeof j.outcome!.expired_ms, 'number');
      assert.equal(j.outcome!.bytes, 1000, 'the rest of the record is kept');
    }
    // Kept forever without a max age: start() does nothing.
    const keep = new ClipRetention({ store, clipRoots: [root], maxAgeMs: null, log: silentLogger });
    const kept = publish(store, root, 'kept.mp4');
    keep.start();
    assert.deepEqual(keep.sweep(Date.now() + 1e12), { expired: [], deleted: [], leftInPlace: [] });
    assert.ok(existsSync(kept.path));
  } finally {
    db.close();
    tmp.cleanup();
  }
});

test('clip retention on a real producer: only its own old clips go, GET /clip says they expired, and at start', { timeout: 120_000 }, async () => {
  const tmp = tempDir();
  const data = join(tmp.dir, 'data');
  const root = join(data, 'clips');
  const MAX = 3_600_000;
  let p = await startTestProducer(data, { segmentSeconds: 1, clipMaxAgeMs: MAX });
  try {
    const segs = await waitFor('3 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 3 ? s : null;
    }, 30_000);
    const win = (s: SegmentWire) => ({ start_pts_ns: s.start_pts_ns + 100_000_000, stop_pts_ns: s.start_pts_ns + 600_000_000 });
    const a = await makeClip(p.url, { ...win(segs[0]), label: 'a' });
    await sleep(20);
    const b = await makeClip(p.url, { ...win(segs[1]), label: 'b' });
    const c = await makeClip(p.url, { ...win(segs[1]), label: 'c', out_dir: 'sub' });
    const d = await makeClip(p.url, { ...win(segs[2]), label: 'd' });
    for (const x of [a, b, c, d]) assert.equal(x.status, 'done', `${x.clip_id}: ${x.error}`);
    // A job waiting for footage that has not arrived: no clip yet, and not one the sweep may touch.
    const future = segs[segs.length - 1].stop_pts_ns + 120e9;
    const waiting = await postJson<{ clip_id: string }>(`${p.url}/clip`, { start_pts_ns: future, stop_pts_ns: future + 1e9, max_wait_ms: 600_000 });
    assert.equal(waiting.status, 202);
    // Files in the clip root the producer did not make (old ones, too).
    const foreign = join(root, 'holiday.mp4');
    writeFileSync(foreign, 'someone else\'s video');
    writeFileSync(sidecarOf(foreign), '{"clip_id": "clip-0000000000000001"}');
    utimesSync(foreign, new Date('2001-01-01'), new Date('2001-01-01'));

    const engine = p.producer.clipEngine as unknown as ClipEngine;
    const clip = async (id: string) => {
      const r = await getJson<{ ok: boolean; clip: WireClip; message: string | null }>(`${p.url}/clip/${id}`);
      assert.equal(r.status, 200);
      return r.body;
    };

    // 1. a finished first: at b's finish time + the max age, only a is older than the max age.
    assert.ok(a.updated_ms < b.updated_ms);
    const now1 = b.updated_ms + MAX;
    const r1 = engine.clipRetention.sweep(now1);
    assert.deepEqual(r1.expired, [a.clip_id]);
    assert.deepEqual(r1.deleted.sort(), [a.path!, sidecarOf(a.path!)].sort());
    assert.ok(!existsSync(a.path!) && !existsSync(sidecarOf(a.path!)), 'a\'s clip and sidecar are deleted');
    for (const x of [b, c, d]) assert.ok(existsSync(x.path!) && existsSync(sidecarOf(x.path!)), `${x.clip_id} is kept`);
    assert.ok(existsSync(foreign) && existsSync(sidecarOf(foreign)), 'files it did not make are kept');
    const ga = await clip(a.clip_id);
    assert.equal(ga.clip.status, 'done', 'the job stays done');
    assert.equal(ga.clip.path, null, 'with no path');
    assert.equal(ga.clip.expired_ms, now1, 'and says when it expired');
    assert.equal(ga.clip.frames, a.frames, 'the rest of the record is kept');
    assert.equal(ga.message, null);
    assert.equal((await getJson(`${p.url}/clip/${a.clip_id}/file`)).status, 404, 'its file is gone');
    const gb = await clip(b.clip_id);
    assert.equal(gb.clip.path, b.path);
    assert.equal(gb.clip.expired_ms ?? null, null, 'a published clip has not expired');
    const file = await fetch(`${p.url}/clip/${b.clip_id}/file`);
    assert.equal(file.status, 200);
    assert.equal((await file.arrayBuffer()).byteLength, b.bytes);
    const listed = (await getJson<{ clips: WireClip[] }>(`${p.url}/clips`)).body.clips.find((x) => x.clip_id === a.clip_id);
    assert.equal(listed?.path, null, 'GET /clips shows it expired too');
    assert.deepEqual(engine.clipRetention.sweep(now1), { expired: [], deleted: [], leftInPlace: [] }, 'a second sweep has nothing to do');

    // 2. Later: b's file was replaced by someone else's (same name, no sidecar of ours): b expires, the file stays.
    //    c's clip was deleted by hand, its sidecar left behind: the sidecar goes. d is deleted as usual.
    unlinkSync(b.path!);
    unlinkSync(sidecarOf(b.path!));
    writeFileSync(b.path!, 'a different video at the same name');
    unlinkSync(c.path!);
    const now2 = d.updated_ms + MAX + 1;
    const r2 = engine.clipRetention.sweep(now2);
    assert.deepEqual(r2.expired.sort(), [b.clip_id, c.clip_id, d.clip_id].sort());
    assert.deepEqual(r2.leftInPlace, [b.clip_id]);
    assert.equal(readFileSync(b.path!, 'utf8'), 'a different video at the same name', 'a file that is no longer b\'s clip is left in place');
    assert.ok(!existsSync(sidecarOf(c.path!)), 'c\'s leftover sidecar is deleted');
    assert.ok(c.path!.startsWith(`${join(realpathSync(root), 'sub')}/`) && existsSync(join(root, 'sub')), 'c lived in a subdirectory, which stays');
    assert.ok(!existsSync(d.path!) && !existsSync(sidecarOf(d.path!)));
    for (const x of [b, c, d]) {
      const g = await clip(x.clip_id);
      assert.deepEqual([g.clip.status, g.clip.path, g.clip.expired_ms], ['done', null, now2], x.clip_id);
    }
    const w = await clip(waiting.body.clip_id);
    assert.equal(w.clip.status, 'queued', 'the waiting job is untouched');
    assert.ok(existsSync(foreign) && existsSync(sidecarOf(foreign)));
    assert.ok(p.logs.some((l) => /clip retention deleted clip/.test(l) && l.includes(a.clip_id)), 'deletions are logged');

    // 3. A restart with a tiny max age: the sweep at start expires the clip made before it.
    const e = await makeClip(p.url, { ...win(segs[2]), label: 'e' });
    assert.ok(existsSync(e.path!));
    await p.close();
    await sleep(5);
    p = await startTestProducer(data, { segmentSeconds: 1, clipMaxAgeMs: 1 });
    assert.ok(!existsSync(e.path!) && !existsSync(sidecarOf(e.path!)), 'deleted by the sweep at start');
    const ge = await clip(e.clip_id);
    assert.deepEqual([ge.clip.status, ge.clip.path, typeof ge.clip.expired_ms], ['done', null, 'number']);
    assert.ok(existsSync(foreign), 'still never a file it did not make');
  } finally {
    await p.close();
    tmp.cleanup();
  }
});
