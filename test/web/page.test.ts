// The producer's web page in a real browser (Debian's Chromium through playwright-core) against a real
// producer recording the small test source: the timeline's spans match GET /segments, a window selected
// with real mouse actions becomes a clip with exactly that window, the clip plays in the <video> with the
// window's duration, and with an auth token the page works from #token=… and says "unauthorized" without.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { tempDir } from '../helpers/media.js';
import { getJson, listSegments, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';

const CHROMIUM = '/usr/bin/chromium';
const FPS = 15;
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const skip = !existsSync(CHROMIUM) && !process.env.CI
  ? `${CHROMIUM} is missing (install Debian's chromium, e.g. bash scripts/setup.sh --browser); skipped outside CI`
  : false;

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

/** Console errors and uncaught page errors, collected for the whole life of a page. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()} @ ${m.location().url}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

async function spansShown(page: Page): Promise<SpanAttr[]> {
  return page.$$eval('#tl rect.span', (rs) => rs.map((r) => ({
    start: Number(r.getAttribute('data-start-pts')), stop: Number(r.getAttribute('data-stop-pts')),
  })));
}

describe('web page', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    });
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
      while (!(await page.isDisabled('#zoom-in'))) await page.click('#zoom-in');
      assert.equal(await page.textContent('#zoom-label'), '10 s');
      await page.uncheck('#follow');
      await page.waitForTimeout(300);

      // Every sealed segment lies within a span shown; every span shown starts where a producer span starts.
      const wire = (await getJson<{
        segments: SegmentWire[]; spans: Array<{ start_pts_ns: number; stop_pts_ns: number }>; gaps: Array<{ start_pts_ns: number; stop_pts_ns: number }>;
      }>(`${p.url}/segments`)).body;
      const sealed = wire.segments.filter((s) => s.sealed);
      const shown = await spansShown(page);
      assert.ok(shown.length >= 1, 'at least one span is drawn');
      const viewStart = Number(await page.getAttribute('#tl', 'data-view-start-pts'));
      const viewStop = Number(await page.getAttribute('#tl', 'data-view-stop-pts'));
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
      const want = { start: a.start_pts_ns + 250_000_000, stop: b.stop_pts_ns - 300_000_000 };
      assert.ok(want.start > viewStart && want.stop < viewStop, 'the target window is in view');
      const box = (await page.locator('#tl').boundingBox())!;
      const nsPerPx = (viewStop - viewStart) / box.width;
      const xOf = (pts: number) => box.x + ((pts - viewStart) / (viewStop - viewStart)) * box.width;
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
