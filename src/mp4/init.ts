// Init segment parsing (ftyp + moov): per track its id, kind, timescale, sample entry fourcc, codec (named
// as ffprobe's codec_name names it) and RFC 6381 codec string, picture size or audio format, the verbatim
// 'stsd' box (copied into clips), a key that says whether two tracks' sample descriptions are
// interchangeable, and the 'trex' fragment defaults.
// Pure: Buffer in, data out (node:crypto hashing is computation, not I/O).
import { createHash } from 'node:crypto';
import {
  type BoxHeader, Mp4ParseError, childBoxes, payload, printable, readBoxHeader, requireChild, u8, u16, u32,
} from './box.js';

export interface SampleDefaults { sampleDescriptionIndex: number; sampleDuration: number; sampleSize: number; sampleFlags: number }

export interface TrackInfo {
  trackId: number;
  kind: 'video' | 'audio' | 'other';
  /** hdlr handler_type: 'vide', 'soun', ... */
  handler: string;
  timescale: number;
  /** Sample entry fourcc of the first sample description: 'avc1', 'avc3', 'hvc1', 'hev1', 'mp4a', 'mp4v', ... */
  sampleEntry: string;
  /**
   * The codec as ffprobe's `codec_name` names it: 'h264', 'hevc', 'mjpeg', 'mpeg4', 'aac', 'mp3', 'opus',
   * 'pcm_alaw', 'pcm_mulaw', 'ac3', ... (for 'mp4v'/'mp4a' from the esds objectTypeIndication); the sample
   * entry fourcc when the codec is not one this knows.
   */
  codec: string;
  /** RFC 6381 codec string for browsers, e.g. 'avc1.64001f', 'hvc1.1.6.L93.B0', 'mp4a.40.2'. */
  codecString: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channelCount?: number;
  /** The complete 'stsd' box, copied verbatim into clips. */
  stsd: Buffer;
  /** Hex SHA-1 over kind + timescale + stsd bytes: equal keys = samples may be joined in one track. */
  descriptionKey: string;
  /** From 'trex' (zeros and description index 1 when the moov has no mvex). */
  defaults: SampleDefaults;
}

export interface InitSegment {
  /** The init segment's bytes: everything from the start of the input through the end of 'moov'. */
  bytes: Buffer;
  tracks: TrackInfo[];
  movieTimescale: number;
}

/**
 * Parses an init segment: optional ftyp (and any other boxes) followed by moov. Bytes after the moov
 * (fragments, mfra) are ignored, so a whole fragmented file may be passed.
 */
export function parseInit(bytes: Buffer): InitSegment {
  let pos = 0;
  let moov: BoxHeader | null = null;
  while (pos < bytes.length) {
    const h = readBoxHeader(bytes, pos);
    if (h === null) break;
    if (h.end > bytes.length) throw new Mp4ParseError(`truncated '${printable(h.type)}' box at ${pos}: needs ${h.size} bytes, ${bytes.length - pos} present`);
    if (h.type === 'moov') { moov = h; break; }
    if (h.type === 'moof' || h.type === 'mdat') break;
    pos = h.end;
  }
  if (!moov) throw new Mp4ParseError('no moov box before the first fragment');
  const kids = childBoxes(bytes, payload(moov), moov.end);
  const mvhd = kids.find((b) => b.type === 'mvhd');
  if (!mvhd) throw new Mp4ParseError('missing mvhd in moov');
  const mv = payload(mvhd);
  const movieTimescale = u32(bytes, mv + (u8(bytes, mv) === 1 ? 20 : 12));

  const trex = new Map<number, SampleDefaults>();
  const mvex = kids.find((b) => b.type === 'mvex');
  if (mvex) {
    for (const b of childBoxes(bytes, payload(mvex), mvex.end)) {
      if (b.type !== 'trex') continue;
      const p = payload(b);
      trex.set(u32(bytes, p + 4), {
        sampleDescriptionIndex: u32(bytes, p + 8), sampleDuration: u32(bytes, p + 12),
        sampleSize: u32(bytes, p + 16), sampleFlags: u32(bytes, p + 20),
      });
    }
  }
  const tracks = kids.filter((b) => b.type === 'trak').map((t) => parseTrak(bytes, t, trex));
  const ids = new Set<number>();
  for (const t of tracks) {
    if (ids.has(t.trackId)) throw new Mp4ParseError(`duplicate track id ${t.trackId}`);
    ids.add(t.trackId);
  }
  return { bytes: Buffer.from(bytes.subarray(0, moov.end)), tracks, movieTimescale };
}

function parseTrak(buf: Buffer, trak: BoxHeader, trex: Map<number, SampleDefaults>): TrackInfo {
  const tkhd = requireChild(buf, payload(trak), trak.end, 'tkhd', 'trak');
  const tp = payload(tkhd);
  const trackId = u32(buf, tp + (u8(buf, tp) === 1 ? 20 : 12));
  const where = `track ${trackId}`;
  const mdia = requireChild(buf, payload(trak), trak.end, 'mdia', where);
  const mdhd = requireChild(buf, payload(mdia), mdia.end, 'mdhd', where);
  const mp = payload(mdhd);
  const timescale = u32(buf, mp + (u8(buf, mp) === 1 ? 20 : 12));
  if (timescale === 0) throw new Mp4ParseError(`${where}: timescale 0`);
  const hdlr = requireChild(buf, payload(mdia), mdia.end, 'hdlr', where);
  const handler = String.fromCharCode(...buf.subarray(payload(hdlr) + 8, payload(hdlr) + 12));
  const kind = handler === 'vide' ? 'video' : handler === 'soun' ? 'audio' : 'other';
  const minf = requireChild(buf, payload(mdia), mdia.end, 'minf', where);
  const stbl = requireChild(buf, payload(minf), minf.end, 'stbl', where);
  const stsdBox = requireChild(buf, payload(stbl), stbl.end, 'stsd', where);
  const stsd = Buffer.from(buf.subarray(stsdBox.start, stsdBox.end));
  const entries = childBoxes(stsd, 16, stsd.length);
  if (u32(stsd, 12) < 1 || entries.length < 1) throw new Mp4ParseError(`${where}: stsd has no sample entry`);
  const entry = entries[0];
  const sampleEntry = entry.type;
  const info: TrackInfo = {
    trackId, kind, handler, timescale, sampleEntry, codec: SAMPLE_ENTRY_CODECS.get(sampleEntry) ?? sampleEntry, codecString: sampleEntry, stsd,
    descriptionKey: createHash('sha1').update(`${kind}\0${timescale}\0`).update(stsd).digest('hex'),
    defaults: trex.get(trackId) ?? { sampleDescriptionIndex: 1, sampleDuration: 0, sampleSize: 0, sampleFlags: 0 },
  };
  if (kind === 'video') describeVideo(stsd, entry, info);
  else if (kind === 'audio') describeAudio(stsd, entry, info);
  return info;
}

/** VisualSampleEntry: 78 bytes of fields after the box header, then child boxes (avcC, hvcC, ...). */
function describeVideo(buf: Buffer, entry: BoxHeader, info: TrackInfo): void {
  const p = payload(entry);
  info.width = u16(buf, p + 24);
  info.height = u16(buf, p + 26);
  const kids = p + 78 <= entry.end ? safeChildren(buf, p + 78, entry.end) : [];
  const avcC = kids.find((b) => b.type === 'avcC');
  const hvcC = kids.find((b) => b.type === 'hvcC');
  const esds = kids.find((b) => b.type === 'esds');
  if (avcC && avcC.size >= 12) {
    const c = payload(avcC);
    info.codecString = `${info.sampleEntry}.${hex2(u8(buf, c + 1))}${hex2(u8(buf, c + 2))}${hex2(u8(buf, c + 3))}`;
  } else if (hvcC && hvcC.size >= 8 + 13) {
    info.codecString = `${info.sampleEntry}.${hevcCodecSuffix(buf, payload(hvcC))}`;
  } else if (info.sampleEntry === 'mp4v' && esds) {
    const oti = decoderConfig(buf, payload(esds) + 4, esds.end)?.oti;
    if (oti !== undefined) info.codec = OBJECT_TYPE_CODECS.get(oti) ?? info.codec;
  }
}

/** ISO/IEC 14496-15 Annex E: profile space+idc . reversed compatibility flags . tier+level . constraint bytes. */
function hevcCodecSuffix(buf: Buffer, c: number): string {
  const b1 = u8(buf, c + 1);
  const space = ['', 'A', 'B', 'C'][b1 >> 6];
  const tier = (b1 & 0x20) !== 0 ? 'H' : 'L';
  const profileIdc = b1 & 0x1f;
  const compat = u32(buf, c + 2);
  let reversed = 0;
  for (let i = 0; i < 32; i++) if (compat & (1 << i)) reversed |= 1 << (31 - i);
  const constraints: number[] = [];
  for (let i = 0; i < 6; i++) constraints.push(u8(buf, c + 6 + i));
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const level = u8(buf, c + 12);
  const parts = [`${space}${profileIdc}`, (reversed >>> 0).toString(16).toUpperCase(), `${tier}${level}`];
  for (const x of constraints) parts.push(x.toString(16).toUpperCase());
  return parts.join('.');
}

/** AudioSampleEntry (v0; QuickTime v1/v2 layouts are skipped over), then esds for mp4a. */
function describeAudio(buf: Buffer, entry: BoxHeader, info: TrackInfo): void {
  const p = payload(entry);
  const version = u16(buf, p + 8);
  info.channelCount = u16(buf, p + 16);
  const rate = u32(buf, p + 24) >>> 16;
  info.sampleRate = rate > 0 ? rate : info.timescale;
  const childStart = p + 28 + (version === 1 ? 16 : version === 2 ? 36 : 0);
  const kids = childStart <= entry.end ? safeChildren(buf, childStart, entry.end) : [];
  const esds = kids.find((b) => b.type === 'esds');
  if (info.sampleEntry === 'mp4a' && esds) {
    const d = mp4aDescription(buf, payload(esds) + 4, esds.end);
    if (d) {
      info.codec = OBJECT_TYPE_CODECS.get(d.oti) ?? info.codec;
      info.codecString = `mp4a.${d.suffix}`;
      // ISO-mode muxers (ffmpeg among them) write 2 channels / 16 bits in the sample entry whatever
      // the stream is; the AudioSpecificConfig has the truth.
      if (d.channelCount) info.channelCount = d.channelCount;
      if (d.sampleRate) info.sampleRate = d.sampleRate;
    }
  }
}

/**
 * Sample entry fourcc → ffprobe's codec_name, as ffmpeg's mov demuxer maps them (libavformat/isom.c
 * ff_codec_movvideo_tags / ff_codec_movaudio_tags). 'mp4v' and 'mp4a' are absent: their codec is in the
 * esds (OBJECT_TYPE_CODECS).
 */
const SAMPLE_ENTRY_CODECS = new Map<string, string>([
  ['avc1', 'h264'], ['avc2', 'h264'], ['avc3', 'h264'], ['avc4', 'h264'],
  ['hvc1', 'hevc'], ['hev1', 'hevc'], ['dvh1', 'hevc'], ['dvhe', 'hevc'],
  ['jpeg', 'mjpeg'], ['mjpa', 'mjpeg'], ['png ', 'png'], ['vp08', 'vp8'], ['vp09', 'vp9'], ['av01', 'av1'], ['s263', 'h263'], ['h263', 'h263'],
  ['Opus', 'opus'], ['fLaC', 'flac'], ['ac-3', 'ac3'], ['ec-3', 'eac3'], ['alaw', 'pcm_alaw'], ['ulaw', 'pcm_mulaw'], ['alac', 'alac'],
  ['samr', 'amr_nb'], ['sawb', 'amr_wb'], ['twos', 'pcm_s16be'], ['sowt', 'pcm_s16le'], ['.mp3', 'mp3'], ['dtsc', 'dts'],
]);

/** Every sample entry fourcc whose codec name the fourcc alone gives, with that name. */
export function sampleEntryCodecNames(): ReadonlyMap<string, string> {
  return SAMPLE_ENTRY_CODECS;
}

/** MPEG-4 Systems objectTypeIndication (esds) → ffprobe's codec_name (libavformat/isom.c ff_mp4_obj_type). */
const OBJECT_TYPE_CODECS = new Map<number, string>([
  [0x20, 'mpeg4'], [0x21, 'h264'], [0x23, 'hevc'], [0x40, 'aac'],
  [0x60, 'mpeg2video'], [0x61, 'mpeg2video'], [0x62, 'mpeg2video'], [0x63, 'mpeg2video'], [0x64, 'mpeg2video'], [0x65, 'mpeg2video'],
  [0x66, 'aac'], [0x67, 'aac'], [0x68, 'aac'], [0x69, 'mp3'], [0x6a, 'mpeg1video'], [0x6b, 'mp3'], [0x6c, 'mjpeg'], [0x6d, 'png'],
  [0x6e, 'jpeg2000'], [0xa3, 'vc1'], [0xa4, 'dirac'], [0xa5, 'ac3'], [0xa6, 'eac3'], [0xa9, 'dts'], [0xad, 'opus'], [0xb1, 'vp9'],
  [0xc1, 'flac'], [0xdd, 'vorbis'], [0xe1, 'qcelp'],
]);

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

interface Descriptor { tag: number; body: number; end: number }

/** Walks an esds payload's ES_Descriptor to its DecoderConfigDescriptor: the objectTypeIndication and where the descriptor lies. */
function decoderConfig(buf: Buffer, start: number, end: number): { oti: number; dc: Descriptor; readDesc: (pos: number) => Descriptor | null } | null {
  const readDesc = (pos: number): Descriptor | null => {
    if (pos + 2 > end) return null;
    const tag = buf[pos];
    let len = 0;
    let i = pos + 1;
    for (let n = 0; n < 4 && i < end; n++) {
      const b = buf[i++];
      len = (len << 7) | (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    return { tag, body: i, end: Math.min(end, i + len) };
  };
  const es = readDesc(start);
  if (!es || es.tag !== 3) return null;
  const flags = buf[es.body + 2];
  let pos = es.body + 3;
  if (flags & 0x80) pos += 2;
  if (flags & 0x40) pos += 1 + buf[pos];
  if (flags & 0x20) pos += 2;
  const dc = readDesc(pos);
  if (!dc || dc.tag !== 4 || dc.body + 13 > dc.end) return null;
  return { oti: buf[dc.body], dc, readDesc };
}

/**
 * The esds of an 'mp4a' entry: its objectTypeIndication, the codec string suffix 'oti[.aot]' and, for
 * AAC, the channel count and sample rate of the AudioSpecificConfig.
 */
function mp4aDescription(buf: Buffer, start: number, end: number): { oti: number; suffix: string; channelCount?: number; sampleRate?: number } | null {
  const config = decoderConfig(buf, start, end);
  if (!config) return null;
  const { oti, dc, readDesc } = config;
  const otiHex = hex2(oti);
  if (oti !== 0x40) return { oti, suffix: otiHex };
  const dsi = readDesc(dc.body + 13);
  if (!dsi || dsi.tag !== 5 || dsi.body >= dsi.end) return { oti, suffix: otiHex };
  // AudioSpecificConfig: audioObjectType(5, or 5+6 escape), samplingFrequencyIndex(4, or 4+24), channelConfiguration(4).
  let bitPos = dsi.body * 8;
  const bits = (n: number): number => {
    let v = 0;
    for (let k = 0; k < n; k++, bitPos++) {
      const byte = bitPos >> 3;
      const bit = byte < dsi.end ? (buf[byte] >> (7 - (bitPos & 7))) & 1 : 0;
      v = v * 2 + bit;
    }
    return v;
  };
  let aot = bits(5);
  if (aot === 31) aot = 32 + bits(6);
  const freqIndex = bits(4);
  const sampleRate = freqIndex === 15 ? bits(24) : AAC_RATES[freqIndex];
  const channelConfig = bits(4);
  const channelCount = channelConfig >= 1 && channelConfig <= 6 ? channelConfig : channelConfig === 7 ? 8 : undefined;
  return { oti, suffix: `${otiHex}.${aot}`, channelCount, sampleRate };
}

/** Child boxes of a sample entry; junk after the known fields (seen in the wild) yields none. */
function safeChildren(buf: Buffer, start: number, end: number): BoxHeader[] {
  try {
    return childBoxes(buf, start, end);
  } catch (e) {
    if (e instanceof Mp4ParseError) return [];
    throw e;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Finds a track by id, or throws Mp4ParseError. */
export function trackById(init: InitSegment, trackId: number): TrackInfo {
  const t = init.tracks.find((x) => x.trackId === trackId);
  if (!t) throw new Mp4ParseError(`track ${trackId} is not in the init segment`);
  return t;
}
