// The producer's clock mapping: epoch milliseconds <-> PTS nanoseconds, as reported by /health.timebase.
// Owns the formula `pts = basePtsNs + (epochMs - baseEpochMs) * ptsPerMs` and the validation of its inputs.
// A PTS is an exact integer of any size (a data directory's clock passes 2^53 ns, where a JavaScript number
// stops being exact, after 104 days): the base PTS is kept as a bigint, epoch → PTS is computed in bigint
// from the exact values of the doubles involved, and a PTS is returned as a number while that is exact,
// else as a bigint (PtsValue, src/protocol/pts.ts).
import { describeValue } from './describe-value.js';
import { ptsOut, type PtsValue } from '../protocol/pts.js';

/** The only PTS unit the producer speaks. */
export type PtsUnits = 'ns';

export interface TimebaseInit {
  /** Defaults to 'ns'; any other value is rejected. */
  ptsUnits?: string;
  /** PTS units per millisecond (1e6 for nanoseconds). */
  ptsPerMs: number;
  /** The epoch-ms instant that corresponds to `basePtsNs`. */
  baseEpochMs: number;
  /**
   * The PTS (ns) that corresponds to `baseEpochMs`: a safe-integer number, a bigint, or a string of digits
   * (a number past 2^53 is refused: it may have lost digits, e.g. to JSON.parse).
   */
  basePtsNs: number | bigint | string;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** An exact integer PTS from a number (safe integers only), a bigint or a string of digits; throws naming `name`. */
function exactPts(v: unknown, name: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string' && /^-?[0-9]{1,19}$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v)) {
    throw new Error(
      `${name} is ${v}, past 2^53 where a number is not exact (it may have lost digits): read /health with ` +
      'parseWireJson (it gives a bigint there), or pass a bigint or a string of digits',
    );
  }
  throw new Error(`${name} must be a whole number of ns: a safe integer, a bigint or a string of digits (got ${describeValue(v)})`);
}

function checkFields(init: Record<string, unknown>, names: {
  ptsUnits: string; ptsPerMs: string; baseEpochMs: string; basePtsNs: string;
}): { ptsUnits: PtsUnits; ptsPerMs: number; baseEpochMs: number; basePtsNs: bigint } {
  const units = init.ptsUnits;
  if (units !== undefined && units !== 'ns') {
    throw new Error(`${names.ptsUnits} must be "ns" (got ${JSON.stringify(units) ?? String(units)})`);
  }
  const ptsPerMs = init.ptsPerMs;
  if (!isFiniteNumber(ptsPerMs) || ptsPerMs <= 0) {
    throw new Error(`${names.ptsPerMs} must be a positive finite number (got ${describeValue(ptsPerMs)})`);
  }
  const baseEpochMs = init.baseEpochMs;
  if (!isFiniteNumber(baseEpochMs)) {
    throw new Error(`${names.baseEpochMs} must be a finite number (got ${describeValue(baseEpochMs)})`);
  }
  return { ptsUnits: 'ns', ptsPerMs, baseEpochMs, basePtsNs: exactPts(init.basePtsNs, names.basePtsNs) };
}

/** A finite double as the exact fraction `num / 2^shift`. */
function exactFraction(x: number): { num: bigint; shift: bigint } {
  let shift = 0n;
  // Doubling a non-integer double is exact (it is below 2^52, so nothing overflows); at most 1074 times.
  while (!Number.isInteger(x)) {
    x *= 2;
    shift++;
  }
  return { num: BigInt(x), shift };
}

/** `num / 2^shift` rounded to an integer, halves upwards (as Math.round); `>>` on a bigint floors. */
function roundShifted(num: bigint, shift: bigint): bigint {
  return shift === 0n ? num : (num + (1n << (shift - 1n))) >> shift;
}

export class Timebase {
  readonly ptsUnits: PtsUnits;
  readonly ptsPerMs: number;
  readonly baseEpochMs: number;
  /** The base PTS: a number while exact, else a bigint. */
  readonly basePtsNs: PtsValue;
  readonly #basePts: bigint;
  readonly #baseEpoch: { num: bigint; shift: bigint };
  readonly #perMs: { num: bigint; shift: bigint };

  constructor(init: TimebaseInit) {
    if (typeof init !== 'object' || init === null) throw new Error('Timebase needs an init object');
    const v = checkFields({ ...init }, {
      ptsUnits: 'ptsUnits', ptsPerMs: 'ptsPerMs', baseEpochMs: 'baseEpochMs', basePtsNs: 'basePtsNs',
    });
    this.ptsUnits = v.ptsUnits;
    this.ptsPerMs = v.ptsPerMs;
    this.baseEpochMs = v.baseEpochMs;
    this.#basePts = v.basePtsNs;
    this.basePtsNs = ptsOut(v.basePtsNs);
    this.#baseEpoch = exactFraction(v.baseEpochMs);
    this.#perMs = exactFraction(v.ptsPerMs);
  }

  /**
   * Maps an epoch-ms instant to PTS, rounded to a whole nanosecond (halves up): computed exactly from the
   * doubles given, at any size of PTS. A number while exact, else a bigint. Throws on a non-finite input.
   */
  epochMsToPts(epochMs: number): PtsValue {
    if (!isFiniteNumber(epochMs)) throw new RangeError(`epochMs must be a finite number (got ${describeValue(epochMs)})`);
    const e = exactFraction(epochMs);
    const b = this.#baseEpoch;
    const shift = e.shift > b.shift ? e.shift : b.shift;
    const diff = (e.num << (shift - e.shift)) - (b.num << (shift - b.shift));
    return ptsOut(this.#basePts + roundShifted(diff * this.#perMs.num, shift + this.#perMs.shift));
  }

  /**
   * Maps a PTS (a number or a bigint) back to epoch milliseconds (not rounded). Throws on a non-finite
   * number. An epoch-ms double around today (~1.8e12) resolves only ~0.24 µs, so PTS → epoch → PTS is
   * exact to that.
   */
  ptsToEpochMs(pts: PtsValue): number {
    let diffNs: number;
    if (typeof pts === 'bigint') diffNs = Number(pts - this.#basePts);
    else if (!isFiniteNumber(pts)) throw new RangeError(`pts must be a finite number or a bigint (got ${describeValue(pts)})`);
    else if (Number.isInteger(pts)) diffNs = Number(BigInt(pts) - this.#basePts);
    else diffNs = pts - Number(this.#basePts);
    return this.baseEpochMs + diffNs / this.ptsPerMs;
  }
}

/**
 * Builds a Timebase from a parsed `GET /health` answer (`health.timebase.{pts_units, pts_per_ms,
 * base_epoch_ms, base_pts_ns}`). Parse the answer with parseWireJson (src/protocol/wire-json.ts): past 2^53
 * `base_pts_ns` is then a bigint, while JSON.parse would have rounded it (refused here). Throws an Error
 * naming the missing or invalid field.
 */
export function timebaseFromHealthPayload(health: unknown): Timebase {
  if (typeof health !== 'object' || health === null || Array.isArray(health)) {
    throw new Error('health payload must be a JSON object');
  }
  const tb = (health as Record<string, unknown>).timebase;
  if (typeof tb !== 'object' || tb === null || Array.isArray(tb)) {
    throw new Error('health.timebase is missing or not an object');
  }
  const raw = tb as Record<string, unknown>;
  if (raw.pts_units === undefined) throw new Error('health.timebase.pts_units is missing');
  const v = checkFields(
    { ptsUnits: raw.pts_units, ptsPerMs: raw.pts_per_ms, baseEpochMs: raw.base_epoch_ms, basePtsNs: raw.base_pts_ns },
    {
      ptsUnits: 'health.timebase.pts_units',
      ptsPerMs: 'health.timebase.pts_per_ms',
      baseEpochMs: 'health.timebase.base_epoch_ms',
      basePtsNs: 'health.timebase.base_pts_ns',
    },
  );
  return new Timebase(v);
}
