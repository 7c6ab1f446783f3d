// Pure validation of a POST /clip body into a ClipSpec. Every rejection is a 400 whose message names
// the field. PTS wins over epoch when both windows are given (as the spec says).
import { DomainError } from '../../protocol/errors.js';
import { optFiniteNumber, optNonNegInt, optString, rejectUnknownKeys, requireObject } from '../../protocol/fields.js';
import { MAX_CLIP_NS, MAX_WAIT_MS } from '../../protocol/schemas.js';
import { ptsField } from '../../protocol/pts.js';

export const CLIP_BODY_KEYS = ['start_pts_ns', 'stop_pts_ns', 'start_epoch_ms', 'stop_epoch_ms', 'label', 'out_dir', 'filename', 'max_wait_ms'] as const;

export { MAX_CLIP_NS, MAX_WAIT_MS };
export const DEFAULT_MAX_WAIT_MS = 30_000;

export interface ClipSpec {
  mode: 'pts' | 'epoch';
  startPtsNs?: bigint;
  stopPtsNs?: bigint;
  startEpochMs?: number;
  stopEpochMs?: number;
  label: string | null;
  /** As given (validated against the clip roots separately). */
  outDir: string | null;
  filename: string | null;
  maxWaitMs: number;
}

/** An optional PTS field (null counts as absent): a safe integer, or a string of digits past 2^53. */
function optPts(obj: Record<string, unknown>, key: string): bigint | undefined {
  const v = obj[key];
  return v === undefined || v === null ? undefined : ptsField(v, key);
}

export function parseClipBody(body: unknown): ClipSpec {
  const obj = requireObject(body);
  rejectUnknownKeys(obj, CLIP_BODY_KEYS);
  const startPts = optPts(obj, 'start_pts_ns');
  const stopPts = optPts(obj, 'stop_pts_ns');
  const startEpoch = optFiniteNumber(obj, 'start_epoch_ms', 0, 1e15);
  const stopEpoch = optFiniteNumber(obj, 'stop_epoch_ms', 0, 1e15);
  const label = optString(obj, 'label', 200) ?? null;
  const outDir = optString(obj, 'out_dir', 4096) ?? null;
  const filename = optString(obj, 'filename', 200) ?? null;
  const maxWaitMs = optNonNegInt(obj, 'max_wait_ms', MAX_WAIT_MS) ?? DEFAULT_MAX_WAIT_MS;
  if (filename !== null) validateFilename(filename);
  return { ...parseClipWindow({ startPts, stopPts, startEpoch, stopEpoch }), label, outDir, filename, maxWaitMs };
}

/** A window in producer PTS or in epoch ms, as a clip request or the recording route gives it. */
export type ClipWindow = { mode: 'pts'; startPtsNs: bigint; stopPtsNs: bigint } | { mode: 'epoch'; startEpochMs: number; stopEpochMs: number };

/**
 * Checks a window given as PTS (which win when both are given, as the spec says) or epoch ms: both
 * ends, in order, at most MAX_CLIP_NS long. Every rejection names the field.
 */
export function parseClipWindow(w: { startPts?: bigint; stopPts?: bigint; startEpoch?: number; stopEpoch?: number }): ClipWindow {
  const { startPts, stopPts, startEpoch, stopEpoch } = w;
  const hasPts = startPts !== undefined || stopPts !== undefined;
  const hasEpoch = startEpoch !== undefined || stopEpoch !== undefined;
  if (hasPts) {
    if (startPts === undefined) throw new DomainError('INVALID_FIELD', 'start_pts_ns: required with stop_pts_ns');
    if (stopPts === undefined) throw new DomainError('INVALID_FIELD', 'stop_pts_ns: required with start_pts_ns');
    if (stopPts <= startPts) throw new DomainError('INVALID_FIELD', 'stop_pts_ns: must be greater than start_pts_ns');
    if (stopPts - startPts > BigInt(MAX_CLIP_NS)) throw new DomainError('INVALID_FIELD', `stop_pts_ns: window longer than ${MAX_CLIP_NS / 1e9} s`);
    return { mode: 'pts', startPtsNs: startPts, stopPtsNs: stopPts };
  }
  if (hasEpoch) {
    if (startEpoch === undefined) throw new DomainError('INVALID_FIELD', 'start_epoch_ms: required with stop_epoch_ms');
    if (stopEpoch === undefined) throw new DomainError('INVALID_FIELD', 'stop_epoch_ms: required with start_epoch_ms');
    if (stopEpoch <= startEpoch) throw new DomainError('INVALID_FIELD', 'stop_epoch_ms: must be greater than start_epoch_ms');
    if ((stopEpoch - startEpoch) * 1e6 > MAX_CLIP_NS) throw new DomainError('INVALID_FIELD', `stop_epoch_ms: window longer than ${MAX_CLIP_NS / 1e9} s`);
    return { mode: 'epoch', startEpochMs: startEpoch, stopEpochMs: stopEpoch };
  }
  throw new DomainError('INVALID_FIELD', 'start_pts_ns: a window is required (start_pts_ns + stop_pts_ns, or start_epoch_ms + stop_epoch_ms)');
}

/** Leaves room under NAME_MAX (255 bytes) for a `-9999` suffix and the `.json` sidecar's longer extension. */
export const MAX_FILENAME_BYTES = 240;

/** A plain file name: no separators, no traversal, no hidden files, ending in .mp4. */
export function validateFilename(name: string): void {
  if (name.includes('/') || name.includes('\\')) throw new DomainError('INVALID_FIELD', 'filename: must be a plain name without path separators');
  if (name === '.' || name === '..' || name.startsWith('.')) throw new DomainError('INVALID_FIELD', 'filename: must not start with a dot');
  if (!name.toLowerCase().endsWith('.mp4') || name.length <= 4) throw new DomainError('INVALID_FIELD', 'filename: must end in .mp4');
  if (name.includes('\0')) throw new DomainError('INVALID_FIELD', 'filename: must not contain NUL');
  if (Buffer.byteLength(name, 'utf8') > MAX_FILENAME_BYTES) throw new DomainError('INVALID_FIELD', `filename: longer than ${MAX_FILENAME_BYTES} bytes (UTF-8)`);
}

/** A label made safe to appear in a file name. */
export function labelForFilename(label: string | null): string {
  const s = (label ?? '').normalize('NFKD').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+|_+$/g, '').slice(0, 60);
  return s;
}
