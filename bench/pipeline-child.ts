/**
 * Child process of the pipeline benchmark: drives the real handler from the local stack whose
 * endpoints are in the environment, counts DynamoDB writes and SNS publishes on the wire, and
 * prints one JSON line with the numbers and this process's peak RSS.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { makeHandler } from '../lambdas/handlers/process-logs.js';
import { CapturedMetrics, localHandlerDeps, pumpQueue } from '../lambdas/local/driver.js';
import type { LocalStack } from '../lambdas/local/stack.js';

const env = process.env;
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const region = 'us-east-1';
const counts: Record<string, number> = {};
const count = (client: { middlewareStack: { add: (m: unknown, o: unknown) => void } }) =>
  client.middlewareStack.add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      counts[context.commandName ?? '?'] = (counts[context.commandName ?? '?'] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
const dynamo = new DynamoDBClient({ region, endpoint: env.DYNAMO, credentials });
const sns = new SNSClient({ region, endpoint: env.FAUXQS, credentials });
count(dynamo as never);
count(sns as never);
const stack = {
  region,
  bucket: env.BUCKET,
  tableName: env.TABLE,
  queueUrl: env.QUEUE,
  dlqUrl: env.DLQ,
  topicArn: env.TOPIC,
  s3: new S3Client({
    region,
    endpoint: env.S3,
    credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  }),
  sqs: new SQSClient({ region, endpoint: env.FAUXQS, credentials }),
  dynamo,
  sns,
  settled: async () => {},
} as unknown as LocalStack;

const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
// The stack object carries the counting clients; localHandlerDeps builds the store and the
// publisher on them.
const handler = makeHandler(localHandlerDeps(stack, { metrics }));
const start = process.hrtime.bigint();
const pumped = await pumpQueue(stack, handler);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
process.stdout.write(
  `${JSON.stringify({
    seconds,
    pumped,
    lines: metrics.total('LinesRead'),
    objects: pumped.messages,
    alerts: metrics.total('AlertsPublished'),
    sourcesFlagged: metrics.total('SourcesFlagged'),
    commands: counts,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  })}\n`,
);
