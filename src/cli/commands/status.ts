// `segrec health`, `segrec rotate`, `segrec segments`, `segrec clips`: look at a running producer.
import { parseFlags, type FlagDef } from '../../common/flags.js';
import { call, COMMON_FLAGS, connFrom, EXIT, printJson } from '../client.js';
import { clock, dur, secs, size } from '../format.js';
import type { ClipJson, GapJson, HealthPayload, SegmentJson, SpanJson } from '../../protocol/schemas.js';

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
  process.stdout.write(s ? `sealed ${s.path}: ${secs(s.stop_pts_ns - s.start_pts_ns)}, ${s.frames} frames, ${size(s.bytes)}\n` : 'nothing to seal\n');
  return EXIT.ok;
}

const SEGMENTS_FLAGS: FlagDef[] = [...COMMON_FLAGS, { name: 'all', value: false, help: 'list every segment, not just spans and gaps' }];

export async function segmentsCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, SEGMENTS_FLAGS);
  const c = connFrom(flags);
  const { body } = await call<{ segments: SegmentJson[]; gaps: GapJson[]; spans: SpanJson[] }>(c, 'GET', '/segments');
  if (c.json) { printJson(body); return EXIT.ok; }
  const total = body.segments.reduce((n, s) => n + s.bytes, 0);
  process.stdout.write(`${body.segments.length} segments, ${size(total)}, ${body.spans.length} continuous spans, ${body.gaps.length} gaps\n`);
  for (const sp of body.spans) {
    process.stdout.write(`  span  ${clock(sp.start_epoch_ms)} → ${clock(sp.stop_epoch_ms)}  ${dur((sp.stop_pts_ns - sp.start_pts_ns) / 1e6).padStart(9)}  ${sp.segments} segments\n`);
  }
  for (const g of body.gaps) {
    process.stdout.write(`  gap   pts ${secs(g.start_pts_ns)} → ${secs(g.stop_pts_ns)}  ${dur(g.duration_ms).padStart(9)}  ${g.reason}\n`);
  }
  if (flags.get('all') === true) {
    for (const s of body.segments) {
      process.stdout.write(`  ${s.sealed ? 'sealed' : 'OPEN  '} ${s.path}  ${secs(s.stop_pts_ns - s.start_pts_ns)}  ${s.frames} frames  ${size(s.bytes)}\n`);
    }
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
