// HTTP byte ranges for media a browser seeks in (clip files, recorded footage): one `bytes=a-b` range
// (a multi-range or malformed header is ignored: the whole file is sent, as RFC 9110 allows), 416 with
// `Content-Range: bytes */size` when it cannot be satisfied, and the validators that decide whether a
// Range applies (If-Range) or nothing needs sending (If-None-Match, also the snapshot's).
import { HttpError } from './errors.js';

/** Parses a single `bytes=a-b` range against a file size; null when absent; throws 416 when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // multi-range or malformed: serve the whole file
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) {
    throw new HttpError(416, 'RANGE_NOT_SATISFIABLE', `range: not satisfiable for ${size} bytes`, { 'content-range': `bytes */${size}` });
  }
  return { start, end };
}

/** Whether an If-None-Match header names this strong ETag (or `*`): the client has these bytes. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((t) => { const v = t.trim(); return v === '*' || v.replace(/^W\//, '') === etag; });
}

/**
 * Whether a Range applies under If-Range: always without one; with one, only when it is this strong
 * ETag (a date or another tag means the client's copy may differ: the whole file is sent).
 */
export function rangeApplies(ifRange: string | undefined, etag: string): boolean {
  return ifRange === undefined || ifRange.trim() === etag;
}
