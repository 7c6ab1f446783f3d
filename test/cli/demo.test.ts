// `segrec demo` (what `npm start` runs): two test cameras, `front` and `back`, each with a motion
// pipeline; within a minute the terminal shows motion events and clips of both, each line prefixed with
// its camera, the clips are there and play, each camera's JSONL log has them, and Ctrl-C stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeStreams, tempDir } from '../helpers/media.js';
import { spawnSegrec } from '../helpers/segrec-process.js';
import { parseJsonl } from '../../src/analysis/index.js';
import { demoConfig, DEMO_CAMERAS } from '../../src/cli/commands/demo.js';

test('demo config: two test cameras with motion at different phases; real sources are refused', () => {
  const c = demoConfig({ dataDir: '/tmp/x', port: 0, testsrc: { width: 320, height: 180 } });
  assert.deepEqual(c.cameras.map((x) => x.name), ['front', 'back']);
  assert.ok(c.cameras.every((x) => x.motion.enabled && x.options.source === 'testsrc' && x.options.testsrc?.width === 320));
  assert.deepEqual(c.cameras.map((x) => x.options.testsrc?.motionOffsetS), DEMO_CAMERAS.map((d) => d.motionOffsetS));
  assert.notEqual(c.cameras[0].options.testsrc?.motionOffsetS, c.cameras[1].options.testsrc?.motionOffsetS);
  assert.throws(() => demoConfig({ source: 'rtsp://10.0.0.5/1' }), /segrec run --camera/);
});

test('segrec demo: motion clips from both cameras within a minute, lines prefixed by camera', { timeout: 120_000 }, async () => {
  const tmp = tempDir();
  const p = spawnSegrec(['demo', '--data-dir', tmp.dir, '--port', '0', '--testsrc-size', '320x180', '--segment-seconds', '4']);
  try {
    await p.waitFor(/web page and API at http:\/\/127\.0\.0\.1:\d+/, 30_000, 'the producer');
    const clips = new Map<string, string>();
    await Promise.all(['front', 'back'].map(async (cam) => {
      const m = await p.waitFor(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${cam} +clip (clip-${cam}-\\d{16}): [\\d.]+ s → (\\S+\\.mp4)$`, 'm'), 60_000, `a clip of ${cam}`);
      clips.set(cam, m[2]);
    }));
    const out = p.output();
    for (const cam of ['front', 'back']) {
      assert.match(out, new RegExp(`^\\S+  ${cam} +motion event: [\\d.]+ s`, 'm'), `${cam}: its events are shown`);
      assert.match(out, new RegExp(`^\\S+  ${cam} +segment sealed `, 'm'));
    }
    const code = await p.stop('SIGINT');
    assert.equal(code, 0, p.output());
    assert.match(p.output(), /stopped — front: [1-9]\d* events, [1-9]\d* clips, 0 failed; back: [1-9]\d* events, [1-9]\d* clips, 0 failed$/m);
    for (const [cam, path] of clips) {
      assert.ok(path.startsWith(join(tmp.dir, 'clips')) && existsSync(path), path);
      const [v] = await probeStreams(path);
      assert.ok(v.duration > 4, `${cam}: the clip holds the event and its rolls (${v.duration} s)`);
      const log = parseJsonl(readFileSync(join(tmp.dir, 'cameras', cam, 'motion-events.jsonl'), 'utf8'));
      assert.ok(log.some((r) => r.type === 'event') && log.some((r) => r.type === 'clip'), `${cam}: events and clips logged`);
    }
  } finally {
    p.kill();
    tmp.cleanup();
  }
});
