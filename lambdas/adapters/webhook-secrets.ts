import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AdapterError } from '../core/errors.js';
import { sanitize } from '../core/escape.js';

/**
 * Webhook URLs and signing secrets from Secrets Manager, read when first needed and kept for a
 * while (cold starts do not pay for every channel; a rotated secret is picked up after the TTL).
 * A value is never logged or put in an error: only the secret's name is.
 */

/** Longest secret value accepted (a URL or a signing key; Secrets Manager allows 64 KB). */
export const SECRET_VALUE_MAX_CHARS = 4096;

/** Options of {@link SecretCache}. */
export interface SecretCacheOptions {
  client?: SecretsManagerClient;
  ttlMs: number;
  now?: () => number;
}

/** Reads secrets by name, cached for `ttlMs`; concurrent reads of one name share a request. */
export class SecretCache {
  private readonly client: SecretsManagerClient;
  private readonly now: () => number;
  private readonly cache = new Map<string, { at: number; value: Promise<string> }>();

  constructor(private readonly opts: SecretCacheOptions) {
    this.client = opts.client ?? new SecretsManagerClient({ maxAttempts: 3 });
    this.now = opts.now ?? Date.now;
  }

  /** The secret's string value. */
  get(name: string): Promise<string> {
    const hit = this.cache.get(name);
    if (hit && this.now() - hit.at < this.opts.ttlMs) return hit.value;
    const value = this.read(name);
    this.cache.set(name, { at: this.now(), value });
    // A failed read is not cached: the next delivery tries again.
    value.catch(() => this.cache.get(name)?.value === value && this.cache.delete(name));
    return value;
  }

  /** Forgets a secret (a delivery was refused with 401/403/404: the URL may have been rotated). */
  forget(name: string): void {
    this.cache.delete(name);
  }

  private async read(name: string): Promise<string> {
    let value: string | undefined;
    try {
      const out = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      value = out.SecretString;
    } catch (e) {
      const err = e as Error;
      throw new AdapterError(`secret "${sanitize(name, 200)}" cannot be read: ${sanitize(err.name, 60)}: ${sanitize(err.message, 200)}`, { cause: e });
    }
    if (!value) throw new AdapterError(`secret "${sanitize(name, 200)}" has no string value (store the URL or key as plain text)`);
    if (value.length > SECRET_VALUE_MAX_CHARS) throw new AdapterError(`secret "${sanitize(name, 200)}" is longer than ${SECRET_VALUE_MAX_CHARS} characters`);
    return value.trim();
  }
}

/** Which URLs the notifier posts to: https only, except loopback http when a test allows it. */
export function checkWebhookUrl(secretName: string, value: string, allowLoopbackHttp = false): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AdapterError(`secret "${sanitize(secretName, 200)}" does not hold a URL`);
  }
  const loopback = url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost');
  if (url.protocol !== 'https:' && !(allowLoopbackHttp && loopback))
    throw new AdapterError(`secret "${sanitize(secretName, 200)}" holds a URL that is not https://`);
  return url.toString();
}
