import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Logger } from '@aws-lambda-powertools/logger';
import { DeleteItemCommand, QueryCommand as LowQueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoStateStore } from '../../lambdas/adapters/dynamodb-state-store.js';
import { SnsAlertPublisher } from '../../lambdas/adapters/sns-publisher.js';
import type { AlertMessage, AlertRecord } from '../../lambdas/core/ports.js';
import { LOGGED_STRING_MAX_CHARS, makeHandler } from '../../lambdas/handlers/process-logs.js';
import { CapturedMetrics, localHandlerDeps, pumpQueue, readDlq, readTap, sqsEventOf } from '../../lambdas/local/driver.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';
import { timeAt } from '../support/records.js';
import { everyString } from '../support/strings.js';

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

/** The Lambda context the handler reads its deadline from (a 120-s function, just started). */
const lambdaContext = { getRemainingTimeInMillis: () => 120_000 };
/** SQS hides a failed message for the visibility timeout: 6 × the function's timeout. */
const VISIBILITY_TIMEOUT_MS = 6 * 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes the waiting notifications off the queue as one Lambda event; `ack` deletes them. */
async function receiveEvent(expected: number): Promise<{ event: SQSEvent; ack: () => Promise<void> }> {
  await stack.settled();
  const msgs: Message[] = [];
  for (let tries = 0; msgs.length < expected && tries < 20; tries++) {
    const r = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    msgs.push(...(r.Messages ?? []));
    if (msgs.length < expected) await sleep(50);
  }
  assert.equal(msgs.length, expected, 'notifications waiting');
  const event = sqsEventOf(stack, msgs);
  const ack = async () => {
    for (const m of msgs) await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.queueUrl, ReceiptHandle: m.ReceiptHandle }));
  };
  return { event, ack };
}

/** The alert publisher on the emulator, taking as long as a real topic may before it accepts. */
function slowPublisher(delayMs: number) {
  const real = new SnsAlertPublisher({ topicArn: stack.topicArn, client: stack.sns });
  return {
    fits: (m: AlertMessage) => real.fits(m),
    publish: async (m: AlertMessage) => {
      await sleep(delayMs);
      await real.publish(m);
    },
  };
}

/** What the handler wrote to its logs: message, persistent keys and extra fields of each line. */
function capturingLogger() {
  const lines: { level: string; message: string; keys: Record<string, unknown>; extra: unknown[] }[] = [];
  const make = (keys: Record<string, unknown>): Logger => {
    const log =
      (level: string) =>
      (message: string, ...extra: unknown[]) =>
        lines.push({ level, message, keys, extra });
    return {
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      createChild: (o?: { persistentKeys?: Record<string, unknown> }) => make({ ...keys, ...(o?.persistentKeys ?? {}) }),
    } as unknown as Logger;
  };
  return { logger: make({}), lines };
}

// ESC, BEL, CR, LF, DEL, C1 controls, bidi overrides and isolates, zero-width characters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/;

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
    // The hour item keeps one sample; the alert shows the three the object passed along.
    assert.deepEqual(
      cgi?.document.samples.map((x) => x.request),
      ['GET HTTP/1.1 HTTP/1.1', 'GET /cgi-bin/php HTTP/1.1', 'GET /cgi-bin/bash HTTP/1.1'],
    );
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

  it('two handlers on the same object at the same moment: exactly one alert per alerting source', async () => {
    const tableName = await freshTable();
    const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    // SNS takes a moment: the second run reaches each claim while the first one is publishing.
    const first = makeHandler(localHandlerDeps(stack, { tableName, publisher: slowPublisher(150), metrics }));
    const second = makeHandler(localHandlerDeps(stack, { tableName, publisher: slowPublisher(150), metrics }));
    await put('race/a.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    const { event, ack } = await receiveEvent(1);
    // S3 and SQS both deliver at least once: the same notification reaches two invocations.
    const results = await Promise.all([first(event, lambdaContext), second(event, lambdaContext)]);
    const alerts = await readTap(stack);
    assert.deepEqual(alerts.map((a) => a.document.source).sort(), ['5.135.167.145', '64.34.169.223']);
    assert.ok(metrics.total('ObjectsDeferred') >= 1, 'the runs did meet: one found the other holding a claim');
    // The deferred message comes back (after its visibility timeout) and sends nothing more.
    for (const r of results) {
      if (r.batchItemFailures.length === 0) continue;
      assert.deepEqual((await first(event, lambdaContext)).batchItemFailures, []);
    }
    await ack();
    assert.equal((await readTap(stack)).length, 0, 'still exactly one alert per source');
  });

  it('a crash between publishing and marking sent: the retry repeats at most that one alert, with its alert id', async () => {
    const tableName = await freshTable();
    class KilledAfterPublish extends DynamoStateStore {
      kills = 1;
      override async markAlertSent(source: string, owner: string, record: AlertRecord): Promise<void> {
        if (this.kills-- > 0) throw new Error('the function was killed right after SNS accepted the alert');
        return super.markAlertSent(source, owner, record);
      }
    }
    const crashing = makeHandler(localHandlerDeps(stack, { tableName, store: new KilledAfterPublish({ tableName, client: stack.dynamo }) }));
    const scanners = ['198.51.100.11', '198.51.100.12', '198.51.100.13', '198.51.100.14'];
    await put('crash/a.log', scanners.flatMap((ip) => Array.from({ length: 12 }, (_, i) => probe(ip, i * 5, i))).join('\n'));
    const { event, ack } = await receiveEvent(1);
    assert.equal((await crashing(event, lambdaContext)).batchItemFailures.length, 1);
    const before = await readTap(stack);
    assert.equal(before.length, 1, 'alerts go out one at a time: one was out when it died');
    // Redelivered at once (as a second notification could be): the dead run's lease still holds
    // its claim, so that alert is not sent again yet; the three never claimed go out.
    const now = makeHandler(localHandlerDeps(stack, { tableName }));
    assert.equal((await now(event, lambdaContext)).batchItemFailures.length, 1, 'busy: retried later');
    const rest = await readTap(stack);
    assert.deepEqual(
      rest.map((a) => a.document.source).sort(),
      scanners.filter((ip) => ip !== before[0]?.document.source),
    );
    // Redelivered after the visibility timeout: the lease is over and the interrupted alert is
    // taken over. It may have reached SNS before the crash: this is the one repeat.
    const later = makeHandler(localHandlerDeps(stack, { tableName, now: () => Date.now() + VISIBILITY_TIMEOUT_MS }));
    assert.deepEqual((await later(event, lambdaContext)).batchItemFailures, []);
    await ack();
    const repeat = await readTap(stack);
    assert.deepEqual(
      repeat.map((a) => a.document.source),
      [before[0]?.document.source],
    );
    assert.equal(repeat[0]?.attributes.alertId, before[0]?.attributes.alertId, 'the repeat carries the same alert id, so a subscriber can drop it');
    assert.equal(before.length + rest.length + repeat.length, scanners.length + 1, 'every alert went out, one of them twice');
  });

  it('a batch running out of time reports the objects it finished and fails only the others, whose retry finishes them', async () => {
    const tableName = await freshTable();
    const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    const real = new SnsAlertPublisher({ topicArn: stack.topicArn, client: stack.sns });
    // The invocation's clock: plenty of time until its first alert went out, then 5 s left.
    let remaining = 60_000;
    const publisher = {
      fits: (m: AlertMessage) => real.fits(m),
      publish: async (m: AlertMessage) => {
        await real.publish(m);
        remaining = 5_000;
      },
    };
    const handler = makeHandler(localHandlerDeps(stack, { tableName, publisher, metrics }));
    const scan = (ip: string) => Array.from({ length: 12 }, (_, i) => probe(ip, i * 5, i)).join('\n');
    await put('timeout/a.log', scan('198.51.100.21'));
    await put('timeout/b.log', scan('198.51.100.22'));
    const { event, ack } = await receiveEvent(2);
    const failures = (await handler(event, { getRemainingTimeInMillis: () => remaining })).batchItemFailures;
    assert.equal(failures.length, 1, 'one object finished, one left for the retry');
    assert.equal(metrics.total('ObjectsOutOfTime'), 1);
    const first = await readTap(stack);
    assert.deepEqual(
      first.map((a) => a.document.source),
      ['198.51.100.21'],
    );
    const unfinished = event.Records.filter((r) => failures.some((f) => f.itemIdentifier === r.messageId));
    assert.match(unfinished[0]?.body ?? '', /timeout\/b\.log/, "the failed message is the unfinished object's");
    remaining = 60_000;
    assert.deepEqual((await handler({ Records: unfinished }, lambdaContext)).batchItemFailures, []);
    await ack();
    assert.deepEqual(
      (await readTap(stack)).map((a) => a.document.source),
      ['198.51.100.22'],
      'the retry sends the alert left, and only that one',
    );
  });

  it('keys, client addresses, user agents and paths with ESC, BEL, RLO and CR reach no sink unescaped', async () => {
    const tableName = await freshTable();
    const { logger, lines } = capturingLogger();
    const handler = makeHandler(localHandlerDeps(stack, { tableName, logger }));
    const nasty = '\u001b[2J\u0007\u202egnp.exe\rX-Injected: 1';
    // A JSON log of one scanner, plus a line whose client field is no address: that line is
    // counted as skipped, never a source key.
    const log = Array.from({ length: 13 }, (_, i) =>
      JSON.stringify({
        remote_addr: i === 12 ? `scanner${nasty}` : '203.0.113.66',
        time_iso8601: `2024-01-01T00:00:${String(i).padStart(2, '0')}Z`,
        request: `GET /adm${nasty}${i}.php HTTP/1.1`,
        status: 404,
        body_bytes_sent: 10,
        http_referer: '-',
        http_user_agent: `curl${nasty}`,
      }),
    ).join('\n');
    await put(`uploads/${nasty}.json`, log);
    await pumpQueue(stack, handler);
    const r = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.tapUrl, MaxNumberOfMessages: 10 }));
    assert.equal(r.Messages?.length, 1);
    const envelope = JSON.parse(r.Messages?.[0]?.Body ?? '{}') as { Subject: string; Message: string; MessageAttributes: Record<string, { Value: string }> };
    await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.tapUrl, ReceiptHandle: r.Messages?.[0]?.ReceiptHandle }));
    const structure = JSON.parse(envelope.Message) as Record<string, string>;
    const document = JSON.parse(structure.sqs ?? '{}') as { source: string; objects: string[]; samples: { request: string; userAgent: string }[] };
    const sinks = {
      subject: [envelope.Subject],
      'e-mail body': [structure.email ?? '', structure.default ?? ''].map((t) => t.replace(/\n/g, ' ')),
      'message attributes': everyString(envelope.MessageAttributes),
      document: everyString(document),
      logs: everyString(lines.map((l) => [l.message, l.keys, l.extra])),
    };
    for (const [sink, strings] of Object.entries(sinks)) {
      assert.ok(strings.length > 0, sink);
      for (const x of strings) assert.ok(!UNSAFE.test(x), `${sink}: ${JSON.stringify(x)}`);
    }
    assert.equal(document.source, '203.0.113.66');
    assert.match(document.samples[0]?.request ?? '', /^GET \/adm\\x1b\[2J\\x07\\u\{202e\}gnp\.exe\\x0dX-Injected/);
    assert.match(document.objects[0] ?? '', /uploads\/\\x1b\[2J/);
    assert.match(envelope.Subject, /^\[local\] .* from 203\.0\.113\.66/);
    assert.ok(
      lines.some((l) => JSON.stringify(l.extra ?? {}).includes('invalid-client-address')),
      'the line with a non-address client is counted as skipped, and logged so',
    );
    assert.ok(
      lines.some((l) => String(l.keys.key).startsWith('uploads/\\x1b[2J')),
      'the key in the logs, escaped',
    );
    // A key longer than the logs take (S3 allows 1,024 bytes, escaping can quadruple them): cut, visibly.
    const long = `gone/${'\u001b'.repeat(1_000)}.log`;
    await handler({
      Records: [
        { eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: stack.bucket }, object: { key: encodeURIComponent(long), eTag: 'x' } } },
      ],
    } as never);
    const logged = String(lines.find((l) => String(l.keys.key).startsWith('gone/'))?.keys.key);
    // Cut at the limit, never inside an escape (`\x1b` is four characters), so up to 3 short of it.
    assert.ok(logged.length <= LOGGED_STRING_MAX_CHARS && logged.length > LOGGED_STRING_MAX_CHARS - 4, String(logged.length));
    assert.ok(logged.startsWith('gone/\\x1b\\x1b') && logged.endsWith('…'), logged.slice(0, 20));
  });

  it('the driver hands the handler up to batchSize messages per invocation, collected over several receives', async () => {
    const tableName = await freshTable();
    const inner = makeHandler(localHandlerDeps(stack, { tableName }));
    const sizes: number[] = [];
    const handler: typeof inner = (event, context) => {
      sizes.push(event.Records.length);
      return inner(event, context);
    };
    const visit = (i: number) => `192.0.2.${i + 1} - - [${timeAt(i)}] "GET / HTTP/1.1" 200 10 "-" "Mozilla/5.0"\n`;
    for (let i = 0; i < 25; i++) await put(`batched/a-${i}.log`, visit(i));
    const big = await pumpQueue(stack, handler, { batchSize: 25 });
    assert.deepEqual({ batches: big.batches, messages: big.messages, failures: big.failures }, { batches: 1, messages: 25, failures: 0 });
    assert.deepEqual(sizes, [25], 'one invocation of 25 messages: more than one receive returns');
    sizes.length = 0;
    for (let i = 0; i < 25; i++) await put(`batched/b-${i}.log`, visit(i));
    const small = await pumpQueue(stack, handler);
    assert.equal(small.messages, 25);
    assert.ok(sizes.length >= 3 && sizes.every((n) => n <= 10), `by default at most 10 per invocation (${sizes.join(', ')})`);
    await assert.rejects(pumpQueue(stack, handler, { batchSize: 0 }), RangeError);
  });

  it('a slow object in a batch does not hold the others: the objects of a batch are read at once', async () => {
    // The objects of a batch are written together (one write per source per batch), so the batch
    // finishes with its slowest object; what a slow object must not do is make the others wait
    // to be read one after the other, as when objects ran one at a time.
    const tableName = await freshTable();
    const { logger, lines } = capturingLogger();
    const s3 = new S3Client({
      region: stack.region,
      endpoint: stack.endpoints.s3,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      forcePathStyle: true,
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const reads: string[] = [];
    // The first object of the batch takes 1.5 s to start arriving.
    s3.middlewareStack.add(
      (next, _ctx) => async (args) => {
        const key = String((args.input as { Key?: string }).Key);
        if (key.startsWith('slow/')) await sleep(1_500);
        const r = await next(args);
        reads.push(key);
        return r;
      },
      { step: 'initialize' },
    );
    const handler = makeHandler(localHandlerDeps(stack, { tableName, logger, s3 }));
    await put('slow/a.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    await put('fast/b.log', readFileSync('events/logs/seed-registration-probe.log'));
    await put('fast/c.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    const { event, ack } = await receiveEvent(3);
    event.Records.sort(
      (a, b) => Number(!a.body.includes('slow%2F') && !a.body.includes('slow/')) - Number(!b.body.includes('slow%2F') && !b.body.includes('slow/')),
    );
    assert.match(event.Records[0]?.body ?? '', /slow/, 'the slow object is first in the batch');
    assert.deepEqual((await handler(event, lambdaContext)).batchItemFailures, []);
    await ack();
    await readTap(stack);
    assert.equal(reads[reads.length - 1], 'slow/a.log', 'the two fast objects were read while the slow one was still on its way');
    assert.equal(lines.filter((l) => l.message === 'object processed').length, 3);
  });
});
