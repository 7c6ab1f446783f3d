// Many cameras in one producer (issue 10), for real: a YAML configuration with two test cameras and a
// looped file records all three, each in its own data directory; GET /cameras lists them; every
// camera's routes live under /cameras/{name}/… while the seed's bare routes address the default
// camera; the seed's Recorder cuts a frame-exact clip through /cameras/{name} whose id is unique
// across cameras and which the bare /clip/{id} finds too; /metrics labels each camera's series; an
// unknown camera is a 404 naming it. A reload removes one camera, adds one, restarts a changed one and
// leaves the unchanged one recording in the same ffmpeg run without a new gap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeVideo, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { getJson, segmentFile, waitFor, type SegmentsWire } from '../helpers/producer.js';
import { framesIn, sourceFrames } from '../helpers/clips.js';
import { startApp } from '../../src/producer/app.js';
import { parseAppConfig } from '../../src/producer/config/app-config.js';
import { createLogger } from '../../src/common/log.js';
import { Recorder } from '../../src/record/recorder.js';
import type { CameraSummary } from '../../src/producer/app.js';

const camerasYaml = (dataDir: string, file: string, cams: string) => `
data_dir: ${JSON.stringify(dataDir)}
port: 0
default_camera: front
cameras:
${cams.replace('FILE', JSON.stringify(file))}`;

const FRONT = `  front:
    source: testsrc
    segment_seconds: 2
    testsrc: { size: 320x180, fps: 15 }
`;
const BACK = (seconds: number) => `  back:
    source: testsrc
    segment_seconds: ${seconds}
    testsrc: { size: 256x144, fps: 10 }
`;
const YARD = `  yard:
    source: FILE
    segment_seconds: 2
`;
const SIDE = `  side:
    source: testsrc
    segment_seconds: 2
    testsrc: { size: 160x96, fps: 10 }
`;

async function segmentsOf(url: string, name: string): Promise<SegmentsWire> {
  const r = await getJson<SegmentsWire>(`${url}/cameras/${name}/segments`);
  assert.equal(r.status, 200, `/cameras/${name}/segments`);
  return r.body;
}

const sealedOf = (s: SegmentsWire) => s.segments.filter((x) => x.sealed);

test('one producer records several cameras; routes per camera; reload adds, removes and restarts without touching the others', async (t) => {
  const tmp = tempDir();
  const file = join(tmp.dir, 'yard.mp4');
  await makeVideo(file, { seconds: 4, fps: 15, gop: 15, container: 'plain' });
  const dataDir = join(tmp.dir, 'data');
  const cfgPath = join(tmp.dir, 'segrec.yml');
  writeFileSync(cfgPath, camerasYaml(dataDir, file, FRONT + BACK(2) + YARD));
  const logs: string[] = [];
  const h = await startApp(parseAppConfig(camerasYaml(dataDir, file, FRONT + BACK(2) + YARD), cfgPath),
    { logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }) });
  try {
    for (const name of ['front', 'back', 'yard']) {
      await waitFor(`2 sealed segments of ${name}`, async () => sealedOf(await segmentsOf(h.url, name)).length >= 2, 40_000, 200);
    }

    await t.test('GET /cameras lists them, running, with the default camera marked', async () => {
      const r = await getJson<{ default_camera: string; cameras: CameraSummary[] }>(`${h.url}/cameras`);
      assert.equal(r.status, 200);
      assert.equal(r.body.default_camera, 'front');
      assert.deepEqual(r.body.cameras.map((c) => [c.name, c.state, c.default]), [['front', 'running', true], ['back', 'running', false], ['yard', 'running', false]]);
      for (const c of r.body.cameras) assert.ok(c.last_fragment_age_ms !== null && c.last_fragment_age_ms < 10_000, `${c.name} has a recent fragment`);
    });

    await t.test('each camera records into its own directory; the default camera answers the bare routes', async () => {
      for (const [name, w, hgt] of [['front', 320, 180], ['back', 256, 144], ['yard', 320, 240]] as const) {
        const s = sealedOf(await segmentsOf(h.url, name));
        assert.ok(s.every((x) => x.width === w && x.height === hgt), `${name}: ${w}x${hgt} segments`);
        assert.ok(existsSync(segmentFile(join(dataDir, 'cameras', name), s[0])), `${name}'s segment ${s[0].path} under DATA/cameras/${name}`);
      }
      const bare = (await getJson<{ ingest: { width: number } }>(`${h.url}/health`)).body;
      const front = (await getJson<{ ingest: { width: number } }>(`${h.url}/cameras/front/health`)).body;
      assert.equal(bare.ingest.width, 320);
      assert.equal(front.ingest.width, 320);
      const back = (await getJson<{ ingest: { width: number } }>(`${h.url}/cameras/back/health`)).body;
      assert.equal(back.ingest.width, 256);
    });

    await t.test("the seed's Recorder cuts an exact clip through /cameras/back; its id is unique and the bare /clip/{id} finds it", async () => {
      const segs = sealedOf(await segmentsOf(h.url, 'back'));
      const s = segs[segs.length - 1];
      const startNs = s.start_pts_ns + 250e6;
      const stopNs = s.start_pts_ns + 1250e6;
      const rec = new Recorder({ producerBaseUrl: `${h.url}/cameras/back`, maxWaitMs: 20_000, pollIntervalMs: 50 });
      const clip = await rec.requestClip({ startPtsNs: startNs, stopPtsNs: stopNs, label: 'back' });
      assert.match(clip.jobId, /^clip-back-\d{16}$/);
      assert.ok(clip.path && existsSync(clip.path), `clip file ${clip.path}`);
      const want = framesIn(await sourceFrames(join(dataDir, 'cameras', 'back'), [s]), startNs, stopNs).map((f) => f.md5);
      assert.equal(want.length, 10, '1 s of a 10 fps camera');
      assert.deepEqual(await videoFrameMd5s(clip.path), want, 'decoded clip frames are the recording\'s frames in the window');
      const viaBare = await getJson<{ clip: { clip_id: string; status: string } }>(`${h.url}/clip/${clip.jobId}`);
      assert.equal(viaBare.status, 200);
      assert.deepEqual([viaBare.body.clip.clip_id, viaBare.body.clip.status], [clip.jobId, 'done']);
      const viaFront = await getJson(`${h.url}/cameras/front/clip/${clip.jobId}`);
      assert.equal(viaFront.status, 404, 'another camera does not know the clip');
    });

    await t.test('/metrics labels every camera series; an unknown camera is a 404 naming it', async () => {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      for (const name of ['front', 'back', 'yard']) {
        assert.match(text, new RegExp(`^segrec_ingest_state\\{camera="${name}",state="running"\\} 1$`, 'm'));
        assert.match(text, new RegExp(`^segrec_segments\\{camera="${name}"\\} [1-9]`, 'm'));
      }
      const r = await getJson<{ message: string }>(`${h.url}/cameras/nope/health`);
      assert.equal(r.status, 404);
      assert.match(r.body.message, /no camera named "nope"/);
    });

    await t.test('reload: yard removed, side added, back restarted (changed), front untouched', async () => {
      const front = h.app.camera('front')!;
      const pid = front.ingest.pid;
      const frontGaps = (await segmentsOf(h.url, 'front')).gaps.length;
      const backBefore = (await segmentsOf(h.url, 'back')).segments;
      const backLastStop = backBefore[backBefore.length - 1].stop_pts_ns;
      const r = await h.app.reload(parseAppConfig(camerasYaml(dataDir, file, FRONT + BACK(3) + SIDE), cfgPath));
      assert.deepEqual(r, { added: ['side'], removed: ['yard'], restarted: ['back'], unchanged: ['front'] });
      assert.equal((await getJson(`${h.url}/cameras/yard/health`)).status, 404);
      await waitFor('a sealed segment of side', async () => sealedOf(await segmentsOf(h.url, 'side')).length >= 1, 40_000, 200);
      const backAfter = await waitFor('back records again', async () => {
        const s = await segmentsOf(h.url, 'back');
        // A segment of the new run (after every one before the reload), cut at its new length.
        return s.segments.some((x) => x.sealed && x.start_pts_ns > backLastStop && x.stop_pts_ns - x.start_pts_ns > 2.5e9) ? s : null;
      }, 40_000, 200);
      assert.ok(backAfter.gaps.length >= 1, 'the restarted camera has a gap at its restart');
      assert.equal(h.app.camera('front')!.ingest.pid, pid, 'front kept its ffmpeg');
      assert.equal((await segmentsOf(h.url, 'front')).gaps.length, frontGaps, 'front has no new gap');
      const names = (await getJson<{ cameras: CameraSummary[] }>(`${h.url}/cameras`)).body.cameras.map((c) => c.name);
      assert.deepEqual(names, ['front', 'back', 'side']);
    });
  } finally {
    await h.close();
    tmp.cleanup();
  }
});
