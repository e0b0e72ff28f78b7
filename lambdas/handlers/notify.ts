import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { DeliveryError, type PostOptions, postWithRetry } from '../adapters/webhook-delivery.js';
import { SecretCache, checkWebhookUrl } from '../adapters/webhook-secrets.js';
import { DynamoNotifyStore } from '../adapters/webhook-store.js';
import { digestEmail, digestEntryOf, summariseDigest } from '../core/digest.js';
import { AdapterError } from '../core/errors.js';
import { sanitize } from '../core/escape.js';
import { slackAlertMessage, slackDigestMessage } from '../core/notify-slack.js';
import {
  EVENT_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  WEBHOOK_BODY_MAX_BYTES,
  type WebhookBody,
  signBody,
  webhookAlertBody,
  webhookDigestBody,
} from '../core/notify-webhook.js';
import { type Channel, type NotifySettings, type NotifyStore, parseAlertMessage, parseNotifySettings, routeAlert } from '../core/notify.js';
import type { AlertDocument } from '../core/ports.js';

/** Added to a delivery claim's lease: clocks of different hosts disagree by a little. */
export const LEASE_MARGIN_SECONDS = 30;
/** Longest error text kept in a log line or a dead-letter attribute. */
export const ERROR_MAX_CHARS = 1_000;
/** Messages of a batch delivered at once (each may wait for back-offs). */
export const MESSAGES_IN_PARALLEL = 4;

/** What the handler is wired with; tests inject local clients, a local HTTP server and a silent logger. */
export interface NotifyDeps {
  settings: NotifySettings;
  store: NotifyStore;
  secrets: { get(name: string): Promise<string>; forget(name: string): void };
  /** Publishes the e-mail digest to the alert topic. */
  publishEmail(subject: string, text: string): Promise<void>;
  /** Sends a message that keeps failing to the dead-letter queue, with why in its attributes. */
  deadLetter(body: string, context: { alertId: string; channels: string[]; error: string; receives: number }): Promise<void>;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  newOwner?: () => string;
  /** Retry timings (tests shorten them). */
  postOptions?: Omit<PostOptions, 'label' | 'deadline'>;
  /** Tests post to a server on 127.0.0.1 over plain HTTP. @default false */
  allowLoopbackHttp?: boolean;
}

/** An EventBridge scheduled event (the digest run). */
export interface ScheduledEvent {
  source: 'aws.events';
  'detail-type': string;
  time?: string;
}

type Failure = { channel: string; error: unknown };

function errorText(e: unknown): string {
  const err = e as Error;
  return sanitize(`${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`, ERROR_MAX_CHARS);
}

/** Runs `work` over `items`, at most `limit` at once; returns each item's error or null. */
async function settleBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<(unknown | null)[]> {
  const errors: (unknown | null)[] = items.map(() => null);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        try {
          await work(items[i] as T);
        } catch (e) {
          errors[i] = e ?? new Error('failed');
        }
      }
    }),
  );
  return errors;
}

function isScheduled(e: unknown): e is ScheduledEvent {
  return (e as ScheduledEvent)?.source === 'aws.events';
}

/** Builds the handler around injected dependencies. */
export function makeNotifyHandler(deps: NotifyDeps) {
  const { settings, store, metrics, logger } = deps;
  const newOwner = deps.newOwner ?? randomUUID;

  async function urlOf(channel: Channel): Promise<string> {
    const name = channel.urlSecretName as string;
    return checkWebhookUrl(name, await deps.secrets.get(name), deps.allowLoopbackHttp);
  }

  /** Posts a JSON body to a Slack or webhook channel; a refusal that a new URL may fix drops the cached secret. */
  async function post(channel: Channel, body: WebhookBody, event: 'alert' | 'digest', deadline: number, alertId?: string): Promise<void> {
    if (body.bytes > WEBHOOK_BODY_MAX_BYTES)
      throw new DeliveryError(`${channel.id}: the ${event} is ${body.bytes} bytes, over ${WEBHOOK_BODY_MAX_BYTES}`, false);
    const url = await urlOf(channel);
    const headers: Record<string, string> = {};
    if (channel.kind === 'webhook') {
      headers[EVENT_HEADER] = event;
      if (alertId) headers['X-ProbeWatch-Alert-Id'] = alertId;
      if (channel.signingSecretName) {
        const ts = Math.floor(deps.now() / 1000);
        headers[TIMESTAMP_HEADER] = String(ts);
        headers[SIGNATURE_HEADER] = signBody(await deps.secrets.get(channel.signingSecretName), ts, body.body);
      }
    }
    try {
      await postWithRetry(url, body.body, headers, { now: deps.now, ...deps.postOptions, label: channel.id, deadline });
    } catch (e) {
      if (e instanceof DeliveryError && [401, 403, 404, 410].includes(e.status ?? 0)) deps.secrets.forget(channel.urlSecretName as string);
      throw e;
    }
  }

  async function deliverAlert(channel: Channel, doc: AlertDocument, deadline: number): Promise<void> {
    if (channel.kind === 'slack') {
      const text = JSON.stringify(slackAlertMessage(doc));
      await post(channel, { body: text, bytes: Buffer.byteLength(text, 'utf8'), shortened: false }, 'alert', deadline);
    } else if (channel.kind === 'webhook') {
      const body = webhookAlertBody(doc);
      if (body.shortened) metrics.addMetric('NotificationsShortened', MetricUnit.Count, 1);
      await post(channel, body, 'alert', deadline, doc.alertId);
    }
  }

  /** One alert to every channel that wants it; returns the channels that failed. */
  async function notifyOne(doc: AlertDocument, leaseUntil: number, deadline: number): Promise<Failure[]> {
    const failures: Failure[] = [];
    const owner = newOwner();
    for (const channel of settings.channels) {
      const route = routeAlert(channel, doc.severity, settings.immediateSeverity);
      if (route === 'skip') continue;
      const log = { channel: channel.id, alertId: sanitize(doc.alertId, 64), route };
      const claim = await store.claimDelivery(channel.id, doc.alertId, owner, leaseUntil, deps.now());
      if (claim.outcome === 'done') {
        logger.info('already delivered: skipped', log);
        continue;
      }
      if (claim.outcome === 'busy') {
        failures.push({ channel: channel.id, error: new AdapterError(`${channel.id}: another run is delivering this alert`) });
        continue;
      }
      try {
        if (route === 'digest') {
          await store.queueForDigest(channel.id, digestEntryOf(doc, claim.queuedAt), deps.now());
          await store.markDelivered(channel.id, doc.alertId, owner, 'queued');
          metrics.addMetric('NotificationsQueued', MetricUnit.Count, 1);
          logger.info('queued for the digest', log);
        } else {
          await deliverAlert(channel, doc, deadline);
          await store.markDelivered(channel.id, doc.alertId, owner, 'sent');
          metrics.addMetric('NotificationsSent', MetricUnit.Count, 1);
          logger.info('delivered', log);
        }
      } catch (e) {
        await store.releaseDelivery(channel.id, doc.alertId, owner).catch(() => undefined);
        metrics.addMetric('NotificationsFailed', MetricUnit.Count, 1);
        logger.error('delivery failed', { ...log, error: errorText(e) });
        failures.push({ channel: channel.id, error: e });
      }
    }
    return failures;
  }

  async function handleRecord(record: SQSRecord, leaseUntil: number, deadline: number): Promise<void> {
    const receives = Number(record.attributes?.ApproximateReceiveCount ?? 1);
    let doc: AlertDocument;
    try {
      doc = parseAlertMessage(record.body);
    } catch (e) {
      // Not an alert: no retry can change that. Dead-lettered now with the reason.
      logger.error('message is not an alert document', { messageId: record.messageId, error: errorText(e) });
      await deadLetterOrFail(record, { alertId: '', channels: [], error: errorText(e), receives });
      return;
    }
    const failures = await notifyOne(doc, leaseUntil, deadline);
    if (failures.length === 0) return;
    const permanent = failures.every((f) => f.error instanceof DeliveryError && !f.error.retryable);
    // Past the receives, or refused in a way no retry changes (a wrong URL, a payload refused):
    // dead-lettered with the channels and the reason, for a redrive once fixed.
    if (permanent || receives >= settings.maxReceives) {
      await deadLetterOrFail(record, { alertId: doc.alertId, channels: failures.map((f) => f.channel), error: errorText(failures[0]?.error), receives });
      return;
    }
    throw failures[0]?.error;
  }

  async function deadLetterOrFail(record: SQSRecord, context: { alertId: string; channels: string[]; error: string; receives: number }): Promise<void> {
    try {
      await deps.deadLetter(record.body, context);
      metrics.addMetric('NotificationsDeadLettered', MetricUnit.Count, 1);
      logger.error('dead-lettered', { messageId: record.messageId, ...context });
    } catch (e) {
      // The queue's own redrive policy dead-letters it after one more receive (without the context).
      logger.error('could not dead-letter; left to the redrive policy', { messageId: record.messageId, error: errorText(e) });
      throw e;
    }
  }

  async function runDigests(leaseUntil: number, deadline: number): Promise<void> {
    const errors: unknown[] = [];
    for (const channel of settings.channels) {
      if (channel.digestMinutes === undefined) continue;
      const owner = newOwner();
      let run: Awaited<ReturnType<NotifyStore['claimDigest']>>;
      try {
        run = await store.claimDigest(channel.id, channel.digestMinutes * 60_000, owner, leaseUntil, deps.now());
      } catch (e) {
        logger.error('digest claim failed', { channel: channel.id, error: errorText(e) });
        errors.push(e);
        continue;
      }
      if (!run) continue;
      const summary = summariseDigest(run.entries, { environment: settings.environment, channel: channel.id, waiting: run.waiting });
      try {
        if (channel.kind === 'email') {
          const mail = digestEmail(summary);
          await deps.publishEmail(mail.subject, mail.text);
        } else if (channel.kind === 'slack') {
          const text = JSON.stringify(slackDigestMessage(summary));
          await post(channel, { body: text, bytes: Buffer.byteLength(text, 'utf8'), shortened: false }, 'digest', deadline);
        } else {
          await post(channel, webhookDigestBody(summary), 'digest', deadline);
        }
        await store.finishDigest(channel.id, run, owner, deps.now());
        metrics.addMetric('DigestsSent', MetricUnit.Count, 1);
        logger.info('digest sent', { channel: channel.id, period: run.period, alerts: summary.alerts, waiting: summary.waiting });
      } catch (e) {
        await store.releaseDigest(channel.id, owner).catch(() => undefined);
        metrics.addMetric('DigestsFailed', MetricUnit.Count, 1);
        logger.error('digest failed; the next run retries it', { channel: channel.id, period: run.period, error: errorText(e) });
        errors.push(e);
      }
    }
    // The invocation fails (the function's error alarm fires); the alerts stay queued for the next run.
    if (errors.length) throw errors[0];
  }

  return async function handler(event: SQSEvent | ScheduledEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SQSBatchResponse | undefined> {
    const now = deps.now();
    const remaining = context ? context.getRemainingTimeInMillis() : 60_000;
    const leaseUntil = Math.floor(now / 1000) + Math.ceil(remaining / 1000) + LEASE_MARGIN_SECONDS;
    // No new HTTP try starts when it could not finish before the function times out.
    const deadline = now + remaining - 2_000;
    try {
      if (isScheduled(event)) {
        await runDigests(leaseUntil, deadline);
        return undefined;
      }
      const records = (event as SQSEvent).Records ?? [];
      const errors = await settleBounded(records, MESSAGES_IN_PARALLEL, (r) => handleRecord(r, leaseUntil, deadline));
      return { batchItemFailures: records.filter((_, i) => errors[i] !== null).map((r) => ({ itemIdentifier: r.messageId })) };
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

let cached: ReturnType<typeof makeNotifyHandler> | undefined;

/** Lambda entry point: settings validated and clients created once per container. */
export const handler = async (event: SQSEvent | ScheduledEvent, context?: Context): Promise<SQSBatchResponse | undefined> => {
  if (!cached) {
    const logger = new Logger({ serviceName: 'probewatch-notify' });
    let settings: NotifySettings;
    try {
      settings = parseNotifySettings(process.env);
    } catch (e) {
      logger.critical('cannot start', { error: e as Error });
      throw e;
    }
    const metrics = new Metrics({ namespace: 'ProbeWatch', serviceName: 'probewatch-notify', defaultDimensions: { environment: settings.environment } });
    const sns = new SNSClient({ maxAttempts: 5 });
    const sqs = new SQSClient({ maxAttempts: 5 });
    cached = makeNotifyHandler({
      settings,
      store: new DynamoNotifyStore({ tableName: settings.tableName }),
      secrets: new SecretCache({ ttlMs: settings.secretsTtlSeconds * 1000 }),
      publishEmail: (subject, text) => publishDigestEmail(sns, settings, subject, text),
      deadLetter: (body, ctx) => sendToDeadLetters(sqs, settings, body, ctx),
      logger,
      metrics,
      now: Date.now,
    });
  }
  return cached(event, context);
};

/**
 * The e-mail digest, published to the alert topic with `severity: digest`: the e-mail
 * subscriptions' filter admits it (with the immediate severities), every other subscription's
 * filter (severities only) does not, so it reaches people and not machines or this function.
 */
export async function publishDigestEmail(sns: SNSClient, settings: NotifySettings, subject: string, text: string): Promise<void> {
  if (!settings.topicArn) throw new AdapterError('ALERT_TOPIC_ARN is not set: the e-mail digest has nowhere to go');
  try {
    await sns.send(
      new PublishCommand({
        TopicArn: settings.topicArn,
        Subject: subject,
        Message: text,
        MessageAttributes: {
          severity: { DataType: 'String', StringValue: 'digest' },
          environment: { DataType: 'String', StringValue: sanitize(settings.environment, 64) },
        },
      }),
    );
  } catch (e) {
    throw new AdapterError(`SNS Publish of the e-mail digest failed: ${(e as Error).message}`, { cause: e });
  }
}

/** Sends a failing alert to the dead-letter queue with its context as message attributes. */
export async function sendToDeadLetters(
  sqs: SQSClient,
  settings: NotifySettings,
  body: string,
  ctx: { alertId: string; channels: string[]; error: string; receives: number },
): Promise<void> {
  if (!settings.deadLetterQueueUrl) throw new AdapterError('DEAD_LETTER_QUEUE_URL is not set');
  const attr = (v: string) => ({ DataType: 'String', StringValue: v || '-' });
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: settings.deadLetterQueueUrl,
      MessageBody: body,
      MessageAttributes: {
        alertId: attr(sanitize(ctx.alertId, 64)),
        channels: attr(ctx.channels.join(',')),
        error: attr(ctx.error),
        receives: { DataType: 'Number', StringValue: String(ctx.receives) },
      },
    }),
  );
}
