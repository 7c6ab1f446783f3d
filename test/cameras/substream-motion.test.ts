// Detection on a camera's sub-stream must land on the right frames of its main stream (issue 10).
//
// The camera: test/cameras/rtsp_server.py's pair — one sensor (640x360 at 15 fps, a white box moving
// only during bursts: 1.2 s every 4 s here) feeding two encoders, /pair-main (H.264 high 640x360) and
// /pair-sub (H.264 constrained baseline 320x180), each frame carrying the same capture instant in both.
// A producer records /pair-main with `detect_source: /pair-sub` and motion on (pre/post roll 1 s), and
// `segrec run`'s motion supervisor (src/cli/commands/run.ts) runs the camera's pipeline: it detects on
// the sub-stream and asks for clips of the main stream (mapping: src/analysis/detect-stream.ts).
//
// Truth: the main stream's own motion. The main recording (the camera's segments, put back together
// run by run and decoded by ffmpeg, each frame placed on the producer clock as test/cameras/support.ts
// does) goes through the same motion detector; its events are where the motion is in the main stream.
// The error of a clip, in frames of the main stream, is (event start − true start) / frame interval at
// the start and the same for the stops, where "event" is the clip's window minus pre/post roll (checked
// to be exactly that). Printed as `[substream] …` lines: the fractional error (ms and frames) and the
// frame error (rounded), median and max over the clips.
//
// Bound: every clip lands on the right frames — rounded error 0 at both ends, fractional error within
// ±0.5 frame (33 ms), i.e. the clip's window starts and stops at the same frames as a window made from
// the main stream's own events would. Why this holds: both sides map by the least delay they see, the
// known frame holds are modelled (detect-stream.ts), and what is left is the difference between the two
// sessions' delivery floors, ≈ 1–2 ms on one machine (33 ms would need one stream to be delivered
// half a frame later than the other at its best over 30 s). Without the frame-hold model the same
// measurement gives −1 frame at both ends (one main-stream frame early).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOk, tempDir } from '../helpers/media.js';
import { getJson, waitFor } from '../helpers/producer.js';
import { startRtspServer } from '../helpers/rtsp-server.js';
import { recordedFrames, type Segment } from './support.js';
import { startApp, type ProducerHandle } from '../../src/producer/app.js';
import { cameraDataDir } from '../../src/producer/camera-names.js';
import { parseAppConfig } from '../../src/producer/config/app-config.js';
import { createLogger } from '../../src/common/log.js';
import { startMotion, type MotionSupervisor } from '../../src/cli/commands/run.js';
import { FrameReader, MotionDetector, parseJsonl, ptsSpanNs, type ClipRecord, type EventRecord, type MotionEvent } from '../../src/analysis/index.js';
import type { ClipJson } from '../../src/protocol/schemas.js';

const FPS = 15;
const FRAME_NS = 1e9 / FPS;
const ROLL_MS = 1000;
const CLIPS = 6;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The main stream's motion events: the camera's recording decoded and run through the detector. */
async function mainStreamEvents(dataDir: string, scratch: string, segs: Segment[]): Promise<MotionEvent[]> {
  const rec = await recordedFrames(dataDir, scratch, segs);
  const events: MotionEvent[] = [];
  for (const [ri, ids] of rec.runs.entries()) {
    const own = rec.frames.filter((f) => ids.includes(f.segment));
    const detector = new MotionDetector();
    let i = 0;
    // recordedFrames wrote the run's file; ffmpeg decodes it in presentation order (no B-frames here),
    // the order of `own`.
    for await (const f of new FrameReader({ input: join(scratch, `run-${ids[0]}-${ri}.mp4`) })) {
      assert.ok(i < own.length, 'the gray decode yields as many frames as the oracle');
      events.push(...detector.push({ ...f, ptsNs: own[i].ptsNs }));
      i++;
    }
    assert.equal(i, own.length, `run ${ri}: the gray decode yields as many frames as the oracle`);
    events.push(...detector.flush());
  }
  return events;
}

test('motion found on the sub-stream is clipped on the right frames of the main stream', { timeout: 180_000 }, async () => {
  const tmp = tempDir();
  const srv = await startRtspServer({ args: ['--pair-period-s', '4', '--pair-offset-s', '1', '--pair-burst-s', '1.2'] });
  const logs: string[] = [];
  const lines: string[] = [];
  let handle: ProducerHandle | null = null;
  let sup: MotionSupervisor | null = null;
  try {
    // The pair is what it claims: one camera, a main and a sub stream encoded differently.
    for (const [mount, want] of [['/pair-main', 'h264 High 640x360 15/1'], ['/pair-sub', 'h264 Constrained Baseline 320x180 15/1']]) {
      const j = JSON.parse(await runOk('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-timeout', '20000000', '-show_entries',
        'stream=codec_name,profile,width,height,r_frame_rate', '-of', 'json', srv.url(mount)], { timeoutMs: 30_000 })) as
        { streams: Array<{ codec_name: string; profile: string; width: number; height: number; r_frame_rate: string }> };
      assert.deepEqual(j.streams.map((x) => `${x.codec_name} ${x.profile} ${x.width}x${x.height} ${x.r_frame_rate}`), [want], mount);
    }
    const config = parseAppConfig([
      `data_dir: ${tmp.dir}`,
      'port: 0',
      'cameras:',
      '  cam:',
      `    source: ${srv.url('/pair-main')}`,
      `    detect_source: ${srv.url('/pair-sub')}`,
      '    segment_seconds: 2',
      '    motion:',
      `      pre_roll: ${ROLL_MS}ms`,
      `      post_roll: ${ROLL_MS}ms`,
    ].join('\n') + '\n', 'substream.yml');
    handle = await startApp(config, { logger: createLogger({ level: 'info', write: (l) => logs.push(l) }) });
    const url = handle.url;
    const camDir = cameraDataDir(handle.app.options.dataDir, 'cam');
    const jsonl = join(camDir, 'motion-events.jsonl');
    sup = await startMotion(handle, config, { print: (cam, l) => lines.push(`${cam ?? ''} ${l}`) });
    const clipsMade = () => {
      try {
        return parseJsonl(readFileSync(jsonl, 'utf8')).filter((r) => r.type === 'clip').length;
      } catch {
        return 0;
      }
    };
    await waitFor(`${CLIPS} motion clips`, () => clipsMade() >= CLIPS, 120_000, 250)
      .catch((e: Error) => { throw new Error(`${e.message}\n${lines.join('\n')}\n${logs.slice(-20).join('\n')}`); });
    // Stopping closes an event still open (a burst that began meanwhile): its clip ends at the stop, not
    // at the end of the motion, so only the clips made before the stop are measured.
    const made = clipsMade();
    await sup.stop();
    sup = null;
    const records = parseJsonl(readFileSync(jsonl, 'utf8'));
    const clips = records.filter((r): r is ClipRecord => r.type === 'clip').slice(0, made);
    const events = records.filter((r): r is EventRecord => r.type === 'event');
    assert.ok(lines.some((l) => /^cam detecting on rtsp:\/\/127\.0\.0\.1:\d+\/pair-sub$/.test(l)), lines.join('\n'));
    assert.equal(records.filter((r) => r.type === 'clip_error').length, 0, `no clip failed:\n${lines.join('\n')}`);
    assert.equal(handle.app.cameras.get('cam')!.ingest.restarts, 0, 'one ingest run');

    // Truth from the main recording.
    const segs = (await getJson<{ segments: Segment[] }>(`${url}/cameras/cam/segments`)).body.segments.filter((s) => s.sealed);
    const truth = await mainStreamEvents(camDir, tmp.dir, segs);
    assert.ok(truth.length >= CLIPS, `${truth.length} events in the main recording`);

    const startErr: number[] = [];
    const stopErr: number[] = [];
    for (const [i, c] of clips.entries()) {
      assert.equal(c.events.length, 1, 'one event per clip (bursts are 4 s apart, windows 3.2 s)');
      const ev = c.events[0];
      assert.equal(ptsSpanNs(c.startPtsNs, ev.startPtsNs), ROLL_MS * 1e6, 'preroll applied in main-stream PTS');
      assert.equal(ptsSpanNs(ev.stopPtsNs, c.stopPtsNs), ROLL_MS * 1e6, 'postroll applied in main-stream PTS');
      const t = truth.find((x) => x.stopPtsNs > ev.startPtsNs && x.startPtsNs < ev.stopPtsNs);
      assert.ok(t, `clip ${i} (${ev.startPtsNs}..${ev.stopPtsNs}) overlaps motion in the main stream; main: ${truth.map((x) => `${x.startPtsNs}..${x.stopPtsNs}`).join(' ')}; segments ${segs[0]?.start_pts_ns}..${segs[segs.length - 1]?.stop_pts_ns}`);
      // The detect stream may have been joined during the first burst: that event starts late; skip it.
      if (i === 0 && ptsSpanNs(t.startPtsNs, ev.startPtsNs) > 3 * FRAME_NS) continue;
      startErr.push(ptsSpanNs(t.startPtsNs, ev.startPtsNs) / FRAME_NS);
      stopErr.push(ptsSpanNs(t.stopPtsNs, ev.stopPtsNs) / FRAME_NS);
      const job = (await getJson<{ clip: ClipJson }>(`${url}/cameras/cam/clip/${c.jobId}`)).body.clip;
      assert.equal(job.status, 'done');
      assert.equal(job.start_pts_ns, c.startPtsNs);
      assert.equal(job.stop_pts_ns, c.stopPtsNs);
    }
    assert.ok(startErr.length >= CLIPS - 1, `${startErr.length} clips measured`);
    const fmt = (xs: number[]) => `median ${median(xs).toFixed(3)} frames (${(median(xs) * FRAME_NS / 1e6).toFixed(1)} ms), `
      + `max |error| ${Math.max(...xs.map(Math.abs)).toFixed(3)} frames (${(Math.max(...xs.map(Math.abs)) * FRAME_NS / 1e6).toFixed(1)} ms)`;
    const rounded = (xs: number[]) => xs.map((x) => Math.round(x) + 0);
    console.log(`[substream] ${clips.length} clips of ${events.length} events, ${startErr.length} measured; sub-stream event → main-stream clip error at the start: ${fmt(startErr)}; frames ${JSON.stringify(rounded(startErr))}`);
    console.log(`[substream] at the stop: ${fmt(stopErr)}; frames ${JSON.stringify(rounded(stopErr))}`);
    for (const [what, xs] of [['start', startErr], ['stop', stopErr]] as const) {
      assert.deepEqual(rounded(xs), xs.map(() => 0), `${what}: every clip lands on the right frames`);
      assert.ok(xs.every((x) => Math.abs(x) <= 0.5), `${what}: within half a frame (${xs.map((x) => x.toFixed(3)).join(', ')})`);
    }
  } finally {
    await sup?.stop();
    await handle?.close();
    await srv.stop();
    tmp.cleanup();
  }
});
