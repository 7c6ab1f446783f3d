// The write path: turns the ingest's runs and fragments into segment files and index rows.
// A segment file = the run's init (ftyp+moov) + whole moof+mdat fragments, appended as they arrive,
// so the open file is always readable up to its last indexed fragment. Rotation happens after the first
// fragment that takes a segment past --segment-seconds, at a new run (ffmpeg restart, codec change),
// or on request (force_rotate: the next fragment is appended, then the segment is sealed).
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync, constants as fsc } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../../common/log.js';
import type { InitSegment } from '../../mp4/init.js';
import type { ParsedMoof } from '../../mp4/fragment.js';
import { fragmentTimes, videoTrack } from './fragment-times.js';
import type { SegmentIndex, SegmentRow } from './index-db.js';
import { segmentAbsPath, segmentRelPath } from './paths.js';
import type { PtsClock } from './pts-clock.js';

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
  stopNs: number;
  startEpochMs: number;
}

interface RunState {
  runId: number;
  init: InitSegment;
  offsetNs: number | null;
  lastStopNs: number;
  frameDurationNs: number;
}

type RotateWaiter = { resolve: (row: SegmentRow | null) => void };

export interface SegmentWriterEvents {
  segmentOpened?(row: SegmentRow): void;
  segmentSealed?(row: SegmentRow): void;
  fragment?(info: { segmentId: number; startNs: number; stopNs: number; bytes: number; runId: number; offsetNs: number }): void;
  gap?(gap: { startNs: number; stopNs: number; reason: string }): void;
}

export class SegmentWriter {
  private open: OpenSegment | null = null;
  private run: RunState | null = null;
  private rotateWaiters: RotateWaiter[] = [];
  private fragmentsDropped = 0;
  private fragmentsWritten = 0;
  private bytesWritten = 0;

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
    },
  ) {}

  get counters(): { fragmentsWritten: number; fragmentsDropped: number; bytesWritten: number } {
    return { fragmentsWritten: this.fragmentsWritten, fragmentsDropped: this.fragmentsDropped, bytesWritten: this.bytesWritten };
  }

  get openSegment(): SegmentRow | null {
    return this.open ? this.deps.index.get(this.open.row.id) ?? null : null;
  }

  get currentRun(): { runId: number; init: InitSegment; offsetNs: number | null; frameDurationNs: number } | null {
    return this.run;
  }

  /** A new ffmpeg run began with this init segment. Seals any open segment (its timeline ends here). */
  startRun(runId: number, init: InitSegment): void {
    this.sealOpen('new ingest run');
    if (!videoTrack(init)) throw new Error('the source has no video track');
    this.run = { runId, init, offsetNs: null, lastStopNs: -Infinity, frameDurationNs: 0 };
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
    if (t.frameDurationNs > 0) run.frameDurationNs = t.frameDurationNs;
    if (run.offsetNs === null) {
      const last = this.deps.index.lastSegment();
      const floor = last ? last.stop_pts_ns : 0;
      const r = this.deps.clock.startRun(t.startRelNs, t.stopRelNs, f.arrivalEpochMs, floor, last !== undefined);
      run.offsetNs = r.offsetNs;
      if (r.gap && r.gap.stopNs - r.gap.startNs > 0) {
        const reason = this.deps.gapReason?.() ?? 'ingest restart';
        this.deps.index.addGap(r.gap.startNs, r.gap.stopNs, reason);
        this.deps.events?.gap?.({ ...r.gap, reason });
        this.deps.log.info('gap in recording', { from_pts_ns: r.gap.startNs, to_pts_ns: r.gap.stopNs, ms: Math.round((r.gap.stopNs - r.gap.startNs) / 1e6), reason });
      }
    }
    const startNs = run.offsetNs + t.startRelNs;
    const stopNs = run.offsetNs + t.stopRelNs;
    // Within a run ffmpeg's muxer guarantees increasing decode times; anything going backwards here is a
    // repeated or corrupt fragment: drop it rather than break the segment's timeline.
    if (startNs < run.lastStopNs - Math.max(1, run.frameDurationNs) / 2 || stopNs <= startNs) {
      this.fragmentsDropped++;
      this.deps.log.warn('non-monotonic fragment dropped', { start_pts_ns: startNs, previous_stop_pts_ns: run.lastStopNs });
      return;
    }
    if (!t.keyframe) this.deps.log.debug('fragment does not start on a keyframe', { start_pts_ns: startNs });
    run.lastStopNs = stopNs;
    this.deps.clock.observe(stopNs, f.arrivalEpochMs);
    if (!this.open) this.openSegment_(startNs, this.deps.clock.epochMsOf(startNs));
    const seg = this.open!;
    writeAll(seg.fd, f.bytes, seg.bytes);
    const offset = seg.bytes;
    seg.bytes += f.bytes.length;
    seg.frames += t.frames;
    seg.stopNs = stopNs;
    this.fragmentsWritten++;
    this.bytesWritten += f.bytes.length;
    this.deps.index.addFragment(
      { segment_id: seg.row.id, seq: seg.seq++, start_pts_ns: startNs, stop_pts_ns: stopNs, offset, size: f.bytes.length,
        moof_size: f.moofSize, samples: t.samples, keyframe: t.keyframe ? 1 : 0 },
      { bytes: seg.bytes, frames: seg.frames, startEpochMs: this.epochOf(seg, startNs), stopEpochMs: this.epochOf(seg, stopNs) },
    );
    this.deps.events?.fragment?.({ segmentId: seg.row.id, startNs, stopNs, bytes: f.bytes.length, runId: run.runId, offsetNs: run.offsetNs });
    const full = stopNs - seg.row.start_pts_ns >= this.deps.segmentSeconds * 1e9 - Math.max(1, run.frameDurationNs) / 2;
    if (this.rotateWaiters.length > 0) this.sealOpen('force_rotate');
    else if (full) this.sealOpen('segment duration reached');
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

  private epochOf(seg: OpenSegment, ptsNs: number): number {
    return seg.row.anchor_epoch_ms + (ptsNs - seg.row.anchor_pts_ns) / 1e6;
  }

  private openSegment_(startNs: number, startEpochMs: number): void {
    const run = this.run!;
    const video = videoTrack(run.init)!;
    const audio = run.init.tracks.find((t) => t.kind === 'audio');
    let rel = segmentRelPath(startNs, startEpochMs);
    let abs = segmentAbsPath(this.deps.segmentsDir, rel);
    mkdirSync(dirname(abs), { recursive: true });
    let fd: number;
    for (let attempt = 0; ; attempt++) {
      try {
        fd = openSync(abs, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 100) throw e;
        rel = rel.replace(/(-\d+)?\.mp4$/, `-${attempt + 1}.mp4`);
        abs = segmentAbsPath(this.deps.segmentsDir, rel);
      }
    }
    writeAll(fd, run.init.bytes, 0);
    const fps = run.frameDurationNs > 0 ? Math.round((1e9 / run.frameDurationNs) * 1000) / 1000 : 0;
    const descriptionKey = run.init.tracks.map((t) => t.descriptionKey).join('+');
    const id = this.deps.index.insertSegment({
      path: rel, run_id: run.runId, start_pts_ns: startNs, start_epoch_ms: startEpochMs, offset_ns: run.offsetNs!,
      anchor_epoch_ms: startEpochMs, anchor_pts_ns: startNs, bytes: run.init.bytes.length, init_size: run.init.bytes.length,
      codec: video.codec, codec_string: [video.codecString, audio?.codecString].filter(Boolean).join(','),
      width: video.width ?? 0, height: video.height ?? 0, fps, has_audio: audio ? 1 : 0, description_key: descriptionKey,
      created_ms: Date.now(),
    });
    const row = this.deps.index.get(id)!;
    this.open = { row, fd, bytes: run.init.bytes.length, frames: 0, seq: 0, stopNs: startNs, startEpochMs };
    this.deps.log.debug('segment opened', { path: rel, start_pts_ns: startNs });
    this.deps.events?.segmentOpened?.(row);
  }

  private sealOpen(reason: string): void {
    const seg = this.open;
    if (!seg) return;
    this.open = null;
    try {
      fsyncSync(seg.fd);
    } finally {
      closeSync(seg.fd);
    }
    if (seg.seq === 0) {
      // Nothing but the init was written: not a segment worth keeping.
      this.deps.index.deleteSegment(seg.row.id);
      return;
    }
    this.deps.index.seal(seg.row.id);
    const row = this.deps.index.get(seg.row.id)!;
    this.deps.log.info('segment sealed', {
      path: row.path, seconds: Number(((row.stop_pts_ns - row.start_pts_ns) / 1e9).toFixed(3)), frames: row.frames,
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

function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    done += writeSync(fd, buf, done, buf.length - done, position + done);
  }
}
