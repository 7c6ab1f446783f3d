// Pure option handling: flags and SEGREC_* env vars, sizes and durations, URL redaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError, parseProducerArgs, resolveProducerOptions } from '../../src/producer/options.js';
import { parseBytes, parseDurationMs } from '../../src/common/units.js';
import { redactSecrets, redactUrl, urlSecrets } from '../../src/common/redact.js';
import { buildFfmpegArgs, sourceKind } from '../../src/producer/ingest/source-args.js';
import { DEFAULT_TESTSRC } from '../../src/producer/ingest/testsrc.js';

test('flags win over SEGREC_* env vars; repeated --clip-root; units parsed', () => {
  const o = parseProducerArgs(
    ['--port', '9000', '--retention-max-age=24h', '--clip-root', '/a', '--clip-root', '/b', '--testsrc-size', '640x360'],
    { SEGREC_PORT: '1234', SEGREC_DATA_DIR: '/data', SEGREC_RETENTION_MAX_BYTES: '20GB', SEGREC_MIN_FREE_BYTES: '1.5GiB' },
  );
  assert.equal(o.port, 9000);
  assert.equal(o.dataDir, '/data');
  assert.equal(o.retentionMaxAgeMs, 86_400_000);
  assert.equal(o.retentionMaxBytes, 20e9);
  assert.equal(o.minFreeBytes, Math.round(1.5 * 1024 ** 3));
  assert.deepEqual(o.clipRoots, ['/a', '/b']);
  assert.deepEqual(o.testsrc, { width: 640, height: 360 });
  assert.deepEqual(parseProducerArgs([], { SEGREC_CLIP_ROOT: '/x, /y' }).clipRoots, ['/x', '/y']);
});

test('bad flags and values are OptionsErrors that say what is wrong', () => {
  assert.throws(() => parseProducerArgs(['--bogus', '1'], {}), /unknown flag --bogus/);
  assert.throws(() => parseProducerArgs(['--port'], {}), /--port needs a value/);
  assert.throws(() => parseProducerArgs(['--port', 'x'], {}), /--port: "x" is not a number/);
  assert.throws(() => parseProducerArgs(['--retention-max-age', '3 fortnights'], {}), /not a duration/);
  assert.throws(() => parseProducerArgs(['--testsrc-size', 'big'], {}), /1280x720/);
  assert.throws(() => resolveProducerOptions({ port: 70000 }), OptionsError);
  assert.throws(() => resolveProducerOptions({ segmentSeconds: 0 }), /segment-seconds/);
  assert.throws(() => resolveProducerOptions({ authToken: 'short' }), /at least 8/);
  assert.throws(() => resolveProducerOptions({ testsrc: { width: 15 } }), /testsrc size/);
});

test('sizes and durations', () => {
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('90'), 90_000);
  assert.equal(parseDurationMs('7d'), 604_800_000);
  assert.equal(parseBytes('512MiB'), 512 * 1024 ** 2);
  assert.equal(parseBytes('100'), 100);
  assert.throws(() => parseBytes('-5GB'));
});

test('credentials never survive redaction: prefixed secret keys, an @ inside the password, malformed escapes', () => {
  assert.equal(redactUrl('http://h/x?access_token=abc&api_key=def&X-Auth=ghi&page=2'), 'http://h/x?access_token=***&api_key=***&X-Auth=***&page=2');
  assert.equal(redactUrl('rtsp://admin:p@ss@cam:554/s'), 'rtsp://***@cam:554/s');
  assert.ok(!redactSecrets('rtsp://u:p@ss@cam/s failed: p@ss', urlSecrets('rtsp://u:p@ss@cam/s')).includes('ss'));
  assert.deepEqual(urlSecrets('rtsp://u:bad%zzpw@cam/s'), ['bad%zzpw'], 'a malformed escape still scrubs the raw password');
});

test('credentials never survive redaction', () => {
  const url = 'rtsp://admin:p%40ss@cam.local:554/stream?token=abc123&channel=1';
  assert.equal(redactUrl(url), 'rtsp://***@cam.local:554/stream?token=***&channel=1');
  assert.deepEqual(urlSecrets(url), ['p%40ss', 'p@ss']);
  const line = `ffmpeg failed to open ${url}; password p@ss rejected`;
  const out = redactSecrets(line, urlSecrets(url));
  assert.ok(!out.includes('p@ss') && !out.includes('p%40ss') && !out.includes('abc123'), out);
});

test('ffmpeg arguments: an array per source kind, RTSP over TCP with a timeout, fragmented MP4 to stdout', () => {
  assert.equal(sourceKind('testsrc'), 'testsrc');
  assert.equal(sourceKind('rtsp://h/x'), 'rtsp');
  assert.equal(sourceKind('https://h/x.m3u8'), 'network');
  assert.equal(sourceKind('/videos/a b.mp4'), 'file');
  const base = { transcode: 'auto' as const, loop: true, testsrc: DEFAULT_TESTSRC, inputArgs: [] };
  const rtsp = buildFfmpegArgs({ ...base, source: 'rtsp://u:p@h/x' });
  assert.deepEqual(rtsp.slice(rtsp.indexOf('-rtsp_transport'), rtsp.indexOf('-rtsp_transport') + 4), ['-rtsp_transport', 'tcp', '-timeout', '5000000']);
  assert.ok(rtsp.includes('copy'), 'network sources are stream-copied');
  const file = buildFfmpegArgs({ ...base, source: '/videos/a b.mp4' });
  assert.ok(file.includes('/videos/a b.mp4'), 'a path with spaces stays one argument');
  assert.deepEqual(file.slice(file.indexOf('-re'), file.indexOf('-re') + 3), ['-re', '-stream_loop', '-1']);
  for (const args of [rtsp, file, buildFfmpegArgs({ ...base, source: 'testsrc' })]) {
    assert.ok(args.join(' ').includes('frag_keyframe+empty_moov+default_base_moof'));
    assert.equal(args[args.length - 1], 'pipe:1');
  }
});
