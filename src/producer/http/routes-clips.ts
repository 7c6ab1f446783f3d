// Routes of the clip side: POST /clip, GET /clip/{id} (with ?wait_ms= long-polling), GET /clips,
// GET /clip/{id}/file (the MP4 with HTTP Range, so a browser can seek).
import { createReadStream, statSync } from 'node:fs';
import type { ClipEngine } from '../clips/engine.js';
import { clipJson } from '../clips/engine.js';
import { parseClipBody } from '../clips/clip-request.js';
import { HttpError, type Router } from './router.js';
import { queryInt } from './validate.js';
import { CLIP_ID } from '../camera-names.js';

const MAX_LONG_POLL_MS = 30_000;

function jobOr404(engine: ClipEngine, id: string) {
  if (!CLIP_ID.test(id)) throw new HttpError(404, `clip_id: unknown clip ${JSON.stringify(id.slice(0, 80))}`);
  const job = engine.get(id);
  if (!job) throw new HttpError(404, `clip_id: unknown clip ${id}`);
  return job;
}

/** Parses a single `bytes=a-b` range against a file size; null when absent; throws 416 when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // multi-range or malformed: serve the whole file
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) {
    throw new HttpError(416, `range: not satisfiable for ${size} bytes`, { 'content-range': `bytes */${size}` });
  }
  return { start, end };
}

export function addClipRoutes(router: Router, engine: ClipEngine): void {
  router.add('POST', '/clip', async (c) => {
    const spec = parseClipBody(await c.body());
    const job = engine.submit(spec);
    c.json(202, { ok: true, clip_id: job.clipId, status: job.status, clip: clipJson(job) });
  });

  router.add('GET', '/clip/:id', async (c) => {
    const id = c.params.id;
    jobOr404(engine, id);
    const waitMs = queryInt(c.url.searchParams, 'wait_ms', 0, 3_600_000) ?? 0;
    await engine.waitTerminal(id, Math.min(waitMs, MAX_LONG_POLL_MS), c.signal);
    const job = engine.get(id)!;
    c.json(200, { ok: true, clip: clipJson(job), message: job.error });
  });

  router.add('GET', '/clips', (c) => {
    const q = c.url.searchParams;
    const limit = queryInt(q, 'limit', 1, 1000) ?? 100;
    const status = q.get('status');
    if (status !== null && !['queued', 'running', 'done', 'error'].includes(status)) {
      throw new HttpError(400, 'status: must be queued, running, done or error');
    }
    const jobs = engine.store.recent(limit, (status ?? undefined) as 'queued' | undefined);
    c.json(200, { ok: true, clips: jobs.map(clipJson) });
  });

  router.add('GET', '/clip/:id/file', (c) => {
    const job = jobOr404(engine, c.params.id);
    const path = job.outcome?.path;
    if (job.status !== 'done' || !path) throw new HttpError(404, `clip_id: clip ${job.clipId} has no file (status ${job.status})`);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw new HttpError(404, `clip_id: the file of clip ${job.clipId} is gone`);
    }
    const range = parseRange(c.req.headers.range, size);
    const headers: Record<string, string | number> = {
      'content-type': 'video/mp4', 'accept-ranges': 'bytes', 'cache-control': 'no-cache',
      'content-disposition': `inline; filename="${path.split('/').pop()!.replace(/[^\w.-]/g, '_')}"`,
    };
    const { res } = c;
    if (range) {
      res.writeHead(206, { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': range.end - range.start + 1 });
    } else {
      res.writeHead(200, { ...headers, 'content-length': size });
    }
    if (c.req.method === 'HEAD') { res.end(); return; }
    const stream = createReadStream(path, range ? { start: range.start, end: range.end } : {});
    return new Promise<void>((resolve) => {
      stream.on('error', () => { res.destroy(); resolve(); });
      res.on('close', () => { stream.destroy(); resolve(); });
      stream.pipe(res);
    });
  });
}
