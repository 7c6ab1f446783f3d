// A renderer for the small subset of kustomize that deploy/kubernetes uses, so the manifests can be
// checked where neither kustomize nor kubectl is installed: `resources` (files and directories),
// `namespace`, `images`, `replicas`, `configMapGenerator` and `secretGenerator` (files, literals, envs),
// with kustomize's content-hash name suffix on generated objects and the references to them renamed.
// Any other kustomization field is refused by name rather than ignored. Its output equals
// `kubectl kustomize` on these manifests (test/deploy/kubernetes.test.ts compares them when kubectl is there).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { parseAllDocuments, parseDocument } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export class KustomizeError extends Error {
  override name = 'KustomizeError';
}

export interface RenderOptions {
  /** A generator's env file that does not exist is read from FILE.example (the git-ignored secrets.env). */
  exampleFallback?: boolean;
  /** Collects notes such as that fallback. */
  notes?: string[];
}

type Json = Record<string, unknown>;
const KUSTOMIZATION_FIELDS = ['apiVersion', 'kind', 'resources', 'namespace', 'images', 'replicas', 'configMapGenerator', 'secretGenerator'];
const GENERATOR_FIELDS = ['name', 'files', 'literals', 'envs', 'type'];
const IMAGE_FIELDS = ['name', 'newName', 'newTag', 'digest'];
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume',
  'StorageClass', 'PriorityClass', 'IngressClass', 'RuntimeClass', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);
const SCALABLE = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'ReplicationController']);
const KIND_ORDER = ['Namespace', 'ConfigMap', 'Secret', 'Service', 'Deployment', 'StatefulSet', 'PodDisruptionBudget'];

/** The file each generated key was read from (for messages that point at the source, not the ConfigMap). */
const SOURCES = new WeakMap<K8sObject, Map<string, string>>();
export const sourceFileOf = (o: K8sObject, key: string): string | undefined => SOURCES.get(o)?.get(key);

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const rel = (p: string) => relative(process.cwd(), p) || '.';

/** Renders the kustomization in `dir` (as `kubectl kustomize dir` would, for the supported subset). */
export function renderKustomization(dir: string, options: RenderOptions = {}): K8sObject[] {
  const generated = new Set<K8sObject>();
  const objects = build(resolve(dir), options, generated, []);
  addHashSuffixes(objects, generated);
  const rank = (k: string) => (KIND_ORDER.includes(k) ? KIND_ORDER.indexOf(k) : KIND_ORDER.length);
  return objects.sort((a, b) => rank(a.kind) - rank(b.kind) || a.kind.localeCompare(b.kind) || a.metadata.name.localeCompare(b.metadata.name));
}

function build(dir: string, options: RenderOptions, generated: Set<K8sObject>, stack: string[]): K8sObject[] {
  if (stack.includes(dir)) throw new KustomizeError(`${rel(dir)}: kustomizations include each other (${[...stack, dir].map(rel).join(' → ')})`);
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!file) throw new KustomizeError(`${rel(dir)}: no kustomization.yaml`);
  const k = readYaml(file);
  if (!isMap(k)) throw new KustomizeError(`${rel(file)}: not a mapping`);
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_FIELDS.includes(key)) throw new KustomizeError(`${rel(file)}: field "${key}" is not supported by scripts/kubernetes/kustomize.ts (supported: ${KUSTOMIZATION_FIELDS.join(', ')})`);
  }
  if (k.kind !== undefined && k.kind !== 'Kustomization') throw new KustomizeError(`${rel(file)}: kind must be Kustomization`);
  const objects: K8sObject[] = [];
  for (const r of list(k.resources, file, 'resources')) {
    const path = resolve(dir, String(r));
    if (!existsSync(path)) throw new KustomizeError(`${rel(file)}: resources: ${r} does not exist`);
    objects.push(...(statSync(path).isDirectory() ? build(path, options, generated, [...stack, dir]) : readObjects(path)));
  }
  for (const [field, kind] of [['configMapGenerator', 'ConfigMap'], ['secretGenerator', 'Secret']] as const) {
    for (const g of list(k[field], file, field)) {
      const obj = generate(kind, g, dir, `${rel(file)}: ${field}`, options);
      generated.add(obj);
      objects.push(obj);
    }
  }
  if (k.namespace !== undefined) setNamespace(objects, String(k.namespace));
  for (const image of list(k.images, file, 'images')) setImage(objects, image, `${rel(file)}: images`);
  for (const r of list(k.replicas, file, 'replicas')) {
    if (!isMap(r) || typeof r.name !== 'string' || !Number.isInteger(r.count)) throw new KustomizeError(`${rel(file)}: replicas: each entry needs name and an integer count`);
    const targets = objects.filter((o) => SCALABLE.has(o.kind) && o.metadata.name === r.name);
    if (targets.length === 0) throw new KustomizeError(`${rel(file)}: replicas: no Deployment/StatefulSet named ${r.name}`);
    for (const t of targets) (t.spec as Json).replicas = r.count;
  }
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) throw new KustomizeError(`${rel(file)}: ${o.kind} ${o.metadata.name} is defined twice`);
    seen.add(id);
  }
  return objects;
}

function readYaml(file: string): unknown {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) throw new KustomizeError(`${rel(file)}: ${doc.errors[0].message}`);
  return doc.toJS();
}

function readObjects(file: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length > 0) throw new KustomizeError(`${rel(file)}: ${doc.errors[0].message}`);
    const o: unknown = doc.toJS();
    if (o === null) continue;
    if (!isMap(o) || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || !isMap(o.metadata) || typeof o.metadata.name !== 'string') {
      throw new KustomizeError(`${rel(file)}: every document needs apiVersion, kind and metadata.name`);
    }
    out.push(o as K8sObject);
  }
  return out;
}

function list(v: unknown, file: string, field: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new KustomizeError(`${rel(file)}: ${field} must be a list`);
  return v;
}

/** A ConfigMap or Secret from a generator entry (data in kustomize's key order: sorted). */
function generate(kind: 'ConfigMap' | 'Secret', g: unknown, dir: string, where: string, options: RenderOptions): K8sObject {
  if (!isMap(g) || typeof g.name !== 'string') throw new KustomizeError(`${where}: each entry needs a name`);
  for (const key of Object.keys(g)) {
    if (!GENERATOR_FIELDS.includes(key) || (key === 'type' && kind === 'ConfigMap')) throw new KustomizeError(`${where}: field "${key}" of ${g.name} is not supported`);
  }
  const data = new Map<string, string>();
  const sources = new Map<string, string>();
  const put = (key: string, value: string) => {
    if (data.has(key)) throw new KustomizeError(`${where}: ${g.name}: key ${key} is given twice`);
    data.set(key, value);
  };
  for (const f of list(g.files, where, 'files')) {
    const [key, path] = String(f).includes('=') ? String(f).split(/=(.*)/s) : [basename(String(f)), String(f)];
    const file = resolve(dir, path);
    if (!existsSync(file)) throw new KustomizeError(`${where}: ${g.name}: file ${rel(file)} does not exist`);
    put(key, readFileSync(file, 'utf8'));
    sources.set(key, rel(file));
  }
  for (const l of list(g.literals, where, 'literals')) {
    const m = /^([^=]+)=(.*)$/s.exec(String(l));
    if (!m) throw new KustomizeError(`${where}: ${g.name}: literal "${String(l).split('=')[0]}" must look like KEY=VALUE`);
    put(m[1], m[2].replace(/^(["'])(.*)\1$/s, '$2'));
  }
  for (const e of list(g.envs, where, 'envs')) {
    let path = resolve(dir, String(e));
    if (!existsSync(path) && options.exampleFallback && existsSync(`${path}.example`)) {
      options.notes?.push(`${rel(path)} does not exist: rendered with ${rel(path)}.example instead`);
      path = `${path}.example`;
    }
    if (!existsSync(path)) throw new KustomizeError(`${where}: ${g.name}: env file ${rel(path)} does not exist`);
    for (const [key, value] of readEnvFile(path)) put(key, value);
  }
  const sorted = [...data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const metadata = { name: g.name };
  const obj: K8sObject = kind === 'ConfigMap'
    ? { apiVersion: 'v1', kind, metadata, data: Object.fromEntries(sorted) }
    : { apiVersion: 'v1', kind, metadata, type: typeof g.type === 'string' ? g.type : 'Opaque', data: Object.fromEntries(sorted.map(([key, v]) => [key, base64Lines(v)])) };
  SOURCES.set(obj, sources);
  return obj;
}

/** Base64 as kustomize writes a Secret's value: past 70 characters, in lines of 70, each ending in a newline. */
function base64Lines(value: string): string {
  const b64 = Buffer.from(value, 'utf8').toString('base64');
  return b64.length < 70 ? b64 : b64.replace(/.{1,70}/g, '$&\n');
}

/** KEY=VALUE lines as kustomize reads them: leading blanks and # comments skipped, values taken as they are. */
function readEnvFile(path: string): [string, string][] {
  const out: [string, string][] = [];
  readFileSync(path, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw new KustomizeError(`${rel(path)}:${i + 1}: "${key.slice(0, 40)}" is not a valid variable name`);
    // kustomize would take a bare KEY's value from its own environment: refused, so no local secret leaks in.
    if (eq < 0) throw new KustomizeError(`${rel(path)}:${i + 1}: ${key} has no "=VALUE"`);
    out.push([key, line.slice(eq + 1)]);
  });
  return out;
}

function setNamespace(objects: K8sObject[], namespace: string): void {
  for (const o of objects) {
    if (o.kind === 'Namespace') o.metadata.name = namespace;
    else if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = namespace;
  }
}

/** The containers of a workload's pod template (or of a Pod). */
function podSpecOf(o: K8sObject): Json | null {
  const spec = o.spec;
  if (!isMap(spec)) return null;
  if (o.kind === 'Pod') return spec;
  const template = isMap(spec.jobTemplate) && isMap(spec.jobTemplate.spec) ? spec.jobTemplate.spec.template : spec.template;
  return isMap(template) && isMap(template.spec) ? template.spec : null;
}

export function containersOf(o: K8sObject): Json[] {
  const pod = podSpecOf(o);
  if (!pod) return [];
  return [...(Array.isArray(pod.initContainers) ? pod.initContainers : []), ...(Array.isArray(pod.containers) ? pod.containers : [])].filter(isMap);
}

export function volumesOf(o: K8sObject): Json[] {
  const pod = podSpecOf(o);
  return pod && Array.isArray(pod.volumes) ? pod.volumes.filter(isMap) : [];
}

function setImage(objects: K8sObject[], image: unknown, where: string): void {
  if (!isMap(image) || typeof image.name !== 'string') throw new KustomizeError(`${where}: each entry needs a name`);
  for (const key of Object.keys(image)) if (!IMAGE_FIELDS.includes(key)) throw new KustomizeError(`${where}: field "${key}" is not supported`);
  for (const c of objects.flatMap(containersOf)) {
    if (typeof c.image !== 'string') continue;
    const m = /^(.*?)(?::([^:/@]+))?(?:@(.+))?$/.exec(c.image)!;
    if (m[1] !== image.name) continue;
    const tag = image.digest !== undefined ? `@${String(image.digest)}` : image.newTag !== undefined ? `:${String(image.newTag)}`
      : m[3] !== undefined ? `@${m[3]}` : m[2] !== undefined ? `:${m[2]}` : '';
    c.image = `${image.newName !== undefined ? String(image.newName) : m[1]}${tag}`;
  }
}

/**
 * kustomize's suffix: the first 10 hex digits of a SHA-256 of kind, type and data as JSON, with 0,1,3,a,e
 * swapped for letters. kustomize 5 hashes a generated object before it is named, so the name is "".
 */
export function kustomizeHash(o: K8sObject): string {
  const m: Json = o.kind === 'Secret'
    ? { kind: 'Secret', type: o.type ?? '', name: '', data: o.data ?? '' }
    : { kind: 'ConfigMap', name: '', data: o.data ?? '' };
  const hex = createHash('sha256').update(goJson(m)).digest('hex');
  return hex.slice(0, 10).replace(/[013ae]/g, (c) => ({ 0: 'g', 1: 'h', 3: 'k', a: 'm', e: 't' })[c as '0']);
}

/** JSON as Go's encoding/json writes a map: keys sorted, and <, >, &, U+2028, U+2029 escaped. */
function goJson(v: unknown): string {
  const sortKeys = (x: unknown): unknown => (isMap(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sortKeys(x[k])])) : x);
  return JSON.stringify(sortKeys(v)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Renames generated objects to NAME-HASH and every reference to them in pod specs of the same namespace. */
function addHashSuffixes(objects: K8sObject[], generated: Set<K8sObject>): void {
  const renamed = new Map<string, string>();
  for (const o of generated) {
    const hashed = `${o.metadata.name}-${kustomizeHash(o)}`;
    renamed.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, hashed);
    o.metadata.name = hashed;
  }
  for (const o of objects) {
    const ns = o.metadata.namespace ?? '';
    const fix = (ref: unknown, kind: 'ConfigMap' | 'Secret', field: string) => {
      if (isMap(ref) && typeof ref[field] === 'string') ref[field] = renamed.get(`${kind}/${ns}/${ref[field]}`) ?? ref[field];
    };
    for (const v of volumesOf(o)) {
      fix(v.configMap, 'ConfigMap', 'name');
      fix(v.secret, 'Secret', 'secretName');
      const sources = isMap(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources.filter(isMap) : [];
      for (const s of sources) { fix(s.configMap, 'ConfigMap', 'name'); fix(s.secret, 'Secret', 'name'); }
    }
    for (const c of containersOf(o)) {
      for (const e of Array.isArray(c.env) ? c.env.filter(isMap) : []) {
        if (!isMap(e.valueFrom)) continue;
        fix(e.valueFrom.configMapKeyRef, 'ConfigMap', 'name');
        fix(e.valueFrom.secretKeyRef, 'Secret', 'name');
      }
      for (const e of Array.isArray(c.envFrom) ? c.envFrom.filter(isMap) : []) {
        fix(e.configMapRef, 'ConfigMap', 'name');
        fix(e.secretRef, 'Secret', 'name');
      }
    }
  }
}
