// Recorded footage in the web page without making a clip (issue 12, part C), in Debian's Chromium
// against a real producer recording the test source (whose picture burns in the clock and the frame
// number): a plain click on the timeline plays GET recording.mp4 from that moment and the picture is the
// frame recorded there (the page's <video> drawn on a canvas, against the recording's own frames decoded
// by ffmpeg); seeking shows the right frame and moves the playhead; next / previous event move playback
// and the playhead to the camera's clip and motion event starts; the speed control sets playbackRate;
// playback goes on into the next window when one ends; "Download span" is recording.mp4 of the selection
// with ?download=1 and downloads exactly its frames. Against a scripted producer at 100 years of clock
// (PTS past 2^53): the playhead maps currentTime through the window's actual start and its gaps exactly.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, chromiumSkip, launchChromium, timelineView, watchErrors, webFile, webHas, webSource } from '../helpers/browser.js';
import { makeVideo, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { getJson, listSegments, postJson, segmentFile, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { framesIn, sourceFrames, type SourceFrame } from '../helpers/clips.js';
import { startScriptedServer, type RecordedRequest } from '../helpers/scripted-server.js';

const FPS = 15;
const FRAME_NS = 1e9 / FPS;
const W = 640, H = 360;
const skip = chromiumSkip;
// The burned-in text line (testsrc.ts: drawtext at 10,10, font size h/30): the clock and "#frame".
const CROP = { x: 0, y: 4, w: 300, h: 26 };

interface VideoEl {
  currentTime: number; paused: boolean; readyState: number; playbackRate: number; seeking: boolean; videoWidth: number; videoHeight: number;
  getAttribute(n: string): string | null; pause(): void; play(): Promise<void>;
}


/**
 * Pans the timeline (dragging its time axis) until `fromPts` lies in the left part of the view: at the
 * closest zoom the view holds 10 s, and under load the footage the test chose may have scrolled out of
 * it while the test prepared its reference frames.
 */
async function panInto(page: Page, fromPts: number): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const v = await timelineView(page);
    const want = v.viewStart + (v.viewStop - v.viewStart) * 0.05;
    if (fromPts >= want) return;
    const axis = (await page.locator('#axis-bg').boundingBox())!;
    const dx = Math.min(axis.width * 0.8, (want - fromPts) / v.nsPerPx + 10);
    const x0 = axis.x + axis.width * 0.1;
    const y = axis.y + axis.height / 2;
    await page.mouse.move(x0, y);
    await page.mouse.down();
    await page.mouse.move(x0 + dx, y, { steps: 8 });
    await page.mouse.up();
    await page.waitForTimeout(100);
  }
}

/** The text line of a frame, binarised (white text on the dark box): one byte per pixel. */
function binarise(rgb: ArrayLike<number>, channels: number): Uint8Array {
  const out = new Uint8Array(rgb.length / channels);
  for (let i = 0; i < out.length; i++) {
    const [r, g, b] = [rgb[i * channels], rgb[i * channels + 1], rgb[i * channels + 2]];
    out[i] = 0.299 * r + 0.587 * g + 0.114 * b > 128 ? 1 : 0;
  }
  return out;
}

/** The text line of every frame of a segment, as ffmpeg decodes it, in presentation order. */
async function referenceLines(dataDir: string, s: SegmentWire): Promise<Uint8Array[]> {
  const raw = await new Promise<Buffer>((resolve, reject) => {
    import('node:child_process').then(({ execFile }) => execFile('ffmpeg', ['-v', 'error', '-i', segmentFile(dataDir, s),
      '-vf', `crop=${CROP.w}:${CROP.h}:${CROP.x}:${CROP.y}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { encoding: 'buffer', maxBuffer: 1 << 28 }, (e, out) => (e ? reject(e) : resolve(out))), reject);
  });
  const size = CROP.w * CROP.h * 3;
  const lines: Uint8Array[] = [];
  for (let o = 0; o + size <= raw.length; o += size) lines.push(binarise(raw.subarray(o, o + size), 3));
  return lines;
}

/** The text line of the picture the page's <video> shows now. */
async function shownLine(page: Page): Promise<Uint8Array> {
  const rgba = await page.locator('#player').evaluate((v: VideoEl, c) => {
    const doc = (globalThis as unknown as { document: { createElement(t: string): { width: number; height: number; getContext(k: string): {
      drawImage(v: unknown, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
    } } } }).document;
    const canvas = doc.createElement('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(v, 0, 0);
    return Array.from(ctx.getImageData(c.x, c.y, c.w, c.h).data);
  }, CROP);
  return binarise(rgba, 4);
}

const mismatches = (a: Uint8Array, b: Uint8Array) => { let n = 0; for (let i = 0; i < a.length; i++) n += a[i] ^ b[i]; return n; };

describe('web page: recorded footage, played and scrubbed without making a clip', { skip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('a click plays the frame recorded there; seeking, next/previous event, speed, the next window, and "Download span"', async () => {
    const tmp = tempDir();
    const dataDir = join(tmp.dir, 'data');
    const p = await startTestProducer(dataDir, { segmentSeconds: 1, testsrc: { width: W, height: H } });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
    const errors = watchErrors(page);
    const video = page.locator('#player');
    const attr = async (name: string) => Number(await video.getAttribute(name));
    const playhead = async () => Number(await page.getAttribute('#playhead', 'data-pts'));
    try {
      const sealed = await waitFor('7 sealed segments', async () => {
        const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
        return s.length >= 7 ? s : null;
      }, 30_000);
      const segs = sealed.slice(-6);
      const frames = await sourceFrames(dataDir, segs);
      const lines = new Map<SourceFrame, Uint8Array>();
      for (const s of segs) {
        const ls = await referenceLines(dataDir, s);
        const fs = frames.filter((f) => f.segment === s.id);
        assert.equal(ls.length, fs.length, `segment ${s.id}: one text line per frame`);
        fs.forEach((f, i) => lines.set(f, ls[i]));
      }
      /**
       * The source frame the page shows now: the best match of its text line, which must be clearly the
       * best. A picture still being painted after a seek matches none clearly: looked at again for up to 2 s.
       */
      const frameShown = async (): Promise<SourceFrame> => {
        for (const until = Date.now() + 2000; ;) {
          const line = await shownLine(page);
          const ranked = frames.map((f) => ({ f, d: mismatches(line, lines.get(f)!) })).sort((a, b) => a.d - b.d);
          if (ranked[0].d * 3 < ranked[1].d) return ranked[0].f;
          if (Date.now() > until) assert.fail(`one frame matches clearly (${ranked[0].d} vs ${ranked[1].d} mismatching pixels)`);
          await page.waitForTimeout(50);
        }
      };
      const frameAt = (pts: number) => frames.filter((f) => f.ptsNs <= pts + 1000).at(-1)!;

      // Two events on this camera: a clip and a motion event (clips made through the API).
      const cam = `${p.url}/cameras/${p.producer.name}`;
      const apiClip = async (start: number, stop: number, label: string) => {
        const r = await postJson<{ clip_id: string }>(`${cam}/clip`, { start_pts_ns: Math.round(start), stop_pts_ns: Math.round(stop), label });
        assert.equal(r.status, 202);
        return r.body.clip_id;
      };
      const evA = { start: Math.round(segs[2].start_pts_ns + 5.5 * FRAME_NS), id: '' };
      const evB = { start: Math.round(segs[4].start_pts_ns + 3.5 * FRAME_NS), id: '' };
      evA.id = await apiClip(evA.start, evA.start + 400e6, 'event a');
      evB.id = await apiClip(evB.start, evB.start + 500e6, 'motion b');

      // The page's modules (app.js imports the others) are served as JavaScript; nothing outside web/ is.
      const modules = [...webSource('index.html').matchAll(/'([a-z]+)'/g)].map((m) => m[1]).filter((m) => webHas(`${m}.js`));
      assert.ok(modules.length >= 8, `the modules listed in index.html's import map: ${modules.join(' ')}`);
      for (const m of modules) {
        const r = await fetch(`${p.url}/web/${m}.js`);
        assert.equal(r.status, 200, `${m}.js`);
        assert.match(r.headers.get('content-type') ?? '', /^text\/javascript/);
        assert.match(await r.text(), /^\/\/ [a-z]+\.js — /, `${m}.js starts with what it owns`);
      }
      for (const bad of ['..%2Fpackage.json', '%2E%2E%2Fpackage.json', '.env']) assert.equal((await fetch(`${p.url}/web/${bad}`)).status, 404, bad);

      await page.goto(`${p.url}/`);
      await page.waitForSelector('#tl rect.span');
      await page.locator('#h-events', { hasText: /^connected$/ }).waitFor();
      while (!(await page.isDisabled('#zoom-in'))) await page.click('#zoom-in');
      await page.uncheck('#follow');
      await page.waitForTimeout(300);
      await panInto(page, segs[1].start_pts_ns - 0.2e9);
      for (const e of [evA, evB]) await page.locator(`#l-clips rect.clip-mark[data-clip-id="${e.id}"]`).waitFor();
      assert.equal(await page.locator('#playhead[data-pts]').count(), 0, 'no playhead before anything plays');

      // A plain click on the track, in the footage before the events: it plays from there, no clip made.
      const clipsBefore = (await getJson<{ clips: unknown[] }>(`${cam}/clips`)).body.clips.length;
      const tv = await timelineView(page);
      const target = segs[1].start_pts_ns + 0.43e9;
      assert.ok(target > tv.viewStart && target < tv.viewStop, 'the moment clicked is in view');
      await page.mouse.click(tv.xOf(target), tv.y);
      await waitFor('the recording to load', () => video.evaluate((v: VideoEl) => v.getAttribute('data-mode') === 'recording' && v.readyState >= 2), 15_000);
      assert.match((await video.getAttribute('src'))!, new RegExp(`/cameras/${p.producer.name}/recording\\.mp4\\?start_pts_ns=\\d+&stop_pts_ns=\\d+$`));
      const winStart = await attr('data-window-start-pts');
      assert.ok(Math.abs(winStart - target) <= 2 * tv.nsPerPx, `the window starts at the moment clicked (${winStart} vs ${target})`);
      const actualStart = await attr('data-actual-start-pts');
      // (ffprobe gives frame times to the µs: a frame within 1 µs of the window start may be on either side.)
      const first = frames.find((f) => f.ptsNs >= winStart + 1000 || (Math.abs(f.ptsNs - winStart) < 1000 && Math.abs(f.ptsNs - actualStart) < 1000))!;
      assert.ok(Math.abs(actualStart - first.ptsNs) < 1000, `media time 0 is the first frame at or after the moment clicked (${actualStart} vs ${first.ptsNs}, window from ${winStart})`);
      assert.equal(await page.locator('#sel-start[data-pts]').count(), 0, 'a click selects nothing');
      await waitFor('the recording to play', () => video.evaluate((v: VideoEl) => !v.paused && v.currentTime > 0.4), 10_000);
      // The playhead follows playback: actual start + currentTime (no gaps here).
      // (Drawn at the pause event: on a loaded machine that can come later than a fixed wait.)
      const t = await video.evaluate((v: VideoEl) => { v.pause(); return v.currentTime; });
      let ph = NaN;
      await waitFor('the playhead at the paused moment', async () => { ph = await playhead(); return Math.abs(ph - (actualStart + t * 1e9)) < 2e6; }, 3000)
        .catch(() => undefined);
      assert.ok(Math.abs(ph - (actualStart + t * 1e9)) < 2e6, `playhead ${ph} at actual start + currentTime ${t}`);
      // The picture at media time 0 is the frame recorded at the moment clicked.
      await video.evaluate((v: VideoEl) => { v.currentTime = 0; });
      await waitFor('the seek', () => video.evaluate((v: VideoEl) => !v.seeking && v.readyState >= 2), 5000);
      assert.equal((await frameShown()).ptsNs, first.ptsNs, 'the frame shown is the one recorded at the moment clicked');
      assert.equal((await getJson<{ clips: unknown[] }>(`${cam}/clips`)).body.clips.length, clipsBefore, 'no clip was made');

      // Seeking: currentTime set → that frame, and the playhead there.
      for (const s of [1.234, 3.05, 0.5]) {
        await video.evaluate((v: VideoEl, x) => { v.currentTime = x; }, s);
        await waitFor('the seek', () => video.evaluate((v: VideoEl) => !v.seeking && v.readyState >= 2), 5000);
        await page.waitForTimeout(50);
        const want = frameAt(actualStart + s * 1e9);
        assert.equal((await frameShown()).ptsNs, want.ptsNs, `at currentTime ${s} the frame of PTS ${want.ptsNs}`);
        assert.ok(Math.abs((await playhead()) - (actualStart + s * 1e9)) < 2e6, `the playhead at currentTime ${s}`);
      }

      // Next / previous event: playback and the playhead go to the event's start, the picture its first frame.
      const toEvent = async (button: string, e: { start: number }) => {
        await page.click(button);
        await waitFor(`the playhead at ${e.start}`, async () => { const x = await playhead(); return x >= e.start && x < e.start + FRAME_NS + 2e6; }, 10_000);
        assert.equal(await video.evaluate((v: VideoEl) => v.paused), true, 'paused, it stays paused');
        await waitFor('the seek', () => video.evaluate((v: VideoEl) => !v.seeking && v.readyState >= 2), 5000);
        const ph2 = await playhead();
        assert.ok(ph2 >= e.start && ph2 < e.start + FRAME_NS + 2e6, `the playhead at the event (${ph2} vs ${e.start})`);
        assert.equal((await frameShown()).ptsNs, frameAt(ph2).ptsNs, 'the picture is the frame at the playhead');
        assert.equal((await frameShown()).ptsNs, frames.find((f) => f.ptsNs >= e.start)!.ptsNs, "the event's first frame");
      };
      await video.evaluate((v: VideoEl) => v.pause());
      await toEvent('#next-event', evA);
      await toEvent('#next-event', evB);
      await toEvent('#prev-event', evA);
      const phNow = await playhead();
      const x = await page.locator('#playhead line').getAttribute('x1');
      const tv2 = await timelineView(page);
      assert.ok(Math.abs(Number(x) + (await page.locator('#tl').boundingBox())!.x - tv2.xOf(phNow)) < 2, 'the playhead is drawn at its PTS');

      // "Download span" next to "Make clip": recording.mp4 of the selection, ?download=1, exactly its frames.
      const tv4 = await timelineView(page);
      const dl0 = segs[1].start_pts_ns + 0.3e9;
      const dl1 = segs[3].start_pts_ns + 0.6e9;
      assert.equal(await page.getAttribute('#download-span', 'aria-disabled'), 'true', 'nothing to download without a selection');
      await page.mouse.move(tv4.xOf(dl0), tv4.y);
      await page.mouse.down();
      await page.mouse.move(tv4.xOf(dl1), tv4.y, { steps: 6 });
      await page.mouse.up();
      const selStart = (await page.getAttribute('#sel-start', 'data-pts'))!;
      const selStop = (await page.getAttribute('#sel-stop', 'data-pts'))!;
      const href = (await page.getAttribute('#download-span', 'href'))!;
      assert.equal(href, `${p.url}/cameras/${p.producer.name}/recording.mp4?start_pts_ns=${selStart}&stop_pts_ns=${selStop}&download=1`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-span')]);
      const saved = join(tmp.dir, 'span.mp4');
      await download.saveAs(saved);
      const want = framesIn(frames, Number(selStart), Number(selStop));
      assert.ok(want.length > 20, `${want.length} frames selected`);
      assert.deepEqual(await videoFrameMd5s(saved), want.map((f) => f.md5), 'the download is exactly the selected frames');
      assert.match(download.suggestedFilename(), /\.mp4$/);

      // Speed: playbackRate follows the control, also for a window loaded later.
      for (const r of ['0.5', '4', '2']) {
        await page.selectOption('#play-rate', r);
        assert.equal(await video.evaluate((v: VideoEl) => v.playbackRate), Number(r));
      }
      // Playback goes on into the next window: a click near the newest footage plays a short window (to the
      // end of what is recorded), and when it ends the next one, recorded meanwhile, follows.
      const loadedTo = await attr('data-actual-stop-pts');
      const newest = await waitFor('footage recorded after the window loaded', async () =>
        (await listSegments(p.url)).segments.find((s) => s.sealed && s.start_pts_ns > loadedTo + 300e6), 15_000);
      while ((await page.textContent('#zoom-label')) !== '30 s') await page.click('#zoom-out');
      await page.check('#follow');
      await page.waitForTimeout(300);
      await page.uncheck('#follow');
      await page.waitForTimeout(300);
      const tv3 = await timelineView(page);
      await page.mouse.click(tv3.xOf(newest.start_pts_ns + 200e6), tv3.y);
      await waitFor('the short window', async () => Math.abs((await attr('data-window-start-pts')) - newest.start_pts_ns - 200e6) <= 2 * tv3.nsPerPx, 10_000);
      const w1 = { start: await attr('data-window-start-pts'), stop: await attr('data-window-stop-pts'), actualStop: await attr('data-actual-stop-pts') };
      assert.ok(w1.stop - w1.start < 60e9, 'the window ends at the newest footage');
      assert.equal(await video.evaluate((v: VideoEl) => v.playbackRate), 2, 'the speed chosen stays for a new window');
      await waitFor('the next window', async () => (await attr('data-window-start-pts')) >= Math.min(w1.stop, w1.actualStop) - 1000, 30_000, 200);
      const w2start = await attr('data-window-start-pts');
      assert.ok(Math.abs(w2start - Math.min(w1.stop, w1.actualStop)) < 1000, 'the next window starts where the last one\'s footage stopped');
      await waitFor('the next window to play on', async () => (await playhead()) > w1.actualStop + 200e6, 20_000, 200);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'web-playback.png'), fullPage: true });
      assert.deepEqual(errors, [], 'no console errors or page errors');
      assert.equal(await page.locator('#messages .message').count(), 0, 'no error messages shown');
    } finally {
      await page.close();
      await p.close();
      tmp.cleanup();
    }
  });
  test('at 100 years of producer clock (PTS past 2^53): the playhead maps currentTime through actual start and gaps, exactly', async () => {
    const tmp = tempDir();
    const mp4 = join(tmp.dir, 'window.mp4');
    await makeVideo(mp4, { seconds: 4, fps: FPS, width: 192, height: 108, gop: 15, container: 'plain' });
    const file = readFileSync(mp4);
    const N = 3_155_760_000_000_000_123n;
    const t0 = Date.now();
    const nowPts = () => N + BigInt(Date.now() - t0) * 1_000_000n;
    const P = (ms: number, odd: bigint) => N + BigInt(ms) * 1_000_000n + odd;
    const seg = (id: number, start: bigint, stop: bigint) => ({
      id, path: `2125-11-25/${start}.mp4`, start_pts_ns: start, stop_pts_ns: stop, start_epoch_ms: 0, stop_epoch_ms: 0, duration_ms: 0,
      bytes: 1000, frames: 10, fragments: 1, sealed: true, codec: 'h264', width: 192, height: 108, fps: FPS, has_audio: false,
    });
    const segs = [seg(1, P(-30_000, 7n), P(-6_000, 3n)), seg(2, P(-4_000, 11n), P(600_000, 13n))];
    const gap = { start_pts_ns: P(-6_000, 3n), stop_pts_ns: P(-4_000, 11n) };
    const clip = {
      clip_id: 'clip-front-0000000000000001', status: 'done', mode: 'pts', label: 'after the gap', start_pts_ns: P(-2_000, 5n), stop_pts_ns: P(-1_000, 9n),
      start_epoch_ms: null, stop_epoch_ms: null, error: null, created_ms: t0, updated_ms: t0, path: '/clips/x.mp4',
      actual_start_pts_ns: P(-2_000, 5n), actual_stop_pts_ns: P(-1_000, 9n), lead_in_ms: 0, duration_ms: 1000, frames: 15, bytes: 1000,
      segments: [], gaps: [], partial: false, partial_reason: null,
    };
    const ODD = 7n; // the first frame is this far after the start asked for
    /** The window's answer: its media time 0 at start + ODD, a gap closed up when the window holds it. */
    const windowOf = (q: Record<string, string>) => {
      const start = BigInt(q.start_pts_ns) + ODD;
      const gaps = start < gap.start_pts_ns ? [gap] : [];
      const stop = start + 4_000_000_000n + (gaps.length ? gap.stop_pts_ns - gap.start_pts_ns : 0n);
      return { start, stop, gaps };
    };
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
      if (sub === 'segments') return { body: { ok: true, segments: segs, gaps: [{ ...gap, duration_ms: 2000, reason: 'ingest restarted' }], spans: [], truncated: false, next_cursor: null, window: { from_pts_ns: 0, to_pts_ns: 0 } } };
      if (sub === 'events') return { headers: { 'content-type': 'text/event-stream' }, body: ': open\n\n: open\n\n', stallBody: true };
      if (sub === 'clips') return { body: { ok: true, clips: [clip] } };
      if (sub === 'recording.mp4') {
        const w = windowOf(req.query);
        // Byte ranges, as the producer serves them (a browser seeks with them).
        const m = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
        const a = m ? Number(m[1]) : 0;
        const b = m && m[2] ? Math.min(Number(m[2]), file.length - 1) : file.length - 1;
        return {
          status: m ? 206 : 200,
          body: req.method === 'HEAD' ? '' : file.subarray(a, b + 1),
          headers: {
            'content-type': 'video/mp4', 'content-length': String(b - a + 1), 'accept-ranges': 'bytes', etag: `"w${w.start}"`,
            ...(m ? { 'content-range': `bytes ${a}-${b}/${file.length}` } : {}),
            'x-segrec-actual-start-pts-ns': String(w.start), 'x-segrec-actual-stop-pts-ns': String(w.stop),
            'x-segrec-gaps': `[${w.gaps.map((g) => `{"start_pts_ns":${g.start_pts_ns},"stop_pts_ns":${g.stop_pts_ns}}`).join(',')}]`,
          },
        };
      }
      return { status: 404, body: { ok: false, message: `no route ${req.path}` } };
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = watchErrors(page);
    const video = page.locator('#player');
    const playhead = async () => BigInt((await page.getAttribute('#playhead', 'data-pts'))!);
    const seek = async (t: number) => {
      await video.evaluate((v: VideoEl, x) => { v.pause(); v.currentTime = x; }, t);
      await waitFor('the seek', () => video.evaluate((v: VideoEl) => !v.seeking && v.readyState >= 2), 5000);
      await page.waitForTimeout(50);
    };
    const windows = () => srv.requests.filter((r) => r.path.endsWith('/recording.mp4') && r.method === 'HEAD');
    try {
      await page.goto(`${srv.url}/#token=tok-123`);
      await page.waitForSelector('#tl rect.span');
      while ((await page.textContent('#zoom-label')) !== '30 s') await page.click('#zoom-in');
      await page.uncheck('#follow');
      await page.waitForTimeout(300);
      // Every module of the page was asked for with the token (the import map), as app.js itself.
      const modules = srv.requests.filter((r) => /^\/web\/.*\.js$/.test(r.path));
      assert.ok(modules.length >= 8, `the page's modules (${modules.map((r) => r.path).join(' ')})`);
      for (const r of modules) assert.equal(r.query.access_token, 'tok-123', r.rawUrl);

      // Click 2 s before the gap: the window asked for starts there, its media time 0 is its actual start.
      const tv = await timelineView(page);
      await page.mouse.click(tv.xOf(Number(P(-8_000, 0n))), tv.y);
      await waitFor('the recording to load', () => video.evaluate((v: VideoEl) => v.getAttribute('data-mode') === 'recording' && v.readyState >= 2), 10_000);
      const head = windows()[0];
      assert.match(head.query.start_pts_ns, /^\d{19}$/);
      assert.equal(head.query.access_token, undefined, 'HEAD carries the token as a header');
      assert.equal(head.headers.authorization, 'Bearer tok-123');
      assert.match((await video.getAttribute('src'))!, /[?&]access_token=tok-123/);
      const w = windowOf(head.query);
      await seek(0);
      assert.equal(await playhead(), w.start, 'currentTime 0 is the actual start, all its digits');
      await seek(1);
      assert.equal(await playhead(), w.start + 1_000_000_000n);
      // Past the gap (closed up in media time) the footage follows on directly: add the gap.
      const beforeGap = Number(gap.start_pts_ns - w.start) / 1e9;
      assert.ok(beforeGap > 1.5 && beforeGap < 2.5, `the gap at media time ${beforeGap}`);
      await seek(3);
      assert.equal(await playhead(), w.start + 3_000_000_000n + (gap.stop_pts_ns - gap.start_pts_ns), 'past the gap: + its length');
      assert.equal((await page.getAttribute('#playhead', 'visibility')), 'visible');

      // Next event: the clip after the gap; a window from its exact start (digits as the producer sent them).
      await page.click('#next-event');
      await waitFor('a window from the clip', () => windows().length >= 2, 10_000);
      assert.equal(windows()[1].query.start_pts_ns, String(clip.start_pts_ns));
      await waitFor('the playhead at the clip', async () => (await playhead()) === clip.start_pts_ns + ODD, 10_000);
      assert.equal(await video.evaluate((v: VideoEl) => v.paused), true, 'paused, it stays paused');
      assert.equal(await page.isDisabled('#prev-event'), true, 'no earlier event');
      assert.equal(await page.isDisabled('#next-event'), true, 'no later event');

      // Played to its end at 4×, the window is followed by the next, from its actual stop, exactly.
      await page.selectOption('#play-rate', '4');
      await video.evaluate((v: VideoEl) => v.play());
      assert.equal(await video.evaluate((v: VideoEl) => v.playbackRate), 4);
      await waitFor('the next window', () => windows().length >= 3, 10_000);
      const w2 = windowOf(windows()[1].query);
      assert.equal(windows()[2].query.start_pts_ns, String(w2.stop), 'the next window starts where the last one stopped');
      assert.deepEqual(errors, [], 'no console errors or page errors');
      assert.equal(await page.locator('#messages .message').count(), 0, 'no error messages shown');
    } finally {
      await page.close();
      await srv.close();
      tmp.cleanup();
    }
  });
});
