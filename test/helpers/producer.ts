// Test helpers: a real producer (in this process, or as a child process that can be kill -9'ed),
// polling until a condition holds, and small HTTP/JSON calls.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { startProducer, type ProducerHandle } from '../../src/producer/app.js';
import type { ProducerOptionsInput } from '../../src/producer/options.js';
import { createLogger } from '../../src/common/log.js';
import type { SegmentIndex, SegmentRow } from '../../src/producer/store/catalog.js';
import type { HealthPayload } from '../../src/protocol/schemas.js';
import { distributedOptions } from './distributed-check.js';
import { parseWireJson } from '../../src/protocol/wire-json.js';

export const SMALL_TESTSRC = { width: 320, height: 180, fps: 15, gopSeconds: 1, motionPeriodS: 0, motionDurationS: 0, motionOffsetS: 0 };

/**
 * Starts a producer on 127.0.0.1 with a free port and a small, fast test source. With
 * SEGREC_TEST_CATALOG=postgres and/or SEGREC_TEST_STORE=s3 (`npm run test:distributed`) every such
 * producer also keeps its catalog in a fresh PostgreSQL database / its footage in a fresh bucket, and its
 * close() first checks that both caught up with what it recorded (distributed-check.ts).
 */
export async function startTestProducer(dataDir: string, o: ProducerOptionsInput = {}): Promise<ProducerHandle & { logs: string[] }> {
  const logs: string[] = [];
  const distributed = await distributedOptions(o);
  const handle = await startProducer({
    dataDir, port: 0, segmentSeconds: 2, ...distributed.options, ...o,
    testsrc: { ...SMALL_TESTSRC, ...(o.testsrc ?? {}) },
    logger: o.logger ?? createLogger({ level: 'debug', write: (l) => logs.push(l) }),
  }).catch(async (e: unknown) => {
    await distributed.cleanup();
    throw e;
  });
  const close = handle.close;
  handle.app.beforeCameraClose = (p) => distributed.check(handle.app, p);
  return Object.assign(handle, {
    logs,
    close: async () => {
      try {
        await close();
      } finally {
        await distributed.cleanup();
      }
    },
  });
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/**
 * Waits until the producer's new run (the segments starting at or after `sincePtsNs`, e.g. the end of a
 * generated history) spans more than `spanNs`, measured from the run's own first segment: the time between
 * `sincePtsNs` and the run's start is a gap whose length depends on how long the start took (longer when
 * the test first makes a catalog database and a bucket). Exact PTS (bigint) at any clock.
 */
export async function waitForNewRun(url: string, sincePtsNs: bigint, spanNs: bigint, timeoutMs = 30_000): Promise<{ firstPtsNs: bigint; lastPtsNs: bigint }> {
  return waitFor(`${spanNs / 1_000_000n} ms recorded by the new run`, async () => {
    const body = parseWireJson(await (await fetch(`${url}/segments?from_pts_ns=${sincePtsNs}`)).text()) as { segments: Array<Record<string, number | bigint>> };
    const run = body.segments.map((s) => ({ start: BigInt(s.start_pts_ns), stop: BigInt(s.stop_pts_ns) })).filter((s) => s.start >= sincePtsNs);
    if (run.length === 0) return null;
    const firstPtsNs = run.reduce((m, s) => (s.start < m ? s.start : m), run[0].start);
    const lastPtsNs = run.reduce((m, s) => (s.stop > m ? s.stop : m), run[0].stop);
    return lastPtsNs - firstPtsNs > spanNs ? { firstPtsNs, lastPtsNs } : null;
  }, timeoutMs);
}

export async function getJson<T = Record<string, unknown>>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : {}) as T };
}

export async function postJson<T = Record<string, unknown>>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  return getJson<T>(url, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/**
 * An answer as getJson reads it (plain JSON.parse): every PTS the schema types `number | bigint` is a
 * number, which it holds exactly on the small clocks these tests run on.
 */
export type Plain<T> = T extends bigint ? never : T extends object ? { [K in keyof T]: Plain<T[K]> } : T;
/** GET /health as getJson reads it. */
export type HealthWire = Plain<HealthPayload>;

export interface SegmentWire {
  id: number; path: string; start_pts_ns: number; stop_pts_ns: number; frames: number; fragments: number; sealed: boolean;
  bytes: number; has_audio: boolean; width: number; height: number;
}
export interface SegmentsWire { ok: boolean; segments: SegmentWire[]; gaps: Array<{ start_pts_ns: number; stop_pts_ns: number; reason: string }> }

export async function listSegments(url: string): Promise<SegmentsWire> {
  return (await getJson<SegmentsWire>(`${url}/segments`)).body;
}

export function segmentFile(dataDir: string, s: { path: string }): string {
  return join(dataDir, 'segments', s.path);
}

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Runs `segrec producer` as a child process (through tsx), resolving once it listens. If it does not
 * listen within 30 s, or exits first, the child is killed (SIGKILL; its ffmpeg then ends on the broken
 * pipe) before the error is thrown, so a failing test leaks no producer.
 */
export async function spawnProducerProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const LISTEN_TIMEOUT_MS = 30_000;
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'producer', ...args], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let spawnError: Error | null = null;
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  child.on('error', (e) => { spawnError = e; });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  try {
    const deadline = Date.now() + LISTEN_TIMEOUT_MS;
    for (;;) {
      const url = /producer running at (http:\/\/\S+)/.exec(out)?.[1];
      if (url) return { child, url, output: () => out };
      if (spawnError) throw new Error(`producer process failed to start: ${(spawnError as Error).message}`);
      if (exited()) throw new Error(`producer exited (${child.exitCode ?? child.signalCode}) before listening: ${out}`);
      if (Date.now() >= deadline) throw new Error(`timed out after ${LISTEN_TIMEOUT_MS} ms waiting for the producer process to listen: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    if (!exited()) child.kill('SIGKILL');
    throw e;
  }
}

/** Every segment row, in time order, as the index reads rows (PTS exact bigints; tests only: the producer itself never loads the whole table). */
export function allSegmentRows(index: SegmentIndex): SegmentRow[] {
  return index.db.prepare<[], { id: number }>('SELECT id FROM segments ORDER BY start_pts_ns, id').all().map((r) => index.get(r.id)!);
}
