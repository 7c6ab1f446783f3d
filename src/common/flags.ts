// The one command-line flag parser (segrec's subcommands and the producer's options): `--name value`,
// `--name=value`, boolean `--flag` / `--no-flag`, repeated flags, and values that start with '-'
// (relative times like `-30s`) for flags that take values.
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagDef { name: string; value: boolean; help: string }

/** What was given: `get` is the last value of a flag, `all` every value of a repeated one. */
export class ParsedFlags {
  private readonly values = new Map<string, Array<string | boolean>>();

  set(name: string, v: string | boolean): void {
    const list = this.values.get(name) ?? [];
    list.push(v);
    this.values.set(name, list);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  get(name: string): string | boolean | undefined {
    const list = this.values.get(name);
    return list?.[list.length - 1];
  }

  all(name: string): string[] {
    return (this.values.get(name) ?? []).map(String);
  }
}

export function parseFlags(argv: string[], defs: FlagDef[]): ParsedFlags {
  const out = new ParsedFlags();
  const byName = new Map(defs.map((d) => [d.name, d]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"`);
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
    if (name.startsWith('no-') && byName.get(name.slice(3))?.value === false) {
      out.set(name.slice(3), false);
      continue;
    }
    const def = byName.get(name);
    if (!def) throw new UsageError(`unknown flag --${name} (known: ${defs.map((d) => '--' + d.name).join(', ')})`);
    if (!def.value) {
      out.set(name, value === undefined ? true : !/^(0|false|no|off)$/i.test(value));
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    out.set(name, value);
  }
  return out;
}

export function helpFor(defs: FlagDef[]): string {
  return defs.map((d) => `  --${d.name}${d.value ? ' VALUE' : ''}`.padEnd(28) + d.help).join('\n');
}
