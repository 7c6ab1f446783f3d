// Segment files whose removal is decided — retention deleting their rows, the uploader evicting local
// copies of uploaded segments. The decision (rows deleted, or marked not local) and the files' names in
// `file_removals` are one transaction; the files are unlinked after it, their directories synced, and
// the names dropped. A crash in between leaves the names, and the next start finishes the removal before
// anything reads the directories: never a row without its bytes, and no stray file (an evicted copy left
// behind would otherwise stay forever: its path is still known to the index; a retention victim would be
// adopted back into the index). Moonfire NVR's `garbage` table does the same for its sample files.
import { unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { syncDirectory } from '../../common/sync-directory.js';
import { segmentAbsPath } from './paths.js';

/** Names a finish() unlinks and forgets per transaction. */
const PAGE = 256;

export class FileRemovals {
  private readonly stmts: {
    queue: Database.Statement<[string]>;
    page: Database.Statement<[number], { path: string }>;
    forget: Database.Statement<[string]>;
  };

  constructor(private readonly db: Database.Database, private readonly segmentsDir: string) {
    this.stmts = {
      queue: db.prepare('INSERT OR IGNORE INTO file_removals (path) VALUES (?)'),
      page: db.prepare('SELECT path FROM file_removals ORDER BY path LIMIT ?'),
      forget: db.prepare('DELETE FROM file_removals WHERE path = ?'),
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
   * them, then forgets their names. Returns how many names were forgotten.
   */
  finish(): number {
    let done = 0;
    for (;;) {
      const page = this.stmts.page.all(PAGE).map((r) => r.path);
      if (page.length === 0) return done;
      const dirs = new Set<string>();
      for (const rel of page) {
        let abs: string;
        try {
          abs = segmentAbsPath(this.segmentsDir, rel);
        } catch {
          continue; // a name reaching outside the segments directory is no segment file: only forgotten
        }
        try {
          unlinkSync(abs);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
        dirs.add(dirname(abs));
      }
      // The names go only once the unlinks are durable: a power cut must not bring back a file whose name is forgotten.
      for (const dir of dirs) syncDirectory(dir);
      this.db.transaction(() => { for (const p of page) this.stmts.forget.run(p); })();
      done += page.length;
    }
  }

  /** Names recorded and not yet removed (for tests and the start-up log). */
  pending(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM file_removals').get() as { n: number }).n;
  }
}
