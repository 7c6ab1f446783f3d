// Clips complete at both ends, through a real producer: segment files cut from recordings made like
// the producer's (stream-copied into fragmented MP4; by keyframe, and by time with a 4 s GOP so that
// segments begin mid-GOP; x265 with open GOPs) are adopted from the data directory at start, and clips
// of them are judged by ffmpeg against the recordings' own decoded frames: frame-exact when decoding
// must start in an earlier segment, audio covering the window when the window ends just before a
// keyframe or a segment boundary, the first frame kept when an open-GOP window starts on a segment's
// start, and `partial` the same in GET /clip and the JSON sidecar — true exactly when a frame is missing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeErrors, makeVideo, probeStreams, tempDir, videoFrameMd5s } from '../helpers/media.js';
import { listSegments, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { makeClip, type ClipWire } from '../helpers/clips.js';
import { AAC_FRAME_S, framesIn, recording, type Recording, writeSegmentFiles } from '../helpers/recordings.js';
import { hasX265 } from '../mp4/fixtures.js';

const tmp = tempDir('segrec-clip-complete-');
const data = join(tmp.dir, 'data');
const segDir = join(data, 'segments', '2000-01-01');
/** Where each recording sits on the producer clock (far apart: no clip looks from one into another). */
const AT = { kf: 100e9, dur: 300e9, hevc: 500e9, hevcAlone: 700e9 };

let p: Awaited<ReturnType<typeof startTestProducer>>;
let kf: Recording;
let dur: Recording;
let hevc: Recording | null = null;
let segs: SegmentWire[];

before(async () => {
  kf = await recording(join(tmp.dir, 'kf.mp4'), { seconds: 6, fps: 30, gop: 15, bframes: 2, codec: 'h264', audio: true });
  // Segments of two 0.5 s keyframe fragments.
  writeSegmentFiles(kf.buf, segDir, [2, 4, 6, 8, 10], AT.kf);
  dur = await recording(join(tmp.dir, 'dur.mp4'),
    { seconds: 8, fps: 30, gop: 120, bframes: 2, codec: 'h264', audio: true, fragDurationUs: 1_000_000 });
  // Fragments of about 1 s, a keyframe every 4 s: segments 1 and 2 begin mid-GOP (fragments 2 and 5).
  assert.deepEqual(dur.fragments.map((f) => f.keyframe), [true, false, false, false, true, false, false, false]);
  writeSegmentFiles(dur.buf, segDir, [2, 5], AT.dur);
  if (await hasX265()) {
    hevc = await recording(join(tmp.dir, 'hevc.mp4'), { seconds: 4, fps: 30, gop: 30, bframes: 3, codec: 'h265', audio: true });
    writeSegmentFiles(hevc.buf, segDir, [1, 2, 3], AT.hevc);
    // The same footage without its first two GOPs: nothing before the third segment's keyframe.
    const alone = writeSegmentFiles(hevc.buf, join(tmp.dir, 'alone'), [2], AT.hevcAlone);
    copyFileSync(alone[1].path, join(segDir, `${alone[1].startNs}.mp4`));
  }
  p = await startTestProducer(data, { segmentSeconds: 2 });
  assert.ok(p.logs.some((l) => l.includes('adopted segment file')), 'the seeded segment files were adopted');
  segs = (await listSegments(p.url)).segments;
});
after(async () => {
  await p?.close();
  tmp.cleanup();
});

/** The seeded segments (not the producer's own footage, which follows them) starting in [at, next). */
const segmentsOf = (at: number, next: number) =>
  segs.filter((s) => s.path.startsWith('2000-01-01/') && s.start_pts_ns >= at && s.start_pts_ns < next);

async function clip(startNs: number, stopNs: number, label: string): Promise<ClipWire> {
  const c = await makeClip(p.url, { start_pts_ns: Math.round(startNs), stop_pts_ns: Math.round(stopNs), label });
  assert.equal(c.status, 'done', `${label}: ${c.error}`);
  return c;
}

/** Frame-exact against the recording, decodes cleanly; returns the clip's audio duration (s). */
async function checkExact(c: ClipWire, rec: Recording, at: number, startNs: number, stopNs: number): Promise<number> {
  const want = framesIn(rec, at, Math.round(startNs), Math.round(stopNs));
  assert.ok(want.length > 0);
  const [md5s, errors, streams] = await Promise.all([videoFrameMd5s(c.path!), decodeErrors(c.path!), probeStreams(c.path!)]);
  assert.deepEqual(md5s, want.map((f) => f.md5), `${c.label}: decoded frames = the recording's frames in the window`);
  assert.equal(errors, '', `${c.label}: decodes cleanly`);
  assert.equal(c.frames, want.length);
  assert.equal(c.actual_start_pts_ns, want[0].ns);
  assert.ok(Math.abs(c.duration_ms! - (want.length * rec.frameNs) / 1e6) < 0.001, `${c.label}: plays ${c.duration_ms} ms for ${want.length} frames`);
  assert.equal(c.partial, false, `${c.label}: ${c.partial_reason}`);
  const a = streams.find((s) => s.codecType === 'audio');
  assert.ok(a, `${c.label}: the clip keeps the audio`);
  return a.duration;
}

function sidecarOf(c: ClipWire): Record<string, unknown> {
  return JSON.parse(readFileSync(c.path!.replace(/\.mp4$/, '.json'), 'utf8')) as Record<string, unknown>;
}

describe('audio covers the window when it ends just before a keyframe', () => {
  test('keyframe fragments: the keyframe inside a segment, and on a segment boundary', async () => {
    const inside = kf.fragments[3].startNs + AT.kf; // a keyframe fragment in the middle of segment 1
    const boundary = kf.fragments[4].startNs + AT.kf; // the start of segment 2
    assert.ok(segmentsOf(AT.kf, AT.dur).some((s) => s.start_pts_ns === boundary));
    for (const [k, what] of [[inside, 'inside'], [boundary, 'boundary']] as const) {
      const startNs = framesIn(kf, AT.kf, k - 0.6e9, Infinity)[0].ns;
      for (const stopNs of [k, k - kf.frameNs / 2]) {
        const c = await clip(startNs, stopNs, `kf-${what}`);
        const audioS = await checkExact(c, kf, AT.kf, startNs, stopNs);
        const windowS = (k - startNs) / 1e9; // frame-aligned: the window's frames end at the keyframe
        assert.ok(audioS >= windowS - AAC_FRAME_S - 1e-6, `kf-${what}: audio ${audioS}s for a ${windowS}s window`);
      }
    }
  });

  test('fragments cut by time: a keyframe, and a segment boundary mid-GOP', async () => {
    const key = dur.fragments[4].startNs + AT.dur; // keyframe fragment inside segment 1
    const boundary = dur.fragments[5].startNs + AT.dur; // segment 2 starts here, mid-GOP
    for (const [k, what] of [[key, 'key'], [boundary, 'boundary']] as const) {
      const startNs = framesIn(dur, AT.dur, k - 0.7e9, Infinity)[0].ns;
      const c = await clip(startNs, k, `dur-${what}`);
      const audioS = await checkExact(c, dur, AT.dur, startNs, k);
      const windowS = (k - startNs) / 1e9;
      assert.ok(audioS >= windowS - AAC_FRAME_S - 1e-6, `dur-${what}: audio ${audioS}s for a ${windowS}s window`);
    }
  });
});

describe('long GOP: a segment that begins mid-GOP', () => {
  test('a window starting in it is frame-exact, decoded from the keyframe in the previous segment', async () => {
    const mine = segmentsOf(AT.dur, AT.hevc);
    assert.equal(mine.length, 3);
    for (const [s, keyAt] of [[mine[1], AT.dur + dur.fragments[0].startNs], [mine[2], AT.dur + dur.fragments[4].startNs]] as const) {
      const startNs = s.start_pts_ns + 0.43e9;
      const stopNs = startNs + 0.8e9;
      const c = await clip(startNs, stopNs, 'mid-gop');
      await checkExact(c, dur, AT.dur, startNs, stopNs);
      assert.ok(Math.abs(c.lead_in_ms! - (c.actual_start_pts_ns! - keyAt) / 1e6) < 0.01, `decoding starts at the keyframe at ${keyAt}`);
      assert.equal(c.segments.length, 2, 'reads the previous segment for its keyframe');
    }
  });

  test('a window across the mid-GOP boundary has no gap', async () => {
    const b = segmentsOf(AT.dur, AT.hevc)[1].start_pts_ns;
    const c = await clip(b - 0.5e9, b + 0.5e9, 'across-mid-gop');
    await checkExact(c, dur, AT.dur, b - 0.5e9, b + 0.5e9);
    assert.deepEqual(c.gaps, []);
  });
});

describe('H.265 with open GOPs', () => {
  test('a window starting exactly at a segment\'s start keeps its first frame', async (t) => {
    if (!hevc) { t.skip('libx265 not available'); return; }
    const mine = segmentsOf(AT.hevc, AT.hevcAlone);
    assert.equal(mine.length, 4);
    for (const s of mine.slice(1)) {
      const c = await clip(s.start_pts_ns, s.start_pts_ns + 0.5e9, 'hevc-segment-start');
      await checkExact(c, hevc, AT.hevc, s.start_pts_ns, s.start_pts_ns + 0.5e9);
      assert.equal(c.actual_start_pts_ns, s.start_pts_ns, 'the frame at the segment\'s first pts is in the clip');
    }
  });
});

describe('partial: the API answer and the sidecar agree', () => {
  test('a complete clip', async () => {
    const startNs = framesIn(kf, AT.kf, AT.kf + 1.2e9, Infinity)[0].ns;
    const c = await clip(startNs, startNs + 1e9, 'complete');
    await checkExact(c, kf, AT.kf, startNs, startNs + 1e9);
    const side = sidecarOf(c);
    assert.equal(side.partial, false);
    assert.equal(side.partial_reason, null);
    assert.equal(c.partial_reason, null);
  });

  test('footage missing at the start', async () => {
    const first = framesIn(kf, AT.kf, 0, Infinity)[0].ns;
    const c = await clip(first - 1e9, first + 0.5e9, 'partial-start');
    assert.equal(c.partial, true);
    assert.equal(c.partial_reason, 'footage missing at the start of the window');
    const side = sidecarOf(c);
    assert.equal(side.partial, true);
    assert.equal(side.partial_reason, c.partial_reason);
  });

  test('one frame missing: an open GOP whose previous GOP was never recorded', async (t) => {
    if (!hevc) { t.skip('libx265 not available'); return; }
    const alone = segmentsOf(AT.hevcAlone, Infinity);
    assert.equal(alone.length, 1);
    const s = alone[0];
    const want = framesIn(hevc, AT.hevcAlone, s.start_pts_ns, s.start_pts_ns + 0.5e9);
    const keyNs = want.find((f) => f.keyframe)!.ns;
    const leading = want.filter((f) => f.ns < keyNs).length;
    assert.ok(leading >= 1);
    const c = await clip(s.start_pts_ns, s.start_pts_ns + 0.5e9, 'partial-leading');
    assert.equal(c.frames, want.length - leading);
    assert.deepEqual(await videoFrameMd5s(c.path!), want.slice(leading).map((f) => f.md5));
    assert.equal(c.partial, true, 'a missing frame is never hidden by a tolerance');
    assert.match(c.partial_reason ?? '', new RegExp(`^${leading} frames? of the window could not be included`));
    const side = sidecarOf(c);
    assert.equal(side.partial, true);
    assert.equal(side.partial_reason, c.partial_reason);
  });
});

test('a window ending at the newest footage waits for the next fragment, which holds its last audio', async () => {
  const dir = join(tmp.dir, 'live');
  const src = join(tmp.dir, 'live-src.mp4');
  await makeVideo(src, { seconds: 4, fps: 30, gop: 15, bframes: 2, audio: true, container: 'plain' });
  const live = await startTestProducer(join(dir, 'data'), { source: src, segmentSeconds: 1 });
  try {
    const open = await waitFor('footage with audio', async () => {
      const s = (await listSegments(live.url)).segments;
      return s.length >= 2 && s.some((x) => x.has_audio) ? s[s.length - 1] : null;
    }, 30_000);
    // The window ends where the newest fragment does: on the keyframe that starts the next one.
    const stopNs = open.stop_pts_ns;
    const c = await makeClip(live.url, { start_pts_ns: stopNs - 1e9, stop_pts_ns: stopNs, label: 'live-edge' });
    assert.equal(c.status, 'done', String(c.error));
    assert.equal(c.partial, false, String(c.partial_reason));
    assert.equal(await decodeErrors(c.path!), '');
    const a = (await probeStreams(c.path!)).find((s) => s.codecType === 'audio');
    assert.ok(a, 'the clip keeps the audio');
    const videoS = c.duration_ms! / 1000;
    assert.ok(a.duration >= videoS - AAC_FRAME_S - 1e-6, `audio ${a.duration}s covers the clip's ${videoS}s within one AAC frame`);
  } finally {
    await live.close();
  }
});
