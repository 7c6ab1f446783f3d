// Crash safety: kill -9 of the producer mid-segment, then a restart, keeps every sealed segment byte for
// byte and recovers the open one to its last whole fragment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { decodeErrors, probeFrames, tempDir } from '../helpers/media.js';
import { getJson, listSegments, segmentFile, spawnProducerProcess, waitFor } from '../helpers/producer.js';

const md5 = (path: string) => createHash('md5').update(readFileSync(path)).digest('hex');
const ARGS = ['--port', '0', '--segment-seconds', '3', '--testsrc-size', '320x180', '--log-level', 'warn'];

test('kill -9 mid-segment: sealed segments intact, the open one recovered to its last whole fragment', async () => {
  const tmp = tempDir();
  const first = await spawnProducerProcess(['--data-dir', tmp.dir, ...ARGS]);
  let open;
  let sealedBefore;
  try {
    ({ open, sealed: sealedBefore } = await waitFor('a sealed segment and an open one with fragments', async () => {
      const segs = (await listSegments(first.url)).segments;
      const o = segs.find((s) => !s.sealed && s.fragments >= 1);
      const sealed = segs.filter((s) => s.sealed);
      return o && sealed.length >= 1 ? { open: o, sealed } : null;
    }, 30_000));
  } finally {
    first.child.kill('SIGKILL');
  }
  await new Promise((r) => first.child.once('exit', r));
  const sums = new Map(sealedBefore.map((s) => [s.path, md5(segmentFile(tmp.dir, s))]));
  // Simulate a crash in the middle of writing a fragment: half a moof header at the end of the open file.
  const openFile = segmentFile(tmp.dir, open);
  const sizeAtKill = statSync(openFile).size;
  appendFileSync(openFile, Buffer.from([0, 0, 0x10, 0, 0x6d, 0x6f, 0x6f, 0x66, 1, 2, 3]));

  const second = await spawnProducerProcess(['--data-dir', tmp.dir, ...ARGS]);
  try {
    const segs = (await listSegments(second.url)).segments;
    for (const s of sealedBefore) {
      assert.equal(md5(segmentFile(tmp.dir, s)), sums.get(s.path), `${s.path} unchanged`);
      assert.ok(segs.some((x) => x.path === s.path && x.sealed));
    }
    const recovered = segs.find((s) => s.path === open.path);
    assert.ok(recovered, 'the open segment is still indexed');
    assert.equal(recovered.sealed, true, 'and now sealed');
    assert.ok(recovered.fragments >= open.fragments, 'keeps at least the fragments indexed before the crash');
    assert.equal(statSync(openFile).size, recovered.bytes, 'truncated to its last whole fragment');
    assert.ok(recovered.bytes <= sizeAtKill && recovered.bytes >= open.bytes, 'nothing indexed before the crash is lost');
    assert.equal(await decodeErrors(openFile), '', 'the recovered segment decodes cleanly');
    assert.equal((await probeFrames(openFile)).length, recovered.frames);
    // Recording resumes after the recovered footage, with a gap and never reused PTS.
    await waitFor('new footage after restart', async () => {
      const now = (await listSegments(second.url)).segments;
      return now.some((s) => s.start_pts_ns >= recovered.stop_pts_ns && s.path !== recovered.path && s.fragments > 0);
    }, 20_000);
    const after = (await listSegments(second.url));
    for (let i = 1; i < after.segments.length; i++) assert.ok(after.segments[i].start_pts_ns >= after.segments[i - 1].stop_pts_ns);
    assert.ok(after.gaps.some((g) => /producer restart/.test(g.reason)), 'the downtime is a recorded gap');
    const health = (await getJson<{ ingest: { state: string } }>(`${second.url}/health`)).body;
    assert.equal(health.ingest.state, 'running');
  } finally {
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
    tmp.cleanup();
  }
});

test('SIGTERM seals the open segment and exits cleanly', async () => {
  const tmp = tempDir();
  const p = await spawnProducerProcess(['--data-dir', tmp.dir, ...ARGS, '--log-level', 'info']);
  await waitFor('an open segment with fragments', async () => (await listSegments(p.url)).segments.some((s) => !s.sealed && s.fragments > 0));
  p.child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => p.child.once('exit', (c) => r(c)));
  assert.equal(code, 0);
  assert.match(p.output(), /segment sealed/);
  // Restart: nothing needed recovery (every segment was sealed at shutdown).
  const again = await spawnProducerProcess(['--data-dir', tmp.dir, ...ARGS, '--log-level', 'info']);
  try {
    assert.match(again.output(), /recovered_open=0/);
  } finally {
    again.child.kill('SIGTERM');
    await new Promise((r) => again.child.once('exit', r));
    tmp.cleanup();
  }
});

test('a segment file that cannot be read at start is reported and skipped; the producer still starts and records', async () => {
  const { rmSync, mkdirSync: mkdir } = await import('node:fs');
  const { startTestProducer } = await import('../helpers/producer.js');
  const tmp = tempDir();
  const first = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
  let sealed;
  try {
    sealed = await waitFor('3 sealed segments', async () => {
      const s = (await listSegments(first.url)).segments.filter((x) => x.sealed);
      return s.length >= 3 ? s : null;
    });
  } finally {
    await first.close();
  }
  // Reading it fails (EISDIR) even as root.
  const broken = segmentFile(tmp.dir, sealed[1]);
  rmSync(broken);
  mkdir(broken);
  const second = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
  try {
    await second.producer.backgroundCheck.done;
    assert.ok(second.producer.recovery.corrupt.includes(sealed[1].path), 'reported');
    assert.ok(second.logs.some((l) => /\bERROR\b/.test(l) && l.includes(sealed[1].path)), 'logged as an error naming the file');
    const now = (await listSegments(second.url)).segments;
    assert.ok(now.some((s) => s.path === sealed[0].path) && now.some((s) => s.path === sealed[2].path), 'the others are kept');
    await waitFor('recording again', async () => (await getJson<{ ingest: { state: string } }>(`${second.url}/health`)).body.ingest.state === 'running');
  } finally {
    await second.close();
    tmp.cleanup();
  }
});
