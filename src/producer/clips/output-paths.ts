// Where a clip may be written: `out_dir` must resolve — symlinks included — inside a configured clip root;
// free names (name, name-1, …; assemble.ts claims one atomically with link(), so nothing is overwritten),
// and the hidden temp names clip jobs write under (those a crash left are removed at start).
import { existsSync, mkdirSync, readdirSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import type { Logger } from '../../common/log.js';
import { dirname, isAbsolute, join, relative, resolve, sep, basename, extname } from 'node:path';
import { DomainError } from '../../protocol/errors.js';

function within(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith('..' + sep) && r !== '..' && !isAbsolute(r));
}

/** The real path of `p`, resolving symlinks of the deepest existing ancestor. */
function realpathOfDeepestExisting(p: string): string {
  let cur = p;
  const rest: string[] = [];
  while (!existsSync(cur)) {
    const parent = dirname(cur);
    if (parent === cur) break;
    rest.unshift(basename(cur));
    cur = parent;
  }
  return join(realpathSync.native(cur), ...rest);
}

/** Longest directory path (bytes) a clip may go into: room for "/" and a NAME_MAX file name under PATH_MAX. */
const MAX_DIR_BYTES = 4095 - 1 - 255;

/** Filesystem errors that mean the requested out_dir cannot be a directory (the request's fault). */
const UNUSABLE = new Set(['ENAMETOOLONG', 'EEXIST', 'ENOTDIR', 'ENOENT', 'ELOOP']);

function unusableOutDir(e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  return code !== undefined && UNUSABLE.has(code) ? new DomainError('OUT_OF_ROOT', `out_dir: cannot be used as a directory (${code})`) : e;
}

/**
 * Resolves `outDir` (absolute, or relative to the first clip root) and checks it lies inside one of the
 * roots after symlinks are resolved. Creates it when missing. Throws a 400 naming `out_dir`.
 */
export function resolveOutDir(outDir: string | null, roots: string[]): string {
  const realRoots = roots.map((r) => realpathSync.native(r));
  if (outDir === null) return realRoots[0];
  if (outDir.trim() === '') throw new DomainError('INVALID_FIELD', 'out_dir: must not be empty');
  const candidate = isAbsolute(outDir) ? resolve(outDir) : resolve(realRoots[0], outDir);
  if (Buffer.byteLength(candidate) > MAX_DIR_BYTES) throw new DomainError('OUT_OF_ROOT', `out_dir: path longer than ${MAX_DIR_BYTES} bytes`);
  let real: string;
  try {
    real = realpathOfDeepestExisting(candidate);
  } catch (e) {
    throw unusableOutDir(e);
  }
  if (!realRoots.some((root) => within(root, real))) {
    throw new DomainError('OUT_OF_ROOT', `out_dir: must lie inside a clip root (${roots.join(', ')})`);
  }
  let after: string;
  try {
    mkdirSync(real, { recursive: true });
    // Re-check after creation: a symlink could have been swapped in meanwhile.
    after = realpathSync.native(real);
  } catch (e) {
    throw unusableOutDir(e);
  }
  if (!realRoots.some((root) => within(root, after))) throw new DomainError('OUT_OF_ROOT', 'out_dir: must lie inside a clip root');
  if (Buffer.byteLength(after) > MAX_DIR_BYTES) throw new DomainError('OUT_OF_ROOT', `out_dir: path longer than ${MAX_DIR_BYTES} bytes`);
  return after;
}

/** The JSON sidecar that sits beside a clip: `name.mp4` → `name.json`. */
export function sidecarPathOf(clipPath: string): string {
  return clipPath.replace(/\.mp4$/i, '') + '.json';
}

/** `name`, `name-1`, `name-2`, … */
export function candidates(dir: string, name: string): Iterable<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  return (function* () {
    for (let i = 0; i < 10_000; i++) yield join(dir, i === 0 ? name : `${stem}-${i}${ext}`);
  })();
}

/** The first candidate name whose clip and sidecar are both free right now (not reserved). */
export function freeClipName(dir: string, name: string): string {
  for (const c of candidates(dir, name)) {
    if (!existsSync(c) && !existsSync(sidecarPathOf(c))) return c;
  }
  throw new Error(`no free file name for ${name} in ${dir}`);
}

/** Temp files of clip jobs are hidden dotfiles with this prefix; recovery removes stale ones. */
export const TEMP_PREFIX = '.segrec-';

export function tempPathFor(dir: string, clipId: string, kind: 'mp4' | 'json'): string {
  return join(dir, `${TEMP_PREFIX}${clipId}.${kind}.tmp`);
}

/** Removes temp files a crash left in the clip roots (and their subdirectories, a few levels deep). */
export function removeStaleTemps(roots: readonly string[], log: Logger): void {
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try { names = readdirSync(dir); } catch { return; }
    for (const n of names) {
      const p = join(dir, n);
      if (n.startsWith(TEMP_PREFIX) && n.endsWith('.tmp')) {
        try { unlinkSync(p); log.info('removed stale clip temp file', { path: p }); } catch { /* gone */ }
        continue;
      }
      if (depth > 0) {
        try { if (statSync(p).isDirectory()) walk(p, depth - 1); } catch { /* gone */ }
      }
    }
  };
  for (const root of roots) walk(root, 4);
}
