import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { S3EventRecord } from 'aws-lambda';
import { formatFor, loadRuntimeConfig } from '../../lambdas/adapters/runtime-config.js';
import { makeExclusive, objectRefOf, s3RecordsOf } from '../../lambdas/handlers/process-logs.js';
import { s3EventKey } from '../../lambdas/local/stack.js';

const record = (key: string, eventName = 'ObjectCreated:Put') =>
  ({ eventName, s3: { bucket: { name: 'logs' }, object: { key, eTag: 'abc', size: 10 } } }) as unknown as S3EventRecord;

describe('event translation', () => {
  it('decodes keys as S3 encodes them (+ for space, %XX)', () => {
    assert.equal(objectRefOf(record('AWSLogs/123/elasticloadbalancing/my+file%3A1.log.gz'))?.key, 'AWSLogs/123/elasticloadbalancing/my file:1.log.gz');
    assert.equal(objectRefOf(record(s3EventKey('a b/c+d ü.log')))?.key, 'a b/c+d ü.log', 'the local bridge encodes like S3');
  });
  it('ignores removals', () => {
    assert.equal(objectRefOf(record('x', 'ObjectRemoved:Delete')), null);
  });
  it('reads S3→SQS, S3→SNS→SQS and the s3:TestEvent', () => {
    const direct = JSON.stringify({ Records: [record('a')] });
    assert.equal(s3RecordsOf(direct).length, 1);
    const viaSns = JSON.stringify({ Type: 'Notification', Message: direct });
    assert.equal(s3RecordsOf(viaSns).length, 1);
    assert.deepEqual(s3RecordsOf(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'logs' })), []);
    assert.throws(() => s3RecordsOf('{"hello":1}'), /not an S3 event notification/);
    assert.throws(() => s3RecordsOf('not json'));
  });
});

describe('runtime configuration', () => {
  const good = { STATE_TABLE_NAME: 't', ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:1:x', ENVIRONMENT_NAME: 'dev' };
  it('reads and defaults', () => {
    const c = loadRuntimeConfig({ ...good, DETECTOR_CONFIG: JSON.stringify({ thresholds: { score: 80 }, trustedProxies: ['10.0.0.0/8'] }) });
    assert.equal(c.detector.scoreThreshold, 80);
    assert.deepEqual(c.detector.trustedProxies, ['10.0.0.0/8']);
    assert.equal(c.retentionHours, 4);
  });
  it('names every problem at once', () => {
    assert.throws(
      () => loadRuntimeConfig({ STATE_RETENTION_HOURS: 'soon', DETECTOR_CONFIG: '{"thresholds":{"score":"high"}}', LOG_FORMAT: 'syslog' }),
      (e: Error) =>
        /STATE_TABLE_NAME is not set/.test(e.message) &&
        /ALERT_TOPIC_ARN is not set/.test(e.message) &&
        /ENVIRONMENT_NAME is not set/.test(e.message) &&
        /DETECTOR_CONFIG: thresholds\.score must be a positive number/.test(e.message) &&
        /LOG_FORMAT: unknown format "syslog"/.test(e.message) &&
        /STATE_RETENTION_HOURS must be a positive whole number/.test(e.message),
    );
  });
  it('picks a format by key prefix and suffix', () => {
    const c = loadRuntimeConfig({
      ...good,
      LOG_FORMATS: JSON.stringify([
        { prefix: 'alb/', format: 'alb' },
        { prefix: 'web/', suffix: '.json', format: 'json' },
      ]),
      LOG_FORMAT: 'combined',
    });
    assert.equal(formatFor(c, 'alb/AWSLogs/x.log.gz'), 'alb');
    assert.equal(formatFor(c, 'web/a.json'), 'json');
    assert.equal(formatFor(c, 'web/a.log'), 'combined');
    assert.throws(() => loadRuntimeConfig({ ...good, LOG_FORMATS: '[{"prefix":"a/","format":"nope"}]' }), /LOG_FORMATS: \[0\]\.format unknown format "nope"/);
  });
  it('refuses DETECTOR_CONFIG that is not JSON', () => {
    assert.throws(() => loadRuntimeConfig({ ...good, DETECTOR_CONFIG: '{oops' }), /DETECTOR_CONFIG is not valid JSON/);
  });
});

describe('the publish lock shared by the objects of a batch', () => {
  it('runs one step at a time, in order, and a failed step does not block the next', async () => {
    const exclusive = makeExclusive();
    const log: string[] = [];
    let inside = 0;
    const step = (name: string, ms: number, fail = false) =>
      exclusive(async () => {
        inside++;
        assert.equal(inside, 1, 'never two publishes between publish and mark at once');
        log.push(`${name}>`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`<${name}`);
        inside--;
        if (fail) throw new Error(`${name} failed`);
      });
    const results = await Promise.allSettled([step('a', 20), step('b', 5, true), step('c', 1)]);
    assert.deepEqual(log, ['a>', '<a', 'b>', '<b', 'c>', '<c']);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
  });
});
