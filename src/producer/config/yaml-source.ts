// Reading a YAML config file strictly: parses it with the `yaml` library, maps nodes to their line
// numbers, and reads typed values (strings, numbers, booleans, enums, durations, sizes, lists) out of
// mappings whose keys are all known. Every failure is a ConfigError that names `file:line` and the
// key path, and never carries a secret (URL credentials, auth tokens) from the file.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { redactSecrets, redactUrl, urlSecrets } from '../../common/redact.js';
import { parseBytes, parseDurationMs } from '../../common/units.js';

/** Where a ConfigError points: the file (null for flags), its 1-based line, and the key path. */
export interface ConfigErrorWhere {
  file?: string | null;
  line?: number | null;
  keyPath?: string | null;
}

/** A configuration that cannot be used; the message reads `file:line: key.path: what is wrong`. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'INVALID_CONFIG';
  readonly file: string | null;
  readonly line: number | null;
  readonly keyPath: string | null;

  constructor(detail: string, where: ConfigErrorWhere = {}) {
    const file = where.file ?? null;
    const line = where.line ?? null;
    const keyPath = where.keyPath ?? null;
    const at = file === null ? '' : line === null ? `${file}: ` : `${file}:${line}: `;
    super(redactUrl(`${at}${keyPath ? `${keyPath}: ` : ''}${detail}`));
    this.file = file;
    this.line = line;
    this.keyPath = keyPath;
  }
}

/** One key of a mapping: its name, its nodes, and its dotted path from the document root. */
export interface Entry {
  key: string;
  keyNode: Node;
  /** null for a missing value (`key:`). */
  value: Node | null;
  path: string;
}

/** Keys holding secrets: their values are never quoted in messages. */
const SECRET_KEYS = new Set(['auth_token']);

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** The known key closest to `key`, when it is close enough to be a likely typo. */
export function closestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k);
    if (d < bestD) { best = k; bestD = d; }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}

/** A parsed YAML document and the means to read it with errors that point into the file. */
export class YamlSource {
  readonly doc: Document.Parsed;
  private readonly lines = new LineCounter();
  /** Strings scrubbed from every message: URL passwords and secret values found anywhere in the file. */
  private readonly secrets: string[] = [];

  constructor(text: string, readonly file: string) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    visit(this.doc, {
      Scalar: (_key, node) => {
        if (typeof node.value === 'string') this.secrets.push(...urlSecrets(node.value));
      },
      Pair: (_key, pair) => {
        if (isScalar(pair.key) && SECRET_KEYS.has(String(pair.key.value)) && isScalar(pair.value)) {
          this.secrets.push(String(pair.value.value));
        }
      },
    });
    const err = this.doc.errors[0];
    if (err) {
      const line = this.lines.linePos(err.pos[0]).line;
      throw this.error(`YAML syntax error: ${err.message}`, line, null);
    }
  }

  /** The 1-based line a node starts on (1 when it has no position). */
  line(node: Node | null | undefined): number {
    return node?.range ? this.lines.linePos(node.range[0]).line : 1;
  }

  /** The line to blame for an entry's value: the key's line when the value is missing or null. */
  lineOf(e: Entry): number {
    const v = this.deref(e.value);
    return v === null || (isScalar(v) && v.value === null) ? this.line(e.keyNode) : this.line(e.value);
  }

  error(detail: string, line: number | null, keyPath: string | null): ConfigError {
    return new ConfigError(redactSecrets(detail, this.secrets), { file: this.file, line, keyPath: keyPath === null ? null : redactSecrets(keyPath, this.secrets) });
  }

  fail(e: Entry, detail: string): never {
    throw this.error(detail, this.lineOf(e), e.path);
  }

  /** Follows an alias to the node it names; null for a missing value. */
  deref(node: Node | null | undefined): Node | null {
    if (!node) return null;
    if (!isAlias(node)) return node;
    const target = node.resolve(this.doc);
    if (!target) throw this.error(`unknown alias *${node.source}`, this.line(node), null);
    return target as Node;
  }

  /** How a value looks, for "got …" in messages (secret values are never shown). */
  describe(e: Entry): string {
    const v = this.deref(e.value);
    if (v === null || (isScalar(v) && v.value === null)) return 'nothing';
    if (isMap(v)) return 'a mapping';
    if (isSeq(v)) return 'a list';
    const x = isScalar(v) ? v.value : undefined;
    if (SECRET_KEYS.has(e.key)) return `a ${typeof x}`;
    if (typeof x === 'string') return `"${redactUrl(x)}"`;
    if (typeof x === 'number' || typeof x === 'boolean') return String(x);
    return 'a value of another type';
  }

  /**
   * The entries of the mapping at `node` (an entry whose value must be a mapping, or the document
   * root when `e` is null). Unknown keys are errors; `hint` may explain a known mistake.
   */
  entries(e: Entry | null, known: readonly string[] | null, hint?: (key: string) => string | null): Map<string, Entry> {
    const node = e ? this.deref(e.value) : this.deref(this.doc.contents as Node | null);
    if (!isMap(node)) {
      if (!e) throw this.error(node === null ? 'the file is empty' : 'the file must be a mapping of keys to values', this.line(node), null);
      this.fail(e, `must be a mapping, got ${this.describe(e)}`);
    }
    const out = new Map<string, Entry>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node;
      const k = this.deref(keyNode);
      const path = (name: string) => (e ? `${e.path}.${name}` : name);
      if (!isScalar(k) || k.value === null || typeof k.value === 'object') {
        throw this.error('keys must be plain names', this.line(keyNode), e?.path ?? null);
      }
      // The text as written: `0123:` is the name "0123", not the number 123.
      const key = typeof k.value === 'string' ? k.value : (k.source ?? String(k.value));
      const entry: Entry = { key, keyNode, value: (pair.value as Node | null) ?? null, path: path(key) };
      if (known && !known.includes(key)) {
        const why = hint?.(key) ?? (closestKey(key, known) ? `did you mean ${closestKey(key, known)}?` : `known keys: ${known.join(', ')}`);
        throw this.error(`unknown key (${why})`, this.line(keyNode), entry.path);
      }
      out.set(key, entry);
    }
    return out;
  }

  isNull(e: Entry): boolean {
    const v = this.deref(e.value);
    return v === null || (isScalar(v) && v.value === null);
  }

  private scalar(e: Entry): unknown {
    const v = this.deref(e.value);
    return isScalar(v) ? v.value : undefined;
  }

  string(e: Entry): string {
    const v = this.scalar(e);
    if (typeof v !== 'string') this.fail(e, `must be a string, got ${this.describe(e)}`);
    if (v.trim() === '') this.fail(e, 'must not be empty');
    return v;
  }

  number(e: Entry, ok: (n: number) => boolean, what: string): number {
    const v = this.scalar(e);
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) this.fail(e, `must be ${what}, got ${this.describe(e)}`);
    return v;
  }

  bool(e: Entry): boolean {
    const v = this.scalar(e);
    if (typeof v !== 'boolean') this.fail(e, `must be true or false, got ${this.describe(e)}`);
    return v;
  }

  oneOf<T extends string>(e: Entry, values: readonly T[]): T {
    const v = this.scalar(e);
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(e, `must be one of ${values.join(', ')}, got ${this.describe(e)}`);
    }
    return v as T;
  }

  /** A duration string ("90s", "7d") or a number of seconds, in milliseconds, at least `minMs`. */
  duration(e: Entry, minMs: number, what: string): number {
    const v = this.scalar(e);
    let ms: number | null = null;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) ms = Math.round(v * 1000);
    else if (typeof v === 'string') {
      try { ms = parseDurationMs(v); } catch { ms = null; }
    }
    if (ms === null) this.fail(e, `must be a duration like 500ms, 90s, 15m, 24h or 7d, got ${this.describe(e)}`);
    if (ms < minMs) this.fail(e, `must be ${what}, got ${this.describe(e)}`);
    return ms;
  }

  /** A size string ("50GB", "512MiB") or a number of bytes; must be positive. */
  bytes(e: Entry): number {
    const v = this.scalar(e);
    let n: number | null = null;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) n = Math.round(v);
    else if (typeof v === 'string') {
      try { n = parseBytes(v); } catch { n = null; }
    }
    if (n === null) this.fail(e, `must be a size like 500MB, 20GB or 1.5TiB (or a number of bytes), got ${this.describe(e)}`);
    if (n <= 0) this.fail(e, `must be positive, got ${this.describe(e)}`);
    return n;
  }

  /** A list of non-empty strings. */
  stringList(e: Entry): string[] {
    const v = this.deref(e.value);
    if (!isSeq(v)) this.fail(e, `must be a list, got ${this.describe(e)}`);
    return v.items.map((item, i) => this.string({ key: e.key, keyNode: e.keyNode, value: item as Node, path: `${e.path}[${i}]` }));
  }
}
