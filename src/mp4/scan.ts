// Whole-file scan of a fragmented MP4 (a segment file, possibly cut short by a crash): finds the
// init segment and every complete fragment (moof + its mdat(s), all samples inside them), and where
// the usable bytes end. Used for crash recovery (truncate at validBytes) and for unknown files.
// Pure: one walk over a ByteSource (random access to the file's bytes, a Buffer or a file read
// piecewise by the caller) that reads only box headers, the init and each moof whole, never a sample's
// bytes, so a file of any size is walked in memory bounded by its largest moof; a description out.
import { type BoxHeader, Mp4ParseError, isPrintableType, printable, readBoxHeaderAt } from './box.js';
import { type ParsedMoof, SAMPLE_FIELDS, S_DECODE, S_DURATION, S_OFFSET, S_SIZE, parseMoof, runTable } from './fragment.js';
import { type InitSegment, parseInit } from './init.js';

/** Random access to a file's bytes. */
export interface ByteSource {
  /** The file's length in bytes. */
  readonly length: number;
  /** Exactly the `n` bytes at `at` (at + n <= length); the caller may keep them. Read errors are thrown. */
  read(at: number, n: number): Buffer;
}

/** A Buffer as a ByteSource (reads are zero-copy views). */
export function bufferSource(bytes: Buffer): ByteSource {
  return { length: bytes.length, read: (at, n) => bytes.subarray(at, at + n) };
}

/**
 * Boxes the walk reads whole: the init (everything through moov) and each moof. Real ones are a few KiB
 * (a moof of an hour-long fragment at 120 fps with every per-sample field is ~7 MiB); a larger size is a
 * damaged header, and is reported instead of read, so that garbage cannot make a walk allocate gigabytes.
 */
export const MAX_INIT_BYTES = 64 * 1024 * 1024;
export const MAX_MOOF_BYTES = 64 * 1024 * 1024;

export interface ScannedFragment {
  /** File offset of the moof. */
  offset: number;
  /** Bytes from the moof's start through the end of its last mdat. */
  size: number;
  /** The moof box's size (header included). */
  moofSize: number;
  moof: ParsedMoof;
}

export interface ScanResult {
  init: InitSegment | null;
  /** End of the moov (0 when there is no complete init). */
  initSize: number;
  fragments: ScannedFragment[];
  /** End of the last complete fragment (initSize when there is none): truncate the file here. */
  validBytes: number;
  /**
   * Why bytes after the last complete fragment could not be used, or null when nothing was lost:
   * either validBytes is the file's length, or only complete non-media boxes (mfra, free, skip,
   * sidx, ...) follow, which truncation at validBytes may drop harmlessly.
   */
  trailing: string | null;
}

/** Top-level boxes that carry no samples and may appear between or after fragments. */
const HARMLESS = new Set(['free', 'skip', 'mfra', 'sidx', 'styp', 'prft', 'emsg', 'uuid', 'udta', 'meta', 'ssix']);

/** A walk's findings but the fragments themselves (which it hands over one by one). */
export type WalkResult = Omit<ScanResult, 'fragments'> & { fragmentCount: number };

/** The whole scan of a file held in memory: every fragment listed. */
export function scanFragmentedFile(bytes: Buffer): ScanResult {
  const fragments: ScannedFragment[] = [];
  const r = walkFragmentedFile(bufferSource(bytes), (f) => { fragments.push(f); });
  return { init: r.init, initSize: r.initSize, fragments, validBytes: r.validBytes, trailing: r.trailing };
}

/**
 * Walks a fragmented MP4 from its start, calling `onFragment` for each complete fragment in file order
 * (with the file's init), and stops at the first box that is incomplete, garbled or out of place.
 * Errors thrown by `src.read` or `onFragment` propagate (nothing is concluded from a failed read).
 */
export function walkFragmentedFile(src: ByteSource, onFragment: (f: ScannedFragment, init: InitSegment) => void): WalkResult {
  const result: WalkResult = { init: null, initSize: 0, fragmentCount: 0, validBytes: 0, trailing: null };
  const len = src.length;
  let pos = 0;

  const header = (at: number): BoxHeader | string => {
    const head = src.read(at, Math.min(16, len - at));
    let h: BoxHeader | null;
    try {
      h = readBoxHeaderAt(head, at, len - at);
    } catch (e) {
      if (!(e instanceof Mp4ParseError)) throw e;
      return `bad box header at ${at}: ${e.message}`;
    }
    if (h === null) return `truncated box header at ${at} (${len - at} bytes left)`;
    if (!isPrintableType(h.type)) return `garbage at ${at} (box type '${printable(h.type)}')`;
    if (h.end > len) return `truncated '${h.type}' box at ${at}: needs ${h.size} bytes, ${len - at} present`;
    return h;
  };

  // Init: everything up to and including moov.
  while (pos < len && result.init === null) {
    const h = header(pos);
    if (typeof h === 'string') { result.trailing = h; return result; }
    if (h.type === 'moof' || h.type === 'mdat') { result.trailing = `'${h.type}' at ${pos} before any moov`; return result; }
    if (h.type === 'moov') {
      if (h.end > MAX_INIT_BYTES) { result.trailing = `init of ${h.end} bytes (through the moov at ${pos}) exceeds the ${MAX_INIT_BYTES}-byte limit`; return result; }
      const initBytes = src.read(0, h.end);
      try {
        result.init = parseInit(initBytes);
      } catch (e) {
        result.trailing = `unusable moov at ${pos}: ${e instanceof Error ? e.message : String(e)}`;
        return result;
      }
      result.initSize = h.end;
      result.validBytes = h.end;
    }
    pos = h.end;
  }
  if (result.init === null) {
    result.trailing = len === 0 ? null : 'no moov box';
    return result;
  }
  const init = result.init;

  // Fragments: moof followed by one or more mdat; every sample must lie inside those mdats' payloads.
  const nextDecode = new Map<number, number>();
  while (pos < len) {
    const h = header(pos);
    if (typeof h === 'string') { result.trailing = h; break; }
    if (h.type !== 'moof') {
      if (h.type === 'mdat') { result.trailing = `mdat at ${pos} without a moof`; break; }
      if (!HARMLESS.has(h.type)) { result.trailing = `unexpected '${h.type}' box at ${pos}`; break; }
      pos = h.end;
      continue;
    }
    if (h.size > MAX_MOOF_BYTES) { result.trailing = `moof at ${pos} of ${h.size} bytes exceeds the ${MAX_MOOF_BYTES}-byte limit`; break; }
    const moofBytes = src.read(pos, h.size);
    let moof: ParsedMoof;
    try {
      moof = parseMoof(moofBytes, pos, init, nextDecode);
    } catch (e) {
      result.trailing = `unusable moof at ${pos}: ${e instanceof Error ? e.message : String(e)}`;
      break;
    }
    const mdats: BoxHeader[] = [];
    let end = h.end;
    let problem: string | null = null;
    while (end < len) {
      const m = header(end);
      if (typeof m === 'string') { problem = m; break; }
      if (m.type !== 'mdat') break;
      mdats.push(m);
      end = m.end;
    }
    const outside = firstSampleOutside(moof, mdats);
    if (outside !== null) {
      result.trailing = problem ?? (mdats.length === 0 ? `moof at ${pos} has no mdat` : `moof at ${pos}: ${outside}`);
      break;
    }
    onFragment({ offset: pos, size: end - pos, moofSize: h.size, moof }, init);
    result.fragmentCount++;
    result.validBytes = end;
    for (const r of moof.trackRuns) {
      const t = runTable(r);
      const last = t.length - SAMPLE_FIELDS;
      if (last >= 0) nextDecode.set(r.trackId, t[last + S_DECODE] + t[last + S_DURATION]);
    }
    pos = end;
    if (problem !== null) { result.trailing = problem; break; }
  }
  return result;
}

function firstSampleOutside(moof: ParsedMoof, mdats: BoxHeader[]): string | null {
  for (const r of moof.trackRuns) {
    const t = runTable(r);
    for (let p = 0; p < t.length; p += SAMPLE_FIELDS) {
      const offset = t[p + S_OFFSET];
      const size = t[p + S_SIZE];
      const inside = mdats.some((m) => offset >= m.start + m.headerSize && offset + size <= m.end);
      if (!inside) return `track ${r.trackId} sample at ${offset} (+${size}) lies outside its mdat`;
    }
  }
  return null;
}
