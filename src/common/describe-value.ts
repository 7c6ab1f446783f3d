// How an error message shows the value it refused: numbers and bigints as their digits, anything else as
// JSON (or as String() where JSON cannot write it), and a missing value as "nothing".

/** The value as an error message quotes it. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
