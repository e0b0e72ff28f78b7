import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Props of {@link LogBucket}. */
export interface LogBucketProps {
  /** Days after which log objects expire. */
  expireAfterDays: number;
  removalPolicy: RemovalPolicy;
  /** Empty the buckets when the stack is destroyed (dev only). @default false */
  autoDeleteObjects?: boolean;
}

/**
 * A new bucket for access logs with secure defaults: no public access, SSL only, SSE-S3
 * encryption (S3 event notifications and the load balancers that write here need no key
 * grants), a lifecycle expiry, and its own server access logs in a second bucket.
 */
export class LogBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: LogBucketProps) {
    super(scope, id);
    if (!Number.isInteger(props.expireAfterDays) || props.expireAfterDays < 1)
      throw new Error(`LogBucket: expireAfterDays must be a whole number ≥ 1 (got ${props.expireAfterDays})`);
    const common = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: props.autoDeleteObjects ?? false,
    };
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...common,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(props.expireAfterDays) }],
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the server access logs of the log bucket; logging it in turn would recurse.',
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...common,
      lifecycleRules: [{ expiration: Duration.days(props.expireAfterDays), abortIncompleteMultipartUploadAfter: Duration.days(7) }],
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'log-bucket/',
    });
  }
}

/** Props of {@link IngestQueue}. */
export interface IngestQueueProps {
  /** The consumer's timeout: the visibility timeout is six times this (AWS's guidance for Lambda). */
  consumerTimeout: Duration;
  /** Receives before a message goes to the dead-letter queue. @default 3 */
  maxReceiveCount?: number;
  /**
   * What `cdk destroy` does with both queues: the dead-letter queue holds the only record of
   * what failed, the queue what is not processed yet. @default RemovalPolicy.RETAIN
   */
  removalPolicy?: RemovalPolicy;
}

/** An SQS queue with a dead-letter queue, both encrypted (SSE-SQS) and SSL-only. */
export class IngestQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: IngestQueueProps) {
    super(scope, id);
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    Validations.of(this.deadLetters).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue.' });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: props.maxReceiveCount ?? 3 },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }
}

/** An SNS topic encrypted with a customer-managed key (rotated), SSL-only publishing. */
export class EncryptedTopic extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: { key: kms.IKey; displayName: string }) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { masterKey: props.key, enforceSSL: true, displayName: props.displayName });
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Props of {@link functionWithOwnLogs}. */
export interface FunctionProps {
  /** Construct ids of the log group, the role and the function (kept stable: they name resources). */
  ids: { logs: string; role: string; fn: string };
  /** What the role is for, e.g. "the processor's role". */
  roleDescription: string;
  /** The handler's TypeScript file. */
  entry: string;
  handler?: string;
  memorySize: number;
  timeout: Duration;
  description: string;
  environment: Record<string, string>;
  logRetentionDays: number;
  removalPolicy: RemovalPolicy;
  reservedConcurrentExecutions?: number;
}

/**
 * An alarm as every ProbeWatch alarm is made: it notifies `topic` once `metric` reaches
 * `threshold` (1 unless given) in one period, and a metric with no data is no alarm.
 */
export function alarmTo(
  scope: Construct,
  id: string,
  props: { name: string; metric: cloudwatch.IMetric; description: string; topic: sns.ITopic; threshold?: number },
): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmName: props.name,
    metric: props.metric,
    threshold: props.threshold ?? 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: props.description,
  });
  alarm.addAlarmAction(new cwActions.SnsAction(props.topic));
  return alarm;
}

/**
 * A function as every ProbeWatch function is built: ARM64, Node.js 22, bundled by the local esbuild
 * (no Docker), minified with source maps, with its own log group and its own role that writes to
 * that log group only (instead of AWS's basic execution role, which may write to every log group
 * of the account).
 */
export function functionWithOwnLogs(scope: Construct, props: FunctionProps): { fn: NodejsFunction; role: iam.Role } {
  const logGroup = new logs.LogGroup(scope, props.ids.logs, { retention: props.logRetentionDays as logs.RetentionDays, removalPolicy: props.removalPolicy });
  const role = new iam.Role(scope, props.ids.role, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: props.roleDescription });
  logGroup.grantWrite(role);
  const fn = new NodejsFunction(scope, props.ids.fn, {
    role,
    entry: props.entry,
    handler: props.handler ?? 'handler',
    projectRoot: ROOT,
    depsLockFilePath: `${ROOT}package-lock.json`,
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySize,
    timeout: props.timeout,
    ...(props.reservedConcurrentExecutions ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions } : {}),
    logGroup,
    description: props.description,
    bundling: { minify: true, sourceMap: true, target: 'node22', forceDockerBundling: false },
    environment: props.environment,
  });
  return { fn, role };
}
