import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CloudFormationClient,
  type CloudFormationClientResolvedConfig,
  CloudFormationServiceException,
  DescribeStacksCommand,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import { Template } from 'aws-cdk-lib/assertions';
import { type AwsStub, mockClient } from 'aws-sdk-client-mock';
import { OUTPUTS, StackError, resolveStack } from '../../../lambdas/cli/commands/resolve.js';
import { runCli } from '../../support/cli.js';
import { buildStack } from '../../support/infra.js';

const ACCOUNT = '123456789012';
/** DescribeStacks as CloudFormation answers it for a deployed ProbeWatch stack. */
function deployed(outputs: Record<string, string>, status = 'UPDATE_COMPLETE'): Stack {
  return {
    StackId: `arn:aws:cloudformation:eu-west-1:${ACCOUNT}:stack/ProbeWatch-prod/5c6b2f60-3a9e-11ef-8e0a-0a1b2c3d4e5f`,
    StackName: 'ProbeWatch-prod',
    Description: 'ProbeWatch (prod): detects web-server probing in access logs',
    CreationTime: new Date('2024-06-01T10:00:00Z'),
    LastUpdatedTime: new Date('2024-06-20T08:30:00Z'),
    StackStatus: status as Stack['StackStatus'],
    DisableRollback: false,
    Capabilities: ['CAPABILITY_IAM'],
    Tags: [
      { Key: 'application', Value: 'probewatch' },
      { Key: 'environment', Value: 'prod' },
    ],
    Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
  };
}

const OUTPUT_VALUES = {
  LogBucketName: 'example-prod-access-logs',
  AlertTopicArn: `arn:aws:sns:eu-west-1:${ACCOUNT}:ProbeWatch-prod-AlertsTopic1A2B3C-abcdef`,
  StateTableName: 'StateTable',
  IngestQueueUrl: `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/ProbeWatch-prod-IngestQueue-AbC123`,
  DeadLetterQueueUrl: `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/ProbeWatch-prod-IngestDeadLetters-XyZ789`,
};

function cfnWith(setup: (m: AwsStub<ServiceInputTypes, ServiceOutputTypes, CloudFormationClientResolvedConfig>) => void) {
  const cfn = new CloudFormationClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIA', secretAccessKey: 'x' } });
  const m = mockClient(cfn);
  setup(m);
  return { cfn, m };
}

describe('finding a stack from its CloudFormation outputs', () => {
  it('reads the resources of ProbeWatch-<env> from DescribeStacks', async () => {
    const { cfn, m } = cfnWith((m) => m.on(DescribeStacksCommand, { StackName: 'ProbeWatch-prod' }).resolves({ Stacks: [deployed(OUTPUT_VALUES)] }));
    const r = await resolveStack('prod', { cfn });
    assert.equal(r.stackName, 'ProbeWatch-prod');
    assert.equal(r.region, 'eu-west-1');
    assert.equal(r.tableName, 'StateTable');
    assert.equal(r.queueUrl, OUTPUT_VALUES.IngestQueueUrl);
    assert.equal(r.dlqUrl, OUTPUT_VALUES.DeadLetterQueueUrl);
    assert.equal(r.bucket, 'example-prod-access-logs');
    assert.equal(m.commandCalls(DescribeStacksCommand).length, 1);
  });

  it('a stack that does not exist: says which, where, and how to deploy it', async () => {
    const { cfn } = cfnWith((m) =>
      m.on(DescribeStacksCommand).rejects(
        new CloudFormationServiceException({
          name: 'ValidationError',
          $fault: 'client',
          $metadata: { httpStatusCode: 400, requestId: 'b9b4e8a1-0000-0000-0000-000000000000' },
          message: 'Stack with id ProbeWatch-staging does not exist',
        }),
      ),
    );
    await assert.rejects(resolveStack('staging', { cfn }), (e: Error) => {
      assert.ok(e instanceof StackError);
      assert.match(e.message, /no stack ProbeWatch-staging in eu-west-1: deploy it with `npx cdk deploy -c env=staging`/);
      return true;
    });
  });

  it('access denied: the service message, in one line', async () => {
    const { cfn } = cfnWith((m) =>
      m.on(DescribeStacksCommand).rejects(
        new CloudFormationServiceException({
          name: 'AccessDenied',
          $fault: 'client',
          $metadata: { httpStatusCode: 403 },
          message: `User: arn:aws:iam::${ACCOUNT}:user/ops is not authorized to perform: cloudformation:DescribeStacks`,
        }),
      ),
    );
    await assert.rejects(resolveStack('prod', { cfn }), /cannot describe stack ProbeWatch-prod: AccessDenied: User: .* not authorized/);
  });

  it('a stack deployed before an output existed: says to deploy this version', async () => {
    const { IngestQueueUrl: _, ...older } = OUTPUT_VALUES;
    const { cfn } = cfnWith((m) => m.on(DescribeStacksCommand).resolves({ Stacks: [deployed(older)] }));
    await assert.rejects(resolveStack('prod', { cfn }), /has no output IngestQueueUrl: deploy this version with `npx cdk deploy -c env=prod`/);
  });

  it('a stack still being created has no outputs yet: says to wait', async () => {
    const { cfn } = cfnWith((m) => m.on(DescribeStacksCommand).resolves({ Stacks: [deployed({}, 'CREATE_IN_PROGRESS')] }));
    await assert.rejects(resolveStack('prod', { cfn }), /ProbeWatch-prod is CREATE_IN_PROGRESS: wait until it is deployed/);
  });

  it('refuses an environment name that cannot be one (no request sent)', async () => {
    const { cfn, m } = cfnWith(() => {});
    await assert.rejects(resolveStack('Prod; rm', { cfn }), /is not an environment name/);
    assert.equal(m.calls().length, 0);
  });

  it('the stack defines every output the resolver reads', () => {
    const outputs = Template.fromStack(buildStack('dev').stack).findOutputs('*');
    for (const name of Object.values(OUTPUTS)) assert.ok(outputs[name], `output ${name}`);
  });
});

describe('finding the local stack', () => {
  it('a file left by a stopped run is refused with how to start one', async () => {
    const path = join(tmpdir(), `probewatch-stale-${process.pid}.json`);
    // A pid no process has (pids are far below 2^22 on Linux).
    writeFileSync(path, JSON.stringify({ pid: 4_194_000, queueUrl: 'http://127.0.0.1:1/q', endpoints: { dynamo: 'http://127.0.0.1:1' } }));
    try {
      await assert.rejects(resolveStack('local', { env: { PROBEWATCH_LOCAL_FILE: path } }), /has stopped \(process 4194000\): start it .*--keep-running/);
    } finally {
      rmSync(path, { force: true });
    }
  });

  it('a command without --env says so, with the usage hint', async () => {
    const r = await runCli(['state']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--env NAME is required/);
    assert.match(r.stderr, /Run probewatch state --help/);
  });

  it('each command has its own help', async () => {
    for (const c of ['alerts', 'state', 'backfill', 'replay-dlq']) {
      const r = await runCli([c, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^Usage: probewatch ${c} --env NAME`));
    }
  });
});
