// Producer PTS (ns on the producer's clock) as the wire and the index carry them: exact integers from 0
// to 2^63 − 1 (292 years), which a JavaScript `number` holds exactly only up to 2^53 (104 days). Inside
// the producer an absolute PTS is a `bigint`; a client may give one as a number, a bigint or a string of
// digits, and reads them back as a number while safe and as a bigint beyond (wire-json.ts). Durations and
// offsets within a window stay `number` ns.
import { DomainError } from './errors.js';

/** An absolute producer PTS (ns). */
export type Pts = bigint;
/**
 * A PTS as a JavaScript client holds one (parseWireJson, the Recorder, the Timebase, the CLI): a number while
 * that is exact (up to 2^53 − 1 ns, 104 days), else a bigint (ptsOut makes one from a Pts).
 */
export type PtsValue = number | bigint;
/** What a client may give as a PTS: a number (exact up to 2^53), a bigint, or a string of decimal digits. */
export type PtsInput = number | bigint | string;

/** The largest PTS (the index's signed 64-bit integer). */
export const PTS_MAX = 2n ** 63n - 1n;
/** Largest safe integer as a bigint. */
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A PTS given by a client, checked (a whole number from 0 to PTS_MAX); null when `v` is not one. */
export function parsePts(v: unknown): Pts | null {
  let p: bigint;
  if (typeof v === 'bigint') p = v;
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return null;
    p = BigInt(v);
  } else if (typeof v === 'string' && /^[0-9]{1,19}$/.test(v)) p = BigInt(v);
  else return null;
  return p >= 0n && p <= PTS_MAX ? p : null;
}

/** parsePts, or a DomainError INVALID_FIELD naming the field. */
export function ptsField(v: unknown, field: string): Pts {
  const p = parsePts(v);
  if (p === null) throw new DomainError('INVALID_FIELD', `${field}: must be a whole number of ns from 0 to ${PTS_MAX} (a number, or a string of digits beyond 2^53)`);
  return p;
}

/** A PTS as it goes on the wire: a number while that is exact, else the bigint (wire-json.ts writes its digits). */
export function ptsOut(p: Pts): number | bigint {
  return p <= SAFE && p >= -SAFE ? Number(p) : p;
}

/** The PTS `ns` (a number, may be fractional: rounded to the nearest ns) after `p`. */
export function ptsAdd(p: Pts, ns: number): Pts {
  return p + BigInt(Math.round(ns));
}

/** b − a in ns as a number (exact while the difference is under 2^53 ns, 104 days). */
export function ptsDiff(b: Pts, a: Pts): number {
  return Number(b - a);
}

export const ptsMin = (a: Pts, b: Pts): Pts => (a < b ? a : b);
export const ptsMax = (a: Pts, b: Pts): Pts => (a > b ? a : b);

/** A PTS (or any ns count) in ms as a number: whole ms by bigint division, the rest as a fraction (ns-exact below 2^53 ms). */
export function ptsMs(p: Pts): number {
  return Number(p / 1_000_000n) + Number(p % 1_000_000n) / 1e6;
}
