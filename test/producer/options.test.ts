// Pure option handling: flags and SEGREC_* env vars, sizes and durations, URL redaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError, parseProducerArgs, resolveProducerOptions } from '../../src/producer/options.js';
import { parseBytes, parseDurationMs } from '../../src/common/units.js';
import { redactSecrets, redactUrl, urlSecrets } from '../../src/common/redact.js';
import { buildFfmpegArgs, buildProbeArgs, sourceKind } from '../../src/producer/ingest/source-args.js';
import { isAudioFailure, planAudio } from '../../src/producer/ingest/audio-policy.js';
import { parseAudioProbe } from '../../src/producer/ingest/probe.js';
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
  const rtsp = buildFfmpegArgs({ ...base, source: 'rtsp://h/x' }).args;
  assert.deepEqual(rtsp.slice(rtsp.indexOf('-rtsp_transport'), rtsp.indexOf('-rtsp_transport') + 4), ['-rtsp_transport', 'tcp', '-timeout', '5000000']);
  assert.ok(rtsp.includes('copy'), 'network sources are stream-copied');
  const file = buildFfmpegArgs({ ...base, source: '/videos/a b.mp4' }).args;
  assert.ok(file.includes('/videos/a b.mp4'), 'a path with spaces stays one argument');
  assert.deepEqual(file.slice(file.indexOf('-re'), file.indexOf('-re') + 3), ['-re', '-stream_loop', '-1']);
  for (const args of [rtsp, file, buildFfmpegArgs({ ...base, source: 'testsrc' }).args]) {
    assert.ok(args.join(' ').includes('frag_keyframe+empty_moov+default_base_moof'));
    assert.deepEqual(args.slice(args.indexOf('-frag_duration'), args.indexOf('-frag_duration') + 2), ['-frag_duration', '1000000'],
      'a fragment at least every second, whatever the GOP');
    assert.equal(args[args.length - 1], 'pipe:1');
  }
});

test('a URL with credentials never reaches the command line: ffmpeg reads it from an ffconcat script on pipe 3', () => {
  const base = { transcode: 'auto' as const, loop: true, testsrc: DEFAULT_TESTSRC, inputArgs: ['-analyzeduration', '2000000'] };
  const url = "rtsp://cam:p'a ss@10.0.0.9:554/stream1";
  const spec = buildFfmpegArgs({ ...base, source: url });
  assert.ok(!spec.args.join(' ').includes("p'a ss"), 'no password in the arguments');
  assert.ok(!spec.args.join(' ').includes('10.0.0.9'), 'the URL as a whole stays out of them');
  assert.deepEqual(spec.args.slice(spec.args.indexOf('-f'), spec.args.indexOf('-f') + 6), ['-f', 'concat', '-safe', '0', '-i', 'pipe:3']);
  assert.equal(spec.fd3, [
    'ffconcat version 1.0', "file 'rtsp://cam:p'\\''a ss@10.0.0.9:554/stream1'", "option rtsp_transport 'tcp'", "option timeout '5000000'",
    "option analyzeduration '2000000'", '',
  ].join('\n'));
  const probe = buildProbeArgs({ ...base, source: url });
  assert.ok(!probe.args.join(' ').includes("p'a ss"));
  assert.equal(probe.fd3, spec.fd3);
  assert.equal(buildFfmpegArgs({ ...base, source: 'rtsp://h/x' }).fd3, null, 'no script without credentials');
});

test('audio plan: AAC/Opus copied, G.711 and PCM transcoded alone to AAC, steps down when ffmpeg fails on audio', () => {
  const fresh = { failures: 0, lastFailure: null };
  const probe = (codec: string | null, sampleRate: number | null = 8000) => ({ codec, sampleRate, channels: 1 });
  assert.equal(planAudio('auto', probe('aac', 48000), fresh).mode, 'copy');
  assert.equal(planAudio('auto', probe('opus', 48000), fresh).mode, 'copy');
  for (const c of ['pcm_alaw', 'pcm_mulaw', 'pcm_s16be', 'adpcm_g726', 'mp3']) {
    const p = planAudio('auto', probe(c), fresh);
    assert.equal(p.mode, 'aac', c);
    assert.deepEqual(p.args, ['-c:a', 'aac', '-b:a', '64k', '-ar', '16000'], c);
    assert.match(p.reason ?? '', /transcoded to AAC/);
  }
  assert.match(planAudio('auto', probe('pcm_alaw'), fresh).reason ?? '', /G\.711 A-law/);
  assert.equal(planAudio('auto', probe(null), fresh).mode, 'none');
  assert.equal(planAudio('off', probe('aac'), fresh).mode, 'none');
  assert.equal(planAudio('aac', probe('aac', 48000), fresh).mode, 'aac');
  // Unknown (probe failed): copy first, then AAC, then video only — never nothing recorded.
  assert.equal(planAudio('auto', null, fresh).mode, 'copy');
  assert.equal(planAudio('auto', null, { failures: 1, lastFailure: 'x' }).mode, 'aac');
  const last = planAudio('auto', null, { failures: 2, lastFailure: 'Could not find tag for codec g729' });
  assert.equal(last.mode, 'none');
  assert.deepEqual(last.args, ['-an']);
  assert.match(last.reason ?? '', /g729.*video only/);
  assert.ok(isAudioFailure('[mp4 @ 0x1] Could not find tag for codec pcm_alaw in stream #1, codec not currently supported in container'));
  assert.ok(!isAudioFailure('Connection refused'));
});

test('ffprobe output: the first audio stream, none, or unreadable', () => {
  assert.deepEqual(parseAudioProbe('{"streams":[{"codec_type":"video","codec_name":"h264"},{"codec_type":"audio","codec_name":"pcm_alaw","sample_rate":"8000","channels":1}]}'),
    { codec: 'pcm_alaw', sampleRate: 8000, channels: 1 });
  assert.deepEqual(parseAudioProbe('{"streams":[{"codec_type":"video","codec_name":"h264"}]}'), { codec: null, sampleRate: null, channels: null });
  assert.equal(parseAudioProbe('{"streams":[]}'), null, 'no video: the probe says nothing useful');
  assert.equal(parseAudioProbe('garbage'), null);
});

test('--catalog with a password is refused on the command line (visible in ps); from SEGREC_CATALOG it is taken', () => {
  assert.throws(() => parseProducerArgs(['--catalog', 'postgres://segrec:s3cret@db/segrec'], {}), (e: unknown) =>
    e instanceof OptionsError && /SEGREC_CATALOG/.test(e.message) && !e.message.includes('s3cret'));
  assert.equal(parseProducerArgs([], { SEGREC_CATALOG: 'postgres://segrec:s3cret@db/segrec' }).catalog, 'postgres://segrec:s3cret@db/segrec');
  assert.equal(parseProducerArgs(['--catalog', 'postgres://db/segrec'], {}).catalog, 'postgres://db/segrec', 'no password (e.g. a .pgpass or peer auth): fine');
  assert.throws(() => resolveProducerOptions({ catalog: 'mysql://x' }), /catalog must be a postgres:\/\/ URL/);
});
