// The producer's clock mapping: epoch milliseconds <-> PTS nanoseconds, as reported by /health.timebase.
// Owns the formula `pts = basePtsNs + (epochMs - baseEpochMs) * ptsPerMs` and the validation of its inputs.

/** The only PTS unit the producer speaks. */
export type PtsUnits = 'ns';

export interface TimebaseInit {
  /** Defaults to 'ns'; any other value is rejected. */
  ptsUnits?: string;
  /** PTS units per millisecond (1e6 for nanoseconds). */
  ptsPerMs: number;
  /** The epoch-ms instant that corresponds to `basePtsNs`. */
  baseEpochMs: number;
  /** The PTS (ns) that corresponds to `baseEpochMs`. */
  basePtsNs: number;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function checkFields(init: Record<string, unknown>, names: {
  ptsUnits: string; ptsPerMs: string; baseEpochMs: string; basePtsNs: string;
}): { ptsUnits: PtsUnits; ptsPerMs: number; baseEpochMs: number; basePtsNs: number } {
  const units = init.ptsUnits;
  if (units !== undefined && units !== 'ns') {
    throw new Error(`${names.ptsUnits} must be "ns" (got ${JSON.stringify(units) ?? String(units)})`);
  }
  const ptsPerMs = init.ptsPerMs;
  if (!isFiniteNumber(ptsPerMs) || ptsPerMs <= 0) {
    throw new Error(`${names.ptsPerMs} must be a positive finite number (got ${describe(ptsPerMs)})`);
  }
  const baseEpochMs = init.baseEpochMs;
  if (!isFiniteNumber(baseEpochMs)) {
    throw new Error(`${names.baseEpochMs} must be a finite number (got ${describe(baseEpochMs)})`);
  }
  const basePtsNs = init.basePtsNs;
  if (!isFiniteNumber(basePtsNs)) {
    throw new Error(`${names.basePtsNs} must be a finite number (got ${describe(basePtsNs)})`);
  }
  return { ptsUnits: 'ns', ptsPerMs, baseEpochMs, basePtsNs };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number') return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export class Timebase {
  readonly ptsUnits: PtsUnits;
  readonly ptsPerMs: number;
  readonly baseEpochMs: number;
  readonly basePtsNs: number;

  constructor(init: TimebaseInit) {
    if (typeof init !== 'object' || init === null) throw new Error('Timebase needs an init object');
    const v = checkFields({ ...init }, {
      ptsUnits: 'ptsUnits', ptsPerMs: 'ptsPerMs', baseEpochMs: 'baseEpochMs', basePtsNs: 'basePtsNs',
    });
    this.ptsUnits = v.ptsUnits;
    this.ptsPerMs = v.ptsPerMs;
    this.baseEpochMs = v.baseEpochMs;
    this.basePtsNs = v.basePtsNs;
  }

  /** Maps an epoch-ms instant to PTS, rounded to a whole nanosecond. Throws on a non-finite input. */
  epochMsToPts(epochMs: number): number {
    if (!isFiniteNumber(epochMs)) throw new RangeError(`epochMs must be a finite number (got ${describe(epochMs)})`);
    const pts = Math.round(this.basePtsNs + (epochMs - this.baseEpochMs) * this.ptsPerMs);
    return pts === 0 ? 0 : pts; // never -0
  }

  /**
   * Maps a PTS back to epoch milliseconds (not rounded). Throws on a non-finite input. Note that an
   * epoch-ms double around today (~1.8e12) resolves only ~0.24 µs, so PTS → epoch → PTS is exact to that.
   */
  ptsToEpochMs(pts: number): number {
    if (!isFiniteNumber(pts)) throw new RangeError(`pts must be a finite number (got ${describe(pts)})`);
    return this.baseEpochMs + (pts - this.basePtsNs) / this.ptsPerMs;
  }
}

/**
 * Builds a Timebase from a parsed `GET /health` answer (`health.timebase.{pts_units, pts_per_ms,
 * base_epoch_ms, base_pts_ns}`). Throws an Error naming the missing or invalid field.
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
