// Builds the ffmpeg argument array for a source: the synthetic testsrc, a file (looped in real time),
// or a network URL (stream-copied; RTSP over TCP with a socket timeout). Output is always fragmented
// MP4 on stdout, one fragment per keyframe. Never a shell: the result is passed to spawn() as an array.
import { testsrcArgs, type TestsrcOptions } from './testsrc.js';
import type { TranscodeMode } from '../options.js';

export type SourceKind = 'testsrc' | 'file' | 'rtsp' | 'network';

export function sourceKind(source: string): SourceKind {
  if (source === 'testsrc') return 'testsrc';
  if (/^rtsps?:\/\//i.test(source)) return 'rtsp';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:\/\//i.test(source)) return 'network';
  return 'file';
}

export const FRAGMENTED_MP4_OUTPUT = [
  '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-flush_packets', '1', 'pipe:1',
];

export interface SourceArgsOptions {
  source: string;
  transcode: TranscodeMode;
  loop: boolean;
  testsrc: TestsrcOptions;
  inputArgs: string[];
}

export function buildFfmpegArgs(o: SourceArgsOptions): string[] {
  const kind = sourceKind(o.source);
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  if (kind === 'testsrc') {
    args.push(...o.inputArgs, ...testsrcArgs(o.testsrc), '-an');
    args.push(...FRAGMENTED_MP4_OUTPUT);
    return args;
  }
  args.push('-fflags', '+genpts+discardcorrupt');
  if (kind === 'file') {
    args.push('-re');
    if (o.loop) args.push('-stream_loop', '-1');
  } else if (kind === 'rtsp') {
    args.push('-rtsp_transport', 'tcp', '-timeout', '5000000');
  } else {
    args.push('-rw_timeout', '10000000');
  }
  args.push(...o.inputArgs);
  args.push('-i', o.source.replace(/^file:\/\//i, ''));
  args.push('-map', '0:v:0', '-map', '0:a:0?', '-dn', '-sn');
  const encode = o.transcode === 'always';
  if (encode) {
    args.push('-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
      '-force_key_frames', 'expr:gte(t,n_forced*2)', '-c:a', 'aac');
  } else {
    args.push('-c:v', 'copy', '-c:a', 'copy');
  }
  args.push('-avoid_negative_ts', 'make_zero');
  args.push(...FRAGMENTED_MP4_OUTPUT);
  return args;
}
