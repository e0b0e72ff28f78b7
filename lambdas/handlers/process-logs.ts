import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Event, S3EventRecord, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { DynamoStateStore } from '../adapters/dynamodb-state-store.js';
import { type RuntimeConfig, formatFor, loadRuntimeConfig } from '../adapters/runtime-config.js';
import { s3LineSource } from '../adapters/s3-line-source.js';
import { SnsAlertPublisher } from '../adapters/sns-publisher.js';
import { type ObjectOutcome, processLogObject } from '../core/pipeline.js';
import type { AlertPublisher, ObjectRef, StateStore } from '../core/ports.js';

/** What the handler is wired with; tests inject local clients and a silent logger. */
export interface HandlerDeps {
  config: RuntimeConfig;
  s3: S3Client;
  store: StateStore;
  publisher: AlertPublisher;
  logger: Logger;
  metrics: Metrics;
  /** Wall clock in ms (TTLs only). */
  now: () => number;
}

/** Turns an S3 event record into an object reference; keys arrive URL-encoded with + for spaces. */
export function objectRefOf(r: S3EventRecord): ObjectRef | null {
  if (!r.eventName?.startsWith('ObjectCreated')) return null;
  const key = decodeURIComponent(r.s3.object.key.replace(/\+/g, ' '));
  return { bucket: r.s3.bucket.name, key, etag: r.s3.object.eTag ?? r.s3.object.sequencer ?? 'unknown', size: r.s3.object.size };
}

/** The S3 records inside one SQS message: plain S3→SQS, S3→SNS→SQS, or an s3:TestEvent. */
export function s3RecordsOf(body: string): S3EventRecord[] {
  let doc = JSON.parse(body) as Record<string, unknown>;
  if (doc.Type === 'Notification' && typeof doc.Message === 'string') doc = JSON.parse(doc.Message) as Record<string, unknown>;
  if (doc.Event === 's3:TestEvent') return [];
  if (!Array.isArray(doc.Records)) throw new Error('the message is not an S3 event notification (no Records)');
  return doc.Records as S3EventRecord[];
}

function isSqsEvent(e: SQSEvent | S3Event): e is SQSEvent {
  return Array.isArray(e.Records) && (e.Records[0] as SQSRecord | undefined)?.eventSource === 'aws:sqs';
}

/** Builds the handler around injected dependencies. */
export function makeHandler(deps: HandlerDeps) {
  const { logger, metrics } = deps;

  async function processRef(ref: ObjectRef): Promise<ObjectOutcome> {
    logger.appendKeys({ bucket: ref.bucket, key: ref.key });
    const started = deps.now();
    const format = formatFor(deps.config, ref.key);
    try {
      const outcome = await processLogObject(ref, s3LineSource(deps.s3, ref, { maxLineLength: deps.config.maxLineLength }), {
        store: deps.store,
        publisher: deps.publisher,
        config: deps.config.detector,
        environment: deps.config.environment,
        nowSec: Math.floor(deps.now() / 1000),
        ...(format ? { format } : {}),
      });
      const skipped = Object.values(outcome.skipped).reduce((a, b) => a + b, 0);
      metrics.addMetric('LinesRead', MetricUnit.Count, outcome.lines);
      metrics.addMetric('LinesParsed', MetricUnit.Count, outcome.parsed);
      metrics.addMetric('LinesSkipped', MetricUnit.Count, skipped);
      metrics.addMetric('SourcesFlagged', MetricUnit.Count, outcome.sourcesFlagged);
      metrics.addMetric('AlertsPublished', MetricUnit.Count, outcome.alertsPublished);
      metrics.addMetric('ObjectsSkipped', MetricUnit.Count, outcome.status === 'processed' ? 0 : 1);
      metrics.addMetric('ProcessingTime', MetricUnit.Milliseconds, deps.now() - started);
      if (outcome.status === 'not-a-log') logger.warn('object skipped: not an access log', { reason: outcome.reason, lines: outcome.lines });
      else if (outcome.status === 'already-processed') logger.info('object skipped: already processed');
      else logger.info('object processed', { ...outcome, skipped: outcome.skipped });
      if (outcome.hint) logger.warn('most lines did not parse', { hint: outcome.hint });
      return outcome;
    } finally {
      logger.removeKeys(['bucket', 'key']);
    }
  }

  return async function handler(event: SQSEvent | S3Event): Promise<SQSBatchResponse> {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    try {
      if (isSqsEvent(event)) {
        for (const record of event.Records) {
          try {
            for (const r of s3RecordsOf(record.body)) {
              const ref = objectRefOf(r);
              if (ref) await processRef(ref);
            }
          } catch (e) {
            // This message is retried (and after a few receives, dead-lettered with its body,
            // which names the object); its neighbours in the batch are not.
            metrics.addMetric('ObjectsFailed', MetricUnit.Count, 1);
            logger.error('message failed; it will be retried', { messageId: record.messageId, error: e as Error });
            failures.push({ itemIdentifier: record.messageId });
          }
        }
      } else {
        // Invoked straight from S3 (no queue): a failure fails the invocation so Lambda retries.
        for (const r of (event as S3Event).Records ?? []) {
          const ref = objectRefOf(r);
          if (ref) await processRef(ref);
        }
      }
    } finally {
      metrics.publishStoredMetrics();
    }
    return { batchItemFailures: failures };
  };
}

let cached: ReturnType<typeof makeHandler> | undefined;

/** Lambda entry point: clients and configuration are created once per container. */
export const handler = async (event: SQSEvent | S3Event): Promise<SQSBatchResponse> => {
  if (!cached) {
    const logger = new Logger({ serviceName: 'probewatch' });
    let config: RuntimeConfig;
    try {
      config = loadRuntimeConfig(process.env);
    } catch (e) {
      logger.critical('cannot start', { error: e as Error });
      throw e;
    }
    cached = makeHandler({
      config,
      s3: new S3Client({ maxAttempts: 5 }),
      store: new DynamoStateStore({ tableName: config.tableName, retentionHours: config.retentionHours }),
      publisher: new SnsAlertPublisher({ topicArn: config.topicArn }),
      logger,
      metrics: new Metrics({ namespace: 'ProbeWatch', serviceName: 'probewatch', defaultDimensions: { environment: config.environment } }),
      now: Date.now,
    });
  }
  return cached(event);
};
