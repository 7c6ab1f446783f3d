// GET /snapshot.jpg (as /cameras/{camera}/snapshot.jpg, and bare for the default camera): the camera's
// newest keyframe as a JPEG at most 640 px wide, for thumbnails. The picture comes from the camera's
// SnapshotCache (snapshot.ts: which keyframe, caching, one ffmpeg run shared by concurrent requests).
// It carries an ETag (If-None-Match → 304) and the frame's time in x-segrec-frame-pts-ns /
// x-segrec-frame-epoch-ms. Nothing recorded yet: 503 {"ok": false, "code": "NO_FOOTAGE", "message"}.
import { SnapshotError } from '../snapshot.js';
import { errors, type CameraRoute } from './camera-route.js';
import { HttpError } from './errors.js';
import { etagMatches } from './byte-range.js';

export const snapshotRoutes: CameraRoute[] = [
  {
    method: 'GET', url: '/snapshot.jpg',
    schema: {
      summary: "The camera's newest keyframe as a JPEG at most 640 px wide (cached: made again at most every ~5 s, when a newer keyframe exists; ETag).",
      response: { ...errors(500, 503) },
    },
    handler: async (c, p) => {
      let snap;
      try {
        snap = await p.snapshots.get();
      } catch (e) {
        if (!(e instanceof SnapshotError)) throw e;
        // No footage yet is temporary (the camera is starting): 503, with a hint when to ask again.
        if (e.code === 'NO_FOOTAGE') throw new HttpError(503, 'NO_FOOTAGE', e.message, { 'retry-after': '2' });
        throw new HttpError(500, 'INTERNAL', e.message);
      }
      const headers: Record<string, string | number> = {
        'content-type': 'image/jpeg',
        'cache-control': 'no-cache',
        etag: snap.etag,
        'last-modified': new Date(snap.madeAtMs).toUTCString(),
        'x-segrec-frame-pts-ns': String(snap.ptsNs),
        'x-segrec-frame-epoch-ms': String(Math.round(snap.epochMs)),
        'x-content-type-options': 'nosniff',
      };
      const res = c.raw();
      if (etagMatches(c.req.headers['if-none-match'], snap.etag)) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      res.writeHead(200, { ...headers, 'content-length': snap.jpeg.length });
      res.end(c.req.method === 'HEAD' ? undefined : snap.jpeg);
    },
  },
];
