// Smoke test of the camera test rig itself (test/cameras/rtsp_server.py via test/helpers/rtsp-server.ts):
// every mount answers over RTSP/TCP with the codecs it promises, /auth wants credentials, and the
// server comes back on the same port after a kill.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../helpers/media.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

interface ProbedStreamCodec { codec_type: string; codec_name: string; profile?: string; has_b_frames?: number }

async function probeRtsp(url: string): Promise<{ code: number | null; streams: ProbedStreamCodec[]; stderr: string }> {
  const r = await run('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-timeout', '5000000',
    '-show_entries', 'stream=codec_type,codec_name,profile,has_b_frames', '-of', 'json', url], { timeoutMs: 30_000 });
  const streams = r.code === 0 ? (JSON.parse(r.stdout) as { streams?: ProbedStreamCodec[] }).streams ?? [] : [];
  return { code: r.code, streams, stderr: r.stderr };
}

const EXPECTED: Array<[mount: string, video: string, audio: string | null]> = [
  ['/h264-aac', 'h264', 'aac'],
  ['/h264-baseline', 'h264', null],
  ['/h264-alaw', 'h264', 'pcm_alaw'],
  ['/baseline-alaw', 'h264', 'pcm_alaw'],
  ['/h264-mulaw', 'h264', 'pcm_mulaw'],
  ['/h264-opus', 'h264', 'opus'],
  ['/h265-aac', 'hevc', 'aac'],
  ['/mjpeg', 'mjpeg', null],
  ['/gop10', 'h264', 'aac'],
  ['/jump', 'h264', 'aac'],
];

describe('camera-like RTSP test server', () => {
  let srv: RtspServer;
  before(async () => { srv = await startRtspServer(); });
  after(async () => { await srv?.stop(); });

  test('every mount serves the promised codecs over RTSP/TCP', async () => {
    // Two probes at a time: the machine has two cores and every mount encodes live.
    const queue = [...EXPECTED];
    const failures: string[] = [];
    const worker = async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const [mount, video, audio] = item;
        const r = await probeRtsp(srv.url(mount));
        const got = r.streams.map((s) => `${s.codec_type}:${s.codec_name}`).join(',');
        const want = [`video:${video}`, ...(audio ? [`audio:${audio}`] : [])].join(',');
        if (got !== want) failures.push(`${mount}: got [${got}] want [${want}] (exit ${r.code}: ${r.stderr.trim()})`);
        if (mount === '/h264-aac') {
          const v = r.streams.find((s) => s.codec_type === 'video');
          if (v?.profile !== 'High' || !(Number(v.has_b_frames) > 0)) failures.push(`${mount}: want High profile with B-frames, got ${JSON.stringify(v)}`);
        }
        if (mount === '/h264-baseline') {
          const v = r.streams.find((s) => s.codec_type === 'video');
          if (!/Baseline/.test(v?.profile ?? '')) failures.push(`${mount}: want a baseline profile, got ${v?.profile}`);
        }
      }
    };
    await Promise.all([worker(), worker()]);
    assert.deepEqual(failures, [], `server stderr: ${srv.stderr().slice(-1000)}`);
  });

  test('/auth refuses a client without or with wrong credentials and serves cam:s3cret-pa55', async () => {
    const none = await probeRtsp(srv.url('/auth'));
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /401/);
    const wrong = await probeRtsp(srv.url('/auth').replace('rtsp://', 'rtsp://cam:wrong@'));
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /401/);
    const ok = await probeRtsp(srv.url('/auth', true));
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(ok.streams.map((s) => s.codec_name), ['h264', 'aac']);
  });

  test('killed, the server is back on the same port after restart()', async () => {
    srv.kill();
    const down = await probeRtsp(srv.url('/h264-baseline'));
    assert.notEqual(down.code, 0);
    await srv.restart();
    const up = await probeRtsp(srv.url('/h264-baseline'));
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.streams[0]?.codec_name, 'h264');
  });
});
