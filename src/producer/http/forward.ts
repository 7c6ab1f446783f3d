// Forwarding to another node of a cluster: a request this node should not answer itself (a clip job
// another node holds, a clip or force_rotate for a camera another node records) is passed on as it came
// — method, path and query, body, token, Range — and the answer streamed back unchanged, with
// `x-segrec-node` naming the node that answered. A forwarded request carries `x-segrec-forwarded` and is
// never forwarded again (no loops while the nodes' views of the leases differ for a moment).
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../protocol/errors.js';

/** Where a request goes instead, or null to answer it here. */
export type ForwardTarget = (method: string, path: string) => Promise<{ node: string; url: string } | null>;

const PASSED_ON = ['authorization', 'range', 'if-range', 'if-none-match', 'if-modified-since', 'accept'];
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);
export const FORWARDED_HEADER = 'x-segrec-forwarded';

export function addForwarding(app: FastifyInstance, from: string, target: ForwardTarget): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.headers[FORWARDED_HEADER] !== undefined) return;
    const path = (req.raw.url ?? '/').split('?')[0];
    const to = await target(req.method, path);
    if (!to) return;
    return forward(req, reply, to, from);
  });
}

async function forward(req: FastifyRequest, reply: FastifyReply, to: { node: string; url: string }, from: string): Promise<FastifyReply> {
  const headers: Record<string, string> = { [FORWARDED_HEADER]: from };
  for (const h of PASSED_ON) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  const withBody = req.method === 'POST' || req.method === 'PUT';
  if (withBody) headers['content-type'] = 'application/json';
  const ac = new AbortController();
  reply.raw.on('close', () => ac.abort());
  let r: Response;
  try {
    r = await fetch(to.url.replace(/\/$/, '') + (req.raw.url ?? '/'), {
      method: req.method, headers, redirect: 'manual', signal: ac.signal,
      ...(withBody ? { body: Readable.toWeb(req.raw) as ReadableStream, duplex: 'half' } : {}),
    } as RequestInit);
  } catch (e) {
    throw new DomainError('NODE_UNAVAILABLE', `node ${to.node} did not answer (${(e as Error).message}); retry`);
  }
  reply.code(r.status);
  for (const [k, v] of r.headers) if (!HOP_BY_HOP.has(k)) reply.header(k, v);
  reply.header('x-segrec-node', to.node);
  return reply.send(r.body ? Readable.fromWeb(r.body as import('node:stream/web').ReadableStream) : null);
}
