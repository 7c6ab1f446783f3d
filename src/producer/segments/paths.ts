// Where segment files live: DATA/segments/YYYY-MM-DD/<start_pts_ns>.mp4, and the guard that keeps every
// path the index hands out inside the segments directory.
import { join, relative, resolve, sep, isAbsolute } from 'node:path';

export function segmentRelPath(startPtsNs: bigint, startEpochMs: number): string {
  const day = new Date(Math.max(0, startEpochMs)).toISOString().slice(0, 10);
  return `${day}/${startPtsNs < 0n ? 0n : startPtsNs}.mp4`;
}

/** Resolves a relative segment path under `segmentsDir`, refusing anything that would escape it. */
export function segmentAbsPath(segmentsDir: string, rel: string): string {
  const abs = resolve(segmentsDir, rel);
  const r = relative(segmentsDir, abs);
  if (r === '' || r.startsWith('..') || isAbsolute(r) || r.split(sep).includes('..')) {
    throw new Error(`segment path escapes the segments directory: ${rel}`);
  }
  return abs;
}

/** The start pts encoded in a segment file name, or null when the name is not ours. */
export function startPtsFromName(name: string): bigint | null {
  const m = /^(\d{1,19})(?:-\d+)?\.mp4$/.exec(name);
  return m ? BigInt(m[1]) : null;
}

export function segmentsDirOf(dataDir: string): string {
  return join(dataDir, 'segments');
}
