// GET /events: server-sent events for people and pages watching the recorder live —
// `segment` (sealed), `segment-removed` (retention), `gap`, `clip` (a job finished), and a `health`
// heartbeat every few seconds. Slow clients are cut off instead of buffered without bound.
import { stringifyWireJson } from '../../protocol/wire-json.js';
import { segmentJson } from '../segments/timeline.js';
import type { CameraRoute } from './camera-route.js';

const HEARTBEAT_MS = 5000;

export const eventRoutes: CameraRoute[] = [{
  method: 'GET', url: '/events',
  schema: { summary: 'Server-sent events: segment, segment-removed, gap, clip, and a health heartbeat.' },
  handler: (c, p) => {
    const res = c.raw();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // A HEAD has no body: answer the head now instead of holding an empty stream open forever.
    if (c.req.method === 'HEAD') { res.end(); return; }
    const send = (event: string, data: unknown) => {
      if (res.writableLength > 1024 * 1024) { res.destroy(); return; }
      res.write(`event: ${event}\ndata: ${stringifyWireJson(data)}\n\n`);
    };
    res.write(': segrec events\nretry: 2000\n\n');
    const onSealed = (row: Parameters<typeof segmentJson>[0]) => send('segment', segmentJson(row));
    const onRemoved = (row: Parameters<typeof segmentJson>[0]) => send('segment-removed', { id: row.id, path: row.path });
    const onGap = (g: { startNs: bigint; stopNs: bigint; reason: string }) =>
      send('gap', { start_pts_ns: g.startNs, stop_pts_ns: g.stopNs, reason: g.reason });
    const onClip = (clip: unknown) => send('clip', clip);
    p.events.on('segment-sealed', onSealed);
    p.events.on('segment-removed', onRemoved);
    p.events.on('gap', onGap);
    p.events.on('clip-finished', onClip);
    send('health', p.health());
    const beat = setInterval(() => {
      try {
        send('health', p.health());
      } catch {
        // The index is unavailable for a moment (e.g. disk full): skip this beat, never crash.
      }
    }, HEARTBEAT_MS);
    return new Promise<void>((resolve) => {
      c.signal.addEventListener('abort', () => {
        clearInterval(beat);
        p.events.off('segment-sealed', onSealed);
        p.events.off('segment-removed', onRemoved);
        p.events.off('gap', onGap);
        p.events.off('clip-finished', onClip);
        res.end();
        resolve();
      }, { once: true });
    });
  },
}];
