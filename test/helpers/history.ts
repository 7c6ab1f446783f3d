// Years of footage, quickly (issue 11): builds a producer data directory holding N days of continuous,
// sealed 10 s segments the producer's own way — DATA/index.sqlite made by the producer's openDatabase()
// (so the schema, its indexes and its triggers are the current ones) and DATA/segments/YYYY-MM-DD/
// <start_pts_ns>.mp4 files — without recording them in real time:
//
// - a few REAL segment files are made first: one ffmpeg run encodes testsrc2 with the producer's testsrc
//   encoder settings and muxes it with the ingest's fragmented-MP4 output options (a fragment per
//   keyframe, at least every fragmentSeconds), and is cut at keyframe fragments into pieces of
//   segmentSeconds (init + whole fragments, as the segment writer writes them), kept in DATA/history-sources/;
// - every segment of the history is a HARD LINK to one of those pieces (round robin; ext4 allows 65,000
//   links per inode, so there are at least ceil(segments / 60,000) pieces). A segment's index rows say
//   where tick 0 of its file lies on the producer clock (offset_ns), so the same file stands for any time;
// - the rows come from scanning each piece once as recovery does (src/mp4/scan.ts, fragment-times.ts):
//   fragment bounds, byte ranges, sample counts, keyframe flags and CRC-32 of the real bytes, shifted to
//   the segment's start. Segments are continuous (each one's stop is the next one's start), sealed, with
//   mtime_ms = the piece's mtime (all links of an inode share it) and bytes = its size, so recovery
//   trusts them as it trusts the producer's own;
// - epoch times follow meta `clock_base_epoch_ms`, chosen so that the newest footage ends at endEpochMs
//   (default: now), so retention by age and epoch windows mean what they would on a real recorder;
// - optionally `jobs` finished clip jobs (status done, an outcome as the clip engine writes it) spread over
//   the history, for "1 day + 1M finished jobs".
//
// Speed: segment rows are inserted from JS (3.15M for 365 days), fragment rows (10 per segment) by one
// INSERT … SELECT per batch from a template of each piece's fragments (SQLite does the arithmetic in 64-bit
// integers, exact beyond 2^53), with the journal and fsync off during the build; the links are made by
// worker threads meanwhile. PTS may be huge (clockStartNs of 110 days passes 2^53 ns, 100 years is
// ~3.2e18): values above Number.MAX_SAFE_INTEGER are bound as BigInt and written exactly.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { openDatabase } from '../../src/producer/store/catalog.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { fragmentTimes, presentedStopRelNs, videoTrack } from '../../src/producer/segments/fragment-times.js';
import { crc32 } from '../../src/producer/segments/crc32.js';
import { segmentRelPath, segmentsDirOf } from '../../src/producer/segments/paths.js';
import { fragmentedMp4Output } from '../../src/producer/ingest/source-args.js';
import { clipIdOf, type ClipOutcome } from '../../src/producer/store/job-store.js';
import type { ClipSpec } from '../../src/producer/clips/clip-request.js';
import { stringifyWireJson } from '../../src/protocol/wire-json.js';

export interface HistoryOptions {
  dataDir: string;
  /** Days of footage (fractions allowed: 2 hours = 2 / 24). */
  days: number;
  segmentSeconds?: number;
  /** Fragment (and keyframe) interval, as the ingest's -frag_duration. */
  fragmentSeconds?: number;
  /** Producer pts of the oldest footage (ns). May exceed 2^53. */
  clockStartNs?: number | bigint;
  /** Where the newest footage ends (epoch ms); default now. The clock base is derived from it. */
  endEpochMs?: number;
  /** Finished (done) clip jobs to add to the jobs table. */
  jobs?: number;
  codec?: 'h264' | 'h265';
  width?: number;
  height?: number;
  fps?: number;
  /** An AAC track beside the video (a camera with a microphone). */
  audio?: boolean;
  /** Links per source piece at most (ext4: 65,000 per inode). */
  maxLinksPerSource?: number;
  /** At least this many distinct pieces (footage varies from segment to segment). */
  minSources?: number;
  /** Threads making the hard links. */
  linkWorkers?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface HistoryPiece {
  file: string;
  bytes: number;
  mtimeMs: number;
  fragments: number;
  frames: number;
  /** Presentation bounds relative to tick 0 of the piece's tracks (ns). */
  firstStartRelNs: number;
  lastStopRelNs: number;
}

export interface HistoryResult {
  dataDir: string;
  segments: number;
  fragments: number;
  frames: number;
  jobs: number;
  /** Sum of the segments' sizes (what the index says is stored; the disk holds only the pieces). */
  logicalBytes: number;
  /** Producer pts of the oldest footage's start and of the newest footage's end (exact decimal strings, as pts may exceed 2^53). */
  startPtsNs: string;
  stopPtsNs: string;
  clockBaseEpochMs: number;
  startEpochMs: number;
  stopEpochMs: number;
  segmentSeconds: number;
  fragmentSeconds: number;
  codec: string;
  width: number;
  height: number;
  fps: number;
  audio: boolean;
  sources: number;
  /** The schema version the index was built at (PRAGMA user_version). */
  schemaVersion: number;
  indexBytes: number;
  /** Wall time of each step, seconds. */
  seconds: { sources: number; index: number; links: number; jobs: number; total: number };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** A pts for SQLite: a number while exact, a BigInt beyond 2^53. */
const sqlInt = (v: bigint): number | bigint => (v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v);

function runFfmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err.slice(-2000)}`))));
  });
}

interface PieceTemplate extends HistoryPiece {
  initSize: number;
  codec: string;
  codecString: string;
  width: number;
  height: number;
  fps: number;
  hasAudio: boolean;
  descriptionKey: string;
  rows: Array<{ seq: number; startRel: number; stopRel: number; offset: number; size: number; moofSize: number; samples: number; keyframe: number; crc: number }>;
}

/**
 * Makes `count` real segment files of `fragmentsPerSegment` fragments each: one ffmpeg run (the producer's
 * testsrc encoder settings on testsrc2, whose every frame differs, and the ingest's fMP4 output options),
 * cut at keyframe fragments.
 */
async function makePieces(dir: string, count: number, o: Required<Pick<HistoryOptions, 'segmentSeconds' | 'fragmentSeconds' | 'codec' | 'width' | 'height' | 'fps' | 'audio'>>): Promise<PieceTemplate[]> {
  mkdirSync(dir, { recursive: true });
  const whole = join(dir, 'recording.mp4');
  const gop = Math.max(1, Math.round(o.fps * o.fragmentSeconds));
  const seconds = count * o.segmentSeconds + 2 * o.fragmentSeconds; // the tail fragment may be short: never used
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`];
  if (o.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-t', String(seconds));
  // src/producer/ingest/testsrc.ts testsrcArgs(): the producer's own encode of its synthetic camera.
  if (o.codec === 'h264') {
    args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-crf', '30', '-bf', '0');
  } else {
    args.push('-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'bframes=0:scenecut=0:log-level=error', '-crf', '30', '-tag:v', 'hvc1');
  }
  args.push('-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-pix_fmt', 'yuv420p');
  if (o.audio) args.push('-c:a', 'aac', '-b:a', '64k', '-ac', '1');
  // The ingest's output (source-args.ts fragmentedMp4Output), to a file instead of pipe:1.
  const out = fragmentedMp4Output(o.fragmentSeconds * 1000);
  args.push(...out.slice(0, -1), whole);
  await runFfmpeg(args);
  const bytes = readFileSync(whole);
  const scan = scanFragmentedFile(bytes);
  if (!scan.init || !videoTrack(scan.init)) throw new Error(`${whole}: no init segment with a video track`);
  const init = scan.init;
  const video = videoTrack(init)!;
  const audio = init.tracks.find((t) => t.kind === 'audio');
  const perSegment = Math.max(1, Math.round(o.segmentSeconds / o.fragmentSeconds));
  const usable = scan.fragments.filter((f) => fragmentTimes(init, f.moof)?.keyframe);
  if (usable.length < scan.fragments.length - 1) throw new Error(`${whole}: fragments without a keyframe at their start (gop ${gop}, fragment ${o.fragmentSeconds} s)`);
  if (usable.length < count * perSegment) throw new Error(`${whole}: ${usable.length} keyframe fragments, ${count * perSegment} needed`);
  const pieces: PieceTemplate[] = [];
  for (let k = 0; k < count; k++) {
    const frags = scan.fragments.slice(k * perSegment, (k + 1) * perSegment);
    const file = join(dir, `piece-${String(k).padStart(4, '0')}.mp4`);
    const fd = openSync(file, 'w');
    try {
      writeSync(fd, init.bytes);
      for (const f of frags) writeSync(fd, bytes, f.offset, f.size);
    } finally {
      closeSync(fd);
    }
    pieces.push(templateOf(file, { codec: video.codec, codecString: [video.codecString, audio?.codecString].filter(Boolean).join(',') }));
  }
  rmSync(whole);
  return pieces;
}

/** A piece's index rows relative to tick 0, read back from the file as recovery reads a segment (scanSegment). */
function templateOf(file: string, names: { codec: string; codecString: string }): PieceTemplate {
  const bytes = readFileSync(file);
  const scan = scanFragmentedFile(bytes);
  if (!scan.init || scan.trailing) throw new Error(`${file}: not a clean segment file (${scan.trailing ?? 'no init'})`);
  const init = scan.init;
  const video = videoTrack(init)!;
  const rows: PieceTemplate['rows'] = [];
  let frames = 0;
  let frameNs = 0;
  for (const f of scan.fragments) {
    const t = fragmentTimes(init, f.moof);
    if (!t) continue;
    frames += t.frames;
    if (t.frameDurationNs > 0 && (t.frames >= 4 || frameNs === 0)) frameNs = t.frameDurationNs;
    rows.push({
      seq: rows.length, startRel: t.startRelNs, stopRel: presentedStopRelNs(t, frameNs), offset: f.offset, size: f.size,
      moofSize: bytes.readUInt32BE(f.offset), samples: t.samples, keyframe: t.keyframe ? 1 : 0, crc: crc32(bytes.subarray(f.offset, f.offset + f.size)),
    });
  }
  if (rows.length === 0 || rows[0].keyframe !== 1) throw new Error(`${file}: does not begin with a keyframe fragment`);
  const st = statSync(file);
  return {
    file, bytes: st.size, mtimeMs: st.mtimeMs, fragments: rows.length, frames, firstStartRelNs: rows[0].startRel,
    lastStopRelNs: rows[rows.length - 1].stopRel, initSize: scan.initSize, codec: names.codec, codecString: names.codecString,
    width: video.width ?? 0, height: video.height ?? 0, fps: frameNs > 0 ? Math.round((1e9 / frameNs) * 1000) / 1000 : 0,
    hasAudio: init.tracks.some((t) => t.kind === 'audio'), descriptionKey: init.tracks.map((t) => t.descriptionKey).join('+'), rows,
  };
}

// Link workers: plain JS (no loader needed), fed batches of [piece index, relative path].
const LINK_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { linkSync, mkdirSync } = require('node:fs');
const { dirname, join } = require('node:path');
const made = new Set();
parentPort.on('message', (m) => {
  if (m === null) { parentPort.postMessage({ done: true }); return; }
  let n = 0;
  for (let i = 0; i < m.paths.length; i++) {
    const dst = join(workerData.segmentsDir, m.paths[i]);
    const d = dirname(dst);
    if (!made.has(d)) { mkdirSync(d, { recursive: true }); made.add(d); }
    linkSync(workerData.pieces[m.srcs[i]], dst);
    n++;
  }
  parentPort.postMessage({ linked: n });
});
`;

class LinkPool {
  private readonly workers: Worker[];
  private next = 0;
  private pending = 0;
  linked = 0;
  private error: Error | null = null;
  private drained: Array<() => void> = [];

  constructor(n: number, segmentsDir: string, pieces: string[]) {
    this.workers = Array.from({ length: n }, () => {
      const w = new Worker(LINK_WORKER, { eval: true, workerData: { segmentsDir, pieces } });
      w.on('message', (m: { linked?: number; done?: boolean }) => {
        if (m.linked !== undefined) {
          this.linked += m.linked;
          this.pending--;
          if (this.pending === 0) for (const d of this.drained.splice(0)) d();
        }
      });
      w.on('error', (e) => {
        this.error ??= e;
        this.pending = 0;
        for (const d of this.drained.splice(0)) d();
      });
      return w;
    });
  }

  push(paths: string[], srcs: Uint16Array): void {
    if (this.error) throw this.error;
    this.pending++;
    this.workers[this.next++ % this.workers.length].postMessage({ paths, srcs }, [srcs.buffer as ArrayBuffer]);
  }

  /** Waits until at most `max` batches are in flight (back-pressure). */
  async waitBelow(max: number): Promise<void> {
    while (this.pending > max && !this.error) await new Promise<void>((r) => setTimeout(r, 5));
    if (this.error) throw this.error;
  }

  async finish(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((r) => this.drained.push(r));
    await Promise.all(this.workers.map((w) => w.terminate()));
    if (this.error) throw this.error;
  }
}

/**
 * Builds the data directory (which must hold no segments yet). Returns what it made; also written to
 * DATA/history.json.
 */
export async function buildHistory(opts: HistoryOptions): Promise<HistoryResult> {
  const t0 = performance.now();
  const o = {
    segmentSeconds: 10, fragmentSeconds: 1, clockStartNs: 0, endEpochMs: Date.now(), jobs: 0, codec: 'h264' as const, width: 640, height: 360,
    fps: 15, audio: false, maxLinksPerSource: 60_000, minSources: 4, linkWorkers: 2, log: () => {}, ...opts,
  };
  if (!(o.days > 0)) throw new Error('days must be positive');
  if (!(o.segmentSeconds > 0 && o.fragmentSeconds > 0 && o.segmentSeconds >= o.fragmentSeconds)) throw new Error('need segmentSeconds ≥ fragmentSeconds > 0');
  const segmentsDir = segmentsDirOf(o.dataDir);
  if (existsSync(segmentsDir) && readdirSync(segmentsDir).length > 0) throw new Error(`${segmentsDir} is not empty: build a history into a fresh data directory`);
  const count = Math.max(1, Math.round((o.days * 86_400) / o.segmentSeconds));
  const nSources = Math.max(o.minSources, Math.ceil(count / o.maxLinksPerSource));
  if (nSources > 65_535) throw new Error('too many source pieces');
  mkdirSync(segmentsDir, { recursive: true });

  // 1. Real segment files.
  const pieces = await makePieces(join(o.dataDir, 'history-sources'), nSources, o);
  const tSources = performance.now();
  o.log(`history: ${nSources} source pieces (${pieces[0].fragments} fragments, ${pieces[0].frames} frames, ~${Math.round(pieces[0].bytes / 1024)} KiB each) in ${((tSources - t0) / 1000).toFixed(1)} s`);
  const durations = pieces.map((p) => BigInt(p.lastStopRelNs - p.firstStartRelNs));
  const cycleNs = durations.reduce((a, b) => a + b, 0n);
  const totalNs = (BigInt(count) / BigInt(nSources)) * cycleNs + durations.slice(0, count % nSources).reduce((a, b) => a + b, 0n);
  const clockStart = BigInt(o.clockStartNs);
  const stopPts = clockStart + totalNs;
  // The clock base puts the newest footage's end at endEpochMs (the producer wants a base > 0: with a
  // clock start older than 1970 allows, the footage then ends later than asked).
  // The clock's base may lie before 1970 (a clock decades in: a negative epoch), as the producer allows.
  const base = Math.round(o.endEpochMs - Number(BigInt(stopPts) / 1_000_000n));
  const epochOf = (pts: bigint) => base + Number(pts) / 1e6;

  // 2. Index rows (and, in parallel, the links).
  const db = openDatabase(join(o.dataDir, 'index.sqlite'));
  const schemaVersion = db.pragma('user_version', { simple: true }) as number;
  const have = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM segments').get()!.n;
  if (have > 0) throw new Error(`${o.dataDir}/index.sqlite already holds ${have} segments`);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('foreign_keys = OFF');
  db.pragma('cache_size = -262144');
  db.pragma('temp_store = MEMORY');
  db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run('clock_base_epoch_ms', String(base));
  db.exec(`CREATE TEMP TABLE history_tpl (src INTEGER NOT NULL, seq INTEGER NOT NULL, start_rel INTEGER NOT NULL, stop_rel INTEGER NOT NULL,
    offset INTEGER NOT NULL, size INTEGER NOT NULL, moof_size INTEGER NOT NULL, samples INTEGER NOT NULL, keyframe INTEGER NOT NULL,
    crc INTEGER NOT NULL, PRIMARY KEY (src, seq)) WITHOUT ROWID`);
  const tpl = db.prepare('INSERT INTO temp.history_tpl VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    pieces.forEach((p, k) => {
      for (const r of p.rows) tpl.run(k, r.seq, r.startRel, r.stopRel, r.offset, r.size, r.moofSize, r.samples, r.keyframe, r.crc);
    });
  })();
  const insertSegment = db.prepare(`INSERT INTO segments (id, path, run_id, start_pts_ns, stop_pts_ns, start_epoch_ms, stop_epoch_ms, offset_ns,
      anchor_epoch_ms, anchor_pts_ns, bytes, init_size, fragments, frames, codec, codec_string, width, height, fps, has_audio, description_key,
      sealed, created_ms, mtime_ms)
    VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`);
  // Fragments of segments [lo, hi]: each segment's piece is (id - 1) % nSources (ids are 1..count, in time order).
  const insertFragments = db.prepare(`INSERT INTO fragments (segment_id, seq, start_pts_ns, stop_pts_ns, offset, size, moof_size, samples, keyframe, crc)
    SELECT s.id, t.seq, s.offset_ns + t.start_rel, s.offset_ns + t.stop_rel, t.offset, t.size, t.moof_size, t.samples, t.keyframe, t.crc
    FROM segments s JOIN temp.history_tpl t ON t.src = (s.id - 1) % ${nSources}
    WHERE s.id BETWEEN ? AND ? ORDER BY s.id, t.seq`);
  const links = new LinkPool(Math.max(1, o.linkWorkers), segmentsDir, pieces.map((p) => p.file));
  const BATCH = 20_000;
  let cur = clockStart;
  let fragments = 0;
  let frames = 0;
  let logicalBytes = 0;
  let lastLog = performance.now();
  let waitedMs = 0;
  try {
    for (let lo = 0; lo < count; lo += BATCH) {
      const hi = Math.min(count, lo + BATCH);
      const paths: string[] = [];
      const srcs = new Uint16Array(hi - lo);
      db.transaction(() => {
        for (let i = lo; i < hi; i++) {
          const k = i % nSources;
          const p = pieces[k];
          const start = cur;
          const stop = start + durations[k];
          const startEpoch = epochOf(start);
          const rel = segmentRelPath(start, startEpoch); // as the writer names it (exact digits beyond 2^53)
          insertSegment.run(i + 1, rel, sqlInt(start), sqlInt(stop), startEpoch, epochOf(stop), sqlInt(start - BigInt(p.firstStartRelNs)), startEpoch,
            sqlInt(start), p.bytes, p.initSize, p.fragments, p.frames, p.codec, p.codecString, p.width, p.height, p.fps, p.hasAudio ? 1 : 0,
            p.descriptionKey, epochOf(stop), p.mtimeMs);
          paths.push(rel);
          srcs[i - lo] = k;
          fragments += p.fragments;
          frames += p.frames;
          logicalBytes += p.bytes;
          cur = stop;
        }
        insertFragments.run(lo + 1, hi);
      })();
      links.push(paths, srcs);
      const w = performance.now();
      await links.waitBelow(8);
      waitedMs += performance.now() - w;
      if (performance.now() - lastLog > 5_000) {
        lastLog = performance.now();
        o.log(`history: ${hi} / ${count} segments indexed, ${links.linked} linked (${((lastLog - tSources) / 1000).toFixed(0)} s, ${(waitedMs / 1000).toFixed(0)} s of it waiting for links)`);
      }
    }
  } catch (e) {
    await links.finish().catch(() => {});
    db.close();
    throw e;
  }
  const tIndex = performance.now();
  await links.finish();
  const tLinks = performance.now();
  if (links.linked !== count) throw new Error(`linked ${links.linked} of ${count} segments`);

  // 3. Finished clip jobs, spread over the history (oldest first), each a 10 s window.
  if (o.jobs > 0) addDoneJobs(db, o.jobs, { dataDir: o.dataDir, clockStart, totalNs, base, epochOf });
  const tJobs = performance.now();

  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.close();
  const indexBytes = statSync(join(o.dataDir, 'index.sqlite')).size;
  const result: HistoryResult = {
    dataDir: resolve(o.dataDir), segments: count, fragments, frames, jobs: o.jobs, logicalBytes, startPtsNs: String(clockStart), stopPtsNs: String(stopPts),
    clockBaseEpochMs: base, startEpochMs: epochOf(clockStart), stopEpochMs: epochOf(stopPts), segmentSeconds: o.segmentSeconds,
    fragmentSeconds: o.fragmentSeconds, codec: pieces[0].codec, width: pieces[0].width, height: pieces[0].height, fps: pieces[0].fps, audio: o.audio,
    sources: nSources, schemaVersion, indexBytes,
    seconds: {
      sources: (tSources - t0) / 1000, index: (tIndex - tSources) / 1000, links: (tLinks - tSources) / 1000, jobs: (tJobs - tLinks) / 1000,
      total: (performance.now() - t0) / 1000,
    },
  };
  const fd = openSync(join(o.dataDir, 'history.json'), 'w');
  writeSync(fd, JSON.stringify(result, null, 2) + '\n');
  closeSync(fd);
  o.log(`history: ${count} segments, ${fragments} fragments, ${o.jobs} jobs in ${result.seconds.total.toFixed(1)} s ` +
    `(${Math.round(count / ((tLinks - tSources) / 1000))} segments/s); index ${(indexBytes / 2 ** 20).toFixed(0)} MiB`);
  return result;
}

function addDoneJobs(db: ReturnType<typeof openDatabase>, n: number, h: { dataDir: string; clockStart: bigint; totalNs: bigint; base: number; epochOf: (pts: bigint) => number }): void {
  const insert = db.prepare(`INSERT INTO jobs (seq, clip_id, status, spec, start_pts_ns, stop_pts_ns, out_dir, outcome, error, created_ms, updated_ms, deadline_ms)
    VALUES (?, ?, 'done', ?, ?, ?, ?, ?, NULL, ?, ?, ?)`);
  const outDir = join(h.dataDir, 'clips');
  const windowNs = 10_000_000_000n;
  const span = h.totalNs > windowNs ? h.totalNs - windowNs : 1n;
  const BATCH = 50_000;
  for (let lo = 0; lo < n; lo += BATCH) {
    db.transaction(() => {
      for (let i = lo; i < Math.min(n, lo + BATCH); i++) {
        const seq = i + 1;
        const clipId = clipIdOf(seq);
        const start = h.clockStart + (span * BigInt(i)) / BigInt(n);
        const stop = start + windowNs;
        const created = h.epochOf(stop) + 2000;
        const spec: ClipSpec = { mode: 'pts', startPtsNs: start, stopPtsNs: stop, label: 'history', outDir: null, filename: null, maxWaitMs: 30_000 };
        const outcome: ClipOutcome = {
          path: join(outDir, `${clipId}.mp4`), actual_start_pts_ns: start, actual_stop_pts_ns: stop, lead_in_ms: 0, duration_ms: 10_000,
          frames: 150, bytes: 500_000, segments: [], gaps: [], partial: false, partial_reason: null, audio: false,
        };
        // As the job store writes them (exact PTS in the JSON).
        insert.run(seq, clipId, stringifyWireJson(spec), sqlInt(start), sqlInt(stop), outDir, stringifyWireJson(outcome), created, created + 30, created + 30_000);
      }
    })();
  }
}

/** Reads DATA/history.json (what buildHistory made), or null. */
export function readHistory(dataDir: string): HistoryResult | null {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'history.json'), 'utf8')) as HistoryResult;
  } catch {
    return null;
  }
}

/**
 * Puts a generated data directory back as it was built after a producer ran on it: removes the segments
 * it recorded (rows after the history's and their files), the gaps, the clip jobs it added and DATA/clips.
 * Returns false when the history's own rows are not intact (then rebuild).
 */
export function resetHistory(dataDir: string): boolean {
  const h = readHistory(dataDir);
  if (!h) return false;
  const db = openDatabase(join(dataDir, 'index.sqlite'));
  try {
    const segmentsDir = segmentsDirOf(dataDir);
    const extra = db.prepare<[number], { path: string }>('SELECT path FROM segments WHERE id > ?').all(h.segments);
    for (const r of extra) rmSync(join(segmentsDir, r.path), { force: true });
    db.transaction(() => {
      db.prepare('DELETE FROM fragments WHERE segment_id > ?').run(h.segments);
      db.prepare('DELETE FROM segments WHERE id > ?').run(h.segments);
      db.prepare('DELETE FROM gaps').run();
      db.prepare('DELETE FROM jobs WHERE seq > ?').run(h.jobs);
    })();
    rmSync(join(dataDir, 'clips'), { recursive: true, force: true });
    const n = db.prepare<[], { n: number; lo: number | null; hi: number | null }>('SELECT COUNT(*) AS n, MIN(id) AS lo, MAX(id) AS hi FROM segments').get()!;
    const sealed = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM segments WHERE sealed = 1').get()!.n;
    db.pragma('wal_checkpoint(TRUNCATE)');
    return n.n === h.segments && n.lo === 1 && n.hi === h.segments && sealed === h.segments;
  } finally {
    db.close();
  }
}
