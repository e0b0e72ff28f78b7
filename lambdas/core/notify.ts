import { z } from 'zod';
import { severityRank } from './decide.js';
import { ConfigError, InputError } from './errors.js';
import { sanitize } from './escape.js';
import type { AlertDocument } from './ports.js';
import { SEVERITIES, type Severity } from './rules/types.js';

/**
 * Notifications: a consumer of the published alerts (the alert topic → an SQS queue → the notify
 * function) that delivers them to Slack and HTTPS webhooks, at once or in a digest, and sends the
 * e-mail digest. This module holds what the channels are, how an alert is routed to each, and the
 * function's settings; formatting lives in notify-slack / notify-webhook / digest.
 */

/** How a channel is reached. `email` is the alert topic's e-mail subscribers (digests only). */
export type ChannelKind = 'slack' | 'webhook' | 'email';

/** One channel as the function is configured with it. */
export interface Channel {
  /** Stable id, used in state keys and logs: `slack`, `webhook:<name>`, `email`. */
  id: string;
  kind: ChannelKind;
  /** Secrets Manager name of the URL (Slack incoming webhook or HTTPS endpoint). */
  urlSecretName?: string;
  /** Secrets Manager name of the HMAC signing secret (webhooks). */
  signingSecretName?: string;
  minSeverity: Severity;
  /** Alerts below the immediate severity wait for a digest sent at most every this many minutes. */
  digestMinutes?: number;
}

/** What happens to one alert on one channel. */
export type Route = 'skip' | 'now' | 'digest';

/** Routes an alert: below the channel's minimum it is skipped; below `immediate` it waits for the digest when the channel has one. */
export function routeAlert(channel: Channel, severity: Severity, immediate: Severity): Route {
  const below = (a: Severity, b: Severity) => severityRank(a) < severityRank(b);
  // E-mail subscribers get immediate alerts straight from the topic (their filter policy): only the rest is digested here.
  if (channel.kind === 'email') return below(severity, immediate) ? 'digest' : 'skip';
  if (below(severity, channel.minSeverity)) return 'skip';
  if (channel.digestMinutes !== undefined && below(severity, immediate)) return 'digest';
  return 'now';
}

/** Longest alert id kept (the processor's are 32 hex characters). */
export const ALERT_ID_MAX_CHARS = 64;

const severity = z.enum(SEVERITIES);
/** The fields of a published alert document the notifier relies on (everything else passes through). */
const alertDocumentSchema = z.looseObject({
  version: z.literal(1),
  // It travels in a header and in keys: the processor's ids are 32 hex characters.
  alertId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]+$/, 'must be letters, digits and ._:-')
    .max(ALERT_ID_MAX_CHARS),
  environment: z.string(),
  source: z.string(),
  severity,
  score: z.number(),
  categories: z.array(z.string()),
  requests: z.number(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  reason: z.string(),
  trigger: z.string(),
  triggeredAt: z.string(),
  evidence: z.string(),
  what: z.string(),
  todo: z.string(),
  note: z.string().optional(),
  samples: z.array(z.looseObject({ time: z.string(), request: z.string(), status: z.number(), userAgent: z.string() })),
  objects: z.array(z.string()).default([]),
  objectCount: z.number().optional(),
});

/**
 * Reads one queue message: the alert document (raw delivery), or an SNS envelope around it (a
 * subscription without raw delivery). Anything else is an {@link InputError} that says why.
 */
export function parseAlertMessage(body: string): AlertDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
    const env = doc as { Type?: unknown; Message?: unknown };
    if (env?.Type === 'Notification' && typeof env.Message === 'string') doc = JSON.parse(env.Message);
    // The per-protocol message whole (`MessageStructure: json`): SNS gives SQS its `sqs` value,
    // the local emulator (fauxqs) the whole structure.
    const structure = doc as { version?: unknown; sqs?: unknown };
    if (structure?.version === undefined && typeof structure?.sqs === 'string') doc = JSON.parse(structure.sqs);
  } catch (e) {
    throw new InputError(`the message is not JSON (${sanitize((e as Error).message, 120)})`);
  }
  const parsed = alertDocumentSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(`the message is not a ProbeWatch alert document: ${issue?.path.join('.') || '(root)'} ${sanitize(issue?.message ?? '', 120)}`);
  }
  return parsed.data as unknown as AlertDocument;
}

// ── the function's settings (environment variables, validated at cold start) ──────────────

/** Secrets are read again after this long, so a rotated webhook URL is picked up without a redeploy. */
export const DEFAULT_SECRETS_TTL_SECONDS = 300;
/** Receives of one alert message before it is dead-lettered with its context (the queue's redrive policy is one more). */
export const DEFAULT_MAX_RECEIVES = 5;

const channelSchema = z
  .object({
    id: z.string().regex(/^(slack|email|webhook:[a-z0-9-]{1,32})$/),
    kind: z.enum(['slack', 'webhook', 'email']),
    urlSecretName: z.string().min(1).optional(),
    signingSecretName: z.string().min(1).optional(),
    minSeverity: severity,
    digestMinutes: z.number().int().min(1).max(1440).optional(),
  })
  .strict()
  .refine((c) => c.kind === 'email' || c.urlSecretName !== undefined, { message: 'a Slack or webhook channel needs urlSecretName' });

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const settingsSchema = z.object({
  STATE_TABLE_NAME: z.string().min(1),
  ENVIRONMENT_NAME: z.string().min(1),
  NOTIFY_CHANNELS: z.string().min(1),
  IMMEDIATE_SEVERITY: severity.default('high'),
  ALERT_TOPIC_ARN: z.string().optional(),
  DEAD_LETTER_QUEUE_URL: z.string().optional(),
  SECRETS_TTL_SECONDS: positiveInt(DEFAULT_SECRETS_TTL_SECONDS),
  MAX_RECEIVES: positiveInt(DEFAULT_MAX_RECEIVES),
});

/** The notify function's validated settings. */
export interface NotifySettings {
  tableName: string;
  environment: string;
  channels: Channel[];
  immediateSeverity: Severity;
  /** The alert topic: the e-mail digest is published there. Required with an `email` channel. */
  topicArn?: string;
  /** Where an alert that failed {@link NotifySettings.maxReceives} times is sent with its context. */
  deadLetterQueueUrl?: string;
  secretsTtlSeconds: number;
  maxReceives: number;
}

/**
 * Validates the function's environment once at cold start: every problem at once, each naming
 * its variable, so a broken deployment fails its first invocation with one clear message.
 */
export function parseNotifySettings(env: Record<string, string | undefined>): NotifySettings {
  const blank = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const problems: string[] = [];
  const parsed = settingsSchema.safeParse(blank);
  if (!parsed.success) for (const i of parsed.error.issues) problems.push(`${i.path.join('.')}: ${i.message}`);
  let channels: Channel[] = [];
  if (typeof blank.NOTIFY_CHANNELS === 'string') {
    try {
      const list = z.array(channelSchema).min(1).safeParse(JSON.parse(blank.NOTIFY_CHANNELS));
      if (list.success) channels = list.data as Channel[];
      else for (const i of list.error.issues) problems.push(`NOTIFY_CHANNELS.${i.path.join('.')}: ${i.message}`);
    } catch (e) {
      problems.push(`NOTIFY_CHANNELS is not valid JSON (${(e as Error).message})`);
    }
  }
  const ids = channels.map((c) => c.id);
  if (new Set(ids).size !== ids.length) problems.push(`NOTIFY_CHANNELS: channel ids must be unique (got ${ids.join(', ')})`);
  if (channels.some((c) => c.kind === 'email') && !blank.ALERT_TOPIC_ARN) problems.push('ALERT_TOPIC_ARN is required for the e-mail digest');
  if (problems.length || !parsed.success) throw new ConfigError(`invalid notify configuration: ${problems.join('; ')}`);
  const s = parsed.data;
  return {
    tableName: s.STATE_TABLE_NAME,
    environment: s.ENVIRONMENT_NAME,
    channels,
    immediateSeverity: s.IMMEDIATE_SEVERITY,
    ...(s.ALERT_TOPIC_ARN ? { topicArn: s.ALERT_TOPIC_ARN } : {}),
    ...(s.DEAD_LETTER_QUEUE_URL ? { deadLetterQueueUrl: s.DEAD_LETTER_QUEUE_URL } : {}),
    secretsTtlSeconds: s.SECRETS_TTL_SECONDS,
    maxReceives: s.MAX_RECEIVES,
  };
}

// ── ports: what delivery needs from the state table ──────────────────────────────────────

/** Result of claiming one alert on one channel: only `claimed` may deliver. */
export type DeliveryClaim =
  | { outcome: 'claimed'; queuedAt: number }
  /** Delivered (or queued for the digest) before: a redelivery, nothing to do. */
  | { outcome: 'done' }
  /** Another live run holds the claim: retry later. */
  | { outcome: 'busy' };

/** A claimed digest run: the period's id and what it covers. */
export interface DigestRun {
  period: string;
  /** Alerts claimed for this period (oldest first, at most the digest's bound). */
  entries: import('./digest.js').DigestEntry[];
  /** Alerts still waiting beyond those. */
  waiting: number;
}

/** Port: per-channel delivery records and the digest queue (DynamoDB in AWS). */
export interface NotifyStore {
  /** Claims the delivery of an alert to a channel, leased until `leaseUntilSec`. */
  claimDelivery(channel: string, alertId: string, owner: string, leaseUntilSec: number, nowMs: number): Promise<DeliveryClaim>;
  /** Records the delivery (or queueing) as done, so no redelivery repeats it. */
  markDelivered(channel: string, alertId: string, owner: string, how: 'sent' | 'queued'): Promise<void>;
  /** Gives a claim up after a failed delivery, so a retry may take it at once. */
  releaseDelivery(channel: string, alertId: string, owner: string): Promise<void>;
  /** Queues an alert for the channel's digest (the same alert twice is one entry). */
  queueForDigest(channel: string, entry: import('./digest.js').DigestEntry, nowMs: number): Promise<void>;
  /**
   * Claims the channel's next digest when it is due (its oldest alert has waited `everyMs`, and
   * the last digest is `everyMs` old), or takes over one whose run died; undefined when there is
   * nothing to send or another run holds it.
   */
  claimDigest(channel: string, everyMs: number, owner: string, leaseUntilSec: number, nowMs: number): Promise<DigestRun | undefined>;
  /** Records the period as sent and removes its alerts from the queue. */
  finishDigest(channel: string, run: DigestRun, owner: string, nowMs: number): Promise<void>;
  /** Gives a digest claim up after a failed send: the next run retries the same period. */
  releaseDigest(channel: string, owner: string): Promise<void>;
}
