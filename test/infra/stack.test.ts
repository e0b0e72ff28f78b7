import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildStack, cdkContext, nagFindings } from '../support/infra.js';

const dev = Template.fromStack(buildStack('dev').stack);
const prod = Template.fromStack(buildStack('prod').stack);
const denyInsecure = Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]);

function only<T>(t: Template, type: string, props?: Record<string, unknown>): T {
  const found = Object.values(t.findResources(type, props ? { Properties: props } : undefined));
  assert.equal(found.length, 1, `exactly one ${type}`);
  return found[0] as T;
}

describe('cdk-nag (AwsSolutions)', { timeout: 120_000 }, () => {
  for (const env of ['dev', 'prod']) {
    it(`${env}: no unacknowledged finding`, () => assert.deepEqual(nagFindings(env), []));
  }
  it('an existing-bucket variant of dev: no unacknowledged finding', () => {
    const envs = structuredClone(cdkContext.environments) as Record<string, { logs: Record<string, unknown> }>;
    (envs.dev as { logs: Record<string, unknown> }).logs.existingBucketName = 'someone-elses-logs';
    assert.deepEqual(nagFindings('dev', envs), []);
  });
});

describe('log bucket (new, in dev)', () => {
  it('blocks public access, encrypts, expires objects, logs access, and refuses plain HTTP', () => {
    const buckets = dev.findResources('AWS::S3::Bucket');
    assert.equal(Object.keys(buckets).length, 3, 'the log bucket, its access-log bucket, and the config bucket');
    for (const b of Object.values(buckets) as { Properties: Record<string, unknown> }[]) {
      assert.deepEqual(b.Properties.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      assert.deepEqual(b.Properties.BucketEncryption, { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    }
    dev.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'log-bucket/' },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 14, Status: 'Enabled' })]) },
    });
    const policies = dev.findResources('AWS::S3::BucketPolicy');
    assert.equal(Object.keys(policies).length, 3);
    for (const p of Object.values(policies) as { Properties: { PolicyDocument: { Statement: unknown } } }[]) {
      assert.ok(denyInsecure.test(p.Properties.PolicyDocument.Statement).isSuccess, 'SSL only');
    }
  });
  it('notifies the queue for each configured prefix', () => {
    const n = only<{
      Properties: {
        NotificationConfiguration: { QueueConfigurations: { Events: string[]; Filter?: { Key: { FilterRules: { Name: string; Value: string }[] } } }[] };
      };
    }>(dev, 'Custom::S3BucketNotifications');
    const rules = n.Properties.NotificationConfiguration.QueueConfigurations.map((q) => [
      q.Events,
      q.Filter?.Key.FilterRules.map((r) => `${r.Name}=${r.Value}`),
    ]);
    assert.deepEqual(rules, [
      [['s3:ObjectCreated:*'], ['prefix=alb/']],
      [['s3:ObjectCreated:*'], ['prefix=cloudfront/']],
      [['s3:ObjectCreated:*'], ['prefix=apache/']],
    ]);
  });
});

describe('queue and dead-letter queue', () => {
  it('are encrypted and SSL-only; redrive after 3 receives; visibility 6 × the function timeout', () => {
    const queues = Object.values(dev.findResources('AWS::SQS::Queue')) as { Properties: Record<string, unknown> }[];
    assert.equal(queues.length, 2);
    for (const q of queues) assert.equal(q.Properties.SqsManagedSseEnabled, true);
    dev.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 720, RedrivePolicy: { maxReceiveCount: 3, deadLetterTargetArn: Match.anyValue() } });
    dev.hasResourceProperties('AWS::SQS::Queue', { MessageRetentionPeriod: 14 * 24 * 3600 });
    prod.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 1800 });
    for (const p of Object.values(dev.findResources('AWS::SQS::QueuePolicy')) as { Properties: { PolicyDocument: { Statement: unknown } } }[]) {
      if (denyInsecure.test(p.Properties.PolicyDocument.Statement).isSuccess) continue;
      // The S3 → SQS policy is separate from the SSL-only one on the same queue.
      assert.ok(JSON.stringify(p.Properties.PolicyDocument).includes('s3.amazonaws.com'));
    }
    assert.equal(
      (Object.values(dev.findResources('AWS::SQS::QueuePolicy')) as { Properties: { PolicyDocument: { Statement: unknown } } }[]).filter(
        (p) => denyInsecure.test(p.Properties.PolicyDocument.Statement).isSuccess,
      ).length,
      2,
      'both queues refuse plain HTTP',
    );
  });
});

describe('the processor', () => {
  it('is an ARM64 Node.js 22 function with its log retention and configuration from resource references', () => {
    dev.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 120,
      Environment: {
        Variables: Match.objectLike({
          STATE_TABLE_NAME: { Ref: 'StateTable' },
          ALERT_TOPIC_ARN: { Ref: Match.stringLikeRegexp('^AlertsTopic') },
          ENVIRONMENT_NAME: 'dev',
          CONFIG_BUCKET: { Ref: Match.stringLikeRegexp('^DetectorConfigBucket') },
          CONFIG_KEY: 'detector.json',
          CONFIG_REFRESH_SECONDS: '60',
          LOG_FORMATS: JSON.stringify([
            { prefix: 'alb/', format: 'alb' },
            { prefix: 'cloudfront/', format: 'cloudfront' },
          ]),
          POWERTOOLS_SERVICE_NAME: 'probewatch',
          NODE_OPTIONS: '--enable-source-maps',
        }),
      },
      LoggingConfig: { LogGroup: Match.anyValue() },
    });
    dev.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 14 });
    prod.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    prod.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 1024, Timeout: 300, ReservedConcurrentExecutions: 10 });
    assert.equal(Object.values(dev.findResources('AWS::Lambda::Function', { Properties: { ReservedConcurrentExecutions: Match.anyValue() } })).length, 0);
  });
  it('consumes the queue in batches with partial batch responses', () => {
    dev.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 60,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
  it('has least-privilege permissions: its prefixes, five DynamoDB calls, publish to its topic', () => {
    const policies = dev.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^ProcessorServiceRoleDefaultPolicy') } });
    const statements = (Object.values(policies)[0] as { Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } } })
      .Properties.PolicyDocument.Statement;
    const actions = statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
    assert.deepEqual(actions, [
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'kms:Decrypt',
      'kms:GenerateDataKey*',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:GetObject',
      'sns:Publish',
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
    ]);
    const s3 = statements.find((s) => s.Action === 's3:GetObject');
    assert.equal((s3?.Resource as unknown[]).length, 4, 'one resource per configured prefix, and the configuration object');
    assert.ok(JSON.stringify(s3?.Resource).includes('/alb/*'));
    assert.ok(JSON.stringify(s3?.Resource).includes('/detector.json'), 'the configuration object, not the whole config bucket');
    // Its logs go to its own log group only, not to any (AWS's basic execution role: Resource *).
    const logs = statements.find((s) => Array.isArray(s.Action) && s.Action.includes('logs:PutLogEvents'));
    assert.match(String((logs?.Resource as { 'Fn::GetAtt': string[] })['Fn::GetAtt']?.[0]), /^ProcessorLogs/);
    const role = Object.values(dev.findResources('AWS::IAM::Role', { Properties: { Description: Match.stringLikeRegexp("processor's role") } }))[0] as {
      Properties: Record<string, unknown>;
    };
    assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policy');
  });
});

describe('state table', () => {
  it('is on demand with TTL, point-in-time recovery and encryption, under a stable logical id', () => {
    for (const t of [dev, prod]) {
      t.hasResourceProperties('AWS::DynamoDB::Table', {
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      });
      assert.ok(t.toJSON().Resources.StateTable, 'logical id StateTable');
    }
  });
  it('is retained and protected in prod, destroyable in dev', () => {
    assert.equal(prod.toJSON().Resources.StateTable.DeletionPolicy, 'Retain');
    assert.equal(prod.toJSON().Resources.StateTable.Properties.DeletionProtectionEnabled, true);
    assert.equal(dev.toJSON().Resources.StateTable.DeletionPolicy, 'Delete');
    assert.equal(dev.toJSON().Resources.StateTable.Properties.DeletionProtectionEnabled, false);
  });
});

describe('topics, subscriptions, alarms, dashboard', () => {
  it('encrypts both topics with a rotated customer key and refuses plain HTTP', () => {
    dev.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const topics = Object.values(dev.findResources('AWS::SNS::Topic')) as { Properties: Record<string, unknown> }[];
    assert.equal(topics.length, 2);
    for (const t of topics) assert.ok(t.Properties.KmsMasterKeyId);
    const policies = Object.values(dev.findResources('AWS::SNS::TopicPolicy')) as { Properties: { PolicyDocument: { Statement: unknown } } }[];
    assert.equal(policies.length, 2);
    for (const p of policies) assert.ok(denyInsecure.test(p.Properties.PolicyDocument.Statement).isSuccess);
  });
  it('subscribes the configured e-mail addresses, and filters optional subscribers by severity', () => {
    dev.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'security-dev@example.com' });
    prod.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    prod.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'platform@example.com' });
    prod.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://hooks.example.com/probewatch',
      FilterPolicy: { severity: ['high', 'critical'] },
    });
  });
  it('alarms on function errors, dead letters and message age, to the operations topic', () => {
    const alarms = Object.values(dev.findResources('AWS::CloudWatch::Alarm')) as {
      Properties: { MetricName: string; Threshold: number; AlarmActions: unknown[] };
    }[];
    assert.deepEqual(alarms.map((a) => [a.Properties.MetricName, a.Properties.Threshold]).sort(), [
      ['ApproximateAgeOfOldestMessage', 1800],
      ['ApproximateNumberOfMessagesVisible', 1],
      ['ConfigRejected', 1],
      ['Errors', 1],
    ]);
    for (const a of alarms) {
      assert.equal(a.Properties.AlarmActions.length, 1);
      assert.match((a.Properties.AlarmActions[0] as { Ref: string }).Ref, /^OperationsTopic/);
    }
    only(dev, 'AWS::CloudWatch::Dashboard', { DashboardName: 'ProbeWatch-dev' });
  });
});

describe('optional SQS subscribers', () => {
  it('two subscriber queues with the same name in different accounts both subscribe, each with its filter', () => {
    const envs = structuredClone(cdkContext.environments) as Record<string, { alerts: Record<string, unknown> }>;
    (envs.dev as { alerts: Record<string, unknown> }).alerts.subscribers = [
      { protocol: 'sqs', endpoint: 'arn:aws:sqs:eu-west-1:111111111111:security-events', minSeverity: 'high' },
      { protocol: 'sqs', endpoint: 'arn:aws:sqs:eu-west-1:222222222222:security-events', minSeverity: 'high' },
    ];
    const t = Template.fromStack(buildStack('dev', envs).stack);
    const sqsSubs = Object.values(t.findResources('AWS::SNS::Subscription', { Properties: { Protocol: 'sqs' } })) as {
      Properties: { Endpoint: string; FilterPolicy: unknown };
    }[];
    assert.deepEqual(
      sqsSubs.map((x) => [x.Properties.Endpoint, x.Properties.FilterPolicy]),
      [
        ['arn:aws:sqs:eu-west-1:111111111111:security-events', { severity: ['high', 'critical'] }],
        ['arn:aws:sqs:eu-west-1:222222222222:security-events', { severity: ['high', 'critical'] }],
      ],
    );
  });
});

describe('existing bucket (prod)', () => {
  it('creates no log bucket and reads only the configured prefixes of the named one', () => {
    assert.equal(Object.keys(prod.findResources('AWS::S3::Bucket')).length, 1, 'the config bucket only');
    prod.hasResourceProperties('Custom::S3BucketNotifications', { BucketName: 'example-prod-access-logs' });
    const json = JSON.stringify(prod.findResources('AWS::IAM::Policy'));
    assert.ok(json.includes(':s3:::example-prod-access-logs/AWSLogs/*'));
    assert.ok(json.includes(':s3:::example-prod-access-logs/cloudfront/*'));
  });
});

describe('nothing is lost when the stack goes (retain)', () => {
  it('the queue and the dead-letter queue are retained in prod, deleted in dev', () => {
    for (const [t, policy] of [
      [prod, 'Retain'],
      [dev, 'Delete'],
    ] as const) {
      const queues = Object.values(t.findResources('AWS::SQS::Queue')) as { DeletionPolicy: string; UpdateReplacePolicy: string }[];
      assert.equal(queues.length, 2);
      for (const q of queues) assert.deepEqual([q.DeletionPolicy, q.UpdateReplacePolicy], [policy, policy]);
    }
  });
});

describe('the queue never starts more invocations than the function may run', () => {
  it('the event source has a maximum concurrency, within the reserved concurrency', () => {
    prod.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 10 } });
    prod.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 10 });
    dev.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 10 } });
    const envs = structuredClone(cdkContext.environments) as Record<string, { lambda: Record<string, unknown> }>;
    (envs.prod as { lambda: Record<string, unknown> }).lambda.reservedConcurrency = 4;
    const t = Template.fromStack(buildStack('prod', envs).stack);
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 4 } });
  });
});

describe('least privilege for service principals, and true reasons', () => {
  type Statement = { Effect: string; Principal?: { Service?: string }; Action: string | string[]; Condition?: Record<string, Record<string, unknown>> };
  const statementsOf = (t: Template, type: string, field: string) =>
    (Object.values(t.findResources(type)) as { Properties: Record<string, { Statement: Statement[] }> }[]).flatMap((r) => r.Properties[field]?.Statement ?? []);
  const alarmArn = (c: Statement['Condition']) => JSON.stringify(c?.ArnLike?.['aws:SourceArn']);

  it('CloudWatch may use the key and publish to the operations topic only for this stack’s alarms in this account', () => {
    for (const [t, env] of [
      [dev, 'dev'],
      [prod, 'prod'],
    ] as const) {
      const cw = [...statementsOf(t, 'AWS::KMS::Key', 'KeyPolicy'), ...statementsOf(t, 'AWS::SNS::TopicPolicy', 'PolicyDocument')].filter(
        (s) => s.Principal?.Service === 'cloudwatch.amazonaws.com',
      );
      assert.equal(cw.length, 2, 'the key and the operations topic');
      for (const s of cw) {
        assert.deepEqual(s.Condition?.StringEquals, { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
        assert.match(alarmArn(s.Condition), new RegExp(`:alarm:ProbeWatch-${env}-\\*`));
      }
      const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')) as { Properties: { AlarmName: string } }[];
      for (const a of alarms) assert.ok(a.Properties.AlarmName.startsWith(`ProbeWatch-${env}-`), a.Properties.AlarmName);
    }
  });

  it('S3 may notify the queue only from a bucket of this account', () => {
    const deny = statementsOf(dev, 'AWS::SQS::QueuePolicy', 'PolicyDocument').find((s) => s.Effect === 'Deny' && s.Principal?.Service === 's3.amazonaws.com');
    assert.deepEqual(deny?.Condition, { StringNotEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } });
  });

  it('reads only the objects the notification filters announce (prefix and suffix)', () => {
    const json = JSON.stringify(prod.findResources('AWS::IAM::Policy'));
    assert.ok(json.includes(':s3:::example-prod-access-logs/AWSLogs/*.log.gz"'), 'the ALB source has suffix .log.gz');
    assert.ok(!json.includes(':s3:::example-prod-access-logs/AWSLogs/*"'), 'not every object under AWSLogs/');
  });

  it('every acknowledgement of the basic execution role says what it allows: any log group', () => {
    const { stack } = buildStack('dev');
    const acks = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY).map((m) => [c.node.path, m.data]))
      .flatMap(([path, data]) => Object.entries(data as Record<string, string>).map(([id, reason]) => ({ path, id, reason })));
    const basic = acks.filter((a) => a.id.includes('AWSLambdaBasicExecutionRole'));
    assert.ok(basic.length >= 1);
    for (const a of basic) {
      assert.match(a.reason, /any log group.*Resource: \*/, `${a.path}`);
      assert.doesNotMatch(String(a.path), /Processor/, 'the processor has its own narrow role');
    }
  });
});

describe('the detector configuration lives in S3, outside the function', () => {
  const configBucket = (t: Template) =>
    Object.entries(t.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } })) as [
      string,
      { Properties: Record<string, unknown>; DeletionPolicy?: string },
    ][];
  it('a versioned, encrypted, private, SSL-only bucket, retained in prod', () => {
    for (const t of [dev, prod]) {
      const found = configBucket(t);
      assert.equal(found.length, 1);
      const [id, bucket] = found[0] as [string, { Properties: Record<string, unknown>; DeletionPolicy?: string }];
      assert.match(id, /^DetectorConfigBucket/);
      assert.deepEqual(bucket.Properties.BucketEncryption, {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      assert.equal((bucket.Properties.PublicAccessBlockConfiguration as Record<string, boolean>).RestrictPublicBuckets, true);
      const policy = Object.values(t.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: id } } }))[0] as {
        Properties: { PolicyDocument: { Statement: unknown } };
      };
      assert.ok(denyInsecure.test(policy.Properties.PolicyDocument.Statement).isSuccess, 'SSL only');
    }
    assert.equal((configBucket(prod)[0]?.[1] as { DeletionPolicy?: string }).DeletionPolicy, 'Retain');
    assert.equal((configBucket(dev)[0]?.[1] as { DeletionPolicy?: string }).DeletionPolicy, 'Delete');
  });
  it('is written at deploy from cdk.json, whatever its size (no environment variable limit)', () => {
    const envs = structuredClone(cdkContext.environments) as Record<string, { detector: Record<string, unknown> }>;
    const routes = Array.from({ length: 200 }, (_, i) => `/shop/category-${i}/*`);
    (envs.prod as { detector: Record<string, unknown> }).detector.knownRoutes = routes;
    const built = buildStack('prod', envs);
    const t = Template.fromStack(built.stack);
    const deployment = only<{ Properties: { DestinationBucketName: unknown; Prune: boolean } }>(t, 'Custom::CDKBucketDeployment');
    assert.equal(deployment.Properties.Prune, false, 'never deletes other objects');
    assert.ok(JSON.stringify(routes).length > 4096, 'more than a Lambda environment could hold');
    const fn = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler', Runtime: 'nodejs22.x' } }));
    assert.ok(!JSON.stringify(fn).includes('category-199'), 'the configuration is not in the function environment');
    // The staged asset holds detector.json, exactly the validated configuration from cdk.json.
    const assembly = built.app.synth();
    const staged = readdirSync(assembly.directory)
      .map((d) => join(assembly.directory, d, 'detector.json'))
      .filter((f) => existsSync(f));
    assert.equal(staged.length, 1);
    assert.deepEqual(JSON.parse(readFileSync(staged[0] as string, 'utf8')), (envs.prod as { detector: unknown }).detector);
  });
  it('publishes its bucket name for probewatch config push', () => {
    const outputs = prod.findOutputs('ConfigBucketName');
    assert.equal(Object.keys(outputs).length, 1);
  });
  it('a rejected configuration raises an alarm to the operations topic', () => {
    const alarm = only<{ Properties: { AlarmName: string; Dimensions: { Name: string; Value: string }[]; AlarmActions: { Ref: string }[] } }>(
      prod,
      'AWS::CloudWatch::Alarm',
      { MetricName: 'ConfigRejected' },
    );
    assert.equal(alarm.Properties.AlarmName, 'ProbeWatch-prod-ConfigRejected', 'named so the key and topic policies let it publish');
    assert.deepEqual(alarm.Properties.Dimensions.map((d) => `${d.Name}=${d.Value}`).sort(), ['environment=prod', 'service=probewatch']);
    assert.match(alarm.Properties.AlarmActions[0]?.Ref ?? '', /^OperationsTopic/);
  });
});
