// Human-readable formatting for the terminal: durations, sizes, wall-clock times, and parsing the
// relative/absolute times people type. Sizes and durations share src/common/units with the producer.
import { formatBytes, parseDurationMs } from '../common/units.js';
import type { PtsValue } from '../protocol/pts.js';

/**
 * Seconds with 3 decimals (`41.230 s`) of a span or a PTS in ns. A whole number of ns (a number or a bigint,
 * e.g. a PTS past 2^53) is printed exactly by integer arithmetic, rounded to the ms (halves up).
 */
export function secs(ns: PtsValue): string {
  if (typeof ns === 'number' && !Number.isSafeInteger(ns)) return `${(ns / 1e9).toFixed(3)} s`;
  const v = BigInt(ns);
  const neg = v < 0n;
  const ms = ((neg ? -v : v) + 500_000n) / 1_000_000n;
  return `${neg && ms > 0n ? '-' : ''}${ms / 1000n}.${String(ms % 1000n).padStart(3, '0')} s`;
}

/** `stop − start` in ns as a number, computed exactly (both may be bigints past 2^53). */
export function spanNs(start: PtsValue, stop: PtsValue): number {
  if (typeof start === 'number' && typeof stop === 'number') return stop - start;
  const big = (v: PtsValue): bigint => (typeof v === 'bigint' ? v : BigInt(Math.round(v)));
  return Number(big(stop) - big(start));
}

export function dur(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** Sizes as everywhere else in the project (src/common/units). */
export const size = formatBytes;

export function clock(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Parses a relative (`-30s`, `-2m`, `now`) or absolute (ISO 8601) time into epoch ms. */
export function parseTime(text: string, nowMs: number): number {
  const t = text.trim();
  if (t === 'now') return nowMs;
  const rel = /^([+-])(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(t);
  if (rel) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(rel[3] ?? 's') as 'ms' | 's' | 'm' | 'h'];
    return nowMs + (rel[1] === '-' ? -1 : 1) * Number(rel[2]) * unit;
  }
  const abs = Date.parse(t);
  if (Number.isFinite(abs)) return abs;
  throw new Error(`"${text}" is not a time (examples: now, -30s, -2m, 2026-11-25T07:10:00)`);
}

/** Parses a span like `10s`, `2m`, `500ms`, `1d` into ms (the producer's duration syntax). */
export function parseSpan(text: string): number {
  return parseDurationMs(text, 'duration');
}
