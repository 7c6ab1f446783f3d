// A camera that changes resolution mid-stream (stream-copied, so the new SPS arrives in-band): the
// producer must not file the new pictures under the old init. It starts a new segment with a new init,
// and no segment mixes the two sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeErrors, runOk, tempDir } from '../helpers/media.js';
import { listSegments, segmentFile, startTestProducer, waitFor } from '../helpers/producer.js';
import { declaredParameterSets, inBandSequenceSets, sequenceChanged } from '../../src/mp4/param-sets.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';

/** An MPEG-TS of `seconds`, its timestamps starting at `offsetS` (so two can follow each other like one stream). */
async function ts(path: string, w: number, h: number, seconds: number, offsetS = 0): Promise<Buffer> {
  await runOk('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=15`, '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-keyint_min', '15', '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
    '-output_ts_offset', String(offsetS), '-f', 'mpegts', path]);
  return readFileSync(path);
}

/** Serves `bytes` paced at about `seconds` of real time, like a live camera. */
function pace(res: import('node:http').ServerResponse, bytes: Buffer, seconds: number): Promise<void> {
  const chunk = Math.ceil(bytes.length / (seconds * 10));
  return new Promise((resolve) => {
    let at = 0;
    const t = setInterval(() => {
      if (res.destroyed || at >= bytes.length) {
        clearInterval(t);
        resolve();
        return;
      }
      res.write(bytes.subarray(at, at + chunk));
      at += chunk;
    }, 100);
  });
}

test('declared vs in-band parameter sets: repeats are not a change, a new resolution is', async () => {
  const tmp = tempDir();
  try {
    const a = await ts(join(tmp.dir, 'a.ts'), 320, 240, 1);
    const b = await ts(join(tmp.dir, 'b.ts'), 480, 360, 1);
    const both = join(tmp.dir, 'both.ts');
    (await import('node:fs')).writeFileSync(both, Buffer.concat([a, b]));
    const frag = join(tmp.dir, 'frag.mp4');
    await runOk('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', both, '-c', 'copy', '-f', 'mp4', '-movflags',
      'frag_keyframe+empty_moov+default_base_moof', frag]);
    const bytes = readFileSync(frag);
    const scan = scanFragmentedFile(bytes);
    const video = scan.init!.tracks.find((t) => t.kind === 'video')!;
    const declared = declaredParameterSets(video)!;
    assert.equal(declared.codec, 'h264');
    assert.equal(declared.sequence.length, 1);
    const firstSamples = scan.fragments.map((f) => {
      const s = f.moof.trackRuns.find((r) => r.trackId === video.trackId)!.samples[0];
      return bytes.subarray(s.fileOffset, s.fileOffset + s.size);
    });
    assert.ok(inBandSequenceSets(firstSamples[0], declared).length >= 1, 'TS sources repeat the SPS in-band');
    assert.equal(sequenceChanged(firstSamples[0], declared), false, 'an identical repeat is not a change');
    assert.equal(sequenceChanged(firstSamples[firstSamples.length - 1], declared), true, 'the 480x360 keyframe brings a new SPS');
  } finally {
    tmp.cleanup();
  }
});

test('a resolution change mid-stream starts a new segment with its own init; no segment mixes sizes', async () => {
  const tmp = tempDir();
  const a = await ts(join(tmp.dir, 'a.ts'), 320, 240, 4);
  // b continues a's clock: the camera changed resolution, not its timestamps (a step back would end the
  // run for another reason, tested in the camera suite).
  const b = await ts(join(tmp.dir, 'b.ts'), 480, 360, 4, 4);
  let connections = 0;
  const server: Server = createServer((req, res) => {
    connections++;
    res.writeHead(200, { 'content-type': 'video/mp2t' });
    const first = connections === 1;
    void (async () => {
      if (first) await pace(res, a, 4);
      await pace(res, b, 4);
      res.end();
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const p = await startTestProducer(join(tmp.dir, 'data'), {
    // No audio probe: the fake camera counts connections, and the first one must be ffmpeg's.
    source: `http://127.0.0.1:${port}/cam.ts`, segmentSeconds: 2, audio: 'off',
  });
  try {
    const segs = await waitFor('segments of both sizes', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.some((x) => x.width === 320) && s.some((x) => x.width === 480) ? s : null;
    }, 40_000);
    for (const s of segs) {
      const file = segmentFile(join(tmp.dir, 'data'), s);
      const out = await runOk('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=width', '-of', 'csv=p=0', file]);
      const widths = new Set(out.split('\n').filter((l) => l.trim()).map((l) => Number(l.split(',')[0])));
      assert.deepEqual([...widths], [s.width], `${s.path}: every frame is ${s.width} wide`);
      assert.equal(await decodeErrors(file), '', `${s.path} decodes cleanly`);
    }
    assert.ok(p.logs.some((l) => /video parameters changed/.test(l)), 'the change is logged');
  } finally {
    await p.close();
    server.closeAllConnections();
    server.close();
    tmp.cleanup();
  }
});
