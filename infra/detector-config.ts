import { Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { DEFAULT_CONFIG_KEY } from '../lambdas/adapters/runtime-config.js';
import type { DetectorFile } from '../lambdas/core/config.js';
import { alarmTo } from './constructs.js';

/** Props of {@link DetectorConfigStore}. */
export interface DetectorConfigStoreProps {
  envName: string;
  /** The detector configuration from cdk.json (validated), written as `detector.json` at deploy. */
  detector: DetectorFile;
  removalPolicy: RemovalPolicy;
  /** Empty the bucket when the stack is destroyed (dev only). */
  autoDeleteObjects: boolean;
  /** Where the `ConfigRejected` alarm goes, and the alarm name's prefix (the topic's key policy allows only these alarms). */
  alarmTopic: sns.ITopic;
  alarmPrefix: string;
}

/**
 * The deployed detector configuration, outside the function's environment (no 4 KB limit): one
 * object, `detector.json`, in a small bucket (versioned, so every change is kept and can be
 * restored; SSE-S3; SSL only; no public access). A deployment writes it from cdk.json when that
 * changed; `probewatch config push` replaces it without a redeploy. The function reads it at
 * cold start and re-checks it; a version it rejects raises the `ConfigRejected` alarm.
 */
export class DetectorConfigStore extends Construct {
  readonly bucket: s3.Bucket;
  readonly key = DEFAULT_CONFIG_KEY;
  readonly rejectedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: DetectorConfigStoreProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Old versions are the history of the configuration: kept for 90 days after replacement.
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(90) }],
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: props.autoDeleteObjects,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Holds one small object, the detector configuration, written by deployments and `probewatch config push`. Versioning keeps every change (who changed it is in CloudTrail); server access logs would add a second bucket to record reads of one object by one function.',
    });
    const deployment = new s3deploy.BucketDeployment(this, 'Deploy', {
      destinationBucket: this.bucket,
      sources: [s3deploy.Source.jsonData(this.key, props.detector)],
      // Only this object: a deployment never deletes other objects (nor older versions).
      prune: false,
      retainOnDelete: !props.autoDeleteObjects,
      memoryLimit: 256,
    });
    this.acknowledgeDeploymentHelper(deployment);

    this.rejectedAlarm = alarmTo(this, 'Rejected', {
      name: `${props.alarmPrefix}ConfigRejected`,
      metric: new cloudwatch.Metric({
        namespace: 'ProbeWatch',
        metricName: 'ConfigRejected',
        dimensionsMap: { service: 'probewatch', environment: props.envName },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      description: `ProbeWatch ${props.envName}: a new detector configuration was rejected or could not be read; the processor keeps the last good one. See its log group for every problem, fix the file and push it again (probewatch config check FILE).`,
      topic: props.alarmTopic,
    });
  }

  /** Lets the function read the configuration object, nothing else of the bucket. */
  grantRead(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.bucket.arnForObjects(this.key)] });
  }

  /** CDK's own helper function behind BucketDeployment: what it is allowed, and why. */
  private acknowledgeDeploymentHelper(deployment: s3deploy.BucketDeployment): void {
    const stack = Stack.of(this);
    const bucketArn = `<${stack.getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket)}.Arn>`;
    const wildcards = [
      'Action::s3:GetBucket*',
      'Action::s3:GetObject*',
      'Action::s3:List*',
      'Action::s3:Abort*',
      'Action::s3:DeleteObject*',
      // The default bootstrap qualifier's assets bucket (`cdk bootstrap` without --qualifier).
      'Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*',
      `Resource::${bucketArn}/*`,
    ];
    for (const child of stack.node.children) {
      if (!child.node.id.startsWith('Custom::CDKBucketDeployment')) continue;
      Validations.of(child).acknowledge(
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason:
            'CDK’s own helper that copies detector.json into the config bucket during deployments. CDK gives it AWS’s basic execution role, which may create and write to any log group of the account (Resource: *); CDK offers no way to give it a narrower one.',
        },
        ...wildcards.map((w) => ({
          id: `AwsSolutions-IAM5[${w}]`,
          reason:
            'CDK’s deployment helper reads the staged asset from the CDK assets bucket (asset names are hashes) and writes the config bucket’s objects; CDK generates these grants (s3:GetObject*, GetBucket*, List*, DeleteObject*, Abort*) on those two buckets only and offers no narrower ones.',
        })),
        {
          id: 'AwsSolutions-L1',
          reason: 'CDK’s deployment helper runs on the runtime CDK chooses for it; this project cannot set it.',
        },
      );
    }
    void deployment;
  }
}
