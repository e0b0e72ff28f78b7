/**
 * Child process of the pipeline benchmark: drives the real handler from the local stack whose
 * endpoints are in the environment, in batches of BATCH objects (as the SQS event source hands
 * them over with a batching window), counts DynamoDB calls and the capacity DynamoDB Local
 * reports for each (ReturnConsumedCapacity: TOTAL), SNS publishes, and prints one JSON line with
 * the numbers, this process's CPU time and its peak RSS.
 */
import { readFileSync } from 'node:fs';
import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { dynamoItemSize } from '../lambdas/adapters/dynamodb-state-store.js';
import { makeHandler } from '../lambdas/handlers/process-logs.js';
import { CapturedMetrics, localHandlerDeps, pumpQueue } from '../lambdas/local/driver.js';
import type { LocalStack } from '../lambdas/local/stack.js';

const env = process.env;
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const region = 'us-east-1';
const BATCH = Number(env.BATCH ?? 10);
const counts: Record<string, number> = {};
const capacity = { write: 0, read: 0, refusedWrites: 0, byKind: {} as Record<string, number>, readsByCommand: {} as Record<string, number> };
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand', 'TransactWriteItemsCommand']);
const READS = new Set(['GetItemCommand', 'QueryCommand', 'ScanCommand', 'BatchGetItemCommand']);
type Capacity = { CapacityUnits?: number } | { CapacityUnits?: number }[] | undefined;
const units = (c: Capacity) => (Array.isArray(c) ? c : c ? [c] : []).reduce((n, x) => n + (x.CapacityUnits ?? 0), 0);
const count = (client: { middlewareStack: { add: (m: unknown, o: unknown) => void } }, measure: boolean) =>
  client.middlewareStack.add(
    (next: (a: unknown) => Promise<{ output: { ConsumedCapacity?: Capacity } }>, context: { commandName?: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        const name = context.commandName ?? '?';
        counts[name] = (counts[name] ?? 0) + 1;
        const write = WRITES.has(name);
        if (!measure || !(write || READS.has(name))) return next(args);
        args.input.ReturnConsumedCapacity = 'TOTAL';
        try {
          const r = await next(args);
          if (write) {
            const u = units(r.output.ConsumedCapacity);
            capacity.write += u;
            // By item kind: the sort key's prefix (W# windows, ALERT claims, OBJ) or the partition's.
            // Keys are plain strings before the document client marshalls them, { S } after.
            const key = (args.input.Key ?? args.input.Item) as Record<string, string | { S?: string }> | undefined;
            const str = (v: string | { S?: string } | undefined) => (typeof v === 'string' ? v : (v?.S ?? ''));
            const pk = str(key?.pk);
            const kind = `${name.replace('Command', '')} ${pk.startsWith('SRC#') ? str(key?.sk).replace(/#.*$/, '') : pk.replace(/#.*$/, '')}`;
            capacity.byKind[kind] = (capacity.byKind[kind] ?? 0) + u;
            capacity.byKind[`${kind} (writes)`] = (capacity.byKind[`${kind} (writes)`] ?? 0) + 1;
          } else {
            const u = units(r.output.ConsumedCapacity);
            capacity.read += u;
            const kind = name.replace('Command', '');
            capacity.readsByCommand[kind] = (capacity.readsByCommand[kind] ?? 0) + u;
            capacity.readsByCommand[`${kind} (reads)`] = (capacity.readsByCommand[`${kind} (reads)`] ?? 0) + 1;
          }
          return r;
        } catch (e) {
          // A refused conditional write is billed too (at least one unit); DynamoDB Local does
          // not report it, so it is counted at one unit, a lower bound.
          if (write && (e as Error).name === 'ConditionalCheckFailedException') {
            capacity.refusedWrites++;
            capacity.write += 1;
          }
          throw e;
        }
      },
    { step: 'initialize', name: 'countCommands' },
  );
const dynamo = new DynamoDBClient({ region, endpoint: env.DYNAMO, credentials });
const sns = new SNSClient({ region, endpoint: env.FAUXQS, credentials });
count(dynamo as never, true);
count(sns as never, false);
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

/**
 * Billed sizes of the source-hour items left in the table (read with a client that is not
 * counted): count, median, largest, how many are over 1 KB, and the mean bytes (name and value)
 * per item of each kind of attribute, to see what an hour item's write units pay for.
 */
async function hourItemSizes(): Promise<{ items: number; median: number; max: number; over1k: number; mean: Record<string, number> }> {
  const client = new DynamoDBClient({ region, endpoint: env.DYNAMO, credentials });
  const sizes: number[] = [];
  const byKind: Record<string, number> = {};
  let start: Record<string, AttributeValue> | undefined;
  do {
    const r = await client.send(new ScanCommand({ TableName: env.TABLE, ExclusiveStartKey: start }));
    for (const item of r.Items ?? []) {
      if (!item.sk?.S?.startsWith('W#')) continue;
      sizes.push(dynamoItemSize(item));
      for (const [k, v] of Object.entries(item)) {
        const kind = /^[de]./.test(k) && v.B ? 'buckets (e<marker>)' : /^(l|st)_/.test(k) ? k.replace(/_.*$/, '_*') : k;
        byKind[kind] = (byKind[kind] ?? 0) + dynamoItemSize({ [k]: v });
      }
    }
    start = r.LastEvaluatedKey;
  } while (start);
  sizes.sort((a, b) => a - b);
  const mean = Object.fromEntries(Object.entries(byKind).map(([k, n]) => [k, Math.round(n / Math.max(1, sizes.length))]));
  return {
    items: sizes.length,
    median: sizes[Math.floor(sizes.length / 2)] ?? 0,
    max: sizes[sizes.length - 1] ?? 0,
    over1k: sizes.filter((n) => n > 1024).length,
    mean,
  };
}

/**
 * This process's peak resident set in MB. On Linux from VmHWM: getrusage's maxRSS starts from
 * the parent's resident size at the fork (Linux keeps it over exec), and the parent here holds
 * the whole log and the emulators, so maxRSS reported about 310 MB whatever the handler used.
 */
function peakRssMb(): number {
  try {
    const hwm = /^VmHWM:\s*(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) / 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS / 1024;
}

// What the memory is made of at its highest: sampled while the handler runs.
const MB = 1024 * 1024;
let atPeak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sampler = setInterval(() => {
  // The resident size alone is cheap; the whole breakdown (which walks the heap's spaces) is
  // read only at a new peak, so that sampling adds no noticeable CPU time to what is measured.
  if (process.memoryUsage.rss() / MB <= atPeak.rss) return;
  const m = process.memoryUsage();
  if (m.rss / MB > atPeak.rss) {
    atPeak = { rss: m.rss / MB, heapTotal: m.heapTotal / MB, heapUsed: m.heapUsed / MB, external: m.external / MB, arrayBuffers: m.arrayBuffers / MB };
  }
}, 50);
const start = process.hrtime.bigint();
const cpuStart = process.cpuUsage();
// As the SQS event source hands them over: BATCH messages per invocation, failures retried and
// dead-lettered after 3 receives.
const pumped = await pumpQueue(stack, handler, { batchSize: BATCH });
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const cpu = process.cpuUsage(cpuStart);
clearInterval(sampler);
const hourItems = await hourItemSizes();
process.stdout.write(
  `${JSON.stringify({
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    cpuSystemSeconds: cpu.system / 1e6,
    pumped,
    lines: metrics.total('LinesRead'),
    objects: pumped.messages,
    alerts: metrics.total('AlertsPublished'),
    sourcesFlagged: metrics.total('SourcesFlagged'),
    commands: counts,
    capacity,
    hourItems,
    peakRssMb: peakRssMb(),
    atPeak,
  })}\n`,
);
