import { GetIPSetCommand, UpdateIPSetCommand, type WAFV2Client } from '@aws-sdk/client-wafv2';
import type { IpSetRef } from '../core/blocking.js';
import { AdapterError } from '../core/errors.js';

/** Read-modify-write rounds tried when another writer changed the set in between (WAFOptimisticLockException). */
export const LOCK_ATTEMPTS = 6;
/** Back-off before the second round; doubled each round, up to {@link BACKOFF_MAX_MS}, then a random part of it (full jitter). */
export const BACKOFF_BASE_MS = 100;
export const BACKOFF_MAX_MS = 2_000;

/** Every round found the set changed by another writer: the caller fails (its message is retried). */
export class LockConflictError extends AdapterError {}
/** WAF refused the update for its own limit (10,000 addresses per set): the set is full. */
export class IpSetFullError extends AdapterError {}

/** Options of {@link WafIpSets}. */
export interface WafIpSetsOptions {
  client: WAFV2Client;
  /** @default {@link LOCK_ATTEMPTS} */
  maxAttempts?: number;
  /** @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** @default Math.random */
  random?: () => number;
}

/** What a change to a set's addresses decides: the new list (null: leave the set alone) and a value for the caller. */
export interface IpSetChange<T> {
  addresses: string[] | null;
  value: T;
}

const nameOf = (e: unknown) => String((e as { name?: unknown })?.name ?? '');

/**
 * A WAF v2 IP set, changed with WAF's optimistic lock: GetIPSet returns the addresses and a
 * LockToken; UpdateIPSet replaces the whole list and succeeds only with the token of the latest
 * version. When another writer got in between (WAFOptimisticLockException), the change is computed
 * again from a fresh read, after a jittered back-off, at most {@link LOCK_ATTEMPTS} times.
 */
export class WafIpSets {
  private readonly maxAttempts: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly opts: WafIpSetsOptions) {
    this.maxAttempts = opts.maxAttempts ?? LOCK_ATTEMPTS;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = opts.random ?? Math.random;
  }

  /** The back-off before round `round` (2, 3, …): full jitter over an exponential ceiling. */
  backoffMs(round: number): number {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (round - 2));
    return Math.floor(this.random() * ceiling);
  }

  private async get(set: IpSetRef) {
    try {
      const out = await this.opts.client.send(new GetIPSetCommand({ Name: set.name, Id: set.id, Scope: set.scope }));
      if (!out.IPSet || !out.LockToken) throw new AdapterError(`WAF GetIPSet ${set.arn} returned no IP set or lock token`);
      return { addresses: out.IPSet.Addresses ?? [], description: out.IPSet.Description, lockToken: out.LockToken };
    } catch (e) {
      if (e instanceof AdapterError) throw e;
      if (nameOf(e) === 'WAFNonexistentItemException') {
        throw new AdapterError(`WAF IP set ${set.arn} does not exist (deleted, or another account or region): check blocking.ipSetArns`, { cause: e });
      }
      throw new AdapterError(`WAF GetIPSet ${set.arn} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The set's addresses now. */
  async addresses(set: IpSetRef): Promise<string[]> {
    return (await this.get(set)).addresses;
  }

  /**
   * Reads the set, lets `change` decide the new addresses from the current ones, and writes them
   * with the lock token it read. `change` may run several times (once per round); it must only
   * compute. Throws {@link LockConflictError} when every round lost the race.
   */
  async update<T>(set: IpSetRef, change: (addresses: readonly string[]) => IpSetChange<T>): Promise<{ value: T; changed: boolean; attempts: number }> {
    for (let round = 1; ; round++) {
      const current = await this.get(set);
      const { addresses, value } = change(current.addresses);
      if (addresses === null) return { value, changed: false, attempts: round };
      try {
        await this.opts.client.send(
          new UpdateIPSetCommand({
            Name: set.name,
            Id: set.id,
            Scope: set.scope,
            Addresses: addresses,
            LockToken: current.lockToken,
            // UpdateIPSet replaces the set's settings: keep its description.
            ...(current.description !== undefined ? { Description: current.description } : {}),
          }),
        );
        return { value, changed: true, attempts: round };
      } catch (e) {
        const name = nameOf(e);
        if (name === 'WAFOptimisticLockException') {
          if (round >= this.maxAttempts) {
            throw new LockConflictError(`WAF IP set ${set.arn}: another writer changed it in each of ${round} rounds; giving up for now`, { cause: e });
          }
          await this.sleep(this.backoffMs(round + 1));
          continue;
        }
        if (name === 'WAFLimitsExceededException') throw new IpSetFullError(`WAF IP set ${set.arn} is full: ${(e as Error).message}`, { cause: e });
        if (name === 'WAFNonexistentItemException') {
          throw new AdapterError(`WAF IP set ${set.arn} does not exist (deleted meanwhile?): ${(e as Error).message}`, { cause: e });
        }
        throw new AdapterError(`WAF UpdateIPSet ${set.arn} failed: ${(e as Error).message}`, { cause: e });
      }
    }
  }
}
