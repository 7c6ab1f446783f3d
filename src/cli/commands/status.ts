// `segrec health`, `segrec rotate`, `segrec segments`, `segrec clips`: look at a running producer.
import { parseFlags, UsageError, type FlagDef } from '../../common/flags.js';
import { call, COMMON_FLAGS, connFrom, EXIT, printJson } from '../client.js';
import { clock, dur, secs, size, spanNs } from '../format.js';
import { parseDurationMs } from '../../common/units.js';
import { GAP_TOLERANCE_NS, type ClipJson, type GapJson, type HealthPayload, type SegmentJson, type SpanJson } from '../../protocol/schemas.js';

export async function healthCommand(argv: string[]): Promise<number> {
  const c = connFrom(parseFlags(argv, COMMON_FLAGS));
  const { body: h } = await call<HealthPayload>(c, 'GET', '/health');
  if (c.json) { printJson(h); return EXIT.ok; }
  const i = h.ingest;
  const lines = [
    `producer ${c.baseUrl}  —  ingest ${i.state.toUpperCase()}  (${i.source})`,
    `  video      ${i.codec ?? '?'} ${i.width ?? '?'}x${i.height ?? '?'} @ ${i.fps ?? '?'} fps, last frame ${i.last_frame_age_ms === null ? 'never' : dur(i.last_frame_age_ms) + ' ago'}`,
    `  restarts   ${i.restarts}${i.last_error ? `  (last error: ${i.last_error})` : ''}, drift ${i.drift_ms.toFixed(1)} ms`,
    `  segments   ${h.segments.count} (${size(h.segments.bytes)}), ${h.segments.gaps} gaps` +
      (h.segments.oldest_start_pts_ns !== null ? `, pts ${secs(h.segments.oldest_start_pts_ns)} → ${secs(h.segments.newest_stop_pts_ns ?? 0)}` : ''),
    `  clips      ${h.clips.queued} queued, ${h.clips.running} running`,
    `  clock      now pts ${h.pts_ns} = ${clock(h.ts_ms)}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return i.state === 'running' ? EXIT.ok : EXIT.failed;
}

export async function rotateCommand(argv: string[]): Promise<number> {
  const c = connFrom(parseFlags(argv, COMMON_FLAGS));
  const { body } = await call<{ sealed: SegmentJson | null }>(c, 'POST', '/force_rotate', {});
  if (c.json) { printJson(body); return EXIT.ok; }
  const s = body.sealed;
  process.stdout.write(s ? `sealed ${s.path}: ${secs(spanNs(s.start_pts_ns, s.stop_pts_ns))}, ${s.frames} frames, ${size(s.bytes)}\n` : 'nothing to seal\n');
  return EXIT.ok;
}

const SEGMENTS_FLAGS: FlagDef[] = [
  ...COMMON_FLAGS,
  { name: 'since', value: true, help: 'how far back from the newest footage, e.g. 2h, 7d, all (default: 1d, as the producer answers)' },
  { name: 'all', value: false, help: 'list every segment, not just spans and gaps' },
  { name: 'page', value: true, help: 'segments per request (default 5000)' },
];

/** The footage of a window, every page of it (newest first) folded into spans and gaps; segments kept only for --all. */
async function footage(c: ReturnType<typeof connFrom>, since: string | undefined, keepSegments: boolean, page: number) {
  let window = '';
  if (since !== undefined) {
    const { body: h } = await call<HealthPayload>(c, 'GET', '/health');
    // In bigint: the newest PTS may be past 2^53, where a number would round it.
    const newest = BigInt(h.segments.newest_stop_pts_ns ?? 0);
    const back = since === 'all' ? newest : BigInt(Math.round(parseDurationMs(since, '--since') * 1e6));
    const from = newest > back ? newest - back : 0n;
    window = `from_pts_ns=${from}&`;
  }
  const spans: SpanJson[] = [];
  const gaps: GapJson[] = [];
  const segments: SegmentJson[] = [];
  let count = 0;
  let bytes = 0;
  let cursor: string | null = null;
  do {
    const { body }: { body: SegmentsPage } = await call<SegmentsPage>(c, 'GET', `/segments?${window}limit=${page}${cursor ? `&cursor=${cursor}` : ''}`);
    count += body.segments.length;
    for (const s of body.segments) bytes += s.bytes;
    if (keepSegments) segments.unshift(...body.segments);
    // Pages go back in time: a page's last span continues the newer page's first one when they touch.
    const newer = spans[0];
    const last = body.spans[body.spans.length - 1];
    if (newer && last && spanNs(last.stop_pts_ns, newer.start_pts_ns) <= GAP_TOLERANCE_NS) {
      newer.start_pts_ns = last.start_pts_ns;
      newer.start_epoch_ms = last.start_epoch_ms;
      newer.segments += last.segments;
      body.spans.pop();
    } else if (newer && last) {
      gaps.unshift({ start_pts_ns: last.stop_pts_ns, stop_pts_ns: newer.start_pts_ns, duration_ms: spanNs(last.stop_pts_ns, newer.start_pts_ns) / 1e6, reason: 'no footage' });
    }
    spans.unshift(...body.spans);
    gaps.unshift(...body.gaps);
    cursor = body.next_cursor;
  } while (cursor);
  return { count, bytes, spans, gaps, segments };
}

type SegmentsPage = { segments: SegmentJson[]; gaps: GapJson[]; spans: SpanJson[]; next_cursor: string | null };

export async function segmentsCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, SEGMENTS_FLAGS);
  const c = connFrom(flags);
  const since = flags.get('since');
  const pageFlag = flags.get('page');
  const page = typeof pageFlag === 'string' ? Number(pageFlag) : 5000;
  if (!Number.isInteger(page) || page < 1 || page > 100_000) throw new UsageError('--page: a whole number of segments, 1 to 100000');
  const f = await footage(c, typeof since === 'string' ? since : undefined, flags.get('all') === true, page);
  if (c.json) { printJson({ ok: true, segments: f.segments, spans: f.spans, gaps: f.gaps, count: f.count, bytes: f.bytes }); return EXIT.ok; }
  process.stdout.write(`${f.count} segments, ${size(f.bytes)}, ${f.spans.length} continuous spans, ${f.gaps.length} gaps\n`);
  for (const sp of f.spans) {
    process.stdout.write(`  span  ${clock(sp.start_epoch_ms)} → ${clock(sp.stop_epoch_ms)}  ${dur(spanNs(sp.start_pts_ns, sp.stop_pts_ns) / 1e6).padStart(9)}  ${sp.segments} segments\n`);
  }
  for (const g of f.gaps) {
    process.stdout.write(`  gap   pts ${secs(g.start_pts_ns)} → ${secs(g.stop_pts_ns)}  ${dur(g.duration_ms).padStart(9)}  ${g.reason}\n`);
  }
  for (const s of f.segments) {
    process.stdout.write(`  ${s.sealed ? 'sealed' : 'OPEN  '} ${s.path}  ${secs(spanNs(s.start_pts_ns, s.stop_pts_ns))}  ${s.frames} frames  ${size(s.bytes)}\n`);
  }
  return EXIT.ok;
}

const CLIPS_FLAGS: FlagDef[] = [...COMMON_FLAGS, { name: 'limit', value: true, help: 'how many (default 20)' }];

export async function clipsCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, CLIPS_FLAGS);
  const c = connFrom(flags);
  const limit = Number(flags.get('limit') ?? 20);
  const { body } = await call<{ clips: ClipJson[] }>(c, 'GET', `/clips?limit=${Number.isInteger(limit) && limit > 0 ? limit : 20}`);
  if (c.json) { printJson(body); return EXIT.ok; }
  if (body.clips.length === 0) process.stdout.write('no clips yet\n');
  for (const j of body.clips) process.stdout.write(describeClip(j) + '\n');
  return EXIT.ok;
}

export function describeClip(j: ClipJson & { camera?: string }): string {
  const head = `${j.clip_id}  ${j.status.padEnd(7)} ${clock(j.created_ms)}  ${j.camera ? `[${j.camera}] ` : ''}${j.label ?? ''}`.trimEnd();
  if (j.status === 'error') return `${head}\n    error: ${j.error}`;
  if (j.status !== 'done') return head;
  const flags = [j.partial ? `PARTIAL (${j.partial_reason})` : '', j.gaps.length ? `${j.gaps.length} gap(s)` : ''].filter(Boolean).join(', ');
  return `${head}\n    ${dur(j.duration_ms ?? 0)}, ${j.frames} frames, ${size(j.bytes ?? 0)}, lead-in ${dur(j.lead_in_ms ?? 0)}${flags ? ', ' + flags : ''}\n    ${j.path}`;
}
