// Test helpers for clip jobs: make a clip over HTTP and wait for it; list the recorded source frames
// (pts on the producer clock and the MD5 of each decoded frame) with ffprobe/ffmpeg as the oracle.
import assert from 'node:assert/strict';
import { probeFrames, videoFrameMd5s } from './media.js';
import { getJson, postJson, segmentFile, type Plain, type SegmentWire } from './producer.js';
import type { ClipJson } from '../../src/protocol/schemas.js';

/** A clip as getJson reads it (PTS as numbers: see Plain). */
export type ClipWire = Plain<ClipJson>;

export interface SourceFrame { ptsNs: number; md5: string; keyframe: boolean; segment: number }

/** Every frame of the given segment files, on the producer clock, in presentation order. */
export async function sourceFrames(dataDir: string, segs: SegmentWire[]): Promise<SourceFrame[]> {
  const out: SourceFrame[] = [];
  for (const s of segs) {
    const file = segmentFile(dataDir, s);
    const frames = await probeFrames(file);
    const md5 = await videoFrameMd5s(file);
    assert.equal(md5.length, frames.length, `${s.path}: framemd5 and ffprobe agree on the frame count`);
    const base = frames[0].ptsTime;
    frames.forEach((f, i) => out.push({ ptsNs: s.start_pts_ns + (f.ptsTime - base) * 1e9, md5: md5[i], keyframe: f.keyframe, segment: s.id }));
  }
  return out;
}

export function framesIn(frames: SourceFrame[], startNs: number, stopNs: number): SourceFrame[] {
  return frames.filter((f) => f.ptsNs >= startNs && f.ptsNs < stopNs);
}

/** POSTs a clip and long-polls until it is terminal. */
export async function makeClip(url: string, body: Record<string, unknown>, timeoutMs = 30_000): Promise<ClipWire> {
  const r = await postJson<{ ok: boolean; clip_id: string; message?: string }>(`${url}/clip`, body);
  assert.equal(r.status, 202, `POST /clip answered ${r.status}: ${JSON.stringify(r.body)}`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const g = await getJson<{ clip: ClipWire }>(`${url}/clip/${r.body.clip_id}?wait_ms=5000`);
    assert.equal(g.status, 200);
    if (g.body.clip.status === 'done' || g.body.clip.status === 'error') return g.body.clip;
  }
  throw new Error(`clip ${r.body.clip_id} did not finish in ${timeoutMs} ms`);
}
