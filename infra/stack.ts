import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { SEVERITIES } from '../lambdas/core/rules/types.js';
import { Blocking } from './blocking.js';
import type { EnvironmentConfig } from './config.js';
import { EncryptedTopic, IngestQueue, LogBucket, alarmTo, functionWithOwnLogs } from './constructs.js';
import { DetectorConfigStore } from './detector-config.js';
import { Notifications, emailFilterPolicy } from './notify.js';

/** Props of the ProbeWatch stack: the environment's name and its validated settings. */
export interface ProbeWatchStackProps extends StackProps {
  envName: string;
  config: EnvironmentConfig;
}

const HANDLER = fileURLToPath(new URL('../lambdas/handlers/process-logs.ts', import.meta.url));

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
    const ingest = new IngestQueue(this, 'Ingest', { consumerTimeout: timeout, removalPolicy });
    // S3 may send to the queue only for a bucket of this account (the bucket ARN alone names no
    // account: a deleted bucket's name can be taken by anyone).
    ingest.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        principals: [new iam.ServicePrincipal('s3.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [ingest.queue.queueArn],
        conditions: { StringNotEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
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
    // CloudWatch alarms publish to the encrypted operations topic: only this stack's alarms
    // (named below with this prefix), in this account, so the service cannot be used as a deputy.
    const alarmPrefix = `ProbeWatch-${envName}-`;
    const fromOurAlarms = {
      StringEquals: { 'aws:SourceAccount': this.account },
      ArnLike: { 'aws:SourceArn': `arn:${this.partition}:cloudwatch:${this.region}:${this.account}:alarm:${alarmPrefix}*` },
    };
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromOurAlarms,
      }),
    );
    this.alertTopic = new EncryptedTopic(this, 'Alerts', { key, displayName: `ProbeWatch ${envName} alerts` }).topic;
    // With e-mail digests on, e-mail gets the immediate alerts and the digest only (see infra/notify.ts).
    const emailFilter = emailFilterPolicy(config.notifications);
    for (const email of config.alerts.emails)
      this.alertTopic.addSubscription(new subs.EmailSubscription(email, emailFilter ? { filterPolicy: emailFilter } : {}));
    for (const [i, s] of config.alerts.subscribers.entries()) {
      const allowlist = SEVERITIES.slice(SEVERITIES.indexOf(s.minSeverity));
      const filterPolicy = { severity: sns.SubscriptionFilter.stringFilter({ allowlist }) };
      if (s.protocol === 'https') this.alertTopic.addSubscription(new subs.UrlSubscription(s.endpoint, { filterPolicy }));
      else this.alertTopic.addSubscription(new subs.SqsSubscription(sqs.Queue.fromQueueArn(this, `Subscriber${i}`, s.endpoint), { filterPolicy }));
    }
    const opsTopic = new EncryptedTopic(this, 'Operations', { key, displayName: `ProbeWatch ${envName} operations` }).topic;
    // The topic policy replaces SNS's default one: allow the alarms explicitly, with the same conditions.
    opsTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [opsTopic.topicArn],
        conditions: fromOurAlarms,
      }),
    );
    for (const email of config.alerts.operationsEmails) opsTopic.addSubscription(new subs.EmailSubscription(email));
    // The detector configuration lives in S3 (no size limit, changeable without a redeploy).
    const detectorConfig = new DetectorConfigStore(this, 'DetectorConfig', {
      envName,
      detector: config.detector,
      removalPolicy,
      autoDeleteObjects: destroy,
      alarmTopic: opsTopic,
      alarmPrefix,
    });

    // ── the processor ─────────────────────────────────────────────────────────────────────
    this.fn = functionWithOwnLogs(this, {
      ids: { logs: 'ProcessorLogs', role: 'ProcessorServiceRole', fn: 'Processor' },
      roleDescription: `ProbeWatch ${envName}: the processor's role`,
      entry: HANDLER,
      memorySize: config.lambda.memoryMb,
      timeout,
      reservedConcurrentExecutions: config.lambda.reservedConcurrency,
      logRetentionDays: config.lambda.logRetentionDays,
      removalPolicy,
      description: `ProbeWatch ${envName}: classifies access logs and alerts on probing`,
      // Config flows one way: environment config → stack props → these variables (resource
      // references resolved at deploy time) → one validated runtime config at cold start.
      environment: {
        STATE_TABLE_NAME: this.table.tableName,
        ALERT_TOPIC_ARN: this.alertTopic.topicArn,
        ENVIRONMENT_NAME: envName,
        CONFIG_BUCKET: detectorConfig.bucket.bucketName,
        CONFIG_KEY: detectorConfig.key,
        CONFIG_REFRESH_SECONDS: String(config.lambda.configRefreshSeconds),
        LOG_FORMATS: JSON.stringify(config.logs.sources.filter((s) => s.format)),
        STATE_RETENTION_HOURS: String(config.stateRetentionHours),
        POWERTOOLS_SERVICE_NAME: 'probewatch',
        POWERTOOLS_METRICS_NAMESPACE: 'ProbeWatch',
        NODE_OPTIONS: '--enable-source-maps',
      },
    }).fn;
    // maxConcurrency: the queue starts no more invocations than the function may run (reserved
    // concurrency is at least this, checked in the config), so no batch is throttled and counted
    // as a receive towards the dead-letter queue.
    this.fn.addEventSource(
      // Large batches (up to the window) cost fewer DynamoDB writes: each flagged source is
      // written once per batch. ALB writes its objects every 5 minutes, so a window gathers them.
      new SqsEventSource(ingest.queue, {
        batchSize: config.lambda.batchSize,
        maxBatchingWindow: Duration.seconds(config.lambda.batchWindowSeconds),
        reportBatchItemFailures: true,
        maxConcurrency: config.lambda.maxConcurrency,
      }),
    );
    // Least privilege: read the objects the notifications announce (each source's prefix and
    // suffix) only, the five DynamoDB calls the state store makes, publish to the alert topic.
    iam.Grant.addToPrincipal({
      grantee: this.fn,
      actions: ['s3:GetObject'],
      resourceArns: config.logs.sources.map((s) => bucket.arnForObjects(objectPattern(s))),
    });
    this.table.grant(this.fn, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query');
    this.alertTopic.grantPublish(this.fn);
    detectorConfig.grantRead(this.fn);

    // Slack, webhooks and digests: a separate consumer of the alert topic.
    if (config.notifications) {
      new Notifications(this, 'Notifications', {
        envName,
        config: config.notifications,
        table: this.table,
        alertTopic: this.alertTopic,
        alarmTopic: opsTopic,
        alarmPrefix,
        removalPolicy,
        logRetentionDays: config.lambda.logRetentionDays,
      });
    }
    // ── optional: blocking of alerted sources in WAF IP sets, a consumer of the alert topic ──
    if (config.blocking.enabled)
      new Blocking(this, 'Blocking', { envName, config, table: this.table, alertTopic: this.alertTopic, opsTopic, alarmPrefix, removalPolicy });

    // ── alarms and dashboard ──────────────────────────────────────────────────────────────
    const alarm = (id: string, metric: cloudwatch.IMetric, threshold: number, description: string) =>
      alarmTo(this, id, { name: `${alarmPrefix}${id}`, metric, threshold, description, topic: opsTopic });
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
    new CfnOutput(this, 'IngestQueueUrl', { value: ingest.queue.queueUrl, description: 'Object notifications (probewatch backfill and replay-dlq send here)' });
    new CfnOutput(this, 'ConfigBucketName', {
      value: detectorConfig.bucket.bucketName,
      description: 'Holds detector.json (probewatch config push --env NAME FILE)',
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: ingest.deadLetters.queueUrl, description: 'Failed objects wait here (redrive them once fixed)' });

    this.acknowledgeFindings(bucket, config);
  }

  /** Findings that are accepted, each with its reason (cdk-nag AwsSolutions). */
  private acknowledgeFindings(bucket: s3.IBucket, config: EnvironmentConfig): void {
    const role = this.fn.role as iam.Role;
    for (const s of config.logs.sources) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bucket instanceof s3.Bucket ? `<${this.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>` : `arn:<AWS::Partition>:s3:::${bucket.bucketName}`}/${objectPattern(s)}]`,
        reason: `Reads the log objects matching the notification filter "${objectPattern(s)}" and nothing else; their keys are not known in advance.`,
      });
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: 'Publishing to a KMS-encrypted topic needs GenerateDataKey* on that one key (granted by grantPublish, scoped to the key).',
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
        reason:
          'CDK’s own helper that configures the S3 event notifications during deployments. CDK gives it AWS’s basic execution role, which may create and write to any log group of the account (Resource: *); CDK offers no way to give it a narrower one.',
      });
    }
  }
}

/** The object keys a log source's notification filter announces, as an IAM resource pattern. */
export function objectPattern(s: { prefix: string; suffix?: string }): string {
  return `${s.prefix}*${s.suffix ?? ''}`;
}
