// The I/O of one clip: read the init and the moofs of the fragments that cover the window from the
// segment files, let the pure planner (mp4/cut) choose samples and edit lists, lay out a plain MP4 and
// copy the sample bytes into a temp file (fsync), then publish it under a name that never overwrites.
// The JSON sidecar is written the same way, beside the clip.
import { writeFile, rename, unlink } from 'node:fs/promises';
import { openSync, fsyncSync, closeSync, readSync } from 'node:fs';
import { parseInit, type InitSegment } from '../../mp4/init.js';
import { parseMoof, type ParsedMoof } from '../../mp4/fragment.js';
import { planCut, type CutPlan, type CutSource } from '../../mp4/cut.js';
import { layoutMp4 } from '../../mp4/writer.js';
import { writeLayout } from './write-layout.js';
import type { FragmentRow, SegmentRow } from '../segments/index-db.js';
import { segmentAbsPath } from '../segments/paths.js';
import { freeClipName, publishNoOverwrite, sidecarPathOf, tempPathFor } from './output-paths.js';

export interface AssemblyInput {
  clipId: string;
  segments: Array<{ row: SegmentRow; fragments: FragmentRow[] }>;
  segmentsDir: string;
  startNs: number;
  stopNs: number;
  outDir: string;
  filename: string;
  /** Written into the sidecar as is. */
  sidecarExtra: Record<string, unknown>;
}

export interface AssemblyResult {
  path: string;
  sidecarPath: string;
  bytes: number;
  plan: CutPlan;
  segmentPaths: string[];
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
      moofs.push(parseMoof(buf, f.offset, init));
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
  const sources: CutSource[] = a.segments.map(({ row, fragments }, i) => {
    const { init, moofs } = readSource(paths[i], row, fragments);
    return { source: i, offsetNs: row.offset_ns, init, fragments: moofs };
  });
  const plan = planCut(sources, { startNs: a.startNs, stopNs: a.stopNs });
  const layout = layoutMp4(plan.tracks);
  const tmpMp4 = tempPathFor(a.outDir, a.clipId, 'mp4');
  const tmpJson = tempPathFor(a.outDir, a.clipId, 'json');
  const used = plan.sourcesUsed.map((i) => a.segments[i].row.path);
  const sidecarFor = (path: string) => JSON.stringify({
    ...a.sidecarExtra,
    path,
    bytes: layout.size,
    actual_start_pts_ns: plan.actualStartNs,
    actual_stop_pts_ns: plan.actualStopNs,
    lead_in_ms: plan.leadInNs / 1e6,
    duration_ms: plan.durationNs / 1e6,
    frames: plan.frames,
    segments: used,
    gaps: plan.gaps.map((g) => ({ start_pts_ns: g.startNs, stop_pts_ns: g.stopNs })),
    partial: plan.partial,
    partial_reason: plan.partialReason,
  }, null, 2) + '\n';
  try {
    // The clip and its sidecar are written and fsynced side by side; the sidecar names the path the clip
    // will most likely get, and is rewritten in the rare case another writer took that name meanwhile.
    const likely = freeClipName(a.outDir, a.filename);
    await Promise.all([
      writeLayout(layout, paths, tmpMp4),
      writeFile(tmpJson, sidecarFor(likely), { flush: true }),
    ]);
    const finalPath = publishNoOverwrite(tmpMp4, a.outDir, a.filename);
    if (finalPath !== likely) await writeFile(tmpJson, sidecarFor(finalPath), { flush: true });
    const sidecarPath = sidecarPathOf(finalPath);
    await rename(tmpJson, sidecarPath);
    fsyncDir(a.outDir);
    return { path: finalPath, sidecarPath, bytes: layout.size, plan, segmentPaths: used };
  } finally {
    await unlink(tmpMp4).catch(() => undefined);
    await unlink(tmpJson).catch(() => undefined);
  }
}
