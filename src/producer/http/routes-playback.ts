// GET|HEAD /recording.mp4 (as /cameras/{camera}/recording.mp4, and bare for the default camera): any
// window of recorded footage (at most an hour) as a frame-exact MP4 built on the fly from the segments
// (clips/recording-view.ts) — nothing is written to disk. Content-Length, Accept-Ranges, a strong ETag,
// Range / If-Range / If-None-Match, so a browser plays and seeks in it; what the cut found is said in
// headers (the first and last presented PTS, the gaps closed up, frames, partial), HEAD included.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringifyWireJson } from '../../protocol/wire-json.js';
import { RecordingQuery } from '../../protocol/schemas.js';
import { parseClipWindow } from '../clips/clip-request.js';
import type { RecordingViewInfo } from '../clips/recording-view.js';
import type { Producer } from '../producer.js';
import { DomainError } from '../../protocol/errors.js';
import { etagMatches, parseRange, rangeApplies } from './byte-range.js';
import { errors, type CameraRoute } from './camera-route.js';

/** Gaps listed in X-Segrec-Gaps at most (the count is always given): a header stays small. */
const MAX_GAPS_IN_HEADER = 50;

const headerOf = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

function viewHeaders(v: RecordingViewInfo): Record<string, string | number> {
  return {
    'content-type': 'video/mp4',
    'accept-ranges': 'bytes',
    'cache-control': 'no-cache',
    etag: v.etag,
    'x-content-type-options': 'nosniff',
    'x-segrec-actual-start-pts-ns': String(v.actualStartPtsNs),
    'x-segrec-actual-stop-pts-ns': String(v.actualStopPtsNs),
    'x-segrec-frames': v.frames,
    'x-segrec-partial': String(v.partial),
    'x-segrec-gap-count': v.gaps.length,
    'x-segrec-gaps': stringifyWireJson(v.gaps.slice(0, MAX_GAPS_IN_HEADER).map((g) => ({ start_pts_ns: g.startPtsNs, stop_pts_ns: g.stopPtsNs }))),
  };
}

export const playbackRoutes: CameraRoute[] = [
  {
    method: 'GET', url: '/recording.mp4',
    schema: {
      summary: 'Recorded footage of a window (PTS or epoch ms, at most an hour) as a frame-exact MP4 made on the fly: Range, If-Range and a strong ETag for seeking; X-Segrec-* headers say what it holds.',
      querystring: RecordingQuery, response: { ...errors(400, 409, 416) },
    },
    handler: async (c, p: Producer) => {
      const q = c.query as { start_pts_ns?: bigint; stop_pts_ns?: bigint; start_epoch_ms?: number; stop_epoch_ms?: number; download?: string };
      const w = parseClipWindow({ startPts: q.start_pts_ns, stopPts: q.stop_pts_ns, startEpoch: q.start_epoch_ms, stopEpoch: q.stop_epoch_ms });
      if (!p.clipEngine) throw new DomainError('SHUTTING_DOWN', `camera ${p.name} is shutting down`);
      const { startPtsNs, stopPtsNs } = p.clipEngine.resolveWindow(w);
      const view = await p.recordingViews.open(startPtsNs, stopPtsNs);
      try {
        const headers = viewHeaders(view);
        if (q.download === '1' || q.download === 'true') {
          headers['content-disposition'] = `attachment; filename="${p.name}-${startPtsNs}-${stopPtsNs}.mp4"`;
        }
        // Decided before the response is taken over: a 416 is still an error answer of the HTTP layer.
        const range = rangeApplies(headerOf(c.req.headers['if-range']), view.etag) ? parseRange(c.req.headers.range, view.size) : null;
        const res = c.raw();
        if (etagMatches(c.req.headers['if-none-match'], view.etag)) {
          res.writeHead(304, headers);
          res.end();
          return;
        }
        const start = range?.start ?? 0;
        const end = range?.end ?? view.size - 1;
        if (range) headers['content-range'] = `bytes ${start}-${end}/${view.size}`;
        res.writeHead(range ? 206 : 200, { ...headers, 'content-length': end - start + 1 });
        if (c.req.method === 'HEAD') { res.end(); return; }
        // A client that goes away ends the pipeline (its error is the abort, not ours to report).
        await pipeline(Readable.from(view.bytes(start, end), { objectMode: false }), res).catch((e: unknown) => {
          if (!res.destroyed) res.destroy(e as Error);
        });
      } finally {
        view.release();
      }
    },
  },
];
