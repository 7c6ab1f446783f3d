// GET /recording.mp4 (issue 12), for real: recorded footage of a window as an MP4 made on the fly. Its
// frames are exactly the recording's frames in the window (the MD5 oracle of clips); its bytes are the
// same on every request, and the same as a clip of that window (one cut, written or not); Range,
// If-Range, If-None-Match and HEAD answer as HTTP says, each range's bytes those of the whole file; a
// window across an ingest restart plays the footage on both sides and names the gap in X-Segrec-Gaps;
// windows are validated like clips'; the segments being read are pinned against retention; moofs read
// once (of sealed segments and of the one being written) serve later windows exactly.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeErrors, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { getJson, listSegments, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { framesIn, makeClip, sourceFrames, type SourceFrame } from '../helpers/clips.js';
import { PinSet } from '../../src/producer/segments/retention.js';

const FRAME_NS = 1e9 / 15;

describe('GET /recording.mp4: recorded footage of any window, made on the fly', () => {
  const tmp = tempDir();
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  let segs: SegmentWire[];
  let frames: SourceFrame[];
  before(async () => {
    p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
    segs = await waitFor('5 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 5 ? s.slice(0, 5) : null;
    }, 30_000);
    frames = await sourceFrames(tmp.dir, segs);
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetch(`${p.url}${path}`, { headers, method });
  const bytesOf = async (r: Response) => Buffer.from(await r.arrayBuffer());

  test('its frames are the window\'s recorded frames; the same bytes every time, and the same as a clip of the window', async () => {
    const startNs = Math.round(segs[1].start_pts_ns + 4.5 * FRAME_NS);
    const stopNs = Math.round(segs[3].start_pts_ns + 7.5 * FRAME_NS);
    const q = `start_pts_ns=${startNs}&stop_pts_ns=${stopNs}`;
    const r = await get(`/recording.mp4?${q}`);
    assert.equal(r.status, 200);
    const body = await bytesOf(r);
    assert.equal(r.headers.get('content-type'), 'video/mp4');
    assert.equal(r.headers.get('accept-ranges'), 'bytes');
    assert.equal(Number(r.headers.get('content-length')), body.length);
    const etag = r.headers.get('etag')!;
    assert.match(etag, /^"[A-Za-z0-9_-]{16,}"$/, 'a strong ETag');
    const want = framesIn(frames, startNs, stopNs);
    assert.ok(want.length >= 25, `${want.length} frames in the window`);
    const file = join(tmp.dir, 'view.mp4');
    writeFileSync(file, body);
    assert.deepEqual(await videoFrameMd5s(file), want.map((f) => f.md5), 'decoded frames are exactly the recording\'s frames in the window');
    assert.equal(await decodeErrors(file), '');
    assert.equal(Number(r.headers.get('x-segrec-frames')), want.length);
    assert.ok(Math.abs(Number(r.headers.get('x-segrec-actual-start-pts-ns')) - want[0].ptsNs) < 1000, 'actual start is the first frame in the window');
    assert.deepEqual(JSON.parse(r.headers.get('x-segrec-gaps')!), []);
    assert.equal(r.headers.get('x-segrec-partial'), 'false');

    const again = await get(`/cameras/${p.producer.name}/recording.mp4?${q}`);
    assert.equal(again.headers.get('etag'), etag, 'same footage, same ETag (bare path and camera path alike)');
    assert.ok((await bytesOf(again)).equals(body), 'byte-identical across requests');

    const clip = await makeClip(p.url, { start_pts_ns: startNs, stop_pts_ns: stopNs });
    assert.equal(clip.status, 'done');
    assert.ok(readFileSync(clip.path!).equals(body), 'byte-identical to a clip of the same window');

    // Another window is another file.
    const other = await get(`/recording.mp4?start_pts_ns=${startNs}&stop_pts_ns=${stopNs - Math.round(FRAME_NS)}`);
    await other.arrayBuffer();
    assert.notEqual(other.headers.get('etag'), etag);
  });

  test('Range, If-Range, If-None-Match and HEAD', async () => {
    const q = `/recording.mp4?start_pts_ns=${segs[0].start_pts_ns}&stop_pts_ns=${segs[4].stop_pts_ns}`;
    const full = await get(q);
    const all = await bytesOf(full);
    const etag = full.headers.get('etag')!;
    const size = all.length;
    const cases: Array<[string, number, number]> = [
      ['bytes=0-99', 0, 99], ['bytes=1000-200000', 1000, Math.min(200000, size - 1)], [`bytes=-500`, size - 500, size - 1],
      [`bytes=${size - 10}-`, size - 10, size - 1], [`bytes=${Math.floor(size / 2)}-${size + 1000}`, Math.floor(size / 2), size - 1],
    ];
    for (const [range, a, b] of cases) {
      const r = await get(q, { range });
      assert.equal(r.status, 206, range);
      assert.equal(r.headers.get('content-range'), `bytes ${a}-${b}/${size}`, range);
      assert.equal(Number(r.headers.get('content-length')), b - a + 1, range);
      assert.ok((await bytesOf(r)).equals(all.subarray(a, b + 1)), `${range}: the bytes of the whole file`);
    }
    const ifRange = await get(q, { range: 'bytes=10-19', 'if-range': etag });
    assert.equal(ifRange.status, 206);
    assert.ok((await bytesOf(ifRange)).equals(all.subarray(10, 20)));
    const stale = await get(q, { range: 'bytes=10-19', 'if-range': '"something-else"' });
    assert.equal(stale.status, 200, 'If-Range with another ETag: the whole file');
    assert.equal((await bytesOf(stale)).length, size);
    const notModified = await get(q, { 'if-none-match': etag });
    assert.equal(notModified.status, 304);
    assert.equal((await bytesOf(notModified)).length, 0);
    const bad = await get(q, { range: `bytes=${size}-` });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), `bytes */${size}`);
    assert.equal(((await bad.json()) as { code: string }).code, 'RANGE_NOT_SATISFIABLE');
    const head = await get(q, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), size);
    assert.equal(head.headers.get('etag'), etag);
    assert.equal(head.headers.get('x-segrec-frames'), full.headers.get('x-segrec-frames'));
    assert.equal((await bytesOf(head)).length, 0);
    const dl = await get(`${q}&download=1`, {}, 'HEAD');
    assert.match(dl.headers.get('content-disposition') ?? '', /^attachment; filename="[a-z0-9_-]+-\d+-\d+\.mp4"$/);
  });

  test('an epoch-ms window plays the same footage as a clip of that window', async () => {
    const s = segs[2] as SegmentWire & { start_epoch_ms: number };
    const q = `start_epoch_ms=${s.start_epoch_ms + 200}&stop_epoch_ms=${s.start_epoch_ms + 1700}`;
    const r = await get(`/recording.mp4?${q}`);
    assert.equal(r.status, 200);
    const body = await bytesOf(r);
    const clip = await makeClip(p.url, { start_epoch_ms: s.start_epoch_ms + 200, stop_epoch_ms: s.start_epoch_ms + 1700 });
    assert.equal(clip.status, 'done');
    assert.ok(readFileSync(clip.path!).equals(body), 'the same mapping and cut as the clip');
    assert.equal(Number(r.headers.get('x-segrec-frames')), clip.frames);
  });

  test('windows are validated as clips\' are: 400 naming the field, 409 without footage', async () => {
    const s0 = segs[0].start_pts_ns;
    const cases: Array<[string, number, RegExp]> = [
      ['', 400, /^start_pts_ns: a window is required/],
      [`start_pts_ns=${s0}`, 400, /^stop_pts_ns: required/],
      [`start_pts_ns=${s0}&stop_pts_ns=${s0}`, 400, /^stop_pts_ns: must be greater/],
      [`start_pts_ns=${s0}&stop_pts_ns=${s0 + 3601e9}`, 400, /^stop_pts_ns: window longer than 3600 s/],
      ['start_pts_ns=abc&stop_pts_ns=5', 400, /^start_pts_ns: must be an integer/],
      ['start_epoch_ms=1e12&stop_epoch_ms=2', 400, /^start_epoch_ms: must be a number/],
      ['start_epoch_ms=5', 400, /^stop_epoch_ms: required/],
      ['start_pts_ns=1&stop_pts_ns=2&download=maybe', 400, /^download: must be/],
      [`start_pts_ns=${s0 + 9e12}&stop_pts_ns=${s0 + 9.001e12}`, 409, /no segments overlap/],
    ];
    for (const [q, status, message] of cases) {
      const r = await getJson<{ ok: boolean; code: string; message: string }>(`${p.url}/recording.mp4?${q}`);
      assert.equal(r.status, status, q);
      assert.equal(r.body.ok, false);
      assert.equal(r.body.code, status === 409 ? 'NO_FOOTAGE' : 'INVALID_FIELD', q);
      assert.match(r.body.message, message, q);
    }
    assert.equal((await get(`/cameras/nope/recording.mp4?start_pts_ns=1&stop_pts_ns=2`)).status, 404);
  });

  test('a window across an ingest restart: the footage on both sides, the gap in X-Segrec-Gaps', async () => {
    const before = (await listSegments(p.url)).segments;
    const lastStop = before[before.length - 1].stop_pts_ns;
    process.kill(p.producer.ingest.pid!, 'SIGKILL');
    const after = await waitFor('footage after the restart', async () => {
      const s = await listSegments(p.url);
      return s.gaps.some((g) => g.start_pts_ns >= lastStop - 2e9) && s.segments.some((x) => x.sealed && x.start_pts_ns > lastStop) ? s : null;
    }, 30_000, 200);
    const gap = after.gaps[after.gaps.length - 1];
    const startNs = gap.start_pts_ns - 1e9;
    const stopNs = gap.stop_pts_ns + 1e9;
    const r = await get(`/cameras/${p.producer.name}/recording.mp4?start_pts_ns=${startNs}&stop_pts_ns=${stopNs}`);
    assert.equal(r.status, 200);
    const body = await bytesOf(r);
    const gaps = JSON.parse(r.headers.get('x-segrec-gaps')!) as Array<{ start_pts_ns: number; stop_pts_ns: number }>;
    assert.equal(Number(r.headers.get('x-segrec-gap-count')), gaps.length);
    assert.ok(gaps.some((g) => g.start_pts_ns <= gap.start_pts_ns + 1e6 && g.stop_pts_ns >= gap.stop_pts_ns - 1e6), `the restart's gap is named: ${JSON.stringify(gaps)} vs ${JSON.stringify(gap)}`);
    const around = after.segments.filter((x) => x.sealed && x.stop_pts_ns > startNs && x.start_pts_ns < stopNs);
    const want = framesIn(await sourceFrames(tmp.dir, around), startNs, stopNs);
    const file = join(tmp.dir, 'gap.mp4');
    writeFileSync(file, body);
    assert.deepEqual(await videoFrameMd5s(file), want.map((f) => f.md5), 'the frames before and after the gap, none invented');
    const clip = await makeClip(p.url, { start_pts_ns: startNs, stop_pts_ns: stopNs });
    assert.ok(readFileSync(clip.path!).equals(body), 'as a clip of the window handles the gap');
    assert.equal(gaps.length, clip.gaps.length);
  });

  test('a window asked again is the same file until its footage changes (a segment removed: new bytes, new ETag)', async () => {
    const startNs = segs[1].start_pts_ns;
    const stopNs = segs[3].stop_pts_ns;
    const q = `/recording.mp4?start_pts_ns=${startNs}&stop_pts_ns=${stopNs}`;
    const first = await get(q);
    const body = await bytesOf(first);
    const again = await get(q);
    assert.equal(again.headers.get('etag'), first.headers.get('etag'));
    assert.ok((await bytesOf(again)).equals(body));
    // As retention (or the background check finding its file gone) would: the middle segment leaves the index.
    p.producer.index.deleteSegment(segs[2].id);
    const after = await get(q);
    const changed = await bytesOf(after);
    assert.notEqual(after.headers.get('etag'), first.headers.get('etag'), 'other footage, another ETag');
    const file = join(tmp.dir, 'after-removal.mp4');
    writeFileSync(file, changed);
    const want = framesIn(frames, startNs, stopNs).filter((f) => f.segment !== segs[2].id);
    assert.deepEqual(await videoFrameMd5s(file), want.map((f) => f.md5), 'the removed segment\'s frames are gone, the rest exact');
    assert.equal(Number(after.headers.get('x-segrec-gap-count')), 1, 'where it was is a gap');
    // An If-Range naming the old ETag gets the whole new file, not a piece of it spliced onto the old one.
    const stale = await get(q, { range: 'bytes=0-99', 'if-range': first.headers.get('etag')! });
    assert.equal(stale.status, 200);
    assert.equal((await bytesOf(stale)).length, changed.length);
  });

  test('moofs read once are reused for other windows of the same sealed segment, whose file is still checked at every read (and verified once found changed)', async () => {
    const s = segs[4];
    const win = (a: number, b: number) => `/recording.mp4?start_pts_ns=${Math.round(s.start_pts_ns + a * FRAME_NS)}&stop_pts_ns=${Math.round(s.start_pts_ns + b * FRAME_NS)}`;
    const first = await get(win(1.5, 10.5));
    assert.equal(first.status, 200);
    // Another window of it (its moofs from the cache): still exactly its frames.
    const second = await get(win(2.5, 12.5));
    assert.equal(second.status, 200);
    const file = join(tmp.dir, 'cached-moofs.mp4');
    writeFileSync(file, await bytesOf(second));
    const want = framesIn(frames, s.start_pts_ns + 2.5 * FRAME_NS, s.start_pts_ns + 12.5 * FRAME_NS);
    assert.deepEqual(await videoFrameMd5s(file), want.map((f) => f.md5));
    // The sealed file written to since (its mtime moved): a third window fails by name instead of
    // trusting what was read of it before.
    const path = join(tmp.dir, 'segments', s.path);
    const st = statSync(path);
    utimesSync(path, st.atime, new Date(st.mtimeMs + 5000));
    const win3 = { start_pts_ns: Math.round(s.start_pts_ns + 3.5 * FRAME_NS), stop_pts_ns: Math.round(s.start_pts_ns + 9.5 * FRAME_NS) };
    const clip = await makeClip(p.url, win3);
    assert.equal(clip.status, 'error');
    assert.match(String(clip.error), /changed on disk after it was sealed.*being verified/);
    // Only touched: the verification it asked for finds every fragment intact and seals the row again
    // with the new mtime, so the window clips again, exactly.
    const again = await waitFor('the touched segment verified', async () => {
      const c = await makeClip(p.url, win3);
      return c.status === 'done' ? c : null;
    }, 10_000);
    assert.deepEqual(await videoFrameMd5s(again.path!), framesIn(frames, win3.start_pts_ns, win3.stop_pts_ns).map((f) => f.md5));
  });
});

test('clips of the segment being written reuse its moofs read before: each exact, before and after it is sealed', async () => {
  const tmp = tempDir();
  const p = await startTestProducer(tmp.dir, { segmentSeconds: 8 });
  try {
    // The open segment, once it holds 2 s.
    const open = await waitFor('an open segment (not the first) with 2 s of fragments', async () => {
      const all = (await listSegments(p.url)).segments;
      return all.find((x) => !x.sealed && x.fragments >= 2 && x.id !== all[0].id) ?? null;
    }, 30_000);
    const at = (frames: number) => Math.round(open.start_pts_ns + frames * FRAME_NS);
    const first = await makeClip(p.url, { start_pts_ns: at(3.5), stop_pts_ns: at(20.5) });
    // Fragments written since: the second clip reads those, and takes the first ones from the cache.
    const second = await makeClip(p.url, { start_pts_ns: at(5.5), stop_pts_ns: at(50.5) });
    const sealed = await waitFor('that segment sealed', async () => (await listSegments(p.url)).segments.find((x) => x.id === open.id && x.sealed) ?? null, 30_000);
    // Sealed now (its row's bytes and mtime set): read afresh, not from what was cached of it open.
    const third = await makeClip(p.url, { start_pts_ns: at(4.5), stop_pts_ns: at(60.5) });
    const frames = await sourceFrames(tmp.dir, [sealed]);
    for (const [clip, a, b] of [[first, 3.5, 20.5], [second, 5.5, 50.5], [third, 4.5, 60.5]] as const) {
      assert.equal(clip.status, 'done', String(clip.error));
      const want = framesIn(frames, at(a), at(b));
      assert.deepEqual(await videoFrameMd5s(clip.path!), want.map((f) => f.md5), `clip of frames ${a}..${b}: exactly the recorded frames`);
    }
  } finally {
    await p.close();
    tmp.cleanup();
  }
});

test('the segments a view reads are pinned until it is released', async () => {
  const { RecordingViews } = await import('../../src/producer/clips/recording-view.js');
  const pins = new PinSet();
  const rows = [{ row: { id: 7 }, fragments: [] }, { row: { id: 9 }, fragments: [] }];
  const views = new RecordingViews({
    catalog: { clipFragments: () => rows as never, overlapping: () => [] },
    pins, place: { segmentsDir: '/nonexistent', store: null },
  });
  // The files do not exist: the cut fails, and the pins it took are released with the error.
  await assert.rejects(() => views.open(0n, 1_000_000_000n));
  assert.equal(pins.has(7) || pins.has(9), false, 'a failed open leaves nothing pinned');
});
