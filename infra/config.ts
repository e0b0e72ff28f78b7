import { parseDetectorConfig } from '../lambdas/core/config.js';
import { makeParser } from '../lambdas/core/formats/index.js';
import { SEVERITIES, type Severity } from '../lambdas/core/rules/types.js';

/** Where the logs come from: one log format per prefix/suffix (format omitted: auto-detect). */
export interface LogSource {
  prefix: string;
  suffix?: string;
  format?: string;
}

/** One deployment's settings, as written under `environments.<name>` in cdk.json. */
export interface EnvironmentConfig {
  /** @default the CLI's current account/region */
  account?: string;
  region?: string;
  logs: {
    /** Name of an existing bucket; omitted: a new, secure bucket is created. */
    existingBucketName?: string;
    /** Days after which new-bucket objects expire. @default 90 */
    expireAfterDays: number;
    sources: LogSource[];
  };
  /** The detector configuration (thresholds, trustedProxies, allowlist, knownRoutes, rules…). */
  detector: Record<string, unknown>;
  stateRetentionHours: number;
  alerts: {
    emails: string[];
    subscribers: { protocol: 'https' | 'sqs'; endpoint: string; minSeverity: Severity }[];
    /** Who is told when the detector itself is unwell (errors, dead letters). @default alerts.emails */
    operationsEmails: string[];
  };
  lambda: {
    memoryMb: number;
    timeoutSeconds: number;
    /**
     * Most concurrent invocations the queue may start (the SQS event source's maximum
     * concurrency). @default reservedConcurrency, or {@link DEFAULT_MAX_CONCURRENCY}
     */
    maxConcurrency: number;
    /** Executions reserved for (and capping) the function; at least maxConcurrency. */
    reservedConcurrency?: number;
    /**
     * Objects (queue messages) per invocation at most: a batch writes each flagged source once,
     * so larger batches cost fewer DynamoDB writes. @default 100
     */
    batchSize: number;
    /** Seconds the queue may wait to fill a batch (0–300; at least 1 above 10 objects). @default 60 */
    batchWindowSeconds: number;
    logRetentionDays: number;
  };
  removalPolicy: 'retain' | 'destroy';
}

/** Concurrent invocations the queue may start when nothing else is configured. */
export const DEFAULT_MAX_CONCURRENCY = 10;

/** A configuration error that names the field. */
export class EnvironmentConfigError extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const LOG_RETENTION = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Validates one environment's raw settings and fills in defaults. */
export function parseEnvironmentConfig(name: string, raw: unknown): EnvironmentConfig {
  const at = (field: string) => `environments.${name}.${field}`;
  const fail = (field: string, message: string): never => {
    throw new EnvironmentConfigError(`${at(field)} ${message}`);
  };
  const known = (o: Obj, keys: string[], prefix: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${prefix}${k}`, `is not a known setting (known: ${keys.join(', ')})`);
  };
  const num = (o: Obj, key: string, prefix: string, fallback: number, min: number, max: number): number => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      fail(`${prefix}${key}`, `must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
    return v as number;
  };
  const strList = (o: Obj, key: string, prefix: string): string[] => {
    const v = o[key] ?? [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(`${prefix}${key}`, 'must be a list of strings');
    return v as string[];
  };
  if (!isObj(raw)) return fail('', 'must be an object of settings');
  known(raw, ['account', 'region', 'logs', 'detector', 'stateRetentionHours', 'alerts', 'lambda', 'removalPolicy'], '');
  if (raw.account !== undefined && !/^\d{12}$/.test(String(raw.account))) fail('account', `must be a 12-digit AWS account id (got "${raw.account}")`);
  if (raw.region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(String(raw.region))) fail('region', `is not an AWS region name (got "${raw.region}")`);

  const logs = raw.logs;
  if (!isObj(logs)) return fail('logs', 'is required: { sources: [{ prefix, suffix?, format? }], existingBucketName?, expireAfterDays? }');
  known(logs, ['existingBucketName', 'expireAfterDays', 'sources'], 'logs.');
  if (logs.existingBucketName !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(String(logs.existingBucketName))) {
    fail('logs.existingBucketName', `is not a valid S3 bucket name (got "${logs.existingBucketName}")`);
  }
  const sources = logs.sources;
  if (!Array.isArray(sources) || sources.length === 0) fail('logs.sources', 'must list at least one log source ({ prefix, suffix?, format? })');
  const parsedSources: LogSource[] = (sources as unknown[]).map((s, i) => {
    const f = `logs.sources[${i}]`;
    if (!isObj(s)) return fail(f, 'must be an object { prefix, suffix?, format? }');
    known(s, ['prefix', 'suffix', 'format'], `${f}.`);
    if (typeof s.prefix !== 'string') fail(`${f}.prefix`, 'is required (use "" for the whole bucket)');
    if (s.suffix !== undefined && typeof s.suffix !== 'string') fail(`${f}.suffix`, 'must be a string');
    if (s.format !== undefined) {
      try {
        makeParser(String(s.format));
      } catch (e) {
        fail(`${f}.format`, (e as Error).message);
      }
    }
    return { prefix: s.prefix as string, ...(s.suffix ? { suffix: s.suffix as string } : {}), ...(s.format ? { format: s.format as string } : {}) };
  });
  const prefixes = parsedSources.map((s) => s.prefix);
  prefixes.forEach((p, i) => {
    prefixes.forEach((q, j) => {
      // S3 refuses overlapping notification filters for the same event type.
      if (i < j && (p.startsWith(q) || q.startsWith(p)) && (parsedSources[i]?.suffix ?? '') === (parsedSources[j]?.suffix ?? '')) {
        fail(`logs.sources[${j}].prefix`, `overlaps logs.sources[${i}].prefix ("${q}" and "${p}"); S3 refuses overlapping notification filters`);
      }
    });
  });

  const detector = raw.detector ?? {};
  try {
    parseDetectorConfig(detector, at('detector'));
  } catch (e) {
    throw new EnvironmentConfigError((e as Error).message);
  }

  const alerts = raw.alerts;
  if (!isObj(alerts)) return fail('alerts', 'is required: { emails: [...], subscribers?: [...] }');
  known(alerts, ['emails', 'subscribers', 'operationsEmails'], 'alerts.');
  const emailOk = (e: string) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e);
  const emails = strList(alerts, 'emails', 'alerts.');
  emails.forEach((e, i) => emailOk(e) || fail(`alerts.emails[${i}]`, `is not an e-mail address (got "${e}")`));
  const ops = strList(alerts, 'operationsEmails', 'alerts.');
  ops.forEach((e, i) => emailOk(e) || fail(`alerts.operationsEmails[${i}]`, `is not an e-mail address (got "${e}")`));
  const subs = alerts.subscribers ?? [];
  if (!Array.isArray(subs)) fail('alerts.subscribers', 'must be a list');
  const subscribers = (subs as unknown[]).map((s, i) => {
    const f = `alerts.subscribers[${i}]`;
    if (!isObj(s)) return fail(f, 'must be { protocol: "https"|"sqs", endpoint, minSeverity? }');
    known(s, ['protocol', 'endpoint', 'minSeverity'], `${f}.`);
    if (s.protocol !== 'https' && s.protocol !== 'sqs') fail(`${f}.protocol`, 'must be "https" or "sqs"');
    const endpoint = String(s.endpoint ?? '');
    if (s.protocol === 'https' && !/^https:\/\/[^\s]+$/.test(endpoint)) fail(`${f}.endpoint`, `must be an https:// URL (got "${endpoint}")`);
    if (s.protocol === 'sqs' && !/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[\w.-]+$/.test(endpoint))
      fail(`${f}.endpoint`, `must be an SQS queue ARN (got "${endpoint}")`);
    const min = s.minSeverity ?? 'low';
    if (!(SEVERITIES as readonly string[]).includes(String(min))) fail(`${f}.minSeverity`, `must be one of ${SEVERITIES.join(', ')}`);
    return { protocol: s.protocol as 'https' | 'sqs', endpoint, minSeverity: min as Severity };
  });
  if (emails.length === 0 && subscribers.length === 0) fail('alerts', 'needs at least one e-mail address or subscriber, or alerts go nowhere');

  const lambda = raw.lambda ?? {};
  if (!isObj(lambda)) return fail('lambda', 'must be an object');
  known(lambda, ['memoryMb', 'timeoutSeconds', 'maxConcurrency', 'reservedConcurrency', 'logRetentionDays', 'batchSize', 'batchWindowSeconds'], 'lambda.');
  const logRetentionDays = num(lambda, 'logRetentionDays', 'lambda.', 30, 1, 3653);
  if (!LOG_RETENTION.includes(logRetentionDays)) fail('lambda.logRetentionDays', `must be one of CloudWatch's values: ${LOG_RETENTION.join(', ')}`);
  // The SQS event source's maximum concurrency is 2 to 1,000.
  const reserved = lambda.reservedConcurrency === undefined ? undefined : num(lambda, 'reservedConcurrency', 'lambda.', 0, 2, 1000);
  const maxConcurrency = num(lambda, 'maxConcurrency', 'lambda.', reserved ?? DEFAULT_MAX_CONCURRENCY, 2, 1000);
  // Reserved below the queue's maximum, Lambda throttles the queue's invocations and SQS counts
  // each throttled batch as a receive: objects would reach the dead-letter queue unprocessed.
  if (reserved !== undefined && maxConcurrency > reserved) {
    fail(
      'lambda.maxConcurrency',
      `must not exceed lambda.reservedConcurrency (${maxConcurrency} > ${reserved}), or throttled messages are dead-lettered unprocessed`,
    );
  }

  // Lambda takes up to 10,000 messages per batch from a standard queue, more than 10 only with a window.
  const batchSize = num(lambda, 'batchSize', 'lambda.', 100, 1, 10_000);
  const batchWindowSeconds = num(lambda, 'batchWindowSeconds', 'lambda.', 60, 0, 300);
  if (batchSize > 10 && batchWindowSeconds < 1) fail('lambda.batchWindowSeconds', `must be at least 1 when lambda.batchSize is over 10 (got ${batchSize})`);

  const removal = raw.removalPolicy ?? 'retain';
  if (removal !== 'retain' && removal !== 'destroy') fail('removalPolicy', `must be "retain" or "destroy" (got "${removal}")`);

  return {
    ...(raw.account !== undefined ? { account: String(raw.account) } : {}),
    ...(raw.region !== undefined ? { region: String(raw.region) } : {}),
    logs: {
      ...(logs.existingBucketName !== undefined ? { existingBucketName: String(logs.existingBucketName) } : {}),
      expireAfterDays: num(logs, 'expireAfterDays', 'logs.', 90, 1, 3650),
      sources: parsedSources,
    },
    detector: detector as Record<string, unknown>,
    stateRetentionHours: num(raw, 'stateRetentionHours', '', 4, 1, 24 * 30),
    alerts: { emails, subscribers, operationsEmails: ops.length ? ops : emails },
    lambda: {
      memoryMb: num(lambda, 'memoryMb', 'lambda.', 512, 128, 10240),
      timeoutSeconds: num(lambda, 'timeoutSeconds', 'lambda.', 120, 10, 900),
      maxConcurrency,
      ...(reserved !== undefined ? { reservedConcurrency: reserved } : {}),
      batchSize,
      batchWindowSeconds,
      logRetentionDays,
    },
    removalPolicy: removal as 'retain' | 'destroy',
  };
}

/** Picks and validates the environment named on the command line (`-c env=NAME`). */
export function selectEnvironment(environments: unknown, name: unknown): { name: string; config: EnvironmentConfig } {
  if (!isObj(environments) || Object.keys(environments).length === 0) {
    throw new EnvironmentConfigError('cdk.json has no "environments" context: add one entry per environment (see README, Deploy)');
  }
  const known = Object.keys(environments).sort();
  if (typeof name !== 'string' || name === '') {
    throw new EnvironmentConfigError(`no environment given: deploy with -c env=NAME, where NAME is one of: ${known.join(', ')}`);
  }
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(name)) throw new EnvironmentConfigError(`environment name "${name}" must be lower-case letters, digits and dashes`);
  if (!(name in environments)) throw new EnvironmentConfigError(`unknown environment "${name}"; known: ${known.join(', ')}`);
  return { name, config: parseEnvironmentConfig(name, environments[name]) };
}
