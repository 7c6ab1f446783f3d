// Fault: the producer dies inside the few microseconds of a clip's publication — after its sidecar was
// linked but before the clip was, or after both were linked but before the job was recorded as done.
// A random kill -9 rarely lands there, so the two states are made by hand (the job set back to
// `running` in the index, the clip file removed) and the producer restarted: the resumed job adopts
// the clip it had published (no second copy), or removes its orphan sidecar and publishes again; either
// way every visible clip has its sidecar and no sidecar is left without its clip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeErrors, tempDir } from '../helpers/media.js';
import { getJson, listSegments, startTestProducer, waitFor } from '../helpers/producer.js';
import { makeClip } from '../helpers/clips.js';
import type { ClipJson } from '../../src/protocol/schemas.js';
import { clipRootState, md5File } from './support.js';

test('a crash while a clip is being published: the resumed job adopts its clip or republishes it, never a duplicate', { timeout: 60_000 }, async () => {
  const tmp = tempDir('segrec-publish-');
  let p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
  try {
    const segs = await waitFor('2 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 2 ? s : null;
    });
    const win = { start_pts_ns: segs[0].start_pts_ns + 1e8, stop_pts_ns: segs[1].stop_pts_ns - 1e8 };
    const published = await makeClip(p.url, { ...win, filename: 'door.mp4' });
    const orphaned = await makeClip(p.url, { ...win, filename: 'gate.mp4' });
    assert.equal(published.status, 'done');
    assert.equal(orphaned.status, 'done');
    const publishedSum = md5File(published.path!);
    await p.close();

    // State 1: both files linked, the job not yet recorded as done. State 2: only the sidecar linked.
    const db = new Database(join(tmp.dir, 'index.sqlite'));
    db.prepare("UPDATE jobs SET status = 'running', outcome = NULL WHERE clip_id IN (?, ?)").run(published.clip_id, orphaned.clip_id);
    db.close();
    rmSync(orphaned.path!);

    p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
    const finished = async (id: string) => waitFor(`job ${id} to finish`, async () => {
      const c = (await getJson<{ clip: ClipJson }>(`${p.url}/clip/${id}?wait_ms=5000`)).body.clip;
      return c.status === 'done' || c.status === 'error' ? c : null;
    });
    const adopted = await finished(published.clip_id);
    assert.equal(adopted.status, 'done');
    assert.equal(adopted.path, published.path, 'the clip published before the crash is the job\'s clip');
    assert.equal(md5File(adopted.path!), publishedSum, 'and it was not rewritten');
    assert.ok(p.logs.some((l) => /had published its clip before the restart/.test(l) && l.includes(published.clip_id)));
    const again = await finished(orphaned.clip_id);
    assert.equal(again.status, 'done');
    assert.equal(again.path, orphaned.path, 'published again under the name its orphan sidecar held');
    assert.equal(await decodeErrors(again.path!), '');
    const sidecar = JSON.parse(readFileSync(again.path!.replace(/\.mp4$/, '.json'), 'utf8')) as { clip_id: string; path: string };
    assert.equal(sidecar.clip_id, orphaned.clip_id);
    assert.equal(sidecar.path, again.path);

    const st = clipRootState(join(tmp.dir, 'clips'));
    assert.deepEqual(st.temps, []);
    assert.deepEqual(st.mp4.map((f) => f.split('/').pop()).sort(), ['door.mp4', 'gate.mp4'], 'no second copy (door-1.mp4, gate-1.mp4)');
    for (const f of st.mp4) assert.ok(existsSync(f.replace(/\.mp4$/, '.json')), `${f} has its sidecar`);
    assert.equal(st.json.length, 2, 'no sidecar without its clip');
  } finally {
    await p.close();
    tmp.cleanup();
  }
});
