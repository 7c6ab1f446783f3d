// Validation of JSON bodies and query strings. Every failure is a 400 whose message names the field.
import { HttpError } from './router.js';

export type JsonObject = Record<string, unknown>;

export function requireObject(v: unknown, what = 'body'): JsonObject {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, `${what}: must be a JSON object`);
  return v as JsonObject;
}

export function rejectUnknownKeys(obj: JsonObject, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new HttpError(400, `${k.length > 64 ? k.slice(0, 64) + '…' : k}: unknown field (allowed: ${allowed.join(', ')})`);
    }
  }
}

/** A non-negative safe integer, or undefined/null when absent. */
export function optNonNegInt(obj: JsonObject, key: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(400, `${key}: must be a number`);
  if (!Number.isInteger(v)) throw new HttpError(400, `${key}: must be an integer`);
  if (v < 0) throw new HttpError(400, `${key}: must not be negative`);
  if (v > max) throw new HttpError(400, `${key}: must be at most ${max}`);
  return v;
}

export function optFiniteNumber(obj: JsonObject, key: string, min = -Infinity, max = Infinity): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(400, `${key}: must be a finite number`);
  if (v < min || v > max) throw new HttpError(400, `${key}: must be between ${min} and ${max}`);
  return v;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function optString(obj: JsonObject, key: string, maxLen: number): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new HttpError(400, `${key}: must be a string`);
  if (v.length > maxLen) throw new HttpError(400, `${key}: longer than ${maxLen} characters`);
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new HttpError(400, `${key}: must not contain control characters`);
  // A lone surrogate has no UTF-8 form: it would not survive the index or the filesystem unchanged.
  if (LONE_SURROGATE.test(v)) throw new HttpError(400, `${key}: must be valid Unicode (no lone surrogates)`);
  return v;
}

/** An integer query parameter (decimal digits only), or undefined when absent. */
export function queryInt(q: URLSearchParams, key: string, min: number, max: number): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  if (!/^-?\d{1,17}$/.test(v)) throw new HttpError(400, `${key}: must be an integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new HttpError(400, `${key}: must be between ${min} and ${max}`);
  return n;
}
