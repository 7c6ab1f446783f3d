// Surfaces ffmpeg's stderr warnings in the producer's log without flooding it: each kind of message
// (its text with numbers taken out) is logged when first seen, then at most once per interval with the
// count of repeats in between. Timestamp trouble (non-monotonic DTS, missing PTS, discontinuities) is
// logged as a warning, anything else ffmpeg says at warning level as info.
import type { Logger } from '../../common/log.js';

const TIMESTAMP_TROUBLE = /non.?monoton|timestamp|pts|dts|discontinuit|out of order|invalid.*(time|ts)/i;
const MAX_KINDS = 200;

export class WarningLog {
  private readonly kinds = new Map<string, { lastMs: number; suppressed: number }>();
  /** Lines seen in all (for tests and /metrics). */
  total = 0;

  constructor(
    private readonly log: Logger,
    private readonly redact: (s: string) => string,
    private readonly intervalMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  line(raw: string, runId: number): void {
    const text = raw.trim();
    if (!text) return;
    this.total++;
    const kind = text.replace(/0x[0-9a-f]+/gi, 'X').replace(/-?\d+(\.\d+)?/g, 'N').slice(0, 160);
    const now = this.now();
    let k = this.kinds.get(kind);
    if (k && now - k.lastMs < this.intervalMs) {
      k.suppressed++;
      return;
    }
    if (!k) {
      if (this.kinds.size >= MAX_KINDS) this.kinds.delete(this.kinds.keys().next().value as string);
      k = { lastMs: now, suppressed: 0 };
      this.kinds.set(kind, k);
    }
    const fields = { run: runId, message: this.redact(text.slice(0, 500)), repeated: k.suppressed || undefined };
    k.lastMs = now;
    k.suppressed = 0;
    if (TIMESTAMP_TROUBLE.test(text)) this.log.warn('ffmpeg reports timestamp trouble', fields);
    else this.log.info('ffmpeg says', fields);
  }
}
