// A camera's latest picture as a JPEG (GET /cameras/{name}/snapshot.jpg, the web page's thumbnails).
// The picture is the newest keyframe the index knows, in the open segment or the newest sealed one
// before it: the segment's init (ftyp+moov) and that one fragment (moof+mdat, which starts on the
// keyframe) are read from the file and piped into one ffmpeg that decodes the first frame, scales it
// to at most `maxWidth` pixels wide and writes one JPEG. No seeking, no decoding of frames before it.
// The picture is cached: it is made again only when a newer keyframe exists, and then at most once
// per `minIntervalMs`; requests that arrive while ffmpeg runs share that run. Nothing recorded yet is
// a SnapshotError with code NO_FOOTAGE (the route answers 503).
import { ptsAdd, ptsDiff, ptsMax } from '../protocol/pts.js';
import { spawn, type ChildProcess } from 'node:child_process';
import type { FragmentRow, SegmentIndex, SegmentRow } from './store/catalog.js';
import type { PinSet } from './segments/retention.js';
import { openSegment, segmentRef } from './store/segment-source.js';
import type { Logger } from '../common/log.js';

export type SnapshotErrorCode = 'NO_FOOTAGE' | 'INTERNAL';

export class SnapshotError extends Error {
  constructor(readonly code: SnapshotErrorCode, message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

/** One JPEG and where it comes from. */
export interface Snapshot {
  jpeg: Buffer;
  /** A strong HTTP entity tag: the keyframe's pts (unique in the camera's clock) and the JPEG's size. */
  etag: string;
  segmentId: number;
  fragmentSeq: number;
  /** Producer PTS (ns) at which the keyframe's fragment starts. */
  ptsNs: bigint;
  /** Wall-clock time of that instant (epoch ms), from the segment's own anchor. */
  epochMs: number;
  /** When this picture was made (Date.now()). */
  madeAtMs: number;
}

/** What the cache needs of a camera (a Producer provides it). Read lazily, on each request. */
export interface SnapshotSource {
  readonly index: Pick<SegmentIndex, 'lastSegment' | 'fragmentsOf' | 'overlapping'>;
  readonly segmentsDir: string;
  readonly pins: PinSet;
  readonly options: { readonly ffmpeg: string };
  readonly log: Pick<Logger, 'warn'>;
}

export interface SnapshotOptions {
  /** A new picture is made at most this often (ms). Default 5000. */
  minIntervalMs?: number;
  /** Pictures wider than this are scaled down (aspect kept). Default 640. */
  maxWidth?: number;
  /** ffmpeg is killed after this long (ms). Default 15000. */
  timeoutMs?: number;
}

/** How far before the newest segment's start older segments are searched for a keyframe (ns). */
const KEYFRAME_LOOKBACK_NS = 120e9;
/** The most a fragment may hold for a snapshot to read it (bytes): bounds the memory of one run. */
const MAX_FRAGMENT_BYTES = 64 * 1024 * 1024;

export class SnapshotCache {
  minIntervalMs: number;
  readonly maxWidth: number;
  readonly timeoutMs: number;
  /** ffmpeg runs started (for tests and metrics). */
  runs = 0;
  private current: Snapshot | null = null;
  /** When the index was last asked for a newer keyframe (Date.now()). */
  private checkedAtMs = -Infinity;
  private inflight: Promise<Snapshot> | null = null;
  private readonly children = new Set<ChildProcess>();
  private closed = false;

  constructor(private readonly src: SnapshotSource, o: SnapshotOptions = {}) {
    this.minIntervalMs = o.minIntervalMs ?? 5000;
    this.maxWidth = o.maxWidth ?? 640;
    this.timeoutMs = o.timeoutMs ?? 15_000;
  }

  /**
   * The newest picture: cached, or made now (shared with every request waiting for the same run). A
   * re-make that fails answers the previous picture when there is one (its time says how old it is).
   */
  get(): Promise<Snapshot> {
    if (this.inflight) return this.inflight;
    if (this.closed) return Promise.reject(new SnapshotError('INTERNAL', 'snapshot: the camera is stopping'));
    const cur = this.current;
    const now = Date.now();
    if (cur && now - this.checkedAtMs < this.minIntervalMs) return Promise.resolve(cur);
    const key = this.newestKeyframe();
    if (!key) {
      if (cur) return Promise.resolve(cur); // the footage is gone (retention): the last picture is still the latest
      return Promise.reject(new SnapshotError('NO_FOOTAGE', 'snapshot: nothing is recorded yet'));
    }
    this.checkedAtMs = now;
    if (cur && cur.segmentId === key.row.id && cur.fragmentSeq === key.frag.seq) return Promise.resolve(cur);
    const run = this.make(key.row, key.frag).then((s) => {
      this.current = s;
      return s;
    }, (e: unknown) => {
      this.src.log.warn('snapshot failed', { error: (e as Error).message, kept_previous: cur !== null });
      if (cur) return cur;
      throw e;
    }).finally(() => {
      this.inflight = null;
    });
    this.inflight = run;
    return run;
  }

  /** Kills a running ffmpeg and starts no more (the producer is closing). */
  close(): void {
    this.closed = true;
    for (const c of this.children) c.kill('SIGKILL');
  }

  /**
   * The newest fragment that starts on a keyframe: in the newest segment with footage (sealed or open),
   * else in the segments just before it.
   */
  newestKeyframe(): { row: SegmentRow; frag: FragmentRow } | null {
    const idx = this.src.index;
    const last = idx.lastSegment();
    if (!last) return null;
    const pick = (row: SegmentRow) => {
      const frags = idx.fragmentsOf(row.id);
      for (let i = frags.length - 1; i >= 0; i--) if (frags[i].keyframe) return { row, frag: frags[i] };
      return null;
    };
    const hit = pick(last);
    if (hit) return hit;
    const older = idx.overlapping(ptsMax(0n, ptsAdd(last.start_pts_ns, -KEYFRAME_LOOKBACK_NS)), last.start_pts_ns + 1n)
      .filter((r) => r.id !== last.id).reverse();
    for (const row of older) {
      const h = pick(row);
      if (h) return h;
    }
    return null;
  }

  private async make(row: SegmentRow, frag: FragmentRow): Promise<Snapshot> {
    if (frag.size > MAX_FRAGMENT_BYTES) throw new SnapshotError('INTERNAL', `snapshot: the newest keyframe's fragment is too large (${frag.size} bytes)`);
    const release = this.src.pins.pin([row.id]);
    let input: Buffer;
    try {
      const place = { segmentsDir: this.src.segmentsDir, store: null };
      const reader = await openSegment(place, segmentRef(place, row));
      try {
        input = Buffer.alloc(row.init_size + frag.size);
        await reader.readInto(input, row.init_size, 0);
        await reader.readInto(input.subarray(row.init_size), frag.size, frag.offset);
      } finally {
        await reader.close();
      }
    } catch (e) {
      throw new SnapshotError('INTERNAL', `snapshot: cannot read segment ${row.path}: ${(e as Error).message}`);
    } finally {
      release();
    }
    this.runs++;
    const jpeg = await this.decode(input);
    return {
      jpeg, etag: `"${frag.start_pts_ns}-${jpeg.length}"`, segmentId: row.id, fragmentSeq: frag.seq, ptsNs: frag.start_pts_ns,
      epochMs: row.anchor_epoch_ms + ptsDiff(frag.start_pts_ns, row.anchor_pts_ns) / 1e6, madeAtMs: Date.now(),
    };
  }

  /** One ffmpeg (an argument array, never a shell): fMP4 on stdin → the first video frame as a JPEG on stdout. */
  private decode(input: Buffer): Promise<Buffer> {
    const args = [
      '-hide_banner', '-nostats', '-loglevel', 'error',
      '-f', 'mp4', '-i', 'pipe:0',
      '-map', '0:v:0', '-an', '-sn', '-dn', '-frames:v', '1',
      '-vf', `scale=w='min(${this.maxWidth},iw)':h=-2`,
      '-c:v', 'mjpeg', '-q:v', '5', '-f', 'image2pipe', 'pipe:1',
    ];
    return new Promise((resolve, reject) => {
      const child = spawn(this.src.options.ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      this.children.add(child);
      const out: Buffer[] = [];
      let err = '';
      let settled = false;
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        reject(new SnapshotError('INTERNAL', `snapshot: ${message}`));
      };
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => { if (err.length < 4000) err += d; });
      // ffmpeg stops reading after the first frame: the rest of the fragment meets a closed pipe.
      child.stdin.on('error', () => undefined);
      child.on('error', (e) => {
        clearTimeout(timer);
        this.children.delete(child);
        fail(`cannot run ffmpeg: ${e.message}`);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.children.delete(child);
        const jpeg = Buffer.concat(out);
        if (code === 0 && jpeg.length > 2 && jpeg[0] === 0xff && jpeg[1] === 0xd8) {
          if (!settled) { settled = true; resolve(jpeg); }
          return;
        }
        fail(`ffmpeg ${signal ? `was killed (${signal})` : `exited ${code}`}${err.trim() ? `: ${err.trim().split('\n').slice(-3).join('; ')}` : ' without a picture'}`);
      });
      child.stdin.end(input);
    });
  }
}
