import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { QueryCommand as LowQueryCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, type Message, ReceiveMessageCommand, SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { parseReplayArgs, runReplay } from '../../lambdas/cli/commands/replay-dlq.js';
import { type StackResources, resolveStack } from '../../lambdas/cli/commands/resolve.js';
import { objectRefOf, s3RecordsOf } from '../../lambdas/handlers/process-logs.js';
import { makeHandler } from '../../lambdas/handlers/process-logs.js';
import { CapturedMetrics, type TappedAlert, localHandlerDeps, readTap, sqsEventOf } from '../../lambdas/local/driver.js';
import { writeLocalStackFile } from '../../lambdas/local/stack-file.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';
import { runCli } from '../support/cli.js';

// ESC, BEL, CR, LF, DEL, C1 controls, bidi overrides and isolates, zero-width characters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/;

let stack: LocalStack;
let file: string;
const cli = (args: string[]) => runCli(args, { env: { PROBEWATCH_LOCAL_FILE: file }, now: Date.now });

async function put(key: string, body: Buffer | string): Promise<void> {
  await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body }));
}

/** Every message waiting in a queue (taken off it). */
async function drain(queueUrl: string): Promise<Message[]> {
  const out: Message[] = [];
  for (let idle = 0; idle < 2; ) {
    const r = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (!r.Messages?.length) {
      idle++;
      continue;
    }
    for (const m of r.Messages) {
      out.push(m);
      await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return out;
}

async function requestsStored(source: string): Promise<number> {
  const r = await stack.dynamo.send(
    new LowQueryCommand({
      TableName: stack.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: `SRC#${source}` } },
      ConsistentRead: true,
    }),
  );
  return (r.Items ?? []).reduce((n, i) => n + Number(i.req?.N ?? 0), 0);
}

const doc = () => DynamoDBDocumentClient.from(stack.dynamo);

/** The alert record the pipeline writes when it publishes (CONTRACTS section 1), from a published alert. */
async function recordAlert(a: TappedAlert, publishedAt: Date): Promise<void> {
  const d = a.document;
  await doc().send(
    new PutCommand({
      TableName: stack.tableName,
      Item: {
        pk: `ALERTS#${publishedAt.toISOString().slice(0, 10)}`,
        sk: `${publishedAt.toISOString()}#${d.alertId}`,
        alertId: d.alertId,
        source: d.source,
        severity: d.severity,
        categories: d.categories,
        reason: d.reason,
        firstSeen: d.firstSeen,
        lastSeen: d.lastSeen,
        publishedAt: publishedAt.toISOString(),
        environment: d.environment,
        expiresAt: Math.floor(publishedAt.getTime() / 1000) + 30 * 86400,
      },
    }),
  );
}

async function alertItems(): Promise<number> {
  const day = new Date().toISOString().slice(0, 10);
  const r = await stack.dynamo.send(
    new LowQueryCommand({ TableName: stack.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: `ALERTS#${day}` } } }),
  );
  return r.Count ?? 0;
}

describe('commands on the local stack: backfill, alerts, state, replay-dlq', { timeout: 240_000 }, () => {
  let tapped: TappedAlert[] = [];

  before(async () => {
    // No S3 → SQS bridge: the notifications in the queue are only the ones backfill sends.
    stack = await startLocalStack({ bridgeEvents: false });
    file = join(tmpdir(), `probewatch-local-test-${process.pid}.json`);
    writeLocalStackFile(stack, file);
  });
  after(async () => {
    rmSync(file, { force: true });
    await stack?.stop();
  });

  it('--env local finds the stack from the file npm run local writes', async () => {
    const r = await resolveStack('local', { env: { PROBEWATCH_LOCAL_FILE: file } });
    assert.equal(r.queueUrl, stack.queueUrl);
    assert.equal(r.dlqUrl, stack.dlqUrl);
    assert.equal(r.tableName, stack.tableName);
    assert.equal(r.endpoints?.dynamo, stack.endpoints.dynamo);
  });

  it('backfill: a dry run lists the objects under the prefix and sends nothing', async () => {
    await put('backfill/2015/seed cgi+sweep.log', readFileSync('events/logs/seed-cgi-sweep.log'));
    await put('backfill/2013/registration.log.gz', gzipSync(readFileSync('events/logs/seed-registration-probe.log')));
    await put('elsewhere/not-this.log', 'x');
    const r = await cli(['backfill', '--env', 'local', `s3://${stack.bucket}/backfill/`, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /backfill\/2015\/seed cgi\+sweep\.log/);
    assert.match(r.stdout, /backfill\/2013\/registration\.log\.gz/);
    assert.doesNotMatch(r.stdout, /not-this/);
    assert.match(r.stdout, /Dry run: 2 objects .* would be sent; nothing was sent/);
    assert.deepEqual(await drain(stack.queueUrl), []);
  });

  it('backfill sends S3-shaped notifications the handler processes; a second run counts nothing twice', async () => {
    const r = await cli(['backfill', '--env', 'local', `s3://${stack.bucket}/backfill/`, '--rate', '200']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 objects .* listed; 2 notifications sent/);
    assert.match(r.stdout, /counts nothing twice/);
    const msgs = await drain(stack.queueUrl);
    assert.equal(msgs.length, 2);
    // What S3 itself sends: one record per message, the key URL-encoded (space as +, + as %2B).
    const keys = msgs.map((m) => JSON.parse(m.Body ?? '').Records[0].s3.object.key).sort();
    assert.deepEqual(keys, ['backfill/2013/registration.log.gz', 'backfill/2015/seed+cgi%2Bsweep.log']);
    const refs = msgs.flatMap((m) => s3RecordsOf(m.Body ?? '').map(objectRefOf));
    assert.deepEqual(refs.map((x) => x?.key).sort(), ['backfill/2013/registration.log.gz', 'backfill/2015/seed cgi+sweep.log']);
    for (const ref of refs) assert.doesNotMatch(ref?.etag ?? '', /"/, 'ETag without quotes, as in S3 events');

    const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    const handler = makeHandler(localHandlerDeps(stack, { metrics }));
    const res = await handler(sqsEventOf(stack, msgs));
    assert.deepEqual(res.batchItemFailures, []);
    assert.equal(await requestsStored('5.135.167.145'), 31);
    tapped = await readTap(stack);
    assert.ok(tapped.some((a) => a.document.source === '5.135.167.145'));

    // Again: the same notifications (same object ids), skipped by the object claims.
    const again = await cli(['backfill', '--env', 'local', `s3://${stack.bucket}/backfill/`, '--rate', '200']);
    assert.equal(again.code, 0, again.stderr);
    const second = await drain(stack.queueUrl);
    assert.equal(second.length, 2);
    const metrics2 = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    await makeHandler(localHandlerDeps(stack, { metrics: metrics2 }))(sqsEventOf(stack, second));
    assert.equal(await requestsStored('5.135.167.145'), 31, 'not counted twice');
    assert.equal(metrics2.total('LinesRead'), 0, 'both objects skipped before any work');
    assert.deepEqual(await readTap(stack), [], 'no alert repeated');
  });

  it('backfill refuses a bucket the pipeline does not read, and a bad address', async () => {
    const other = await cli(['backfill', '--env', 'local', 's3://someone-elses-bucket/logs/']);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /reads the bucket probewatch-logs, not someone-elses-bucket/);
    const bad = await cli(['backfill', '--env', 'local', 'https://example.com/x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not an s3:\/\/BUCKET\/PREFIX address/);
  });

  it('alerts lists the alert the pipeline published, with the block, escaped, and as JSON', async () => {
    // The pipeline writes an alert record when it publishes; where this branch's pipeline does not
    // yet, the test writes the records of the alerts it published, as the contract lays them out.
    if ((await alertItems()) === 0) for (const a of tapped) await recordAlert(a, new Date());
    const now = Date.now();
    await doc().send(
      new PutCommand({
        TableName: stack.tableName,
        Item: {
          pk: 'BLOCKS',
          sk: '5.135.167.145/32',
          cidr: '5.135.167.145/32',
          source: '5.135.167.145',
          alertId: 'x',
          until: new Date(now + 4 * 3600_000).toISOString(),
          untilEpoch: Math.floor(now / 1000) + 4 * 3600,
          dryRun: false,
          ipSet: 'v4',
          blockedAt: new Date(now).toISOString(),
          expiresAt: Math.floor(now / 1000) + 5 * 3600,
        },
      }),
    );
    // A hostile record: what a log line put in the source and the reason reaches a terminal escaped.
    const hostile = new Date(now - 60_000);
    await doc().send(
      new PutCommand({
        TableName: stack.tableName,
        Item: {
          pk: `ALERTS#${hostile.toISOString().slice(0, 10)}`,
          sk: `${hostile.toISOString()}#evil`,
          alertId: 'evil',
          source: 'evil\u001b]0;owned\u0007',
          severity: 'high',
          categories: ['x\u202ey'],
          reason: 'Probe \u001b[2J cleared',
          firstSeen: '2024-01-01T00:00:00Z',
          lastSeen: '2024-01-01T00:00:01Z',
          publishedAt: hostile.toISOString(),
          expiresAt: Math.floor(now / 1000) + 3600,
        },
      }),
    );
    // An expired record DynamoDB has not deleted yet: never listed.
    await doc().send(
      new PutCommand({
        TableName: stack.tableName,
        Item: {
          pk: `ALERTS#${hostile.toISOString().slice(0, 10)}`,
          sk: `${hostile.toISOString()}#expired`,
          alertId: 'expired',
          source: '198.51.100.99',
          severity: 'high',
          categories: [],
          reason: 'expired',
          firstSeen: '',
          lastSeen: '',
          publishedAt: hostile.toISOString(),
          expiresAt: Math.floor(now / 1000) - 10,
        },
      }),
    );
    const r = await cli(['alerts', '--env', 'local', '--since', '1h']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /5\.135\.167\.145/);
    assert.match(r.stdout, /CGI\/PHP probe sweep/);
    assert.match(r.stdout, /\\x1b\]0;owned\\x07/);
    assert.doesNotMatch(r.stdout, UNSAFE);
    assert.doesNotMatch(r.stdout, /198\.51\.100\.99/);
    const line = r.stdout.split('\n').find((l) => l.includes('5.135.167.145')) ?? '';
    assert.match(line, new RegExp(new Date(now + 4 * 3600_000).toISOString().slice(0, 16).replace('T', ' ')), 'blocked until shown');

    const j = await cli(['alerts', '--env', 'local', '--since', '1h', '--json']);
    const parsed = JSON.parse(j.stdout) as { alerts: { source: string; blockedUntil?: string; categories: string[] }[] };
    const cgi = parsed.alerts.find((a) => a.source === '5.135.167.145');
    assert.ok(cgi?.blockedUntil);
    assert.ok(cgi.categories.includes('cgi-probe'));
    assert.ok(parsed.alerts.some((a) => a.source === 'evil\\x1b]0;owned\\x07'));
    assert.doesNotMatch(j.stdout, UNSAFE);

    // Nothing in a window before any alert.
    const none = await cli(['alerts', '--env', 'local', '--since', '2020-01-01', '--until', '2020-01-02']);
    assert.match(none.stdout, /^0 alerts/);
  });

  it('state shows what the detector holds for a source, and the top sources', async () => {
    const one = await cli(['state', '--env', 'local', '5.135.167.145']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^5\.135\.167\.145: 31 requests, score 175/);
    assert.match(one.stdout, /labels: cgi-probe×27/);
    assert.match(one.stdout, /alert claim: medium at 2015-03-22 21:\d\d:\d\d UTC, sent, id [0-9a-f]+/);
    assert.match(one.stdout, /block: 5\.135\.167\.145\/32 until/);
    assert.match(one.stdout, /recent 10-second windows/);
    assert.match(one.stdout, /long horizons: 1h: score \d+/);
    assert.doesNotMatch(one.stdout, UNSAFE);

    const j = JSON.parse((await cli(['state', '--env', 'local', '5.135.167.145', '--json'])).stdout) as {
      state: { requests: number; windows: { score: number }[]; alert: { status: string } };
    };
    assert.equal(j.state.requests, 31);
    assert.equal(j.state.alert.status, 'sent');
    assert.ok(j.state.windows.reduce((n, w) => n + w.score, 0) > 0);

    const top = await cli(['state', '--env', 'local']);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /5\.135\.167\.145 +31 +175/);
    assert.match(top.stdout, /10\.122\.71\.83/);

    const unknown = await cli(['state', '--env', 'local', '192.0.2.1']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout, /192\.0\.2\.1: nothing held/);
  });

  it('replay-dlq: a dry run moves nothing; a replay moves every message back, escaped in what it prints', async () => {
    const hostileKey = 'bad/\u001b[31mred\u202e.log';
    const bodies = [
      JSON.stringify({
        Records: [
          { eventName: 'ObjectCreated:Put', s3: { bucket: { name: stack.bucket }, object: { key: 'backfill/2015/seed+cgi%2Bsweep.log', eTag: 'e1' } } },
        ],
      }),
      JSON.stringify({
        Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: stack.bucket }, object: { key: encodeURIComponent(hostileKey), eTag: 'e2' } } }],
      }),
    ];
    for (const b of bodies) await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.dlqUrl, MessageBody: b }));

    const dry = await cli(['replay-dlq', '--env', 'local', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /waiting: s3:\/\/probewatch-logs\/backfill\/2015\/seed cgi\+sweep\.log/);
    assert.match(dry.stdout, /bad\/\\x1b\[31mred\\u\{202e\}\.log/);
    assert.doesNotMatch(dry.stdout, UNSAFE);
    assert.match(dry.stdout, /2 messages wait in the dead-letter queue; nothing was moved/);
    assert.deepEqual(await drain(stack.queueUrl), [], 'a dry run sends nothing');

    const r = await cli(['replay-dlq', '--env', 'local']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Moved 2 messages/);
    assert.deepEqual((await drain(stack.queueUrl)).map((m) => m.Body).sort(), [...bodies].sort(), 'the same bodies, in the object queue');
    assert.deepEqual(await drain(stack.dlqUrl), [], 'the dead-letter queue is empty');
  });

  it('replay-dlq deletes nothing from the dead-letter queue when the send fails', async () => {
    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.dlqUrl, MessageBody: '{"Records":[]}' }));
    const r = await resolveStack('local', { env: { PROBEWATCH_LOCAL_FILE: file } });
    const faulty = new SQSClient({ region: stack.region, endpoint: stack.endpoints.fauxqs, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const m = mockClient(faulty);
    m.on(ReceiveMessageCommand).callsFake((input) => stack.sqs.send(new ReceiveMessageCommand(input)));
    m.on(SendMessageCommand).rejects(Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailable', $metadata: {} }));
    const io = { stdout: devNull(), stderr: devNull(), env: {}, now: Date.now };
    await assert.rejects(runReplay(parseReplayArgs(['--env', 'local']), r as StackResources, faulty, io), /Service unavailable/);
    assert.equal(m.commandCalls(DeleteMessageCommand).length, 0, 'nothing deleted');
    m.restore();
  });

  it('--env local without a running stack: a sentence saying how to start it', async () => {
    const r = await runCli(['alerts', '--env', 'local'], { env: { PROBEWATCH_LOCAL_FILE: join(tmpdir(), 'no-such-probewatch-file.json') } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the local stack is not running .* `npm run local -- --keep-running`/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});

function devNull() {
  return { write: () => true, on() {}, once() {}, off() {} } as unknown as NodeJS.WritableStream;
}
