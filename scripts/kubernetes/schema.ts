// Checks rendered Kubernetes objects the way the API server would before accepting them: each against its
// kind's schema from kubernetes-models (the Kubernetes OpenAPI schemas compiled to validators), strictly
// (a field the schema does not define is an error, as with kubectl's default server-side field
// validation), plus names and label selectors, which the schemas do not cover.
import type { K8sObject } from './kustomize.js';

export interface Problem {
  /** `Kind name`, or a file. */
  where: string;
  message: string;
}

interface ValidatorClass { prototype: { validate(): void } }
interface AjvError { instancePath?: string; message?: string }

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const describe = (o: K8sObject) => `${o.kind} ${o.metadata?.name ?? '(no name)'}`;

/** `/spec/template/containers/0/name` → `spec.template.containers[0].name`. */
function fieldPath(pointer: string): string {
  return pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, p) => (/^\d+$/.test(p) ? `${out}[${p}]` : out ? `${out}.${p}` : p), '');
}

/** The kubernetes-models class for apiVersion/kind, or why there is none. */
async function modelFor(apiVersion: string, kind: string): Promise<ValidatorClass | string> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`kubernetes-models/${apiVersion}`)) as Record<string, unknown>;
  } catch {
    return `apiVersion ${apiVersion} is not a Kubernetes API version`;
  }
  const model = mod[kind] as Partial<ValidatorClass> | undefined;
  return typeof model?.prototype?.validate === 'function' ? model as ValidatorClass : `${apiVersion} has no kind ${kind}`;
}

/**
 * A copy of `value` whose objects record the property names the validator reads. The compiled schema reads
 * exactly the properties it defines (and every key of a map it iterates), so a key never read is unknown.
 */
function tracked(value: unknown, path: string, objects: { path: string; keys: string[]; read: Set<string> }[]): unknown {
  if (!isMap(value) && !Array.isArray(value)) return value;
  if (Array.isArray(value)) return value.map((v, i) => tracked(v, `${path}[${i}]`, objects));
  const read = new Set<string>();
  objects.push({ path, keys: Object.keys(value), read });
  const copy = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tracked(v, path ? `${path}.${k}` : k, objects)]));
  const note = (k: string | symbol) => { if (typeof k === 'string') read.add(k); };
  return new Proxy(copy, {
    get: (t, k, r) => { note(k); return Reflect.get(t, k, r); },
    has: (t, k) => { note(k); return Reflect.has(t, k); },
    getOwnPropertyDescriptor: (t, k) => { note(k); return Reflect.getOwnPropertyDescriptor(t, k); },
    ownKeys: (t) => { Object.keys(t).forEach(note); return Reflect.ownKeys(t); },
  });
}

/**
 * The object as the API server decodes it: kustomize writes long Secret values as base64 in lines, whose
 * newlines Go's base64 decoder skips but the schema's "byte" format does not.
 */
function apiServerView(o: K8sObject): K8sObject {
  if (o.kind !== 'Secret' || !isMap(o.data)) return o;
  const data = Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, typeof v === 'string' ? v.replace(/[\r\n]/g, '') : v]));
  return { ...o, data };
}

/** Schema errors, or when there are none, the fields the schema does not define. */
export async function validateSchema(o: K8sObject): Promise<Problem[]> {
  const where = describe(o);
  const model = await modelFor(String(o.apiVersion), String(o.kind));
  if (typeof model === 'string') return [{ where, message: model }];
  const objects: { path: string; keys: string[]; read: Set<string> }[] = [];
  try {
    model.prototype.validate.call(tracked(apiServerView(o), '', objects));
  } catch (err) {
    const errors = (err as { errors?: AjvError[] }).errors ?? [{ message: (err as Error).message }];
    return errors.map((e) => ({ where, message: `${fieldPath(e.instancePath ?? '') || '(object)'}: ${e.message ?? 'invalid'}` }));
  }
  return objects.flatMap(({ path, keys, read }) => keys.filter((k) => !read.has(k))
    .map((k) => ({ where, message: `${path ? `${path}.` : ''}${k}: unknown field (not in the ${o.apiVersion} ${o.kind} schema)` })));
}

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAMED = new Set(['Namespace', 'Service']);

/** Names the API server would refuse, and selectors that select nothing of what the objects define. */
export function checkNamesAndSelectors(objects: K8sObject[]): Problem[] {
  const problems: Problem[] = [];
  for (const o of objects) {
    const name = String(o.metadata?.name ?? '');
    const rule = LABEL_NAMED.has(o.kind) ? DNS_LABEL : DNS_SUBDOMAIN;
    if (!rule.test(name)) problems.push({ where: describe(o), message: `metadata.name "${name}" must be ${rule === DNS_LABEL ? 'a DNS label (at most 63 of a-z, 0-9, "-")' : 'a DNS subdomain (a-z, 0-9, "-", ".")'}` });
  }
  const podLabels: Record<string, unknown>[] = [];
  for (const o of objects) {
    const spec = isMap(o.spec) ? o.spec : {};
    const template = isMap(spec.template) ? spec.template : null;
    if (!template || !isMap(spec.selector)) continue;
    const labels = isMap(template.metadata) && isMap(template.metadata.labels) ? template.metadata.labels : {};
    podLabels.push(labels);
    if (!matches(spec.selector.matchLabels, labels)) problems.push({ where: describe(o), message: 'spec.selector.matchLabels does not match spec.template.metadata.labels' });
  }
  for (const o of objects) {
    const spec = isMap(o.spec) ? o.spec : {};
    const selector = o.kind === 'Service' ? spec.selector : o.kind === 'PodDisruptionBudget' && isMap(spec.selector) ? spec.selector.matchLabels : undefined;
    if (isMap(selector) && !podLabels.some((labels) => matches(selector, labels))) {
      problems.push({ where: describe(o), message: `selector ${JSON.stringify(selector)} matches the pods of no workload here` });
    }
  }
  return problems;
}

function matches(selector: unknown, labels: Record<string, unknown>): boolean {
  return isMap(selector) && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}
