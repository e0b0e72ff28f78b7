import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { notificationsSchema } from '../../infra/notify-config.js';
import { buildStack, cdkContext, nagFindings } from '../support/infra.js';

/** prod with Slack (digest every 15 min), a signed webhook (immediate), a digest webhook and e-mail digests. */
function notifyEnvironments(notifications: Record<string, unknown> = FULL): Record<string, unknown> {
  const envs = structuredClone(cdkContext.environments) as Record<string, Record<string, unknown>>;
  (envs.prod as Record<string, unknown>).notifications = notifications;
  return envs;
}
const FULL = {
  slack: { webhookSecretName: 'probewatch/prod/slack', digestMinutes: 15 },
  webhooks: [
    { name: 'soc', urlSecretName: 'probewatch/prod/soc-url', signingSecretName: 'probewatch/prod/soc-signing', minSeverity: 'high' },
    { name: 'tickets', urlSecretName: 'probewatch/prod/tickets-url', minSeverity: 'medium', digestMinutes: 60 },
  ],
  emailDigestMinutes: 30,
};

describe('notifications in the stack (prod with Slack, webhooks and digests)', { timeout: 180_000 }, () => {
  const t = Template.fromStack(buildStack('prod', notifyEnvironments()).stack);
  const plain = Template.fromStack(buildStack('prod').stack);

  it('cdk-nag: no unacknowledged finding', () => assert.deepEqual(nagFindings('prod', notifyEnvironments()), []));

  it('nothing is added when notifications are not configured', () => {
    assert.equal(Object.keys(plain.findResources('AWS::Events::Rule')).length, 0);
    assert.equal(Object.keys(plain.findResources('AWS::SQS::Queue')).length, 2);
    assert.equal(Object.keys(plain.findResources('AWS::SNS::Subscription', { Properties: { Protocol: 'sqs' } })).length, 0);
  });

  it('subscribes an encrypted, SSL-only queue with raw delivery and a dead-letter queue, admitting real severities only', () => {
    t.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      FilterPolicy: { severity: ['info', 'low', 'medium', 'high', 'critical'] },
      TopicArn: { Ref: Match.stringLikeRegexp('^AlertsTopic') },
    });
    const queues = Object.values(t.findResources('AWS::SQS::Queue')) as { Properties: Record<string, unknown>; DeletionPolicy: string }[];
    assert.equal(queues.length, 4, 'the ingest queue pair and the notify queue pair');
    for (const q of queues) assert.equal(q.Properties.SqsManagedSseEnabled, true);
    // Visibility 6 × the notifier's 120-s timeout; redrive one receive after the handler's own dead-lettering (5).
    t.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 720, RedrivePolicy: { maxReceiveCount: 6, deadLetterTargetArn: Match.anyValue() } });
    const denyInsecure = Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]);
    const sslOnly = (Object.values(t.findResources('AWS::SQS::QueuePolicy')) as { Properties: { PolicyDocument: { Statement: unknown } } }[]).filter(
      (p) => denyInsecure.test(p.Properties.PolicyDocument.Statement).isSuccess,
    );
    assert.equal(sslOnly.length, 4, 'every queue refuses plain HTTP');
  });

  it('runs an ARM64 Node.js 22 function with its channels from the configuration, fed by the queue with partial batch responses', () => {
    const fns = t.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('delivers alerts') } });
    const fn = Object.values(fns)[0] as { Properties: { Environment: { Variables: Record<string, unknown> } } };
    assert.ok(fn, 'the notify function');
    t.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('delivers alerts'),
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
    });
    const vars = fn.Properties.Environment.Variables;
    assert.deepEqual(JSON.parse(String(vars.NOTIFY_CHANNELS)), [
      { id: 'slack', kind: 'slack', urlSecretName: 'probewatch/prod/slack', minSeverity: 'medium', digestMinutes: 15 },
      { id: 'webhook:soc', kind: 'webhook', urlSecretName: 'probewatch/prod/soc-url', signingSecretName: 'probewatch/prod/soc-signing', minSeverity: 'high' },
      { id: 'webhook:tickets', kind: 'webhook', urlSecretName: 'probewatch/prod/tickets-url', minSeverity: 'medium', digestMinutes: 60 },
      { id: 'email', kind: 'email', minSeverity: 'info', digestMinutes: 30 },
    ]);
    assert.equal(vars.IMMEDIATE_SEVERITY, 'high');
    assert.deepEqual(vars.STATE_TABLE_NAME, { Ref: 'StateTable' });
    assert.ok(vars.ALERT_TOPIC_ARN, 'the e-mail digest is published to the alert topic');
    assert.ok(vars.DEAD_LETTER_QUEUE_URL);
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('runs the digests on a schedule every gcd of the intervals (15, 60, 30 → 15 minutes)', () => {
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)', State: 'ENABLED' });
  });

  it('e-mail subscribers get immediate alerts and the digest only', () => {
    t.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      FilterPolicy: { severity: ['high', 'critical', 'digest'] },
    });
    const plainEmail = Object.values(plain.findResources('AWS::SNS::Subscription', { Properties: { Protocol: 'email', Endpoint: 'oncall@example.com' } })) as {
      Properties: Record<string, unknown>;
    }[];
    assert.equal(plainEmail[0]?.Properties.FilterPolicy, undefined, 'without e-mail digests, every alert');
    // The HTTPS subscriber's severity filter never admits the digest.
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'https', FilterPolicy: { severity: ['high', 'critical'] } });
  });

  it('reads the named secrets only, and has only the calls it makes', () => {
    const policies = t.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^NotificationsServiceRole') } });
    const statements = (Object.values(policies)[0] as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } })
      .Properties.PolicyDocument.Statement;
    const actions = [...new Set(statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])))].sort();
    assert.deepEqual(actions, [
      'dynamodb:BatchWriteItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'kms:Decrypt',
      'kms:GenerateDataKey*',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'sns:Publish',
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
      'sqs:SendMessage',
    ]);
    const secrets = JSON.stringify(statements.filter((s) => JSON.stringify(s.Action).includes('secretsmanager')).map((s) => s.Resource));
    for (const name of ['probewatch/prod/slack', 'probewatch/prod/soc-url', 'probewatch/prod/soc-signing', 'probewatch/prod/tickets-url']) {
      assert.ok(secrets.includes(`:secret:${name}-??????`), `${name} (its random suffix only)`);
    }
    assert.ok(!secrets.includes('*'), 'no wildcard beyond the six-character suffix');
  });

  it('alarms on its errors and its dead letters, to the operations topic', () => {
    for (const name of ['ProbeWatch-prod-NotifyErrors', 'ProbeWatch-prod-NotifyDeadLetters']) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: name, AlarmActions: [{ Ref: Match.stringLikeRegexp('^OperationsTopic') }] });
    }
  });

  it('no schedule when no channel digests', () => {
    const only = Template.fromStack(
      buildStack('prod', notifyEnvironments({ webhooks: [{ name: 'soc', urlSecretName: 'probewatch/soc', minSeverity: 'low' }] })).stack,
    );
    assert.equal(Object.keys(only.findResources('AWS::Events::Rule')).length, 0);
    const fn = Object.values(only.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('delivers alerts') } }))[0] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    assert.equal(fn.Properties.Environment.Variables.ALERT_TOPIC_ARN, undefined, 'no publish right without e-mail digests');
  });
});

describe('notifications configuration (zod schema, CONTRACTS section 3)', () => {
  it('fills in the defaults', () => {
    const c = notificationsSchema.parse({ slack: { webhookSecretName: 'probewatch/slack' } });
    assert.deepEqual(c, { slack: { webhookSecretName: 'probewatch/slack', minSeverity: 'medium' }, immediateSeverity: 'high' });
  });
  it('refuses wrong values with the field named, through cdk synth', () => {
    const cases: [unknown, RegExp][] = [
      [{ slack: { webhookSecretName: 'x', digestMinutes: 0 } }, /notifications\.slack\.digestMinutes/],
      [{ slack: { webhookSecretName: 'has space' } }, /notifications\.slack\.webhookSecretName must be a Secrets Manager secret name/],
      [{ slack: { webhookSecretName: 'prod-abcdef' } }, /random ARN suffix/],
      [{ webhooks: [{ name: 'a', urlSecretName: 'u' }] }, /notifications\.webhooks\[0\]\.minSeverity/],
      [
        {
          webhooks: [
            { name: 'a', urlSecretName: 'u', minSeverity: 'low' },
            { name: 'a', urlSecretName: 'v', minSeverity: 'low' },
          ],
        },
        /webhook names must be unique/,
      ],
      [{ emailDigestMinutes: 2000 }, /notifications\.emailDigestMinutes/],
      [{ immediateSeverity: 'urgent' }, /notifications\.immediateSeverity/],
      [{ teams: {} }, /notifications/],
    ];
    for (const [notifications, message] of cases) {
      assert.throws(() => buildStack('prod', notifyEnvironments(notifications as Record<string, unknown>)), message, JSON.stringify(notifications));
    }
  });
  it('an empty notifications object is refused at synth: nothing would be delivered', () => {
    assert.throws(() => buildStack('prod', notifyEnvironments({})), /configure slack, webhooks or emailDigestMinutes/);
  });
});

// The artifact Lambda runs is the esbuild bundle: bundle it for real (local esbuild, no Docker) and load what came out.
describe('the bundled notifier', { timeout: 180_000 }, () => {
  it('loads, refuses a broken environment at cold start with every problem named, then starts with a good one', async () => {
    const { app, outdir } = buildStack('prod', notifyEnvironments(), { bundle: true });
    app.synth();
    const assets = readdirSync(outdir).filter(
      (d) => d.startsWith('asset.') && existsSync(join(outdir, d, 'index.js')) && readFileSync(join(outdir, d, 'index.js'), 'utf8').includes('NOTIFY_CHANNELS'),
    );
    assert.equal(assets.length, 1, 'one bundled notifier');
    const dir = join('node_modules', '.cache', 'probewatch-bundle-test');
    mkdirSync(dir, { recursive: true });
    const bundle = join(process.cwd(), dir, 'notify.cjs');
    copyFileSync(join(outdir, assets[0] as string, 'index.js'), bundle);
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { AWS_REGION: 'eu-west-1', POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', ENVIRONMENT_NAME: 'prod' });
      const mod = createRequire(bundle)(bundle) as { handler: (e: unknown) => Promise<unknown> };
      await assert.rejects(() => mod.handler({ Records: [] }), /invalid notify configuration: STATE_TABLE_NAME: .*NOTIFY_CHANNELS/);
      Object.assign(process.env, {
        STATE_TABLE_NAME: 'state',
        NOTIFY_CHANNELS: JSON.stringify([{ id: 'slack', kind: 'slack', urlSecretName: 'probewatch/slack', minSeverity: 'medium' }]),
      });
      assert.deepEqual(await mod.handler({ Records: [] }), { batchItemFailures: [] });
    } finally {
      process.env = saved;
    }
  });
});
