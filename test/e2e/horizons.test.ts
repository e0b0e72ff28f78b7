import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { makeHandler } from '../../lambdas/handlers/process-logs.js';
import { localHandlerDeps, pumpQueue, readTap } from '../../lambdas/local/driver.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';
import { scanLines } from '../support/detector.js';
import { timeAt } from '../support/records.js';

const line = (ip: string, second: number, request: string, status: number, ua: string) => `${ip} - - [${timeAt(second)}] "${request}" ${status} 64 "-" "${ua}"`;

/** A slow wordlist scan: one missing path a minute for an hour. */
const slowScan = Array.from({ length: 60 }, (_, i) => line('198.51.100.31', i * 60, `GET /w/${i}-item HTTP/1.1`, 404, 'Mozilla/5.0 (compatible; Fetcher/1.0)'));
/** A registration bot: the real form, posted a second after fetching it, twice, hours apart. */
const OLD = 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)';
const botSignups = [0, 4 * 3600].flatMap((t) => [
  line('198.18.0.31', t, 'GET /register HTTP/1.1', 200, OLD),
  line('198.18.0.31', t + 1, 'POST /register HTTP/1.1', 302, OLD),
]);

describe('long horizons end to end: the Lambda decides like the CLI on lines split across objects', { timeout: 180_000 }, () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('a slow scan in 5-minute objects and a bot posting hours apart each alert once, with the CLI trigger', async () => {
    const all = [...slowScan, ...botSignups].sort((a, b) => a.localeCompare(b));
    const cli = scanLines({ all })
      .report.alerts.map((a) => [a.source, a.trigger])
      .sort();
    assert.deepEqual(cli, [
      ['198.18.0.31', 'behaviour:registration-spam'],
      ['198.51.100.31', 'horizon:1h'],
    ]);

    await stack.createTable('state-horizons');
    const handler = makeHandler(localHandlerDeps(stack, { tableName: 'state-horizons' }));
    // One object per 5 minutes of the scan (ALB's rhythm), and the bot's two visits apart:
    // uploaded newest first, so the pipeline sees them out of order.
    const objects = Array.from({ length: 12 }, (_, i) => slowScan.slice(i * 5, i * 5 + 5));
    objects.push(botSignups.slice(0, 2), botSignups.slice(2));
    for (const [i, lines] of [...objects.entries()].reverse()) {
      await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `slow/part-${String(i).padStart(2, '0')}.log`, Body: `${lines.join('\n')}\n` }));
    }
    const pumped = await pumpQueue(stack, handler);
    assert.equal(pumped.failures, 0);
    const alerts = await readTap(stack);
    assert.deepEqual(alerts.map((a) => [a.document.source, a.document.trigger]).sort(), cli);
    const slow = alerts.find((a) => a.document.source === '198.51.100.31');
    assert.equal(slow?.document.horizon?.seconds, 3600);
    assert.ok((slow?.document.objects.length ?? 0) >= 6, 'the alert lists the objects the evidence came from');
  });
});
