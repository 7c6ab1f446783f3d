// Focused regression tests for the bugs the property-based tests of test/fuzz found, one per bug:
// - out_dir that cannot be a directory (a file, a dangling symlink, a symlink loop, a >255-byte name, a path
//   near PATH_MAX) was a 500 "internal error: ENOTDIR…" instead of a 400 naming out_dir;
// - a filename over NAME_MAX in UTF-8 bytes was accepted (202) and the job then failed with ENAMETOOLONG;
// - a lone surrogate in out_dir/filename was accepted, and the job then wrote to a different (mangled) path;
// - a request target starting with `//` was read as a host (`//x/health` served the public /health, `//` was a 400);
// - HEAD /events and HEAD /live.mp4 never answered;
// - Node's own answers to a missing Host (400) and an unknown Expect (417) had no JSON body;
// - the Recorder polled `/` for a job id `..` and threw a URIError for an id with a lone surrogate;
// - the Recorder followed redirects (a 303 turned POST /clip into a GET of another resource).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/media.js';
import { listSegments, startTestProducer, waitFor } from '../helpers/producer.js';
import { startScriptedServer } from '../helpers/scripted-server.js';
import { resolveOutDir } from '../../src/producer/clips/output-paths.js';
import { parseClipBody } from '../../src/producer/clips/clip-request.js';
import { DomainError } from '../../src/protocol/errors.js';
import { createHttpApp, listen, route } from '../../src/producer/http/server.js';
import { silentLogger } from '../../src/common/log.js';
import { Recorder } from '../../src/record/recorder.js';
import { ClipHttpError } from '../../src/record/errors.js';
import { closeClientAgent, parseResponses, rawExchange, send } from './support.js';

function http400(fn: () => unknown, field: string): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DomainError, `expected a DomainError, got ${String(e)}`);
    assert.ok(['INVALID_FIELD', 'OUT_OF_ROOT'].includes(e.code), `${e.code}: ${e.message}`);
    assert.ok(e.message.startsWith(`${field}:`), e.message);
    return e.message;
  }
  assert.fail('expected a 400');
}

describe('regressions found by the fuzz tests', () => {
  test('out_dir that cannot be a directory → 400 naming out_dir (was a 500 with the errno)', () => {
    const tmp = tempDir('segrec-reg-');
    try {
      const root = join(tmp.dir, 'clips');
      const outside = join(tmp.dir, 'outside');
      mkdirSync(root);
      mkdirSync(outside);
      writeFileSync(join(root, 'afile'), 'x');
      symlinkSync(join(outside, 'missing'), join(root, 'dangle'));
      symlinkSync('loop', join(root, 'loop'));
      for (const od of ['afile', 'afile/x', 'dangle', 'dangle/x', 'loop', 'loop/x', 'n'.repeat(256), `ok/${'日'.repeat(90)}`]) {
        assert.match(http400(() => resolveOutDir(od, [root]), 'out_dir'), /cannot be used as a directory \(E[A-Z]+\)/, od);
      }
      // A directory so deep that no clip name would fit under PATH_MAX.
      assert.match(http400(() => resolveOutDir('ab/'.repeat(1300), [root]), 'out_dir'), /path longer than/);
      assert.deepEqual(readdirSync(outside), [], 'nothing created outside the root');
      // Still fine: a plain new directory, and one just under the limit.
      assert.equal(resolveOutDir('events/cam1', [root]), join(realpathSync(root), 'events', 'cam1'));
    } finally {
      tmp.cleanup();
    }
  });

  test('filename longer than 240 UTF-8 bytes → 400 (was accepted, then ENAMETOOLONG in the job)', () => {
    const w = { start_pts_ns: 1, stop_pts_ns: 2 };
    assert.match(http400(() => parseClipBody({ ...w, filename: `${'日'.repeat(80)}.mp4` }), 'filename'), /longer than 240 bytes/);
    assert.equal(parseClipBody({ ...w, filename: `${'é'.repeat(118)}.mp4` }).filename, `${'é'.repeat(118)}.mp4`);
  });

  test('a lone surrogate in out_dir, filename or label → 400 naming the field (was written to a mangled path)', () => {
    const w = { start_pts_ns: 1, stop_pts_ns: 2 };
    http400(() => parseClipBody({ ...w, out_dir: 'a\ud800' }), 'out_dir');
    http400(() => parseClipBody({ ...w, filename: '\udc00.mp4' }), 'filename');
    http400(() => parseClipBody({ ...w, label: 'x\ud83d' }), 'label');
    assert.equal(parseClipBody({ ...w, label: '🎥 door', filename: '😀.mp4' }).filename, '😀.mp4');
  });

  describe('the HTTP server', () => {
    let server: Awaited<ReturnType<typeof createHttpApp>>;
    let url: string;
    let port: number;
    before(async () => {
      server = await createHttpApp({ authToken: 'secret-token-1234', log: silentLogger, isPublic: (p) => p === '/health' });
      route(server, { method: 'GET', url: '/health', handler: (c) => c.json(200, { ok: true }) });
      route(server, { method: 'GET', url: '/', handler: (c) => c.json(200, { ok: true, page: true }) });
      url = await listen(server, 0, '127.0.0.1');
      port = Number(new URL(url).port);
    });
    after(async () => {
      closeClientAgent();
      server.server.closeAllConnections();
      await server.close();
    });

    test('a target starting with // is a path, not a host: //x/health is not the public /health, // is not a 400', async () => {
      const health = await send(url, { path: '//x/health' });
      assert.equal(health.status, 401, 'not the public /health');
      const auth = { authorization: 'Bearer secret-token-1234' };
      assert.equal((await send(url, { path: '//x/health', headers: auth })).status, 404);
      // The router folds empty segments, so // is / (it was "url: malformed request target").
      const root = await send(url, { path: '//', headers: auth });
      assert.equal(root.status, 200, root.text);
      assert.deepEqual(root.json, { ok: true, page: true });
      assert.equal((await send(url, { path: '/health' })).status, 200);
    });

    test("a missing Host and an unknown Expect get JSON errors (Node's own answers had no body)", async () => {
      const noHost = parseResponses((await rawExchange(port, [Buffer.from('GET /health HTTP/1.1\r\n\r\n')])).bytes);
      assert.equal(noHost[0].status, 400);
      assert.match(JSON.parse(noHost[0].body.toString()).message as string, /^host:/);
      const expect = parseResponses((await rawExchange(port, [Buffer.from('GET /health HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n')])).bytes);
      assert.equal(expect[0].status, 417);
      assert.match(JSON.parse(expect[0].body.toString()).message as string, /^expect:/);
      const big = parseResponses((await rawExchange(port, [Buffer.from(`GET /health HTTP/1.1\r\nHost: x\r\nX: ${'v'.repeat(20_000)}\r\n\r\n`)])).bytes);
      assert.equal(big[0].status, 431);
      assert.match(JSON.parse(big[0].body.toString()).message as string, /^headers:/);
      // HTTP/1.0 needs no Host.
      assert.equal(parseResponses((await rawExchange(port, [Buffer.from('GET /health HTTP/1.0\r\n\r\n')])).bytes)[0].status, 200);
    });
  });

  test('HEAD /events and HEAD /live.mp4 answer at once (they held an empty stream open forever)', async () => {
    const tmp = tempDir('segrec-reg-');
    const p = await startTestProducer(join(tmp.dir, 'data'), { segmentSeconds: 1 });
    try {
      await waitFor('a sealed segment', async () => (await listSegments(p.url)).segments.some((s) => s.sealed));
      for (const path of ['/events', '/live.mp4']) {
        const a = await send(p.url, { method: 'HEAD', path, timeoutMs: 5000 });
        assert.equal(a.status, 200, path);
        assert.equal(a.bytes.length, 0, path);
      }
    } finally {
      closeClientAgent();
      await p.close();
      tmp.cleanup();
    }
  });

  test("the Recorder refuses job ids that cannot name the job's URL (`..` polled `/`; a lone surrogate threw URIError)", async (t) => {
    let id = '..';
    const srv = await startScriptedServer((req) => (req.method === 'POST'
      ? { status: 202, body: { ok: true, clip_id: id, status: 'queued' } }
      : { status: 200, body: { ok: true, status: 'done', path: '/elsewhere.mp4' } }));
    t.after(() => srv.close());
    const rec = new Recorder({ producerBaseUrl: srv.url, maxWaitMs: 2000, pollIntervalMs: 10 });
    for (id of ['..', '.', 'clip-\ud800']) {
      await assert.rejects(rec.requestClip({ startPtsNs: 1e9, stopPtsNs: 2e9 }), (e: unknown) => {
        assert.ok(e instanceof ClipHttpError, String(e));
        assert.match(e.message, /unusable clip id/);
        return true;
      });
    }
    assert.ok(srv.requests.every((r) => r.method === 'POST'), 'no GET was sent');
  });

  test('the Recorder does not follow redirects (a 303 made POST /clip a GET of another resource)', async (t) => {
    const srv = await startScriptedServer((req) => (req.path === '/clip'
      ? { status: 303, headers: { location: '/elsewhere' } }
      : { status: 202, body: { ok: true, clip_id: 'clip-0000000000000003', status: 'done' } }));
    t.after(() => srv.close());
    const rec = new Recorder({ producerBaseUrl: srv.url, maxWaitMs: 2000, pollIntervalMs: 10 });
    await assert.rejects(rec.requestClip({ startPtsNs: 1e9, stopPtsNs: 2e9 }), (e: unknown) => {
      assert.ok(e instanceof ClipHttpError, String(e));
      assert.equal(e.status, 303);
      assert.match(e.message, /redirect to \/elsewhere \(not followed\)/);
      return true;
    });
    assert.deepEqual(srv.requests.map((r) => `${r.method} ${r.path}`), ['POST /clip']);
  });
});
