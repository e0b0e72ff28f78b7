import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { DynamoNotifyStore } from '../../lambdas/adapters/webhook-store.js';
import type { DigestEntry } from '../../lambdas/core/digest.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';

let stack: LocalStack;
let n = 0;
const NOW = 1_900_000_000_000; // wall clock, ms
const MIN = 60_000;

async function store(maxAlerts?: number) {
  const tableName = `notify-${++n}`;
  await stack.createTable(tableName);
  return { tableName, s: new DynamoNotifyStore({ tableName, client: stack.dynamo, ...(maxAlerts ? { maxAlerts } : {}) }) };
}

const entry = (i: number, queuedAt: number): DigestEntry => ({
  alertId: `alert-${i}`,
  source: `198.51.100.${i}`,
  severity: 'medium',
  categories: ['cgi-probe'],
  reason: 'CGI probe sweep',
  firstSeen: '2024-01-01T00:00:00Z',
  lastSeen: '2024-01-01T00:01:00Z',
  queuedAt,
});

async function items(tableName: string, pk: string) {
  const r = await stack.dynamo.send(
    new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: pk } }, ConsistentRead: true }),
  );
  return r.Items ?? [];
}

describe('delivery records and digest queues on DynamoDB Local', { timeout: 120_000 }, () => {
  before(async () => {
    stack = await startLocalStack({ bridgeEvents: false });
  });
  after(async () => {
    await stack?.stop();
  });

  it('an alert is delivered once per channel: a redelivery finds it done', async () => {
    const { s, tableName } = await store();
    const lease = NOW / 1000 + 60;
    const first = await s.claimDelivery('slack', 'a1', 'run-1', lease, NOW);
    assert.deepEqual(first, { outcome: 'claimed', queuedAt: NOW });
    assert.deepEqual(await s.claimDelivery('slack', 'a1', 'run-2', lease, NOW), { outcome: 'busy' }, 'a concurrent run while the first is live');
    assert.equal((await s.claimDelivery('webhook:soc', 'a1', 'run-2', lease, NOW)).outcome, 'claimed', 'another channel is separate');
    await s.markDelivered('slack', 'a1', 'run-1', 'sent');
    assert.deepEqual(await s.claimDelivery('slack', 'a1', 'run-3', lease + 1000, NOW + 2_000_000), { outcome: 'done' }, 'even after any lease');
    const [rec] = await items(tableName, 'NOTIFIED#slack');
    assert.equal(rec?.status?.S, 'sent');
    // Kept longer than the queue and its dead-letter queue keep a message (4 + 14 days).
    assert.ok(Number(rec?.expiresAt?.N) >= NOW / 1000 + 18 * 86_400);
  });

  it('all at once: of concurrent claims exactly one wins', async () => {
    const { s } = await store();
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => s.claimDelivery('slack', 'race', `run-${i}`, NOW / 1000 + 60, NOW)));
    assert.equal(outcomes.filter((o) => o.outcome === 'claimed').length, 1);
  });

  it('a claim whose run died is taken over after its lease, keeping when it was first queued', async () => {
    const { s } = await store();
    await s.claimDelivery('slack', 'a2', 'dead-run', NOW / 1000 + 60, NOW);
    const later = NOW + 120_000;
    assert.deepEqual(await s.claimDelivery('slack', 'a2', 'run-2', later / 1000 + 60, later), { outcome: 'claimed', queuedAt: NOW });
    await s.markDelivered('slack', 'a2', 'dead-run', 'sent'); // the dead run wakes up: not its claim any more
    assert.equal((await s.claimDelivery('slack', 'a2', 'run-3', later / 1000 + 60, later)).outcome, 'busy', 'still pending for run-2');
  });

  it('a released claim can be taken at once (a failed delivery is retried)', async () => {
    const { s } = await store();
    await s.claimDelivery('slack', 'a3', 'run-1', NOW / 1000 + 60, NOW);
    await s.releaseDelivery('slack', 'a3', 'run-1');
    assert.equal((await s.claimDelivery('slack', 'a3', 'run-2', NOW / 1000 + 60, NOW)).outcome, 'claimed');
  });

  it('a digest is due when its oldest alert has waited the interval, and is sent exactly once across overlapping runs', async () => {
    const { s, tableName } = await store();
    await s.queueForDigest('slack', entry(1, NOW), NOW);
    await s.queueForDigest('slack', entry(1, NOW), NOW); // a retry: the same entry
    await s.queueForDigest('slack', entry(2, NOW + 5 * MIN), NOW + 5 * MIN);
    assert.equal(await s.claimDigest('slack', 15 * MIN, 'early', NOW / 1000 + 60, NOW + 14 * MIN), undefined, 'not due yet');
    const at = NOW + 15 * MIN;
    const runs = await Promise.all(Array.from({ length: 4 }, (_, i) => s.claimDigest('slack', 15 * MIN, `run-${i}`, at / 1000 + 60, at)));
    const won = runs.filter((r) => r !== undefined);
    assert.equal(won.length, 1, 'one run claims the period');
    const run = won[0] as NonNullable<(typeof won)[0]>;
    assert.deepEqual(
      run.entries.map((e) => e.alertId),
      ['alert-1', 'alert-2'],
    );
    const owner = `run-${runs.indexOf(run)}`;
    await s.finishDigest('slack', run, owner, at);
    assert.deepEqual(
      (await items(tableName, 'DIGEST#slack')).map((i) => i.sk?.S),
      ['CURSOR'],
      'the sent alerts are gone',
    );
    await s.queueForDigest('slack', entry(3, at + MIN), at + MIN);
    assert.equal(await s.claimDigest('slack', 15 * MIN, 'next', at / 1000 + 60, at + 10 * MIN), undefined, 'at most one digest per interval');
    const next = await s.claimDigest('slack', 15 * MIN, 'next', at / 1000 + 60, at + 16 * MIN);
    assert.deepEqual(
      next?.entries.map((e) => e.alertId),
      ['alert-3'],
    );
  });

  it('a run that died after claiming is taken over after its lease: the same period and alerts, nothing lost or doubled', async () => {
    const { s } = await store();
    for (const i of [1, 2]) await s.queueForDigest('webhook:soc', entry(i, NOW), NOW);
    const at = NOW + 60 * MIN;
    const dead = await s.claimDigest('webhook:soc', 60 * MIN, 'dead', at / 1000 + 30, at);
    assert.ok(dead);
    // A new alert arrives meanwhile.
    await s.queueForDigest('webhook:soc', entry(3, at + 10_000), at + 10_000);
    assert.equal(await s.claimDigest('webhook:soc', 60 * MIN, 'other', at / 1000 + 90, at + 20_000), undefined, 'still leased');
    const later = at + 120_000;
    const taken = await s.claimDigest('webhook:soc', 60 * MIN, 'heir', later / 1000 + 60, later);
    assert.equal(taken?.period, dead.period);
    assert.deepEqual(
      taken?.entries.map((e) => e.alertId),
      ['alert-1', 'alert-2', 'alert-3'],
    );
  });

  it('a failed send releases the digest: the next run sends the same period at once', async () => {
    const { s } = await store();
    await s.queueForDigest('slack', entry(1, NOW), NOW);
    const at = NOW + 15 * MIN;
    const first = await s.claimDigest('slack', 15 * MIN, 'r1', at / 1000 + 60, at);
    await s.releaseDigest('slack', 'r1');
    const again = await s.claimDigest('slack', 15 * MIN, 'r2', at / 1000 + 60, at + 1000);
    assert.equal(again?.period, first?.period);
    assert.deepEqual(
      again?.entries.map((e) => e.alertId),
      ['alert-1'],
    );
  });

  it('a digest holds at most its bound; the rest wait for the next one and are counted', async () => {
    const { s } = await store(3);
    for (let i = 0; i < 5; i++) await s.queueForDigest('slack', entry(i, NOW + i), NOW + i);
    const at = NOW + 15 * MIN;
    const run = await s.claimDigest('slack', 15 * MIN, 'r1', at / 1000 + 60, at);
    assert.deepEqual(
      run?.entries.map((e) => e.alertId),
      ['alert-0', 'alert-1', 'alert-2'],
      'oldest first',
    );
    assert.equal(run?.waiting, 2);
    await s.finishDigest('slack', run as NonNullable<typeof run>, 'r1', at);
    const next = await s.claimDigest('slack', 15 * MIN, 'r2', at / 1000 + 60, at + 15 * MIN);
    assert.deepEqual(
      next?.entries.map((e) => e.alertId),
      ['alert-3', 'alert-4'],
    );
  });

  it('an alert of a period already sent whose deletion did not happen is removed, not sent again', async () => {
    const { s, tableName } = await store();
    await s.queueForDigest('slack', entry(1, NOW), NOW);
    // What a run leaves when it recorded its digest as sent but died before deleting the alert.
    await stack.dynamo.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: 'DIGEST#slack' },
          sk: { S: `A#${new Date(NOW).toISOString()}#alert-0` },
          alertId: { S: 'alert-0' },
          claimedBy: { S: 'P-sent' },
          queuedAt: { N: String(NOW) },
        },
      }),
    );
    const at = NOW + 15 * MIN;
    const run = await s.claimDigest('slack', 15 * MIN, 'r1', at / 1000 + 60, at);
    assert.deepEqual(
      run?.entries.map((e) => e.alertId),
      ['alert-1'],
    );
    assert.ok(!(await items(tableName, 'DIGEST#slack')).some((i) => i.alertId?.S === 'alert-0'), 'the leftover is gone');
  });

  it('expired entries are ignored (TTL deletes late)', async () => {
    const { s } = await store();
    await s.queueForDigest('slack', entry(1, NOW), NOW);
    const muchLater = NOW + 8 * 24 * 3600 * 1000;
    assert.equal(await s.claimDigest('slack', 15 * MIN, 'r', muchLater / 1000 + 60, muchLater), undefined);
  });
});
