// Event → clip policy: padding in PTS units, merging (batch and streaming), the retry and force-rotate
// decisions, and the ClipStage driving a tiny in-test object with the Recorder's requestClip shape
// (a policy test, not a producer stand-in), including the JSONL it writes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ClipPlanner, isTransientClipError, msToNs, needsForceRotate, padWindow, parseJsonl, planClips, ptsPlus, ptsSpanNs, retryDelayMs, shouldRetry, toJsonl,
  type ClipErrorRecord, type ClipRecord, type PtsWindow,
} from '../../src/analysis/event-clips.js';
import { ClipStage, type ClipOutcome, type ClipRequester, type PtsClipRequest } from '../../src/analysis/clip-stage.js';
import type { MotionEvent } from '../../src/analysis/motion-detector.js';
import { tempDir } from '../helpers/media.js';
import { ClipError, ClipHttpError, ClipTimeoutError } from '../../src/record/index.js';

const S = 1_000_000_000;

function ev(startS: number, stopS: number): MotionEvent {
  return { startPtsNs: startS * S, stopPtsNs: stopS * S, peakScore: 0.1, frames: 10 };
}
const spans = (xs: PtsWindow[]): number[][] => xs.map((x) => [Number(x.startPtsNs) / S, Number(x.stopPtsNs) / S]);

describe('clip planning', () => {
  it('pads in PTS units and clamps the start at 0', () => {
    assert.equal(msToNs(1.5), 1_500_000);
    assert.deepEqual(padWindow({ startPtsNs: 10 * S, stopPtsNs: 12 * S }, { prerollMs: 2000, postrollMs: 500 }),
      { startPtsNs: 8 * S, stopPtsNs: 12.5 * S });
    assert.deepEqual(padWindow({ startPtsNs: S, stopPtsNs: 2 * S }, { prerollMs: 3000, postrollMs: 0 }), { startPtsNs: 0, stopPtsNs: 2 * S });
  });

  it('merges overlapping and touching padded events, keeps separate ones apart', () => {
    const opts = { prerollMs: 1000, postrollMs: 1000 };
    // Padded: [9,13) and [13,16) touch; [20,22.5) is apart; [30,32.5) and [31.5,34) overlap. Input order does not matter.
    const clips = planClips([ev(21, 21.5), ev(10, 12), ev(32.5, 33), ev(14, 15), ev(31, 31.5)], opts);
    assert.deepEqual(spans(clips), [[9, 16], [20, 22.5], [30, 34]]);
    assert.deepEqual(clips.map((c) => c.events.length), [2, 1, 2]);
    // A merge gap joins windows up to that far apart; maxClipMs forbids merges that get too long.
    assert.deepEqual(spans(planClips([ev(10, 12), ev(16, 17)], { ...opts, mergeGapMs: 2000 })), [[9, 18]]);
    assert.deepEqual(spans(planClips([ev(10, 12), ev(14, 15)], { ...opts, maxClipMs: 5000 })), [[9, 13], [13, 16]]);
  });

  it('streaming planner holds a clip until nothing can merge into it, then releases it', () => {
    const p = new ClipPlanner({ prerollMs: 2000, postrollMs: 2000, mergeGapMs: 0, maxClipMs: 60_000 });
    assert.deepEqual(p.addEvent(ev(10, 12)), []); // padded [8, 14)
    assert.deepEqual(p.advance(15 * S), []); // an event starting at 15 s would pad to 13 s: could merge
    assert.deepEqual(p.advance(16 * S), []); // 16 - 2 = 14: touching still merges
    assert.deepEqual(p.addEvent(ev(15.5, 17)), []); // merged → [8, 19)
    assert.deepEqual(spans(p.advance(21.001 * S)), [[8, 19]]);
    assert.equal(p.pendingClip, null);
    assert.deepEqual(p.addEvent(ev(30, 31)), []);
    assert.deepEqual(spans(p.addEvent(ev(40, 41))), [[28, 33]]); // did not merge: the previous one is released
    assert.deepEqual(spans(p.flush()), [[38, 43]]);
    assert.deepEqual(p.flush(), []);
  });

  it('plans exactly past 2^53 ns (bigints), numbers and bigints mixed, NaN kept NaN', () => {
    const B = 3_155_760_000_000_000_001n; // 100 years of producer clock, an odd ns
    const bev = (startS: number, stopS: number) => ({ startPtsNs: B + BigInt(startS * S), stopPtsNs: B + BigInt(stopS * S), peakScore: 0.1, frames: 3 });
    assert.deepEqual(padWindow(bev(10, 12), { prerollMs: 2000, postrollMs: 0.000001 }), { startPtsNs: B + 8n * 1_000_000_000n, stopPtsNs: B + 12_000_000_001n });
    const clips = planClips([bev(21, 21.5), bev(10, 12), bev(14, 15)], { prerollMs: 1000, postrollMs: 1000 });
    assert.deepEqual(clips.map((c) => [c.startPtsNs, c.stopPtsNs]), [[B + 9_000_000_000n, B + 16_000_000_000n], [B + 20_000_000_000n, B + 22_500_000_000n]]);
    const p = new ClipPlanner({ prerollMs: 2000, postrollMs: 2000, mergeGapMs: 0, maxClipMs: 60_000 });
    assert.deepEqual(p.addEvent(bev(10, 12)), []);
    assert.deepEqual(p.advance(B + 16_000_000_000n), []); // touching still merges
    assert.deepEqual(p.advance(B + 16_000_000_001n).map((c) => [c.startPtsNs, c.stopPtsNs]), [[B + 8_000_000_000n, B + 14_000_000_000n]]);
    assert.ok(needsForceRotate(B + 1n, B) && !needsForceRotate(B, B) && needsForceRotate(B, 5) && !needsForceRotate(5, B));
    // The arithmetic: numbers while exact, bigints past 2^53, exact across the border.
    const max = Number.MAX_SAFE_INTEGER;
    assert.equal(ptsPlus(max - 1, 1), max);
    assert.equal(ptsPlus(max, 1), 2n ** 53n);
    assert.equal(ptsPlus(2n ** 53n, -1), max);
    assert.equal(ptsPlus(B, 0.4), B);
    assert.ok(Number.isNaN(ptsPlus(Number.NaN, 1)) && Number.isNaN(ptsPlus(B, Number.NaN)));
    assert.equal(ptsSpanNs(B, B + 1_500_000_000n), 1_500_000_000);
    assert.equal(ptsSpanNs(max, 2n ** 53n + 1n), 2);
  });

  it('retries only transient failures, with capped exponential delays', () => {
    const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250 };
    assert.ok(isTransientClipError(new ClipHttpError('network', null)));
    assert.ok(isTransientClipError(new ClipHttpError('bad gateway', 502)));
    assert.ok(isTransientClipError(new ClipTimeoutError('slow')));
    assert.ok(!isTransientClipError(new ClipHttpError('purged', 409)));
    assert.ok(!isTransientClipError(new ClipHttpError('bad body', 400)));
    assert.ok(!isTransientClipError(new ClipError('job failed')));
    assert.ok(!isTransientClipError(Object.assign(new Error('aborted'), { name: 'AbortError' })));
    assert.ok(!isTransientClipError('a string'));
    assert.deepEqual([1, 2, 3, 4].map((a) => retryDelayMs(a, policy)), [100, 200, 250, 250]);
    assert.ok(shouldRetry(new ClipHttpError('x', 503), 3, policy));
    assert.ok(!shouldRetry(new ClipHttpError('x', 503), 4, policy));
    assert.ok(shouldRetry(new ClipTimeoutError('POST never answered'), 1, policy), 'no job yet: retry');
    assert.ok(!shouldRetry(new ClipTimeoutError('still running', { jobId: 'clip-0000000000000007' }), 1, policy),
      'the job exists: a retry would make a second clip');
    assert.ok(!shouldRetry(new ClipHttpError('GET hung', null, undefined, { jobId: 'clip-0000000000000007' }), 1, policy));
  });

  it('force-rotates when the window reaches into the open segment or that is unknown', () => {
    assert.ok(needsForceRotate(10 * S, 9 * S));
    assert.ok(!needsForceRotate(10 * S, 10 * S)); // stop is exclusive: ends exactly where the open one begins
    assert.ok(!needsForceRotate(10 * S, 11 * S));
    assert.ok(needsForceRotate(10 * S, null));
    assert.ok(needsForceRotate(10 * S, undefined));
  });

  it('JSONL lines are snake_case on disk, like the wire format, and round-trip', () => {
    const rec: ClipErrorRecord = {
      type: 'clip_error', ts: '2025-01-01T00:00:00.000Z', label: 'm', startPtsNs: 1, stopPtsNs: 2,
      events: [{ startPtsNs: 1, stopPtsNs: 2 }], attempts: 1,
      rotated: false, rotateError: null, error: { name: 'ClipHttpError', message: 'x', status: 409 }, transient: false,
    };
    const line = toJsonl(rec);
    assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
    const onDisk = JSON.parse(line) as Record<string, unknown>;
    assert.equal(onDisk.start_pts_ns, 1);
    assert.equal(onDisk.rotate_error, null);
    assert.deepEqual(onDisk.events, [{ start_pts_ns: 1, stop_pts_ns: 2 }]);
    assert.ok(!/[a-z][A-Z]/.test(Object.keys(onDisk).join(' ')), 'no camelCase key on disk');
    assert.deepEqual(parseJsonl(line + line), [rec, rec]);
    // PTS past 2^53 are written with all their digits and read back as the same bigints.
    const big: ClipErrorRecord = { ...rec, startPtsNs: 3_155_760_000_000_000_001n, stopPtsNs: 3_155_760_000_000_000_002n,
      events: [{ startPtsNs: 3_155_760_000_000_000_001n, stopPtsNs: 9_007_199_254_740_991 }] };
    const bigLine = toJsonl(big);
    assert.match(bigLine, /"start_pts_ns":3155760000000000001,"stop_pts_ns":3155760000000000002,/);
    assert.deepEqual(parseJsonl(bigLine), [big]);
  });
});

/** A scripted stand-in with the Recorder's requestClip signature. */
class ScriptedRecorder implements ClipRequester {
  readonly calls: Array<{ req: PtsClipRequest; signal: AbortSignal | undefined }> = [];
  constructor(private readonly script: Array<Error | 'ok'>) {}
  async requestClip(req: PtsClipRequest, opts?: { signal?: AbortSignal }): Promise<ClipOutcome> {
    this.calls.push({ req, signal: opts?.signal });
    const step = this.script.shift() ?? 'ok';
    if (step !== 'ok') throw step;
    return { jobId: `clip-${this.calls.length}`, path: `/clips/c${this.calls.length}.mp4` };
  }
}

describe('ClipStage', () => {
  const tmp = tempDir('segrec-clipstage-');
  after(() => tmp.cleanup());
  const clip = { startPtsNs: 8 * S, stopPtsNs: 14 * S, events: [ev(10, 12)] };
  const fixedNow = (): Date => new Date('2025-05-01T12:00:00Z');

  it('retries transient errors with backoff, then writes a clip record', async () => {
    const rec = new ScriptedRecorder([new ClipHttpError('down', null), new ClipHttpError('oops', 503), new ClipTimeoutError('slow'), 'ok']);
    const sleeps: number[] = [];
    const logPath = join(tmp.dir, 'a.jsonl');
    const ac = new AbortController();
    const stage = new ClipStage({
      recorder: rec, logPath, label: 'motion_event', now: fixedNow, signal: ac.signal,
      retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 300 },
      sleep: async (ms) => { sleeps.push(ms); },
    });
    await stage.logEvent(ev(10, 12));
    const out = await stage.submit(clip);
    await stage.drain();
    assert.equal(out.type, 'clip');
    assert.deepEqual(sleeps, [100, 200, 300]);
    assert.equal(rec.calls.length, 4);
    for (const c of rec.calls) {
      assert.deepEqual(c.req, { startPtsNs: 8 * S, stopPtsNs: 14 * S, label: 'motion_event' });
      assert.equal(c.signal, ac.signal);
    }
    const lines = parseJsonl(readFileSync(logPath, 'utf8'));
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[0], {
      type: 'event', ts: '2025-05-01T12:00:00.000Z', startPtsNs: 10 * S, stopPtsNs: 12 * S, durationMs: 2000, peakScore: 0.1, frames: 10,
      startEpochMs: null, stopEpochMs: null,
    });
    const expected: ClipRecord = {
      type: 'clip', ts: '2025-05-01T12:00:00.000Z', label: 'motion_event', startPtsNs: 8 * S, stopPtsNs: 14 * S,
      events: [{ startPtsNs: 10 * S, stopPtsNs: 12 * S }], attempts: 4, jobId: 'clip-4', path: '/clips/c4.mp4', rotated: false, rotateError: null,
    };
    assert.deepEqual(lines[1], expected);
  });

  it('does not retry a 4xx; gives up after maxAttempts on transient ones; both logged as clip_error', async () => {
    const rec = new ScriptedRecorder([new ClipHttpError('no segments overlap requested window (possibly purged)', 409),
      new ClipHttpError('a', 500), new ClipHttpError('b', 500)]);
    const logPath = join(tmp.dir, 'b.jsonl');
    const stage = new ClipStage({ recorder: rec, logPath, now: fixedNow, retry: { maxAttempts: 2, baseDelayMs: 1 }, sleep: async () => {} });
    const [first, second] = await Promise.all([stage.submit(clip), stage.submit({ ...clip, startPtsNs: 20 * S, stopPtsNs: 25 * S })]);
    await stage.drain();
    assert.equal(rec.calls.length, 3);
    assert.equal(first.type, 'clip_error');
    assert.equal(second.type, 'clip_error');
    const lines = parseJsonl(readFileSync(logPath, 'utf8')) as ClipErrorRecord[];
    assert.deepEqual(lines.map((l) => [l.type, l.attempts, l.error.status, l.transient, l.label]),
      [['clip_error', 1, 409, false, 'motion'], ['clip_error', 2, 500, true, 'motion']]);
    assert.match(lines[0].error.message, /possibly purged/);
  });

  it('requests clips one at a time, in order', async () => {
    let running = 0;
    let maxRunning = 0;
    const order: number[] = [];
    const recorder: ClipRequester = {
      requestClip: async (req) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 5));
        order.push(Number(req.startPtsNs) / S);
        running--;
        return { jobId: 'j', path: null };
      },
    };
    const stage = new ClipStage({ recorder });
    await Promise.all([1, 2, 3].map((s) => stage.submit({ startPtsNs: s * S, stopPtsNs: (s + 1) * S, events: [] })));
    assert.equal(maxRunning, 1);
    assert.deepEqual(order, [1, 2, 3]);
  });

  it('calls forceRotate first only when the clip reaches into the open segment; rotation failures are recorded', async () => {
    const events: string[] = [];
    const recorder: ClipRequester = {
      requestClip: async (req) => {
        events.push(`clip ${Number(req.stopPtsNs) / S}`);
        return { jobId: 'j', path: null };
      },
    };
    let openStart: number | null = 12 * S;
    let failRotate = false;
    const records: Array<ClipRecord | ClipErrorRecord> = [];
    const stage = new ClipStage({
      recorder,
      forceRotate: async () => {
        events.push('rotate');
        if (failRotate) throw new Error('rotate refused');
      },
      openSegmentStartPtsNs: () => openStart,
    });
    records.push(await stage.submit(clip)); // stop 14 > open start 12 → rotate
    openStart = 20 * S;
    records.push(await stage.submit(clip)); // stop 14 ≤ 20 → no rotate
    openStart = null;
    failRotate = true;
    records.push(await stage.submit(clip)); // unknown → rotate (fails, clip still requested)
    assert.deepEqual(events, ['rotate', 'clip 14', 'clip 14', 'rotate', 'clip 14']);
    assert.deepEqual(records.map((r) => [r.type, r.rotated, r.rotateError]),
      [['clip', true, null], ['clip', false, null], ['clip', true, 'rotate refused']]);
    // Without openSegmentStartPtsNs every clip is preceded by a rotation; without forceRotate none is.
    const noInfo = new ClipStage({ recorder, forceRotate: async () => { events.push('rotate2'); } });
    await noInfo.submit(clip);
    assert.deepEqual(events.slice(-2), ['rotate2', 'clip 14']);
  });

  it('stops retrying once its signal is aborted', async () => {
    const ac = new AbortController();
    const rec = new ScriptedRecorder([new ClipHttpError('down', null), new ClipHttpError('down', null), 'ok']);
    const stage = new ClipStage({
      recorder: rec, signal: ac.signal, retry: { maxAttempts: 5, baseDelayMs: 1 },
      sleep: async () => { ac.abort(); },
    });
    const out = await stage.submit(clip);
    assert.equal(out.type, 'clip_error');
    assert.equal(rec.calls.length, 1);
    assert.equal(out.attempts, 2);
  });

  it('accepts a Recorder-shaped object whose request type is the full ClipRequest (type-level check)', () => {
    interface FullClipRequest { startPtsNs?: number | bigint; stopPtsNs?: number | bigint; startMs?: number; stopMs?: number; label?: string; outDir?: string }
    interface FullClipResult { jobId: string; status: 'done'; mode: 'pts' | 'epoch'; path: string | null; raw: Record<string, unknown> }
    const recorderLike = {
      requestClip: async (_req: FullClipRequest, _opts: { signal?: AbortSignal } = {}): Promise<FullClipResult> =>
        ({ jobId: 'x', status: 'done', mode: 'pts', path: null, raw: {} }),
    };
    const stage = new ClipStage({ recorder: recorderLike });
    assert.ok(stage);
  });
});
