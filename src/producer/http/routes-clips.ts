// Routes of the clip side of a camera: POST /clip, GET /clip/{id} (with ?wait_ms= long-polling),
// GET /clips, GET /clip/{id}/file (the MP4 with HTTP Range, so a browser can seek); and the App's
// GET /clips of every camera.
import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { DomainError } from '../../protocol/errors.js';
import { ClipAccepted, ClipAnswer, ClipBody, ClipParams, ClipsAnswer, ClipsQuery, ClipWaitQuery, WAIT_MS_CAP, type ClipJson } from '../../protocol/schemas.js';
import type { ClipEngine } from '../clips/engine.js';
import { clipJson } from '../clips/clip-json.js';
import { parseClipBody } from '../clips/clip-request.js';
import type { JobStatus } from '../store/job-store.js';
import type { Producer } from '../producer.js';
import { findJob, recentJobs, waitForJob } from '../clips/shared-jobs.js';
import { parseRange } from './byte-range.js';
import type { RouteDef } from './server.js';
import { CLIP_ID } from '../camera-names.js';
import { errors, type CameraRoute } from './camera-route.js';

function engineOf(p: Producer): ClipEngine {
  if (!p.clipEngine) throw new DomainError('SHUTTING_DOWN', `camera ${p.name} cuts no clips`);
  return p.clipEngine;
}

/** Where a page of clips ends: a clip's (created_ms, clip_id); `before` must name a known clip of `p`. */
export async function clipCursor(p: Producer, before: string): Promise<{ createdMs: number; clipId: string }> {
  const found = await findJob(engineOf(p), before).catch((e: unknown) => {
    if (e instanceof DomainError && e.code === 'NOT_FOUND') throw new DomainError('INVALID_FIELD', `before: unknown clip ${before.slice(0, 80)}`);
    throw e;
  });
  return { createdMs: found.job.createdMs, clipId: found.job.clipId };
}

/** A camera's newest clip jobs (in a cluster, whichever node holds them), newest first (optionally of one status, created before a cursor). */
export async function recentClips(p: Producer, limit: number, status?: JobStatus, before?: { createdMs: number; clipId: string }) {
  return (await recentJobs(engineOf(p), limit, status, before)).map(clipJson);
}

export const clipRoutes: CameraRoute[] = [
  {
    method: 'POST', url: '/clip',
    schema: { summary: 'Ask for a clip of a PTS or epoch window; answers at once with the job.', body: ClipBody, response: { 202: ClipAccepted, ...errors(400, 409, 413, 503) } },
    handler: async (c, p) => {
      const spec = parseClipBody(await c.body());
      const job = await engineOf(p).accept(spec);
      c.json(202, { ok: true, clip_id: job.clipId, status: job.status, clip: clipJson(job) });
    },
  },
  {
    method: 'GET', url: '/clip/:id',
    schema: { summary: `A clip job; ?wait_ms= holds the answer until it ends (at most ${WAIT_MS_CAP} ms).`, params: ClipParams, querystring: ClipWaitQuery, response: { 200: ClipAnswer, ...errors(400, 404) } },
    handler: async (c, p) => {
      // An unknown id is 404 whatever the query says.
      const found = await findJob(engineOf(p), c.params.id);
      const waitMs = (c.query.wait_ms as number | undefined) ?? 0;
      const job = await waitForJob(engineOf(p), c.params.id, Math.min(waitMs, WAIT_MS_CAP), c.signal, found);
      c.json(200, { ok: true, clip: clipJson(job), message: job.error });
    },
  },
  {
    method: 'GET', url: '/clips',
    schema: { summary: "The camera's newest clip jobs.", querystring: ClipsQuery, response: { 200: ClipsAnswer, ...errors(400) } },
    handler: async (c, p) => {
      const q = c.query as { limit?: number; status?: JobStatus; before?: string };
      const limit = q.limit ?? 100;
      const clips = await recentClips(p, limit + 1, q.status, q.before === undefined ? undefined : await clipCursor(p, q.before));
      const page = clips.slice(0, limit);
      c.json(200, { ok: true, clips: page, next_before: clips.length > limit ? page[page.length - 1].clip_id : null });
    },
  },
  {
    method: 'GET', url: '/clip/:id/file',
    schema: { summary: "The clip's MP4 (HTTP Range for seeking).", params: ClipParams, response: { ...errors(404, 416, 503) } },
    handler: async (c, p) => {
      const { job, elsewhere } = await findJob(engineOf(p), c.params.id);
      const path = job.outcome?.path;
      if (job.status !== 'done' || !path) throw new DomainError('NOT_FOUND', `clip_id: clip ${job.clipId} has no file (status ${job.status})`);
      // In a cluster, a clip written to another node's disk is that node's to serve (this one is asked only when it does not answer).
      if (elsewhere !== null && !path.startsWith('s3://')) throw new DomainError('NODE_UNAVAILABLE', `clip_id: the file of clip ${job.clipId} is on node ${elsewhere}, which does not answer`);
      // A clip published to the object store is read back from it by ranges.
      const stored = path.startsWith('s3://') ? await p.clipObjects?.open(path) ?? null : undefined;
      if (stored === null) throw new DomainError('NOT_FOUND', `clip_id: the object of clip ${job.clipId} is gone`);
      let size: number;
      try {
        size = stored ? stored.size : statSync(path).size;
      } catch {
        throw new DomainError('NOT_FOUND', `clip_id: the file of clip ${job.clipId} is gone`);
      }
      const range = parseRange(c.req.headers.range, size);
      const headers: Record<string, string | number> = {
        'content-type': 'video/mp4', 'accept-ranges': 'bytes', 'cache-control': 'no-cache',
        'content-disposition': `inline; filename="${path.split('/').pop()!.replace(/[^\w.-]/g, '_')}"`,
      };
      const res = c.raw();
      if (range) {
        res.writeHead(206, { ...headers, 'content-range': `bytes ${range.start}-${range.end}/${size}`, 'content-length': range.end - range.start + 1 });
      } else {
        res.writeHead(200, { ...headers, 'content-length': size });
      }
      if (c.req.method === 'HEAD') { res.end(); return; }
      const stream = stored ? Readable.from(stored.bytes(range?.start ?? 0, range?.end ?? size - 1))
        : createReadStream(path, range ? { start: range.start, end: range.end } : {});
      return new Promise<void>((resolve) => {
        stream.on('error', () => { res.destroy(); resolve(); });
        res.on('close', () => { stream.destroy(); resolve(); });
        stream.pipe(res);
      });
    },
  },
];

/**
 * GET /clips of every camera (or of ?camera=), newest first: pages across cameras by (created_ms,
 * clip_id); `before` is the last clip of the previous page.
 */
export function allClipsRoute(src: { cameras: ReadonlyMap<string, Producer>; defaultCamera: () => string; named: (name: string) => Producer }): RouteDef {
  return {
    method: 'GET', url: '/clips',
    schema: { summary: 'The newest clip jobs of every camera (or of ?camera=), newest first.', querystring: ClipsQuery, response: { 200: ClipsAnswer, ...errors(400, 404) } },
    handler: async (c) => {
      const q = c.query as { limit?: number; status?: JobStatus; camera?: string; before?: string };
      const limit = q.limit ?? 100;
      const cams: Array<[string, Producer]> = q.camera !== undefined ? [[q.camera, src.named(q.camera)]] : [...src.cameras];
      const owner = q.before === undefined ? undefined : src.cameras.get(CLIP_ID.exec(q.before)?.[1] ?? src.defaultCamera());
      if (q.before !== undefined && !owner) throw new DomainError('INVALID_FIELD', `before: unknown clip ${q.before}`);
      const cursor = q.before === undefined || !owner ? undefined : await clipCursor(owner, q.before);
      const each = await Promise.all(cams.map(async ([name, p]) => (await recentClips(p, limit + 1, q.status, cursor)).map((j) => ({ ...j, camera: name }))));
      const all: Array<ClipJson & { camera: string }> = each.flat();
      all.sort((a, b) => b.created_ms - a.created_ms || (a.clip_id < b.clip_id ? 1 : -1));
      const page = all.slice(0, limit);
      c.json(200, { ok: true, clips: page, next_before: all.length > limit ? page[page.length - 1].clip_id : null });
    },
  };
}
