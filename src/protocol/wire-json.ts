// JSON as the wire carries it: PTS are integers written with all their digits, which JSON allows and
// JavaScript's JSON does not keep past 2^53. parseWireJson turns integers beyond the safe range into
// bigints (lossless-json); stringifyWireJson writes bigints as plain integers (JSON.stringify with a
// marker replaced afterwards: several times faster than a JSON writer in JavaScript on large answers).
import { randomBytes } from 'node:crypto';
import { isInteger, isSafeNumber, parse } from 'lossless-json';

/** Parses JSON text; integers a number cannot hold exactly become bigints, every other number a number. */
export function parseWireJson(text: string): unknown {
  return parse(text, null, {
    parseNumber: (s) => (isInteger(s) && !isSafeNumber(s) ? BigInt(s) : Number(s)),
    // As JSON.parse: a repeated key keeps its last value.
    onDuplicateKey: ({ newValue }) => newValue,
  });
}

/**
 * Parses a request body as JSON.parse does (duplicate keys: the last wins), except that integers a number
 * cannot hold exactly are handed over as their digits (a PTS field takes a string of digits; any other
 * field refuses a string), so nothing is silently rounded.
 */
export function parseBody(text: string): unknown {
  return JSON.parse(quoteLongIntegers(text));
}

const DIGIT = (c: number) => c >= 48 && c <= 57;

/**
 * JSON text with every integer literal outside strings that is not a safe integer put in quotes. A
 * linear scan that skips strings (with their escapes); anything malformed stays malformed for JSON.parse.
 */
export function quoteLongIntegers(text: string): string {
  let out = '';
  let copied = 0;
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c === 34) { // a string: to its closing quote
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) { i++; break; }
      }
      continue;
    }
    if (c !== 45 && !DIGIT(c)) { i++; continue; }
    let j = c === 45 ? i + 1 : i;
    const first = j;
    while (j < text.length && DIGIT(text.charCodeAt(j))) j++;
    const next = text.charCodeAt(j);
    const integer = next !== 46 && next !== 101 && next !== 69; // not followed by . e E
    if (integer && j - first >= 16 && (text.charCodeAt(first) !== 48 || j - first === 1) && !Number.isSafeInteger(Number(text.slice(i, j)))) {
      out += `${text.slice(copied, i)}"${text.slice(i, j)}"`;
      copied = j;
    }
    while (j < text.length && /[0-9eE+.-]/.test(text[j])) j++;
    i = Math.max(j, i + 1);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

// A marker no JSON string of ours contains: a bigint becomes "<marker><digits>", then loses its quotes.
const MARK = `\u0001bigint${randomBytes(12).toString('hex')}:`;
const MARKED = new RegExp(`"${JSON.stringify(MARK).slice(1, -1).replace(/\\/g, '\\\\')}(-?[0-9]+)"`, 'g');

/** JSON text of a value whose numbers may be bigints (written as integers with all their digits). */
export function stringifyWireJson(value: unknown, space?: number): string {
  let big = false;
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    big = true;
    return `${MARK}${v}`;
  }, space);
  return big ? text.replace(MARKED, '$1') : text;
}
