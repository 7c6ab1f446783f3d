// Pure: the video parameter sets (H.264 SPS/PPS, H.265 VPS/SPS/PPS) a track's sample entry declares
// (avcC/hvcC), the ones a sample carries in-band, and whether a keyframe brings parameters the init
// segment does not know — i.e. the camera changed resolution or codec settings mid-stream, and what
// follows can no longer be described by this init (a new segment, with a new init, must begin).
import { childBoxes, payload, u16, u8 } from './box.js';
import type { TrackInfo } from './init.js';

export interface ParameterSets {
  codec: 'h264' | 'h265';
  /** Bytes of each NAL length prefix in samples (1, 2 or 4). */
  nalLengthSize: number;
  /** The SPS (and for H.265 the VPS) NAL units, raw bytes: these determine size and profile. */
  sequence: Buffer[];
}

/** The parameter sets declared in the sample entry, or null for codecs this does not cover. */
export function declaredParameterSets(track: TrackInfo): ParameterSets | null {
  const stsd = track.stsd;
  const entry = childBoxes(stsd, 16, stsd.length)[0];
  if (!entry) return null;
  // VisualSampleEntry: 8-byte header + 78 bytes of fields, then child boxes.
  const kids = childBoxes(stsd, entry.start + 8 + 78, entry.end);
  const avcC = kids.find((b) => b.type === 'avcC');
  if (avcC) {
    const c = payload(avcC);
    const nalLengthSize = (u8(stsd, c + 4) & 3) + 1;
    const nSps = u8(stsd, c + 5) & 31;
    const sequence: Buffer[] = [];
    let p = c + 6;
    for (let i = 0; i < nSps && p + 2 <= avcC.end; i++) {
      const len = u16(stsd, p);
      sequence.push(Buffer.from(stsd.subarray(p + 2, p + 2 + len)));
      p += 2 + len;
    }
    return { codec: 'h264', nalLengthSize, sequence };
  }
  const hvcC = kids.find((b) => b.type === 'hvcC');
  if (hvcC) {
    const c = payload(hvcC);
    const nalLengthSize = (u8(stsd, c + 21) & 3) + 1;
    const nArrays = u8(stsd, c + 22);
    const sequence: Buffer[] = [];
    let p = c + 23;
    for (let a = 0; a < nArrays && p + 3 <= hvcC.end; a++) {
      const type = u8(stsd, p) & 0x3f;
      const n = u16(stsd, p + 1);
      p += 3;
      for (let i = 0; i < n && p + 2 <= hvcC.end; i++) {
        const len = u16(stsd, p);
        if (type === 32 || type === 33) sequence.push(Buffer.from(stsd.subarray(p + 2, p + 2 + len)));
        p += 2 + len;
      }
    }
    return { codec: 'h265', nalLengthSize, sequence };
  }
  return null;
}

/** The SPS/VPS NAL units carried in-band in one sample (length-prefixed NAL units). */
export function inBandSequenceSets(sample: Uint8Array, ps: Pick<ParameterSets, 'codec' | 'nalLengthSize'>): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p + ps.nalLengthSize <= sample.length) {
    let len = 0;
    for (let i = 0; i < ps.nalLengthSize; i++) len = len * 256 + sample[p + i];
    p += ps.nalLengthSize;
    if (len === 0 || p + len > sample.length) break;
    const type = ps.codec === 'h264' ? sample[p] & 0x1f : (sample[p] >> 1) & 0x3f;
    const isSequence = ps.codec === 'h264' ? type === 7 : type === 32 || type === 33;
    if (isSequence) out.push(Buffer.from(sample.subarray(p, p + len)));
    p += len;
  }
  return out;
}

/**
 * True when `sample` (a keyframe) carries an SPS/VPS that differs from every one the init declares.
 * Identical in-band repeats (cameras resend them before each keyframe) are not a change.
 */
export function sequenceChanged(sample: Uint8Array, declared: ParameterSets): boolean {
  const inBand = inBandSequenceSets(sample, declared);
  return inBand.some((nal) => !declared.sequence.some((d) => d.equals(nal)));
}
