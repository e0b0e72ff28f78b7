import { ConfigError } from './errors.js';
import { JSON_FIELDS, type JsonFieldMap } from './formats/jsonl.js';
import { parseCidr } from './ip.js';
import { regexProblem } from './rules/linear-regex.js';
import { type Rule, SEVERITIES } from './rules/types.js';
import { COARSE_BUCKET_MS, MAX_PATHS_PER_COARSE_BUCKET } from './window.js';

/** Everything the detector can be told; `parseDetectorConfig` fills in the defaults. */
export interface DetectorConfig {
  /** Sliding event-time window for scores and distinct 4xx paths (DESIGN: ≥ 10 paths in 120 s). */
  windowSeconds: number;
  /** Granularity of the window; windows slide by this step. */
  bucketSeconds: number;
  /** Alert when a source's score within the window reaches this. */
  scoreThreshold: number;
  /** Alert when a source hits this many distinct 4xx (non-static) paths within the window. */
  distinctErrorPaths: number;
  /** At most one alert per source per this many seconds of event time. */
  cooldownSeconds: number;
  /** Suggested block time, quoted in alerts. */
  blockHours: number;
  /** How late (in event time) an out-of-order line may arrive and still be windowed. */
  latenessSeconds: number;
  /**
   * Long horizons in event time (1 h and 24 h by default): probing that adds up over hours
   * alerts once its score or distinct error paths within the horizon reach these.
   */
  horizons: Horizon[];
  /** The site's own form endpoints, added to the built-in ones (path prefixes or globs). */
  forms: { registration: string[]; comment: string[]; login: string[] };
  trustedProxies: string[];
  allowlist: { cidrs: string[]; userAgents: string[] };
  knownRoutes: string[];
  /** Rules added to (or, by id, replacing) the built-in ones. */
  rules: Rule[];
  disableRules: string[];
  jsonFields: JsonFieldMap;
}

/** Defaults from DESIGN.md (CrowdSec, Wazuh, AWS WAF Security Automations reference values). */
export const DEFAULT_CONFIG: DetectorConfig = {
  windowSeconds: 120,
  bucketSeconds: 10,
  scoreThreshold: 50,
  distinctErrorPaths: 10,
  cooldownSeconds: 3600,
  blockHours: 4,
  latenessSeconds: 900,
  horizons: [
    { seconds: 3600, score: 150, distinctErrorPaths: 30 },
    { seconds: 86_400, score: 300, distinctErrorPaths: 60 },
  ],
  forms: { registration: [], comment: [], login: [] },
  trustedProxies: [],
  allowlist: { cidrs: [], userAgents: [] },
  knownRoutes: [],
  rules: [],
  disableRules: [],
  jsonFields: {},
};

/** A long horizon: its length and what, within it, alerts. */
export interface Horizon {
  seconds: number;
  score: number;
  distinctErrorPaths: number;
}

type Obj = Record<string, unknown>;

function fail(where: string, field: string, message: string): never {
  throw new ConfigError(`${where}: ${field} ${message}`);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function noUnknownKeys(o: Obj, allowed: readonly string[], where: string, prefix: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) fail(where, `${prefix}${k}`, `is not a known setting (known: ${allowed.join(', ')})`);
  }
}

function positive(o: Obj, key: string, where: string, prefix: string, fallback: number): number {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(where, `${prefix}${key}`, `must be a positive number (got ${JSON.stringify(v)})`);
  return v;
}

function strings(o: Obj, key: string, where: string, prefix: string): string[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
    fail(where, `${prefix}${key}`, 'must be a list of non-empty strings');
  }
  return v as string[];
}

function cidrs(list: string[], where: string, field: string): string[] {
  list.forEach((c, i) => {
    try {
      parseCidr(c);
    } catch (e) {
      fail(where, `${field}[${i}]`, (e as Error).message);
    }
  });
  return list;
}

function horizons(v: unknown, where: string): Horizon[] {
  if (v === undefined) return structuredClone(DEFAULT_CONFIG.horizons);
  if (!Array.isArray(v)) fail(where, 'thresholds.horizons', 'must be a list of { seconds, score, distinctErrorPaths }');
  return v.map((h, i) => {
    const f = `thresholds.horizons[${i}].`;
    if (!isObj(h)) fail(where, `thresholds.horizons[${i}]`, 'must be a mapping with seconds, score and distinctErrorPaths');
    noUnknownKeys(h, ['seconds', 'score', 'distinctErrorPaths'], where, f);
    const seconds = positive(h, 'seconds', where, f, Number.NaN);
    if (!Number.isFinite(seconds)) fail(where, `${f}seconds`, 'is required');
    if (seconds % (COARSE_BUCKET_MS / 1000) !== 0 || seconds > MAX_HORIZON_SECONDS) {
      fail(where, `${f}seconds`, `must be a multiple of ${COARSE_BUCKET_MS / 1000} and at most ${MAX_HORIZON_SECONDS} (got ${seconds})`);
    }
    const paths = positive(h, 'distinctErrorPaths', where, f, MAX_PATHS_PER_COARSE_BUCKET);
    if (paths > MAX_PATHS_PER_COARSE_BUCKET) fail(where, `${f}distinctErrorPaths`, `must be at most ${MAX_PATHS_PER_COARSE_BUCKET} (got ${paths})`);
    return { seconds, score: positive(h, 'score', where, f, Number.POSITIVE_INFINITY), distinctErrorPaths: paths };
  });
}

function forms(v: unknown, where: string): DetectorConfig['forms'] {
  if (v === undefined) return { registration: [], comment: [], login: [] };
  if (!isObj(v)) fail(where, 'forms', 'must be a mapping with registration, comment and login lists');
  noUnknownKeys(v, ['registration', 'comment', 'login'], where, 'forms.');
  const out = {
    registration: strings(v, 'registration', where, 'forms.'),
    comment: strings(v, 'comment', where, 'forms.'),
    login: strings(v, 'login', where, 'forms.'),
  };
  for (const [k, list] of Object.entries(out)) {
    list.forEach((p, i) => {
      if (!p.startsWith('/')) fail(where, `forms.${k}[${i}]`, `must start with "/" (got "${p}")`);
    });
  }
  return out;
}

/** The longest horizon a configuration may ask for: state is kept this long. */
export const MAX_HORIZON_SECONDS = 7 * 86_400;

const RULE_KEYS = [
  'id',
  'category',
  'class',
  'severity',
  'score',
  'explain',
  'references',
  'match',
  'unless',
  'immediate',
  'suppresses',
  'claimOnly',
  'threshold',
];
const MATCH_KEYS = [
  'method',
  'path',
  'query',
  'target',
  'rawTarget',
  'request',
  'segment',
  'file',
  'param',
  'paramValue',
  'protocol',
  'userAgent',
  'anyField',
  'status',
  'notStatus',
  'peer',
  'malformed',
  'minLength',
  'ownHost',
];
const PATTERN_KEYS = ['equals', 'prefix', 'suffix', 'contains', 'regex'];
const CLASSES = ['benign', 'probing', 'abuse', 'exploit', 'protocol', 'client'];

function checkMatch(m: unknown, where: string, field: string): void {
  if (!isObj(m)) fail(where, field, 'must be an object of conditions');
  noUnknownKeys(m, MATCH_KEYS, where, `${field}.`);
  for (const k of ['path', 'query', 'target', 'rawTarget', 'request', 'segment', 'file', 'param', 'paramValue', 'userAgent', 'anyField']) {
    const p = m[k];
    if (p === undefined) continue;
    if (!isObj(p)) fail(where, `${field}.${k}`, 'must be a pattern object (equals, prefix, suffix, contains, regex)');
    noUnknownKeys(p, PATTERN_KEYS, where, `${field}.${k}.`);
    for (const pk of ['equals', 'prefix', 'suffix', 'contains']) strings(p, pk, where, `${field}.${k}.`);
    if (p.regex !== undefined && typeof p.regex !== 'string') fail(where, `${field}.${k}.regex`, 'must be a string');
    if (typeof p.regex === 'string') {
      const problem = regexProblem(p.regex);
      if (problem) fail(where, `${field}.${k}.regex`, problem);
    }
  }
  for (const k of ['method', 'protocol', 'status', 'notStatus']) strings(m, k, where, `${field}.`);
}

function checkRule(r: unknown, where: string, field: string): Rule {
  if (!isObj(r)) fail(where, field, 'must be a rule object');
  noUnknownKeys(r, RULE_KEYS, where, `${field}.`);
  for (const k of ['id', 'category', 'explain']) {
    if (typeof r[k] !== 'string' || r[k] === '') fail(where, `${field}.${k}`, 'is required and must be a non-empty string');
  }
  if (!CLASSES.includes(r.class as string)) fail(where, `${field}.class`, `must be one of ${CLASSES.join(', ')}`);
  if (!(SEVERITIES as readonly string[]).includes(r.severity as string)) fail(where, `${field}.severity`, `must be one of ${SEVERITIES.join(', ')}`);
  if (typeof r.score !== 'number' || r.score < 0) fail(where, `${field}.score`, 'must be a number ≥ 0');
  checkMatch(r.match, where, `${field}.match`);
  if (r.unless !== undefined) checkMatch(r.unless, where, `${field}.unless`);
  return r as unknown as Rule;
}

/**
 * Validates a configuration object (from YAML, JSON or the environment) and fills in defaults.
 * `where` names its origin in error messages, which always name the offending field.
 */
export function parseDetectorConfig(input: unknown, where = 'configuration'): DetectorConfig {
  if (input === undefined || input === null) return structuredClone(DEFAULT_CONFIG);
  if (!isObj(input)) fail(where, 'the document', 'must be a mapping of settings');
  noUnknownKeys(input, ['thresholds', 'trustedProxies', 'allowlist', 'knownRoutes', 'forms', 'rules', 'disableRules', 'jsonFields'], where, '');
  const t = input.thresholds ?? {};
  if (!isObj(t)) fail(where, 'thresholds', 'must be a mapping');
  const tk = ['windowSeconds', 'bucketSeconds', 'score', 'distinctErrorPaths', 'cooldownSeconds', 'blockHours', 'latenessSeconds', 'horizons'];
  noUnknownKeys(t, tk, where, 'thresholds.');
  const d = DEFAULT_CONFIG;
  const cfg: DetectorConfig = {
    windowSeconds: positive(t, 'windowSeconds', where, 'thresholds.', d.windowSeconds),
    bucketSeconds: positive(t, 'bucketSeconds', where, 'thresholds.', d.bucketSeconds),
    scoreThreshold: positive(t, 'score', where, 'thresholds.', d.scoreThreshold),
    distinctErrorPaths: positive(t, 'distinctErrorPaths', where, 'thresholds.', d.distinctErrorPaths),
    cooldownSeconds: positive(t, 'cooldownSeconds', where, 'thresholds.', d.cooldownSeconds),
    blockHours: positive(t, 'blockHours', where, 'thresholds.', d.blockHours),
    latenessSeconds: positive(t, 'latenessSeconds', where, 'thresholds.', d.latenessSeconds),
    horizons: horizons(t.horizons, where),
    forms: forms(input.forms, where),
    trustedProxies: cidrs(strings(input, 'trustedProxies', where, ''), where, 'trustedProxies'),
    allowlist: { cidrs: [], userAgents: [] },
    knownRoutes: strings(input, 'knownRoutes', where, ''),
    rules: [],
    disableRules: strings(input, 'disableRules', where, ''),
    jsonFields: {},
  };
  if (cfg.windowSeconds % cfg.bucketSeconds !== 0) fail(where, 'thresholds.windowSeconds', `must be a multiple of bucketSeconds (${cfg.bucketSeconds})`);
  const a = input.allowlist ?? {};
  if (!isObj(a)) fail(where, 'allowlist', 'must be a mapping with cidrs and userAgents');
  noUnknownKeys(a, ['cidrs', 'userAgents'], where, 'allowlist.');
  cfg.allowlist = {
    cidrs: cidrs(strings(a, 'cidrs', where, 'allowlist.'), where, 'allowlist.cidrs'),
    userAgents: strings(a, 'userAgents', where, 'allowlist.'),
  };
  cfg.knownRoutes.forEach((r, i) => {
    if (!r.startsWith('/')) fail(where, `knownRoutes[${i}]`, `must start with "/" (got "${r}")`);
  });
  const rules = input.rules ?? [];
  if (!Array.isArray(rules)) fail(where, 'rules', 'must be a list of rules');
  cfg.rules = rules.map((r, i) => checkRule(r, where, `rules[${i}]`));
  const jf = input.jsonFields ?? {};
  if (!isObj(jf)) fail(where, 'jsonFields', 'must be a mapping from field to a dotted path');
  noUnknownKeys(jf, JSON_FIELDS, where, 'jsonFields.');
  for (const [k, v] of Object.entries(jf)) {
    const ok = typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!ok) fail(where, `jsonFields.${k}`, 'must be a dotted path or a list of them');
  }
  cfg.jsonFields = jf as JsonFieldMap;
  return cfg;
}
