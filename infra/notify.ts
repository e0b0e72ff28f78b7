import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { type Channel, DEFAULT_MAX_RECEIVES } from '../lambdas/core/notify.js';
import { SEVERITIES } from '../lambdas/core/rules/types.js';
import { IngestQueue, alarmTo, functionWithOwnLogs } from './constructs.js';
import type { NotificationsConfig } from './notify-config.js';

const HANDLER = fileURLToPath(new URL('../lambdas/handlers/notify.ts', import.meta.url));

/** The notify function's timeout: a batch of 5 alerts, each channel tried 4 times with back-off, fits well within it. */
export const NOTIFY_TIMEOUT_SECONDS = 120;
/** Alerts per invocation: few, since each may wait for back-offs. */
export const NOTIFY_BATCH_SIZE = 5;
/** Invocations the alert queue starts at once: alerts are rare; Slack and receivers rate-limit. */
export const NOTIFY_MAX_CONCURRENCY = 2;

/** Props of {@link Notifications}. */
export interface NotificationsProps {
  envName: string;
  config: NotificationsConfig;
  /** The state table: delivery records and digest queues live there. */
  table: dynamodb.ITable;
  /** The alert topic: its alerts are consumed, and the e-mail digest is published to it. */
  alertTopic: sns.ITopic;
  /** Where the alarms go (the operations topic), named with `alarmPrefix`. */
  alarmTopic: sns.ITopic;
  alarmPrefix: string;
  removalPolicy: RemovalPolicy;
  logRetentionDays: number;
}

/** The channels the function is configured with, from the environment's settings. */
export function channelsOf(config: NotificationsConfig): Channel[] {
  const channels: Channel[] = [];
  if (config.slack) {
    channels.push({
      id: 'slack',
      kind: 'slack',
      urlSecretName: config.slack.webhookSecretName,
      minSeverity: config.slack.minSeverity,
      ...(config.slack.digestMinutes ? { digestMinutes: config.slack.digestMinutes } : {}),
    });
  }
  for (const w of config.webhooks ?? []) {
    channels.push({
      id: `webhook:${w.name}`,
      kind: 'webhook',
      urlSecretName: w.urlSecretName,
      ...(w.signingSecretName ? { signingSecretName: w.signingSecretName } : {}),
      minSeverity: w.minSeverity,
      ...(w.digestMinutes ? { digestMinutes: w.digestMinutes } : {}),
    });
  }
  if (config.emailDigestMinutes) channels.push({ id: 'email', kind: 'email', minSeverity: 'info', digestMinutes: config.emailDigestMinutes });
  return channels;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The e-mail subscriptions' filter when e-mail digests are on: alerts at or above the immediate
 * severity, and the digest (published with `severity: digest`). Undefined: every alert.
 */
export function emailFilterPolicy(config: NotificationsConfig | undefined): Record<string, sns.SubscriptionFilter> | undefined {
  if (!config?.emailDigestMinutes) return undefined;
  const immediate = SEVERITIES.slice(SEVERITIES.indexOf(config.immediateSeverity));
  return { severity: sns.SubscriptionFilter.stringFilter({ allowlist: [...immediate, 'digest'] }) };
}

/**
 * Delivery of alerts to Slack and webhooks, and digests: a separate consumer of the alert topic,
 * so the log processor is untouched. The topic feeds an SQS queue (raw delivery, encrypted,
 * SSL-only, with a dead-letter queue) that feeds the notify function; a schedule runs the same
 * function for the digests. Webhook URLs and signing keys are read from Secrets Manager.
 */
export class Notifications extends Construct {
  readonly fn: NodejsFunction;
  readonly queue: IngestQueue;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const { config, envName } = props;
    const channels = channelsOf(config);
    if (channels.length === 0) throw new Error(`environments.${envName}.notifications: configure slack, webhooks or emailDigestMinutes (or leave it out)`);
    const timeout = Duration.seconds(NOTIFY_TIMEOUT_SECONDS);

    // The handler dead-letters an alert itself after DEFAULT_MAX_RECEIVES receives, with the
    // failed channels in its attributes; the redrive policy (one more) catches what it could not.
    this.queue = new IngestQueue(this, 'Alerts', { consumerTimeout: timeout, maxReceiveCount: DEFAULT_MAX_RECEIVES + 1, removalPolicy: props.removalPolicy });
    // Raw delivery: the message is the alert document itself. The filter admits real severities
    // only, so the e-mail digest published to the same topic (severity "digest") never comes back.
    props.alertTopic.addSubscription(
      new subs.SqsSubscription(this.queue.queue, {
        rawMessageDelivery: true,
        filterPolicy: { severity: sns.SubscriptionFilter.stringFilter({ allowlist: [...SEVERITIES] }) },
      }),
    );

    this.fn = functionWithOwnLogs(this, {
      ids: { logs: 'Logs', role: 'ServiceRole', fn: 'Function' },
      roleDescription: `ProbeWatch ${envName}: the notifier's role`,
      entry: HANDLER,
      memorySize: 256,
      timeout,
      logRetentionDays: props.logRetentionDays,
      removalPolicy: props.removalPolicy,
      description: `ProbeWatch ${envName}: delivers alerts to Slack and webhooks, and sends digests`,
      environment: {
        STATE_TABLE_NAME: props.table.tableName,
        ENVIRONMENT_NAME: envName,
        NOTIFY_CHANNELS: JSON.stringify(channels),
        IMMEDIATE_SEVERITY: config.immediateSeverity,
        DEAD_LETTER_QUEUE_URL: this.queue.deadLetters.queueUrl,
        MAX_RECEIVES: String(DEFAULT_MAX_RECEIVES),
        ...(config.emailDigestMinutes ? { ALERT_TOPIC_ARN: props.alertTopic.topicArn } : {}),
        POWERTOOLS_SERVICE_NAME: 'probewatch-notify',
        POWERTOOLS_METRICS_NAMESPACE: 'ProbeWatch',
        NODE_OPTIONS: '--enable-source-maps',
      },
    }).fn;
    this.fn.addEventSource(
      new SqsEventSource(this.queue.queue, {
        batchSize: NOTIFY_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: NOTIFY_MAX_CONCURRENCY,
      }),
    );

    // Digests: the same function on a schedule, as often as the shortest common interval allows.
    const digestMinutes = channels.flatMap((c) => (c.digestMinutes ? [c.digestMinutes] : []));
    if (digestMinutes.length) {
      const every = digestMinutes.reduce(gcd);
      new events.Rule(this, 'DigestSchedule', {
        description: `ProbeWatch ${envName}: sends the notification digests that are due`,
        schedule: events.Schedule.rate(Duration.minutes(every)),
        targets: [new targets.LambdaFunction(this.fn, { retryAttempts: 0 })],
      });
    }

    // Least privilege: the five DynamoDB calls of the notify store on the table, the named
    // secrets only, sending to its own dead-letter queue, and publishing the e-mail digest.
    props.table.grant(
      this.fn,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:Query',
      'dynamodb:BatchWriteItem',
    );
    const secretNames = [...new Set(channels.flatMap((c) => [c.urlSecretName, c.signingSecretName].filter((n): n is string => n !== undefined)))];
    for (const [i, name] of secretNames.entries()) secretsmanager.Secret.fromSecretNameV2(this, `Secret${i}`, name).grantRead(this.fn);
    this.queue.deadLetters.grantSendMessages(this.fn);
    if (config.emailDigestMinutes) {
      props.alertTopic.grantPublish(this.fn);
      Validations.of(this.fn.role as iam.Role).acknowledge({
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason:
          'Publishing the e-mail digest to the KMS-encrypted alert topic needs GenerateDataKey* on that one key (granted by grantPublish, scoped to the key).',
      });
    }

    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) =>
      alarmTo(this, id, { name: `${props.alarmPrefix}${id}`, metric, description, topic: props.alarmTopic });
    alarm(
      'NotifyErrors',
      this.fn.metricErrors({ period: Duration.minutes(5) }),
      `ProbeWatch ${envName}: a notification or digest failed; see the notifier's log group`,
    );
    alarm(
      'NotifyDeadLetters',
      this.queue.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      `ProbeWatch ${envName}: alerts could not be delivered to a channel; their messages name the channels and the error; fix it, then redrive them`,
    );
    new CfnOutput(Stack.of(this), 'NotifyDeadLetterQueueUrl', {
      value: this.queue.deadLetters.queueUrl,
      description: 'Alerts that could not be delivered to Slack or a webhook (redrive them once fixed)',
    });

    Validations.of(this.fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'The project targets Node.js 22 on Lambda (ARM64), the runtime its dependencies are tested on.',
    });
  }
}
