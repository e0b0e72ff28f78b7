import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DeliveryError, backoffMs, postWithRetry, retryAfterMs } from '../../lambdas/adapters/webhook-delivery.js';
import { type Recorder, startRecorder } from '../support/http-recorder.js';

describe('webhook delivery against a real HTTP server on 127.0.0.1', () => {
  let rec: Recorder;
  let waits: number[];
  const fast = () => ({ label: 'webhook:soc', sleep: async (ms: number) => void waits.push(ms), random: () => 0.5, timeoutMs: 2_000 });
  before(async () => {
    rec = await startRecorder();
  });
  after(async () => {
    await rec.close();
  });
  beforeEach(() => {
    rec.requests.length = 0;
    waits = [];
  });

  it('delivers at once on 200, with the body and headers', async () => {
    rec.script = [{ status: 200 }];
    const r = await postWithRetry(rec.url, '{"a":1}', { 'X-Test': 'yes' }, fast());
    assert.deepEqual(r, { status: 200, attempts: 1 });
    assert.equal(rec.requests[0]?.body, '{"a":1}');
    assert.equal(rec.requests[0]?.headers['content-type'], 'application/json');
    assert.equal(rec.requests[0]?.headers['x-test'], 'yes');
  });

  it('retries 500 with exponential back-off and jitter, honours Retry-After on 429, then succeeds', async () => {
    rec.script = [{ status: 500 }, { status: 503 }, { status: 429, headers: { 'Retry-After': '3' } }, { status: 200 }];
    const r = await postWithRetry(rec.url, '{}', {}, fast());
    assert.deepEqual(r, { status: 200, attempts: 4 });
    assert.equal(rec.requests.length, 4);
    // Full jitter at 0.5 of 500 ms then 1,000 ms; then the receiver's 3 s.
    assert.deepEqual(waits, [250, 500, 3000]);
  });

  it('gives up after the bounded tries with a retryable error that names the channel, never the URL', async () => {
    rec.script = [{ status: 502, body: 'bad gateway' }];
    await assert.rejects(
      () => postWithRetry(rec.url, '{}', {}, { ...fast(), attempts: 3 }),
      (e: Error) =>
        e instanceof DeliveryError &&
        e.retryable &&
        e.status === 502 &&
        /^webhook:soc: HTTP 502 \(bad gateway\) after 3 tries$/.test(e.message) &&
        !e.message.includes('secret-token'),
    );
    assert.equal(rec.requests.length, 3);
  });

  it('a 4xx is refused at once (no retry), with the receiver’s reason escaped', async () => {
    rec.script = [{ status: 400, body: 'invalid_blocks\u001b[31m' }];
    await assert.rejects(
      () => postWithRetry(rec.url, '{}', {}, fast()),
      (e: Error) => e instanceof DeliveryError && !e.retryable && e.status === 400 && e.message.includes('invalid_blocks\\x1b[31m'),
    );
    assert.equal(rec.requests.length, 1);
  });

  it('a Retry-After beyond the bound is left to the queue’s redelivery', async () => {
    rec.script = [{ status: 429, headers: { 'Retry-After': '600' } }];
    await assert.rejects(
      () => postWithRetry(rec.url, '{}', {}, fast()),
      (e: Error) => e instanceof DeliveryError && e.retryable && /asks to wait 600 s/.test(e.message),
    );
    assert.equal(rec.requests.length, 1);
    assert.deepEqual(waits, []);
  });

  it('a receiver that does not answer times out, and is tried again', async () => {
    rec.script = ['hang', { status: 200 }];
    const r = await postWithRetry(rec.url, '{}', {}, { ...fast(), timeoutMs: 200 });
    assert.deepEqual(r, { status: 200, attempts: 2 });
    rec.script = ['hang'];
    rec.requests.length = 0;
    await assert.rejects(
      () => postWithRetry(rec.url, '{}', {}, { ...fast(), timeoutMs: 200, attempts: 2 }),
      (e: Error) => e instanceof DeliveryError && e.retryable && /no answer within 200 ms after 2 tries/.test(e.message),
    );
    assert.equal(rec.requests.length, 2);
  });

  it('a redirect is not followed', async () => {
    rec.script = [{ status: 302, headers: { Location: 'http://127.0.0.1:1/elsewhere' } }];
    await assert.rejects(
      () => postWithRetry(rec.url, '{}', {}, fast()),
      (e: Error) => e instanceof DeliveryError && e.status === 302 && !e.retryable,
    );
    assert.equal(rec.requests.length, 1);
  });

  it('no new try starts past the invocation’s deadline', async () => {
    rec.script = [{ status: 500 }];
    let now = 1_000_000;
    await assert.rejects(
      () =>
        postWithRetry(
          rec.url,
          '{}',
          {},
          {
            ...fast(),
            now: () => now,
            deadline: now + 1_000,
            sleep: async (ms) => {
              now += ms;
            },
          },
        ),
      (e: Error) => e instanceof DeliveryError && e.retryable && /no time left in this invocation/.test(e.message),
    );
    assert.equal(rec.requests.length, 1);
  });

  it('a refused connection is a retryable network error', async () => {
    const closed = await startRecorder();
    const url = closed.url;
    await closed.close();
    await assert.rejects(
      () => postWithRetry(url, '{}', {}, { ...fast(), attempts: 2 }),
      (e: Error) => e instanceof DeliveryError && e.retryable && /network error \(ECONNREFUSED\) after 2 tries/.test(e.message),
    );
  });
});

describe('back-off and Retry-After', () => {
  it('doubles up to the cap, scaled by the jitter', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, 500, 8_000, () => 0.999999)),
      [499, 999, 1999, 3999, 7999, 7999],
    );
    assert.equal(
      backoffMs(3, 500, 8_000, () => 0),
      0,
    );
  });
  it('reads seconds and HTTP dates', () => {
    const now = Date.UTC(2024, 0, 1);
    assert.equal(retryAfterMs('7', now), 7000);
    assert.equal(retryAfterMs(new Date(now + 5_000).toUTCString(), now), 5000);
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs(null, now), undefined);
  });
});
