// The distributed mode under every suite (`npm run test:distributed`): with SEGREC_TEST_CATALOG=postgres a
// test producer also keeps its catalog in a fresh PostgreSQL database, with SEGREC_TEST_STORE=s3 its
// footage in a fresh bucket of the test Ceph; when the test closes it, the catalog must have caught up and
// equal each camera's local index row for row, and every sealed segment must be in the store, each of its
// indexed fragments in the object with the CRC-32 taken when it was recorded, and the object byte-identical
// to its file (or, for a file damaged since and verified, to its intact fragments). The suites' own
// assertions run unchanged on top.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import type { App } from '../../src/producer/app.js';
import type { Producer } from '../../src/producer/producer.js';
import type { ProducerOptionsInput } from '../../src/producer/options.js';
import type { SegmentIndex } from '../../src/producer/store/catalog.js';
import { crc32 } from '../../src/producer/segments/crc32.js';
import { segmentAbsPath } from '../../src/producer/segments/paths.js';
import { freshBucket, freshDatabase, requireServices } from './services.js';

export interface DistributedRun {
  options: ProducerOptionsInput;
  /**
   * Throws when the catalog or the store did not get what the camera recorded. Run as the App's
   * beforeCameraClose hook: recording has stopped, the open segment is sealed, the index still open.
   */
  check(app: App, camera: Producer): Promise<void>;
  cleanup(): Promise<void>;
}

/** A camera's catalog as comparable text rows: its tables, its clip jobs (outside a cluster), its maintained totals. */
export interface CatalogRows { segments: string[]; fragments: string[]; gaps: string[]; jobs: string[]; totals: string[] }
const CATALOG_KEYS = ['segments', 'fragments', 'gaps', 'jobs', 'totals'] as const;

/** What the local index holds of a camera, as comparable text rows. */
export function localCatalogRows(index: SegmentIndex): CatalogRows {
  const db = index.db;
  const rows = (sql: string) => db.prepare<[], { r: string }>(sql).all().map((x) => x.r);
  return {
    segments: rows(`SELECT path || '|' || start_pts_ns || '|' || stop_pts_ns || '|' || bytes || '|' || fragments || '|' ||
      frames || '|' || sealed || '|' || IFNULL(object_key, '') AS r FROM segments ORDER BY path`),
    fragments: rows(`SELECT s.path || '|' || f.seq || '|' || f.start_pts_ns || '|' || f.stop_pts_ns || '|' || f.offset || '|' ||
      f.size || '|' || f.moof_size || '|' || f.keyframe || '|' || IFNULL(f.crc, '') AS r FROM fragments f JOIN segments s ON s.id = f.segment_id
      ORDER BY s.path, f.seq`),
    gaps: rows(`SELECT start_pts_ns || '|' || stop_pts_ns || '|' || reason AS r FROM gaps ORDER BY start_pts_ns, stop_pts_ns, reason`),
    jobs: rows(`SELECT clip_id || '|' || status || '|' || IFNULL(outcome, '') || '|' || IFNULL(error, '') AS r FROM jobs ORDER BY clip_id`),
    totals: rows(`SELECT (SELECT n FROM totals WHERE name = 'segments') || '|' || (SELECT n FROM totals WHERE name = 'segment_bytes') || '|' ||
      (SELECT n FROM totals WHERE name = 'gaps') AS r`),
  };
}

/** The same rows of a camera in the PostgreSQL catalog. */
export async function pgCatalogRows(url: string, camera: string): Promise<CatalogRows> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // A producer closed before its catalog's tables were made (a very short test) has none there yet.
    const q = async (sql: string) => (await c.query<{ r: string }>(sql, [camera]).catch((e: unknown) => {
      if ((e as { code?: string }).code === '42P01') return { rows: [] };
      throw e;
    })).rows.map((x) => x.r);
    return {
      segments: await q(`SELECT path || '|' || start_pts_ns || '|' || stop_pts_ns || '|' || bytes || '|' || fragments || '|' || frames || '|' ||
        sealed::int || '|' || COALESCE(object_key, '') AS r FROM segments WHERE camera = $1 ORDER BY path COLLATE "C"`),
      fragments: await q(`SELECT path || '|' || seq || '|' || start_pts_ns || '|' || stop_pts_ns || '|' || "offset" || '|' || size || '|' ||
        moof_size || '|' || keyframe::int || '|' || COALESCE(crc::text, '') AS r FROM fragments WHERE camera = $1 ORDER BY path COLLATE "C", seq`),
      gaps: await q(`SELECT start_pts_ns || '|' || stop_pts_ns || '|' || reason AS r FROM gaps WHERE camera = $1
        ORDER BY start_pts_ns, stop_pts_ns, reason COLLATE "C"`),
      jobs: await q(`SELECT clip_id || '|' || status || '|' || COALESCE(outcome, '') || '|' || COALESCE(error, '') AS r FROM clip_jobs
        WHERE camera = $1 ORDER BY clip_id COLLATE "C"`),
      totals: [(await q(`SELECT segments || '|' || segment_bytes || '|' || gaps AS r FROM camera_totals WHERE camera = $1`))[0] ?? '0|0|0'],
    };
  } finally {
    await c.end();
  }
}

function firstDifference(a: string[], b: string[]): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return `row ${i}: local ${a[i] ?? '(none)'} vs PostgreSQL ${b[i] ?? '(none)'}`;
  return 'none';
}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

export async function distributedOptions(o: ProducerOptionsInput): Promise<DistributedRun> {
  const wantCatalog = process.env.SEGREC_TEST_CATALOG === 'postgres' && o.catalog === undefined;
  const wantStore = process.env.SEGREC_TEST_STORE === 's3' && o.store === undefined;
  if (!wantCatalog && !wantStore) return { options: {}, check: async () => undefined, cleanup: async () => undefined };
  const services = requireServices();
  const options: ProducerOptionsInput = {};
  const cleanups: Array<() => Promise<void>> = [];
  let catalogUrl: string | null = null;
  let bucket: Awaited<ReturnType<typeof freshBucket>> | null = null;
  if (wantCatalog) {
    const db = await freshDatabase(services.pgUrl, 'suite');
    catalogUrl = db.url;
    options.catalog = db.url;
    cleanups.push(() => db.drop());
  }
  if (wantStore) {
    bucket = await freshBucket(services.s3, 'suite');
    process.env.AWS_ACCESS_KEY_ID = services.s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = services.s3.secretAccessKey;
    Object.assign(options, { store: `s3://${bucket.name}/suite`, s3Endpoint: services.s3.endpoint, s3Region: services.s3.region, s3PathStyle: true });
    const b = bucket;
    cleanups.push(() => b.cleanup());
  }
  return {
    options,
    async check(app, p) {
      if (bucket && app.uploads) {
        await app.uploads.drain(60_000);
        {
          const rows = p.index.db.prepare<[], { path: string; object_key: string | null; mtime_ms: number | null }>('SELECT path, object_key, mtime_ms FROM segments WHERE sealed = 1').all();
          for (const r of rows) {
            const file = segmentAbsPath(p.segmentsDir, r.path);
            if (r.object_key === null) {
              // Only a segment whose file cannot be read is left out (recovery's business, said in the log).
              if (existsSync(file)) throw new Error(`distributed check: ${p.name}/${r.path} was never uploaded`);
              continue;
            }
            if (!existsSync(file)) continue;
            // A file damaged after it was uploaded and not verified yet (faults/corrupt.test.ts) is recovery's business.
            if (r.mtime_ms !== null && statSync(file).mtimeMs !== r.mtime_ms) continue;
            const obj = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: r.object_key }));
            const stored = Buffer.from(await obj.Body!.transformToByteArray());
            const local = readFileSync(file);
            // The object holds what was recorded: every indexed fragment's bytes have the CRC-32 taken when it was written.
            const frags = p.index.db.prepare<[string], { offset: number; size: number; crc: number | null }>(
              'SELECT f.offset AS offset, f.size AS size, f.crc AS crc FROM fragments f JOIN segments s ON s.id = f.segment_id WHERE s.path = ?').all(r.path);
            for (const f of frags) {
              const bytes = stored.subarray(Number(f.offset), Number(f.offset) + Number(f.size));
              if (f.crc !== null && crc32(bytes) !== Number(f.crc)) throw new Error(`distributed check: the object of ${p.name}/${r.path} differs from what was recorded at byte ${f.offset}`);
            }
            if (md5(stored) === md5(local)) continue;
            // One damaged after its upload and verified since: its damaged fragments left the index as a gap
            // naming it, and the object keeps what was sealed; every fragment still indexed is the same in both.
            const damageGap = p.index.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM gaps WHERE reason LIKE ?').get(`segment damaged: ${r.path}:%`)!.n > 0;
            const same = (a: number, n: number) => stored.subarray(a, a + n).equals(local.subarray(a, a + n));
            if (!damageGap || !frags.every((f) => same(Number(f.offset), Number(f.size)))) {
              throw new Error(`distributed check: the object of ${p.name}/${r.path} is not its file`);
            }
          }
        }
      }
      if (catalogUrl && app.catalog) {
        // Uploads still running (a test's own store: the check above did not wait for them) change rows
        // while they are read: the local index first, PostgreSQL after it would be a newer state.
        if (!bucket && app.uploads) await app.uploads.drain(60_000).catch(() => undefined);
        await app.catalog.flush(p.name, 60_000);
        {
          const local = localCatalogRows(p.index);
          const remote = await pgCatalogRows(catalogUrl, p.name);
          for (const k of CATALOG_KEYS) {
            if (JSON.stringify(local[k]) !== JSON.stringify(remote[k])) {
              throw new Error(`distributed check: PostgreSQL's ${k} of camera ${p.name} differ from the local index (${firstDifference(local[k], remote[k])})`);
            }
          }
        }
      }
    },
    async cleanup() {
      for (const c of cleanups.splice(0)) await c().catch(() => undefined);
    },
  };
}
