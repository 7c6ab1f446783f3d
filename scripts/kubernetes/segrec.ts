// Checks that rendered manifests fit this segrec: the segrec container's args and environment are ones
// `segrec producer` knows (--config, --camera, its PRODUCER_FLAGS and their SEGREC_* variables), AWS_*
// names are variables the installed AWS SDK reads, the Secret and ConfigMap keys they name exist, the
// segrec.yml that --config points at loads with the project's own parseAppConfig and the environment the
// pod gets, and the loaded settings fit the pod (port, host, data_dir on a writable volume, public probes).
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { isLoopbackHost, parseProducerArgs, PRODUCER_FLAGS } from '../../src/producer/options.js';
import { appConfigFromFlags, parseAppConfig, type AppConfig } from '../../src/producer/config/app-config.js';
import { takeCameraFlags } from '../../src/cli/producer-cmd.js';
import { containersOf, sourceFileOf, volumesOf, type K8sObject } from './kustomize.js';
import { describe, type Problem } from './schema.js';

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const maps = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isMap) : []);

/** Where segrec runs in the image (deploy/Containerfile's WORKDIR): relative paths start there. */
const IMAGE_WORKDIR = '/app';
const SEGREC_IMAGE = /(^|\/)segrec([:@]|$)/;
const PUBLIC_PATH = /^\/(cameras\/[^/?]+\/)?health(\?.*)?$/;
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod']);
const CONFIG_FLAGS = ['config', 'camera'];

/** SEGREC_<FLAG> for every producer flag, as parseProducerArgs reads them. */
export const SEGREC_ENV = new Set(PRODUCER_FLAGS.map((f) => `SEGREC_${f.toUpperCase().replace(/-/g, '_')}`));

let sdkNames: Set<string> | null = null;
/** The AWS_* names that the installed AWS SDK's code (@aws-sdk, @smithy) mentions: the variables it reads. */
export function awsSdkEnvNames(root: string): Set<string> {
  if (sdkNames) return sdkNames;
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !['dist-es', 'dist-types'].includes(e.name)) walk(join(dir, e.name));
      else if (e.isFile() && e.name.endsWith('.js')) {
        for (const m of readFileSync(join(dir, e.name), 'utf8').matchAll(/["'`](AWS_[A-Z0-9_]+)["'`]/g)) names.add(m[1]);
      }
    }
  };
  for (const scope of ['@aws-sdk', '@smithy']) walk(join(root, 'node_modules', scope));
  if (!names.has('AWS_ACCESS_KEY_ID')) throw new Error('the AWS SDK in node_modules mentions no AWS_ACCESS_KEY_ID: run npm ci');
  return (sdkNames = names);
}

/** Every problem of every container that runs the segrec image. */
export function checkSegrec(objects: K8sObject[], root: string): Problem[] {
  const problems: Problem[] = [];
  let found = 0;
  for (const o of objects.filter((x) => WORKLOADS.has(x.kind))) {
    for (const c of containersOf(o).filter((x) => SEGREC_IMAGE.test(String(x.image)))) {
      found++;
      const where = `${describe(o)}, container ${String(c.name)}`;
      const add = (message: string) => problems.push({ where, message });
      const env = podEnv(o, c, objects, root, add);
      const config = loadConfig(o, c, objects, env, add);
      if (config) checkFit(o, c, objects, config, add);
    }
  }
  if (found === 0) problems.push({ where: 'manifests', message: 'no container runs the segrec image' });
  return problems;
}

/** The environment the pod gets (Secret and ConfigMap values, a sample pod name), its names checked. */
function podEnv(o: K8sObject, c: Json, objects: K8sObject[], root: string, add: (m: string) => void): Record<string, string> {
  const env: Record<string, string> = {};
  const ns = o.metadata.namespace;
  const lookup = (kind: 'Secret' | 'ConfigMap', name: unknown) => objects.find((x) => x.kind === kind && x.metadata.name === name && x.metadata.namespace === ns);
  const valueOf = (obj: K8sObject, key: string) => {
    const v = String((obj.data as Json | undefined)?.[key]);
    return obj.kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
  };
  for (const e of maps(c.env)) {
    const name = String(e.name);
    const from = isMap(e.valueFrom) ? e.valueFrom : null;
    if (typeof e.value === 'string' || !from) env[name] = String(e.value ?? '');
    else if (isMap(from.fieldRef)) env[name] = from.fieldRef.fieldPath === 'metadata.namespace' ? ns ?? 'default' : `${o.metadata.name}-7c9d8f6b5d-x4k2p`;
    else if (isMap(from.resourceFieldRef)) env[name] = '1';
    for (const [field, kind] of [['secretKeyRef', 'Secret'], ['configMapKeyRef', 'ConfigMap']] as const) {
      const ref = from?.[field];
      if (!isMap(ref)) continue;
      const obj = lookup(kind, ref.name);
      const key = String(ref.key);
      if (obj && isMap(obj.data) && key in obj.data) env[name] = valueOf(obj, key);
      else if (ref.optional !== true) add(`env ${name}: ${obj ? `${kind} ${String(ref.name)} has no key ${key}` : `no ${kind} ${String(ref.name)} in namespace ${ns ?? 'default'}`}`);
    }
  }
  for (const e of maps(c.envFrom)) {
    const [kind, ref] = isMap(e.secretRef) ? ['Secret' as const, e.secretRef] : ['ConfigMap' as const, e.configMapRef];
    const obj = isMap(ref) ? lookup(kind, ref.name) : undefined;
    if (!obj) { if (!isMap(ref) || ref.optional !== true) add(`envFrom: no ${kind} ${isMap(ref) ? String(ref.name) : ''}`); continue; }
    for (const key of Object.keys(isMap(obj.data) ? obj.data : {})) env[`${String(e.prefix ?? '')}${key}`] = valueOf(obj, key);
  }
  const aws = awsSdkEnvNames(root);
  for (const name of Object.keys(env)) {
    if (name.startsWith('SEGREC_') && !SEGREC_ENV.has(name)) {
      add(`env ${name}: segrec producer reads no such variable (it reads SEGREC_<FLAG> for its flags: ${[...SEGREC_ENV].join(', ')})`);
    }
    if (name.startsWith('AWS_') && !aws.has(name) && !/^AWS_ENDPOINT_URL_[A-Z0-9_]+$/.test(name)) {
      add(`env ${name}: the AWS SDK reads no such variable (S3 credentials are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`);
    }
  }
  return env;
}

/** The configuration the container's args give segrec producer, loaded as segrec loads it; null after a problem. */
function loadConfig(o: K8sObject, c: Json, objects: K8sObject[], env: Record<string, string>, add: (m: string) => void): AppConfig | null {
  if (c.command !== undefined) add('command replaces the image\'s segrec entrypoint: give the subcommand and its flags as args');
  const args = Array.isArray(c.args) ? c.args.map(String) : [];
  if (args[0] !== 'producer') {
    add(`args must start with the subcommand "producer" (got ${JSON.stringify(args.slice(0, 3))})`);
    return null;
  }
  const known = [...CONFIG_FLAGS, ...PRODUCER_FLAGS];
  const unknown = args.slice(1).filter((a) => a.startsWith('--') && !known.includes(a.slice(2).split('=')[0]));
  for (const a of unknown) add(`args: unknown flag ${a.split('=')[0]} (segrec producer knows ${known.map((f) => `--${f}`).join(' ')})`);
  if (unknown.length > 0) return null;
  try {
    const split = takeCameraFlags(args.slice(1));
    if (split.config === null) return appConfigFromFlags(split.cameras, parseProducerArgs(split.rest, env));
    if (split.cameras.length > 0 || split.rest.length > 0) {
      add(`args: with --config, settings go in the file; segrec producer refuses ${[...split.rest, ...split.cameras.map(() => '--camera')].filter((a) => a.startsWith('--')).join(' ')}`);
      return null;
    }
    const file = configFile(o, c, objects, split.config);
    if (typeof file === 'string') { add(file); return null; }
    return parseAppConfig(file.text, file.name, parseProducerArgs([], env), env);
  } catch (err) {
    add((err as Error).message);
    return null;
  }
}

/** The text of the file at `path` in the container, when a ConfigMap or Secret volume holds it; else why not. */
function configFile(o: K8sObject, c: Json, objects: K8sObject[], path: string): { text: string; name: string } | string {
  const mount = maps(c.volumeMounts).filter((m) => path === m.mountPath || path.startsWith(`${String(m.mountPath).replace(/\/$/, '')}/`))
    .sort((a, b) => String(b.mountPath).length - String(a.mountPath).length)[0];
  if (!mount) return `--config ${path} is on no volumeMount`;
  const volume = volumesOf(o).find((v) => v.name === mount.name);
  const source = volume && (isMap(volume.configMap) ? volume.configMap : isMap(volume.secret) ? volume.secret : null);
  if (!volume || !source) return `--config ${path}: volume ${String(mount.name)} is not a ConfigMap or Secret volume`;
  const kind = isMap(volume.configMap) ? 'ConfigMap' : 'Secret';
  const name = String(kind === 'ConfigMap' ? source.name : source.secretName);
  let key = typeof mount.subPath === 'string' && path === mount.mountPath ? mount.subPath : posix.relative(String(mount.mountPath), path);
  if (Array.isArray(source.items)) {
    const item = maps(source.items).find((i) => i.path === key);
    if (!item) return `--config ${path}: ${kind} volume ${String(volume.name)} projects no item at ${key}`;
    key = String(item.key);
  }
  const obj = objects.find((x) => x.kind === kind && x.metadata.name === name && x.metadata.namespace === o.metadata.namespace);
  const data = obj && isMap(obj.data) ? obj.data : null;
  if (!obj || !data || typeof data[key] !== 'string') return `--config ${path}: ${obj ? `${kind} ${name} has no key ${key}` : `no ${kind} ${name}`}`;
  const text = kind === 'Secret' ? Buffer.from(data[key] as string, 'base64').toString('utf8') : data[key] as string;
  return { text, name: sourceFileOf(obj, key) ?? `${kind} ${name}: ${key}` };
}

/** The loaded settings against the pod: reachable host and port, public probes, a writable data_dir. */
function checkFit(o: K8sObject, c: Json, objects: K8sObject[], config: AppConfig, add: (m: string) => void): void {
  const port = config.global.port ?? 8765;
  const host = config.global.host ?? '127.0.0.1';
  if (isLoopbackHost(host)) add(`segrec listens on ${host}, a loopback address: neither the probes nor the Service can reach it (host: 0.0.0.0)`);
  const ports = maps(c.ports);
  const resolvePort = (p: unknown) => (typeof p === 'string' ? ports.find((x) => x.name === p)?.containerPort : p);
  if (!ports.some((p) => p.containerPort === port)) add(`segrec listens on port ${port}, which the container does not declare (containerPort ${ports.map((p) => String(p.containerPort)).join(', ') || 'none'})`);
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const get = isMap(c[probe]) && isMap((c[probe] as Json).httpGet) ? (c[probe] as Json).httpGet as Json : null;
    if (!get) continue;
    if (resolvePort(get.port) !== port) add(`${probe}: port ${String(get.port)} is not segrec's port ${port}`);
    if (!PUBLIC_PATH.test(String(get.path ?? '/'))) add(`${probe}: ${String(get.path ?? '/')} needs the auth token (only /health is public), so the probe would fail`);
  }
  const labels = ((o.spec as Json | undefined)?.template as Json | undefined)?.metadata as Json | undefined;
  for (const s of objects.filter((x) => x.kind === 'Service' && x.metadata.namespace === o.metadata.namespace)) {
    const spec = isMap(s.spec) ? s.spec : {};
    const selector = isMap(spec.selector) ? spec.selector : {};
    const podLabels = isMap(labels?.labels) ? labels.labels : {};
    if (Object.keys(selector).length === 0 || !Object.entries(selector).every(([k, v]) => podLabels[k] === v)) continue;
    for (const p of maps(spec.ports)) {
      if (resolvePort(p.targetPort ?? p.port) !== port) add(`${describe(s)}: port ${String(p.port)} targets ${String(p.targetPort ?? p.port)}, not segrec's port ${port}`);
    }
  }
  const readOnlyRoot = isMap(c.securityContext) && c.securityContext.readOnlyRootFilesystem === true;
  const dirs = [config.global.dataDir ?? './data', ...(config.global.clipRoots ?? []).filter((r) => !r.startsWith('s3://'))];
  for (const dir of dirs.map((d) => posix.resolve(IMAGE_WORKDIR, d))) {
    const mount = maps(c.volumeMounts).filter((m) => dir === m.mountPath || dir.startsWith(`${String(m.mountPath).replace(/\/$/, '')}/`))
      .sort((a, b) => String(b.mountPath).length - String(a.mountPath).length)[0];
    if (!mount) add(`${dir} (segrec.yml data_dir / clip_roots) is on no volume${readOnlyRoot ? ': the root filesystem is read-only' : ': it is lost with the container'}`);
    else if (mount.readOnly === true) add(`${dir} (segrec.yml data_dir / clip_roots) is on read-only volumeMount ${String(mount.name)}`);
  }
}
