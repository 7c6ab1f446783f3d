// The client side on a real producer whose clock stands at 100 years (generated history, then the producer
// recording on above it: every PTS past 2^53 ns, where a JavaScript number is no longer exact): the
// Recorder with a Timebase from /health (the seed's two usage patterns) sends and returns exact bigint PTS,
// and the motion pipeline on the live stream (its offset header a 19-digit integer) finds the known motion
// within a frame and asks for clips of exactly event ± preroll/postroll.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildHistory, type HistoryResult } from '../helpers/history.js';
import { tempDir } from '../helpers/media.js';
import { startTestProducer, waitFor, waitForNewRun } from '../helpers/producer.js';
import { Recorder, recorderConfigFromCfg, timebaseFromHealthPayload, parseWireJson, type PtsValue } from '../../src/index.js';
import { runMotion } from '../../src/cli/commands/motion.js';
import { parseJsonl, ptsSpanNs, type ClipRecord, type EventRecord } from '../../src/analysis/index.js';

const YEAR_NS = 365n * 86_400n * 1_000_000_000n;
const FPS = 15;
const FRAME_NS = 1e9 / FPS;
const ROUNDING_NS = 1000;
const PERIOD = 6;
const OFFSET = 1.5;
const DURATION = 2;

type Wire = Record<string, unknown>;
async function get(url: string): Promise<Wire> {
  return parseWireJson(await (await fetch(url)).text()) as Wire;
}

describe('the Recorder and the motion pipeline at 100 years of producer clock', () => {
  const tmp = tempDir();
  const dataDir = join(tmp.dir, 'data');
  const clockStart = 100n * YEAR_NS + 123_457n;
  let h: HistoryResult;
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  before(async () => {
    h = await buildHistory({ dataDir, days: 12 / 86_400, clockStartNs: clockStart, width: 160, height: 90 });
    p = await startTestProducer(dataDir, {
      segmentSeconds: 2,
      testsrc: { width: 320, height: 180, fps: FPS, gopSeconds: 1, motionPeriodS: PERIOD, motionOffsetS: OFFSET, motionDurationS: DURATION },
    });
  });
  after(async () => {
    await p?.close();
    tmp.cleanup();
  });

  test('Recorder: PTS and epoch windows through a Timebase read exactly from /health', async () => {
    await waitForNewRun(p.url, BigInt(h.stopPtsNs), 4_500_000_000n);
    const text = await (await fetch(`${p.url}/health`)).text();
    assert.throws(() => timebaseFromHealthPayload(JSON.parse(text)), /past 2\^53 .*parseWireJson/, 'a rounded base is refused');
    const health = parseWireJson(text) as { ts_ms: number; pts_ns: PtsValue };
    const tb = timebaseFromHealthPayload(health);
    assert.equal(typeof tb.basePtsNs, 'bigint');
    const rec = new Recorder(recorderConfigFromCfg({ PRODUCER_BASE_URL: p.url, CLIP_MAX_WAIT_MS: 20_000 }), tb);

    // PTS mode, in the history: a window off any frame's time, to the ns.
    const start = clockStart + 2_000_000_001n;
    const stop = clockStart + 5_000_000_001n;
    const a = await rec.requestClip({ startPtsNs: start, stopPtsNs: stop, prerollMs: 500, label: 'century' });
    assert.equal(a.status, 'done');
    assert.equal(a.startPtsNs, start - 500_000_000n);
    assert.equal(a.stopPtsNs, stop);
    const clipA = a.raw.clip as Wire;
    assert.equal(clipA.start_pts_ns, start - 500_000_000n, 'the producer got the window to the ns');
    assert.equal(clipA.stop_pts_ns, stop);
    assert.equal(typeof a.actualStartPtsNs, 'bigint');
    const lead = ptsSpanNs(a.startPtsNs!, a.actualStartPtsNs!);
    assert.ok(lead >= 0 && lead < 100_000_000, `the clip starts at the first frame at or after the window (${lead} ns)`);

    // Epoch mode with the Timebase: mapped to PTS on the client, exactly as the Timebase says.
    const b = await rec.requestClip({ startMs: health.ts_ms - 4000, stopMs: health.ts_ms - 2000 });
    assert.equal(b.status, 'done');
    assert.equal(b.mode, 'epoch');
    assert.equal(b.startPtsNs, tb.epochMsToPts(health.ts_ms - 4000));
    assert.equal(b.stopPtsNs, tb.epochMsToPts(health.ts_ms - 2000));
    assert.equal(typeof b.startPtsNs, 'bigint');
    assert.equal((b.raw.clip as Wire).start_pts_ns, b.startPtsNs);
    assert.equal((b.raw.clip as Wire).frames, 2 * FPS, '2 s at 15 fps');
  });

  test('motion on the live stream: events within a frame of the known motion, clips of exactly event ± rolls', async () => {
    const ac = new AbortController();
    const logPath = join(tmp.dir, 'motion.jsonl');
    const running = runMotion({
      baseUrl: p.url, token: null, logPath, prerollMs: 500, postrollMs: 300, label: 'e2e', signal: ac.signal, print: () => undefined,
    });
    try {
      await waitFor('2 motion clips', () => {
        try {
          return parseJsonl(readFileSync(logPath, 'utf8')).filter((r) => r.type === 'clip').length >= 2;
        } catch {
          return false;
        }
      }, 40_000, 250);
    } finally {
      ac.abort();
    }
    const summary = await running;
    assert.equal(summary.clipErrors, 0);
    const records = parseJsonl(readFileSync(logPath, 'utf8'));
    const events = records.filter((r): r is EventRecord => r.type === 'event');
    const clips = records.filter((r): r is ClipRecord => r.type === 'clip');
    const run = p.producer.writer.currentRun;
    assert.ok(run && run.offsetNs !== null);
    assert.equal(p.producer.ingest.restarts, 0, 'one ffmpeg run, so one offset');
    const offsetNs = BigInt(run.offsetNs);
    assert.ok(offsetNs > 2n ** 53n);
    const rel = (pts: PtsValue): number => Number(BigInt(pts) - offsetNs);
    let checked = 0;
    for (const [i, ev] of events.entries()) {
      assert.equal(typeof ev.startPtsNs, 'bigint', 'the JSONL keeps the exact PTS');
      const k = Math.round((rel(ev.startPtsNs) / 1e9 - OFFSET) / PERIOD);
      const knownStart = (Math.ceil((k * PERIOD + OFFSET) * FPS - 1e-9) / FPS) * 1e9;
      const knownStop = ((Math.floor((k * PERIOD + OFFSET + DURATION) * FPS + 1e-9) + 1) / FPS) * 1e9;
      // The stream may be joined during the first burst: that event can start late (inside the motion).
      const joinedMidEvent = i === 0 && rel(ev.startPtsNs) > knownStart + FRAME_NS * 1.5;
      if (!joinedMidEvent) {
        assert.ok(Math.abs(rel(ev.startPtsNs) - knownStart) <= FRAME_NS + ROUNDING_NS, `event ${i} start ${rel(ev.startPtsNs)} vs ${knownStart}`);
        checked++;
      }
      assert.ok(Math.abs(rel(ev.stopPtsNs) - knownStop) <= FRAME_NS + ROUNDING_NS, `event ${i} stop ${rel(ev.stopPtsNs)} vs ${knownStop}`);
    }
    assert.ok(checked >= 1);
    for (const c of clips.slice(0, 2)) {
      const ev = c.events[0];
      assert.equal(c.startPtsNs, BigInt(ev.startPtsNs) - 500_000_000n, 'preroll applied in PTS, exactly');
      assert.equal(c.stopPtsNs, BigInt(ev.stopPtsNs) + 300_000_000n, 'postroll applied in PTS, exactly');
      const job = (await get(`${p.url}/clip/${c.jobId}`)).clip as Wire;
      assert.equal(job.status, 'done');
      assert.equal(job.start_pts_ns, c.startPtsNs, 'the producer got the window to the ns');
      assert.equal(job.stop_pts_ns, c.stopPtsNs);
      const lead = ptsSpanNs(c.startPtsNs, job.actual_start_pts_ns as PtsValue);
      assert.ok(lead >= 0 && lead < FRAME_NS, 'the clip starts at the first frame of the window');
    }
  });
});
