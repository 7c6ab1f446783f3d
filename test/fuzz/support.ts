// Shared pieces of the property-based (fast-check) tests: a deterministic seed that is printed on failure,
// an HTTP client that sends anything (any method, raw path, any body, chunked or not), the error-shape
// checks every producer answer must pass, raw-socket exchanges with a tolerant HTTP/1.x response parser,
// filesystem snapshots, and a recorder of process-level faults (uncaught exceptions, unhandled rejections).
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { lstatSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import fc from 'fast-check';

/** The seed of every property in a run: FUZZ_SEED, else a fixed one (so CI runs are reproducible). */
export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 0x5e9_7ec;

/** Scales every numRuns (FUZZ_RUNS_SCALE=10 for a long soak). */
const SCALE = Number(process.env.FUZZ_RUNS_SCALE ?? '1') || 1;

/**
 * Runs a property with the shared seed; on failure rethrows with the seed, the replay path and the
 * command that reproduces it in front of fast-check's own report (counterexample, shrunk).
 */
export async function checkProperty<Ts extends [unknown, ...unknown[]]>(
  name: string, prop: fc.IAsyncPropertyWithHooks<Ts> | fc.IPropertyWithHooks<Ts>, numRuns: number,
): Promise<void> {
  const runs = Math.max(1, Math.round(numRuns * SCALE));
  try {
    await fc.assert(prop as fc.IAsyncPropertyWithHooks<Ts>, { seed: FUZZ_SEED, numRuns: runs });
  } catch (e) {
    const head = `[fuzz] property "${name}" failed (seed ${FUZZ_SEED}, ${runs} runs; rerun with FUZZ_SEED=${FUZZ_SEED})`;
    console.error(head);
    const cause = (e as Error).cause as Error | undefined;
    const err = new Error(`${head}\n${(e as Error).message}${cause ? `\nCause: ${cause.message}` : ''}`);
    err.stack = `${err.message}\n${cause?.stack ?? (e as Error).stack ?? ''}`;
    throw err;
  }
}

// ---- HTTP client that sends anything -----------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

export interface Sent {
  method?: string;
  /** Raw request target, sent as is (must not contain spaces or control characters). */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked (in a few pieces) instead of Content-Length. */
  chunked?: boolean;
  /** Give up (and fail) after this many ms. */
  timeoutMs?: number;
  /** Resolve as soon as a 200 head arrives, and then destroy the response (streams); other answers are read whole. */
  headOnly?: boolean;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  bytes: Buffer;
  json: unknown;
}

export function send(base: string, s: Sent): Promise<Answer> {
  const u = new URL(base);
  const headers: Record<string, string | string[]> = { ...(s.headers ?? {}) };
  const body = s.body === undefined ? undefined : Buffer.isBuffer(s.body) ? s.body : Buffer.from(s.body, 'utf8');
  if (body !== undefined && !s.chunked && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
    headers['content-length'] = String(body.length);
  }
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, method: s.method ?? 'GET', path: s.path, headers, agent,
    }, (res) => {
      const chunks: Buffer[] = [];
      if (s.headOnly && res.statusCode === 200) {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '', bytes: Buffer.alloc(0), json: undefined });
        res.destroy();
        return;
      }
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => { clearTimeout(timer); reject(e); });
      res.on('end', () => {
        clearTimeout(timer);
        const bytes = Buffer.concat(chunks);
        const text = bytes.toString('utf8');
        let json: unknown;
        try { json = text === '' ? undefined : JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, bytes, json });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${s.timeoutMs ?? 10_000} ms to ${s.method ?? 'GET'} ${s.path.slice(0, 200)}`));
    }, s.timeoutMs ?? 10_000);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    if (body !== undefined && s.chunked) {
      const third = Math.ceil(body.length / 3) || 1;
      for (let i = 0; i < body.length; i += third) req.write(body.subarray(i, i + third));
      req.end();
    } else {
      req.end(body);
    }
  });
}

export function closeClientAgent(): void {
  agent.destroy();
}

/** Shows an input in an assertion message without flooding the terminal. */
export function show(v: unknown, max = 300): string {
  let s: string;
  try { s = JSON.stringify(v) ?? String(v); } catch { s = String(v); }
  const full = s.length;
  s = s.replace(/(.)\1{15,}/gsu, (run, c: string) => `${c}⟨×${[...run].length}⟩`);
  return s.length > max ? `${s.slice(0, max)}… (${full} chars)` : s;
}

/**
 * Every answer: never a 5xx; an error (4xx, except to HEAD) is JSON `{ok: false, message}` with a
 * non-empty message. Returns the message of an error answer.
 */
export function checkAnswerShape(a: Answer, method: string, what: string): string | undefined {
  assert.ok(a.status >= 200 && a.status < 500, `${what}: status ${a.status} ${a.text.slice(0, 300)}`);
  if (a.status < 400) return undefined;
  if (method === 'HEAD') return undefined;
  assert.match(String(a.headers['content-type']), /^application\/json/, `${what}: error content-type`);
  const body = a.json as { ok?: unknown; message?: unknown } | undefined;
  assert.ok(body && typeof body === 'object', `${what}: error body is JSON: ${a.text.slice(0, 200)}`);
  assert.equal(body.ok, false, `${what}: ok:false`);
  assert.equal(typeof body.message, 'string', `${what}: message is a string`);
  assert.ok((body.message as string).length > 0, `${what}: message not empty`);
  return body.message as string;
}

/** Asserts a 400's message starts with one of `fields` followed by ":" (the field it names). */
export function assertNamesField(message: string, fields: Iterable<string>, what: string): void {
  const list = [...fields];
  const ok = list.some((f) => message.startsWith(`${f}:`));
  assert.ok(ok, `${what}: 400 message ${show(message, 200)} names none of ${show(list, 400)}`);
}

// ---- Raw sockets -----------------------------------------------------------------------------------

export interface RawResult {
  bytes: Buffer;
  /** The server closed the connection (rather than us giving up after idleMs). */
  closedByServer: boolean;
}

/**
 * Writes `chunks` (with `gapMs` between them) to a fresh connection and collects what comes back until
 * the server closes, or nothing arrives for `idleMs` after the last write, or `totalMs` pass.
 */
export function rawExchange(port: number, chunks: Buffer[], o: { gapMs?: number; idleMs?: number; totalMs?: number; halfClose?: boolean } = {}): Promise<RawResult> {
  const idleMs = o.idleMs ?? 300;
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let done = false;
    let idle: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      clearTimeout(total);
      sock.destroy();
      resolve({ bytes: Buffer.concat(got), closedByServer });
    };
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => finish(false), idleMs);
    };
    const total = setTimeout(() => finish(false), o.totalMs ?? 5000);
    sock.on('data', (d: Buffer) => { got.push(d); armIdle(); });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      // A reset after the server answered and closed is a close.
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') finish(true);
      else if (!done) { done = true; clearTimeout(total); reject(e); }
    });
    sock.on('connect', async () => {
      for (let i = 0; i < chunks.length; i++) {
        if (done || sock.destroyed) return;
        sock.write(chunks[i]);
        if (o.gapMs && i < chunks.length - 1) await new Promise((r) => setTimeout(r, o.gapMs));
      }
      if (o.halfClose) sock.end();
      armIdle();
    });
  });
}

export interface ParsedResponse {
  version: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Parses the HTTP/1.x responses in `buf` (Content-Length, chunked, or read-to-close framing). Responses to
 * HEAD (given by `isHead(i)`) and 1xx/204/304 have no body. Throws on bytes that are not a response.
 */
export function parseResponses(buf: Buffer, isHead: (i: number) => boolean = () => false): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const headEnd = buf.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) throw new Error(`truncated response head: ${show(buf.subarray(pos).toString('latin1'))}`);
    const lines = buf.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const m = /^(HTTP\/1\.[01]) (\d{3})(?: .*)?$/.exec(lines[0]);
    if (!m) throw new Error(`not a status line: ${show(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i <= 0) throw new Error(`bad header line ${show(l)}`);
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const status = Number(m[2]);
    pos = headEnd + 4;
    let body: Buffer;
    if (isHead(out.length) || status < 200 || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf('\r\n', pos);
        if (le < 0) { pos = buf.length; break; } // a stream we cut off
        const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
        pos = le + 2;
        if (size === 0) { pos = buf.indexOf('\r\n', pos) + 2 || buf.length; break; }
        parts.push(buf.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = buf.subarray(pos, pos + n);
      pos += n;
    } else {
      body = buf.subarray(pos);
      pos = buf.length;
    }
    out.push({ version: m[1], status, headers, body });
  }
  return out;
}

/** The checks of checkAnswerShape for a raw response. */
export function checkRawResponse(r: ParsedResponse, what: string, head = false): void {
  if (r.status === 100) return; // "100 Continue" before the real answer
  assert.ok(r.status >= 200 && r.status < 500, `${what}: status ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
  if (r.status >= 400 && !head) {
    assert.match(r.headers['content-type'] ?? '', /^application\/json/, `${what}: error content-type`);
    const j = JSON.parse(r.body.toString('utf8')) as { ok: unknown; message: unknown };
    assert.equal(j.ok, false, what);
    assert.equal(typeof j.message, 'string', what);
  }
}

// ---- Filesystem snapshots ----------------------------------------------------------------------------

/** Every path under `dir` (not following symlinks), minus the subtrees in `skip`, with its kind. */
export function snapshotTree(dir: string, skip: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const p = join(d, n);
      if (skip.some((s) => p === s || p.startsWith(s + sep))) continue;
      let kind = '?';
      try {
        const st = lstatSync(p);
        kind = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      } catch { /* raced */ }
      out.set(relative(dir, p), kind);
      if (kind === 'dir') walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Paths present in `after` but not in `before`. */
export function newPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after.keys()].filter((k) => !before.has(k));
}

// ---- Process-level faults ---------------------------------------------------------------------------

/** Records uncaught exceptions and unhandled rejections from now on (listeners also keep the run alive). */
export function trackProcessFaults(): { faults: string[]; dispose: () => void } {
  const faults: string[] = [];
  const onException = (e: unknown) => faults.push(`uncaughtException: ${(e as Error)?.stack ?? String(e)}`);
  const onRejection = (e: unknown) => faults.push(`unhandledRejection: ${(e as Error)?.stack ?? String(e)}`);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    faults,
    dispose: () => {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    },
  };
}

/** Asserts Object.prototype was not polluted (no own keys beyond the built-in ones). */
export function assertPrototypeClean(): void {
  const builtins = new Set(['constructor', '__defineGetter__', '__defineSetter__', 'hasOwnProperty', '__lookupGetter__',
    '__lookupSetter__', 'isPrototypeOf', 'propertyIsEnumerable', 'toString', 'valueOf', '__proto__', 'toLocaleString']);
  const extra = Object.getOwnPropertyNames(Object.prototype).filter((k) => !builtins.has(k));
  assert.deepEqual(extra, [], 'Object.prototype gained properties');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
}

/** A string made of `n` copies of `unit`. */
export const rep = (unit: string, n: number): string => unit.repeat(n);
