/**
 * Drives the real Lambda handler from the local stack's SQS queue, as the Lambda service does:
 * batches of up to `batchSize` messages (10 by default, one receive; more are collected over
 * several receives, as the event source does within its batching window), partial batch
 * failures made visible again, and after `maxReceives` receives a message moves to the
 * dead-letter queue (the redrive policy).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, type Message, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { DynamoStateStore } from '../adapters/dynamodb-state-store.js';
import type { RuntimeConfig } from '../adapters/runtime-config.js';
import { SnsAlertPublisher } from '../adapters/sns-publisher.js';
import { DEFAULT_CONFIG } from '../core/config.js';
import type { AlertDocument, StateStore } from '../core/ports.js';
import type { HandlerDeps, makeHandler } from '../handlers/process-logs.js';
import type { LocalStack } from './stack.js';

/**
 * Metrics that keep each published EMF document in memory instead of printing it, so local runs
 * and tests can read them (Powertools prints straight to stdout).
 */
export class CapturedMetrics extends Metrics {
  readonly published: Record<string, unknown>[] = [];
  override publishStoredMetrics(): this {
    if (this.hasStoredMetrics()) this.published.push(this.serializeMetrics() as unknown as Record<string, unknown>);
    this.clearMetrics();
    return this;
  }
  /** Sum of a metric over every published document. */
  total(name: string): number {
    return this.published.reduce(
      (n, d) => n + (typeof d[name] === 'number' ? (d[name] as number) : Array.isArray(d[name]) ? (d[name] as number[]).reduce((a, b) => a + b, 0) : 0),
      0,
    );
  }
}

/** The handler wired to the local stack (tests override single dependencies). */
export function localHandlerDeps(stack: LocalStack, overrides: Partial<HandlerDeps> & { environment?: string; tableName?: string } = {}): HandlerDeps {
  const config: RuntimeConfig = {
    tableName: overrides.tableName ?? stack.tableName,
    topicArn: stack.topicArn,
    environment: overrides.environment ?? 'local',
    detector: structuredClone(DEFAULT_CONFIG),
    formats: [],
    retentionHours: 4,
    maxLineLength: 64 * 1024,
    ...overrides.config,
  };
  const store: StateStore =
    overrides.store ?? new DynamoStateStore({ tableName: config.tableName, client: stack.dynamo, retentionHours: config.retentionHours });
  return {
    config,
    s3: overrides.s3 ?? stack.s3,
    store,
    publisher: overrides.publisher ?? new SnsAlertPublisher({ topicArn: stack.topicArn, client: stack.sns }),
    logger: overrides.logger ?? new Logger({ serviceName: 'probewatch', logLevel: 'SILENT' }),
    metrics: overrides.metrics ?? new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' }),
    now: overrides.now ?? Date.now,
  };
}

/** What one pump run did. */
export interface PumpResult {
  batches: number;
  messages: number;
  failures: number;
  deadLettered: number;
}

/** Most messages one SQS receive returns. */
export const SQS_RECEIVE_MAX = 10;

/** The Lambda event SQS would deliver for these messages of the queue `queueArn`. */
export function sqsEventFrom(queueArn: string, region: string, msgs: readonly Message[]): SQSEvent {
  return {
    Records: msgs.map(
      (m) =>
        ({
          messageId: m.MessageId ?? '',
          receiptHandle: m.ReceiptHandle ?? '',
          body: m.Body ?? '',
          attributes: { ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1' },
          messageAttributes: {},
          md5OfBody: m.MD5OfBody ?? '',
          eventSource: 'aws:sqs',
          eventSourceARN: queueArn,
          awsRegion: region,
        }) as unknown as SQSRecord,
    ),
  };
}

/** The Lambda event SQS would deliver for these messages of the object queue. */
export function sqsEventOf(stack: LocalStack, msgs: readonly Message[]): SQSEvent {
  return sqsEventFrom(`arn:aws:sqs:${stack.region}:000000000000:probewatch-objects`, stack.region, msgs);
}

/** Feeds queued messages to the handler, `batchSize` at most per invocation, until the queue stays empty. */
export async function pumpQueue(
  stack: LocalStack,
  handler: ReturnType<typeof makeHandler>,
  opts: { maxReceives?: number; idlePolls?: number; batchSize?: number; afterBatch?: () => Promise<void> } = {},
): Promise<PumpResult> {
  const maxReceives = opts.maxReceives ?? 3;
  const batchSize = opts.batchSize ?? SQS_RECEIVE_MAX;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a whole number of messages, not ${batchSize}`);
  const receives = new Map<string, number>();
  const result: PumpResult = { batches: 0, messages: 0, failures: 0, deadLettered: 0 };
  let idle = 0;
  await stack.settled();
  while (idle < (opts.idlePolls ?? 2)) {
    const msgs: Message[] = [];
    while (msgs.length < batchSize) {
      const r = await stack.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: stack.queueUrl, MaxNumberOfMessages: Math.min(SQS_RECEIVE_MAX, batchSize - msgs.length), WaitTimeSeconds: 0 }),
      );
      if (!r.Messages?.length) break;
      msgs.push(...r.Messages);
    }
    if (msgs.length === 0) {
      idle++;
      await new Promise((res) => setTimeout(res, 30));
      await stack.settled();
      continue;
    }
    idle = 0;
    result.batches++;
    result.messages += msgs.length;
    const event = sqsEventOf(stack, msgs);
    const response = await handler(event);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    for (const m of msgs) {
      const id = m.MessageId ?? '';
      if (!failed.has(id)) {
        await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.queueUrl, ReceiptHandle: m.ReceiptHandle }));
        continue;
      }
      result.failures++;
      const n = (receives.get(id) ?? 0) + 1;
      receives.set(id, n);
      if (n >= maxReceives) {
        await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.dlqUrl, MessageBody: m.Body ?? '' }));
        await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.queueUrl, ReceiptHandle: m.ReceiptHandle }));
        result.deadLettered++;
      } else {
        await stack.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: stack.queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
      }
    }
    await opts.afterBatch?.();
  }
  return result;
}

/** An alert as an SQS subscriber receives it. */
export interface TappedAlert {
  subject: string;
  document: AlertDocument;
  attributes: Record<string, string>;
}

/** Reads (and removes) everything the alert topic delivered to the tap queue. */
export async function readTap(stack: LocalStack, queueUrl = stack.tapUrl): Promise<TappedAlert[]> {
  const out: TappedAlert[] = [];
  for (;;) {
    const r = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!r.Messages?.length) return out;
    for (const m of r.Messages) {
      const envelope = JSON.parse(m.Body ?? '{}') as { Subject?: string; Message?: string; MessageAttributes?: Record<string, { Value: string }> };
      let doc = JSON.parse(envelope.Message ?? '{}') as Record<string, unknown>;
      // Real SNS hands SQS the "sqs" entry of a MessageStructure=json message; the emulator
      // hands over the whole structure, so pick the entry here.
      if (typeof doc.sqs === 'string' && typeof doc.default === 'string') doc = JSON.parse(doc.sqs) as Record<string, unknown>;
      const attributes = Object.fromEntries(Object.entries(envelope.MessageAttributes ?? {}).map(([k, v]) => [k, v.Value]));
      out.push({ subject: envelope.Subject ?? '', document: doc as unknown as AlertDocument, attributes });
      await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}

/** Reads the dead-letter queue's bodies (and removes them). */
export async function readDlq(stack: LocalStack): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const r = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!r.Messages?.length) return out;
    for (const m of r.Messages) {
      out.push(m.Body ?? '');
      await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.dlqUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
}
