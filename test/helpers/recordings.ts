// Test fixtures for clip completeness: fragmented MP4 recorded the way the producer records a camera
// (a source encoded to a plain MP4, then stream-copied by ffmpeg into fragmented MP4 with the producer's
// movflags, optionally fragmented by time too), its frames as ffmpeg decodes them (the oracle: pts and
// MD5 of every frame), segment files cut from it at chosen fragments (init + whole fragments, as the
// producer writes them), and a data directory seeded with such files for a producer to adopt at start.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { fragmentTimes } from '../../src/producer/segments/fragment-times.js';
import { fragmentsOf } from '../mp4/fixtures.js';
import { audioPcm, probeFrames, runOk, videoFrameMd5s } from './media.js';

export interface RecordingOptions {
  seconds: number;
  fps: number;
  /** Keyframe interval in frames. */
  gop: number;
  bframes: number;
  codec: 'h264' | 'h265';
  audio: boolean;
  /** ffmpeg -frag_duration (µs): fragment by time as well as by keyframe. */
  fragDurationUs?: number;
  /** Picture size (default 320x240). */
  size?: string;
  /** A constant quantizer (0: lossless, for a high bitrate) instead of the encoder's rate control. */
  qp?: number;
}

/** Encodes testsrc2 (+ a 440 Hz tone) to a plain MP4, then remuxes it like the producer's ingest. */
export async function makeRecording(path: string, o: RecordingOptions): Promise<void> {
  const plain = `${path}.src.mp4`;
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '320x240'}:rate=${o.fps}`];
  if (o.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-t', String(o.seconds));
  if (o.codec === 'h264') {
    args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-bf', String(o.bframes), '-sc_threshold', '0');
  } else {
    // x265's defaults otherwise: open GOPs (CRA keyframes whose leading pictures need the previous GOP).
    args.push('-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', `bframes=${o.bframes}:scenecut=0:log-level=error`, '-tag:v', 'hvc1');
  }
  args.push('-g', String(o.gop), '-keyint_min', String(o.gop), '-pix_fmt', 'yuv420p');
  if (o.qp !== undefined) args.push('-qp', String(o.qp));
  if (o.audio) args.push('-c:a', 'aac', '-b:a', '64k');
  args.push('-f', 'mp4', plain);
  await runOk('ffmpeg', args);
  // The producer's stream-copy ingest (src/producer/ingest/source-args.ts), to a file instead of a pipe.
  const frag = o.fragDurationUs ? ['-frag_duration', String(o.fragDurationUs)] : [];
  await runOk('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-fflags', '+genpts+discardcorrupt', '-i', plain,
    '-map', '0:v:0', '-map', '0:a:0?', '-dn', '-sn', '-c:v', 'copy', '-c:a', 'copy', '-avoid_negative_ts', 'make_zero',
    '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', ...frag, '-flush_packets', '1', path]);
}

export interface RecordedFrame { ns: number; md5: string; keyframe: boolean }

/** Every frame of a recording in presentation order, ns from tick 0 of its tracks (ffprobe + framemd5). */
export async function recordingFrames(path: string): Promise<RecordedFrame[]> {
  const [probed, md5s] = await Promise.all([probeFrames(path), videoFrameMd5s(path)]);
  assert.equal(probed.length, md5s.length, 'ffprobe and framemd5 agree on the frame count');
  const timescale = Math.round(probed[1].pts / probed[1].ptsTime);
  return probed.map((f, i) => ({ ns: Math.round((f.pts * 1e9) / timescale), md5: md5s[i], keyframe: f.keyframe }));
}

export interface FragmentInfo { startNs: number; stopNs: number; keyframe: boolean }

/**
 * Each fragment's video bounds (ns from tick 0) and whether it starts with a keyframe. A fragment of
 * audio alone at the very end (ffmpeg's last flush when fragmenting by time) is left out, as the
 * producer's segment writer drops it.
 */
export function fragmentInfo(buf: Buffer): FragmentInfo[] {
  const scan = scanFragmentedFile(buf);
  assert.ok(scan.init);
  const init = scan.init;
  const times = scan.fragments.map((f) => fragmentTimes(init, f.moof));
  while (times.length > 0 && times[times.length - 1] === null) times.pop();
  return times.map((t) => {
    assert.ok(t, 'every fragment but the last has video');
    return { startNs: t.startRelNs, stopNs: t.stopRelNs, keyframe: t.keyframe };
  });
}

/**
 * Segment files of a recording as the producer writes them: `cuts` are the fragment indexes where a
 * new file starts. Each file is named by its start pts on the producer clock (offsetNs + its first
 * fragment's start), as recovery expects of a file it adopts, and lands in `dir`.
 */
export function writeSegmentFiles(buf: Buffer, dir: string, cuts: number[], offsetNs: number): Array<{ path: string; startNs: number }> {
  const { init, fragments } = fragmentsOf(buf);
  const info = fragmentInfo(buf);
  const bounds = [0, ...cuts, info.length];
  mkdirSync(dir, { recursive: true });
  const out: Array<{ path: string; startNs: number }> = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const startNs = offsetNs + info[bounds[i]].startNs;
    const path = join(dir, `${startNs}.mp4`);
    writeFileSync(path, Buffer.concat([init, ...fragments.slice(bounds[i], bounds[i + 1])]));
    out.push({ path, startNs });
  }
  return out;
}

/** A recording made, listed and read back, ready to be cut into segments. */
export interface Recording { path: string; buf: Buffer; frames: RecordedFrame[]; fragments: FragmentInfo[]; frameNs: number }

export async function recording(path: string, o: RecordingOptions): Promise<Recording> {
  await makeRecording(path, o);
  const buf = readFileSync(path);
  return { path, buf, frames: await recordingFrames(path), fragments: fragmentInfo(buf), frameNs: 1e9 / o.fps };
}

/** The frames presented in [startNs, stopNs) of a recording placed at offsetNs on the producer clock. */
export function framesIn(rec: Recording, offsetNs: number, startNs: number, stopNs: number): RecordedFrame[] {
  return rec.frames
    .map((f) => ({ ...f, ns: f.ns + offsetNs }))
    .filter((f) => f.ns >= startNs && f.ns < stopNs)
    .sort((a, b) => a.ns - b.ns);
}

export const AAC_FRAME_S = 1024 / 48000;

/**
 * A/V alignment of a clip against its recording: each piece (clip time → recording time) must carry
 * the recording's decoded audio at the same place. AAC decoding is not bit-exact across a cut, so the
 * measure is the mean absolute difference of the 440 Hz tone: a few LSB when aligned, ~100× that when
 * one sample off. A piece's first 2048 and last 1024 samples are skipped (a frame decodes from itself
 * and its predecessor, which the clip lacks at a cut). Returns the samples compared.
 */
export async function checkAudioAlignment(clip: string, src: string, pieces: Array<{ clipNs: number; srcNs: number; lengthNs: number }>): Promise<number> {
  const [c, s] = await Promise.all([audioPcm(clip), audioPcm(src)]);
  let compared = 0;
  for (const p of pieces) {
    const c0 = Math.round((p.clipNs * 48000) / 1e9) + 2048;
    const s0 = Math.round((p.srcNs * 48000) / 1e9) + 2048;
    const n = Math.min(Math.round((p.lengthNs * 48000) / 1e9) - 3072, c.length - c0 - 1024, s.length - s0 - 64);
    if (n <= 0) continue;
    let d = 0;
    for (let i = 0; i < n; i++) d += Math.abs(c[c0 + i] - s[s0 + i]);
    assert.ok(d / n <= 4, `audio at clip ${p.clipNs} ns ↔ recording ${p.srcNs} ns: mean |diff| ${(d / n).toFixed(1)}`);
    compared += n;
  }
  return compared;
}
