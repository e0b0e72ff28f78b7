import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { WAFV2Client } from '@aws-sdk/client-wafv2';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { BlockRecords } from '../adapters/block-records.js';
import { IpSetFullError, WafIpSets } from '../adapters/waf-ip-set.js';
import { type AddPlan, type IpSetKind, type RefusalReason, blockRecord, decideBlock, planAdd, planSweep } from '../core/blocking.js';
import { sanitize } from '../core/escape.js';
import { SEVERITIES } from '../core/rules/types.js';
import { type BlockRuntimeConfig, loadBlockConfig } from './block-config.js';

/** Longest logged string that came from a message (error messages, bodies). */
export const LOGGED_STRING_MAX_CHARS = 500;

/** What the block and sweep handlers are wired with; tests inject local clients and a silent logger. */
export interface BlockDeps {
  config: BlockRuntimeConfig;
  records: BlockRecords;
  waf: WafIpSets;
  logger: Logger;
  metrics: Metrics;
  /** Wall clock in ms. */
  now: () => number;
}

/** The fields of an alert document (version 1) the blocker reads; the rest is passed through. */
const alertSchema = z.looseObject({
  version: z.literal(1),
  alertId: z.string().min(1).max(128),
  source: z.string().min(1).max(200),
  severity: z.enum(SEVERITIES),
  environment: z.string().optional(),
});
export type BlockedAlert = z.output<typeof alertSchema>;

/**
 * The alert document inside one SQS message: the document itself (raw message delivery), an SNS
 * envelope around it, or a `MessageStructure: json` object whose `sqs` member holds it (what an
 * emulator that does not apply message structures delivers). Throws with the reason otherwise.
 */
export function parseAlertBody(body: string): BlockedAlert {
  let doc = JSON.parse(body) as Record<string, unknown>;
  if (doc && doc.Type === 'Notification' && typeof doc.Message === 'string') doc = JSON.parse(doc.Message) as Record<string, unknown>;
  if (doc && doc.alertId === undefined && typeof doc.sqs === 'string') doc = JSON.parse(doc.sqs) as Record<string, unknown>;
  const r = alertSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(`the message is not a ProbeWatch alert document (version 1): ${i?.path.join('.') || 'body'} ${i?.message ?? ''}`.trim());
  }
  return r.data;
}

/** What became of one alert. */
export interface BlockOutcome {
  status: 'blocked' | 'already-blocked' | 'dry-run' | 'refused';
  cidr?: string;
  reason?: RefusalReason;
  detail?: string;
  /** The record already held this block, or a longer one (a repeat changes nothing). */
  recordKept?: boolean;
}

function loggedError(e: unknown): Record<string, string> {
  const err = e as Error;
  return { name: String(err?.name ?? 'Error'), message: sanitize(String(err?.message ?? e), LOGGED_STRING_MAX_CHARS) };
}

/** The blocker: one alert at a time (decide, record, add to WAF), and the sweeper. */
export function makeBlocker(deps: BlockDeps) {
  const { config, records, waf, logger, metrics } = deps;
  const policy = { minSeverity: config.minSeverity, allowlist: config.allowlist, trustedProxies: config.trustedProxies };

  async function refuse(alert: BlockedAlert, reason: RefusalReason, detail: string, cidr?: string): Promise<BlockOutcome> {
    // One total, and one count per reason (BlocksRefused-cap, BlocksRefused-allowlisted, …).
    metrics.addMetric('BlocksRefused', MetricUnit.Count, 1);
    metrics.addMetric(`BlocksRefused-${reason}`, MetricUnit.Count, 1);
    if (reason === 'cap' || reason === 'waf-limit') metrics.addMetric('BlockCapReached', MetricUnit.Count, 1);
    const log = reason === 'cap' || reason === 'waf-limit' ? logger.warn.bind(logger) : logger.info.bind(logger);
    log('not blocked', { alertId: sanitize(alert.alertId, 128), source: sanitize(alert.source, 200), reason, detail, ...(cidr ? { cidr } : {}) });
    await records.refuse({ alertId: alert.alertId, source: alert.source, reason, detail, ...(cidr ? { cidr } : {}) }, Math.floor(deps.now() / 1000));
    return { status: 'refused', reason, detail, ...(cidr ? { cidr } : {}) };
  }

  /**
   * Blocks one alert's source: refused with a counted reason (severity, not an address, too wide,
   * private or reserved, allowlisted, trusted proxy, set full), or recorded first (so a block that
   * reaches WAF always has a record that ends it) and then added to its IP set. A WAF failure
   * throws, so the message is retried and, after its last receive, dead-lettered; the record stays
   * and the sweeper puts the range into the set.
   */
  async function blockAlert(alert: BlockedAlert): Promise<BlockOutcome> {
    const decision = decideBlock(alert, policy);
    if (decision.action === 'refuse') return refuse(alert, decision.reason, decision.detail);
    const nowSec = Math.floor(deps.now() / 1000);
    const rec = blockRecord(decision, alert, nowSec, config.hours, config.dryRun);
    const written = await records.record(rec);
    const recordKept = written === 'kept';
    if (config.dryRun) {
      metrics.addMetric('BlocksDryRun', MetricUnit.Count, 1);
      logger.info('would block (dry run)', { alertId: sanitize(alert.alertId, 128), cidr: rec.cidr, until: rec.until, recordKept });
      return { status: 'dry-run', cidr: rec.cidr, recordKept };
    }
    const set = config.sets[decision.ipSet];
    let plan: AddPlan;
    try {
      ({ value: plan } = await waf.update(set, (addresses) => {
        const p = planAdd(addresses, rec.cidr, config.maxEntries);
        return { addresses: p.kind === 'add' ? p.addresses : null, value: p };
      }));
    } catch (e) {
      if (!(e instanceof IpSetFullError)) throw e;
      if (written === 'written') await records.withdraw(rec.cidr, rec.alertId);
      return refuse(alert, 'waf-limit', `WAF refused the update: the ${decision.ipSet} set is at its limit`, rec.cidr);
    }
    if (plan.kind === 'cap') {
      if (written === 'written') await records.withdraw(rec.cidr, rec.alertId);
      return refuse(
        alert,
        'cap',
        `the ${decision.ipSet} set holds ${plan.size} entries, the most allowed (blocking.maxEntries ${config.maxEntries})`,
        rec.cidr,
      );
    }
    if (plan.kind === 'present') {
      logger.info('already blocked', { alertId: sanitize(alert.alertId, 128), cidr: rec.cidr, recordKept });
      return { status: 'already-blocked', cidr: rec.cidr, recordKept };
    }
    metrics.addMetric('BlocksAdded', MetricUnit.Count, 1);
    logger.info('blocked', { alertId: sanitize(alert.alertId, 128), cidr: rec.cidr, ipSet: decision.ipSet, until: rec.until, recordKept });
    return { status: 'blocked', cidr: rec.cidr, recordKept };
  }

  /** SQS entry point: each message is one alert; a failed one is retried alone (partial batch response). */
  async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    try {
      // One at a time: every message read-modify-writes the same two sets.
      for (const record of event.Records as SQSRecord[]) {
        let alert: BlockedAlert;
        try {
          alert = parseAlertBody(record.body);
        } catch (e) {
          metrics.addMetric('BlockMessagesInvalid', MetricUnit.Count, 1);
          logger.error('message is not an alert; it will be dead-lettered', { messageId: record.messageId, error: loggedError(e) });
          failures.push({ itemIdentifier: record.messageId });
          continue;
        }
        try {
          await blockAlert(alert);
        } catch (e) {
          metrics.addMetric('BlocksFailed', MetricUnit.Count, 1);
          logger.error('block failed; the message will be retried', {
            messageId: record.messageId,
            alertId: sanitize(alert.alertId, 128),
            error: loggedError(e),
          });
          failures.push({ itemIdentifier: record.messageId });
        }
      }
    } finally {
      metrics.publishStoredMetrics();
    }
    return { batchItemFailures: failures };
  }

  /**
   * Scheduled: takes ended blocks out of the sets and deletes their records, and puts back live
   * blocks missing from a set (see `planSweep`). A failure throws (the schedule runs again).
   */
  async function sweep(): Promise<Record<IpSetKind, { removed: number; restored: number; capped: number; deleted: number }> & { truncated: boolean }> {
    try {
      const nowSec = Math.floor(deps.now() / 1000);
      const { records: all, truncated } = await records.list();
      if (truncated) logger.warn('more block records than one sweep reads; the next sweep continues', { read: all.length });
      const result = { truncated } as Record<IpSetKind, { removed: number; restored: number; capped: number; deleted: number }> & { truncated: boolean };
      for (const kind of ['v4', 'v6'] as const) {
        // Unread records would look like ranges without a block: with a partial read nothing else is removed.
        const opts = { nowSec, ipSet: kind, owned: config.owned && !truncated, dryRun: config.dryRun, maxEntries: config.maxEntries };
        const { value: plan } = await waf.update(config.sets[kind], (addresses) => {
          const p = planSweep(all, addresses, opts);
          return { addresses: p.addresses, value: p };
        });
        let deleted = 0;
        for (const cidr of plan.expiredRecords) if (await records.deleteExpired(cidr, nowSec)) deleted++;
        metrics.addMetric('BlocksExpired', MetricUnit.Count, plan.removed.length);
        metrics.addMetric('BlocksRestored', MetricUnit.Count, plan.restored.length);
        if (plan.capped.length) {
          metrics.addMetric('BlockCapReached', MetricUnit.Count, plan.capped.length);
          logger.warn('live blocks left out of a full set', { ipSet: kind, capped: plan.capped.slice(0, 20), count: plan.capped.length });
        }
        if (plan.removed.length || plan.restored.length || deleted) {
          logger.info('swept', { ipSet: kind, removed: plan.removed.slice(0, 50), restored: plan.restored.slice(0, 50), deleted });
        }
        result[kind] = { removed: plan.removed.length, restored: plan.restored.length, capped: plan.capped.length, deleted };
      }
      return result;
    } finally {
      metrics.publishStoredMetrics();
    }
  }

  return { blockAlert, handler, sweep };
}

let cached: ReturnType<typeof makeBlocker> | undefined;

function blocker(): ReturnType<typeof makeBlocker> {
  if (cached) return cached;
  const logger = new Logger({ serviceName: 'probewatch-blocker' });
  let config: BlockRuntimeConfig;
  try {
    config = loadBlockConfig(process.env);
  } catch (e) {
    logger.critical('cannot start', { error: e as Error });
    throw e;
  }
  const metrics = new Metrics({ namespace: 'ProbeWatch', serviceName: 'probewatch', defaultDimensions: { environment: config.environment } });
  cached = makeBlocker({
    config,
    records: new BlockRecords({ tableName: config.tableName }),
    // CLOUDFRONT sets are reached in us-east-1 whatever region the function runs in.
    waf: new WafIpSets({ client: new WAFV2Client({ region: config.sets.v4.region, maxAttempts: 3 }) }),
    logger,
    metrics,
    now: Date.now,
  });
  return cached;
}

/** Lambda entry point of the block function (SQS). */
export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => blocker().handler(event);

/** Lambda entry point of the sweep function (EventBridge schedule). */
export const sweep = async (): Promise<void> => {
  await blocker().sweep();
};
