// RecorderConfig shims (cfg object with UPPER_SNAKE keys, SEGREC_ environment) and the Recorder's own
// validation of its config and Timebase.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { recorderConfigFromCfg, recorderConfigFromEnv, validateRecorderConfig } from '../../src/record/config.js';
import { Recorder } from '../../src/record/recorder.js';
import type { RecorderConfig } from '../../src/record/types.js';
import { Timebase } from '../../src/common/timebase.js';

function throwsNaming(fn: () => unknown, key: string) {
  assert.throws(fn, (e: unknown) => e instanceof Error && e.message.includes(key), `expected an error naming ${key}`);
}

describe('recorderConfigFromCfg', () => {
  test('defaults from an empty config', () => {
    assert.deepEqual(recorderConfigFromCfg({}), {
      producerBaseUrl: 'http://127.0.0.1:8765', maxWaitMs: 30000, pollIntervalMs: 250,
    });
  });

  test('reads every key; numbers may be strings', () => {
    const cfg = recorderConfigFromCfg({
      PRODUCER_BASE_URL: 'http://10.0.0.5:9000/',
      CLIP_OUT_DIR: '/data/clips',
      CLIP_LABEL: 'motion',
      CLIP_MAX_WAIT_MS: '12000',
      CLIP_POLL_INTERVAL_MS: 100,
      PREROLL_MS: ' 1500 ',
      POSTROLL_MS: 2500,
      AUTH_TOKEN: 's3cret',
      UNRELATED: 'ignored',
    });
    assert.deepEqual(cfg, {
      producerBaseUrl: 'http://10.0.0.5:9000',
      defaultOutDir: '/data/clips',
      defaultLabel: 'motion',
      maxWaitMs: 12000,
      pollIntervalMs: 100,
      prerollMs: 1500,
      postrollMs: 2500,
      authToken: 's3cret',
    });
  });

  test('derives the base URL from HEALTH_URL, keeping a path prefix', () => {
    assert.equal(recorderConfigFromCfg({ HEALTH_URL: 'http://127.0.0.1:8765/health' }).producerBaseUrl, 'http://127.0.0.1:8765');
    assert.equal(recorderConfigFromCfg({ HEALTH_URL: 'https://cam.example/segrec/health/' }).producerBaseUrl, 'https://cam.example/segrec');
  });

  test('PRODUCER_BASE_URL wins over HEALTH_URL', () => {
    const cfg = recorderConfigFromCfg({ PRODUCER_BASE_URL: 'http://a:1', HEALTH_URL: 'http://b:2/health' });
    assert.equal(cfg.producerBaseUrl, 'http://a:1');
  });

  test('works with a module-like frozen object and treats blank/null values as unset', () => {
    const mod = Object.freeze({ CLIP_LABEL: '', CLIP_MAX_WAIT_MS: null, HEALTH_URL: '  ' });
    assert.deepEqual(recorderConfigFromCfg(mod), { producerBaseUrl: 'http://127.0.0.1:8765', maxWaitMs: 30000, pollIntervalMs: 250 });
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['non-numeric max wait', { CLIP_MAX_WAIT_MS: 'soon' }, 'CLIP_MAX_WAIT_MS'],
    ['zero max wait', { CLIP_MAX_WAIT_MS: 0 }, 'CLIP_MAX_WAIT_MS'],
    ['negative poll interval', { CLIP_POLL_INTERVAL_MS: '-5' }, 'CLIP_POLL_INTERVAL_MS'],
    ['infinite preroll', { PREROLL_MS: 'Infinity' }, 'PREROLL_MS'],
    ['negative postroll', { POSTROLL_MS: -1 }, 'POSTROLL_MS'],
    ['boolean postroll', { POSTROLL_MS: true }, 'POSTROLL_MS'],
    ['bad base URL', { PRODUCER_BASE_URL: 'not a url' }, 'PRODUCER_BASE_URL'],
    ['non-http base URL', { PRODUCER_BASE_URL: 'ftp://x/' }, 'PRODUCER_BASE_URL'],
    ['base URL with query', { PRODUCER_BASE_URL: 'http://x/?a=1' }, 'PRODUCER_BASE_URL'],
    ['health URL not ending in /health', { HEALTH_URL: 'http://x:1/status' }, 'HEALTH_URL'],
    ['non-string label', { CLIP_LABEL: 5 }, 'CLIP_LABEL'],
    ['non-string out dir', { CLIP_OUT_DIR: ['a'] }, 'CLIP_OUT_DIR'],
    ['non-string token', { AUTH_TOKEN: 123 }, 'AUTH_TOKEN'],
  ];
  for (const [name, cfg, key] of bad) {
    test(`rejects ${name}, naming ${key}`, () => throwsNaming(() => recorderConfigFromCfg(cfg), key));
  }
});

describe('recorderConfigFromEnv', () => {
  test('reads SEGREC_-prefixed variables only', () => {
    const cfg = recorderConfigFromEnv({
      SEGREC_PRODUCER_BASE_URL: 'http://127.0.0.1:9999',
      SEGREC_CLIP_MAX_WAIT_MS: '5000',
      SEGREC_CLIP_POLL_INTERVAL_MS: '50',
      SEGREC_CLIP_LABEL: 'env',
      SEGREC_CLIP_OUT_DIR: '/tmp/c',
      SEGREC_PREROLL_MS: '100',
      SEGREC_POSTROLL_MS: '200',
      SEGREC_AUTH_TOKEN: 'tok',
      CLIP_LABEL: 'unprefixed is ignored',
      PRODUCER_BASE_URL: 'http://ignored:1',
    });
    assert.deepEqual(cfg, {
      producerBaseUrl: 'http://127.0.0.1:9999', maxWaitMs: 5000, pollIntervalMs: 50, defaultLabel: 'env',
      defaultOutDir: '/tmp/c', prerollMs: 100, postrollMs: 200, authToken: 'tok',
    });
  });

  test('SEGREC_HEALTH_URL derives the base; empty variables are unset', () => {
    const cfg = recorderConfigFromEnv({ SEGREC_HEALTH_URL: 'http://h:1/health', SEGREC_CLIP_MAX_WAIT_MS: '' });
    assert.deepEqual(cfg, { producerBaseUrl: 'http://h:1', maxWaitMs: 30000, pollIntervalMs: 250 });
  });

  test('errors name the prefixed variable', () => {
    throwsNaming(() => recorderConfigFromEnv({ SEGREC_CLIP_MAX_WAIT_MS: 'abc' }), 'SEGREC_CLIP_MAX_WAIT_MS');
    throwsNaming(() => recorderConfigFromEnv({ SEGREC_PRODUCER_BASE_URL: 'nope' }), 'SEGREC_PRODUCER_BASE_URL');
  });

  test('defaults to process.env', () => {
    const saved = process.env.SEGREC_CLIP_LABEL;
    process.env.SEGREC_CLIP_LABEL = 'from-process-env';
    try {
      assert.equal(recorderConfigFromEnv().defaultLabel, 'from-process-env');
    } finally {
      if (saved === undefined) delete process.env.SEGREC_CLIP_LABEL;
      else process.env.SEGREC_CLIP_LABEL = saved;
    }
  });
});

describe('Recorder construction', () => {
  const ok: RecorderConfig = { producerBaseUrl: 'http://127.0.0.1:8765/', maxWaitMs: 1000, pollIntervalMs: 10 };

  test('normalizes the base URL', () => {
    assert.equal(new Recorder(ok).config.producerBaseUrl, 'http://127.0.0.1:8765');
  });

  test('validates its config, naming the field', () => {
    throwsNaming(() => validateRecorderConfig({ ...ok, producerBaseUrl: 'file:///x' }), 'producerBaseUrl');
    throwsNaming(() => new Recorder({ ...ok, maxWaitMs: Number.NaN }), 'maxWaitMs');
    throwsNaming(() => new Recorder({ ...ok, maxWaitMs: '5' } as unknown as RecorderConfig), 'maxWaitMs');
    throwsNaming(() => new Recorder({ ...ok, pollIntervalMs: -1 }), 'pollIntervalMs');
    throwsNaming(() => new Recorder({ ...ok, prerollMs: -1 }), 'prerollMs');
    throwsNaming(() => new Recorder({ ...ok, authToken: 5 } as unknown as RecorderConfig), 'authToken');
  });

  test('accepts a Timebase or nothing, and rejects look-alikes', () => {
    const tb = new Timebase({ ptsPerMs: 1e6, baseEpochMs: 0, basePtsNs: 0 });
    assert.equal(new Recorder(ok, tb).timebase, tb);
    assert.equal(new Recorder(ok).timebase, undefined);
    assert.throws(() => new Recorder(ok, { ptsPerMs: 1e6 } as unknown as Timebase), /timebase must be a Timebase/);
  });
});
