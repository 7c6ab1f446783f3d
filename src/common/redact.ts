// Keeps secrets out of logs, /health and error messages: credentials in source URLs
// (rtsp://user:pass@host/…) and secret-looking query parameters.
/** Query keys whose values are secrets: `token`, and also `access_token`, `api-key`, `X-Auth`… */
const SECRET_QUERY_KEYS = /(^|[_.-])(pass(word)?|pwd|token|auth|(api)?key|secret|signature|sig|credentials?)$/i;

/** Replaces user:password in any URL-looking substring, and secret query values, with `***`. */
export function redactUrl(text: string): string {
  return text
    // Up to the LAST @ before the path: a password may itself contain an unencoded '@'.
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/\s]+)@/gi, '$1***@')
    .replace(/([?&])([^=&\s]+)=([^&\s]*)/g, (m, sep: string, key: string) =>
      SECRET_QUERY_KEYS.test(key) ? `${sep}${key}=***` : m);
}

/** Redacts every occurrence of the given secret strings (e.g. the raw source URL's password). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = redactUrl(text);
  for (const s of secrets) {
    if (s.length >= 3) out = out.split(s).join('***');
  }
  return out;
}

/** The password (and user) parts of a URL, so they can be scrubbed even where they appear alone. */
export function urlSecrets(url: string): string[] {
  try {
    const u = new URL(url);
    const out: string[] = [];
    if (u.password) {
      out.push(u.password);
      try {
        out.push(decodeURIComponent(u.password));
      } catch {
        // A malformed %-escape: the raw form above is still scrubbed.
      }
    }
    return out;
  } catch {
    return [];
  }
}
