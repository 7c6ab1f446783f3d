// Shared tools of the fault suite: a seeded PRNG (the seed is printed, so a failing run can be replayed),
// file hashes and clip-root walks, a small tmpfs mount for disk-full tests and a ramfs one (skipped with a
// clear message when they cannot run), a local node:http "camera" that can be down, send garbage, or stream a real MP4
// paced in real time, and a recorder of measured figures (printed as test diagnostics and, when
// SEGREC_FAULT_REPORT names a directory, written there as JSON for docs/reliability.md).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { run } from '../helpers/media.js';

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): { next(): number; between(lo: number, hi: number): number; int(lo: number, hi: number): number } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, between: (lo, hi) => lo + (hi - lo) * next(), int: (lo, hi) => Math.floor(lo + (hi - lo + 1) * next()) };
}

/** The seed of this run: SEGREC_FAULT_SEED, or a constant. */
export function faultSeed(): number {
  const env = process.env.SEGREC_FAULT_SEED;
  const n = env === undefined || env === '' ? 0x5e9ec : Number(env);
  if (!Number.isInteger(n)) throw new Error(`SEGREC_FAULT_SEED must be an integer, got ${env}`);
  return n;
}

export const md5File = (path: string): string => createHash('md5').update(readFileSync(path)).digest('hex');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every file under `dir` (recursively); [] when it does not exist. */
export function walkFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => d.isDirectory() ? walkFiles(join(dir, d.name)) : [join(dir, d.name)]);
}

/** Clip-root facts: temp files, visible clips and sidecars. */
export function clipRootState(root: string): { temps: string[]; mp4: string[]; json: string[] } {
  const files = walkFiles(root);
  const base = (p: string) => p.split('/').pop()!;
  return {
    temps: files.filter((f) => /^\.segrec-.*\.tmp$/.test(base(f))),
    mp4: files.filter((f) => f.endsWith('.mp4') && !base(f).startsWith('.')),
    json: files.filter((f) => f.endsWith('.json') && !base(f).startsWith('.')),
  };
}

/** Collects measured figures of one test file; prints them and (optionally) writes them as JSON. */
export class Figures {
  readonly values: Record<string, unknown> = {};
  constructor(private readonly name: string) {}

  set(key: string, value: unknown): void {
    this.values[key] = value;
  }

  report(t: TestContext): void {
    t.diagnostic(`FIGURES ${this.name} ${JSON.stringify(this.values)}`);
    const dir = process.env.SEGREC_FAULT_REPORT;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${this.name}.json`), JSON.stringify(this.values, null, 2) + '\n');
    }
  }
}

/** min / median / max of a list of durations (ms), rounded. */
export function stats(xs: number[]): { n: number; min: number; median: number; max: number } | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: Math.round(s[0]), median: Math.round(s[s.length >> 1]), max: Math.round(s[s.length - 1]) };
}

/**
 * Mounts a tmpfs of `sizeMiB` at `dir` and runs `fn`; always unmounts. Skips the test (with the reason)
 * when not root or when mounting fails — except under CI (env CI set) as root, where a failed mount fails.
 */
export async function withTmpfs(t: TestContext, dir: string, sizeMiB: number, fn: () => Promise<void>): Promise<void> {
  await withMount(t, dir, ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs'], 'disk-full test', fn);
}

/** Mounts a ramfs (a filesystem without O_DIRECT) at `dir` and runs `fn`, as withTmpfs does. */
export async function withRamfs(t: TestContext, dir: string, fn: () => Promise<void>): Promise<void> {
  await withMount(t, dir, ['-t', 'ramfs', 'ramfs'], 'ramfs test', fn);
}

async function withMount(t: TestContext, dir: string, args: string[], what: string, fn: () => Promise<void>): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    t.skip(`${what} needs root to mount a filesystem (run as root, as CI does)`);
    return;
  }
  mkdirSync(dir, { recursive: true });
  const m = await run('mount', [...args, dir]);
  if (m.code !== 0) {
    const why = `could not mount ${args[1]} at ${dir}: ${m.stderr.trim() || `exit ${m.code}`}`;
    if (process.env.CI) throw new Error(why);
    t.skip(`${why} (${what} skipped)`);
    return;
  }
  try {
    await fn();
  } finally {
    const u = await run('umount', [dir]);
    if (u.code !== 0) await run('umount', ['-l', dir]);
  }
}

/** Fills the filesystem holding `dir` with a filler file until writes fail (ENOSPC); returns its path and size. */
export function fillDisk(dir: string, name = 'filler.bin'): { path: string; bytes: number } {
  const path = join(dir, name);
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let bytes = 0;
  const fd = openSync(path, 'a');
  try {
    for (let size = chunk.length; size >= 512; size >>= 1) {
      for (;;) {
        try {
          bytes += writeSync(fd, chunk, 0, size);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return { path, bytes };
}
export type SourceMode = 'garbage' | 'file';

/**
 * A local HTTP "camera" on 127.0.0.1. `listen(port)` starts it (port 0: pick one); in `garbage` mode each
 * request gets `garbageBytes` random bytes; in `file` mode the MP4 is streamed paced at its own bit rate
 * (about real time), as a live camera would, and the response ends with the file.
 */
export class SourceServer {
  mode: SourceMode = 'garbage';
  requests = 0;
  private server: Server | null = null;
  private readonly open = new Set<ServerResponse>();
  private file: { bytes: Buffer; seconds: number } | null = null;

  constructor(private readonly rng: () => number, private readonly garbageBytes = 64 * 1024) {}

  serveFile(bytes: Buffer, seconds: number): void {
    this.file = { bytes, seconds };
    this.mode = 'file';
  }

  async listen(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      this.requests++;
      this.open.add(res);
      res.on('close', () => this.open.delete(res));
      if (this.mode === 'garbage' || !this.file) {
        const junk = Buffer.alloc(this.garbageBytes);
        for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(this.rng() * 256);
        res.writeHead(200, { 'content-type': 'video/mp4' });
        res.end(junk);
        return;
      }
      const { bytes, seconds } = this.file;
      res.writeHead(200, { 'content-type': 'video/mp4' });
      const tickMs = 100;
      const perTick = Math.ceil(bytes.length / (seconds * 1000 / tickMs));
      let at = 0;
      const send = () => {
        if (res.destroyed) return;
        const end = Math.min(bytes.length, at + perTick);
        res.write(bytes.subarray(at, end));
        at = end;
        if (at >= bytes.length) { res.end(); return; }
        setTimeout(send, tickMs);
      };
      send();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const r of this.open) r.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** A TCP port nothing listens on right now (bound and released). */
export async function unusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
