// `segrec clip`: make a clip from a running producer and wait for it, with a progress line.
//   segrec clip --last 10s | --from -30s --to -5s | --start-pts N --stop-pts N  [--label L] [--out-dir D]
//               [--filename F.mp4] [--wait 60s | --no-wait]
// --last and --start/stop-pts go out in PTS (for --last, "now" on the producer's clock from /health), so
// the cut is exact; --from/--to go out as epoch ms, so the producer maps them with the anchor of the
// footage they fall in (old footage included, whatever the drift since). PTS are exact at any size
// (19 digits): flags are read into bigints and sent with all their digits.
import { parseFlags, UsageError, type FlagDef } from '../../common/flags.js';
import { call, CliError, COMMON_FLAGS, connFrom, EXIT, printJson } from '../client.js';
import { clock, parseSpan, parseTime } from '../format.js';
import { describeClip } from './status.js';
import type { ClipJson, HealthPayload } from '../../protocol/schemas.js';
import { PTS_MAX } from '../../protocol/pts.js';

export const CLIP_FLAGS: FlagDef[] = [
  ...COMMON_FLAGS,
  { name: 'last', value: true, help: 'the last N of footage, e.g. 10s (ends now)' },
  { name: 'from', value: true, help: 'start: -30s, now, or 2026-11-25T07:10:00' },
  { name: 'to', value: true, help: 'stop (default now)' },
  { name: 'start-pts', value: true, help: 'start in producer PTS ns' },
  { name: 'stop-pts', value: true, help: 'stop in producer PTS ns' },
  { name: 'label', value: true, help: 'label (part of the file name)' },
  { name: 'out-dir', value: true, help: 'directory inside a clip root' },
  { name: 'filename', value: true, help: 'file name ending .mp4' },
  { name: 'wait', value: true, help: 'how long to wait for the clip (default 60s)' },
  { name: 'no-wait', value: false, help: 'queue the clip and exit' },
];

/** A PTS flag: decimal digits, read exactly (a bigint: past 2^53 a number would round it). */
function ptsFlag(v: string | boolean | undefined, name: string): bigint {
  const text = typeof v === 'string' ? v.trim() : '';
  const p = /^[0-9]{1,19}$/.test(text) ? BigInt(text) : -1n;
  if (p < 0n || p > PTS_MAX) throw new UsageError(`--${name} must be a non-negative integer (ns, at most ${PTS_MAX})`);
  return p;
}

export async function clipCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, CLIP_FLAGS);
  const c = connFrom(flags);
  const waitMs = flags.get('no-wait') === true ? 0 : parseSpan(String(flags.get('wait') ?? '60s'));
  const body: Record<string, unknown> = {};
  if (flags.has('start-pts') || flags.has('stop-pts')) {
    const start = ptsFlag(flags.get('start-pts'), 'start-pts');
    const stop = ptsFlag(flags.get('stop-pts'), 'stop-pts');
    if (stop <= start) throw new UsageError('the window is empty: --stop-pts must be after --start-pts');
    Object.assign(body, { start_pts_ns: start, stop_pts_ns: stop });
  } else {
    const { body: h } = await call<HealthPayload>(c, 'GET', '/health');
    try {
      if (flags.has('last')) {
        const spanNs = BigInt(Math.round(parseSpan(String(flags.get('last'))) * 1e6));
        if (spanNs <= 0n) throw new UsageError('--last must be longer than 0');
        const now = BigInt(h.pts_ns);
        body.start_pts_ns = now > spanNs ? now - spanNs : 0n;
        body.stop_pts_ns = now;
      } else if (flags.has('from')) {
        const fromMs = parseTime(String(flags.get('from')), h.ts_ms);
        const toMs = flags.has('to') ? parseTime(String(flags.get('to')), h.ts_ms) : h.ts_ms;
        if (toMs <= fromMs) throw new UsageError('the window is empty: --to must be after --from');
        body.start_epoch_ms = fromMs;
        body.stop_epoch_ms = toMs;
        if (!c.json) process.stderr.write(`window ${clock(fromMs)} → ${clock(toMs)}\n`);
      } else {
        throw new UsageError('give a window: --last 10s, --from -30s [--to -5s], or --start-pts N --stop-pts N');
      }
    } catch (e) {
      throw e instanceof UsageError ? e : new UsageError((e as Error).message);
    }
  }
  body.max_wait_ms = Math.min(600_000, Math.max(waitMs, 1000));
  for (const [flag, key] of [['label', 'label'], ['out-dir', 'out_dir'], ['filename', 'filename']] as const) {
    if (flags.has(flag)) body[key] = String(flags.get(flag));
  }
  const { body: queued } = await call<{ clip_id: string }>(c, 'POST', '/clip', body);
  if (waitMs === 0) {
    if (c.json) printJson(queued);
    else process.stdout.write(`${queued.clip_id} queued\n`);
    return EXIT.ok;
  }
  const t0 = Date.now();
  const tty = process.stderr.isTTY && !c.json;
  let clip: ClipJson | null = null;
  while (Date.now() - t0 < waitMs + 2000) {
    const { body: g } = await call<{ clip: ClipJson }>(c, 'GET', `/clip/${queued.clip_id}?wait_ms=1000`);
    clip = g.clip;
    if (clip.status === 'done' || clip.status === 'error') break;
    const line = `${queued.clip_id} ${clip.status}… ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    if (tty) process.stderr.write(`\r${line}`);
    else if (!c.json) process.stderr.write(line + '\n');
  }
  if (tty) process.stderr.write('\r\x1b[K');
  if (!clip || (clip.status !== 'done' && clip.status !== 'error')) {
    throw new CliError(`${queued.clip_id} is still ${clip?.status ?? 'queued'} after ${waitMs} ms; check later with \`segrec clips\``);
  }
  if (c.json) printJson(clip);
  else process.stdout.write(describeClip(clip) + '\n');
  return clip.status === 'done' ? EXIT.ok : EXIT.failed;
}
