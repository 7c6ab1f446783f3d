// A new segment file: created under its start's name in its day's directory with the init written,
// never over an existing file (the next free `-N` name instead), and removed again when it cannot be used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/media.js';
import { createSegmentFile, removeSegmentFile, writeAll } from '../../src/producer/segments/segment-file.js';

test('createSegmentFile: its name, the init in it, the next free name when taken, nothing left when removed', () => {
  const tmp = tempDir();
  try {
    const init = Buffer.from('ftyp+moov bytes');
    const epochMs = Date.UTC(2026, 11, 2, 3, 0, 0);
    const a = createSegmentFile(tmp.dir, 1234n, epochMs, init);
    assert.equal(a.rel, '2026-12-02/1234.mp4');
    assert.equal(a.abs, join(tmp.dir, '2026-12-02', '1234.mp4'));
    writeAll(a.fd, Buffer.from(' + fragment'), init.length);
    closeSync(a.fd);
    assert.equal(readFileSync(a.abs, 'utf8'), 'ftyp+moov bytes + fragment');

    // Taken names (a file of a crashed run, and its first variant) are never written over.
    writeFileSync(join(tmp.dir, '2026-12-02', '1234-1.mp4'), 'other');
    const b = createSegmentFile(tmp.dir, 1234n, epochMs, init);
    assert.equal(b.rel, '2026-12-02/1234-2.mp4');
    closeSync(b.fd);
    assert.equal(readFileSync(a.abs, 'utf8'), 'ftyp+moov bytes + fragment', 'the first file is untouched');
    assert.equal(readFileSync(join(tmp.dir, '2026-12-02', '1234-1.mp4'), 'utf8'), 'other');

    const c = createSegmentFile(tmp.dir, 99n, epochMs, init);
    removeSegmentFile(c.fd, c.abs);
    assert.equal(existsSync(c.abs), false);
    assert.deepEqual(readdirSync(join(tmp.dir, '2026-12-02')).sort(), ['1234-1.mp4', '1234-2.mp4', '1234.mp4']);

    // A day directory that cannot be made (a file in its place) fails the creation and leaves nothing.
    mkdirSync(join(tmp.dir, 'x'));
    writeFileSync(join(tmp.dir, 'x', '2026-12-03'), 'not a directory');
    assert.throws(() => createSegmentFile(join(tmp.dir, 'x'), 5n, epochMs + 86_400_000, init), /EEXIST|ENOTDIR/);
  } finally {
    tmp.cleanup();
  }
});
