// Whole-file scan of a fragmented MP4 (a segment file, possibly cut short by a crash): finds the
// init segment and every complete fragment (moof + its mdat(s), all samples inside them), and where
// the usable bytes end. Used for crash recovery (truncate at validBytes) and for unknown files.
// Pure: the file's bytes in, a description out.
import { type BoxHeader, isPrintableType, printable, readBoxHeader } from './box.js';
import { type ParsedMoof, parseMoof } from './fragment.js';
import { type InitSegment, parseInit } from './init.js';

export interface ScannedFragment {
  /** File offset of the moof. */
  offset: number;
  /** Bytes from the moof's start through the end of its last mdat. */
  size: number;
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

export function scanFragmentedFile(bytes: Buffer): ScanResult {
  const result: ScanResult = { init: null, initSize: 0, fragments: [], validBytes: 0, trailing: null };
  const len = bytes.length;
  let pos = 0;

  const header = (at: number): BoxHeader | string => {
    let h: BoxHeader | null;
    try {
      h = readBoxHeader(bytes, at);
    } catch (e) {
      return `bad box header at ${at}: ${e instanceof Error ? e.message : String(e)}`;
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
      try {
        result.init = parseInit(bytes.subarray(0, h.end));
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
    let moof: ParsedMoof;
    try {
      moof = parseMoof(bytes.subarray(pos, h.end), pos, init, nextDecode);
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
    result.fragments.push({ offset: pos, size: end - pos, moof });
    result.validBytes = end;
    for (const r of moof.trackRuns) {
      const last = r.samples[r.samples.length - 1];
      if (last) nextDecode.set(r.trackId, last.decodeTime + last.duration);
    }
    pos = end;
    if (problem !== null) { result.trailing = problem; break; }
  }
  return result;
}

function firstSampleOutside(moof: ParsedMoof, mdats: BoxHeader[]): string | null {
  for (const r of moof.trackRuns) {
    for (const s of r.samples) {
      const inside = mdats.some((m) => s.fileOffset >= m.start + m.headerSize && s.fileOffset + s.size <= m.end);
      if (!inside) return `track ${r.trackId} sample at ${s.fileOffset} (+${s.size}) lies outside its mdat`;
    }
  }
  return null;
}
