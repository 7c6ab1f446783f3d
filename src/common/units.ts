// Parsing of human-friendly durations ("24h", "90s", "500ms") and sizes ("20GB", "512MiB").
const DURATION_UNITS: Record<string, number> = {
  ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000,
};
const SIZE_UNITS: Record<string, number> = {
  b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** "24h" → 86400000. A bare number is seconds. Throws on anything else. */
export function parseDurationMs(text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? (m[2] || 's').toLowerCase() : '';
  if (!m || !(unit in DURATION_UNITS)) {
    throw new Error(`${what}: "${text}" is not a duration (examples: 500ms, 90s, 15m, 24h, 7d)`);
  }
  return Math.round(Number(m[1]) * DURATION_UNITS[unit]);
}

/** "20GB" → 20e9, "512MiB" → 536870912. A bare number is bytes. Throws on anything else. */
export function parseBytes(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? (m[2] || 'b').toLowerCase() : '';
  if (!m || !(unit in SIZE_UNITS)) {
    throw new Error(`${what}: "${text}" is not a size (examples: 500MB, 20GB, 1.5TiB)`);
  }
  return Math.round(Number(m[1]) * SIZE_UNITS[unit]);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
