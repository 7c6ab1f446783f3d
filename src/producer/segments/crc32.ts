// CRC-32 (IEEE 802.3, as zlib/PNG) of a byte range: the index keeps one per fragment so that damage to a
// segment file — a flipped byte in a moof or deep inside an mdat — is found when the file is verified
// (recovery.ts), not silently copied into clips. zlib's native crc32 (Node ≥ 20.15, ~4.5 GB/s here) when
// present; otherwise a table-driven loop (~400 MB/s) that gives the same numbers. Both continue a CRC
// over consecutive pieces (`crc32(b, crc32(a))` is the CRC-32 of a then b), so a range of any size is
// checksummed in bounded chunks.
import zlib from 'node:zlib';

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** The CRC-32 of `buf` as an unsigned 32-bit number; given `prev`, the CRC-32 of the bytes `prev` was of followed by `buf`. */
export function crc32(buf: Uint8Array, prev = 0): number {
  return native ? native(buf, prev) >>> 0 : crc32Table(buf, prev);
}

/** The same CRC-32 computed in JavaScript (the fallback, and the reference the tests compare with). */
export function crc32Table(buf: Uint8Array, prev = 0): number {
  let c = ~prev;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
