// The Kubernetes deployment (deploy/kubernetes, deploy/Containerfile) and its check
// (scripts/check-kubernetes.ts): the example overlay renders and passes; copies broken one way each — an
// unknown flag, a flag beside --config, an unknown SEGREC_ variable, an AWS name the SDK does not read, a
// Secret key missing, a string replica count, a misspelt field, an invalid segrec.yml, a probe on a route
// that needs the token, a kustomize field the renderer does not know — fail with a message naming the
// mistake; the renderer's output equals `kubectl kustomize` (where kubectl is installed) and kustomize's
// own hash test vectors; the CLI exits 0 on the real manifests and 1 on a broken copy. The container and
// `npm start` run node with the flags of the `segrec` bin's first line.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run, tempDir } from '../helpers/media.js';
import { checkContainerfile, checkKubernetes, ROOT } from '../../scripts/kubernetes/check.js';
import { shebangNodeFlags } from '../../scripts/node-flags.js';
import { kustomizeHash, renderKustomization, type K8sObject } from '../../scripts/kubernetes/kustomize.js';

const OVERLAY = join(ROOT, 'deploy/kubernetes/overlays/example');
const temps: { cleanup: () => void }[] = [];
after(() => temps.forEach((t) => t.cleanup()));

/** A copy of deploy/kubernetes (without a developer's secrets.env) with `edits` applied; returns its overlay. */
function brokenCopy(edits: Record<string, (text: string) => string>): string {
  const tmp = tempDir('segrec-k8s-');
  temps.push(tmp);
  const copy = join(tmp.dir, 'kubernetes');
  cpSync(join(ROOT, 'deploy/kubernetes'), copy, { recursive: true, filter: (src) => !src.endsWith('/secrets.env') });
  for (const [file, edit] of Object.entries(edits)) {
    const before = readFileSync(join(copy, file), 'utf8');
    const changed = edit(before);
    assert.notEqual(changed, before, `the edit of ${file} changed nothing`);
    writeFileSync(join(copy, file), changed);
  }
  return join(copy, 'overlays/example');
}

/** The problems of a broken copy, as `where: message` lines; asserts each pattern matches one. */
async function assertCaught(edits: Record<string, (text: string) => string>, ...patterns: RegExp[]): Promise<string[]> {
  const { problems } = await checkKubernetes(brokenCopy(edits));
  const lines = problems.map((p) => `${p.where}: ${p.message}`);
  for (const re of patterns) assert.ok(lines.some((l) => re.test(l)), `expected a problem matching ${re}, got:\n${lines.join('\n')}`);
  return lines;
}

const DEPLOYMENT = 'base/deployment.yaml';
const CONFIG = 'base/segrec.yml';

test('the example overlay renders to the expected objects and passes every check', async () => {
  const { objects, problems } = await checkKubernetes(OVERLAY);
  assert.deepEqual(problems, []);
  assert.deepEqual(objects.map((o) => o.kind), ['Namespace', 'ConfigMap', 'Secret', 'Service', 'Deployment', 'PodDisruptionBudget']);
  for (const o of objects.filter((x) => x.kind !== 'Namespace')) assert.equal(o.metadata.namespace, 'segrec', `${o.kind} namespace`);
  const deployment = objects.find((o) => o.kind === 'Deployment')!;
  const pod = (deployment.spec as { replicas: number; template: { spec: { containers: { image: string; env: { valueFrom?: { secretKeyRef?: { name: string } } }[] }[]; volumes: { configMap?: { name: string } }[] } } });
  assert.equal(pod.replicas, 3);
  assert.equal(pod.template.spec.containers[0].image, 'registry.example.com/segrec:0.1.0');
  const secret = objects.find((o) => o.kind === 'Secret')!.metadata.name;
  const configMap = objects.find((o) => o.kind === 'ConfigMap')!.metadata.name;
  assert.match(secret, /^segrec-secrets-[a-z0-9]{10}$/);
  assert.ok(pod.template.spec.containers[0].env.filter((e) => e.valueFrom?.secretKeyRef).every((e) => e.valueFrom!.secretKeyRef!.name === secret));
  assert.ok(pod.template.spec.volumes.some((v) => v.configMap?.name === configMap));
  assert.deepEqual(checkContainerfile(), []);
});

test('the container and `npm start` run node with the Node flags of the bin\'s first line', () => {
  const tmp = tempDir();
  temps.push(tmp);
  const root = tmp.dir;
  const put = (rel: string, text: string) => { mkdirSync(join(root, rel, '..'), { recursive: true }); writeFileSync(join(root, rel), text); };
  const pkg = readFileSync(join(ROOT, 'package.json'), 'utf8');
  const containerfile = readFileSync(join(ROOT, 'deploy/Containerfile'), 'utf8');
  const main = readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8');
  const flags = shebangNodeFlags(join(ROOT, 'src/cli/main.ts'));
  assert.ok(flags.some((f) => f.startsWith('--max-semi-space-size=')), `the bin bounds the young generation (${flags.join(' ')})`);
  const check = (files: { pkg?: string; containerfile?: string; main?: string }) => {
    put('package.json', files.pkg ?? pkg);
    put('deploy/Containerfile', files.containerfile ?? containerfile);
    put('src/cli/main.ts', files.main ?? main);
    return checkContainerfile(root).map((p) => `${p.where}: ${p.message}`).join('\n');
  };
  assert.equal(check({}), '');
  assert.match(check({ containerfile: containerfile.replace(`"${flags[0]}", `, '') }), /Containerfile: ENTRYPOINT runs node with \[\], the bin's first line with \[--max-semi-space-size/);
  assert.match(check({ pkg: pkg.replace(`node ${flags[0]} dist`, 'node dist') }), /package.json: scripts.start does not run node --max-semi-space-size/);
  assert.match(check({ main: main.replace(/^.*\n/, '#!/usr/bin/env node\n') }), /ENTRYPOINT runs node with \[--max-semi-space-size=\d+\], the bin's first line with \[\]/);
});

test('an unknown flag, or a flag beside --config, in the container args', async () => {
  await assertCaught({ [DEPLOYMENT]: (t) => t.replace('/etc/segrec/segrec.yml]', '/etc/segrec/segrec.yml, --lease-timeot, 5s]') },
    /container segrec: args: unknown flag --lease-timeot \(segrec producer knows --config .*--lease-timeout/);
  await assertCaught({ [DEPLOYMENT]: (t) => t.replace('/etc/segrec/segrec.yml]', '/etc/segrec/segrec.yml, --port, "9000"]') },
    /args: with --config, settings go in the file; segrec producer refuses --port/);
});

test('an unknown SEGREC_ variable, and the segrec.yml it then leaves without a catalog', async () => {
  await assertCaught({ [DEPLOYMENT]: (t) => t.replace('- name: SEGREC_CATALOG', '- name: SEGREC_CATALOGUE') },
    /env SEGREC_CATALOGUE: segrec producer reads no such variable \(it reads SEGREC_<FLAG> for its flags: .*SEGREC_CATALOG/,
    /cluster needs --catalog and --store/);
});

test('an AWS_ name the AWS SDK does not read, and a Secret key that is missing', async () => {
  await assertCaught({ [DEPLOYMENT]: (t) => t.replace('- name: AWS_SECRET_ACCESS_KEY', '- name: AWS_SECRET_KEY') },
    /env AWS_SECRET_KEY: the AWS SDK reads no such variable/);
  await assertCaught({ 'overlays/example/secrets.env.example': (t) => t.replace(/^AWS_ACCESS_KEY_ID=.*\n/m, '') },
    /env AWS_ACCESS_KEY_ID: Secret segrec-secrets-[a-z0-9]{10} has no key AWS_ACCESS_KEY_ID/);
});

test('schema errors: a string where an integer belongs, a misspelt field', async () => {
  await assertCaught({
    [DEPLOYMENT]: (t) => t.replace('replicas: 3', 'replicas: "3"'),
    'overlays/example/kustomization.yaml': (t) => t.replace(/^replicas:\n( {2}.*\n)+/m, ''),
  }, /^Deployment segrec: spec\.replicas: must be integer$/);
  const lines = await assertCaught({ [DEPLOYMENT]: (t) => t.replace('readinessProbe:\n            httpGet: { path: /health, port: http }\n            periodSeconds: 5', 'readinessProbe:\n            httpGet: { path: /health, port: http }\n            periodSecond: 5') },
    /^Deployment segrec: spec\.template\.spec\.containers\[0\]\.readinessProbe\.periodSecond: unknown field/);
  assert.equal(lines.length, 1, lines.join('\n'));
  await assertCaught({ 'base/service.yaml': (t) => t.replace('targetPort: http', 'targetPort: http\n      protocl: TCP') },
    /^Service segrec: spec\.ports\[0\]\.protocl: unknown field/);
});

test('an invalid segrec.yml, reported at its line in the source file', async () => {
  await assertCaught({ [CONFIG]: (t) => t.replace(/^lease_timeout: 10s/m, 'lease_timeout: 1s') },
    /container segrec: .*base\/segrec\.yml:\d+: lease_timeout: must be at least 3s, got "1s"/);
  await assertCaught({ [CONFIG]: (t) => t.replace(/^cluster: true/m, 'cluster: true\nclustr: true') },
    /base\/segrec\.yml:\d+: clustr: unknown key/);
});

test('settings that do not fit the pod: a loopback host, a probe on a route that needs the token', async () => {
  await assertCaught({ [CONFIG]: (t) => t.replace(/^host: 0\.0\.0\.0/m, 'host: 127.0.0.1') },
    /segrec listens on 127\.0\.0\.1, a loopback address/);
  await assertCaught({ [DEPLOYMENT]: (t) => t.replace('readinessProbe:\n            httpGet: { path: /health, port: http }', 'readinessProbe:\n            httpGet: { path: /segments, port: http }') },
    /readinessProbe: \/segments needs the auth token/);
});

test('a kustomize field the renderer does not implement is refused by name', async () => {
  await assertCaught({ 'overlays/example/kustomization.yaml': (t) => `${t}commonLabels:\n  team: video\n` },
    /^kustomize: .*kustomization\.yaml: field "commonLabels" is not supported/);
});

test('the hash suffix matches kustomize\'s own test vectors', () => {
  const obj = (kind: string, extra: Record<string, unknown>) => ({ apiVersion: 'v1', kind, metadata: { name: 'x' }, ...extra }) as K8sObject;
  assert.equal(kustomizeHash(obj('ConfigMap', {})), '6ct58987ht');
  assert.equal(kustomizeHash(obj('ConfigMap', { data: { one: '' } })), '9g67k2htb6');
  assert.equal(kustomizeHash(obj('Secret', { type: 'my-type', data: { one: '' } })), '74bd68bm66');
});

test('the renderer\'s output equals kubectl kustomize', (t) => {
  if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status !== 0) {
    t.skip('kubectl is not installed');
    return;
  }
  const overlay = brokenCopy({});
  cpSync(join(overlay, 'secrets.env.example'), join(overlay, 'secrets.env'));
  const r = spawnSync('kubectl', ['kustomize', overlay], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const theirs = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
  const id = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const byId = (list: K8sObject[]) => new Map(list.map((o) => [id(o), o]));
  assert.deepEqual(byId(renderKustomization(overlay)), byId(theirs));
});

test('the CLI exits 0 on the real manifests and 1, naming the problem, on a broken copy', async () => {
  const cli = (dir?: string) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/check-kubernetes.ts'), ...(dir ? [dir] : [])], { timeoutMs: 60_000 });
  const ok = await cli();
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /overlays\/example: ok — Namespace segrec, ConfigMap segrec-config-/);
  const bad = await cli(brokenCopy({ [DEPLOYMENT]: (t) => t.replace('- name: SEGREC_NODE_ID', '- name: SEGREC_NODE') }));
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /Deployment segrec, container segrec: env SEGREC_NODE: segrec producer reads no such variable/);
});
