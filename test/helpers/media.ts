// Test helpers around the real ffmpeg/ffprobe binaries: make test videos, list frames, hash decoded frames.
// These are the oracles of the test suite: they never use the project's own MP4 code.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult { code: number | null; stdout: string; stderr: string }

/** Runs a program with an argument array (never a shell) and collects its output. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env ?? {}) } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Like run, but throws with stderr when the exit code is not 0. */
export async function runOk(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

export interface MakeVideoOptions {
  seconds: number;
  fps?: number;
  width?: number;
  height?: number;
  /** GOP length in frames. */
  gop?: number;
  /** Number of B-frames (0 = none). */
  bframes?: number;
  audio?: boolean;
  /** 'frag' = fragmented MP4 like the producer's ingest; 'plain' = ordinary MP4 (moov at end). */
  container?: 'frag' | 'plain';
  codec?: 'h264' | 'h265';
}

/**
 * Encodes testsrc2 (every frame different, so framemd5 tells frames apart) into an MP4 file.
 * Fragmented output uses exactly the producer's movflags (a fragment per keyframe).
 */
export async function makeVideo(path: string, o: MakeVideoOptions): Promise<void> {
  const fps = o.fps ?? 30;
  const w = o.width ?? 320;
  const h = o.height ?? 240;
  const gop = o.gop ?? fps;
  const args = ['-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=${fps}`];
  if (o.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-t', String(o.seconds));
  if ((o.codec ?? 'h264') === 'h264') {
    args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-bf', String(o.bframes ?? 0));
  } else {
    args.push('-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', `bframes=${o.bframes ?? 0}:log-level=error`, '-tag:v', 'hvc1');
  }
  args.push('-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-pix_fmt', 'yuv420p');
  if (o.audio) args.push('-c:a', 'aac', '-b:a', '64k');
  if ((o.container ?? 'frag') === 'frag') {
    args.push('-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof');
  } else {
    args.push('-f', 'mp4', '-movflags', '+faststart');
  }
  args.push(path);
  await runOk('ffmpeg', args);
}

export interface ProbedFrame { ptsTime: number; pts: number; keyframe: boolean; pictType: string }

/** Lists the video frames ffprobe decodes from a file, in presentation order (edit lists honoured). */
export async function probeFrames(path: string): Promise<ProbedFrame[]> {
  const out = await runOk('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'frame=pts,pts_time,key_frame,pict_type', '-of', 'json', path]);
  const parsed = JSON.parse(out) as { frames?: Array<{ pts?: number; pts_time?: string; key_frame?: number; pict_type?: string }> };
  return (parsed.frames ?? []).map((f) => ({
    pts: Number(f.pts), ptsTime: Number(f.pts_time), keyframe: f.key_frame === 1, pictType: f.pict_type ?? '?',
  }));
}

/** The MD5 of every decoded video frame, in presentation order (`ffmpeg -f framemd5`, honours edit lists). */
export async function videoFrameMd5s(path: string): Promise<string[]> {
  const out = await runOk('ffmpeg', ['-v', 'error', '-i', path, '-map', '0:v:0', '-f', 'framemd5', '-']);
  return out.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').pop()!.trim());
}

/** Decodes the whole file and returns ffmpeg's error output (empty when it decodes cleanly). */
export async function decodeErrors(path: string): Promise<string> {
  const r = await run('ffmpeg', ['-v', 'error', '-i', path, '-f', 'null', '-']);
  return r.code === 0 ? r.stderr.trim() : `exit ${r.code}: ${r.stderr.trim()}`;
}

export interface ProbedStream { codecType: string; codecName: string; duration: number; nbFrames: number; width?: number; height?: number }

/** Stream-level facts from ffprobe, counting frames by decoding (`-count_frames`). */
export async function probeStreams(path: string): Promise<ProbedStream[]> {
  const out = await runOk('ffprobe', ['-v', 'error', '-count_frames', '-show_entries',
    'stream=codec_type,codec_name,duration,nb_read_frames,width,height', '-of', 'json', path]);
  const parsed = JSON.parse(out) as { streams: Array<Record<string, string | number | undefined>> };
  return parsed.streams.map((s) => ({
    codecType: String(s.codec_type), codecName: String(s.codec_name), duration: Number(s.duration),
    nbFrames: Number(s.nb_read_frames), width: s.width === undefined ? undefined : Number(s.width),
    height: s.height === undefined ? undefined : Number(s.height),
  }));
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = 'segrec-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ProbedPacket { streamIndex: number; pts: number; dts: number; size: number; keyframe: boolean; pos: number }

/** Every packet ffprobe demuxes (`-show_packets`), in demux order, timestamps in stream time-base units. */
export async function probePackets(path: string): Promise<ProbedPacket[]> {
  const out = await runOk('ffprobe', ['-v', 'error', '-show_entries', 'packet=stream_index,pts,dts,size,flags,pos',
    '-of', 'json', path]);
  const parsed = JSON.parse(out) as { packets?: Array<{ stream_index: number; pts?: number; dts?: number; size: string; flags?: string; pos?: string }> };
  return (parsed.packets ?? []).map((p) => ({
    streamIndex: p.stream_index, pts: Number(p.pts), dts: Number(p.dts), size: Number(p.size),
    keyframe: (p.flags ?? '').startsWith('K'), pos: Number(p.pos),
  }));
}

/**
 * Decodes the first audio stream to mono 16-bit PCM placed by its timestamps (aresample async with hard compensation fills
 * gaps and trims overlaps, first_pts=0 pads a late start), so sample i is the audio at time i / rate.
 */
export function audioPcm(path: string, rate = 48000): Promise<Int16Array> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-v', 'error', '-i', path, '-map', '0:a:0', '-af', 'aresample=async=1:min_hard_comp=0:first_pts=0',
      '-ac', '1', '-ar', String(rate), '-f', 's16le', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) { reject(new Error(`ffmpeg audio decode of ${path} exited ${code}: ${stderr.slice(-2000)}`)); return; }
      const buf = Buffer.concat(chunks);
      const copy = new Uint8Array(buf.length - (buf.length % 2));
      copy.set(buf.subarray(0, copy.length));
      resolve(new Int16Array(copy.buffer));
    });
  });
}
