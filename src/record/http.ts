// HTTP transport of the Recorder: one JSON request over global fetch with a per-request timeout and the
// caller's AbortSignal, turning every fault (network, status, non-JSON, ok:false) into a ClipError.
// JSON goes both ways as the wire contract has it (src/protocol/wire-json.ts): a bigint in a body is written
// as a plain integer, and an integer in an answer past 2^53 is read as a bigint, never rounded.
import { parseWireJson, stringifyWireJson } from '../protocol/wire-json.js';
import { ClipAbortError, ClipError, ClipHttpError } from './errors.js';
import type { JsonObject, JsonValue } from './types.js';

export interface JsonRequest {
  method: 'GET' | 'POST';
  url: string;
  /** Label for messages, e.g. "POST /clip". */
  what: string;
  body?: JsonObject;
  authToken?: string;
  /** The request (including reading its body) is cut after this many ms. */
  timeoutMs: number;
  /** The error to reject with when `timeoutMs` passes; default: a ClipHttpError with status null. */
  onTimeout?: () => ClipError;
  signal?: AbortSignal;
  /** Attached to errors when known. */
  jobId?: string;
  /** Return a 2xx answer with `ok: false` instead of throwing (the caller inspects it). */
  acceptOkFalse?: boolean;
}

export interface JsonResponse {
  status: number;
  json: JsonObject;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The producer's `message` (or `error`) string in an answer, if any. */
export function producerMessage(body: unknown): string | undefined {
  if (!isJsonObject(body)) return undefined;
  for (const k of ['message', 'error'] as const) {
    const v = body[k];
    if (typeof v === 'string' && v !== '') return v;
  }
  const clip = body.clip;
  if (isJsonObject(clip) && typeof clip.error === 'string' && clip.error !== '') return clip.error;
  return undefined;
}

function snippet(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  if (s === '') return '(empty body)';
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** A short description of a fetch failure, e.g. "ECONNREFUSED connect ECONNREFUSED 127.0.0.1:4000". */
export function describeNetworkError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur instanceof Error; depth++) {
    const code = (cur as Error & { code?: unknown }).code;
    if (typeof code === 'string' && !parts.includes(code)) parts.push(code);
    if (cur.message && cur.message !== 'fetch failed') parts.push(cur.message);
    if (cur instanceof AggregateError && cur.errors.length > 0) {
      cur = cur.errors[0];
      continue;
    }
    cur = cur.cause;
  }
  return parts.length > 0 ? parts.join(' ') : String(e);
}

function abortError(signal: AbortSignal, jobId: string | undefined): ClipAbortError {
  return new ClipAbortError(
    jobId === undefined ? 'clip request aborted' : `clip request aborted while waiting for job ${jobId}`,
    { jobId, cause: signal.reason },
  );
}

/** Throws a ClipAbortError if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, jobId?: string): void {
  if (signal?.aborted) throw abortError(signal, jobId);
}

/** The longest delay setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Sends one request and returns its 2xx JSON-object answer; anything else becomes a ClipError. */
export async function requestJson(req: JsonRequest): Promise<JsonResponse> {
  throwIfAborted(req.signal, req.jobId);
  const controller = new AbortController();
  let abortedBy: 'caller' | 'timeout' | undefined;
  const onCallerAbort = () => {
    abortedBy ??= 'caller';
    controller.abort();
  };
  req.signal?.addEventListener('abort', onCallerAbort, { once: true });
  const timer = setTimeout(() => {
    abortedBy ??= 'timeout';
    controller.abort();
    // setTimeout fires at once for delays past 2^31−1 ms (~24.8 days): clamp, so "wait a very long time"
    // does not become "time out now".
  }, Math.min(Math.max(0, req.timeoutMs), MAX_TIMER_MS));

  const headers: Record<string, string> = { accept: 'application/json' };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  if (req.authToken !== undefined) headers.authorization = `Bearer ${req.authToken}`;

  let status: number;
  let text: string;
  let location: string | null;
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : stringifyWireJson(req.body),
      signal: controller.signal,
      // The producer never redirects: following one would take another resource's answer (a 303 even turns
      // the POST into a GET) for the job's.
      redirect: 'manual',
    });
    status = res.status;
    location = res.headers.get('location');
    text = await res.text();
  } catch (e) {
    if (abortedBy === 'caller' && req.signal) throw abortError(req.signal, req.jobId);
    if (abortedBy === 'timeout') {
      throw req.onTimeout?.() ?? new ClipHttpError(
        `${req.what}: no answer within ${req.timeoutMs} ms`, null, undefined, { jobId: req.jobId, cause: e },
      );
    }
    throw new ClipHttpError(`${req.what}: network error: ${describeNetworkError(e)}`, null, undefined, {
      jobId: req.jobId, cause: e,
    });
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener('abort', onCallerAbort);
  }

  let parsed: JsonValue | undefined;
  try {
    parsed = parseWireJson(text) as JsonValue;
  } catch {
    parsed = undefined;
  }
  const opts = { jobId: req.jobId };
  if (status < 200 || status > 299) {
    const msg = producerMessage(parsed);
    const detail = status >= 300 && status < 400 && location !== null ? `redirect to ${snippet(location)} (not followed)`
      : msg ?? (parsed === undefined ? `non-JSON body: ${snippet(text)}` : undefined);
    throw new ClipHttpError(
      `${req.what} answered HTTP ${status}${detail === undefined ? '' : `: ${detail}`}`,
      status, parsed ?? text, opts,
    );
  }
  if (parsed === undefined) {
    throw new ClipHttpError(`${req.what} answered HTTP ${status} with a non-JSON body: ${snippet(text)}`, status, text, opts);
  }
  if (!isJsonObject(parsed)) {
    throw new ClipHttpError(`${req.what} answered HTTP ${status} with JSON that is not an object: ${snippet(text)}`, status, parsed, opts);
  }
  if (parsed.ok === false && !req.acceptOkFalse) {
    const msg = producerMessage(parsed);
    throw new ClipHttpError(`${req.what} answered ok:false${msg === undefined ? '' : `: ${msg}`}`, status, parsed, opts);
  }
  return { status, json: parsed };
}
