// Routes of the recording side of a camera: GET /health, POST /force_rotate, GET /segments (spans and
// gaps), GET /live.mp4 (the running ffmpeg's fMP4 stream, for the motion pipeline and live viewing).
import { parsePts, PTS_MAX, ptsAdd, ptsMax } from '../../protocol/pts.js';
import { DomainError } from '../../protocol/errors.js';
import { ForceRotateAnswer, HealthPayload, RECENT_WINDOW_NS, SEGMENTS_PAGE, SegmentsAnswer, SegmentsQuery } from '../../protocol/schemas.js';
import { segmentJson, timeline } from '../segments/timeline.js';
import { errors, type CameraRoute } from './camera-route.js';

/** A /segments page cursor (`start_pts_ns:id`, the schema checked its shape). */
function parseCursor(cursor: string): { startPtsNs: bigint; id: number } {
  const [start, id] = cursor.split(':');
  const pts = parsePts(start);
  if (pts === null || !Number.isSafeInteger(Number(id))) throw new DomainError('INVALID_FIELD', 'cursor: not a cursor this producer gave');
  return { startPtsNs: pts, id: Number(id) };
}

export const recordingRoutes: CameraRoute[] = [
  {
    method: 'GET', url: '/health',
    schema: { summary: "The camera's state and the epoch↔PTS anchor (DESIGN §4).", response: { 200: HealthPayload } },
    handler: (c, p) => c.json(200, p.health()),
  },
  {
    method: 'POST', url: '/force_rotate',
    schema: { summary: 'Seal the open segment at the next fragment boundary.', response: { 200: ForceRotateAnswer, ...errors(400, 413, 503) } },
    handler: async (c, p) => {
      await c.body(); // a body, if any, was checked to be JSON
      const sealed = await p.forceRotate();
      c.json(200, { ok: true, sealed: sealed ? segmentJson(sealed) : null });
    },
  },
  {
    method: 'GET', url: '/segments',
    schema: { summary: 'Segments overlapping a PTS window, the gaps between them and the spans of continuous footage.', querystring: SegmentsQuery, response: { 200: SegmentsAnswer, ...errors(400) } },
    handler: (c, p) => {
      // The query walker read the PTS as bigints (exact past 2^53).
      const q = c.query as { from_pts_ns?: bigint; to_pts_ns?: bigint; limit?: number; cursor?: string };
      // No window: the recent footage (the day before the newest), not years of it.
      const recent = q.from_pts_ns === undefined && q.to_pts_ns === undefined;
      const from = recent ? ptsMax(0n, ptsAdd(p.index.stats().newestStopPtsNs ?? 0n, -RECENT_WINDOW_NS)) : q.from_pts_ns ?? 0n;
      const to = q.to_pts_ns ?? PTS_MAX;
      if (to <= from) throw new DomainError('INVALID_FIELD', 'to_pts_ns: must be greater than from_pts_ns');
      const before = q.cursor === undefined ? null : parseCursor(q.cursor);
      const { segments, gaps, more } = p.segmentsPage(from, to, q.limit ?? SEGMENTS_PAGE, before);
      const t = timeline(segments, gaps);
      const first = segments[0];
      c.json(200, {
        ok: true, segments: segments.map(segmentJson), gaps: t.gaps, spans: t.spans, truncated: more,
        next_cursor: more && first ? `${first.start_pts_ns}:${first.id}` : null, window: { from_pts_ns: from, to_pts_ns: to },
      });
    },
  },
  {
    method: 'GET', url: '/live.mp4',
    schema: { summary: "The running ffmpeg's fragmented MP4 from the next keyframe (x-segrec-pts-offset-ns maps its times to producer PTS).", response: { ...errors(503) } },
    handler: async (c, p) => {
      const deadline = Date.now() + 15_000;
      while ((!p.live || p.live.offsetNs === null) && Date.now() < deadline && !c.signal.aborted) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const live = p.live;
      if (!live || live.offsetNs === null) throw new DomainError('NOT_RECORDING', `live: ingest is ${p.ingest.state}; no stream to follow`);
      const res = c.raw();
      const offsetNs = live.offsetNs;
      res.writeHead(200, {
        'content-type': 'video/mp4',
        'cache-control': 'no-store',
        'x-segrec-pts-offset-ns': String(offsetNs),
        'x-segrec-run-id': String(live.runId),
      });
      // A HEAD has no body: answer the head now instead of holding an empty stream open.
      if (c.req.method === 'HEAD') { res.end(); return; }
      res.write(live.init.bytes);
      await new Promise<void>((resolve) => {
        // Fragments are cut every second within a GOP: a viewer starts at the next keyframe. A re-anchored
        // run (a timestamp jump) changes the offset: the stream ends, and the client reconnects to learn it.
        let started = false;
        const onFrag = (f: { runId: number; bytes: Buffer; offsetNs: bigint; keyframe: boolean }) => {
          if (f.runId !== live.runId) return;
          if (f.offsetNs !== offsetNs) { finish(); return; }
          started ||= f.keyframe;
          if (!started) return;
          // A client that cannot keep up is cut off rather than buffered without bound.
          if (res.writableLength > 16 * 1024 * 1024) { res.destroy(); return; }
          res.write(f.bytes);
        };
        const onEnd = (e: { runId: number }) => { if (e.runId === live.runId) finish(); };
        const finish = () => {
          p.events.off('live-fragment', onFrag);
          p.events.off('run-ended', onEnd);
          res.end();
          resolve();
        };
        p.events.on('live-fragment', onFrag);
        p.events.on('run-ended', onEnd);
        c.signal.addEventListener('abort', finish, { once: true });
      });
    },
  },
];
