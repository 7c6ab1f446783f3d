// Starts and controls the camera-like RTSP test server (test/cameras/rtsp_server.py, GStreamer's
// gst-rtsp-server under /usr/bin/python3) for tests: free-port picking, READY handshake, stop (SIGTERM),
// kill (SIGKILL, a camera losing power) and restart on the same port (a camera rebooting).
// Mounts and their streams are documented in the script's header.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const RTSP_SERVER_SCRIPT = fileURLToPath(new URL('../cameras/rtsp_server.py', import.meta.url));
/** Debian's python3 (the one with `gi`); override with SEGREC_TEST_PYTHON. */
export const RTSP_SERVER_PYTHON = process.env.SEGREC_TEST_PYTHON ?? '/usr/bin/python3';
export const RTSP_USER = 'cam';
export const RTSP_PASSWORD = 's3cret-pa55';
const READY_TIMEOUT_MS = 20_000;

export type CameraMount = '/h264-aac' | '/h264-baseline' | '/h264-alaw' | '/baseline-alaw' | '/h264-mulaw' | '/h264-opus' | '/h265-aac'
  | '/mjpeg' | '/auth' | '/gop10' | '/jump' | '/pair-main' | '/pair-sub';

export interface RtspServer {
  port: number;
  /** rtsp://127.0.0.1:PORT/mount, with cam:s3cret-pa55@ when auth is true. */
  url(mount: CameraMount | string, auth?: boolean): string;
  /** SIGTERM and wait for the exit. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL, without waiting (a camera losing power). */
  kill(): void;
  /** Stops (if running) and starts again on the same port; resolves once it listens again. */
  restart(): Promise<void>;
  /** The server's stderr so far (for test failure messages). */
  stderr(): string;
  /**
   * Holes in a mount's own video timestamps so far (the rig prints `HOLE <mount> <from_ms> <to_ms>`, in
   * its running time): when the source itself skipped frames, a recording is right to show a gap.
   */
  holes(mount: string): Array<{ fromMs: number; toMs: number }>;
}

export interface StartRtspServerOptions {
  port?: number;
  /** Extra script arguments, e.g. ['--jump-at-s', '5']. */
  args?: string[];
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

interface Running { child: ChildProcess; exited: Promise<void> }

function spawnServer(port: number, extra: string[], log: { text: string; out: string }): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(RTSP_SERVER_PYTHON, [RTSP_SERVER_SCRIPT, '--port', String(port), ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((res) => child.once('close', () => res()));
    let stdout = '';
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`RTSP test server (${RTSP_SERVER_PYTHON} ${RTSP_SERVER_SCRIPT} --port ${port}) ${why}; ` +
        `stderr: ${log.text.slice(-2000).trim() || '(empty)'}. ` +
        'Install its packages with: bash scripts/setup.sh --cameras'));
    };
    const timer = setTimeout(() => fail(`printed no READY line within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      log.text += d;
      if (log.text.length > 64_000) log.text = log.text.slice(-32_000);
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      log.out += d;
      if (log.out.length > 256_000) log.out = log.out.slice(-128_000);
      if (!settled && /^READY \d+$/m.test(stdout)) {
        settled = true;
        clearTimeout(timer);
        resolve({ child, exited });
      }
    });
    child.once('error', (e) => fail(`could not start: ${e.message}`));
    child.once('close', (code, signal) => fail(`exited (code ${code}, signal ${signal}) before it was ready`));
  });
}

export async function startRtspServer(opts: StartRtspServerOptions = {}): Promise<RtspServer> {
  const port = opts.port ?? await freePort();
  const extra = opts.args ?? [];
  const log = { text: '', out: '' };
  let current: Running | null = await spawnServer(port, extra, log);

  const stop = async () => {
    const r = current;
    current = null;
    if (r === null || r.child.exitCode !== null || r.child.signalCode !== null) return;
    r.child.kill('SIGTERM');
    const t = setTimeout(() => r.child.kill('SIGKILL'), 5_000);
    await r.exited;
    clearTimeout(t);
  };

  return {
    port,
    url(mount: string, auth = false) {
      const m = mount.startsWith('/') ? mount : `/${mount}`;
      const cred = auth ? `${encodeURIComponent(RTSP_USER)}:${encodeURIComponent(RTSP_PASSWORD)}@` : '';
      return `rtsp://${cred}127.0.0.1:${port}${m}`;
    },
    stop,
    kill() {
      current?.child.kill('SIGKILL');
    },
    async restart() {
      if (current !== null && current.child.exitCode === null && current.child.signalCode === null) await stop();
      else if (current !== null) await current.exited;
      current = await spawnServer(port, extra, log);
    },
    stderr: () => log.text,
    holes: (mount: string) => [...log.out.matchAll(/^HOLE (\S+) (\d+) (\d+)$/gm)]
      .filter((m) => m[1] === mount).map((m) => ({ fromMs: Number(m[2]), toMs: Number(m[3]) })),
  };
}
