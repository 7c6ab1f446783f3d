// Builds the ffmpeg (and ffprobe) argument arrays for a source: the synthetic testsrc, a file (looped in
// real time), or a network URL (stream-copied; RTSP over TCP with a socket timeout). Output is always
// fragmented MP4 on stdout: a fragment at every keyframe and at least every `fragmentMs`, so bytes flow
// and the open segment is durable to about a second whatever the GOP. Audio follows the audio plan.
//
// Never a shell: the result is passed to spawn() as an array. A URL with credentials never appears in
// any command line (it would be readable in /proc/<pid>/cmdline and `ps`): ffmpeg reads it from a
// one-entry ffconcat script that the producer writes into the child's pipe 3 and closes.
import { testsrcArgs, type TestsrcOptions } from './testsrc.js';
import type { AudioPlan } from './audio-policy.js';
import type { TranscodeMode } from '../options.js';

export type SourceKind = 'testsrc' | 'file' | 'rtsp' | 'network';

export function sourceKind(source: string): SourceKind {
  if (source === 'testsrc') return 'testsrc';
  if (/^rtsps?:\/\//i.test(source)) return 'rtsp';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !/^file:\/\//i.test(source)) return 'network';
  return 'file';
}

/** Fragment length bound (ms) when no keyframe comes sooner. */
export const DEFAULT_FRAGMENT_MS = 1000;

export function fragmentedMp4Output(fragmentMs = DEFAULT_FRAGMENT_MS): string[] {
  return [
    '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-frag_duration', String(Math.round(fragmentMs * 1000)),
    '-flush_packets', '1', 'pipe:1',
  ];
}

/**
 * Timestamp repair for stream-copied audio (ffmpeg's `setts` filter): output decode times follow the
 * input's *steps*, so a packet whose decode time does not advance (a source clock that stepped back) is
 * placed one packet duration after the previous output packet and the stream continues from there at its
 * own pace; forward jumps are kept. Without it ffmpeg's muxer would squeeze every packet after a backward
 * step onto consecutive ticks until the source's clock caught up ("Non-monotonous DTS … changing to").
 * Video cannot be repaired this way when it has B-frames (libavformat sets dts = pts across such a step,
 * so frames would be swapped): a backward step in the video ends the run instead (supervisor.ts), which
 * records the boundary as a gap and starts a clean one.
 */
export const MONOTONIC_AUDIO_TS = monotonicTs();

function monotonicTs(): string {
  // Commas inside a filter option are escaped (the bitstream filter list itself is comma-separated).
  const dts = 'if(eq(PREV_OUTDTS,NOPTS),DTS,if(gt(DTS,PREV_INDTS),PREV_OUTDTS+DTS-PREV_INDTS,PREV_OUTDTS+max(DURATION,1)))';
  return `setts=dts=${dts}:pts=PTS-DTS+${dts}`.replace(/,/g, '\\,');
}

/**
 * The first video packet of an RTSP run has no timestamp (ffmpeg's parser cannot time the first frame
 * of a source without byte positions) and would be written at 0, a few frames before the second. Its
 * true time is on the next packet's frame grid, in the first frame period from the run's clock start
 * (the RTP time the PLAY answer names: the first packet is sent at or after it, by up to a frame; a
 * tick or two before it is rounding). So the grid slot in [−1/8, 7/8) of a frame from 0 — the slot
 * nearest 0 put a first frame sent 21 ms after that time at 25 fps one frame early. Needs `-copyts`
 * so ffmpeg does not subtract a start time from the others. Holds one packet (one frame of latency,
 * video only).
 */
export const FIRST_PTS_FIX = 'setts=pts=if(eq(PTS,NOPTS),NEXT_PTS-DURATION*floor((NEXT_PTS+DURATION/8)/DURATION),PTS)'.replace(/,/g, '\\,');

export interface SourceArgsOptions {
  source: string;
  transcode: TranscodeMode;
  loop: boolean;
  testsrc: TestsrcOptions;
  /** Extra input options (`-name value` pairs); for a URL with credentials they become ffconcat `option` lines. */
  inputArgs: string[];
  /** What to do with the audio (see audio-policy); ignored for testsrc, which has none. */
  audio?: AudioPlan;
  fragmentMs?: number;
}

/** An ffmpeg/ffprobe invocation: its arguments and, when set, the text to write into its pipe 3. */
export interface SpawnSpec {
  args: string[];
  fd3: string | null;
}

/** Whether the source URL carries a user name or password. */
export function hasCredentials(source: string): boolean {
  try {
    const u = new URL(source);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

/** Quotes a string for an ffconcat script line ('…' with each ' written as '\''). */
function ffconcatQuote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/** The input part (options through -i) shared by ffmpeg and ffprobe. */
function inputSpec(o: SourceArgsOptions): SpawnSpec {
  const kind = sourceKind(o.source);
  const own: string[] = [];
  if (kind === 'rtsp') own.push('-rtsp_transport', 'tcp', '-timeout', '5000000');
  else if (kind === 'network') own.push('-rw_timeout', '10000000');
  if (!hasCredentials(o.source)) {
    const args = ['-fflags', '+genpts+discardcorrupt'];
    if (kind === 'file') {
      args.push('-re');
      if (o.loop) args.push('-stream_loop', '-1');
    }
    args.push(...own, ...o.inputArgs, '-i', o.source.replace(/^file:\/\//i, ''));
    return { args, fd3: null };
  }
  const lines = ['ffconcat version 1.0', `file ${ffconcatQuote(o.source)}`];
  const opts = [...own, ...o.inputArgs];
  for (let i = 0; i + 1 < opts.length; i += 2) {
    if (opts[i].startsWith('-')) lines.push(`option ${opts[i].slice(1)} ${ffconcatQuote(opts[i + 1])}`);
  }
  return {
    args: ['-fflags', '+genpts+discardcorrupt', '-protocol_whitelist', 'pipe,file,rtsp,rtsps,rtp,srtp,udp,tcp,tls,crypto,http,https,httpproxy',
      '-f', 'concat', '-safe', '0', '-i', 'pipe:3'],
    fd3: lines.join('\n') + '\n',
  };
}

export function buildFfmpegArgs(o: SourceArgsOptions): SpawnSpec {
  const kind = sourceKind(o.source);
  // Warnings, not only errors: timestamp trouble is reported on stderr and surfaced in the log.
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'warning'];
  if (kind === 'testsrc') {
    args.push(...o.inputArgs, ...testsrcArgs(o.testsrc), '-an', ...fragmentedMp4Output(o.fragmentMs));
    return { args, fd3: null };
  }
  const input = inputSpec(o);
  args.push(...input.args);
  args.push('-map', '0:v:0', '-map', '0:a:0?', '-dn', '-sn');
  if (o.transcode === 'always') {
    args.push('-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
      '-force_key_frames', 'expr:gte(t,n_forced*2)');
  } else {
    args.push('-c:v', 'copy');
    // Live sources only: ffmpeg 5.1 flushes bitstream filters at a -stream_loop restart and then refuses
    // every packet ("A non-NULL packet sent after an EOF"), and a file's timestamps do not jump anyway.
    if (kind !== 'file') args.push('-copyts', '-bsf:v', FIRST_PTS_FIX);
  }
  const audio = o.audio ?? { mode: 'copy', args: ['-c:a', 'copy'], reason: null };
  args.push(...audio.args);
  if (audio.mode === 'copy' && kind !== 'file') args.push('-bsf:a', MONOTONIC_AUDIO_TS);
  args.push('-avoid_negative_ts', 'make_zero');
  args.push(...fragmentedMp4Output(o.fragmentMs));
  return { args, fd3: input.fd3 };
}

/** ffprobe's arguments to list the source's streams as JSON (same input options, same secrecy). */
export function buildProbeArgs(o: SourceArgsOptions): SpawnSpec {
  const input = inputSpec({ ...o, loop: false });
  // -re would make a file probe wait in real time; ffprobe reads as fast as it can.
  const args = input.args.filter((a) => a !== '-re');
  return { args: ['-hide_banner', '-v', 'error', ...args, '-show_entries', 'stream=codec_type,codec_name,sample_rate,channels', '-of', 'json'], fd3: input.fd3 };
}
