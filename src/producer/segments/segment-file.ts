// A new segment file on disk: created exclusively (never over another file) under its start's name,
// or the first free `-N` variant of it, with the run's init written; and whole writes at a position.
import { closeSync, mkdirSync, openSync, unlinkSync, writeSync, constants as fsc } from 'node:fs';
import { dirname } from 'node:path';
import { segmentAbsPath, segmentRelPath } from './paths.js';

/** Creates the file for a segment starting at `startNs` and writes `init` into it; on a failure nothing is left behind. */
export function createSegmentFile(segmentsDir: string, startNs: bigint, startEpochMs: number, init: Buffer): { fd: number; rel: string; abs: string } {
  let rel = segmentRelPath(startNs, startEpochMs);
  let abs = segmentAbsPath(segmentsDir, rel);
  mkdirSync(dirname(abs), { recursive: true });
  let fd: number;
  for (let attempt = 0; ; attempt++) {
    try {
      fd = openSync(abs, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 100) throw e;
      rel = rel.replace(/(-\d+)?\.mp4$/, `-${attempt + 1}.mp4`);
      abs = segmentAbsPath(segmentsDir, rel);
    }
  }
  try {
    writeAll(fd, init, 0);
  } catch (e) {
    removeSegmentFile(fd, abs);
    throw e;
  }
  return { fd, rel, abs };
}

/** Closes and deletes a segment file that never became a segment. */
export function removeSegmentFile(fd: number, abs: string): void {
  closeSync(fd);
  try { unlinkSync(abs); } catch { /* already gone */ }
}

/** Writes all of `buf` at `position` (a short write is continued). */
export function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    done += writeSync(fd, buf, done, buf.length - done, position + done);
  }
}
