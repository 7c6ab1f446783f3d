// The multi-camera configuration (issue 10): a full YAML file parses to the expected AppConfig,
// defaults, the default-camera rules, `--camera NAME=URL` flags and the single --source fallback, and
// errors: each kind names file:line and the key path (syntax errors, unknown keys, bad camera names,
// missing source, wrong types, bad durations/sizes, values today's validation rejects), and a password
// in a source URL or the auth token never appears in any message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appConfigFromFlags, CAMERA_NAME, ConfigError, loadAppConfig, parseAppConfig, type AppConfig,
} from '../../src/producer/config/app-config.js';
import { parseProducerArgs } from '../../src/producer/options.js';

/** YAML text from lines, so a fixture's line numbers can be read off the array index (+1). */
const yml = (...lines: string[]) => lines.join('\n') + '\n';

const NO_MOTION = { enabled: false, threshold: null, minAreaPct: null, preRollMs: null, postRollMs: null };
const PASSWORD = 'hunter2secret';
const SECRET_URL = `rtsp://admin:${PASSWORD}@10.0.0.5/stream1`;

/** The ConfigError parseAppConfig throws for `text` (fails the test when it does not throw one). */
function configError(text: string, file = 'segrec.yml'): ConfigError {
  try {
    parseAppConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_CONFIG');
    return err;
  }
  assert.fail('expected a ConfigError');
}

function flagsError(cameras: string[], input: Parameters<typeof appConfigFromFlags>[1] = {}): ConfigError {
  try {
    appConfigFromFlags(cameras, input);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('a full file parses to the expected AppConfig', () => {
  const text = yml(
    '# segrec.yml',
    'data_dir: ./data',
    'host: 0.0.0.0',
    'port: 8765',
    'auth_token: s3cret-token-123',
    'clip_roots: [/srv/clips, /mnt/clips]',
    'min_free_bytes: 5GB',
    'clip_workers: 4',
    'ffmpeg: /usr/bin/ffmpeg',
    'log_level: debug',
    'default_camera: back',
    'cameras:',
    '  front:',
    '    source: rtsp://user:pass@10.0.0.5/stream1',
    '    detect_source: rtsp://10.0.0.5/stream2',
    '    audio: aac',
    '    segment_seconds: 6',
    '    retention: { max_age: 7d, max_bytes: 50GB }',
    '    record: true',
    '    motion: { enabled: true, threshold: 25, min_area_pct: 0.5, pre_roll: 2s, post_roll: 3s }',
    '    transcode: never',
    '    loop: false',
    '    stall_timeout: 10s',
    '    input_args: [-rtsp_transport, tcp]',
    '  back:',
    '    source: testsrc',
    '    record: false',
    '    testsrc: { size: 640x360, fps: 15 }',
  );
  const expected: AppConfig = {
    global: {
      dataDir: './data', host: '0.0.0.0', port: 8765, authToken: 's3cret-token-123', clipRoots: ['/srv/clips', '/mnt/clips'],
      minFreeBytes: 5e9, clipWorkers: 4, ffmpeg: '/usr/bin/ffmpeg', logLevel: 'debug',
    },
    cameras: [
      {
        name: 'front',
        options: {
          source: 'rtsp://user:pass@10.0.0.5/stream1', audio: 'aac', segmentSeconds: 6, retentionMaxAgeMs: 7 * 86_400_000,
          retentionMaxBytes: 50e9, transcode: 'never', loop: false, stallTimeoutMs: 10_000, inputArgs: ['-rtsp_transport', 'tcp'],
        },
        detectSource: 'rtsp://10.0.0.5/stream2',
        record: true,
        motion: { enabled: true, threshold: 25, minAreaPct: 0.5, preRollMs: 2000, postRollMs: 3000 },
      },
      {
        name: 'back',
        options: { source: 'testsrc', testsrc: { width: 640, height: 360, fps: 15 } },
        detectSource: null,
        record: false,
        motion: NO_MOTION,
      },
    ],
    defaultCamera: 'back',
    file: 'segrec.yml',
  };
  assert.deepEqual(parseAppConfig(text, 'segrec.yml'), expected);
});

test('defaults: only what the file says is set; cameras record, motion off, detect on the source', () => {
  const c = parseAppConfig(yml('cameras:', '  front:', '    source: testsrc'), 'a.yml');
  assert.deepEqual(c, {
    global: {},
    cameras: [{ name: 'front', options: { source: 'testsrc' }, detectSource: null, record: true, motion: NO_MOTION }],
    defaultCamera: 'front',
    file: 'a.yml',
  });
  // A motion block turns motion on; bare numbers are seconds for durations and bytes for sizes; nulls are "not set".
  const m = parseAppConfig(yml(
    'port: ~',
    'cameras:',
    '  cam-1:',
    '    source: testsrc',
    '    motion: { threshold: 10 }',
    '    retention: { max_age: 3600, max_bytes: 1000 }',
    '    detect_source:',
    '  "0123":',
    '    source: testsrc',
    '    motion: { enabled: false }',
  ), 'b.yml');
  assert.deepEqual(m.global, {});
  assert.deepEqual(m.cameras[0].motion, { ...NO_MOTION, enabled: true, threshold: 10 });
  assert.equal(m.cameras[0].options.retentionMaxAgeMs, 3_600_000);
  assert.equal(m.cameras[0].options.retentionMaxBytes, 1000);
  assert.equal(m.cameras[0].detectSource, null);
  assert.equal(m.cameras[1].name, '0123');
  assert.equal(m.cameras[1].motion.enabled, false);
});

test('the default camera: default_camera, else the only one, else "default", else the first', () => {
  const cams = (...names: string[]) => ['cameras:', ...names.flatMap((n) => [`  ${n}:`, '    source: testsrc'])];
  assert.equal(parseAppConfig(yml('default_camera: b', ...cams('a', 'b', 'default')), 'x').defaultCamera, 'b');
  assert.equal(parseAppConfig(yml(...cams('solo')), 'x').defaultCamera, 'solo');
  assert.equal(parseAppConfig(yml(...cams('a', 'default', 'c')), 'x').defaultCamera, 'default');
  assert.equal(parseAppConfig(yml(...cams('zz', 'aa')), 'x').defaultCamera, 'zz');
  const err = configError(yml(...cams('a', 'b'), 'default_camera: c'));
  assert.match(err.message, /^segrec\.yml:6: default_camera: "c" is not a configured camera \(cameras: a, b\)$/);
  assert.equal(err.line, 6);
  assert.equal(err.keyPath, 'default_camera');
});

test('flags: repeated --camera NAME=URL; global flags apply to all, per-camera flags to each camera', () => {
  const c = appConfigFromFlags(
    ['front=rtsp://10.0.0.5/stream1', 'back=rtsp://10.0.0.6/s?x=a=b'],
    { port: 9000, dataDir: '/data', segmentSeconds: 4, testsrc: { fps: 10 } },
  );
  assert.deepEqual(c.global, { port: 9000, dataDir: '/data' });
  assert.deepEqual(c.cameras.map((k) => [k.name, k.options]), [
    ['front', { source: 'rtsp://10.0.0.5/stream1', segmentSeconds: 4, testsrc: { fps: 10 } }],
    ['back', { source: 'rtsp://10.0.0.6/s?x=a=b', segmentSeconds: 4, testsrc: { fps: 10 } }],
  ]);
  assert.notEqual(c.cameras[0].options.testsrc, c.cameras[1].options.testsrc, 'cameras do not share option objects');
  assert.equal(c.defaultCamera, 'front');
  assert.equal(c.file, null);
  assert.deepEqual(c.cameras[0].motion, NO_MOTION);
  assert.equal(c.cameras[0].record, true);
  assert.equal(appConfigFromFlags(['a=testsrc', 'default=testsrc'], {}).defaultCamera, 'default');
});

test('flags: with no --camera, --source (or testsrc) is one camera named "default"', () => {
  const c = appConfigFromFlags([], { source: 'rtsp://10.0.0.5/s', port: 0, audio: 'off' });
  assert.deepEqual(c.cameras, [{ name: 'default', options: { source: 'rtsp://10.0.0.5/s', audio: 'off' }, detectSource: null, record: true, motion: NO_MOTION }]);
  assert.deepEqual(c.global, { port: 0 });
  assert.equal(c.defaultCamera, 'default');
  assert.deepEqual(appConfigFromFlags([], {}).cameras.map((k) => [k.name, k.options.source]), [['default', 'testsrc']]);
});

test('flags: duplicates, bad names, missing URL, --source with --camera and invalid values are ConfigErrors', () => {
  assert.match(flagsError(['a=testsrc', 'a=rtsp://h/x']).message, /--camera "a": camera "a" is given twice/);
  assert.match(flagsError(['Front=testsrc']).message, /--camera "Front": camera names are 1-64 characters/);
  assert.match(flagsError(['-x=testsrc']).message, /camera names/);
  assert.match(flagsError(['front']).message, /--camera "front": must look like NAME=URL/);
  assert.match(flagsError(['front=']).message, /must look like NAME=URL/);
  assert.match(flagsError(['a=testsrc'], { source: 'testsrc' }).message, /either --source or --camera/);
  assert.match(flagsError(['front=testsrc'], { segmentSeconds: 0 }).message, /^--camera front: segment-seconds must be in \(0, 3600\]/);
  assert.match(flagsError([], { port: 70000 }).message, /^port must be 0\.\.65535/);
  assert.ok(CAMERA_NAME.test('a'.repeat(64)) && !CAMERA_NAME.test('a'.repeat(65)));
  for (const err of [flagsError([`Bad=${SECRET_URL}`]), flagsError([SECRET_URL]), flagsError([`a=${SECRET_URL}`, `a=${SECRET_URL}`]),
    flagsError([`a=${SECRET_URL}`], { segmentSeconds: -1 })]) {
    assert.ok(!err.message.includes(PASSWORD), err.message);
  }
});

test('a bad value names file:line and the key path', () => {
  const err = configError(yml(
    'data_dir: ./data',
    'port: 8765',
    'cameras:',
    '  front:',
    `    source: ${SECRET_URL}`,
    '    audio: auto',
    '    segment_seconds: 0',
  ));
  assert.equal(err.message, 'segrec.yml:7: cameras.front.segment_seconds: must be a number in (0, 3600], got 0');
  assert.deepEqual([err.file, err.line, err.keyPath], ['segrec.yml', 7, 'cameras.front.segment_seconds']);
});

test('each kind of mistake is reported at its line', () => {
  const cases: [string[], RegExp][] = [
    // YAML syntax error
    [['cameras:', '  front:', '    source: rtsp://10.0.0.5: stream1', '  back: {}'], /^segrec\.yml:3: YAML syntax error: Nested mappings are not allowed/],
    [['cameras:', '  front:', '\tsource: testsrc'], /^segrec\.yml:3: YAML syntax error: Tabs are not allowed as indentation$/],
    [['cameras:', '  front:', '    source: [testsrc', '  back: {}'], /^segrec\.yml:4: YAML syntax error: Flow sequence .* end with a \]$/],
    [['cameras:', '  front:', '    source: testsrc', '    source: testsrc'], /^segrec\.yml:4: YAML syntax error: Map keys must be unique/],
    // unknown keys, with a suggestion or a hint
    [['cameras:', '  front:', '    source: testsrc', '    segment_secs: 5'], /^segrec\.yml:4: cameras\.front\.segment_secs: unknown key \(did you mean segment_seconds\?\)$/],
    [['prot: 1', 'cameras: {a: {source: testsrc}}'], /^segrec\.yml:1: prot: unknown key \(did you mean port\?\)$/],
    [['cameras: {a: {source: testsrc}}', 'segment_seconds: 5'], /^segrec\.yml:2: segment_seconds: unknown key \(segment_seconds is a camera key: put it under cameras\.NAME\)$/],
    [['cameras:', '  a:', '    source: testsrc', '    port: 1'], /^segrec\.yml:4: cameras\.a\.port: unknown key \(port is a global key/],
    [['cameras:', '  a:', '    source: testsrc', '    motion:', '      treshold: 3'], /^segrec\.yml:5: cameras\.a\.motion\.treshold: unknown key \(did you mean threshold\?\)$/],
    [['cameras:', '  a:', '    source: testsrc', '    xyzzy: 3'], /^segrec\.yml:4: cameras\.a\.xyzzy: unknown key \(known keys: source, detect_source,/],
    // camera names
    [['cameras:', '  front:', '    source: testsrc', '  Front Door:', '    source: testsrc'], /^segrec\.yml:4: cameras\.Front Door: bad camera name "Front Door"/],
    [['cameras:', '  _x: {source: testsrc}'], /^segrec\.yml:2: cameras\._x: bad camera name/],
    // missing source, cameras
    [['port: 1', 'cameras:', '  front:', '    audio: off'], /^segrec\.yml:3: cameras\.front\.source: is required/],
    [['cameras:', '  front:', '    source:', '    audio: off'], /^segrec\.yml:3: cameras\.front\.source: is required/],
    [['port: 1'], /^segrec\.yml:1: cameras: is required/],
    [['port: 1', 'cameras: {}'], /^segrec\.yml:2: cameras: must list at least one camera/],
    [['# nothing'], /^segrec\.yml:1: the file is empty/],
    [['- a'], /^segrec\.yml:1: the file must be a mapping/],
    // wrong types
    [['port: "8765"', 'cameras: {a: {source: testsrc}}'], /^segrec\.yml:1: port: must be an integer in 0\.\.65535, got "8765"$/],
    [['cameras:', '  a:', '    source: 5'], /^segrec\.yml:3: cameras\.a\.source: must be a string, got 5$/],
    [['cameras:', '  a:', '    source: testsrc', '    record: yes'], /^segrec\.yml:4: cameras\.a\.record: must be true or false, got "yes"$/],
    [['cameras:', '  a: testsrc'], /^segrec\.yml:2: cameras\.a: must be a mapping, got "testsrc"$/],
    [['clip_roots: /srv', 'cameras: {a: {source: testsrc}}'], /^segrec\.yml:1: clip_roots: must be a list/],
    [['clip_roots:', '  - /srv', '  - 3', 'cameras: {a: {source: testsrc}}'], /^segrec\.yml:3: clip_roots\[1\]: must be a string, got 3$/],
    [['cameras:', '  a:', '    source: testsrc', '    audio: mp3'], /^segrec\.yml:4: cameras\.a\.audio: must be one of auto, copy, aac, off, got "mp3"$/],
    // durations and sizes
    [['cameras:', '  a:', '    source: testsrc', '    retention:', '      max_age: 3 fortnights'], /^segrec\.yml:5: cameras\.a\.retention\.max_age: must be a duration like .*got "3 fortnights"$/],
    [['cameras:', '  a:', '    source: testsrc', '    stall_timeout: 500ms'], /^segrec\.yml:4: cameras\.a\.stall_timeout: must be at least 1s, got "500ms"$/],
    [['cameras:', '  a:', '    source: testsrc', '    motion: {pre_roll: -1}'], /^segrec\.yml:4: cameras\.a\.motion\.pre_roll: must be a duration/],
    [['min_free_bytes: lots', 'cameras: {a: {source: testsrc}}'], /^segrec\.yml:1: min_free_bytes: must be a size like .*got "lots"$/],
    [['cameras:', '  a:', '    source: testsrc', '    retention: {max_bytes: 0GB}'], /^segrec\.yml:4: cameras\.a\.retention\.max_bytes: must be positive/],
    // ranges and today's rules
    [['cameras:', '  a:', '    source: testsrc', '    testsrc:', '      size: 15x16'], /^segrec\.yml:5: cameras\.a\.testsrc\.size: must look like 1280x720/],
    [['cameras:', '  a:', '    source: testsrc', '    motion:', '      min_area_pct: 0'], /^segrec\.yml:5: cameras\.a\.motion\.min_area_pct: must be a percentage in \(0, 100\]/],
    [['clip_workers: 0', 'cameras: {a: {source: testsrc}}'], /^segrec\.yml:1: clip_workers: must be an integer in 1\.\.64, got 0$/],
    [['host: 0.0.0.0', 'cameras: {a: {source: testsrc}}'], /^segrec\.yml:1: host: refusing to bind non-loopback host 0\.0\.0\.0 without auth_token$/],
    [['cameras: {a: {source: testsrc}}', 'log_level: loud'], /^segrec\.yml:2: log_level: must be one of debug, info, warn, error/],
    [['cameras:', '  a:', '    source: *nowhere'], /^segrec\.yml:3: unknown alias \*nowhere/],
  ];
  for (const [lines, re] of cases) {
    const err = configError(yml(...lines));
    assert.match(err.message, re, `for:\n${lines.join('\n')}`);
  }
});

test('clip_max_age: a global duration (default: clips are kept forever), validated, and from --clip-max-age', () => {
  const cams = ['cameras:', '  a:', '    source: testsrc'];
  assert.equal(parseAppConfig(yml('clip_max_age: 30d', ...cams), 'x').global.clipMaxAgeMs, 30 * 86_400_000);
  assert.equal(parseAppConfig(yml('clip_max_age: 3600', ...cams), 'x').global.clipMaxAgeMs, 3_600_000, 'a bare number is seconds');
  assert.equal(parseAppConfig(yml(...cams), 'x').global.clipMaxAgeMs, undefined, 'not set: kept forever');
  assert.equal(parseAppConfig(yml('clip_max_age: ~', ...cams), 'x').global.clipMaxAgeMs, undefined, 'null: not set');
  const cases: Array<[string[], RegExp]> = [
    [['clip_max_age: soon', ...cams], /^segrec\.yml:1: clip_max_age: must be a duration like 500ms, 90s, 15m, 24h or 7d, got "soon"$/],
    [['clip_max_age: 0s', ...cams], /^segrec\.yml:1: clip_max_age: must be positive, got "0s"$/],
    [['clip_max_age: [7d]', ...cams], /^segrec\.yml:1: clip_max_age: must be a duration .*got a list$/],
    [[...cams, '    clip_max_age: 7d'], /^segrec\.yml:4: cameras\.a\.clip_max_age: unknown key \(clip_max_age is a global key: put it at the top level\)$/],
    [['clip_max_ages: 7d', ...cams], /^segrec\.yml:1: clip_max_ages: unknown key \(did you mean clip_max_age\?\)$/],
  ];
  for (const [lines, re] of cases) assert.match(configError(yml(...lines)).message, re, lines.join('\n'));
  const flags = appConfigFromFlags(['front=rtsp://10.0.0.5/s'], { clipMaxAgeMs: 7 * 86_400_000 });
  assert.equal(flags.global.clipMaxAgeMs, 7 * 86_400_000, 'a global flag');
  assert.equal(flags.cameras[0].options.clipMaxAgeMs, undefined, 'not a camera\'s');
});

test('anchors and aliases resolve; keys are taken as written', () => {
  const c = parseAppConfig(yml(
    'cameras:',
    '  a: &cam',
    '    source: testsrc',
    '    segment_seconds: 4',
    '  b: *cam',
  ), 'x');
  assert.deepEqual(c.cameras.map((k) => [k.name, k.options.segmentSeconds]), [['a', 4], ['b', 4]]);
});

test('a password in a source URL and the auth token never appear in an error message', () => {
  const token = 'tok-9f8e7d6c5b';
  const texts = [
    yml('cameras:', '  front:', `    source: ${SECRET_URL}`, '    segment_seconds: 0'),
    yml('cameras:', '  front:', `    source: "${SECRET_URL}`, '    audio: auto'),
    yml('cameras:', '  front:', `    source: ${SECRET_URL}`, '    bogus: 1'),
    yml('cameras:', '  front:', '    source: testsrc', `    audio: ${SECRET_URL}`),
    yml('cameras:', '  front:', '    source: testsrc', `    ${SECRET_URL}: x`),
    yml('cameras:', '  front:', '    source: testsrc', `    detect_source: [${SECRET_URL}]`),
    yml(`auth_token: ${token}`, 'port: x', 'cameras: {a: {source: testsrc}}'),
    yml(`auth_token: ${token}`, `data_dir: ${token}`, 'cameras: {a: {source: 1}}'),
    yml('auth_token: short12', 'cameras: {a: {source: testsrc}}'),
    yml('auth_token: 12345', 'cameras: {a: {source: testsrc}}'),
    yml(`auth_token: ${token}`, 'cameras: {a: {source: testsrc}}', `default_camera: ${token}`),
    yml('cameras:', '  front:', `    source: ${SECRET_URL}`, `default_camera: ${PASSWORD}`),
  ];
  for (const text of texts) {
    const msg = configError(text).message;
    assert.match(msg, /^segrec\.yml:\d+: /);
    for (const secret of [PASSWORD, token, 'short12', '12345']) assert.ok(!msg.includes(secret), `"${secret}" leaked: ${msg}`);
  }
  assert.match(configError(texts[8]).message, /^segrec\.yml:1: auth_token: must be at least 8 characters$/);
  assert.match(configError(texts[9]).message, /^segrec\.yml:1: auth_token: must be a string, got a number$/);
});

test('loadAppConfig reads a file and names the path when it cannot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'segrec-config-'));
  try {
    const path = join(dir, 'segrec.yml');
    writeFileSync(path, yml('cameras:', '  front:', '    source: testsrc', '    loop: maybe'));
    assert.throws(() => loadAppConfig(path), (err: unknown) =>
      err instanceof ConfigError && err.message === `${path}:4: cameras.front.loop: must be true or false, got "maybe"`);
    writeFileSync(path, yml('cameras:', '  front:', '    source: testsrc'));
    const c = loadAppConfig(path);
    assert.equal(c.file, path);
    assert.deepEqual(c.cameras.map((k) => k.name), ['front']);
    const missing = join(dir, 'nope.yml');
    assert.throws(() => loadAppConfig(missing), (err: unknown) =>
      err instanceof ConfigError && err.message.startsWith(`${missing}: cannot read the config file (ENOENT)`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with --config, the SEGREC_* environment fills the global settings the file leaves out (the file wins)', () => {
  const env = {
    SEGREC_AUTH_TOKEN: 'token-from-a-secret', SEGREC_CATALOG: 'postgres://segrec:pw@db/segrec', SEGREC_NODE_ID: 'segrec-7d9f-abcde',
    SEGREC_PORT: '9999', SEGREC_SEGMENT_SECONDS: '3',
  };
  const file = yml('host: 0.0.0.0', 'port: 8765', 'cluster: true', 'lease_timeout: 5s', 'store: s3://footage/site', 'cameras:', '  front:', '    source: testsrc');
  const c = parseAppConfig(file, 'segrec.yml', parseProducerArgs([], env));
  assert.equal(c.global.authToken, 'token-from-a-secret', 'the token from the environment lets host 0.0.0.0 pass');
  assert.equal(c.global.catalog, env.SEGREC_CATALOG);
  assert.equal(c.global.nodeId, 'segrec-7d9f-abcde');
  assert.equal(c.global.cluster, true);
  assert.equal(c.global.leaseTimeoutMs, 5000);
  assert.equal(c.global.port, 8765, 'the file wins over the environment');
  assert.equal(c.cameras[0].options.segmentSeconds, undefined, "a camera's own settings do not come from the environment");
  // Without the environment the same file is refused: a non-loopback host needs a token.
  assert.throws(() => parseAppConfig(file, 'segrec.yml'), /without auth_token/);
  assert.throws(() => parseAppConfig(yml('node_id: "bad id"', 'cameras:', '  a:', '    source: testsrc'), 'segrec.yml'), /node_id: must be 1-63 characters/);
  assert.throws(() => parseAppConfig(yml('lease_timeout: 1s', 'cameras:', '  a:', '    source: testsrc'), 'segrec.yml'), /lease_timeout/);
});

test('source: ${NAME} reads a camera URL (with its password) from the environment; a missing one is an error naming it', () => {
  const file = yml('cameras:', '  front:', '    source: ${FRONT_URL}', '    detect_source: ${FRONT_SUB}', '  yard:', '    source: testsrc');
  const c = parseAppConfig(file, 'segrec.yml', {}, { FRONT_URL: SECRET_URL, FRONT_SUB: 'rtsp://10.0.0.5/sub' });
  assert.equal(c.cameras[0].options.source, SECRET_URL);
  assert.equal(c.cameras[0].detectSource, 'rtsp://10.0.0.5/sub');
  assert.equal(c.cameras[1].options.source, 'testsrc');
  assert.throws(() => parseAppConfig(file, 'segrec.yml', {}, { FRONT_SUB: 'x' }), (err: unknown) =>
    err instanceof ConfigError && err.message === 'segrec.yml:3: cameras.front.source: the environment variable FRONT_URL is not set');
  // Only a whole ${NAME} is a reference: anything else is the URL as written.
  assert.equal(parseAppConfig(yml('cameras:', '  a:', '    source: rtsp://h/${X}'), 'segrec.yml', {}, { X: 'y' }).cameras[0].options.source, 'rtsp://h/${X}');
});
