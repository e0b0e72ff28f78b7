import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, type RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { CLOUDFRONT_REGION } from '../lambdas/core/blocking.js';
import { parseDetectorConfig } from '../lambdas/core/config.js';
import { SEVERITIES } from '../lambdas/core/rules/types.js';
import type { EnvironmentConfig } from './config.js';
import { IngestQueue, alarmTo, functionWithOwnLogs } from './constructs.js';

const ENTRY = fileURLToPath(new URL('../lambdas/handlers/block.ts', import.meta.url));

/** How often the sweeper takes ended blocks out of the sets. */
export const SWEEP_EVERY = Duration.minutes(5);
/**
 * The block function's timeout: a batch of 10 alerts, one after the other, each up to 6 rounds of
 * WAF calls with up to 3 s of back-off in all (about 5 s at worst): 50 s, doubled for slow calls.
 */
export const BLOCK_TIMEOUT = Duration.seconds(120);
/** Invocations the block queue starts at once: both write the same two sets, so few (SQS's minimum is 2). */
export const BLOCK_MAX_CONCURRENCY = 2;

/** Props of {@link Blocking}. */
export interface BlockingProps {
  envName: string;
  config: EnvironmentConfig;
  table: dynamodb.Table;
  alertTopic: sns.ITopic;
  /** Where its alarms go. */
  opsTopic: sns.ITopic;
  /** Alarm names start with this (the operations topic's key accepts only these alarms). */
  alarmPrefix: string;
  removalPolicy: RemovalPolicy;
}

/**
 * Optional blocking of alerted sources, a consumer of the alert topic beside the others (the log
 * processor does not know it exists): the topic → an SQS queue (raw delivery, filtered on severity;
 * dead-letter queue after 3 receives) → the block function, which records each block in the state
 * table and adds its range to a WAF IP set (IPv4 or IPv6); a scheduled sweeper takes ended blocks
 * out again. The pair of IP sets is created here, or existing ones are used by ARN.
 */
export class Blocking extends Construct {
  readonly queue: IngestQueue;
  readonly blockFn: NodejsFunction;
  readonly sweepFn: NodejsFunction;
  readonly ipSetArns: { v4: string; v6: string };

  constructor(scope: Construct, id: string, props: BlockingProps) {
    super(scope, id);
    const { envName, config, removalPolicy } = props;
    const b = config.blocking;
    const stack = Stack.of(this);

    // ── the IP sets ───────────────────────────────────────────────────────────────────────
    const owned = !b.ipSetArns;
    if (b.ipSetArns) {
      this.ipSetArns = { ...b.ipSetArns };
    } else {
      // A CLOUDFRONT set is a global resource that CloudFormation can create only in us-east-1.
      const region = Token.isUnresolved(stack.region) ? config.region : stack.region;
      if (b.scope === 'CLOUDFRONT' && region !== CLOUDFRONT_REGION) {
        throw new Error(
          `environments.${envName}.blocking.scope is CLOUDFRONT: CloudFront's WAF IP sets exist only in ${CLOUDFRONT_REGION}, so set environments.${envName}.region to "${CLOUDFRONT_REGION}" (got ${region ? `"${region}"` : 'no region'}), or give existing sets in blocking.ipSetArns`,
        );
      }
      const set = (v: 'v4' | 'v6') => {
        const s = new wafv2.CfnIPSet(this, `IpSet${v.toUpperCase()}`, {
          name: `probewatch-${envName}-blocked-${v}`,
          description: `ProbeWatch ${envName}: sources blocked for a while, managed by ProbeWatch. Entries added by hand are removed.`,
          scope: b.scope,
          ipAddressVersion: v === 'v4' ? 'IPV4' : 'IPV6',
          addresses: [],
        });
        s.applyRemovalPolicy(removalPolicy);
        return s.attrArn;
      };
      this.ipSetArns = { v4: set('v4'), v6: set('v6') };
    }

    // ── the queue, fed by the alert topic ─────────────────────────────────────────────────
    this.queue = new IngestQueue(this, 'Queue', { consumerTimeout: BLOCK_TIMEOUT, removalPolicy });
    const allowlist = SEVERITIES.slice(SEVERITIES.indexOf(b.minSeverity));
    // Raw delivery: the message body is the alert document itself (the topic's `sqs` member).
    props.alertTopic.addSubscription(
      new subs.SqsSubscription(this.queue.queue, {
        rawMessageDelivery: true,
        filterPolicy: { severity: sns.SubscriptionFilter.stringFilter({ allowlist }) },
      }),
    );

    // ── the functions ─────────────────────────────────────────────────────────────────────
    const detector = parseDetectorConfig(config.detector, `environments.${envName}.detector`);
    const environment = {
      STATE_TABLE_NAME: props.table.tableName,
      ENVIRONMENT_NAME: envName,
      BLOCK_DRY_RUN: String(b.dryRun),
      BLOCK_MAX_ENTRIES: String(b.maxEntries),
      // The alert's suggested block time is the detector's blockHours (quoted in every alert).
      BLOCK_HOURS: String(b.durationHours ?? detector.blockHours),
      BLOCK_MIN_SEVERITY: b.minSeverity,
      BLOCK_ALLOWLIST: JSON.stringify(detector.allowlist.cidrs),
      BLOCK_TRUSTED_PROXIES: JSON.stringify(detector.trustedProxies),
      IP_SET_V4_ARN: this.ipSetArns.v4,
      IP_SET_V6_ARN: this.ipSetArns.v6,
      IP_SETS_OWNED: String(owned),
      POWERTOOLS_SERVICE_NAME: 'probewatch',
      POWERTOOLS_METRICS_NAMESPACE: 'ProbeWatch',
      NODE_OPTIONS: '--enable-source-maps',
    };
    const fn = (name: 'Blocker' | 'Sweeper', handler: string, timeout: Duration, description: string) => {
      const f = functionWithOwnLogs(this, {
        ids: { logs: `${name}Logs`, role: `${name}Role`, fn: name },
        roleDescription: `ProbeWatch ${envName}: the ${name.toLowerCase()}'s role`,
        entry: ENTRY,
        handler,
        memorySize: 256,
        timeout,
        logRetentionDays: config.lambda.logRetentionDays,
        removalPolicy,
        description,
        environment,
      }).fn;
      Validations.of(f).acknowledge({
        id: 'AwsSolutions-L1',
        reason: 'The project targets Node.js 22 on Lambda (ARM64), the runtime its dependencies are tested on.',
      });
      // Read and rewrite these two IP sets, nothing else in WAF.
      iam.Grant.addToPrincipal({ grantee: f, actions: ['wafv2:GetIPSet', 'wafv2:UpdateIPSet'], resourceArns: [this.ipSetArns.v4, this.ipSetArns.v6] });
      return f;
    };
    this.blockFn = fn('Blocker', 'handler', BLOCK_TIMEOUT, `ProbeWatch ${envName}: blocks alerted sources in WAF for a while`);
    this.blockFn.addEventSource(new SqsEventSource(this.queue.queue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: BLOCK_MAX_CONCURRENCY }));
    // Writes block and refusal records; withdraws its own record when the set is full.
    props.table.grant(this.blockFn, 'dynamodb:PutItem', 'dynamodb:DeleteItem');

    this.sweepFn = fn('Sweeper', 'sweep', Duration.seconds(120), `ProbeWatch ${envName}: takes ended blocks out of WAF`);
    props.table.grant(this.sweepFn, 'dynamodb:Query', 'dynamodb:DeleteItem');
    new events.Rule(this, 'SweepSchedule', {
      description: `ProbeWatch ${envName}: sweeps ended blocks out of the WAF IP sets`,
      schedule: events.Schedule.rate(SWEEP_EVERY),
      targets: [new targets.LambdaFunction(this.sweepFn, { retryAttempts: 2 })],
    });

    // ── alarms ────────────────────────────────────────────────────────────────────────────
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) =>
      alarmTo(this, id, { name: `${props.alarmPrefix}${id}`, metric, description, topic: props.opsTopic });
    alarm('BlockerErrors', this.blockFn.metricErrors({ period: Duration.minutes(5) }), `ProbeWatch ${envName}: the blocker failed; see its log group`);
    alarm(
      'BlockDeadLetters',
      this.queue.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      `ProbeWatch ${envName}: alerts failed to block 3 times and wait in the blocker's dead-letter queue (their records stay; the sweeper adds them to WAF)`,
    );
    alarm(
      'SweeperErrors',
      this.sweepFn.metricErrors({ period: Duration.minutes(15) }),
      `ProbeWatch ${envName}: the sweeper failed; ended blocks stay in WAF until it succeeds`,
    );

    new CfnOutput(stack, 'BlockIpSetV4Arn', { value: this.ipSetArns.v4, description: 'Blocked IPv4 sources: reference it in a block rule of your web ACL' });
    new CfnOutput(stack, 'BlockIpSetV6Arn', { value: this.ipSetArns.v6, description: 'Blocked IPv6 ranges: reference it in a block rule of your web ACL' });
    new CfnOutput(stack, 'BlockDeadLetterQueueUrl', { value: this.queue.deadLetters.queueUrl, description: 'Alerts the blocker failed on' });
  }
}
