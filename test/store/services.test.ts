// The distributed mode's test services themselves (scripts/dev-services.sh, test/helpers/services.ts),
// against the real engines: Ceph's RGW takes buckets, puts, ranged gets and multipart uploads over the AWS
// SDK; a fresh PostgreSQL database takes SQL; a private radosgw and a private PostgreSQL go down (the
// client gets connection refused) and come back when told, while the shared services keep answering.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, PutObjectCommand,
  UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import pg from 'pg';
import {
  freshBucket, freshDatabase, requireServices, s3Client, startPrivatePostgres, startPrivateRgw,
  type FreshBucket, type Services,
} from '../helpers/services.js';

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** The error's code, or that of its cause (the SDK and pg wrap socket errors differently). */
function errCode(e: unknown): string | undefined {
  let x: unknown = e;
  for (let i = 0; i < 4 && typeof x === 'object' && x !== null; i++) {
    const o = x as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof o.code === 'string') return o.code;
    // Node's fetch/net may report an AggregateError of the IPv4/IPv6 attempts.
    x = Array.isArray(o.errors) && o.errors.length > 0 ? o.errors[0] : o.cause;
  }
  return undefined;
}

async function refused(what: string, f: () => Promise<unknown>): Promise<void> {
  await assert.rejects(f, (e: unknown) => {
    assert.equal(errCode(e), 'ECONNREFUSED', `${what}: expected connection refused, got ${String(e)}`);
    return true;
  });
}

async function getBytes(client: S3Client, bucket: string, key: string, range?: string): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

test('requireServices() throws, saying what to do, when the services are missing', () => {
  const saved = process.env.SEGREC_TEST_S3_ENDPOINT;
  delete process.env.SEGREC_TEST_S3_ENDPOINT;
  try {
    assert.throws(() => requireServices(), /SEGREC_TEST_S3_ENDPOINT.* not set: .*(setup\.sh --distributed|dev-services\.sh start failed)/);
  } finally {
    if (saved !== undefined) process.env.SEGREC_TEST_S3_ENDPOINT = saved;
  }
});

describe('shared services', () => {
  let svc: Services;
  let bucket: FreshBucket;
  before(async () => {
    svc = requireServices();
    bucket = await freshBucket(svc.s3, 'services-test');
  });
  after(async () => {
    await bucket?.cleanup();
  });

  test('S3: put, then ranged gets return exactly the requested bytes', async () => {
    const body = randomBytes(100_000);
    await bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'seg/0001.mp4', Body: body, ContentType: 'video/mp4' }));
    assert.deepEqual(await getBytes(bucket.client, bucket.name, 'seg/0001.mp4'), body);
    for (const [from, to] of [[0, 0], [1000, 1999], [4095, 65_537], [99_990, 99_999]]) {
      const got = await getBytes(bucket.client, bucket.name, 'seg/0001.mp4', `bytes=${from}-${to}`);
      assert.ok(got.equals(body.subarray(from, to + 1)), `bytes ${from}-${to}`);
    }
    const tailBytes = await getBytes(bucket.client, bucket.name, 'seg/0001.mp4', 'bytes=-10');
    assert.ok(tailBytes.equals(body.subarray(-10)), 'suffix range');
  });

  test('S3: a multipart upload of 12 MiB (three parts) reads back byte-identical', async (t) => {
    const body = randomBytes(12 * 1024 * 1024 + 12_345);
    const t0 = performance.now();
    const PART = 5 * 1024 * 1024;
    const mp = await bucket.client.send(new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: 'big.bin' }));
    const parts = [];
    for (let n = 1, at = 0; at < body.length; n++, at += PART) {
      const r = await bucket.client.send(new UploadPartCommand({ Bucket: bucket.name, Key: 'big.bin', UploadId: mp.UploadId, PartNumber: n, Body: body.subarray(at, at + PART) }));
      parts.push({ PartNumber: n, ETag: r.ETag });
    }
    await bucket.client.send(new CompleteMultipartUploadCommand({ Bucket: bucket.name, Key: 'big.bin', UploadId: mp.UploadId, MultipartUpload: { Parts: parts } }));
    t.diagnostic(`upload of ${body.length} bytes: ${Math.round(performance.now() - t0)} ms`);
    // (RGW 16 answers CompleteMultipartUpload with an empty ETag: ask HEAD.)
    const head = await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'big.bin' }));
    assert.match(head.ETag ?? '', /-3"?$/, 'the ETag of a 3-part multipart upload');
    assert.equal(head.ContentLength, body.length);
    const back = await getBytes(bucket.client, bucket.name, 'big.bin');
    assert.equal(back.length, body.length);
    assert.equal(md5(back), md5(body));
    const mid = await getBytes(bucket.client, bucket.name, 'big.bin', `bytes=${5 * 1024 * 1024 - 10}-${5 * 1024 * 1024 + 9}`);
    assert.ok(mid.equals(body.subarray(5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10)), 'a range across the part boundary');
  });

  test('S3: cleanup empties (more than one listing page, an unfinished multipart upload) and deletes the bucket', async () => {
    const b = await freshBucket(svc.s3, 'Services_Cleanup.Test');
    assert.match(b.name, /^services-cleanup-test-[a-z0-9]+-[0-9a-f]{8}$/);
    const keys = Array.from({ length: 1010 }, (_, i) => `k/${i}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((Key) => b.client.send(new PutObjectCommand({ Bucket: b.name, Key, Body: Key }))));
    }
    const mp = await b.client.send(new CreateMultipartUploadCommand({ Bucket: b.name, Key: 'unfinished' }));
    await b.client.send(new UploadPartCommand({ Bucket: b.name, Key: 'unfinished', UploadId: mp.UploadId, PartNumber: 1, Body: 'part' }));
    const client = s3Client(svc.s3);
    try {
      await b.cleanup();
      await assert.rejects(client.send(new HeadBucketCommand({ Bucket: b.name })), (e: Error) => e.name === 'NotFound');
    } finally {
      client.destroy();
    }
  });

  test('PostgreSQL: a fresh database takes CREATE TABLE, INSERT, SELECT; drop removes it', async () => {
    const db = await freshDatabase(svc.pgUrl, 'services-test');
    try {
      assert.match(db.name, /^services_test_[a-z0-9]+_[0-9a-f]{8}$/);
      await query(db.url, 'CREATE TABLE segments (id bigint PRIMARY KEY, camera text NOT NULL, bytes bigint NOT NULL)');
      await query(db.url, 'INSERT INTO segments VALUES ($1, $2, $3), ($4, $5, $6)', [1, 'front', 1000, 2, 'back', 2500]);
      const rows = await query<{ camera: string; bytes: string }>(db.url, 'SELECT camera, bytes FROM segments ORDER BY id');
      assert.deepEqual(rows, [{ camera: 'front', bytes: '1000' }, { camera: 'back', bytes: '2500' }]);
      const [{ db: current }] = await query<{ db: string }>(db.url, 'SELECT current_database() AS db');
      assert.equal(current, db.name);
    } finally {
      await db.drop();
    }
    await assert.rejects(query(db.url, 'SELECT 1'), (e: unknown) => errCode(e) === '3D000', 'the dropped database is gone');
  });
});

describe('private daemons (stop, kill and start without touching the shared ones)', () => {
  let svc: Services;
  before(() => {
    svc = requireServices();
  });

  test('a private radosgw: stopped or killed refuses connections, started serves the same cluster', async (t) => {
    const bucket = await freshBucket(svc.s3, 'private-rgw');
    const t0 = performance.now();
    const rgw = await startPrivateRgw();
    t.diagnostic(`private radosgw answered after ${Math.round(performance.now() - t0)} ms`);
    const shared = s3Client(svc.s3, { maxAttempts: 1 });
    const priv = s3Client(svc.s3, { endpoint: rgw.endpoint, maxAttempts: 1 });
    try {
      await bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'k', Body: 'from the shared gateway' }));
      assert.equal((await getBytes(priv, bucket.name, 'k')).toString(), 'from the shared gateway', 'the private gateway serves the same cluster');

      let t1 = performance.now();
      await rgw.stop();
      t.diagnostic(`stop: ${Math.round(performance.now() - t1)} ms`);
      await refused('stopped', () => priv.send(new ListBucketsCommand({})));
      t1 = performance.now();
      await shared.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'k2', Body: 'while the private one is down' }));
      t.diagnostic(`shared put while the private gateway is stopped: ${Math.round(performance.now() - t1)} ms`);

      t1 = performance.now();
      const b2 = await freshBucket(svc.s3, 'after-stop');
      await b2.cleanup();
      t.diagnostic(`shared create + delete bucket while the private gateway is stopped: ${Math.round(performance.now() - t1)} ms`);

      t1 = performance.now();
      await rgw.start();
      t.diagnostic(`start again: ${Math.round(performance.now() - t1)} ms`);
      assert.equal((await getBytes(priv, bucket.name, 'k2')).toString(), 'while the private one is down');

      t1 = performance.now();
      await rgw.kill();
      t.diagnostic(`kill (with blocklisting): ${Math.round(performance.now() - t1)} ms`);
      await refused('killed', () => priv.send(new ListBucketsCommand({})));
      // A killed gateway's watches on the cluster linger until they time out; the shared one must not stall.
      t1 = performance.now();
      const other = await freshBucket(svc.s3, 'after-kill');
      await other.client.send(new PutObjectCommand({ Bucket: other.name, Key: 'k', Body: 'x' }));
      await other.cleanup();
      const afterKillMs = Math.round(performance.now() - t1);
      t.diagnostic(`shared create bucket + put + delete right after the kill: ${afterKillMs} ms`);
      assert.ok(afterKillMs < 4_000, `the shared gateway stalled ${afterKillMs} ms after a private one was killed`);

      await rgw.start();
      await priv.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'k3', Body: 'after the crash' }));
      assert.equal((await getBytes(bucket.client, bucket.name, 'k3')).toString(), 'after the crash');
    } finally {
      shared.destroy();
      priv.destroy();
      await rgw.destroy();
      await bucket.cleanup();
    }
  });

  test('a private PostgreSQL: stopped refuses connections, started has its data back', async (t) => {
    let t1 = performance.now();
    const db = await startPrivatePostgres();
    t.diagnostic(`private PostgreSQL (initdb + start) ready after ${Math.round(performance.now() - t1)} ms`);
    try {
      assert.notEqual(db.url, svc.pgUrl);
      await query(db.url, 'CREATE TABLE leases (camera text PRIMARY KEY, node text NOT NULL)');
      await query(db.url, "INSERT INTO leases VALUES ('front', 'node-a')");

      t1 = performance.now();
      await db.stop();
      t.diagnostic(`stop: ${Math.round(performance.now() - t1)} ms`);
      await refused('stopped', () => query(db.url, 'SELECT 1'));
      assert.deepEqual(await query(svc.pgUrl, 'SELECT 1 AS one'), [{ one: 1 }], 'the shared PostgreSQL is untouched');

      t1 = performance.now();
      await db.start();
      t.diagnostic(`start again: ${Math.round(performance.now() - t1)} ms`);
      assert.deepEqual(await query(db.url, 'SELECT camera, node FROM leases'), [{ camera: 'front', node: 'node-a' }]);
    } finally {
      await db.destroy();
    }
  });
});
