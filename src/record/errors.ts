// The Recorder's error hierarchy. Every failure of `requestClip` is a ClipError (or a subclass).

export interface ClipErrorOptions {
  jobId?: string;
  cause?: unknown;
  /** The producer's error code (its answer's `code`, e.g. NO_FOOTAGE, INVALID_FIELD, QUEUE_FULL). */
  code?: string;
}

/** Base class: also thrown as-is when a clip job ends in `error` on the producer. */
export class ClipError extends Error {
  /** The producer's job id, when one was assigned before the failure. */
  readonly jobId: string | undefined;
  /** The producer's stable error code when its answer carried one (see src/protocol/errors.ts), else undefined. */
  readonly code: string | undefined;

  constructor(message: string, options: ClipErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClipError';
    this.jobId = options.jobId;
    this.code = options.code;
  }
}

/** The request was rejected before any network call (bad window, bad overrides). */
export class ClipRequestError extends ClipError {
  constructor(message: string) {
    super(message);
    this.name = 'ClipRequestError';
  }
}

/** HTTP- or JSON-level fault talking to the producer. `status` is null for network faults. */
export class ClipHttpError extends ClipError {
  readonly status: number | null;
  /** The parsed JSON answer, or its text when it was not JSON, or undefined when there was none. */
  readonly body: unknown;

  constructor(message: string, status: number | null, body?: unknown, options: ClipErrorOptions = {}) {
    const code = body !== null && typeof body === 'object' && typeof (body as { code?: unknown }).code === 'string' ? (body as { code: string }).code : undefined;
    super(message, { code, ...options });
    this.name = 'ClipHttpError';
    this.status = status;
    this.body = body;
  }
}

/** The job did not reach a terminal state within the wait budget. */
export class ClipTimeoutError extends ClipError {
  /** The last status the producer reported, if any. */
  readonly lastStatus: string | undefined;

  constructor(message: string, options: ClipErrorOptions & { lastStatus?: string } = {}) {
    super(message, options);
    this.name = 'ClipTimeoutError';
    this.lastStatus = options.lastStatus;
  }
}

/**
 * The caller's AbortSignal fired. `name` is 'AbortError' (like the platform's abort errors) and `cause`
 * is the signal's reason. The producer's job, if already created, is not cancelled (there is no API).
 */
export class ClipAbortError extends ClipError {
  constructor(message: string, options: ClipErrorOptions = {}) {
    super(message, options);
    this.name = 'AbortError';
  }
}
