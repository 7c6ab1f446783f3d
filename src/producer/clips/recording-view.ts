// Recorded footage as a "virtual" MP4 of any window (Moonfire's idea): the same cut a clip makes
// (cut-layout.ts: keyframe lead-in hidden by the edit list, frame-exact ends, gaps closed up), but
// nothing is written — the file is its layout (head + byte ranges of the segment files), served on
// demand, any byte range of it. The same footage always gives the same bytes, so its ETag (a hash of
// the window and of every segment row and fragment the cut reads) lets HTTP Range / If-Range work and a
// browser seek. Layouts are cached (a browser asks for many ranges of one file while seeking); the
// segments a view reads are pinned against retention while it is being read.
import { createHash } from 'node:crypto';
import { DomainError } from '../../protocol/errors.js';
import { ptsAdd } from '../../protocol/pts.js';
import { CutError } from '../../mp4/cut.js';
import type { SegmentIndex } from '../store/catalog.js';
import { layoutCut, type CutLayout } from './cut-layout.js';
import { openSegment, segmentRef, type SegmentPlace, type SegmentReader, type SegmentRef } from '../store/segment-source.js';
import { KEYFRAME_LOOKBACK_NS } from './engine.js';
import { NO_OVERLAP_MESSAGE } from './clip-window.js';

export interface RecordingViewPorts {
  catalog: Pick<SegmentIndex, 'clipFragments' | 'overlapping'>;
  pins: { pin(ids: number[]): () => void };
  place: SegmentPlace;
}

/** What a view says about itself (headers, HEAD), besides its bytes. */
export interface RecordingViewInfo {
  etag: string;
  size: number;
  /** PTS of the first presented frame (media time 0) and of the end of the last one. */
  actualStartPtsNs: bigint;
  actualStopPtsNs: bigint;
  frames: number;
  durationMs: number;
  /** Holes in the footage inside the window (closed up in the media timeline, as in clips). */
  gaps: Array<{ startPtsNs: bigint; stopPtsNs: bigint }>;
  partial: boolean;
}

/** One request's view: its bytes on demand; `release()` unpins its segments (call it when done). */
export interface RecordingView extends RecordingViewInfo {
  /** The bytes [start, end] (inclusive), in pieces, read as they are consumed. */
  bytes(start: number, end: number): AsyncGenerator<Buffer>;
  release(): void;
}

interface Cached extends RecordingViewInfo {
  /** The file: its head and copy ranges, and the segment files they name (not the plan: an hour's plan
   * holds an object per sample, and cached views must stay small). */
  cut: Pick<CutLayout, 'layout'>;
  /** Output offset where each copy range begins (after the head). */
  copyStarts: number[];
  /** The segments read, and what they were (sealed, size, mtime): see `stillSealed`. */
  ids: number[];
  span: { lo: bigint; hi: bigint };
  sealedSignature: string | null;
}

/**
 * What the segments of a span are, when every one is sealed (null otherwise): sealed rows never change
 * (one whose file did is refused by the reader; one removed or adopted changes the set), and new
 * footage only ever comes after them, so the same signature means the same bytes.
 */
function sealedSignature(rows: Array<{ id: number; sealed: number | boolean; bytes: number; mtime_ms: number | null; fragments: number }>): string | null {
  if (rows.length === 0 || rows.some((r) => !r.sealed)) return null;
  return rows.map((r) => `${r.id}:${r.bytes}:${r.mtime_ms}:${r.fragments}`).join(',');
}

const CACHE_MAX = 8;
/** Largest single read from a segment file. */
const READ_BYTES = 1024 * 1024;

export class RecordingViews {
  private readonly cache = new Map<string, Cached>();
  /** The newest views by window, for the fast path of a window asked again (a browser seeking). */
  private readonly byWindow = new Map<string, Cached>();

  constructor(private readonly p: RecordingViewPorts) {}

  /** The window's view; 409 NO_FOOTAGE when nothing recorded is in it. */
  async open(startPtsNs: bigint, stopPtsNs: bigint): Promise<RecordingView> {
    // A window asked before whose segments were all sealed then and still are, unchanged: the same bytes,
    // found with one range query instead of reading every fragment row again.
    const known = this.byWindow.get(`${startPtsNs}-${stopPtsNs}`);
    const spanRows = known?.sealedSignature ? this.p.catalog.overlapping(known.span.lo, known.span.hi) : [];
    if (known?.sealedSignature && sealedSignature(spanRows) === known.sealedSignature) {
      const release = this.p.pins.pin(known.ids);
      // Where each segment is read from now (a local copy may have been evicted to the store since).
      const byId = new Map(spanRows.map((r) => [r.id, r]));
      const refs = known.ids.map((id) => segmentRef(this.p.place, byId.get(id)!));
      return { ...infoOf(known), bytes: (start, end) => readRange(known, refs, this.p.place, start, end), release };
    }
    // The query and the pin in one synchronous step: retention cannot remove a row between them.
    const segments = this.p.catalog.clipFragments(startPtsNs, stopPtsNs, KEYFRAME_LOOKBACK_NS);
    if (segments.length === 0) throw new DomainError('NO_FOOTAGE', NO_OVERLAP_MESSAGE);
    const release = this.p.pins.pin(segments.map((s) => s.row.id));
    try {
      // Everything the bytes depend on: the window, and each row and fragment read (a sealed file never
      // changes; one that did is refused by the reader).
      const h = createHash('sha256').update(`${startPtsNs}-${stopPtsNs}`);
      for (const { row, fragments } of segments) {
        h.update(`|${row.id}:${row.path}:${row.bytes}:${row.mtime_ms}:${row.offset_ns}:${row.init_size}`);
        for (const f of fragments) h.update(`,${f.seq}:${f.offset}:${f.size}:${f.moof_size}:${f.crc}`);
      }
      const key = h.digest('base64url').slice(0, 32);
      let v = this.cache.get(key);
      if (v) {
        this.cache.delete(key); // most recently used last
      } else {
        v = await this.build(key, segments, startPtsNs, stopPtsNs);
        if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
      }
      this.cache.set(key, v);
      const windowKey = `${startPtsNs}-${stopPtsNs}`;
      this.byWindow.delete(windowKey);
      if (this.byWindow.size >= CACHE_MAX) this.byWindow.delete(this.byWindow.keys().next().value as string);
      this.byWindow.set(windowKey, v);
      const cached = v;
      const refs = segments.map((s) => segmentRef(this.p.place, s.row));
      return { ...infoOf(cached), bytes: (start, end) => readRange(cached, refs, this.p.place, start, end), release };
    } catch (e) {
      release();
      throw e;
    }
  }

  private async build(key: string, segments: Parameters<typeof layoutCut>[0]['segments'], startNs: bigint, stopNs: bigint): Promise<Cached> {
    let cut: CutLayout;
    try {
      cut = await layoutCut({ segments, place: this.p.place, startNs, stopNs });
    } catch (e) {
      if (e instanceof CutError) throw new DomainError('NO_FOOTAGE', `${NO_OVERLAP_MESSAGE} (${e.message})`);
      throw e;
    }
    const { plan, layout } = cut;
    const copyStarts: number[] = [];
    let at = layout.head.length;
    for (const c of layout.copies) {
      copyStarts.push(at);
      at += c.length;
    }
    const abs = (ns: number) => ptsAdd(startNs, ns);
    const span = { lo: segments[0].row.start_pts_ns, hi: segments[segments.length - 1].row.stop_pts_ns };
    return {
      cut: { layout }, copyStarts, etag: `"${key}"`, size: layout.size, ids: segments.map((x) => x.row.id), span,
      // The rows read are the span's (no query again); a set that differs later only misses the fast path.
      sealedSignature: sealedSignature(segments.map((x) => x.row)),
      actualStartPtsNs: abs(plan.actualStartNs), actualStopPtsNs: abs(plan.actualStopNs),
      frames: plan.frames, durationMs: plan.durationNs / 1e6, partial: plan.partial,
      gaps: plan.gaps.map((g) => ({ startPtsNs: abs(g.startNs), stopPtsNs: abs(g.stopNs) })),
    };
  }
}

function infoOf(c: Cached): RecordingViewInfo {
  const { etag, size, actualStartPtsNs, actualStopPtsNs, frames, durationMs, gaps, partial } = c;
  return { etag, size, actualStartPtsNs, actualStopPtsNs, frames, durationMs, gaps, partial };
}

/** Index of the last copy range starting at or before `pos` (copyStarts ascending). */
function copyAt(starts: number[], pos: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The view's bytes [start, end]: the head from memory, then the copy ranges read from the segments. */
async function* readRange(v: Cached, refs: SegmentRef[], place: SegmentPlace, start: number, end: number): AsyncGenerator<Buffer> {
  const { head, copies } = v.cut.layout;
  let pos = start;
  if (pos < head.length) {
    const to = Math.min(end + 1, head.length);
    yield head.subarray(pos, to);
    pos = to;
  }
  if (pos > end || copies.length === 0) return;
  const files = new Map<number, SegmentReader>();
  try {
    for (let i = copyAt(v.copyStarts, pos); i < copies.length && pos <= end; i++) {
      const c = copies[i];
      let h = files.get(c.source);
      if (!h) {
        h = await openSegment(place, refs[c.source]);
        files.set(c.source, h);
      }
      const copyEnd = Math.min(v.copyStarts[i] + c.length, end + 1);
      while (pos < copyEnd) {
        const n = Math.min(READ_BYTES, copyEnd - pos);
        const buf = Buffer.allocUnsafe(n);
        await h.readInto(buf, n, c.offset + (pos - v.copyStarts[i]));
        pos += n;
        yield buf;
      }
    }
  } finally {
    await Promise.allSettled([...files.values()].map((f) => f.close()));
  }
}
