// The whole Kubernetes check of one kustomize directory: render it (kustomize.ts), validate every object
// against the Kubernetes schemas (schema.ts) and against this segrec (segrec.ts). Also the Containerfile's
// entrypoint against package.json's bin, and its Node flags (and `npm start`'s) against the bin's first
// line. Returns problems; printing and exit codes are the CLI's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KustomizeError, renderKustomization, type K8sObject } from './kustomize.js';
import { checkNamesAndSelectors, validateSchema, type Problem } from './schema.js';
import { checkSegrec } from './segrec.js';
import { shebangNodeFlags } from '../node-flags.js';

export type { Problem };
export interface CheckResult {
  objects: K8sObject[];
  problems: Problem[];
  /** Things worth saying that are not problems (e.g. secrets.env.example stood in for secrets.env). */
  notes: string[];
}

/** The repository root (scripts/kubernetes/../..). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export async function checkKubernetes(dir: string, root = ROOT): Promise<CheckResult> {
  const notes: string[] = [];
  let objects: K8sObject[];
  try {
    objects = renderKustomization(dir, { exampleFallback: true, notes });
  } catch (err) {
    if (!(err instanceof KustomizeError)) throw err;
    return { objects: [], problems: [{ where: 'kustomize', message: err.message }], notes };
  }
  const problems = [
    ...(await Promise.all(objects.map(validateSchema))).flat(),
    ...checkNamesAndSelectors(objects),
    ...checkSegrec(objects, root),
  ];
  return { objects, problems, notes };
}

/** The image must run package.json's `segrec` bin, since the manifests give only its arguments. */
export function checkContainerfile(root = ROOT): Problem[] {
  const where = 'deploy/Containerfile';
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin?: Record<string, string>; scripts?: Record<string, string> };
  const bin = pkg.bin?.segrec;
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(root, where), 'utf8'));
  if (!bin) return [{ where: 'package.json', message: 'bin.segrec is missing' }];
  if (!entry) return [{ where, message: 'no ENTRYPOINT ["…"] line' }];
  const words = JSON.parse(entry[1]) as string[];
  const path = bin.replace(/^\.\//, '');
  const at = words.findIndex((w) => w.endsWith(`/${path}`));
  if (at < 0) return [{ where, message: `ENTRYPOINT ${entry[1]} does not run package.json's bin ${path}` }];
  // The bin's own first line gives its Node flags (its source's: the build keeps the line).
  const flags = shebangNodeFlags(join(root, path.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')));
  const problems: Problem[] = [];
  const given = words.slice(words.indexOf('node') + 1, at);
  if (given.join(' ') !== flags.join(' ')) problems.push({ where, message: `ENTRYPOINT runs node with [${given.join(' ')}], the bin's first line with [${flags.join(' ')}]` });
  const start = pkg.scripts?.start ?? '';
  if (!start.includes(`node ${[...flags, path].join(' ')}`)) problems.push({ where: 'package.json', message: `scripts.start does not run node ${[...flags, path].join(' ')}` });
  return problems;
}
