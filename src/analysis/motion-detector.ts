// The motion detector (pure, no I/O): differences consecutive low-resolution gray frames and turns the
// per-frame "fraction of changed pixels" score into motion events with a start and a stop in PTS.
// A pixel changed when |a − b| > noiseThreshold after optional block-downscaling and box blur; a frame
// has motion when its score ≥ minArea. An event starts at the first motion frame and ends once
// cooldownMs pass without motion; its stop is the PTS of the frame after the last motion frame (or that
// frame's PTS + one frame interval), so [start, stop) covers exactly the moving frames.

/** The part of a frame the detector needs (a `Frame` from the frame reader fits). */
export interface MotionFrame {
  gray: Uint8Array;
  width: number;
  height: number;
  ptsNs: number;
}

export interface MotionEvent {
  /** PTS of the first frame with motion. */
  startPtsNs: number;
  /** PTS just after the last frame with motion (exclusive end). */
  stopPtsNs: number;
  /** Highest per-frame score (fraction of changed pixels, 0..1) seen in the event. */
  peakScore: number;
  /** Number of frames with motion in the event. */
  frames: number;
}

export interface MotionDetectorOptions {
  /** Luma difference (0..255) a pixel must exceed to count as changed. */
  noiseThreshold: number;
  /** Fraction (0..1) of changed pixels from which a frame has motion. */
  minArea: number;
  /** An event ends after this long without motion. */
  cooldownMs: number;
  /** Events shorter than this ([start, stop) length) are dropped. */
  minEventMs: number;
  /** Integer block-averaging factor applied before differencing (1 = none). */
  downscale: number;
  /** Box-blur radius in (downscaled) pixels applied before differencing (0 = none). */
  blurRadius: number;
  /** A PTS jump larger than this (or backwards) is a discontinuity: the open event ends, the reference frame is dropped. */
  maxGapMs: number;
  /** An event that lasts this long is ended and a new one starts at the next frame with motion (Infinity = never). */
  maxEventMs: number;
}

/**
 * Defaults, measured on the built-in testsrc read at 160 px wide (320×180 and 1280×720 sources): with a
 * 1-pixel blur and a threshold of 25 grey levels, the clock/frame-counter text (which changes on every
 * frame) scores at most 0.05 % while the moving box scores at least 1.0 %. 0.3 % sits between them with
 * a similar margin on both sides (≈6× above the text, ≈3× below the box), i.e. ≈40 changed pixels of a
 * 160×90 picture. 25 grey levels is above compression noise and far below the contrast of a real object.
 * 1 s of cooldown bridges short pauses in the motion; 200 ms (3 frames at 15 fps) drops single-frame
 * flicker. Events are split every 10 minutes so continuous motion still produces clips.
 */
export const DEFAULT_MOTION_OPTIONS: MotionDetectorOptions = {
  noiseThreshold: 25,
  minArea: 0.003,
  cooldownMs: 1000,
  minEventMs: 200,
  downscale: 1,
  blurRadius: 1,
  maxGapMs: 2000,
  maxEventMs: 600_000,
};

interface Prepared { data: Uint8Array; width: number; height: number; srcWidth: number; srcHeight: number; ptsNs: number }

interface OpenEvent {
  startPtsNs: number;
  lastMotionPtsNs: number;
  /** PTS of the frame that followed the last motion frame, once it arrived. */
  nextPtsNs: number | null;
  peakScore: number;
  frames: number;
}

/** Averages `factor × factor` blocks (edge blocks average what they have). */
export function downscaleGray(src: Uint8Array, width: number, height: number, factor: number): { data: Uint8Array; width: number; height: number } {
  if (factor <= 1) return { data: src, width, height };
  const w = Math.ceil(width / factor);
  const h = Math.ceil(height / factor);
  const out = new Uint8Array(w * h);
  for (let by = 0; by < h; by++) {
    const y0 = by * factor;
    const y1 = Math.min(height, y0 + factor);
    for (let bx = 0; bx < w; bx++) {
      const x0 = bx * factor;
      const x1 = Math.min(width, x0 + factor);
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        const row = y * width;
        for (let x = x0; x < x1; x++) sum += src[row + x];
      }
      out[by * w + bx] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
    }
  }
  return { data: out, width: w, height: h };
}

/** Separable box blur of the given radius (edges clamp to the picture). */
export function boxBlurGray(src: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  if (radius <= 0) return src;
  const tmp = new Uint16Array(width * height);
  const out = new Uint8Array(width * height);
  const n = 2 * radius + 1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = -radius; k <= radius; k++) s += src[row + Math.min(width - 1, Math.max(0, x + k))];
      tmp[row + x] = s;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = -radius; k <= radius; k++) s += tmp[Math.min(height - 1, Math.max(0, y + k)) * width + x];
      out[y * width + x] = Math.round(s / (n * n));
    }
  }
  return out;
}

/** Fraction of positions where |a − b| > threshold (a and b have the same length). */
export function changedFraction(a: Uint8Array, b: Uint8Array, threshold: number): number {
  if (a.length !== b.length) throw new RangeError('frames differ in size');
  if (a.length === 0) return 0;
  let changed = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    if (d > threshold || d < -threshold) changed++;
  }
  return changed / a.length;
}

export class MotionDetector {
  readonly options: MotionDetectorOptions;
  private prev: Prepared | null = null;
  private open: OpenEvent | null = null;
  private intervalNs: number | null = null;
  private score = 0;
  /** Frames ignored because their PTS was not a finite number. */
  skippedFrames = 0;

  constructor(options: Partial<MotionDetectorOptions> = {}) {
    const o = { ...DEFAULT_MOTION_OPTIONS, ...options };
    if (!(o.noiseThreshold >= 0 && o.noiseThreshold < 255)) throw new RangeError('noiseThreshold must be in [0, 255)');
    if (!(o.minArea > 0 && o.minArea <= 1)) throw new RangeError('minArea must be in (0, 1]');
    if (!(o.cooldownMs >= 0) || !(o.minEventMs >= 0) || !(o.maxGapMs > 0) || !(o.maxEventMs > 0)) {
      throw new RangeError('cooldownMs and minEventMs must be ≥ 0; maxGapMs and maxEventMs > 0');
    }
    if (!Number.isInteger(o.downscale) || o.downscale < 1) throw new RangeError('downscale must be an integer ≥ 1');
    if (!Number.isInteger(o.blurRadius) || o.blurRadius < 0) throw new RangeError('blurRadius must be an integer ≥ 0');
    this.options = o;
  }

  /** Score of the last pushed frame against its predecessor (0 for the first frame after a reset). */
  get lastScore(): number {
    return this.score;
  }

  /** Start PTS of the event in progress, or null. No later event can start before it. */
  get openEventStartPtsNs(): number | null {
    return this.open ? this.open.startPtsNs : null;
  }

  /** Feeds the next frame (in presentation order) and returns the events it completed. */
  push(frame: MotionFrame): MotionEvent[] {
    const pts = frame.ptsNs;
    if (!Number.isFinite(pts)) {
      this.skippedFrames++;
      return [];
    }
    const out: MotionEvent[] = [];
    const o = this.options;
    const prev = this.prev;
    if (prev && (pts <= prev.ptsNs || pts - prev.ptsNs > o.maxGapMs * 1e6
      || frame.width !== prev.srcWidth || frame.height !== prev.srcHeight)) {
      out.push(...this.flush());
    }
    const ref = this.prev;
    if (ref) {
      this.intervalNs = pts - ref.ptsNs;
      if (this.open && this.open.lastMotionPtsNs === ref.ptsNs) this.open.nextPtsNs = pts;
    }
    const cur = this.prepare(frame);
    this.score = ref ? changedFraction(ref.data, cur.data, o.noiseThreshold) : 0;
    this.prev = cur;
    if (ref && this.score >= o.minArea) {
      if (this.open && pts - this.open.startPtsNs >= o.maxEventMs * 1e6) {
        const ev = this.close(this.open);
        if (ev) out.push(ev);
        this.open = null;
      }
      if (!this.open) {
        this.open = { startPtsNs: pts, lastMotionPtsNs: pts, nextPtsNs: null, peakScore: this.score, frames: 1 };
      } else {
        this.open.lastMotionPtsNs = pts;
        this.open.nextPtsNs = null;
        this.open.peakScore = Math.max(this.open.peakScore, this.score);
        this.open.frames++;
      }
    } else if (this.open && pts - this.open.lastMotionPtsNs >= o.cooldownMs * 1e6) {
      const ev = this.close(this.open);
      if (ev) out.push(ev);
      this.open = null;
    }
    return out;
  }

  /**
   * Ends the stream (or marks a discontinuity, e.g. a reconnect): completes the open event, if any,
   * and forgets the reference frame.
   */
  flush(): MotionEvent[] {
    const out: MotionEvent[] = [];
    if (this.open) {
      const ev = this.close(this.open);
      if (ev) out.push(ev);
    }
    this.open = null;
    this.prev = null;
    this.score = 0;
    return out;
  }

  private close(ev: OpenEvent): MotionEvent | null {
    const stop = ev.nextPtsNs ?? ev.lastMotionPtsNs + (this.intervalNs ?? 0);
    if (stop <= ev.startPtsNs || stop - ev.startPtsNs < this.options.minEventMs * 1e6) return null;
    return { startPtsNs: ev.startPtsNs, stopPtsNs: stop, peakScore: ev.peakScore, frames: ev.frames };
  }

  private prepare(frame: MotionFrame): Prepared {
    if (frame.gray.length < frame.width * frame.height) throw new RangeError('gray buffer smaller than width × height');
    const small = downscaleGray(frame.gray, frame.width, frame.height, this.options.downscale);
    const data = boxBlurGray(small.data, small.width, small.height, this.options.blurRadius);
    return { data, width: small.width, height: small.height, srcWidth: frame.width, srcHeight: frame.height, ptsNs: frame.ptsNs };
  }
}
