// Clip window selection (pure): from the parsed fragments of time-ordered segment files and a window
// of producer PTS, chooses the video samples (from the keyframe before the first wanted frame through
// the last wanted frame in decode order), the audio samples that overlap the result, each track's
// decode timeline and the edit lists that start presentation exactly at the first wanted frame and
// end it after the last. Joins segments with identical sample descriptions (removing gaps between
// them from the timeline) and ends the clip before a description change. Decides once whether the
// clip is partial: a frame of the window that the sources hold but the clip cannot include (no keyframe
// before it, a description change), or footage missing at either end (a whole frame interval or more).
// Audio: see cut-audio.ts. No I/O: layoutMp4 and writeLayout turn the plan into a file.
//
// Callers give the fragments that may matter, not only those overlapping the window: the keyframe
// decoding starts at may lie in an earlier fragment or file (long GOPs, fragments cut by time, a segment
// that begins mid-GOP, an open GOP's leading pictures), and the window's last audio may lie in the
// fragment after it. Sources the clip does not need cost nothing but their parse.
//
// Time: a sample's producer PTS in ns = source.offsetNs + ticksToNs(decodeTime + ctsOffset, timescale).
import type { ParsedMoof } from './fragment.js';
import type { InitSegment, TrackInfo } from './init.js';
import { ticksToNs } from './time.js';
import type { WriterTrack } from './writer.js';
import { planAudio, toWriter, type Sample } from './cut-audio.js';
import { medianDuration, placeRuns } from './cut-runs.js';

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
  /**
   * How long the clip plays: actualStopNs − actualStartNs minus the gaps removed from its timeline (at a
   * join between ffmpeg runs also the runs' edge holes: see placeRuns).
   */
  durationNs: number;
  /** PTS distance from the keyframe decoding starts at to the first presented frame. */
  leadInNs: number;
  /** Number of presented video frames. */
  frames: number;
  /** Ids (CutSource.source) of the files whose bytes the clip copies, ascending. */
  sourcesUsed: number[];
  /** Recording gaps inside the clip (removed from its timeline), in producer PTS. */
  gaps: Array<{ startNs: number; stopNs: number }>;
  /**
   * True when a frame of the window is missing from the clip: one the sources hold but the clip could
   * not include (no keyframe before it; after a sample description change), or footage missing at an
   * end (the first frame a whole frame interval or more after the start, the last ending that much
   * before the stop). Gaps inside the clip are reported in `gaps`, not here.
   */
  partial: boolean;
  /** Why the clip is partial (every reason, '; '-separated), or null. */
  partialReason: string | null;
}

export class CutError extends Error {
  override name = 'CutError';
}

interface SourceTracks { video: TrackInfo | undefined; audio: TrackInfo | undefined }

/** Rounding of ns times from ticks (each ±0.5 ns) must not make a whole missing frame look shorter. */
const ROUNDING_NS = 2;

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
  const boundsCache = new Map<number, { start: number; end: number }>();
  /** A source's video presentation bounds in producer ns. */
  const bounds = (si: number): { start: number; end: number } => {
    let b = boundsCache.get(si);
    if (!b) {
      const vs = samplesOf(si, 'video');
      let first = vs[0];
      let lastP = vs[0];
      for (const s of vs) {
        if (s.ptsNs < first.ptsNs) first = s;
        if (s.ptsNs > lastP.ptsNs) lastP = s;
      }
      const ts = (tracksOf[si].video as TrackInfo).timescale;
      b = { start: first.ptsNs, end: sources[si].offsetNs + ticksToNs(lastP.ptsTicks + lastP.duration, ts) };
      boundsCache.set(si, b);
    }
    return b;
  };
  const join = (a: number, b: number) => joinBetween(sources, tracksOf, samplesOf, bounds, a, b);
  const group: number[] = [s0];
  let changeReason: string | null = null;
  for (let si = s0 + 1; si < sources.length; si++) {
    const vs = samplesOf(si, 'video');
    if (vs.length === 0) continue;
    if (!vs.some((s) => s.ptsNs < stopNs)) break;
    if (!compatible(s0, si)) {
      if (vs.some(inWindow)) changeReason = describeChange(tracksOf[s0], tracksOf[si], sources[si].source);
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

  // 3. Output decode timeline: cumulative durations (gaps between sources vanish), the sources' own
  // composition offsets; at a join between runs (see placeRuns) the new run is placed so that its first
  // frame follows the old run's last one by one frame period.
  const vInfo = tracksOf[included[0].si].video as TrackInfo;
  const vts = vInfo.timescale;
  const { outDts, place, fix, runJoins } = placeRuns(included, (si) => sources[si].offsetNs);
  // Negative composition offsets (trun v1) could put a frame before time 0: shift them all up instead.
  let ctsBias = 0;
  included.forEach((s, i) => { ctsBias = Math.max(ctsBias, -(outDts[i] + s.ctsOffset + place[i] + fix[i])); });
  const cts = (i: number): number => included[i].ctsOffset + place[i] + fix[i] + ctsBias;
  const comp = (i: number): number => outDts[i] + cts(i);
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
  // The frame presented after P may be in the next file when a file ends mid-GOP (fragments cut by time).
  const next = P.si + 1;
  const continued = next < sources.length && samplesOf(next, 'video').length > 0 && compatible(P.si, next) && join(P.si, next).continues;
  const presDurP = presentationDuration([...samplesOf(P.si, 'video'), ...(continued ? samplesOf(next, 'video') : [])], P);
  const mediaTime = comp(fi);
  // A new run's first keyframe moved up to the next frame (placeRuns) lasts that much less.
  const editDuration = comp(pi) + Math.max(1, presDurP - fix[pi]) - mediaTime;
  const actualStartNs = F.ptsNs;
  const actualStopNs = sources[P.si].offsetNs + ticksToNs(P.ptsTicks + presDurP, vts);

  // 4. Joins between sources inside the clip: gaps, and the producer→clip time shift of each source.
  const used = [...new Set(included.map((s) => s.si))];
  const shift = new Map<number, number>(); // producer ns − clip presentation ns, per source
  included.forEach((s, i) => {
    if (!shift.has(s.si)) {
      shift.set(s.si, sources[s.si].offsetNs + ticksToNs(s.ptsTicks, vts) - ticksToNs(comp(i) - fix[i] - mediaTime, vts));
    }
  });
  const gaps: CutPlan['gaps'] = [];
  const discontinuity = new Set<number>(); // sources whose join to the previous one is not seamless
  for (let u = 1; u < used.length; u++) {
    const j = join(used[u - 1], used[u]);
    if (j.gap) gaps.push(j.gap);
    if (!j.seamless) discontinuity.add(used[u]);
  }

  // How long the clip plays (the video edit, in ns): the window minus the gaps taken out of it. Written
  // this way rather than as ticksToNs(editDuration) so that it is exactly actualStop − actualStart
  // when nothing was removed; the two differ by at most a rounding nanosecond per join.
  // At a join between runs the time taken out is not the listed gap (the runs' edge holes go with it,
  // the old run's last frame lasts one period): the edit itself says how long the clip plays.
  const durationNs = runJoins > 0
    ? ticksToNs(editDuration, vts)
    : actualStopNs - actualStartNs - gaps.reduce((n, g) => n + g.stopNs - g.startNs, 0);

  const videoTrack: WriterTrack = {
    info: vInfo,
    samples: included.map((s, i) => {
      const w = toWriter(s, sources[s.si].source);
      w.ctsOffset = cts(i);
      if (i + 1 < included.length) w.duration = outDts[i + 1] - outDts[i];
      return w;
    }),
    edit: { mediaTime, duration: editDuration },
  };
  const tracks: WriterTrack[] = [videoTrack];

  // 5. Audio overlapping the clip, aligned to the video through each source's shift; the sources just
  // before and after the video's may lend audio when they continue it seamlessly (same clock).
  const audioSources = [...used];
  const before = used[0] - 1;
  if (before >= 0 && samplesOf(before, 'video').length > 0 && compatible(before, used[0]) && join(before, used[0]).seamless) {
    audioSources.unshift(before);
    shift.set(before, shift.get(used[0]) as number);
  }
  const lastUsed = used[used.length - 1];
  const after = lastUsed + 1;
  if (after < sources.length && samplesOf(after, 'video').length > 0 && compatible(lastUsed, after) && join(lastUsed, after).seamless) {
    audioSources.push(after);
    shift.set(after, shift.get(lastUsed) as number);
  }
  const audio = planAudio({
    sources: audioSources, samplesOf: (si) => samplesOf(si, 'audio'), shift, discontinuity, bounds,
    offsetNs: (si) => sources[si].offsetNs, sourceId: (si) => sources[si].source,
    actualStartNs, actualStopNs, durationNs, info: tracksOf[used[0]].audio,
  });
  if (audio) tracks.push(audio);

  // 6. Is a frame of the window missing? Frames the sources hold in the window but the clip lacks, and
  // footage missing at either end.
  let held = 0;
  let heldAfterChange = 0;
  const changeAt = changeReason === null ? sources.length : group[group.length - 1] + 1;
  sources.forEach((_, si) => {
    for (const s of samplesOf(si, 'video')) {
      if (!inWindow(s)) continue;
      held++;
      if (si >= changeAt) heldAfterChange++;
    }
  });
  const frameNs = ticksToNs(medianDuration(included), vts);
  const reasons: string[] = [];
  if (changeReason !== null) reasons.push(changeReason);
  const undecodable = held - heldAfterChange - frames;
  if (undecodable > 0) {
    reasons.push(`${undecodable} frame${undecodable > 1 ? 's' : ''} of the window could not be included (no keyframe before ${undecodable > 1 ? 'them' : 'it'} in the footage)`);
  }
  const lateStart = actualStartNs - startNs >= frameNs - ROUNDING_NS;
  const earlyEnd = changeReason === null && stopNs - actualStopNs >= frameNs - ROUNDING_NS;
  if (lateStart || earlyEnd) {
    reasons.push(`footage missing at ${lateStart && earlyEnd ? 'both ends' : lateStart ? 'the start' : 'the end'} of the window`);
  }

  const usedSet = new Set<number>();
  for (const tr of tracks) for (const s of tr.samples) usedSet.add(s.source);
  const sourcesUsed = [...usedSet].sort((a, b) => a - b);
  return {
    tracks, actualStartNs, actualStopNs, durationNs, leadInNs: F.ptsNs - K.ptsNs, frames, sourcesUsed, gaps,
    partial: reasons.length > 0, partialReason: reasons.length > 0 ? reasons.join('; ') : null,
  };
}

/**
 * How source b follows source a: seamless when it continues a's clock (same offset and descriptions)
 * with no hole — its video decode timeline picks up exactly where a's ends (a stream cut into files
 * at any fragment, even mid-GOP, where presentation ranges overlap by the B-frame delay), or its
 * footage starts within half a frame of a's end; a gap when b's footage starts later than that.
 */
function joinBetween(
  sources: CutSource[], tracksOf: SourceTracks[], samplesOf: (si: number, kind: 'video') => Sample[],
  bounds: (si: number) => { start: number; end: number }, a: number, b: number,
): { seamless: boolean; continues: boolean; gap: { startNs: number; stopNs: number } | null } {
  const va = samplesOf(a, 'video');
  const vb = samplesOf(b, 'video');
  const lastA = va[va.length - 1];
  const sameClock = sources[a].offsetNs === sources[b].offsetNs
    && tracksOf[a].video?.timescale === tracksOf[b].video?.timescale;
  const continues = sameClock && vb[0].decodeTime === lastA.decodeTime + lastA.duration;
  const halfFrame = ticksToNs(lastA.duration, (tracksOf[a].video as TrackInfo).timescale) / 2;
  const prevEnd = bounds(a).end;
  const nextStart = bounds(b).start;
  const gap = !continues && nextStart - prevEnd > halfFrame ? { startNs: prevEnd, stopNs: nextStart } : null;
  return { seamless: continues || (sameClock && Math.abs(nextStart - prevEnd) <= halfFrame), continues, gap };
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

/** Distance from p's pts to the next pts among the samples (its source's, on its clock), else p's duration. */
function presentationDuration(sourceSamples: Sample[], p: Sample): number {
  let next = Infinity;
  for (const s of sourceSamples) if (s.ptsTicks > p.ptsTicks && s.ptsTicks < next) next = s.ptsTicks;
  return Number.isFinite(next) ? next - p.ptsTicks : p.duration;
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
