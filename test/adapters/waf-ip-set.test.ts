import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UpdateIPSetCommand } from '@aws-sdk/client-wafv2';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, IpSetFullError, LOCK_ATTEMPTS, LockConflictError, WafIpSets } from '../../lambdas/adapters/waf-ip-set.js';
import { planAdd } from '../../lambdas/core/blocking.js';
import { AdapterError } from '../../lambdas/core/errors.js';
import { FakeWaf } from '../support/fake-waf.js';

function setup(opts: { random?: () => number } = {}) {
  const waf = new FakeWaf();
  const sleeps: number[] = [];
  const sets = new WafIpSets({ client: waf.client, sleep: async (ms) => void sleeps.push(ms), random: opts.random ?? (() => 0.5) });
  return { waf, sets, sleeps };
}

const add =
  (cidr: string, max = 100) =>
  (addresses: readonly string[]) => {
    const p = planAdd(addresses, cidr, max);
    return { addresses: p.kind === 'add' ? p.addresses : null, value: p.kind };
  };

describe('WAF IP set adapter (optimistic locking)', () => {
  it('adds with the lock token it read, keeps the description, and changes nothing when the range is there', async () => {
    const { waf, sets } = setup();
    const v4 = waf.create('blocked-v4', 'IPV4', ['1.1.1.1/32']);
    const r = await sets.update(v4, add('5.135.167.145/32'));
    assert.deepEqual(r, { value: 'add', changed: true, attempts: 1 });
    assert.deepEqual(waf.addresses(v4), ['1.1.1.1/32', '5.135.167.145/32']);
    assert.equal(waf.description(v4), 'blocked-v4 set', 'UpdateIPSet would clear it if not sent again');
    const again = await sets.update(v4, add('5.135.167.145/32'));
    assert.deepEqual(again, { value: 'present', changed: false, attempts: 1 });
    assert.equal(waf.mock.commandCalls(UpdateIPSetCommand).length, 1, 'no second update');
  });

  it('a lock conflict: reads again, keeps the other writer’s change, and succeeds', async () => {
    const { waf, sets, sleeps } = setup();
    const v4 = waf.create('blocked-v4', 'IPV4');
    let others = 0;
    // Two other writers each add an address between our read and our update.
    waf.interfere = (s) => {
      if (others >= 2) return false;
      s.addresses.push(`9.9.9.${++others}/32`);
      return true;
    };
    const r = await sets.update(v4, add('5.135.167.145/32'));
    assert.equal(r.attempts, 3);
    assert.equal(waf.calls.conflicts, 2);
    assert.deepEqual(waf.addresses(v4).sort(), ['5.135.167.145/32', '9.9.9.1/32', '9.9.9.2/32']);
    assert.deepEqual(sleeps, [BACKOFF_BASE_MS * 0.5, BACKOFF_BASE_MS * 2 * 0.5], 'jittered, growing back-off');
  });

  it(`conflicts in every round: gives up after ${LOCK_ATTEMPTS} rounds with LockConflictError, the set untouched`, async () => {
    const { waf, sets, sleeps } = setup();
    const v4 = waf.create('blocked-v4', 'IPV4', ['1.1.1.1/32']);
    waf.interfere = () => true;
    await assert.rejects(sets.update(v4, add('5.135.167.145/32')), (e) => e instanceof LockConflictError && /each of 6 rounds/.test(e.message));
    assert.equal(waf.calls.update, LOCK_ATTEMPTS);
    assert.equal(sleeps.length, LOCK_ATTEMPTS - 1);
    assert.deepEqual(waf.addresses(v4), ['1.1.1.1/32']);
  });

  it('the back-off is full jitter under a doubling ceiling, capped', () => {
    const hi = new WafIpSets({ client: new FakeWaf().client, random: () => 0.999 });
    const lo = new WafIpSets({ client: new FakeWaf().client, random: () => 0 });
    assert.equal(lo.backoffMs(2), 0);
    assert.ok(hi.backoffMs(2) < BACKOFF_BASE_MS && hi.backoffMs(3) < 2 * BACKOFF_BASE_MS && hi.backoffMs(3) >= BACKOFF_BASE_MS);
    assert.ok(hi.backoffMs(30) < BACKOFF_MAX_MS && hi.backoffMs(30) >= BACKOFF_MAX_MS * 0.99);
  });

  it('past WAF’s limit: IpSetFullError (WAFLimitsExceededException)', async () => {
    const { waf, sets } = setup();
    const v4 = waf.create(
      'blocked-v4',
      'IPV4',
      Array.from({ length: 10_000 }, (_, i) => `11.${i >> 8}.${i & 255}.1/32`),
    );
    await assert.rejects(sets.update(v4, add('5.135.167.145/32', 20_000)), IpSetFullError);
    assert.equal(waf.addresses(v4).length, 10_000);
  });

  it('a set that does not exist: a clear error naming the ARN (WAFNonexistentItemException)', async () => {
    const { waf, sets } = setup();
    const v4 = waf.create('blocked-v4', 'IPV4');
    waf.delete(v4);
    await assert.rejects(
      sets.update(v4, add('5.135.167.145/32')),
      (e) => e instanceof AdapterError && e.message.includes(v4.arn) && /does not exist/.test(e.message),
    );
  });

  it('another WAF error is an AdapterError with WAF’s message (an IPv6 range in the IPv4 set)', async () => {
    const { waf, sets } = setup();
    const v4 = waf.create('blocked-v4', 'IPV4');
    await assert.rejects(sets.update(v4, add('2a01:4f8:1:2::/64')), (e) => e instanceof AdapterError && /invalid address/.test(e.message));
  });
});
