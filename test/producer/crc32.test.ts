// The per-fragment checksum: the standard CRC-32 check value, and the native and JavaScript paths agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32, crc32Table } from '../../src/producer/segments/crc32.js';

test('crc32 is CRC-32/IEEE: check value, empty input, and the fallback agrees on random data', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32Table(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.alloc(0)), 0);
  for (const n of [1, 3, 255, 4096, 100_003]) {
    const b = randomBytes(n);
    assert.equal(crc32(b), crc32Table(b), `${n} bytes`);
  }
  const b = randomBytes(1000);
  const flipped = Buffer.from(b);
  flipped[500] ^= 1;
  assert.notEqual(crc32(b), crc32(flipped), 'one flipped bit changes it');
});

test('crc32 continues over pieces: the CRC of a then b from the CRC of a (native and fallback)', () => {
  const b = randomBytes(100_003);
  const whole = crc32(b);
  for (const cuts of [[0], [1], [50_000], [4096, 8192, 99_999], [100_003]]) {
    let c = 0;
    let t = 0;
    let from = 0;
    for (const at of [...cuts, b.length]) {
      c = crc32(b.subarray(from, at), c);
      t = crc32Table(b.subarray(from, at), t);
      from = at;
    }
    assert.equal(c, whole, `native, cut at ${cuts.join(',')}`);
    assert.equal(t, whole, `fallback, cut at ${cuts.join(',')}`);
  }
});
