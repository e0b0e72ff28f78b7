import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startS3 } from '../support/s3.js';

// The Lambda entry point as deployed: its S3 client comes from the environment (here s3rver at
// AWS_ENDPOINT_URL_S3), the detector configuration from the config bucket.
describe('the handler with its configuration in the config bucket (s3rver)', () => {
  let s3: S3Client;
  let stop: () => Promise<void>;
  const saved = { ...process.env };
  const testEvent = {
    Records: [{ messageId: 'm1', eventSource: 'aws:sqs', body: JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'logs' }) }],
  };
  let printed: string[] = [];
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  before(async () => {
    let endpoint: string;
    ({ s3, stop, endpoint } = await startS3(['config']));
    Object.assign(process.env, {
      STATE_TABLE_NAME: 'state',
      ALERT_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts',
      ENVIRONMENT_NAME: 'test',
      CONFIG_BUCKET: 'config',
      CONFIG_KEY: 'detector.json',
      CONFIG_REFRESH_SECONDS: '0',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_ENDPOINT_URL_S3: endpoint,
      POWERTOOLS_METRICS_DISABLED: 'false',
    });
    // What the function prints (structured logs and EMF metrics) is what CloudWatch receives.
    const capture = ((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    process.stdout.write = capture;
    process.stderr.write = capture;
  });
  after(async () => {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
    process.env = saved;
    await stop();
  });
  const put = (doc: unknown) => s3.send(new PutObjectCommand({ Bucket: 'config', Key: 'detector.json', Body: JSON.stringify(doc) }));

  it('fails clearly without a good configuration, then runs with the last good one whatever is pushed after', async () => {
    const { handler } = await import('../../lambdas/handlers/process-logs.js');
    await assert.rejects(() => handler(testEvent as never), /no valid detector configuration at s3:\/\/config\/detector\.json: cannot read/);

    await put({ rules: [{ id: 'x', category: 'c', class: 'probing', severity: 'high', score: 1, explain: 'e', match: { status: ['4xxx'] } }] });
    printed = [];
    await assert.rejects(() => handler(testEvent as never), /rules\[0\]\.match\.status\[0\] must be a status code/);
    assert.match(printed.join(''), /"ConfigRejected"/, 'counted');

    await put({ thresholds: { score: 70 } });
    assert.deepEqual(await handler(testEvent as never), { batchItemFailures: [] });

    // A bad update: the invocation still succeeds on the last good configuration, and says why.
    printed = [];
    await put({ thresholds: { score: 'high' } });
    assert.deepEqual(await handler(testEvent as never), { batchItemFailures: [] });
    const out = printed.join('');
    assert.match(out, /detector configuration rejected: the last good one stays in use/);
    assert.match(out, /thresholds\.score must be a positive number \(got \\"high\\"\)/, out);
    assert.match(out, /"ConfigRejected"/);
  });
});
