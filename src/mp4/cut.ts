// Clip window selection (pure): from the parsed fragments of time-ordered segment files and a window
// of producer PTS, chooses the video samples (from the keyframe before the first wanted frame through
// the last wanted frame in decode order), the audio samples that overlap the result, each track's
// decode timeline and the edit lists that start presentation exactly at the first wanted frame and
// end it after the last. Joins segments with identical sample descriptions (removing gaps between
// them from the timeline) and ends the clip before a description change. No I/O: layoutMp4 and
// writeLayout turn the plan into a file.
//
// Time: a sample's producer PTS in ns = source.offsetNs + ticksToNs(decodeTime + ctsOffset, timescale).
import type { FragmentSample, ParsedMoof } from './fragment.js';
import type { InitSegment, TrackInfo } from './init.js';
import { nsToTicks, ticksToNs } from './time.js';
import type { WriterSample, WriterTrack } from './writer.js';

export interface CutSource {
  /** The caller's id for this file (WriterSample.source / the index of its path). */
  source: number;
  /** Producer PTS (ns) of tick 0 of this file's tracks. */
  offsetNs: number;
  init: InitSegment;
  /** This file's fragments in file order. */
  fragments: ParsedMoof[];
}

export interface CutPlan {
  /** Video first, then audio when the window has audio. */
  tracks: WriterTrack[];
  /** Producer PTS of the first presented frame. */
  actualStartNs: number;
  /** Producer PTS at which the last presented frame ends (gaps inside the clip are not subtracted). */
  actualStopNs: number;
  /** How long the clip plays: actualStopNs − actualStartNs minus the gaps removed from its timeline. */
  durationNs: number;
  /** PTS distance from the keyframe decoding starts at to the first presented frame. */
  leadInNs: number;
  /** Number of presented video frames. */
  frames: number;
  /** Ids (CutSource.source) of the files whose bytes the clip copies, ascending. */
  sourcesUsed: number[];
  /** Recording gaps inside the clip (removed from its timeline), in producer PTS. */
  gaps: Array<{ startNs: number; stopNs: number }>;
  /** True when the clip ends before the requested stop because the sample description changed. */
  partial: boolean;
  partialReason: string | null;
}

export class CutError extends Error {
  override name = 'CutError';
}

/**
 * One sample of a source, with its producer times. `duration` is the effective decode duration: the
 * distance to the next sample of the same source, else the stated one.
 */
interface Sample extends FragmentSample {
  /** Index into the sources array. */
  si: number;
  /** decodeTime + ctsOffset, in track ticks. */
  ptsTicks: number;
  ptsNs: number;
}

interface SourceTracks { video: TrackInfo | undefined; audio: TrackInfo | undefined }

export function planCut(sources: CutSource[], req: { startNs: number; stopNs: number }): CutPlan {
  const { startNs, stopNs } = req;
  if (!Number.isFinite(startNs) || !Number.isFinite(stopNs)) throw new CutError('window bounds must be finite numbers');
  if (stopNs <= startNs) throw new CutError(`empty window: stop ${stopNs} ≤ start ${startNs}`);
  if (sources.length === 0) throw new CutError('no sources to cut from');

  const tracksOf: SourceTracks[] = sources.map((s) => ({
    video: s.init.tracks.find((t) => t.kind === 'video'),
    audio: s.init.tracks.find((t) => t.kind === 'audio'),
  }));
  const sampleCache = new Map<string, Sample[]>();
  const samplesOf = (si: number, kind: 'video' | 'audio'): Sample[] => {
    const key = `${si}:${kind}`;
    let list = sampleCache.get(key);
    if (!list) {
      const t = tracksOf[si][kind];
      list = t ? collectSamples(sources[si], si, t) : [];
      sampleCache.set(key, list);
    }
    return list;
  };
  const inWindow = (s: Sample): boolean => s.ptsNs >= startNs && s.ptsNs < stopNs;

  // 1. The source holding the first wanted frame, and the run of compatible sources from it.
  const s0 = sources.findIndex((_, si) => samplesOf(si, 'video').some(inWindow));
  if (s0 < 0) throw new CutError('no video frame in the requested window');
  const compatible = (a: number, b: number): boolean =>
    tracksOf[a].video?.descriptionKey === tracksOf[b].video?.descriptionKey
    && tracksOf[a].audio?.descriptionKey === tracksOf[b].audio?.descriptionKey;
  const group: number[] = [s0];
  let partialReason: string | null = null;
  for (let si = s0 + 1; si < sources.length; si++) {
    const vs = samplesOf(si, 'video');
    if (vs.length === 0) continue;
    if (!vs.some((s) => s.ptsNs < stopNs)) break;
    if (!compatible(s0, si)) {
      if (vs.some(inWindow)) partialReason = describeChange(tracksOf[s0], tracksOf[si], sources[si].source);
      break;
    }
    group.push(si);
  }

  // 2. Decode-order video samples of the group; extend backwards while no keyframe precedes F.
  let video = group.flatMap((si) => samplesOf(si, 'video'));
  /** Index of the earliest-presented wanted frame decoded at or after `from` and presented no earlier than minPts. */
  const firstWanted = (list: Sample[], from: number, minPts = -Infinity): number => {
    let f = -1;
    for (let i = from; i < list.length; i++) {
      const s = list[i];
      if (inWindow(s) && s.ptsNs >= minPts && (f < 0 || s.ptsNs < list[f].ptsNs)) f = i;
    }
    return f;
  };
  let f = firstWanted(video, 0);
  let k = lastSyncAtOrBefore(video, f);
  for (let si = group[0] - 1; k < 0 && si >= 0; si--) {
    const vs = samplesOf(si, 'video');
    if (vs.length === 0) continue;
    if (!compatible(s0, si)) break;
    group.unshift(si);
    video = [...vs, ...video];
    f += vs.length;
    k = lastSyncAtOrBefore(video, f);
  }
  if (k < 0) {
    // No keyframe before the first wanted frame: start at the first keyframe (footage missing at the
    // start), skipping frames presented before it (an open GOP's leading pictures cannot be decoded).
    const firstSync = video.findIndex((s) => s.isSync);
    f = firstSync < 0 ? -1 : firstWanted(video, firstSync, video[firstSync].ptsNs);
    if (f < 0) throw new CutError('no decodable video frame in the requested window (no keyframe before it)');
    k = lastSyncAtOrBefore(video, f);
  }
  let last = -1;
  for (let i = video.length - 1; i >= k; i--) if (inWindow(video[i])) { last = i; break; }
  const included = video.slice(k, last + 1);

  // 3. Output decode timeline: cumulative durations (gaps between sources vanish).
  const vInfo = tracksOf[included[0].si].video as TrackInfo;
  const vts = vInfo.timescale;
  const outDts: number[] = [];
  let t = 0;
  for (const s of included) { outDts.push(t); t += s.duration; }
  // Negative composition offsets (trun v1) could put a frame before time 0: shift them all up instead.
  let ctsBias = 0;
  included.forEach((s, i) => { ctsBias = Math.max(ctsBias, -(outDts[i] + s.ctsOffset)); });
  const comp = (i: number): number => outDts[i] + included[i].ctsOffset + ctsBias;
  let fi = -1;
  let pi = -1;
  let frames = 0;
  const minPts = video[f].ptsNs;
  included.forEach((s, i) => {
    if (!inWindow(s) || s.ptsNs < minPts) return;
    frames++;
    if (fi < 0 || s.ptsNs < included[fi].ptsNs) fi = i;
    if (pi < 0 || s.ptsNs > included[pi].ptsNs) pi = i;
  });
  const F = included[fi];
  const P = included[pi];
  const K = included[0];
  const presDurP = presentationDuration(samplesOf(P.si, 'video'), P);
  const mediaTime = comp(fi);
  const editDuration = comp(pi) + presDurP - mediaTime;
  const actualStartNs = F.ptsNs;
  const actualStopNs = sources[P.si].offsetNs + ticksToNs(P.ptsTicks + presDurP, vts);

  // 4. Joins between sources inside the clip: gaps, and the producer→clip time shift of each source.
  const used = [...new Set(included.map((s) => s.si))];
  const shift = new Map<number, number>(); // producer ns − clip presentation ns, per source
  included.forEach((s, i) => {
    if (!shift.has(s.si)) {
      shift.set(s.si, sources[s.si].offsetNs + ticksToNs(s.ptsTicks, vts) - ticksToNs(comp(i) - mediaTime, vts));
    }
  });
  const gaps: CutPlan['gaps'] = [];
  const discontinuity = new Set<number>(); // sources whose join to the previous one is not seamless
  const bounds = new Map<number, { start: number; end: number }>();
  for (const si of used) {
    const vs = samplesOf(si, 'video');
    let first = vs[0];
    let lastP = vs[0];
    for (const s of vs) {
      if (s.ptsNs < first.ptsNs) first = s;
      if (s.ptsNs > lastP.ptsNs) lastP = s;
    }
    bounds.set(si, { start: first.ptsNs, end: sources[si].offsetNs + ticksToNs(lastP.ptsTicks + lastP.duration, vts) });
  }
  for (let u = 1; u < used.length; u++) {
    const a = used[u - 1];
    const b = used[u];
    const prevEnd = (bounds.get(a) as { end: number }).end;
    const nextStart = (bounds.get(b) as { start: number }).start;
    const lastOfA = samplesOf(a, 'video');
    const halfFrame = ticksToNs(lastOfA[lastOfA.length - 1].duration, vts) / 2;
    if (nextStart - prevEnd > halfFrame) gaps.push({ startNs: prevEnd, stopNs: nextStart });
    if (Math.abs(nextStart - prevEnd) > halfFrame || sources[a].offsetNs !== sources[b].offsetNs) discontinuity.add(b);
  }

  // How long the clip plays (the video edit, in ns): the window minus the gaps taken out of it. Written
  // this way rather than as ticksToNs(editDuration) so that it is exactly actualStop − actualStart
  // when nothing was removed; the two differ by at most a rounding nanosecond per join.
  const durationNs = actualStopNs - actualStartNs - gaps.reduce((n, g) => n + g.stopNs - g.startNs, 0);

  const videoTrack: WriterTrack = {
    info: vInfo,
    samples: included.map((s) => ({ ...toWriter(s, sources), ctsOffset: s.ctsOffset + ctsBias })),
    edit: { mediaTime, duration: editDuration },
  };
  const tracks: WriterTrack[] = [videoTrack];

  // 5. Audio overlapping the clip, aligned to the video through each source's shift.
  const audio = planAudio({
    used, samplesOf, shift, discontinuity, bounds, sources, actualStartNs, actualStopNs, durationNs,
    info: tracksOf[used[0]].audio,
  });
  if (audio) tracks.push(audio);

  const sourcesUsed = [...new Set(tracks.flatMap((tr) => tr.samples.map((s) => s.source)))].sort((a, b) => a - b);
  return {
    tracks, actualStartNs, actualStopNs, durationNs, leadInNs: F.ptsNs - K.ptsNs, frames, sourcesUsed, gaps,
    partial: partialReason !== null, partialReason,
  };
}

function collectSamples(src: CutSource, si: number, track: TrackInfo): Sample[] {
  const out: Sample[] = [];
  for (const m of src.fragments) {
    for (const r of m.trackRuns) {
      if (r.trackId !== track.trackId) continue;
      for (const s of r.samples) {
        const ptsTicks = s.decodeTime + s.ctsOffset;
        out.push({
          si, decodeTime: s.decodeTime, duration: s.duration, size: s.size, ctsOffset: s.ctsOffset, isSync: s.isSync,
          fileOffset: s.fileOffset, ptsTicks, ptsNs: src.offsetNs + ticksToNs(ptsTicks, track.timescale),
        });
      }
    }
  }
  // Effective durations: the decode-time distance to the next sample (robust to sloppy trun durations).
  for (let i = 0; i + 1 < out.length; i++) {
    const d = out[i + 1].decodeTime - out[i].decodeTime;
    if (d > 0) out[i].duration = d;
  }
  for (const s of out) if (s.duration <= 0) s.duration = 1;
  return out;
}

/**
 * The sync sample decoding starts at: the last one at or before f in decode order that is also
 * presented no later than f. In a closed GOP that is simply the last sync sample before f; in an open
 * GOP (HEVC CRA with leading pictures) a frame decoded after a sync sample but presented before it
 * needs the previous GOP, and this goes back to the sync sample that precedes it in presentation too.
 */
function lastSyncAtOrBefore(list: Sample[], f: number): number {
  for (let i = f; i >= 0; i--) if (list[i].isSync && list[i].ptsNs <= list[f].ptsNs) return i;
  return -1;
}

/** Distance from p's pts to the next pts of its source in presentation order, else p's duration. */
function presentationDuration(sourceSamples: Sample[], p: Sample): number {
  let next = Infinity;
  for (const s of sourceSamples) if (s.ptsTicks > p.ptsTicks && s.ptsTicks < next) next = s.ptsTicks;
  return Number.isFinite(next) ? next - p.ptsTicks : p.duration;
}

function toWriter(s: Sample, sources: CutSource[]): WriterSample {
  return {
    size: s.size, duration: s.duration, ctsOffset: s.ctsOffset, isSync: s.isSync,
    source: sources[s.si].source, offset: s.fileOffset,
  };
}

function describeChange(a: SourceTracks, b: SourceTracks, source: number): string {
  const desc = (t: SourceTracks): string => {
    const v = t.video ? `${t.video.codecString} ${t.video.width}x${t.video.height}` : 'no video';
    const au = t.audio ? `${t.audio.codecString} ${t.audio.sampleRate} Hz ${t.audio.channelCount} ch` : 'no audio';
    return `${v}, ${au}`;
  };
  const what = a.video?.descriptionKey !== b.video?.descriptionKey ? 'video' : 'audio';
  return `${what} sample description changes at source ${source} (${desc(a)} → ${desc(b)}); the clip ends before it`;
}

interface AudioInput {
  used: number[];
  samplesOf: (si: number, kind: 'video' | 'audio') => Sample[];
  shift: Map<number, number>;
  discontinuity: Set<number>;
  bounds: Map<number, { start: number; end: number }>;
  sources: CutSource[];
  actualStartNs: number;
  actualStopNs: number;
  durationNs: number;
  info: TrackInfo | undefined;
}

function planAudio(a: AudioInput): WriterTrack | null {
  const info = a.info;
  if (!info) return null;
  const ats = info.timescale;
  // Samples overlapping the clip; at a discontinuous join, only those overlapping each side's video.
  const picked: Sample[] = [];
  a.used.forEach((si, u) => {
    let lo = a.actualStartNs;
    let hi = a.actualStopNs;
    const b = a.bounds.get(si) as { start: number; end: number };
    if (u > 0 && a.discontinuity.has(si)) lo = Math.max(lo, b.start);
    if (u + 1 < a.used.length && a.discontinuity.has(a.used[u + 1])) hi = Math.min(hi, b.end);
    for (const s of a.samplesOf(si, 'audio')) {
      const end = a.sources[si].offsetNs + ticksToNs(s.ptsTicks + s.duration, ats);
      if (s.ptsNs < hi && end > lo) picked.push(s);
    }
  });
  if (picked.length === 0) return null;

  const clipNs = (s: Sample): number => s.ptsNs - (a.shift.get(s.si) as number); // presentation time in the clip
  const firstNs = clipNs(picked[0]);
  // The first sample decodes at 0, so its composition time is its ctsOffset.
  const mediaTime = picked[0].ctsOffset + (firstNs <= 0 ? nsToTicks(-firstNs, ats) : 0);
  const emptyBefore = firstNs > 0 ? nsToTicks(firstNs, ats) : 0;

  // Output decode times: the sources' own spacing within a source (and across seamless joins of one
  // clock); at other joins, where the video shift says the next sample belongs.
  const out: Array<{ s: Sample; t: number; duration: number }> = [];
  for (const s of picked) {
    const prev = out[out.length - 1];
    if (!prev) { out.push({ s, t: 0, duration: s.duration }); continue; }
    const seamless = prev.s.si === s.si || (!a.discontinuity.has(s.si) && a.sources[prev.s.si].offsetNs === a.sources[s.si].offsetNs);
    const natural = s.decodeTime - prev.s.decodeTime;
    if (seamless && natural > 0) {
      prev.duration = natural;
      out.push({ s, t: prev.t + natural, duration: s.duration });
      continue;
    }
    const want = nsToTicks(clipNs(s), ats) + mediaTime - emptyBefore - s.ctsOffset;
    while (out.length > 1 && want <= out[out.length - 1].t) out.pop();
    const p = out[out.length - 1];
    if (want <= p.t) continue; // cannot place it after the only earlier sample: leave it out
    p.duration = want - p.t;
    out.push({ s, t: want, duration: s.duration });
  }
  const lastOut = out[out.length - 1];
  const mediaEnd = lastOut.t + lastOut.duration;
  const duration = Math.min(nsToTicks(a.durationNs, ats) - emptyBefore, mediaEnd - mediaTime);
  if (duration <= 0) return null;
  return {
    info,
    samples: out.map((o) => ({ ...toWriter(o.s, a.sources), duration: o.duration })),
    edit: emptyBefore > 0 ? { mediaTime, duration, emptyBefore } : { mediaTime, duration },
  };
}

