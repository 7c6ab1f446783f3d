// A small leveled logger: one human-readable line per event on stderr, or JSON lines when asked.
// Every message and field passes through URL redaction so source credentials never reach a log.
import { redactSecrets } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | bigint | boolean | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level?: LogLevel;
  json?: boolean;
  /** Strings to scrub from every line (e.g. the source URL's password). */
  secrets?: string[];
  write?: (line: string) => void;
  component?: string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = ORDER[opts.level ?? 'info'];
  const secrets = opts.secrets ?? [];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const json = opts.json ?? false;
  const emit = (lvl: LogLevel, component: string | undefined, msg: string, fields?: LogFields) => {
    if (ORDER[lvl] < level) return;
    const ts = new Date().toISOString();
    let line: string;
    if (json) {
      line = JSON.stringify({ ts, level: lvl, component, msg, ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    } else {
      const kv = fields
        ? Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${String(v)}`).join(' ')
        : '';
      line = `${ts} ${lvl.toUpperCase().padEnd(5)} ${component ? `[${component}] ` : ''}${msg}${kv ? ' ' + kv : ''}`;
    }
    write(redactSecrets(line, secrets));
  };
  const make = (component?: string): Logger => ({
    debug: (m, f) => emit('debug', component, m, f),
    info: (m, f) => emit('info', component, m, f),
    warn: (m, f) => emit('warn', component, m, f),
    error: (m, f) => emit('error', component, m, f),
    child: (c) => make(component ? `${component}.${c}` : c),
  });
  return make(opts.component);
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => undefined });

/** `base`, also scrubbing `secrets` from messages and string fields (a camera's password, for a logger made before it was known). */
export function withSecrets(base: Logger, secrets: string[]): Logger {
  if (secrets.length === 0) return base;
  const scrub = (f?: LogFields): LogFields | undefined =>
    f && Object.fromEntries(Object.entries(f).map(([k, v]) => [k, typeof v === 'string' ? redactSecrets(v, secrets) : v]));
  return {
    debug: (m, f) => base.debug(redactSecrets(m, secrets), scrub(f)),
    info: (m, f) => base.info(redactSecrets(m, secrets), scrub(f)),
    warn: (m, f) => base.warn(redactSecrets(m, secrets), scrub(f)),
    error: (m, f) => base.error(redactSecrets(m, secrets), scrub(f)),
    child: (c) => withSecrets(base.child(c), secrets),
  };
}
