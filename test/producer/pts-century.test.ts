// PTS past 2^53 ns, end to end: a data directory whose clock stands at 1, 10 and 100 years (generated
// history, then the producer recording on above it) answers with exact integer PTS (read here with the
// wire's bigint-aware JSON), takes them exactly in queries and clip requests (JSON integers of 19
// digits), and cuts frame-exact clips there: two adjacent windows hold exactly the frames of the whole
// window, none lost or repeated at the seam, even one nanosecond either side of a frame's time.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildHistory, type HistoryResult } from '../helpers/history.js';
import { probeFrames, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { segmentFile, startTestProducer, waitFor, waitForNewRun } from '../helpers/producer.js';
import { parseWireJson, stringifyWireJson } from '../../src/protocol/wire-json.js';

const YEAR_NS = 365n * 86_400n * 1_000_000_000n;
const SEC = 1_000_000_000n;

type Wire = Record<string, unknown>;
const big = (v: unknown): bigint => BigInt(v as number | bigint);

async function call(url: string, body?: unknown): Promise<{ status: number; body: Wire }> {
  const r = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: stringifyWireJson(body) });
  return { status: r.status, body: parseWireJson(await r.text()) as Wire };
}

async function clip(url: string, window: { start_pts_ns: bigint; stop_pts_ns: bigint } | { start_epoch_ms: number; stop_epoch_ms: number }): Promise<Wire> {
  const r = await call(`${url}/clip`, window);
  assert.equal(r.status, 202, shown(r.body));
  return waitFor('the clip', async () => {
    const g = await call(`${url}/clip/${String(r.body.clip_id)}?wait_ms=5000`);
    const c = g.body.clip as Wire;
    return c.status === 'done' || c.status === 'error' ? c : null;
  }, 30_000);
}

/**
 * The source frames of segments as (time, md5): time = segment start + the frame's offset in its file, in
 * whole ns rounded down from the exact tick time (for an integer bound x, t ≥ x exactly when ⌊t⌋ ≥ x).
 */
async function frames(dataDir: string, segs: Wire[]): Promise<Array<{ pts: bigint; md5: string }>> {
  const out: Array<{ pts: bigint; md5: string }> = [];
  for (const s of segs) {
    const file = segmentFile(dataDir, s as { path: string });
    const [probed, md5] = await Promise.all([probeFrames(file), videoFrameMd5s(file)]);
    const timescale = BigInt(Math.round(probed[1].pts / probed[1].ptsTime));
    probed.forEach((f, i) => out.push({ pts: big(s.start_pts_ns) + (BigInt(f.pts - probed[0].pts) * SEC) / timescale, md5: md5[i] }));
  }
  return out;
}

const shown = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x));

for (const years of [1n, 10n, 100n]) {
  describe(`a producer clock at ${years} year(s)`, () => {
    const tmp = tempDir();
    const dataDir = join(tmp.dir, 'data');
    const clockStart = years * YEAR_NS + 123_457n; // not a round number: every digit matters
    let h: HistoryResult;
    let p: Awaited<ReturnType<typeof startTestProducer>>;
    before(async () => {
      h = await buildHistory({ dataDir, days: 60 / 86_400, clockStartNs: clockStart, width: 160, height: 90 });
      p = await startTestProducer(dataDir);
    });
    after(async () => {
      await p?.close();
      tmp.cleanup();
    });

    test('/health and /segments answer exact PTS, and take them exactly', async () => {
      const health = (await call(`${p.url}/health`)).body;
      const segs = health.segments as Wire;
      assert.equal(segs.oldest_start_pts_ns, clockStart, 'the oldest footage, to the ns');
      assert.ok(big(health.pts_ns) >= big(h.stopPtsNs));
      // The segment that starts 20 s in, asked for from its first to its last nanosecond.
      const from = clockStart + 20n * SEC;
      const r = await call(`${p.url}/segments?from_pts_ns=${from}&to_pts_ns=${from + 1n}`);
      assert.equal(r.status, 200, shown(r.body));
      assert.deepEqual((r.body.segments as Wire[]).map((s) => s.start_pts_ns), [from]);
      const last = await call(`${p.url}/segments?from_pts_ns=${from - 1n}&to_pts_ns=${from}`);
      assert.deepEqual((last.body.segments as Wire[]).map((s) => s.stop_pts_ns), [from], 'the segment before ends exactly there');
      const bad = await call(`${p.url}/segments?from_pts_ns=9223372036854775808`);
      assert.equal(bad.status, 400, 'past 2^63 − 1 is refused');
      assert.match(String(bad.body.message), /^from_pts_ns: /);
    });

    test('adjacent clips tile the window exactly at a frame boundary, and 1 ns either side of it', async () => {
      const from = clockStart + 10n * SEC;
      const r = await call(`${p.url}/segments?from_pts_ns=${from}&to_pts_ns=${from + 20n * SEC}`);
      const segs = r.body.segments as Wire[];
      assert.equal(segs.length, 2);
      const src = await frames(dataDir, segs);
      const a = src[5].pts + 1n; // off a keyframe, between frames
      const b = src[src.length - 7].pts + 1n;
      const wanted = (x: bigint, y: bigint) => src.filter((f) => f.pts >= x && f.pts < y).map((f) => f.md5);
      const whole = await clip(p.url, { start_pts_ns: a, stop_pts_ns: b });
      assert.equal(whole.status, 'done', String(whole.error));
      const wholeMd5 = await videoFrameMd5s(String(whole.path));
      assert.deepEqual(wholeMd5, wanted(a, b), 'the whole window: exactly its source frames');
      assert.ok(typeof whole.actual_start_pts_ns === 'bigint' && whole.actual_start_pts_ns >= a);
      // Seams on a frame's own time (rounded to the ns as ffprobe gives it) and a nanosecond either side.
      const k = src.findIndex((f) => f.pts > a + 7n * SEC); // a frame in the second segment
      for (const seam of [src[k].pts - 1n, src[k].pts, src[k].pts + 1n, src[k].pts + 2n]) {
        const [left, right] = await Promise.all([clip(p.url, { start_pts_ns: a, stop_pts_ns: seam }), clip(p.url, { start_pts_ns: seam, stop_pts_ns: b })]);
        const [l, rr] = await Promise.all([videoFrameMd5s(String(left.path)), videoFrameMd5s(String(right.path))]);
        assert.deepEqual([...l, ...rr], wholeMd5, `seam at ${seam - src[k].pts} ns from a frame: no frame lost or repeated`);
        assert.equal(l.length + rr.length, wholeMd5.length);
        assert.ok(big(right.actual_start_pts_ns) >= seam && big(left.actual_stop_pts_ns) <= big(right.actual_start_pts_ns), 'the two clips meet, they do not overlap');
      }
    });

    test('the producer records on above the history, and clips what it records', async () => {
      // 3.5 s of the new run, whose start is some time after the history's end (a gap).
      const newest = (await waitForNewRun(p.url, big(h.stopPtsNs), 3_500_000_000n)).lastPtsNs;
      const c = await clip(p.url, { start_pts_ns: newest - 3n * SEC, stop_pts_ns: newest - 1n * SEC });
      assert.equal(c.status, 'done', String(c.error));
      assert.equal(c.frames, 30, '2 s at 15 fps');
      const probed = await probeFrames(String(c.path));
      assert.equal(probed.length, 30);
      // An epoch window maps onto the clock there too.
      const health = (await call(`${p.url}/health`)).body;
      const tb = health.timebase as Wire;
      const epochNow = Number(tb.base_epoch_ms);
      const e = await clip(p.url, { start_epoch_ms: epochNow - 3000, stop_epoch_ms: epochNow - 1000 });
      assert.equal(e.status, 'done', String(e.error));
      assert.ok(big(e.start_pts_ns) > clockStart && typeof e.start_pts_ns === 'bigint' === (big(e.start_pts_ns) > BigInt(Number.MAX_SAFE_INTEGER)));
    });
  });
}
