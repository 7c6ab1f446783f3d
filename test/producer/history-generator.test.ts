// The years-of-footage generator (test/helpers/history.ts) makes real footage, not just rows: a producer
// started on 2 hours of generated history trusts every segment as it finds it (nothing rescanned, adopted
// or dropped), lists them all, continuous, and cuts a frame-exact 10 s clip from the middle (the decoded
// frames are exactly the source frames of the window: ffmpeg as the oracle). And PTS beyond 2^53 are
// written exactly.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { buildHistory, type HistoryResult } from '../helpers/history.js';
import { decodeErrors, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { getJson, segmentFile, startTestProducer, waitFor, type SegmentsWire } from '../helpers/producer.js';
import { framesIn, makeClip, sourceFrames } from '../helpers/clips.js';

const FRAME_NS = 1e9 / 15;

describe('generated history (2 hours) under a real producer', () => {
  const tmp = tempDir();
  const dataDir = join(tmp.dir, 'data');
  let h: HistoryResult;
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  before(async () => {
    h = await buildHistory({ dataDir, days: 2 / 24 });
    p = await startTestProducer(dataDir);
  });
  after(async () => {
    await p?.close();
    tmp.cleanup();
  });

  test('the directory is laid out as the producer lays it out', () => {
    assert.equal(h.segments, 720);
    assert.equal(h.fragments, 7200);
    assert.equal(h.startPtsNs, '0');
    assert.equal(h.stopPtsNs, String(720 * 10e9));
    // The newest footage ends about when it was built (retention by age makes sense).
    assert.ok(Math.abs(h.stopEpochMs - Date.now()) < 120_000, `history ends at ${new Date(h.stopEpochMs).toISOString()}`);
    assert.equal(h.clockBaseEpochMs, Math.round(h.stopEpochMs - 720 * 10e3));
  });

  test('the producer trusts every generated segment as it is (nothing rescanned, adopted, dropped)', () => {
    const r = p.producer.recovery;
    assert.deepEqual({ rescanned: r.rescanned, adopted: r.adopted, dropped: r.droppedRows, corrupt: r.corrupt, open: r.recoveredOpen },
      { rescanned: 0, adopted: 0, dropped: 0, corrupt: [], open: 0 });
  });

  test('GET /segments lists all 720, sealed and continuous, each a hard link to a real file of its size', async () => {
    const r = await getJson<SegmentsWire>(`${p.url}/segments?from_pts_ns=0&to_pts_ns=${h.stopPtsNs}&limit=100000`);
    assert.equal(r.status, 200);
    const segs = r.body.segments;
    assert.equal(segs.length, 720);
    assert.deepEqual(r.body.gaps, []);
    for (let i = 0; i < segs.length; i++) {
      assert.equal(segs[i].start_pts_ns, i * 10e9);
      assert.equal(segs[i].stop_pts_ns, (i + 1) * 10e9, 'each segment ends where the next begins');
      assert.equal(segs[i].sealed, true);
      assert.equal(segs[i].fragments, 10);
      assert.equal(segs[i].frames, 150);
      assert.match(segs[i].path, /^\d{4}-\d{2}-\d{2}\/\d+\.mp4$/);
    }
    const st = statSync(segmentFile(dataDir, segs[360]));
    assert.equal(st.size, segs[360].bytes);
    assert.ok(st.nlink > 100, `segment files are hard links (${st.nlink} links)`);
  });

  test('the producer records on after the history, above its newest PTS', async () => {
    const health = await waitFor('a fragment recorded after the history', async () => {
      const b = (await getJson<{ segments: { newest_stop_pts_ns: number | null; count: number } }>(`${p.url}/health`)).body;
      return (b.segments.newest_stop_pts_ns ?? 0) > Number(h.stopPtsNs) ? b : null;
    }, 30_000);
    assert.ok(health.segments.count >= 720);
  });

  test('a 10 s clip from the middle of the history is frame-exact', async () => {
    const r = await getJson<SegmentsWire>(`${p.url}/segments?from_pts_ns=${360 * 10e9}&to_pts_ns=${362 * 10e9}`);
    const segs = r.body.segments;
    assert.equal(segs.length, 2);
    const frames = await sourceFrames(dataDir, segs);
    // Off a keyframe at both ends, across the boundary between two segments (two different source files).
    const start = segs[0].start_pts_ns + 3.5 * FRAME_NS;
    const stop = start + 10e9;
    const clip = await makeClip(p.url, { start_pts_ns: Math.round(start), stop_pts_ns: Math.round(stop), label: 'history' });
    assert.equal(clip.status, 'done', String(clip.error));
    const expected = framesIn(frames, start, stop);
    assert.equal(expected.length, 150);
    assert.equal(clip.frames, 150);
    assert.deepEqual(await videoFrameMd5s(clip.path!), expected.map((f) => f.md5), 'decoded frames are exactly the window\'s source frames');
    assert.equal(clip.segments.length, 2);
    assert.equal(await decodeErrors(clip.path!), '');
  });
});

describe('generated history with a clock beyond 2^53 ns', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  test('PTS, offsets and file names are exact integers (110 days and 100 years of clock)', async () => {
    for (const clockStartNs of [110n * 86_400n * 10n ** 9n + 7n, 100n * 365n * 86_400n * 10n ** 9n + 123n]) {
      const dataDir = join(tmp.dir, String(clockStartNs));
      const h = await buildHistory({ dataDir, days: 60 / 86_400, clockStartNs, width: 160, height: 90, jobs: 3 });
      assert.equal(h.segments, 6);
      assert.equal(BigInt(h.stopPtsNs), clockStartNs + 60n * 10n ** 9n);
      const db = new Database(join(dataDir, 'index.sqlite'), { readonly: true });
      try {
        db.defaultSafeIntegers(true);
        const segs = db.prepare<[], { id: bigint; path: string; start_pts_ns: bigint; stop_pts_ns: bigint; anchor_pts_ns: bigint }>('SELECT * FROM segments ORDER BY id').all();
        segs.forEach((s, i) => {
          const start = clockStartNs + BigInt(i) * 10n ** 10n;
          assert.equal(s.start_pts_ns, start);
          assert.equal(s.anchor_pts_ns, start);
          assert.equal(s.stop_pts_ns, start + 10n ** 10n);
          assert.ok(s.path.endsWith(`/${start}.mp4`), s.path);
          assert.ok(statSync(join(dataDir, 'segments', s.path)).isFile());
        });
        const f = db.prepare<[], { seq: bigint; start_pts_ns: bigint; stop_pts_ns: bigint }>('SELECT * FROM fragments WHERE segment_id = 4 ORDER BY seq').all();
        assert.equal(f.length, 10);
        f.forEach((x, j) => {
          assert.equal(x.start_pts_ns, clockStartNs + 3n * 10n ** 10n + BigInt(j) * 10n ** 9n);
          assert.equal(x.stop_pts_ns, x.start_pts_ns + 10n ** 9n);
        });
        assert.equal(db.prepare<[], { n: bigint }>("SELECT COUNT(*) AS n FROM jobs WHERE status = 'done'").get()!.n, 3n);
      } finally {
        db.close();
      }
    }
  });
});
