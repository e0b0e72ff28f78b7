import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { SEVERITIES } from '../lambdas/core/rules/types.js';
import type { EnvironmentConfig } from './config.js';
import { EncryptedTopic, IngestQueue, LogBucket } from './constructs.js';

/** Props of the ProbeWatch stack: the environment's name and its validated settings. */
export interface ProbeWatchStackProps extends StackProps {
  envName: string;
  config: EnvironmentConfig;
}

const HANDLER = fileURLToPath(new URL('../lambdas/handlers/process-logs.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * One ProbeWatch deployment: the log bucket (new or existing) notifies an SQS queue (with a
 * dead-letter queue), which feeds the processing Lambda; state in DynamoDB; alerts on an
 * encrypted SNS topic; alarms on an operations topic; a dashboard.
 */
export class ProbeWatchStack extends Stack {
  readonly bucket: s3.IBucket;
  readonly table: dynamodb.Table;
  readonly alertTopic: sns.Topic;
  readonly fn: NodejsFunction;

  constructor(scope: Construct, id: string, props: ProbeWatchStackProps) {
    super(scope, id, props);
    const { config, envName } = props;
    const destroy = config.removalPolicy === 'destroy';
    const removalPolicy = destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    // ── log source ────────────────────────────────────────────────────────────────────────
    let bucket: s3.IBucket;
    if (config.logs.existingBucketName) {
      bucket = s3.Bucket.fromBucketName(this, 'LogBucket', config.logs.existingBucketName);
    } else {
      bucket = new LogBucket(this, 'Logs', { expireAfterDays: config.logs.expireAfterDays, removalPolicy, autoDeleteObjects: destroy }).bucket;
    }
    this.bucket = bucket;

    // ── queue, state, topics ──────────────────────────────────────────────────────────────
    const timeout = Duration.seconds(config.lambda.timeoutSeconds);
    const ingest = new IngestQueue(this, 'Ingest', { consumerTimeout: timeout });
    for (const source of config.logs.sources) {
      const filter: s3.NotificationKeyFilter = {
        ...(source.prefix ? { prefix: source.prefix } : {}),
        ...(source.suffix ? { suffix: source.suffix } : {}),
      };
      bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.SqsDestination(ingest.queue), filter);
    }

    this.table = new dynamodb.Table(this, 'StateTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
      deletionProtection: !destroy,
    });
    // Stateful: the logical id must never change with refactoring.
    (this.table.node.defaultChild as dynamodb.CfnTable).overrideLogicalId('StateTable');

    const key = new kms.Key(this, 'TopicKey', {
      enableKeyRotation: true,
      description: `ProbeWatch ${envName}: encrypts the alert and operations topics`,
      removalPolicy,
    });
    // CloudWatch alarms publish to the encrypted operations topic.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.alertTopic = new EncryptedTopic(this, 'Alerts', { key, displayName: `ProbeWatch ${envName} alerts` }).topic;
    for (const email of config.alerts.emails) this.alertTopic.addSubscription(new subs.EmailSubscription(email));
    for (const [i, s] of config.alerts.subscribers.entries()) {
      const allowlist = SEVERITIES.slice(SEVERITIES.indexOf(s.minSeverity));
      const filterPolicy = { severity: sns.SubscriptionFilter.stringFilter({ allowlist }) };
      if (s.protocol === 'https') this.alertTopic.addSubscription(new subs.UrlSubscription(s.endpoint, { filterPolicy }));
      else this.alertTopic.addSubscription(new subs.SqsSubscription(sqs.Queue.fromQueueArn(this, `Subscriber${i}`, s.endpoint), { filterPolicy }));
    }
    const opsTopic = new EncryptedTopic(this, 'Operations', { key, displayName: `ProbeWatch ${envName} operations` }).topic;
    for (const email of config.alerts.operationsEmails) opsTopic.addSubscription(new subs.EmailSubscription(email));

    // ── the processor ─────────────────────────────────────────────────────────────────────
    const logGroup = new logs.LogGroup(this, 'ProcessorLogs', {
      retention: config.lambda.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    this.fn = new NodejsFunction(this, 'Processor', {
      entry: HANDLER,
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: `${ROOT}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: config.lambda.memoryMb,
      timeout,
      ...(config.lambda.reservedConcurrency ? { reservedConcurrentExecutions: config.lambda.reservedConcurrency } : {}),
      logGroup,
      description: `ProbeWatch ${envName}: classifies access logs and alerts on probing`,
      bundling: { minify: true, sourceMap: true, target: 'node22', forceDockerBundling: false },
      // Config flows one way: environment config → stack props → these variables (resource
      // references resolved at deploy time) → one validated runtime config at cold start.
      environment: {
        STATE_TABLE_NAME: this.table.tableName,
        ALERT_TOPIC_ARN: this.alertTopic.topicArn,
        ENVIRONMENT_NAME: envName,
        DETECTOR_CONFIG: JSON.stringify(config.detector),
        LOG_FORMATS: JSON.stringify(config.logs.sources.filter((s) => s.format)),
        STATE_RETENTION_HOURS: String(config.stateRetentionHours),
        POWERTOOLS_SERVICE_NAME: 'probewatch',
        POWERTOOLS_METRICS_NAMESPACE: 'ProbeWatch',
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    this.fn.addEventSource(new SqsEventSource(ingest.queue, { batchSize: 10, maxBatchingWindow: Duration.seconds(5), reportBatchItemFailures: true }));
    // Least privilege: read objects under the configured prefixes only, the four DynamoDB calls
    // the state store makes, publish to the alert topic.
    iam.Grant.addToPrincipal({
      grantee: this.fn,
      actions: ['s3:GetObject'],
      resourceArns: config.logs.sources.map((s) => bucket.arnForObjects(`${s.prefix}*`)),
    });
    this.table.grant(this.fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query');
    this.alertTopic.grantPublish(this.fn);

    // ── alarms and dashboard ──────────────────────────────────────────────────────────────
    const alarm = (id: string, metric: cloudwatch.IMetric, threshold: number, description: string) => {
      const a = new cloudwatch.Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      a.addAlarmAction(new cwActions.SnsAction(opsTopic));
      return a;
    };
    alarm('ProcessorErrors', this.fn.metricErrors({ period: Duration.minutes(5) }), 1, `ProbeWatch ${envName}: the processor failed; see its log group`);
    alarm(
      'DeadLetters',
      ingest.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      1,
      `ProbeWatch ${envName}: log objects failed 3 times and wait in the dead-letter queue; fix the cause, then redrive them`,
    );
    alarm(
      'OldestMessage',
      ingest.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: 'Maximum' }),
      1800,
      `ProbeWatch ${envName}: log objects wait more than 30 minutes; alerts are late`,
    );
    const custom = (metricName: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'ProbeWatch',
        metricName,
        dimensionsMap: { service: 'probewatch', environment: envName },
        statistic: 'Sum',
        period: Duration.minutes(5),
        label,
      });
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `ProbeWatch-${envName}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Lines',
            left: [custom('LinesRead', 'read'), custom('LinesParsed', 'parsed'), custom('LinesSkipped', 'skipped')],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Sources flagged and alerts',
            left: [custom('SourcesFlagged', 'sources flagged'), custom('AlertsPublished', 'alerts published')],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Processor duration',
            left: [this.fn.metricDuration({ statistic: 'p50' }), this.fn.metricDuration({ statistic: 'Maximum' })],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Objects skipped or failed',
            left: [custom('ObjectsSkipped', 'skipped'), custom('ObjectsFailed', 'failed')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Dead-letter queue depth',
            left: [ingest.deadLetters.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' })],
            width: 8,
          }),
        ],
      ],
    });

    new CfnOutput(this, 'LogBucketName', { value: bucket.bucketName, description: 'Send or copy access logs here' });
    new CfnOutput(this, 'AlertTopicArn', { value: this.alertTopic.topicArn });
    new CfnOutput(this, 'StateTableName', { value: this.table.tableName });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: ingest.deadLetters.queueUrl, description: 'Failed objects wait here (redrive them once fixed)' });

    this.acknowledgeFindings(bucket, config);
  }

  /** Findings that are accepted, each with its reason (cdk-nag AwsSolutions). */
  private acknowledgeFindings(bucket: s3.IBucket, config: EnvironmentConfig): void {
    const role = this.fn.role as iam.Role;
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The managed basic execution role only lets the function write its own CloudWatch logs.',
    });
    for (const s of config.logs.sources) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bucket instanceof s3.Bucket ? `<${this.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>` : `arn:<AWS::Partition>:s3:::${bucket.bucketName}`}/${s.prefix}*]`,
        reason: `Reads the log objects under the configured prefix "${s.prefix}" and nothing else; their keys are not known in advance.`,
      });
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: 'Publishing to a KMS-encrypted topic needs GenerateDataKey* on that one key (granted by grantPublish).',
    });
    Validations.of(this.fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'The project targets Node.js 22 on Lambda (ARM64), the runtime its dependencies are tested on.',
    });
    // CDK's own singleton Lambda that configures the bucket notifications.
    for (const child of this.node.children) {
      if (!child.node.id.startsWith('BucketNotificationsHandler')) continue;
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'CDK’s own helper that configures the S3 event notifications; its managed policy only lets it write its logs.',
      });
    }
  }
}
