/**
 * Shared pieces of the configuration schemas (zod): the wording of every problem, the helpers
 * the schemas are written with, and the formatting of a failed parse as one line per problem,
 * each naming the field (`thresholds.horizons[0].seconds must be …`).
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';

/** How a value is quoted in a message: JSON, cut so a huge value cannot flood a terminal. */
export function shown(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const KINDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of settings',
};

/**
 * Plain-language messages for the problems zod finds, used for every parse (schema-level
 * messages, where a field has its own, take precedence).
 */
export const configErrorMap: z.core.$ZodErrorMap = (iss) => {
  const got = `(got ${shown(iss.input)})`;
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${KINDS[iss.expected] ?? iss.expected} ${got}`;
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => shown(v)).join(', ')} ${got}`;
    case 'too_small':
      if (iss.origin === 'array') return `must list at least ${iss.minimum} ${Number(iss.minimum) === 1 ? 'entry' : 'entries'}`;
      if (iss.origin === 'string') return 'must not be empty';
      return `must be ${iss.inclusive ? 'at least' : 'more than'} ${iss.minimum} ${got}`;
    case 'too_big':
      if (iss.origin === 'array') return `must list at most ${iss.maximum} entries`;
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`;
      return `must be ${iss.inclusive ? 'at most' : 'less than'} ${iss.maximum} ${got}`;
    case 'not_multiple_of':
      return `must be a multiple of ${iss.divisor} ${got}`;
    case 'invalid_format':
      return `has the wrong form ${got}`;
    case 'unrecognized_keys':
      return 'is not a known setting';
    case 'invalid_union':
      return `has the wrong form ${got}`;
    default:
      return undefined;
  }
};

/**
 * A mapping that refuses unknown keys, listing the known ones. `shape` is a plain object of
 * schemas: adding a setting is adding one key.
 */
export function settings<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `is not a known setting (known: ${known})`
        : iss.code === 'invalid_type'
          ? `must be a mapping of settings (got ${shown(iss.input)})`
          : undefined,
  });
}

/** A list of non-empty strings. */
export const stringList = (what = 'string') =>
  z.array(z.string({ error: (iss) => `must be a non-empty ${what} (got ${shown(iss.input)})` }).min(1, `must be a non-empty ${what}`), {
    error: (iss) => `must be a list of ${what}s (got ${shown(iss.input)})`,
  });

/** `a.b[0].c` */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/**
 * One line per problem, as `render(field, message)` makes it (several unknown keys of one mapping:
 * one line each). `field` is "" for a problem of the whole document whose message stands alone.
 */
export function issueLines(issues: readonly z.core.$ZodIssue[], render: (field: string, message: string) => string): string[] {
  const out: string[] = [];
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') {
      for (const k of iss.keys) out.push(render(fieldPath([...iss.path, k]), iss.message));
    } else {
      // A problem of the whole document: its own message says what, or "the document" is the subject.
      out.push(iss.path.length ? render(fieldPath(iss.path), iss.message) : render(iss.code === 'custom' ? '' : 'the document', iss.message));
    }
  }
  return out;
}

/** `<where>: <field> <message>`, or `<where>: <message>` for the whole document. */
export function located(where: string, field: string, message: string): string {
  return field ? `${where}: ${field} ${message}` : `${where}: ${message}`;
}

/**
 * A configuration was refused: `problems` lists every problem found, each naming its field; the
 * message has one per line, the later ones indented under the first.
 */
export class ConfigProblemsError extends ConfigError {
  constructor(readonly problems: string[]) {
    super(problems.join('\n  '));
  }
}

/** Adds a custom problem to a refinement's context. */
export function problem(ctx: z.core.$RefinementCtx, message: string, path: PropertyKey[] = []): void {
  ctx.addIssue({ code: 'custom', message, path });
}
