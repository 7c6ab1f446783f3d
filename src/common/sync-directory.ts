// One helper: making a directory's entries (a file linked, renamed or unlinked in it) durable.
import { closeSync, fsyncSync, openSync } from 'node:fs';

/** fsync of a directory; a directory that is gone or cannot be opened or synced (not every filesystem lets one be) is left as is. */
export function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // Not every filesystem lets a directory be fsynced; what was written is already durable.
  } finally {
    closeSync(fd);
  }
}
