// Object-store benchmark (issue 13, "Benchmark (bench/store)"), against a real S3: the Ceph RGW of
// scripts/dev-services.sh, its settings from SEGREC_TEST_S3_* (the bench makes and deletes its own bucket;
// the producer finds the credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, as a user's would).
//  1. Clip of a 30 s 1080p window from the store vs from local disk. A producer with --store records a
//     looped 1080p30 ~4 Mbit/s file into 8 s segments for ~80 s: two 30 s windows, each starting mid-GOP
//     over 5 segments. Once every sealed segment is uploaded, the older window's segments (and the keyframe
//     before it) are evicted as local_keep would evict them (its clock moved forward), and its clip is
//     checked against the same cut made while it was local (same bytes, same decoded frames). Then,
//     interleaved: POST /clip over HTTP (a client process each, bench/clip-client.ts) and assembleClip in
//     process, of each window. Medians (p25–p75), store/local ratios, ranged GETs and bytes per store clip.
//  2. Upload throughput: 16 cameras, each with a backlog of 12 sealed segments (hard links of one real
//     segment of part 1) in real SQLite catalogs, drained by one SegmentUploads with 2 workers (the
//     default) and 4, interleaved with a baseline: the same files put by a plain loop of PutObject through
//     the SDK (2 in flight, no MD5, no HEAD).
//  3. Catch-up after an outage: the backlog 16 cameras leave in a 5-minute outage, drained (2 workers)
//     while each camera goes on sealing a segment every 8 s; the time until the backlog is 0, measured,
//     beside the one computed from part 2's throughput.
//   bash scripts/dev-services.sh start && eval "$(bash scripts/dev-services.sh env)"   (SEGREC_MEMSTORE_BYTES ≥ 4 GiB for part 3)
//   npx tsx bench/store.ts [--runs 15] [--rounds 3] [--outage-s 300]
import { createHash } from 'node:crypto';
import { copyFileSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { fixture1080p, fmt, median, quantile } from './lib.js';
import type { ClientResult } from './clip-client.js';
import { freshBucket, s3Client, type S3Settings } from '../test/helpers/services.js';
import { videoFrameMd5s } from '../test/helpers/media.js';
import { startProducer } from '../src/producer/app.js';
import { assembleClip } from '../src/producer/clips/assemble.js';
import { KEYFRAME_LOOKBACK_NS } from '../src/producer/clips/engine.js';
import { createLogger } from '../src/common/log.js';
import { openDatabase, SegmentIndex, type FragmentRow, type SegmentRow } from '../src/producer/store/catalog.js';
import { segmentKey } from '../src/producer/store/object-store.js';
import { S3Store } from '../src/producer/store/s3-store.js';
import { SegmentUploads, type UploadCamera } from '../src/producer/store/segment-uploads.js';
import { StoredSegments } from '../src/producer/store/stored-segments.js';
import { PinSet } from '../src/producer/segments/retention.js';
import { FileRemovals } from '../src/producer/segments/file-removals.js';
import { segmentAbsPath } from '../src/producer/segments/paths.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) || dflt : dflt;
};
const runs = Math.max(15, arg('--runs', 15));
const rounds = arg('--rounds', 3);
const outageS = arg('--outage-s', 300);
const SEG_S = 8;
const CAMERAS = 16;
const PER_CAMERA = 12;
const DAY_MS = 24 * 3600_000;
const MB = 1e6;
const benchStart = performance.now();

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: start the services (bash scripts/dev-services.sh start) and load their env file`);
  return v;
}
const s3: S3Settings = {
  endpoint: env('SEGREC_TEST_S3_ENDPOINT'), region: process.env.SEGREC_TEST_S3_REGION || 'us-east-1',
  accessKeyId: env('SEGREC_TEST_S3_ACCESS_KEY'), secretAccessKey: env('SEGREC_TEST_S3_SECRET_KEY'),
};
process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;

const root = join(process.cwd(), '.tmp', 'bench-store');
rmSync(root, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
const logger = createLogger({ level: 'error' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const say = (line: string) => process.stderr.write(`${line}\n`);
const spread = (xs: number[]) => `${fmt(median(xs)).padStart(7)} ms (${fmt(quantile(xs, 0.25))}–${fmt(quantile(xs, 0.75))})`;
const md5File = (path: string) => createHash('md5').update(readFileSync(path)).digest('hex');

async function waitFor<T>(what: string, ms: number, f: () => T | null | undefined | false): Promise<T> {
  for (const t0 = Date.now(); ; await sleep(200)) {
    const v = f();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms / 1000} s`);
  }
}

const bucket = await freshBucket(s3, 'bench-store');
const location = (prefix: string) => ({ bucket: bucket.name, prefix });
const newStore = (prefix: string) => new S3Store({ location: location(prefix), endpoint: s3.endpoint, region: s3.region, pathStyle: true });

async function deleteKeys(keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    await bucket.client.send(new DeleteObjectsCommand({ Bucket: bucket.name, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
  }
}

// ---- 1. Clip from the store vs from local disk ----------------------------------------------------------

interface Window { startNs: bigint; stopNs: bigint }
type Plan = Array<{ row: SegmentRow; fragments: FragmentRow[] }>;

/** Runs part 1; returns a sealed segment file of the recording (for parts 2 and 3). */
async function clipBench(): Promise<string> {
  const producer = await startProducer({
    dataDir: join(root, 'clip'), port: 0, source: fixture1080p(join(process.cwd(), '.tmp', 'src1080p-40s.mp4'), 40), loop: true,
    segmentSeconds: SEG_S, store: `s3://${bucket.name}/clips`, s3Endpoint: s3.endpoint, s3Region: s3.region, s3PathStyle: true,
    localKeepMs: DAY_MS, logger,
  });
  const clients: ChildProcess[] = [];
  try {
    const p = producer.producer;
    const uploads = producer.app.uploads!;
    const store = uploads.store as S3Store;
    // The bytes the ranged GETs fetch (S3Store counts requests, not bytes): the read path calls store.getRange.
    let fetched = 0;
    let sampleGets = 0;
    const getRange = store.getRange.bind(store);
    store.getRange = (key, offset, length) => {
      fetched += length;
      if (length > 64 * 1024) sampleGets++; // else an init or moofs (coalesced within 64 KiB)
      return getRange(key, offset, length);
    };

    const first = await waitFor('the first segment', 30_000, () => p.index.overlapping(0n, 1n << 62n)[0]);
    const windowAt = (s: number): Window => {
      const startNs = first.start_pts_ns + BigInt(s * 1e9);
      return { startNs, stopNs: startNs + 30_000_000_000n };
    };
    // 5 s into a segment (mid-GOP: 2 s GOP), 30 s: over 5 segments each. The older goes to the store only.
    const older = windowAt(5);
    const newer = windowAt(5 + 5 * SEG_S);
    say('store 1/3: recording ~80 s of 1080p30 with --store before clipping…');
    await waitFor('80 s recorded', 150_000, () => (p.index.newestFragmentStart() ?? 0n) >= newer.stopNs);
    await waitFor('every sealed segment uploaded', 60_000, () => uploads.status(null).backlog_segments === 0);

    const outDir = join(p.options.clipRoots[0], 'in-process');
    mkdirSync(outDir, { recursive: true });
    let seq = 0;
    const planOf = (w: Window): Plan => p.index.clipFragments(w.startNs, w.stopNs, KEYFRAME_LOOKBACK_NS);
    const cut = (w: Window, plan: Plan) => assembleClip({
      clipId: `clip-bench-${String(seq++).padStart(16, '0')}`, segments: plan, place: p.place, startNs: w.startNs, stopNs: w.stopNs,
      outDir, filename: 'bench.mp4', sidecarExtra: {},
    });
    const drop = (path: string) => { unlinkSync(path); unlinkSync(path.replace(/\.mp4$/, '.json')); };

    // The older window cut while local: the reference for the same cut from the store.
    const ref = await cut(older, planOf(older));
    const refFrames = await videoFrameMd5s(ref.path);
    const refMd5 = md5File(ref.path);
    drop(ref.path);

    // Evict what ended before the older window's last segment ended, +1 ms: that window (and the keyframe before it).
    const olderRows = planOf(older).map((s) => s.row);
    const newerRows = planOf(newer).map((s) => s.row);
    const keepUntil = Math.max(...olderRows.map((r) => r.stop_epoch_ms)) + 1;
    const fakeNow = keepUntil + DAY_MS;
    await waitFor('the older window evicted', 10_000, () => {
      uploads.evict(p, fakeNow);
      return olderRows.every((r) => p.index.get(r.id)?.local === 0);
    });
    if (!newerRows.every((r) => p.index.get(r.id)?.local === 1)) throw new Error('a segment of the newer window was evicted too');
    const plans = { store: planOf(older), local: planOf(newer) };

    // Once: the store clip (its inits not yet cached) is the same bytes and frames as the cut made while local.
    const [gets0, bytes0] = [store.requests.get, fetched];
    const check = await cut(older, plans.store);
    const coldGets = store.requests.get - gets0;
    const coldBytes = fetched - bytes0;
    const frames = await videoFrameMd5s(check.path);
    if (frames.length !== refFrames.length || frames.some((f, i) => f !== refFrames[i])) throw new Error('the store clip decodes to other frames than the local one');
    if (md5File(check.path) !== refMd5) throw new Error('the store clip is not the same bytes as the local one');
    drop(check.path);
    const localRef = await cut(newer, plans.local);
    drop(localRef.path);
    const bytes = { store: check.bytes, local: localRef.bytes };

    const clientFor = async (w: Window) => {
      const body = JSON.stringify({ start_pts_ns: String(w.startNs), stop_pts_ns: String(w.stopNs) });
      const c = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'clip-client.ts'), producer.url, body], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      clients.push(c);
      await once(c, 'message');
      return c;
    };
    const [storeClient, localClient] = [await clientFor(older), await clientFor(newer)];
    const viaHttp = async (c: ChildProcess, size: number) => {
      c.send('clip');
      const [{ ms, clip }] = await once(c, 'message') as [ClientResult];
      if (clip.status !== 'done' || clip.bytes !== size) throw new Error(`clip over HTTP: ${JSON.stringify(clip)}`);
      drop(clip.path!);
      return ms;
    };
    const inProcess = async (w: Window, plan: Plan, size: number) => {
      const t = performance.now();
      const r = await cut(w, plan);
      const ms = performance.now() - t;
      if (r.bytes !== size || r.segmentPaths.length !== 5) throw new Error(`in-process clip: ${r.bytes} bytes over ${r.segmentPaths.length} segments`);
      drop(r.path);
      return ms;
    };
    const measures = {
      httpStore: () => viaHttp(storeClient, bytes.store),
      httpLocal: () => viaHttp(localClient, bytes.local),
      asmStore: () => inProcess(older, plans.store, bytes.store),
      asmLocal: () => inProcess(newer, plans.local, bytes.local),
    };
    type Name = keyof typeof measures;
    const names = Object.keys(measures) as Name[];
    const times = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Name, number[]>;
    const perStoreClip = { gets: [] as number[], samples: [] as number[], bytes: [] as number[] };
    const WARMUP = 2;
    for (let i = 0; i < runs + WARMUP; i++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(i + k) % names.length];
        const [g, sg, b] = [store.requests.get, sampleGets, fetched];
        const ms = await measures[name]();
        if (i < WARMUP) continue;
        times[name].push(ms);
        if (name.endsWith('Store')) {
          perStoreClip.gets.push(store.requests.get - g);
          perStoreClip.samples.push(sampleGets - sg);
          perStoreClip.bytes.push(fetched - b);
        }
        await sleep(20);
      }
    }
    const m = Object.fromEntries(names.map((n) => [n, median(times[n])])) as Record<Name, number>;
    const sizes = plans.local.map((s) => `${(s.row.bytes / MB).toFixed(2)}`).join(', ');
    console.log(`1. clip of a 30 s window (mid-GOP start, over 5 segments of 1080p30 ~4 Mbit/s, ${SEG_S} s segments: ${sizes} MB), ` +
      `clip ${(bytes.store / MB).toFixed(1)} MB / ${refFrames.length} frames; producer recording and uploading throughout; ` +
      `medians (p25–p75) of ${runs} interleaved runs`);
    console.log(`  over HTTP (POST /clip + long-poll), store only  ${spread(times.httpStore)}`);
    console.log(`  over HTTP, local disk                           ${spread(times.httpLocal)}`);
    console.log(`  in process (assembleClip), store only           ${spread(times.asmStore)}`);
    console.log(`  in process, local disk                          ${spread(times.asmLocal)}`);
    console.log(`  store / local: over HTTP ${(m.httpStore / m.httpLocal).toFixed(2)}×, in process ${(m.asmStore / m.asmLocal).toFixed(2)}×`);
    const moofGets = median(perStoreClip.gets) - median(perStoreClip.samples);
    console.log(`  per store clip: ${median(perStoreClip.gets)} ranged GETs (${moofGets} of inits/moofs, ${median(perStoreClip.samples)} of samples), ` +
      `${(median(perStoreClip.bytes) / MB).toFixed(2)} MB fetched ` +
      `(first clip, inits not cached: ${coldGets} GETs, ${(coldBytes / MB).toFixed(2)} MB)`);
    console.log(`  checked: ${olderRows.length} segments local=0, the newer window's ${newerRows.length} local=1; every clip done, same size each run; ` +
      `the store clip = the cut made while local (same MD5, ${frames.length} decoded frames' MD5s equal)`);
    const sample = join(root, 'segment.mp4');
    copyFileSync(segmentAbsPath(p.segmentsDir, plans.local[1].row.path), sample);
    return sample;
  } finally {
    for (const c of clients) if (c.connected) c.send('close');
    await producer.close();
  }
}

// ---- 2 and 3. Uploads of many cameras' backlogs ---------------------------------------------------------

interface Camera { upload: UploadCamera; index: SegmentIndex; next: number }

function makeCameras(dir: string, perCamera: number, file: string, createdMs: (camera: number, k: number) => number): Camera[] {
  return Array.from({ length: CAMERAS }, (_, c) => {
    const name = `cam${String(c).padStart(2, '0')}`;
    const segmentsDir = join(dir, name, 'segments');
    mkdirSync(join(segmentsDir, '2026-01-01'), { recursive: true });
    const db = openDatabase(join(dir, name, 'index.db'));
    const camera: Camera = {
      upload: { name, storedSegments: new StoredSegments(db), segmentsDir, pins: new PinSet(), retention: { remove() {} }, place: {}, fileRemovals: new FileRemovals(db, segmentsDir) },
      index: new SegmentIndex(db), next: 0,
    };
    for (let k = 0; k < perCamera; k++) addSealed(camera, file, createdMs(c, k));
    return camera;
  });
}

/** A sealed segment of the camera's: a hard link of `file` and its row (the file's real size). */
function addSealed(camera: Camera, file: string, createdMs: number): void {
  const start = BigInt(camera.next++) * BigInt(SEG_S * 1e9);
  const path = `2026-01-01/${start}.mp4`;
  linkSync(file, segmentAbsPath(camera.upload.segmentsDir, path));
  const epoch = createdMs - SEG_S * 1000;
  const id = camera.index.insertSegment({
    path, run_id: 1, start_pts_ns: start, start_epoch_ms: epoch, offset_ns: 0n, anchor_epoch_ms: epoch, anchor_pts_ns: start,
    bytes: statSync(file).size, init_size: 0, codec: 'avc1', codec_string: 'avc1.640028', width: 1920, height: 1080, fps: 30,
    has_audio: 0, description_key: 'bench', created_ms: createdMs,
  });
  camera.index.seal(id, null);
}

const keysOf = (cameras: Camera[], prefix: string) => cameras.flatMap((c) =>
  c.upload.storedSegments.pendingUploads(1e6).map((r) => segmentKey(location(prefix), c.upload.name, r.path)));

/** Attaches the cameras to a new SegmentUploads and waits for the backlog to be 0 (with `during` running meanwhile). */
async function drainAll(cameras: Camera[], prefix: string, workers: number, during?: (uploads: SegmentUploads) => () => void): Promise<number> {
  const store = newStore(prefix);
  const uploads = new SegmentUploads({ store, log: logger, localKeepMs: DAY_MS, minFreeBytes: null, workers });
  try {
    const t = performance.now();
    for (const c of cameras) uploads.attach(c.upload);
    const stop = during?.(uploads);
    await uploads.drain(30 * 60_000);
    const ms = performance.now() - t;
    stop?.();
    const s = uploads.status(null);
    if (s.backlog_segments !== 0 || s.last_error) throw new Error(`uploads: ${JSON.stringify(s)}`);
    return ms;
  } finally {
    await uploads.close();
    store.close();
  }
}

async function uploadBench(file: string): Promise<{ mbps: number }> {
  const size = statSync(file).size;
  const cameras = makeCameras(join(root, 'uploads'), PER_CAMERA, file, (c, k) => Date.now() - DAY_MS + (k * CAMERAS + c) * 500);
  const keys = keysOf(cameras, 'uploads/');
  const files = cameras.flatMap((c) => c.upload.storedSegments.pendingUploads(1e6).map((r) => segmentAbsPath(c.upload.segmentsDir, r.path)));
  const total = files.length * size;
  const ours = (workers: number) => async () => {
    for (const c of cameras) c.index.db.prepare('UPDATE segments SET object_key = NULL').run();
    return drainAll(cameras, 'uploads/', workers);
  };
  const plain = async () => {
    const client = s3Client(s3);
    try {
      const t = performance.now();
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < files.length; i = next++) {
          const body = await readFile(files[i]);
          await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: keys[i], Body: body, ContentLength: body.length }));
        }
      };
      await Promise.all([worker(), worker()]);
      return performance.now() - t;
    } finally {
      client.destroy();
    }
  };
  const measures = { workers2: ours(2), workers4: ours(4), plain };
  type Name = keyof typeof measures;
  const names = Object.keys(measures) as Name[];
  const times = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Name, number[]>;
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length];
      say(`store 2/3: round ${i + 1}/${rounds}, ${name}…`);
      times[name].push(await measures[name]());
      await deleteKeys(keys); // the memstore holds what is stored: empty it between rounds
    }
  }
  const m = Object.fromEntries(names.map((n) => [n, median(times[n])])) as Record<Name, number>;
  const rate = (n: Name) => total / MB / (m[n] / 1000);
  const need = CAMERAS * 0.5;
  console.log(`2. upload throughput: ${CAMERAS} cameras × ${PER_CAMERA} sealed segments of ${(size / MB).toFixed(2)} MB (${(total / MB).toFixed(0)} MB) ` +
    `in SQLite catalogs, to the local Ceph RGW (memstore); medians of ${rounds} interleaved rounds, attach → backlog 0`);
  const row = (label: string, n: Name) => console.log(`  ${label.padEnd(50)} ${(m[n] / 1000).toFixed(2).padStart(6)} s ` +
    `${rate(n).toFixed(1).padStart(6)} MB/s, ${(rate(n) / CAMERAS).toFixed(2)} MB/s per camera, ${(files.length / (m[n] / 1000)).toFixed(1)} segments/s, ` +
    `${(m.plain / m[n]).toFixed(2)}× baseline's rate  [rounds: ${times[n].map((t) => (t / 1000).toFixed(2)).join(', ')} s]`);
  row('SegmentUploads, 2 workers (default)', 'workers2');
  row('SegmentUploads, 4 workers', 'workers4');
  row('baseline: PutObject loop, 2 in flight (no MD5/HEAD)', 'plain');
  console.log(`  ours / baseline time: ${(m.workers2 / m.plain).toFixed(2)}× (2 workers), ${(m.workers4 / m.plain).toFixed(2)}× (4 workers); ` +
    `a camera at 4 Mbit/s needs 0.5 MB/s (${CAMERAS} cameras ${need} MB/s): headroom ${(rate('workers2') / need).toFixed(1)}× (2 workers), ` +
    `${(rate('workers4') / need).toFixed(1)}× (4 workers)`);
  for (const c of cameras) c.index.db.close();
  return { mbps: rate('workers2') };
}

async function catchUpBench(file: string, measuredMBps: number): Promise<void> {
  const size = statSync(file).size;
  const perCamera = Math.round(outageS / SEG_S);
  const outageStart = Date.now() - outageS * 1000;
  // Each camera sealed a segment every 8 s through the outage (the cameras 0.5 s apart).
  const cameras = makeCameras(join(root, 'catch-up'), perCamera, file, (c, k) => outageStart + (k * CAMERAS + c) * (SEG_S * 1000 / CAMERAS));
  const backlog = CAMERAS * perCamera * size;
  say(`store 3/3: draining a ${(backlog / MB).toFixed(0)} MB backlog while new segments arrive…`);
  let arrived = 0;
  const rates: number[] = [];
  const ms = await drainAll(cameras, 'catch-up/', 2, (uploads) => {
    const timer = setInterval(() => {
      addSealed(cameras[arrived++ % CAMERAS], file, Date.now());
      uploads.kick(); // as the App does on 'segment-sealed'
    }, SEG_S * 1000 / CAMERAS);
    let last = 0;
    const sampler = setInterval(() => { rates.push((uploads.uploadedBytes - last) / MB / 10); last = uploads.uploadedBytes; }, 10_000);
    return () => { clearInterval(timer); clearInterval(sampler); };
  });
  const arrivalMBps = CAMERAS * size / SEG_S / MB;
  const computed = backlog / MB / (measuredMBps - arrivalMBps);
  console.log(`3. catch-up after a ${outageS / 60}-minute outage: ${CAMERAS} cameras × ${perCamera} segments = ${(backlog / MB).toFixed(0)} MB backlog, ` +
    `new segments arriving meanwhile at the cameras' rate (${arrivalMBps.toFixed(2)} MB/s, one every ${SEG_S / CAMERAS} s), 2 workers`);
  console.log(`  measured: backlog 0 after ${(ms / 1000).toFixed(1)} s (${arrived} segments arrived meanwhile; ` +
    `${((backlog + arrived * size) / MB / (ms / 1000)).toFixed(1)} MB/s uploaded; by 10 s: ${rates.map((r) => r.toFixed(0)).join(', ')} MB/s)`);
  console.log(`  computed from part 2 (${measuredMBps.toFixed(1)} MB/s − ${arrivalMBps.toFixed(2)} MB/s arriving): ${computed.toFixed(1)} s`);
  for (const c of cameras) c.index.db.close();
}

try {
  const sample = await clipBench();
  const { mbps } = await uploadBench(sample);
  await catchUpBench(sample, mbps);
  console.log(`bench:store ran ${((performance.now() - benchStart) / 1000).toFixed(0)} s`);
} finally {
  await bucket.cleanup();
  rmSync(root, { recursive: true, force: true });
}
