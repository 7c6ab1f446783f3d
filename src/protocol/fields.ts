// Checks of single request fields beyond what a JSON Schema says (control characters, lone surrogates,
// safe integers), for parsers of the wire contract. Every failure is a DomainError INVALID_FIELD whose
// message starts with the field's name.
import { DomainError } from './errors.js';

export type JsonObject = Record<string, unknown>;

const invalid = (message: string) => new DomainError('INVALID_FIELD', message);

export function requireObject(v: unknown, what = 'body'): JsonObject {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new DomainError('INVALID_BODY', `${what}: must be a JSON object`);
  return v as JsonObject;
}

/** A field name as messages show it (long ones cut). */
export function fieldName(k: string): string {
  return k.length > 64 ? k.slice(0, 64) + '…' : k;
}

export function rejectUnknownKeys(obj: JsonObject, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw invalid(`${fieldName(k)}: unknown field (allowed: ${allowed.join(', ')})`);
  }
}

/** A non-negative safe integer, or undefined/null when absent. */
export function optNonNegInt(obj: JsonObject, key: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${key}: must be a number`);
  if (!Number.isInteger(v)) throw invalid(`${key}: must be an integer`);
  if (v < 0) throw invalid(`${key}: must not be negative`);
  if (v > max) throw invalid(`${key}: must be at most ${max}`);
  return v;
}

export function optFiniteNumber(obj: JsonObject, key: string, min = -Infinity, max = Infinity): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${key}: must be a finite number`);
  if (v < min || v > max) throw invalid(`${key}: must be between ${min} and ${max}`);
  return v;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function optString(obj: JsonObject, key: string, maxLen: number): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`${key}: must be a string`);
  if (v.length > maxLen) throw invalid(`${key}: longer than ${maxLen} characters`);
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(v)) throw invalid(`${key}: must not contain control characters`);
  // A lone surrogate has no UTF-8 form: it would not survive the index or the filesystem unchanged.
  if (LONE_SURROGATE.test(v)) throw invalid(`${key}: must be valid Unicode (no lone surrogates)`);
  return v;
}

/** An integer query value (decimal digits only, at most 17), or undefined when absent or empty. */
export function queryIntValue(key: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d{1,17}$/.test(v)) throw invalid(`${key}: must be an integer`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalid(`${key}: must be between ${min} and ${max}`);
  return n;
}

/** A decimal number in a query string (`12.5`; no exponent, no hex, no spaces); undefined when absent or empty. */
export function queryNumberValue(key: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d{1,16}(\.\d{1,9})?$/.test(v)) throw invalid(`${key}: must be a number`);
  const n = Number(v);
  if (n < min || n > max) throw invalid(`${key}: must be between ${min} and ${max}`);
  return n;
}
