// Clips written to object storage: `out_dir: s3://bucket/prefix/…` inside a configured `s3://` clip root
// (`--clip-root s3://bucket/prefix`). The clip is assembled and fsynced locally as usual (in a staging
// directory), then its MP4 and its JSON sidecar (whose `path` becomes the object's URL) are uploaded, each
// verified by MD5 (s3-store.ts); the job is `done` only once both are stored, so a clip appears complete
// or not at all. A name already taken in the store gets `-1`, `-2`, … as on disk, unless the object there
// is this very clip (a job resumed after a crash): then it is adopted. GET …/clip/{id}/file reads the
// object back by ranges.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { DomainError } from '../../protocol/errors.js';
import { parseStoreUrl, type ObjectStore, type StoreLocation } from './object-store.js';

/** The S3 settings clip stores are made with (one client per bucket). */
export type StoreFactory = (location: StoreLocation) => ObjectStore;

/** Largest piece read from the store while serving a clip. */
const SERVE_CHUNK = 8 * 1024 * 1024;

/** An `s3://bucket/prefix/` URL, normalised (prefix empty or ending in '/'). */
export function storeDirUrl(loc: StoreLocation): string {
  return `s3://${loc.bucket}/${loc.prefix}`;
}

/**
 * Checks an `s3://…` out_dir against the s3 clip roots: the same bucket, and its prefix at or under a
 * root's (whole names). Returns it normalised. Throws OUT_OF_ROOT naming out_dir otherwise.
 */
export function resolveStoreOutDir(outDir: string, roots: readonly string[]): string {
  let loc: StoreLocation;
  try {
    loc = parseStoreUrl(outDir);
  } catch (e) {
    throw new DomainError('INVALID_FIELD', `out_dir: ${(e as Error).message.replace(/^store: /, '')}`);
  }
  const inside = roots.some((r) => {
    const root = parseStoreUrl(r);
    return root.bucket === loc.bucket && loc.prefix.startsWith(root.prefix);
  });
  if (!inside) {
    throw new DomainError('OUT_OF_ROOT', roots.length === 0 ? 'out_dir: no s3:// clip root is configured (--clip-root s3://bucket/prefix)'
      : `out_dir: must lie inside an s3 clip root (${roots.join(', ')})`);
  }
  return storeDirUrl(loc);
}

export class ClipObjects {
  private readonly stores = new Map<string, ObjectStore>();

  constructor(private readonly makeStore: StoreFactory) {}

  private store(bucket: string): ObjectStore {
    let s = this.stores.get(bucket);
    if (!s) {
      s = this.makeStore({ bucket, prefix: '' });
      this.stores.set(bucket, s);
    }
    return s;
  }

  /**
   * Uploads a clip assembled locally (its MP4 and sidecar) into `dirUrl` under `filename` (or the first
   * free variant of it); returns the object's URL. The local files are left to the caller.
   */
  async publish(a: { mp4: string; sidecar: string; dirUrl: string; filename: string; clipId: string }): Promise<string> {
    const dir = parseStoreUrl(a.dirUrl);
    const store = this.store(dir.bucket);
    const dot = a.filename.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [a.filename.slice(0, dot), a.filename.slice(dot)] : [a.filename, ''];
    const size = statSync(a.mp4).size;
    for (let i = 0; i < 10_000; i++) {
      const key = `${dir.prefix}${i === 0 ? a.filename : `${stem}-${i}${ext}`}`;
      const sidecarKey = key.replace(/\.mp4$/i, '') + '.json';
      const url = `s3://${dir.bucket}/${key}`;
      if (await store.head(key) !== null) {
        // Taken: by this clip (uploaded before a crash) it is adopted once its sidecar says so.
        if (await this.isThisClip(store, sidecarKey, a.clipId)) return url;
        continue;
      }
      // The sidecar names the object it describes, not the staging file.
      const text = readFileSync(a.sidecar, 'utf8');
      const local = JSON.stringify(a.mp4);
      if (!text.includes(`"path": ${local}`)) throw new Error(`clip ${a.clipId}: its sidecar does not name ${a.mp4}`);
      writeFileSync(a.sidecar, text.replace(`"path": ${local}`, `"path": ${JSON.stringify(url)}`));
      await store.putFile(key, a.mp4, { size, resume: null, onMultipart: () => undefined });
      await store.putFile(sidecarKey, a.sidecar, { size: statSync(a.sidecar).size, resume: null, onMultipart: () => undefined });
      return url;
    }
    throw new Error(`no free object name for ${a.filename} in ${a.dirUrl}`);
  }

  private async isThisClip(store: ObjectStore, sidecarKey: string, clipId: string): Promise<boolean> {
    const size = await store.head(sidecarKey);
    if (size === null || size > 1024 * 1024) return false;
    const text = (await store.getRange(sidecarKey, 0, size)).toString('utf8');
    return text.includes(`"clip_id": ${JSON.stringify(clipId)}`);
  }

  /** A stored clip: its size, and its bytes [start, end] (inclusive) read in pieces as they are consumed. */
  async open(url: string): Promise<{ size: number; bytes(start: number, end: number): AsyncGenerator<Buffer> } | null> {
    const loc = parseStoreUrl(url.replace(/\/?$/, ''));
    const key = loc.prefix.replace(/\/$/, '');
    const store = this.store(loc.bucket);
    const size = await store.head(key);
    if (size === null) return null;
    return {
      size,
      async *bytes(start: number, end: number) {
        for (let at = start; at <= end; at += SERVE_CHUNK) yield await store.getRange(key, at, Math.min(SERVE_CHUNK, end + 1 - at));
      },
    };
  }

  close(): void {
    for (const s of this.stores.values()) s.close();
  }
}
