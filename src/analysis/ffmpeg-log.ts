// Pure helpers for the analysis side's ffmpeg processes: parsing the `showinfo` filter's stderr lines
// (per-frame pts, output size, stream time base), exact tick → nanosecond conversion, credential
// redaction for anything that may reach a log or an error message, and a bounded stderr tail.
import { redactUrl } from '../common/redact.js';

/** A rational time base, e.g. 1/15360 (seconds per tick = num / den). */
export interface TimeBase { num: number; den: number }

/** One frame as reported by a showinfo instance. `pts` is null for frames without a timestamp (NOPTS). */
export interface ShowinfoFrame { n: number; pts: bigint | null; width: number; height: number }

export type ShowinfoLine =
  | { kind: 'timebase'; timeBase: TimeBase }
  | { kind: 'frame'; frame: ShowinfoFrame };

const CONFIG_RE = /\] config in time_base: (\d+)\/(\d+)/;
const FRAME_RE = /\] n:\s*(\d+) pts:\s*(-?\d+|NOPTS) pts_time:\S+.*? s:(\d+)x(\d+)/;

/**
 * Parses one stderr line if it belongs to the showinfo instance named `instance` (the filter is written
 * `showinfo@<instance>`, so ffmpeg prefixes its lines with `[showinfo@<instance> @ 0x…]`).
 * Returns null for every other line.
 */
export function parseShowinfoLine(line: string, instance: string): ShowinfoLine | null {
  if (!line.startsWith(`[showinfo@${instance} @ `)) return null;
  const cfg = CONFIG_RE.exec(line);
  if (cfg) return { kind: 'timebase', timeBase: { num: Number(cfg[1]), den: Number(cfg[2]) } };
  const fr = FRAME_RE.exec(line);
  if (fr) {
    return {
      kind: 'frame',
      frame: { n: Number(fr[1]), pts: fr[2] === 'NOPTS' ? null : BigInt(fr[2]), width: Number(fr[3]), height: Number(fr[4]) },
    };
  }
  return null;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

/**
 * `offsetNs + round(ticks × num × 1e9 / den)`, computed exactly with BigInt (rounding half up, like
 * Math.round), so a 90 kHz stream after days of uptime does not lose nanoseconds to float rounding.
 */
export function ticksToNs(ticks: bigint, timeBase: TimeBase, offsetNs = 0): number {
  const n = ticks * BigInt(timeBase.num) * 1_000_000_000n;
  const d = BigInt(timeBase.den);
  return Number(BigInt(offsetNs) + floorDiv(2n * n + d, 2n * d));
}

/** Credential redaction: the project-wide rule (src/common/redact.ts), under the name this module exports. */
export const redactCredentials: (text: string) => string = redactUrl;

/** Keeps the last `maxLines` lines (each cut to `maxLineChars`) of a process's stderr. */
export class LineTail {
  private readonly lines: string[] = [];
  constructor(private readonly maxLines = 30, private readonly maxLineChars = 500) {}

  push(line: string): void {
    this.lines.push(line.length > this.maxLineChars ? `${line.slice(0, this.maxLineChars)}…` : line);
    if (this.lines.length > this.maxLines) this.lines.shift();
  }

  /** The kept lines, joined and redacted. */
  text(): string {
    return redactCredentials(this.lines.join('\n'));
  }
}

/** Splits a text stream into lines (`\n` or `\r`), calling `onLine` for each complete one. */
export class LineSplitter {
  private rest = '';
  constructor(private readonly onLine: (line: string) => void) {}

  write(chunk: string): void {
    const parts = (this.rest + chunk).split(/\r\n|\n|\r/);
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.onLine(p);
  }

  end(): void {
    if (this.rest) this.onLine(this.rest);
    this.rest = '';
  }
}
