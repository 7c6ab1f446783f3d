// The producer's web page in a real browser (Debian's Chromium through playwright-core) against a real
// producer recording the small test source: the timeline's spans match GET /segments, a window selected
// with real mouse actions becomes a clip with exactly that window, the clip plays in the <video> with the
// window's duration, and with an auth token the page works from #token=… and says "unauthorized" without.
// With many cameras: the grid shows each camera with a live thumbnail; choosing one shows its timeline
// (its clips and motion events marked, no other camera's), a clip made there by mouse is that camera's,
// and the clips list holds every camera's clips, filterable by camera, each playable.
// At 100 years of producer clock (PTS past 2^53, against a scripted producer): the timeline's spans and
// gaps carry the producer's exact digits, and a window selected by mouse is sent as exact integers.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, chromiumSkip, launchChromium, timelineView, watchErrors, webFile } from '../helpers/browser.js';
import { makeVideo, tempDir } from '../helpers/media.js';
import { startScriptedServer, type RecordedRequest } from '../helpers/scripted-server.js';
import { getJson, listSegments, postJson, startTestProducer, waitFor, type SegmentWire, type SegmentsWire } from '../helpers/producer.js';
import { startApp } from '../../src/producer/app.js';
import { parseAppConfig } from '../../src/producer/config/app-config.js';
import { createLogger } from '../../src/common/log.js';

const FPS = 15;
const skip = chromiumSkip;

interface ClipWire {
  clip_id: string; status: string; label: string | null; start_pts_ns: number; stop_pts_ns: number; frames: number;
  duration_ms: number; partial: boolean;
}
interface SpanAttr { start: number; stop: number }
/** What the test reads of the page's <video> (the test compiles without the DOM library). */
interface VideoEl {
  duration: number; currentTime: number; muted: boolean; readyState: number; currentSrc: string;
  play(): Promise<void>; pause(): void;
}



async function spansShown(page: Page): Promise<SpanAttr[]> {
  return page.$$eval('#tl rect.span', (rs) => rs.map((r) => ({
    start: Number(r.getAttribute('data-start-pts')), stop: Number(r.getAttribute('data-stop-pts')),
  })));
}

/** Drags across the recording track from `want.start` to `want.stop` with the real mouse; returns the selection shown. */
async function dragSelect(page: Page, want: SpanAttr): Promise<{ selStart: number; selStop: number; nsPerPx: number }> {
  const { viewStart, viewStop, xOf, nsPerPx } = await timelineView(page);
  assert.ok(want.start > viewStart && want.stop < viewStop, 'the target window is in view');
  const track = (await page.locator('#track-bg').boundingBox())!;
  const y = track.y + track.height / 2; // the middle of the recording track
  await page.mouse.move(xOf(want.start), y);
  await page.mouse.down();
  await page.mouse.move((xOf(want.start) + xOf(want.stop)) / 2, y, { steps: 4 });
  await page.mouse.move(xOf(want.stop), y, { steps: 4 });
  await page.mouse.up();
  const selStart = Number(await page.getAttribute('#sel-start', 'data-pts'));
  const selStop = Number(await page.getAttribute('#sel-stop', 'data-pts'));
  assert.ok(Math.abs(selStart - want.start) <= 2 * nsPerPx, `selection starts where the mouse went down (${selStart} vs ${want.start})`);
  assert.ok(Math.abs(selStop - want.stop) <= 2 * nsPerPx, `selection stops where the mouse went up (${selStop} vs ${want.stop})`);
  return { selStart, selStop, nsPerPx };
}

/** Zooms the timeline in as far as it goes and stops following live, so the view holds still under the mouse. */
async function zoomInAndHold(page: Page): Promise<void> {
  while (!(await page.isDisabled('#zoom-in'))) await page.click('#zoom-in');
  assert.equal(await page.textContent('#zoom-label'), '10 s');
  await page.uncheck('#follow');
  await page.waitForTimeout(300);
}

describe('web page', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('timeline matches /segments; a mouse-selected window becomes a clip that plays with that duration', async () => {
    const tmp = tempDir();
    const p = await startTestProducer(join(tmp.dir, 'data'), { segmentSeconds: 1 });
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = watchErrors(page);
    try {
      await waitFor('3 sealed segments', async () => (await listSegments(p.url)).segments.filter((s) => s.sealed).length >= 3, 20_000);
      await page.goto(`${p.url}/`);
      await page.waitForSelector('#tl rect.span');
      await page.locator('#h-events', { hasText: /^connected$/ }).waitFor();
      assert.equal(await page.textContent('#h-state'), 'running');

      // Zoom in as far as it goes, then stop following live so the view holds still under the mouse.
      await zoomInAndHold(page);

      // Every sealed segment lies within a span shown; every span shown starts where a producer span starts.
      const wire = (await getJson<{
        segments: SegmentWire[]; spans: Array<{ start_pts_ns: number; stop_pts_ns: number }>; gaps: Array<{ start_pts_ns: number; stop_pts_ns: number }>;
      }>(`${p.url}/segments`)).body;
      const sealed = wire.segments.filter((s) => s.sealed);
      const shown = await spansShown(page);
      assert.ok(shown.length >= 1, 'at least one span is drawn');
      const { viewStart, viewStop } = await timelineView(page);
      for (const s of sealed.filter((x) => x.stop_pts_ns > viewStart && x.start_pts_ns < viewStop)) {
        assert.ok(shown.some((sp) => sp.start <= s.start_pts_ns && sp.stop >= s.stop_pts_ns), `segment ${s.id} is covered by a .span`);
      }
      for (const sp of shown) {
        assert.ok(wire.spans.some((w) => w.start_pts_ns === sp.start), `span starting at ${sp.start} is a producer span`);
        assert.ok(Number.isInteger(sp.start) && Number.isInteger(sp.stop) && sp.stop > sp.start);
      }
      const gapsInView = wire.gaps.filter((g) => g.stop_pts_ns > viewStart && g.start_pts_ns < viewStop);
      assert.equal(await page.locator('#tl rect.gap').count(), gapsInView.length, 'one .gap per producer gap in view');

      // Select across the boundary of the two newest sealed segments, with the real mouse.
      const [a, b] = sealed.slice(-2);
      const { selStart, selStop } = await dragSelect(page, { start: a.start_pts_ns + 250_000_000, stop: b.stop_pts_ns - 300_000_000 });
      assert.match((await page.textContent('#sel-dur'))!, /^\d+\.\d{3} s/);

      await page.fill('#clip-label', 'web test');
      await page.click('#make-clip');
      await page.locator('#clip-status.ok, #clip-status.warn, #clip-status.bad').waitFor({ timeout: 20_000 });
      assert.match((await page.textContent('#clip-status'))!, /^Done: web test — \d+ frames/);

      const clips = (await getJson<{ clips: ClipWire[] }>(`${p.url}/clips?limit=10`)).body.clips;
      const clip = clips.find((c) => c.label === 'web test');
      assert.ok(clip, 'GET /clips lists the new clip');
      assert.equal(clip.status, 'done');
      assert.equal(clip.start_pts_ns, selStart, 'the clip starts where the selection shown starts');
      assert.equal(clip.stop_pts_ns, selStop, 'the clip stops where the selection shown stops');
      assert.equal(clip.partial, false);
      assert.equal(await page.locator(`#clips button[data-clip-id="${clip.clip_id}"][aria-current="true"]`).count(), 1, 'the new clip is selected in the list');

      // The new clip is in the player: its duration is the window's, within a frame, and it plays.
      const video = page.locator('#player');
      await waitFor('the clip to load in the player', () => video.evaluate((v: VideoEl, id) =>
        v.currentSrc.includes(`/clip/${id}/file`) && v.readyState >= 1, clip.clip_id), 10_000);
      const duration = await video.evaluate((v: VideoEl) => v.duration);
      assert.ok(Math.abs(duration - clip.frames / FPS) <= 1 / FPS + 1e-6, `video.duration ${duration} vs ${clip.frames} frames / ${FPS}`);
      assert.ok(Math.abs(duration - clip.duration_ms / 1000) <= 1 / FPS + 1e-6, `video.duration ${duration} vs duration_ms ${clip.duration_ms}`);
      assert.ok(Math.abs(duration - (selStop - selStart) / 1e9) <= 1 / FPS + 1e-6, `video.duration ${duration} vs the selection`);
      await video.evaluate(async (v: VideoEl) => {
        v.muted = true;
        await v.play();
      });
      await waitFor('the clip to play', () => video.evaluate((v: VideoEl) => v.currentTime > 0.3), 10_000);
      await video.evaluate((v: VideoEl) => { v.pause(); v.currentTime = 0.5; });
      await waitFor('a frame to show', () => video.evaluate((v: VideoEl) => v.readyState >= 2), 5_000);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'web-page.png'), fullPage: true });
      assert.deepEqual(errors, [], 'no console errors or page errors');
      assert.equal(await page.locator('#messages .message').count(), 0, 'no error messages shown');
    } finally {
      await page.close();
      await p.close();
      tmp.cleanup();
    }
  });

  test('many cameras: a grid with live thumbnails; one chosen shows its timeline and takes a clip; the clips of all cameras, filtered by camera', async () => {
    const tmp = tempDir();
    const cfg = `
data_dir: ${JSON.stringify(join(tmp.dir, 'data'))}
port: 0
default_camera: front
cameras:
  front:
    source: testsrc
    segment_seconds: 1
    testsrc: { size: 320x180, fps: 15 }
  back:
    source: testsrc
    segment_seconds: 1
    testsrc: { size: 256x144, fps: 10 }
`;
    const h = await startApp(parseAppConfig(cfg, join(tmp.dir, 'segrec.yml')), { logger: createLogger({ level: 'warn', write: () => undefined }) });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = watchErrors(page);
    const segmentsOf = async (name: string) =>
      (await getJson<SegmentsWire & { spans: Array<{ start_pts_ns: number; stop_pts_ns: number }> }>(`${h.url}/cameras/${name}/segments`)).body;
    /** A clip of a camera made through the API (not the page), done. */
    const apiClip = async (name: string, label: string): Promise<ClipWire> => {
      const s = (await segmentsOf(name)).segments.filter((x) => x.sealed).at(-1)!;
      const r = await postJson<{ clip_id: string }>(`${h.url}/cameras/${name}/clip`, { start_pts_ns: s.start_pts_ns + 100e6, stop_pts_ns: s.start_pts_ns + 700e6, label });
      assert.equal(r.status, 202);
      return waitFor(`clip ${r.body.clip_id}`, async () => {
        const c = (await getJson<{ clip: ClipWire }>(`${h.url}/cameras/${name}/clip/${r.body.clip_id}?wait_ms=5000`)).body.clip;
        return c.status === 'done' ? c : null;
      }, 20_000);
    };
    const listed = () => page.$$eval('#clips button.clip', (bs) => bs.map((b) => [b.getAttribute('data-camera'), b.getAttribute('data-clip-id')]));
    try {
      for (const name of ['front', 'back']) {
        await waitFor(`3 sealed segments of ${name}`, async () => (await segmentsOf(name)).segments.filter((s) => s.sealed).length >= 3, 30_000);
      }
      const frontClip = await apiClip('front', 'front by api');
      const motionClip = await apiClip('back', 'motion');

      await page.goto(`${h.url}/`);
      // The grid: both cameras in the producer's order, the default one shown first.
      await page.locator('#cameras button.camera').nth(1).waitFor();
      assert.deepEqual(await page.$$eval('#cameras button.camera', (bs) => bs.map((b) => b.getAttribute('data-camera'))), ['front', 'back']);
      await page.locator('#camera-title', { hasText: /^front$/ }).waitFor();
      assert.equal(await page.getAttribute('#cameras button[data-camera="front"]', 'aria-pressed'), 'true');
      await page.waitForSelector('#tl rect.span');
      for (const [name, width, height] of [['front', 320, 180], ['back', 256, 144]] as const) {
        const card = page.locator(`#cameras button[data-camera="${name}"]`);
        assert.equal(await card.locator('.cam-name').textContent(), name);
        await card.locator('.cam-state', { hasText: /^running$/ }).waitFor();
        await card.locator('.cam-age', { hasText: / ago$/ }).waitFor();
        // The thumbnail is the camera's snapshot.jpg, decoded by the browser at the camera's size.
        await waitFor(`${name}'s thumbnail`, () => card.locator('img.thumb').evaluate((img: { complete: boolean; naturalWidth: number }) => img.complete && img.naturalWidth > 0), 15_000);
        const size = await card.locator('img.thumb').evaluate((img: { naturalWidth: number; naturalHeight: number }) => [img.naturalWidth, img.naturalHeight]);
        assert.deepEqual(size, [width, height], `${name}'s thumbnail size`);
      }
      // Thumbnails refresh by themselves: a later frame within a few seconds.
      const backThumb = page.locator('#cameras button[data-camera="back"] img.thumb');
      const firstPts = Number(await backThumb.getAttribute('data-frame-pts'));
      assert.ok(firstPts > 0, 'the thumbnail says which frame it shows');
      await waitFor('a newer thumbnail of back', async () => Number(await backThumb.getAttribute('data-frame-pts')) > firstPts, 20_000, 250);

      // Choose back: its own health, timeline and live updates.
      await page.click('#cameras button[data-camera="back"]');
      await page.locator('#camera-title', { hasText: /^back$/ }).waitFor();
      assert.equal(await page.getAttribute('#cameras button[data-camera="back"]', 'aria-pressed'), 'true');
      assert.equal(await page.getAttribute('#cameras button[data-camera="front"]', 'aria-pressed'), 'false');
      assert.match(page.url(), /#camera=back$/);
      await page.locator('#h-source', { hasText: /256×144/ }).waitFor();
      await page.locator('#h-events', { hasText: /^connected$/ }).waitFor();
      await page.waitForSelector('#tl rect.span');
      // Marked on back's timeline (5 min view): its motion clip, in the motion colour; not front's clip.
      await page.locator(`#l-clips rect.clip-mark.motion[data-clip-id="${motionClip.clip_id}"]`).waitFor();
      assert.equal(await page.locator(`#l-motion rect[data-clip-id="${motionClip.clip_id}"]`).count(), 1, 'the motion event is shaded on the track');
      assert.equal(await page.locator(`#tl [data-clip-id="${frontClip.clip_id}"]`).count(), 0, "front's clip is not on back's timeline");

      await zoomInAndHold(page);
      const wire = await segmentsOf('back');
      const shown = await spansShown(page);
      assert.ok(shown.length >= 1);
      for (const sp of shown) assert.ok(wire.spans.some((w) => w.start_pts_ns === sp.start), `span at ${sp.start} is one of back's spans`);
      const sealed = wire.segments.filter((x) => x.sealed);
      const [a, b] = sealed.slice(-2);
      const { selStart, selStop } = await dragSelect(page, { start: a.start_pts_ns + 200_000_000, stop: b.stop_pts_ns - 300_000_000 });
      await page.fill('#clip-label', 'back by mouse');
      await page.click('#make-clip');
      await page.locator('#clip-status.ok, #clip-status.warn, #clip-status.bad').waitFor({ timeout: 20_000 });
      assert.match((await page.textContent('#clip-status'))!, /^Done: back by mouse — \d+ frames/);
      const backClips = (await getJson<{ clips: ClipWire[] }>(`${h.url}/cameras/back/clips`)).body.clips;
      const mine = backClips.find((c) => c.label === 'back by mouse');
      assert.ok(mine, "the clip is back's");
      assert.deepEqual([mine.start_pts_ns, mine.stop_pts_ns, mine.status], [selStart, selStop, 'done']);
      assert.equal((await getJson<{ clips: ClipWire[] }>(`${h.url}/cameras/front/clips`)).body.clips.filter((c) => c.label === 'back by mouse').length, 0);
      await page.locator(`#l-clips rect.clip-mark[data-clip-id="${mine.clip_id}"]`).waitFor();
      const video = page.locator('#player');
      await waitFor('the clip to load in the player', () => video.evaluate((v: VideoEl, id) =>
        v.currentSrc.includes(`/cameras/back/clip/${id}/file`) && v.readyState >= 1, mine.clip_id), 10_000);

      // One list of every camera's clips, newest first, each with its camera; the filter narrows it.
      assert.deepEqual(await listed(), [['back', mine.clip_id], ['back', motionClip.clip_id], ['front', frontClip.clip_id]]);
      assert.equal(await page.textContent('#clips-count'), '3');
      await page.selectOption('#clip-filter', 'front');
      assert.deepEqual(await listed(), [['front', frontClip.clip_id]]);
      assert.equal(await page.textContent('#clips-count'), '1 of 3');
      await page.selectOption('#clip-filter', 'back');
      assert.deepEqual(await listed(), [['back', mine.clip_id], ['back', motionClip.clip_id]]);
      await page.selectOption('#clip-filter', '');
      assert.equal((await listed()).length, 3);
      // Another camera's clip plays from the list, while back stays shown.
      await page.click(`#clips button[data-clip-id="${frontClip.clip_id}"]`);
      await waitFor("front's clip to load in the player", () => video.evaluate((v: VideoEl, id) =>
        v.currentSrc.includes(`/cameras/front/clip/${id}/file`) && v.readyState >= 1, frontClip.clip_id), 10_000);
      assert.equal(await page.textContent('#camera-title'), 'back');

      // Back to front: its timeline again (following live, at the zoom chosen), its clip marked, back's not.
      await page.click('#cameras button[data-camera="front"]');
      await page.locator('#h-source', { hasText: /320×180/ }).waitFor();
      assert.equal(await page.isChecked('#follow'), true);
      assert.equal(await page.textContent('#zoom-label'), '10 s');
      while ((await page.textContent('#zoom-label')) !== '5 min') await page.click('#zoom-out');
      await page.locator(`#l-clips rect.clip-mark[data-clip-id="${frontClip.clip_id}"]`).waitFor();
      assert.equal(await page.locator(`#l-clips rect[data-clip-id="${mine.clip_id}"]`).count(), 0);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'web-page-cameras.png'), fullPage: true });
      assert.deepEqual(errors, [], 'no console errors or page errors');
      assert.equal(await page.locator('#messages .message').count(), 0, 'no error messages shown');
    } finally {
      await page.close();
      await h.close();
      tmp.cleanup();
    }
  });

  test('at 100 years of producer clock (PTS past 2^53): exact digits on the timeline and in the clip it asks for', async () => {
    const tmp = tempDir();
    const mp4 = join(tmp.dir, 'clip.mp4');
    await makeVideo(mp4, { seconds: 2, fps: FPS, width: 192, height: 108, gop: 15 });
    const N = 3_155_760_000_000_000_123n; // "now" on the producer's clock at the first /health: 100 years and an odd ns
    const t0 = Date.now();
    const nowPts = () => N + BigInt(Date.now() - t0) * 1_000_000n;
    const S = (ms: number, odd: bigint) => N + BigInt(ms) * 1_000_000n + odd;
    const seg = (id: number, start: bigint, stop: bigint) => ({
      id, path: `2125-11-25/${start}.mp4`, start_pts_ns: start, stop_pts_ns: stop, start_epoch_ms: 0, stop_epoch_ms: 0, duration_ms: 0,
      bytes: 1000, frames: 10, fragments: 1, sealed: true, codec: 'h264', width: 192, height: 108, fps: FPS, has_audio: false,
    });
    const segs = [seg(1, S(-30_000, 7n), S(-6_000, 3n)), seg(2, S(-4_000, 11n), S(600_000, 13n))];
    const gaps = [{ start_pts_ns: S(-6_000, 3n), stop_pts_ns: S(-4_000, 11n), duration_ms: 2000, reason: 'ingest restarted' }];
    let clip: Record<string, unknown> | null = null;
    const srv = await startScriptedServer((req: RecordedRequest) => {
      const f = webFile(req.path);
      if (f) return f;
      if (req.path === '/cameras') {
        return { body: { ok: true, default_camera: 'front', cameras: [{ name: 'front', state: 'running', record: true, source: 'testsrc', last_fragment_age_ms: null, error: null, default: true }] } };
      }
      const sub = req.path.replace(/^\/cameras\/front\//, '');
      if (sub === 'health') {
        return { body: {
          ok: true, ts_ms: Date.now(), pts_ns: nowPts(),
          timebase: { pts_units: 'ns', pts_per_ms: 1e6, base_epoch_ms: t0, base_pts_ns: N },
          ingest: { state: 'running', source: 'testsrc', codec: 'h264', width: 192, height: 108, fps: FPS, restarts: 0, last_frame_age_ms: 5, last_error: null, drift_ms: 0 },
          segments: { count: 2, bytes: 2000, oldest_start_pts_ns: segs[0].start_pts_ns, newest_stop_pts_ns: segs[1].stop_pts_ns, gaps: 1, open_start_pts_ns: null },
          clips: { queued: 0, running: 0 },
        } };
      }
      if (sub === 'segments') return { body: { ok: true, segments: segs, gaps, spans: [], truncated: false, next_cursor: null, window: { from_pts_ns: 0, to_pts_ns: 0 } } };
      if (sub === 'events') return { headers: { 'content-type': 'text/event-stream' }, body: ': open\n\n: open\n\n', stallBody: true };
      if (sub === 'clips') return { body: { ok: true, clips: clip ? [clip] : [] } };
      if (req.method === 'POST' && sub === 'clip') {
        const b = req.json as { start_pts_ns: bigint; stop_pts_ns: bigint; label: string };
        clip = {
          clip_id: 'clip-front-0000000000000001', status: 'done', mode: 'pts', label: b.label, start_pts_ns: b.start_pts_ns, stop_pts_ns: b.stop_pts_ns,
          start_epoch_ms: null, stop_epoch_ms: null, error: null, created_ms: Date.now(), updated_ms: Date.now(), path: '/clips/x.mp4',
          actual_start_pts_ns: b.start_pts_ns, actual_stop_pts_ns: b.stop_pts_ns, lead_in_ms: 0, duration_ms: 2000, frames: 30, bytes: 1000,
          segments: [], gaps: [], partial: false, partial_reason: null,
        };
        return { status: 202, body: { ok: true, clip_id: clip.clip_id, status: 'queued' } };
      }
      if (clip && sub === `clip/${String(clip.clip_id)}`) return { body: { ok: true, clip, message: null } };
      if (clip && sub === `clip/${String(clip.clip_id)}/file`) return { body: readFileSync(mp4), headers: { 'content-type': 'video/mp4' } };
      return { status: 404, body: { ok: false, message: `no route ${req.path}` } };
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const errors = watchErrors(page);
    try {
      await page.goto(`${srv.url}/`);
      await page.waitForSelector('#tl rect.span');
      await page.locator('#h-events', { hasText: /^connected$/ }).waitFor();
      // A 30 s view, held still: both spans and the gap between them are in it.
      while ((await page.textContent('#zoom-label')) !== '30 s') await page.click('#zoom-in');
      await page.uncheck('#follow');
      await page.waitForTimeout(300);

      // The spans and the gap carry the producer's digits exactly (a Number would have rounded them to 512 ns).
      const attrs = (sel: string) => page.$$eval(sel, (rs) => rs.map((r) => [r.getAttribute('data-start-pts'), r.getAttribute('data-stop-pts')]));
      assert.deepEqual(await attrs('#tl rect.span'), segs.map((x) => [String(x.start_pts_ns), String(x.stop_pts_ns)]));
      assert.deepEqual(await attrs('#tl rect.gap'), [[String(gaps[0].start_pts_ns), String(gaps[0].stop_pts_ns)]]);
      for (const v of ['data-view-start-pts', 'data-view-stop-pts']) assert.match((await page.getAttribute('#tl', v))!, /^\d{19}$/);

      // A window selected by mouse inside the second span goes out as the integers shown, all digits.
      const { selStart, selStop, nsPerPx } = await dragSelect(page, { start: Number(S(-3_000, 0n)), stop: Number(S(-1_000, 0n)) });
      const startText = (await page.getAttribute('#sel-start', 'data-pts'))!;
      const stopText = (await page.getAttribute('#sel-stop', 'data-pts'))!;
      assert.match(startText, /^\d{19}$/);
      assert.equal(Number(startText), selStart);
      assert.equal(Number(stopText), selStop);
      await page.fill('#clip-label', 'century');
      await page.click('#make-clip');
      await page.locator('#clip-status.ok, #clip-status.warn, #clip-status.bad').waitFor({ timeout: 20_000 });
      assert.match((await page.textContent('#clip-status'))!, /^Done: century — 30 frames/);
      const post = srv.requests.find((r) => r.method === 'POST')!;
      assert.equal(post.rawBody, `{"start_pts_ns":${startText},"stop_pts_ns":${stopText},"label":"century"}`);
      const body = post.json as { start_pts_ns: bigint; stop_pts_ns: bigint };
      assert.equal(typeof body.start_pts_ns, 'bigint');
      const off = (a: bigint, b: bigint) => Number(a > b ? a - b : b - a);
      assert.ok(off(body.start_pts_ns, S(-3_000, 0n)) <= 2 * nsPerPx, 'the clip starts where the mouse went down');
      assert.ok(off(body.stop_pts_ns, S(-1_000, 0n)) <= 2 * nsPerPx, 'the clip stops where the mouse went up');
      // Every query the page made carries integers with all their digits.
      for (const r of srv.requests.filter((x) => x.path.endsWith('/segments'))) {
        assert.match(r.query.from_pts_ns ?? '', /^\d+$/, r.rawUrl);
        if (r.query.to_pts_ns !== undefined) assert.match(r.query.to_pts_ns, /^\d+$/, r.rawUrl);
      }
      await page.locator('#clips button[data-clip-id="clip-front-0000000000000001"][aria-current="true"]').waitFor();
      assert.deepEqual(errors, [], 'no console errors or page errors');
      assert.equal(await page.locator('#messages .message').count(), 0, 'no error messages shown');
    } finally {
      await page.close();
      await srv.close();
      tmp.cleanup();
    }
  });

  describe('with an auth token', () => {
    const token = 'sekrit-token-123';
    const tmp = tempDir();
    let p: Awaited<ReturnType<typeof startTestProducer>>;
    before(async () => {
      p = await startTestProducer(join(tmp.dir, 'data'), { segmentSeconds: 1, authToken: token });
      await waitFor('a sealed segment', async () => {
        const r = await getJson<{ segments: SegmentWire[] }>(`${p.url}/segments`, { headers: { authorization: `Bearer ${token}` } });
        return r.body.segments.some((s) => s.sealed);
      }, 20_000);
    });
    after(async () => {
      await p?.close();
      tmp.cleanup();
    });

    /** Opens the page at `path` and waits until it shows the recording, live. */
    async function opensFine(path: string): Promise<void> {
      const page = await browser.newPage();
      const errors = watchErrors(page);
      try {
        await page.goto(`${p.url}${path}`);
        await page.waitForSelector('#tl rect.span');
        await page.locator('#h-events', { hasText: /^connected$/ }).waitFor();
        assert.equal(await page.locator('#messages .message').count(), 0);
        assert.deepEqual(errors, []);
      } finally {
        await page.close();
      }
    }

    test('the page\'s own files are public; every data route still needs the token', async () => {
      // A #fragment never reaches the server: the page can load from /#token=… only because the producer
      // serves / and /web/* without the token (and only those, besides /health).
      const html = await fetch(`${p.url}/`);
      assert.equal(html.status, 200, 'GET / without a token');
      assert.match(await html.text(), /<html/i);
      assert.equal((await fetch(`${p.url}/web/app.js`)).status, 200, 'GET /web/app.js without a token');
      assert.equal((await fetch(`${p.url}/health`)).status, 200, 'GET /health without a token');
      for (const path of ['/segments', '/clips']) {
        assert.equal((await fetch(`${p.url}${path}`)).status, 401, `GET ${path} without a token`);
      }
    });

    test('the page works from #token=…, and says "unauthorized" without it or with a wrong one', async () => {
      await opensFine(`/#token=${token}`);
      const page = await browser.newPage();
      const errors = watchErrors(page);
      try {
        await page.goto(`${p.url}/`);
        await page.waitForSelector('#messages .message');
        assert.match((await page.textContent('#messages'))!, /unauthorized/i);
        assert.match((await page.textContent('#messages'))!, /#token=/);
        assert.ok(await page.isDisabled('#make-clip'));
        assert.equal(await page.textContent('#h-events'), 'off (unauthorized)');
        assert.equal(await page.textContent('#h-state'), 'running', '/health is public: the header still works');
        // The browser itself logs the refused request ("Failed to load resource … 401"); nothing else may fail.
        assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);
      } finally {
        await page.close();
      }
      const wrong = await browser.newPage();
      try {
        await wrong.goto(`${p.url}/#token=wrong-token-456`);
        await wrong.waitForSelector('#messages .message');
        assert.match((await wrong.textContent('#messages'))!, /unauthorized.*refused the access token/i);
      } finally {
        await wrong.close();
      }
    });

    test('the page works from ?access_token=… (its own files carry the token too)', async () => {
      await opensFine(`/?access_token=${token}`);
    });
  });
});
