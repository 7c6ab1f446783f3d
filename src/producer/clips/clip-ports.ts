// What the clip service (engine.ts) needs from its camera — its ports, small enough to fake in a test.
import type Database from 'better-sqlite3';
import type { Logger } from '../../common/log.js';
import type { ClipJson } from '../../protocol/schemas.js';
import type { SegmentIndex } from '../store/catalog.js';
import type { ClipObjects } from '../store/clip-objects.js';
import type { SegmentPlace } from '../store/segment-source.js';

/**
 * What the clip service needs from its camera — its ports, small enough to fake in a test: the
 * catalog of segments, pins that keep retention away from segments being read, the epoch↔PTS anchor,
 * where clips may go, whether ingest runs, and two events.
 */
export interface ClipPorts {
  /** The camera's name (clip ids are prefixed with it). */
  name: string;
  log: Logger;
  /** The index database (the job table lives there). */
  db: Database.Database;
  catalog: Pick<SegmentIndex, 'clipFragments' | 'firstEndingAfterEpoch' | 'gapsIn' | 'lastSegment' | 'newestFragmentStart' | 'overlapping'>;
  pins: { pin(ids: number[]): () => void };
  anchor(): { epochMs: number; ptsNs: bigint; nowPtsNs: bigint };
  /** Where the segments are read from (local directory, object store). */
  place: SegmentPlace;
  clipRoots: string[];
  /** `s3://` roots an out_dir may name, and where such clips are published (null: none configured). */
  clipStoreRoots: string[];
  clipObjects: ClipObjects | null;
  clipMaxAgeMs: number | null;
  /** Parallel jobs. */
  workers: number;
  ingestRunning(): boolean;
  sourceForDisplay(): string;
  /** Calls `fn` after every stored fragment (new footage may complete a waiting job). */
  onFragment(fn: () => void): void;
  clipFinished(clip: ClipJson): void;
}
