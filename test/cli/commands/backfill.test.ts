import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { BATCH_SIZE, parseBackfillArgs, runBackfill, s3NotificationOf } from '../../../lambdas/cli/commands/backfill.js';
import type { StackResources } from '../../../lambdas/cli/commands/resolve.js';
import { objectRefOf, s3RecordsOf } from '../../../lambdas/handlers/process-logs.js';

const stack: StackResources = {
  env: 'prod',
  stackName: 'ProbeWatch-prod',
  region: 'eu-west-1',
  tableName: 'StateTable',
  queueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/ingest',
  dlqUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq',
  bucket: 'example-prod-access-logs',
};

function objects(from: number, n: number) {
  return Array.from({ length: n }, (_, i) => ({
    Key: `AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/05/01/log ${from + i}.log.gz`,
    ETag: `"9b2cf535f27731c974343645a3985328${from + i}"`,
    Size: 1000,
    LastModified: new Date(Date.UTC(2024, 4, 1, 0, from + i)),
    StorageClass: 'STANDARD' as const,
  }));
}

/** A run with a fake clock: sleeping moves it forward, so the pacing is visible without waiting. */
function harness() {
  const s3 = new S3Client({ region: 'eu-west-1' });
  const sqs = new SQSClient({ region: 'eu-west-1' });
  const s3m = mockClient(s3);
  const sqsm = mockClient(sqs);
  let clock = Date.parse('2024-06-01T00:00:00Z');
  const sleeps: number[] = [];
  const out: string[] = [];
  const io = {
    stdout: { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream,
    stderr: { write: () => true } as unknown as NodeJS.WritableStream,
    env: {},
    now: () => clock,
  };
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    clock += ms;
  };
  const run = (args: string[]) => runBackfill(parseBackfillArgs(['--env', 'prod', ...args]), stack, { s3, sqs }, io, sleep);
  return { s3m, sqsm, sleeps, out, run };
}

describe('backfill (paced, paginated, retried)', () => {
  it('follows every page, sends batches of 10 at the rate asked, and says what it did', async () => {
    const h = harness();
    h.s3m
      .on(ListObjectsV2Command, { ContinuationToken: undefined })
      .resolves({ IsTruncated: true, NextContinuationToken: 'page-2', Contents: objects(0, 15), KeyCount: 15 })
      .on(ListObjectsV2Command, { ContinuationToken: 'page-2' })
      .resolves({ IsTruncated: false, Contents: objects(15, 10), KeyCount: 10 });
    h.sqsm
      .on(SendMessageBatchCommand)
      .callsFake((input) => ({ Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id, MessageId: `m-${e.Id}` })), Failed: [] }));
    const code = await h.run(['s3://example-prod-access-logs/AWSLogs/', '--rate', '10']);
    assert.equal(code, 0);
    const batches = h.sqsm.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries ?? []);
    assert.deepEqual(
      batches.map((b) => b.length),
      [10, 10, 5],
    );
    assert.ok(batches.every((b) => b.length <= BATCH_SIZE));
    // 10 per second: a second between batches (the first goes at once).
    assert.deepEqual(h.sleeps, [1000, 1000]);
    const keys = batches.flat().map((e) => objectRefOf(s3RecordsOf(e.MessageBody ?? '')[0] as never)?.key);
    assert.equal(new Set(keys).size, 25);
    assert.ok(keys.includes('AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/05/01/log 24.log.gz'));
    assert.match(h.out.join(''), /25 objects \(0\.0 MB\) listed; 25 notifications sent\./);
  });

  it('--since leaves older objects out and counts them', async () => {
    const h = harness();
    h.s3m.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: objects(0, 10) });
    h.sqsm
      .on(SendMessageBatchCommand)
      .callsFake((input) => ({ Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id, MessageId: 'm' })), Failed: [] }));
    await h.run(['s3://example-prod-access-logs/AWSLogs/', '--since', '2024-05-01T00:07Z']);
    assert.equal(h.sqsm.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.Entries?.length, 3);
    assert.match(h.out.join(''), /3 objects .* listed, 7 older than --since left out/);
  });

  it('entries SQS refuses are sent again; ones refused every time are reported and the exit status is 1', async () => {
    const h = harness();
    h.s3m.on(ListObjectsV2Command).resolves({ IsTruncated: false, Contents: objects(0, 3) });
    h.sqsm.on(SendMessageBatchCommand).callsFake((input) => {
      const entries = input.Entries as { Id: string }[];
      // Entry 0 is throttled once, entry 2 always.
      const refuse = entries.filter((e) => e.Id === '2' || (e.Id === '0' && entries.length === 3));
      return {
        Successful: entries.filter((e) => !refuse.includes(e)).map((e) => ({ Id: e.Id, MessageId: 'm' })),
        Failed: refuse.map((e) => ({ Id: e.Id, SenderFault: false, Code: 'InternalError', Message: 'We encountered an internal error. Please try again.' })),
      };
    });
    const code = await h.run(['s3://example-prod-access-logs/AWSLogs/']);
    assert.equal(code, 1);
    assert.equal(h.sqsm.commandCalls(SendMessageBatchCommand).length, 3);
    assert.match(h.out.join(''), /2 notifications sent, 1 failed \(run again to retry them\)/);
  });

  it('the notification is the one S3 sends: version 2.1, URL-encoded key, ETag without quotes', () => {
    const body = JSON.parse(s3NotificationOf('b', { Key: 'a b+c/ü.log', ETag: '"abc-2"', Size: 7 }, 'eu-west-1', 0));
    const r = body.Records[0];
    assert.equal(r.eventVersion, '2.1');
    assert.equal(r.eventSource, 'aws:s3');
    assert.equal(r.eventName, 'ObjectCreated:Put');
    assert.equal(r.s3.object.key, 'a+b%2Bc/%C3%BC.log');
    assert.equal(r.s3.object.eTag, 'abc-2');
    assert.deepEqual(objectRefOf(r), { bucket: 'b', key: 'a b+c/ü.log', etag: 'abc-2', size: 7 });
  });
});
