// `segrec run`: the producer plus one motion pipeline per camera with motion enabled. From a config file:
// a camera with motion gets events and clips (lines prefixed with its name, its own JSONL log), one
// without gets no pipeline; SIGHUP with a changed file stops the removed camera's pipeline and starts
// the added camera's, which then clips its own motion; Ctrl-C exits 0. From flags: every --camera gets
// motion, --detect NAME=URL gives one a sub-stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/media.js';
import { spawnSegrec } from '../helpers/segrec-process.js';
import { parseJsonl } from '../../src/analysis/index.js';
import { motionSettings, runConfigFromArgv, takeDetectFlags, wantsMotion } from '../../src/cli/commands/run.js';
import { parseAppConfig } from '../../src/producer/config/app-config.js';

test('run from flags: motion on every --camera, --detect gives a sub-stream; usage mistakes are refused', () => {
  const c = runConfigFromArgv(['--camera', 'front=rtsp://10.0.0.5/main', '--camera', 'back=rtsp://10.0.0.6/main',
    '--detect', 'front=rtsp://10.0.0.5/sub', '--data-dir', '/tmp/segrec-run-test'], {});
  assert.deepEqual(c.cameras.map((x) => [x.name, x.motion.enabled, x.detectSource]), [
    ['front', true, 'rtsp://10.0.0.5/sub'], ['back', true, null],
  ]);
  assert.deepEqual(takeDetectFlags(['--detect=a=rtsp://x/1', '--port', '1']), { detect: new Map([['a', 'rtsp://x/1']]), rest: ['--port', '1'] });
  assert.throws(() => runConfigFromArgv(['--camera', 'a=rtsp://x/1', '--detect', 'b=rtsp://x/2'], {}), /no camera of that name/);
  assert.throws(() => runConfigFromArgv(['--detect', 'a'], {}), /NAME=URL/);
  assert.throws(() => runConfigFromArgv(['--config', 'x.yml', '--detect', 'a=rtsp://x/2'], {}), /with --config/);
});

test('run from a file: the camera\'s motion block is what its pipeline runs with', () => {
  const c = parseAppConfig([
    'cameras:',
    '  a:',
    '    source: rtsp://10.0.0.5/main',
    '    detect_source: rtsp://10.0.0.5/sub',
    '    motion: {threshold: 30, min_area_pct: 0.5, pre_roll: 3s, post_roll: 500ms}',
    '  b:',
    '    source: testsrc',
    '    motion: {enabled: false}',
    '  c:',
    '    source: testsrc',
    '    record: false',
    '    motion: {}',
    '  d:',
    '    source: testsrc',
  ].join('\n') + '\n', 'x.yml');
  assert.deepEqual(c.cameras.map((x) => [x.name, wantsMotion(x)]), [['a', true], ['b', false], ['c', false], ['d', false]]);
  assert.deepEqual(motionSettings(c.cameras[0]), { prerollMs: 3000, postrollMs: 500, minArea: 0.005, noiseThreshold: 30, detectSource: 'rtsp://10.0.0.5/sub' });
  assert.deepEqual(motionSettings(c.cameras[3]), { prerollMs: 2000, postrollMs: 2000, detectSource: null });
});

test('segrec run --config: pipelines per camera, following a SIGHUP reload', { timeout: 150_000 }, async () => {
  const tmp = tempDir();
  const file = join(tmp.dir, 'segrec.yml');
  const camera = (name: string, motion: boolean) => [
    `  ${name}:`, '    source: testsrc', '    testsrc: {size: 320x180, fps: 15}', '    segment_seconds: 4',
    ...(motion ? ['    motion: {pre_roll: 1s, post_roll: 1s}'] : []),
  ];
  const write = (cams: string[][]) => writeFileSync(file, [`data_dir: ${join(tmp.dir, 'data')}`, 'port: 0', 'cameras:', ...cams.flat()].join('\n') + '\n');
  write([camera('a', true), camera('n', false)]);
  const p = spawnSegrec(['run', '--config', file]);
  try {
    await p.waitFor(/producer running at http:\/\/127\.0\.0\.1:\d+ with 2 camera\(s\): a, n/, 30_000, 'the producer');
    await p.waitFor(/^\S+ {2}a +motion: detecting on the live stream, pre\/post roll 1\/1 s/m, 10_000, 'a\'s pipeline');
    // The test camera moves for 4 s from 8 s into every 20 s.
    await p.waitFor(/^\S+ {2}a +clip clip-a-\d{16}: [\d.]+ s → \S+\.mp4$/m, 45_000, 'a clip of a');
    assert.doesNotMatch(p.output(), /^\S+ {2}n +motion/m, 'no pipeline for a camera without motion');

    write([camera('n', false), camera('b', true)]);
    p.child.kill('SIGHUP');
    await p.waitFor(/^\S+ {2}a +motion pipeline stopped: [1-9]\d* events, [1-9]\d* clips, 0 failed$/m, 30_000, 'a\'s pipeline to stop');
    await p.waitFor(/configuration reloaded: added b, removed a, restarted -/, 30_000, 'the reload');
    await p.waitFor(/^\S+ {2}b +motion: detecting on the live stream/m, 10_000, 'b\'s pipeline');
    await p.waitFor(/^\S+ {2}b +clip clip-b-\d{16}: [\d.]+ s → \S+\.mp4$/m, 45_000, 'a clip of b');
    assert.doesNotMatch(p.output(), /clip failed|motion pipeline failed/);

    assert.equal(await p.stop('SIGINT'), 0, p.output());
    assert.match(p.output(), /^\S+ {2}b +motion pipeline stopped: /m);
    for (const cam of ['a', 'b']) {
      const log = join(tmp.dir, 'data', 'cameras', cam, 'motion-events.jsonl');
      assert.ok(existsSync(log), log);
      const clips = parseJsonl(readFileSync(log, 'utf8')).filter((r) => r.type === 'clip');
      assert.ok(clips.length >= 1, `${cam}: its clips are in its own log`);
    }
    assert.ok(!existsSync(join(tmp.dir, 'data', 'cameras', 'n', 'motion-events.jsonl')));
  } finally {
    p.kill();
    tmp.cleanup();
  }
});
