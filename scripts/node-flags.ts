// The Node flags the `segrec` command runs with: those of its first line (`#!/usr/bin/env -S node …`),
// which deploy/Containerfile and `npm start` must repeat (checked by scripts/kubernetes/check.ts) and
// the benchmarks pass to the producers they start, as `segrec` would run them.
import { readFileSync } from 'node:fs';

/** The flags after `node` on a script's `#!/usr/bin/env -S node …` line ([] for a plain `#!/usr/bin/env node`). */
export function shebangNodeFlags(file: string): string[] {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env(?: -S)? node((?: +\S+)*) *$/.exec(first);
  if (!m) throw new Error(`${file}: its first line is not a #!/usr/bin/env node line`);
  return m[1].split(' ').filter(Boolean);
}
