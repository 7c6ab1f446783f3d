// The producer's HTTP layer on fastify: request targets normalised like a browser would (dot segments,
// duplicate and trailing slashes), JSON bodies with a size limit, requests validated by the protocol's
// schemas (src/protocol/schemas.ts), the optional bearer token (every route but the public ones,
// compared in constant time), browsers' cross-site writes refused, and every failure answered as
// {"ok": false, "message", "code"} with a fitting status — never a stack trace, never a crash.
// Routes are added through `route()` so that a known path asked with another method is a 405 with Allow.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifySchema } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from '../../common/log.js';
import { DomainError, type ErrorCode } from '../../protocol/errors.js';
import { ErrorBody } from '../../protocol/schemas.js';
import { parseBody, stringifyWireJson } from '../../protocol/wire-json.js';
import { HttpError, MAX_BODY_BYTES, sendJson, statusOf } from './errors.js';
import { bodyValidator, QUERY_ERROR, queryValidator, validationMessage } from './validate.js';

export interface HttpAppOptions {
  authToken: string | null;
  log: Logger;
  /** Whether a pathname is reachable without the token (health, static files that hold no data). */
  isPublic: (path: string) => boolean;
  /** Every answer's status (for /metrics). */
  onStatus?: (status: number) => void;
}

/** What a handler gets: the request and raw response, params, query, body, and an abort signal. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  /** The query, validated and converted by the route's schema (first value of a repeated key). */
  query: Record<string, unknown>;
  /** The JSON body, validated by the route's schema (undefined when empty). */
  body(): Promise<unknown>;
  json(status: number, payload: unknown, headers?: Record<string, string>): void;
  /** Takes over the raw response (streams, files): fastify sends nothing more. */
  raw(): ServerResponse;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

export type Handler = (c: Ctx) => unknown;

export interface RouteDef {
  method: 'GET' | 'POST';
  url: string;
  schema?: FastifySchema & { summary?: string; description?: string; tags?: string[]; hide?: boolean };
  handler: Handler;
}

const signals = new WeakMap<IncomingMessage, AbortController>();
const badTargets = new WeakSet<IncomingMessage>();
/** Registered patterns, per app, for 405 answers. */
const patterns = new WeakMap<FastifyInstance, Array<{ method: string; parts: string[] }>>();

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

/**
 * A page on another site that the user's browser visits could otherwise POST to a producer on loopback
 * (no token needed there by default): browsers mark such requests with Origin / Sec-Fetch-Site, so a
 * write whose origin is not this server is refused. Non-browser clients (the Recorder, curl) send neither.
 */
function refuseCrossSiteWrites(req: IncomingMessage, method: string): void {
  if (method === 'GET' || method === 'HEAD') return;
  if (req.headers['sec-fetch-site'] === 'cross-site') throw new HttpError(403, 'FORBIDDEN_ORIGIN', 'origin: cross-site requests are refused');
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string | null = null;
  try { host = new URL(origin).host; } catch { /* "null" or garbage */ }
  if (host === null || host !== req.headers.host) throw new HttpError(403, 'FORBIDDEN_ORIGIN', 'origin: cross-site requests are refused');
}

/** The request target as a URL. An origin-form target is a path: `//x/health` is the path //x/health, not host x. */
function targetUrl(target: string): URL {
  return new URL(target.startsWith('/') ? `http://localhost${target}` : target, 'http://localhost');
}

/** A node server with the limits the producer needs (fastify serves its requests). */
function nodeServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  // Node would answer a missing Host (400) and an unknown Expect (417) itself, with no JSON body: we do.
  const server = createServer({ requireHostHeader: false }, handler);
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    sendJson(res, 417, { ok: false, code: 'EXPECTATION_FAILED', message: `expect: only 100-continue is supported (got ${JSON.stringify(String(req.headers.expect).slice(0, 80))})` });
  });
  server.headersTimeout = 10_000;
  // Receiving a whole request (headers and body) may take 30 s; answers are not bounded by this, so
  // long-polls and streams are unaffected, while a client stalling mid-body is dropped.
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  return server;
}

function clientError(err: NodeJS.ErrnoException, socket: import('node:net').Socket): void {
  if (!socket.writable) { socket.destroy(); return; }
  const [status, reason, code, message] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'headers: request line and headers too large']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'request: headers not received in time']
      : [400, 'Bad Request', 'BAD_REQUEST', 'request: malformed HTTP'];
  const body = JSON.stringify({ ok: false, message, code });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
}

/** First value of each key, like URLSearchParams.get; a prototype-free object. */
function parseQuery(str: string): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of new URLSearchParams(str)) if (!(k in out)) out[k] = v;
  return out;
}

export async function createHttpApp(o: HttpAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    serverFactory: nodeServer,
    clientErrorHandler: clientError,
    bodyLimit: MAX_BODY_BYTES,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 16_384, querystringParser: parseQuery },
    exposeHeadRoutes: true,
    return503OnClosing: false,
    // Dot segments resolved as a browser would; a target URL cannot parse is answered by the hook below.
    rewriteUrl(req) {
      const target = req.url ?? '/';
      try {
        const u = targetUrl(target);
        return u.pathname + u.search;
      } catch {
        badTargets.add(req);
        return '/';
      }
    },
    frameworkErrors(error, req, reply) {
      const r = reply as unknown as FastifyReply;
      // A path parameter that does not percent-decode names no route.
      if (error.code === 'FST_ERR_BAD_URL') {
        void r.code(404).send({ ok: false, code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
        return;
      }
      void r.code(400).send({ ok: false, code: 'BAD_REQUEST', message: `request: ${error.message}` });
    },
  });
  patterns.set(app, []);

  // Bodies: JSON whatever the declared type (as clients of the seed send it), empty = no body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    const text = body.toString('utf8');
    if (text.trim() === '') { done(null, undefined); return; }
    try {
      done(null, parseBody(text));
    } catch (e) {
      done(new HttpError(400, 'INVALID_BODY', `body: malformed JSON (${(e as Error).message})`), undefined);
    }
  });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyValidator(schema) : httpPart === 'querystring' ? queryValidator(schema) : () => true));
  // Answers carry PTS as bigints past 2^53: written with all their digits (protocol/wire-json.ts).
  app.setSerializerCompiler(() => (data) => stringifyWireJson(data));
  app.setReplySerializer((payload) => stringifyWireJson(payload));
  app.setSchemaErrorFormatter((errors, dataVar) => new HttpError(400, 'INVALID_FIELD', validationMessage(errors, dataVar)));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'segment-recorder producer', version: '2', description: 'Records cameras into MP4 segments and cuts exact clips. Every per-camera route also lives under /cameras/{camera}/…; the bare routes address the default camera.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  app.addSchema(ErrorBody);

  app.addHook('onRequest', async (req, reply) => {
    const raw = req.raw;
    const ac = new AbortController();
    signals.set(raw, ac);
    // The client went away before its answer ended (a long-poll, a stream): what serves it stops. An answer
    // that ended needs no abort (an abort builds a DOMException with its stack, for every request).
    reply.raw.on('close', () => { if (!reply.raw.writableFinished) ac.abort(); });
    reply.raw.on('finish', () => o.onStatus?.(reply.raw.statusCode));
    if (badTargets.has(raw)) throw new HttpError(400, 'BAD_REQUEST', 'url: malformed request target');
    // A body is JSON whatever type it declares (clients of the seed send none, or text/plain): the one
    // parser below reads it, rather than fastify refusing unknown or malformed types with a 415.
    raw.headers['content-type'] = 'application/json';
    if (raw.httpVersionMajor === 1 && raw.httpVersionMinor === 1 && raw.headers.host === undefined) {
      throw new HttpError(400, 'BAD_REQUEST', 'host: an HTTP/1.1 request needs a Host header', { connection: 'close' });
    }
    refuseCrossSiteWrites(raw, req.method);
    if (o.authToken) {
      const url = targetUrl(raw.url ?? '/');
      if (!o.isPublic(url.pathname) && !tokenMatches(presentedToken(raw, url), o.authToken)) {
        throw new HttpError(401, 'UNAUTHORIZED', 'authorization: a valid bearer token is required', { 'www-authenticate': 'Bearer' });
      }
    }
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    const path = (req.raw.url ?? '/').split('?')[0];
    const segs = path.split('/').filter(Boolean);
    // A known path asked with another method (a parameter must percent-decode to count).
    const allow = [...new Set((patterns.get(app) ?? []).filter((r) => r.parts.length === segs.length && r.parts.every((p, i) => {
      if (!p.startsWith(':')) return p === segs[i];
      try { decodeURIComponent(segs[i]); return true; } catch { return false; }
    })).flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))];
    if (allow.length > 0) {
      void reply.code(405).header('allow', allow.join(', ')).send({ ok: false, code: 'METHOD_NOT_ALLOWED', message: `method ${req.method} not allowed on ${path}` });
      return;
    }
    void reply.code(404).send({ ok: false, code: 'NOT_FOUND', message: `no route ${req.method} ${path}` });
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, code, message, headers } = describeError(err);
    if (status >= 500 && code === 'INTERNAL') o.log.error('request failed', { method: req.method, path: (req.raw.url ?? '').split('?')[0], error: message });
    // Drain an unread body so the connection stays usable.
    if (!req.raw.complete) req.raw.resume();
    if (reply.sent || reply.raw.headersSent) { reply.raw.end(); return; }
    void reply.code(status).headers(headers).send({ ok: false, code, message });
  });
  return app;
}

/** What an error answers: its status, code, message and extra headers. */
function describeError(err: unknown): { status: number; code: ErrorCode; message: string; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message, headers: err.headers };
  if (err instanceof DomainError) return { status: statusOf(err.code), code: err.code, message: err.message, headers: {} };
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, code: 'BODY_TOO_LARGE', message: `body: larger than ${MAX_BODY_BYTES} bytes`, headers: { connection: 'close' } };
  if (e.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return { status: 400, code: 'INVALID_BODY', message: 'body: length does not match content-length', headers: { connection: 'close' } };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, code: e.statusCode === 413 ? 'BODY_TOO_LARGE' : 'BAD_REQUEST', message: `request: ${e.message ?? 'refused'}`, headers: { connection: 'close' } };
  }
  return { status: 500, code: 'INTERNAL', message: `internal error: ${e.message ?? String(err)}`, headers: {} };
}

/** Adds a route (HEAD comes with GET); the pattern is remembered for 405 answers. */
export function route(app: FastifyInstance, def: RouteDef): void {
  patterns.get(app)?.push({ method: def.method, parts: def.url.split('/').filter(Boolean) });
  app.route({
    method: def.method,
    url: def.url,
    schema: def.schema,
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      let rawTaken = false;
      const ctx: Ctx = {
        req: req.raw,
        res: reply.raw,
        params: (req.params ?? {}) as Record<string, string>,
        get query() {
          const q = (req.query ?? {}) as Record<string | symbol, unknown>;
          if (q[QUERY_ERROR]) throw q[QUERY_ERROR];
          return q as Record<string, unknown>;
        },
        body: async () => req.body,
        json: (status, payload, headers = {}) => { void reply.code(status).headers(headers).send(payload); },
        raw: () => {
          if (!rawTaken) { rawTaken = true; reply.hijack(); }
          return reply.raw;
        },
        signal: signals.get(req.raw)?.signal ?? new AbortController().signal,
      };
      await def.handler(ctx);
      if (!rawTaken && !reply.sent) void reply.code(204).send();
      return reply;
    },
  });
}

/** Listens on host:port; resolves with the base URL. */
export async function listen(app: FastifyInstance, port: number, host: string): Promise<string> {
  await app.listen({ port, host });
  const addr = app.server.address() as import('node:net').AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${h}:${addr.port}`;
}
