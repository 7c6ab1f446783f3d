// Shared benchmark helpers: medians and quantiles, a fixture video, process CPU/RSS readings from /proc, and a small
// keep-alive JSON client (the cost of a request as a lean client pays it, not a client library's).
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { shebangNodeFlags } from '../scripts/node-flags.js';

/**
 * Node's arguments to run the built `segrec` (dist/cli/main.js) as the command runs it: with the Node
 * flags of its first line (V8's young generation capped), then the script.
 */
export function builtSegrec(): string[] {
  const main = join(process.cwd(), 'dist', 'cli', 'main.js');
  return [...shebangNodeFlags(main), main];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The sample at quantile `q` (0–1) of `xs`: nearest rank, round((n − 1)·q); NaN when there is none. */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  return [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * q)];
}

export function fmt(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

/** A pre-encoded 1080p30 ~4 Mbit/s H.264 file with a 2 s GOP (made once, kept in .tmp/). */
export function fixture1080p(path: string, seconds: number): string {
  if (existsSync(path)) return path;
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '4M', '-maxrate', '4M', '-bufsize', '8M',
    '-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', path], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg failed to make the fixture');
  return path;
}

const CLK_TCK = 100;

/** utime+stime of a process in ms (its own, not its children's). */
export function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** JSON requests over one keep-alive connection (node:http). Answers are parsed with JSON.parse. */
export class HttpJson {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly base: URL;

  constructor(baseUrl: string) {
    this.base = new URL(baseUrl);
  }

  request<T>(method: 'GET' | 'POST', path: string, body?: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      const req = request({ agent: this.agent, host: this.base.hostname, port: this.base.port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text) as T);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
