// Frame reader against real ffmpeg output: every frame's PTS must equal what ffprobe reports (with and
// without an offset, with B-frames and a 90 kHz time base too), output is bounded, close() stops ffmpeg,
// and failures carry ffmpeg's stderr without credentials.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FrameReader, FrameReaderError, frameReaderArgs, type Frame } from '../../src/analysis/frame-reader.js';
import { parseShowinfoLine, redactCredentials, ticksToNs } from '../../src/analysis/ffmpeg-log.js';
import { testsrcGraph } from '../../src/producer/ingest/testsrc.js';
import { probeFrames, runOk, tempDir } from '../helpers/media.js';

async function probeTimeBase(path: string): Promise<{ num: number; den: number }> {
  const out = await runOk('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=time_base', '-of', 'csv=p=0', path]);
  const [num, den] = out.trim().split('/').map(Number);
  return { num, den };
}

async function readAll(reader: FrameReader): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const f of reader) frames.push(f);
  return frames;
}

describe('ffmpeg-log helpers', () => {
  it('parses showinfo lines of the named instance only', () => {
    const tb = parseShowinfoLine('[showinfo@segrec @ 0x55d] config in time_base: 1/90000, frame_rate: 30/1', 'segrec');
    assert.deepEqual(tb, { kind: 'timebase', timeBase: { num: 1, den: 90000 } });
    const fr = parseShowinfoLine('[showinfo@segrec @ 0x55d] n:  12 pts: -3003 pts_time:-0.0333667 pos: 943 fmt:gray sar:1/1 s:160x90 i:P iskey:0 type:B', 'segrec');
    assert.deepEqual(fr, { kind: 'frame', frame: { n: 12, pts: -3003n, width: 160, height: 90 } });
    const nopts = parseShowinfoLine('[showinfo@segrec @ 0x1] n:   0 pts:NOPTS pts_time:NOPTS pos: -1 fmt:gray sar:1/1 s:8x6 i:P iskey:1 type:I', 'segrec');
    assert.deepEqual(nopts, { kind: 'frame', frame: { n: 0, pts: null, width: 8, height: 6 } });
    assert.equal(parseShowinfoLine('[showinfo@other @ 0x1] n:   0 pts:0 pts_time:0 pos: 1 fmt:gray sar:1/1 s:8x6 i:P', 'segrec'), null);
    assert.equal(parseShowinfoLine('frame=  300 fps=0.0', 'segrec'), null);
  });

  it('converts ticks to ns exactly, rounding half up', () => {
    assert.equal(ticksToNs(1n, { num: 1, den: 15360 }), 65104); // 65104.1666…
    assert.equal(ticksToNs(1n, { num: 1, den: 90000 }, 5), 11116); // 11111.11… + 5
    assert.equal(ticksToNs(1n, { num: 1, den: 2_000_000_000 }), 1); // 0.5 → 1
    assert.equal(ticksToNs(-1n, { num: 1, den: 2_000_000_000 }), 0); // -0.5 → 0 (like Math.round)
    assert.equal(ticksToNs(-3003n, { num: 1, den: 90000 }), -33366667);
    assert.equal(ticksToNs(1001n, { num: 1001, den: 30000 }), 33400033333); // 1001 ticks of 1001/30000 s
    // 100 days of a 90 kHz clock: the float formula would be off; BigInt is exact.
    const ticks = 90000n * 86400n * 100n + 1n;
    assert.equal(ticksToNs(ticks, { num: 1, den: 90000 }), 8_640_000_000_011_111);
  });

  it('redacts URL credentials', () => {
    assert.equal(redactCredentials("from 'rtsp://admin:hunter2@10.0.0.5:554/s1'"), "from 'rtsp://***@10.0.0.5:554/s1'");
    assert.equal(redactCredentials('http://u@h/x and https://a:b@c/d'), 'http://***@h/x and https://***@c/d');
    assert.equal(redactCredentials('no url here: a@b'), 'no url here: a@b');
  });

  it('builds an argument array with copyts, passthrough and showinfo after the scale', () => {
    const args = frameReaderArgs('in.mp4', ['-re'], 96);
    assert.ok(args.includes('-copyts'));
    assert.deepEqual(args.slice(args.indexOf('-fps_mode'), args.indexOf('-fps_mode') + 2), ['-fps_mode', 'passthrough']);
    assert.ok(args.indexOf('-re') < args.indexOf('-i'));
    assert.match(args[args.indexOf('-vf') + 1], /^scale=96:-2.*showinfo@segrec/);
  });
});

describe('FrameReader on real files', () => {
  const tmp = tempDir('segrec-frames-');
  const testsrcMp4 = join(tmp.dir, 'testsrc.mp4');
  const bframesMp4 = join(tmp.dir, 'bframes.mp4');

  before(async () => {
    const graph = testsrcGraph({ width: 320, height: 180, fps: 15, gopSeconds: 1, motionPeriodS: 10, motionDurationS: 3, motionOffsetS: 4 })
      .replace(',realtime[out0]', '[out0]');
    await Promise.all([
      runOk('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', graph, '-t', '6',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-bf', '0', '-pix_fmt', 'yuv420p',
        '-f', 'mp4', '-movflags', 'frag_keyframe+empty_moov+default_base_moof', testsrcMp4]),
      // B-frames (reordered PTS, negative-DTS edit list), a 90 kHz time base and an odd size.
      runOk('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=250x140:rate=30000/1001',
        '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '2', '-g', '24', '-pix_fmt', 'yuv420p',
        '-video_track_timescale', '90000', bframesMp4]),
    ]);
  });
  after(() => tmp.cleanup());

  for (const ptsOffsetNs of [0, 987_654_321_123]) {
    it(`gives every frame ffprobe's PTS (offset ${ptsOffsetNs})`, async () => {
      const [probed, tb] = await Promise.all([probeFrames(testsrcMp4), probeTimeBase(testsrcMp4)]);
      const frames = await readAll(new FrameReader({ input: testsrcMp4, ptsOffsetNs }));
      assert.equal(frames.length, 90);
      assert.equal(frames.length, probed.length);
      frames.forEach((f, i) => {
        assert.equal(f.index, i);
        assert.equal(f.width, 160);
        assert.equal(f.height, 90);
        assert.equal(f.gray.length, 160 * 90);
        assert.equal(f.ptsTicks, probed[i].pts, `frame ${i} ticks`);
        assert.equal(f.timescale, tb.den / tb.num);
        assert.equal(f.ptsNs, ptsOffsetNs + Math.round((probed[i].pts * 1e9 * tb.num) / tb.den), `frame ${i} ns`);
        assert.ok(Math.abs(f.ptsNs - ptsOffsetNs - probed[i].ptsTime * 1e9) < 1000);
        assert.equal(f.epochMs, null);
      });
    });
  }

  it('matches ffprobe with B-frames and a 90 kHz time base, and maps epoch ms', async () => {
    const [probed, tb] = await Promise.all([probeFrames(bframesMp4), probeTimeBase(bframesMp4)]);
    assert.deepEqual(tb, { num: 1, den: 90000 });
    assert.ok(probed.some((p) => p.pictType === 'B'));
    const frames = await readAll(new FrameReader({ input: bframesMp4, width: 100, epochMsForPtsNs: (ns) => 1_700_000_000_000 + ns / 1e6 }));
    assert.equal(frames.length, probed.length);
    frames.forEach((f, i) => {
      assert.equal(f.ptsTicks, probed[i].pts);
      assert.equal(f.ptsNs, Math.round((probed[i].pts * 1e9) / 90000));
      assert.equal(f.epochMs, 1_700_000_000_000 + f.ptsNs / 1e6);
      assert.equal(f.width, 100);
      assert.equal(f.gray.length, f.width * f.height);
    });
    // Presentation order: strictly increasing PTS.
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i].ptsNs > frames[i - 1].ptsNs);
  });

  it('never queues more than maxQueuedFrames for a slow consumer', async () => {
    const reader = new FrameReader({ input: testsrcMp4, maxQueuedFrames: 3 });
    let n = 0;
    for await (const f of reader) {
      assert.equal(f.index, n++);
      if (n % 10 === 0) await new Promise((r) => setTimeout(r, 30));
    }
    assert.equal(n, 90);
    assert.ok(reader.highWaterFrames <= 3, `high water ${reader.highWaterFrames}`);
  });

  it('close() stops ffmpeg mid-stream and ends the iteration cleanly', async () => {
    const reader = new FrameReader({ input: testsrcMp4, inputArgs: ['-re'] });
    const seen: number[] = [];
    const t0 = Date.now();
    for await (const f of reader) {
      seen.push(f.index);
      if (seen.length === 3) void reader.close();
    }
    assert.ok(seen.length >= 3 && seen.length < 90);
    assert.ok(Date.now() - t0 < 3000);
    assert.deepEqual(await reader.next(), { value: undefined, done: true });
  });

  it('a break out of for-await closes the reader; an aborted signal ends it too', async () => {
    const reader = new FrameReader({ input: testsrcMp4, inputArgs: ['-re'] });
    for await (const f of reader) if (f.index === 1) break;
    assert.deepEqual(await reader.next(), { value: undefined, done: true });
    const ac = new AbortController();
    const r2 = new FrameReader({ input: testsrcMp4, inputArgs: ['-re'], signal: ac.signal });
    let n = 0;
    for await (const _ of r2) if (++n === 2) ac.abort();
    assert.ok(n >= 2 && n < 90);
  });

  it('surfaces ffmpeg errors with its stderr tail', async () => {
    await assert.rejects(readAll(new FrameReader({ input: join(tmp.dir, 'missing.mp4') })), (e: unknown) => {
      assert.ok(e instanceof FrameReaderError);
      assert.notEqual(e.exitCode, 0);
      assert.match(e.message, /No such file or directory/);
      return true;
    });
    await assert.rejects(readAll(new FrameReader({ input: testsrcMp4, ffmpegPath: join(tmp.dir, 'no-ffmpeg') })), /cannot run/);
  });

  it('reports output that cannot be paired (a stand-in ffmpeg script), and NOPTS frames as NaN', async () => {
    const fake = (name: string, body: string): string => {
      const path = join(tmp.dir, name);
      writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return path;
    };
    const info = (n: number, pts: string): string =>
      `echo '[showinfo@segrec @ 0x1] n:   ${n} pts:${pts} pts_time:0 pos: 1 fmt:gray sar:1/1 s:4x2 i:P iskey:1 type:I' >&2`;
    const cfg = "echo '[showinfo@segrec @ 0x1] config in time_base: 1/10, frame_rate: 10/1' >&2";
    // Two frame infos, one and a half frames of bytes.
    const short = fake('short.sh', [cfg, info(0, '0'), info(1, '1'), 'head -c 12 /dev/zero'].join('\n'));
    await assert.rejects(readAll(new FrameReader({ input: 'x', ffmpegPath: short })), /ended inside a frame \(4 of 8 bytes\)/);
    // Bytes without any frame info.
    const noInfo = fake('noinfo.sh', [cfg, 'head -c 100 /dev/zero'].join('\n'));
    await assert.rejects(readAll(new FrameReader({ input: 'x', ffmpegPath: noInfo })), /100 raw bytes and 0 frame infos left unpaired/);
    // A frame without a timestamp.
    const nopts = fake('nopts.sh', [cfg, info(0, 'NOPTS'), info(1, '3'), 'head -c 16 /dev/zero'].join('\n'));
    const frames = await readAll(new FrameReader({ input: 'x', ffmpegPath: nopts, ptsOffsetNs: 7, epochMsForPtsNs: () => 1 }));
    assert.equal(frames.length, 2);
    assert.ok(Number.isNaN(frames[0].ptsNs) && Number.isNaN(frames[0].ptsTicks) && frames[0].epochMs === null);
    assert.equal(frames[1].ptsNs, 300_000_007);
    assert.equal(frames[1].epochMs, 1);
  });

  it('never puts URL credentials into errors', async () => {
    const reader = new FrameReader({ input: 'http://viewer:s3cretPass@127.0.0.1:9/cam.mp4' });
    await assert.rejects(readAll(reader), (e: unknown) => {
      assert.ok(e instanceof FrameReaderError);
      assert.doesNotMatch(e.message, /s3cretPass/);
      assert.doesNotMatch(e.stderrTail, /s3cretPass/);
      assert.match(e.message, /\*\*\*@127\.0\.0\.1/);
      return true;
    });
    assert.doesNotMatch(reader.stderrTail(), /s3cretPass/);
  });
});
