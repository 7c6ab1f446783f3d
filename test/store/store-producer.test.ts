// A producer keeping its footage in a real Ceph RGW (--store s3://…): every sealed segment is uploaded
// and verified (object MD5 = file MD5), local copies are evicted after local_keep, clips and recordings
// over footage only in the store are frame-exact and byte-identical to those made from the local files,
// retention deletes from the store too, and a store outage loses nothing: recording goes on locally,
// /health says degraded with the backlog, and everything is uploaded when the store is back.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startTestProducer, waitFor, getJson, postJson, listSegments, segmentFile, type HealthWire, type SegmentWire } from '../helpers/producer.js';
import { makeClip, sourceFrames, framesIn } from '../helpers/clips.js';
import { tempDir, videoFrameMd5s } from '../helpers/media.js';
import { freshBucket, requireServices, startPrivateRgw } from '../helpers/services.js';
import type { S3Store } from '../../src/producer/store/s3-store.js';

const md5 = (b: Buffer | Uint8Array) => createHash('md5').update(b).digest('hex');

function s3Client(s3: ReturnType<typeof requireServices>['s3'], endpoint = s3.endpoint): S3Client {
  return new S3Client({
    endpoint, region: s3.region, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function objectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer | null> {
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchKey') return null;
    throw e;
  }
}

/** The AWS way: the producer finds its credentials in the environment (never a flag). */
function useCredentials(s3: ReturnType<typeof requireServices>['s3']): void {
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
}

async function health(url: string): Promise<HealthWire> {
  return (await getJson<HealthWire>(`${url}/health`)).body;
}

describe('footage in the object store', () => {
  const { s3 } = requireServices();
  const tmp = tempDir();
  let bucket: Awaited<ReturnType<typeof freshBucket>>;
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  let client: S3Client;

  before(async () => {
    bucket = await freshBucket(s3, 'producer');
    useCredentials(s3);
    client = s3Client(s3);
    p = await startTestProducer(tmp.dir, {
      store: `s3://${bucket.name}/site-a`, s3Endpoint: s3.endpoint, s3Region: s3.region, s3PathStyle: true, localKeepMs: 3600_000,
    });
  });
  after(async () => {
    await p?.close();
    client?.destroy();
    await bucket?.cleanup();
    tmp.cleanup();
  });

  it('uploads every sealed segment, verified; clips and recordings over evicted footage are frame-exact and the same bytes', async () => {
    const uploads = p.app.uploads!;
    const sealed = await waitFor('5 sealed segments, all uploaded', async () => {
      const segs = (await listSegments(p.url)).segments.filter((s) => s.sealed);
      const h = await health(p.url);
      return segs.length >= 5 && h.store?.backlog_segments === 0 ? segs : null;
    }, 40_000);
    const h = await health(p.url);
    assert.equal(h.store?.status, 'ok');
    assert.match(h.store!.location, new RegExp(`^s3://${bucket.name}/site-a/ at http://127\\.0\\.0\\.1:\\d+$`));
    assert.doesNotMatch(JSON.stringify(h), new RegExp(s3.secretAccessKey), 'no secret in /health');
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    assert.match(metrics, /^segrec_store_up 1$/m);
    assert.match(metrics, /^segrec_store_backlog_segments\{camera="default"\} 0$/m);
    assert.match(metrics, /^segrec_store_uploaded_segments_total [1-9]/m);
    const segs = sealed.slice(0, 4);
    // Each object is the local file, byte for byte.
    const localMd5 = new Map<number, string>();
    for (const s of segs) {
      const file = readFileSync(segmentFile(tmp.dir, s));
      localMd5.set(s.id, md5(file));
      const obj = await objectBytes(client, bucket.name, `site-a/default/${s.path}`);
      assert.ok(obj, `${s.path} is in the store`);
      assert.equal(md5(obj), md5(file), `${s.path}: the object is the file`);
    }
    // A window over three segments, starting mid-GOP; the oracle: the source frames, decoded.
    const startNs = segs[0].start_pts_ns + 500e6;
    const stopNs = segs[2].stop_pts_ns - 300e6;
    const expected = framesIn(await sourceFrames(tmp.dir, segs), startNs, stopNs).map((f) => f.md5);
    const local = await makeClip(p.url, { start_pts_ns: startNs, stop_pts_ns: stopNs });
    assert.equal(local.status, 'done', JSON.stringify(local));
    assert.deepEqual(await videoFrameMd5s(local.path!), expected, 'the clip from local files is frame-exact');
    const q = `start_pts_ns=${startNs}&stop_pts_ns=${stopNs}`;
    const rec1 = await fetch(`${p.url}/recording.mp4?${q}`);
    const rec1Bytes = Buffer.from(await rec1.arrayBuffer());

    // Evict (as local_keep would, hours later): the rows say "in the store only", the files are gone.
    // (A segment a reader still has pinned — the recording's response closing — is left for the next pass.)
    await waitFor('the 4 segments evicted', () => {
      uploads.evict(p.producer, Date.now() + 10 * 3600_000);
      return segs.every((s) => p.producer.index.get(s.id)?.local === 0);
    }, 10_000);
    for (const s of segs) {
      assert.equal(existsSync(segmentFile(tmp.dir, s)), false, `${s.path}: local copy evicted`);
      assert.equal(p.producer.index.get(s.id)?.local, 0);
    }
    const store = uploads.store as S3Store;
    const getsBefore = store.requests.get;
    const remote = await makeClip(p.url, { start_pts_ns: startNs, stop_pts_ns: stopNs });
    assert.equal(remote.status, 'done', JSON.stringify(remote));
    assert.deepEqual(await videoFrameMd5s(remote.path!), expected, 'the clip from the store is frame-exact');
    assert.equal(md5(readFileSync(remote.path!)), md5(readFileSync(local.path!)), 'and the same bytes as the clip from local files');
    assert.ok(store.requests.get > getsBefore, 'the store was read');

    const rec2 = await fetch(`${p.url}/recording.mp4?${q}`);
    assert.equal(rec2.status, 200);
    assert.equal(rec2.headers.get('etag'), rec1.headers.get('etag'), 'same footage, same ETag');
    assert.ok(Buffer.from(await rec2.arrayBuffer()).equals(rec1Bytes), 'the recording from the store is the same bytes');
    const part = await fetch(`${p.url}/recording.mp4?${q}`, { headers: { range: 'bytes=1000-54999' } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(rec1Bytes.subarray(1000, 55000)), 'a Range of it, from the store');

    // Retention removes the two oldest: their rows go, and their objects are deleted from the store.
    const victims = segs.slice(0, 2).map((s) => p.producer.index.get(s.id)!);
    p.producer.retention.remove(victims, () => 'test');
    uploads.tick();
    await waitFor('the removed segments deleted from the store', async () => {
      for (const s of segs.slice(0, 2)) if (await objectBytes(client, bucket.name, `site-a/default/${s.path}`)) return false;
      return p.producer.storedSegments.queuedDeleteCount() === 0;
    }, 20_000);
    assert.ok(await objectBytes(client, bucket.name, `site-a/default/${segs[2].path}`), 'the others stay');
    for (const s of segs.slice(2)) assert.ok(localMd5.has(s.id));
  });
});

describe('an object store outage', () => {
  const { s3 } = requireServices();
  const tmp = tempDir();
  let bucket: Awaited<ReturnType<typeof freshBucket>>;
  let rgw: Awaited<ReturnType<typeof startPrivateRgw>>;
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  let client: S3Client;

  before(async () => {
    bucket = await freshBucket(s3, 'outage');
    rgw = await startPrivateRgw();
    useCredentials(s3);
    client = s3Client(s3);
    p = await startTestProducer(tmp.dir, { store: `s3://${bucket.name}`, s3Endpoint: rgw.endpoint, s3PathStyle: true, s3Region: s3.region });
  });
  after(async () => {
    await p?.close();
    await rgw?.destroy().catch(() => undefined);
    client?.destroy();
    await bucket?.cleanup();
    tmp.cleanup();
  });

  it('records on locally while the store is down, says degraded with the backlog, and uploads everything when it is back', async () => {
    await waitFor('2 segments uploaded', async () => ((await health(p.url)).store?.uploaded_segments ?? 0) >= 2, 30_000);
    await rgw.stop();
    const down = Date.now();
    const degraded = await waitFor('degraded with a backlog of 3', async () => {
      const h = await health(p.url);
      return h.store?.status === 'degraded' && h.store.backlog_segments >= 3 ? h : null;
    }, 40_000);
    assert.equal(degraded.ingest.state, 'running', 'recording goes on');
    assert.ok(degraded.store!.last_error, 'the store error is said');
    assert.ok(degraded.store!.oldest_pending_age_ms! > 0);
    await rgw.start();
    const back = Date.now();
    await waitFor('the backlog uploaded', async () => {
      const h = await health(p.url);
      return h.store?.status === 'ok' && h.store.backlog_segments === 0;
    }, 60_000);
    const caughtUpMs = Date.now() - back;
    const segs: SegmentWire[] = (await listSegments(p.url)).segments.filter((s) => s.sealed);
    assert.ok(segs.length >= 5);
    for (const s of segs) {
      const obj = await objectBytes(client, bucket.name, `default/${s.path}`);
      assert.ok(obj, `${s.path} uploaded`);
      assert.equal(md5(obj), md5(readFileSync(segmentFile(tmp.dir, s))), `${s.path}: object = file`);
    }
    // No footage lost to the outage: the segments recorded meanwhile follow each other without a gap.
    const during = segs.filter((s) => s.stop_pts_ns > segs[0].start_pts_ns);
    for (let i = 1; i < during.length; i++) {
      assert.ok(during[i].start_pts_ns - during[i - 1].stop_pts_ns < 200e6, `no hole between ${during[i - 1].path} and ${during[i].path}`);
    }
    console.log(`outage ${back - down} ms; caught up ${caughtUpMs} ms after the store returned`);
  });
});

describe('clips published to the object store (out_dir: s3://…)', () => {
  const { s3 } = requireServices();
  const tmp = tempDir();
  let bucket: Awaited<ReturnType<typeof freshBucket>>;
  let p: Awaited<ReturnType<typeof startTestProducer>>;

  before(async () => {
    bucket = await freshBucket(s3, 'clips');
    useCredentials(s3);
    p = await startTestProducer(tmp.dir, {
      clipRoots: [`${tmp.dir}/clips`, `s3://${bucket.name}/clips`], s3Endpoint: s3.endpoint, s3Region: s3.region, s3PathStyle: true,
    });
  });
  after(async () => {
    await p?.close();
    await bucket?.cleanup();
    tmp.cleanup();
  });

  it('a clip into an s3 clip root is uploaded with its sidecar, served by GET …/file with Range, the same bytes as on disk', async () => {
    const segs = await waitFor('3 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 3 ? s : null;
    }, 30_000);
    const win = { start_pts_ns: segs[0].start_pts_ns + 300e6, stop_pts_ns: segs[2].stop_pts_ns - 200e6 };
    const local = await makeClip(p.url, win);
    assert.equal(local.status, 'done');
    const stored = await makeClip(p.url, { ...win, out_dir: `s3://${bucket.name}/clips/site1`, filename: 'event.mp4' });
    assert.equal(stored.status, 'done', JSON.stringify(stored));
    assert.equal(stored.path, `s3://${bucket.name}/clips/site1/event.mp4`);
    const obj = await objectBytes(bucket.client, bucket.name, 'clips/site1/event.mp4');
    assert.ok(obj && Buffer.from(obj).equals(readFileSync(local.path!)), 'the object is the clip, byte for byte');
    const sidecar = JSON.parse((await objectBytes(bucket.client, bucket.name, 'clips/site1/event.json'))!.toString()) as { path: string; clip_id: string; frames: number };
    assert.equal(sidecar.path, stored.path, 'the sidecar names the object');
    assert.equal(sidecar.clip_id, stored.clip_id);
    assert.equal(sidecar.frames, local.frames);
    const file = await fetch(`${p.url}/clip/${stored.clip_id}/file`);
    assert.equal(file.status, 200);
    assert.ok(Buffer.from(await file.arrayBuffer()).equals(obj));
    const part = await fetch(`${p.url}/clip/${stored.clip_id}/file`, { headers: { range: 'bytes=100-4099' } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(obj.subarray(100, 4100)));
    // The same name again: the next free one, as on disk.
    const again = await makeClip(p.url, { ...win, out_dir: `s3://${bucket.name}/clips/site1`, filename: 'event.mp4' });
    assert.equal(again.path, `s3://${bucket.name}/clips/site1/event-1.mp4`);
    // Nothing is left in the staging directory.
    assert.deepEqual(readdirSync(join(tmp.dir, 'clips', '.segrec-staging')), []);
    for (const bad of [`s3://${bucket.name}/clipsX`, `s3://other-bucket/clips`, 's3://Bad']) {
      const r = await postJson<{ code: string; message: string }>(`${p.url}/clip`, { ...win, out_dir: bad });
      assert.equal(r.status, 400, bad);
      assert.match(r.body.message, /^out_dir: /);
    }
  });
});
