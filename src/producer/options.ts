// The producer's options: defaults, validation, and parsing from command-line flags and SEGREC_* env vars.
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseBytes, parseDurationMs } from '../common/units.js';
import { parseFlags, UsageError } from '../common/flags.js';
import { DEFAULT_TESTSRC, type TestsrcOptions } from './ingest/testsrc.js';
import type { Logger } from '../common/log.js';
import { AUDIO_POLICIES, type AudioPolicy } from './ingest/audio-policy.js';
import { parseStoreUrl } from './store/object-store.js';

export type TranscodeMode = 'auto' | 'always' | 'never';

export interface ProducerOptions {
  /** "testsrc", a file path, or an ffmpeg input URL (rtsp://, http(s)://, …). */
  source: string;
  dataDir: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  segmentSeconds: number;
  retentionMaxAgeMs: number | null;
  retentionMaxBytes: number | null;
  minFreeBytes: number | null;
  /** Published clips (the .mp4 and its .json sidecar) older than this are deleted; null keeps them forever. */
  clipMaxAgeMs: number | null;
  ffmpeg: string;
  /** Directories clips may be written into; the first is the default (DATA/clips when none given). */
  clipRoots: string[];
  /** `s3://bucket/prefix` roots clips may be written into (`out_dir: s3://…`); given with the others as --clip-root. */
  clipStoreRoots: string[];
  authToken: string | null;
  /** auto: encode testsrc, stream-copy everything else. */
  transcode: TranscodeMode;
  /** Loop file sources forever, in real time. */
  loop: boolean;
  testsrc: TestsrcOptions;
  /** Parallel clip jobs. */
  clipWorkers: number;
  logger?: Logger;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Extra arguments put before -i (advanced; argument array, never a shell). */
  inputArgs: string[];
  /** How long ffmpeg may send no media before ingest counts as stalled (default: derived from the fragment interval). */
  stallTimeoutMs: number | null;
  /** What to do with the source's audio: copy what MP4/browsers take, transcode the rest alone to AAC (auto). */
  audio: AudioPolicy;
  /** `s3://bucket/prefix`: sealed segments are uploaded there (null: local disk only). */
  store: string | null;
  /** The S3 endpoint (Ceph RGW, MinIO…; null: AWS). Credentials come from the AWS environment/shared files, never a flag. */
  s3Endpoint: string | null;
  s3Region: string | null;
  /** Path-style S3 addressing (bucket in the path), which most self-hosted stores need. */
  s3PathStyle: boolean;
  /** With a store: local copies of uploaded segments are kept this long (ms), then read from the store. */
  localKeepMs: number;
  /** `postgres://…`: the catalog is also kept in PostgreSQL (null: the local SQLite index only). A secret: never logged. */
  catalog: string | null;
  /** This producer's name among the nodes of one recorder (default: the host name; in Kubernetes the pod name). */
  nodeId: string | null;
  /** Several nodes as one recorder: each camera recorded by the node holding its lease in the catalog. */
  cluster: boolean;
  /** A camera's lease lapses this long after its holder last renewed it (ms); the holder stops before that. */
  leaseTimeoutMs: number;
  /** Where the other nodes reach this one (null: the address it listens on; with 0.0.0.0, its first non-internal IPv4). */
  advertiseUrl: string | null;
}

export const DEFAULT_OPTIONS: Omit<ProducerOptions, 'clipRoots'> = {
  source: 'testsrc',
  dataDir: './data',
  host: '127.0.0.1',
  port: 8765,
  segmentSeconds: 10,
  retentionMaxAgeMs: null,
  retentionMaxBytes: null,
  minFreeBytes: null,
  clipMaxAgeMs: null,
  ffmpeg: 'ffmpeg',
  authToken: null,
  transcode: 'auto',
  loop: true,
  testsrc: DEFAULT_TESTSRC,
  clipWorkers: 2,
  logLevel: 'info',
  inputArgs: [],
  stallTimeoutMs: null,
  audio: 'auto',
  store: null,
  s3Endpoint: null,
  s3Region: null,
  s3PathStyle: false,
  localKeepMs: 24 * 3600_000,
  catalog: null,
  clipStoreRoots: [],
  nodeId: null,
  cluster: false,
  leaseTimeoutMs: 10_000,
  advertiseUrl: null,
};

export type ProducerOptionsInput = Partial<Omit<ProducerOptions, 'testsrc'>> & { testsrc?: Partial<TestsrcOptions> };

export class OptionsError extends Error {
  override name = 'OptionsError';
}

/** A node id: what a host or pod name may be. */
export const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** This producer's node id: --node-id, else the host name (what the catalog's rows name it by). */
export function nodeIdOf(o: Pick<ProducerOptions, 'nodeId'>): string {
  return o.nodeId ?? hostname();
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host.replace(/^\[|\]$/g, ''));
}

/** Fills defaults and validates; paths become absolute. */
export function resolveProducerOptions(input: ProducerOptionsInput = {}): ProducerOptions {
  const o: ProducerOptions = {
    ...DEFAULT_OPTIONS,
    ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
    testsrc: { ...DEFAULT_TESTSRC, ...(input.testsrc ?? {}) },
    clipRoots: [],
  } as ProducerOptions;
  o.dataDir = resolve(o.dataDir);
  // `s3://…` roots are the store's; the others are directories (DATA/clips when none is given).
  const given = input.clipRoots ?? [];
  const local = given.filter((r) => !r.startsWith('s3://'));
  o.clipStoreRoots = [...(input.clipStoreRoots ?? []), ...given.filter((r) => r.startsWith('s3://'))];
  o.clipRoots = (local.length > 0 ? local : [resolve(o.dataDir, 'clips')]).map((p) => resolve(p));
  for (const r of o.clipStoreRoots) {
    try {
      parseStoreUrl(r);
    } catch (e) {
      throw new OptionsError(`clip-root: ${(e as Error).message.replace(/^store: /, '')}`);
    }
  }
  if (!o.source || typeof o.source !== 'string') throw new OptionsError('source must be a non-empty string');
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new OptionsError(`port must be 0..65535, got ${o.port}`);
  if (!(o.segmentSeconds > 0 && o.segmentSeconds <= 3600)) throw new OptionsError(`segment-seconds must be in (0, 3600], got ${o.segmentSeconds}`);
  if (!Number.isInteger(o.clipWorkers) || o.clipWorkers < 1 || o.clipWorkers > 64) throw new OptionsError('clip-workers must be 1..64');
  if (!['auto', 'always', 'never'].includes(o.transcode)) throw new OptionsError('transcode must be auto, always or never');
  if (!(AUDIO_POLICIES as readonly string[]).includes(o.audio)) throw new OptionsError(`audio must be ${AUDIO_POLICIES.join(', ')}`);
  if (o.stallTimeoutMs !== null && !(Number.isFinite(o.stallTimeoutMs) && o.stallTimeoutMs >= 1000)) throw new OptionsError('stall-timeout must be at least 1s');
  if (!['debug', 'info', 'warn', 'error'].includes(o.logLevel)) throw new OptionsError('log-level must be debug, info, warn or error');
  for (const [k, v] of [['retention-max-age', o.retentionMaxAgeMs], ['retention-max-bytes', o.retentionMaxBytes], ['min-free-bytes', o.minFreeBytes], ['clip-max-age', o.clipMaxAgeMs]] as const) {
    if (v !== null && !(Number.isFinite(v) && v > 0)) throw new OptionsError(`${k} must be positive`);
  }
  if (o.store !== null) {
    try {
      parseStoreUrl(o.store);
    } catch (e) {
      throw new OptionsError((e as Error).message);
    }
  }
  if (o.catalog !== null && !/^postgres(ql)?:\/\/\S+$/.test(o.catalog)) throw new OptionsError('catalog must be a postgres:// URL');
  if (o.s3Endpoint !== null && !/^https?:\/\/[^\s]+$/.test(o.s3Endpoint)) throw new OptionsError('s3-endpoint must be an http:// or https:// URL');
  if (!(Number.isFinite(o.localKeepMs) && o.localKeepMs >= 0)) throw new OptionsError('local-keep must be a duration of 0 or more');
  if (o.nodeId !== null && !NODE_ID.test(o.nodeId)) throw new OptionsError('node-id must be 1-63 characters: letters, digits, ".", "_" and "-"');
  if (!(Number.isFinite(o.leaseTimeoutMs) && o.leaseTimeoutMs >= 3000 && o.leaseTimeoutMs <= 600_000)) throw new OptionsError('lease-timeout must be between 3s and 10m');
  if (o.advertiseUrl !== null && !/^https?:\/\/[^\s/]+\/?$/.test(o.advertiseUrl)) throw new OptionsError('advertise-url must be http(s)://HOST:PORT');
  if (o.cluster && (o.catalog === null || o.store === null)) throw new OptionsError('cluster needs --catalog and --store: the nodes share footage through them');
  if (o.authToken !== null && o.authToken.length < 8) throw new OptionsError('auth-token must be at least 8 characters');
  if (!isLoopbackHost(o.host) && !o.authToken) {
    throw new OptionsError(`refusing to bind non-loopback host ${o.host} without --auth-token (set SEGREC_AUTH_TOKEN)`);
  }
  const t = o.testsrc;
  if (!(t.width >= 16 && t.height >= 16 && t.width % 2 === 0 && t.height % 2 === 0)) throw new OptionsError('testsrc size must be even and at least 16x16');
  if (!(t.fps > 0 && t.fps <= 120)) throw new OptionsError('testsrc fps must be in (0, 120]');
  return o;
}

interface FlagSpec {
  key: keyof ProducerOptionsInput | 'testsrcSize' | 'testsrcFps' | 'clipRoot';
  parse: (v: string) => unknown;
  repeat?: boolean;
}
const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new OptionsError(`--${name}: "${v}" is not a number`);
  return n;
};
const FLAGS: Record<string, FlagSpec> = {
  source: { key: 'source', parse: String },
  'data-dir': { key: 'dataDir', parse: String },
  host: { key: 'host', parse: String },
  port: { key: 'port', parse: num('port') },
  'segment-seconds': { key: 'segmentSeconds', parse: num('segment-seconds') },
  'retention-max-age': { key: 'retentionMaxAgeMs', parse: (v) => parseDurationMs(v, '--retention-max-age') },
  'retention-max-bytes': { key: 'retentionMaxBytes', parse: (v) => parseBytes(v, '--retention-max-bytes') },
  'min-free-bytes': { key: 'minFreeBytes', parse: (v) => parseBytes(v, '--min-free-bytes') },
  'clip-max-age': { key: 'clipMaxAgeMs', parse: (v) => parseDurationMs(v, '--clip-max-age') },
  ffmpeg: { key: 'ffmpeg', parse: String },
  'clip-root': { key: 'clipRoot', parse: String, repeat: true },
  'auth-token': { key: 'authToken', parse: String },
  transcode: { key: 'transcode', parse: String },
  loop: { key: 'loop', parse: (v) => !/^(0|false|no|off)$/i.test(v) },
  'clip-workers': { key: 'clipWorkers', parse: num('clip-workers') },
  'log-level': { key: 'logLevel', parse: String },
  audio: { key: 'audio', parse: String },
  'stall-timeout': { key: 'stallTimeoutMs', parse: (v) => parseDurationMs(v, '--stall-timeout') },
  store: { key: 'store', parse: String },
  catalog: { key: 'catalog', parse: String },
  's3-endpoint': { key: 's3Endpoint', parse: String },
  's3-region': { key: 's3Region', parse: String },
  's3-path-style': { key: 's3PathStyle', parse: (v) => !/^(0|false|no|off)$/i.test(v) },
  'local-keep': { key: 'localKeepMs', parse: (v) => parseDurationMs(v, '--local-keep') },
  'node-id': { key: 'nodeId', parse: String },
  cluster: { key: 'cluster', parse: (v) => !/^(0|false|no|off)$/i.test(v) },
  'lease-timeout': { key: 'leaseTimeoutMs', parse: (v) => parseDurationMs(v, '--lease-timeout') },
  'advertise-url': { key: 'advertiseUrl', parse: String },
  'testsrc-size': { key: 'testsrcSize', parse: String },
  'testsrc-fps': { key: 'testsrcFps', parse: num('testsrc-fps') },
};

/** The flag names, for help text. */
export const PRODUCER_FLAGS = Object.keys(FLAGS);

/**
 * Parses `--flag value` / `--flag=value` arguments, with SEGREC_<FLAG_NAME> environment variables as
 * fallbacks (flags win). Unknown flags are errors.
 */
export function parseProducerArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ProducerOptionsInput {
  const raw = new Map<string, string[]>();
  for (const name of Object.keys(FLAGS)) {
    const envName = 'SEGREC_' + name.toUpperCase().replace(/-/g, '_');
    const v = env[envName];
    if (v !== undefined && v !== '') raw.set(name, FLAGS[name].repeat ? v.split(',').map((s) => s.trim()) : [v]);
  }
  let given;
  try {
    given = parseFlags(argv, Object.keys(FLAGS).map((name) => ({ name, value: true, help: '' })));
  } catch (e) {
    throw e instanceof UsageError ? new OptionsError(e.message) : e;
  }
  for (const name of Object.keys(FLAGS)) if (given.has(name)) raw.set(name, given.all(name));
  // Every user of the machine can read a command line (ps, /proc): a database password does not go there.
  if (given.has('catalog') && given.all('catalog').some((u) => /^[a-z]+:\/\/[^/@\s]*:[^/@\s]*@/i.test(u))) {
    throw new OptionsError('--catalog: the URL holds a password, which every user could read in the process list; set SEGREC_CATALOG or `catalog:` in the configuration file instead');
  }
  const out: ProducerOptionsInput = {};
  const testsrc: Partial<TestsrcOptions> = {};
  const rec = out as Record<string, unknown>;
  for (const [name, values] of raw) {
    const spec = FLAGS[name];
    if (spec.key === 'clipRoot') { out.clipRoots = values; continue; }
    const value = spec.parse(values[values.length - 1]);
    if (spec.key === 'testsrcSize') {
      const m = /^(\d+)x(\d+)$/.exec(String(value));
      if (!m) throw new OptionsError('--testsrc-size must look like 1280x720');
      testsrc.width = Number(m[1]);
      testsrc.height = Number(m[2]);
    } else if (spec.key === 'testsrcFps') {
      testsrc.fps = value as number;
    } else {
      rec[spec.key] = value;
    }
  }
  if (Object.keys(testsrc).length > 0) out.testsrc = testsrc;
  return out;
}
