// The wire contract's error codes: every error body is {"ok": false, "message": "<field>: …", "code"}.
// Domain code throws DomainError with one of these codes; only the HTTP layer maps codes to statuses
// (src/producer/http/errors.ts). Codes are stable: clients may branch on them.

export const ERROR_CODES = [
  /** A request field (body, query or path) is invalid; the message starts with the field's name. */
  'INVALID_FIELD',
  /** The body is not JSON, or not a JSON object. */
  'INVALID_BODY',
  /** The body is larger than the limit. */
  'BODY_TOO_LARGE',
  /** No such route, clip, camera or file. */
  'NOT_FOUND',
  /** The route exists, but not for this method (the answer carries Allow). */
  'METHOD_NOT_ALLOWED',
  /** A valid bearer token is required. */
  'UNAUTHORIZED',
  /** A browser's cross-site write. */
  'FORBIDDEN_ORIGIN',
  /** The window holds no footage (before the clock, purged, or inside a gap). */
  'NO_FOOTAGE',
  /** out_dir lies outside every clip root, or cannot be used. */
  'OUT_OF_ROOT',
  /** Too many clip jobs are waiting. */
  'QUEUE_FULL',
  /** The producer is stopping. */
  'SHUTTING_DOWN',
  /** Ingest is not running, so there is nothing to seal or stream. */
  'NOT_RECORDING',
  /** A Range header the file cannot satisfy. */
  'RANGE_NOT_SATISFIABLE',
  /** The request conflicts with how the producer runs (e.g. reload without a configuration file). */
  'CONFLICT',
  /** An Expect header other than 100-continue. */
  'EXPECTATION_FAILED',
  /** The request line and headers are too large. */
  'HEADERS_TOO_LARGE',
  /** The request was not received in time. */
  'REQUEST_TIMEOUT',
  /** The object store (S3) could not be reached or refused the request; retry later. */
  'STORE_UNAVAILABLE',
  /** Another node of the cluster (the camera's recorder, or the clip's node) could not be reached; retry later. */
  'NODE_UNAVAILABLE',
  /** Malformed HTTP. */
  'BAD_REQUEST',
  /** A bug: the message says what failed. */
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** An error of the domain (clip service, catalog, configuration) with a stable code. */
export class DomainError extends Error {
  override name = 'DomainError';
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && (ERROR_CODES as readonly string[]).includes(v);
}
