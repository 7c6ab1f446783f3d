// The object store on S3 (AWS, Ceph RGW, MinIO, R2) through the AWS SDK v3. Credentials come the AWS
// way (environment, shared config/credentials files, instance roles): the SDK's default chain, never a
// flag, so they are in no command line, log or /health. Uploads are verified end to end by MD5: a file
// up to MULTIPART_MIN goes in one PutObject with Content-MD5 (the store refuses a body that does not match);
// a larger one in parts, each with its Content-MD5, and the completed object's ETag (the MD5 of the
// parts' MD5s) is checked against ours. Multipart is done here rather than with lib-storage's Upload so
// that an upload a crash (kill -9) interrupted resumes: its upload id is persisted (onMultipart) and the
// parts already stored whose MD5 matches are kept. The SDK's newer CRC checksums are asked for only
// where an operation requires one (Ceph's RGW predates them).
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import {
  S3Client, PutObjectCommand, GetObjectCommand, DeleteObjectsCommand, CreateMultipartUploadCommand, UploadPartCommand,
  CompleteMultipartUploadCommand, AbortMultipartUploadCommand, ListPartsCommand, HeadObjectCommand, CreateBucketCommand,
  HeadBucketCommand, type Part,
} from '@aws-sdk/client-s3';
import { redactUrl } from '../../common/redact.js';
import { StoreError, type MultipartState, type ObjectStore, type PutFileOptions, type StoreLocation } from './object-store.js';

/** Files up to this size go in one PutObject. */
export const MULTIPART_MIN = 16 * 1024 * 1024;
/** Size of each part of a multipart upload (S3's minimum is 5 MiB). */
export const PART_BYTES = 8 * 1024 * 1024;
/** S3 deletes at most this many keys per request. */
const DELETE_BATCH = 1000;

export interface S3StoreOptions {
  location: StoreLocation;
  /** e.g. http://127.0.0.1:7480 for a local Ceph RGW; none: AWS for the region. */
  endpoint: string | null;
  region: string | null;
  /** Path-style addressing (bucket in the path): Ceph, MinIO and most self-hosted stores need it. */
  pathStyle: boolean;
  /** Explicit credentials (tests); normally none, and the SDK's default chain finds them. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Per-request timeout (ms): a store that hangs fails the request instead of stalling uploads. */
  requestTimeoutMs?: number;
}

/** Bytes hashed between two turns of the event loop (~0.4 ms here): a 16 MB object never stalls ingest or HTTP for 26 ms at once. */
const MD5_SLICE = 256 * 1024;

/** MD5 of `b`, a slice per turn of the event loop. */
async function md5(b: Buffer): Promise<Buffer> {
  const h = createHash('md5');
  for (let at = 0; at < b.length; at += MD5_SLICE) {
    if (at > 0) await new Promise<void>((r) => setImmediate(r));
    h.update(b.subarray(at, at + MD5_SLICE));
  }
  return h.digest();
}

export class S3Store implements ObjectStore {
  readonly location: StoreLocation;
  readonly description: string;
  /** Requests sent, by kind (for /metrics, benchmarks and tests: ranged GETs per clip, parts reused on resume). */
  readonly requests = { put: 0, part: 0, get: 0, delete: 0, head: 0 };
  private readonly client: S3Client;

  constructor(o: S3StoreOptions) {
    this.location = o.location;
    this.description = `s3://${o.location.bucket}/${o.location.prefix}${o.endpoint ? ` at ${redactUrl(o.endpoint)}` : ''}`;
    this.client = new S3Client({
      region: o.region ?? 'us-east-1',
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      forcePathStyle: o.pathStyle,
      ...(o.credentials ? { credentials: o.credentials } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Our own queue retries with backoff; the SDK's few quick retries cover a dropped connection.
      maxAttempts: 2,
      requestHandler: { requestTimeout: o.requestTimeoutMs ?? 30_000, connectionTimeout: 5_000 },
    });
  }

  /** Creates the bucket unless it exists (a developer's or a test's first start). */
  async ensureBucket(): Promise<void> {
    const Bucket = this.location.bucket;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket }));
    } catch {
      await this.call('create bucket', () => this.client.send(new CreateBucketCommand({ Bucket })));
    }
  }

  async putFile(key: string, path: string, o: PutFileOptions): Promise<number> {
    const fh = await open(path, 'r');
    let expectedEtag: string;
    try {
      const st = await fh.stat();
      if (st.size !== o.size) throw new StoreError(`upload of ${key}: the file has ${st.size} bytes, the catalog says ${o.size}`);
      if (o.size <= MULTIPART_MIN && !o.resume) {
        const body = await readAt(fh, 0, o.size);
        const digest = await md5(body);
        this.requests.put++;
        const res = await this.call(`upload of ${key}`, () => this.client.send(new PutObjectCommand({
          Bucket: this.location.bucket, Key: key, Body: body, ContentLength: body.length, ContentMD5: digest.toString('base64'),
          ContentType: 'video/mp4',
        })));
        expectedEtag = digest.toString('hex');
        if (res.ETag && unquote(res.ETag) !== expectedEtag) throw new StoreError(`upload of ${key}: the store's ETag ${res.ETag} is not the file's MD5`);
        // The store checked the bytes against Content-MD5 and answered with their MD5: nothing to read back.
        if (res.ETag) return o.size;
      } else {
        expectedEtag = await this.putMultipart(key, fh, o);
      }
    } finally {
      await fh.close();
    }
    // What is stored is what was sent: its length and its ETag (the MD5 of the parts' MD5s; a store that
    // answered a single PUT without an ETag: the MD5), read back.
    this.requests.head++;
    const head = await this.call(`check of ${key}`, () => this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: key })));
    if (head.ContentLength !== o.size) throw new StoreError(`upload of ${key}: the store holds ${head.ContentLength} bytes, the file has ${o.size}`);
    if (head.ETag && unquote(head.ETag) !== expectedEtag) throw new StoreError(`upload of ${key}: the stored object's ETag ${head.ETag} is not ${expectedEtag}`);
    return o.size;
  }

  /** Uploads in parts (resuming `o.resume`); returns the ETag the object must have. */
  private async putMultipart(key: string, fh: Awaited<ReturnType<typeof open>>, o: PutFileOptions): Promise<string> {
    const Bucket = this.location.bucket;
    let state: MultipartState | null = o.resume;
    let stored = new Map<number, Part>();
    if (state) {
      try {
        stored = await this.listParts(key, state.uploadId);
      } catch {
        state = null; // the upload is gone (aborted, expired): begin again
      }
    }
    if (!state) {
      const created = await this.call(`upload of ${key}`, () => this.client.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: 'video/mp4' })));
      if (!created.UploadId) throw new StoreError(`upload of ${key}: the store gave no upload id`);
      state = { uploadId: created.UploadId, partBytes: PART_BYTES };
      o.onMultipart(state);
    }
    const { uploadId, partBytes } = state;
    const parts: Part[] = [];
    const digests: Buffer[] = [];
    for (let n = 1, at = 0; at < o.size; n++, at += partBytes) {
      const body = await readAt(fh, at, Math.min(partBytes, o.size - at));
      const digest = await md5(body);
      digests.push(digest);
      const have = stored.get(n);
      if (have?.ETag && unquote(have.ETag) === digest.toString('hex') && have.Size === body.length) {
        parts.push({ PartNumber: n, ETag: have.ETag });
        continue;
      }
      this.requests.part++;
      const res = await this.call(`upload of ${key} (part ${n})`, () => this.client.send(new UploadPartCommand({
        Bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.length, ContentMD5: digest.toString('base64'),
      })));
      parts.push({ PartNumber: n, ETag: res.ETag });
    }
    const done = await this.call(`upload of ${key} (completing)`, () => this.client.send(new CompleteMultipartUploadCommand({
      Bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts },
    })));
    const expected = `${(await md5(Buffer.concat(digests))).toString('hex')}-${digests.length}`;
    // (Ceph's RGW answers this request with an empty ETag; the HEAD after it gives the object's.)
    if (done.ETag && unquote(done.ETag) !== expected) throw new StoreError(`upload of ${key}: the store's ETag ${done.ETag} is not the parts' MD5 (${expected})`);
    return expected;
  }

  private async listParts(key: string, uploadId: string): Promise<Map<number, Part>> {
    const out = new Map<number, Part>();
    let marker: string | undefined;
    for (;;) {
      const res = await this.client.send(new ListPartsCommand({ Bucket: this.location.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }));
      for (const p of res.Parts ?? []) if (p.PartNumber !== undefined) out.set(p.PartNumber, p);
      if (!res.IsTruncated || res.NextPartNumberMarker === undefined) return out;
      marker = res.NextPartNumberMarker;
    }
  }

  async head(key: string): Promise<number | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: key }));
      return r.ContentLength ?? 0;
    } catch (e) {
      const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404) return null;
      throw storeError(`check of ${key}`, e);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    this.requests.get++;
    const res = await this.call(`read of ${key}`, () => this.client.send(new GetObjectCommand({
      Bucket: this.location.bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}`,
    })));
    if (!res.Body) throw new StoreError(`read of ${key}: no body`);
    const bytes = Buffer.from(await res.Body.transformToByteArray());
    if (bytes.length !== length) throw new StoreError(`read of ${key}: asked ${length} bytes at ${offset}, got ${bytes.length}`);
    return bytes;
  }

  async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      this.requests.delete++;
      const res = await this.call('delete', () => this.client.send(new DeleteObjectsCommand({
        Bucket: this.location.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      })));
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new StoreError(`delete of ${failed.length} objects failed (${failed[0].Code ?? '?'}: ${failed[0].Key ?? '?'})`);
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key: key, UploadId: uploadId }));
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchUpload') return;
      throw storeError('abort of an upload', e);
    }
  }

  close(): void {
    this.client.destroy();
  }

  /** Runs one request, turning any failure into a StoreError that names what failed and why. */
  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw storeError(what, e);
    }
  }
}

function storeError(what: string, e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  const why = [err.name ?? err.code, status ? `HTTP ${status}` : null, err.message].filter(Boolean).join(': ');
  return new StoreError(`${what} failed: ${redactUrl(why).slice(0, 300)}`);
}

const unquote = (etag: string) => etag.replace(/^"|"$/g, '');

async function readAt(fh: Awaited<ReturnType<typeof open>>, at: number, n: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(n);
  let done = 0;
  while (done < n) {
    const { bytesRead } = await fh.read(buf, done, n - done, at + done);
    if (bytesRead === 0) throw new StoreError(`the file ended at ${at + done} while being uploaded`);
    done += bytesRead;
  }
  return buf;
}
