// Test helpers for the web page in Debian's Chromium (playwright-core drives the system browser): where
// it is and whether the page tests run without it (never in CI), how it is launched, the page's own files
// as the producer serves them (for a scripted producer), a page's console errors, and the timeline's view.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of the page tests. */
export const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;
const WEB_DIR = new URL('../../web/', import.meta.url).pathname;

/** The describe() skip reason when Chromium is missing: outside CI only (in CI the page tests must run). */
export const chromiumSkip: string | false = !existsSync(CHROMIUM) && !process.env.CI
  ? `${CHROMIUM} is missing (install Debian's chromium, e.g. bash scripts/setup.sh --browser); skipped outside CI`
  : false;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

/** A file of web/ by name. */
export function webSource(name: string): string {
  return readFileSync(join(WEB_DIR, name), 'utf8');
}

/** Whether web/ holds this file. */
export function webHas(name: string): boolean {
  return existsSync(join(WEB_DIR, name));
}

/** The page's own files as the producer serves them (GET / and /web/{name}), for a scripted producer. */
export function webFile(path: string): { body: string; headers: Record<string, string> } | null {
  const name = path === '/' ? 'index.html' : /^\/web\/([a-z-]+\.(?:js|css))$/.exec(path)?.[1];
  if (!name) return null;
  const type = name.endsWith('.html') ? 'text/html; charset=utf-8' : name.endsWith('.js') ? 'text/javascript' : 'text/css';
  return { body: webSource(name), headers: { 'content-type': type } };
}

/** Console errors and uncaught page errors, collected for the whole life of a page. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()} @ ${m.location().url}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/** The timeline's view (producer PTS), PTS → page x, and the page y of the recording track's middle. */
export async function timelineView(page: Page) {
  const viewStart = Number(await page.getAttribute('#tl', 'data-view-start-pts'));
  const viewStop = Number(await page.getAttribute('#tl', 'data-view-stop-pts'));
  const box = (await page.locator('#tl').boundingBox())!;
  const track = (await page.locator('#track-bg').boundingBox())!;
  return {
    viewStart, viewStop, nsPerPx: (viewStop - viewStart) / box.width, y: track.y + track.height / 2,
    xOf: (pts: number) => box.x + ((pts - viewStart) / (viewStop - viewStart)) * box.width,
  };
}
