import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../../lambdas/core/config.js';
import { autoParser, describeOtherLog, makeParser } from '../../../lambdas/core/formats/index.js';
import { isPlausibleTime } from '../../../lambdas/core/formats/shared.js';
import type { LogRecord } from '../../../lambdas/core/model.js';
import { processLogObject } from '../../../lambdas/core/pipeline.js';
import { scanLines } from '../../support/detector.js';
import { MemoryPublisher, MemoryStateStore, linesOf } from '../../support/memory-store.js';

const t = (s: number) => `01/Dec/2026:12:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')} +0000`;
const common = (ip: string, s: number, req: string, status: number) => `${ip} - - [${t(s)}] "${req}" ${status} -`;
const combined = (ip: string, s: number, req: string, status: number, ua: string) => `${ip} - - [${t(s)}] "${req}" ${status} 209 "-" "${ua}"`;
const NIKTO = 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)';
const SHELLSHOCK = '() { :; }; echo; /bin/bash -c "cat /etc/passwd"';

const apacheError = (i: number) =>
  `[Tue Dec 01 12:00:${String(i % 60).padStart(2, '0')}.123456 2026] [core:error] [pid 2211:tid 140] [client 203.0.113.5:4${i}] AH00126: Invalid URI in request GET /../../etc/passwd HTTP/1.1`;
const nginxError = (i: number) =>
  `2026/12/01 12:00:${String(i % 60).padStart(2, '0')} [error] 812#812: *${i} open() "/usr/share/nginx/html/.env" failed (2: No such file or directory), client: 203.0.113.5, server: shop.example.com, request: "GET /.env HTTP/1.1", host: "shop.example.com"`;
const sshd = (i: number) => `Dec  1 12:00:${String(i % 60).padStart(2, '0')} web1 sshd[9${i}]: Failed password for root from 203.0.113.5 port 4${i} ssh2`;

describe('format per line', () => {
  it('one bare common line (OPTIONS *) at the top does not cost the rest of the file its user agents', () => {
    const lines = [
      common('127.0.0.1', 0, 'OPTIONS * HTTP/1.0', 200),
      combined('198.51.100.60', 1, 'GET / HTTP/1.1', 200, NIKTO),
      combined('198.51.100.60', 2, 'GET /admin/ HTTP/1.1', 404, NIKTO),
      combined('198.51.100.61', 3, 'GET /cgi-bin/status HTTP/1.1', 404, SHELLSHOCK),
      common('127.0.0.1', 4, 'OPTIONS * HTTP/1.0', 200),
      combined('198.51.100.62', 5, 'GET /index.html HTTP/1.1', 200, 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0'),
    ];
    const { report } = scanLines({ 'access.log': lines });
    assert.equal(report.lines.parsed, 6);
    assert.deepEqual(report.files[0]?.formats, { common: 2, combined: 4 });
    assert.equal(report.files[0]?.format, 'combined', 'the format of most lines');
    const nikto = report.sources.find((s) => s.source === '198.51.100.60');
    assert.ok(nikto?.labels['scanner-user-agent'], 'scanner agent detected');
    const shell = report.alerts.find((a) => a.source === '198.51.100.61');
    assert.ok(shell?.categories.includes('shellshock'), 'Shellshock detected');
  });

  it('a common line read first still lets later combined lines be combined (AutoParser on its own)', () => {
    const p = autoParser();
    assert.ok(p.parse(common('127.0.0.1', 0, 'OPTIONS * HTTP/1.0', 200))?.ok);
    assert.equal(p.format, 'common');
    const r = p.parse(combined('198.51.100.60', 1, 'GET / HTTP/1.1', 200, NIKTO));
    assert.ok(r?.ok);
    assert.equal(r.record.userAgent, NIKTO);
    assert.equal(p.format, 'combined');
  });

  it('mixes formats in one object: ALB, JSON, syslog-wrapped and HAProxy lines are each read in their own format', () => {
    const lines = [
      'h2 2026-12-01T12:00:00.000000Z app/shop/1f2e 203.0.113.70:40000 10.0.0.1:80 0 0 0 404 404 1 2 "GET https://shop.example.com:443/.git/HEAD HTTP/2.0" "curl/8.4.0" - -',
      '{"time":"2026-12-01T12:00:01Z","remote_addr":"203.0.113.71","request":"GET /.env HTTP/1.1","status":404}',
      '<190>Dec  1 12:00:02 web1 nginx: 203.0.113.72 - - [01/Dec/2026:12:00:02 +0000] "GET /phpinfo.php HTTP/1.1" 404 153 "-" "curl/8.4.0"',
      'Dec  1 12:00:03 lb1 haproxy[2211]: 203.0.113.73:51022 [01/Dec/2026:12:00:03.123] fe be/web2 0/0/1/12/13 404 312 - - ---- 3/3/0/0/0 0/0 "GET /wp-login.php HTTP/1.1"',
      '203.0.113.74:51023 [01/Dec/2026:12:00:04.000] fe be/web2 0/0/1/12/13 200 312 - - ---- 3/3/0/0/0 0/0 "GET / HTTP/1.1"',
    ];
    const { report } = scanLines({ mixed: lines });
    assert.equal(report.lines.parsed, 5);
    assert.deepEqual(report.files[0]?.formats, { alb: 1, json: 1, 'syslog:combined': 1, 'syslog:haproxy': 1, haproxy: 1 });
  });

  it('a line no format fits is skipped with the current format’s reason, and the format stays', () => {
    const lines = [
      combined('198.51.100.1', 0, 'GET / HTTP/1.1', 200, 'curl/8.4.0'),
      'garbage',
      combined('198.51.100.1', 1, 'GET /a HTTP/1.1', 200, 'curl/8.4.0'),
    ];
    const { report } = scanLines({ a: lines });
    assert.equal(report.lines.parsed, 2);
    assert.equal(report.lines.skipped['format-mismatch'], 1);
    assert.deepEqual(report.files[0]?.formats, { combined: 2 });
  });

  it('an impossible timestamp in the current format does not switch to a poorer format', () => {
    const auto = autoParser();
    assert.ok(auto.parse(combined('198.51.100.1', 0, 'GET / HTTP/1.1', 200, 'curl/8.4.0'))?.ok);
    const bad = auto.parse('198.51.100.1 - - [30/Feb/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.4.0"');
    assert.ok(bad && !bad.ok);
    assert.equal(bad.reason, 'invalid-timestamp');
    assert.equal(auto.format, 'combined');
  });
});

describe('virtual-host lines with or without the port', () => {
  const SQLMAP = 'sqlmap/1.7.2#stable (https://sqlmap.org)';
  const vhost = (host: string, ip: string, s: number, req: string, status: number, ua: string) =>
    `${host} ${ip} - - [${t(s)}] "${req}" ${status} 368 "-" "${ua}"`;

  it('a port-less vhost line with a scanner agent is read with its user agent, and the source alerts as with the port', () => {
    const exact = 'www.example.com 198.51.100.9 - - [10/Oct/2024:13:55:36 +0000] "GET /page1 HTTP/1.1" 200 368 "-" "sqlmap/1.7.2#stable (https://sqlmap.org)"';
    const next =
      'www.example.com 198.51.100.9 - - [10/Oct/2024:13:55:37 +0000] "GET /page1?id=1 HTTP/1.1" 200 368 "-" "sqlmap/1.7.2#stable (https://sqlmap.org)"';
    const withPort = (l: string) => l.replace('www.example.com ', 'www.example.com:443 ');
    for (const lines of [[exact, next], [exact, next].map(withPort)]) {
      const { report } = scanLines({ 'access.log': lines });
      assert.equal(report.lines.parsed, 2);
      assert.deepEqual(report.files[0]?.formats, { vhost_combined: 2 });
      const alert = report.alerts.find((a) => a.source === '198.51.100.9');
      assert.ok(alert, `alerted: ${lines[0]}`);
      assert.equal(alert.severity, 'high');
      assert.ok(alert.categories.includes('scanner-user-agent'), 'the user agent was seen');
    }
    const p = autoParser();
    const r = p.parse(exact);
    assert.ok(r?.ok);
    assert.equal(r.record.userAgent, SQLMAP);
    assert.equal(r.record.host, 'www.example.com');
    assert.equal(p.format, 'vhost_combined');
  });

  it('a bad-bot agent on a static asset behind a port-less virtual host is a bad bot, not a benign asset', () => {
    const lines = [vhost('www.sitename.com', '192.0.2.222', 0, 'GET /filename.jpg HTTP/1.1', 403, 'TrackBack/1.02')];
    const { report } = scanLines({ a: lines });
    const src = report.sources.find((s) => s.source === '192.0.2.222');
    assert.ok(src?.labels['bad-bot-user-agent'], JSON.stringify(src?.labels));
    assert.equal(src.labels['static-asset'], undefined);
  });

  it('a vhost line parses to the same record with or without its port, whether auto-detected or with --format vhost_combined', () => {
    const host = fc.oneof(
      fc.domain(),
      fc.ipV4(),
      fc.ipV6().map((a) => `[${a}]`),
    );
    const line = fc.record({
      host,
      port: fc.integer({ min: 1, max: 65535 }),
      ip: fc.oneof(fc.ipV4(), fc.ipV6()),
      s: fc.nat(3599),
      path: fc.webPath().map((p) => p || '/'),
      status: fc.constantFrom(200, 301, 403, 404, 500),
      referer: fc.constantFrom('-', 'https://ref.example/a?b=1'),
      ua: fc.constantFrom('-', SQLMAP, 'TrackBack/1.02', 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0'),
    });
    fc.assert(
      fc.property(line, ({ host, port, ip, s, path, status, referer, ua }) => {
        const tail = ` ${ip} - - [${t(s)}] "GET ${path} HTTP/1.1" ${status} 368 "${referer}" "${ua}"`;
        const without = `${host}${tail}`;
        const withPort = `${host}:${port}${tail}`;
        const records = [autoParser(), autoParser(), makeParser('vhost_combined'), makeParser('vhost_combined')].map((p, i) => {
          const r = p.parse(i % 2 === 0 ? without : withPort);
          assert.ok(r?.ok, `${i % 2 === 0 ? without : withPort}: ${r?.ok === false ? r.reason : 'skipped'}`);
          assert.equal(p.format, 'vhost_combined');
          const { raw, ...fields } = r.record;
          return fields;
        });
        for (const r of records) assert.deepEqual(r, records[0]);
        const first = records[0] as Omit<LogRecord, 'raw'>;
        assert.equal(first.host, host);
        assert.equal(first.userAgent, ua === '-' ? '' : ua);
        assert.equal(first.referer, referer === '-' ? '' : referer);
      }),
    );
  });

  it('plain vhost_common lines (no referer, no user agent) are still read, as vhost_common', () => {
    const p = autoParser();
    const bare = 'www.example.com 1.2.3.4 - theuser [10/Feb/2012:16:42:07 -0500] "GET / HTTP/1.0" 301 368';
    for (const parser of [p, makeParser('vhost_common')]) {
      const r = parser.parse(bare);
      assert.ok(r?.ok);
      assert.equal(r.record.host, 'www.example.com');
      assert.equal(r.record.peerIp, '1.2.3.4');
      assert.equal(r.record.status, 301);
      assert.equal(r.record.userAgent, '');
      assert.equal(parser.format, 'vhost_common');
    }
    // A full line then a bare one then a full one: each keeps the fields it has.
    assert.equal((p.parse(vhost('www.example.com', '1.2.3.4', 1, 'GET / HTTP/1.0', 200, SQLMAP)) as { ok: true; record: LogRecord }).record.userAgent, SQLMAP);
    assert.equal(p.format, 'vhost_combined');
    assert.ok(p.parse(bare)?.ok);
    assert.equal(p.format, 'vhost_common');
    const { report } = scanLines({ a: [bare, vhost('www.example.com', '1.2.3.5', 2, 'GET / HTTP/1.0', 200, SQLMAP), bare] });
    assert.deepEqual(report.files[0]?.formats, { vhost_common: 2, vhost_combined: 1 });
  });
});

describe('per-line choice on arbitrary input', () => {
  const seeds = [
    combined('198.51.100.1', 0, 'GET / HTTP/1.1', 200, 'curl/8.4.0'),
    common('127.0.0.1', 0, 'OPTIONS * HTTP/1.0', 200),
    '<190>Dec  1 12:00:02 web1 nginx: 203.0.113.72 - - [01/Dec/2026:12:00:02 +0000] "GET / HTTP/1.1" 404 153 "-" "curl/8.4.0"',
    '203.0.113.74:51023 [01/Dec/2026:12:00:04.000] fe be/web2 0/0/1/12/13 200 312 - - ---- 3/3/0/0/0 0/0 "GET / HTTP/1.1"',
    '{"time":"2026-12-01T12:00:01Z","remote_addr":"203.0.113.71","request":"GET /.env HTTP/1.1","status":404}',
  ];
  it('never throws and never yields a record with an implausible time, on mutated lines in any order', () => {
    const mutated = fc
      .tuple(fc.constantFrom(...seeds), fc.nat(200), fc.nat(40), fc.string({ maxLength: 12 }))
      .map(([l, at, len, ins]) => l.slice(0, at % (l.length + 1)) + ins + l.slice((at % (l.length + 1)) + len));
    fc.assert(
      fc.property(fc.array(fc.oneof(mutated, fc.string({ maxLength: 80 })), { maxLength: 30 }), (lines) => {
        const p = autoParser();
        for (const l of lines) {
          const r = p.parse(l);
          if (r?.ok && !isPlausibleTime(r.record.time)) return false;
        }
        return true;
      }),
    );
  });
});

describe('not an access log', () => {
  const cases: [string, string[], RegExp][] = [
    ['an Apache error log', Array.from({ length: 60 }, (_, i) => apacheError(i)), /they look like an Apache error log/],
    ['an Nginx error log', Array.from({ length: 12 }, (_, i) => nginxError(i)), /they look like an Nginx error log/],
    ['plain syslog', Array.from({ length: 8 }, (_, i) => sshd(i)), /they look like syslog messages/],
    [
      'prose',
      ['Release notes', '', 'This version fixes the login page.', 'Thanks to everyone who reported it.'],
      /no line is an access-log line \(the first 3 are in no known access-log format\)$/,
    ],
  ];
  for (const [what, lines, reason] of cases) {
    it(`refuses ${what} with a clear reason and uses none of it`, () => {
      const { report } = scanLines({ 'x.log': lines });
      const f = report.files[0];
      assert.match(f?.notLog ?? '', reason);
      assert.equal(f?.parsed, 0);
      assert.equal(f?.total, lines.length);
      assert.equal(report.sources.length + report.cleanSources, 0);
    });
  }

  it('refuses an error log even when a few of its lines look like access lines, and says those were not used', () => {
    const lines = Array.from({ length: 40 }, (_, i) => nginxError(i));
    lines.splice(
      10,
      0,
      combined('203.0.113.90', 1, 'GET /.env HTTP/1.1', 404, 'curl/8.4.0'),
      combined('203.0.113.90', 2, 'GET /.git/HEAD HTTP/1.1', 404, 'curl/8.4.0'),
    );
    const { report } = scanLines({ 'error.log': lines });
    assert.match(
      report.files[0]?.notLog ?? '',
      /^not an access log: 40 of the first 42 lines .*Nginx error log \(the 2 that look like requests were not used\)/,
    );
    assert.equal(report.lines.parsed, 0);
    assert.equal(report.sources.length + report.cleanSources, 0);
    assert.equal(report.lines.skipped['not-an-access-log'], 42);
  });

  it('counts but does not parse the lines after the refused start of a long object', () => {
    const lines = [
      ...Array.from({ length: 50 }, (_, i) => sshd(i)),
      ...Array.from({ length: 50 }, (_, i) => combined('203.0.113.91', i, `GET /p${i} HTTP/1.1`, 404, 'curl/8.4.0')),
    ];
    const { report } = scanLines({ syslog: lines });
    assert.equal(report.files[0]?.total, 100);
    assert.equal(report.lines.skipped['not-an-access-log'], 100);
    assert.equal(report.sources.length + report.cleanSources, 0);
  });

  it('accepts an access log with a few junk lines (half or more fit)', () => {
    const lines = [...Array.from({ length: 5 }, (_, i) => combined('198.51.100.2', i, 'GET / HTTP/1.1', 200, 'curl/8.4.0')), nginxError(1), nginxError(2)];
    const { report } = scanLines({ 'access.log': lines });
    assert.equal(report.files[0]?.notLog, undefined);
    assert.equal(report.lines.parsed, 5);
  });

  it('names error logs and syslog only when most unparsed lines are of that kind', () => {
    assert.equal(describeOtherLog([apacheError(1), apacheError(2), 'x']), 'an Apache error log');
    assert.equal(describeOtherLog([sshd(1), 'x', 'y']), null);
  });

  it('in the pipeline, an error log with a shellshock line in it is a skipped object: no state, no alert', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => apacheError(i));
    lines.splice(5, 0, combined('192.0.2.200', 1, 'GET /cgi-bin/status HTTP/1.1', 404, SHELLSHOCK));
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const deps = { store, publisher, config: structuredClone(DEFAULT_CONFIG), environment: 'test', nowSec: 1_796_083_200, owner: 'run-1' };
    const outcome = await processLogObject({ bucket: 'logs', key: 'httpd/error_log', etag: 'e1' }, linesOf(lines), deps);
    assert.equal(outcome.status, 'not-a-log');
    assert.match(outcome.reason ?? '', /^not an access log: 30 of the first 31 lines .*Apache error log/);
    assert.equal(store.deltas.size, 0);
    assert.equal(publisher.sent.length, 0);
  });
});
