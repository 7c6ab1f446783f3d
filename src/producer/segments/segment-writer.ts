// The write path: turns the ingest's runs and fragments into segment files and index rows.
// A segment file = the run's init (ftyp+moov) + whole moof+mdat fragments, appended as they arrive,
// so the open file is always readable up to its last indexed fragment. Fragments come at every keyframe
// and at least every second in between; a segment is sealed when a keyframe fragment arrives after
// --segment-seconds (so segments begin on keyframes), at a new run (ffmpeg restart, codec change), at a
// timestamp jump that needs re-anchoring (run-timeline.ts places each fragment), or on request (force_rotate: the next
// fragment is appended, then the segment is sealed — the next one may then begin mid-GOP, and clips find
// its keyframe in the segment before).
//
// Storage failures (disk full — ENOSPC, SQLITE_FULL — or any other I/O error on a segment file or its
// index rows) never reach the ingest: a fragment that cannot be stored is dropped (bytes of it already
// written are cut off again, so file and index agree), the open segment is sealed at its last whole
// fragment, the producer is asked to make room (retention) and the write is retried once. While storing
// keeps failing every fragment is dropped and counted (`storageFault`, for /health); the first fragment
// stored afterwards records the lost time as a gap with its reason.
import { closeSync, fstatSync, fsyncSync, ftruncateSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import type { InitSegment } from '../../mp4/init.js';
import type { ParsedMoof } from '../../mp4/fragment.js';
import { fragmentTimes, videoTrack } from './fragment-times.js';
import { RunTimeline, type Gap, type RunFloor } from './run-timeline.js';
import { isDiskFull, storageErrorCode, StorageFaultTracker, type StorageFault } from './storage-fault.js';

import type { SegmentIndex, SegmentRow } from '../store/catalog.js';
import { segmentAbsPath } from './paths.js';
import { createSegmentFile, removeSegmentFile, writeAll } from './segment-file.js';
import type { PtsClock } from './pts-clock.js';
import { crc32 } from './crc32.js';
import { ptsDiff } from '../../protocol/pts.js';

export interface IngestFragment {
  /** moof + mdat bytes exactly as ffmpeg wrote them. */
  bytes: Buffer;
  moofSize: number;
  moof: ParsedMoof;
  arrivalEpochMs: number;
}

interface OpenSegment {
  row: SegmentRow;
  fd: number;
  bytes: number;
  frames: number;
  seq: number;
  stopNs: bigint;
  startEpochMs: number;
}

type RotateWaiter = { resolve: (row: SegmentRow | null) => void };

export interface SegmentWriterEvents {
  segmentOpened?(row: SegmentRow): void;
  segmentSealed?(row: SegmentRow): void;
  fragment?(info: { segmentId: number; startNs: bigint; stopNs: bigint; bytes: number; runId: number; offsetNs: bigint }): void;
  gap?(gap: Gap): void;
}

export class SegmentWriter {
  private open: OpenSegment | null = null;
  private run: RunTimeline | null = null;
  private rotateWaiters: RotateWaiter[] = [];
  private fragmentsDropped = 0;
  private fragmentsWritten = 0;
  private bytesWritten = 0;
  private readonly faults: StorageFaultTracker;
  /** Segments sealed on disk whose index row could not be marked sealed yet (retried with the next write). */
  private unsealedIds: Array<{ id: number; mtimeMs: number | null }> = [];
  constructor(
    private readonly deps: {
      index: SegmentIndex;
      clock: PtsClock;
      segmentsDir: string;
      segmentSeconds: number;
      log: Logger;
      events?: SegmentWriterEvents;
      /** Reason recorded for the gap before a run (e.g. "ingest restart"). */
      gapReason?: () => string;
      /** Asked to free space when the disk is full (retention); returns how many segments it removed. */
      makeRoom?: () => number;
    },
  ) {
    this.faults = new StorageFaultTracker(deps.segmentsDir, deps.log);
  }

  /** The newest storage error (kept after recovery, with what it cost), for /health's last_error. */
  get lastStorageError(): { message: string; atMs: number } | null {
    return this.faults.lastError;
  }

  get counters(): { fragmentsWritten: number; fragmentsDropped: number; bytesWritten: number } {
    return { fragmentsWritten: this.fragmentsWritten, fragmentsDropped: this.fragmentsDropped, bytesWritten: this.bytesWritten };
  }

  /** Non-null while fragments cannot be stored. */
  get storageFault(): StorageFault | null {
    return this.faults.fault;
  }

  get openSegment(): SegmentRow | null {
    return this.open ? this.deps.index.get(this.open.row.id) ?? null : null;
  }

  /**
   * The camera's newest footage recorded elsewhere (another node, before this one took the camera over):
   * the next run starts above it, the time between recorded as a gap. Used once, by the next run.
   */
  handoverFloor: { stopPtsNs: bigint; stopEpochMs: number } | null = null;

  get currentRun(): { runId: number; init: InitSegment; offsetNs: bigint | null; frameDurationNs: number } | null {
    return this.run;
  }

  /** A new ffmpeg run began with this init segment. Seals any open segment (its timeline ends here). */
  startRun(runId: number, init: InitSegment): void {
    this.sealOpen('new ingest run');
    if (!videoTrack(init)) throw new Error('the source has no video track');
    this.run = new RunTimeline(runId, init, this.deps.clock);
  }

  /** The current run ended (ffmpeg exited or was stopped). */
  endRun(reason: string): void {
    this.sealOpen(reason);
    this.run = null;
    this.resolveRotations(null);
  }

  appendFragment(f: IngestFragment): void {
    const run = this.run;
    if (!run) {
      this.fragmentsDropped++;
      this.deps.log.warn('fragment before init segment dropped');
      return;
    }
    const t = fragmentTimes(run.init, f.moof);
    if (!t) {
      this.fragmentsDropped++;
      this.deps.log.warn('fragment without video samples dropped', { run: run.runId });
      return;
    }
    const p = run.place(t, f.arrivalEpochMs, () => this.floorOfNewRun());
    if (p.jump !== null) {
      this.deps.log.warn('source timestamps jumped', { reason: p.jump });
      this.sealOpen('source timestamps jumped');
    }
    const { startNs, stopNs } = p;
    if (stopNs <= startNs) {
      this.fragmentsDropped++;
      this.deps.log.warn('fragment without duration dropped', { start_pts_ns: String(startNs) });
      return;
    }
    run.advance(t, p, f.arrivalEpochMs);
    // Segments begin on a keyframe: a full segment is sealed when the next keyframe fragment arrives
    // (fragments in between are time-cut pieces of one GOP), or at a bound when a source sends none.
    const seg = this.open;
    const frame = Math.max(1, run.frameDurationNs);
    const segNs = seg ? ptsDiff(seg.stopNs, seg.row.start_pts_ns) : 0;
    if (seg && (t.keyframe || segNs >= Math.max(4 * this.deps.segmentSeconds * 1e9, 120e9))
      && segNs >= this.deps.segmentSeconds * 1e9 - frame / 2) {
      this.sealOpen('segment duration reached', { nextStartNs: startNs, frameNs: frame });
    }
    if (!this.store(f, t, run, startNs, stopNs)) return;
    const open = this.open!;
    this.deps.events?.fragment?.({ segmentId: open.row.id, startNs, stopNs, bytes: f.bytes.length, runId: run.runId, offsetNs: run.offsetNs! });
    if (this.rotateWaiters.length > 0) this.sealOpen('force_rotate');
  }

  /**
   * Where a new run's first fragment goes: above the newest footage in the index, so a restart never
   * overlaps or reuses recorded PTS (or above the camera's newest footage recorded by another node,
   * when this node took it over).
   */
  private floorOfNewRun(): RunFloor {
    const last = this.deps.index.lastSegment();
    const other = this.handoverFloor;
    this.handoverFloor = null;
    const gapReason = this.deps.gapReason?.() ?? 'ingest restart';
    if (other !== null && (!last || other.stopPtsNs > last.stop_pts_ns)) return { floorNs: other.stopPtsNs, hadFootage: true, floorEpochMs: other.stopEpochMs, gapReason };
    return last ? { floorNs: last.stop_pts_ns, hadFootage: true, floorEpochMs: last.stop_epoch_ms, gapReason } : { floorNs: 0n, hadFootage: false, gapReason };
  }

  /**
   * Writes one fragment (opening a segment when none is open) and indexes it. On a storage failure the
   * open segment is sealed at its last whole fragment, room is made when the disk is full and the write
   * retried once; returns false when the fragment had to be dropped.
   */
  private store(f: IngestFragment, t: NonNullable<ReturnType<typeof fragmentTimes>>, run: RunTimeline, startNs: bigint, stopNs: bigint): boolean {
    for (let attempt = 0; ; attempt++) {
      try {
        this.write(f, t, run, startNs, stopNs);
        if (attempt > 0) this.deps.log.info('disk was full; fragment stored after retention made room', { start_pts_ns: String(startNs) });
        return true;
      } catch (e) {
        const code = storageErrorCode(e);
        if (code === null) throw e;
        // Sealing the open segment may itself run retention (it does in the producer), so the retry does
        // not depend on what makeRoom reports: one more attempt is cheap.
        this.abandonOpen();
        if (attempt === 0 && isDiskFull(code) && this.deps.makeRoom) {
          this.deps.makeRoom();
          continue;
        }
        this.noteDropped(code, e as Error, ptsDiff(stopNs, startNs));
        return false;
      }
    }
  }

  private write(f: IngestFragment, t: NonNullable<ReturnType<typeof fragmentTimes>>, run: RunTimeline, startNs: bigint, stopNs: bigint): void {
    if (!this.open) this.openSegment_(startNs, this.deps.clock.epochMsOf(startNs));
    const seg = this.open!;
    const offset = seg.bytes;
    writeAll(seg.fd, f.bytes, offset);
    // Lost time before this fragment (a new run, or fragments dropped while storage failed) is recorded
    // in the same transaction as the fragment, so a failure leaves neither.
    const gaps: Gap[] = [];
    const fault = this.faults.fault;
    if (fault) {
      const lastStop = this.deps.index.lastSegment()?.stop_pts_ns ?? run.pendingGaps[0]?.startNs ?? startNs;
      const reasons = run.pendingGaps.map((g) => `; ${g.reason}`).join('');
      const reason = `${fault.message}; ${fault.fragments} fragment(s) not recorded${reasons}`;
      if (startNs > lastStop) gaps.push({ startNs: lastStop, stopNs: startNs, reason });
      // Holes inside this fragment lie after its start: still worth recording.
      gaps.push(...run.pendingGaps.filter((g) => g.startNs >= startNs));
    } else {
      gaps.push(...run.pendingGaps);
    }
    const bytes = offset + f.bytes.length;
    const frames = seg.frames + t.frames;
    const unsealed = this.unsealedIds;
    this.deps.index.db.transaction(() => {
      for (const g of gaps) this.deps.index.addGap(g.startNs, g.stopNs, g.reason);
      this.deps.index.addFragment(
        { segment_id: seg.row.id, seq: seg.seq, start_pts_ns: startNs, stop_pts_ns: stopNs, offset, size: f.bytes.length,
          moof_size: f.moofSize, samples: t.samples, keyframe: t.keyframe ? 1 : 0, crc: crc32(f.bytes) },
        { bytes, frames, startEpochMs: this.epochOf(seg, startNs), stopEpochMs: this.epochOf(seg, stopNs) },
      );
      for (const u of unsealed) this.deps.index.seal(u.id, u.mtimeMs);
    })();
    seg.seq++;
    seg.bytes = bytes;
    seg.frames = frames;
    seg.stopNs = stopNs;
    this.fragmentsWritten++;
    this.bytesWritten += f.bytes.length;
    run.pendingGaps = [];
    this.unsealedIds = [];
    for (const u of unsealed) {
      const row = this.deps.index.get(u.id);
      if (row) this.deps.events?.segmentSealed?.(row);
    }
    for (const g of gaps) {
      this.deps.events?.gap?.(g);
      this.deps.log.info('gap in recording', { from_pts_ns: String(g.startNs), to_pts_ns: String(g.stopNs), ms: Math.round(ptsDiff(g.stopNs, g.startNs) / 1e6), reason: g.reason });
    }
    this.faults.stored();
  }

  /** After a failed write: cut off what was written of the fragment and seal the segment before it. */
  private abandonOpen(): void {
    const seg = this.open;
    if (!seg) return;
    try {
      ftruncateSync(seg.fd, seg.bytes);
    } catch (e) {
      this.deps.log.error('could not cut a partly written fragment off the open segment', { path: seg.row.path, error: (e as Error).message });
    }
    this.sealOpen('storage error');
  }

  private noteDropped(code: string, e: Error, ns: number): void {
    this.fragmentsDropped++;
    this.faults.dropped(code, e, ns);
    this.resolveRotations(null);
  }

  /**
   * Asks for the open segment to be sealed after the next fragment arrives (so it holds footage up to
   * at least the moment of the request). Resolves with the sealed segment, or null when the run ended
   * with nothing to seal. Rejects after `timeoutMs`.
   */
  requestRotate(timeoutMs: number): Promise<SegmentRow | null> {
    return new Promise((resolve, reject) => {
      const waiter: RotateWaiter = {
        resolve: (row) => { clearTimeout(timer); resolve(row); },
      };
      const timer = setTimeout(() => {
        this.rotateWaiters = this.rotateWaiters.filter((w) => w !== waiter);
        reject(new Error(`no fragment arrived within ${timeoutMs} ms to seal the segment at`));
      }, timeoutMs);
      this.rotateWaiters.push(waiter);
    });
  }

  /** Seals the open segment now (shutdown). */
  close(): void {
    this.sealOpen('shutdown');
    this.resolveRotations(null);
  }

  private epochOf(seg: OpenSegment, ptsNs: bigint): number {
    return seg.row.anchor_epoch_ms + ptsDiff(ptsNs, seg.row.anchor_pts_ns) / 1e6;
  }

  private openSegment_(startNs: bigint, startEpochMs: number): void {
    const run = this.run!;
    const video = videoTrack(run.init)!;
    const audio = run.init.tracks.find((t) => t.kind === 'audio');
    const { fd, rel, abs } = createSegmentFile(this.deps.segmentsDir, startNs, startEpochMs, run.init.bytes);
    const fps = run.frameDurationNs > 0 ? Math.round((1e9 / run.frameDurationNs) * 1000) / 1000 : 0;
    const descriptionKey = run.init.tracks.map((t) => t.descriptionKey).join('+');
    let id: number;
    try {
      id = this.deps.index.insertSegment({
        path: rel, run_id: run.runId, start_pts_ns: startNs, start_epoch_ms: startEpochMs, offset_ns: run.offsetNs!,
        anchor_epoch_ms: startEpochMs, anchor_pts_ns: startNs, bytes: run.init.bytes.length, init_size: run.init.bytes.length,
        codec: video.codec, codec_string: [video.codecString, audio?.codecString].filter(Boolean).join(','),
        width: video.width ?? 0, height: video.height ?? 0, fps, has_audio: audio ? 1 : 0, description_key: descriptionKey,
        created_ms: Date.now(),
      });
    } catch (e) {
      // Not a segment yet: leave neither a descriptor nor a file behind.
      removeSegmentFile(fd, abs);
      throw e;
    }
    const row = this.deps.index.get(id)!;
    this.open = { row, fd, bytes: run.init.bytes.length, frames: 0, seq: 0, stopNs: startNs, startEpochMs };
    this.deps.log.debug('segment opened', { path: rel, start_pts_ns: startNs });
    this.deps.events?.segmentOpened?.(row);
  }

  /**
   * Seals the open segment (never throws for storage errors: they are logged, and the seal retried).
   * `next` is the fragment that continues the run in a new segment: when the source's timing jitters
   * back by less than half a frame there (ffmpeg re-maps an RTSP stream's clock at each RTCP sender
   * report: a tick or two), the sealed segment's stop is brought down to the next one's start, so
   * segments never overlap (the listing's range queries rely on it); its fragments keep their own times.
   */
  private sealOpen(reason: string, next?: { nextStartNs: bigint; frameNs: number }): void {
    const seg = this.open;
    if (!seg) return;
    this.open = null;
    const overlapNs = next ? ptsDiff(seg.stopNs, next.nextStartNs) : 0;
    const trim = next && overlapNs > 0 && overlapNs < next.frameNs / 2
      ? { stopPtsNs: next.nextStartNs, stopEpochMs: this.epochOf(seg, next.nextStartNs) } : undefined;
    let mtimeMs: number | null = null;
    try {
      fsyncSync(seg.fd);
      mtimeMs = fstatSync(seg.fd).mtimeMs;
    } catch (e) {
      if (storageErrorCode(e) === null) throw e;
      this.deps.log.error('fsync of a segment failed; its last fragments may not be durable', { path: seg.row.path, error: (e as Error).message });
    } finally {
      closeSync(seg.fd);
    }
    if (seg.seq === 0) {
      // Nothing but the init was written: not a segment worth keeping (file and row both go).
      try { unlinkSync(segmentAbsPath(this.deps.segmentsDir, seg.row.path)); } catch { /* already gone */ }
      try {
        this.deps.index.deleteSegment(seg.row.id);
      } catch (e) {
        if (storageErrorCode(e) === null) throw e;
        // A row without fragments is invisible to every query; recovery drops it at the next start.
      }
      return;
    }
    try {
      this.deps.index.seal(seg.row.id, mtimeMs, trim);
    } catch (e) {
      if (storageErrorCode(e) === null) throw e;
      this.unsealedIds.push({ id: seg.row.id, mtimeMs });
      this.deps.log.warn('segment closed but not yet marked sealed in the index; retried with the next write', { path: seg.row.path, error: (e as Error).message });
      this.resolveRotations(this.deps.index.get(seg.row.id) ?? null);
      return;
    }
    const row = this.deps.index.get(seg.row.id)!;
    this.deps.log.info('segment sealed', {
      path: row.path, seconds: Number((ptsDiff(row.stop_pts_ns, row.start_pts_ns) / 1e9).toFixed(3)), frames: row.frames,
      bytes: row.bytes, reason,
    });
    this.deps.events?.segmentSealed?.(row);
    this.resolveRotations(row);
  }

  private resolveRotations(row: SegmentRow | null): void {
    const waiters = this.rotateWaiters;
    this.rotateWaiters = [];
    for (const w of waiters) w.resolve(row);
  }
}
