// Synthetic index rows for tests of the catalogue's bookkeeping (no files or processes needed).
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';

export const SEC = 1e9;
export const BASE_EPOCH = 1_764_000_000_000;
/** A producer clock 100 years in (PTS past 2^62, where a number is off by up to 256 ns). */
export const CENTURY_NS = 100n * 365n * 86_400n * 1_000_000_000n;

/** The PTS `sec` seconds after `base` (exact). */
export const at = (sec: number, base = 0n): bigint => base + BigInt(Math.round(sec * SEC));
/** Seconds from `base` to a PTS. */
export const secOf = (pts: bigint, base = 0n): number => Number(pts - base) / SEC;

/** n sealed 10 s segments of 1,000 bytes each, one fragment each, back to back from pts `base`. */
export function indexWith(n: number, base = 0n): SegmentIndex {
  return fillIndex(new SegmentIndex(openDatabase(':memory:')), n, base);
}

/** Adds n such segments to an index (in one transaction). */
export function fillIndex(index: SegmentIndex, n: number, base = 0n): SegmentIndex {
  index.db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const start = at(i * 10, base);
      const epoch = BASE_EPOCH + i * 10_000;
      const id = index.insertSegment({
        path: `2026-01-01/${start}.mp4`, run_id: 1, start_pts_ns: start, start_epoch_ms: epoch, offset_ns: base,
        anchor_epoch_ms: epoch, anchor_pts_ns: start, bytes: 100, init_size: 100, codec: 'avc1',
        codec_string: 'avc1.42c01e', width: 320, height: 180, fps: 15, has_audio: 0, description_key: 'k', created_ms: 0,
      });
      index.addFragment(
        { segment_id: id, seq: 0, start_pts_ns: start, stop_pts_ns: at(i * 10 + 10, base), offset: 100, size: 900, moof_size: 100, samples: 150, keyframe: 1, crc: 0 },
        { bytes: 1000, frames: 150, startEpochMs: epoch, stopEpochMs: epoch + 10_000 },
      );
      index.seal(id, null);
    }
  })();
  return index;
}

