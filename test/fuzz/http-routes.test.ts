// Property-based tests (fast-check) of every HTTP route of a real producer, with random and adversarial
// JSON bodies and query strings. Every answer is a 4xx with {ok:false, message} (a 400 naming the field),
// or a 2xx that is correct for the input; never a 5xx, never a crash, never a file outside the clip roots.
// Each POST /clip body is judged by an independent oracle of the wire contract (DESIGN.md §4).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { tempDir } from '../helpers/media.js';
import { listSegments, startTestProducer, waitFor, type SegmentWire } from '../helpers/producer.js';
import { WEB_DIR } from '../../src/producer/http/routes-web.js';
import {
  anyValueToken, FIXTURE_NAMES, routesFor, filenameArb, ident, KEYS, labelArb, MAX_BODY, nested, NO_OVERLAP, isNoFootage, CLIP_ID, numberToken, oracleClip, outDirArb, given, exactPts, PTS_LIMIT,
} from './clip-oracle.js';
import {
  assertNamesField, assertPrototypeClean, checkAnswerShape, checkProperty, closeClientAgent, newPaths, send, show,
  snapshotTree, trackProcessFaults, type Answer,
} from './support.js';

describe('fuzz: every HTTP route of a real producer', () => {
  const tmp = tempDir('segrec-fuzz-');
  const sandbox = tmp.dir;
  const data = join(sandbox, 'data');
  const outside = join(sandbox, 'outside');
  const root1 = join(data, 'clips');
  const root2 = join(sandbox, 'roots', 'second');
  let p: Awaited<ReturnType<typeof startTestProducer>>;
  let segs: Array<SegmentWire & { start_epoch_ms: number; stop_epoch_ms: number }>;
  let realRoots: string[];
  let baseline: Map<string, string>;
  const faults = trackProcessFaults();
  /** Paths outside the roots that some generated out_dir names, with whether they existed before. */
  const outsideCandidates = new Map<string, boolean>();
  const acceptedJobs: Array<{ id: string; body: string }> = [];
  let doneClip: { id: string; path: string; size: number } | null = null;
  let clipsMade = 0;

  const snapshot = () => snapshotTree(sandbox, [root1, root2, join(data, 'segments')]);
  const insideRoots = (abs: string) => realRoots.some((r) => {
    const rel = relative(r, abs);
    return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
  });

  before(async () => {
    mkdirSync(outside);
    mkdirSync(root2, { recursive: true });
    p = await startTestProducer(data, { segmentSeconds: 1, clipRoots: [root1, root2] });
    segs = await waitFor('3 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 3 ? (s as typeof segs) : null;
    });
    realRoots = [realpathSync(root1), realpathSync(root2)];
    // Traps in and around the clip roots.
    symlinkSync(outside, join(root1, 'sneaky'));
    symlinkSync(join(outside, 'not-yet'), join(root1, 'dangle'));
    symlinkSync('loop', join(root1, 'loop'));
    writeFileSync(join(root1, 'afile'), 'not a directory');
    symlinkSync('../..', join(root1, 'rel-up'));
    symlinkSync(outside, join(root2, 'outlink'));
    symlinkSync(root1, join(outside, 'inner-link'));
    baseline = snapshot();
  });

  after(async () => {
    await p?.close();
    closeClientAgent();
    faults.dispose();
    tmp.cleanup();
  });

  /** After every run: nothing new outside the clip roots, no process faults, no internal errors logged. */
  // Each violation is reported once, by the run that caused it (not again by every later run).
  let logMark = 0;
  function checkInvariants(what: string): void {
    const now = snapshot();
    const added = newPaths(baseline, now).filter((x) => !/^data\/index\.sqlite/.test(x));
    baseline = now;
    assert.deepEqual(added, [], `${what}: files appeared outside the clip roots`);
    for (const [path, existed] of outsideCandidates) {
      if (!existed && lexists(path)) {
        outsideCandidates.set(path, true);
        assert.fail(`${what}: ${path} (outside the roots) was created`);
      }
    }
    const newFaults = faults.faults.splice(0);
    assert.deepEqual(newFaults, [], `${what}: process faults`);
    const internal = p.logs.slice(logMark).filter((l) => /request failed|internal error/.test(l));
    logMark = p.logs.length;
    assert.deepEqual(internal, [], `${what}: internal errors logged`);
    assertPrototypeClean();
  }

  async function healthStillAnswers(): Promise<void> {
    const h = await send(p.url, { path: '/health', timeoutMs: 5000 });
    assert.equal(h.status, 200);
    assert.equal((h.json as { ok: boolean }).ok, true);
  }

  const footageWindow = () => fc.tuple(fc.integer({ min: 0, max: segs.length - 1 }), fc.integer({ min: 0, max: 900 }), fc.integer({ min: 1, max: 1500 }))
    .map(([i, offMs, lenMs]) => {
      const start = segs[i].start_pts_ns + offMs * 1e6;
      return { start, stop: Math.min(start + lenMs * 1e6, segs[segs.length - 1].stop_pts_ns) };
    }).filter((w) => w.stop > w.start);

  /** A JSON-ish body: [keyText, valueText] pairs (keys may repeat), plus framing variants. */
  /** Body texts; `latin1` ones carry raw bytes (not valid UTF-8) one char per byte. */
  function clipBodyArb(): fc.Arbitrary<{ body: string; encoding: 'utf8' | 'latin1' }> {
    const roots = { sandbox, outside, root1, root2 };
    const realWindow = footageWindow();
    const ptsTok = fc.oneof({ weight: 3, arbitrary: numberToken }, { weight: 1, arbitrary: fc.constantFrom('__REAL_START__', '__REAL_STOP__') });
    const keyArb = fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom(...KEYS) },
      { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'START_PTS_NS', 'start_pts_ns ', 'label\u0000', '', 'k'.repeat(100), 'ok', 'clip_id', 'toString', 'hasOwnProperty') },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
    );
    const valueFor = (k: string): fc.Arbitrary<string> => {
      switch (k) {
        case 'start_pts_ns': case 'stop_pts_ns': case 'start_epoch_ms': case 'stop_epoch_ms': return ptsTok;
        case 'label': return fc.oneof({ weight: 4, arbitrary: labelArb.map((s) => JSON.stringify(s)) }, { weight: 1, arbitrary: anyValueToken });
        case 'out_dir': return fc.oneof({ weight: 4, arbitrary: outDirArb(roots).map((s) => JSON.stringify(s)) }, { weight: 1, arbitrary: anyValueToken });
        case 'filename': return fc.oneof({ weight: 4, arbitrary: filenameArb.map((s) => JSON.stringify(s)) }, { weight: 1, arbitrary: anyValueToken });
        case 'max_wait_ms': return fc.oneof(numberToken, fc.constantFrom('0', '0', '100', '600000'));
        default: return anyValueToken;
      }
    };
    const pair = keyArb.chain((k) => valueFor(k).map((v) => [k, v] as [string, string]));
    // Keys are mostly proper JSON strings; sometimes single-quoted or bare (malformed JSON).
    const keyText = (k: string, style: number) => (style === 0 ? `'${k}'` : style === 1 ? k : JSON.stringify(k));
    const objectBody = fc.record({
      pairs: fc.array(pair, { maxLength: 6 }),
      styles: fc.array(fc.nat(40), { minLength: 6, maxLength: 6 }),
      w: realWindow,
      ws: fc.constantFrom('', '', ' ', '\n\t'),
    }).map(({ pairs, styles, w, ws }) => {
      const body = pairs.map(([k, v], i) => `${keyText(k, styles[i])}${ws}:${ws}${v.replace('__REAL_START__', String(w.start)).replace('__REAL_STOP__', String(w.stop))}`);
      return `{${ws}${body.join(`,${ws}`)}${ws}}`;
    });
    // Mostly-valid bodies, so that plenty of requests reach the engine and the filesystem.
    const nice = fc.record({
      w: realWindow,
      epoch: fc.boolean(),
      label: sometimes(labelArb, 1),
      out_dir: sometimes(fc.oneof(outDirArb(roots), fc.array(ident, { minLength: 1, maxLength: 3 }).map((x) => x.join('/'))), 1),
      filename: sometimes(fc.oneof(filenameArb, ident.map((x) => `${x}.mp4`)), 1),
      max_wait_ms: sometimes(fc.constantFrom(0, 1000), 1),
      extra: sometimes(fc.tuple(keyArb, anyValueToken), 7),
    }).map((r) => {
      const sFor = (pts: number) => { const s = segs.find((x) => x.start_pts_ns <= pts && pts <= x.stop_pts_ns) ?? segs[0]; return s.start_epoch_ms + (pts - s.start_pts_ns) / 1e6; };
      const o: Record<string, unknown> = r.epoch ? { start_epoch_ms: sFor(r.w.start), stop_epoch_ms: sFor(r.w.stop) } : { start_pts_ns: r.w.start, stop_pts_ns: r.w.stop };
      for (const k of ['label', 'out_dir', 'filename', 'max_wait_ms'] as const) if (r[k] !== undefined) o[k] = r[k];
      let text = JSON.stringify(o);
      if (r.extra) text = `${text.slice(0, -1)},${JSON.stringify(r.extra[0])}:${r.extra[1]}}`;
      return text;
    });
    const special = fc.constantFrom(
      '', ' ', '\n', 'null', '[]', '"text"', '0', 'true', '{', '}', '{"start_pts_ns": 1,', '\ufeff{}', '{}', '[{}]',
      nested(10_000, 'array'), nested(10_000, 'object'), `{"label":${nested(10_000, 'array')}}`, `{"start_pts_ns":${nested(10_000, 'object')}}`,
      '{"__proto__":{"polluted":1},"start_pts_ns":1,"stop_pts_ns":2}', '{"constructor":{"prototype":{"polluted":1}}}',
      '{"start_pts_ns":1,"start_pts_ns":"x","stop_pts_ns":5}', '{"start_pts_ns":"x","start_pts_ns":1,"stop_pts_ns":5}',
      `{"label":"${'x'.repeat(1 << 20)}"}`, `{"start_pts_ns":1,"stop_pts_ns":2}${' '.repeat(MAX_BODY)}`, `{"label":"${'x'.repeat(MAX_BODY - 12)}"}`,
      '{"start_pts_ns":1,"stop_pts_ns":2}garbage', '{"a":1}{"b":2}', '{"start_pts_ns":1 "stop_pts_ns":2}',
    );
    const text = fc.oneof(
      { weight: 6, arbitrary: objectBody },
      { weight: 9, arbitrary: nice },
      { weight: 2, arbitrary: special },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
      { weight: 1, arbitrary: objectBody.chain((s) => fc.integer({ min: 0, max: s.length }).map((n) => s.slice(0, n))) },
    );
    const latin1 = (t: string) => Buffer.from(t, 'utf8').toString('latin1');
    return fc.oneof(
      { weight: 8, arbitrary: text.map((t) => ({ body: t, encoding: 'utf8' as const })) },
      // Non-UTF-8 bytes inside a string value, and raw byte soup.
      { weight: 1, arbitrary: nice.map((t) => ({ body: `${latin1(t.slice(0, -1))},"label":"\xff\xfe\xc3"}`, encoding: 'latin1' as const })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((u) => ({ body: Buffer.from(u).toString('latin1'), encoding: 'latin1' as const })) },
    );
  }

  const contentTypes = fc.constantFrom<string | undefined>(undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain',
    'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'video/mp4', '*/*', '');

  test('POST /clip: random and adversarial bodies → a correct 202/409 or a 4xx naming the field; nothing written outside the roots', async (t) => {
    const stats = new Map<string, number>();
    const count = (k: string) => stats.set(k, (stats.get(k) ?? 0) + 1);
    const footageEnd = segs[segs.length - 1].stop_pts_ns;
    await checkProperty('POST /clip bodies', fc.asyncProperty(clipBodyArb(), contentTypes, fc.boolean(), async ({ body, encoding }, ctype, chunked) => {
      const text = Buffer.from(body, encoding);
      const exp = oracleClip(text);
      const obj = exp.kind === 'valid' ? exp.obj : undefined;
      // Note where a generated out_dir would land if it were taken literally, to check it is never created.
      let outDirPlain: string | undefined;
      try {
        const j = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
        const od = j && typeof j === 'object' ? j.out_dir : undefined;
        if (typeof od === 'string' && od.trim() !== '' && !od.includes('\0') && Buffer.byteLength(od) < 4000) {
          // Where it lands once symlinks are followed (`outside/inner-link/x` is inside root1).
          const cand = followLinks(isAbsolute(od) ? resolve(od) : resolve(realRoots[0], od));
          if (!insideRoots(cand) && !outsideCandidates.has(cand)) outsideCandidates.set(cand, lexists(cand));
          if (/^[A-Za-z0-9_-]{1,12}(\/[A-Za-z0-9_-]{1,12}){0,2}$/.test(od) && !od.split('/').some((x) => FIXTURE_NAMES.includes(x))) outDirPlain = od;
        }
      } catch { /* not JSON */ }
      const headers: Record<string, string> = {};
      if (ctype !== undefined) headers['content-type'] = ctype;
      const what = `POST /clip ${show(text.toString('utf8'))}`;
      const a = await send(p.url, { method: 'POST', path: '/clip', body: text, headers, chunked });
      const msg = checkAnswerShape(a, 'POST', what);
      count(a.status !== 400 ? String(a.status) : / unknown field /.test(msg!) ? '400 unknown field' : `400 ${/^([^:]{0,20})/.exec(msg!)![1]}`);
      if (exp.kind === '413') {
        assert.equal(a.status, 413, `${what}: ${a.status} ${msg}`);
        assert.match(msg!, /^body:/);
      } else if (exp.kind === '400') {
        assert.equal(a.status, 400, `${what}: expected 400 naming ${show([...exp.fields])}, got ${a.status} ${a.text.slice(0, 200)}`);
        assertNamesField(msg!, exp.fields, what);
      } else if (a.status === 202) {
        await checkAccepted(a, obj!, exp.mode, exp.pts, text.toString('utf8'), footageEnd, outDirPlain, what);
      } else if (a.status === 409) {
        assert.ok(isNoFootage(msg), `${what}: 409 says no footage (${msg})`);
        if (exp.mode === 'pts') {
          const s = await send(p.url, { path: `/segments?from_pts_ns=${exp.pts!.start}&to_pts_ns=${exp.pts!.stop}` });
          assert.deepEqual((s.json as { segments: unknown[] }).segments, [], `${what}: 409 although segments overlap`);
        }
      } else if (a.status === 400 && msg!.startsWith('out_dir:')) {
        assert.ok(given(obj!.out_dir), what);
        assert.equal(outDirPlain, undefined, `${what}: a plain relative out_dir must be accepted (${msg})`);
      } else if (a.status === 400 && exp.mode === 'epoch' && /^stop_epoch_ms: (window maps to nothing|too far)/.test(msg!)) {
        // A valid epoch window too far ahead to map onto the producer clock, or shorter than 1 ns once mapped
        // (one that ends before the clock begins is a 409).
      } else {
        assert.fail(`${what}: valid body answered ${a.status} ${a.text.slice(0, 300)}`);
      }
      checkInvariants(what);
    }), 300);
    t.diagnostic(`answers: ${[...stats].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ×${n}`).join(', ')}; clips made: ${clipsMade}`);
    await healthStillAnswers();
    // Every accepted job that finished wrote inside a clip root.
    for (const j of acceptedJobs) {
      const g = await send(p.url, { path: `/clip/${j.id}` });
      assert.equal(g.status, 200);
      const c = (g.json as { clip: { status: string; path: string | null } }).clip;
      if (c.status === 'done') assert.ok(c.path && insideRoots(c.path), `${j.body}: clip path ${c.path} inside the roots`);
    }
    checkInvariants('after all POST /clip runs');
  });

  async function checkAccepted(a: Answer, obj: Record<string, unknown>, mode: 'pts' | 'epoch', pts: { start: bigint; stop: bigint } | undefined, body: string, footageEnd: number,
    outDirPlain: string | undefined, what: string): Promise<void> {
    const j = a.json as { ok: boolean; clip_id: string; status: string };
    assert.equal(j.ok, true, what);
    assert.match(j.clip_id, CLIP_ID, what);
    assert.equal(j.status, 'queued', what);
    acceptedJobs.push({ id: j.clip_id, body: body.slice(0, 300) });
    // A PTS window on recorded footage runs at once and must be made; an epoch window with max_wait_ms 0
    // runs at once too, but may overlap nothing once mapped.
    const mustBeDone = mode === 'pts' && pts!.stop <= BigInt(footageEnd);
    const runsNow = mustBeDone || obj.max_wait_ms === 0;
    const g = await send(p.url, { path: `/clip/${j.clip_id}?wait_ms=${runsNow ? 15000 : 0}`, timeoutMs: 20_000 });
    assert.equal(g.status, 200, what);
    const c = (g.json as { clip: Record<string, unknown> }).clip;
    const same = (x: unknown, y: unknown, field: string) => assert.ok(x === y, `${what}: ${field} ${show(x)} ≠ ${show(y)}`);
    same(c.clip_id, j.clip_id, 'clip_id');
    same(c.mode, mode, 'mode');
    same(c.label, obj.label ?? null, 'label');
    if (mode === 'pts') {
      // The answer carries the PTS as JSON integers with all their digits (read exactly from the text).
      same(exactPts(g.text, 'start_pts_ns', c.start_pts_ns), pts!.start, 'start_pts_ns');
      same(exactPts(g.text, 'stop_pts_ns', c.stop_pts_ns), pts!.stop, 'stop_pts_ns');
    } else {
      same(c.start_epoch_ms, obj.start_epoch_ms, 'start_epoch_ms');
      same(c.stop_epoch_ms, obj.stop_epoch_ms, 'stop_epoch_ms');
    }
    if (!runsNow) return;
    // A valid window can still hold no frame at all (shorter than a frame interval, or mapped before the first).
    if (c.status === 'error' && /no video frame in the requested window/.test(String(c.error))) return;
    if (!mustBeDone && c.status === 'error') {
      assert.ok(String(c.error).startsWith(NO_OVERLAP), `${what}: an epoch job may only fail for lack of footage (${String(c.error)})`);
      return;
    }
    // The footage is there: the clip must be made, where it was asked to be, under the name it was given.
    assert.equal(c.status, 'done', `${what}: job over recorded footage ended ${String(c.status)}: ${String(c.error)}`);
    const path = c.path as string;
    assert.ok(insideRoots(path), `${what}: ${path} inside the roots`);
    assert.ok(lstatSync(path).isFile(), what);
    assert.ok(existsSync(path.replace(/\.mp4$/i, '') + '.json'), `${what}: sidecar`);
    if (typeof obj.filename === 'string') {
      const ext = obj.filename.slice(-4);
      const stem = obj.filename.slice(0, -4);
      const name = basename(path);
      assert.ok(name === obj.filename || (name.startsWith(`${stem}-`) && name.endsWith(ext)), `${what}: file name ${name}`);
    } else {
      assert.match(basename(path), /^clip-\d{16}(_[A-Za-z0-9._-]+)?\.mp4$/, what);
    }
    if (outDirPlain !== undefined) assert.equal(dirname(path), join(realRoots[0], outDirPlain), what);
    else if (!given(obj.out_dir)) assert.equal(dirname(path), realRoots[0], what);
    clipsMade++;
    if (!doneClip) doneClip = { id: c.clip_id as string, path, size: lstatSync(path).size };
  }

  test('GET routes: random and adversarial query strings and ids → a correct 200 or a 4xx naming the parameter', async () => {
    const known = await ensureDoneClip();
    const qKey = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('from_pts_ns', 'to_pts_ns', 'limit', 'status', 'wait_ms', 'access_token') },
      { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'junk', '', 'LIMIT', 'limit[]', 'limit ', 'wait_ms%00') },
    );
    const qVal = fc.oneof(
      fc.integer({ min: -10, max: 200_000 }).map(String),
      fc.constantFrom('-0', '0', '00012', '000000000000000000005', '1e3', '0x10', ' 5', '5 ', '+5', '', 'NaN', 'Infinity', '9'.repeat(17), '9'.repeat(18),
        '9007199254740991', '9007199254740993', '-9007199254740993', '1.5', '3600000', '3600001', '1000', '1001', 'queued', 'running', 'done', 'error',
        'DONE', 'done\u0000', '٣', '%00', '\u202e', '😀', '\ud800', 'x'.repeat(5000)),
      fc.string({ unit: 'binary', maxLength: 8 }),
    );
    const enc = (s: string) => { try { return encodeURIComponent(s); } catch { return s.replace(/[^\x21-\x7e]/g, '%FF'); } };
    const rawBits = fc.constantFrom('&', '&&', '=', '==', '%', '%2', '%ZZ', '%E0%A4%A', '+', '#frag', '?', '%26', '%3D', ';', '\xe9', '\xff');
    const query = fc.array(fc.oneof(
      { weight: 5, arbitrary: fc.tuple(qKey, qVal).map(([k, v]) => `${enc(k)}=${enc(v)}`) },
      { weight: 1, arbitrary: rawBits },
    ), { maxLength: 5 }).map((parts) => (parts.length ? `?${parts.join('&')}` : ''));
    const idArb = fc.oneof(
      fc.constant(known.id), fc.constant(known.id), fc.constant('clip-0000000099999999'), fc.constant('clip-1'),
      fc.constantFrom('..', '.', '%2e%2e', '..%2F..%2Fetc%2Fpasswd', '%2F', 'clip-0000000000000001%00', `${known.id}%20`, encodeURIComponent(`${known.id}/`),
        '%ZZ', '%E0%A4%A', 'x'.repeat(3000), '\xe9', encodeURIComponent('😀'), '%ED%A0%80'),
      fc.string({ unit: 'binary', maxLength: 20 }).map(enc),
    );
    const webFile = fc.oneof(fc.constantFrom('app.js', 'style.css', 'index.html', '..', '.', '%2e%2e', '%2e%2e%2fpackage.json', '..%2F..%2Fpackage.json',
      '.env', 'index.html%00', 'index.html%2500', 'INDEX.HTML', 'nope.js', '%2Fetc%2Fpasswd', '\xe9'), fc.string({ unit: 'binary', maxLength: 12 }).map(enc));
    const routeArb = fc.oneof(
      fc.tuple(fc.constant('segments'), query).map(([, q]) => `/segments${q}`),
      fc.tuple(fc.constant('clips'), query).map(([, q]) => `/clips${q}`),
      fc.tuple(idArb, query).map(([id, q]) => `/clip/${id}${q}`),
      fc.tuple(idArb, query).map(([id, q]) => `/clip/${id}/file${q}`),
      query.map((q) => `/health${q}`),
      query.map((q) => `/metrics${q}`),
      query.map((q) => `/events${q}`),
      query.map((q) => `/${q}`),
      fc.tuple(webFile, query).map(([f, q]) => `/web/${f}${q}`),
    );
    await checkProperty('GET queries', fc.asyncProperty(routeArb, fc.boolean(), async (path, head0) => {
      // (Node's parser refuses a non-ASCII target with a 400 that has a body, which a HEAD client cannot frame.)
      const head = head0 && !/[^\x21-\x7e]/.test(path);
      const method = head ? 'HEAD' : 'GET';
      const what = `${method} ${show(path, 200)}`;
      const streaming = /^\/events(\?|$)/.test(path);
      const a = await send(p.url, { method, path, headOnly: streaming, timeoutMs: 10_000 });
      const msg = checkAnswerShape(a, method, what);
      const u = new URL(`http://x${path}`);
      const q = u.searchParams;
      const pathname = u.pathname;
      const segsOf = pathname.split('/').filter(Boolean);
      if (a.status === 431 || (a.status === 400 && msg === 'request: malformed HTTP')) {
        // Node's parser refuses an oversized request line and bytes a request target may not carry.
        assert.ok(path.length > 8000 || /[^\x21-\x7e]/.test(path), `${what}: only an oversized or non-ASCII request line may be refused as malformed`);
        return;
      }
      if (pathname === '/segments') {
        const fields = badInts(q, [['limit', 1, 100_000]]);
        for (const k of ['from_pts_ns', 'to_pts_ns']) if (badPts(q, k)) fields.sure.add(k);
        const recent = (q.get('from_pts_ns') ?? '') === '' && (q.get('to_pts_ns') ?? '') === '';
        const from = recent ? undefined : ptsOr(q, 'from_pts_ns', 0n);
        const to = ptsOr(q, 'to_pts_ns', PTS_LIMIT);
        if (fields.sure.size === 0 && from !== undefined && to !== undefined && to <= from) fields.sure.add('to_pts_ns');
        expectQueryOutcome(a, msg, fields, what);
        if (a.status === 200 && !head) {
          const b = a.json as { ok: boolean; segments: SegmentWire[]; truncated: boolean };
          assert.equal(b.ok, true);
          for (const s of b.segments) assert.ok((from === undefined || BigInt(s.stop_pts_ns) > from) && BigInt(s.start_pts_ns) < to!, `${what}: segment ${s.id} overlaps the window`);
          const limit = intOr(q, 'limit', 20_000)!;
          assert.ok(b.segments.length <= limit, what);
        }
      } else if (pathname === '/clips') {
        const fields = badInts(q, [['limit', 1, 1000]]);
        const st = q.get('status');
        if (st !== null && !['queued', 'running', 'done', 'error'].includes(st)) fields.sure.add('status');
        expectQueryOutcome(a, msg, fields, what);
        if (a.status === 200 && !head) {
          const b = a.json as { clips: Array<{ status: string }> };
          assert.ok(b.clips.length <= (intOr(q, 'limit', 100) ?? 100), what);
          if (st) for (const c of b.clips) assert.equal(c.status, st, what);
        }
      } else if (segsOf[0] === 'clip' && (segsOf.length === 2 || (segsOf.length === 3 && segsOf[2] === 'file'))) {
        let id: string | null;
        try { id = decodeURIComponent(segsOf[1]); } catch { id = null; }
        if (id !== known.id) {
          assert.equal(a.status, 404, what);
          if (!head) assert.ok(id === null ? /^no route/.test(msg!) : /^clip_id:/.test(msg!), `${what}: ${msg}`);
        } else if (segsOf.length === 2) {
          expectQueryOutcome(a, msg, badInts(q, [['wait_ms', 0, 3_600_000]]), what);
          if (a.status === 200 && !head) assert.equal((a.json as { clip: { clip_id: string } }).clip.clip_id, known.id, what);
        } else {
          assert.equal(a.status, 200, what);
          assert.equal(Number(a.headers['content-length']), known.size, what);
          if (!head) assert.deepEqual(a.bytes, readFileSync(known.path), what);
        }
      } else if (pathname === '/health') {
        assert.equal(a.status, 200, what);
        if (!head) assert.equal((a.json as { ok: boolean }).ok, true, what);
      } else if (pathname === '/metrics') {
        assert.equal(a.status, 200, what);
        assert.match(String(a.headers['content-type']), /^text\/plain/, what);
        if (!head) assert.match(a.text, /^# HELP segrec_/m, what);
      } else if (pathname === '/events') {
        assert.equal(a.status, 200, what);
        assert.match(String(a.headers['content-type']), /^text\/event-stream/, what);
      } else if (pathname === '/' || (segsOf[0] === 'web' && segsOf.length === 2)) {
        let name: string | null = 'index.html';
        if (pathname !== '/') { try { name = decodeURIComponent(segsOf[1]); } catch { name = null; } }
        const servable = name !== null && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) && !name.includes('..') && existsSync(join(WEB_DIR, name));
        if (servable) {
          assert.equal(a.status, 200, what);
          if (!head) assert.deepEqual(a.bytes, readFileSync(join(WEB_DIR, name!)), what);
        } else {
          assert.equal(a.status, 404, `${what}: ${a.status}`);
          if (!head) assert.ok(/^(web|no route)/.test(msg!), `${what}: ${msg}`);
        }
      } else {
        // The URL normalised onto some other path ('/clip/..' is '/', '/clip/.' is '/clip/').
        assert.ok([200, 404, 405].includes(a.status), `${what}: ${a.status}`);
      }
      checkInvariants(what);
    }), 300);
    await healthStillAnswers();
  });

  test('methods and paths: unknown routes → 404, known paths with the wrong method → 405', async () => {
    const word = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('clip', 'clips', 'health', 'segments', 'web', 'live.mp4', 'events', 'force_rotate', 'file', 'index.html',
        'clip-0000000000000001', 'metrics', 'api', 'HEALTH', 'clip%2F', '%2e%2e', '..', '.', 'app.js') },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }).map((s) => encodeURIComponent(s)) },
    );
    const pathArb = fc.tuple(fc.array(word, { maxLength: 4 }), fc.constantFrom('/', '/', '//', '/./'), fc.constantFrom('', '/', '?x=1'))
      .map(([ws, s, tail]) => `/${ws.join(s)}${tail}`);
    const methodArb = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS');
    await checkProperty('methods and paths', fc.asyncProperty(pathArb, methodArb, async (path, method0) => {
      const pathname = new URL(`http://x${path}`).pathname;
      const parts = pathname.split('/').filter(Boolean);
      const matching = routesFor(pathname);
      let method = method0;
      // A real rotation takes a GOP; the force_rotate property covers it.
      if (method === 'POST' && matching.some(([m, pat]) => m === 'POST' && pat === '/force_rotate')) method = 'PUT';
      const allowed = matching.some(([m]) => m === method || (method === 'HEAD' && m === 'GET'));
      const streaming = allowed && parts.length === 1 && (parts[0] === 'events' || parts[0] === 'live.mp4');
      const what = `${method} ${path}`;
      const a = await send(p.url, { method, path, headOnly: streaming, body: method === 'POST' || method === 'PUT' ? '' : undefined });
      const msg = checkAnswerShape(a, method, what);
      if (matching.length === 0) {
        assert.equal(a.status, 404, `${what}: ${a.status}`);
        if (method !== 'HEAD') assert.match(msg!, /^no route/, what);
      } else if (!allowed) {
        assert.equal(a.status, 405, `${what}: ${a.status}`);
        if (method !== 'HEAD') assert.match(msg!, /^method /, what);
      } else {
        assert.notEqual(a.status, 405, what);
      }
      checkInvariants(what);
    }), 300);
    await healthStillAnswers();
  });

  test('GET /clip/{id}/file: random Range headers → 200 whole, 206 exact bytes, or 416', async () => {
    const known = await ensureDoneClip();
    const file = readFileSync(known.path);
    const size = file.length;
    const n = fc.oneof(fc.integer({ min: 0, max: size + 10 }), fc.constantFrom(size - 1, size, 0, 1, 2 ** 53, 2 ** 63), fc.constantFrom('', '00', '-1', '1e3', ' 1'));
    const rangeArb = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(n, n).map(([a, b]) => `bytes=${a}-${b}`) },
      { weight: 1, arbitrary: fc.tuple(n, n, n, n).map(([a, b, c, d]) => `bytes=${a}-${b},${c}-${d}`) },
      { weight: 1, arbitrary: fc.constantFrom('bytes=', 'bytes=-', 'bytes=-0', 'items=0-1', 'bytes = 0-1', ' bytes=0-1 ', 'BYTES=0-1', 'bytes=1-0',
        `bytes=${'9'.repeat(400)}-`, 'bytes=0-1\xe9', 'bytes=\u00ff') },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 20 }) },
    );
    await checkProperty('Range', fc.asyncProperty(rangeArb, fc.boolean(), async (range, head) => {
      const method = head ? 'HEAD' : 'GET';
      const what = `${method} file with range ${show(range)}`;
      const a = await send(p.url, { method, path: `/clip/${known.id}/file`, headers: { range } });
      checkAnswerShape(a, method, what);
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (a.status === 200) {
        assert.equal(Number(a.headers['content-length']), size, what);
        if (!head) assert.deepEqual(a.bytes, file, what);
        // Only a range that is not one well-formed satisfiable byte range may be ignored.
        if (m && m[1] !== '' && Number(m[1]) < size && (m[2] === '' || Number(m[2]) >= Number(m[1]))) assert.fail(`${what}: satisfiable range ignored`);
        if (m && m[1] === '' && m[2] !== '' && Number(m[2]) > 0) assert.fail(`${what}: satisfiable suffix range ignored`);
      } else if (a.status === 206) {
        assert.ok(m, `${what}: 206 for a range that is not one byte range`);
        const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(a.headers['content-range']));
        assert.ok(cr, `${what}: content-range ${String(a.headers['content-range'])}`);
        const [s, e, total] = [Number(cr[1]), Number(cr[2]), Number(cr[3])];
        assert.equal(total, size, what);
        if (m[1] === '') {
          assert.equal(s, Math.max(0, size - Number(m[2])), what);
          assert.equal(e, size - 1, what);
        } else {
          assert.equal(s, Number(m[1]), what);
          assert.equal(e, m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1), what);
        }
        assert.equal(Number(a.headers['content-length']), e - s + 1, what);
        if (!head) assert.deepEqual(a.bytes, file.subarray(s, e + 1), what);
      } else {
        assert.equal(a.status, 416, `${what}: ${a.status}`);
        assert.equal(a.headers['content-range'], `bytes */${size}`, what);
        assert.ok(m, `${what}: 416 for a header that is not one byte range`);
      }
      checkInvariants(what);
    }), 200);
  });

  test('POST /force_rotate: random bodies → 400 naming the body, 413, or a real rotation', async () => {
    const bodyArb = fc.oneof(
      { weight: 5, arbitrary: fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), numberToken, fc.constantFrom('{', '{"a":', '[1,]', "{'a':1}", 'nul', '\ufeff{}', '{"a":1}x')) },
      { weight: 1, arbitrary: fc.constantFrom('', '{}', 'null', '[]', '"x"', '{"__proto__":{"polluted":1}}', nested(10_000, 'array'), '{"a":1,"a":2}') },
      { weight: 1, arbitrary: fc.constantFrom(`"${'x'.repeat(1 << 20)}"`, ' '.repeat(MAX_BODY + 1)) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 32 }).map((u) => Buffer.from(u).toString('latin1')) },
    );
    const rotations: Array<Promise<unknown>> = [];
    await checkProperty('force_rotate bodies', fc.asyncProperty(bodyArb, contentTypes, async (body, ctype) => {
      const buf = Buffer.from(body, 'utf8');
      const what = `POST /force_rotate ${show(body)}`;
      let valid = false;
      const text = buf.toString('utf8');
      if (buf.length <= MAX_BODY) {
        if (text.trim() === '') valid = true;
        else { try { JSON.parse(text); valid = true; } catch { valid = false; } }
      }
      const req = send(p.url, { method: 'POST', path: '/force_rotate', body: buf, headers: ctype ? { 'content-type': ctype } : {}, timeoutMs: 15_000 });
      const check = (a: Answer) => {
        const msg = checkAnswerShape(a, 'POST', what);
        if (buf.length > MAX_BODY) {
          assert.equal(a.status, 413, what);
        } else if (!valid) {
          assert.equal(a.status, 400, what);
          assert.match(msg!, /^body: malformed JSON/, what);
        } else if (a.status === 200) {
          const j = a.json as { ok: boolean; sealed: SegmentWire | null };
          assert.equal(j.ok, true, what);
          if (j.sealed) assert.equal(j.sealed.sealed, true, what);
        } else {
          assert.equal(a.status, 503, `${what}: ${a.status}`);
        }
      };
      // A real rotation waits for the next fragment boundary: collect those and check them together.
      if (valid) rotations.push(req.then(check).then(() => null, (e: unknown) => e));
      else check(await req);
    }), 150);
    for (const e of await Promise.all(rotations)) if (e) throw e;
    checkInvariants('after force_rotate');
    await healthStillAnswers();
  });

  /** A clip that is done (made once here if the POST property has not made one). */
  async function ensureDoneClip(): Promise<{ id: string; path: string; size: number }> {
    if (doneClip) return doneClip;
    const w = { start_pts_ns: segs[0].start_pts_ns + 100_000_000, stop_pts_ns: segs[0].start_pts_ns + 600_000_000 };
    const r = await send(p.url, { method: 'POST', path: '/clip', body: JSON.stringify(w), headers: { 'content-type': 'application/json' } });
    const id = (r.json as { clip_id: string }).clip_id;
    const g = await send(p.url, { path: `/clip/${id}?wait_ms=15000`, timeoutMs: 20_000 });
    const path = (g.json as { clip: { path: string } }).clip.path;
    doneClip = { id, path, size: lstatSync(path).size };
    return doneClip;
  }

});

/** `arb`, or undefined `absentWeight` times as often. */
function sometimes<T>(arb: fc.Arbitrary<T>, absentWeight: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: absentWeight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

/** `p` with the symlinks of its deepest existing ancestor resolved. */
function followLinks(p: string): string {
  let cur = p;
  const rest: string[] = [];
  for (;;) {
    try { return join(realpathSync(cur), ...rest); } catch { /* missing, or a loop */ }
    const up = dirname(cur);
    if (up === cur) return p;
    rest.unshift(basename(cur));
    cur = up;
  }
}

function lexists(p: string): boolean {
  try { lstatSync(p); return true; } catch { return false; }
}

/** Query integers: `sure` = certainly invalid, `maybe` = digit strings the producer may refuse as too long. */
function badInts(q: URLSearchParams, specs: Array<[string, number, number]>): { sure: Set<string>; maybe: Set<string> } {
  const sure = new Set<string>();
  const maybe = new Set<string>();
  for (const [k, min, max] of specs) {
    const v = q.get(k);
    if (v === null || v === '') continue;
    if (!/^-?[0-9]+$/.test(v)) { sure.add(k); continue; }
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) { sure.add(k); continue; }
    if (v.replace(/^-/, '').length > 15) maybe.add(k);
  }
  return { sure, maybe };
}

/** A PTS query value the contract refuses: not a decimal integer, negative (but -0), or past 2^63 − 1. */
function badPts(q: URLSearchParams, k: string): boolean {
  const v = q.get(k);
  if (v === null || v === '') return false;
  if (!/^-?[0-9]+$/.test(v)) return true;
  const n = BigInt(v);
  return n < 0n || n > PTS_LIMIT;
}

function ptsOr(q: URLSearchParams, k: string, dflt: bigint): bigint | undefined {
  const v = q.get(k);
  if (v === null || v === '') return dflt;
  return badPts(q, k) ? undefined : BigInt(v);
}

function intOr(q: URLSearchParams, k: string, dflt: number): number | undefined {
  const v = q.get(k);
  if (v === null || v === '') return dflt;
  return /^-?[0-9]+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : undefined;
}

function expectQueryOutcome(a: Answer, msg: string | undefined, f: { sure: Set<string>; maybe: Set<string> }, what: string): void {
  if (f.sure.size > 0) {
    assert.equal(a.status, 400, `${what}: expected 400 naming ${show([...f.sure])}, got ${a.status}`);
    if (msg !== undefined) assertNamesField(msg, [...f.sure, ...f.maybe], what);
  } else if (a.status === 400) {
    assert.ok(f.maybe.size > 0, `${what}: valid query refused: ${msg}`);
    if (msg !== undefined) assertNamesField(msg, f.maybe, what);
  } else {
    assert.equal(a.status, 200, `${what}: ${a.status}`);
  }
}
