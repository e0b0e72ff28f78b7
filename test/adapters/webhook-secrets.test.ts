import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { SECRET_VALUE_MAX_CHARS, SecretCache, checkWebhookUrl } from '../../lambdas/adapters/webhook-secrets.js';
import { AdapterError } from '../../lambdas/core/errors.js';

const SLACK_URL = 'https://hooks.slack.com/services/T000/B000/XXXXXXXX';
/** A GetSecretValue answer as Secrets Manager gives it. */
const answer = (name: string, value: string) => ({
  ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`,
  Name: name,
  VersionId: 'v1',
  SecretString: value,
  VersionStages: ['AWSCURRENT'],
  CreatedDate: new Date(0),
});

describe('Secrets Manager cache (aws-sdk-client-mock)', () => {
  it('reads once, serves from the cache within the TTL, and reads again after it', async () => {
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const m = mockClient(client);
    m.on(GetSecretValueCommand, { SecretId: 'probewatch/slack' })
      .resolvesOnce(answer('probewatch/slack', `${SLACK_URL}\n`))
      .resolves(answer('probewatch/slack', `${SLACK_URL}2`));
    let now = 0;
    const cache = new SecretCache({ client, ttlMs: 300_000, now: () => now });
    const [a, b] = await Promise.all([cache.get('probewatch/slack'), cache.get('probewatch/slack')]);
    assert.equal(a, SLACK_URL, 'trimmed');
    assert.equal(b, SLACK_URL);
    now = 299_999;
    assert.equal(await cache.get('probewatch/slack'), SLACK_URL);
    assert.equal(m.commandCalls(GetSecretValueCommand).length, 1, 'concurrent and cached reads share one request');
    now = 300_000;
    assert.equal(await cache.get('probewatch/slack'), `${SLACK_URL}2`, 'a rotated value is picked up after the TTL');
    cache.forget('probewatch/slack');
    await cache.get('probewatch/slack');
    assert.equal(m.commandCalls(GetSecretValueCommand).length, 3);
  });

  it('a missing secret fails with its name (not cached), and the next read tries again', async () => {
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const m = mockClient(client);
    m.on(GetSecretValueCommand)
      .rejectsOnce(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }))
      .resolves(answer('probewatch/hook', 'https://example.org/hook'));
    const cache = new SecretCache({ client, ttlMs: 300_000 });
    await assert.rejects(
      () => cache.get('probewatch/hook'),
      (e: Error) =>
        e instanceof AdapterError && /secret "probewatch\/hook" cannot be read: ResourceNotFoundException: Secrets Manager can't find/.test(e.message),
    );
    assert.equal(await cache.get('probewatch/hook'), 'https://example.org/hook');
  });

  it('refuses an empty or oversized value without quoting it', async () => {
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const m = mockClient(client);
    m.on(GetSecretValueCommand, { SecretId: 'binary' }).resolves({ ...answer('binary', ''), SecretString: undefined, SecretBinary: new Uint8Array([1]) });
    m.on(GetSecretValueCommand, { SecretId: 'huge' }).resolves(answer('huge', 'h'.repeat(SECRET_VALUE_MAX_CHARS + 1)));
    const cache = new SecretCache({ client, ttlMs: 1 });
    await assert.rejects(() => cache.get('binary'), /secret "binary" has no string value/);
    await assert.rejects(
      () => cache.get('huge'),
      (e: Error) => /longer than 4096/.test(e.message) && !e.message.includes('hhhh'),
    );
  });
});

describe('webhook URLs', () => {
  it('https only; plain http only to loopback when a test allows it; never quoted in the error', () => {
    assert.equal(checkWebhookUrl('s', SLACK_URL), SLACK_URL);
    assert.throws(
      () => checkWebhookUrl('s', 'http://hooks.example.com/x?token=abc'),
      (e: Error) => /not https/.test(e.message) && !e.message.includes('abc'),
    );
    assert.throws(
      () => checkWebhookUrl('s', 'not a url token=abc'),
      (e: Error) => /does not hold a URL/.test(e.message) && !e.message.includes('abc'),
    );
    assert.throws(() => checkWebhookUrl('s', 'http://127.0.0.1:8080/x'), /not https/);
    assert.equal(checkWebhookUrl('s', 'http://127.0.0.1:8080/x', true), 'http://127.0.0.1:8080/x');
    assert.throws(() => checkWebhookUrl('s', 'http://10.0.0.1/x', true), /not https/);
  });
});
