import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { blockingSchema } from '../../infra/blocking-config.js';
import { parseEnvironmentConfig } from '../../infra/config.js';
import { DEFAULT_MAX_ENTRIES } from '../../lambdas/core/blocking.js';
import { loadBlockConfig } from '../../lambdas/handlers/block-config.js';
import { buildStack, cdkContext, nagFindings } from '../support/infra.js';

type Envs = Record<string, Record<string, unknown>>;
const V4 = 'arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/edge-blocked-v4/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const V6 = 'arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/edge-blocked-v6/1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

/** The shipped environments with blocking set on one of them. */
function withBlocking(env: string, blocking: Record<string, unknown>, extra: Record<string, unknown> = {}): Envs {
  const envs = structuredClone(cdkContext.environments) as Envs;
  envs[env] = { ...(envs[env] as Record<string, unknown>), ...extra, blocking };
  return envs;
}

// prod with blocking turned on as the README says to start: enabled, dry run (the default).
const prodEnvs = withBlocking('prod', { enabled: true });
const prod = Template.fromStack(buildStack('prod', prodEnvs).stack);

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
function statementsOf(t: Template, rolePrefix: string): Statement[] {
  const policies = Object.entries(t.findResources('AWS::IAM::Policy')) as [
    string,
    { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } },
  ][];
  return policies.filter(([, p]) => p.Properties.Roles.some((r) => r.Ref.startsWith(rolePrefix))).flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

describe('blocking in the stack (prod, enabled in dry run)', { timeout: 240_000 }, () => {
  it('cdk-nag: no unacknowledged finding, with new sets and with existing ones', () => {
    assert.deepEqual(nagFindings('prod', prodEnvs), []);
    assert.deepEqual(nagFindings('dev', withBlocking('dev', { enabled: true, dryRun: false, ipSetArns: { v4: V4, v6: V6 } })), []);
  });

  it('creates an empty IPv4 and IPv6 set, REGIONAL, kept when the stack goes (retain)', () => {
    const sets = Object.values(prod.findResources('AWS::WAFv2::IPSet')) as { Properties: Record<string, unknown>; DeletionPolicy?: string }[];
    assert.deepEqual(sets.map((s) => [s.Properties.IPAddressVersion, s.Properties.Scope, s.Properties.Addresses, s.Properties.Name, s.DeletionPolicy]).sort(), [
      ['IPV4', 'REGIONAL', [], 'probewatch-prod-blocked-v4', 'Retain'],
      ['IPV6', 'REGIONAL', [], 'probewatch-prod-blocked-v6', 'Retain'],
    ]);
  });

  it('subscribes an encrypted, SSL-only queue with a dead-letter queue to the alert topic: raw delivery, high and critical only', () => {
    prod.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      FilterPolicy: { severity: ['high', 'critical'] },
      TopicArn: { Ref: Match.stringLikeRegexp('^AlertsTopic') },
      Endpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BlockingQueue'), 'Arn'] },
    });
    const queues = prod.findResources('AWS::SQS::Queue');
    const blockQueues = Object.entries(queues).filter(([id]) => id.startsWith('Blocking')) as [string, { Properties: Record<string, unknown> }][];
    assert.equal(blockQueues.length, 2, 'the queue and its dead-letter queue');
    for (const [, q] of blockQueues) assert.equal(q.Properties.SqsManagedSseEnabled, true);
    prod.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 720, RedrivePolicy: { maxReceiveCount: 3, deadLetterTargetArn: Match.anyValue() } });
  });

  it('the block and sweep functions: ARM64 Node.js 22, settings from the configuration, the queue at a concurrency of 2, a 5-minute schedule', () => {
    const fns = Object.entries(prod.findResources('AWS::Lambda::Function')).filter(([id]) => id.startsWith('Blocking')) as [
      string,
      { Properties: { Handler: string; Architectures: string[]; Runtime: string; Environment: { Variables: Record<string, unknown> } } },
    ][];
    assert.deepEqual(fns.map(([, f]) => f.Properties.Handler).sort(), ['index.handler', 'index.sweep']);
    for (const [, f] of fns) {
      assert.deepEqual([f.Properties.Architectures, f.Properties.Runtime], [['arm64'], 'nodejs22.x']);
      const v = f.Properties.Environment.Variables;
      assert.deepEqual([v.BLOCK_DRY_RUN, v.BLOCK_HOURS, v.BLOCK_MIN_SEVERITY, v.BLOCK_MAX_ENTRIES, v.IP_SETS_OWNED], ['true', '4', 'high', '9000', 'true']);
      assert.equal(v.BLOCK_TRUSTED_PROXIES, '["10.0.0.0/8"]', 'trusted proxies of the detector configuration');
      const [setId, attr] = (v.IP_SET_V4_ARN as { 'Fn::GetAtt': string[] })['Fn::GetAtt'];
      assert.match(String(setId), /^BlockingIpSetV4/);
      assert.equal(attr, 'Arn');
    }
    prod.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BlockingQueue'), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    prod.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BlockingSweeper'), 'Arn'] } })],
    });
  });

  it('least privilege: GetIPSet and UpdateIPSet on the two sets only; the DynamoDB calls each function makes; no wildcard action', () => {
    for (const [role, dynamo] of [
      ['BlockingBlockerRole', ['dynamodb:DeleteItem', 'dynamodb:PutItem']],
      ['BlockingSweeperRole', ['dynamodb:DeleteItem', 'dynamodb:Query']],
    ] as const) {
      const st = statementsOf(prod, role);
      const actions = st.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
      assert.ok(!actions.some((a) => a.endsWith('*') && !a.startsWith('logs:')), `${role}: ${actions.join(', ')}`);
      const waf = st.find((s) => JSON.stringify(s.Action).includes('wafv2'));
      assert.deepEqual(waf?.Action, ['wafv2:GetIPSet', 'wafv2:UpdateIPSet']);
      assert.deepEqual(
        (waf?.Resource as { 'Fn::GetAtt': string[] }[]).map((r) => r['Fn::GetAtt'][1]),
        ['Arn', 'Arn'],
      );
      assert.deepEqual(
        (waf?.Resource as { 'Fn::GetAtt': string[] }[]).map((r) => r['Fn::GetAtt'][0]?.replace(/[0-9A-F]{8}$/, '')),
        ['BlockingIpSetV4', 'BlockingIpSetV6'],
      );
      const db = st.find((s) => JSON.stringify(s.Action).includes('dynamodb'));
      assert.deepEqual([...(db?.Action as string[])].sort(), dynamo);
      assert.ok(JSON.stringify(db?.Resource).includes('"StateTable"') && !JSON.stringify(db?.Resource).includes('"*"'), 'the state table only');
    }
  });

  it('alarms on blocker errors, dead letters and sweeper errors, to the operations topic, under the stack’s alarm prefix', () => {
    for (const name of ['BlockerErrors', 'BlockDeadLetters', 'SweeperErrors']) {
      prod.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `ProbeWatch-prod-${name}`,
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^OperationsTopic') }],
      });
    }
  });

  it('off by default: the shipped prod has no IP set, queue or function of the blocker', () => {
    const plain = Template.fromStack(buildStack('prod').stack);
    assert.equal(Object.keys(plain.findResources('AWS::WAFv2::IPSet')).length, 0);
    assert.equal(Object.keys(plain.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('Blocking')).length, 0);
    assert.equal(Object.keys(plain.findResources('AWS::Events::Rule')).length, 0);
  });

  it('existing sets by ARN: none created, permissions on exactly those, and the sets are not treated as its own', () => {
    const t = Template.fromStack(buildStack('dev', withBlocking('dev', { enabled: true, dryRun: false, ipSetArns: { v4: V4, v6: V6 } })).stack);
    assert.equal(Object.keys(t.findResources('AWS::WAFv2::IPSet')).length, 0);
    const waf = statementsOf(t, 'BlockingBlockerRole').find((s) => JSON.stringify(s.Action).includes('wafv2'));
    assert.deepEqual(waf?.Resource, [V4, V6]);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ IP_SETS_OWNED: 'false', BLOCK_DRY_RUN: 'false', IP_SET_V4_ARN: V4 }) },
    });
  });

  it('CLOUDFRONT sets are created only in us-east-1: elsewhere the environment is refused and says why', () => {
    assert.throws(
      () => buildStack('prod', withBlocking('prod', { enabled: true, scope: 'CLOUDFRONT' }, { region: 'eu-west-1' })),
      /blocking\.scope is CLOUDFRONT: CloudFront's WAF IP sets exist only in us-east-1, so set region to "us-east-1" \(got "eu-west-1"\)/,
    );
    assert.throws(() => buildStack('prod', withBlocking('prod', { enabled: true, scope: 'CLOUDFRONT' })), /\(got no region\)/);
    const t = Template.fromStack(
      buildStack('prod', withBlocking('prod', { enabled: true, scope: 'CLOUDFRONT' }, { region: 'us-east-1', account: '123456789012' })).stack,
    );
    t.resourcePropertiesCountIs('AWS::WAFv2::IPSet', { Scope: 'CLOUDFRONT' }, 2);
  });
});

describe('the blocking settings (environments.<name>.blocking)', () => {
  const base = { logs: { sources: [{ prefix: 'alb/' }] }, alerts: { emails: ['a@example.com'] } };
  it('default to off, dry run, high, REGIONAL, 9,000 entries, the alert’s own block time', () => {
    assert.deepEqual(parseEnvironmentConfig('x', base).blocking, {
      enabled: false,
      dryRun: true,
      minSeverity: 'high',
      scope: 'REGIONAL',
      maxEntries: DEFAULT_MAX_ENTRIES,
    });
  });
  const bad: [string, unknown, RegExp][] = [
    ['an unknown key', { enabled: true, dryrun: false }, /environments\.x\.blocking\.dryrun is not a known setting/],
    ['maxEntries past WAF’s limit', { maxEntries: 10_001 }, /environments\.x\.blocking\.maxEntries .*10000/],
    ['a block time of 0', { durationHours: 0 }, /environments\.x\.blocking\.durationHours/],
    ['a minimum severity that does not exist', { minSeverity: 'urgent' }, /blocking\.minSeverity/],
    ['a web ACL ARN for a set', { ipSetArns: { v4: V4.replace('ipset', 'webacl'), v6: V6 } }, /blocking\.ipSetArns\.v4 is not a WAF v2 IP set ARN/],
    ['the same set twice', { ipSetArns: { v4: V4, v6: V4 } }, /blocking\.ipSetArns\.v6 must be another set/],
    ['a regional set with scope CLOUDFRONT', { scope: 'CLOUDFRONT', ipSetArns: { v4: V4, v6: V6 } }, /ipSetArns\.v4 is a REGIONAL set but scope is CLOUDFRONT/],
    [
      'a CLOUDFRONT set outside us-east-1',
      { scope: 'CLOUDFRONT', ipSetArns: { v4: V4.replace(':regional/', ':global/'), v6: V6.replace(':regional/', ':global/') } },
      /ipSetArns\.v4 is a CLOUDFRONT set outside us-east-1/,
    ],
  ];
  for (const [name, raw, message] of bad) {
    it(`refuses ${name}`, () => assert.throws(() => parseEnvironmentConfig('x', { ...base, blocking: raw }), message));
  }
  it('accepts existing sets in the scope and region they are in', () => {
    assert.deepEqual(blockingSchema.parse({ enabled: true, ipSetArns: { v4: V4, v6: V6 }, durationHours: 12 }).ipSetArns, { v4: V4, v6: V6 });
  });
});

describe('the blocker’s environment, checked at cold start', () => {
  const good = {
    STATE_TABLE_NAME: 't',
    ENVIRONMENT_NAME: 'prod',
    BLOCK_DRY_RUN: 'true',
    BLOCK_MAX_ENTRIES: '9000',
    BLOCK_HOURS: '4',
    BLOCK_MIN_SEVERITY: 'high',
    BLOCK_ALLOWLIST: '["198.51.100.0/24"]',
    BLOCK_TRUSTED_PROXIES: '[]',
    IP_SET_V4_ARN: V4,
    IP_SET_V6_ARN: V6,
    IP_SETS_OWNED: 'false',
  };
  it('reads every setting', () => {
    const c = loadBlockConfig(good);
    assert.deepEqual(
      [c.dryRun, c.maxEntries, c.hours, c.allowlist, c.sets.v4.name, c.sets.v6.id, c.sets.v4.region],
      [true, 9000, 4, ['198.51.100.0/24'], 'edge-blocked-v4', '1f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', 'eu-west-1'],
    );
  });
  it('names every bad variable at once', () => {
    assert.throws(
      () => loadBlockConfig({ ...good, STATE_TABLE_NAME: undefined, BLOCK_MAX_ENTRIES: '20000', BLOCK_ALLOWLIST: '["10.0.0.0/40"]', IP_SET_V6_ARN: 'nope' }),
      (e: Error) =>
        /STATE_TABLE_NAME is not set/.test(e.message) &&
        /BLOCK_MAX_ENTRIES/.test(e.message) &&
        /BLOCK_ALLOWLIST .*prefix length/.test(e.message) &&
        /IP_SET_V6_ARN is not a WAF v2 IP set ARN/.test(e.message),
    );
  });
});

// What Lambda runs is the esbuild bundle: bundle it for real and start it.
describe('the bundled blocker', { timeout: 180_000 }, () => {
  it('loads, refuses a broken environment at cold start with the variable named, and fails a message that is not an alert', async () => {
    const { app, outdir } = buildStack('prod', prodEnvs, { bundle: true });
    app.synth();
    const assets = readdirSync(outdir).filter(
      (d) => d.startsWith('asset.') && existsSync(join(outdir, d, 'index.js')) && readFileSync(join(outdir, d, 'index.js'), 'utf8').includes('BLOCK_DRY_RUN'),
    );
    assert.equal(assets.length, 1, 'one bundle for both functions');
    const dir = join('node_modules', '.cache', 'probewatch-bundle-test');
    mkdirSync(dir, { recursive: true });
    const load = (name: string) => {
      const bundle = join(process.cwd(), dir, name);
      copyFileSync(join(outdir, assets[0] as string, 'index.js'), bundle);
      return createRequire(bundle)(bundle) as { handler: (e: unknown) => Promise<{ batchItemFailures: unknown[] }>; sweep: () => Promise<void> };
    };
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { AWS_REGION: 'eu-west-1', POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' });
      const broken = load('block-broken.cjs');
      await assert.rejects(broken.handler({ Records: [] }), /STATE_TABLE_NAME is not set/);
      Object.assign(process.env, {
        STATE_TABLE_NAME: 't',
        ENVIRONMENT_NAME: 'prod',
        BLOCK_DRY_RUN: 'true',
        BLOCK_MAX_ENTRIES: '9000',
        BLOCK_HOURS: '4',
        BLOCK_MIN_SEVERITY: 'high',
        BLOCK_ALLOWLIST: '[]',
        BLOCK_TRUSTED_PROXIES: '[]',
        IP_SET_V4_ARN: V4,
        IP_SET_V6_ARN: V6,
        IP_SETS_OWNED: 'true',
      });
      const mod = load('block.cjs');
      assert.equal(typeof mod.sweep, 'function');
      const r = await mod.handler({ Records: [{ messageId: 'm1', eventSource: 'aws:sqs', body: '{"hello":1}' }] });
      assert.deepEqual(r, { batchItemFailures: [{ itemIdentifier: 'm1' }] });
    } finally {
      process.env = saved;
    }
  });
});
