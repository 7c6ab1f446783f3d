// Request validation from the protocol's JSON Schemas: bodies with Ajv (no type coercion, unknown
// fields refused), query strings by walking the schema (decimal integers and numbers only — `1e3`, ` 5` and `0x10`
// are not integers here — an empty value is absent, and enums name their values). Every failure is a
// 400 whose message starts with the field it names.
import { Ajv, type ErrorObject } from 'ajv';
import { DomainError } from '../../protocol/errors.js';
import { fieldName, queryIntValue, queryNumberValue } from '../../protocol/fields.js';
import { parsePts, PTS_MAX, ptsField } from '../../protocol/pts.js';

const ajv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false, verbose: true });

/**
 * What is wrong with a PTS as a request gives it (protocol/pts.ts): a safe integer number, or a string
 * of digits (the body parser hands integers past 2^53 over that way); null when it is one.
 */
export function ptsProblem(v: unknown): string | null {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return 'must be a number';
    if (!Number.isInteger(v)) return 'must be an integer';
    if (v < 0) return 'must not be negative';
    if (v > Number(PTS_MAX)) return `must be at most ${PTS_MAX}`;
    return Number.isSafeInteger(v) ? null : 'must be written as a plain integer past 2^53 (all its digits, no exponent)';
  }
  if (typeof v !== 'string' || !/^-?[0-9]+$/.test(v)) return 'must be an integer';
  if (v.startsWith('-')) return /[1-9]/.test(v) ? 'must not be negative' : 'must be an integer';
  return parsePts(v.replace(/^0+(?=[0-9])/, '')) === null ? `must be at most ${PTS_MAX}` : null;
}

// A PTS field is checked by this keyword alone (its schema's anyOf documents the two forms in OpenAPI).
ajv.addKeyword({
  keyword: 'x-pts',
  errors: true,
  validate: function check(this: unknown, _schema: unknown, data: unknown) {
    const why = ptsProblem(data);
    (check as { errors?: Array<Partial<ErrorObject>> }).errors = why === null ? [] : [{ keyword: 'x-pts', message: why, params: {} }];
    return why === null;
  },
});

/**
 * The schema Ajv compiles: a PTS field's node reduced to its `x-pts` keyword. One copy per schema (Ajv
 * knows a schema with an `$id` once; routes served at two paths share theirs).
 */
const ajvCopies = new WeakMap<object, unknown>();
function forAjvOnce(schema: object): unknown {
  let copy = ajvCopies.get(schema);
  if (copy === undefined) ajvCopies.set(schema, (copy = forAjv(schema)));
  return copy;
}

function forAjv(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forAjv);
  if (node === null || typeof node !== 'object') return node;
  const n = node as Record<string, unknown>;
  if (n['x-pts']) return { 'x-pts': true };
  return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, forAjv(v)]));
}

type Validator = (data: unknown) => { value?: unknown; error?: Error } | boolean;

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  minimum?: number;
  maximum?: number;
  anyOf?: SchemaNode[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  'x-pts'?: boolean;
}

/** What an Ajv error says, in the words of the producer's other checks. */
function what(e: Partial<ErrorObject>): string {
  const params = (e.params ?? {}) as Record<string, unknown>;
  const data = e.data;
  switch (e.keyword) {
    case 'type': {
      const want = String(params.type ?? '').split(',')[0];
      if (want === 'number') return 'must be a finite number';
      if (want === 'integer') return typeof data === 'number' && Number.isFinite(data) ? 'must be an integer' : 'must be a number';
      return `must be ${want === 'object' || want === 'array' ? 'an' : 'a'} ${want}`;
    }
    case 'minimum': case 'maximum': {
      const ps = (e.parentSchema ?? {}) as { type?: string; minimum?: number; maximum?: number };
      if (ps.type === 'number' && ps.minimum !== undefined && ps.maximum !== undefined) return `must be between ${ps.minimum} and ${ps.maximum}`;
      if (e.keyword === 'maximum') return `must be at most ${String(params.limit)}`;
      return params.limit === 0 ? 'must not be negative' : `must be at least ${String(params.limit)}`;
    }
    case 'maxLength': return `longer than ${String(params.limit)} characters`;
    case 'enum': return `must be one of ${(params.allowedValues as unknown[] | undefined)?.join(', ') ?? 'the allowed values'}`;
    case 'x-pts': return e.message ?? 'must be an integer';
    default: return e.message ?? 'invalid';
  }
}

/** The message of the first Ajv error: `<field>: <what>`. */
export function validationMessage(errors: Array<Partial<ErrorObject>>, dataVar: string): string {
  const e = errors[0] ?? {};
  const params = (e.params ?? {}) as Record<string, unknown>;
  if (typeof params.additionalProperty === 'string') return `${fieldName(params.additionalProperty)}: unknown field`;
  if (typeof params.missingProperty === 'string') return `${params.missingProperty}: required`;
  const path = (e.instancePath ?? '').replace(/^\//, '').split('/')[0];
  const field = path === '' ? dataVar : fieldName(path.replace(/~1/g, '/').replace(/~0/g, '~'));
  return `${field}: ${what(e)}`;
}

/** Validates a JSON body against its schema (an absent body is checked by the route's parser). */
export function bodyValidator(schema: unknown): Validator {
  const check = ajv.compile(forAjvOnce(schema as object) as object);
  return (data: unknown) => {
    if (data === undefined) return { value: data };
    if (check(data)) return { value: data };
    const first = check.errors?.[0];
    if (first && first.instancePath === '' && first.keyword === 'type') return { error: new DomainError('INVALID_BODY', 'body: must be a JSON object') };
    return { error: new DomainError('INVALID_FIELD', validationMessage(check.errors ?? [], 'body')) };
  };
}

function enumValues(n: SchemaNode): string[] | null {
  if (n.enum && n.enum.every((v) => typeof v === 'string')) return n.enum as string[];
  if (!n.anyOf || !n.anyOf.every((a) => typeof a.const === 'string')) return null;
  return n.anyOf.map((a) => a.const as string);
}

/** Where a query's validation error waits until the handler reads the query (so a route checks its path first, as it always did). */
export const QUERY_ERROR = Symbol('query error');

/**
 * Validates and converts a query object (first values, strings) against an object schema. A failure
 * is kept under QUERY_ERROR and thrown when the handler reads the query.
 */
export function queryValidator(schema: unknown): Validator {
  const props = (schema as SchemaNode).properties ?? {};
  return (data: unknown) => {
    const q = (data ?? {}) as Record<string, string | undefined>;
    const out = Object.create(null) as Record<string, unknown>;
    try {
      for (const [key, node] of Object.entries(props)) {
        const v = q[key];
        // An empty integer is absent (`?limit=`); an empty enum value is not one of its values.
        if (v === undefined || (v === '' && (node.type === 'integer' || node.type === 'number' || node['x-pts']))) continue;
        const values = enumValues(node);
        if (node['x-pts']) {
          // A PTS: decimal digits, read exactly as a bigint (past 2^53 too); `-0` is 0.
          const digits = v === '-0' ? '0' : v;
          const why = ptsProblem(digits);
          if (why !== null) throw new DomainError('INVALID_FIELD', `${key}: ${why}`);
          out[key] = ptsField(digits.replace(/^0+(?=[0-9])/, ''), key);
        } else if (node.type === 'integer') {
          out[key] = queryIntValue(key, v, node.minimum ?? -Number.MAX_SAFE_INTEGER, node.maximum ?? Number.MAX_SAFE_INTEGER);
        } else if (node.type === 'number') {
          out[key] = queryNumberValue(key, v, node.minimum ?? -Number.MAX_VALUE, node.maximum ?? Number.MAX_VALUE);
        } else if (values) {
          if (!values.includes(v)) throw new DomainError('INVALID_FIELD', `${key}: must be ${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`);
          out[key] = v;
        } else {
          if (node.pattern && !new RegExp(node.pattern, 'u').test(v)) throw new DomainError('INVALID_FIELD', `${key}: must match ${node.pattern}`);
          out[key] = v;
        }
      }
    } catch (e) {
      return { value: { [QUERY_ERROR]: e } };
    }
    return { value: out };
  };
}
