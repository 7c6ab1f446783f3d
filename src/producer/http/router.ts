// A small HTTP router over node:http: method + path patterns (`/clip/:id`), JSON bodies with a size
// limit, JSON answers, and one error shape for everything: {"ok": false, "message": "…"}.
import type { IncomingMessage, ServerResponse } from 'node:http';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** Reads and parses the JSON body (400 on malformed JSON, 413 when over the limit). */
  body(): Promise<unknown>;
  json(status: number, payload: unknown, headers?: Record<string, string>): void;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

export type Handler = (ctx: Ctx) => unknown;

interface Route { method: string; parts: string[]; handler: Handler }

export interface RouteMatch { handler: Handler; params: Record<string, string> }

/** Finds the handler of a request, or throws 404/405 (a Router, or a dispatcher over several). */
export interface RouteTable {
  match(method: string, pathname: string): RouteMatch;
}

export const MAX_BODY_BYTES = 64 * 1024;

export class Router implements RouteTable {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** Finds the route, or throws 404/405. */
  match(method: string, pathname: string): RouteMatch {
    const segs = pathname.split('/').filter(Boolean);
    let pathMatched = false;
    for (const r of this.routes) {
      if (r.parts.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const p = r.parts[i];
        if (p.startsWith(':')) {
          let v: string;
          try { v = decodeURIComponent(segs[i]); } catch { ok = false; break; }
          params[p.slice(1)] = v;
        } else if (p !== segs[i]) { ok = false; break; }
      }
      if (!ok) continue;
      pathMatched = true;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) return { handler: r.handler, params };
    }
    if (pathMatched) {
      const allow = [...new Set(this.routes.filter((r) => r.parts.length === segs.length && r.parts.every((p, i) => p.startsWith(':') || p === segs[i]))
        .flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))].join(', ');
      throw new HttpError(405, `method ${method} not allowed on ${pathname}`, { allow });
    }
    throw new HttpError(404, `no route ${method} ${pathname}`);
  }
}

export function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

export function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, `body: larger than ${limit} bytes`, { connection: 'close' }));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        // Close after answering rather than reading the rest of an oversized body.
        reject(new HttpError(413, `body: larger than ${limit} bytes`, { connection: 'close' }));
        return;
      }
      chunks.push(c);
    });
    req.on('error', (e) => { if (!failed) { failed = true; reject(new HttpError(400, `body: ${e.message}`)); } });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') { resolve(undefined); return; }
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new HttpError(400, `body: malformed JSON (${(e as Error).message})`));
      }
    });
  });
}
