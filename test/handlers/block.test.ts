import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@aws-lambda-powertools/logger';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { GetIPSetCommand, UpdateIPSetCommand } from '@aws-sdk/client-wafv2';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { BLOCKS_PK, BlockRecords, REFUSALS_PK } from '../../lambdas/adapters/block-records.js';
import { SnsAlertPublisher } from '../../lambdas/adapters/sns-publisher.js';
import { WafIpSets } from '../../lambdas/adapters/waf-ip-set.js';
import { buildAlertMessage } from '../../lambdas/core/alert-message.js';
import { blockRecord } from '../../lambdas/core/blocking.js';
import { SEVERITIES, type Severity } from '../../lambdas/core/rules/types.js';
import type { BlockRuntimeConfig } from '../../lambdas/handlers/block-config.js';
import { makeBlocker, parseAlertBody } from '../../lambdas/handlers/block.js';
import { CapturedMetrics } from '../../lambdas/local/driver.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';
import { alertReportFixture } from '../support/alert-report.js';
import { FakeWaf } from '../support/fake-waf.js';

let stack: LocalStack;
let doc: DynamoDBDocumentClient;
let n = 0;
// Later than the wall clock: DynamoDB Local deletes items whose TTL (expiresAt) has passed.
const T0 = Date.UTC(2031, 0, 1, 12, 0, 0);
const HOUR = 3_600_000;

/** The alert document as the pipeline publishes it. */
function alertDoc(source: string, severity: Severity = 'high', alertId = `alert-${source}-${severity}`) {
  return buildAlertMessage(alertReportFixture({ source, severity }), 'test', ['logs/a.log#e1'], { alertId }).document;
}

function sqsEvent(...bodies: string[]): SQSEvent {
  return {
    Records: bodies.map(
      (body, i) =>
        ({
          messageId: `m${i}`,
          receiptHandle: `r${i}`,
          body,
          attributes: {},
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
        }) as unknown as SQSRecord,
    ),
  };
}

/** A blocker on a fresh table of DynamoDB Local and a fresh model of WAF, with a clock the test moves. */
async function blocker(over: Partial<BlockRuntimeConfig> = {}, wafOver: { limit?: number; v4?: string[]; maxRecords?: number } = {}) {
  const tableName = `blocks-${++n}`;
  await stack.createTable(tableName);
  const waf = new FakeWaf();
  if (wafOver.limit) waf.limit = wafOver.limit;
  const v4 = waf.create('blocked-v4', 'IPV4', wafOver.v4 ?? []);
  const v6 = waf.create('blocked-v6', 'IPV6');
  const config: BlockRuntimeConfig = {
    tableName,
    environment: 'test',
    dryRun: false,
    maxEntries: 100,
    hours: 4,
    minSeverity: 'high',
    allowlist: ['5.135.167.200/32', '2a01:4f8:9:9::1'],
    trustedProxies: ['52.0.0.0/8'],
    sets: { v4, v6 },
    owned: false,
    ...over,
  };
  const clock = { now: T0 };
  const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
  const records = new BlockRecords({ tableName, client: stack.dynamo, ...(wafOver.maxRecords ? { maxRecords: wafOver.maxRecords } : {}) });
  const b = makeBlocker({
    config,
    records,
    waf: new WafIpSets({ client: waf.client, sleep: async () => {} }),
    logger: new Logger({ serviceName: 'probewatch', logLevel: 'SILENT' }),
    metrics,
    now: () => clock.now,
  });
  const item = async (pk: string, sk: string) => (await doc.send(new GetCommand({ TableName: tableName, Key: { pk, sk }, ConsistentRead: true }))).Item;
  const partition = async (pk: string) =>
    (
      await doc.send(
        new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': pk }, ConsistentRead: true }),
      )
    ).Items ?? [];
  return { ...b, waf, v4, v6, clock, metrics, records, item, partition, config };
}

const updates = (waf: FakeWaf) => waf.mock.commandCalls(UpdateIPSetCommand).length;

describe('the blocker on DynamoDB Local, with a model of WAF', { timeout: 180_000 }, () => {
  before(async () => {
    stack = await startLocalStack({ bridgeEvents: false });
    doc = DynamoDBDocumentClient.from(stack.dynamo);
  });
  after(async () => {
    await stack?.stop();
  });

  it('adds an IPv4 /32 and an IPv6 /64 to their sets, each recorded as the contract says', async () => {
    const b = await blocker();
    const r = await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145')), JSON.stringify(alertDoc('2a01:4f8:1:2::/64', 'critical'))));
    assert.deepEqual(r.batchItemFailures, []);
    assert.deepEqual(b.waf.addresses(b.v4), ['5.135.167.145/32']);
    assert.deepEqual(b.waf.addresses(b.v6), ['2a01:4f8:1:2::/64']);
    const untilEpoch = T0 / 1000 + 4 * 3600;
    assert.deepEqual(await b.item(BLOCKS_PK, '5.135.167.145/32'), {
      pk: 'BLOCKS',
      sk: '5.135.167.145/32',
      cidr: '5.135.167.145/32',
      source: '5.135.167.145',
      alertId: 'alert-5.135.167.145-high',
      until: '2031-01-01T16:00:00Z',
      untilEpoch,
      dryRun: false,
      ipSet: 'v4',
      blockedAt: '2031-01-01T12:00:00Z',
      expiresAt: untilEpoch + 86_400,
    });
    assert.equal((await b.item(BLOCKS_PK, '2a01:4f8:1:2::/64'))?.ipSet, 'v6');
    assert.equal(b.metrics.total('BlocksAdded'), 2);
  });

  it('the same alert twice adds once and extends nothing; another alert later extends; an earlier end never shortens', async () => {
    const b = await blocker();
    const body = JSON.stringify(alertDoc('5.135.167.145'));
    await b.handler(sqsEvent(body));
    b.clock.now += 10 * 60_000; // a redelivery ten minutes later
    assert.deepEqual((await b.handler(sqsEvent(body))).batchItemFailures, []);
    assert.deepEqual(b.waf.addresses(b.v4), ['5.135.167.145/32']);
    assert.equal(updates(b.waf), 1, 'one UpdateIPSet in all');
    assert.equal((await b.item(BLOCKS_PK, '5.135.167.145/32'))?.untilEpoch, T0 / 1000 + 4 * 3600, 'the repeat extended nothing');

    b.clock.now = T0 + HOUR; // a new alert of the same source an hour on
    await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145', 'critical'))));
    const extended = await b.item(BLOCKS_PK, '5.135.167.145/32');
    assert.equal(extended?.untilEpoch, (T0 + HOUR) / 1000 + 4 * 3600);
    assert.equal(extended?.alertId, 'alert-5.135.167.145-critical');
    assert.equal(updates(b.waf), 1, 'already in the set: no update');

    b.clock.now = T0; // an alert processed late, whose block would end sooner
    const late = blockRecord({ cidr: '5.135.167.145/32', ipSet: 'v4' }, { source: '5.135.167.145', alertId: 'late' }, T0 / 1000, 4, false);
    assert.equal(await b.records.record(late), 'kept');
    assert.equal((await b.item(BLOCKS_PK, '5.135.167.145/32'))?.untilEpoch, (T0 + HOUR) / 1000 + 4 * 3600);
  });

  it('a lock conflict (another writer in between) is retried and the block lands, the other writer’s entry kept', async () => {
    const b = await blocker();
    let others = 0;
    b.waf.interfere = (s) => {
      if (others >= 2) return false;
      s.addresses.push(`9.9.9.${++others}/32`);
      return true;
    };
    assert.deepEqual((await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145'))))).batchItemFailures, []);
    assert.deepEqual(b.waf.addresses(b.v4).sort(), ['5.135.167.145/32', '9.9.9.1/32', '9.9.9.2/32']);
    assert.equal(b.waf.calls.conflicts, 2);
  });

  it('conflicts that never end fail that message alone (retried, then dead-lettered); its record stays and the sweeper puts the block in', async () => {
    const b = await blocker();
    b.waf.interfere = (_s, u) => (u.Addresses ?? []).includes('5.135.167.145/32');
    const r = await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145')), JSON.stringify(alertDoc('2a01:4f8:1:2::/64'))));
    assert.deepEqual(r.batchItemFailures, [{ itemIdentifier: 'm0' }]);
    assert.deepEqual(b.waf.addresses(b.v4), []);
    assert.deepEqual(b.waf.addresses(b.v6), ['2a01:4f8:1:2::/64'], 'the other message of the batch was blocked');
    assert.equal(b.metrics.total('BlocksFailed'), 1);
    assert.ok(await b.item(BLOCKS_PK, '5.135.167.145/32'), 'the record is kept: nothing is lost');
    b.waf.interfere = () => false; // the other writer is gone
    const s = await b.sweep();
    assert.equal(s.v4.restored, 1);
    assert.deepEqual(b.waf.addresses(b.v4), ['5.135.167.145/32']);
  });

  it('the cap: past maxEntries nothing is added; counted, logged, and the refusal says why', async () => {
    const full = ['1.1.1.1/32', '1.1.1.2/32', '1.1.1.3/32'];
    const b = await blocker({ maxEntries: 3 }, { v4: full });
    assert.deepEqual((await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145'))))).batchItemFailures, [], 'not retried: the set stays full');
    assert.deepEqual(b.waf.addresses(b.v4), full);
    assert.equal(updates(b.waf), 0);
    assert.equal(await b.item(BLOCKS_PK, '5.135.167.145/32'), undefined, 'no record claims a block that is not there');
    const refusal = await b.item(REFUSALS_PK, 'alert-5.135.167.145-high');
    assert.equal(refusal?.reason, 'cap');
    assert.match(String(refusal?.detail), /holds 3 entries.*maxEntries 3/);
    assert.equal(b.metrics.total('BlockCapReached'), 1);
    assert.equal(b.metrics.total('BlocksRefused-cap'), 1);
    // Room again (the sweeper took one out): the next alert gets in.
    b.waf.writeBehind(b.v4, full.slice(1));
    await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145', 'critical'))));
    assert.ok(b.waf.addresses(b.v4).includes('5.135.167.145/32'));
  });

  it('WAF’s own limit (a quota below maxEntries): refused as waf-limit, counted as the cap', async () => {
    const b = await blocker({ maxEntries: 100 }, { limit: 2, v4: ['1.1.1.1/32', '1.1.1.2/32'] });
    await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145'))));
    assert.equal((await b.item(REFUSALS_PK, 'alert-5.135.167.145-high'))?.reason, 'waf-limit');
    assert.equal(await b.item(BLOCKS_PK, '5.135.167.145/32'), undefined);
    assert.equal(b.metrics.total('BlockCapReached'), 1);
  });

  it('dry run records what would be blocked and never calls UpdateIPSet, not even when sweeping', async () => {
    const b = await blocker({ dryRun: true });
    const r = await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145')), JSON.stringify(alertDoc('2a01:4f8:1:2::/64'))));
    assert.deepEqual(r.batchItemFailures, []);
    assert.equal((await b.item(BLOCKS_PK, '5.135.167.145/32'))?.dryRun, true);
    assert.equal((await b.item(BLOCKS_PK, '2a01:4f8:1:2::/64'))?.dryRun, true);
    assert.equal(b.metrics.total('BlocksDryRun'), 2);
    b.clock.now += 5 * HOUR;
    const s = await b.sweep();
    assert.deepEqual([s.v4.deleted, s.v6.deleted], [1, 1], 'ended dry-run records are swept');
    assert.equal(updates(b.waf), 0);
    assert.deepEqual([b.waf.addresses(b.v4), b.waf.addresses(b.v6)], [[], []]);
  });

  it('turning dry run off: a real block replaces the dry-run record', async () => {
    const b = await blocker({ dryRun: true });
    const body = JSON.stringify(alertDoc('5.135.167.145'));
    await b.handler(sqsEvent(body));
    const real = makeBlocker({
      config: { ...b.config, dryRun: false },
      records: b.records,
      waf: new WafIpSets({ client: b.waf.client, sleep: async () => {} }),
      logger: new Logger({ serviceName: 'probewatch', logLevel: 'SILENT' }),
      metrics: b.metrics,
      now: () => b.clock.now,
    });
    await real.handler(sqsEvent(body));
    assert.equal((await b.item(BLOCKS_PK, '5.135.167.145/32'))?.dryRun, false);
    assert.deepEqual(b.waf.addresses(b.v4), ['5.135.167.145/32']);
  });

  it('never blocks private, reserved, allowlisted or trusted-proxy addresses: no WAF call, a counted reason each', async () => {
    const b = await blocker();
    const sources = [
      '10.1.2.3',
      '192.168.0.9',
      'fe80::1',
      '2001:db8:1:2::/64',
      '5.135.167.200',
      '2a01:4f8:9:9::/64',
      '52.95.1.2',
      'scanner.example.com',
      '2a01:4f8::/32',
    ];
    const r = await b.handler(sqsEvent(...sources.map((s) => JSON.stringify(alertDoc(s)))));
    assert.deepEqual(r.batchItemFailures, []);
    assert.equal(b.waf.mock.commandCalls(GetIPSetCommand).length + updates(b.waf), 0);
    assert.deepEqual(await b.partition(BLOCKS_PK), []);
    const reasons = Object.fromEntries((await b.partition(REFUSALS_PK)).map((i) => [i.source, i.reason]));
    assert.deepEqual(reasons, {
      '10.1.2.3': 'reserved',
      '192.168.0.9': 'reserved',
      'fe80::1': 'reserved',
      '2001:db8:1:2::/64': 'reserved',
      '5.135.167.200': 'allowlisted',
      '2a01:4f8:9:9::/64': 'allowlisted',
      '52.95.1.2': 'trusted-proxy',
      'scanner.example.com': 'not-an-address',
      '2a01:4f8::/32': 'prefix-too-wide',
    });
    assert.equal(b.metrics.total('BlocksRefused'), sources.length);
    assert.equal(b.metrics.total('BlocksRefused-reserved'), 4);
  });

  it('the sweeper takes ended blocks out of the sets and their records away, and leaves live ones', async () => {
    const b = await blocker({}, { v4: ['8.8.8.8/32'] });
    await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145')), JSON.stringify(alertDoc('2a01:4f8:1:2::/64'))));
    b.clock.now = T0 + 2 * HOUR;
    await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.146'))));
    b.clock.now = T0 + 4 * HOUR + 1000; // the first two have ended, the third has not
    const s = await b.sweep();
    assert.deepEqual([s.v4.removed, s.v4.deleted, s.v6.removed, s.v6.deleted], [1, 1, 1, 1]);
    assert.deepEqual(b.waf.addresses(b.v4), ['8.8.8.8/32', '5.135.167.146/32'], 'an entry it does not manage stays');
    assert.deepEqual(b.waf.addresses(b.v6), []);
    assert.deepEqual(
      (await b.partition(BLOCKS_PK)).map((i) => i.cidr),
      ['5.135.167.146/32'],
    );
    assert.equal(b.metrics.total('BlocksExpired'), 2);
    const before = updates(b.waf);
    const again = await b.sweep();
    assert.deepEqual([again.v4.removed, again.v6.removed, updates(b.waf) - before], [0, 0, 0], 'a second sweep changes nothing, no update call');
  });

  it('a block extended after the sweep read it keeps its record (the conditional delete refuses)', async () => {
    const b = await blocker();
    const old = blockRecord({ cidr: '5.135.167.145/32', ipSet: 'v4' }, { source: '5.135.167.145', alertId: 'a1' }, T0 / 1000, 1, false);
    await b.records.record(old);
    const later = blockRecord({ cidr: '5.135.167.145/32', ipSet: 'v4' }, { source: '5.135.167.145', alertId: 'a2' }, T0 / 1000 + 3600, 4, false);
    await b.records.record(later);
    assert.equal(await b.records.deleteExpired('5.135.167.145/32', T0 / 1000 + 3601), false);
    assert.equal((await b.item(BLOCKS_PK, '5.135.167.145/32'))?.alertId, 'a2');
  });

  it('in sets it owns, the sweeper removes anything without a live block (a record TTL deleted first leaves nothing behind)', async () => {
    const b = await blocker({ owned: true }, { v4: ['8.8.8.8/32'] });
    await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145'))));
    await b.sweep();
    assert.deepEqual(b.waf.addresses(b.v4), ['5.135.167.145/32']);
  });

  it('a sweep that could not read every record (its bound) removes nothing it has no record for, even in a set it owns', async () => {
    const b = await blocker({ owned: true }, { maxRecords: 1 });
    await b.handler(sqsEvent(JSON.stringify(alertDoc('5.135.167.145')), JSON.stringify(alertDoc('5.135.167.146'))));
    const s = await b.sweep();
    assert.equal(s.truncated, true);
    assert.deepEqual(b.waf.addresses(b.v4).sort(), ['5.135.167.145/32', '5.135.167.146/32']);
  });

  it('a message that is not an alert fails alone, counted; the envelope and message-structure forms are read', async () => {
    const b = await blocker();
    const d = alertDoc('5.135.167.145');
    const r = await b.handler(
      sqsEvent('not json', JSON.stringify({ version: 2, alertId: 'x' }), JSON.stringify({ Type: 'Notification', Message: JSON.stringify(d) })),
    );
    assert.deepEqual(
      r.batchItemFailures.map((f) => f.itemIdentifier),
      ['m0', 'm1'],
    );
    assert.equal(b.metrics.total('BlockMessagesInvalid'), 2);
    assert.deepEqual(b.waf.addresses(b.v4), ['5.135.167.145/32']);
    assert.equal(parseAlertBody(JSON.stringify({ default: 'text', sqs: JSON.stringify(d) })).alertId, d.alertId);
    assert.throws(() => parseAlertBody(JSON.stringify({ ...d, severity: 'apocalyptic' })), /severity/);
  });

  it('SNS → SQS (raw delivery, severity filter) → the blocker on fauxqs: filtered below the minimum, dead-lettered after 3 failed receives', async () => {
    const b = await blocker();
    const { sqs, sns } = stack;
    const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `block-dlq-${n}` }))).QueueUrl as string;
    const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
    const queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `block-${n}`,
          Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 }) },
        }),
      )
    ).QueueUrl as string;
    const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
    // As the stack subscribes it: raw delivery, severity high and above.
    await sns.send(
      new SubscribeCommand({
        TopicArn: stack.topicArn,
        Protocol: 'sqs',
        Endpoint: queueArn,
        Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify({ severity: ['high', 'critical'] }) },
      }),
    );
    const publisher = new SnsAlertPublisher({ topicArn: stack.topicArn, client: sns });
    for (const [source, severity] of [
      ['5.135.167.147', 'medium'],
      ['5.135.167.145', 'high'],
      ['5.135.167.146', 'critical'],
    ] as const) {
      await publisher.publish(buildAlertMessage(alertReportFixture({ source, severity }), 'test', ['logs/a.log#e1'], { alertId: `q-${source}` }));
    }
    // The third one's range never gets through WAF's lock.
    b.waf.interfere = (_s, u) => (u.Addresses ?? []).includes('5.135.167.146/32');
    let received = 0;
    for (let idle = 0; idle < 2; ) {
      const msgs = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }))).Messages ?? [];
      if (msgs.length === 0) {
        idle++;
        continue;
      }
      received += msgs.length;
      const r = await b.handler(sqsEvent(...msgs.map((m) => m.Body ?? '')));
      const failed = new Set(r.batchItemFailures.map((f) => Number(f.itemIdentifier.slice(1))));
      for (const [i, m] of msgs.entries()) {
        if (failed.has(i)) await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
        else await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
    assert.deepEqual(b.waf.addresses(b.v4), ['5.135.167.145/32'], 'the medium alert never reached the blocker');
    assert.equal(received, 1 + 3, 'the high one once, the failing one three times');
    const dead = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10 }))).Messages ?? [];
    assert.equal(dead.length, 1);
    assert.equal(parseAlertBody(dead[0]?.Body ?? '').source, '5.135.167.146', 'the dead letter is the alert, ready to redrive');
    assert.ok(await b.item(BLOCKS_PK, '5.135.167.146/32'), 'its record stays for the sweeper');
    assert.equal(await b.item(BLOCKS_PK, '5.135.167.147/32'), undefined);
  });
});

describe('reading an alert from a message', () => {
  it('property: any body gives a version-1 alert with a known severity, or an Error that says why', () => {
    const d = alertDoc('5.135.167.145');
    const body = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ version: fc.constantFrom(1, 2, '1'), alertId: fc.string(), source: fc.string(), severity: fc.string() }).map((o) => JSON.stringify(o)),
      fc.record({ severity: fc.constantFrom(...SEVERITIES, 'urgent'), source: fc.string({ maxLength: 300 }) }).map((o) => JSON.stringify({ ...d, ...o })),
      fc.constantFrom(JSON.stringify({ Type: 'Notification', Message: JSON.stringify(d) }), JSON.stringify({ default: 'x', sqs: JSON.stringify(d) })),
    );
    fc.assert(
      fc.property(body, (b) => {
        let a: ReturnType<typeof parseAlertBody>;
        try {
          a = parseAlertBody(b);
        } catch (e) {
          assert.ok(e instanceof Error && e.message.length > 0);
          return;
        }
        assert.equal(a.version, 1);
        assert.ok((SEVERITIES as readonly string[]).includes(a.severity));
        assert.ok(a.alertId.length > 0 && a.source.length > 0 && a.source.length <= 200);
      }),
      { numRuns: 500 },
    );
  });
});
