// Reconciles the index with the files at start (the files are the truth):
// - an unsealed segment (left by a crash) is truncated to its last whole fragment, re-indexed from the
//   file, and sealed; one with no whole fragment is removed;
// - a sealed segment whose file vanished loses its row; one whose size changed is rescanned;
// - an .mp4 under segments/ that the index does not know is scanned in (its name carries its start pts).
// Corrupt files are reported and left out of the index, never deleted.
import { readdirSync, readFileSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Logger } from '../../common/log.js';
import { scanFragmentedFile } from '../../mp4/scan.js';
import { fragmentTimes, videoTrack } from './fragment-times.js';
import type { FragmentRow, SegmentIndex, SegmentRow } from './index-db.js';
import { segmentAbsPath, startPtsFromName } from './paths.js';
import type { PtsClock } from './pts-clock.js';

export interface RecoveryReport {
  recoveredOpen: number;
  truncatedBytes: number;
  droppedRows: number;
  rescanned: number;
  adopted: number;
  corrupt: string[];
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

function scanSegment(abs: string, segmentId: number, offsetNs: number | null, nameStartNs: number | null): ScannedSegment | string {
  const bytes = readFileSync(abs);
  const scan = scanFragmentedFile(bytes);
  if (!scan.init) return 'no init segment';
  if (!videoTrack(scan.init)) return 'no video track';
  const frags: FragmentRow[] = [];
  let frames = 0;
  let off = offsetNs;
  for (const f of scan.fragments) {
    const t = fragmentTimes(scan.init, f.moof);
    if (!t) continue;
    if (off === null) off = (nameStartNs ?? 0) - t.startRelNs;
    frames += t.frames;
    frags.push({
      segment_id: segmentId, seq: frags.length, start_pts_ns: off + t.startRelNs, stop_pts_ns: off + t.stopRelNs,
      offset: f.offset, size: f.size, moof_size: moofSizeAt(bytes, f.offset), samples: t.samples, keyframe: t.keyframe ? 1 : 0,
    });
  }
  if (frags.length === 0 || off === null) return 'no whole fragment';
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

export function reconcile(index: SegmentIndex, clock: PtsClock, segmentsDir: string, log: Logger): RecoveryReport {
  const report: RecoveryReport = { recoveredOpen: 0, truncatedBytes: 0, droppedRows: 0, rescanned: 0, adopted: 0, corrupt: [] };
  const known = new Set<string>();
  const epochOf = (row: Pick<SegmentRow, 'anchor_epoch_ms' | 'anchor_pts_ns'>, pts: number) => row.anchor_epoch_ms + (pts - row.anchor_pts_ns) / 1e6;
  for (const row of index.all()) {
    const abs = segmentAbsPath(segmentsDir, row.path);
    known.add(abs);
    let size: number;
    try {
      size = statSync(abs).size;
    } catch {
      index.deleteSegment(row.id);
      report.droppedRows++;
      log.warn('segment file missing; index row dropped', { path: row.path });
      continue;
    }
    if (row.sealed && size === row.bytes) continue;
    const scanned = scanSegment(abs, row.id, row.offset_ns, null);
    if (typeof scanned === 'string') {
      index.deleteSegment(row.id);
      report.droppedRows++;
      if (!row.sealed) {
        unlinkSync(abs);
        log.warn('open segment had no whole fragment; removed', { path: row.path, why: scanned });
      } else {
        report.corrupt.push(row.path);
        log.error('sealed segment unreadable; left on disk, out of the index', { path: row.path, why: scanned });
      }
      continue;
    }
    if (!row.sealed && scanned.validBytes < scanned.fileBytes) {
      truncateSync(abs, scanned.validBytes);
      report.truncatedBytes += scanned.fileBytes - scanned.validBytes;
    } else if (row.sealed && scanned.trailing) {
      report.corrupt.push(row.path);
      log.error('sealed segment damaged; indexing its readable part', { path: row.path, why: scanned.trailing });
    }
    index.replaceFragments(row.id, scanned.frags, {
      start_pts_ns: scanned.startNs, stop_pts_ns: scanned.stopNs, start_epoch_ms: epochOf(row, scanned.startNs),
      stop_epoch_ms: epochOf(row, scanned.stopNs), bytes: row.sealed ? scanned.fileBytes : scanned.validBytes, frames: scanned.frames,
    });
    if (!row.sealed) {
      index.seal(row.id);
      report.recoveredOpen++;
      log.info('recovered open segment', {
        path: row.path, fragments: scanned.frags.length, truncated_bytes: scanned.fileBytes - scanned.validBytes,
      });
    } else {
      report.rescanned++;
    }
  }
  for (const abs of walkMp4(segmentsDir)) {
    if (known.has(abs)) continue;
    const rel = relative(segmentsDir, abs);
    const nameStart = startPtsFromName(abs.split('/').pop()!);
    if (nameStart === null) continue;
    const scanned = scanSegment(abs, -1, null, nameStart);
    if (typeof scanned === 'string') {
      report.corrupt.push(rel);
      log.warn('unknown file in segments/ is not a usable segment; left alone', { path: rel, why: scanned });
      continue;
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
    index.replaceFragments(id, frags, {
      start_pts_ns: scanned.startNs, stop_pts_ns: scanned.stopNs, start_epoch_ms: startEpoch,
      stop_epoch_ms: startEpoch + (scanned.stopNs - scanned.startNs) / 1e6, bytes: scanned.validBytes, frames: scanned.frames,
    });
    index.seal(id);
    report.adopted++;
    log.info('adopted segment file unknown to the index', { path: rel, fragments: frags.length });
  }
  return report;
}
