// The I/O of one clip: cut the window the engine selected (cut-layout.ts: read, plan, lay out; the
// planner decides `partial`, and the sidecar and the API answer both carry its value), copy the
// sample bytes into a temp file (fsync), then publish it under a name that
// never overwrites. The JSON sidecar is written the same way and published first, so a visible clip
// always has its sidecar, even after a crash between the two. A full disk ends the job with an error
// naming it, and nothing of the clip is left. A resumed job (its producer died mid-publish) adopts the
// clip it had already published instead of writing a second one.
import { ptsAdd } from '../../protocol/pts.js';
import { stringifyWireJson } from '../../protocol/wire-json.js';
import { writeFile, unlink } from 'node:fs/promises';
import { existsSync, linkSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { syncDirectory } from '../../common/sync-directory.js';
import type { CutPlan } from '../../mp4/cut.js';
import { writeLayout } from './write-layout.js';
import { layoutCut, type CutInput } from './cut-layout.js';
import { candidates, freeClipName, sidecarPathOf, tempPathFor } from './output-paths.js';

export interface AssemblyInput extends CutInput {
  clipId: string;
  outDir: string;
  filename: string;
  /** Written into the sidecar as is. */
  sidecarExtra: Record<string, unknown>;
  /** The job ran before and may have published its clip already (the producer died before recording it). */
  resumed?: boolean;
  /** Called once the clip's first bytes are on their way to the disk. */
  onWriting?: () => void;
  /** The first chunk read on the calling thread (writeLayout's `firstChunkNow`): for a clip written alone. */
  firstChunkNow?: boolean;
  /** Awaited before the clip is published (a job's row being written); a rejection leaves nothing published. */
  beforePublish?: () => Promise<void>;
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

export async function assembleClip(a: AssemblyInput): Promise<AssemblyResult> {
  const { sources, plan, layout, used, fetched } = await layoutCut({ ...a, wholeFragments: true });
  const abs = (ns: number) => ptsAdd(a.startNs, ns);
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
      writeLayout(layout, sources, tmpMp4, { place: a.place, fetched, onWriting: a.onWriting, firstChunkNow: a.firstChunkNow }),
      writeFile(tmpJson, sidecarFor(sidecarNames), { flush: true }),
    ]);
    for (const w of written) if (w.status === 'rejected') throw w.reason;
    await a.beforePublish?.();
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
      // The temp names go now, before the directory is synced (only a name each: the files keep
      // their published one); done here rather than through the thread pool, it costs microseconds.
      dropTemp(tmpMp4);
      dropTemp(tmpJson);
      syncDirectory(a.outDir);
      return { path: candidate, sidecarPath, bytes: layout.size, plan, segmentPaths: used, adopted: false };
    }
  } catch (e) {
    // Not published: the temp files may be the only names of what was written (large: freed off the loop).
    await Promise.all([unlink(tmpMp4).catch(() => undefined), unlink(tmpJson).catch(() => undefined)]);
    throw explainWriteError(e, a);
  }
}

/** Removes a temp name that is now a second name of a published file. */
function dropTemp(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone; a stale temp file would be removed at the next start anyway.
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
