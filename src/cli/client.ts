// What every terminal command shares: which producer and camera to talk to (--producer /
// SEGREC_PRODUCER_BASE_URL, --camera NAME, --token / SEGREC_AUTH_TOKEN, --json), a fetch wrapper that turns "connection refused" into an error
// that says what to do, and the exit codes. JSON goes as the wire has it (src/protocol/wire-json.ts): PTS
// past 2^53 are read as bigints and written with all their digits, in answers, requests and --json output.
import type { FlagDef, ParsedFlags } from '../common/flags.js';
import { parseWireJson, stringifyWireJson } from '../protocol/wire-json.js';
import { CAMERA_NAME } from '../producer/camera-names.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

export const COMMON_FLAGS: FlagDef[] = [
  { name: 'producer', value: true, help: 'producer URL (default $SEGREC_PRODUCER_BASE_URL or http://127.0.0.1:8765)' },
  { name: 'token', value: true, help: 'bearer token (default $SEGREC_AUTH_TOKEN)' },
  { name: 'camera', value: true, help: 'the camera meant (its routes are /cameras/NAME/…; default: the producer\'s default camera)' },
  { name: 'json', value: false, help: 'machine-readable output' },
];

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failed) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Conn { baseUrl: string; token: string | null; json: boolean }

export function connFrom(flags: ParsedFlags, env: NodeJS.ProcessEnv = process.env): Conn {
  let base = String(flags.get('producer') ?? env.SEGREC_PRODUCER_BASE_URL ?? 'http://127.0.0.1:8765').replace(/\/+$/, '');
  const token = (flags.get('token') as string | undefined) ?? env.SEGREC_AUTH_TOKEN ?? null;
  const camera = flags.get('camera') as string | undefined;
  if (camera !== undefined) {
    if (!CAMERA_NAME.test(camera)) throw new CliError(`--camera: "${camera.slice(0, 80)}" is not a camera name (a-z, 0-9, _ and -, at most 64)`, EXIT.usage);
    base = `${base}/cameras/${camera}`;
  }
  return { baseUrl: base, token, json: flags.get('json') === true };
}

export async function call<T>(c: Conn, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  let res: Response;
  try {
    res = await fetch(c.baseUrl + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(c.token ? { authorization: `Bearer ${c.token}` } : {}) },
      body: body === undefined ? undefined : stringifyWireJson(body),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new CliError(
      `producer not reachable at ${c.baseUrl} (${cause}). Start one with \`segrec producer\`, or pass --producer URL.`,
      EXIT.unreachable,
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? parseWireJson(text) : null;
  } catch {
    throw new CliError(`${method} ${path}: the answer (HTTP ${res.status}) is not JSON — is ${c.baseUrl} a segrec producer?`);
  }
  if (res.status === 401) throw new CliError(`${c.baseUrl} wants a token: pass --token or set SEGREC_AUTH_TOKEN`);
  if (!res.ok) {
    const msg = (parsed as { message?: string } | null)?.message ?? `HTTP ${res.status}`;
    throw new CliError(`${method} ${path}: ${msg} (HTTP ${res.status})`);
  }
  return { status: res.status, body: parsed as T };
}

/** Pretty JSON on stdout; bigints (PTS past 2^53) as plain integers with all their digits. */
export function printJson(v: unknown): void {
  process.stdout.write(stringifyWireJson(v, 2) + '\n');
}
