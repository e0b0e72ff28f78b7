/**
 * The detector configuration: one zod schema from which come the file's type, the validation
 * (shape, bounds, and what only the engine can tell: every rule compiled on RE2, every CIDR and
 * known-route glob parsed, disabled rule ids that exist), the JSON Schema editors complete
 * `probewatch.yaml` with, and the README's reference. The CLI (`scan --config`, `config check`,
 * `config push`), `cdk synth` and the Lambda all parse with `parseDetectorConfig` or the schema.
 */
import { z } from 'zod';
import { DEFAULT_CONFIG, type DetectorConfig } from './config-defaults.js';
import { ConfigProblemsError, configErrorMap, issueLines, located, problem, settings, shown, stringList } from './config-issues.js';
import { makeParser } from './formats/index.js';
import { DEFAULT_JSON_FIELDS, JSON_FIELDS, type JsonFieldMap } from './formats/jsonl.js';
import { parseCidr } from './ip.js';
import { BUILTIN_RULES } from './rules/builtin.js';
import { regexProblem } from './rules/linear-regex.js';
import { type Rule, SEVERITIES } from './rules/types.js';
import { Detector } from './scan.js';
import { COARSE_BUCKET_MS, MAX_PATHS_PER_COARSE_BUCKET } from './window.js';

export { DEFAULT_CONFIG, type DetectorConfig, type Horizon } from './config-defaults.js';

/** The longest horizon a configuration may ask for: state is kept this long. */
export const MAX_HORIZON_SECONDS = 7 * 86_400;
/** Longest window a rule's `threshold` may count over (one day). */
export const MAX_RULE_THRESHOLD_SECONDS = 86_400;

// ── building blocks ────────────────────────────────────────────────────────────────────────

const positive = (fallback: number, description: string) =>
  z
    .number({ error: (iss) => `must be a positive number (got ${shown(iss.input)})` })
    .positive({ error: (iss) => `must be a positive number (got ${shown(iss.input)})` })
    .optional()
    .meta({ description, default: fallback });

const cidr = z
  .string({ error: (iss) => `must be an IP address or CIDR range (got ${shown(iss.input)})` })
  .superRefine((v, ctx) => {
    try {
      parseCidr(v);
    } catch (e) {
      problem(ctx, (e as Error).message);
    }
  })
  .meta({ title: 'IP address or CIDR range' });
const cidrList = (description: string) =>
  z
    .array(cidr, { error: (iss) => `must be a list of CIDR ranges (got ${shown(iss.input)})` })
    .optional()
    .meta({ description, default: [] });

const sitePath = z
  .string({ error: (iss) => `must be a path starting with "/" (got ${shown(iss.input)})` })
  .refine((p) => p.startsWith('/'), { error: (iss) => `must start with "/" (got ${shown(iss.input)})` })
  .meta({ title: 'path starting with "/"' });
const pathList = (description: string) =>
  z
    .array(sitePath, { error: (iss) => `must be a list of paths (got ${shown(iss.input)})` })
    .optional()
    .meta({ description, default: [] });

const regex = z
  .string()
  .superRefine((v, ctx) => {
    const why = regexProblem(v);
    if (why) problem(ctx, why);
  })
  .meta({ title: 'RE2 regular expression' });

const PATTERN_FORMS = ['equals', 'prefix', 'suffix', 'contains', 'regex'] as const;
/** A test on one string; compared in lower case after percent-decoding. */
export const patternSchema = settings({
  equals: stringList().optional().meta({ description: 'the whole string is one of these' }),
  prefix: stringList().optional().meta({ description: 'the string starts with one of these' }),
  suffix: stringList().optional().meta({ description: 'the string ends with one of these' }),
  contains: stringList().optional().meta({ description: 'the string contains one of these' }),
  regex: regex.optional().meta({ description: 'RE2 syntax, linear time: no back-references or look-arounds; repetition counts up to 2000 in all' }),
})
  .refine((p) => PATTERN_FORMS.some((k) => p[k] !== undefined), { error: 'needs at least one of equals, prefix, suffix, contains, regex' })
  .meta({
    id: 'pattern',
    description: 'a test on one string, compared in lower case after percent-decoding; it needs at least one form, and any form matching is a match',
  });

/** `404` or `"4xx"`; YAML reads `[404]` as a number, so a whole number is taken as the code it is. */
export const statusSchema = z.preprocess(
  (v) => (typeof v === 'number' && Number.isInteger(v) ? String(v) : v),
  z
    .string({ error: (iss) => `must be a status code (404) or class ("4xx") (got ${shown(iss.input)})` })
    .regex(/^(?:\d{3}|[1-5][xX]{2})$/, { error: (iss) => `must be a status code (404) or class ("4xx") (got ${shown(iss.input)})` })
    .meta({ title: 'status (404 or "4xx")' }),
);
const statusList = (description: string) =>
  z
    .array(statusSchema, { error: (iss) => `must be a list of status codes or classes, e.g. ["404", "4xx"] (got ${shown(iss.input)})` })
    .optional()
    .meta({ description });

const CLASSES = ['benign', 'probing', 'abuse', 'exploit', 'protocol', 'client'] as const;

const matchShape = {
  method: stringList('method').optional().meta({ description: 'request methods, e.g. ["OPTIONS", "TRACE"] (a list of strings, not a pattern)' }),
  path: patternSchema.optional().meta({ description: 'pattern on the decoded, lower-cased path without the query' }),
  query: patternSchema.optional().meta({ description: 'pattern on the decoded query string without "?"' }),
  target: patternSchema.optional().meta({ description: 'pattern on path plus "?query"' }),
  rawTarget: patternSchema.optional().meta({ description: 'pattern on the target exactly as logged' }),
  request: patternSchema.optional().meta({ description: 'pattern on the request line as logged, lower-cased' }),
  segment: patternSchema.optional().meta({ description: 'pattern on any one path segment' }),
  file: patternSchema.optional().meta({ description: 'pattern on the file name, also without up to three appended extensions' }),
  param: patternSchema.optional().meta({ description: 'pattern on any query parameter as "name=value"' }),
  paramValue: patternSchema.optional().meta({ description: "pattern on any query parameter's value" }),
  protocol: stringList('protocol').optional().meta({ description: 'protocols as logged, e.g. ["HTTP/1.0"]' }),
  userAgent: patternSchema.optional().meta({ description: 'pattern on the lower-cased user agent ("" when none was logged)' }),
  anyField: patternSchema.optional().meta({
    description:
      'pattern on request line, user agent, referer and X-Forwarded-For, and on the whole line when it holds `${` or `()` after a `{` (not in unless)',
  }),
  status: statusList('status codes or classes, e.g. [404, "4xx"] (a list, even for one)'),
  notStatus: statusList('status codes or classes that exclude the rule'),
  peer: z
    .enum(['loopback', 'internal'])
    .optional()
    .meta({ description: 'the request came from a loopback or internal address (the client a trusted proxy forwarded, else the connecting peer)' }),
  malformed: z.boolean().optional().meta({ description: 'the request line could not (true) or could (false) be split' }),
  minLength: z.number().int().nonnegative().optional().meta({ description: 'the request line is longer than this many characters' }),
  ownHost: z.boolean().optional().meta({ description: "an absolute-URI or CONNECT target names the site's own host (true) or not (false)" }),
};
const conditionsSchema = settings(matchShape).meta({
  id: 'conditions',
  description: 'every condition present must hold; `match` needs at least one, `unless` may not use `anyField`',
});
const matchSchema = conditionsSchema.refine((m) => Object.values(m).some((v) => v !== undefined), { error: 'needs at least one condition' });
const unlessSchema = conditionsSchema.superRefine((m, ctx) => {
  if (!Object.values(m).some((v) => v !== undefined)) problem(ctx, 'needs at least one condition (an empty unless would switch the rule off)');
  if (m.anyField !== undefined) problem(ctx, 'cannot be used in unless', ['anyField']);
});

const ruleSchema = settings({
  id: z.string().min(1).meta({ description: 'stable identifier; the id of a built-in rule replaces it' }),
  category: z.string().min(1).meta({ description: 'the label a matching request gets' }),
  class: z.enum(CLASSES).meta({ description: 'benign labels explain noise and never alert' }),
  severity: z.enum(SEVERITIES).meta({ description: 'how bad a finding is' }),
  score: z.number().nonnegative().meta({ description: "added to the source's windowed score per matching request" }),
  explain: z.string().min(1).meta({ description: 'one line for a person: what this is' }),
  references: stringList('reference').optional().meta({ description: 'links for a person (advisories, write-ups)' }),
  match: matchSchema,
  unless: unlessSchema.optional().meta({ description: 'a request meeting these conditions is excluded (anyField not allowed)' }),
  immediate: z.boolean().optional().meta({ description: 'alert on the first hit instead of waiting for the score' }),
  suppresses: z.array(z.enum(CLASSES)).optional().meta({ description: 'classes of other labels this one cancels (benign rules)' }),
  claimOnly: z.boolean().optional().meta({ description: 'benign rules: the label rests on what the client says (its 404s still count)' }),
  threshold: settings({
    count: z.number().int().min(1).meta({ description: 'matches that alert' }),
    windowSeconds: z.number().int().min(1).max(MAX_RULE_THRESHOLD_SECONDS).meta({ description: 'within this many seconds (at most a day)' }),
    per: z.enum(['rule', 'category']).optional().meta({ description: 'count this rule alone (rule, the default) or its whole category' }),
  })
    .optional()
    .meta({ description: 'alert when this many matches fall within windowSeconds' }),
}).meta({ description: 'a detection rule' });

const horizonSchema = settings({
  seconds: z
    .number()
    .int()
    .positive()
    .multipleOf(COARSE_BUCKET_MS / 1000)
    .max(MAX_HORIZON_SECONDS)
    .meta({ description: `length of the horizon: a multiple of ${COARSE_BUCKET_MS / 1000}, at most ${MAX_HORIZON_SECONDS}` }),
  score: z.number().positive().optional().meta({ description: 'score within the horizon that alerts (omitted: only paths alert)' }),
  distinctErrorPaths: z
    .number()
    .positive()
    .max(MAX_PATHS_PER_COARSE_BUCKET)
    .optional()
    .meta({ description: `distinct error paths within the horizon that alert, at most ${MAX_PATHS_PER_COARSE_BUCKET}`, default: MAX_PATHS_PER_COARSE_BUCKET }),
});

const d = DEFAULT_CONFIG;
const thresholdsSchema = settings({
  windowSeconds: positive(d.windowSeconds, 'sliding window in event time (a multiple of bucketSeconds)'),
  bucketSeconds: positive(d.bucketSeconds, 'step the window slides by'),
  score: positive(d.scoreThreshold, 'windowed score that alerts'),
  distinctErrorPaths: positive(d.distinctErrorPaths, 'distinct 4xx non-static paths in the window that alert'),
  cooldownSeconds: positive(d.cooldownSeconds, 'one alert per source per cooldown, in event time'),
  blockHours: positive(d.blockHours, 'the block suggested in alerts'),
  latenessSeconds: positive(d.latenessSeconds, 'how late an out-of-order line is still windowed'),
  horizons: z.array(horizonSchema).optional().meta({ description: 'long horizons that alert on probing adding up over hours', default: d.horizons }),
});

/** What each field of a JSON log line is, for the reference. */
const JSON_FIELD_MEANINGS: Record<(typeof JSON_FIELDS)[number], string> = {
  time: 'the time of the request',
  clientIp: "the client's address",
  method: 'the request method',
  target: 'the path, with or without its query, as requested',
  query: 'the query string, when it is logged apart from the path (appended to a target without "?")',
  request: 'the whole request line ("GET /x HTTP/1.1"), read when method or target is missing',
  protocol: 'the protocol ("HTTP/1.1")',
  status: 'the response status',
  bytes: 'the size of the response',
  referer: 'the Referer header',
  userAgent: 'the User-Agent header',
  host: 'the requested host name',
  forwardedFor: 'the X-Forwarded-For header',
  message: "a shipper's field holding a text access-log line, parsed as one when the line has no method, target or request",
};

const jsonFieldsShape = Object.fromEntries(
  JSON_FIELDS.map((f) => [
    f,
    z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
        error: (iss) => `must be a dotted path or a list of them (got ${shown(iss.input)})`,
      })
      .meta({
        title: 'dotted path, or a list of them tried in order',
        description: `${JSON_FIELD_MEANINGS[f]}; replaces the built-in paths: ${DEFAULT_JSON_FIELDS[f].join(', ')}`,
      })
      .optional(),
  ]),
) as Record<(typeof JSON_FIELDS)[number], z.ZodOptional<z.ZodUnion<[z.ZodString, z.ZodArray<z.ZodString>]>>>;

/** The detector configuration file's shape (`probewatch.yaml`, cdk.json's `detector`, the deployed `detector.json`). */
export const detectorFileShape = {
  thresholds: thresholdsSchema.optional().meta({ description: 'when a source alerts' }),
  trustedProxies: cidrList('believe X-Forwarded-For from these peers only'),
  allowlist: settings({
    cidrs: cidrList('sources never labelled'),
    userAgents: stringList('user agent').optional().meta({ description: 'substrings, case-insensitive: cancel every finding', default: [] }),
  })
    .optional()
    .meta({ description: 'what is never reported' }),
  knownRoutes: pathList('routes the site really has (a 404 there is a broken link): "/login", "/cgi-bin/*", "/api/*/items"'),
  forms: settings({
    registration: pathList('sign-up form endpoints (path prefixes)'),
    comment: pathList('comment and contact form endpoints'),
    login: pathList('login endpoints'),
  })
    .optional()
    .meta({ description: "this site's own form endpoints, beside the built-in ones" }),
  rules: z.array(ruleSchema).optional().meta({ description: 'rules added, or replacing a built-in rule with the same id', default: [] }),
  disableRules: stringList('rule id').optional().meta({ description: 'ids of rules to switch off', default: [] }),
  jsonFields: settings(jsonFieldsShape).optional().meta({ description: 'where JSON logs keep each field: a dotted path or a list tried in order' }),
};

/** The file as written (every field optional), checked as far as its shape goes. */
export const detectorShapeSchema = settings(detectorFileShape);
/** What a configuration file may hold (`z.input`), before defaults. */
export type DetectorFile = z.input<typeof detectorShapeSchema>;

// The schema's rules are the engine's rules: a change to either that breaks this stops the build.
type SchemaRule = z.output<typeof ruleSchema>;
const _rulesAgree: (r: SchemaRule) => Rule = (r) => r;
void _rulesAgree;

function toDetectorConfig(f: z.output<typeof detectorShapeSchema>): DetectorConfig {
  const t = f.thresholds ?? {};
  return {
    windowSeconds: t.windowSeconds ?? d.windowSeconds,
    bucketSeconds: t.bucketSeconds ?? d.bucketSeconds,
    scoreThreshold: t.score ?? d.scoreThreshold,
    distinctErrorPaths: t.distinctErrorPaths ?? d.distinctErrorPaths,
    cooldownSeconds: t.cooldownSeconds ?? d.cooldownSeconds,
    blockHours: t.blockHours ?? d.blockHours,
    latenessSeconds: t.latenessSeconds ?? d.latenessSeconds,
    horizons: (t.horizons ?? d.horizons).map((h) => ({
      seconds: h.seconds,
      score: h.score ?? Number.POSITIVE_INFINITY,
      distinctErrorPaths: h.distinctErrorPaths ?? MAX_PATHS_PER_COARSE_BUCKET,
    })),
    forms: { registration: f.forms?.registration ?? [], comment: f.forms?.comment ?? [], login: f.forms?.login ?? [] },
    trustedProxies: f.trustedProxies ?? [],
    allowlist: { cidrs: f.allowlist?.cidrs ?? [], userAgents: f.allowlist?.userAgents ?? [] },
    knownRoutes: f.knownRoutes ?? [],
    rules: (f.rules ?? []) as Rule[],
    disableRules: f.disableRules ?? [],
    jsonFields: (f.jsonFields ?? {}) as JsonFieldMap,
  };
}

/**
 * Checks beyond each field: the window is a whole number of buckets, rule ids are unique,
 * disabled ids exist, and finally the engine itself is built from the configuration (every rule
 * compiled, every CIDR and known-route glob parsed), so what the schema accepts, `probewatch
 * scan` runs and the Lambda processes.
 */
function checkTogether(cfg: DetectorConfig, ctx: z.core.$RefinementCtx): void {
  let found = false;
  const add = (message: string, path: PropertyKey[]) => {
    found = true;
    problem(ctx, message, path);
  };
  if (cfg.windowSeconds % cfg.bucketSeconds !== 0) {
    add(`must be a multiple of bucketSeconds (${cfg.bucketSeconds}) (got ${cfg.windowSeconds})`, ['thresholds', 'windowSeconds']);
  }
  const seen = new Map<string, number>();
  cfg.rules.forEach((r, i) => {
    const first = seen.get(r.id);
    if (first !== undefined) add(`repeats the id of rules[${first}] ("${r.id}"); ids must be unique`, ['rules', i, 'id']);
    else seen.set(r.id, i);
  });
  const ids = new Set([...BUILTIN_RULES.map((r) => r.id), ...cfg.rules.map((r) => r.id)]);
  cfg.disableRules.forEach((id, i) => {
    if (!ids.has(id)) add(`names no rule: there is no built-in or configured rule with id "${id}"`, ['disableRules', i]);
  });
  if (found) return;
  try {
    new Detector(cfg);
  } catch (e) {
    problem(ctx, `the detector refuses it: ${(e as Error).message}`);
  }
}

/**
 * The whole validation: the shape field by field, then (only when the shape is right) the checks
 * across fields and the engine; the output has every default filled in.
 */
export const detectorConfigSchema = detectorShapeSchema.transform(toDetectorConfig).pipe(z.custom<DetectorConfig>().superRefine(checkTogether));

/** Parses with the configuration's messages; `undefined` and `null` are the defaults. */
export function safeParseDetectorConfig(input: unknown): { ok: true; config: DetectorConfig } | { ok: false; issues: z.core.$ZodIssue[] } {
  const r = detectorConfigSchema.safeParse(input ?? {}, { error: configErrorMap });
  return r.success ? { ok: true, config: r.data } : { ok: false, issues: r.error.issues };
}

/** Every problem of a configuration as lines `<where>: <field> <message>`; empty when it is valid. */
export function detectorConfigProblems(input: unknown, where = 'configuration'): string[] {
  const r = safeParseDetectorConfig(input);
  return r.ok ? [] : issueLines(r.issues, (field, message) => located(where, field, message));
}

/**
 * Validates a configuration object (from YAML, JSON or S3) and fills in defaults. `where` names
 * its origin in error messages, which name the offending field; every problem is listed
 * (`ConfigProblemsError.problems`).
 */
export function parseDetectorConfig(input: unknown, where = 'configuration'): DetectorConfig {
  const r = safeParseDetectorConfig(input);
  if (r.ok) return r.config;
  throw new ConfigProblemsError(issueLines(r.issues, (field, message) => located(where, field, message)));
}

/**
 * Where logs come from: one log format per key prefix/suffix (format omitted: detected per
 * object). Used by cdk.json's `logs.sources` and the Lambda's `LOG_FORMATS`.
 */
export const logSourceSchema = settings({
  prefix: z.string({ error: 'is required (use "" for the whole bucket)' }).meta({ description: 'key prefix ("" for the whole bucket)' }),
  suffix: z.string().optional().meta({ description: 'key suffix, e.g. ".log.gz"' }),
  format: z
    .string()
    .superRefine((v, ctx) => {
      try {
        makeParser(v);
      } catch (e) {
        problem(ctx, (e as Error).message);
      }
    })
    .optional()
    .meta({ description: 'a format as in --format (omitted: detected per object)' }),
});
/** One log source. */
export type LogSource = z.output<typeof logSourceSchema>;
