// GET /cameras/{name}/snapshot.jpg, for real: a producer of two test cameras (800×450 and 256×144)
// and one whose source does not exist. The camera without footage answers 503 NO_FOOTAGE; the others
// answer a JPEG that ffprobe reads as mjpeg and ffmpeg decodes, scaled to at most 640 px wide; two
// requests at once share one ffmpeg run, a repeat is served from the cache (and If-None-Match gets a
// 304); once a newer keyframe exists and the interval has passed, a new picture of a later frame is made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, runOk, tempDir } from '../helpers/media.js';
import { getJson, waitFor } from '../helpers/producer.js';
import { startApp } from '../../src/producer/app.js';
import { parseAppConfig } from '../../src/producer/config/app-config.js';
import { createLogger } from '../../src/common/log.js';

const yaml = (dataDir: string, missing: string) => `
data_dir: ${JSON.stringify(dataDir)}
port: 0
default_camera: small
cameras:
  big:
    source: testsrc
    segment_seconds: 1
    testsrc: { size: 800x450, fps: 10 }
  small:
    source: testsrc
    segment_seconds: 1
    testsrc: { size: 256x144, fps: 10 }
  gone:
    source: ${JSON.stringify(missing)}
`;

interface Shot { status: number; type: string | null; etag: string | null; ptsNs: number; epochMs: number; body: Buffer }

async function snapshot(url: string, headers: Record<string, string> = {}): Promise<Shot> {
  const r = await fetch(url, { headers });
  return {
    status: r.status, type: r.headers.get('content-type'), etag: r.headers.get('etag'),
    ptsNs: Number(r.headers.get('x-segrec-frame-pts-ns')), epochMs: Number(r.headers.get('x-segrec-frame-epoch-ms')),
    body: Buffer.from(await r.arrayBuffer()),
  };
}

/** What ffprobe says of a JPEG file, and whether ffmpeg decodes it cleanly. */
async function probeJpeg(path: string): Promise<{ codec: string; width: number; height: number }> {
  const out = JSON.parse(await runOk('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', path]));
  const dec = await run('ffmpeg', ['-v', 'error', '-i', path, '-f', 'null', '-']);
  assert.equal(dec.code, 0, `ffmpeg decodes ${path}`);
  assert.equal(dec.stderr.trim(), '', `ffmpeg decodes ${path} without complaint`);
  const s = out.streams[0];
  return { codec: s.codec_name, width: s.width, height: s.height };
}

test('snapshot.jpg: latest keyframe as a JPEG, 503 NO_FOOTAGE without footage, cached, one ffmpeg run per new picture', async (t) => {
  const tmp = tempDir();
  const logs: string[] = [];
  const h = await startApp(parseAppConfig(yaml(join(tmp.dir, 'data'), join(tmp.dir, 'missing.mp4')), join(tmp.dir, 'segrec.yml')),
    { logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }) });
  try {
    await t.test('a camera with nothing recorded answers 503 with code NO_FOOTAGE', async () => {
      const r = await getJson<{ ok: boolean; code: string; message: string }>(`${h.url}/cameras/gone/snapshot.jpg`);
      assert.equal(r.status, 503);
      assert.equal(r.body.ok, false);
      assert.equal(r.body.code, 'NO_FOOTAGE');
      assert.match(r.body.message, /nothing is recorded yet/);
      assert.equal(h.app.camera('gone')!.snapshots.runs, 0, 'no ffmpeg was run for it');
    });

    for (const name of ['big', 'small']) {
      await waitFor(`footage of ${name}`, () => h.app.camera(name)!.snapshots.newestKeyframe(), 30_000);
    }

    await t.test('the JPEG decodes as mjpeg at the camera\'s size, at most 640 px wide', async () => {
      for (const [name, w, hgt] of [['big', 640, 360], ['small', 256, 144]] as const) {
        const r = await snapshot(`${h.url}/cameras/${name}/snapshot.jpg`);
        assert.equal(r.status, 200, name);
        assert.equal(r.type, 'image/jpeg');
        assert.ok(r.etag, 'an ETag');
        const file = join(tmp.dir, `${name}.jpg`);
        writeFileSync(file, r.body);
        assert.deepEqual(await probeJpeg(file), { codec: 'mjpeg', width: w, height: hgt }, name);
        const seg = h.app.camera(name)!.index.lastSegment()!;
        assert.ok(r.ptsNs >= Number(seg.start_pts_ns) - 5e9 && r.ptsNs <= Number(seg.stop_pts_ns), `${name}: the frame's pts ${r.ptsNs} lies in the newest footage`);
        assert.ok(Math.abs(r.epochMs - Date.now()) < 15_000, `${name}: the frame's wall-clock time is recent`);
      }
    });

    await t.test('two requests at once share one ffmpeg run; a repeat comes from the cache; If-None-Match → 304', async () => {
      const cache = h.app.camera('big')!.snapshots;
      const url = `${h.url}/cameras/big/snapshot.jpg`;
      const first = await snapshot(url); // cached since the test before
      const key = cache.newestKeyframe()!;
      await waitFor('a newer keyframe', () => { const k = cache.newestKeyframe()!; return k.row.id !== key.row.id || k.frag.seq !== key.frag.seq; }, 10_000, 50);
      cache.minIntervalMs = 0; // the next picture is due at once
      const before = cache.runs;
      const [a, b] = await Promise.all([snapshot(url), snapshot(url)]);
      cache.minIntervalMs = 60_000;
      assert.equal(cache.runs, before + 1, 'one ffmpeg run for both');
      assert.deepEqual([a.status, b.status], [200, 200]);
      assert.equal(a.etag, b.etag);
      assert.ok(a.body.equals(b.body), 'both got the same picture');
      assert.notEqual(a.etag, first.etag, 'a newer keyframe gave a new picture');
      assert.ok(a.ptsNs > first.ptsNs, `of a later frame (${a.ptsNs} > ${first.ptsNs})`);
      const again = await snapshot(url);
      assert.equal(cache.runs, before + 1, 'a repeat runs no ffmpeg');
      assert.equal(again.etag, a.etag);
      assert.ok(again.body.equals(a.body));
      const notModified = await snapshot(url, { 'if-none-match': a.etag! });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.body.length, 0);
      cache.minIntervalMs = 5000;
    });

    await t.test('with the default interval (5 s), a newer keyframe gives a new picture once the interval has passed', async () => {
      const cache = h.app.camera('small')!.snapshots;
      const url = `${h.url}/cameras/small/snapshot.jpg`;
      assert.equal(cache.minIntervalMs, 5000);
      cache.minIntervalMs = 0;
      const lookedAt = Date.now(); // no later than the producer looks at the index for this request
      const first = await snapshot(url);
      cache.minIntervalMs = 5000;
      const runs = cache.runs;
      const key = cache.newestKeyframe()!;
      await waitFor('a newer keyframe', () => { const k = cache.newestKeyframe()!; return k.row.id !== key.row.id || k.frag.seq !== key.frag.seq; }, 10_000, 50);
      const soon = await snapshot(url);
      assert.ok(Date.now() - lookedAt < 4500, 'still within the interval');
      assert.equal(soon.etag, first.etag, 'within the interval: the cached picture');
      assert.equal(cache.runs, runs, 'within the interval: no ffmpeg run');
      const later = await waitFor('a new picture', async () => {
        const r = await snapshot(url);
        return r.etag !== first.etag ? r : null;
      }, 15_000, 200);
      assert.ok(Date.now() - lookedAt >= 4950, 'not before the interval passed');
      assert.equal(cache.runs, runs + 1);
      assert.ok(later.ptsNs > first.ptsNs, 'the new picture is of a later frame');
      // The bare route addresses the default camera (small).
      const bare = await snapshot(`${h.url}/snapshot.jpg`);
      assert.equal(bare.status, 200);
      assert.equal(bare.etag, later.etag);
    });
  } finally {
    await h.close();
    tmp.cleanup();
  }
});
