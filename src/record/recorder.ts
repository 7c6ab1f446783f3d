// The Recorder: validates a ClipRequest, POSTs /clip, then long-polls GET /clip/{id}?wait_ms=N until the
// job is terminal, everything within one wait budget. Window math lives in window.ts, HTTP in http.ts.
import { Timebase } from '../common/timebase.js';
import { validateRecorderConfig } from './config.js';
import { ClipAbortError, ClipError, ClipHttpError, ClipTimeoutError } from './errors.js';
import { isJsonObject, MAX_TIMER_MS, producerMessage, requestJson, throwIfAborted } from './http.js';
import type { PtsValue } from '../protocol/pts.js';
import type { ClipRequest, ClipResult, JsonObject, JsonValue, RecorderConfig, RequestClipOptions } from './types.js';
import { prepareClip, requestMaxWaitMs } from './window.js';

/** Longest `wait_ms` asked of the producer in one GET. */
export const MAX_LONG_POLL_MS = 10_000;
/** Extra time a GET gets beyond its `wait_ms` before it counts as hung. */
export const REQUEST_GRACE_MS = 2_000;

const DONE_STATUSES = new Set(['done']);
const FAILED_STATUSES = new Set(['error', 'failed', 'cancelled', 'canceled']);

interface JobStatus {
  status: string | undefined;
  path: string | null;
}

/** Reads the job id from a POST /clip answer: `clip_id`, `id`, or `clip.clip_id` / `clip.id`. */
export function jobIdFromPostAnswer(json: JsonObject): string | undefined {
  const nested = isJsonObject(json.clip) ? json.clip : undefined;
  for (const v of [json.clip_id, json.id, nested?.clip_id, nested?.id]) {
    if (typeof v === 'string' && v !== '') return v;
    if ((typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint') return String(v);
  }
  return undefined;
}

/** Reads status and path from a GET /clip/{id} answer, flat (`{status, path}`) or nested (`{clip: {...}}`). */
export function jobStatusFromAnswer(json: JsonObject): JobStatus {
  const src = isJsonObject(json.clip) ? json.clip : json;
  const rawStatus = typeof src.status === 'string' ? src.status : json.status;
  const rawPath = typeof src.path === 'string' ? src.path : json.path;
  return {
    status: typeof rawStatus === 'string' && rawStatus !== '' ? rawStatus.toLowerCase() : undefined,
    path: typeof rawPath === 'string' && rawPath !== '' ? rawPath : null,
  };
}

/**
 * Reads the clip's actual window (`actual_start_pts_ns`/`actual_stop_pts_ns`) from a GET /clip/{id} answer,
 * flat or nested; each present only when it is a whole number (a number while exact, a bigint past 2^53).
 */
export function actualWindowFromAnswer(json: JsonObject): { actualStartPtsNs?: PtsValue; actualStopPtsNs?: PtsValue } {
  const src = isJsonObject(json.clip) ? json.clip : json;
  const out: { actualStartPtsNs?: PtsValue; actualStopPtsNs?: PtsValue } = {};
  const pts = (v: JsonValue | undefined): PtsValue | undefined =>
    typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v)) ? v : undefined;
  const start = pts(src.actual_start_pts_ns);
  const stop = pts(src.actual_stop_pts_ns);
  if (start !== undefined) out.actualStartPtsNs = start;
  if (stop !== undefined) out.actualStopPtsNs = stop;
  return out;
}

/**
 * Whether an id can name its job's URL: `.` and `..` would be resolved away by the URL (polling some other
 * path), and a lone surrogate cannot be percent-encoded at all.
 */
function usableJobId(id: string): boolean {
  return id !== '.' && id !== '..' && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(id);
}

function sleep(ms: number, signal: AbortSignal | undefined, jobId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => new ClipAbortError(`clip request aborted while waiting for job ${jobId}`, { jobId, cause: signal?.reason });
    // An abort that landed before the sleep began must not wait out the interval.
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.min(ms, MAX_TIMER_MS));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Recorder {
  readonly config: RecorderConfig;
  readonly timebase: Timebase | undefined;

  /** Throws an Error naming the field if `cfg` is invalid. */
  constructor(cfg: RecorderConfig, timebase?: Timebase) {
    this.config = validateRecorderConfig(cfg);
    if (timebase !== undefined && timebase !== null && !(timebase instanceof Timebase)) {
      throw new TypeError('timebase must be a Timebase (see timebaseFromHealthPayload)');
    }
    this.timebase = timebase ?? undefined;
  }

  /**
   * Creates one clip and waits for it. Rejects with ClipRequestError (before any network call),
   * ClipHttpError, ClipTimeoutError (after the request's or the config's maxWaitMs, POST included),
   * ClipError (the job ended in error), or ClipAbortError (`name === 'AbortError'`, cause = the
   * signal's reason) when `options.signal` fires.
   */
  async requestClip(req: ClipRequest, options: RequestClipOptions = {}): Promise<ClipResult> {
    const { window, body } = prepareClip(req, this.config, this.timebase);
    const maxWaitMs = requestMaxWaitMs(req) ?? this.config.maxWaitMs;
    const signal = options?.signal;
    throwIfAborted(signal);

    const base = this.config.producerBaseUrl;
    const authToken = this.config.authToken;
    const deadline = performance.now() + maxWaitMs;
    const remaining = () => deadline - performance.now();
    let lastStatus: string | undefined;
    const timeout = (jobId?: string) => () => new ClipTimeoutError(
      jobId === undefined
        ? `POST /clip got no answer within maxWaitMs (${maxWaitMs} ms)`
        : `clip job ${jobId} not finished within maxWaitMs (${maxWaitMs} ms); last status: ${lastStatus ?? 'unknown'}`,
      { jobId, lastStatus },
    );

    const post = await requestJson({
      method: 'POST', url: `${base}/clip`, what: 'POST /clip', body, authToken,
      timeoutMs: remaining(), onTimeout: timeout(), signal,
    });
    const jobId = jobIdFromPostAnswer(post.json);
    if (jobId === undefined) {
      throw new ClipHttpError(`POST /clip answered HTTP ${post.status} without a clip_id or id`, post.status, post.json);
    }
    if (!usableJobId(jobId)) {
      throw new ClipHttpError(`POST /clip answered HTTP ${post.status} with an unusable clip id ${JSON.stringify(jobId.slice(0, 80))}`, post.status, post.json);
    }
    lastStatus = jobStatusFromAnswer(post.json).status;
    const what = `GET /clip/${jobId}`;
    const statusUrl = `${base}/clip/${encodeURIComponent(jobId)}`;

    for (;;) {
      const left = remaining();
      if (left <= 0) throw timeout(jobId)();
      const waitMs = Math.min(MAX_LONG_POLL_MS, Math.floor(left));
      const hungAfter = waitMs + REQUEST_GRACE_MS;
      const startedAt = performance.now();
      const res = await requestJson({
        method: 'GET', url: `${statusUrl}?wait_ms=${waitMs}`, what, authToken, signal, jobId,
        timeoutMs: Math.min(hungAfter, left),
        // When the budget ends first, that is a timeout of the job; otherwise the producer hung.
        onTimeout: hungAfter >= left ? timeout(jobId) : undefined,
        acceptOkFalse: true,
      });
      const st = jobStatusFromAnswer(res.json);
      if (st.status !== undefined && FAILED_STATUSES.has(st.status)) {
        const msg = producerMessage(res.json);
        throw new ClipError(`clip job ${jobId} ended in ${st.status}${msg === undefined ? '' : `: ${msg}`}`, { jobId });
      }
      if (res.json.ok === false) {
        const msg = producerMessage(res.json);
        throw new ClipHttpError(`${what} answered ok:false${msg === undefined ? '' : `: ${msg}`}`, res.status, res.json, { jobId });
      }
      if (st.status === undefined) {
        throw new ClipHttpError(`${what} answered HTTP ${res.status} without a job status`, res.status, res.json, { jobId });
      }
      lastStatus = st.status;
      if (DONE_STATUSES.has(st.status)) {
        const result: ClipResult = { jobId, status: 'done', mode: window.mode, path: st.path, raw: res.json };
        if (window.startPtsNs !== undefined && window.stopPtsNs !== undefined) {
          result.startPtsNs = window.startPtsNs;
          result.stopPtsNs = window.stopPtsNs;
        }
        if (window.startMs !== undefined && window.stopMs !== undefined) {
          result.startMs = window.startMs;
          result.stopMs = window.stopMs;
        }
        Object.assign(result, actualWindowFromAnswer(res.json));
        return result;
      }
      // Not terminal (queued, running, or a status we do not know): poll again, at most every
      // pollIntervalMs (start to start), so a producer that held the answer is asked again at once.
      const pause = Math.min(this.config.pollIntervalMs - (performance.now() - startedAt), remaining());
      if (pause > 0) await sleep(pause, signal, jobId);
      throwIfAborted(signal, jobId);
    }
  }
}
