// The whole Kubernetes check of one kustomize directory: render it (kustomize.ts), validate every object
// against the Kubernetes schemas (schema.ts) and against this segrec (segrec.ts). Also the Containerfile's
// entrypoint against package.json's bin. Returns problems; printing and exit codes are the CLI's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KustomizeError, renderKustomization, type K8sObject } from './kustomize.js';
import { checkNamesAndSelectors, validateSchema, type Problem } from './schema.js';
import { checkSegrec } from './segrec.js';

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
  const bin = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin?: Record<string, string> }).bin?.segrec;
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(root, where), 'utf8'));
  if (!bin) return [{ where: 'package.json', message: 'bin.segrec is missing' }];
  if (!entry) return [{ where, message: 'no ENTRYPOINT ["…"] line' }];
  const words = JSON.parse(entry[1]) as string[];
  const path = bin.replace(/^\.\//, '');
  return words.some((w) => w.endsWith(`/${path}`)) ? [] : [{ where, message: `ENTRYPOINT ${entry[1]} does not run package.json's bin ${path}` }];
}
