// Reconciles the index with the files at start (the files are the truth):
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
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync, truncateSync, unlinkSync, type Stats } from 'node:fs';
import { join, relative } from 'node:path';
import type { Logger } from '../../common/log.js';
import { scanFragmentedFile } from '../../mp4/scan.js';
import { parseInit, type InitSegment } from '../../mp4/init.js';
import { fragmentTimes, presentedStopRelNs, videoTrack } from './fragment-times.js';
import { checkFragment } from './fragment-check.js';
import { crc32 } from './crc32.js';
import type { FragmentRow, SegmentIndex, SegmentRow } from '../store/catalog.js';
import { segmentAbsPath, startPtsFromName } from './paths.js';
import type { PtsClock } from './pts-clock.js';

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
  offsetNs: number;
  frags: FragmentRow[];
  frames: number;
  startNs: number;
  stopNs: number;
  validBytes: number;
  fileBytes: number;
  trailing: string | null;
  init: NonNullable<ReturnType<typeof scanFragmentedFile>['init']>;
}

const NO_WHOLE_FRAGMENT = 'no whole fragment';

function scanSegment(abs: string, segmentId: number, offsetNs: number | null, nameStartNs: number | null): ScannedSegment | string {
  const bytes = readFileSync(abs);
  const scan = scanFragmentedFile(bytes);
  if (!scan.init) return 'no init segment';
  if (!videoTrack(scan.init)) return 'no video track';
  const frags: FragmentRow[] = [];
  let frames = 0;
  let off = offsetNs;
  let frameNs = 0;
  for (const f of scan.fragments) {
    const t = fragmentTimes(scan.init, f.moof);
    if (!t) continue;
    if (off === null) off = (nameStartNs ?? 0) - t.startRelNs;
    frames += t.frames;
    // As the writer does: the frame period from fragments of several frames, stretched durations cut.
    if (t.frameDurationNs > 0 && (t.frames >= 4 || frameNs === 0)) frameNs = t.frameDurationNs;
    frags.push({
      segment_id: segmentId, seq: frags.length, start_pts_ns: off + t.startRelNs, stop_pts_ns: off + presentedStopRelNs(t, frameNs),
      offset: f.offset, size: f.size, moof_size: moofSizeAt(bytes, f.offset), samples: t.samples, keyframe: t.keyframe ? 1 : 0,
      crc: crc32(bytes.subarray(f.offset, f.offset + f.size)),
    });
  }
  if (frags.length === 0 || off === null) return NO_WHOLE_FRAGMENT;
  return {
    offsetNs: off, frags, frames, startNs: frags[0].start_pts_ns, stopNs: frags[frags.length - 1].stop_pts_ns, validBytes: scan.validBytes,
    fileBytes: bytes.length, trailing: scan.trailing, init: scan.init,
  };
}

function moofSizeAt(bytes: Buffer, offset: number): number {
  return bytes.readUInt32BE(offset);
}

function walkMp4(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    const p = join(dir, n);
    let st;
    try { st = statSync(p); } catch { continue; }
    if (st.isDirectory()) out = out.concat(walkMp4(p));
    else if (n.endsWith('.mp4')) out.push(p);
  }
  return out;
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
  const epochOf = (pts: number) => row.anchor_epoch_ms + (pts - row.anchor_pts_ns) / 1e6;
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

export function reconcile(index: SegmentIndex, clock: PtsClock, segmentsDir: string, log: Logger): RecoveryReport {
  const report: RecoveryReport = { recoveredOpen: 0, truncatedBytes: 0, droppedRows: 0, rescanned: 0, adopted: 0, corrupt: [], damagedFragments: 0 };
  const known = new Set<string>();
  const epochOf = (row: Pick<SegmentRow, 'anchor_epoch_ms' | 'anchor_pts_ns'>, pts: number) => row.anchor_epoch_ms + (pts - row.anchor_pts_ns) / 1e6;
  const reconcileRow = (row: SegmentRow): void => {
    const abs = segmentAbsPath(segmentsDir, row.path);
    known.add(abs);
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
      if (st.size === row.bytes && (row.mtime_ms === null || row.mtime_ms === st.mtimeMs)) return;
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
  };
  const adoptFile = (abs: string): void => {
    const rel = relative(segmentsDir, abs);
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
    const startEpoch = clock.baseEpochMs + scanned.startNs / 1e6;
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
      stop_epoch_ms: startEpoch + (scanned.stopNs - scanned.startNs) / 1e6, bytes: scanned.fileBytes, frames: scanned.frames,
    });
    index.seal(id, statSync(abs).mtimeMs);
    report.adopted++;
    if (scanned.trailing) {
      report.corrupt.push(rel);
      log.error('adopted segment file unknown to the index; its damaged tail is left out', { path: rel, fragments: frags.length, why: scanned.trailing });
    } else {
      log.info('adopted segment file unknown to the index', { path: rel, fragments: frags.length });
    }
  };
  // One file that cannot be read or written (permissions, I/O errors, a file too large to read whole)
  // is reported and left as it is; it never stops the producer from starting.
  const guarded = (path: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      report.corrupt.push(path);
      log.error('could not reconcile a segment file; left as it is', { path, error: (e as Error).message });
    }
  };
  for (const row of index.all()) guarded(row.path, () => reconcileRow(row));
  for (const abs of walkMp4(segmentsDir)) {
    if (!known.has(abs)) guarded(relative(segmentsDir, abs), () => adoptFile(abs));
  }
  return report;
}
