// RecorderConfig construction and validation: the shims from an UPPER_SNAKE config object
// (recorderConfigFromCfg) and from SEGREC_-prefixed environment variables (recorderConfigFromEnv).
import type { RecorderConfig } from './types.js';

export const DEFAULT_PRODUCER_BASE_URL = 'http://127.0.0.1:8765';
export const DEFAULT_MAX_WAIT_MS = 30_000;
export const DEFAULT_POLL_INTERVAL_MS = 250;

function fmt(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Checks and normalizes a producer base URL: http(s) only, no query or fragment, trailing slashes removed
 * (a path prefix such as `http://host/segrec` is kept). `name` is used in the error message.
 */
export function normalizeBaseUrl(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`${name} must be a non-empty URL string (got ${fmt(value)})`);
  }
  let u: URL;
  try {
    u = new URL(value.trim());
  } catch {
    throw new Error(`${name} is not a valid URL: ${fmt(value)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`${name} must be an http:// or https:// URL (got ${fmt(value)})`);
  }
  if (u.search !== '' || u.hash !== '') throw new Error(`${name} must not have a query or fragment (got ${fmt(value)})`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** Derives the producer base URL from its health URL by stripping the trailing `/health`. */
function baseUrlFromHealthUrl(name: string, value: unknown): string {
  const url = normalizeBaseUrl(name, value);
  const m = /^(.*)\/health$/.exec(url);
  if (!m) throw new Error(`${name} must end in /health to derive the producer base URL (got ${fmt(value)})`);
  return m[1];
}

function isUnset(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

function numberSetting(name: string, v: unknown, opts: { positive: boolean }): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') n = Number(v.trim());
  else throw new Error(`${name} must be a number or a numeric string (got ${fmt(v)})`);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a finite number (got ${fmt(v)})`);
  if (opts.positive ? n <= 0 : n < 0) {
    throw new Error(`${name} must be ${opts.positive ? 'greater than 0' : '0 or more'} (got ${fmt(v)})`);
  }
  return n;
}

function stringSetting(name: string, v: unknown): string {
  if (typeof v !== 'string') throw new Error(`${name} must be a string (got ${fmt(v)})`);
  return v;
}

/**
 * Validates a RecorderConfig (camelCase field names in errors) and returns a normalized copy:
 * the base URL without trailing slash, unset optional fields omitted.
 */
export function validateRecorderConfig(cfg: RecorderConfig): RecorderConfig {
  if (typeof cfg !== 'object' || cfg === null) throw new Error('RecorderConfig must be an object');
  const num = (name: string, v: unknown, positive: boolean): number => {
    if (typeof v !== 'number') throw new Error(`${name} must be a number (got ${fmt(v)})`);
    return numberSetting(name, v, { positive });
  };
  const present = (v: unknown): boolean => v !== undefined && v !== null;
  const out: RecorderConfig = {
    producerBaseUrl: normalizeBaseUrl('producerBaseUrl', cfg.producerBaseUrl),
    maxWaitMs: num('maxWaitMs', cfg.maxWaitMs, true),
    pollIntervalMs: num('pollIntervalMs', cfg.pollIntervalMs, false),
  };
  if (present(cfg.defaultOutDir)) out.defaultOutDir = stringSetting('defaultOutDir', cfg.defaultOutDir);
  if (present(cfg.defaultLabel)) out.defaultLabel = stringSetting('defaultLabel', cfg.defaultLabel);
  if (present(cfg.authToken)) out.authToken = stringSetting('authToken', cfg.authToken);
  if (present(cfg.prerollMs)) out.prerollMs = num('prerollMs', cfg.prerollMs, false);
  if (present(cfg.postrollMs)) out.postrollMs = num('postrollMs', cfg.postrollMs, false);
  return out;
}

function fromSettings(read: (key: string) => unknown, prefix: string): RecorderConfig {
  const key = (k: string) => `${prefix}${k}`;
  const get = (k: string): unknown => {
    const v = read(key(k));
    return isUnset(v) ? undefined : v;
  };

  let producerBaseUrl = DEFAULT_PRODUCER_BASE_URL;
  const base = get('PRODUCER_BASE_URL');
  const health = get('HEALTH_URL');
  if (base !== undefined) producerBaseUrl = normalizeBaseUrl(key('PRODUCER_BASE_URL'), base);
  else if (health !== undefined) producerBaseUrl = baseUrlFromHealthUrl(key('HEALTH_URL'), health);

  const maxWait = get('CLIP_MAX_WAIT_MS');
  const poll = get('CLIP_POLL_INTERVAL_MS');
  const cfg: RecorderConfig = {
    producerBaseUrl,
    maxWaitMs: maxWait === undefined ? DEFAULT_MAX_WAIT_MS : numberSetting(key('CLIP_MAX_WAIT_MS'), maxWait, { positive: true }),
    pollIntervalMs: poll === undefined ? DEFAULT_POLL_INTERVAL_MS : numberSetting(key('CLIP_POLL_INTERVAL_MS'), poll, { positive: false }),
  };
  const outDir = get('CLIP_OUT_DIR');
  if (outDir !== undefined) cfg.defaultOutDir = stringSetting(key('CLIP_OUT_DIR'), outDir);
  const label = get('CLIP_LABEL');
  if (label !== undefined) cfg.defaultLabel = stringSetting(key('CLIP_LABEL'), label);
  const preroll = get('PREROLL_MS');
  if (preroll !== undefined) cfg.prerollMs = numberSetting(key('PREROLL_MS'), preroll, { positive: false });
  const postroll = get('POSTROLL_MS');
  if (postroll !== undefined) cfg.postrollMs = numberSetting(key('POSTROLL_MS'), postroll, { positive: false });
  const token = get('AUTH_TOKEN');
  if (token !== undefined) cfg.authToken = stringSetting(key('AUTH_TOKEN'), token);
  return cfg;
}

/**
 * Builds a RecorderConfig from a config object with UPPER_SNAKE keys (a module namespace works):
 * `PRODUCER_BASE_URL` (else derived from `HEALTH_URL`, else http://127.0.0.1:8765), `CLIP_OUT_DIR`,
 * `CLIP_LABEL`, `CLIP_MAX_WAIT_MS` (30000), `CLIP_POLL_INTERVAL_MS` (250), `PREROLL_MS`, `POSTROLL_MS`,
 * `AUTH_TOKEN`. Numbers may be strings; unset, null and blank values count as absent. Throws an Error
 * naming the key of an invalid value.
 */
export function recorderConfigFromCfg(cfg: object): RecorderConfig {
  if (typeof cfg !== 'object' || cfg === null) throw new Error('recorderConfigFromCfg needs a config object');
  const record = cfg as Record<string, unknown>;
  return fromSettings((k) => record[k], '');
}

/** Like recorderConfigFromCfg, from environment variables with a `SEGREC_` prefix (e.g. `SEGREC_PRODUCER_BASE_URL`). */
export function recorderConfigFromEnv(env: Record<string, string | undefined> = process.env): RecorderConfig {
  return fromSettings((k) => env[k], 'SEGREC_');
}
