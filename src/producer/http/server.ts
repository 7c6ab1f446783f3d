// The producer's HTTP server: dispatch through the router, the optional bearer token (every route but
// the public ones — /health and the web page's static files — compared in constant time), and turning every failure into {"ok": false, "message"} with a
// fitting status, never a stack trace and never a crash.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../common/log.js';
import { HttpError, readJsonBody, sendJson, type Ctx, type RouteTable } from './router.js';

export interface HttpServerOptions {
  router: RouteTable;
  authToken: string | null;
  log: Logger;
  /** Whether a pathname is reachable without the token (health, static files that hold no data). */
  isPublic: (path: string) => boolean;
  onRequestDone?: (info: { method: string; route: string; status: number; ms: number }) => void;
}

/**
 * The bearer token from the Authorization header, or — for GET requests, where a <video src> or an
 * EventSource cannot set headers — from the `access_token` query parameter.
 */
function presentedToken(req: IncomingMessage, url: URL): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (m) return m[1].trim();
  if (req.method === 'GET' || req.method === 'HEAD') return url.searchParams.get('access_token');
  return null;
}

function tokenMatches(presented: string | null, token: string): boolean {
  if (presented === null) return false;
  // Hash both sides so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export function createHttpServer(o: HttpServerOptions): Server {
  // Node would answer a missing Host (400) and an unknown Expect (417) itself, with no JSON body: we do.
  const server = createServer({ requireHostHeader: false }, (req, res) => {
    void handle(o, req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    sendJson(res, 417, { ok: false, message: `expect: only 100-continue is supported (got ${JSON.stringify(String(req.headers.expect).slice(0, 80))})` });
  });
  server.headersTimeout = 10_000;
  // Receiving a whole request (headers and body) may take 30 s; answers are not bounded by this, so
  // long-polls and streams are unaffected, while a client stalling mid-body is dropped.
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) { socket.destroy(); return; }
    const [status, reason, message] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'headers: request line and headers too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'request: headers not received in time']
        : [400, 'Bad Request', 'request: malformed HTTP'];
    const body = JSON.stringify({ ok: false, message });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;
}

/**
 * A page on another site that the user's browser visits could otherwise POST to a producer on loopback
 * (no token needed there by default): browsers mark such requests with Origin / Sec-Fetch-Site, so a
 * write whose origin is not this server is refused. Non-browser clients (the Recorder, curl) send neither.
 */
function refuseCrossSiteWrites(req: IncomingMessage, method: string): void {
  if (method === 'GET' || method === 'HEAD') return;
  if (req.headers['sec-fetch-site'] === 'cross-site') throw new HttpError(403, 'origin: cross-site requests are refused');
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | null = null;
  try { host = new URL(origin).host; } catch { /* "null" or garbage */ }
  if (host === null || host !== req.headers.host) throw new HttpError(403, 'origin: cross-site requests are refused');
}

async function handle(o: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const method = req.method ?? 'GET';
  let url: URL;
  try {
    // An origin-form target is a path: `//x/health` is the path //x/health, not host x (which
    // `new URL(target, base)` would make of it, routing it to /health or to nowhere).
    const target = req.url ?? '/';
    url = new URL(target.startsWith('/') ? `http://localhost${target}` : target, 'http://localhost');
  } catch {
    sendJson(res, 400, { ok: false, message: 'url: malformed request target' });
    return;
  }
  const ac = new AbortController();
  res.on('close', () => ac.abort());
  let route = 'unmatched';
  try {
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
      throw new HttpError(400, 'host: an HTTP/1.1 request needs a Host header', { connection: 'close' });
    }
    refuseCrossSiteWrites(req, method);
    if (o.authToken && !o.isPublic(url.pathname) && !tokenMatches(presentedToken(req, url), o.authToken)) {
      throw new HttpError(401, 'authorization: a valid bearer token is required', { 'www-authenticate': 'Bearer' });
    }
    const { handler, params } = o.router.match(method, url.pathname);
    route = url.pathname.replace(/\/clip\/[^/]+/, '/clip/:id');
    let bodyPromise: Promise<unknown> | null = null;
    const ctx: Ctx = {
      req, res, url, params, signal: ac.signal,
      body: () => (bodyPromise ??= readJsonBody(req)),
      json: (status, payload, headers) => sendJson(res, status, payload, headers),
    };
    await handler(ctx);
    if (!res.headersSent && !res.writableEnded) sendJson(res, 204, {});
  } catch (e) {
    if (e instanceof HttpError) {
      sendJson(res, e.status, { ok: false, message: e.message }, e.headers);
    } else {
      o.log.error('request failed', { method, path: url.pathname, error: (e as Error).message });
      sendJson(res, 500, { ok: false, message: `internal error: ${(e as Error).message}` });
    }
    // Drain an unread body so the connection stays usable.
    if (!req.complete) req.resume();
  } finally {
    o.onRequestDone?.({ method, route, status: res.statusCode, ms: performance.now() - started });
  }
}
