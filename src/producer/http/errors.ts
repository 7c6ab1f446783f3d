// The HTTP layer's errors: HttpError (a status, a protocol error code and extra headers, for what only
// HTTP knows: routes, auth, ranges), the status each domain error code maps to, and the raw JSON
// answer used where fastify is not in charge (node's own errors before a request exists).
import { stringifyWireJson } from '../../protocol/wire-json.js';
import type { ServerResponse } from 'node:http';
import type { ErrorCode } from '../../protocol/errors.js';

/** The largest JSON body accepted. */
export const MAX_BODY_BYTES = 64 * 1024;

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly status: number, readonly code: ErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const STATUS: Record<ErrorCode, number> = {
  INVALID_FIELD: 400, INVALID_BODY: 400, BODY_TOO_LARGE: 413, NOT_FOUND: 404, METHOD_NOT_ALLOWED: 405, UNAUTHORIZED: 401,
  FORBIDDEN_ORIGIN: 403, NO_FOOTAGE: 409, OUT_OF_ROOT: 400, QUEUE_FULL: 503, SHUTTING_DOWN: 503, NOT_RECORDING: 503,
  RANGE_NOT_SATISFIABLE: 416, CONFLICT: 409, EXPECTATION_FAILED: 417, HEADERS_TOO_LARGE: 431, REQUEST_TIMEOUT: 408,
  STORE_UNAVAILABLE: 503, NODE_UNAVAILABLE: 503, BAD_REQUEST: 400, INTERNAL: 500,
};

/** The HTTP status of a domain error code. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

export function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = stringifyWireJson(payload);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}
