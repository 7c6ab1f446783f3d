// A segment file of any size made from a real recording: its init, then the recording's fragments over
// and over, each repetition's mfhd sequence numbers and tfdt (baseMediaDecodeTime) moved on so that the
// time runs on continuously, as one long camera segment would. Written in big writes (one patched copy
// of all the recording's fragments at a time). Optionally the last fragment's mdat is written with a
// 64-bit ("largesize") header (its trun data offsets moved by the 8 bytes the header grows).
import { closeSync, openSync, writeSync } from 'node:fs';
import { childBoxes, payload, readBoxHeader, u24, u32 } from '../../src/mp4/box.js';
import { scanFragmentedFile } from '../../src/mp4/scan.js';
import { fragmentsOf } from '../mp4/fixtures.js';

interface TimePatch { at: number; trackId: number; version: number; base: number }

export interface RepeatedSegment {
  init: Buffer;
  /** The recording's fragments (unpatched), moof + mdat each. */
  fragments: Buffer[];
  /** Each track's duration over the recording, in its timescale (the tfdt step per repetition). */
  durationTicks: Map<number, number>;
  repetitions: number;
  /** Fragments written (repetitions × fragments.length). */
  fragmentCount: number;
  /** Where the last whole fragment ends (the file's size before `tail`). */
  validBytes: number;
  last: { offset: number; size: number; moofSize: number; repetition: number; index: number; bytes: Buffer };
  /** Bytes written after the last whole fragment. */
  tailBytes: number;
}

/**
 * Writes `path`: init + the recording's fragments repeated until the file holds at least `minBytes`,
 * then `tail`, made from the fragment that would have come next (e.g. part of it: a crash mid-write).
 * `largeLast` gives the last whole fragment's mdat a 64-bit header.
 */
export function writeRepeatedSegment(
  path: string, recording: Buffer, minBytes: number, o: { largeLast?: boolean; tail?: (nextFragment: Buffer) => Buffer } = {},
): RepeatedSegment {
  const { init, fragments } = fragmentsOf(recording);
  const scan = scanFragmentedFile(recording);
  if (scan.fragments.length !== fragments.length) throw new Error('the recording does not scan to its fragments');
  // Each track's duration: from its first fragment's base decode time to the end of its last sample.
  const first = new Map<number, number>();
  const end = new Map<number, number>();
  for (const f of scan.fragments) {
    for (const r of f.moof.trackRuns) {
      if (!first.has(r.trackId)) first.set(r.trackId, r.baseDecodeTime);
      const s = r.samples[r.samples.length - 1];
      if (s) end.set(r.trackId, s.decodeTime + s.duration);
    }
  }
  const durationTicks = new Map([...first].map(([id, t0]) => [id, end.get(id)! - t0]));

  // One copy of all fragments, and where its sequence numbers and decode times are.
  const block = Buffer.concat(fragments);
  const seqAt: number[] = [];
  const times: TimePatch[] = [];
  let pos = 0;
  for (const frag of fragments) {
    const moof = readBoxHeader(block, pos)!;
    for (const b of childBoxes(block, payload(moof), moof.end)) {
      if (b.type === 'mfhd') seqAt.push(payload(b) + 4);
      if (b.type !== 'traf') continue;
      const kids = childBoxes(block, b.start + 8, b.end);
      const trackId = u32(block, payload(kids.find((k) => k.type === 'tfhd')!) + 4);
      const tfdt = kids.find((k) => k.type === 'tfdt');
      if (!tfdt) throw new Error('a traf without tfdt');
      const version = block[payload(tfdt)];
      const at = payload(tfdt) + 4;
      times.push({ at, trackId, version, base: version === 1 ? Number(block.readBigUInt64BE(at)) : block.readUInt32BE(at) });
    }
    pos += frag.length;
  }
  const patch = (rep: number) => {
    seqAt.forEach((at, i) => block.writeUInt32BE(rep * fragments.length + i + 1, at));
    for (const t of times) {
      const v = t.base + rep * durationTicks.get(t.trackId)!;
      if (t.version === 1) block.writeBigUInt64BE(BigInt(v), t.at);
      else block.writeUInt32BE(v, t.at);
    }
  };
  const fragOffsets = fragments.map((_, i) => fragments.slice(0, i).reduce((n, f) => n + f.length, 0));
  /** Fragment i of repetition rep, as its own buffer. */
  const fragmentOf = (rep: number, i: number): Buffer => {
    patch(rep);
    return Buffer.from(block.subarray(fragOffsets[i], fragOffsets[i] + fragments[i].length));
  };

  const repetitions = Math.max(1, Math.ceil((minBytes - init.length) / block.length));
  const fd = openSync(path, 'w');
  try {
    let at = 0;
    const write = (b: Buffer) => {
      for (let done = 0; done < b.length;) done += writeSync(fd, b, done, b.length - done, at + done);
      at += b.length;
    };
    write(init);
    let last: RepeatedSegment['last'] | null = null;
    for (let rep = 0; rep < repetitions; rep++) {
      patch(rep);
      if (rep < repetitions - 1) {
        write(block);
        continue;
      }
      const li = fragments.length - 1;
      write(block.subarray(0, fragOffsets[li]));
      const plain = Buffer.from(block.subarray(fragOffsets[li]));
      const bytes = o.largeLast ? withLargeHeaders(plain, { moof: false }) : plain;
      last = { offset: at, size: bytes.length, moofSize: readBoxHeader(bytes, 0)!.size, repetition: rep, index: li, bytes };
      write(bytes);
    }
    const validBytes = at;
    const tail = o.tail ? o.tail(fragmentOf(repetitions, 0)) : Buffer.alloc(0);
    write(tail);
    return {
      init, fragments, durationTicks, repetitions, fragmentCount: repetitions * fragments.length, validBytes, last: last!, tailBytes: tail.length,
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * The same fragment (moof + one mdat) with 64-bit box headers (8 bytes more each; the trun data offsets,
 * from the moof's start, move by the bytes the headers before the samples grew). `moof: false` keeps the
 * moof's 32-bit header: ffmpeg's demuxer takes the moof's start as 8 bytes before its payload, so it
 * misplaces the samples of a 64-bit moof (a spec-conforming reader does not; none of our writers make one).
 */
export function withLargeHeaders(frag: Buffer, o: { moof: boolean } = { moof: true }): Buffer {
  const moof = readBoxHeader(frag, 0)!;
  const mdat = readBoxHeader(frag, moof.end)!;
  if (moof.headerSize !== 8 || mdat.headerSize !== 8 || mdat.end !== frag.length) throw new Error('expected one moof and one mdat with 32-bit headers');
  const header = (type: string, size: number) => {
    const h = Buffer.alloc(16);
    h.writeUInt32BE(1, 0);
    h.write(type, 4, 'latin1');
    h.writeBigUInt64BE(BigInt(size), 8);
    return h;
  };
  const grow = o.moof ? 8 : 0;
  const newMoof = o.moof ? Buffer.concat([header('moof', moof.size + 8), frag.subarray(8, moof.end)]) : Buffer.from(frag.subarray(0, moof.end));
  const moofPayload = o.moof ? 16 : 8;
  for (const traf of childBoxes(newMoof, moofPayload, newMoof.length).filter((b) => b.type === 'traf')) {
    for (const b of childBoxes(newMoof, traf.start + 8, traf.end)) {
      if (b.type === 'tfhd' && u24(newMoof, payload(b) + 1) & 0x1) throw new Error('explicit base data offsets are not moved');
      if (b.type === 'trun' && u24(newMoof, payload(b) + 1) & 0x1) {
        const at = payload(b) + 8;
        newMoof.writeInt32BE(newMoof.readInt32BE(at) + grow + 8, at);
      }
    }
  }
  return Buffer.concat([newMoof, header('mdat', mdat.size + 8), frag.subarray(moof.end + 8)]);
}
