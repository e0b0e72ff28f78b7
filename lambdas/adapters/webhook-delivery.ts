import { setTimeout as sleepFor } from 'node:timers/promises';
import { AdapterError } from '../core/errors.js';
import { sanitize } from '../core/escape.js';

/**
 * Delivers one HTTP POST with retries: a 5xx, a 429, a 408, a time-out or a network error is
 * tried again after an exponential back-off with full jitter (or the receiver's `Retry-After`),
 * a bounded number of times within the invocation. Anything else (a 4xx: a wrong URL, a payload
 * the receiver refuses) fails at once: trying again would not change it. The URL is a secret
 * (a Slack webhook URL is a credential), so it never appears in an error or a log.
 */

/** Tries per delivery within one invocation; past them the queue redelivers the alert later. */
export const DELIVERY_ATTEMPTS = 4;
/** One request may take this long (Slack answers in well under a second). */
export const REQUEST_TIMEOUT_MS = 5_000;
/** First back-off; doubled per try, with full jitter. */
export const BACKOFF_BASE_MS = 500;
/** Longest back-off between two tries. */
export const BACKOFF_MAX_MS = 8_000;
/**
 * Longest `Retry-After` honoured within the invocation. A receiver asking for more is left
 * alone: the delivery fails now and the queue redelivers after its visibility timeout.
 */
export const RETRY_AFTER_MAX_MS = 30_000;
/** Characters of a refusal's response body kept in the error (Slack says why: `invalid_blocks`). */
export const RESPONSE_EXCERPT_CHARS = 200;

/** The outcome of one delivery. */
export interface DeliveryResult {
  status: number;
  attempts: number;
}

/** A delivery that failed: `retryable` says whether a later redelivery may succeed. */
export class DeliveryError extends AdapterError {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link postWithRetry}; tests shorten the waits and fix the jitter. */
export interface PostOptions {
  /** Names the channel in errors (never the URL). */
  label: string;
  attempts?: number;
  timeoutMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  retryAfterMaxMs?: number;
  /** Wall-clock ms after which no new try starts (the invocation's deadline). */
  deadline?: number;
  /** @default Math.random */
  random?: () => number;
  /** @default a timer */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Parses `Retry-After` (seconds, or an HTTP date) into milliseconds from now. */
export function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The wait before try `attempt` (1-based, after a failure): exponential with full jitter. */
export function backoffMs(attempt: number, base: number, max: number, random: () => number): number {
  return Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
}

const retryableStatus = (s: number) => s >= 500 || s === 429 || s === 408;

/** POSTs `body` to `url`, retrying what may pass later; throws a {@link DeliveryError} when it gives up. */
export async function postWithRetry(url: string, body: string, headers: Record<string, string>, opts: PostOptions): Promise<DeliveryResult> {
  const attempts = opts.attempts ?? DELIVERY_ATTEMPTS;
  const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? ((ms: number) => sleepFor(ms));
  const now = opts.now ?? Date.now;
  let last = '';
  let lastStatus: number | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let wait: number | undefined;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        // A webhook that redirects is misconfigured (or hostile): never follow it elsewhere.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text().catch(() => '');
      if (res.status >= 200 && res.status < 300) return { status: res.status, attempts: attempt };
      lastStatus = res.status;
      last = `HTTP ${res.status}${text ? ` (${sanitize(text, RESPONSE_EXCERPT_CHARS)})` : ''}`;
      if (!retryableStatus(res.status)) throw new DeliveryError(`${opts.label}: delivery refused with ${last}`, false, res.status);
      wait = retryAfterMs(res.headers.get('retry-after'), now());
      if (wait !== undefined && wait > (opts.retryAfterMaxMs ?? RETRY_AFTER_MAX_MS)) {
        throw new DeliveryError(
          `${opts.label}: ${last}, and the receiver asks to wait ${Math.round(wait / 1000)} s; left to the queue's redelivery`,
          true,
          res.status,
        );
      }
    } catch (e) {
      if (e instanceof DeliveryError) throw e;
      const err = e as Error & { cause?: { code?: string } };
      // Undici's errors name the host at most (never the path, where a webhook's token is).
      last = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `network error (${sanitize(err.cause?.code ?? err.message, 80)})`;
      lastStatus = undefined;
    }
    if (attempt === attempts) break;
    const delay = wait ?? backoffMs(attempt, opts.baseDelayMs ?? BACKOFF_BASE_MS, opts.maxDelayMs ?? BACKOFF_MAX_MS, random);
    if (opts.deadline !== undefined && now() + delay + timeoutMs > opts.deadline) {
      throw new DeliveryError(
        `${opts.label}: ${last} after ${attempt} tries; no time left in this invocation, left to the queue's redelivery`,
        true,
        lastStatus,
      );
    }
    await sleep(delay);
  }
  throw new DeliveryError(`${opts.label}: ${last} after ${attempts} tries`, true, lastStatus);
}
