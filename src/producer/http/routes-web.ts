// The web page: GET / serves web/index.html, GET /web/{file} its static assets (no build step).
// File names are checked against a plain-name pattern, so nothing outside web/ can be reached.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError, type Router } from './router.js';

/** web/ at the package root (two levels above src/producer/http and dist/producer/http). */
export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json',
};

async function serve(res: import('node:http').ServerResponse, name: string): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) throw new HttpError(404, `web: no file ${name}`);
  const ext = name.slice(name.lastIndexOf('.'));
  let body: Buffer;
  try {
    body = await readFile(join(WEB_DIR, name));
  } catch {
    throw new HttpError(404, `web: no file ${name}`);
  }
  res.writeHead(200, {
    'content-type': TYPES[ext] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

export function addWebRoutes(router: Router): void {
  router.add('GET', '/', (c) => serve(c.res, 'index.html'));
  router.add('GET', '/web/:file', (c) => serve(c.res, c.params.file));
}
