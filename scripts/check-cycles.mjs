// Fails when src/ has a runtime import cycle (type-only imports do not count): the layers import one
// way (protocol ← domain ← HTTP edge ← composition root). Part of `npm run lint`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
const files = [];
const walk = (d) => { for (const f of readdirSync(d)) { const p = join(d, f); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.ts')) files.push(p); } };
walk('src');
const graph = new Map();
for (const f of files) {
  const src = readFileSync(f, 'utf8');
  const deps = [];
  for (const m of src.matchAll(/^import\s+(?!type\s)([^'"]*?)from\s+'(\.[^']+)'/gms)) {
    const names = m[1];
    // skip imports whose every binding is `type X`
    const inner = /\{([^}]*)\}/.exec(names);
    if (inner && !/^\s*[A-Za-z_$]/.test(names.replace(/\{[^}]*\}/, '').replace(',', '').trim() || '') ) {
      const parts = inner[1].split(',').map((x) => x.trim()).filter(Boolean);
      if (parts.length && parts.every((p) => p.startsWith('type '))) continue;
    }
    deps.push(resolve(dirname(f), m[2]).replace(/\.js$/, '.ts').replace(process.cwd() + '/', ''));
  }
  for (const m of src.matchAll(/^export\s+(?!type\s)[^;]*?from\s+'(\.[^']+)'/gms)) deps.push(resolve(dirname(f), m[1]).replace(/\.js$/, '.ts').replace(process.cwd() + '/', ''));
  graph.set(f, deps);
}
const seen = new Set(); const stack = []; const on = new Set(); const cycles = new Set();
const dfs = (n) => { seen.add(n); on.add(n); stack.push(n); for (const d of graph.get(n) ?? []) { if (on.has(d)) cycles.add(stack.slice(stack.indexOf(d)).concat(d).join(' → ')); else if (!seen.has(d)) dfs(d); } stack.pop(); on.delete(n); };
for (const f of files) if (!seen.has(f)) dfs(f);
if (cycles.size > 0) {
  console.error(`runtime import cycles in src/:\n${[...cycles].join('\n')}`);
  process.exit(1);
}
