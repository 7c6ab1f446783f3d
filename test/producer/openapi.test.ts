// The wire contract as served (issue 10): /openapi.json is an OpenAPI 3.1 document generated from the
// schemas that validate requests, it lists the seed's routes and their per-camera twins, and real
// answers of a real producer — 200s, 202s and error bodies — validate against the schemas it documents
// for their path, method and status. Every error body carries a stable `code`, and the seed's Recorder
// exposes it on its ClipError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { tempDir } from '../helpers/media.js';
import { listSegments, startTestProducer, waitFor } from '../helpers/producer.js';
import { Recorder } from '../../src/record/recorder.js';
import { ClipHttpError } from '../../src/record/errors.js';
import { ERROR_CODES } from '../../src/protocol/errors.js';

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
  components?: Record<string, unknown>;
}

const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

test('GET /openapi.json documents the routes, and real answers validate against it', async (t) => {
  const tmp = tempDir();
  const p = await startTestProducer(tmp.dir, { segmentSeconds: 1 });
  try {
    const doc = await (await fetch(`${p.url}/openapi.json`)).json() as OpenApiDoc;
    assert.equal(doc.openapi, '3.1.0');
    for (const [path, method] of [['/health', 'get'], ['/force_rotate', 'post'], ['/segments', 'get'], ['/clip', 'post'], ['/clip/{id}', 'get'],
      ['/clips', 'get'], ['/clip/{id}/file', 'get'], ['/cameras', 'get'], ['/cameras/{camera}/clip', 'post'], ['/cameras/{camera}/clip/{id}', 'get'],
      ['/cameras/{camera}/health', 'get'], ['/metrics', 'get'], ['/config/reload', 'post']]) {
      assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
    }
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addSchema(doc, 'openapi');
    let checked = 0;
    /** Validates a real answer against the documented schema of its path, method and status. */
    const conforms = (path: string, method: string, status: number, body: unknown) => {
      const res = doc.paths[path]?.[method]?.responses?.[String(status)];
      assert.ok(res, `${method.toUpperCase()} ${path} documents status ${status}`);
      const ref = `openapi#/paths/${pointer(path)}/${method}/responses/${status}/content/${pointer('application/json')}/schema`;
      const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
      assert.ok(validate(body), `${method.toUpperCase()} ${path} ${status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 400)}`);
      checked++;
    };
    const call = async (method: string, path: string, docPath: string, body?: unknown) => {
      const r = await fetch(`${p.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const json = await r.json() as Record<string, unknown>;
      conforms(docPath, method.toLowerCase(), r.status, json);
      return { status: r.status, json };
    };

    // The check can fail: answers that break the documented shape are refused.
    assert.throws(() => conforms('/health', 'get', 200, { ok: true, ts_ms: 'now' }), /must/);
    assert.throws(() => conforms('/clip', 'post', 400, { ok: false, message: 'x', code: 'NOPE' }), /must/);
    const segs = await waitFor('2 sealed segments', async () => {
      const s = (await listSegments(p.url)).segments.filter((x) => x.sealed);
      return s.length >= 2 ? s : null;
    });
    await t.test('200 and 202 answers', async () => {
      await call('GET', '/health', '/health');
      await call('GET', '/cameras/default/health', '/cameras/{camera}/health');
      await call('GET', '/segments', '/segments');
      await call('GET', '/cameras', '/cameras');
      const accepted = await call('POST', '/clip', '/clip', { start_pts_ns: segs[0].start_pts_ns, stop_pts_ns: segs[0].start_pts_ns + 5e8 });
      assert.equal(accepted.status, 202);
      const id = accepted.json.clip_id as string;
      const done = await call('GET', `/clip/${id}?wait_ms=20000`, '/clip/{id}');
      assert.equal((done.json.clip as { status: string }).status, 'done');
      await call('GET', `/cameras/default/clip/${id}`, '/cameras/{camera}/clip/{id}');
      const all = await call('GET', '/clips', '/clips');
      assert.deepEqual((all.json.clips as Array<{ clip_id: string; camera: string }>).map((c) => [c.clip_id, c.camera]), [[id, 'default']]);
      await call('POST', '/force_rotate', '/force_rotate', {});
    });
    await t.test('error answers carry a stable code and match the documented error body', async () => {
      const cases: Array<[string, string, string, unknown, number, string]> = [
        ['POST', '/clip', '/clip', { start_pts_ns: 'abc', stop_pts_ns: 5 }, 400, 'INVALID_FIELD'],
        ['POST', '/clip', '/clip', { start_pts_ns: 1, stop_pts_ns: 5, bogus: 1 }, 400, 'INVALID_FIELD'],
        ['POST', '/clip', '/clip', { start_pts_ns: 1, stop_pts_ns: 5, out_dir: '/etc' }, 400, 'OUT_OF_ROOT'],
        ['POST', '/clip', '/clip', { start_epoch_ms: 1000, stop_epoch_ms: 2000 }, 409, 'NO_FOOTAGE'],
        ['GET', '/clip/clip-0000000000009999', '/clip/{id}', undefined, 404, 'NOT_FOUND'],
        ['GET', '/segments?limit=abc', '/segments', undefined, 400, 'INVALID_FIELD'],
        ['GET', '/clips?camera=nope', '/clips', undefined, 404, 'NOT_FOUND'],
      ];
      for (const [method, path, docPath, body, status, code] of cases) {
        const r = await call(method, path, docPath, body);
        assert.deepEqual([r.status, r.json.code], [status, code], `${method} ${path}: ${JSON.stringify(r.json)}`);
        assert.ok((ERROR_CODES as readonly string[]).includes(r.json.code as string));
      }
      const wrong = await fetch(`${p.url}/health`, { method: 'DELETE' });
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.get('allow'), 'GET, HEAD');
      assert.equal(((await wrong.json()) as { code: string }).code, 'METHOD_NOT_ALLOWED');
    });
    await t.test("the seed's Recorder exposes the producer's code on its ClipError", async () => {
      const rec = new Recorder({ producerBaseUrl: p.url, maxWaitMs: 5000, pollIntervalMs: 20 });
      const e = await rec.requestClip({ startMs: 1000, stopMs: 2000 }).then(() => null, (x: unknown) => x);
      assert.ok(e instanceof ClipHttpError, String(e));
      assert.deepEqual([e.status, e.code], [409, 'NO_FOOTAGE']);
    });
    assert.ok(checked >= 16, `${checked} answers checked against the document`);
  } finally {
    await p.close();
    tmp.cleanup();
  }
});
