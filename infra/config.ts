/**
 * One deployment's settings (`cdk.json` → `context.environments.<name>`), as one zod schema: the
 * types, the validation at `cdk synth` (the detector part with the very schema the CLI and the
 * Lambda use), the JSON Schema for editors and the README's reference all come from it.
 */
import { z } from 'zod';
import { CLOUDFRONT_REGION } from '../lambdas/core/blocking.js';
import { configErrorMap, issueLines, problem, settings, shown } from '../lambdas/core/config-issues.js';
import { type DetectorFile, detectorConfigSchema, detectorShapeSchema, logSourceSchema } from '../lambdas/core/config.js';
import { SEVERITIES } from '../lambdas/core/rules/types.js';
import { blockingSchema } from './blocking-config.js';
import { notificationsSchema } from './notify-config.js';

export type { LogSource } from '../lambdas/core/config.js';

/** Concurrent invocations the queue may start when nothing else is configured. */
export const DEFAULT_MAX_CONCURRENCY = 10;
/** Retention periods CloudWatch Logs offers, in days. */
export const LOG_RETENTION = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** A configuration error that names the field. */
export class EnvironmentConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n  '));
  }
}

const wholeNumber = (min: number, max: number) => {
  const error = (iss: { input?: unknown }) => `must be a whole number from ${min} to ${max} (got ${shown(iss.input)})`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const matching = (re: RegExp, what: string, title: string) =>
  z
    .string({ error: (iss) => `${what} (got ${shown(iss.input)})` })
    .regex(re, { error: (iss) => `${what} (got ${shown(iss.input)})` })
    .meta({ title });
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const email = matching(EMAIL, 'is not an e-mail address', 'e-mail address');
const emails = (description: string) =>
  z
    .array(email, { error: (iss) => `must be a list of e-mail addresses (got ${shown(iss.input)})` })
    .optional()
    .meta({ description });

const subscriberSchema = settings({
  protocol: z.enum(['https', 'sqs'], { error: 'must be "https" or "sqs"' }).meta({ description: 'how the subscriber receives alerts' }),
  endpoint: z.string().meta({ description: 'an https:// URL, or an SQS queue ARN' }),
  minSeverity: z
    .enum(SEVERITIES, { error: (iss) => `must be one of ${SEVERITIES.join(', ')} (got ${shown(iss.input)})` })
    .default('low')
    .meta({ description: 'least severity delivered (filtered on the severity attribute)' }),
}).superRefine((s, ctx) => {
  if (s.protocol === 'https' && !/^https:\/\/[^\s]+$/.test(s.endpoint)) problem(ctx, `must be an https:// URL (got ${shown(s.endpoint)})`, ['endpoint']);
  if (s.protocol === 'sqs' && !/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[\w.-]+$/.test(s.endpoint))
    problem(ctx, `must be an SQS queue ARN (got ${shown(s.endpoint)})`, ['endpoint']);
});

/**
 * Every setting of an environment, one key each. Another part of the stack adds its settings
 * here as one line, `key: itsSchema.optional()`, and they reach the stack in `EnvironmentConfig`.
 */
export const environmentShape = {
  account: matching(/^\d{12}$/, 'must be a 12-digit AWS account id', '12-digit account id')
    .optional()
    .meta({ description: "AWS account (default: the CLI's)" }),
  region: matching(/^[a-z]{2}(-[a-z]+)+-\d$/, 'is not an AWS region name', 'region name')
    .optional()
    .meta({ description: "AWS region (default: the CLI's)" }),
  logs: settings({
    existingBucketName: matching(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not a valid S3 bucket name', 'S3 bucket name')
      .optional()
      .meta({ description: 'use this bucket instead of creating one' }),
    expireAfterDays: wholeNumber(1, 3650).default(90).meta({ description: "lifecycle expiry of a new bucket's objects" }),
    sources: z
      .array(logSourceSchema, { error: 'must list at least one log source ({ prefix, suffix?, format? })' })
      .min(1, { error: 'must list at least one log source ({ prefix, suffix?, format? })' })
      .meta({ description: 'notification filters, each { prefix, suffix?, format? }; prefixes must not overlap' }),
  }).meta({ description: 'where the logs are (required)' }),
  detector: detectorShapeSchema.optional().meta({
    description: "the detector configuration (as a --config file), deployed as the config bucket's detector.json",
  }),
  stateRetentionHours: wholeNumber(1, 24 * 30)
    .default(4)
    .meta({
      description:
        'how long a per-source hour item lives after the end of its hour, or after its last write if later; never less than the longest horizon (24 h by default), so it matters only above that',
    }),
  alerts: settings({
    emails: emails('e-mail subscriptions (all severities)'),
    subscribers: z.array(subscriberSchema).optional().meta({ description: 'https or sqs subscriptions, filtered by severity' }),
    operationsEmails: emails('who receives alarms about ProbeWatch itself (default: alerts.emails)'),
  }).meta({ description: 'who is told (required: at least one e-mail address or subscriber)' }),
  lambda: settings({
    memoryMb: wholeNumber(128, 10240).default(512).meta({ description: 'function memory' }),
    timeoutSeconds: wholeNumber(10, 900).default(120).meta({ description: "function timeout; the queue's visibility timeout is 6 times this" }),
    maxConcurrency: wholeNumber(2, 1000)
      .optional()
      .meta({
        description: `most invocations the queue starts at once (default: reservedConcurrency, else ${DEFAULT_MAX_CONCURRENCY}); at most reservedConcurrency`,
      }),
    reservedConcurrency: wholeNumber(2, 1000).optional().meta({ description: 'executions reserved for (and capping) the function' }),
    batchSize: wholeNumber(1, 10_000)
      .default(100)
      .meta({ description: 'objects (queue messages) per invocation at most: a batch writes each flagged source once, so larger batches cost fewer writes' }),
    batchWindowSeconds: wholeNumber(0, 300)
      .default(60)
      .meta({ description: 'seconds the queue may wait to fill a batch (at least 1 when batchSize is over 10)' }),
    logRetentionDays: z
      .literal(LOG_RETENTION, { error: (iss) => `must be one of CloudWatch's values: ${LOG_RETENTION.join(', ')} (got ${shown(iss.input)})` })
      .default(30)
      .meta({ description: "CloudWatch Logs retention (one of CloudWatch's values)" }),
    configRefreshSeconds: wholeNumber(0, 3600)
      .default(60)
      .meta({ description: 'how often a warm function checks detector.json for a change (0: on every invocation)' }),
  })
    .prefault({})
    .meta({ description: 'the processing function' }),
  blocking: blockingSchema.prefault({}).meta({ description: 'blocking of alerted sources in WAF IP sets (off by default; see README, Blocking)' }),
  notifications: notificationsSchema
    .optional()
    .meta({ description: 'Slack, signed webhooks and digests (see README, Notifications); omitted: only the topic subscribers' }),
  removalPolicy: z
    .enum(['retain', 'destroy'], { error: (iss) => `must be "retain" or "destroy" (got ${shown(iss.input)})` })
    .default('retain')
    .meta({ description: 'destroy lets cdk destroy delete data (dev); retain also protects the table from deletion' }),
};

/** One environment as written in cdk.json (editor completion, README). */
export const environmentShapeSchema = settings(environmentShape);
type Shape = z.output<typeof environmentShapeSchema>;

/** One deployment's settings, validated, defaults filled in. */
export type EnvironmentConfig = Omit<Shape, 'detector' | 'alerts' | 'lambda' | 'logs'> & {
  logs: Shape['logs'];
  /** The detector configuration as written (validated): what is deployed as detector.json. */
  detector: DetectorFile;
  alerts: { emails: string[]; subscribers: z.output<typeof subscriberSchema>[]; operationsEmails: string[] };
  lambda: Omit<Shape['lambda'], 'maxConcurrency'> & { maxConcurrency: number };
};

/** Checks across fields, run once every field is right. */
function checkTogether(c: Shape, ctx: z.core.$RefinementCtx): void {
  const sources = c.logs.sources;
  sources.forEach((p, i) => {
    sources.forEach((q, j) => {
      // S3 refuses notification filters of the same event type that could both match one key:
      // overlapping prefixes (one starts the other) with overlapping suffixes (one ends the
      // other; no suffix overlaps every suffix).
      const ps = p.suffix ?? '';
      const qs = q.suffix ?? '';
      if (i < j && (p.prefix.startsWith(q.prefix) || q.prefix.startsWith(p.prefix)) && (ps.endsWith(qs) || qs.endsWith(ps))) {
        problem(
          ctx,
          `overlaps logs.sources[${i}] (prefixes "${p.prefix}" and "${q.prefix}", suffixes "${ps}" and "${qs}"); S3 refuses notification filters that can both match one key`,
          ['logs', 'sources', j, 'prefix'],
        );
      }
    });
  });
  // The stack refuses this too, but only when synthesized; said here, `config check` says it.
  const b = c.blocking;
  if (b.enabled && b.scope === 'CLOUDFRONT' && !b.ipSetArns && c.region !== undefined && c.region !== CLOUDFRONT_REGION) {
    problem(
      ctx,
      `is CLOUDFRONT: CloudFront's WAF IP sets exist only in ${CLOUDFRONT_REGION}, so set region to "${CLOUDFRONT_REGION}" (got "${c.region}"), or give existing sets in blocking.ipSetArns`,
      ['blocking', 'scope'],
    );
  }
  if (!c.alerts.emails?.length && !c.alerts.subscribers?.length)
    problem(ctx, 'needs at least one e-mail address or subscriber, or alerts go nowhere', ['alerts']);
  const { reservedConcurrency: reserved, maxConcurrency } = c.lambda;
  // Reserved below the queue's maximum, Lambda throttles the queue's invocations and SQS counts
  // each throttled batch as a receive: objects would reach the dead-letter queue unprocessed.
  if (reserved !== undefined && maxConcurrency !== undefined && maxConcurrency > reserved) {
    problem(ctx, `must not exceed lambda.reservedConcurrency (${maxConcurrency} > ${reserved}), or throttled messages are dead-lettered unprocessed`, [
      'lambda',
      'maxConcurrency',
    ]);
  }
  // Lambda takes more than 10 messages per batch from a standard queue only with a batching window.
  if (c.lambda.batchSize > 10 && c.lambda.batchWindowSeconds < 1)
    problem(ctx, `must be at least 1 when lambda.batchSize is over 10 (got ${c.lambda.batchSize})`, ['lambda', 'batchWindowSeconds']);
  // The detector with the same schema as the CLI and the Lambda, engine included.
  const detector = detectorConfigSchema.safeParse(c.detector ?? {}, { error: configErrorMap });
  if (!detector.success)
    for (const iss of detector.error.issues) ctx.addIssue({ ...iss, path: ['detector', ...iss.path] } as Parameters<typeof ctx.addIssue>[0]);
}

function toEnvironmentConfig(c: Shape): EnvironmentConfig {
  const emailsList = c.alerts.emails ?? [];
  const ops = c.alerts.operationsEmails ?? [];
  return {
    ...c,
    detector: c.detector ?? {},
    alerts: { emails: emailsList, subscribers: c.alerts.subscribers ?? [], operationsEmails: ops.length ? ops : emailsList },
    lambda: { ...c.lambda, maxConcurrency: c.lambda.maxConcurrency ?? c.lambda.reservedConcurrency ?? DEFAULT_MAX_CONCURRENCY },
  };
}

/** The whole validation of one environment: fields, then the checks across them; defaults filled in. */
export const environmentSchema = environmentShapeSchema.pipe(z.custom<Shape>().superRefine(checkTogether)).transform(toEnvironmentConfig);

/** Every problem of one environment, each naming its field; empty when it is valid. */
export function environmentProblems(name: string, raw: unknown): string[] {
  const r = environmentSchema.safeParse(raw, { error: configErrorMap });
  if (r.success) return [];
  return issueLines(r.error.issues, (field, message) => {
    // Detector problems read as in a --config file, after the environment's detector section.
    if (field === 'detector' || field.startsWith('detector.') || field.startsWith('detector[')) {
      const inner = field.slice('detector'.length).replace(/^\./, '');
      return `environments.${name}.detector: ${inner ? `${inner} ` : ''}${message}`;
    }
    return `environments.${name}${field ? `.${field}` : ''} ${message}`;
  });
}

/** Validates one environment's raw settings and fills in defaults; throws listing every problem. */
export function parseEnvironmentConfig(name: string, raw: unknown): EnvironmentConfig {
  const r = environmentSchema.safeParse(raw, { error: configErrorMap });
  if (r.success) return r.data;
  throw new EnvironmentConfigError(environmentProblems(name, raw));
}

const ENV_NAME = /^[a-z][a-z0-9-]{0,20}$/;

/** Picks and validates the environment named on the command line (`-c env=NAME`). */
export function selectEnvironment(environments: unknown, name: unknown): { name: string; config: EnvironmentConfig } {
  if (typeof environments !== 'object' || environments === null || Array.isArray(environments) || Object.keys(environments).length === 0) {
    throw new EnvironmentConfigError(['cdk.json has no "environments" context: add one entry per environment (see README, Deploy)']);
  }
  const envs = environments as Record<string, unknown>;
  const known = Object.keys(envs).sort();
  if (typeof name !== 'string' || name === '') {
    throw new EnvironmentConfigError([`no environment given: deploy with -c env=NAME, where NAME is one of: ${known.join(', ')}`]);
  }
  if (!ENV_NAME.test(name)) throw new EnvironmentConfigError([`environment name "${name}" must be lower-case letters, digits and dashes`]);
  if (!(name in envs)) throw new EnvironmentConfigError([`unknown environment "${name}"; known: ${known.join(', ')}`]);
  return { name, config: parseEnvironmentConfig(name, envs[name]) };
}

/** cdk.json as far as this project reads it: `context.environments`, each by the schema above. */
export const cdkJsonSchema = z.looseObject({
  context: z
    .looseObject({
      environments: z.record(z.string().regex(ENV_NAME), environmentShapeSchema).meta({ description: 'one entry per deployment: cdk deploy -c env=NAME' }),
    })
    .optional(),
});
