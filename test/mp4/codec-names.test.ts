// parseInit names every track's codec as ffprobe's `codec_name` does (what /health, /segments and the
// CLI show), whatever the sample entry: files of many codecs made by the real ffmpeg, in MP4 (plain and
// fragmented like the producer's ingest) and QuickTime (G.711 and 'jpeg' live there), checked against
// `ffprobe -show_entries stream=codec_name`. The sample entry fourcc stays available as `sampleEntry`.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseInit } from '../../src/mp4/init.js';
import { run, runOk, tempDir } from '../helpers/media.js';

const tmp = tempDir('segrec-codec-names-');
after(() => tmp.cleanup());

let encoders: Promise<string> | undefined;
function hasEncoder(name: string): Promise<boolean> {
  encoders ??= run('ffmpeg', ['-hide_banner', '-encoders']).then((r) => r.stdout).catch(() => '');
  return encoders.then((list) => new RegExp(`^ \\S+ ${name} `, 'm').test(list));
}

interface Case {
  name: string;
  file: string;
  /** ffmpeg output arguments (codecs, tags, muxer flags); inputs are a small testsrc2 and a sine. */
  args: string[];
  audio: boolean;
  encoders: string[];
  /** Our sample entry fourccs, in track order (what the file must hold for the case to mean something). */
  entries: string[];
}

const FRAG = ['-movflags', 'frag_keyframe+empty_moov+default_base_moof'];
const CASES: Case[] = [
  { name: 'H.264 (avc1) + AAC, fragmented like ingest', file: 'h264-aac.mp4', args: ['-c:v', 'libx264', '-c:a', 'aac', ...FRAG], audio: true, encoders: ['libx264', 'aac'], entries: ['avc1', 'mp4a'] },
  { name: 'H.264 (avc3) + AC-3', file: 'avc3-ac3.mp4', args: ['-c:v', 'libx264', '-tag:v', 'avc3', '-c:a', 'ac3'], audio: true, encoders: ['libx264', 'ac3'], entries: ['avc3', 'ac-3'] },
  { name: 'HEVC (hvc1) + Opus', file: 'hvc1-opus.mp4', args: ['-c:v', 'libx265', '-x265-params', 'log-level=error', '-tag:v', 'hvc1', '-c:a', 'libopus', ...FRAG], audio: true, encoders: ['libx265', 'libopus'], entries: ['hvc1', 'Opus'] },
  { name: 'HEVC (hev1)', file: 'hev1.mp4', args: ['-c:v', 'libx265', '-x265-params', 'log-level=error', '-tag:v', 'hev1'], audio: false, encoders: ['libx265'], entries: ['hev1'] },
  { name: 'MJPEG (mp4v, OTI 0x6C) + MP3 (mp4a, OTI 0x6B)', file: 'mjpeg-mp3.mp4', args: ['-c:v', 'mjpeg', '-c:a', 'libmp3lame', ...FRAG], audio: true, encoders: ['mjpeg', 'libmp3lame'], entries: ['mp4v', 'mp4a'] },
  { name: 'MPEG-4 part 2 (mp4v, OTI 0x20) + MP2 (mp4a)', file: 'mpeg4-mp2.mp4', args: ['-c:v', 'mpeg4', '-c:a', 'mp2'], audio: true, encoders: ['mpeg4', 'mp2'], entries: ['mp4v', 'mp4a'] },
  { name: 'MJPEG (jpeg) + G.711 A-law (alaw), QuickTime', file: 'jpeg-alaw.mov', args: ['-c:v', 'mjpeg', '-c:a', 'pcm_alaw'], audio: true, encoders: ['mjpeg', 'pcm_alaw'], entries: ['jpeg', 'alaw'] },
  { name: 'MJPEG (mjpa) + G.711 µ-law (ulaw), QuickTime', file: 'mjpa-ulaw.mov', args: ['-c:v', 'mjpeg', '-tag:v', 'mjpa', '-c:a', 'pcm_mulaw'], audio: true, encoders: ['mjpeg', 'pcm_mulaw'], entries: ['mjpa', 'ulaw'] },
  { name: 'VP9 (vp09) + E-AC-3 (ec-3)', file: 'vp9-eac3.mp4', args: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-c:a', 'eac3'], audio: true, encoders: ['libvpx-vp9', 'eac3'], entries: ['vp09', 'ec-3'] },
  { name: 'PNG (mp4v, OTI 0x6D) + FLAC (fLaC)', file: 'png-flac.mp4', args: ['-c:v', 'png', '-c:a', 'flac', '-strict', '-2'], audio: true, encoders: ['png', 'flac'], entries: ['mp4v', 'fLaC'] },
];

async function ffprobeCodecNames(path: string): Promise<string[]> {
  const out = await runOk('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'json', path]);
  return (JSON.parse(out) as { streams: Array<{ codec_name: string }> }).streams.map((s) => s.codec_name);
}

describe('parseInit names codecs as ffprobe does', () => {
  for (const c of CASES) {
    it(c.name, async (t) => {
      for (const e of c.encoders) {
        if (!(await hasEncoder(e))) { t.skip(`ffmpeg has no ${e} encoder`); return; }
      }
      const path = join(tmp.dir, c.file);
      await runOk('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=10',
        ...(c.audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'] : []), '-t', '0.5',
        '-pix_fmt', c.args.includes('png') ? 'rgb24' : c.args.includes('mjpeg') ? 'yuvj420p' : 'yuv420p',
        // parseInit reads the moov before any media: plain files are written with it first.
        ...c.args, ...(c.args.includes('-movflags') ? [] : ['-movflags', '+faststart']), path]);
      const init = parseInit(readFileSync(path));
      assert.deepEqual(init.tracks.map((x) => x.codec), await ffprobeCodecNames(path));
      assert.deepEqual(init.tracks.map((x) => x.sampleEntry), c.entries, 'the sample entries this case is about');
    });
  }
});
