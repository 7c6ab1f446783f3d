// `npx tsx scripts/check-kubernetes.ts [--print] [DIR…]`: renders each kustomize directory (default: every
// overlay in deploy/kubernetes/overlays) and checks it (scripts/kubernetes/check.ts): Kubernetes schemas,
// names and selectors, and fit with this segrec's flags, environment variables and segrec.yml.
// Exit 0 when all is well, 1 with one line per problem; --print writes the rendered YAML to stdout.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { checkContainerfile, checkKubernetes, ROOT } from './kubernetes/check.js';

const args = process.argv.slice(2);
const print = args.includes('--print');
const overlays = join(ROOT, 'deploy/kubernetes/overlays');
const dirs = args.filter((a) => a !== '--print');
if (dirs.length === 0) dirs.push(...readdirSync(overlays, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(overlays, d.name)));

let failed = false;
const say = (line: string) => (print ? process.stderr : process.stdout).write(`${line}\n`);
for (const p of checkContainerfile()) {
  failed = true;
  say(`${p.where}: ${p.message}`);
}
for (const dir of dirs) {
  const name = relative(process.cwd(), dir) || '.';
  const { objects, problems, notes } = await checkKubernetes(dir);
  for (const n of notes) say(`${name}: note: ${n}`);
  for (const p of problems) say(`${name}: ${p.where}: ${p.message}`);
  if (problems.length > 0) failed = true;
  else say(`${name}: ok — ${objects.map((o) => `${o.kind} ${o.metadata.name}`).join(', ')}`);
  if (print) process.stdout.write(objects.map((o) => stringify(o)).join('---\n'));
}
process.exit(failed ? 1 : 0);
