// The read-and-plan half of cutting a window out of the recording, shared by clips (assemble.ts, which
// writes the result to a file) and the recording route (recording-view.ts, which serves it without
// writing anything): read the init and the moofs of the selected fragments from the segment files
// (checking each moof against the index, so a damaged segment fails by name instead of yielding wrong
// media), let the pure planner (mp4/cut) choose samples and edit lists, and lay out a plain MP4
// (mp4/writer: its head and the source byte ranges that follow it). Nothing is written. A segment
// evicted to the object store is read by ranged GETs of its init and moofs only (nearby ones coalesced).
import { openSync, fstatSync, closeSync, statSync } from 'node:fs';
import { ptsDiff } from '../../protocol/pts.js';
import { parseInit, type InitSegment } from '../../mp4/init.js';
import type { ParsedMoof } from '../../mp4/fragment.js';
import { planCut, type CutPlan, type CutSource } from '../../mp4/cut.js';
import { layoutMp4, type Mp4Layout } from '../../mp4/writer.js';
import type { FragmentRow, SegmentRow } from '../store/catalog.js';
import { coalesceRanges, readFullySync, segmentRef, type FetchedBytes, type SegmentPlace, type SegmentRef } from '../store/segment-source.js';
import { checkFragment } from '../segments/fragment-check.js';
import { sealedFileChange } from '../segments/sealed-file.js';
import { GAP_TOLERANCE_NS } from '../segments/timeline.js';

export interface CutInput {
  /** From the keyframe decoding starts at through the fragment after the window (catalog.clipFragments). */
  segments: Array<{ row: SegmentRow; fragments: FragmentRow[] }>;
  /** Where the segments are: local directory, and the store for those evicted. */
  place: SegmentPlace;
  /**
   * Fetch whole fragments (not only their moofs) of segments in the store: a clip copies nearly all of
   * their bytes anyway, so one ranged GET per segment replaces one per moof and then one per 2 MiB (the
   * bytes come back in `fetched`). A recording view, which may span an hour, fetches moofs only.
   */
  wholeFragments?: boolean;
  startNs: bigint;
  stopNs: bigint;
}

export interface CutLayout {
  /** Each input segment (the layout's copy ranges name them by index): its file, or its object. */
  sources: SegmentRef[];
  /** The cut, its times in ns from the window's start (absolute PTS are bigints, the planner works in numbers). */
  plan: CutPlan;
  layout: Mp4Layout;
  /** Paths (relative, as the index has them) of the segments the cut takes samples from. */
  used: string[];
  /** What was fetched from the store, by input segment (writeLayout reads it from memory). */
  fetched: Map<number, FetchedBytes>;
}

/** Parsed init segments by segment path (a segment's init never changes). */
const initCache = new Map<string, InitSegment>();
/** Enough for an hour of 10-s segments (360 inits, ~1 KB each) read again without parsing. */
const INIT_CACHE_MAX = 1024;

/**
 * Checked moofs of local segments, by file: an hour's window asked again, or one beside it (a browser
 * scrubbing, a clip of an event near the last), is laid out without reading and checking thousands of
 * moofs again, and a clip of the newest seconds reads only the moofs written since the last clip. A
 * fragment is never rewritten once the index has it; a sealed file never changes (its size and mtime
 * are still checked at every read). An entry is for one row as it was (id; bytes and mtime once
 * sealed), so a segment sealed since, or rescanned, is read afresh.
 */
const moofCache = new Map<string, { what: string; moofs: Map<number, ParsedMoof> }>();
/** Moofs kept at most (about an hour of 1-s fragments from three cameras; ~1.5 KB each at 30 fps). */
const MOOF_CACHE_MAX = 12_000;
let moofsCached = 0;

/** Forgets every init and moof read (bench/recording measures a window whose segments were never read). */
export function forgetSegmentReads(): void {
  initCache.clear();
  moofCache.clear();
  moofsCached = 0;
}

function rowSignature(row: SegmentRow): string {
  return row.sealed ? `${row.id}:${row.bytes}:${row.mtime_ms}` : `${row.id}:open`;
}

/**
 * A sealed segment never changes; one that did (damage, a stray writer, a backup tool's touch) is not
 * trusted for clips until its camera verified it, which it is asked to do at once (`place.changedSealed`).
 */
function checkSealed(place: SegmentPlace, row: SegmentRow, st: { size: number; mtimeMs: number }): void {
  const how = row.sealed ? sealedFileChange(row, st) : null;
  if (how === null) return;
  place.changedSealed?.(row.id);
  throw new Error(`segment ${row.path} is damaged: it changed on disk after it was sealed (${how}); it is being verified, retry in a moment`);
}

function cacheMoofs(abs: string, row: SegmentRow, fragments: FragmentRow[], moofs: ParsedMoof[]): void {
  let entry = moofCache.get(abs);
  if (entry && entry.what !== rowSignature(row)) {
    moofsCached -= entry.moofs.size;
    entry = undefined;
  }
  moofCache.delete(abs);
  entry ??= { what: rowSignature(row), moofs: new Map() };
  moofCache.set(abs, entry);
  fragments.forEach((f, i) => {
    if (!entry.moofs.has(f.seq)) moofsCached++;
    entry.moofs.set(f.seq, moofs[i]);
  });
  for (const [k, e] of moofCache) {
    if (moofsCached <= MOOF_CACHE_MAX || k === abs) break;
    moofCache.delete(k);
    moofsCached -= e.moofs.size;
  }
}

/**
 * Reads the init and the moofs of the given fragments (those not cached). They are small (a few KiB), so
 * plain positional reads on one descriptor are cheaper than a round trip through the thread pool for each.
 */
function readLocalSource(place: SegmentPlace, abs: string, row: SegmentRow, fragments: FragmentRow[]): { init: InitSegment; moofs: ParsedMoof[] } {
  const entry = moofCache.get(abs);
  const known = entry?.what === rowSignature(row) ? entry.moofs : undefined;
  const cachedInit = initCache.get(abs);
  const missing = known && cachedInit ? fragments.filter((f) => !known.has(f.seq)) : fragments;
  if (known && cachedInit && missing.length === 0) {
    if (row.sealed) checkSealed(place, row, statSync(abs));
    moofCache.delete(abs);
    moofCache.set(abs, entry!);
    return { init: cachedInit, moofs: fragments.map((f) => known.get(f.seq)!) };
  }
  const fd = openSync(abs, 'r');
  try {
    checkSealed(place, row, fstatSync(fd));
    const read = parseSource(abs, row, missing, (at, n) => {
      const buf = Buffer.allocUnsafe(n);
      readFullySync(fd, buf, n, at, row.path);
      return buf;
    });
    cacheMoofs(abs, row, missing, read.moofs);
    if (missing === fragments) return read;
    const fresh = new Map(missing.map((f, i) => [f.seq, read.moofs[i]]));
    return { init: read.init, moofs: fragments.map((f) => fresh.get(f.seq) ?? known!.get(f.seq)!) };
  } finally {
    closeSync(fd);
  }
}

/** Moofs of one segment this close together are fetched from the store in one ranged GET. */
const STORE_COALESCE_BYTES = 64 * 1024;
/** Ranged GETs of one segment in flight at once. */
const STORE_PARALLEL = 8;

/** The same from the object store: the init and moofs (or whole fragments) by ranged GETs, side by side. */
async function readStoredSource(place: SegmentPlace, ref: SegmentRef, row: SegmentRow, fragments: FragmentRow[], whole: boolean): Promise<{ init: InitSegment; moofs: ParsedMoof[]; fetched: FetchedBytes }> {
  const store = place.store!;
  const key = ref.key!;
  const wanted = [{ offset: 0, length: initCache.has(key) ? 0 : row.init_size }, ...fragments.map((f) => ({ offset: f.offset, length: whole ? f.size : f.moof_size }))]
    .filter((r) => r.length > 0);
  const spans = coalesceRanges(wanted, STORE_COALESCE_BYTES);
  const bytes: Buffer[] = new Array<Buffer>(spans.length);
  for (let i = 0; i < spans.length; i += STORE_PARALLEL) {
    const batch = spans.slice(i, i + STORE_PARALLEL);
    const got = await Promise.all(batch.map((s) => store.getRange(key, s.offset, s.length)));
    got.forEach((b, k) => { bytes[i + k] = b; });
  }
  const parsed = parseSource(key, row, fragments, (at, n) => {
    const k = spans.findIndex((s) => at >= s.offset && at + n <= s.offset + s.length);
    if (k < 0) throw new Error(`segment ${row.path}: bytes ${at}+${n} were not fetched`);
    return bytes[k].subarray(at - spans[k].offset, at - spans[k].offset + n);
  });
  return { ...parsed, fetched: { spans, bytes } };
}

/** The init (parsed once per segment) and each moof checked against the index. */
function parseSource(cacheKey: string, row: SegmentRow, fragments: FragmentRow[], read: (at: number, n: number) => Buffer): { init: InitSegment; moofs: ParsedMoof[] } {
  let init = initCache.get(cacheKey);
  if (!init) {
    init = parseInit(read(0, row.init_size));
    if (initCache.size >= INIT_CACHE_MAX) initCache.delete(initCache.keys().next().value as string);
    initCache.set(cacheKey, init);
  }
  const moofs: ParsedMoof[] = [];
  for (const f of fragments) {
    const check = checkFragment(read(f.offset, f.moof_size), f, init, row.offset_ns);
    if ('why' in check) throw new Error(`segment ${row.path} is damaged: the fragment at byte ${f.offset} does not match the index (${check.why})`);
    moofs.push(check.moof);
  }
  return { init, moofs };
}

/** Reads what the cut needs from the segments and lays out the MP4 (head + copy ranges). */
export async function layoutCut(a: CutInput): Promise<CutLayout> {
  const refs = a.segments.map((s) => segmentRef(a.place, s.row));
  // Segments in the store are fetched side by side; local ones are read as they come.
  type Read = { init: InitSegment; moofs: ParsedMoof[] };
  const stored = new Map<number, Read | Error>();
  const fetched = new Map<number, FetchedBytes>();
  await Promise.all(a.segments.map(async ({ row, fragments }, i) => {
    if (refs[i].key === null) return;
    try {
      const got = await readStoredSource(a.place, refs[i], row, fragments, a.wholeFragments ?? false);
      stored.set(i, got);
      if (a.wholeFragments) fetched.set(i, got.fetched);
    } catch (e) {
      stored.set(i, e instanceof Error ? e : new Error(String(e)));
    }
  }));
  const sources: CutSource[] = [];
  a.segments.forEach(({ row, fragments }, i) => {
    let read: Read;
    try {
      const got = stored.get(i);
      if (got instanceof Error) throw got;
      read = got ?? readLocalSource(a.place, refs[i].abs, row, fragments);
    } catch (e) {
      // A segment read only for context (a keyframe before the window, the audio after it) that cannot
      // be read is left out: the planner then says what the clip lacks. One the window needs fails the job.
      if (fragments.every((f) => f.stop_pts_ns <= a.startNs || f.start_pts_ns >= a.stopNs)) return;
      throw e;
    }
    const { init, moofs } = read;
    // A segment whose damaged fragments recovery left out of the index has holes: each contiguous run
    // is its own source, so the planner sees a hole as the gap it is.
    let from = 0;
    for (let k = 1; k <= fragments.length; k++) {
      if (k < fragments.length && ptsDiff(fragments[k].start_pts_ns, fragments[k - 1].stop_pts_ns) <= GAP_TOLERANCE_NS) continue;
      sources.push({ source: i, offsetNs: ptsDiff(row.offset_ns, a.startNs), init, fragments: moofs.slice(from, k) });
      from = k;
    }
  });
  // The planner works in ns from the window's start (numbers; a window is at most an hour).
  const plan = planCut(sources, { startNs: 0, stopNs: ptsDiff(a.stopNs, a.startNs) });
  const layout = layoutMp4(plan.tracks);
  const used = plan.sourcesUsed.map((i) => a.segments[i].row.path);
  return { sources: refs, plan, layout, used, fetched };
}

