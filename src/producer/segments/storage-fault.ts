// Storing fragments failing (a full disk, an I/O error): which errors mean that, and the bookkeeping of
// one fault — since when, what it cost, logged at most every 30 s — and of the newest storage error,
// kept after recovery for /health's last_error. The segment writer owns one tracker.
import type { Logger } from '../../common/log.js';

/** Storing fragments is failing (for /health and logs); null while it works. */
export interface StorageFault {
  code: string;
  /** What fails and where, e.g. "disk full (ENOSPC): cannot write segments in /data/segments". */
  message: string;
  sinceEpochMs: number;
  /** Fragments dropped since the fault began, and the footage they held (ns). */
  fragments: number;
  droppedNs: number;
}

/** The errno / SQLite code of an error that means "storage failed", or null for anything else (a bug). */
export function storageErrorCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  return /^E[A-Z0-9]+$/.test(code) || /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB|PERM)/.test(code) ? code : null;
}

export function isDiskFull(code: string): boolean {
  return code === 'ENOSPC' || code === 'EDQUOT' || code.startsWith('SQLITE_FULL');
}

const RELOG_MS = 30_000;

export class StorageFaultTracker {
  /** Non-null while fragments cannot be stored. */
  fault: StorageFault | null = null;
  /** The newest storage error (kept after recovery, with what it cost). */
  lastError: { message: string; atMs: number } | null = null;
  private loggedAtMs = 0;

  constructor(private readonly dir: string, private readonly log: Logger) {}

  /** A fragment holding `ns` of footage could not be stored. */
  dropped(code: string, e: Error, ns: number): void {
    const now = Date.now();
    if (!this.fault) {
      const what = isDiskFull(code) ? `disk full (${code})` : `storage error (${code})`;
      this.fault = { code, message: `${what}: cannot write segments in ${this.dir}`, sinceEpochMs: now, fragments: 0, droppedNs: 0 };
      this.loggedAtMs = now;
      this.log.error('cannot store fragments; dropping them until storing works again', { code, error: e.message, dir: this.dir });
    } else if (now - this.loggedAtMs >= RELOG_MS) {
      this.loggedAtMs = now;
      this.log.error('still cannot store fragments', { code, error: e.message, dropped_fragments: this.fault.fragments + 1 });
    }
    const fault = this.fault;
    fault.fragments++;
    fault.droppedNs += ns;
    this.lastError = {
      message: `${fault.message} (${e.message}); ${fault.fragments} fragment(s) (${(fault.droppedNs / 1e9).toFixed(1)} s of footage) not recorded so far`,
      atMs: now,
    };
  }

  /** A fragment was stored: the fault, if any, is over. */
  stored(): void {
    const fault = this.fault;
    if (!fault) return;
    this.fault = null;
    const lost = `${fault.fragments} fragment(s) (${(fault.droppedNs / 1e9).toFixed(1)} s of footage) were not recorded`;
    this.lastError = { message: `${fault.message} from ${new Date(fault.sinceEpochMs).toISOString()} for ${Date.now() - fault.sinceEpochMs} ms; ${lost}`, atMs: Date.now() };
    this.log.info('storing segments again', { after_ms: Date.now() - fault.sinceEpochMs, dropped_fragments: fault.fragments, code: fault.code });
  }
}
