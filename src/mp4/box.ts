// ISO-BMFF box headers: reading one box header (32-bit, 64-bit and "to end" sizes) and listing the
// children of a container box. Also the small big-endian field readers the other parsers share.
// Pure: Uint8Array in, plain data out; every malformed size is an Mp4ParseError, never a RangeError.

/** Any structural problem found while parsing MP4 bytes. */
export class Mp4ParseError extends Error {
  override name = 'Mp4ParseError';
}

export interface BoxHeader {
  /** Four-character code, decoded as latin1 (so '©nam' and friends survive). */
  type: string;
  /** Absolute offset of the box's first byte in the buffer it was read from. */
  start: number;
  /** 8, or 16 for a 64-bit size; a 'uuid' box's 16-byte extended type is part of its payload. */
  headerSize: number;
  /** Total size in bytes, header included. */
  size: number;
  /** start + size. May lie beyond the bytes available so far (the caller checks). */
  end: number;
}

/**
 * Reads the header of the box at `offset`. `limit` (default: buf.length) is where the available
 * bytes end; a size-0 box ("extends to the end of the file") extends to `limit`.
 * Returns null when fewer bytes than the header needs are available before `limit`.
 * Throws Mp4ParseError on sizes that cannot be right (smaller than the header, beyond 2^53).
 * The box's payload may extend beyond `limit`: check `end` against what you have.
 */
export function readBoxHeader(buf: Uint8Array, offset: number, limit: number = buf.length): BoxHeader | null {
  if (offset < 0 || limit > buf.length) throw new Mp4ParseError(`box read out of range: offset ${offset}, limit ${limit}`);
  return decodeBoxHeader(buf, offset, offset, limit - offset);
}

/**
 * The same for a box read from elsewhere (a file read piecewise): `head` holds the box's first
 * min(16, available) bytes, the box starts at `start` in its file, and `available` bytes of the file
 * remain from there (a size-0 box extends over all of them). Positions in the answer are file offsets.
 */
export function readBoxHeaderAt(head: Uint8Array, start: number, available: number): BoxHeader | null {
  if (start < 0 || head.length < Math.min(16, available)) {
    throw new Mp4ParseError(`box header at ${start}: ${head.length} bytes given of the ${Math.min(16, available)} needed`);
  }
  return decodeBoxHeader(head, 0, start, available);
}

/** The header whose bytes are at `pos` in `buf`, for a box at `start` with `available` bytes from there on. */
function decodeBoxHeader(buf: Uint8Array, pos: number, start: number, available: number): BoxHeader | null {
  if (available < 8) return null;
  const size32 = u32(buf, pos);
  const type = fourcc(buf, pos + 4);
  if (size32 === 1) {
    if (available < 16) return null;
    const hi = u32(buf, pos + 8);
    const lo = u32(buf, pos + 12);
    if (hi >= 0x200000) throw new Mp4ParseError(`box '${printable(type)}' at ${start}: 64-bit size too large`);
    const size = hi * 0x1_0000_0000 + lo;
    if (size < 16) throw new Mp4ParseError(`box '${printable(type)}' at ${start}: 64-bit size ${size} < 16`);
    return { type, start, headerSize: 16, size, end: start + size };
  }
  if (size32 === 0) {
    return { type, start, headerSize: 8, size: available, end: start + available };
  }
  if (size32 < 8) throw new Mp4ParseError(`box '${printable(type)}' at ${start}: size ${size32} < 8`);
  return { type, start, headerSize: 8, size: size32, end: start + size32 };
}

/**
 * The boxes that exactly tile [start, end) (the payload of a container box, past any full-box
 * header). Throws Mp4ParseError when a child is cut off or overruns `end`. A trailing run of fewer
 * than 8 zero bytes is accepted (some writers end 'udta' with a 32-bit zero terminator).
 */
export function childBoxes(buf: Uint8Array, start: number, end: number): BoxHeader[] {
  if (end > buf.length) throw new Mp4ParseError(`container [${start}, ${end}) extends beyond the ${buf.length} bytes given`);
  const out: BoxHeader[] = [];
  let pos = start;
  while (pos < end) {
    const h = readBoxHeader(buf, pos, end);
    if (h === null) {
      if (allZero(buf, pos, end)) break;
      throw new Mp4ParseError(`truncated box header at ${pos} (container ends at ${end})`);
    }
    if (h.end > end) throw new Mp4ParseError(`box '${printable(h.type)}' at ${pos} (size ${h.size}) overruns its container ending at ${end}`);
    out.push(h);
    pos = h.end;
  }
  return out;
}

/** The first child of the given type, or undefined. */
export function findChild(buf: Uint8Array, start: number, end: number, type: string): BoxHeader | undefined {
  return childBoxes(buf, start, end).find((b) => b.type === type);
}

/** Like findChild, but a missing box is an Mp4ParseError naming `where`. */
export function requireChild(buf: Uint8Array, start: number, end: number, type: string, where: string): BoxHeader {
  const b = findChild(buf, start, end, type);
  if (!b) throw new Mp4ParseError(`missing '${type}' in ${where}`);
  return b;
}

/** Payload start of a box (after its header). */
export function payload(b: BoxHeader): number {
  return b.start + b.headerSize;
}

/** True when all four characters are printable ASCII (what a top-level box type looks like). */
export function isPrintableType(type: string): boolean {
  if (type.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const c = type.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** The type with non-printable characters escaped, for messages. */
export function printable(type: string): string {
  let s = '';
  for (const ch of type) {
    const c = ch.charCodeAt(0);
    s += c >= 0x20 && c <= 0x7e ? ch : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

// ---- big-endian field readers (bounds-checked, so truncated boxes throw Mp4ParseError) ----

function need(buf: Uint8Array, off: number, n: number): void {
  if (off < 0 || off + n > buf.length) throw new Mp4ParseError(`read of ${n} bytes at ${off} beyond ${buf.length} bytes`);
}

export function u8(buf: Uint8Array, off: number): number {
  need(buf, off, 1);
  return buf[off];
}

export function u16(buf: Uint8Array, off: number): number {
  need(buf, off, 2);
  return (buf[off] << 8) | buf[off + 1];
}

export function u24(buf: Uint8Array, off: number): number {
  need(buf, off, 3);
  return (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
}

export function u32(buf: Uint8Array, off: number): number {
  need(buf, off, 4);
  return ((buf[off] << 24) >>> 0) + ((buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]);
}

export function i32(buf: Uint8Array, off: number): number {
  return u32(buf, off) | 0;
}

/** Unsigned 64-bit as a number; throws Mp4ParseError beyond 2^53. */
export function u64(buf: Uint8Array, off: number): number {
  const hi = u32(buf, off);
  const lo = u32(buf, off + 4);
  if (hi >= 0x200000) throw new Mp4ParseError(`64-bit value at ${off} exceeds 2^53`);
  return hi * 0x1_0000_0000 + lo;
}

export function fourcc(buf: Uint8Array, off: number): string {
  need(buf, off, 4);
  return String.fromCharCode(buf[off], buf[off + 1], buf[off + 2], buf[off + 3]);
}

function allZero(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}
