import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { parseEnvironmentConfig } from '../../infra/config.js';
import { loadRuntimeConfig } from '../../lambdas/adapters/runtime-config.js';
import { type ConfigCheck, S3DetectorConfig } from '../../lambdas/adapters/s3-detector-config.js';
import { runConfigCommand } from '../../lambdas/cli/commands/config.js';
import { runCli } from '../support/cli.js';
import { startS3 } from '../support/s3.js';

const dir = mkdtempSync(join(tmpdir(), 'probewatch-config-'));
const file = (name: string, content: unknown) => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};
const rule = (match: unknown) => ({ id: 'mine', category: 'mine', class: 'probing', severity: 'high', score: 5, explain: 'e', match });
const good = {
  thresholds: { score: 80 },
  knownRoutes: ['/login', '/api/*/items'],
  rules: [rule({ path: { prefix: ['/internal/'] } })],
  disableRules: ['outdated-agent'],
};

async function config(args: string[], deps?: Parameters<typeof runConfigCommand>[2]) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } } as unknown as Parameters<
    typeof runConfigCommand
  >[1];
  const code = await runConfigCommand(args, io, deps);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('probewatch config check', () => {
  it('a valid file: exit 0 and a summary', async () => {
    const r = await runCli(['config', 'check', file('good.yaml', good)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /good\.yaml is valid/);
    assert.match(r.stdout, /alert at score 80/);
    assert.match(r.stdout, /1 added rule, 0 replaced built-in rules, 1 disabled rule/);
    assert.match(r.stdout, /known routes: 2/);
  });
  it('an invalid file: exit 2 and every problem, each naming its field', async () => {
    const bad = { thresholds: { score: 0, windowSeconds: 'long' }, trustedProxies: ['10.0.0.0/40'], rules: [rule({ status: '4xx' })], colour: 'red' };
    const r = await runCli(['config', 'check', file('bad.yaml', bad)]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml: 5 problems/);
    for (const re of [
      /bad\.yaml: thresholds\.windowSeconds must be a positive number \(got "long"\)/,
      /bad\.yaml: thresholds\.score must be a positive number \(got 0\)/,
      /bad\.yaml: trustedProxies\[0\] "10\.0\.0\.0\/40" has a prefix length outside 0–32/,
      /bad\.yaml: rules\[0\]\.match\.status must be a list of status codes or classes/,
      /bad\.yaml: colour is not a known setting \(known: thresholds, /,
    ])
      assert.match(r.stderr, re);
  });
  it('checks every environment of a cdk.json, the detector with the same schema', async () => {
    const ok = await config(['check', 'cdk.json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /environment dev is valid/);
    assert.match(ok.stdout, /environment prod is valid/);
    const cdk = JSON.parse(readFileSync('cdk.json', 'utf8'));
    cdk.context.environments.prod.detector.knownRoutes = ['login'];
    cdk.context.environments.dev.lambda.memoryMb = 64;
    const bad = await config(['check', file('cdk.json', cdk)]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /environments\.dev\.lambda\.memoryMb must be a whole number from 128 to 10240 \(got 64\)/);
    assert.match(bad.stderr, /environments\.prod\.detector: knownRoutes\[0\] must start with "\/" \(got "login"\)/);
  });
  it('usage errors and unreadable files exit 2', async () => {
    assert.equal((await config(['lint', 'x'])).code, 2);
    assert.match((await config(['check'])).stderr, /config check takes one file/);
    const missing = await config(['check', join(dir, 'missing.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing\.yaml: no such file\n/);
    assert.doesNotMatch(missing.stderr, /ENOENT|open '/);
    assert.match((await config(['check', dir])).stderr, /is a directory, not a file/);
    const scan = await runCli(['scan', '--config', join(dir, 'missing.yaml'), 'events/logs/seed-cgi-sweep.log']);
    assert.equal(scan.code, 2);
    assert.match(scan.stderr, /the config file .*missing\.yaml: no such file\n/);
    assert.match((await config(['check', file('broken.yaml', 'a: [')])).stderr, /broken\.yaml is not valid YAML or JSON/);
    assert.match((await config(['push', file('p.yaml', good)])).stderr, /needs --env NAME/);
  });
  it('works from the built bundle (npm run build)', () => {
    const r = spawnSync(process.execPath, ['dist/probewatch.mjs', 'config', 'check', file('bundle.yaml', good)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /is valid/);
  });
});

describe('a configuration the CLI refuses is refused everywhere', () => {
  // Each is refused by the engine the scan builds; before one schema, synth and the Lambda's
  // cold start let them through and every object then failed into the dead-letter queue.
  const refused: [string, unknown, RegExp][] = [
    ['a regex with a back-reference', { rules: [rule({ path: { regex: '(a)\\1' } })] }, /rules\[0\]\.match\.path\.regex is not a valid regular expression/],
    ['a repetition beyond the bound', { rules: [rule({ userAgent: { regex: 'a{0,5000}' } })] }, /rules\[0\]\.match\.userAgent\.regex repeats too much/],
    ['a status that is neither code nor class', { rules: [rule({ status: ['4xxx'] })] }, /rules\[0\]\.match\.status\[0\] must be a status code/],
    ['a match without conditions', { rules: [rule({})] }, /rules\[0\]\.match needs at least one condition/],
    ['disabling a rule that does not exist', { disableRules: ['no-such-rule'] }, /disableRules\[0\] names no rule/],
  ];
  const s3Serving = (doc: unknown) =>
    ({
      send: async () => ({ Body: { transformToString: async () => JSON.stringify(doc) }, ETag: '"1"', ContentLength: JSON.stringify(doc).length }),
    }) as unknown as S3Client;
  for (const [name, doc, message] of refused) {
    it(name, async () => {
      const path = file('refused.yaml', doc);
      const scan = await runCli(['scan', '--config', path, 'events/logs/seed-cgi-sweep.log']);
      assert.equal(scan.code, 2, 'probewatch scan --config');
      assert.match(scan.stderr, message);
      const checked = await config(['check', path]);
      assert.equal(checked.code, 2, 'probewatch config check');
      assert.match(checked.stderr, message);
      // cdk synth (infra/bin/app.ts → parseEnvironmentConfig)
      const env = { logs: { sources: [{ prefix: 'alb/' }] }, alerts: { emails: ['a@example.com'] }, detector: doc };
      assert.throws(
        () => parseEnvironmentConfig('dev', env),
        (e: Error) => message.test(e.message) && /environments\.dev\.detector: /.test(e.message),
      );
      // The Lambda: the deployed object at cold start, and the variable for runs without a bucket.
      const checks: ConfigCheck[] = [];
      const source = new S3DetectorConfig({
        s3: s3Serving(doc),
        bucket: 'b',
        key: 'detector.json',
        refreshSeconds: 60,
        now: () => 0,
        onCheck: (c) => checks.push(c),
      });
      await assert.rejects(() => source.current(), message);
      assert.equal(checks[0]?.outcome, 'rejected');
      const vars = { STATE_TABLE_NAME: 't', ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:1:x', ENVIRONMENT_NAME: 'dev' };
      assert.throws(() => loadRuntimeConfig({ ...vars, DETECTOR_CONFIG: JSON.stringify(doc) }), message);
      // And nothing is pushed.
      const pushed = await config(['push', '--bucket', 'never-used', path], {
        s3: () => assert.fail('no upload of a refused configuration'),
        cloudFormation: () => assert.fail('no lookup either'),
      });
      assert.equal(pushed.code, 2);
      assert.match(pushed.stderr, /Nothing was uploaded/);
    });
  }
});

describe('probewatch config push (s3rver; CloudFormation mocked)', () => {
  let s3: S3Client;
  let stop: () => Promise<void>;
  before(async () => {
    ({ s3, stop } = await startS3(['probewatch-dev-config']));
  });
  after(() => stop());

  it('finds the bucket in the stack outputs, uploads, and the function reads what was pushed', async () => {
    const cfn = mockClient(CloudFormationClient);
    cfn.on(DescribeStacksCommand, { StackName: 'ProbeWatch-dev' }).resolves({
      Stacks: [
        {
          StackName: 'ProbeWatch-dev',
          CreationTime: new Date(0),
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: [
            { OutputKey: 'StateTableName', OutputValue: 'ProbeWatch-dev-StateTable' },
            { OutputKey: 'ConfigBucketName', OutputValue: 'probewatch-dev-config' },
          ],
        },
      ],
    });
    try {
      const r = await config(['push', '--env', 'dev', file('push.yaml', 'thresholds:\n  score: 70\nknownRoutes: [/login]\n')], {
        s3: () => s3,
        cloudFormation: () => new CloudFormationClient({ region: 'us-east-1' }),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /pushed .*push\.yaml to s3:\/\/probewatch-dev-config\/detector\.json/);
    } finally {
      cfn.restore();
    }
    const obj = await s3.send(new GetObjectCommand({ Bucket: 'probewatch-dev-config', Key: 'detector.json' }));
    assert.deepEqual(JSON.parse((await obj.Body?.transformToString()) ?? ''), { thresholds: { score: 70 }, knownRoutes: ['/login'] }, 'YAML uploaded as JSON');
    const source = new S3DetectorConfig({ s3, bucket: 'probewatch-dev-config', key: 'detector.json', refreshSeconds: 60, now: () => 0 });
    assert.equal((await source.current()).scoreThreshold, 70);
  });

  it('says clearly when the stack is not there or has no config bucket', async () => {
    const cfn = mockClient(CloudFormationClient);
    const missing = Object.assign(new Error('Stack with id ProbeWatch-qa does not exist'), { name: 'ValidationError' });
    cfn.on(DescribeStacksCommand, { StackName: 'ProbeWatch-qa' }).rejects(missing);
    cfn.on(DescribeStacksCommand, { StackName: 'ProbeWatch-old' }).resolves({
      Stacks: [{ StackName: 'ProbeWatch-old', CreationTime: new Date(0), StackStatus: 'CREATE_COMPLETE', Outputs: [] }],
    });
    const deps = { s3: () => s3, cloudFormation: () => new CloudFormationClient({ region: 'us-east-1' }) };
    try {
      const qa = await config(['push', '--env', 'qa', file('q.yaml', good)], deps);
      assert.equal(qa.code, 2);
      assert.match(qa.stderr, /no stack ProbeWatch-qa in .*: deploy it with `npx cdk deploy -c env=qa`.*, or pass --bucket/);
      const old = await config(['push', '--env', 'old', file('q.yaml', good)], deps);
      assert.match(old.stderr, /stack ProbeWatch-old has no output ConfigBucketName: deploy this version.*, or pass --bucket/);
    } finally {
      cfn.restore();
    }
  });

  it('--bucket skips the lookup; an upload that fails is reported', async () => {
    const ok = await config(['push', '--bucket', 'probewatch-dev-config', file('b.yaml', good)], {
      s3: () => s3,
      cloudFormation: () => assert.fail('no lookup with --bucket'),
    });
    assert.equal(ok.code, 0, ok.stderr);
    const fail = await config(['push', '--bucket', 'no-such-bucket', file('b.yaml', good)], { s3: () => s3, cloudFormation: () => assert.fail('no lookup') });
    assert.equal(fail.code, 2);
    assert.match(fail.stderr, /cannot upload to s3:\/\/no-such-bucket\/detector\.json/);
  });
});
