// The I/O of one clip: read the init and the moofs of the fragments the engine selected (from the
// keyframe decoding starts at, possibly in an earlier segment, through the fragment after the window)
// from the segment files (checking each moof against the index, so a damaged segment fails the job by
// name instead of yielding a wrong clip), let the pure planner (mp4/cut) choose samples and edit lists
// and decide `partial` (the sidecar and the API answer both carry the planner's value), lay
// out a plain MP4 and copy the sample bytes into a temp file (fsync), then publish it under a name that
// never overwrites. The JSON sidecar is written the same way and published first, so a visible clip
// always has its sidecar, even after a crash between the two. A full disk ends the job with an error
// naming it, and nothing of the clip is left. A resumed job (its producer died mid-publish) adopts the
// clip it had already published instead of writing a second one.
import { ptsAdd, ptsDiff } from '../../protocol/pts.js';
import { stringifyWireJson } from '../../protocol/wire-json.js';
import { writeFile, unlink } from 'node:fs/promises';
import { openSync, fsyncSync, fstatSync, closeSync, readSync, existsSync, linkSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { parseInit, type InitSegment } from '../../mp4/init.js';
import type { ParsedMoof } from '../../mp4/fragment.js';
import { planCut, type CutPlan, type CutSource } from '../../mp4/cut.js';
import { layoutMp4 } from '../../mp4/writer.js';
import { writeLayout } from './write-layout.js';
import type { FragmentRow, SegmentRow } from '../store/catalog.js';
import { segmentAbsPath } from '../segments/paths.js';
import { checkFragment } from '../segments/fragment-check.js';
import { GAP_TOLERANCE_NS } from '../segments/timeline.js';
import { candidates, freeClipName, sidecarPathOf, tempPathFor } from './output-paths.js';

export interface AssemblyInput {
  clipId: string;
  segments: Array<{ row: SegmentRow; fragments: FragmentRow[] }>;
  segmentsDir: string;
  startNs: bigint;
  stopNs: bigint;
  outDir: string;
  filename: string;
  /** Written into the sidecar as is. */
  sidecarExtra: Record<string, unknown>;
  /** The job ran before and may have published its clip already (the producer died before recording it). */
  resumed?: boolean;
}

export interface AssemblyResult {
  path: string;
  sidecarPath: string;
  bytes: number;
  /** The cut, its times in ns from the window's start (`startNs`: absolute PTS are bigints, the planner works in numbers). */
  plan: CutPlan;
  segmentPaths: string[];
  /** True when a resumed job found its clip already published. */
  adopted: boolean;
}

/** Parsed init segments by segment path (a segment's init never changes). */
const initCache = new Map<string, InitSegment>();
const INIT_CACHE_MAX = 256;

/**
 * Reads the init and the moofs of the given fragments. They are small (a few KiB), so plain positional
 * reads on one descriptor are cheaper than a round trip through the thread pool for each.
 */
function readSource(abs: string, row: SegmentRow, fragments: FragmentRow[]): { init: InitSegment; moofs: ParsedMoof[] } {
  const fd = openSync(abs, 'r');
  try {
    // A sealed segment never changes; one that did (damage, a stray writer) is verified at the next
    // start, and until then not trusted for clips.
    const st = fstatSync(fd);
    if (row.sealed && (st.size !== row.bytes || (row.mtime_ms !== null && st.mtimeMs !== row.mtime_ms))) {
      const how = st.size !== row.bytes ? `${st.size} bytes, the index says ${row.bytes}` : 'written to since';
      throw new Error(`segment ${row.path} is damaged: it changed on disk after it was sealed (${how}); it is verified at the next start and not used until then`);
    }
    let init = initCache.get(abs);
    if (!init) {
      const initBuf = Buffer.allocUnsafe(row.init_size);
      readExactly(fd, initBuf, 0);
      init = parseInit(initBuf);
      if (initCache.size >= INIT_CACHE_MAX) initCache.delete(initCache.keys().next().value as string);
      initCache.set(abs, init);
    }
    const moofs: ParsedMoof[] = [];
    for (const f of fragments) {
      const buf = Buffer.allocUnsafe(f.moof_size);
      readExactly(fd, buf, f.offset);
      const check = checkFragment(buf, f, init, row.offset_ns);
      if ('why' in check) throw new Error(`segment ${row.path} is damaged: the fragment at byte ${f.offset} does not match the index (${check.why})`);
      moofs.push(check.moof);
    }
    return { init, moofs };
  } finally {
    closeSync(fd);
  }
}

function readExactly(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error(`segment file ends early (wanted ${buf.length} bytes at ${position})`);
    done += n;
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch {
    // Not every filesystem lets a directory be fsynced; the data itself already is.
  }
}

export async function assembleClip(a: AssemblyInput): Promise<AssemblyResult> {
  const paths = a.segments.map((s) => segmentAbsPath(a.segmentsDir, s.row.path));
  const sources: CutSource[] = [];
  a.segments.forEach(({ row, fragments }, i) => {
    let read: ReturnType<typeof readSource>;
    try {
      read = readSource(paths[i], row, fragments);
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
  const abs = (ns: number) => ptsAdd(a.startNs, ns);
  const layout = layoutMp4(plan.tracks);
  const used = plan.sourcesUsed.map((i) => a.segments[i].row.path);
  if (a.resumed) {
    const prior = findPublished(a.outDir, a.filename, a.clipId);
    if (prior && statSync(prior).size === layout.size) {
      return { path: prior, sidecarPath: sidecarPathOf(prior), bytes: layout.size, plan, segmentPaths: used, adopted: true };
    }
  }
  const tmpMp4 = tempPathFor(a.outDir, a.clipId, 'mp4');
  const tmpJson = tempPathFor(a.outDir, a.clipId, 'json');
  const sidecarFor = (path: string) => stringifyWireJson({
    ...a.sidecarExtra,
    path,
    bytes: layout.size,
    actual_start_pts_ns: abs(plan.actualStartNs),
    actual_stop_pts_ns: abs(plan.actualStopNs),
    lead_in_ms: plan.leadInNs / 1e6,
    duration_ms: plan.durationNs / 1e6,
    frames: plan.frames,
    segments: used,
    gaps: plan.gaps.map((g) => ({ start_pts_ns: abs(g.startNs), stop_pts_ns: abs(g.stopNs) })),
    partial: plan.partial,
    partial_reason: plan.partialReason,
  }, 2) + '\n';
  try {
    // The clip and its sidecar are written and fsynced side by side; the sidecar names the path the clip
    // will most likely get, and is rewritten in the rare case another writer took that name meanwhile.
    let sidecarNames = freeClipName(a.outDir, a.filename);
    // allSettled, not all: when one write fails (disk full) the other must be finished before the temp
    // files are removed, or it would create its file again afterwards and leave it behind.
    const written = await Promise.allSettled([
      writeLayout(layout, paths, tmpMp4),
      writeFile(tmpJson, sidecarFor(sidecarNames), { flush: true }),
    ]);
    for (const w of written) if (w.status === 'rejected') throw w.reason;
    // Publish: the sidecar first, then the clip, each with link() (which never overwrites).
    for (let attempt = 0; ; attempt++) {
      const candidate = freeClipName(a.outDir, a.filename);
      if (candidate !== sidecarNames) {
        await writeFile(tmpJson, sidecarFor(candidate), { flush: true });
        sidecarNames = candidate;
      }
      const sidecarPath = sidecarPathOf(candidate);
      if (!claim(tmpJson, sidecarPath)) continue;
      if (!claim(tmpMp4, candidate)) {
        unlinkSync(sidecarPath);
        if (attempt > 100) throw new Error(`no free file name for ${a.filename} in ${a.outDir}`);
        continue;
      }
      fsyncDir(a.outDir);
      return { path: candidate, sidecarPath, bytes: layout.size, plan, segmentPaths: used, adopted: false };
    }
  } catch (e) {
    throw explainWriteError(e, a);
  } finally {
    await unlink(tmpMp4).catch(() => undefined);
    await unlink(tmpJson).catch(() => undefined);
  }
}

/** link(from, to); false when `to` exists already. */
function claim(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** A write failure of the clip, said plainly: a full disk is named as such, with the directory. */
function explainWriteError(e: unknown, a: AssemblyInput): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new Error(`disk full: no space left in ${a.outDir} for clip ${a.clipId} (${code}); nothing of it was kept`);
  }
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EIO') {
    return new Error(`cannot write clip ${a.clipId} in ${a.outDir} (${code}: ${(e as Error).message}); nothing of it was kept`);
  }
  return e;
}

/**
 * The clip a resumed job published before its producer died, found by the clip id in the sidecars of
 * the names it could have taken (`name`, `name-1`, … up to the first free one, as output-paths hands them
 * out). A sidecar of this job without its clip (death between the two links) is removed.
 */
function findPublished(dir: string, name: string, clipId: string): string | null {
  for (const candidate of candidates(dir, name)) {
    const sidecar = sidecarPathOf(candidate);
    const hasClip = existsSync(candidate);
    if (!existsSync(sidecar)) {
      if (!hasClip) return null;
      continue;
    }
    let id: unknown;
    try {
      id = (JSON.parse(readFileSync(sidecar, 'utf8')) as { clip_id?: unknown }).clip_id;
    } catch {
      continue;
    }
    if (id !== clipId) continue;
    if (hasClip) return candidate;
    unlinkSync(sidecar);
    return null;
  }
  return null;
}
