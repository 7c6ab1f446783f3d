// What real IP cameras send, recorded by a real producer from GStreamer's RTSP server (issue 9):
// H.264 high + B-frames + AAC, H.264 baseline, H.264 + G.711 A-law / µ-law, H.264 + Opus, H.265 with
// open GOPs + AAC, MJPEG, basic auth, a 10 s GOP, a camera reboot and a timestamp jump.
//
// For each mount a producer (4 s segments) records about 20 s. It must record without a restart, a
// gap or a missing frame; every sealed segment decodes cleanly, holds as many frames as its index
// row says and carries the codec ffprobe names; audio is kept (G.711 transcoded to AAC, AAC and Opus
// copied); /auth's password appears in no command line, /health or log. Clips whose windows start off
// a keyframe, end just before one, start exactly at a segment's start and span a segment boundary are
// frame-exact — their decoded-frame MD5s are the recording's own frames whose pts lie in the window
// (support.ts: the run's segments put back together and decoded by ffmpeg) — not partial, decode
// cleanly with strictly increasing DTS, play their frames back to back, and their audio covers the
// clip within one audio frame.
//
// Camera reboot (its own server, killed and restarted 10 s later): the producer records again, the
// gap is in /segments with its reason, and a clip across it is exact on both sides and lists it.
// Timestamp jump (its own server, +2 s at 8 s and −2 s at 16 s of the stream): a "source timestamps
// jumped" gap, segment PTS increasing without overlap, no wall time lost without a gap, segments that
// begin on a keyframe decode cleanly, and clips across each jump (and across a new ffmpeg run) are
// exact with strictly increasing DTS.
//
// Cases run side by side, three or four producers at a time (two cores). Measured figures are printed
// as `[cameras] …` lines; SEGREC_KEEP_CAMERA_DATA=1 keeps each case's data directory.
import { test, describe, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/media.js';
import { makeClip, type ClipWire } from '../helpers/clips.js';
import { segmentFile, startTestProducer, waitFor } from '../helpers/producer.js';
import { RTSP_PASSWORD, startRtspServer, type CameraMount, type RtspServer } from '../helpers/rtsp-server.js';
import {
  audioFacts, cmdlineOf, decodeAlone, decodeErrors, FRAME_NS, framesIn, frameMd5s, health, packetsOf, probeFile, recordedFrames, sleep,
  streamDuration, streamOf, timeline, watchHealth, type FileProbe, type Frame, type Gap, type Recorded, type Segment, type Timeline,
} from './support.js';

type Producer = Awaited<ReturnType<typeof startTestProducer>>;

interface AudioWant {
  /** The source's codec, as /health names it. */
  source: string;
  /** What the segments and clips hold. */
  stored: string;
  mode: 'copy' | 'aac';
}

interface MountCase {
  mount: CameraMount;
  video: string;
  audio: AudioWant | null;
  /** Keyframe interval (s). */
  gopS: number;
  auth?: boolean;
}

const AAC: AudioWant = { source: 'aac', stored: 'aac', mode: 'copy' };
const CASES: Record<string, MountCase> = {
  'h264-aac': { mount: '/h264-aac', video: 'h264', audio: AAC, gopS: 2 },
  'h264-baseline': { mount: '/h264-baseline', video: 'h264', audio: null, gopS: 2 },
  'h264-alaw': { mount: '/h264-alaw', video: 'h264', audio: { source: 'pcm_alaw', stored: 'aac', mode: 'aac' }, gopS: 2 },
  'h264-mulaw': { mount: '/h264-mulaw', video: 'h264', audio: { source: 'pcm_mulaw', stored: 'aac', mode: 'aac' }, gopS: 2 },
  'h264-opus': { mount: '/h264-opus', video: 'h264', audio: { source: 'opus', stored: 'opus', mode: 'copy' }, gopS: 2 },
  'h265-aac': { mount: '/h265-aac', video: 'hevc', audio: AAC, gopS: 2 },
  mjpeg: { mount: '/mjpeg', video: 'mjpeg', audio: null, gopS: 0.04 },
  auth: { mount: '/auth', video: 'h264', audio: AAC, gopS: 2, auth: true },
  gop10: { mount: '/gop10', video: 'h264', audio: AAC, gopS: 10 },
};

const SEGMENT_SECONDS = 4;
const KEEP = process.env.SEGREC_KEEP_CAMERA_DATA === '1';

const log = (line: string) => console.log(`[cameras] ${line}`);
const s3 = (ns: number) => (ns / 1e9).toFixed(3);

let srv: RtspServer;
before(async () => { srv = await startRtspServer(); });
after(async () => { await srv?.stop(); });

/** A producer recording one source into its own temporary data directory. */
async function recorder(source: string, name: string): Promise<{ p: Producer; dir: string; scratch: string; done: () => Promise<void> }> {
  const tmp = tempDir(`segrec-cam-${name}-`);
  const dir = join(tmp.dir, 'data');
  const p = await startTestProducer(dir, { source, segmentSeconds: SEGMENT_SECONDS, audio: 'auto' });
  return {
    p, dir, scratch: tmp.dir,
    done: async () => {
      await p.close();
      if (KEEP) log(`${name}: data kept in ${tmp.dir}`);
      else tmp.cleanup();
    },
  };
}

/** Waits until `sealed` segments are sealed; returns the timeline then. */
async function untilSealed(p: Producer, sealed: number, timeoutMs = 60_000): Promise<Timeline> {
  return waitFor(`${sealed} sealed segments`, async () => {
    const tl = await timeline(p.url);
    return tl.segments.filter((s) => s.sealed).length >= sealed ? tl : null;
  }, timeoutMs, 250);
}

/**
 * Every sealed segment: decodes on its own without error, carries the codec ffprobe names, and holds
 * the frames its index row counts — all of them decode with the rest of the run, and on its own all
 * but its leading pictures (frames presented before its first keyframe: an open GOP's, which need
 * the previous segment).
 */
async function checkSegments(dir: string, segs: Segment[], rec: Recorded, want: { label: string; video: string; audio: string | null; keyframeStartOnly?: boolean }): Promise<void> {
  const figures: string[] = [];
  for (const s of segs) {
    const file = segmentFile(dir, s);
    const probe = await probeFile(file);
    const startsOnKey = packetsOf(probe, 'video')[0]?.keyframe === true;
    assert.equal(streamOf(probe, 'video')?.codecName, s.codec, `${s.path}: /segments codec is ffprobe's`);
    assert.equal(s.codec, want.video, `${s.path}: video codec`);
    assert.equal(streamOf(probe, 'audio')?.codecName ?? null, want.audio, `${s.path}: audio codec`);
    assert.equal(s.has_audio, want.audio !== null, `${s.path}: has_audio`);
    assert.equal(rec.decoded.get(s.id), s.frames, `${s.path}: the index's frame count is the frames that decode (with the run)`);
    if (want.keyframeStartOnly && !startsOnKey) continue;
    const mine = rec.frames.filter((f) => f.segment === s.id);
    const firstKey = Math.min(...mine.filter((f) => f.keyframe).map((f) => f.ptsNs));
    const leading = mine.filter((f) => f.ptsNs < firstKey).length;
    const alone = await decodeAlone(file);
    assert.equal(alone.errors, '', `${s.path}: decodes without error`);
    assert.equal(alone.videoFrames, s.frames - leading, `${s.path}: on its own, all ${s.frames} indexed frames but its ${leading} leading picture(s) decode`);
    figures.push(`${s.frames}${leading ? `(${leading} leading)` : ''}`);
  }
  log(`${want.label}: frames per sealed segment ${figures.join(', ')}`);
}

/**
 * Consecutive recorded frames of one run are one frame period apart (within half a period: the
 * camera's timing may jitter, e.g. when RTCP re-anchors the RTP clock, but no frame is missing or
 * doubled) — except where the camera itself skipped frames (its encoder starved of CPU on this 2-core
 * machine: `cameraHoles`, in the mount's running time, which starts with the run; matched within 1 s).
 * Returns the largest deviation (ns).
 */
function assertNoMissingFrames(frames: Frame[], what: string, resync: Gap[] = [], cameraHoles: Array<{ fromMs: number; toMs: number }> = []): number {
  const holes: string[] = [];
  const excused: string[] = [];
  const t0 = frames.length > 0 ? frames[0].ptsNs : 0;
  const cameraSkipped = (a: number, b: number) => cameraHoles.some((h) => (a - t0) / 1e6 < h.toMs + 1000 && (b - t0) / 1e6 > h.fromMs - 1000);
  let jitter = 0;
  for (let i = 1; i < frames.length; i++) {
    const d = frames[i].ptsNs - frames[i - 1].ptsNs;
    if (resync.some((g) => frames[i - 1].ptsNs < g.start_pts_ns && frames[i].ptsNs >= g.stop_pts_ns - 1e6)) continue;
    const hole = `${s3(frames[i - 1].ptsNs)}→${s3(frames[i].ptsNs)} s`;
    if (Math.abs(d - FRAME_NS) >= FRAME_NS / 2) {
      (cameraSkipped(frames[i - 1].ptsNs, frames[i].ptsNs) ? excused : holes).push(hole);
      continue;
    }
    jitter = Math.max(jitter, Math.abs(d - FRAME_NS));
  }
  if (excused.length > 0) log(`${what}: frames the camera itself skipped (its holes ${JSON.stringify(cameraHoles)}): ${excused.join(', ')}`);
  assert.deepEqual(holes, [], `${what}: every frame period holds one frame (the camera's own holes: ${JSON.stringify(cameraHoles)})`);
  return jitter;
}

/** A clip cut over HTTP and what ffmpeg/ffprobe make of it. */
interface CutClip {
  label: string;
  clip: ClipWire;
  audio: AudioWant | null;
  /** The recording's frames in the window, in presentation order. */
  want: Frame[];
  /** MD5s of the clip's decoded frames, in output order. */
  got: string[];
  errors: string;
  probe: FileProbe;
  /** The clip's video and audio stream durations (s). */
  videoS: number;
  audioFacts: Awaited<ReturnType<typeof audioFacts>>;
}

async function cutClip(p: Producer, rec: Recorded, startNs: number, stopNs: number, label: string, audio: AudioWant | null): Promise<CutClip> {
  const clip = await makeClip(p.url, { start_pts_ns: Math.round(startNs), stop_pts_ns: Math.round(stopNs), label }, 60_000);
  assert.equal(clip.status, 'done', `${label}: ${clip.error}`);
  const want = framesIn(rec.frames, startNs, stopNs);
  assert.ok(want.length > 0, `${label}: the window holds recorded frames`);
  const [got, errors, probe, a] = await Promise.all([frameMd5s(clip.path!), decodeErrors(clip.path!), probeFile(clip.path!), audioFacts(clip.path!)]);
  const videoS = await streamDuration(clip.path!, 'v:0');
  const c: CutClip = { label, clip, audio, want, got, errors, probe, videoS, audioFacts: a };
  log(`clip ${label}: ${want.length} frames (${s3(want[0].ptsNs)}–${s3(want[want.length - 1].ptsNs)} s), ` +
    `video ${videoS.toFixed(4)} s (${want.length} frames = ${(want.length * FRAME_NS / 1e9).toFixed(3)} s), ` +
    (a === null ? 'no audio' : `audio ${a.durationS.toFixed(4)} s (${signedMs(a.durationS - videoS)} vs video, one ${a.codec} frame ${(audioFrameS(a) * 1000).toFixed(1)} ms)`) +
    `, lead-in ${clip.lead_in_ms} ms, ${clip.segments.length} segment(s), gaps ${JSON.stringify(clip.gaps)}, partial ${clip.partial}`);
  return c;
}

const signedMs = (s: number) => `${s >= 0 ? '+' : ''}${(s * 1000).toFixed(1)} ms`;
const audioFrameS = (a: NonNullable<CutClip['audioFacts']>) => (a.codec === 'aac' ? 1024 / a.rate : a.frameS);

/**
 * Frame-exact: decoded frames = the recording's frames in the window (in presentation order), not
 * partial, decodes without error, strictly increasing DTS in every track.
 */
function assertExact(c: CutClip): void {
  const { label, clip, want, got } = c;
  const problems: string[] = [];
  if (got.join() !== want.map((f) => f.md5).join()) {
    const wantIdx = new Map(want.map((f, i) => [f.md5, i]));
    const gotIdx = new Set(got);
    const missing = want.filter((f) => !gotIdx.has(f.md5)).map((f) => s3(f.ptsNs));
    const extra = got.filter((m) => !wantIdx.has(m)).length;
    problems.push(`decoded frames are not the window's frames: clip ${got.length}, window ${want.length}; ` +
      `window frames missing from the clip at ${missing.slice(0, 12).join(', ') || '-'}${missing.length > 12 ? ' …' : ''} s; ` +
      `${extra} clip frames not in the window; order (window index of each clip frame) ${got.map((m) => wantIdx.get(m) ?? 'x').slice(0, 60).join(',')}`);
  }
  if (clip.frames !== want.length) problems.push(`clip.frames ${clip.frames}, window frames ${want.length}`);
  if (!(Math.abs(clip.actual_start_pts_ns! - want[0].ptsNs) < 1000)) problems.push(`actual_start_pts_ns ${clip.actual_start_pts_ns} is not the first frame's ${want[0].ptsNs}`);
  if (clip.partial !== false) problems.push(`partial: ${clip.partial_reason}`);
  if (c.errors !== '') problems.push(`decoding: ${c.errors}`);
  for (const type of ['video', 'audio'] as const) {
    const dts = packetsOf(c.probe, type).map((pk) => pk.dts);
    const bad = dts.findIndex((d, i) => i > 0 && !(d > dts[i - 1]));
    if (bad >= 0) problems.push(`${type} DTS not strictly increasing (packet ${bad}: ${dts[bad - 1]} → ${dts[bad]})`);
  }
  assert.deepEqual(problems, [], `${label}: frame-exact, not partial, decodes without error, DTS strictly increasing`);
}

/**
 * The clip plays its frames back to back: video lasts frames × frame period, within one frame. A
 * recorded gap inside the window (`gaps`) is either listed by the clip and taken out of its timeline
 * (a gap between segments), or kept as the time it lasted (a step inside a segment); the clip lists
 * no other gap.
 */
function assertBackToBack(c: CutClip, gaps: Gap[] = []): void {
  const unknown = c.clip.gaps.filter((cg) => !gaps.some((g) => listsGap({ ...c.clip, gaps: [cg] }, g)));
  assert.deepEqual(unknown, [], `${c.label}: the clip lists only recorded gaps (${JSON.stringify(gaps)})`);
  const keptNs = gaps.filter((g) => !listsGap(c.clip, g)).reduce((n, g) => n + (g.stop_pts_ns - g.start_pts_ns), 0);
  const want = (c.want.length * FRAME_NS + keptNs) / 1e9;
  assert.ok(Math.abs(c.videoS - want) <= FRAME_NS / 1e9 + 1e-6,
    `${c.label}: video plays ${c.videoS} s for ${c.want.length} frames${keptNs ? ` and ${keptNs / 1e6} ms of gap kept` : ''} (${want} s; clip gaps ${JSON.stringify(c.clip.gaps)})`);
}

/** Audio (where the camera has some) covers what the clip's video plays within one audio frame, and not much more. */
function assertAudio(c: CutClip): void {
  const a = c.audioFacts;
  if (!c.audio) {
    assert.equal(a, null, `${c.label}: no audio track (the camera sends none)`);
    return;
  }
  assert.ok(a, `${c.label}: the clip keeps the audio`);
  assert.equal(a.codec, c.audio.stored, `${c.label}: clip audio codec`);
  const frameS = audioFrameS(a);
  assert.ok(a.durationS >= c.videoS - frameS - 1e-6,
    `${c.label}: audio ${a.durationS} s covers the video's ${c.videoS} s within one audio frame (${frameS.toFixed(4)} s)`);
  assert.ok(a.durationS <= c.videoS + 2 * frameS + 1e-6, `${c.label}: audio ${a.durationS} s not much longer than the video's ${c.videoS} s`);
}

/** A clip cut and checked: frame-exact, back to back (across the recorded gaps in `gaps` that fall inside it), audio covered. */
async function checkClip(p: Producer, rec: Recorded, startNs: number, stopNs: number, label: string, audio: AudioWant | null, gaps: Gap[] = []): Promise<CutClip> {
  const c = await cutClip(p, rec, startNs, stopNs, label, audio);
  assertExact(c);
  assertBackToBack(c, gaps.filter((g) => g.stop_pts_ns > startNs && g.start_pts_ns < stopNs));
  assertAudio(c);
  return c;
}

/** Whether a clip lists a recorded gap (within a frame at both ends). */
function listsGap(clip: ClipWire, g: Gap): boolean {
  return clip.gaps.some((c) => Math.abs(c.start_pts_ns - g.start_pts_ns) <= FRAME_NS && Math.abs(c.stop_pts_ns - g.stop_pts_ns) <= FRAME_NS);
}

/** Child processes of this test process (ffmpeg, ffprobe) and their command lines. */
function childCommandLines(): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) out.push({ pid: Number(name), cmdline: cmdlineOf(Number(name)) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function mountCase(t: TestContext, name: string): Promise<void> {
  const c = CASES[name];
  const label = name;
  const r = await recorder(srv.url(c.mount, c.auth === true), name);
  try {
    const watch = watchHealth(r.p.url);
    const t0 = Date.now();
    let cmdline: string | null = null;
    let children: Array<{ pid: number; cmdline: string }> = [];
    let tl: Timeline;
    let watched: { states: string[]; restarts: number; errors: string[] } | null = null;
    try {
      // 4 s segments: three sealed ≈ 16 s of recording; the 10 s GOP gives 10 s segments: two.
      tl = await untilSealed(r.p, c.gopS > SEGMENT_SECONDS ? 2 : 3);
      if (c.auth) {
        const pid = r.p.producer.ingest.pid;
        assert.ok(pid, 'ffmpeg runs');
        cmdline = cmdlineOf(pid);
        children = childCommandLines();
      }
    } finally {
      watched = await watch.stop();
    }
    const seen = watched;
    const h = await health(r.p.url);
    const sealed = tl.segments.filter((s) => s.sealed);
    const rec = await recordedFrames(r.dir, r.scratch, sealed);
    const resync = tl.gaps.filter((g) => g.reason.includes('re-synchronising video with audio'));
    log(`${label}: ${sealed.length} sealed segments (${sealed.map((s) => `${s.frames}f/${(s.stop_pts_ns - s.start_pts_ns) / 1e9}s`).join(', ')}) ` +
      `after ${((Date.now() - t0) / 1000).toFixed(1)} s; states ${seen.states.join('→')}; restarts ${h.ingest.restarts}; ` +
      `audio ${JSON.stringify(h.ingest.audio)}`);

    await t.test('records without restarts, gaps or missing frames', () => {
      assert.ok(!seen.states.includes('failed'), `never failed (states: ${seen.states.join(', ')})`);
      assert.equal(seen.restarts, 0, `no restarts (errors: ${seen.errors.join(' | ')})`);
      assert.equal(h.ingest.state, 'running');
      assert.equal(h.ingest.error, null);
      assert.equal(h.ingest.last_error, null);
      assert.equal(h.ingest.codec, c.video, 'health names the codec as ffprobe does');
      // A camera's first RTCP sender report may move the video by its encoder latency (x265: ~263 ms):
      // at most one such gap, named as such, early in the run; nothing else.
      const sourceHoles = srv.holes(c.mount);
      assert.deepEqual(tl.gaps.filter((g) => !resync.includes(g)), [],
        `no gaps in /segments but an A/V re-sync step (the camera's own timestamp holes: ${JSON.stringify(sourceHoles)})`);
      assert.ok(resync.length <= 1, `at most one A/V re-sync step per run: ${JSON.stringify(resync)}`);
      if (resync.length > 0) {
        assert.ok(c.audio !== null, 'only a camera with audio re-synchronises');
        assert.ok(resync[0].duration_ms < 1000 && resync[0].start_pts_ns - tl.segments[0].start_pts_ns < 15e9, `small and early: ${JSON.stringify(resync[0])}`);
        log(`${label}: A/V re-sync step ${resync[0].duration_ms.toFixed(1)} ms at ${s3(resync[0].start_pts_ns - tl.segments[0].start_pts_ns)} s into the run`);
      }
      for (let i = 1; i < tl.segments.length; i++) {
        assert.ok(Math.abs(tl.segments[i].start_pts_ns - tl.segments[i - 1].stop_pts_ns) <= 1e6, 'segments are contiguous');
      }
      assert.equal(rec.runs.length, 1, 'one ffmpeg run');
      const jitter = assertNoMissingFrames(rec.frames, label, resync, sourceHoles);
      log(`${label}: ${rec.frames.length} frames recorded, none missing (frame interval within ${(jitter / 1e6).toFixed(3)} ms of 40 ms)`);
    });

    await t.test('audio kept as the policy says', () => {
      if (c.audio) {
        assert.deepEqual({ codec: h.ingest.audio.codec, kept: h.ingest.audio.kept, mode: h.ingest.audio.mode },
          { codec: c.audio.source, kept: true, mode: c.audio.mode });
        if (c.audio.mode === 'aac') assert.match(h.ingest.audio.reason ?? '', /G\.711/);
      } else {
        assert.deepEqual({ codec: h.ingest.audio.codec, kept: h.ingest.audio.kept, mode: h.ingest.audio.mode }, { codec: null, kept: false, mode: 'none' });
      }
    });

    await t.test('every sealed segment decodes, with the codec ffprobe names and the indexed frame count', async () => {
      await checkSegments(r.dir, sealed, rec, { label, video: c.video, audio: c.audio?.stored ?? null });
    });

    if (c.auth) {
      await t.test('the camera password is in no command line, /health or log', async () => {
        assert.ok(cmdline, 'read ffmpeg\'s command line');
        assert.match(cmdline, /ffmpeg/);
        assert.ok(!cmdline.includes(RTSP_PASSWORD), `ffmpeg's /proc/<pid>/cmdline: ${cmdline}`);
        for (const ch of children) assert.ok(!ch.cmdline.includes(RTSP_PASSWORD), `child ${ch.pid}: ${ch.cmdline}`);
        assert.ok(!JSON.stringify(h).includes(RTSP_PASSWORD), '/health');
        assert.ok(!JSON.stringify(await timeline(r.p.url)).includes(RTSP_PASSWORD), '/segments');
        const logs = r.p.logs.join('\n');
        assert.ok(logs.length > 0);
        assert.ok(!logs.includes(RTSP_PASSWORD), 'logs');
        log(`auth: ffmpeg ${cmdline.length} bytes of command line without the password; ${children.length} child processes checked`);
      });
    }

    const frames = rec.frames;
    const seg = (i: number) => sealed[Math.min(i, sealed.length - 1)];
    // (a) Off a keyframe: ~65 % into a GOP of the second sealed segment (MJPEG: every frame is a keyframe).
    await t.test('clip starting off a keyframe', async () => {
      const at = seg(1).start_pts_ns + Math.min(0.65 * c.gopS, 3) * 1e9;
      const first = frames.find((f) => f.ptsNs >= at && (c.video === 'mjpeg' || !f.keyframe))!;
      // Both ends between frames (half a period off): a window ending exactly on a frame's time would
      // make the answer depend on how each side rounds that time to the nanosecond.
      const start = first.ptsNs - FRAME_NS / 2;
      await checkClip(r.p, rec, start, start + 1.5e9 - FRAME_NS / 2, `${label}/off-keyframe`, c.audio, resync);
    });
    // (b) Ending just before a keyframe: the window's last frame is the one before it (inside a
    // segment where the GOP is shorter than the segment, else at the boundary).
    await t.test('clip ending just before a keyframe', async () => {
      const starts = new Set(tl.segments.map((s) => s.start_pts_ns));
      const keys = frames.filter((f) => f.keyframe && f.ptsNs > sealed[0].start_pts_ns + 2.5e9 && f.ptsNs < sealed[sealed.length - 1].stop_pts_ns - 1e9);
      const key = keys.find((f) => ![...starts].some((s) => Math.abs(s - f.ptsNs) < 1e6)) ?? keys[0];
      assert.ok(key, 'a keyframe inside the recording');
      const stop = key.ptsNs - 1000;
      // The start lies between frames (a quarter frame after one): 1.5 s + half a frame before a stop 1 µs
      // before the keyframe would put it 1 µs before a frame, where a grid 33 µs off decides the first frame.
      const { want } = await checkClip(r.p, rec, stop - 1.5e9 - FRAME_NS / 4, stop, `${label}/before-keyframe`, c.audio, resync);
      assert.ok(Math.abs(key.ptsNs - want[want.length - 1].ptsNs - FRAME_NS) < 0.1e6, 'the last frame is one frame before the keyframe');
    });
    // (c) Exactly at a segment's start_pts_ns (H.265: an open GOP's leading picture comes first).
    await t.test('clip starting exactly at a segment\'s start', async () => {
      const s = seg(1);
      const { clip } = await checkClip(r.p, rec, s.start_pts_ns, s.start_pts_ns + 1.5e9 + FRAME_NS / 2, `${label}/segment-start`, c.audio, resync);
      assert.equal(clip.actual_start_pts_ns, s.start_pts_ns, 'the frame at the segment\'s first pts is in the clip');
    });
    // (d) Across a segment boundary.
    await t.test('clip spanning a segment boundary', async () => {
      const b = sealed.length >= 3 ? sealed[2].start_pts_ns : sealed[1].start_pts_ns;
      const { clip } = await checkClip(r.p, rec, b - 1.25e9 - FRAME_NS / 2, b + 1.7e9, `${label}/across-boundary`, c.audio, resync);
      assert.equal(clip.segments.length >= 2, true, `reads both segments (${clip.segments.join(', ')})`);
    });
  } finally {
    await r.done();
  }
}

function mountGroup(names: string[]): void {
  for (const name of names) test(name, async (t) => { await mountCase(t, name); });
}

describe('cameras: H.264 + AAC, baseline, G.711 A-law and µ-law', { concurrency: 4 }, () => {
  mountGroup(['h264-aac', 'h264-baseline', 'h264-alaw', 'h264-mulaw']);
});

describe('cameras: Opus, H.265 open GOP, MJPEG, basic auth', { concurrency: 4 }, () => {
  mountGroup(['h264-opus', 'h265-aac', 'mjpeg', 'auth']);
});

describe('cameras: 10 s GOP, a camera reboot, a timestamp jump', { concurrency: 3 }, () => {
  mountGroup(['gop10']);

  test('camera reboot: killed, back 10 s later on the same port', async (t) => {
    const cam = await startRtspServer();
    const r = await recorder(cam.url('/h264-aac'), 'reboot');
    try {
      await waitFor('8 s of footage', async () => {
        const s = (await timeline(r.p.url)).segments;
        return s.length > 0 && s[s.length - 1].stop_pts_ns - s[0].start_pts_ns >= 8e9;
      }, 40_000, 200);
      cam.kill();
      await sleep(10_000);
      const stopBefore = Math.max(...(await timeline(r.p.url)).segments.map((s) => s.stop_pts_ns));
      await cam.restart();
      const backAt = Date.now();
      const firstAt = await waitFor('a fragment after the reboot', async () =>
        (await timeline(r.p.url)).segments.some((s) => s.stop_pts_ns > stopBefore && s.fragments > 0) ? Date.now() : null, 60_000, 50);
      const recoveryS = (firstAt - backAt) / 1000;
      log(`reboot: recording again ${recoveryS.toFixed(2)} s after the camera was back (down 10 s)`);
      const tl = await waitFor('a sealed segment after the reboot', async () => {
        const x = await timeline(r.p.url);
        return x.segments.some((s) => s.sealed && s.start_pts_ns > stopBefore) ? x : null;
      }, 40_000, 250);
      const h = await health(r.p.url);
      const sealed = tl.segments.filter((s) => s.sealed);
      const rec = await recordedFrames(r.dir, r.scratch, sealed);
      const gap = tl.gaps.find((g) => g.start_pts_ns <= stopBefore + 1e6 && g.stop_pts_ns > stopBefore);
      log(`reboot: gap ${gap ? `${(gap.duration_ms / 1000).toFixed(3)} s "${gap.reason}"` : 'none'}; restarts ${h.ingest.restarts}; ` +
        `last_error "${h.ingest.last_error}"; runs ${JSON.stringify(rec.runs)}`);

      await t.test('records again, the gap recorded with its reason', () => {
        assert.ok(recoveryS < 15, `recording again ${recoveryS} s after the camera's return`);
        assert.ok(gap, `a gap at the reboot in /segments (gaps: ${JSON.stringify(tl.gaps)})`);
        assert.ok(gap.reason.length > 0 && gap.reason !== 'no footage', `the gap says why: "${gap.reason}"`);
        assert.ok(gap.duration_ms >= 9000, `the gap spans the 10 s the camera was off (${gap.duration_ms} ms)`);
        assert.equal(h.ingest.state, 'running');
        assert.equal(h.ingest.error, null, 'no current trouble once it records again');
        assert.ok(h.ingest.restarts >= 1);
        assert.ok(h.ingest.last_error && typeof h.ingest.last_error_at_ms === 'number', 'last_error kept, with its time');
        assert.equal(rec.runs.length, 2, 'two ffmpeg runs');
      });
      await t.test('every sealed segment decodes', async () => {
        await checkSegments(r.dir, sealed, rec, { label: 'reboot', video: 'h264', audio: 'aac' });
      });
      let across: CutClip | null = null;
      await t.test('a clip spanning the reboot gap is cut', async () => {
        assert.ok(gap);
        const start = gap.start_pts_ns - 2e9 - FRAME_NS / 2;
        const stop = gap.stop_pts_ns + 2e9 + FRAME_NS / 2;
        const want = framesIn(rec.frames, start, stop);
        assert.ok(want.some((f) => f.ptsNs < gap.start_pts_ns) && want.some((f) => f.ptsNs >= gap.stop_pts_ns), 'frames on both sides');
        across = await cutClip(r.p, rec, start, stop, 'reboot/across-gap', AAC);
      });
      // The two runs have their own clocks and composition offsets, the old one often ends a B-frame or two
      // short and the new one's first keyframe may be timed a frame early: the planner places the new run
      // one frame after the old run's last picture and closes those edge holes (mp4/cut.ts placeRuns;
      // test/mp4/cut-runs.test.ts holds sample tables of such joins).
      await t.test('… frame-exact on both sides, not partial, decodes without error, DTS increasing', () => {
        assert.ok(across);
        assertExact(across);
      });
      await t.test('… lists the gap and plays both sides back to back', () => {
        assert.ok(across && gap);
        assert.ok(listsGap(across.clip, gap), `clip gaps ${JSON.stringify(across.clip.gaps)} list ${gap.start_pts_ns}–${gap.stop_pts_ns}`);
        assertBackToBack(across, [gap]);
      });
      await t.test('… audio covers the clip', () => {
        assert.ok(across);
        assertAudio(across);
      });
    } finally {
      await r.done();
      await cam.stop();
    }
  });

  // At a camera clock step with B-frames ffmpeg gives the P-frame before the step the whole step as its
  // duration: the producer cuts such stretched durations to one frame (fragment-times.ts), so the step
  // shows as a hole (a gap) and the B-frames after it are not taken for a step back; the step back ends
  // the run, and the new run starts no closer than the wall time that passed (pts-clock.ts).
  test('timestamp jump: +2 s at 8 s, −2 s at 16 s', async (t) => {
    const cam = await startRtspServer({ args: ['--jump-at-s', '8', '--jump-forward-ms', '2000.0111', '--jump-back-at-s', '16', '--jump-back-ms', '2000'] });
    const r = await recorder(cam.url('/jump'), 'jump');
    try {
      const tl = await waitFor('~22 s of sealed footage', async () => {
        const x = await timeline(r.p.url);
        const sealed = x.segments.filter((s) => s.sealed);
        return sealed.length > 0 && sealed[sealed.length - 1].stop_pts_ns - x.segments[0].start_pts_ns >= 22e9 ? x : null;
      }, 60_000, 250);
      const h = await health(r.p.url);
      const sealed = tl.segments.filter((s) => s.sealed);
      const rec = await recordedFrames(r.dir, r.scratch, sealed);
      const jumps = tl.gaps.filter((g) => g.reason.startsWith('source timestamps jumped'));
      log(`jump: segments ${tl.segments.map((s) => `[${s3(s.start_pts_ns)}–${s3(s.stop_pts_ns)} ${s.frames}f]`).join(' ')}`);
      log(`jump: gaps ${tl.gaps.map((g) => `${s3(g.start_pts_ns)}+${g.duration_ms} ms "${g.reason}"`).join('; ')}; restarts ${h.ingest.restarts}; runs ${JSON.stringify(rec.runs)}`);

      await t.test('the jump is recorded as a gap; segment PTS increase without overlap', () => {
        assert.ok(jumps.length > 0, `a gap "source timestamps jumped…" (gaps: ${JSON.stringify(tl.gaps)})`);
        for (const [i, s] of tl.segments.entries()) {
          assert.ok(s.stop_pts_ns > s.start_pts_ns, `${s.path}: stop after start`);
          if (i > 0) assert.ok(s.start_pts_ns >= tl.segments[i - 1].stop_pts_ns, `${s.path} starts at or after the previous segment's stop (${s.start_pts_ns} < ${tl.segments[i - 1].stop_pts_ns})`);
        }
      });
      await t.test('no footage lost without a gap: wall time between segments is a recorded gap', () => {
        const silent: string[] = [];
        for (let i = 1; i < tl.segments.length; i++) {
          const a = tl.segments[i - 1];
          const b = tl.segments[i];
          const missingMs = b.start_epoch_ms - a.stop_epoch_ms;
          const recorded = tl.gaps.some((g) => g.start_pts_ns >= a.stop_pts_ns - 1e6 && g.stop_pts_ns <= b.start_pts_ns + 1e6 && g.stop_pts_ns > g.start_pts_ns);
          if (missingMs > 1000 && !recorded) silent.push(`${a.path} → ${b.path}: ${missingMs.toFixed(0)} ms of wall time, PTS ${s3(a.stop_pts_ns)} → ${s3(b.start_pts_ns)}`);
        }
        assert.deepEqual(silent, [], 'every stretch of lost wall time is a gap in /segments');
      });
      await t.test('segments that begin on a keyframe decode cleanly', async () => {
        await checkSegments(r.dir, sealed, rec, { label: 'jump', video: 'h264', audio: 'aac', keyframeStartOnly: true });
      });
      const within = (ns: number) => sealed.some((s) => ns >= s.start_pts_ns && ns < s.stop_pts_ns);
      const windows: Array<{ label: string; startNs: number; stopNs: number; gap: Gap | null }> = [];
      for (const [i, g] of jumps.entries()) {
        // 37.5 frames from the gap's ends: between frames (38 frames put the window's ends on a frame,
        // where a tick of the camera's timing jitter decides whether that frame is in the window).
        const startNs = g.start_pts_ns - 1.5e9;
        const stopNs = g.stop_pts_ns + 1.5e9;
        if (within(startNs) && within(stopNs)) windows.push({ label: `jump/across-${i}`, startNs, stopNs, gap: g });
        else log(`jump: gap ${i} lies too close to the ends of the sealed footage for a clip`);
      }
      // Where a new ffmpeg run began (ffmpeg restarted for the jump back), across that boundary too.
      for (const ids of rec.runs.slice(1)) {
        const first = sealed.find((s) => s.id === ids[0])!;
        const startNs = first.start_pts_ns - 1.5e9;
        const stopNs = first.start_pts_ns + 1.5e9;
        // The restart's own gap (the footage lost while ffmpeg restarted, 1–2 s) lies wholly in the window
        // when the restart was quick (footage on both sides): then it must be listed; when the window
        // starts inside it, the clip begins with the new run's footage and plays back to back.
        const gap = tl.gaps.find((g) => g.start_pts_ns >= startNs && g.stop_pts_ns <= stopNs) ?? null;
        if (within(startNs)) windows.push({ label: `jump/across-new-run-${first.id}`, startNs, stopNs, gap });
      }
      await t.test('a clip spans the forward jump', () => {
        assert.ok(windows.some((w) => w.gap !== null), 'a jump gap with sealed footage on both sides');
      });
      for (const w of windows) {
        let c: CutClip | null = null;
        await t.test(`${w.label}: cut`, async () => { c = await cutClip(r.p, rec, w.startNs, w.stopNs, w.label, AAC); });
        await t.test(`${w.label}: frame-exact, not partial, decodes without error, DTS strictly increasing`, () => {
          assert.ok(c);
          assertExact(c);
        });
        await t.test(`${w.label}: ${w.gap ? 'the gap is listed, or kept as the time it lasted' : 'plays back to back'}`, () => {
          assert.ok(c);
          assertBackToBack(c, w.gap ? [w.gap] : []);
        });
        await t.test(`${w.label}: audio covers the clip`, () => {
          assert.ok(c);
          assertAudio(c);
        });
      }
    } finally {
      await r.done();
      await cam.stop();
    }
  });
});
