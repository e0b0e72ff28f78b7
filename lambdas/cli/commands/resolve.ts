/**
 * Finds a deployed stack's resources (`--env NAME`): the outputs of the CloudFormation stack
 * `ProbeWatch-NAME` (the name infra/bin/app.ts gives it), or, for `--env local`, the file
 * `npm run local -- --keep-running` writes while its emulators run.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ProbeWatchError } from '../../core/errors.js';
import { sanitize } from '../../core/escape.js';
import type { LocalStack } from '../../local/stack.js';

/** A command cannot find or reach the stack: said in words, exit status 2. */
export class StackError extends ProbeWatchError {}

/** The resources the commands use. */
export interface StackResources {
  env: string;
  stackName: string;
  region?: string;
  tableName: string;
  queueUrl: string;
  dlqUrl: string;
  bucket: string;
  topicArn?: string;
  /** The bucket holding detector.json (probewatch config push). */
  configBucket?: string;
  /** Local emulators only: where each service listens, and their fixed credentials. */
  endpoints?: { s3: string; dynamo: string; sqs: string };
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** What `npm run local -- --keep-running` writes, and the resolver reads for `--env local`. */
export interface LocalStackFile extends Pick<LocalStack, 'region' | 'bucket' | 'tableName' | 'queueUrl' | 'dlqUrl' | 'topicArn'> {
  pid: number;
  endpoints: { s3: string; dynamo: string; fauxqs: string };
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** Where the local stack file lives: `$PROBEWATCH_LOCAL_FILE`, else probewatch-local.json in the temporary directory. */
export function localStackFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PROBEWATCH_LOCAL_FILE || join(tmpdir(), 'probewatch-local.json');
}

/** The stack name of an environment (infra/bin/app.ts). */
export const stackNameOf = (env: string) => `ProbeWatch-${env}`;

/** The outputs of the stack (infra/stack.ts) the commands need. */
export const OUTPUTS = {
  tableName: 'StateTableName',
  queueUrl: 'IngestQueueUrl',
  dlqUrl: 'DeadLetterQueueUrl',
  bucket: 'LogBucketName',
  topicArn: 'AlertTopicArn',
  configBucket: 'ConfigBucketName',
} as const;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function resolveLocal(env: NodeJS.ProcessEnv): StackResources {
  const path = localStackFilePath(env);
  const start = 'start it in another terminal with `npm run local -- --keep-running` and leave it running';
  let doc: LocalStackFile;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as LocalStackFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StackError(`the local stack is not running (no ${path}): ${start}`);
    throw new StackError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (typeof doc?.queueUrl !== 'string' || typeof doc.endpoints?.dynamo !== 'string') throw new StackError(`${path} is not a local stack file`);
  if (typeof doc.pid === 'number' && !isAlive(doc.pid)) throw new StackError(`the local stack that wrote ${path} has stopped (process ${doc.pid}): ${start}`);
  return {
    env: 'local',
    stackName: 'local',
    region: doc.region,
    tableName: doc.tableName,
    queueUrl: doc.queueUrl,
    dlqUrl: doc.dlqUrl,
    bucket: doc.bucket,
    topicArn: doc.topicArn,
    endpoints: { s3: doc.endpoints.s3, dynamo: doc.endpoints.dynamo, sqs: doc.endpoints.fauxqs },
    credentials: doc.credentials,
  };
}

/** Resolves an environment's resources. `cfn` is injectable (tests mock it). */
export async function resolveStack(
  envName: string,
  opts: { env?: NodeJS.ProcessEnv; region?: string; cfn?: CloudFormationClient; only?: 'configBucket' } = {},
): Promise<StackResources> {
  if (envName === 'local') return resolveLocal(opts.env ?? process.env);
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(envName))
    throw new StackError(`--env "${sanitize(envName, 40)}" is not an environment name (lower-case letters, digits and dashes, as in cdk.json)`);
  const stackName = stackNameOf(envName);
  const cfn = opts.cfn ?? new CloudFormationClient(opts.region ? { region: opts.region } : {});
  let outputs: Record<string, string>;
  try {
    const r = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = r.Stacks?.[0];
    if (!stack) throw new StackError(`stack ${stackName} not found`);
    if (/_IN_PROGRESS$/.test(stack.StackStatus ?? '') && !(stack.StackStatus ?? '').startsWith('UPDATE')) {
      throw new StackError(`stack ${stackName} is ${stack.StackStatus}: wait until it is deployed`);
    }
    outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } catch (e) {
    if (e instanceof StackError) throw e;
    const err = e as Error & { name?: string };
    const region = opts.region ?? (await cfn.config.region().catch(() => undefined)) ?? 'the default region';
    if (err.name === 'ValidationError' && /does not exist/.test(err.message)) {
      throw new StackError(
        `no stack ${stackName} in ${region}: deploy it with \`npx cdk deploy -c env=${envName}\`, or pass the region it lives in (--region or AWS_REGION)`,
      );
    }
    if (err.name === 'CredentialsProviderError' || /credential/i.test(err.message)) {
      throw new StackError(`no AWS credentials: set AWS_PROFILE or run \`aws configure\` (${sanitize(err.message, 200)})`);
    }
    if (/region/i.test(err.message) && !opts.region) throw new StackError(`no AWS region: pass --region or set AWS_REGION (${sanitize(err.message, 200)})`);
    throw new StackError(`cannot describe stack ${stackName}: ${sanitize(`${err.name}: ${err.message}`, 300)}`);
  }
  const need = (k: keyof typeof OUTPUTS) => {
    const v = outputs[OUTPUTS[k]];
    if (!v) throw new StackError(`stack ${stackName} has no output ${OUTPUTS[k]}: deploy this version with \`npx cdk deploy -c env=${envName}\``);
    return v;
  };
  const region = opts.region ?? (await cfn.config.region().catch(() => undefined));
  if (opts.only === 'configBucket') {
    // probewatch config push needs that one output (a stack older than it lacks it).
    const configBucket = outputs[OUTPUTS.configBucket];
    if (!configBucket)
      throw new StackError(`stack ${stackName} has no output ${OUTPUTS.configBucket}: deploy this version with \`npx cdk deploy -c env=${envName}\``);
    return { env: envName, stackName, ...(region ? { region } : {}), tableName: '', queueUrl: '', dlqUrl: '', bucket: '', configBucket };
  }
  return {
    env: envName,
    stackName,
    ...(region ? { region } : {}),
    tableName: need('tableName'),
    queueUrl: need('queueUrl'),
    dlqUrl: need('dlqUrl'),
    bucket: need('bucket'),
    ...(outputs[OUTPUTS.topicArn] ? { topicArn: outputs[OUTPUTS.topicArn] } : {}),
    ...(outputs[OUTPUTS.configBucket] ? { configBucket: outputs[OUTPUTS.configBucket] } : {}),
  };
}

/** Clients for a resolved stack (the emulators' endpoints for the local one). */
export function clientsFor(r: StackResources): { dynamo: DynamoDBClient; sqs: SQSClient; s3: S3Client } {
  const common = { ...(r.region ? { region: r.region } : {}), ...(r.credentials ? { credentials: r.credentials } : {}) };
  return {
    dynamo: new DynamoDBClient({ ...common, ...(r.endpoints ? { endpoint: r.endpoints.dynamo } : {}) }),
    sqs: new SQSClient({ ...common, ...(r.endpoints ? { endpoint: r.endpoints.sqs } : {}) }),
    s3: new S3Client({
      ...common,
      ...(r.endpoints ? { endpoint: r.endpoints.s3, forcePathStyle: true } : {}),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
  };
}
