import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientIpResolver } from '../../lambdas/core/client-ip.js';
import { CidrSet, isInternal, isLoopback, normalizeIp, parseCidr, sourceKey } from '../../lambdas/core/ip.js';

describe('IP addresses', () => {
  const normal: [string, string | null][] = [
    ['1.2.3.4', '1.2.3.4'],
    ['1.2.3.4:8080', '1.2.3.4'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['fe80::1%eth0', 'fe80::1'],
    ['256.1.1.1', null],
    ['01.2.3.4', null],
    ['1.2.3', null],
    ['example.com', null],
    ['1::2::3', null],
  ];
  for (const [input, expected] of normal) {
    it(`normalises ${input}`, () => assert.equal(normalizeIp(input), expected));
  }

  it('keys IPv4 by address and IPv6 by /64', () => {
    assert.equal(sourceKey('198.51.100.9'), '198.51.100.9');
    assert.equal(sourceKey('2001:db8:aaaa:bbbb:1:2:3:4'), '2001:db8:aaaa:bbbb::/64');
    assert.equal(sourceKey('2001:db8:aaaa:bbbb:ffff::9'), '2001:db8:aaaa:bbbb::/64');
    assert.equal(sourceKey('crawler.example.net'), 'crawler.example.net');
  });

  it('matches CIDR ranges for both families', () => {
    const v4 = parseCidr('10.0.0.0/8');
    assert.ok(v4.contains('10.122.71.83'));
    assert.ok(!v4.contains('11.0.0.1'));
    assert.ok(!v4.contains('::1'));
    const v6 = parseCidr('2001:db8::/32');
    assert.ok(v6.contains('2001:db8:1::5'));
    assert.ok(!v6.contains('2001:db9::5'));
    assert.ok(parseCidr('0.0.0.0/0').contains('8.8.8.8'));
    assert.ok(new CidrSet(['192.0.2.1']).has('192.0.2.1'));
    assert.throws(() => parseCidr('10.0.0.0/33'), /prefix length/);
    assert.throws(() => parseCidr('nope/8'), /not an IP/);
  });

  it('knows loopback and internal ranges', () => {
    assert.ok(isLoopback('127.0.0.1'));
    assert.ok(isLoopback('::1'));
    assert.ok(!isLoopback('10.0.0.1'));
    for (const ip of ['10.122.71.83', '172.16.5.4', '192.168.1.1', '100.64.0.9', 'fd00::1', 'fc00:1:2:3::/64']) assert.ok(isInternal(ip), ip);
    for (const ip of ['5.135.167.145', '172.32.0.1', '2001:db8::1']) assert.ok(!isInternal(ip), ip);
  });
});

describe('client address resolution', () => {
  const resolver = new ClientIpResolver(['10.0.0.0/8', '192.0.2.10']);
  const cases: [string, string, string, string][] = [
    ['untrusted peer: X-Forwarded-For is ignored', '203.0.113.5', '1.1.1.1', '203.0.113.5'],
    ['trusted peer: rightmost untrusted hop', '10.0.0.2', '198.51.100.1, 203.0.113.9', '203.0.113.9'],
    ['trusted hops are skipped from the right', '10.0.0.2', '198.51.100.1, 203.0.113.9, 192.0.2.10', '203.0.113.9'],
    ['a forged leftmost entry is not believed', '10.0.0.2', '6.6.6.6, 203.0.113.9', '203.0.113.9'],
    ['all hops trusted: the leftmost', '10.0.0.2', '10.1.1.1, 10.2.2.2', '10.1.1.1'],
    ['garbage in the chain stops at the peer', '10.0.0.2', 'not-an-ip', '10.0.0.2'],
    ['no header', '10.0.0.2', '', '10.0.0.2'],
    ['IPv6 hop', '10.0.0.2', '2001:db8::7', '2001:db8::7'],
  ];
  for (const [name, peer, xff, expected] of cases) {
    it(name, () => assert.equal(resolver.resolve(peer, xff), expected));
  }
  it('without trusted proxies the peer is the client', () => {
    assert.equal(new ClientIpResolver([]).resolve('10.0.0.2', '203.0.113.9'), '10.0.0.2');
  });
});
