// Segment files whose removal is decided — retention deleting their rows, the uploader evicting local
// copies of uploaded segments. The decision (rows deleted, or marked not local) and the files' names in
// `file_removals` are one transaction; the files are unlinked after it, their directories synced, and
// the names dropped. A crash in between leaves the names, and the next start finishes the removal before
// anything reads the directories: never a row without its bytes, and no stray file (an evicted copy left
// behind would otherwise stay forever: its path is still known to the index; a retention victim would be
// adopted back into the index). Moonfire NVR's `garbage` table does the same for its sample files.
// A removal that fails is said once (a warning) until what fails changes, and again once it succeeds.
import { unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from '../../common/log.js';
import { syncDirectory } from '../../common/sync-directory.js';
import { segmentAbsPath } from './paths.js';

/** Names a finish() unlinks and forgets per transaction. */
const PAGE = 256;

export class FileRemovals {
  private readonly stmts: {
    queue: Database.Statement<[string]>;
    page: Database.Statement<[string, number], { path: string }>;
    forget: Database.Statement<[string]>;
    has: Database.Statement<[string], { n: number }>;
  };

  /** What failed at the last finish(), as last said (so a file that keeps failing is said once). */
  private said = '';

  constructor(private readonly db: Database.Database, private readonly segmentsDir: string, private readonly log?: Logger) {
    this.stmts = {
      queue: db.prepare('INSERT OR IGNORE INTO file_removals (path) VALUES (?)'),
      page: db.prepare('SELECT path FROM file_removals WHERE path > ? ORDER BY path LIMIT ?'),
      forget: db.prepare('DELETE FROM file_removals WHERE path = ?'),
      has: db.prepare('SELECT 1 AS n FROM file_removals WHERE path = ?'),
    };
  }

  /** Runs `change` (the rows deleted, or marked not local) and records `paths` (relative segment paths) as to be removed, in one transaction. */
  commit(change: () => void, paths: readonly string[]): void {
    this.db.transaction(() => {
      change();
      for (const p of paths) this.stmts.queue.run(p);
    })();
  }

  /**
   * Removes every recorded file (one already gone counts as removed), syncs the directories that held
   * them, then forgets their names. A file that cannot be removed (EACCES, EIO, …) keeps its name for
   * the next call, and the others go on: it is in `failed` (and in the log, when that changed). Returns
   * how many names were forgotten.
   */
  finish(): { removed: number; failed: Array<{ path: string; error: string }> } {
    let removed = 0;
    const failed: Array<{ path: string; error: string }> = [];
    for (let after = '';;) {
      const page = this.stmts.page.all(after, PAGE).map((r) => r.path);
      if (page.length === 0) {
        this.say(failed);
        return { removed, failed };
      }
      after = page[page.length - 1];
      const dirs = new Set<string>();
      const gone: string[] = [];
      for (const rel of page) {
        let abs: string;
        try {
          abs = segmentAbsPath(this.segmentsDir, rel);
        } catch {
          gone.push(rel); // a name reaching outside the segments directory is no segment file: only forgotten
          continue;
        }
        try {
          unlinkSync(abs);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
            failed.push({ path: rel, error: (e as Error).message });
            continue;
          }
        }
        gone.push(rel);
        dirs.add(dirname(abs));
      }
      // The names go only once the unlinks are durable: a power cut must not bring back a file whose name is forgotten.
      for (const dir of dirs) syncDirectory(dir);
      this.db.transaction(() => { for (const p of gone) this.stmts.forget.run(p); })();
      removed += gone.length;
    }
  }

  /** Whether a file's removal is decided and not yet done (its unlink failed, or a crash came between): not footage to adopt. */
  isPending(path: string): boolean {
    return this.stmts.has.get(path) !== undefined;
  }

  private say(failed: ReadonlyArray<{ path: string; error: string }>): void {
    const now = failed.map((f) => `${f.path}\n${f.error}`).join('\n');
    if (now === this.said) return;
    const before = this.said;
    this.said = now;
    if (failed.length > 0) {
      this.log?.warn('segment files decided to go could not be removed (tried again at every removal and start)', { files: failed.length, path: failed[0].path, error: failed[0].error });
    } else if (before !== '') {
      this.log?.info('segment files whose removal had failed are removed now');
    }
  }

  /** Names recorded and not yet removed (for tests and the start-up log). */
  pending(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM file_removals').get() as { n: number }).n;
  }
}
