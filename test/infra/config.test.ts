import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEnvironmentConfig, selectEnvironment } from '../../infra/config.js';
import { buildStack, cdkContext } from '../support/infra.js';

const base = { logs: { sources: [{ prefix: 'alb/', format: 'alb' }] }, alerts: { emails: ['a@example.com'] } };

describe('environment selection', () => {
  it('fails without -c env=NAME, listing the known environments', () => {
    assert.throws(
      () => selectEnvironment(cdkContext.environments, undefined),
      /no environment given: deploy with -c env=NAME, where NAME is one of: dev, prod/,
    );
  });
  it('fails on an unknown environment, listing the known ones', () => {
    assert.throws(() => selectEnvironment(cdkContext.environments, 'staging'), /unknown environment "staging"; known: dev, prod/);
    assert.throws(() => buildStack('staging'), /unknown environment "staging"/);
  });
  it('carries the environment in the stack name', () => {
    assert.equal(buildStack('dev').stack.stackName, 'ProbeWatch-dev');
  });
  it('the shipped dev and prod examples are valid', () => {
    assert.equal(selectEnvironment(cdkContext.environments, 'dev').config.removalPolicy, 'destroy');
    assert.equal(selectEnvironment(cdkContext.environments, 'prod').config.removalPolicy, 'retain');
  });
});

describe('environment settings are validated, naming the field', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown setting', { ...base, colour: 'red' }, /environments\.x\.colour is not a known setting/],
    ['no log sources', { ...base, logs: { sources: [] } }, /environments\.x\.logs\.sources must list at least one log source/],
    [
      'a bad format',
      { ...base, logs: { sources: [{ prefix: 'a/', format: 'syslog' }] } },
      /environments\.x\.logs\.sources\[0\]\.format unknown format "syslog"/,
    ],
    ['overlapping prefixes', { ...base, logs: { sources: [{ prefix: 'a/' }, { prefix: 'a/b/' }] } }, /logs\.sources\[1\]\.prefix overlaps/],
    [
      'overlapping prefixes, one without a suffix (it overlaps every suffix)',
      { ...base, logs: { sources: [{ prefix: 'AWSLogs/', suffix: '.log.gz' }, { prefix: 'AWSLogs/x/' }] } },
      /logs\.sources\[1\]\.prefix overlaps logs\.sources\[0\] \(prefixes "AWSLogs\/" and "AWSLogs\/x\/", suffixes "\.log\.gz" and ""\)/,
    ],
    [
      'overlapping prefixes whose suffixes end alike',
      {
        ...base,
        logs: {
          sources: [
            { prefix: 'a/', suffix: '.gz' },
            { prefix: 'a/', suffix: '.log.gz' },
          ],
        },
      },
      /logs\.sources\[1\]\.prefix overlaps/,
    ],
    [
      'a CloudFront blocking scope outside us-east-1',
      { ...base, region: 'eu-west-1', blocking: { enabled: true, scope: 'CLOUDFRONT' } },
      /environments\.x\.blocking\.scope is CLOUDFRONT: CloudFront's WAF IP sets exist only in us-east-1/,
    ],
    ['a bad bucket name', { ...base, logs: { ...base.logs, existingBucketName: 'Not_A_Bucket' } }, /logs\.existingBucketName is not a valid S3 bucket name/],
    ['a bad e-mail', { ...base, alerts: { emails: ['oncall'] } }, /environments\.x\.alerts\.emails\[0\] is not an e-mail address/],
    ['no alert destination', { ...base, alerts: { emails: [] } }, /environments\.x\.alerts needs at least one e-mail address or subscriber/],
    [
      'a bad subscriber',
      { ...base, alerts: { emails: [], subscribers: [{ protocol: 'https', endpoint: 'http://x' }] } },
      /alerts\.subscribers\[0\]\.endpoint must be an https:\/\/ URL/,
    ],
    [
      'a bad minimum severity',
      { ...base, alerts: { emails: [], subscribers: [{ protocol: 'https', endpoint: 'https://x', minSeverity: 'urgent' }] } },
      /alerts\.subscribers\[0\]\.minSeverity must be one of/,
    ],
    ['memory out of range', { ...base, lambda: { memoryMb: 64 } }, /environments\.x\.lambda\.memoryMb must be a whole number from 128 to 10240/],
    ['a timeout out of range', { ...base, lambda: { timeoutSeconds: 1000 } }, /lambda\.timeoutSeconds must be a whole number from 10 to 900/],
    ['a retention CloudWatch does not offer', { ...base, lambda: { logRetentionDays: 10 } }, /lambda\.logRetentionDays must be one of CloudWatch's values/],
    [
      'a queue concurrency above the reserved concurrency',
      { ...base, lambda: { reservedConcurrency: 5, maxConcurrency: 10 } },
      /lambda\.maxConcurrency must not exceed lambda\.reservedConcurrency \(10 > 5\)/,
    ],
    ['a queue concurrency SQS does not offer', { ...base, lambda: { maxConcurrency: 1 } }, /lambda\.maxConcurrency must be a whole number from 2 to 1000/],
    [
      'a batch over 10 objects without a batching window',
      { ...base, lambda: { batchSize: 50, batchWindowSeconds: 0 } },
      /lambda\.batchWindowSeconds must be at least 1 when lambda\.batchSize is over 10/,
    ],
    ['a batch larger than SQS gives', { ...base, lambda: { batchSize: 20_000 } }, /lambda\.batchSize must be a whole number from 1 to 10000/],
    ['a bad removal policy', { ...base, removalPolicy: 'keep' }, /environments\.x\.removalPolicy must be "retain" or "destroy"/],
    ['a bad account', { ...base, account: '12345' }, /environments\.x\.account must be a 12-digit AWS account id/],
    ['a bad detector threshold', { ...base, detector: { thresholds: { score: 0 } } }, /environments\.x\.detector: thresholds\.score must be a positive number/],
    ['a bad trusted proxy', { ...base, detector: { trustedProxies: ['10.0.0.0/40'] } }, /environments\.x\.detector: trustedProxies\[0\]/],
  ];
  for (const [name, raw, message] of bad) {
    it(`refuses ${name}`, () => assert.throws(() => parseEnvironmentConfig('x', raw), message));
  }
  it('takes one prefix under two suffixes that cannot both end a key', () => {
    const c = parseEnvironmentConfig('x', {
      ...base,
      logs: {
        sources: [
          { prefix: 'a/', suffix: '.log.gz' },
          { prefix: 'a/', suffix: '.json' },
        ],
      },
    });
    assert.equal(c.logs.sources.length, 2);
  });
  it('fills in defaults', () => {
    const c = parseEnvironmentConfig('x', base);
    assert.deepEqual(c.lambda, {
      memoryMb: 512,
      timeoutSeconds: 120,
      maxConcurrency: 10,
      batchSize: 100,
      batchWindowSeconds: 60,
      logRetentionDays: 30,
      configRefreshSeconds: 60,
    });
    assert.equal(parseEnvironmentConfig('x', { ...base, lambda: { reservedConcurrency: 4 } }).lambda.maxConcurrency, 4, 'tied to the reserved concurrency');
    assert.equal(c.logs.expireAfterDays, 90);
    assert.equal(c.removalPolicy, 'retain', 'keeping data is the safe default');
    assert.deepEqual(c.alerts.operationsEmails, ['a@example.com']);
  });
});
