// Shared fixtures for the src/mp4 tests: test videos made once per test file, a plain top-level box
// walk, and splitting a fragmented file into producer-like segment files (init + whole fragments).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readBoxHeader } from '../../src/mp4/box.js';
import { run, runOk } from '../helpers/media.js';

export interface TopBox { type: string; start: number; end: number }

/** Top-level boxes of a complete file (throws on a truncated one). */
export function topLevelBoxes(buf: Buffer): TopBox[] {
  const out: TopBox[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const h = readBoxHeader(buf, pos);
    if (h === null || h.end > buf.length) throw new Error(`truncated box at ${pos}`);
    out.push({ type: h.type, start: h.start, end: h.end });
    pos = h.end;
  }
  return out;
}

/** The init bytes (through moov) and each moof+mdat pair of an ffmpeg fragmented file. */
export function fragmentsOf(buf: Buffer): { init: Buffer; fragments: Buffer[] } {
  const boxes = topLevelBoxes(buf);
  const moov = boxes.findIndex((b) => b.type === 'moov');
  const init = buf.subarray(0, boxes[moov].end);
  const fragments: Buffer[] = [];
  for (let i = moov + 1; i < boxes.length; i++) {
    if (boxes[i].type !== 'moof') continue;
    const mdat = boxes[i + 1];
    if (!mdat || mdat.type !== 'mdat') throw new Error('moof without mdat');
    fragments.push(buf.subarray(boxes[i].start, mdat.end));
  }
  return { init, fragments };
}

/**
 * Writes segment files the way the producer does: init verbatim, then a run of whole fragments.
 * `cuts` are fragment indexes where a new segment starts (e.g. [2, 4] → 3 files).
 */
export function writeSegments(buf: Buffer, dir: string, name: string, cuts: number[]): string[] {
  const { init, fragments } = fragmentsOf(buf);
  const bounds = [0, ...cuts, fragments.length];
  const paths: string[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const p = join(dir, `${name}-${i}.mp4`);
    writeFileSync(p, Buffer.concat([init, ...fragments.slice(bounds[i], bounds[i + 1])]));
    paths.push(p);
  }
  return paths;
}

let x265: Promise<boolean> | null = null;
/** Whether this ffmpeg has libx265 (tests of H.265 are skipped when not). */
export function hasX265(): Promise<boolean> {
  x265 ??= run('ffmpeg', ['-hide_banner', '-encoders']).then((r) => /libx265/.test(r.stdout)).catch(() => false);
  return x265;
}

/** A deterministic pseudo-random generator (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A 320x240 testsrc2 fragmented MP4 (1 s, 30 fps, GOP 15) with muxer/encoder options other than
 * makeVideo's, for the general cases: `-movflags` and extra output arguments are given whole.
 */
export async function makeVariant(path: string, movflags: string, extra: string[], seconds = 1): Promise<void> {
  await runOk('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30',
    '-t', String(seconds), ...extra, '-g', '15', '-keyint_min', '15', '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
    '-f', 'mp4', '-movflags', movflags, path]);
}
