/**
 * Writes what the configuration schemas generate: the JSON Schema files editors complete
 * `probewatch.yaml` and cdk.json with, and the README's configuration reference (between
 * markers). `npm run config:reference` writes them; the tests fail when they are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { cdkJsonSchema, environmentShapeSchema } from '../infra/config.js';
import { detectorShapeSchema, statusSchema } from '../lambdas/core/config.js';

/** The JSON Schema of a detector configuration file. */
export const DETECTOR_SCHEMA_FILE = 'schema/probewatch.schema.json';
/** The JSON Schema of cdk.json (its `context.environments`). */
export const CDK_SCHEMA_FILE = 'schema/cdk.schema.json';

interface Js {
  type?: string;
  properties?: Record<string, Js>;
  items?: Js;
  enum?: unknown[];
  anyOf?: Js[];
  $ref?: string;
  $defs?: Record<string, Js>;
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  multipleOf?: number;
  minItems?: number;
  minLength?: number;
  pattern?: string;
  required?: string[];
}

/** What a JSON Schema cannot learn from the zod schema alone. */
const override = (ctx: { zodSchema: unknown; jsonSchema: Record<string, unknown> }) => {
  // A status is a code as a number (YAML's `[404]`) or a code or class as a string.
  if (ctx.zodSchema === statusSchema) {
    for (const k of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[k];
    Object.assign(ctx.jsonSchema, {
      title: 'status (404 or "4xx")',
      anyOf: [
        { type: 'integer', minimum: 100, maximum: 999 },
        { type: 'string', pattern: '^(?:\\d{3}|[1-5][xX]{2})$' },
      ],
    });
  }
};

function jsonSchema(schema: z.ZodType, title: string, id: string): Js {
  return { $id: id, title, ...(z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', override }) as Js) } as Js;
}

/** The generated JSON Schema files, by path. */
export function schemaFiles(): Record<string, string> {
  const detector = jsonSchema(detectorShapeSchema, 'ProbeWatch detector configuration (probewatch.yaml, detector.json)', 'probewatch.schema.json');
  const cdk = jsonSchema(cdkJsonSchema, 'ProbeWatch cdk.json (context.environments)', 'cdk.schema.json');
  return {
    [DETECTOR_SCHEMA_FILE]: `${JSON.stringify(detector, null, 2)}\n`,
    [CDK_SCHEMA_FILE]: `${JSON.stringify(cdk, null, 2)}\n`,
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;

function bounds(s: Js): string {
  const parts: string[] = [];
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  // zod's whole numbers carry the safe-integer bounds: no bound a person needs to read.
  const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
  const min = s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER ? s.minimum : undefined;
  if (min !== undefined && max !== undefined) parts.push(`${min}–${max}`);
  else if (min !== undefined) parts.push(`≥ ${min}`);
  else if (max !== undefined) parts.push(`≤ ${max}`);
  if (s.multipleOf !== undefined) parts.push(`multiple of ${s.multipleOf}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** Plurals of the titles the schemas give their values ("list of …"). */
const PLURALS: Record<string, string> = {
  'IP address or CIDR range': 'IP addresses or CIDR ranges',
  'path starting with "/"': 'paths starting with "/"',
  'status (404 or "4xx")': 'statuses (404 or "4xx")',
  'e-mail address': 'e-mail addresses',
};

/** What a value may be, in words. */
function kind(s: Js, plural = false): string {
  if (s.title) return plural ? (PLURALS[s.title] ?? `${s.title}s`) : s.title;
  if (s.$ref) return `${s.$ref.replace('#/$defs/', '')}${plural ? 's' : ''}`;
  if (s.enum) return s.enum.map(code).join(' | ');
  if (s.anyOf) return s.anyOf.map((x) => kind(x)).join(' or ');
  const n = plural ? 's' : '';
  switch (s.type) {
    case 'array':
      return `list of ${s.items ? kind(s.items, true) : 'values'}${s.minItems ? ` (at least ${s.minItems})` : ''}`;
    case 'integer':
      return `whole number${n}${bounds(s)}`;
    case 'number':
      return `number${n}${bounds(s)}`;
    case 'string':
      return s.pattern ? `string${n} matching ${code(s.pattern)}` : `${s.minLength ? 'non-empty ' : ''}string${n}`;
    case 'boolean':
      return 'true or false';
    case 'object':
      return plural ? 'mappings' : 'mapping';
    default:
      return 'any';
  }
}

type Row = [field: string, accepts: string, fallback: string, meaning: string];

function rows(s: Js, prefix: string, out: Row[], stop: (path: string) => boolean): Row[] {
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    const path = prefix ? `${prefix}.${k}` : k;
    const required = s.required?.includes(k) && p.default === undefined;
    const fallback = required ? 'required' : p.default !== undefined ? code(p.default) : '';
    out.push([`\`${path}\``, kind(p), fallback, p.description ?? '']);
    if (stop(path)) continue;
    if (p.type === 'object' && p.properties) rows(p, path, out, stop);
    if (p.type === 'array' && p.items?.type === 'object' && p.items.properties) rows(p.items, `${path}[]`, out, stop);
  }
  return out;
}

function table(r: Row[]): string {
  return ['| field | accepts | default | meaning |', '|---|---|---|---|', ...r.map((x) => `| ${x.map(cell).join(' | ')} |`)].join('\n');
}

/** The README's detector reference (Markdown). */
export function detectorReference(): string {
  const s = z.toJSONSchema(detectorShapeSchema, { io: 'input' }) as Js;
  const defs = s.$defs ?? {};
  return [
    table(rows(s, '', [], () => false)),
    '',
    `A rule's \`match\` and \`unless\` take **conditions**: ${defs.conditions?.description ?? ''}.`,
    '',
    table(rows(defs.conditions ?? {}, '', [], () => false)),
    '',
    `A **pattern** is ${defs.pattern?.description ?? ''}.`,
    '',
    table(rows(defs.pattern ?? {}, '', [], () => false)),
  ].join('\n');
}

/** The README's environment reference (Markdown). */
export function environmentReference(): string {
  const s = z.toJSONSchema(environmentShapeSchema, { io: 'input' }) as Js;
  return table(rows(s, '', [], (path) => path === 'detector'));
}

const MARK = (name: string, end: boolean) => `<!-- generated by npm run config:reference: ${name} ${end ? 'end' : 'start'} -->`;

/** `readme` with each generated reference between its markers; throws when a marker is missing. */
export function readmeWithReference(readme: string): string {
  let out = readme;
  for (const [name, body] of [
    ['detector', detectorReference()],
    ['environment', environmentReference()],
  ] as const) {
    const start = out.indexOf(MARK(name, false));
    const end = out.indexOf(MARK(name, true));
    if (start < 0 || end < start) throw new Error(`README.md has no ${name} reference markers: ${MARK(name, false)} … ${MARK(name, true)}`);
    out = `${out.slice(0, start + MARK(name, false).length)}\n${body}\n${out.slice(end)}`;
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const wanted: Record<string, string> = { ...schemaFiles(), 'README.md': readmeWithReference(readFileSync('README.md', 'utf8')) };
  let stale = 0;
  for (const [path, text] of Object.entries(wanted)) {
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // a new file
    }
    if (current === text) continue;
    stale++;
    if (check) console.error(`${path} is stale: run npm run config:reference`);
    else {
      writeFileSync(path, text);
      console.log(`wrote ${path}`);
    }
  }
  process.exit(check && stale ? 1 : 0);
}
