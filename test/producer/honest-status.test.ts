// What the producer says about itself, against a real producer recording testsrc: codecs named as
// ffprobe names them (/health, /segments); an epoch window before the producer's clock or its oldest
// footage is the seed's 409 `no segments overlap requested window (possibly purged)` (400 only for
// malformed windows), a window in a recorded gap is that 409 naming the gap's reason, a window reaching
// into the future still waits; and /health tells current trouble (`error`, while ingest is down) from past
// trouble (`last_error` with `last_error_at_ms`, kept after recovery) around an ffmpeg kill.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { HealthPayload } from '../../src/producer/health.js';
import { runOk, tempDir } from '../helpers/media.js';
import { getJson, postJson, segmentFile, startTestProducer, waitFor } from '../helpers/producer.js';
import { makeClip } from '../helpers/clips.js';

const NO_OVERLAP = 'no segments overlap requested window (possibly purged)';
const DAY_MS = 86_400_000;

interface Seg { path: string; start_pts_ns: number; stop_pts_ns: number; start_epoch_ms: number; stop_epoch_ms: number; sealed: boolean; fragments: number; codec: string }
interface Segments { segments: Seg[]; gaps: Array<{ start_pts_ns: number; stop_pts_ns: number; reason: string }> }
interface Sample { atMs: number; state: string; error: string | null; lastError: string | null; lastErrorAtMs: number | null }

describe('honest status', () => {
  const tmp = tempDir('segrec-honest-status-');
  const data = join(tmp.dir, 'data');
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  const health = async () => (await getJson<HealthPayload>(`${p.url}/health`)).body;
  const segments = async () => (await getJson<Segments>(`${p.url}/segments`)).body;
  const clip = (body: Record<string, unknown>) => postJson<{ ok: boolean; message: string; clip_id?: string }>(`${p.url}/clip`, body);

  before(async () => {
    p = await startTestProducer(data, { segmentSeconds: 1 });
    await waitFor('2 sealed segments', async () => (await segments()).segments.filter((s) => s.sealed).length >= 2);
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  test('/health and /segments name the codec as ffprobe does', async () => {
    const h = await health();
    const { segments: segs } = await segments();
    const probed = (await runOk('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0',
      segmentFile(data, segs[0])])).trim();
    assert.equal(probed, 'h264');
    assert.equal(h.ingest.codec, probed);
    for (const s of segs) assert.equal(s.codec, probed, s.path);
  });

  test('an epoch window before the producer clock or its oldest footage: 409 with the seed text; malformed ones stay 400', async () => {
    const now = Date.now();
    const tenDaysAgo = await clip({ start_epoch_ms: now - 10 * DAY_MS, stop_epoch_ms: now - 10 * DAY_MS + 5000 });
    assert.equal(tenDaysAgo.status, 409, tenDaysAgo.body.message);
    assert.deepEqual(tenDaysAgo.body, { ok: false, code: 'NO_FOOTAGE', message: NO_OVERLAP });

    const base = p.producer.clock.baseEpochMs;
    const beforeBase = await clip({ start_epoch_ms: base - 60_000, stop_epoch_ms: base - 1000 });
    assert.equal(beforeBase.status, 409, beforeBase.body.message);
    assert.equal(beforeBase.body.message, NO_OVERLAP);
    // Ending exactly at the clock's start: nothing lies before pts 0 either.
    const atBase = await clip({ start_epoch_ms: base - 5000, stop_epoch_ms: base });
    assert.equal(atBase.status, 409, atBase.body.message);

    const oldest = (await segments()).segments[0];
    // Before the oldest footage but after the clock began (only when the first fragment left room for it).
    if (oldest.start_epoch_ms - base > 50) {
      const early = await clip({ start_epoch_ms: base + 1, stop_epoch_ms: oldest.start_epoch_ms - 20 });
      assert.equal(early.status, 409, early.body.message);
      assert.equal(early.body.message, NO_OVERLAP);
    }

    for (const [body, re] of [
      [{ start_epoch_ms: now - 1000, stop_epoch_ms: now - 2000 }, /^stop_epoch_ms: must be greater/],
      [{ start_epoch_ms: 'yesterday', stop_epoch_ms: now }, /^start_epoch_ms: must be a finite number/],
      [{ start_epoch_ms: 9e14, stop_epoch_ms: 9e14 + 1000 }, /^stop_epoch_ms: too far/],
    ] as const) {
      const r = await clip(body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${r.body.message}`);
      assert.match(r.body.message, re);
    }
  });

  test('an epoch window reaching into the future still waits for its footage', async () => {
    const now = Date.now();
    const c = await makeClip(p.url, { start_epoch_ms: now - 500, stop_epoch_ms: now + 1500, max_wait_ms: 15_000 });
    assert.equal(c.status, 'done', String(c.error));
    assert.ok((c.frames ?? 0) > 0);
  });

  test('ffmpeg killed: /health `error` is set while ingest is down and null once it runs; last_error and last_error_at_ms stay', async () => {
    const calm = await health();
    assert.equal(calm.ingest.state, 'running');
    assert.equal(calm.ingest.error, null);
    assert.equal(calm.ingest.last_error, null);
    assert.equal(calm.ingest.last_error_at_ms, null);

    const samples: Sample[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const h = await health();
        samples.push({ atMs: Date.now(), state: h.ingest.state, error: h.ingest.error, lastError: h.ingest.last_error, lastErrorAtMs: h.ingest.last_error_at_ms });
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const endBefore = Math.max(...(await segments()).segments.map((s) => s.stop_pts_ns));
    const killedAt = Date.now();
    process.kill(p.producer.ingest.pid!, 'SIGKILL');
    await waitFor('footage after the kill', async () => (await segments()).segments.some((s) => s.start_pts_ns > endBefore && s.fragments > 0), 30_000, 50);
    watching = false;
    await watch;

    const down = samples.filter((s) => s.state !== 'running');
    assert.ok(down.length > 0, `a moment without ingest was seen: ${samples.map((s) => s.state).join(' → ')}`);
    for (const s of down) {
      assert.match(String(s.error), /SIGKILL/, `while ${s.state}, error says why`);
      assert.equal(s.lastError, s.error);
      assert.ok(s.lastErrorAtMs !== null && s.lastErrorAtMs >= killedAt && s.lastErrorAtMs <= s.atMs, `last_error_at_ms ${s.lastErrorAtMs}`);
    }
    const h = await health();
    assert.equal(h.ingest.state, 'running');
    assert.equal(h.ingest.error, null, 'no current trouble once ingest runs again');
    assert.match(String(h.ingest.last_error), /SIGKILL/, 'the past trouble is still there');
    assert.equal(h.ingest.last_error_at_ms, down[0].lastErrorAtMs, 'with the time it happened');
    assert.ok(h.ingest.last_error_at_ms! >= killedAt && h.ingest.last_error_at_ms! <= Date.now());
  });

  test('a window (pts or epoch) inside a recorded gap: 409 naming the gap and its reason', async () => {
    const restartGap = (t: Segments) => t.gaps.some((g) => /ingest restart/.test(g.reason));
    if (!restartGap(await segments())) {
      // Run on its own (the test above made one otherwise): kill ffmpeg for a gap.
      await waitFor('ingest running', async () => (await health()).ingest.state === 'running');
      process.kill(p.producer.ingest.pid!, 'SIGKILL');
    }
    const tl = await waitFor('the restart gap in /segments', async () => {
      const t = await segments();
      return restartGap(t) ? t : null;
    }, 30_000);
    const gap = tl.gaps.find((g) => /ingest restart/.test(g.reason))!;
    assert.match(gap.reason, /SIGKILL/);
    const expected = `${NO_OVERLAP}: it lies in a recorded gap (${gap.reason})`;
    const len = gap.stop_pts_ns - gap.start_pts_ns;
    assert.ok(len > 200_000_000, `the gap is long enough to aim into (${len} ns)`);

    const pts = await clip({ start_pts_ns: gap.start_pts_ns + Math.round(len / 4), stop_pts_ns: gap.stop_pts_ns - Math.round(len / 4) });
    assert.equal(pts.status, 409, pts.body.message);
    assert.equal(pts.body.message, expected);

    const before = tl.segments.find((s) => s.stop_pts_ns === gap.start_pts_ns)!;
    const afterGap = tl.segments.find((s) => s.start_pts_ns === gap.stop_pts_ns)!;
    assert.ok(before && afterGap, 'the gap lies between two segments');
    const e0 = before.stop_epoch_ms;
    const e1 = afterGap.start_epoch_ms;
    const epoch = await clip({ start_epoch_ms: e0 + (e1 - e0) / 4, stop_epoch_ms: e1 - (e1 - e0) / 4 });
    assert.equal(epoch.status, 409, epoch.body.message);
    assert.equal(epoch.body.message, expected);
  });
});
