// The object-store port: what the producer needs from an S3-compatible store (AWS S3, Ceph RGW, MinIO,
// R2) to keep sealed segments there — upload a file verified end to end, read byte ranges, delete in
// batches, abort a multipart upload a crash left — and the `s3://bucket/prefix` location it is given.
// s3-store.ts implements it with the AWS SDK; tests of the services built on it may use a small fake.
import { DomainError } from '../../protocol/errors.js';

/** Where the segments go: bucket and key prefix (empty, or ending in '/'). */
export interface StoreLocation {
  bucket: string;
  prefix: string;
}

/** A multipart upload in progress, persisted so that an upload a crash interrupted resumes. */
export interface MultipartState {
  uploadId: string;
  partBytes: number;
}

export interface PutFileOptions {
  /** The file's expected size (a sealed segment's, from the catalog): a file of another size is refused. */
  size: number;
  /** A multipart upload an earlier attempt began (its parts already stored are checked and kept). */
  resume: MultipartState | null;
  /** Called once a multipart upload has begun, before its first part (persist it to resume later). */
  onMultipart(state: MultipartState): void;
}

export interface ObjectStore {
  /** `s3://bucket/prefix` at the endpoint, without credentials (for logs and /health). */
  readonly description: string;
  readonly location: StoreLocation;
  /** Uploads a file under `key`, verified by MD5 end to end; returns the bytes stored. */
  putFile(key: string, path: string, o: PutFileOptions): Promise<number>;
  /** The object's size, or null when there is none under `key`. */
  head(key: string): Promise<number | null>;
  /** Exactly `length` bytes of `key` from `offset`. */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  /** Deletes the keys (missing ones are not an error). */
  deleteKeys(keys: string[]): Promise<void>;
  /** Abandons a multipart upload (an unknown one is not an error). */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  close(): void;
}

/** A store request that failed (unreachable, refused, verification failed); the message holds no secrets. */
export class StoreError extends DomainError {
  constructor(message: string) {
    super('STORE_UNAVAILABLE', message);
  }
}

/**
 * Parses `s3://bucket[/prefix]`: a bucket name as S3 allows (3–63 of a-z, 0-9, '.', '-'), a prefix of
 * safe key characters (no '..' segments); the prefix comes back ending in '/' (or empty).
 */
export function parseStoreUrl(url: string): StoreLocation {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw new DomainError('INVALID_FIELD', `store: expected s3://bucket/prefix, got "${url.slice(0, 100)}"`);
  const bucket = m[1];
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new DomainError('INVALID_FIELD', `store: "${bucket.slice(0, 70)}" is not a valid bucket name (3-63 of a-z, 0-9, ".", "-")`);
  }
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '' && (!/^[A-Za-z0-9._\-/]+$/.test(prefix) || prefix.split('/').some((p) => p === '' || p === '.' || p === '..'))) {
    throw new DomainError('INVALID_FIELD', 'store: the prefix may hold only A-Z a-z 0-9 . _ - and "/" between non-empty names');
  }
  return { bucket, prefix: prefix === '' ? '' : `${prefix}/` };
}

/** The key of a camera's segment: `<prefix><camera>/<YYYY-MM-DD>/<start_pts_ns>.mp4`. */
export function segmentKey(location: StoreLocation, camera: string, relPath: string): string {
  return `${location.prefix}${camera}/${relPath}`;
}
