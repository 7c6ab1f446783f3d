// GET /recording.mp4 benchmark (issue 12): a producer recording (built-in test camera) on a data
// directory with a few hours of 1080p30 history (test/helpers/history.ts: real segment files, the
// producer's layout), asked for 1-hour windows of it over HTTP. Prints, medians of interleaved runs:
// time to first byte of a 1-hour window (a new window each run, so its layout is made — once with its
// segments never read, once with their moofs read before; and the same window again, from the layout cache), the whole file's throughput against reading the same bytes from
// the segment files in this process (fs read, page cache warm for both) and against a plain static
// server in the same process streaming those files over HTTP (createReadStream → response, what serving
// the files costs), and a seek (a 1 MiB Range at a random offset).
//   npx tsx bench/recording.ts [--runs 15] [--hours 3]
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { fmt, median } from './lib.js';
import { buildHistory, readHistory } from '../test/helpers/history.js';
import { startProducer } from '../src/producer/app.js';
import { createLogger } from '../src/common/log.js';
import { segmentAbsPath } from '../src/producer/segments/paths.js';
import { forgetSegmentReads } from '../src/producer/clips/cut-layout.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg('--runs', 15);
const hours = arg('--hours', 3);
const root = join(process.cwd(), '.tmp', 'bench-recording');
const dataDir = join(root, `data-${hours}h`);

let hist = readHistory(dataDir);
if (!hist) {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  hist = await buildHistory({ dataDir, days: hours / 24, width: 1920, height: 1080, fps: 30, minSources: 6, log: (l) => console.log(`  history: ${l}`) });
}
console.log(`history: ${hours} h, ${hist.segments} segments of ${hist.segmentSeconds} s, ${hist.width}x${hist.height}@${hist.fps}, ${(hist.logicalBytes / 2 ** 20).toFixed(0)} MiB`);

const h = await startProducer({
  dataDir, port: 0, source: 'testsrc', segmentSeconds: 10,
  testsrc: { width: 320, height: 180, fps: 15, gopSeconds: 1, motionPeriodS: 0, motionDurationS: 0, motionOffsetS: 0 },
  logger: createLogger({ level: 'error', write: () => undefined }),
});

interface Fetched { ttfbMs: number; totalMs: number; bytes: number; status: number; etag: string }

/** One GET, timing the first body byte and the last. */
function fetchTimed(path: string, headers: Record<string, string> = {}, base = h.url): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let ttfb = -1;
    let bytes = 0;
    const req = get(`${base}${path}`, { headers }, (res) => {
      res.on('data', (b: Buffer) => {
        if (ttfb < 0) ttfb = performance.now() - t0;
        bytes += b.length;
      });
      res.on('end', () => resolve({ ttfbMs: ttfb, totalMs: performance.now() - t0, bytes, status: res.statusCode ?? 0, etag: String(res.headers.etag) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Reads the window's segment files (the bytes a view copies from) the plain way: sequential 1 MiB reads. */
async function readFiles(paths: string[]): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  let bytes = 0;
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const p of paths) {
    const f = await open(p, 'r');
    try {
      for (;;) {
        const { bytesRead } = await f.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        bytes += bytesRead;
      }
    } finally {
      await f.close();
    }
  }
  return { ms: performance.now() - t0, bytes };
}

/** A plain static server: GET streams the current file list, one file after another. */
let staticFiles: string[] = [];
const staticServer: Server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'video/mp4' });
  res.setMaxListeners(0); // one pipeline per file into the same response
  void (async () => {
    for (const f of staticFiles) await pipeline(createReadStream(f, { highWaterMark: 1 << 20 }), res, { end: false });
    res.end();
  })();
});
await new Promise<void>((r) => staticServer.listen(0, '127.0.0.1', r));
const staticUrl = `http://127.0.0.1:${(staticServer.address() as { port: number }).port}/`;

const HOUR_NS = 3600n * 1_000_000_000n;
const histStart = BigInt(hist.startPtsNs);
const segmentsDir = join(dataDir, 'segments');
const cold: number[] = [];
const coldUnread: number[] = [];
const cold10: number[] = [];
const warm: number[] = [];
const mbps: number[] = [];
const fileMbps: number[] = [];
const staticMbps: number[] = [];
const seek: number[] = [];
let size = 0;
let frames = '';
for (let i = 0; i < runs; i++) {
  // A different hour each run (a frame apart), inside the history.
  const start = histStart + 60_000_000_000n + BigInt(i) * 33_333_333n;
  // Its segments never read (the caches of inits and moofs emptied; the page cache stays warm).
  forgetSegmentReads();
  const unread = await fetchTimed(`/recording.mp4?start_pts_ns=${start + 11_111_111n}&stop_pts_ns=${start + 11_111_111n + HOUR_NS}`);
  if (unread.status !== 200) throw new Error(`status ${unread.status}`);
  coldUnread.push(unread.ttfbMs);
  const q = `/recording.mp4?start_pts_ns=${start}&stop_pts_ns=${start + HOUR_NS}`;
  const a = await fetchTimed(q);
  if (a.status !== 200) throw new Error(`status ${a.status}`);
  cold.push(a.ttfbMs);
  // A 10-minute window (what the web page asks for), elsewhere in the history.
  const s10 = start + HOUR_NS / 2n + 7_000_000_000n;
  const c10 = await fetchTimed(`/recording.mp4?start_pts_ns=${s10}&stop_pts_ns=${s10 + HOUR_NS / 6n}`);
  if (c10.status !== 200) throw new Error(`status ${c10.status}`);
  cold10.push(c10.ttfbMs);
  const b = await fetchTimed(q);
  warm.push(b.ttfbMs);
  mbps.push(b.bytes / 2 ** 20 / (b.totalMs / 1000));
  size = b.bytes;
  const rows = h.producer.index.overlapping(start, start + HOUR_NS).map((r) => segmentAbsPath(segmentsDir, r.path));
  const f = await readFiles(rows);
  fileMbps.push(f.bytes / 2 ** 20 / (f.ms / 1000));
  staticFiles = rows;
  const st = await fetchTimed('', {}, staticUrl);
  staticMbps.push(st.bytes / 2 ** 20 / (st.totalMs / 1000));
  const at = Math.floor(Math.random() * (size - 2 ** 20));
  const s = await fetchTimed(q, { range: `bytes=${at}-${at + 2 ** 20 - 1}`, 'if-range': b.etag });
  if (s.status !== 206 || s.bytes !== 2 ** 20) throw new Error(`range: ${s.status} ${s.bytes}`);
  seek.push(s.totalMs);
  if (i === 0) {
    const head = await new Promise<string>((resolve) => get(`${h.url}${q}`, { method: 'HEAD' }, (res) => { res.resume(); resolve(String(res.headers['x-segrec-frames'])); }));
    frames = head;
  }
}
await h.close();
staticServer.close();

console.log(`1-hour window: ${(size / 2 ** 20).toFixed(1)} MiB, ${frames} frames; ${runs} runs, medians`);
console.log(`  time to first byte, new window, segments never read: ${fmt(median(coldUnread))} ms   (min ${fmt(Math.min(...coldUnread))}, max ${fmt(Math.max(...coldUnread))})`);
console.log(`  time to first byte, new window (layout made):   ${fmt(median(cold))} ms   (min ${fmt(Math.min(...cold))}, max ${fmt(Math.max(...cold))})`);
console.log(`  time to first byte, new 10-minute window:        ${fmt(median(cold10))} ms`);
console.log(`  time to first byte, same window (cached layout): ${fmt(median(warm))} ms`);
console.log(`  whole file over HTTP:                            ${median(mbps).toFixed(0)} MiB/s`);
console.log(`  reading the segment files (fs, 1 MiB reads):     ${median(fileMbps).toFixed(0)} MiB/s   → HTTP / files ${(median(mbps) / median(fileMbps)).toFixed(2)}×`);
console.log(`  the same files by a static server (stream → response): ${median(staticMbps).toFixed(0)} MiB/s   → HTTP / static ${(median(mbps) / median(staticMbps)).toFixed(2)}×`);
console.log(`  seek: a 1 MiB Range at a random offset:          ${fmt(median(seek))} ms`);
