/**
 * The handler path on the local stack: the benchmark log split into ALB-sized gzip objects,
 * uploaded to s3rver (S3 → SQS notifications), then processed by the real handler in a child
 * process. Prints objects/s, lines/s, DynamoDB writes and SNS publishes per million lines, and
 * the handler's peak RSS.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startLocalStack } from '../lambdas/local/stack.js';

/** Runs the pipeline benchmark over `plainPath`, `linesPerObject` lines per object. */
export async function benchPipeline(plainPath: string, linesPerObject: number): Promise<void> {
  const lines = readFileSync(plainPath, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const stack = await startLocalStack();
  try {
    let objects = 0;
    for (let i = 0; i < lines.length; i += linesPerObject) {
      // ALB names: one object per load-balancer node per 5 minutes.
      const key = `AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/03/01/obj-${String(objects).padStart(5, '0')}.log.gz`;
      await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: gzipSync(`${lines.slice(i, i + linesPerObject).join('\n')}\n`) }));
      objects++;
    }
    await stack.settled();
    // Asynchronously: the emulators live in this process and must keep answering the child.
    const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', 'bench/pipeline-child.ts'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        S3: stack.endpoints.s3,
        DYNAMO: stack.endpoints.dynamo,
        FAUXQS: stack.endpoints.fauxqs,
        BUCKET: stack.bucket,
        TABLE: stack.tableName,
        QUEUE: stack.queueUrl,
        DLQ: stack.dlqUrl,
        TOPIC: stack.topicArn,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`handler process failed (${code}): ${stderr}`);
    const r = JSON.parse(stdout.trim().split('\n').pop() as string);
    const perMillion = (n: number) => ((n / r.lines) * 1e6).toFixed(0);
    const writes = (r.commands.UpdateItemCommand ?? 0) + (r.commands.PutItemCommand ?? 0);
    console.log(`handler on the local stack (${objects} objects of ${linesPerObject.toLocaleString('en')} lines, gzip):`);
    console.log(
      `  ${(r.objects / r.seconds).toFixed(1)} objects/s, ${Math.round(r.lines / r.seconds).toLocaleString('en')} lines/s (${r.seconds.toFixed(1)} s)`,
    );
    console.log(
      `  DynamoDB writes: ${writes} (${perMillion(writes)} per million lines; ${r.commands.UpdateItemCommand ?? 0} state updates, ${r.commands.PutItemCommand ?? 0} object claims), reads ${(r.commands.QueryCommand ?? 0) + (r.commands.GetItemCommand ?? 0)}`,
    );
    console.log(
      `  SNS publishes: ${r.commands.PublishCommand ?? 0} (${perMillion(r.commands.PublishCommand ?? 0)} per million lines); sources written ${r.sourcesFlagged}; dead-lettered ${r.pumped.deadLettered}`,
    );
    console.log(`  handler peak RSS ${r.peakRssMb.toFixed(0)} MB`);
  } finally {
    await stack.stop();
  }
}
