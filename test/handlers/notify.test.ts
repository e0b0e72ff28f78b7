import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Logger } from '@aws-lambda-powertools/logger';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SubscribeCommand } from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { SnsAlertPublisher } from '../../lambdas/adapters/sns-publisher.js';
import { SecretCache } from '../../lambdas/adapters/webhook-secrets.js';
import { DynamoNotifyStore } from '../../lambdas/adapters/webhook-store.js';
import { alertIdOf, buildAlertMessage } from '../../lambdas/core/alert-message.js';
import type { DigestSummary } from '../../lambdas/core/digest.js';
import { verifySignature } from '../../lambdas/core/notify-webhook.js';
import { type NotifySettings, parseAlertMessage } from '../../lambdas/core/notify.js';
import type { AlertDocument } from '../../lambdas/core/ports.js';
import type { Severity } from '../../lambdas/core/rules/types.js';
import { SEVERITIES } from '../../lambdas/core/rules/types.js';
import { makeNotifyHandler, publishDigestEmail, sendToDeadLetters } from '../../lambdas/handlers/notify.js';
import { CapturedMetrics, sqsEventFrom } from '../../lambdas/local/driver.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';
import { alertReportFixture } from '../support/alert-report.js';
import { type Recorder, startRecorder } from '../support/http-recorder.js';

// The notifier end to end on the local emulators: alerts published by the processor's own SNS
// publisher reach a queue subscribed with raw delivery and the severity filter (fauxqs), the
// handler delivers them to real HTTP servers on 127.0.0.1, records deliveries and digests in
// DynamoDB Local, publishes the e-mail digest back to the topic, and dead-letters what fails.

let stack: LocalStack;
let slack: Recorder;
let soc: Recorder;
let tickets: Recorder;
let queueUrl: string;
let dlqUrl: string;
let emailTapUrl: string;
let tables = 0;
const SIGNING_KEY = 'whsec-test-key';
const silent = { info: () => {}, warn: () => {}, error: () => {}, critical: () => {} } as unknown as Logger;

async function queue(name: string, attributes: Record<string, string> = {}): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await stack.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const a = await stack.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl as string, arn: a.Attributes?.QueueArn as string };
}

/** Secrets Manager (no emulator): the mocked client answers with the local servers' URLs. */
function secrets() {
  const client = new SecretsManagerClient({ region: 'us-east-1' });
  const m = mockClient(client);
  const value = (name: string, v: string) => m.on(GetSecretValueCommand, { SecretId: name }).resolves({ Name: name, SecretString: v, VersionId: 'v1' });
  value('probewatch/slack', slack.url);
  value('probewatch/soc-url', soc.url);
  value('probewatch/soc-signing', SIGNING_KEY);
  value('probewatch/tickets-url', tickets.url);
  return { cache: new SecretCache({ client, ttlMs: 300_000 }), m };
}

async function setup(over: Partial<NotifySettings> = {}) {
  const tableName = `notify-h-${++tables}`;
  await stack.createTable(tableName);
  const settings: NotifySettings = {
    tableName,
    environment: 'prod',
    immediateSeverity: 'high',
    topicArn: stack.topicArn,
    deadLetterQueueUrl: dlqUrl,
    secretsTtlSeconds: 300,
    maxReceives: 3,
    channels: [
      { id: 'slack', kind: 'slack', urlSecretName: 'probewatch/slack', minSeverity: 'medium', digestMinutes: 15 },
      { id: 'webhook:soc', kind: 'webhook', urlSecretName: 'probewatch/soc-url', signingSecretName: 'probewatch/soc-signing', minSeverity: 'high' },
      { id: 'webhook:tickets', kind: 'webhook', urlSecretName: 'probewatch/tickets-url', minSeverity: 'low', digestMinutes: 60 },
      { id: 'email', kind: 'email', minSeverity: 'info', digestMinutes: 30 },
    ],
    ...over,
  };
  const clock = { now: Date.UTC(2030, 0, 1, 12) };
  const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch-notify' });
  const sec = secrets();
  const handler = makeNotifyHandler({
    settings,
    store: new DynamoNotifyStore({ tableName, client: stack.dynamo }),
    secrets: sec.cache,
    publishEmail: (subject, text) => publishDigestEmail(stack.sns, settings, subject, text),
    deadLetter: (body, ctx) => sendToDeadLetters(stack.sqs, settings, body, ctx),
    logger: silent,
    metrics,
    now: () => clock.now,
    postOptions: { attempts: 3, timeoutMs: 2_000, sleep: async () => {} },
    allowLoopbackHttp: true,
  });
  return { handler, clock, metrics, settings, secretsMock: sec.m };
}

/** Publishes an alert as the processor does (its own SNS publisher and message builder). */
async function publishAlert(severity: Severity, source = '203.0.113.9', over: Parameters<typeof alertReportFixture>[0] = {}): Promise<string> {
  const report = alertReportFixture({ severity, source, ...over });
  const alertId = alertIdOf(source, severity, `logs/a.log#${severity}`);
  await new SnsAlertPublisher({ topicArn: stack.topicArn, client: stack.sns }).publish(buildAlertMessage(report, 'prod', ['logs/a.log#e1'], { alertId }));
  return alertId;
}

async function receive(url: string, expected: number): Promise<Message[]> {
  const msgs: Message[] = [];
  for (let tries = 0; msgs.length < expected && tries < 20; tries++) {
    const r = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, AttributeNames: ['All'], MessageAttributeNames: ['All'] }),
    );
    msgs.push(...(r.Messages ?? []));
    if (msgs.length < expected) await new Promise((r) => setTimeout(r, 50));
  }
  return msgs;
}

function eventOf(msgs: readonly Message[]): SQSEvent {
  return sqsEventFrom('arn:aws:sqs:us-east-1:000000000000:notify', 'us-east-1', msgs);
}

/** One poll of the notify queue into the handler, as the event source mapping does: successes deleted, failures visible again. */
async function pump(handler: ReturnType<typeof makeNotifyHandler>, expected: number) {
  const msgs = await receive(queueUrl, expected);
  assert.equal(msgs.length, expected, 'alerts waiting in the notify queue');
  const res = await handler(eventOf(msgs));
  const failed = new Set((res?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  for (const m of msgs) {
    if (failed.has(m.MessageId ?? ''))
      await stack.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
    else await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
  }
  return { msgs, failed };
}

const digestRun = { source: 'aws.events' as const, 'detail-type': 'Scheduled Event' };
const MIN = 60_000;

describe('the notifier on the local emulators (SNS → SQS raw → handler → Slack / webhooks / DynamoDB)', { timeout: 180_000 }, () => {
  before(async () => {
    stack = await startLocalStack({ bridgeEvents: false });
    [slack, soc, tickets] = await Promise.all([startRecorder(), startRecorder(), startRecorder()]);
    const dlq = await queue('notify-dlq');
    dlqUrl = dlq.url;
    const q = await queue('notify', { VisibilityTimeout: '30', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 4 }) });
    queueUrl = q.url;
    // As infra/notify.ts subscribes it: raw delivery, real severities only (never the digest).
    await stack.sns.send(
      new SubscribeCommand({
        TopicArn: stack.topicArn,
        Protocol: 'sqs',
        Endpoint: q.arn,
        Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify({ severity: [...SEVERITIES] }) },
      }),
    );
    // As the e-mail subscriptions are filtered when e-mail digests are on.
    const tap = await queue('email-tap');
    emailTapUrl = tap.url;
    await stack.sns.send(
      new SubscribeCommand({
        TopicArn: stack.topicArn,
        Protocol: 'sqs',
        Endpoint: tap.arn,
        Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify({ severity: ['high', 'critical', 'digest'] }) },
      }),
    );
  });
  after(async () => {
    await Promise.all([slack?.close(), soc?.close(), tickets?.close()]);
    await stack?.stop();
  });
  beforeEach(async () => {
    for (const r of [slack, soc, tickets]) {
      r.requests.length = 0;
      r.script = [{ status: 200 }];
    }
    for (const url of [queueUrl, dlqUrl, emailTapUrl]) {
      for (let batch = await receive(url, 1); batch.length; batch = await receive(url, 1)) {
        for (const m of batch) await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
      }
    }
  });

  it('a high alert goes at once to Slack (blocks) and the webhooks (signed JSON), once, even when redelivered', async () => {
    const { handler, metrics } = await setup();
    const alertId = await publishAlert('high', '<!channel>@here');
    const { msgs, failed } = await pump(handler, 1);
    assert.equal(failed.size, 0);
    assert.equal(slack.requests.length, 1);
    const payload = JSON.parse(slack.requests[0]?.body ?? '{}') as { text: string; blocks: { type: string; text?: { text: string } }[] };
    assert.equal(payload.blocks[0]?.type, 'header');
    assert.match(payload.blocks[0]?.text?.text ?? '', /^HIGH alert: CGI probe sweep from &lt;!channel&gt;＠here \(prod\)$/);
    for (const r of [soc, tickets]) {
      assert.equal(r.requests.length, 1);
      const doc = JSON.parse(r.requests[0]?.body ?? '{}') as AlertDocument;
      assert.equal(doc.alertId, alertId);
      assert.equal(doc.severity, 'high');
      assert.equal(r.requests[0]?.headers['x-probewatch-event'], 'alert');
      assert.equal(r.requests[0]?.headers['x-probewatch-alert-id'], alertId);
    }
    // The signed one verifies as a receiver would; the unsigned one carries no signature.
    const signed = soc.requests[0] as Recorder['requests'][number];
    const ts = String(signed.headers['x-probewatch-timestamp']);
    assert.equal(ts, String(Math.floor(Date.UTC(2030, 0, 1, 12) / 1000)));
    assert.ok(verifySignature(SIGNING_KEY, String(signed.headers['x-probewatch-signature']), ts, signed.body, Number(ts)));
    assert.equal(tickets.requests[0]?.headers['x-probewatch-signature'], undefined);
    // SNS and SQS deliver at least once: the same message again delivers nothing.
    const again = await handler(eventOf(msgs));
    assert.deepEqual(again, { batchItemFailures: [] });
    assert.deepEqual([slack.requests.length, soc.requests.length, tickets.requests.length], [1, 1, 1]);
    assert.equal(metrics.total('NotificationsSent'), 3);
  });

  it('alerts below the immediate severity wait for each channel’s digest; one digest per channel per interval', async () => {
    const { handler, clock } = await setup();
    await publishAlert('medium', '198.51.100.1');
    await publishAlert('medium', '198.51.100.2', { categories: ['sensitive-file'] });
    await publishAlert('low', '198.51.100.1');
    await pump(handler, 3);
    assert.deepEqual([slack.requests.length, soc.requests.length, tickets.requests.length], [0, 0, 0], 'nothing sent at once');
    await handler(digestRun);
    assert.equal(slack.requests.length, 0, 'not due: the oldest alert has not waited 15 minutes');

    clock.now += 15 * MIN;
    await handler(digestRun);
    await handler(digestRun); // an overlapping or repeated run sends nothing more
    assert.equal(slack.requests.length, 1);
    const blocks = (JSON.parse(slack.requests[0]?.body ?? '{}') as { blocks: { text?: { text: string }; fields?: { text: string }[] }[] }).blocks;
    const all = JSON.stringify(blocks);
    assert.match(all, /Digest: 2 alerts from 2 sources \(prod\)/, 'the low alert is below Slack’s minimum');
    assert.match(all, /`198\.51\.100\.1`/);
    assert.match(all, /`sensitive-file` 1/);
    assert.equal(tickets.requests.length, 0, 'tickets digests every 60 minutes');

    clock.now += 15 * MIN;
    await handler(digestRun);
    const mail = await receive(emailTapUrl, 1);
    assert.equal(mail.length, 1, 'the e-mail digest reached the e-mail filter');
    assert.match(mail[0]?.Body ?? '', /^ProbeWatch digest \(prod\)\n\nAlerts: {6}3 \(2 medium, 1 low\)/);
    assert.equal((await receive(queueUrl, 0)).length, 0, 'the digest does not come back to the notifier');

    clock.now += 30 * MIN;
    await handler(digestRun);
    assert.equal(tickets.requests.length, 1);
    const d = JSON.parse(tickets.requests[0]?.body ?? '{}') as DigestSummary;
    assert.deepEqual([d.type, d.channel, d.alerts, d.severities], ['digest', 'webhook:tickets', 3, { medium: 2, low: 1 }]);
    assert.equal(tickets.requests[0]?.headers['x-probewatch-event'], 'digest');
    assert.equal(slack.requests.length, 1, 'nothing new for Slack');
  });

  it('a failing channel is retried with back-off, then by redelivery, then dead-lettered with the channel and the alert id', async () => {
    const { handler, metrics } = await setup();
    slack.script = [{ status: 500 }];
    const alertId = await publishAlert('critical', '192.0.2.7');
    const first = await pump(handler, 1);
    assert.equal(first.failed.size, 1, 'the message fails (partial batch response)');
    assert.equal(slack.requests.length, 3, 'three tries within the invocation');
    assert.deepEqual([soc.requests.length, tickets.requests.length], [1, 1], 'the other channels were delivered');
    await pump(handler, 1); // receive 2
    const third = await pump(handler, 1); // receive 3 = maxReceives: dead-lettered by the handler
    assert.equal(third.failed.size, 0);
    assert.deepEqual([soc.requests.length, tickets.requests.length], [1, 1], 'never delivered twice to the channels that worked');
    const dead = await receive(dlqUrl, 1);
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.MessageAttributes?.alertId?.StringValue, alertId);
    assert.equal(dead[0]?.MessageAttributes?.channels?.StringValue, 'slack');
    assert.match(dead[0]?.MessageAttributes?.error?.StringValue ?? '', /slack: HTTP 500 .*after 3 tries/);
    assert.equal(parseAlertMessage(dead[0]?.Body ?? '').alertId, alertId, 'the body is the alert as received, ready for a redrive');
    assert.equal(metrics.total('NotificationsDeadLettered'), 1);

    // After the fix, the redriven message delivers to Slack only.
    slack.script = [{ status: 200 }];
    await stack.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: dead[0]?.Body ?? '' }));
    await pump(handler, 1);
    assert.equal(slack.requests.length, 3 * 3 + 1);
    assert.deepEqual([soc.requests.length, tickets.requests.length], [1, 1]);
  });

  it('a refusal no retry can fix (404) dead-letters at once and drops the cached URL', async () => {
    const { handler, secretsMock } = await setup({ channels: [{ id: 'slack', kind: 'slack', urlSecretName: 'probewatch/slack', minSeverity: 'low' }] });
    slack.script = [{ status: 404, body: 'no_service' }];
    await publishAlert('high');
    const r = await pump(handler, 1);
    assert.equal(r.failed.size, 0);
    assert.equal(slack.requests.length, 1);
    const dead = await receive(dlqUrl, 1);
    assert.match(dead[0]?.MessageAttributes?.error?.StringValue ?? '', /refused with HTTP 404 \(no_service\)/);
    slack.script = [{ status: 200 }];
    await stack.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: dead[0]?.Body ?? '' }));
    await pump(handler, 1);
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 2, 'the URL was read again');
  });

  it('a message that is not an alert is dead-lettered with the reason, not retried', async () => {
    const { handler } = await setup();
    await stack.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"Records":[]}' }));
    const r = await pump(handler, 1);
    assert.equal(r.failed.size, 0);
    const dead = await receive(dlqUrl, 1);
    assert.match(dead[0]?.MessageAttributes?.error?.StringValue ?? '', /InputError: the message is not a ProbeWatch alert document/);
    assert.equal(slack.requests.length + soc.requests.length + tickets.requests.length, 0);
  });
});
