// The one conversion between media ticks and nanoseconds used everywhere (ingest, index, clips):
// round half up (Math.round semantics) of the exact rational value, exact for any safe integer input.
//
// Exactness: ticks * 1e9 overflows 2^53 after ~9e6 ticks (10 minutes at 15360 Hz), so the value is
// split as ticks = q*timescale + r; q*1e9 is exact and r*1e9/timescale needs only r < timescale.
// That split is exact while timescale*1e9 < 2^52 (timescale < 4.5e6, i.e. every real timescale);
// beyond it, BigInt does the division.

function checkTimescale(timescale: number): void {
  if (!Number.isSafeInteger(timescale) || timescale <= 0) throw new RangeError(`bad timescale ${timescale}`);
}

/** round(a * mul / div), half up, for a safe integer a and positive safe integers mul, div. */
function mulDivRound(a: number, mul: number, div: number): number {
  return mulDivRoundRaw(a, mul, div) + 0; // + 0 turns -0 into 0
}

function mulDivRoundRaw(a: number, mul: number, div: number): number {
  if (!Number.isSafeInteger(a)) {
    if (!Number.isFinite(a)) throw new RangeError(`not a finite number: ${a}`);
    return Math.round((a * mul) / div); // fractional input: no exactness to preserve
  }
  if (Math.abs(a) * mul < 2 ** 52) return Math.round((a * mul) / div);
  if (mul * div < 2 ** 52) {
    // a = q*div + r with 0 <= r < div: q*mul is exact (it is about the result's size) and
    // r*mul < div*mul < 2^52 is exact, so the only rounding is the final Math.round.
    let q = Math.floor(a / div);
    let r = a - q * div;
    // Math.floor(a / div) can be off by one when a / div rounds to an integer: fix r into [0, div).
    while (r < 0) { r += div; q -= 1; }
    while (r >= div) { r -= div; q += 1; }
    return q * mul + Math.round((r * mul) / div);
  }
  const n = BigInt(a) * BigInt(mul);
  const d = BigInt(div);
  // floor((2n + d) / 2d) = round half up; BigInt division truncates, so fix up negatives.
  const num = 2n * n + d;
  const den = 2n * d;
  let q = num / den;
  if (num % den !== 0n && num < 0n) q -= 1n;
  return Number(q);
}

/** Media ticks → nanoseconds: Math.round(ticks * 1e9 / timescale), computed exactly. */
export function ticksToNs(ticks: number, timescale: number): number {
  checkTimescale(timescale);
  return mulDivRound(ticks, 1e9, timescale);
}

/** Nanoseconds → media ticks: Math.round(ns * timescale / 1e9), computed exactly. */
export function nsToTicks(ns: number, timescale: number): number {
  checkTimescale(timescale);
  return mulDivRound(ns, timescale, 1e9);
}

/** Converts a duration between two timescales with the same rounding rule. */
export function rescale(ticks: number, from: number, to: number): number {
  checkTimescale(from);
  checkTimescale(to);
  if (from === to) return ticks;
  return mulDivRound(ticks, to, from);
}

/**
 * out[i] = offsetNs + ticksToNs(ticks[i], timescale) for i in [lo, hi): the same values, the common case
 * (small integer ticks) computed inline.
 */
export function ticksToNsRange(ticks: Float64Array, lo: number, hi: number, timescale: number, offsetNs: number, out: Float64Array): void {
  checkTimescale(timescale);
  for (let i = lo; i < hi; i++) {
    const a = ticks[i];
    // mulDivRoundRaw's first exact case: a safe integer whose product with 1e9 stays below 2^52.
    out[i] = offsetNs + (Math.abs(a) * 1e9 < 2 ** 52 && Math.floor(a) === a ? Math.round((a * 1e9) / timescale) + 0 : mulDivRound(a, 1e9, timescale));
  }
}
