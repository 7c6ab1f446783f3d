// The web page: GET / serves web/index.html, GET /web/{file} its static assets (no build step).
// File names are checked against a plain-name pattern, so nothing outside web/ can be reached.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DomainError } from '../../protocol/errors.js';
import { route, type Ctx } from './server.js';
import type { FastifyInstance } from 'fastify';

/** web/ at the package root (two levels above src/producer/http and dist/producer/http). */
export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json',
};

async function serve(c: Ctx, name: string): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) throw new DomainError('NOT_FOUND', `web: no file ${name}`);
  const ext = name.slice(name.lastIndexOf('.'));
  let body: Buffer;
  try {
    body = await readFile(join(WEB_DIR, name));
  } catch {
    throw new DomainError('NOT_FOUND', `web: no file ${name}`);
  }
  const res = c.raw();
  res.writeHead(200, {
    'content-type': TYPES[ext] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

export function addWebRoutes(app: FastifyInstance): void {
  route(app, { method: 'GET', url: '/', schema: { summary: 'The web page.' }, handler: (c) => serve(c, 'index.html') });
  route(app, { method: 'GET', url: '/web/:file', schema: { summary: "The web page's files." }, handler: (c) => serve(c, c.params.file) });
}
