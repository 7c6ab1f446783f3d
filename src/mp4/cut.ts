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
// Samples are not objects here: each track kind of all sources is one table of columns (cut-table.ts),
// the clip's video an index range of it, and the plan's tracks columns too (writer-tables.ts).
import type { ParsedMoof } from './fragment.js';
import type { InitSegment, TrackInfo } from './init.js';
import { ticksToNs } from './time.js';
import type { WriterTrack } from './writer.js';
import { type WriterColumns, columnTrack, trackColumns } from './writer-tables.js';
import { planAudio } from './cut-audio.js';
import {
  type SampleTable, anyPresentedBefore, anyPresentedIn, buildTable, countPresentedIn, earliestIn, lastIn, medianDuration, presentedIn,
} from './cut-table.js';
import { placeRuns } from './cut-runs.js';

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
  // Every source's video, source after source (a run of sources is a range of it).
  const V = buildTable(sources, tracksOf.map((t) => t.video));
  const { ptsNs, ptsTicks } = V;
  const S = new Joins(sources, tracksOf, V);

  // 1. The source holding the first wanted frame, and the run of compatible sources from it.
  let s0 = -1;
  for (let si = 0; si < sources.length && s0 < 0; si++) if (anyPresentedIn(V, V.from[si], V.to[si], startNs, stopNs)) s0 = si;
  if (s0 < 0) throw new CutError('no video frame in the requested window');
  const group: number[] = [s0];
  let changeReason: string | null = null;
  for (let si = s0 + 1; si < sources.length; si++) {
    if (S.empty(si)) continue;
    if (!anyPresentedBefore(V, V.from[si], V.to[si], stopNs)) break;
    if (!S.compatible(s0, si)) {
      if (anyPresentedIn(V, V.from[si], V.to[si], startNs, stopNs)) changeReason = describeChange(tracksOf[s0], tracksOf[si], sources[si].source);
      break;
    }
    group.push(si);
  }

  // 2. Decode-order video samples of the group (the table's range [vLo, vHi): the sources between are
  // empty); extend backwards while no keyframe precedes F.
  let vLo = V.from[group[0]];
  const vHi = V.to[group[group.length - 1]];
  // The earliest-presented wanted frame (decoded at or after vLo).
  let f = earliestIn(V, vLo, vHi, startNs, stopNs, -Infinity);
  let k = lastSyncAtOrBefore(V, vLo, f);
  for (let si = group[0] - 1; k < 0 && si >= 0; si--) {
    if (S.empty(si)) continue;
    if (!S.compatible(s0, si)) break;
    group.unshift(si);
    vLo = V.from[si];
    k = lastSyncAtOrBefore(V, vLo, f);
  }
  if (k < 0) {
    // No keyframe before the first wanted frame: start at the first keyframe (footage missing at the
    // start), skipping frames presented before it (an open GOP's leading pictures cannot be decoded).
    let firstSync = -1;
    for (let i = vLo; i < vHi && firstSync < 0; i++) if (V.sync[i] === 1) firstSync = i;
    f = firstSync < 0 ? -1 : earliestIn(V, firstSync, vHi, startNs, stopNs, ptsNs[firstSync]);
    if (f < 0) throw new CutError('no decodable video frame in the requested window (no keyframe before it)');
    k = lastSyncAtOrBefore(V, vLo, f);
  }
  const last = lastIn(V, k, vHi, startNs, stopNs);
  // The clip's video: the table's samples [k, end), local index i = sample k + i.
  const end = last + 1;

  // 3. Output decode timeline: cumulative durations (gaps between sources vanish), the sources' own
  // composition offsets; at a join between runs (see placeRuns) the new run is placed so that its first
  // frame follows the old run's last one by one frame period.
  const vInfo = tracksOf[V.si[k]].video as TrackInfo;
  const vts = vInfo.timescale;
  const { outDts, place, fix, runJoins } = placeRuns(V, k, end, sources.map((s) => s.offsetNs));
  // Negative composition offsets (trun v1) could put a frame before time 0: shift them all up instead.
  const ctsBias = negativeCtsBias(V.ctsOffset, k, outDts, place, fix);
  const presented = presentedIn(V, k, end, startNs, stopNs, ptsNs[f]);
  const frames = presented.frames;
  const F = presented.first;
  const P = presented.last;
  const fi = F - k;
  const pi = P - k;
  const K = k;
  const siP = V.si[P];
  // The frame presented after P may be in the next file when a file ends mid-GOP (fragments cut by time).
  const next = siP + 1;
  const continued = next < sources.length && !S.empty(next) && S.compatible(siP, next) && S.join(siP, next).continues;
  const presDurP = presentationDuration(V, P, V.from[siP], continued ? V.to[next] : V.to[siP]);
  const mediaTime = compositionTime(V.ctsOffset, k, outDts, place, fix, ctsBias, fi);
  // A new run's first keyframe moved up to the next frame (placeRuns) lasts that much less.
  const editDuration = compositionTime(V.ctsOffset, k, outDts, place, fix, ctsBias, pi) + Math.max(1, presDurP - fix[pi]) - mediaTime;
  const actualStartNs = ptsNs[F];
  const actualStopNs = sources[siP].offsetNs + ticksToNs(ptsTicks[P] + presDurP, vts);

  // 4. Joins between sources inside the clip: gaps, and the producer→clip time shift of each source.
  const used: number[] = [];
  const shift = new Map<number, number>(); // producer ns − clip presentation ns, per source
  for (const i of sourceStarts(V.si, k, end)) {
    const si = V.si[k + i];
    used.push(si);
    const comp = compositionTime(V.ctsOffset, k, outDts, place, fix, ctsBias, i);
    shift.set(si, sources[si].offsetNs + ticksToNs(ptsTicks[k + i], vts) - ticksToNs(comp - fix[i] - mediaTime, vts));
  }
  const gaps: CutPlan['gaps'] = [];
  const discontinuity = new Set<number>(); // sources whose join to the previous one is not seamless
  for (let u = 1; u < used.length; u++) {
    const j = S.join(used[u - 1], used[u]);
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
    : actualStopNs - actualStartNs - gaps.reduce((sum, g) => sum + g.stopNs - g.startNs, 0);

  const vc = videoColumns(V, k, end, outDts, place, fix, ctsBias, sources.map((s) => s.source));
  const tracks: WriterTrack[] = [columnTrack(vInfo, vc, { mediaTime, duration: editDuration })];

  // 5. Audio overlapping the clip, aligned to the video through each source's shift; the sources just
  // before and after the video's may lend audio when they continue it seamlessly (same clock).
  const audioSources = [...used];
  const before = used[0] - 1;
  if (before >= 0 && !S.empty(before) && S.compatible(before, used[0]) && S.join(before, used[0]).seamless) {
    audioSources.unshift(before);
    shift.set(before, shift.get(used[0]) as number);
  }
  const lastUsed = used[used.length - 1];
  const after = lastUsed + 1;
  if (after < sources.length && !S.empty(after) && S.compatible(lastUsed, after) && S.join(lastUsed, after).seamless) {
    audioSources.push(after);
    shift.set(after, shift.get(lastUsed) as number);
  }
  const audioInfo = tracksOf[used[0]].audio;
  if (audioInfo) {
    const wantAudio = new Set(audioSources);
    const audio = planAudio({
      sources: audioSources, table: buildTable(sources, tracksOf.map((t, si) => (wantAudio.has(si) ? t.audio : undefined))),
      shift, discontinuity, bounds: (si) => S.bounds(si), offsetNs: sources.map((x) => x.offsetNs), sourceId: sources.map((x) => x.source),
      actualStartNs, actualStopNs, durationNs, info: audioInfo,
    });
    if (audio) tracks.push(audio);
  }

  // 6. Is a frame of the window missing? Frames the sources hold in the window but the clip lacks, and
  // footage missing at either end.
  const changeAt = changeReason === null ? sources.length : group[group.length - 1] + 1;
  const { all: held, later: heldAfterChange } = countPresentedIn(V, startNs, stopNs, changeAt);
  const frameNs = ticksToNs(medianDuration(V.duration, k, end), vts);
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

  const sourcesUsed = sourceIds(tracks);
  return {
    tracks, actualStartNs, actualStopNs, durationNs, leadInNs: ptsNs[F] - ptsNs[K], frames, sourcesUsed, gaps,
    partial: reasons.length > 0, partialReason: reasons.length > 0 ? reasons.join('; ') : null,
  };
}

/** What the planner asks about sources and the joins between them (answers kept: each is asked again). */
class Joins {
  private readonly boundsCache = new Map<number, { start: number; end: number }>();
  constructor(private readonly sources: CutSource[], private readonly tracksOf: SourceTracks[], private readonly V: SampleTable) {}

  /** Whether a source has no video. */
  empty(si: number): boolean {
    return this.V.from[si] === this.V.to[si];
  }

  /** Whether two sources' samples may be joined in one clip (the same descriptions). */
  compatible(a: number, b: number): boolean {
    const { tracksOf } = this;
    return tracksOf[a].video?.descriptionKey === tracksOf[b].video?.descriptionKey
      && tracksOf[a].audio?.descriptionKey === tracksOf[b].audio?.descriptionKey;
  }

  /** A source's video presentation bounds in producer ns. */
  bounds(si: number): { start: number; end: number } {
    let b = this.boundsCache.get(si);
    if (!b) {
      const { ptsNs, ptsTicks, duration } = this.V;
      let first = this.V.from[si];
      let lastP = this.V.from[si];
      for (let i = this.V.from[si]; i < this.V.to[si]; i++) {
        if (ptsNs[i] < ptsNs[first]) first = i;
        if (ptsNs[i] > ptsNs[lastP]) lastP = i;
      }
      const ts = (this.tracksOf[si].video as TrackInfo).timescale;
      b = { start: ptsNs[first], end: this.sources[si].offsetNs + ticksToNs(ptsTicks[lastP] + duration[lastP], ts) };
      this.boundsCache.set(si, b);
    }
    return b;
  }

  /**
   * How source b follows source a: seamless when it continues a's clock (same offset and descriptions)
   * with no hole — its video decode timeline picks up exactly where a's ends (a stream cut into files
   * at any fragment, even mid-GOP, where presentation ranges overlap by the B-frame delay), or its
   * footage starts within half a frame of a's end; a gap when b's footage starts later than that.
   */
  join(a: number, b: number): { seamless: boolean; continues: boolean; gap: { startNs: number; stopNs: number } | null } {
    const { sources, tracksOf, V } = this;
    const lastA = V.to[a] - 1;
    const firstB = V.from[b];
    const sameClock = sources[a].offsetNs === sources[b].offsetNs
      && tracksOf[a].video?.timescale === tracksOf[b].video?.timescale;
    const continues = sameClock && V.decodeTime[firstB] === V.decodeTime[lastA] + V.duration[lastA];
    const halfFrame = ticksToNs(V.duration[lastA], (tracksOf[a].video as TrackInfo).timescale) / 2;
    const prevEnd = this.bounds(a).end;
    const nextStart = this.bounds(b).start;
    const gap = !continues && nextStart - prevEnd > halfFrame ? { startNs: prevEnd, stopNs: nextStart } : null;
    return { seamless: continues || (sameClock && Math.abs(nextStart - prevEnd) <= halfFrame), continues, gap };
  }
}

/**
 * The sync sample decoding starts at: the last one at or before f (not before lo) in decode order that
 * is also presented no later than f. In a closed GOP that is simply the last sync sample before f; in an
 * open GOP (HEVC CRA with leading pictures) a frame decoded after a sync sample but presented before it
 * needs the previous GOP, and this goes back to the sync sample that precedes it in presentation too.
 */
function lastSyncAtOrBefore(V: SampleTable, lo: number, f: number): number {
  for (let i = f; i >= lo; i--) if (V.sync[i] === 1 && V.ptsNs[i] <= V.ptsNs[f]) return i;
  return -1;
}

/** Distance from p's pts to the next pts among the samples [from, to) (its source's, on its clock), else p's duration. */
function presentationDuration(V: SampleTable, p: number, from: number, to: number): number {
  const pt = V.ptsTicks[p];
  let next = Infinity;
  for (let i = from; i < to; i++) {
    const t = V.ptsTicks[i];
    if (t > pt && t < next) next = t;
  }
  return Number.isFinite(next) ? next - pt : V.duration[p];
}

/** The least amount that lifts every composition time (outDts + offset) of the clip's video to 0 or later. */
function negativeCtsBias(ctsOffset: Float64Array, k: number, outDts: Float64Array, place: Float64Array, fix: Float64Array): number {
  let bias = 0;
  for (let i = 0; i < outDts.length; i++) bias = Math.max(bias, -(outDts[i] + ctsOffset[k + i] + place[i] + fix[i]));
  return bias;
}

/** Composition time in the clip of its video sample i (the table's sample k + i). */
function compositionTime(
  ctsOffset: Float64Array, k: number, outDts: Float64Array, place: Float64Array, fix: Float64Array, ctsBias: number, i: number,
): number {
  return outDts[i] + (ctsOffset[k + i] + place[i] + fix[i] + ctsBias);
}

/** Local indexes (from lo) of [lo, hi) where a new source's samples begin (the table keeps a source's samples together). */
function sourceStarts(si: Int32Array, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let i = lo; i < hi; i++) if (i === lo || si[i] !== si[i - 1]) out.push(i - lo);
  return out;
}

/**
 * The clip's video samples [k, end) as the writer's columns: decode durations of the clip's timeline, its
 * composition offsets; sizes, sync flags and file offsets are views of the table's (not copies).
 */
function videoColumns(
  V: SampleTable, k: number, end: number, outDts: Float64Array, place: Float64Array, fix: Float64Array, ctsBias: number, sourceId: number[],
): WriterColumns {
  const n = end - k;
  const duration = new Float64Array(n);
  const ctsOffset = new Float64Array(n);
  const source = new Float64Array(n);
  const { si, duration: vDuration, ctsOffset: vCts } = V;
  for (let i = 0; i < n; i++) {
    const g = k + i;
    duration[i] = i + 1 < n ? outDts[i + 1] - outDts[i] : vDuration[g];
    ctsOffset[i] = vCts[g] + place[i] + fix[i] + ctsBias;
    source[i] = sourceId[si[g]];
  }
  return {
    length: n, size: V.size.subarray(k, end), duration, ctsOffset, isSync: V.sync.subarray(k, end), source,
    offset: V.fileOffset.subarray(k, end),
  };
}

/** The ids of the sources whose bytes the tracks copy, ascending. */
function sourceIds(tracks: WriterTrack[]): number[] {
  const ids = new Set<number>();
  for (const tr of tracks) {
    const c = trackColumns(tr);
    for (let i = 0; i < c.length; i++) if (i === 0 || c.source[i] !== c.source[i - 1]) ids.add(c.source[i]);
  }
  return [...ids].sort((a, b) => a - b);
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
