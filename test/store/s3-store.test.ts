// The S3 object store against a real Ceph RGW (test services: scripts/dev-services.sh, started by the
// test runner): uploads verified by MD5 (one PutObject, or parts), a multipart upload a crash left is
// resumed keeping the parts already stored, ranged reads, batch deletes, and errors that name what
// failed without any secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { S3Store, MULTIPART_MIN, PART_BYTES } from '../../src/producer/store/s3-store.js';
import { parseStoreUrl, segmentKey, StoreError, type MultipartState } from '../../src/producer/store/object-store.js';
import { tempDir } from '../helpers/media.js';
import { freshBucket, requireServices } from '../helpers/services.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

async function setup(t: { after(fn: () => unknown): void }) {
  const { s3 } = requireServices();
  const bucket = await freshBucket(s3, 's3store');
  t.after(() => bucket.cleanup());
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const store = new S3Store({
    location: parseStoreUrl(`s3://${bucket.name}/site-a`), endpoint: s3.endpoint, region: s3.region, pathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  t.after(() => store.close());
  const client = new S3Client({
    endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  t.after(() => client.destroy());
  return { store, client, bucket: bucket.name, dir: tmp.dir, s3 };
}

const noMultipart = { resume: null, onMultipart: () => assert.fail('no multipart upload for a small file') };

test('parseStoreUrl: bucket and prefix, refusing what S3 or our key layout would not take', () => {
  assert.deepEqual(parseStoreUrl('s3://footage'), { bucket: 'footage', prefix: '' });
  assert.deepEqual(parseStoreUrl('s3://footage/site-a/rec/'), { bucket: 'footage', prefix: 'site-a/rec/' });
  assert.equal(segmentKey(parseStoreUrl('s3://b-1/p'), 'cam1', '2026-11-30/123.mp4'), 'p/cam1/2026-11-30/123.mp4');
  for (const bad of ['footage', 'http://x/y', 's3://Up', 's3://ab', 's3://ok/../x', 's3://ok/a//b', 's3://ok/a b']) {
    assert.throws(() => parseStoreUrl(bad), (e: unknown) => (e as { code?: string }).code === 'INVALID_FIELD' && /^store: /.test((e as Error).message), bad);
  }
});

test('a small file: one PutObject with its MD5, read back by ranges', async (t) => {
  const { store, dir } = await setup(t);
  const body = randomBytes(1_234_567);
  const path = join(dir, 'a.mp4');
  writeFileSync(path, body);
  const key = `${store.location.prefix}cam/2026-11-30/1.mp4`;
  assert.equal(await store.putFile(key, path, { size: body.length, ...noMultipart }), body.length);
  assert.deepEqual(store.requests, { put: 1, part: 0, get: 0, delete: 0, head: 0 }, 'one PUT, verified by its Content-MD5 and the ETag it answers: no read-back');
  assert.equal(md5(await store.getRange(key, 0, body.length)), md5(body), 'the whole object is the file');
  assert.deepEqual(await store.getRange(key, 1000, 4096), body.subarray(1000, 5096));
  assert.deepEqual(await store.getRange(key, body.length - 7, 7), body.subarray(body.length - 7));
  // A range past the end is an error, not a short read taken for data.
  await assert.rejects(store.getRange(key, body.length - 7, 8), StoreError);
});

test('a file that is not the size the catalog says is refused before anything is sent', async (t) => {
  const { store, dir } = await setup(t);
  const path = join(dir, 'b.mp4');
  writeFileSync(path, randomBytes(1000));
  await assert.rejects(store.putFile('x/b.mp4', path, { size: 999, ...noMultipart }), /the file has 1000 bytes, the catalog says 999/);
  assert.equal(store.requests.put, 0);
});

test('a large file goes in parts; an upload a crash interrupted resumes, keeping the parts stored', async (t) => {
  const { store, client, bucket, dir } = await setup(t);
  const body = randomBytes(2 * PART_BYTES + 12_345); // three parts
  assert.ok(body.length > MULTIPART_MIN);
  const path = join(dir, 'big.mp4');
  writeFileSync(path, body);
  const states: MultipartState[] = [];
  const key = 'site-a/cam/2026-11-30/2.mp4';
  await store.putFile(key, path, { size: body.length, resume: null, onMultipart: (s) => states.push(s) });
  assert.equal(store.requests.head, 1, 'a multipart object is read back (RGW answers its completion without an ETag)');
  assert.equal(states.length, 1, 'the multipart upload was announced (for persisting) once');
  assert.equal(store.requests.part, 3);
  assert.equal(md5(await store.getRange(key, 0, body.length)), md5(body));

  // A crash after the first part: the upload exists with part 1 stored.
  const key2 = 'site-a/cam/2026-11-30/3.mp4';
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key2 }));
  await client.send(new UploadPartCommand({ Bucket: bucket, Key: key2, UploadId: created.UploadId, PartNumber: 1, Body: body.subarray(0, PART_BYTES) }));
  const before = store.requests.part;
  await store.putFile(key2, path, { size: body.length, resume: { uploadId: created.UploadId!, partBytes: PART_BYTES }, onMultipart: () => assert.fail('resumed, not begun again') });
  assert.equal(store.requests.part - before, 2, 'part 1 was kept, parts 2 and 3 sent');
  assert.equal(md5(await store.getRange(key2, 0, body.length)), md5(body));

  // A stored part whose bytes differ from the file (a different file then) is sent again.
  const key3 = 'site-a/cam/2026-11-30/4.mp4';
  const c3 = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key3 }));
  await client.send(new UploadPartCommand({ Bucket: bucket, Key: key3, UploadId: c3.UploadId, PartNumber: 1, Body: randomBytes(PART_BYTES) }));
  const before3 = store.requests.part;
  await store.putFile(key3, path, { size: body.length, resume: { uploadId: c3.UploadId!, partBytes: PART_BYTES }, onMultipart: () => assert.fail('resumed') });
  assert.equal(store.requests.part - before3, 3);
  assert.equal(md5(await store.getRange(key3, 0, body.length)), md5(body));

  // An upload id the store no longer knows (aborted, expired): a new upload begins.
  const key4 = 'site-a/cam/2026-11-30/5.mp4';
  const fresh: MultipartState[] = [];
  await store.putFile(key4, path, { size: body.length, resume: { uploadId: 'no-such-upload', partBytes: PART_BYTES }, onMultipart: (s) => fresh.push(s) });
  assert.equal(fresh.length, 1);
  assert.equal(md5(await store.getRange(key4, 0, body.length)), md5(body));
});

test('deletes in batches (missing keys are fine); aborting an unknown upload is fine', async (t) => {
  const { store, dir } = await setup(t);
  const path = join(dir, 'c.mp4');
  writeFileSync(path, randomBytes(10_000));
  const keys = ['site-a/c/1.mp4', 'site-a/c/2.mp4'];
  for (const k of keys) await store.putFile(k, path, { size: 10_000, ...noMultipart });
  await store.deleteKeys([...keys, 'site-a/c/never.mp4']);
  for (const k of keys) await assert.rejects(store.getRange(k, 0, 10), StoreError);
  await store.abortMultipart('site-a/c/1.mp4', 'no-such-upload');
});

test('an unreachable store fails with STORE_UNAVAILABLE naming the request, and no secret', async (t) => {
  const { s3, dir } = await setup(t);
  const store = new S3Store({
    location: parseStoreUrl('s3://nowhere/p'), endpoint: 'http://127.0.0.1:9', region: s3.region, pathStyle: true,
    credentials: { accessKeyId: 'AKIDVISIBLE', secretAccessKey: 'very-secret-key-123' }, requestTimeoutMs: 2000,
  });
  t.after(() => store.close());
  const path = join(dir, 'd.mp4');
  writeFileSync(path, randomBytes(100));
  const e = await store.putFile('p/d.mp4', path, { size: 100, ...noMultipart }).then(() => null, (x: unknown) => x);
  assert.ok(e instanceof StoreError, String(e));
  assert.equal(e.code, 'STORE_UNAVAILABLE');
  assert.match(e.message, /^upload of p\/d\.mp4 failed/);
  assert.doesNotMatch(e.message, /very-secret-key-123/);
});
