// Asks ffprobe what audio a source carries (argument array, no shell; credentials through pipe 3 as for
// ffmpeg), so the audio plan can copy it or transcode it before ffmpeg starts. A probe that fails or
// times out answers null: the plan then tries the copy and steps down if ffmpeg fails on the audio.
import { spawn } from 'node:child_process';
import type { AudioProbe } from './audio-policy.js';
import type { SpawnSpec } from './source-args.js';

interface ProbeJson { streams?: Array<{ codec_type?: string; codec_name?: string; sample_rate?: string; channels?: number }> }

/** Pure: the first audio stream of ffprobe's JSON, or `codec: null` when there is none; null when unreadable. */
export function parseAudioProbe(json: string): AudioProbe | null {
  let parsed: ProbeJson;
  try {
    parsed = JSON.parse(json) as ProbeJson;
  } catch {
    return null;
  }
  const streams = parsed.streams ?? [];
  if (!streams.some((s) => s.codec_type === 'video')) return null;
  const a = streams.find((s) => s.codec_type === 'audio');
  if (!a) return { codec: null, sampleRate: null, channels: null };
  const rate = Number(a.sample_rate);
  return { codec: a.codec_name ?? 'unknown', sampleRate: Number.isFinite(rate) && rate > 0 ? rate : null, channels: a.channels ?? null };
}

/** Runs ffprobe with the spec; resolves null on any failure (never rejects). */
export function probeAudio(ffprobe: string, spec: SpawnSpec, timeoutMs = 15_000): Promise<AudioProbe | null> {
  return new Promise((resolve) => {
    let out = '';
    let settled = false;
    const finish = (v: AudioProbe | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    let child;
    try {
      child = spawn(ffprobe, spec.args, { stdio: ['ignore', 'pipe', 'ignore', 'pipe'] });
    } catch {
      finish(null);
      return;
    }
    const timer = setTimeout(() => { child.kill('SIGKILL'); finish(null); }, timeoutMs);
    timer.unref();
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const fd3 = child.stdio[3] as NodeJS.WritableStream | null;
    fd3?.on('error', () => undefined);
    fd3?.end(spec.fd3 ?? '');
    child.on('error', () => finish(null));
    child.on('close', (code) => finish(code === 0 ? parseAudioProbe(out) : null));
  });
}
