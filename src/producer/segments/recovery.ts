// Reconciles the index with the files (the files are the truth). At start only what a crash can have
// left (reconcile(): unsealed rows, unindexed files of the newest days), so start-up costs the same at
// any history size; every other row and file is checked by the background pass (background-check.ts)
// with the same per-row and per-file steps:
// - an unsealed segment (left by a crash) is truncated to its last whole fragment, re-indexed from the
//   file, and sealed; one with no whole fragment is removed;
// - a sealed segment whose file vanished loses its row; one whose size or mtime changed since it was
//   sealed is verified fragment by fragment against the index (CRC-32 of its bytes, and its moof's
//   samples and times): damaged or missing fragments are left out of the index and recorded as gaps
//   naming the segment and the damage, the intact ones stay usable, the file itself is left as it is
//   (a segment with nothing intact leaves the index entirely);
// - an .mp4 under segments/ that the index does not know is scanned in (its name carries its start pts);
//   one holding no whole fragment (a crash while it was being opened) is removed.
// Damaged files are reported (`corrupt`) and logged as errors, never deleted.
import { ptsAdd, ptsDiff, ptsMs } from '../../protocol/pts.js';
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync, truncateSync, unlinkSync, type Stats } from 'node:fs';
import { join, relative } from 'node:path';
import type { Logger } from '../../common/log.js';
import { walkFragmentedFile } from '../../mp4/scan.js';
import { parseInit, type InitSegment } from '../../mp4/init.js';
import { fragmentTimes, presentedStopRelNs, videoTrack } from './fragment-times.js';
import { checkFragment } from './fragment-check.js';
import { crc32 } from './crc32.js';
import { withFileBytes } from './file-bytes.js';
import type { FragmentRow, SegmentIndex, SegmentRow } from '../store/catalog.js';
import { segmentAbsPath, startPtsFromName } from './paths.js';
import type { PtsClock } from './pts-clock.js';
import { sealedFileChange } from './sealed-file.js';

export interface RecoveryReport {
  recoveredOpen: number;
  truncatedBytes: number;
  droppedRows: number;
  /** Sealed segments verified because their file changed after sealing. */
  rescanned: number;
  adopted: number;
  /** Segments found damaged (paths relative to segments/). */
  corrupt: string[];
  /** Fragments left out of the index because their bytes were damaged or missing. */
  damagedFragments: number;
}

interface ScannedSegment {
  /** Producer pts of tick 0 of the file's tracks. */
  offsetNs: bigint;
  frags: FragmentRow[];
  frames: number;
  startNs: bigint;
  stopNs: bigint;
  validBytes: number;
  fileBytes: number;
  trailing: string | null;
  init: InitSegment;
}

const NO_WHOLE_FRAGMENT = 'no whole fragment';

/**
 * Scans a segment file into index rows, streaming: box headers, the init and each moof are read whole,
 * each fragment's bytes only through its CRC-32, a chunk at a time (a file of any size, in bounded memory).
 */
function scanSegment(abs: string, segmentId: number, offsetNs: bigint | null, nameStartNs: bigint | null): ScannedSegment | string {
  return withFileBytes(abs, (file) => {
    const frags: FragmentRow[] = [];
    let frames = 0;
    let off = offsetNs;
    let frameNs = 0;
    const scan = walkFragmentedFile(file, (f, init) => {
      const t = fragmentTimes(init, f.moof);
      if (!t) return;
      if (off === null) off = ptsAdd(nameStartNs ?? 0n, -t.startRelNs);
      frames += t.frames;
      // As the writer does: the frame period from fragments of several frames, stretched durations cut.
      if (t.frameDurationNs > 0 && (t.frames >= 4 || frameNs === 0)) frameNs = t.frameDurationNs;
      frags.push({
        segment_id: segmentId, seq: frags.length, start_pts_ns: ptsAdd(off, t.startRelNs), stop_pts_ns: ptsAdd(off, presentedStopRelNs(t, frameNs)),
        offset: f.offset, size: f.size, moof_size: f.moofSize, samples: t.samples, keyframe: t.keyframe ? 1 : 0,
        crc: file.crc32(f.offset, f.size),
      });
    });
    if (!scan.init) return 'no init segment';
    if (!videoTrack(scan.init)) return 'no video track';
    if (frags.length === 0 || off === null) return NO_WHOLE_FRAGMENT;
    return {
      offsetNs: off, frags, frames, startNs: frags[0].start_pts_ns, stopNs: frags[frags.length - 1].stop_pts_ns, validBytes: scan.validBytes,
      fileBytes: file.length, trailing: scan.trailing, init: scan.init,
    };
  });
}

/**
 * Checks a sealed segment whose file changed after sealing against its index rows, keeps the intact
 * fragments and records the rest as gaps (the row goes when nothing of it is usable). The row then
 * describes the file as it is now, so it is verified once, not at every start.
 */
function verifySealed(index: SegmentIndex, row: SegmentRow, abs: string, st: Stats, report: RecoveryReport, log: Logger): void {
  const frags = index.fragmentsOf(row.id);
  const good: FragmentRow[] = [];
  const bad: Array<{ f: FragmentRow; why: string }> = [];
  let frames = 0;
  // Fragment by fragment (positional reads): a segment may be far larger than one buffer should be.
  const fd = openSync(abs, 'r');
  try {
    const read = (at: number, n: number): Buffer => {
      const buf = Buffer.alloc(n);
      let done = 0;
      while (done < n) {
        const k = readSync(fd, buf, done, n - done, at + done);
        if (k === 0) break;
        done += k;
      }
      return buf.subarray(0, done);
    };
    let init: InitSegment | null = null;
    try {
      const head = read(0, row.init_size);
      if (head.length === row.init_size) init = parseInit(head);
    } catch {
      init = null;
    }
    for (const f of frags) {
      let why: string | null = null;
      const bytes = init && f.offset < st.size ? read(f.offset, f.size) : Buffer.alloc(0);
      if (!init) why = 'its init segment is unreadable';
      else if (bytes.length < f.size) why = 'the file is truncated here';
      else if (f.crc !== null && crc32(bytes) !== f.crc) why = 'its bytes changed (checksum mismatch)';
      if (why === null) {
        const check = checkFragment(bytes.subarray(0, f.moof_size), f, init!, row.offset_ns);
        if ('why' in check) why = check.why;
        else frames += check.frames;
      }
      if (why === null) good.push(f);
      else bad.push({ f, why });
    }
  } finally {
    closeSync(fd);
  }
  report.rescanned++;
  if (bad.length === 0) {
    log.warn('sealed segment file changed after sealing, but every indexed fragment is intact', { path: row.path, bytes: st.size, indexed_bytes: row.bytes });
    if (st.size !== row.bytes) {
      index.replaceFragments(row.id, frags, {
        start_pts_ns: row.start_pts_ns, stop_pts_ns: row.stop_pts_ns, start_epoch_ms: row.start_epoch_ms, stop_epoch_ms: row.stop_epoch_ms,
        bytes: st.size, frames: row.frames,
      });
    }
    index.seal(row.id, st.mtimeMs);
    return;
  }
  report.corrupt.push(row.path);
  report.damagedFragments += bad.length;
  // One gap per run of consecutive damaged fragments, naming the segment and the damage.
  for (let i = 0; i < bad.length;) {
    let j = i;
    while (j + 1 < bad.length && bad[j + 1].f.seq === bad[j].f.seq + 1) j++;
    const n = j - i + 1;
    index.addGap(bad[i].f.start_pts_ns, bad[j].f.stop_pts_ns, `segment damaged: ${row.path}: ${bad[i].why} (${n} fragment${n > 1 ? 's' : ''} left out)`);
    i = j + 1;
  }
  if (good.length === 0) {
    index.deleteSegment(row.id);
    report.droppedRows++;
    log.error('sealed segment damaged beyond use; left on disk, out of the index (its time is a recorded gap)', {
      path: row.path, fragments: bad.length, why: bad[0].why,
    });
    return;
  }
  const epochOf = (pts: bigint) => row.anchor_epoch_ms + ptsDiff(pts, row.anchor_pts_ns) / 1e6;
  const startNs = good[0].start_pts_ns;
  const stopNs = good[good.length - 1].stop_pts_ns;
  index.replaceFragments(row.id, good, {
    start_pts_ns: startNs, stop_pts_ns: stopNs, start_epoch_ms: epochOf(startNs), stop_epoch_ms: epochOf(stopNs), bytes: st.size, frames,
  });
  index.seal(row.id, st.mtimeMs);
  log.error('sealed segment damaged; its damaged fragments are left out of the index as recorded gaps, the rest stays usable', {
    path: row.path, damaged_fragments: bad.length, kept_fragments: good.length, why: bad[0].why,
  });
}

/** What reconciling one row or file needs: the index, where the files are, and the report it adds to. */
export interface ReconcileContext {
  index: SegmentIndex;
  clock: PtsClock;
  segmentsDir: string;
  log: Logger;
  report: RecoveryReport;
  /** The files whose removal is decided (file-removals.ts): never adopted back. */
  removals?: { isPending(path: string): boolean };
}

export function emptyReport(): RecoveryReport {
  return { recoveredOpen: 0, truncatedBytes: 0, droppedRows: 0, rescanned: 0, adopted: 0, corrupt: [], damagedFragments: 0 };
}

const epochOf = (row: Pick<SegmentRow, 'anchor_epoch_ms' | 'anchor_pts_ns'>, pts: bigint) => row.anchor_epoch_ms + ptsDiff(pts, row.anchor_pts_ns) / 1e6;

// One file that cannot be read or written (permissions, I/O errors) is reported and left as it is; it
// never stops the producer from starting.
function guarded(ctx: ReconcileContext, path: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    ctx.report.corrupt.push(path);
    ctx.log.error('could not reconcile a segment file; left as it is', { path, error: (e as Error).message });
  }
}

/**
 * Brings one index row in line with its file: a missing file drops the row; a sealed file that changed
 * since sealing is verified; an unsealed one (a crash's open segment) is recovered and sealed.
 */
export function reconcileRow(ctx: ReconcileContext, row: SegmentRow): void {
  // A segment evicted after its upload has no local file to check: the store holds it.
  if (!row.local) return;
  guarded(ctx, row.path, () => {
    const { index, report, log } = ctx;
    const abs = segmentAbsPath(ctx.segmentsDir, row.path);
    let st: Stats;
    try {
      st = statSync(abs);
    } catch {
      index.deleteSegment(row.id);
      report.droppedRows++;
      log.warn('segment file missing; index row dropped', { path: row.path });
      return;
    }
    if (row.sealed) {
      // Sealed files never change: one whose size or mtime did is verified (rows without an mtime,
      // from before it was recorded, are trusted by size).
      if (sealedFileChange(row, st) === null) return;
      verifySealed(index, row, abs, st, report, log);
      return;
    }
    const scanned = scanSegment(abs, row.id, row.offset_ns, null);
    if (typeof scanned === 'string') {
      index.deleteSegment(row.id);
      report.droppedRows++;
      unlinkSync(abs);
      log.warn('open segment had no whole fragment; removed', { path: row.path, why: scanned });
      return;
    }
    if (scanned.validBytes < scanned.fileBytes) {
      truncateSync(abs, scanned.validBytes);
      report.truncatedBytes += scanned.fileBytes - scanned.validBytes;
    }
    index.replaceFragments(row.id, scanned.frags, {
      start_pts_ns: scanned.startNs, stop_pts_ns: scanned.stopNs, start_epoch_ms: epochOf(row, scanned.startNs),
      stop_epoch_ms: epochOf(row, scanned.stopNs), bytes: scanned.validBytes, frames: scanned.frames,
    });
    index.seal(row.id, statSync(abs).mtimeMs);
    report.recoveredOpen++;
    log.info('recovered open segment', {
      path: row.path, fragments: scanned.frags.length, truncated_bytes: scanned.fileBytes - scanned.validBytes,
    });
  });
}

/** Indexes a segment file the index does not know (its name carries its start pts), or removes an empty one. */
export function adoptFile(ctx: ReconcileContext, abs: string): void {
  const rel = relative(ctx.segmentsDir, abs);
  // Not footage to adopt: a file whose removal is decided but not done (its unlink failed), or a name read
  // before retention removed its row and file (the background pass reads a directory a few names a turn).
  if (ctx.removals?.isPending(rel) || !existsSync(abs)) return;
  guarded(ctx, rel, () => {
    const { index, report, log } = ctx;
    const nameStart = startPtsFromName(abs.split('/').pop()!);
    if (nameStart === null) return;
    const scanned = scanSegment(abs, -1, null, nameStart);
    if (scanned === NO_WHOLE_FRAGMENT) {
      // An init and at most part of a fragment: the writer died between creating the file and indexing
      // it. There is no footage in it.
      unlinkSync(abs);
      log.info('removed an unindexed segment file holding no whole fragment (left by a crash while it was opened)', { path: rel });
      return;
    }
    if (typeof scanned === 'string') {
      report.corrupt.push(rel);
      log.warn('unknown file in segments/ is not a usable segment; left alone', { path: rel, why: scanned });
      return;
    }
    const video = videoTrack(scanned.init)!;
    const audio = scanned.init.tracks.find((t) => t.kind === 'audio');
    const startEpoch = ctx.clock.baseEpochMs + ptsMs(scanned.startNs);
    const id = index.insertSegment({
      path: rel, run_id: 0, start_pts_ns: scanned.startNs, start_epoch_ms: startEpoch, offset_ns: scanned.offsetNs,
      anchor_epoch_ms: startEpoch, anchor_pts_ns: scanned.startNs, bytes: scanned.validBytes, init_size: scanned.init.bytes.length,
      codec: video.codec, codec_string: [video.codecString, audio?.codecString].filter(Boolean).join(','), width: video.width ?? 0,
      height: video.height ?? 0, fps: 0, has_audio: audio ? 1 : 0,
      description_key: scanned.init.tracks.map((t) => t.descriptionKey).join('+'), created_ms: Date.now(),
    });
    const frags = scanned.frags.map((f) => ({ ...f, segment_id: id }));
    // The row describes the whole file (a damaged tail stays out of the fragments, not out of the size),
    // so it is not verified again at every start.
    index.replaceFragments(id, frags, {
      start_pts_ns: scanned.startNs, stop_pts_ns: scanned.stopNs, start_epoch_ms: startEpoch,
      stop_epoch_ms: startEpoch + ptsDiff(scanned.stopNs, scanned.startNs) / 1e6, bytes: scanned.fileBytes, frames: scanned.frames,
    });
    index.seal(id, statSync(abs).mtimeMs);
    report.adopted++;
    if (scanned.trailing) {
      report.corrupt.push(rel);
      log.error('adopted segment file unknown to the index; its damaged tail is left out', { path: rel, fragments: frags.length, why: scanned.trailing });
    } else {
      log.info('adopted segment file unknown to the index', { path: rel, fragments: frags.length });
    }
  });
}

/** The day directories under segments/ (YYYY-MM-DD), oldest first. */
export function dayDirs(segmentsDir: string): string[] {
  try {
    return readdirSync(segmentsDir).filter((n) => /^\d{4}-\d{2}-\d{2}$/.test(n)).sort();
  } catch {
    return [];
  }
}

/** The .mp4 files of one day directory unknown to the index, in name order. */
export function unknownFilesIn(ctx: Pick<ReconcileContext, 'index' | 'segmentsDir'>, day: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(ctx.segmentsDir, day));
  } catch {
    return [];
  }
  const known = new Set(ctx.index.pathsUnder(`${day}/`));
  return names.filter((n) => n.endsWith('.mp4') && !known.has(`${day}/${n}`)).sort().map((n) => join(ctx.segmentsDir, day, n));
}

/** How many of the newest day directories start-up checks for files a crash left unindexed. */
const NEWEST_DAYS = 2;

/**
 * What start-up must do before recording resumes, whatever the history: recover the open segments a
 * crash left (unsealed rows) and index or remove the files the newest days hold that the index does not
 * know (a crash between creating a file and indexing it). Every other row and file is checked by the
 * background pass (background-check.ts).
 */
export function reconcile(index: SegmentIndex, clock: PtsClock, segmentsDir: string, log: Logger, removals?: ReconcileContext['removals']): RecoveryReport {
  const ctx: ReconcileContext = { index, clock, segmentsDir, log, report: emptyReport(), removals };
  for (const row of index.unsealed()) reconcileRow(ctx, row);
  for (const day of dayDirs(segmentsDir).slice(-NEWEST_DAYS)) {
    for (const abs of unknownFilesIn(ctx, day)) adoptFile(ctx, abs);
  }
  return ctx.report;
}
