import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type ConfigCheck, MAX_CONFIG_BYTES, S3DetectorConfig } from '../../lambdas/adapters/s3-detector-config.js';
import { ConfigError } from '../../lambdas/core/errors.js';
import { startS3 } from '../support/s3.js';

const BUCKET = 'probewatch-config';
const rule = (match: unknown) => ({ id: 'mine', category: 'c', class: 'probing', severity: 'high', score: 5, explain: 'e', match });

describe('the deployed detector configuration, read from S3 (s3rver)', () => {
  let s3: S3Client;
  let stop: () => Promise<void>;
  before(async () => {
    ({ s3, stop } = await startS3([BUCKET]));
  });
  after(() => stop());

  const put = (key: string, body: unknown) =>
    s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: typeof body === 'string' ? body : JSON.stringify(body), ContentType: 'application/json' }));
  const source = (key: string, refreshSeconds = 60) => {
    let now = 1_000_000;
    const checks: ConfigCheck[] = [];
    const src = new S3DetectorConfig({ s3, bucket: BUCKET, key, refreshSeconds, now: () => now, onCheck: (c) => checks.push(c) });
    const advance = (s: number) => {
      now += s * 1000;
    };
    return { src, checks, advance };
  };

  it('loads at cold start, keeps the last good one on a bad update, and takes the next good one', async () => {
    await put('a.json', { thresholds: { score: 80 } });
    const { src, checks, advance } = source('a.json');
    assert.equal((await src.current()).scoreThreshold, 80);
    assert.equal(checks[0]?.outcome, 'loaded');

    // A bad update: a regex RE2 refuses and a wrong threshold. Not re-read before the refresh period…
    await put('a.json', { thresholds: { score: 0 }, rules: [rule({ path: { regex: '(x)\\1' } })] });
    assert.equal((await src.current()).scoreThreshold, 80);
    assert.equal(checks.length, 1, 'no check before refreshSeconds have passed');
    // …then rejected with every problem, and the last good configuration stays in use.
    advance(60);
    assert.equal((await src.current()).scoreThreshold, 80);
    const rejected = checks[1];
    assert.equal(rejected?.outcome, 'rejected');
    assert.ok(rejected?.outcome === 'rejected');
    assert.equal(rejected.problems.length, 2, rejected.problems.join('\n'));
    assert.match(rejected.problems.join('\n'), /s3:\/\/probewatch-config\/a\.json: thresholds\.score must be a positive number \(got 0\)/);
    assert.match(rejected.problems.join('\n'), /rules\[0\]\.match\.path\.regex is not a valid regular expression/);

    // The same bad version is reported once, not at every check.
    advance(60);
    await src.current();
    assert.equal(checks.length, 2, 'an unchanged object (If-None-Match) is not reported again');

    await put('a.json', { thresholds: { score: 120 } });
    advance(60);
    assert.equal((await src.current()).scoreThreshold, 120);
    assert.equal(checks[2]?.outcome, 'loaded');
  });

  it('an unchanged object is not parsed again (conditional GET)', async () => {
    await put('b.json', { knownRoutes: ['/login'] });
    const { src, checks, advance } = source('b.json', 0);
    const first = await src.current();
    advance(1);
    const second = await src.current();
    assert.equal(second, first, 'the very same parsed configuration: the object was not read again');
    assert.equal(checks.length, 1);
  });

  it('fails clearly at cold start when there is no good configuration, and recovers once there is', async () => {
    await put('c.json', { rules: [rule({ status: ['4xxx'] })] });
    const { src, checks } = source('c.json');
    await assert.rejects(
      () => src.current(),
      (e: Error) =>
        e instanceof ConfigError &&
        /no valid detector configuration at s3:\/\/probewatch-config\/c\.json: .*rules\[0\]\.match\.status\[0\] must be a status code/.test(e.message),
    );
    assert.equal(checks[0]?.outcome, 'rejected');
    // Retried (the messages come back): the fixed version is read at once, not after the period.
    await put('c.json', { rules: [rule({ status: ['4xx'] })] });
    assert.equal((await src.current()).rules[0]?.id, 'mine');
  });

  it('a missing object at cold start fails; once loaded, a deleted object keeps the last good one', async () => {
    const { src: missing } = source('none.json');
    await assert.rejects(() => missing.current(), /no valid detector configuration at s3:\/\/probewatch-config\/none\.json: cannot read .*missing/);

    await put('d.json', { disableRules: ['outdated-agent'] });
    const { src, checks, advance } = source('d.json');
    assert.deepEqual((await src.current()).disableRules, ['outdated-agent']);
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'd.json' }));
    advance(60);
    assert.deepEqual((await src.current()).disableRules, ['outdated-agent']);
    assert.equal(checks[1]?.outcome, 'unreadable');
  });

  it('refuses an object that is not JSON or YAML, and one larger than its bound', async () => {
    await put('e.json', '{ "thresholds": ');
    await assert.rejects(() => source('e.json').src.current(), /e\.json is not valid JSON or YAML/);
    await put('f.json', `{"knownRoutes": [${Array.from({ length: MAX_CONFIG_BYTES / 8 }, () => '"/a/b/c"').join(',')}]}`);
    await assert.rejects(() => source('f.json').src.current(), new RegExp(`more than ${MAX_CONFIG_BYTES}`));
  });

  it('a large configuration is fine: 2,000 known routes (the old environment variable held 4 KB)', async () => {
    const routes = Array.from({ length: 2000 }, (_, i) => `/section-${i}/page/*`);
    await put('g.json', { knownRoutes: routes });
    const { src } = source('g.json');
    assert.equal((await src.current()).knownRoutes.length, 2000);
  });
});
