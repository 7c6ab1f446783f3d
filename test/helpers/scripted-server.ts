// A real node:http server on 127.0.0.1 (ephemeral port) whose answers are decided by a per-test script,
// and which records every request. Used to test HTTP clients against exact, misbehaving producers.
// Also a ready-made script of a /clip producer (POST answer shape, GET status sequence and shape).
// JSON as the wire has it (src/protocol/wire-json.ts): a scripted body may hold bigints (written with all
// their digits), and a request's integers past 2^53 are recorded as bigints.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { parseWireJson, stringifyWireJson } from '../../src/protocol/wire-json.js';

export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. "/clip/abc". */
  path: string;
  /** The raw path as sent (percent-encoding kept), with the query string. */
  rawUrl: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The parsed JSON body (parseWireJson: integers past 2^53 are bigints), or undefined when empty or not JSON. */
  json: unknown;
  /** ms since the server started, when the request was fully received. */
  atMs: number;
}

export interface ScriptedAnswer {
  status?: number;
  headers?: Record<string, string>;
  /**
   * A string is sent as is (default content-type text/html), a Buffer too (application/octet-stream);
   * anything else as JSON (bigints with all their digits).
   */
  body?: unknown;
  /** Wait this long before answering (the answer is dropped if the client went away). */
  delayMs?: number;
  /** Destroy the socket instead of answering (after delayMs). */
  destroy?: boolean;
  /** Never answer (the socket is closed when the server closes). */
  hang?: boolean;
  /** Send the status, headers and the first half of the body, then stall forever. */
  stallBody?: boolean;
}

/** Decides an answer; `index` counts all requests so far (0-based), `ofPath` those with the same method+path. */
export type Script = (req: RecordedRequest, index: number, ofPath: number) => ScriptedAnswer | Promise<ScriptedAnswer>;

export interface ScriptedServer {
  /** e.g. "http://127.0.0.1:41234" */
  url: string;
  port: number;
  requests: RecordedRequest[];
  setScript(script: Script): void;
  close(): Promise<void>;
}

const notScripted: Script = () => ({ status: 500, body: { ok: false, message: 'no script' } });

export async function startScriptedServer(initial: Script = notScripted): Promise<ScriptedServer> {
  let script = initial;
  const requests: RecordedRequest[] = [];
  const perPath = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const t0 = performance.now();

  const send = (res: ServerResponse, a: ScriptedAnswer) => {
    if (res.destroyed || res.socket === null || res.socket.destroyed) return;
    if (a.destroy) {
      res.socket.destroy();
      return;
    }
    if (a.hang) return;
    const isText = typeof a.body === 'string';
    const isBytes = Buffer.isBuffer(a.body);
    const payload = a.body === undefined ? '' : isText || isBytes ? (a.body as string | Buffer) : stringifyWireJson(a.body);
    const headers: Record<string, string> = {
      'content-type': isText ? 'text/html; charset=utf-8' : isBytes ? 'application/octet-stream' : 'application/json',
      ...a.headers,
    };
    res.writeHead(a.status ?? 200, headers);
    if (a.stallBody) {
      res.write(payload.slice(0, Math.floor(payload.length / 2)));
      return;
    }
    res.end(payload);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = rawBody === '' ? undefined : parseWireJson(rawBody);
      } catch {
        json = undefined;
      }
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: u.pathname,
        rawUrl: req.url ?? '',
        query: Object.fromEntries(u.searchParams),
        headers: req.headers,
        rawBody,
        json,
        atMs: performance.now() - t0,
      };
      const index = requests.length;
      requests.push(recorded);
      const key = `${recorded.method} ${recorded.path}`;
      const ofPath = perPath.get(key) ?? 0;
      perPath.set(key, ofPath + 1);
      Promise.resolve()
        .then(() => script(recorded, index, ofPath))
        .then((a) => {
          if (a.delayMs !== undefined && a.delayMs > 0) {
            const t = setTimeout(() => {
              timers.delete(t);
              send(res, a);
            }, a.delayMs);
            timers.add(t);
          } else {
            send(res, a);
          }
        })
        .catch((e: unknown) => send(res, { status: 500, body: { ok: false, message: `script threw: ${String(e)}` } }));
    });
  });
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    setScript(s: Script) {
      script = s;
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (a server was bound there and closed). */
export async function closedPort(): Promise<number> {
  const s = await startScriptedServer();
  const port = s.port;
  await s.close();
  return port;
}

// ---- A scripted /clip producer -------------------------------------------------------------------

export interface ProducerScript {
  /** How the POST answer names the job: `{clip_id}`, `{id}`, or `{clip: {clip_id}}`. */
  idShape?: 'clip_id' | 'id' | 'nested';
  id?: string;
  /** GET statuses in order; the last one repeats. */
  statuses?: string[];
  /** Flat `{ok, status, path, message}` or nested `{ok, clip: {...}, message}`. */
  statusShape?: 'flat' | 'nested';
  path?: string | null;
  /** Producer's error text for an `error` status. */
  error?: string;
  /** Hold each non-terminal GET for min(wait_ms, holdMs) like a producer honouring wait_ms. */
  holdMs?: number;
  /** Override any GET answer. */
  get?: (n: number, waitMs: number) => ScriptedAnswer | undefined;
}

export function producerScript(p: ProducerScript = {}): Script {
  const id = p.id ?? 'clip-0000000000000003';
  const statuses = p.statuses ?? ['done'];
  const path = p.path === undefined ? '/data/clips/clip_foo.mp4' : p.path;
  return (req, _index, ofPath) => {
    if (req.method === 'POST' && req.path.endsWith('/clip')) {
      const body = p.idShape === 'id' ? { ok: true, id, status: 'queued' }
        : p.idShape === 'nested' ? { ok: true, clip: { clip_id: id, status: 'queued' } }
          : { ok: true, clip_id: id, status: 'queued' };
      return { status: 202, body };
    }
    if (req.method === 'GET' && req.path.includes('/clip/')) {
      const waitMs = Number(req.query.wait_ms ?? '0');
      const custom = p.get?.(ofPath, waitMs);
      if (custom) return custom;
      const status = statuses[Math.min(ofPath, statuses.length - 1)];
      const terminal = status === 'done' || status === 'error' || status === 'failed';
      const clipPath = status === 'done' ? path : null;
      const err = status === 'error' || status === 'failed' ? (p.error ?? 'ffmpeg exploded') : null;
      const body = p.statusShape === 'flat'
        ? { ok: true, status, path: clipPath, message: err }
        : { ok: true, clip: { clip_id: id, status, path: clipPath, error: err }, message: null };
      const delayMs = !terminal && p.holdMs !== undefined ? Math.min(waitMs, p.holdMs) : 0;
      return { status: 200, body, delayMs };
    }
    return { status: 404, body: { ok: false, message: 'no such route' } };
  };
}

export async function serverFor(t: TestContext, script: Script): Promise<ScriptedServer> {
  const srv = await startScriptedServer(script);
  t.after(() => srv.close());
  return srv;
}
