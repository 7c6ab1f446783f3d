// Synthetic index rows for tests of the catalogue's bookkeeping (no files or processes needed).
import { openDatabase, SegmentIndex } from '../../src/producer/store/catalog.js';

export const SEC = 1e9;
export const BASE_EPOCH = 1_764_000_000_000;

/** n sealed 10 s segments of 1,000 bytes each, one fragment each, back to back from pts 0. */
export function indexWith(n: number): SegmentIndex {
  return fillIndex(new SegmentIndex(openDatabase(':memory:')), n);
}

/** Adds n such segments to an index (in one transaction). */
export function fillIndex(index: SegmentIndex, n: number): SegmentIndex {
  index.db.transaction(() => {
  for (let i = 0; i < n; i++) {
    const start = i * 10 * SEC;
    const id = index.insertSegment({
      path: `2026-01-01/${start}.mp4`, run_id: 1, start_pts_ns: start, start_epoch_ms: BASE_EPOCH + start / 1e6, offset_ns: 0,
      anchor_epoch_ms: BASE_EPOCH + start / 1e6, anchor_pts_ns: start, bytes: 100, init_size: 100, codec: 'avc1',
      codec_string: 'avc1.42c01e', width: 320, height: 180, fps: 15, has_audio: 0, description_key: 'k', created_ms: 0,
    });
    index.addFragment(
      { segment_id: id, seq: 0, start_pts_ns: start, stop_pts_ns: start + 10 * SEC, offset: 100, size: 900, moof_size: 100, samples: 150, keyframe: 1, crc: 0 },
      { bytes: 1000, frames: 150, startEpochMs: BASE_EPOCH + start / 1e6, stopEpochMs: BASE_EPOCH + (start + 10 * SEC) / 1e6 },
    );
    index.seal(id, null);
  }
  })();
  return index;
}

