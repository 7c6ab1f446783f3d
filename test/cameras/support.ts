// Oracles for the camera suite (test/cameras/cameras.test.ts), built on ffmpeg/ffprobe only — never on
// the project's own MP4 code.
//
// The recorded frames: the segment files of one ffmpeg run share their init and continue one fMP4 stream
// (each is the run's ftyp+moov followed by whole moof+mdat fragments exactly as ffmpeg wrote them), so
// the run is put back together — the first file whole, then the fragments of each following file — and
// decoded in one go. Decoded that way, an open GOP's leading pictures (which need the previous GOP, in
// the previous segment) and a segment that begins mid-GOP decode as they do in a clip that reads from
// an earlier keyframe. Every decoded frame is traced back to the segment it came from by its packet's
// byte position, and placed on the producer clock by that segment's start_pts_ns, which is the earliest
// presentation time of the segment's samples (the video packet with the lowest pts, decodable or not).
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk } from '../helpers/media.js';
import { getJson, segmentFile, type SegmentWire } from '../helpers/producer.js';
import type { HealthPayload } from '../../src/producer/health.js';

/** The rig's cameras send 25 fps. */
export const FRAME_NS = 40e6;

/** A segment as /segments lists it (the test helper's type plus the fields this suite reads). */
export type Segment = SegmentWire & { codec: string; start_epoch_ms: number; stop_epoch_ms: number };
export interface Gap { start_pts_ns: number; stop_pts_ns: number; duration_ms: number; reason: string }
export interface Timeline { segments: Segment[]; gaps: Gap[] }

export async function timeline(url: string): Promise<Timeline> {
  const r = await getJson<{ segments: Segment[]; gaps: Gap[] }>(`${url}/segments`);
  assert.equal(r.status, 200, 'GET /segments answers 200');
  return { segments: r.body.segments, gaps: r.body.gaps };
}

export async function health(url: string): Promise<HealthPayload> {
  const r = await getJson<HealthPayload>(`${url}/health`);
  assert.equal(r.status, 200, 'GET /health answers 200');
  return r.body;
}

/** Polls /health until stopped and keeps every state seen, the highest restart count and the errors. */
export function watchHealth(url: string, everyMs = 400): { stop: () => Promise<{ states: string[]; restarts: number; errors: string[] }> } {
  const states: string[] = [];
  const errors = new Set<string>();
  let restarts = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const h = await health(url);
        if (states[states.length - 1] !== h.ingest.state) states.push(h.ingest.state);
        restarts = Math.max(restarts, h.ingest.restarts);
        if (h.ingest.error) errors.add(h.ingest.error);
        if (h.ingest.last_error) errors.add(h.ingest.last_error);
      } catch (e) {
        states.push(`HTTP-ERROR ${(e as Error).message}`);
      }
      await sleep(everyMs);
    }
  })();
  return { stop: async () => { stopped = true; await loop; return { states, restarts, errors: [...errors] }; } };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface ProbedPacket { pts: number; dts: number; pos: number; keyframe: boolean; duration: number }
interface ProbedStreamInfo { index: number; codecType: string; codecName: string; tbNum: number; tbDen: number; sampleRate: number | null }
export interface FileProbe { streams: ProbedStreamInfo[]; packets: Map<number, ProbedPacket[]> }

/** Streams and every packet of a file, per stream index, in demux order (ffprobe). */
export async function probeFile(path: string): Promise<FileProbe> {
  const out = await runOk('ffprobe', ['-v', 'error', '-show_entries',
    'stream=index,codec_type,codec_name,time_base,sample_rate:packet=stream_index,pts,dts,pos,flags,duration', '-of', 'json', path]);
  const j = JSON.parse(out) as {
    streams?: Array<{ index: number; codec_type: string; codec_name: string; time_base: string; sample_rate?: string }>;
    packets?: Array<{ stream_index: number; pts?: number; dts?: number; pos?: string; flags?: string; duration?: number }>;
  };
  const streams = (j.streams ?? []).map((s) => {
    const [num, den] = s.time_base.split('/').map(Number);
    return { index: s.index, codecType: s.codec_type, codecName: s.codec_name, tbNum: num, tbDen: den, sampleRate: s.sample_rate ? Number(s.sample_rate) : null };
  });
  const packets = new Map<number, ProbedPacket[]>();
  for (const p of j.packets ?? []) {
    const list = packets.get(p.stream_index) ?? [];
    list.push({ pts: Number(p.pts), dts: Number(p.dts), pos: Number(p.pos), keyframe: (p.flags ?? '').startsWith('K'), duration: Number(p.duration) });
    packets.set(p.stream_index, list);
  }
  return { streams, packets };
}

export function streamOf(p: FileProbe, type: 'video' | 'audio'): ProbedStreamInfo | undefined {
  return p.streams.find((s) => s.codecType === type);
}

export function packetsOf(p: FileProbe, type: 'video' | 'audio'): ProbedPacket[] {
  const s = streamOf(p, type);
  return s ? p.packets.get(s.index) ?? [] : [];
}

/** Offset of the first top-level moof box: the bytes before it are the file's init (ftyp+moov). */
export function initSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(16);
    let off = 0;
    for (;;) {
      if (readSync(fd, head, 0, 16, off) < 8) throw new Error(`${path}: no moof box`);
      const type = head.toString('latin1', 4, 8);
      if (type === 'moof') return off;
      let size = head.readUInt32BE(0);
      if (size === 1) size = Number(head.readBigUInt64BE(8));
      if (size < 8) throw new Error(`${path}: bad box size ${size} at ${off}`);
      off += size;
    }
  } finally {
    closeSync(fd);
  }
}

/** One decoded frame of the recording, on the producer clock. */
export interface Frame { ptsNs: number; md5: string; keyframe: boolean; segment: number }

export interface Recorded {
  /** Every decoded frame of the given segments, in presentation order. */
  frames: Frame[];
  /** Decoded frames per segment id (decoded with the rest of its run). */
  decoded: Map<number, number>;
  /** Segment ids per run put back together. */
  runs: number[][];
}

/** The MD5 of every decoded video frame, in output order, with no frame dropped or repeated. */
export async function frameMd5s(path: string): Promise<string[]> {
  const out = await runOk('ffmpeg', ['-v', 'error', '-i', path, '-map', '0:v:0', '-fps_mode', 'passthrough', '-f', 'framemd5', '-']);
  return out.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',').pop()!.trim());
}

async function decodedFrames(path: string): Promise<Array<{ pts: number; pos: number; keyframe: boolean; md5: string }>> {
  const [out, md5s] = await Promise.all([
    runOk('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts,pkt_pos,key_frame', '-of', 'json', path]),
    frameMd5s(path),
  ]);
  const frames = (JSON.parse(out) as { frames?: Array<{ pts?: number; pkt_pos?: string; key_frame?: number }> }).frames ?? [];
  assert.equal(md5s.length, frames.length, `${path}: ffmpeg and ffprobe decode the same number of frames`);
  return frames.map((f, i) => ({ pts: Number(f.pts), pos: Number(f.pkt_pos), keyframe: f.key_frame === 1, md5: md5s[i] }));
}

/**
 * Every frame the given segments hold, decoded run by run (see the header), on the producer clock.
 * Segments are joined while they share the init bytes and the decode times go on increasing.
 */
export async function recordedFrames(dataDir: string, scratch: string, segs: Segment[]): Promise<Recorded> {
  const sorted = [...segs].sort((a, b) => a.start_pts_ns - b.start_pts_ns);
  const runs: Array<{ init: Buffer; parts: Array<{ seg: Segment; body: Buffer; lastDts: number; firstDts: number }> }> = [];
  for (const seg of sorted) {
    const file = segmentFile(dataDir, seg);
    const bytes = readFileSync(file);
    const n = initSize(file);
    const probe = await probeFile(file);
    const video = packetsOf(probe, 'video');
    assert.ok(video.length > 0, `${seg.path}: has video packets`);
    const part = { seg, body: bytes.subarray(n), firstDts: video[0].dts, lastDts: video[video.length - 1].dts };
    const cur = runs[runs.length - 1];
    const prev = cur?.parts[cur.parts.length - 1];
    if (cur && prev && cur.init.equals(bytes.subarray(0, n)) && part.firstDts > prev.lastDts) cur.parts.push(part);
    else runs.push({ init: Buffer.from(bytes.subarray(0, n)), parts: [part] });
  }
  const frames: Frame[] = [];
  const decoded = new Map<number, number>();
  for (const [ri, r] of runs.entries()) {
    const path = join(scratch, `run-${r.parts[0].seg.id}-${ri}.mp4`);
    writeFileSync(path, Buffer.concat([r.init, ...r.parts.map((p) => p.body)]));
    const ranges: Array<{ seg: Segment; from: number; to: number }> = [];
    let off = r.init.length;
    for (const p of r.parts) {
      ranges.push({ seg: p.seg, from: off, to: off + p.body.length });
      off += p.body.length;
    }
    const probe = await probeFile(path);
    const vs = streamOf(probe, 'video')!;
    const tick = (1e9 * vs.tbNum) / vs.tbDen;
    const rangeOf = (pos: number) => ranges.find((x) => pos >= x.from && pos < x.to);
    // The earliest presentation time among each segment's video samples is its start_pts_ns.
    const minPts = new Map<number, number>();
    for (const pk of packetsOf(probe, 'video')) {
      const rg = rangeOf(pk.pos);
      assert.ok(rg, `${path}: packet at byte ${pk.pos} lies in a segment`);
      minPts.set(rg.seg.id, Math.min(minPts.get(rg.seg.id) ?? Infinity, pk.pts));
    }
    for (const f of await decodedFrames(path)) {
      const rg = rangeOf(f.pos);
      assert.ok(rg, `${path}: decoded frame from byte ${f.pos} lies in a segment`);
      const ptsNs = rg.seg.start_pts_ns + Math.round((f.pts - minPts.get(rg.seg.id)!) * tick);
      frames.push({ ptsNs, md5: f.md5, keyframe: f.keyframe, segment: rg.seg.id });
      decoded.set(rg.seg.id, (decoded.get(rg.seg.id) ?? 0) + 1);
    }
  }
  frames.sort((a, b) => a.ptsNs - b.ptsNs);
  return { frames, decoded, runs: runs.map((r) => r.parts.map((p) => p.seg.id)) };
}

export function framesIn(frames: Frame[], startNs: number, stopNs: number): Frame[] {
  return frames.filter((f) => f.ptsNs >= startNs && f.ptsNs < stopNs);
}

/**
 * Decodes a file on its own, every stream: ffmpeg's complaints ('' when none) and how many video
 * frames came out.
 */
export async function decodeAlone(path: string): Promise<{ errors: string; videoFrames: number }> {
  const r = await run('ffmpeg', ['-v', 'error', '-i', path, '-map', '0', '-fps_mode', 'passthrough', '-f', 'framemd5', '-']);
  const video = (await probeFile(path)).streams.find((x) => x.codecType === 'video')?.index;
  const videoFrames = r.stdout.split('\n').filter((l) => l && !l.startsWith('#') && Number(l.split(',')[0]) === video).length;
  return { errors: r.code === 0 ? r.stderr.trim() : `exit ${r.code}: ${r.stderr.trim()}`, videoFrames };
}

/** ffmpeg's complaints decoding a file (video and audio), '' when none. */
export async function decodeErrors(path: string): Promise<string> {
  const r = await run('ffmpeg', ['-v', 'error', '-i', path, '-f', 'null', '-']);
  return r.code === 0 ? r.stderr.trim() : `exit ${r.code}: ${r.stderr.trim()}`;
}

/** Audio facts of a file: codec, stream duration (s), one frame's duration (s), sample rate. */
export async function audioFacts(path: string): Promise<{ codec: string; durationS: number; frameS: number; rate: number } | null> {
  const out = await runOk('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries',
    'stream=codec_name,duration,sample_rate:packet=duration_time', '-of', 'json', path]);
  const j = JSON.parse(out) as { streams?: Array<{ codec_name: string; duration?: string; sample_rate?: string }>; packets?: Array<{ duration_time?: string }> };
  const s = j.streams?.[0];
  if (!s) return null;
  const durations = (j.packets ?? []).map((p) => Number(p.duration_time)).filter((d) => d > 0).sort((a, b) => a - b);
  return { codec: s.codec_name, durationS: Number(s.duration), frameS: durations[durations.length >> 1] ?? NaN, rate: Number(s.sample_rate) };
}

/** The NUL-separated command line of a process, as anyone on the machine can read it. */
export function cmdlineOf(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
}

/** A stream's duration (s) as ffprobe reports it (edit lists honoured), e.g. stream 'v:0'. */
export async function streamDuration(path: string, stream: string): Promise<number> {
  const out = await runOk('ffprobe', ['-v', 'error', '-select_streams', stream, '-show_entries', 'stream=duration', '-of', 'json', path]);
  const j = JSON.parse(out) as { streams?: Array<{ duration?: string }> };
  return Number(j.streams?.[0]?.duration);
}
