// Several producers as one recorder (issue 14), for real: 3 node processes × 12 test cameras sharing one
// PostgreSQL catalog and one Ceph bucket, each camera recorded by the node holding its lease. Checked from
// the catalog and from every node's own files: the cameras spread evenly; 0 s of double recording after a
// kill -9, a partition of one node from PostgreSQL (a TCP proxy cut between them), a graceful stop and a
// rolling restart; every camera recorded again within the lease timeout + ffmpeg's start; every hole in a
// camera's footage a recorded gap; nothing uploaded before the kill lost; a clip made on a node that
// recorded none of its window (across a handover between two others) frame-exact; the clip jobs of the
// killed node answered by the others, the one still waiting taken over and done.
// run-tests: alone (three producers and a dozen ffmpegs: not beside another file on 2 cores)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { ChildProcess } from 'node:child_process';
import { getJson, spawnProducerProcess, waitFor } from '../helpers/producer.js';
import { decodeErrors, probeFrames, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { makeClip } from '../helpers/clips.js';
import { freshBucket, freshDatabase, requireServices } from '../helpers/services.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { cameraDataDir } from '../../src/producer/camera-names.js';

const CAMERAS = Array.from({ length: 12 }, (_, i) => `c${String(i + 1).padStart(2, '0')}`);
const LEASE_MS = 4000;
/** ffmpeg's start and its first fragment on a loaded 2-core machine. */
const START_SLACK_MS = 8000;

interface Span { camera: string; node: string; start: bigint; stop: bigint; startEpochMs: number; objectKey: string | null }
interface NodesWire { nodes: Array<{ node: string; live: boolean; cameras: string[] }> }

/** Footage of one camera recorded by two nodes at once (ns), per camera. */
function doubleRecordingNs(spans: Span[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const byCamera = new Map<string, Span[]>();
  for (const s of spans) byCamera.set(s.camera, [...(byCamera.get(s.camera) ?? []), s]);
  for (const [camera, list] of byCamera) {
    let total = 0n;
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i], b = list[j];
        if (a.node === b.node) continue;
        const lo = a.start > b.start ? a.start : b.start;
        const hi = a.stop < b.stop ? a.stop : b.stop;
        if (hi > lo) total += hi - lo;
      }
    }
    if (total > 0n) out.set(camera, total);
  }
  return out;
}

test('3 nodes × 12 cameras: leases spread them, failover, partition, graceful and rolling restarts — never two recorders', { timeout: 300_000 }, async (t) => {
  const { pgUrl, s3 } = requireServices();
  const db = await freshDatabase(pgUrl, 'cluster');
  const bucket = await freshBucket(s3, 'cluster');
  const tmp = tempDir();
  const catalog = new pg.Pool({ connectionString: db.url, max: 2 });
  catalog.on('error', () => undefined);
  const proxy = await startTcpProxy('127.0.0.1', Number(new URL(db.url).port));

  const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const nodes = new Map<string, { child: ChildProcess; url: string; output: () => string }>();
  const dataDir = (id: string) => join(tmp.dir, id);
  const start = async (id: string, viaProxy = false) => {
    const url = new URL(db.url);
    if (viaProxy) url.port = String(proxy.port);
    const args = ['--node-id', id, '--cluster', 'true', '--lease-timeout', `${LEASE_MS}ms`, '--data-dir', dataDir(id), '--port', '0',
      '--segment-seconds', '1', '--testsrc-size', '96x64', '--testsrc-fps', '5', '--log-level', 'info',
      '--store', `s3://${bucket.name}/rec`, '--clip-root', `s3://${bucket.name}/clips`, '--s3-endpoint', s3.endpoint, '--s3-path-style', 'true', '--s3-region', s3.region,
      ...CAMERAS.flatMap((c) => ['--camera', `${c}=testsrc`])];
    nodes.set(id, await spawnProducerProcess(args, { ...env, SEGREC_CATALOG: url.toString() }));
  };
  const stop = async (id: string, signal: NodeJS.Signals) => {
    const n = nodes.get(id)!;
    const exited = new Promise<void>((r) => n.child.once('exit', () => r()));
    n.child.kill(signal);
    await exited;
    nodes.delete(id);
  };
  // In this order: the nodes first, the database they use last.
  t.after(async () => {
    for (const id of [...nodes.keys()]) await stop(id, 'SIGKILL');
    await proxy.close();
    await catalog.end();
    await db.drop();
    await bucket.cleanup();
    tmp.cleanup();
  });

  const leases = async (): Promise<Map<string, string[]>> => {
    const any = [...nodes.values()][0];
    const r = await getJson<NodesWire>(`${any.url}/nodes`);
    return new Map(r.body.nodes.filter((n) => n.live).map((n) => [n.node, n.cameras]));
  };
  /** Until the live nodes hold every camera, `within` of an even share each. */
  const spread = (ids: string[], within: number, ms = 60_000) => waitFor(`cameras spread over ${ids.join(', ')}`, async () => {
    const l = await leases();
    const held = ids.map((id) => l.get(id)?.length ?? 0);
    const share = CAMERAS.length / ids.length;
    return held.reduce((a, b) => a + b, 0) === CAMERAS.length && held.every((h) => Math.abs(h - share) <= within) ? l : null;
  }, ms, 200);
  const spans = async (): Promise<Span[]> => (await catalog.query<{ camera: string; node: string; s: string; e: string; ep: number; k: string | null }>(
    'SELECT camera, node, start_pts_ns AS s, stop_pts_ns AS e, start_epoch_ms AS ep, object_key AS k FROM segments')).rows
    .map((r) => ({ camera: r.camera, node: r.node, start: BigInt(r.s), stop: BigInt(r.e), startEpochMs: Number(r.ep), objectKey: r.k }));
  /** What each node recorded of each camera, from its own index (its files; not what it imported of others'). */
  const localSpans = (): Span[] => ['a', 'b', 'c'].flatMap((id) => CAMERAS.flatMap((camera) => {
    const file = join(cameraDataDir(dataDir(id), camera), 'index.sqlite');
    if (!existsSync(file)) return [];
    const d = new Database(file, { readonly: true, fileMustExist: true });
    d.defaultSafeIntegers(true);
    try {
      return d.prepare<[], { s: bigint; e: bigint; ep: bigint }>('SELECT start_pts_ns AS s, stop_pts_ns AS e, start_epoch_ms AS ep FROM segments WHERE origin IS NULL').all()
        .map((r) => ({ camera, node: id, start: r.s, stop: r.e, startEpochMs: Number(r.ep), objectKey: null }));
    } finally {
      d.close();
    }
  }));
  /** Until each camera in `cameras` has footage begun after `sinceMs` by a node other than `not`: ms after `sinceMs`, per camera. */
  const recordedAgain = (cameras: string[], not: string, sinceMs: number) => waitFor(`${cameras.join(',')} recorded again`, async () => {
    const firsts = new Map<string, number>();
    for (const s of await spans()) {
      if (!cameras.includes(s.camera) || s.node === not || s.startEpochMs < sinceMs) continue;
      firsts.set(s.camera, Math.min(firsts.get(s.camera) ?? Infinity, s.startEpochMs - sinceMs));
    }
    return firsts.size === cameras.length ? firsts : null;
  }, 60_000, 200);
  const noDoubleRecording = async (when: string) => {
    const fromCatalog = doubleRecordingNs(await spans());
    assert.deepEqual([...fromCatalog], [], `${when}: double recording in the catalog`);
    const fromFiles = doubleRecordingNs(localSpans());
    assert.deepEqual([...fromFiles], [], `${when}: double recording in the nodes' own files`);
  };
  const handovers: Record<string, number[]> = { kill: [], graceful: [] };
  const post = async (url: string, body: unknown) => {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, node: r.headers.get('x-segrec-node'), body: await r.json() as { clip_id: string } };
  };
  type JobWire = { status: string; path: string | null; frames: number | null; error: string | null; partial: boolean };

  // Three nodes; the cameras spread 4/4/4 (or within one of it).
  await Promise.all([start('a'), start('b', true), start('c')]);
  await spread(['a', 'b', 'c'], 1);
  await new Promise((r) => setTimeout(r, 3000));

  // kill -9 of c: its cameras are recorded again by a and b within the lease timeout + ffmpeg's start.
  const cCameras = (await leases()).get('c')!;
  // (Its uploads follow its sealed segments: waited for, a loaded machine may take longer than the 3 s above.)
  const uploadedByC = await waitFor('c uploaded footage before the kill', async () => {
    const up = (await spans()).filter((s) => s.node === 'c' && s.objectKey !== null);
    return up.length > 0 ? up : null;
  }, 60_000, 200);
  // Two clip jobs of c: one done (its clip in the store), one waiting for seconds still to come.
  const jobCam = cCameras[0];
  const cUrl = nodes.get('c')!.url;
  const cPts = (await getJson<{ pts_ns: number }>(`${cUrl}/cameras/${jobCam}/health`)).body.pts_ns;
  const doneOnC = await makeClip(`${cUrl}/cameras/${jobCam}`, {
    start_pts_ns: cPts - 2_500_000_000, stop_pts_ns: cPts - 500_000_000, out_dir: `s3://${bucket.name}/clips/c`, max_wait_ms: 20_000 });
  assert.equal(doneOnC.status, 'done', String(doneOnC.error));
  const localOnC = await makeClip(`${cUrl}/cameras/${jobCam}`, { start_pts_ns: cPts - 2_000_000_000, stop_pts_ns: cPts - 1_000_000_000, max_wait_ms: 20_000 });
  assert.equal(localOnC.status, 'done', String(localOnC.error));
  const waitingOnC = await post(`${cUrl}/cameras/${jobCam}/clip`, { start_pts_ns: cPts + 25e9, stop_pts_ns: cPts + 27e9, max_wait_ms: 120_000 });
  assert.equal(waitingOnC.status, 202);
  const killedAt = Date.now();
  await stop('c', 'SIGKILL');
  const again = await recordedAgain(cCameras, 'c', killedAt);
  handovers.kill.push(...again.values());
  for (const [camera, ms] of again) assert.ok(ms <= LEASE_MS + START_SLACK_MS, `${camera} recorded again ${ms} ms after the kill`);
  await noDoubleRecording('after kill -9');
  const holderOfWaiting = async () => (await catalog.query<{ node: string; claims: number; status: string }>(
    'SELECT node, claims, status FROM clip_jobs WHERE clip_id = $1', [waitingOnC.body.clip_id])).rows[0];
  const claimedAfterMs = await waitFor('c\'s waiting job claimed by another node', async () =>
    ((await holderOfWaiting()).node !== 'c' ? Date.now() - killedAt : null), 30_000, 100);
  assert.ok(claimedAfterMs <= 3 * LEASE_MS, `claimed ${claimedAfterMs} ms after the kill`);
  // c's finished job is answered by any node from the cluster's table, its file from the store.
  const askA = nodes.get('a')!.url;
  const doneRead = await fetch(`${askA}/clip/${doneOnC.clip_id}`);
  assert.equal(doneRead.status, 200);
  assert.equal(doneRead.headers.get('x-segrec-node'), null, 'answered by a itself (c is gone)');
  const doneJob = ((await doneRead.json()) as { clip: JobWire }).clip;
  assert.deepEqual([doneJob.status, doneJob.path, doneJob.frames], ['done', doneOnC.path, doneOnC.frames]);
  const fromA = Buffer.from(await (await fetch(`${askA}/clip/${doneOnC.clip_id}/file`)).arrayBuffer());
  const clipKey = doneOnC.path!.replace(`s3://${bucket.name}/`, '');
  const clipObject = Buffer.from(await (await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: clipKey }))).Body!.transformToByteArray());
  assert.ok(fromA.length > 1000 && fromA.equals(clipObject), 'the clip c made, served by a from the store');
  // One written to c's own disk is c's to serve: asked of a while c is gone, 503 NODE_UNAVAILABLE naming c.
  const localRead = await getJson<{ clip: JobWire }>(`${askA}/clip/${localOnC.clip_id}`);
  assert.deepEqual([localRead.status, localRead.body.clip.status], [200, 'done']);
  const localFile = await fetch(`${askA}/clip/${localOnC.clip_id}/file`);
  const localErr = await localFile.json() as { code: string; message: string };
  assert.deepEqual([localFile.status, localErr.code], [503, 'NODE_UNAVAILABLE']);
  assert.match(localErr.message, /on node c/);
  const listed = await getJson<{ clips: Array<{ clip_id: string }> }>(`${askA}/cameras/${jobCam}/clips`);
  for (const id of [doneOnC.clip_id, waitingOnC.body.clip_id]) assert.ok(listed.body.clips.some((x) => x.clip_id === id), `${id} listed by a`);

  // b cut off from PostgreSQL: it stops recording its cameras before their leases lapse; a takes them.
  const bCameras = (await leases()).get('b')!;
  const cutAt = Date.now();
  proxy.cut();
  const takenFromB = await recordedAgain(bCameras, 'b', cutAt);
  for (const [camera, ms] of takenFromB) assert.ok(ms >= LEASE_MS * 0.6, `${camera} taken ${ms} ms after the partition: not before b's lease lapsed`);
  await waitFor('b fenced its cameras', () => nodes.get('b')!.output().includes('lease not renewed in time'), 20_000);
  proxy.heal();
  await start('c');
  await spread(['a', 'b', 'c'], 1, 90_000);
  // b's footage from before the cut reaches the catalog once it is healed: compare with it in.
  await waitFor('b caught up', async () => (await spans()).some((s) => s.node === 'b' && s.startEpochMs > cutAt - 2000), 30_000);
  await noDoubleRecording('after the partition');

  // c's waiting job did not wait for c: another node took it over (SKIP LOCKED) and cut it from the
  // footage recorded after the handover; any node answers for it; c, back, left it to that node.
  const adopted = await waitFor('c\'s waiting clip job done elsewhere', async () => {
    const g = await getJson<{ clip: JobWire }>(`${nodes.get('a')!.url}/clip/${waitingOnC.body.clip_id}?wait_ms=5000`);
    assert.equal(g.status, 200);
    return g.body.clip.status === 'done' || g.body.clip.status === 'error' ? g.body.clip : null;
  }, 120_000);
  assert.equal(adopted.status, 'done', String(adopted.error));
  assert.ok(Math.abs(adopted.frames! - 10) <= 1, `2 s at 5 fps: ${adopted.frames} frames`);
  assert.equal(await decodeErrors(adopted.path!), '');
  const jobRow = await holderOfWaiting();
  assert.notEqual(jobRow.node, 'c', 'done by the node that took it over');
  assert.ok(jobRow.claims >= 2, `claimed ${jobRow.claims} times`);
  assert.equal(jobRow.status, 'done');
  assert.ok(nodes.get('c')!.output().includes('clip job taken over by another node while this one was away'), 'c, back, left the job to its new holder');

  // Graceful stop of a: its cameras move at once (sealed, released), not after a lease timeout.
  const aCameras = (await leases()).get('a')!;
  const stoppedAt = Date.now();
  await stop('a', 'SIGTERM');
  const moved = await recordedAgain(aCameras, 'a', stoppedAt);
  handovers.graceful.push(...moved.values());
  for (const [camera, ms] of moved) assert.ok(ms < LEASE_MS + START_SLACK_MS, `${camera} recorded again ${ms} ms after a's graceful stop`);

  // Rolling restart: a back, then b and c each stopped and started again.
  await start('a');
  await spread(['a', 'b', 'c'], 1, 90_000);
  for (const id of ['b', 'c']) {
    await stop(id, 'SIGTERM');
    await start(id);
    await spread(['a', 'b', 'c'], 1, 90_000);
  }
  await new Promise((r) => setTimeout(r, 2000));
  await noDoubleRecording('after the rolling restart');

  // Any node answers: a clip made on a node that recorded none of it, of a window across a handover
  // (the end of one node's footage, the gap, the start of another's), is frame-exact against the
  // segments' objects in the store, decoded.
  const uploaded = (await spans()).filter((x) => x.objectKey !== null).sort((x, y) => (x.start < y.start ? -1 : 1));
  let across: { p: Span; q: Span; by: string } | null = null;
  for (const camera of CAMERAS) {
    const list = uploaded.filter((x) => x.camera === camera);
    for (let i = 1; i < list.length && !across; i++) {
      const by = ['a', 'b', 'c'].find((id) => id !== list[i - 1].node && id !== list[i].node);
      if (list[i - 1].node !== list[i].node && by && list[i].start - list[i - 1].stop > 100_000_000n) across = { p: list[i - 1], q: list[i], by };
    }
    if (across) break;
  }
  assert.ok(across, 'a handover between two nodes with uploaded footage on both sides');
  const { p: before, q: after, by } = across;
  const asker = nodes.get(by)!;
  await waitFor(`${by} imported ${after.camera}'s footage of other nodes`, async () => {
    const r = await getJson<{ segments: Array<{ start_pts_ns: number }> }>(`${asker.url}/cameras/${after.camera}/segments`);
    return r.body.segments.some((x) => BigInt(x.start_pts_ns) === after.start);
  }, 30_000);
  const winStart = Number(before.stop) - 700_000_000;
  const winStop = Number(after.start) + 900_000_000;
  const askedAt = performance.now();
  const clip = await makeClip(`${asker.url}/cameras/${after.camera}`, { start_pts_ns: winStart, stop_pts_ns: winStop, max_wait_ms: 20_000 });
  const nonOwnerMs = performance.now() - askedAt;
  const holder = [...(await leases())].find(([, cams]) => cams.includes(after.camera))![0];
  const ownerAt = performance.now();
  const ownerClip = await makeClip(`${nodes.get(holder)!.url}/cameras/${after.camera}`, { start_pts_ns: winStart, stop_pts_ns: winStop, max_wait_ms: 20_000 });
  const ownerMs = performance.now() - ownerAt;
  assert.equal(ownerClip.status, 'done');
  assert.equal(clip.status, 'done', String(clip.error));
  assert.ok(clip.gaps.length >= 1, 'the handover is a gap of the clip');
  const expected: string[] = [];
  for (const seg of uploaded.filter((x) => x.camera === after.camera && x.stop > BigInt(winStart) && x.start < BigInt(winStop))) {
    const file = join(tmp.dir, `obj-${seg.start}.mp4`);
    const obj = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: seg.objectKey! }));
    writeFileSync(file, await obj.Body!.transformToByteArray());
    const frames = await probeFrames(file);
    const md5 = await videoFrameMd5s(file);
    frames.forEach((f, i) => {
      const pts = Number(seg.start) + (f.ptsTime - frames[0].ptsTime) * 1e9;
      if (pts >= winStart && pts < winStop) expected.push(md5[i]);
    });
  }
  assert.ok(expected.length >= 4, 'frames on both sides of the handover');
  assert.deepEqual(await videoFrameMd5s(clip.path!), expected, `clip on ${by} of ${after.camera} recorded by ${before.node} and ${after.node}`);
  assert.equal(await decodeErrors(clip.path!), '');
  assert.deepEqual(await videoFrameMd5s(ownerClip.path!), expected, 'the same frames from the camera\'s current recorder');

  // The newest seconds, asked of a node that does not record the camera: the clip request reaches the
  // recorder (the seconds are only there yet), the job's id names that node, any node answers for it
  // (the file too, with Range), and force_rotate is the recorder's.
  const live = await leases();
  const [recorder, recorderCams] = [...live].find(([, cams]) => cams.length > 0)!;
  const cam = recorderCams[0];
  const elsewhere = [...live.keys()].filter((id) => id !== recorder);
  const health = (await getJson<{ pts_ns: number }>(`${nodes.get(recorder)!.url}/cameras/${cam}/health`)).body;
  const newest = { start_pts_ns: health.pts_ns - 2_000_000_000, stop_pts_ns: health.pts_ns + 500_000_000, max_wait_ms: 20_000 };
  const posted = await post(`${nodes.get(elsewhere[0])!.url}/cameras/${cam}/clip`, newest);
  assert.equal(posted.status, 202, JSON.stringify(posted.body));
  assert.equal(posted.node, recorder, 'POST /clip answered by the camera\'s recorder');
  const newestClip = await waitFor('the newest seconds cut', async () => {
    const g = await getJson<{ clip: { status: string; path: string | null; gaps: unknown[]; frames: number } }>(`${nodes.get(elsewhere[1])!.url}/clip/${posted.body.clip_id}?wait_ms=5000`);
    assert.equal(g.status, 200, `GET /clip/${posted.body.clip_id} on a third node`);
    return g.body.clip.status === 'done' || g.body.clip.status === 'error' ? g.body.clip : null;
  }, 40_000);
  assert.equal(newestClip.status, 'done');
  assert.equal(await decodeErrors(newestClip.path!), '');
  // Frame-exact against the recorder's own segment files (the newest seconds are not in the store yet).
  const camDir = cameraDataDir(dataDir(recorder), cam);
  const d = new Database(join(camDir, 'index.sqlite'), { readonly: true, fileMustExist: true });
  d.defaultSafeIntegers(true);
  const files = d.prepare<[bigint, bigint], { path: string; s: bigint }>(
    'SELECT path, start_pts_ns AS s FROM segments WHERE origin IS NULL AND stop_pts_ns > ? AND start_pts_ns < ? ORDER BY start_pts_ns').all(BigInt(newest.start_pts_ns), BigInt(newest.stop_pts_ns));
  d.close();
  const want: string[] = [];
  for (const f of files) {
    const file = join(camDir, 'segments', f.path);
    const probed = await probeFrames(file);
    const md5 = await videoFrameMd5s(file);
    probed.forEach((x, i) => {
      const pts = Number(f.s) + (x.ptsTime - probed[0].ptsTime) * 1e9;
      if (pts >= newest.start_pts_ns && pts < newest.stop_pts_ns) want.push(md5[i]);
    });
  }
  assert.ok(Math.abs(want.length - 2.5 * 5) <= 1, `2.5 s at 5 fps: ${want.length} frames recorded`);
  assert.deepEqual(await videoFrameMd5s(newestClip.path!), want, 'the newest seconds, frame-exact against the recorder\'s files');
  const whole = Buffer.from(await (await fetch(`${nodes.get(elsewhere[0])!.url}/clip/${posted.body.clip_id}/file`)).arrayBuffer());
  const part = await fetch(`${nodes.get(elsewhere[1])!.url}/clip/${posted.body.clip_id}/file`, { headers: { range: 'bytes=100-299' } });
  assert.equal(part.status, 206);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), whole.subarray(100, 300), 'a Range of the file through another node');
  assert.deepEqual(whole, readFileSync(newestClip.path!), 'the file through another node is the clip');
  const liveHealth = await fetch(`${nodes.get(elsewhere[0])!.url}/cameras/${cam}/health`);
  assert.equal(liveHealth.headers.get('x-segrec-node'), recorder, 'a camera\'s health is its recorder\'s');
  assert.equal(((await liveHealth.json()) as { ingest: { state: string } }).ingest.state, 'running');
  const ownHealth = await fetch(`${nodes.get(elsewhere[0])!.url}/health`);
  assert.equal(ownHealth.headers.get('x-segrec-node'), null, 'the bare /health (the probes\') is the node\'s own');
  const rotated = await post(`${nodes.get(elsewhere[0])!.url}/cameras/${cam}/force_rotate`, {});
  assert.equal(rotated.status, 200);
  assert.equal(rotated.node, recorder, 'force_rotate answered by the recorder');

  // Steady state: the catalog queries the leases and the imports send, per camera per second.
  const counted = async () => {
    let n = 0;
    for (const node of nodes.values()) {
      const text = await (await fetch(`${node.url}/metrics`)).text();
      for (const m of text.matchAll(/^segrec_cluster_catalog_queries_total\{part="\w+"\} (\d+)/gm)) n += Number(m[1]);
    }
    return n;
  };
  const q0 = await counted();
  const steadyMs = 10_000;
  await new Promise((r) => setTimeout(r, steadyMs));
  const perCameraPerSecond = (await counted() - q0) / (steadyMs / 1000) / CAMERAS.length;

  // What a node imported of others' footage never went back to the catalog as its own.
  const recordedBy = new Map((await spans()).map((x) => [`${x.camera}|${x.start}`, x.node]));
  for (const l of localSpans()) {
    const n = recordedBy.get(`${l.camera}|${l.start}`);
    if (n !== undefined) assert.equal(n, l.node, `${l.camera} at ${l.start}: the catalog names the node that recorded it`);
  }

  // Every hole in each camera's footage is a recorded gap.
  const all = (await spans()).sort((x, y) => (x.start < y.start ? -1 : 1));
  const gaps = (await catalog.query<{ camera: string; s: string; e: string; reason: string }>('SELECT camera, start_pts_ns AS s, stop_pts_ns AS e, reason FROM gaps')).rows
    .map((g) => ({ camera: g.camera, start: BigInt(g.s), stop: BigInt(g.e), reason: g.reason }));
  const FRAME = 250_000_000n;
  for (const camera of CAMERAS) {
    const list = all.filter((s) => s.camera === camera);
    let end = list[0].stop;
    for (const s of list.slice(1)) {
      if (s.start - end > FRAME) {
        const covered = gaps.some((g) => g.camera === camera && g.start <= end + FRAME && g.stop >= s.start - FRAME);
        assert.ok(covered, `${camera}: a hole ${end}..${s.start} without a recorded gap`);
      }
      if (s.stop > end) end = s.stop;
    }
  }
  assert.ok(gaps.some((g) => /handover from node/.test(g.reason)), 'handovers are recorded as gaps naming the node');

  // Nothing c uploaded before its kill was lost: still in the catalog and in the store.
  const keys = new Set(all.map((s) => s.objectKey));
  for (const s of uploadedByC) {
    assert.ok(keys.has(s.objectKey), `${s.objectKey} still in the catalog`);
    await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: s.objectKey! }));
  }
  const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
  console.log(`handover after kill -9: median ${median(handovers.kill)} ms, max ${Math.max(...handovers.kill)} ms; ` +
    `after a graceful stop: median ${median(handovers.graceful)} ms, max ${Math.max(...handovers.graceful)} ms (lease timeout ${LEASE_MS} ms); ` +
    `clip of ${(winStop - winStart) / 1e9} s on a node that recorded none of it ${Math.round(nonOwnerMs)} ms, on its current recorder ${Math.round(ownerMs)} ms; ` +
    `lease + import + job queries ${perCameraPerSecond.toFixed(2)} per camera per second (3 nodes); ` +
    `a clip job waiting on c when it was killed done on ${jobRow.node} (claimed by another node ${claimedAfterMs} ms after the kill)`);
});
