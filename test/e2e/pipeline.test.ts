import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DeleteItemCommand, QueryCommand as LowQueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoStateStore } from '../../lambdas/adapters/dynamodb-state-store.js';
import { makeHandler } from '../../lambdas/handlers/process-logs.js';
import { CapturedMetrics, localHandlerDeps, pumpQueue, readDlq, readTap } from '../../lambdas/local/driver.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';
import { timeAt } from '../support/records.js';

let stack: LocalStack;
let tables = 0;

async function freshTable(): Promise<string> {
  const name = `state-${++tables}`;
  await stack.createTable(name);
  return name;
}

async function put(key: string, body: Buffer | string): Promise<void> {
  await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body }));
}

async function sourceItems(tableName: string, source: string) {
  const r = await stack.dynamo.send(
    new LowQueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: `SRC#${source}` } },
      ConsistentRead: true,
    }),
  );
  return r.Items ?? [];
}

function requestsStored(items: Awaited<ReturnType<typeof sourceItems>>): number {
  return items.reduce((n, i) => n + Number(i.req?.N ?? 0), 0);
}

/**
 * A document client whose calls are stubbed (aws-sdk-client-mock), passing through to the real
 * DynamoDB Local unless a test injects a fault.
 */
function faultyDocumentClient() {
  const real = DynamoDBDocumentClient.from(stack.dynamo);
  const faulty = DynamoDBDocumentClient.from(stack.dynamo);
  const m = mockClient(faulty);
  // biome-ignore lint/suspicious/noExplicitAny: the command classes differ only in their input types
  const pass = (Cmd: any) => (input: unknown) => real.send(new Cmd(input));
  m.on(GetCommand).callsFake(pass(GetCommand));
  m.on(PutCommand).callsFake(pass(PutCommand));
  m.on(QueryCommand).callsFake(pass(QueryCommand));
  m.on(UpdateCommand).callsFake(pass(UpdateCommand));
  return { faulty, m, pass };
}

const probe = (ip: string, second: number, i: number) => `${ip} - - [${timeAt(second)}] "GET /word${i}.php HTTP/1.1" 404 10 "-" "curl/8.4"`;

describe('pipeline end to end on local emulators (S3 → SQS → handler → DynamoDB → SNS)', { timeout: 180_000 }, () => {
  before(async () => {
    stack = await startLocalStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('the seed logs produce alerts a person and a machine can act on', async () => {
    const tableName = await freshTable();
    const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    const handler = makeHandler(localHandlerDeps(stack, { tableName, environment: 'prod', metrics }));
    await put('apache/2015/access log.1', readFileSync('events/logs/seed-cgi-sweep.log'));
    await put('django/access.log.gz', gzipSync(readFileSync('events/logs/seed-registration-probe.log')));
    const pumped = await pumpQueue(stack, handler);
    assert.equal(pumped.failures, 0);
    const alerts = await readTap(stack);
    assert.deepEqual(alerts.map((a) => a.document.source).sort(), ['10.122.71.83', '5.135.167.145', '64.34.169.223']);
    const cgi = alerts.find((a) => a.document.source === '5.135.167.145');
    assert.equal(cgi?.subject, '[prod] CGI/PHP probe sweep from 5.135.167.145: 31 requests, 28 x 404');
    const { alertId, ...filterable } = cgi?.attributes ?? {};
    assert.deepEqual(filterable, { severity: 'medium', category: 'cgi-probe', environment: 'prod' });
    assert.match(alertId ?? '', /^[0-9a-f]{32}$/);
    assert.equal(cgi?.document.alertId, alertId, 'the idempotency key is in the attributes and the document');
    assert.deepEqual(
      cgi?.document.objects.map((o) => o.split('#')[0]),
      ['probewatch-logs/apache/2015/access log.1'],
      'the key was URL-decoded',
    );
    assert.equal(cgi?.document.requests, 31);
    assert.ok(cgi?.document.categories.includes('malformed-request'));
    const reg = alerts.find((a) => a.document.source === '10.122.71.83');
    assert.match(reg?.document.note ?? '', /private address/);
    assert.ok(reg?.document.categories.includes('outdated-user-agent'));
    assert.equal((await sourceItems(tableName, '127.0.0.1')).length, 0, 'benign traffic costs no write');
    assert.equal(metrics.total('LinesRead'), 120);
    assert.equal(metrics.total('AlertsPublished'), 3);
  });

  it('the same object delivered twice leaves every count unchanged and sends no second alert', async () => {
    const tableName = await freshTable();
    const handler = makeHandler(localHandlerDeps(stack, { tableName }));
    await put('twice/a.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    await pumpQueue(stack, handler);
    const before = requestsStored(await sourceItems(tableName, '5.135.167.145'));
    // The same notification again (S3 and SQS both deliver at least once): the object claim
    // short-cuts it.
    await put('twice/a.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    await pumpQueue(stack, handler);
    assert.equal(requestsStored(await sourceItems(tableName, '5.135.167.145')), 31);
    // Once more with the object claim gone: now the per-source conditions must hold the line.
    const objects = await stack.dynamo.send(
      new ScanCommand({ TableName: tableName, FilterExpression: 'sk = :obj', ExpressionAttributeValues: { ':obj': { S: 'OBJ' } } }),
    );
    assert.equal(objects.Items?.length, 1);
    for (const item of objects.Items ?? [])
      await stack.dynamo.send(new DeleteItemCommand({ TableName: tableName, Key: { pk: item.pk as never, sk: item.sk as never } }));
    await put('twice/a.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    await pumpQueue(stack, handler);
    assert.equal(before, 31);
    assert.equal(requestsStored(await sourceItems(tableName, '5.135.167.145')), 31);
    assert.equal((await readTap(stack)).length, 2, 'two scanners, alerted once each');
  });

  it('a fault half-way through an object, then the retry: counted exactly once', async () => {
    const tableName = await freshTable();
    // Fault injection the emulator cannot produce: the second state write of the object fails.
    const { faulty, m, pass } = faultyDocumentClient();
    m.on(UpdateCommand)
      .callsFakeOnce(pass(UpdateCommand))
      .rejectsOnce(new Error('connection reset half-way through the object'))
      .callsFake(pass(UpdateCommand));
    const store = new DynamoStateStore({ tableName, documentClient: faulty });
    const handler = makeHandler(localHandlerDeps(stack, { tableName, store }));
    await put('fault/a.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    const pumped = await pumpQueue(stack, handler);
    assert.equal(pumped.failures, 1, 'the first attempt failed');
    assert.equal(pumped.deadLettered, 0, 'the retry succeeded');
    for (const ip of ['5.135.167.145', '64.34.169.223']) assert.equal(requestsStored(await sourceItems(tableName, ip)), 31, ip);
    assert.equal((await readTap(stack)).length, 2);
    m.restore();
  });

  it('one scan split over three objects delivered out of order: exactly one alert', async () => {
    const tableName = await freshTable();
    const handler = makeHandler(localHandlerDeps(stack, { tableName }));
    // 4 distinct paths per object: no two objects reach the 10-path threshold, all three do.
    const scan = Array.from({ length: 12 }, (_, i) => probe('203.0.113.200', i * 9, i));
    await put('split/part-3.log', scan.slice(8).join('\n'));
    await put('split/part-1.log', scan.slice(0, 4).join('\n'));
    await put('split/part-2.log', scan.slice(4, 8).join('\n'));
    await pumpQueue(stack, handler);
    const alerts = await readTap(stack);
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.document.trigger, 'error-burst');
    assert.equal(alerts[0]?.document.objects.length, 3);
    assert.equal(requestsStored(await sourceItems(tableName, '203.0.113.200')), 12);
  });

  it('an object that is not a log (a PNG, an empty file) is skipped with a reason, not failed', async () => {
    const tableName = await freshTable();
    const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    const handler = makeHandler(localHandlerDeps(stack, { tableName, metrics }));
    await put('junk/logo.png', Buffer.from('89504e470d0a1a0a0000000d4948445200000010000000100806000000', 'hex'));
    await put('junk/empty.log', '');
    const pumped = await pumpQueue(stack, handler);
    assert.equal(pumped.failures, 0);
    assert.equal(metrics.total('ObjectsSkipped'), 2);
    assert.equal((await readTap(stack)).length, 0);
  });

  it('a truncated gzip fails its own message (then dead-letters it) while its neighbour succeeds', async () => {
    const tableName = await freshTable();
    const handler = makeHandler(localHandlerDeps(stack, { tableName }));
    const gz = gzipSync(readFileSync('events/logs/seed-cgi-sweep.log'));
    await put('mixed/truncated.log.gz', gz.subarray(0, gz.length >> 1));
    await put('mixed/good.log', readFileSync('events/logs/seed-registration-probe.log'));
    const pumped = await pumpQueue(stack, handler);
    assert.equal(pumped.deadLettered, 1);
    const dlq = await readDlq(stack);
    assert.equal(dlq.length, 1);
    assert.match(dlq[0] ?? '', /mixed\/truncated\.log\.gz/, 'the dead letter names the object, so it can be replayed');
    const alerts = await readTap(stack);
    assert.deepEqual(
      alerts.map((a) => a.document.source),
      ['10.122.71.83'],
    );
  });

  it('a direct S3 event (no queue) is processed too, and a failure fails the invocation for Lambda to retry', async () => {
    const tableName = await freshTable();
    const handler = makeHandler(localHandlerDeps(stack, { tableName }));
    await put('direct/a b.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    const direct = (key: string) => ({
      Records: [{ eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: stack.bucket }, object: { key, eTag: 'direct-1', size: 1 } } }],
    });
    assert.deepEqual(await handler(direct('direct/a+b.log') as never), { batchItemFailures: [] });
    assert.equal((await readTap(stack)).length, 2);
    await put('direct/cut.log.gz', gzipSync('x'.repeat(10_000)).subarray(0, 20));
    await assert.rejects(handler(direct('direct/cut.log.gz') as never), /truncated or corrupt/);
    await pumpQueue(stack, handler); // drain the notifications the uploads also sent
    await readDlq(stack);
    await readTap(stack);
  });

  it('DynamoDB throttling: the object is retried and counted once', async () => {
    const tableName = await freshTable();
    const { faulty: throttled, m, pass } = faultyDocumentClient();
    const throttle = Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
      name: 'ProvisionedThroughputExceededException',
      $retryable: { throttling: true },
    });
    m.on(QueryCommand).rejectsOnce(throttle).callsFake(pass(QueryCommand));
    m.on(UpdateCommand).rejectsOnce(throttle).rejectsOnce(throttle).callsFake(pass(UpdateCommand));
    const handler = makeHandler(localHandlerDeps(stack, { tableName, store: new DynamoStateStore({ tableName, documentClient: throttled }) }));
    await put('throttle/a.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    const pumped = await pumpQueue(stack, handler);
    assert.ok(pumped.failures >= 1, 'throttling surfaced as a failed attempt');
    assert.equal(pumped.deadLettered, 0);
    for (const ip of ['5.135.167.145', '64.34.169.223']) assert.equal(requestsStored(await sourceItems(tableName, ip)), 31, ip);
    assert.equal((await readTap(stack)).length, 2);
    m.restore();
  });
});
