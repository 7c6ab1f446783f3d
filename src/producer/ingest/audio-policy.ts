// Pure: what ffmpeg does with a source's audio, so that audio is never the reason nothing is recorded.
// Policy `auto` copies what MP4 carries and browsers play (AAC, Opus) and transcodes everything else
// (G.711 A-law/µ-law, PCM, G.726, ADPCM, MP3, …) alone to AAC while the video stays stream-copied;
// `copy` and `aac` force one way; `off` records video only. When ffmpeg fails on the audio anyway, the
// plan steps down (copy → aac → none) and says why, for /health.

export const AUDIO_POLICIES = ['auto', 'copy', 'aac', 'off'] as const;
export type AudioPolicy = (typeof AUDIO_POLICIES)[number];

/** The source's first audio stream as ffprobe names it; `codec: null` = the source has no audio. */
export interface AudioProbe {
  codec: string | null;
  sampleRate: number | null;
  channels: number | null;
}

export type AudioMode = 'copy' | 'aac' | 'none';

export interface AudioPlan {
  mode: AudioMode;
  /** ffmpeg output options for the audio stream (after -map). */
  args: string[];
  /** Why audio is transcoded or left out; null when it is simply copied. */
  reason: string | null;
}

/** Audio codecs an MP4 carries and browsers play, copied as they are under `auto`. */
const COPYABLE = new Set(['aac', 'opus']);

const NAMES: Record<string, string> = {
  pcm_alaw: 'G.711 A-law', pcm_mulaw: 'G.711 µ-law', adpcm_g726: 'G.726', adpcm_g726le: 'G.726', g722: 'G.722',
};

function describe(codec: string): string {
  return NAMES[codec] ? `${NAMES[codec]} (${codec})` : codec;
}

/** Output options that transcode the audio alone to AAC (upsampled to at least 16 kHz: shorter AAC frames). */
export function aacArgs(probe: AudioProbe | null): string[] {
  const args = ['-c:a', 'aac', '-b:a', '64k'];
  if (probe?.sampleRate && probe.sampleRate < 16000) args.push('-ar', '16000');
  if (probe?.channels && probe.channels > 2) args.push('-ac', '2');
  return args;
}

/**
 * The audio plan for the next ffmpeg run. `probe` is null when the source could not be probed (the
 * copy is then tried first); `step` counts audio failures of earlier runs (each one steps down).
 */
export function planAudio(policy: AudioPolicy, probe: AudioProbe | null, step: { failures: number; lastFailure: string | null }): AudioPlan {
  const none = (reason: string): AudioPlan => ({ mode: 'none', args: ['-an'], reason });
  if (policy === 'off') return none('audio off (--audio off)');
  if (probe && probe.codec === null) return none('the source has no audio');
  const ladder: AudioMode[] = policy === 'copy' ? ['copy', 'none']
    : policy === 'aac' ? ['aac', 'none']
      : probe && !COPYABLE.has(probe.codec ?? '') ? ['aac', 'none'] : ['copy', 'aac', 'none'];
  const mode = ladder[Math.min(step.failures, ladder.length - 1)];
  const failed = step.lastFailure ? `ffmpeg could not record the audio (${step.lastFailure})` : null;
  if (mode === 'none') return none(`${failed ?? 'audio could not be recorded'}; recording video only`);
  if (mode === 'copy') return { mode, args: ['-c:a', 'copy'], reason: null };
  const why = probe?.codec && !COPYABLE.has(probe.codec)
    ? `${describe(probe.codec)} cannot be stored in MP4 or played by browsers; transcoded to AAC (video stream-copied)`
    : policy === 'aac' ? 'transcoded to AAC (--audio aac)' : `${failed ?? 'copy failed'}; transcoded to AAC`;
  return { mode, args: aacArgs(probe), reason: why };
}

/** Whether ffmpeg's last words blame the audio (output stream 1, which is always the audio). */
export function isAudioFailure(stderr: string): boolean {
  return /Could not find tag for codec|codec not currently supported in container|Error (initializing|while opening encoder for) output stream #?0:1\b/i.test(stderr);
}
