// A `segrec` subcommand as a child process (through tsx), for tests of the long-running commands (run,
// demo): its output as it comes, waiting for a line, signals, and its exit. A failing test leaks no
// process: `kill()` SIGKILLs it (its ffmpeg children then end on their broken pipes).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface SegrecProcess {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of `re` in the output (searched again as output comes). */
  waitFor(re: RegExp, timeoutMs: number, what?: string): Promise<RegExpMatchArray>;
  /** Sends a signal and resolves with the exit code (null when killed), or throws after timeoutMs. */
  stop(signal: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  kill(): void;
}

export function spawnSegrec(args: string[], env: NodeJS.ProcessEnv = {}): SegrecProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    for (const l of [...listeners]) l();
    resolve(code);
  }));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => out,
    waitFor(re, timeoutMs, what = String(re)) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) { done(); resolve(m); return; }
          if (gone()) { done(); reject(new Error(`segrec ${args[0]} exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${out}`)); }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${out}`)); }, timeoutMs);
        const done = () => { clearTimeout(timer); listeners.delete(check); };
        listeners.add(check);
        check();
      });
    },
    async stop(signal, timeoutMs = 30_000) {
      if (!gone()) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      if (!gone()) child.kill('SIGKILL');
    },
  };
}
