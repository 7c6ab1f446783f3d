// The read-and-plan half of cutting a window out of the recording, shared by clips (assemble.ts, which
// writes the result to a file) and the recording route (recording-view.ts, which serves it without
// writing anything): read the init and the moofs of the selected fragments from the segment files
// (checking each moof against the index, so a damaged segment fails by name instead of yielding wrong
// media), let the pure planner (mp4/cut) choose samples and edit lists, and lay out a plain MP4
// (mp4/writer: its head and the source byte ranges that follow it). Nothing is written.
import { openSync, fstatSync, closeSync, readSync } from 'node:fs';
import { ptsDiff } from '../../protocol/pts.js';
import { parseInit, type InitSegment } from '../../mp4/init.js';
import type { ParsedMoof } from '../../mp4/fragment.js';
import { planCut, type CutPlan, type CutSource } from '../../mp4/cut.js';
import { layoutMp4, type Mp4Layout } from '../../mp4/writer.js';
import type { FragmentRow, SegmentRow } from '../store/catalog.js';
import { segmentAbsPath } from '../segments/paths.js';
import { checkFragment } from '../segments/fragment-check.js';
import { GAP_TOLERANCE_NS } from '../segments/timeline.js';

export interface CutInput {
  /** From the keyframe decoding starts at through the fragment after the window (catalog.clipFragments). */
  segments: Array<{ row: SegmentRow; fragments: FragmentRow[] }>;
  segmentsDir: string;
  startNs: bigint;
  stopNs: bigint;
}

export interface CutLayout {
  /** Absolute path of each input segment (the layout's copy ranges name them by index). */
  paths: string[];
  /** The cut, its times in ns from the window's start (absolute PTS are bigints, the planner works in numbers). */
  plan: CutPlan;
  layout: Mp4Layout;
  /** Paths (relative, as the index has them) of the segments the cut takes samples from. */
  used: string[];
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

/** Reads what the cut needs from the segments and lays out the MP4 (head + copy ranges). */
export function layoutCut(a: CutInput): CutLayout {
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
  const layout = layoutMp4(plan.tracks);
  const used = plan.sourcesUsed.map((i) => a.segments[i].row.path);
  return { paths, plan, layout, used };
}

