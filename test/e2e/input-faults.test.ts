import assert from 'node:assert/strict';
import { type Server, createServer, request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SQSEvent } from 'aws-lambda';
import { RATIO_CHECK_AFTER_BYTES } from '../../lambdas/adapters/log-stream.js';
import { makeHandler } from '../../lambdas/handlers/process-logs.js';
import { CapturedMetrics, localHandlerDeps, pumpQueue, readDlq, readTap } from '../../lambdas/local/driver.js';
import { type LocalStack, freePort, startLocalStack } from '../../lambdas/local/stack.js';
import { timeAt } from '../support/records.js';

let stack: LocalStack;
let tables = 0;

async function freshTable(): Promise<string> {
  const name = `faults-${++tables}`;
  await stack.createTable(name);
  return name;
}

async function put(key: string, body: Buffer | string): Promise<void> {
  await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: body }));
}

async function requestsStored(tableName: string, source: string): Promise<number> {
  const r = await stack.dynamo.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: `SRC#${source}` } },
      ConsistentRead: true,
    }),
  );
  return (r.Items ?? []).reduce((n, i) => n + Number(i.req?.N ?? 0), 0);
}

/** A scanner's requests: `n` distinct missing paths from one address, a second apart. */
const sweep = (ip: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) => `${ip} - - [${timeAt(i)}] "GET /old/backup-${i}.tar.gz HTTP/1.1" 404 196 "-" "Mozilla/5.0 (compatible; Nmap Scripting Engine)"`,
  );

/**
 * A proxy in front of the S3 emulator that, for the first `cuts` GETs of keys under `prefix`,
 * sends the full headers and half the body, then resets the connection: a network failure in
 * the middle of the object, as the SDK sees it from real S3.
 */
async function cuttingProxy(target: string, prefix: string, cuts: number): Promise<{ server: Server; endpoint: string; cut: () => number }> {
  const upstream = new URL(target);
  let done = 0;
  const server = createServer((req, res) => {
    const up = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (!(req.method === 'GET' && req.url?.includes(prefix) && done < cuts)) {
        upRes.pipe(res);
        return;
      }
      done++;
      const parts: Buffer[] = [];
      upRes.on('data', (c: Buffer) => parts.push(c));
      upRes.on('end', () => {
        const body = Buffer.concat(parts);
        res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
      });
    });
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${port}`, cut: () => done };
}

describe('input faults on the local emulators (S3 → SQS → handler)', { timeout: 180_000 }, () => {
  before(async () => {
    stack = await startLocalStack({ bucket: 'probewatch-faults' });
  });
  after(async () => {
    await stack?.stop();
  });

  it('a connection reset half-way through a gzip body fails that message only, and its retry counts it once', async () => {
    const tableName = await freshTable();
    const proxy = await cuttingProxy(stack.endpoints.s3, '/flaky/', 1);
    try {
      const s3 = new S3Client({
        region: stack.region,
        endpoint: proxy.endpoint,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        forcePathStyle: true,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      const inner = makeHandler(localHandlerDeps(stack, { tableName, s3 }));
      const failedKeys: string[] = [];
      const handler = async (event: SQSEvent) => {
        const response = await inner(event);
        for (const f of response.batchItemFailures) {
          const body = event.Records.find((r) => r.messageId === f.itemIdentifier)?.body ?? '';
          failedKeys.push(...(JSON.parse(body) as { Records: { s3: { object: { key: string } } }[] }).Records.map((r) => r.s3.object.key));
        }
        return response;
      };
      await put('ok/before.log', sweep('198.51.100.21', 20).join('\n'));
      await put('flaky/access.log.gz', gzipSync(sweep('198.51.100.22', 4000).join('\n')));
      await put('ok/after.log.gz', gzipSync(sweep('198.51.100.23', 20).join('\n')));
      const pumped = await pumpQueue(stack, handler as never);
      assert.equal(proxy.cut(), 1, 'the body was cut once');
      assert.deepEqual(failedKeys, ['flaky/access.log.gz'], 'only the object whose body failed is in batchItemFailures');
      assert.equal(pumped.failures, 1);
      assert.equal(pumped.deadLettered, 0, 'the retry succeeded');
      assert.equal(await requestsStored(tableName, '198.51.100.21'), 20);
      assert.equal(await requestsStored(tableName, '198.51.100.22'), 4000, 'the retried object counted once, not once and a half');
      assert.equal(await requestsStored(tableName, '198.51.100.23'), 20);
      await readTap(stack);
    } finally {
      proxy.server.close();
    }
  });

  it('CR-only line endings: every request of the object is read', async () => {
    const tableName = await freshTable();
    const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    const handler = makeHandler(localHandlerDeps(stack, { tableName, metrics }));
    await put('mac/export.log', `${sweep('198.51.100.31', 30).join('\r')}\r`);
    const pumped = await pumpQueue(stack, handler);
    assert.equal(pumped.failures, 0);
    assert.equal(metrics.total('LinesRead'), 30);
    assert.equal(metrics.total('LinesParsed'), 30);
    assert.equal(await requestsStored(tableName, '198.51.100.31'), 30);
    const alerts = await readTap(stack);
    assert.deepEqual(
      alerts.map((a) => a.document.source),
      ['198.51.100.31'],
    );
  });

  it('a gzip bomb object is cut off and counted, and neither it nor its neighbour fails', async () => {
    const tableName = await freshTable();
    const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    const handler = makeHandler(localHandlerDeps(stack, { tableName, metrics }));
    // 64 concatenated gzip members of 16 MiB of blank lines each: 1 GiB inflated from about 1 MB,
    // after real requests at the start.
    const member = gzipSync(Buffer.alloc(16 * 1024 ** 2, '\n'), { level: 9 });
    const bomb = Buffer.concat([gzipSync(`${sweep('198.51.100.41', 15).join('\n')}\n`), ...Array.from({ length: 64 }, () => member)]);
    assert.ok(bomb.length < 2 * 1024 ** 2);
    await put('bomb/access.log.gz', bomb);
    await put('bomb/neighbour.log', sweep('198.51.100.42', 15).join('\n'));
    const pumped = await pumpQueue(stack, handler);
    assert.equal(pumped.failures, 0);
    assert.equal(await requestsStored(tableName, '198.51.100.41'), 15, 'the requests before the cut are kept');
    assert.equal(await requestsStored(tableName, '198.51.100.42'), 15);
    const read = metrics.total('LinesRead');
    // One byte per blank line: reading stopped once the ratio was judged, not at 1 GiB.
    assert.ok(read < RATIO_CHECK_AFTER_BYTES + 1024 ** 2, `the rest of the object was not read (${read} lines)`);
    assert.ok(metrics.total('LinesSkipped') >= 1, 'the cut is counted');
    assert.deepEqual(await readDlq(stack), []);
    await readTap(stack);
  });
});
