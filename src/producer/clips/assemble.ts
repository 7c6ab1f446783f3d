// The I/O of one clip: read the init and the moofs of the fragments that cover the window from the
// segment files, let the pure planner (mp4/cut) choose samples and edit lists, lay out a plain MP4 and
// copy the sample bytes into a temp file (fsync), then publish it under a name that never overwrites.
// The JSON sidecar is written the same way, beside the clip.
import { open, writeFile, rename, unlink } from 'node:fs/promises';
import { openSync, fsyncSync, closeSync } from 'node:fs';
import { parseInit, type InitSegment } from '../../mp4/init.js';
import { parseMoof, type ParsedMoof } from '../../mp4/fragment.js';
import { planCut, type CutPlan, type CutSource } from '../../mp4/cut.js';
import { layoutMp4 } from '../../mp4/writer.js';
import { writeLayout } from './write-layout.js';
import type { FragmentRow, SegmentRow } from '../segments/index-db.js';
import { segmentAbsPath } from '../segments/paths.js';
import { publishNoOverwrite, tempPathFor } from './output-paths.js';

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

async function readSource(abs: string, row: SegmentRow, fragments: FragmentRow[]): Promise<{ init: InitSegment; moofs: ParsedMoof[] }> {
  const fh = await open(abs, 'r');
  try {
    const initBuf = Buffer.allocUnsafe(row.init_size);
    await readExactly(fh, initBuf, 0);
    const init = parseInit(initBuf);
    const moofs: ParsedMoof[] = [];
    for (const f of fragments) {
      const buf = Buffer.allocUnsafe(f.moof_size);
      await readExactly(fh, buf, f.offset);
      moofs.push(parseMoof(buf, f.offset, init));
    }
    return { init, moofs };
  } finally {
    await fh.close();
  }
}

async function readExactly(fh: import('node:fs/promises').FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`segment file ends early (wanted ${buf.length} bytes at ${position})`);
    done += bytesRead;
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
  for (let i = 0; i < a.segments.length; i++) {
    const { row, fragments } = a.segments[i];
    const { init, moofs } = await readSource(paths[i], row, fragments);
    sources.push({ source: i, offsetNs: row.offset_ns, init, fragments: moofs });
  }
  const plan = planCut(sources, { startNs: a.startNs, stopNs: a.stopNs });
  const layout = layoutMp4(plan.tracks);
  const tmpMp4 = tempPathFor(a.outDir, a.clipId, 'mp4');
  const tmpJson = tempPathFor(a.outDir, a.clipId, 'json');
  try {
    await writeLayout(layout, paths, tmpMp4);
    const finalPath = publishNoOverwrite(tmpMp4, a.outDir, a.filename);
    const sidecarPath = finalPath.replace(/\.mp4$/i, '.json');
    const used = plan.sourcesUsed.map((i) => a.segments[i].row.path);
    const sidecar = {
      ...a.sidecarExtra,
      path: finalPath,
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
    };
    await writeFile(tmpJson, JSON.stringify(sidecar, null, 2) + '\n', { flush: true });
    await rename(tmpJson, sidecarPath);
    fsyncDir(a.outDir);
    return { path: finalPath, sidecarPath, bytes: layout.size, plan, segmentPaths: used };
  } finally {
    await unlink(tmpMp4).catch(() => undefined);
    await unlink(tmpJson).catch(() => undefined);
  }
}
