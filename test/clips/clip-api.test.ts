// The clip API's contract against a real producer: 202/200 shapes, 409 for purged/past windows, 404,
// a 400 naming the field for every invalid body, path escapes refused (symlinks included), names never
// overwritten, sidecars, GET /clips, and GET /clip/{id}/file with HTTP Range.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { tempDir } from '../helpers/media.js';
import { getJson, listSegments, postJson, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { makeClip } from '../helpers/clips.js';
import { TEMP_PREFIX } from '../../src/producer/clips/output-paths.js';
import type { JobWaiters } from '../../src/producer/clips/job-waiters.js';

describe('clip API', () => {
  const tmp = tempDir();
  const data = join(tmp.dir, 'data');
  const outside = join(tmp.dir, 'outside');
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  let segs: SegmentWire[];
  before(async () => {
    mkdirSync(outside);
    p = await startTestProducer(data, { segmentSeconds: 1 });
    segs = await waitFor('2 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 2 ? s : null;
    });
  });
  after(async () => {
    await p.close();
    tmp.cleanup();
  });

  const win = () => ({ start_pts_ns: segs[0].start_pts_ns + 100_000_000, stop_pts_ns: segs[0].start_pts_ns + 600_000_000 });

  test('POST answers 202 with the clip id; GET answers the nested shape with the actual window; a sidecar is written', async () => {
    const r = await postJson<{ ok: boolean; clip_id: string; status: string }>(`${p.url}/clip`, { ...win(), label: 'door opened!' });
    assert.equal(r.status, 202);
    assert.equal(r.body.ok, true);
    assert.match(r.body.clip_id, /^clip-\d{16}$/);
    assert.equal(r.body.status, 'queued');
    const g = await getJson<{ ok: boolean; clip: Record<string, unknown>; message: unknown }>(`${p.url}/clip/${r.body.clip_id}?wait_ms=10000`);
    assert.equal(g.status, 200);
    const c = g.body.clip;
    assert.equal(c.status, 'done');
    for (const k of ['clip_id', 'status', 'path', 'label', 'start_pts_ns', 'stop_pts_ns', 'actual_start_pts_ns', 'actual_stop_pts_ns',
      'lead_in_ms', 'duration_ms', 'frames', 'bytes', 'segments', 'gaps', 'partial', 'error']) {
      assert.ok(k in c, `clip.${k} present`);
    }
    assert.equal(g.body.message, null);
    // The long-poll answered before the job's row was written, from the record it gets: the next request reads that row.
    const listed = await getJson<{ clips: Array<Record<string, unknown>> }>(`${p.url}/clips?limit=1`);
    assert.deepEqual(listed.body.clips[0], { ...c, camera: 'default' }, 'the job as its row holds it is what the long-poll answered');
    const path = c.path as string;
    assert.ok(path.startsWith(join(data, 'clips')), 'default clip root is DATA/clips');
    assert.match(path, /door_opened/, 'the label (made safe) is part of the default name');
    assert.equal(statSync(path).size, c.bytes);
    const sidecar = JSON.parse(readFileSync(path.replace(/\.mp4$/, '.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(sidecar.clip_id, r.body.clip_id);
    assert.equal(sidecar.actual_start_pts_ns, c.actual_start_pts_ns);
    assert.equal(sidecar.frames, c.frames);
    assert.deepEqual(sidecar.gaps, []);
    assert.equal((sidecar.request as Record<string, unknown>).start_pts_ns, win().start_pts_ns);
  });

  test("a clip's first bytes go to the disk before its job row is written and the 202 sent; a row that cannot be written refuses the request and publishes nothing", async () => {
    const engine = p.producer.clipEngine!;
    const store = engine.store;
    const clipDir = p.producer.options.clipRoots[0];
    const insert = store.insert;
    const atInsert: string[][] = [];
    store.insert = (job) => {
      atInsert.push(readdirSync(clipDir).filter((n) => n.startsWith(TEMP_PREFIX) && n.includes(job.clipId)).sort());
      insert.call(store, job);
    };
    try {
      const r = await postJson<{ clip_id: string; status: string }>(`${p.url}/clip`, win());
      assert.deepEqual([r.status, r.body.status], [202, 'queued']);
      // (Its sidecar's temp file is being made by the thread pool meanwhile: there or not yet.)
      assert.equal(atInsert.length, 1);
      assert.ok(atInsert[0].includes(`${TEMP_PREFIX}${r.body.clip_id}.mp4.tmp`), `the clip was being written when its row was: ${atInsert[0].join(', ')}`);
      const done = await getJson<{ clip: { status: string; path: string } }>(`${p.url}/clip/${r.body.clip_id}?wait_ms=10000`);
      assert.equal(done.body.clip.status, 'done');
      assert.ok(existsSync(done.body.clip.path));

      const before = readdirSync(clipDir).sort();
      store.insert = () => { throw new Error('disk I/O error (injected)'); };
      const refused = await postJson<{ ok: boolean; code: string }>(`${p.url}/clip`, win());
      assert.equal(refused.status, 500);
      assert.equal(refused.body.ok, false);
      await waitFor('the refused job to stop', () => engine.counts().running === 0 && engine.counts().queued === 0);
      await waitFor('its temp files to go', () => readdirSync(clipDir).every((n) => !n.startsWith(TEMP_PREFIX)));
      assert.deepEqual(readdirSync(clipDir).sort(), before, 'nothing published, nothing left');
    } finally {
      store.insert = insert;
    }
    const after = await postJson<{ clip_id: string }>(`${p.url}/clip`, win());
    const g = await getJson<{ clip: { status: string } }>(`${p.url}/clip/${after.body.clip_id}?wait_ms=10000`);
    assert.equal(g.body.clip.status, 'done', 'the next request is served as ever');
  });

  test('409 for a window wholly in the past that no segment overlaps', async () => {
    const r = await postJson<{ ok: boolean; message: string }>(`${p.url}/clip`, { start_pts_ns: 1, stop_pts_ns: 1000 });
    assert.equal(r.status, 409);
    assert.equal(r.body.ok, false);
    assert.equal(r.body.message, 'no segments overlap requested window (possibly purged)');
  });

  test('404 for unknown and malformed clip ids', async () => {
    for (const id of ['clip-0000000099999999', 'nope', '..%2F..%2Fetc', 'clip-1']) {
      const r = await getJson<{ ok: boolean; message: string }>(`${p.url}/clip/${id}`);
      assert.equal(r.status, 404, id);
      assert.equal(r.body.ok, false);
      assert.match(r.body.message, /clip_id/);
    }
    assert.equal((await getJson(`${p.url}/clip/clip-0000000099999999/file`)).status, 404);
  });

  test('every invalid body is a 400 that names the field', async () => {
    const w = win();
    const cases: Array<[unknown, RegExp]> = [
      [{}, /start_pts_ns/],
      [[], /body/],
      ['"text"', /body/],
      ['{"start_pts_ns": 1,', /body: malformed JSON/],
      [{ start_pts_ns: 'abc', stop_pts_ns: 5 }, /start_pts_ns: must be an integer/],
      [{ start_pts_ns: '12', stop_pts_ns: '9223372036854775808' }, /stop_pts_ns: must be at most 9223372036854775807/],
      [{ start_pts_ns: '-12', stop_pts_ns: 5 }, /start_pts_ns: must not be negative/],
      [{ start_pts_ns: 1.5, stop_pts_ns: 5 }, /start_pts_ns: must be an integer/],
      [{ start_pts_ns: -5, stop_pts_ns: 5 }, /start_pts_ns: must not be negative/],
      [{ start_pts_ns: 2 ** 63, stop_pts_ns: 2 ** 64 }, /start_pts_ns: must be at most/],
      [{ start_pts_ns: 10 }, /stop_pts_ns: required/],
      [{ stop_pts_ns: 10 }, /start_pts_ns: required/],
      [{ start_pts_ns: 10, stop_pts_ns: 10 }, /stop_pts_ns: must be greater/],
      [{ start_epoch_ms: 5, stop_epoch_ms: 4 }, /stop_epoch_ms: must be greater/],
      [{ start_epoch_ms: 'now', stop_epoch_ms: 4 }, /start_epoch_ms: must be a finite number/],
      [{ start_pts_ns: 0, stop_pts_ns: 4000e9 }, /stop_pts_ns: window longer/],
      [{ start_epoch_ms: 9e14, stop_epoch_ms: 9e14 + 1000 }, /stop_epoch_ms: too far/],
      [{ ...w, label: 5 }, /label: must be a string/],
      [{ ...w, label: 'x'.repeat(201) }, /label: longer than/],
      [{ ...w, max_wait_ms: -1 }, /max_wait_ms/],
      [{ ...w, max_wait_ms: 1e9 }, /max_wait_ms: must be at most/],
      [{ ...w, filename: 'a/b.mp4' }, /filename: must be a plain name/],
      [{ ...w, filename: '..\\x.mp4' }, /filename/],
      [{ ...w, filename: '.hidden.mp4' }, /filename: must not start with a dot/],
      [{ ...w, filename: 'clip.mov' }, /filename: must end in \.mp4/],
      [{ ...w, out_dir: outside }, /out_dir: must lie inside a clip root/],
      [{ ...w, out_dir: '../../..' }, /out_dir: must lie inside a clip root/],
      [{ ...w, surprise: 1 }, /surprise: unknown field/],
    ];
    for (const [body, re] of cases) {
      const r = await postJson<{ ok: boolean; message: string }>(`${p.url}/clip`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${r.body.message}`);
      assert.equal(r.body.ok, false);
      assert.match(r.body.message, re, JSON.stringify(body));
    }
    const big = await postJson<{ message: string }>(`${p.url}/clip`, JSON.stringify({ ...w, label: 'x'.repeat(200_000) }));
    assert.equal(big.status, 413);
    assert.ok(readdirSync(outside).length === 0, 'nothing was written outside the clip roots');
  });

  test('an out_dir symlink inside the root that points outside it is refused', async () => {
    const link = join(data, 'clips', 'sneaky');
    symlinkSync(outside, link);
    const r = await postJson<{ message: string }>(`${p.url}/clip`, { ...win(), out_dir: 'sneaky' });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /out_dir/);
    const r2 = await postJson<{ message: string }>(`${p.url}/clip`, { ...win(), out_dir: join(link, 'deeper') });
    assert.equal(r2.status, 400);
    assert.equal(readdirSync(outside).length, 0);
  });

  test('out_dir inside the root (created when missing) and a chosen filename; an existing file is never overwritten', async () => {
    const a = await makeClip(p.url, { ...win(), out_dir: 'events/cam1', filename: 'same.mp4' });
    const b = await makeClip(p.url, { ...win(), out_dir: 'events/cam1', filename: 'same.mp4' });
    assert.equal(a.status, 'done');
    assert.equal(b.status, 'done');
    assert.equal(a.path, join(data, 'clips', 'events', 'cam1', 'same.mp4'));
    assert.equal(b.path, join(data, 'clips', 'events', 'cam1', 'same-1.mp4'));
    assert.ok(existsSync(a.path!) && existsSync(b.path!));
    assert.ok(existsSync(join(data, 'clips', 'events', 'cam1', 'same-1.json')));
    const names = readdirSync(join(data, 'clips', 'events', 'cam1'));
    assert.ok(!names.some((n) => n.endsWith('.tmp')), 'no temp file left behind');
  });

  test('GET /clips lists jobs newest first; GET /clip/{id}/file serves the MP4 with Range', async () => {
    const c = await makeClip(p.url, win());
    const list = await getJson<{ clips: Array<{ clip_id: string }> }>(`${p.url}/clips?limit=5`);
    assert.equal(list.body.clips[0].clip_id, c.clip_id);
    const whole = await fetch(`${p.url}/clip/${c.clip_id}/file`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    const bytes = Buffer.from(await whole.arrayBuffer());
    assert.deepEqual(bytes, readFileSync(c.path!));
    const part = await fetch(`${p.url}/clip/${c.clip_id}/file`, { headers: { range: 'bytes=8-23' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 8-23/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(8, 24));
    const tail = await fetch(`${p.url}/clip/${c.clip_id}/file`, { headers: { range: 'bytes=-10' } });
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 10));
    const bad = await fetch(`${p.url}/clip/${c.clip_id}/file`, { headers: { range: `bytes=${bytes.length + 5}-` } });
    assert.equal(bad.status, 416);
    await bad.arrayBuffer();
  });

  test('a window reaching past the newest frame waits for its footage', async () => {
    const h = (await getJson<{ pts_ns: number }>(`${p.url}/health`)).body;
    const start = h.pts_ns - 500_000_000;
    const stop = h.pts_ns + 1_500_000_000;
    const t0 = Date.now();
    const c = await makeClip(p.url, { start_pts_ns: start, stop_pts_ns: stop, max_wait_ms: 15000 });
    assert.equal(c.status, 'done', String(c.error));
    assert.ok(Date.now() - t0 >= 1000, 'it waited for the footage');
    assert.ok(c.actual_stop_pts_ns! >= stop - 1e9 / 15, 'the clip reaches the requested stop');
    assert.equal(c.partial, false);
  });

  test('a long-poll whose client goes away stops waiting', async () => {
    const h = (await getJson<{ pts_ns: number }>(`${p.url}/health`)).body;
    // A window a minute ahead: the job waits for its footage all through the test.
    const r = await postJson<{ clip_id: string }>(`${p.url}/clip`, { start_pts_ns: h.pts_ns + 60e9, stop_pts_ns: h.pts_ns + 61e9, max_wait_ms: 120_000 });
    assert.equal(r.status, 202);
    const id = r.body.clip_id;
    const waiters = (p.producer.clipEngine as unknown as { waiters: JobWaiters }).waiters;
    const req = request(`${p.url}/clip/${id}?wait_ms=30000`);
    req.on('error', () => undefined);
    req.end();
    await waitFor('the long-poll waiting', async () => waiters.waiting(id) === 1 || null);
    req.destroy();
    await waitFor('the long-poll gone with its client', async () => waiters.waiting(id) === 0 || null, 5000);
    // The job itself waits on, as queued.
    assert.equal((await getJson<{ clip: { status: string } }>(`${p.url}/clip/${id}`)).body.clip.status, 'queued');
  });
});
