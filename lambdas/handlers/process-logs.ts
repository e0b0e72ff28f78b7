import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { S3Client } from '@aws-sdk/client-s3';
import type { Context, S3Event, S3EventRecord, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { DynamoStateStore } from '../adapters/dynamodb-state-store.js';
import { collectGarbageSooner } from '../adapters/heap.js';
import { type RuntimeConfig, formatFor, loadRuntimeConfig } from '../adapters/runtime-config.js';
import { S3DetectorConfig, currentDetector, reportConfigCheck } from '../adapters/s3-detector-config.js';
import { s3LineSource } from '../adapters/s3-line-source.js';
import { SnsAlertPublisher } from '../adapters/sns-publisher.js';
import { sanitize } from '../core/escape.js';
import { type BatchResult, ClaimBusyError, DEFAULT_LEASE_SECONDS, OBJECTS_IN_PARALLEL, OutOfTimeError, processLogBatch } from '../core/pipeline.js';
import type { AlertPublisher, ObjectRef, StateStore } from '../core/ports.js';

// Before the scan allocates in quantity: see HEAP_GROWING_PERCENT.
collectGarbageSooner();

/** What the handler is wired with; tests inject local clients and a silent logger. */
export interface HandlerDeps {
  config: RuntimeConfig;
  s3: S3Client;
  store: StateStore;
  publisher: AlertPublisher;
  logger: Logger;
  metrics: Metrics;
  /** Wall clock in ms (TTLs and claim leases only). */
  now: () => number;
  /** A token for one run of one object (the owner of its alert claims). @default a random UUID */
  newOwner?: () => string;
}

export { OBJECTS_IN_PARALLEL };
/** Added to a claim's lease: clocks of different hosts disagree by a little. */
export const LEASE_MARGIN_SECONDS = 30;
/** Longest logged string that came from an event or an object (keys, reasons, error messages). */
export const LOGGED_STRING_MAX_CHARS = 1_100;

/** A lock: one step at a time, in arrival order. */
export function makeExclusive(): <T>(step: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(step: () => Promise<T>): Promise<T> => {
    const run = tail.then(step, step);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** An error as logged: its message escaped (it may quote a key), without the raw stack. */
function loggedError(e: unknown): Record<string, string> {
  const err = e as Error;
  return { name: String(err?.name ?? 'Error'), message: sanitize(String(err?.message ?? e), LOGGED_STRING_MAX_CHARS) };
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
  const { metrics } = deps;
  const newOwner = deps.newOwner ?? randomUUID;

  /** Logs and counts one object's result; returns its error, if any. */
  function report(ref: ObjectRef, result: BatchResult, started: number): unknown {
    // Keys are chosen by whoever uploads: escaped before they reach CloudWatch Logs.
    const logger = deps.logger.createChild({
      persistentKeys: { bucket: sanitize(ref.bucket, LOGGED_STRING_MAX_CHARS), key: sanitize(ref.key, LOGGED_STRING_MAX_CHARS) },
    });
    if (!result.ok) {
      const e = result.error;
      if (e instanceof ClaimBusyError) {
        metrics.addMetric('ObjectsDeferred', MetricUnit.Count, 1);
        logger.warn('object deferred: another run holds one of its alert claims; it will be retried', { error: loggedError(e) });
      } else if (e instanceof OutOfTimeError) {
        metrics.addMetric('ObjectsOutOfTime', MetricUnit.Count, 1);
        logger.warn('object unfinished: the batch ran out of time; it will be retried', { ...e.left, error: loggedError(e) });
      } else {
        metrics.addMetric('ObjectsFailed', MetricUnit.Count, 1);
        logger.error('object failed', { error: loggedError(e) });
      }
      return e;
    }
    const outcome = result.outcome;
    const skipped = Object.values(outcome.skipped).reduce((a, b) => a + b, 0);
    metrics.addMetric('LinesRead', MetricUnit.Count, outcome.lines);
    metrics.addMetric('LinesParsed', MetricUnit.Count, outcome.parsed);
    metrics.addMetric('LinesSkipped', MetricUnit.Count, skipped);
    metrics.addMetric('SourcesFlagged', MetricUnit.Count, outcome.sourcesFlagged);
    metrics.addMetric('AlertsPublished', MetricUnit.Count, outcome.alertsPublished);
    metrics.addMetric('AlertsShortened', MetricUnit.Count, outcome.alertsShortened);
    if (outcome.alertsForgotten) {
      metrics.addMetric('AlertsForgotten', MetricUnit.Count, outcome.alertsForgotten);
      logger.warn('a source had more alerts in this batch than its claim remembers: a retry of their objects may repeat them', {
        alerts: outcome.alertsForgotten,
      });
    }
    metrics.addMetric('ObjectsSkipped', MetricUnit.Count, outcome.status === 'processed' ? 0 : 1);
    metrics.addMetric('StateWrites', MetricUnit.Count, outcome.stateWrites);
    metrics.addMetric('ProcessingTime', MetricUnit.Milliseconds, deps.now() - started);
    const reason = outcome.reason === undefined ? {} : { reason: sanitize(outcome.reason, LOGGED_STRING_MAX_CHARS) };
    if (outcome.status === 'not-a-log') logger.warn('object skipped: not an access log', { ...reason, lines: outcome.lines });
    else if (outcome.status === 'already-processed') logger.info('object skipped: already processed');
    else logger.info('object processed', { ...outcome, objectId: sanitize(outcome.objectId, LOGGED_STRING_MAX_CHARS), ...reason, skipped: outcome.skipped });
    if (outcome.hint) logger.warn('most lines did not parse', { hint: sanitize(outcome.hint, LOGGED_STRING_MAX_CHARS) });
    return null;
  }

  /**
   * Processes the objects of a whole batch together: each flagged source is written once for
   * the batch, not once per object. Returns, per object, its error (null when it succeeded).
   */
  async function processRefs(refs: readonly ObjectRef[], nowSec: number, leaseUntil: number, remainingMs?: () => number): Promise<unknown[]> {
    const started = deps.now();
    const results = await processLogBatch(
      refs.map((ref) => {
        const format = formatFor(deps.config, ref.key);
        return { ref, lines: s3LineSource(deps.s3, ref, { maxLineLength: deps.config.maxLineLength }), owner: newOwner(), ...(format ? { format } : {}) };
      }),
      {
        store: deps.store,
        publisher: deps.publisher,
        config: deps.config.detector,
        environment: deps.config.environment,
        nowSec,
        now: deps.now,
        leaseUntil,
        ...(remainingMs ? { remainingMs } : {}),
        // One alert between publishing and recording it at a time, across the whole batch.
        exclusive: makeExclusive(),
        objectConcurrency: OBJECTS_IN_PARALLEL,
      },
    );
    return refs.map((ref, i) => report(ref, results[i] ?? { ok: false, error: new Error('no result') }, started));
  }

  return async function handler(event: SQSEvent | S3Event, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SQSBatchResponse> {
    const nowSec = Math.floor(deps.now() / 1000);
    // A claim is leased until this invocation cannot publish any more (its deadline): until
    // then no other run of the same object may take it over.
    const remainingSec = context ? Math.ceil(context.getRemainingTimeInMillis() / 1000) : DEFAULT_LEASE_SECONDS;
    const leaseUntil = nowSec + remainingSec + LEASE_MARGIN_SECONDS;
    const remainingMs = context ? () => context.getRemainingTimeInMillis() : undefined;
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    try {
      if (isSqsEvent(event)) {
        // The objects of every message, and which message each came from.
        const refs: ObjectRef[] = [];
        const owners: number[] = [];
        const failed = new Set<number>();
        event.Records.forEach((record, i) => {
          try {
            for (const r of s3RecordsOf(record.body)) {
              const ref = objectRefOf(r);
              if (ref) {
                refs.push(ref);
                owners.push(i);
              }
            }
          } catch (e) {
            metrics.addMetric('ObjectsFailed', MetricUnit.Count, 1);
            deps.logger.error('message is not an S3 notification', { messageId: record.messageId, error: loggedError(e) });
            failed.add(i);
          }
        });
        const errors = await processRefs(refs, nowSec, leaseUntil, remainingMs);
        errors.forEach((e, k) => {
          if (e !== null) failed.add(owners[k] as number);
        });
        // A failed message is retried (and after a few receives, dead-lettered with its body,
        // which names the object); its neighbours in the batch are not.
        for (const i of [...failed].sort((a, b) => a - b)) failures.push({ itemIdentifier: (event.Records[i] as SQSRecord).messageId });
      } else {
        // Invoked straight from S3 (no queue): a failure fails the invocation so Lambda retries.
        const refs = ((event as S3Event).Records ?? []).map(objectRefOf).filter((r): r is ObjectRef => r !== null);
        const errors = await processRefs(refs, nowSec, leaseUntil, remainingMs);
        const first = errors.find((e) => e !== null);
        if (first) throw first;
      }
    } finally {
      metrics.publishStoredMetrics();
    }
    return { batchItemFailures: failures };
  };
}

let cached: ReturnType<typeof makeHandler> | undefined;
let deployed: { config: RuntimeConfig; source: S3DetectorConfig; logger: Logger; metrics: Metrics } | undefined;

/** Lambda entry point: clients and configuration are created once per container. */
export const handler = async (event: SQSEvent | S3Event, context?: Context): Promise<SQSBatchResponse> => {
  if (!cached) {
    const logger = new Logger({ serviceName: 'probewatch' });
    let config: RuntimeConfig;
    try {
      config = loadRuntimeConfig(process.env);
    } catch (e) {
      logger.critical('cannot start', { error: e as Error });
      throw e;
    }
    const metrics = new Metrics({ namespace: 'ProbeWatch', serviceName: 'probewatch', defaultDimensions: { environment: config.environment } });
    // A state item at DynamoDB's size limit is counted and logged: evidence was left out, no count.
    const onLimit = (what: string) => {
      metrics.addMetric('StateItemLimit', MetricUnit.Count, 1);
      logger.warn('state item at its size limit: counts kept, evidence left out', { limit: what });
    };
    const s3 = new S3Client({ maxAttempts: 5 });
    if (config.configObject) {
      const source = new S3DetectorConfig({ s3, ...config.configObject, now: Date.now, onCheck: reportConfigCheck(logger, metrics) });
      deployed = { config, source, logger, metrics };
    }
    cached = makeHandler({
      config,
      s3,
      store: new DynamoStateStore({ tableName: config.tableName, retentionHours: config.retentionHours, onLimit }),
      publisher: new SnsAlertPublisher({ topicArn: config.topicArn }),
      logger,
      metrics,
      now: Date.now,
    });
  }
  if (deployed) deployed.config.detector = await currentDetector(deployed);
  return cached(event, context);
};
