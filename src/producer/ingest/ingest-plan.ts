// Decides how the next ffmpeg run is started: the source's audio is probed once (ffprobe), the audio
// policy turns that into copy / transcode-to-AAC / leave-out, and a run that ffmpeg ends because of its
// audio steps the plan down for the next run, so audio is never the reason nothing is recorded. Keeps
// what /health says about audio: the source's codec, whether it is kept, as what, and why.
import type { Logger } from '../../common/log.js';
import { isAudioFailure, planAudio, type AudioPlan, type AudioPolicy, type AudioProbe } from './audio-policy.js';
import { probeAudio } from './probe.js';
import { buildFfmpegArgs, buildProbeArgs, sourceKind, type SourceArgsOptions, type SpawnSpec } from './source-args.js';

/** /health's `audio`. */
export interface AudioStatus {
  /** The source's audio codec as ffprobe names it (null: none, or not known yet). */
  codec: string | null;
  /** Whether the recording keeps audio. */
  kept: boolean;
  /** What the segments hold: `copy` (as the source sends it), `aac` (transcoded), `none`. */
  mode: AudioPlan['mode'];
  /** Why audio is transcoded or left out; null when it is copied. */
  reason: string | null;
}

export interface IngestPlanOptions {
  args: Omit<SourceArgsOptions, 'audio'>;
  policy: AudioPolicy;
  ffprobe: string;
  log: Logger;
  /** Injectable for tests. */
  probe?: (spec: SpawnSpec) => Promise<AudioProbe | null>;
}

export class IngestPlan {
  private probed: AudioProbe | null = null;
  private probedOnce = false;
  private failures = 0;
  private lastFailure: string | null = null;
  private current: AudioPlan | null = null;

  constructor(private readonly o: IngestPlanOptions) {}

  /** The arguments (and pipe-3 text) of the next ffmpeg run. */
  async next(): Promise<SpawnSpec> {
    const kind = sourceKind(this.o.args.source);
    if (kind !== 'testsrc' && this.o.policy !== 'off' && !this.probedOnce) {
      const probe = this.o.probe ?? ((spec: SpawnSpec) => probeAudio(this.o.ffprobe, spec));
      this.probed = await probe(buildProbeArgs(this.o.args));
      // A failed probe (camera down) is tried again at the next run; a good one is kept.
      this.probedOnce = this.probed !== null;
      if (this.probed) this.o.log.info('source probed', { audio: this.probed.codec ?? 'none', sample_rate: this.probed.sampleRate ?? undefined });
    }
    const plan = kind === 'testsrc'
      ? { mode: 'none' as const, args: ['-an'], reason: 'the test camera has no audio' }
      : planAudio(this.o.policy, this.probed, { failures: this.failures, lastFailure: this.lastFailure });
    if (this.current?.mode !== plan.mode && plan.reason) this.o.log.info('audio plan', { mode: plan.mode, reason: plan.reason });
    this.current = plan;
    return buildFfmpegArgs({ ...this.o.args, audio: plan });
  }

  /** A run ended; `stderrTail` is ffmpeg's last words. A run that recorded nothing because of audio steps down. */
  runEnded(hadFragments: boolean, stderrTail: string): void {
    if (hadFragments || !this.current || this.current.mode === 'none' || !isAudioFailure(stderrTail)) return;
    this.failures++;
    this.lastFailure = stderrTail.split('\n').filter(Boolean).slice(-1)[0]?.slice(0, 200) ?? 'unknown error';
    this.o.log.warn('ffmpeg failed on the audio; changing how audio is recorded', { error: this.lastFailure });
  }

  get audio(): AudioStatus {
    const plan = this.current;
    return {
      codec: this.probed?.codec ?? null,
      kept: plan !== null && plan.mode !== 'none',
      mode: plan?.mode ?? 'none',
      reason: plan?.reason ?? null,
    };
  }
}
