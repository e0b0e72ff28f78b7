import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type BlockPolicy,
  type BlockRecord,
  DEFAULT_MAX_ENTRIES,
  MAX_BLOCK_HOURS,
  MIN_IPV6_BLOCK_BITS,
  RECORD_GRACE_SECONDS,
  blockRecord,
  blockTarget,
  canonicalCidr,
  cidrsOverlap,
  decideBlock,
  mergeBlock,
  parseIpSetArn,
  planAdd,
  planSweep,
} from '../../lambdas/core/blocking.js';
import { parseCidr } from '../../lambdas/core/ip.js';

const open: BlockPolicy = { minSeverity: 'high', allowlist: [], trustedProxies: [] };
const NOW = 1_800_000_000;

function rec(cidr: string, over: Partial<BlockRecord> = {}): BlockRecord {
  const untilEpoch = over.untilEpoch ?? NOW + 3600;
  return {
    cidr,
    source: cidr.replace('/32', ''),
    alertId: 'a1',
    until: new Date(untilEpoch * 1000).toISOString(),
    untilEpoch,
    dryRun: false,
    ipSet: cidr.includes(':') ? 'v6' : 'v4',
    blockedAt: new Date(NOW * 1000).toISOString(),
    expiresAt: untilEpoch + RECORD_GRACE_SECONDS,
    ...over,
  };
}

describe('the range a source is blocked as', () => {
  const cases: [string, string | null, string][] = [
    ['5.135.167.145', '5.135.167.145/32', 'an IPv4 address: its /32'],
    ['5.135.167.145/32', '5.135.167.145/32', 'an IPv4 /32 as given'],
    ['2a01:4f8:1:2::/64', '2a01:4f8:1:2::/64', 'the /64 source key'],
    ['2a01:4f8:1:2:aaaa:bbbb:cccc:dddd', '2a01:4f8:1:2::/64', 'a single IPv6 address: its /64'],
    ['2A01:04F8:0001:0002::1/128', '2a01:4f8:1:2::/64', 'an IPv6 /128: its /64, canonical'],
    ['2a01:4f8:1::/48', '2a01:4f8:1::/48', 'an aggregated /48'],
  ];
  for (const [source, cidr, what] of cases) {
    it(what, () => assert.deepEqual(blockTarget(source), { cidr, ipSet: (cidr as string).includes(':') ? 'v6' : 'v4' }));
  }
  it('refuses an aggregated /32 as too wide (a provider’s whole allocation)', () => {
    const t = blockTarget('2a01:4f8::/32');
    assert.equal('reason' in t && t.reason, 'prefix-too-wide');
    assert.equal(MIN_IPV6_BLOCK_BITS, 48);
  });
  it('refuses what is not an address: a host name, an IPv4 range, junk', () => {
    for (const s of ['scanner.example.com', '5.135.167.0/24', '1.2.3.4/x', '', '2a01::/200', '01.2.3.4']) {
      const t = blockTarget(s);
      assert.equal('reason' in t && t.reason, 'not-an-address', s);
    }
  });
});

describe('what is never blocked', () => {
  it('private, loopback, link-local, CGNAT, documentation, multicast and non-global IPv6 ranges', () => {
    for (const source of [
      '10.1.2.3',
      '172.16.9.9',
      '192.168.1.1',
      '127.0.0.1',
      '169.254.169.254',
      '100.64.1.1',
      '0.1.2.3',
      '192.0.2.7',
      '198.51.100.1',
      '203.0.113.9',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      'fe80::1',
      'fd00:1::/64',
      'ff02::1',
      '2001:db8:1:2::/64',
      '2001:0:4136:e378::/64',
      '64:ff9b::1.2.3.4',
    ]) {
      const d = decideBlock({ source, severity: 'critical' }, open);
      assert.equal(d.action === 'refuse' && d.reason, 'reserved', source);
    }
  });
  it('a range that overlaps the allowlist or a trusted proxy, even by one address', () => {
    const policy = { ...open, allowlist: ['5.135.167.145', '2a01:4f8:1:2::10/128'], trustedProxies: ['52.0.0.0/8'] };
    const allow = decideBlock({ source: '5.135.167.145', severity: 'high' }, policy);
    assert.equal(allow.action === 'refuse' && allow.reason, 'allowlisted');
    const v6 = decideBlock({ source: '2a01:4f8:1:2::/64', severity: 'high' }, policy);
    assert.equal(v6.action === 'refuse' && v6.reason, 'allowlisted', 'the /64 holds an allowlisted address');
    const proxy = decideBlock({ source: '52.95.1.2', severity: 'high' }, policy);
    assert.deepEqual(proxy.action === 'refuse' && [proxy.reason, proxy.detail], ['trusted-proxy', '52.95.1.2/32 overlaps the trusted proxy range 52.0.0.0/8']);
    assert.equal(decideBlock({ source: '5.135.167.146', severity: 'high' }, policy).action, 'block', 'the neighbour is blocked');
  });
  it('alerts below the minimum severity', () => {
    const d = decideBlock({ source: '5.135.167.145', severity: 'medium' }, open);
    assert.equal(d.action === 'refuse' && d.reason, 'below-min-severity');
    assert.equal(decideBlock({ source: '5.135.167.145', severity: 'critical' }, open).action, 'block');
  });
  it('property: a blocked range never overlaps a reserved range, the allowlist or a trusted proxy', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
    const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((h) => h.map((x) => x.toString(16)).join(':'));
    const range = fc.oneof(
      fc.tuple(v4, fc.integer({ min: 8, max: 32 })).map(([a, b]) => `${a}/${b}`),
      fc.tuple(v6, fc.integer({ min: 16, max: 128 })).map(([a, b]) => `${a}/${b}`),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          v4,
          v6,
          v6.map((a) => `${a}/64`),
        ),
        fc.array(range, { maxLength: 4 }),
        fc.array(range, { maxLength: 3 }),
        (source, allowlist, trustedProxies) => {
          const d = decideBlock({ source, severity: 'critical' }, { minSeverity: 'low', allowlist, trustedProxies });
          if (d.action !== 'block') return;
          const base = d.cidr.split('/')[0] as string;
          for (const r of [...allowlist, ...trustedProxies]) {
            assert.ok(!parseCidr(r).contains(base), `${d.cidr} blocked though ${r} overlaps it`);
            assert.ok(!cidrsOverlap(d.cidr, r));
          }
          for (const reserved of ['10.0.0.0/8', '127.0.0.0/8', '192.168.0.0/16', 'fc00::/7', 'fe80::/10', '2001:db8::/32']) {
            assert.ok(!cidrsOverlap(d.cidr, reserved), `${d.cidr} overlaps ${reserved}`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('canonical ranges and overlap', () => {
  it('clears host bits and writes IPv6 as RFC 5952', () => {
    assert.equal(canonicalCidr('10.1.2.3/8'), '10.0.0.0/8');
    assert.equal(canonicalCidr('5.135.167.145'), '5.135.167.145/32');
    assert.equal(canonicalCidr('2A01:04F8:0001:0002:0000:0000:0000:0000/64'), '2a01:4f8:1:2::/64');
    assert.equal(canonicalCidr('2a01:4f8:1:2:ffff::/50'), '2a01:4f8:1::/50');
    assert.equal(canonicalCidr('1.2.3.4/33'), null);
    assert.equal(canonicalCidr('nope/8'), null);
  });
  it('property: canonical form is stable and contains the same addresses', () => {
    const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((h) => h.map((x) => x.toString(16)).join(':'));
    fc.assert(
      fc.property(v6, fc.integer({ min: 0, max: 128 }), v6, (addr, bits, probe) => {
        const c = canonicalCidr(`${addr}/${bits}`) as string;
        assert.equal(canonicalCidr(c), c);
        assert.equal(parseCidr(c).contains(probe), parseCidr(`${addr}/${bits}`).contains(probe));
      }),
    );
  });
  it('overlap is symmetric and true exactly when one range holds the other’s base', () => {
    assert.ok(cidrsOverlap('10.0.0.0/8', '10.2.3.4/32'));
    assert.ok(cidrsOverlap('10.2.3.4/32', '10.0.0.0/8'));
    assert.ok(!cidrsOverlap('10.0.0.0/8', '11.0.0.0/8'));
    assert.ok(!cidrsOverlap('::/0', '1.2.3.4/32'), 'families never overlap');
  });
});

describe('how long a block lasts', () => {
  it('until = now + the suggested hours; the record outlives it by a day', () => {
    const r = blockRecord({ cidr: '5.135.167.145/32', ipSet: 'v4' }, { source: '5.135.167.145', alertId: 'x' }, NOW, 4, false);
    assert.equal(r.untilEpoch, NOW + 4 * 3600);
    assert.equal(r.until, new Date((NOW + 4 * 3600) * 1000).toISOString().replace('.000Z', 'Z'));
    assert.equal(r.expiresAt, r.untilEpoch + 86_400);
    assert.equal(r.blockedAt, new Date(NOW * 1000).toISOString().replace('.000Z', 'Z'));
  });
  it(`is bounded at ${MAX_BLOCK_HOURS} h and must be positive`, () => {
    const r = blockRecord({ cidr: '5.135.167.145/32', ipSet: 'v4' }, { source: 's', alertId: 'x' }, NOW, 10_000, true);
    assert.equal(r.untilEpoch, NOW + MAX_BLOCK_HOURS * 3600);
    assert.throws(() => blockRecord({ cidr: 'c', ipSet: 'v4' }, { source: 's', alertId: 'x' }, NOW, 0, true), /positive/);
  });
  it('a repeat of the same alert keeps the block; another alert only ever lengthens it; a dry run never touches a real block', () => {
    const first = rec('5.135.167.145/32', { alertId: 'a1', untilEpoch: NOW + 100 });
    assert.equal(mergeBlock(undefined, first), 'create');
    assert.equal(mergeBlock(first, { ...first, untilEpoch: NOW + 500 }), 'keep', 'same alert, later clock: nothing extended');
    assert.equal(mergeBlock(first, { ...first, alertId: 'a2', untilEpoch: NOW + 500 }), 'extend');
    assert.equal(mergeBlock(first, { ...first, alertId: 'a2', untilEpoch: NOW + 50 }), 'keep', 'never shortened');
    assert.equal(mergeBlock({ ...first, dryRun: true }, first), 'upgrade');
    assert.equal(mergeBlock(first, { ...first, alertId: 'a2', untilEpoch: NOW + 500, dryRun: true }), 'keep');
  });
  it('property: merging never ends a block earlier than it was', () => {
    const r = fc.record({ alertId: fc.constantFrom('a', 'b', 'c'), untilEpoch: fc.integer({ min: NOW, max: NOW + 10_000 }), dryRun: fc.boolean() });
    fc.assert(
      fc.property(r, r, (a, b) => {
        const existing = rec('5.135.167.145/32', a);
        const next = rec('5.135.167.145/32', b);
        const m = mergeBlock(existing, next);
        if (m === 'extend') assert.ok(next.untilEpoch > existing.untilEpoch);
        if (m === 'extend' || m === 'keep') assert.equal(existing.dryRun && !next.dryRun, false);
      }),
    );
  });
});

describe('adding to a set', () => {
  it('adds once, compares canonically, and stops at the cap', () => {
    assert.deepEqual(planAdd(['1.1.1.1/32'], '5.135.167.145/32', 10), { kind: 'add', addresses: ['1.1.1.1/32', '5.135.167.145/32'] });
    assert.deepEqual(planAdd(['2A01:4F8:1:2:0:0:0:0/64'], '2a01:4f8:1:2::/64', 10), { kind: 'present' });
    assert.deepEqual(planAdd(['1.1.1.1/32', '1.1.1.2/32'], '5.135.167.145/32', 2), { kind: 'cap', size: 2 });
    assert.equal(DEFAULT_MAX_ENTRIES < 10_000, true);
  });
});

describe('sweeping a set', () => {
  const opts = { nowSec: NOW, ipSet: 'v4' as const, owned: false, dryRun: false, maxEntries: 10 };
  it('removes ended blocks, keeps live ones and entries it does not manage, and deletes only ended records', () => {
    const records = [rec('5.5.5.5/32', { untilEpoch: NOW - 1 }), rec('6.6.6.6/32', { untilEpoch: NOW + 60 }), rec('2a01:4f8::/64', { untilEpoch: NOW - 1 })];
    const p = planSweep(records, ['5.5.5.5/32', '6.6.6.6/32', '9.9.9.9/32'], opts);
    assert.deepEqual(p.addresses, ['6.6.6.6/32', '9.9.9.9/32']);
    assert.deepEqual(p.removed, ['5.5.5.5/32']);
    assert.deepEqual(p.expiredRecords, ['5.5.5.5/32'], 'the v6 record is the v6 sweep’s');
  });
  it('in a set it owns, removes everything without a live block (a record lost to TTL leaves nothing behind)', () => {
    const p = planSweep([rec('6.6.6.6/32')], ['6.6.6.6/32', '9.9.9.9/32'], { ...opts, owned: true });
    assert.deepEqual(p.addresses, ['6.6.6.6/32']);
  });
  it('puts back live blocks missing from the set, within the cap; none in dry run', () => {
    const records = [rec('6.6.6.6/32'), rec('7.7.7.7/32'), rec('8.8.4.4/32', { dryRun: true })];
    const p = planSweep(records, ['1.1.1.1/32'], { ...opts, maxEntries: 2 });
    assert.deepEqual([p.restored, p.capped, p.addresses], [['6.6.6.6/32'], ['7.7.7.7/32'], ['1.1.1.1/32', '6.6.6.6/32']]);
    assert.equal(planSweep(records, ['1.1.1.1/32'], { ...opts, dryRun: true }).addresses, null, 'dry run: no update');
  });
  it('changes nothing (no update call) when the set already matches', () => {
    assert.equal(planSweep([rec('6.6.6.6/32')], ['6.6.6.6/32'], opts).addresses, null);
  });
  it('property: after a sweep, a set holds every live real block (up to the cap) and no ended one', () => {
    const cidr = fc.integer({ min: 1, max: 40 }).map((i) => `5.135.${i}.1/32`);
    const record = fc.record({ cidr, untilEpoch: fc.integer({ min: NOW - 100, max: NOW + 100 }), dryRun: fc.boolean() });
    fc.assert(
      fc.property(
        fc.uniqueArray(record, { selector: (r) => r.cidr, maxLength: 30 }),
        fc.uniqueArray(cidr, { maxLength: 30 }),
        fc.boolean(),
        (rs, set, owned) => {
          const records = rs.map((r) => rec(r.cidr, r));
          const p = planSweep(records, set, { ...opts, owned, maxEntries: 50 });
          const after = new Set(p.addresses ?? set);
          for (const r of records) {
            if (r.untilEpoch > NOW && !r.dryRun) assert.ok(after.has(r.cidr), `live ${r.cidr} missing`);
            if (r.untilEpoch <= NOW && !r.dryRun && !records.some((o) => o !== r && o.cidr === r.cidr)) assert.ok(!after.has(r.cidr), `ended ${r.cidr} kept`);
          }
          if (owned)
            for (const a of after)
              assert.ok(
                records.some((r) => r.cidr === a && r.untilEpoch > NOW && !r.dryRun),
                `${a} has no live block`,
              );
        },
      ),
    );
  });
});

describe('IP set ARNs', () => {
  it('gives name, id, scope and region', () => {
    assert.deepEqual(parseIpSetArn('arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/blocked-v4/a1b2c3d4-5678-90ab-cdef-0123456789ab'), {
      arn: 'arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/blocked-v4/a1b2c3d4-5678-90ab-cdef-0123456789ab',
      region: 'eu-west-1',
      scope: 'REGIONAL',
      name: 'blocked-v4',
      id: 'a1b2c3d4-5678-90ab-cdef-0123456789ab',
    });
    assert.equal(parseIpSetArn('arn:aws:wafv2:us-east-1:123456789012:global/ipset/x/abc')?.scope, 'CLOUDFRONT');
    assert.equal(parseIpSetArn('arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/abc'), null);
  });
});
