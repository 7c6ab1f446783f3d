// The multi-camera configuration (issue 10): global options plus named cameras, read from a YAML file
// (snake_case keys, as Frigate/MediaMTX users write them) or built from `--camera NAME=URL` flags.
// This module owns the file's shape, its defaults, the default-camera rule, and turning every mistake
// into a ConfigError that points at `file:line: key.path` without ever quoting a secret. Per-camera
// values are finally checked by resolveProducerOptions, the same validation the single-camera producer uses.
import { parseStoreUrl } from '../store/object-store.js';
import { CAMERA_NAME, DEFAULT_CAMERA } from '../camera-names.js';
import { readFileSync } from 'node:fs';
import { AUDIO_POLICIES } from '../ingest/audio-policy.js';
import { NODE_ID, OptionsError, resolveProducerOptions, isLoopbackHost, type ProducerOptionsInput } from '../options.js';
import { redactSecrets, redactUrl, urlSecrets } from '../../common/redact.js';
import type { TestsrcOptions } from '../ingest/testsrc.js';
import { ConfigError, YamlSource, type Entry } from './yaml-source.js';

export { CAMERA_NAME };
export { ConfigError } from './yaml-source.js';

export interface MotionConfig {
  enabled: boolean;
  threshold: number | null;
  minAreaPct: number | null;
  preRollMs: number | null;
  postRollMs: number | null;
}

export interface CameraConfig {
  name: string;
  /** Per-camera ProducerOptionsInput fields: source (required), audio, segmentSeconds, retentionMaxAgeMs, retentionMaxBytes, transcode, loop, inputArgs, stallTimeoutMs, testsrc {width,height,fps} */
  options: ProducerOptionsInput;
  /** Sub-stream for analysis (motion); null = use source. */
  detectSource: string | null;
  /** false: the camera is configured (listed) but not recorded. */
  record: boolean;
  motion: MotionConfig;
}

export interface AppConfig {
  /** Global options (dataDir, host, port, authToken, clipRoots, minFreeBytes, clipMaxAgeMs, clipWorkers, ffmpeg, logLevel), same names/types as ProducerOptionsInput. */
  global: ProducerOptionsInput;
  cameras: CameraConfig[];
  /** The camera bare routes (/health, /clip…) address: `default_camera`, else the only camera, else one named "default", else the first. */
  defaultCamera: string;
  /** Where it was read from (for messages), or null for flags. */
  file: string | null;
}

const GLOBAL_KEYS = ['data_dir', 'host', 'port', 'auth_token', 'clip_roots', 'min_free_bytes', 'clip_max_age', 'clip_workers', 'ffmpeg', 'log_level',
  'store', 'catalog', 's3_endpoint', 's3_region', 's3_path_style', 'local_keep',
  'node_id', 'cluster', 'lease_timeout', 'advertise_url', 'default_camera', 'cameras'] as const;
const CAMERA_KEYS = ['source', 'detect_source', 'audio', 'segment_seconds', 'retention', 'record', 'motion', 'transcode', 'loop', 'stall_timeout', 'testsrc', 'input_args'] as const;
const RETENTION_KEYS = ['max_age', 'max_bytes'] as const;
const MOTION_KEYS = ['enabled', 'threshold', 'min_area_pct', 'pre_roll', 'post_roll'] as const;
const TESTSRC_KEYS = ['size', 'fps'] as const;
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const TRANSCODE_MODES = ['auto', 'always', 'never'] as const;

/** ProducerOptionsInput fields that belong to a camera; everything else is global. */
const CAMERA_FIELDS = ['audio', 'segmentSeconds', 'retentionMaxAgeMs', 'retentionMaxBytes', 'transcode', 'loop', 'inputArgs', 'stallTimeoutMs', 'testsrc'] as const;

const NAME_RULE = 'camera names are 1-64 characters: lowercase letters, digits, "_" and "-", starting with a letter or digit';

/** Motion settings when the camera says nothing: off, every tuning value left to the detector. */
const NO_MOTION: MotionConfig = { enabled: false, threshold: null, minAreaPct: null, preRollMs: null, postRollMs: null };

/** `default_camera`, else the only camera, else one named "default", else the first. */
function pickDefault(names: string[], explicit: string | null): string {
  if (explicit !== null) return explicit;
  if (names.length === 1) return names[0];
  return names.includes(DEFAULT_CAMERA) ? DEFAULT_CAMERA : names[0];
}

const between = (lo: number, hi: number, loOpen: boolean, hiOpen: boolean) => (n: number) =>
  (loOpen ? n > lo : n >= lo) && (hiOpen ? n < hi : n <= hi);
const integerIn = (lo: number, hi: number) => (n: number) => Number.isInteger(n) && n >= lo && n <= hi;

function readGlobal(src: YamlSource, top: Map<string, Entry>, fallback: ProducerOptionsInput): ProducerOptionsInput {
  const g: ProducerOptionsInput = { ...fallback };
  const get = (k: (typeof GLOBAL_KEYS)[number]) => {
    const e = top.get(k);
    return e && !src.isNull(e) ? e : undefined;
  };
  let e: Entry | undefined;
  if ((e = get('data_dir'))) g.dataDir = src.string(e);
  if ((e = get('host'))) g.host = src.string(e);
  if ((e = get('port'))) g.port = src.number(e, integerIn(0, 65535), 'an integer in 0..65535');
  if ((e = get('auth_token'))) {
    g.authToken = src.string(e);
    if (g.authToken.length < 8) src.fail(e, 'must be at least 8 characters');
  }
  if ((e = get('clip_roots'))) g.clipRoots = src.stringList(e);
  if ((e = get('min_free_bytes'))) g.minFreeBytes = src.bytes(e);
  if ((e = get('clip_max_age'))) g.clipMaxAgeMs = src.duration(e, 1, 'positive');
  if ((e = get('clip_workers'))) g.clipWorkers = src.number(e, integerIn(1, 64), 'an integer in 1..64');
  if ((e = get('ffmpeg'))) g.ffmpeg = src.string(e);
  if ((e = get('log_level'))) g.logLevel = src.oneOf(e, LOG_LEVELS);
  if ((e = get('store'))) {
    const url = src.string(e);
    try {
      parseStoreUrl(url);
    } catch (err) {
      src.fail(e, (err as Error).message.replace(/^store: /, ''));
    }
    g.store = url;
  }
  if ((e = get('catalog'))) {
    g.catalog = src.string(e);
    if (!/^postgres(ql)?:\/\/\S+$/.test(g.catalog)) src.fail(e, 'must be a postgres:// URL');
  }
  if ((e = get('s3_endpoint'))) g.s3Endpoint = src.string(e);
  if ((e = get('s3_region'))) g.s3Region = src.string(e);
  if ((e = get('s3_path_style'))) g.s3PathStyle = src.bool(e);
  if ((e = get('local_keep'))) g.localKeepMs = src.duration(e, 0, '0 or more');
  if ((e = get('node_id'))) {
    g.nodeId = src.string(e);
    if (!NODE_ID.test(g.nodeId)) src.fail(e, 'must be 1-63 characters: letters, digits, ".", "_" and "-"');
  }
  if ((e = get('cluster'))) g.cluster = src.bool(e);
  if ((e = get('lease_timeout'))) g.leaseTimeoutMs = src.duration(e, 3000, 'at least 3s');
  if ((e = get('advertise_url'))) {
    g.advertiseUrl = src.string(e);
    if (!/^https?:\/\/[^\s/]+\/?$/.test(g.advertiseUrl)) src.fail(e, 'must be http(s)://HOST:PORT');
  }
  const host = top.get('host');
  if (host && g.host !== undefined && !isLoopbackHost(g.host) && !g.authToken) {
    src.fail(host, `refusing to bind non-loopback host ${g.host} without auth_token`);
  }
  return g;
}

function readTestsrc(src: YamlSource, e: Entry): Partial<TestsrcOptions> {
  const t: Partial<TestsrcOptions> = {};
  const m = src.entries(e, TESTSRC_KEYS);
  const size = m.get('size');
  if (size && !src.isNull(size)) {
    const match = /^(\d+)x(\d+)$/.exec(src.string(size));
    const [w, h] = match ? [Number(match[1]), Number(match[2])] : [NaN, NaN];
    if (!(w >= 16 && h >= 16 && w % 2 === 0 && h % 2 === 0)) {
      src.fail(size, `must look like 1280x720 (even, at least 16x16), got ${src.describe(size)}`);
    }
    t.width = w;
    t.height = h;
  }
  const fps = m.get('fps');
  if (fps && !src.isNull(fps)) t.fps = src.number(fps, between(0, 120, true, false), 'a number in (0, 120]');
  return t;
}

function readMotion(src: YamlSource, e: Entry): MotionConfig {
  const m = src.entries(e, MOTION_KEYS);
  const get = (k: (typeof MOTION_KEYS)[number]) => {
    const x = m.get(k);
    return x && !src.isNull(x) ? x : undefined;
  };
  const enabled = get('enabled');
  const threshold = get('threshold');
  const area = get('min_area_pct');
  const pre = get('pre_roll');
  const post = get('post_roll');
  return {
    // A motion block turns motion on unless it says `enabled: false`.
    enabled: enabled ? src.bool(enabled) : true,
    threshold: threshold ? src.number(threshold, between(0, 255, false, true), 'a number in [0, 255)') : null,
    minAreaPct: area ? src.number(area, between(0, 100, true, false), 'a percentage in (0, 100]') : null,
    preRollMs: pre ? src.duration(pre, 0, 'at least 0s') : null,
    postRollMs: post ? src.duration(post, 0, 'at least 0s') : null,
  };
}

/**
 * A source URL as written, or `${NAME}`: the environment variable NAME (a camera password in a Kubernetes
 * Secret rather than in the ConfigMap, or out of a file others may read).
 */
function sourceValue(src: YamlSource, e: Entry, env: NodeJS.ProcessEnv): string {
  const text = src.string(e);
  const ref = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(text);
  if (!ref) return text;
  const v = env[ref[1]];
  if (v === undefined || v === '') src.fail(e, `the environment variable ${ref[1]} is not set`);
  return v!;
}

function readCamera(src: YamlSource, cam: Entry, env: NodeJS.ProcessEnv): CameraConfig {
  const m = src.entries(cam, CAMERA_KEYS, (k) =>
    (GLOBAL_KEYS as readonly string[]).includes(k) ? `${k} is a global key: put it at the top level` : null);
  const get = (k: (typeof CAMERA_KEYS)[number]) => {
    const x = m.get(k);
    return x && !src.isNull(x) ? x : undefined;
  };
  const sourceEntry = get('source');
  if (!sourceEntry) {
    const given = m.get('source');
    throw src.error('is required (an rtsp:// URL, a file path, or testsrc)', given ? src.lineOf(given) : src.line(cam.keyNode), `${cam.path}.source`);
  }
  const o: ProducerOptionsInput = { source: sourceValue(src, sourceEntry, env) };
  let e: Entry | undefined;
  if ((e = get('audio'))) o.audio = src.oneOf(e, AUDIO_POLICIES);
  if ((e = get('segment_seconds'))) o.segmentSeconds = src.number(e, between(0, 3600, true, false), 'a number in (0, 3600]');
  if ((e = get('retention'))) {
    const r = src.entries(e, RETENTION_KEYS);
    const age = r.get('max_age');
    const bytes = r.get('max_bytes');
    if (age && !src.isNull(age)) o.retentionMaxAgeMs = src.duration(age, 1, 'positive');
    if (bytes && !src.isNull(bytes)) o.retentionMaxBytes = src.bytes(bytes);
  }
  if ((e = get('transcode'))) o.transcode = src.oneOf(e, TRANSCODE_MODES);
  if ((e = get('loop'))) o.loop = src.bool(e);
  if ((e = get('stall_timeout'))) o.stallTimeoutMs = src.duration(e, 1000, 'at least 1s');
  if ((e = get('testsrc'))) o.testsrc = readTestsrc(src, e);
  if ((e = get('input_args'))) o.inputArgs = src.stringList(e);
  const detect = get('detect_source');
  const record = get('record');
  const motion = get('motion');
  return {
    name: cam.key,
    options: o,
    detectSource: detect ? sourceValue(src, detect, env) : null,
    record: record ? src.bool(record) : true,
    motion: motion ? readMotion(src, motion) : { ...NO_MOTION },
  };
}

/** Runs today's single-camera validation over global + camera options; its complaint becomes `where`'s. */
function validate(global: ProducerOptionsInput, camera: CameraConfig, fail: (message: string) => never): void {
  try {
    resolveProducerOptions({ ...global, ...camera.options, dataDir: global.dataDir ?? '.' });
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    const secrets = [...urlSecrets(camera.options.source ?? ''), ...(global.authToken ? [global.authToken] : [])];
    fail(redactSecrets(err.message, secrets));
  }
}

/** Parses YAML text. `file` is used in messages only. Throws ConfigError naming `file:line` and the key path, e.g. `segrec.yml:12: cameras.front.segment_seconds: must be a number in (0, 3600]`. */
export function parseAppConfig(text: string, file: string, fallback: ProducerOptionsInput = {}, env: NodeJS.ProcessEnv = process.env): AppConfig {
  const src = new YamlSource(text, file);
  const top = src.entries(null, GLOBAL_KEYS, (k) =>
    (CAMERA_KEYS as readonly string[]).includes(k) ? `${k} is a camera key: put it under cameras.NAME` : null);
  const global = readGlobal(src, top, globalOnly(fallback));
  const camerasEntry = top.get('cameras');
  if (!camerasEntry || src.isNull(camerasEntry)) {
    throw src.error('is required: a mapping of camera names to cameras', camerasEntry ? src.lineOf(camerasEntry) : 1, 'cameras');
  }
  const cameras: CameraConfig[] = [];
  for (const cam of src.entries(camerasEntry, null).values()) {
    if (!CAMERA_NAME.test(cam.key)) throw src.error(`bad camera name "${cam.key}": ${NAME_RULE}`, src.line(cam.keyNode), cam.path);
    const camera = readCamera(src, cam, env);
    validate(global, camera, (msg) => { throw src.error(msg, src.line(cam.keyNode), cam.path); });
    cameras.push(camera);
  }
  if (cameras.length === 0) src.fail(camerasEntry, 'must list at least one camera');
  const names = cameras.map((c) => c.name);
  let explicit: string | null = null;
  const dflt = top.get('default_camera');
  if (dflt && !src.isNull(dflt)) {
    explicit = src.string(dflt);
    if (!names.includes(explicit)) src.fail(dflt, `"${explicit}" is not a configured camera (cameras: ${names.join(', ')})`);
  }
  return { global, cameras, defaultCamera: pickDefault(names, explicit), file };
}

/** The global settings of `input` (what a file's top level may hold), without the cameras' own. */
function globalOnly(input: ProducerOptionsInput): ProducerOptionsInput {
  const camera = new Set<string>([...CAMERA_FIELDS, 'source']);
  return Object.fromEntries(Object.entries(input).filter(([k]) => !camera.has(k))) as ProducerOptionsInput;
}

/**
 * Reads a configuration file. `fallback`: global settings for what the file leaves out — the SEGREC_*
 * environment (a Kubernetes Secret's token and catalog URL, the pod's node id); the file wins.
 */
export function loadAppConfig(path: string, fallback: ProducerOptionsInput = {}): AppConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read the config file${code ? ` (${code})` : ''}`, { file: path });
  }
  return parseAppConfig(text, path, fallback);
}

/** From flags: repeated `--camera NAME=URL` values plus today's single-camera input (global flags like --data-dir/--port apply to all). With no --camera, `--source` (or its default testsrc) becomes one camera named `default`. Throws ConfigError on bad names or duplicates. */
export function appConfigFromFlags(cameraFlags: string[], input: ProducerOptionsInput): AppConfig {
  const global: ProducerOptionsInput = {};
  const perCamera: ProducerOptionsInput = {};
  for (const [k, v] of Object.entries(input) as [keyof ProducerOptionsInput, unknown][]) {
    if (v === undefined || k === 'source') continue;
    const target = (CAMERA_FIELDS as readonly string[]).includes(k) ? perCamera : global;
    (target as Record<string, unknown>)[k] = v;
  }
  const sources: [string, string][] = [];
  if (cameraFlags.length === 0) {
    sources.push([DEFAULT_CAMERA, input.source ?? 'testsrc']);
  } else {
    if (input.source !== undefined) throw new ConfigError('use either --source or --camera NAME=URL, not both');
    for (const flag of cameraFlags) {
      const eq = flag.indexOf('=');
      const name = eq < 0 ? flag : flag.slice(0, eq);
      const url = eq < 0 ? '' : flag.slice(eq + 1).trim();
      const shown = JSON.stringify(redactUrl(name));
      if (eq < 0 || url === '') throw new ConfigError(`--camera ${shown}: must look like NAME=URL (e.g. front=rtsp://10.0.0.5/stream1)`);
      if (!CAMERA_NAME.test(name)) throw new ConfigError(`--camera ${shown}: ${NAME_RULE}`);
      if (sources.some(([n]) => n === name)) throw new ConfigError(`--camera ${shown}: camera "${name}" is given twice`);
      sources.push([name, url]);
    }
  }
  const cameras = sources.map(([name, source]): CameraConfig => {
    const camera: CameraConfig = {
      name, options: { ...structuredClone(perCamera), source }, detectSource: null, record: true, motion: { ...NO_MOTION },
    };
    validate(global, camera, (msg) => {
      throw new ConfigError(cameraFlags.length === 0 ? msg : `--camera ${name}: ${msg}`);
    });
    return camera;
  });
  return { global, cameras, defaultCamera: pickDefault(sources.map(([n]) => n), null), file: null };
}
