// The whole path on a real producer: the test camera's object moves during known intervals; the motion
// pipeline (live stream → detector → planner → Recorder) must find those intervals within one frame at
// each end, and the clips must cover exactly event ± preroll/postroll.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeStreams, tempDir } from '../helpers/media.js';
import { getJson, startTestProducer, waitFor } from '../helpers/producer.js';
import { runMotion } from '../../src/cli/commands/motion.js';
import { parseJsonl, ptsSpanNs, type ClipRecord, type EventRecord } from '../../src/analysis/index.js';
import type { PtsValue } from '../../src/protocol/pts.js';
import type { ClipJson } from '../../src/protocol/schemas.js';

const FPS = 15;
const FRAME_NS = 1e9 / FPS;
// Tick → ns rounding on both sides; the detector's stop is one frame late by design (the frame where the
// object disappears differs from the one before it), so its stop sits right at the one-frame bound.
const ROUNDING_NS = 1000;
const PERIOD = 6;
const OFFSET = 1.5;
const DURATION = 2;

test('motion events match the known motion within a frame; clips are event ± pre/postroll', async () => {
  const tmp = tempDir();
  const p = await startTestProducer(tmp.dir, {
    segmentSeconds: 2,
    testsrc: { width: 320, height: 180, fps: FPS, gopSeconds: 1, motionPeriodS: PERIOD, motionOffsetS: OFFSET, motionDurationS: DURATION },
  });
  const ac = new AbortController();
  const logPath = join(tmp.dir, 'motion.jsonl');
  const lines: string[] = [];
  try {
    const running = runMotion({
      baseUrl: p.url, token: null, logPath, prerollMs: 500, postrollMs: 300, label: 'e2e', signal: ac.signal,
      print: (l) => lines.push(l),
    });
    await waitFor('2 motion clips', () => {
      try {
        return parseJsonl(readFileSync(logPath, 'utf8')).filter((r) => r.type === 'clip').length >= 2;
      } catch {
        return false;
      }
    }, 40_000, 250);
    ac.abort();
    const summary = await running;
    assert.ok(summary.events >= 2);
    assert.equal(summary.clipErrors, 0);
    const records = parseJsonl(readFileSync(logPath, 'utf8'));
    const events = records.filter((r): r is EventRecord => r.type === 'event');
    const clips = records.filter((r): r is ClipRecord => r.type === 'clip');
    // The camera's clock: pts of lavfi time t is offsetNs + t (one ffmpeg run in this test).
    const run = p.producer.writer.currentRun;
    assert.ok(run && run.offsetNs !== null);
    assert.equal(p.producer.ingest.restarts, 0, 'one ffmpeg run, so one offset');
    const offsetNs = BigInt(run.offsetNs);
    // Times relative to the run's offset (numbers: the PTS themselves may be bigints past 2^53).
    const rel = (pts: PtsValue): number => Number(BigInt(pts) - offsetNs);
    let checked = 0;
    for (const [i, ev] of events.entries()) {
      const k = Math.round((rel(ev.startPtsNs) / 1e9 - OFFSET) / PERIOD);
      // The object is drawn on the frames whose time t satisfies a ≤ t ≤ a + d (ffmpeg's between()):
      // the known interval runs from the first such frame to the end of the last one.
      const firstFrame = Math.ceil((k * PERIOD + OFFSET) * FPS - 1e-9);
      const lastFrame = Math.floor((k * PERIOD + OFFSET + DURATION) * FPS + 1e-9);
      const knownStart = (firstFrame / FPS) * 1e9;
      const knownStop = ((lastFrame + 1) / FPS) * 1e9;
      // A live connection joins at a fragment boundary: the first event can begin before the stream was
      // joined, so only the first one may be seen starting late (but inside the known motion, where the
      // stream was joined). Every later event must match at both ends.
      const joinedMidEvent = i === 0 && rel(ev.startPtsNs) > knownStart + FRAME_NS * 1.5;
      if (joinedMidEvent) {
        assert.ok(rel(ev.startPtsNs) < knownStop, `first event starts ${rel(ev.startPtsNs)}, inside the known motion ${knownStart}–${knownStop}`);
      } else {
        assert.ok(Math.abs(rel(ev.startPtsNs) - knownStart) <= FRAME_NS + ROUNDING_NS, `event ${i} start ${rel(ev.startPtsNs)} vs known ${knownStart}`);
      }
      assert.ok(Math.abs(rel(ev.stopPtsNs) - knownStop) <= FRAME_NS + ROUNDING_NS, `event ${i} stop ${rel(ev.stopPtsNs)} vs known ${knownStop}`);
      if (!joinedMidEvent) checked++;
    }
    assert.ok(checked >= 1, `${checked} of ${events.length} events checked at both ends against the known motion`);
    assert.ok(events.length >= 2);
    for (const c of clips.slice(0, 2)) {
      const ev = c.events[0];
      assert.equal(BigInt(c.startPtsNs), BigInt(ev.startPtsNs) - 500_000_000n, 'preroll applied in PTS');
      assert.equal(BigInt(c.stopPtsNs), BigInt(ev.stopPtsNs) + 300_000_000n, 'postroll applied in PTS');
      const job = (await getJson<{ clip: ClipJson }>(`${p.url}/clip/${c.jobId}`)).body.clip;
      assert.equal(job.status, 'done');
      assert.equal(BigInt(job.start_pts_ns), BigInt(c.startPtsNs));
      assert.equal(BigInt(job.stop_pts_ns), BigInt(c.stopPtsNs));
      assert.ok(Math.abs(ptsSpanNs(c.startPtsNs, job.actual_start_pts_ns!)) < FRAME_NS, 'the clip starts at the first frame of the window');
      const [v] = await probeStreams(c.path!);
      const want = ptsSpanNs(c.startPtsNs, c.stopPtsNs) / 1e9;
      assert.ok(Math.abs(v.duration - want) <= 1 / FPS + 1e-3, `clip ${v.duration}s vs window ${want}s`);
    }
    assert.ok(lines.some((l) => /motion event/.test(l)) && lines.some((l) => /clip clip-\d+/.test(l)), 'it tells what happens');
  } finally {
    ac.abort();
    await p.close();
    tmp.cleanup();
  }
});
