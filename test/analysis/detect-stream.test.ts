// The detect stream's clock (src/analysis/detect-stream.ts): the sliding least-delay estimate, the
// detect timeline across reconnects, the frame holds it models, how ffmpeg is asked to open the source
// (credentials only through pipe 3), the backlog a new connection starts with, and the pipeline's
// `clipTime` hook that puts events, planning and clip requests on the clip stream's PTS.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ArrivalClock, DetectStreamFrames, DetectTimeline, detectInput, parserLagFrames, producerAnchorLagFrames,
} from '../../src/analysis/detect-stream.js';
import { ClipPlanner } from '../../src/analysis/event-clips.js';
import { ClipStage, type ClipRequester, type PtsClipRequest } from '../../src/analysis/clip-stage.js';
import { runMotionPipeline } from '../../src/analysis/pipeline.js';
import type { MotionFrame } from '../../src/analysis/motion-detector.js';
import type { AnalysisRecord } from '../../src/analysis/event-clips.js';
import { makeVideo, tempDir } from '../helpers/media.js';
import { join } from 'node:path';

const FRAME_NS = 1e9 / 15;

describe('ArrivalClock', () => {
  it('keeps the least arrival − pts over its window', () => {
    const c = new ArrivalClock(1000);
    assert.equal(c.offsetMs, null);
    assert.ok(Number.isNaN(c.epochMsOf(0)));
    c.observe(0, 1000 + 50);
    c.observe(100e6, 1100 + 10);
    c.observe(200e6, 1200 + 30);
    assert.equal(c.offsetMs, 1010);
    assert.equal(c.epochMsOf(500e6), 1510);
    // The 10 ms sample leaves the window: the least of what is left.
    c.observe(1150e6, 2150 + 40);
    assert.equal(c.offsetMs, 1030);
    c.observe(Number.NaN, 5);
    assert.equal(c.samples, 4, 'frames without a PTS are ignored');
  });

  it('stays exact over a long run (the deque is compacted)', () => {
    const c = new ArrivalClock(2000);
    for (let i = 0; i < 5000; i++) c.observe(i * FRAME_NS, 1e12 + i * FRAME_NS / 1e6 + 20 + (i % 7));
    assert.equal(c.offsetMs, 1e12 + 20);
  });
});

describe('DetectTimeline', () => {
  it('places a connection at its arrival, maps by its own estimate, and keeps reconnects after it', () => {
    const F = 66_666_667;
    const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-3, `${what}: ${a} vs ${b}`);
    const t = new DetectTimeline(30_000, 1e12);
    t.begin(1, 5_000e6, 1e12 + 1000);
    t.setCodec('h264');
    const p0 = t.place(5_000e6, 1e12 + 1000); // the first frame arrived late (backlog)
    const p1 = t.place(5_000e6 + F, 1e12 + 1000 + F / 1e6 - 395);
    assert.equal(p0, 1000e6, 'the first frame sits at its arrival, ns after the origin');
    assert.equal(p1, 1000e6 + F);
    near(t.offsetMs!, 1e12 - 395, 'the least delay');
    near(t.frameIntervalMs(p1), F / 1e6, 'frame interval');
    near(t.epochMsForPtsNs(p1), 1e12 + 1000 + F / 1e6 - 395, 'arrival-based epoch');
    // Capture = arrival-based epoch − one frame (the H.264 parser's hold).
    near(t.captureEpochMsForPtsNs(p1), 1e12 + 1000 + F / 1e6 - 395 - F / 1e6, 'capture');
    // A reconnect 200 ms later: its frames go after the previous connection's, with their own estimate.
    t.begin(2, 0, 1e12 + 1200);
    t.setCodec('h264');
    const q0 = t.place(0, 1e12 + 1200);
    assert.ok(q0 >= p1 + 1e9, 'never back over the previous connection');
    assert.ok(Number.isSafeInteger(q0));
    assert.ok(t.has(2) && !t.has(1));
    near(t.epochMsForPtsNs(p1), 1e12 + 1000 + F / 1e6 - 395, 'old PTS keep their connection\'s mapping');
    near(t.epochMsForPtsNs(q0), 1e12 + 1200, 'the new connection\'s own estimate');
    assert.ok(Number.isNaN(t.captureEpochMsForPtsNs(q0)), 'H.264 before its second frame: the hold (one frame) is not known yet');
  });
});

describe('frame holds and ffmpeg input', () => {
  it('parser and producer lags', () => {
    assert.equal(parserLagFrames('h264'), 1);
    assert.equal(parserLagFrames('hevc'), 1);
    assert.equal(parserLagFrames('mjpeg'), 0);
    assert.equal(parserLagFrames(null), 0);
    assert.equal(producerAnchorLagFrames('h264', 'rtsp://cam/1'), 2);
    assert.equal(producerAnchorLagFrames('hevc', 'rtsp://***@cam/1'), 2, 'as /health shows a source with credentials');
    assert.equal(producerAnchorLagFrames('mjpeg', 'rtsp://cam/1'), 1);
    assert.equal(producerAnchorLagFrames('h264', '/videos/a.mp4'), 0);
    assert.equal(producerAnchorLagFrames('h264', 'testsrc'), 0);
  });

  it('RTSP over TCP with one decoder thread; a URL with credentials only through pipe 3', () => {
    const plain = detectInput('rtsp://10.0.0.5/sub');
    assert.equal(plain.input, 'rtsp://10.0.0.5/sub');
    assert.deepEqual(plain.inputArgs, ['-threads', '1', '-rtsp_transport', 'tcp', '-timeout', '5000000']);
    assert.equal(plain.fd3, undefined);
    const secret = detectInput("rtsp://admin:pa'ss@10.0.0.5/sub", ['-an']);
    assert.equal(secret.input, 'pipe:3');
    assert.ok(!secret.inputArgs.join(' ').includes('pa'), 'no password on the command line');
    assert.deepEqual(secret.inputArgs.slice(-5), ['-f', 'concat', '-safe', '0', '-an']);
    assert.equal(secret.fd3, "ffconcat version 1.0\nfile 'rtsp://admin:pa'\\''ss@10.0.0.5/sub'\noption rtsp_transport 'tcp'\noption timeout '5000000'\n");
    assert.deepEqual(detectInput('file:///v/a.mp4').inputArgs, ['-threads', '1', '-re', '-stream_loop', '-1']);
    assert.equal(detectInput('file:///v/a.mp4').input, '/v/a.mp4');
  });
});

describe('DetectStreamFrames on a file (read in real time)', () => {
  it('skips the backlog, yields frames in real time on the detect timeline with their capture time (a file loops)', async () => {
    const tmp = tempDir();
    try {
      const path = join(tmp.dir, 'a.mp4');
      await makeVideo(path, { seconds: 2, fps: 15, width: 160, height: 90, container: 'plain' });
      const ac = new AbortController();
      const status: string[] = [];
      const frames = new DetectStreamFrames({ source: path, inputArgs: [], signal: ac.signal, initialDelayMs: 50, onStatus: (s) => status.push(s.type) });
      let n = 0;
      let last = -Infinity;
      const started = Date.now();
      for await (const f of frames) {
        assert.ok(f.ptsNs > last, 'the timeline only moves forward');
        last = f.ptsNs;
        assert.ok(f.epochMs !== null && Math.abs(f.epochMs - Date.now()) < 2000, 'capture time near now');
        assert.ok(Number.isSafeInteger(f.ptsNs) && f.ptsNs / 1e6 < Date.now() - started + 1000, 'ns since the reader started');
        if (++n >= 40) break;
      }
      ac.abort();
      assert.ok(Date.now() - started >= 40 / 15 * 1000 * 0.8, 'read in real time');
      assert.ok(status.includes('live'));
    } finally {
      tmp.cleanup();
    }
  });
});

describe('runMotionPipeline with clipTime', () => {
  it('maps events, planning and clip requests onto the clip stream\'s PTS', async () => {
    const W = 32;
    const H = 24;
    const frame = (i: number): MotionFrame => {
      const gray = new Uint8Array(W * H).fill(60);
      if (i >= 20 && i < 30) for (let y = 8; y < 16; y++) for (let x = (i - 20) * 2; x < (i - 20) * 2 + 8; x++) gray[y * W + x] = 200;
      return { gray, width: W, height: H, ptsNs: 7e15 + i * 100e6 };
    };
    async function* frames(): AsyncGenerator<MotionFrame> {
      for (let i = 0; i < 80; i++) yield frame(i);
    }
    const requests: PtsClipRequest[] = [];
    const recorder: ClipRequester = { requestClip: async (req) => { requests.push(req); return { jobId: 'j', path: null }; } };
    const records: AnalysisRecord[] = [];
    const shift = (p: number) => p - 7e15 + 123_456_789;
    const summary = await runMotionPipeline({
      frames: frames(),
      stage: new ClipStage({ recorder, onRecord: (r) => records.push(r) }),
      planner: new ClipPlanner({ prerollMs: 500, postrollMs: 500 }),
      clipTime: shift,
    });
    assert.equal(summary.events, 1);
    const ev = records.find((r) => r.type === 'event')!;
    assert.equal(ev.type, 'event');
    assert.equal(ev.startPtsNs, shift(7e15 + 20 * 100e6), 'the event is logged in the clip stream\'s PTS');
    assert.equal(ev.stopPtsNs, shift(7e15 + 31 * 100e6));
    assert.deepEqual(requests, [{ startPtsNs: ev.startPtsNs - 500e6, stopPtsNs: ev.stopPtsNs + 500e6, label: 'motion' }]);
  });
});
