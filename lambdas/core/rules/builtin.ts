import { ASSET_EXTENSIONS, DOTLESS_SECRET_FILES, SCRIPT_EXTENSIONS } from './engine.js';
import { EXPLOITED_PRODUCTS } from './exploited-products.js';
import { SCANNER_MARKERS, SCANNER_TOOLS } from './scanner-tools.js';
import type { CategoryInfo, Rule } from './types.js';

// A 2xx (or 416, a bad range on a file that exists) means the resource exists and a 3xx that the
// site redirected it: either way, asking is not probing.
const NOT_SERVED = ['2xx', '3xx', '416'];
// For names that only a sweep asks for (archives, phpMyAdmin), a redirect proves nothing: sites
// answer every unknown path with the same redirect to the home or login page.
const NOT_DELIVERED = ['2xx', '416'];

/** Endings of backup copies, archives and database dumps. */
/** Locations of server status handlers, which answer any path below them as well. */
const STATUS_HANDLERS = ['/server-status/', '/server-info/', '/nginx_status/'];

const BACKUP_SUFFIXES = [
  '.sql',
  '.sql.gz',
  '.sql.zip',
  '.sql.bz2',
  '.bak',
  '.old',
  '.orig',
  '.save',
  '.swp',
  '~',
  '.tar.gz',
  '.tgz',
  '.tar',
  '.tar.bz2',
  '.zip',
  '.rar',
  '.7z',
  '.dump',
  '.db',
  '.sqlite',
  '.mdb',
  '.backup',
];

/** Scanner and attack-tool evidence alerts after this many requests, however spread over a day. */
const SCANNER_THRESHOLD = { count: 3, windowSeconds: 86_400 };

/** Load-balancer, orchestrator and uptime-monitor user agents. */
const HEALTH_CHECK_AGENTS = [
  'elb-healthchecker',
  'kube-probe',
  'googlehc',
  'amazon-route53-health-check',
  'uptimerobot',
  'pingdom.com_bot',
  'statuscake',
  'site24x7',
  'betteruptime',
  'better uptime bot',
  'datadog/synthetics',
  'newrelicpinger',
  'check_http',
  'nagios-plugins',
  'monit/',
  'zabbix',
  'consul health check',
  'hetrixtools',
  'freshping',
  'updown.io',
  'uptime-kuma',
  'azure traffic manager endpoint monitor',
  'alwaysonline',
];

const NVD = (cve: string) => `https://nvd.nist.gov/vuln/detail/${cve}`;

/**
 * The built-in rule set. Paths, queries and user agents are compared lower-cased and
 * percent-decoded. Probing rules only fire when the site did not serve the resource (a 2xx means
 * it exists, so asking for it is not probing); secrets and exploits fire whatever the status.
 */
/**
 * Secret files spread over a day are as telling as a burst: no visitor asks for any. Four of
 * them (any of the sensitive-file rules) within 24 hours alert (CrowdSec's sensitive-files
 * scenario uses 4 in 5 s; a slow hunter spaces them out).
 */
/** Three open-proxy tests (CONNECT, or a URL of another site) from one source in a day alert. */
const PROXY_THRESHOLD = { count: 3, windowSeconds: 86_400, per: 'category' } as const;

const SECRETS_THRESHOLD = { count: 4, windowSeconds: 86_400, per: 'category' } as const;

/**
 * A dotted IPv4 address outside the private, loopback, link-local and multicast ranges (RE2 has no
 * look-ahead, so the ranges are spelt out): 0, 10, 127 and 224–255 are left out as first numbers,
 * and 169.254, 172.16–31 and 192.168 by their second.
 */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const PUBLIC_IPV4 = `(?:(?:[1-9]|1[1-9]|[2-9]\\d|1[01]\\d|12[0-689]|1[3-5]\\d|16[0-8]|17[013-9]|18\\d|19[013-9]|2[01]\\d|22[0-3])\\.${OCTET}|169\\.(?:25[0-35]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)|172\\.(?:1[0-5]|3[2-9]|[4-9]\\d|[0-9]|1\\d\\d|2[0-4]\\d|25[0-5])|192\\.(?:1[0-57-9]\\d|16[0-79]|2[0-4]\\d|25[0-5]|[1-9]?\\d))\\.${OCTET}\\.${OCTET}`;
/** A user name before the host of a URL (`http://x@203.0.113.50/`), which hides the address from a naive reading. */
const USERINFO = '(?:[^/@?#\\s]*@)?';

/**
 * A CONNECT to a path over HTTP/2 or 3, not to a host and port: a WebSocket (RFC 8441, RFC 9220),
 * which browsers open to the site itself. Over HTTP/1.1 a CONNECT always names a host.
 */
const WEBSOCKET_OVER_HTTP2 = { rawTarget: { prefix: ['/'] }, protocol: ['HTTP/2.0', 'HTTP/2', 'HTTP/3.0', 'HTTP/3'] };

/** Parameter names that PHP applications pass to `include` (as a regex group). */
const INCLUDED_PARAMS =
  '(page|file|filename|filepath|include|include_path|inc|incfile|template|tpl|dir|doc|document|folder|root|pg|style|layout|conf|config|mosconfig_absolute_path|base_path|basepath|abspath|prefix|module_path|lib|class_path|pagina)';

export const BUILTIN_RULES: Rule[] = [
  // ── benign ────────────────────────────────────────────────────────────────────────────────
  {
    id: 'apache-dummy-connection',
    category: 'apache-internal-dummy-connection',
    class: 'benign',
    severity: 'info',
    score: 0,
    explain:
      "Apache's own internal dummy connection: the parent process sends `OPTIONS *` to itself to wake idle workers when it shrinks its pool after a burst of traffic, which is why these lines follow a scan",
    references: ['https://cwiki.apache.org/confluence/display/httpd/InternalDummyConnection'],
    match: { method: ['OPTIONS'], rawTarget: { equals: ['*'] }, peer: 'loopback' },
    suppresses: ['probing', 'protocol', 'client'],
  },
  {
    id: 'apache-dummy-connection-ua',
    category: 'apache-internal-dummy-connection',
    class: 'benign',
    severity: 'info',
    score: 0,
    explain: "Apache's own internal dummy connection (logged with the user agent `(internal dummy connection)`)",
    references: ['https://cwiki.apache.org/confluence/display/httpd/InternalDummyConnection'],
    match: { userAgent: { contains: ['(internal dummy connection)'] }, peer: 'loopback' },
    suppresses: ['probing', 'protocol', 'client'],
  },
  {
    id: 'health-check-agent',
    category: 'health-check',
    class: 'benign',
    severity: 'info',
    score: 0,
    explain: 'A load-balancer, orchestrator or uptime-monitor health check from inside the network',
    // Anyone can send a monitor's user agent; only from an internal peer may it cancel findings.
    match: { userAgent: { contains: HEALTH_CHECK_AGENTS }, peer: 'internal' },
    suppresses: ['probing', 'client'],
  },
  {
    id: 'health-check-agent-external',
    category: 'health-check',
    class: 'benign',
    severity: 'info',
    score: 0,
    explain: 'An uptime monitor by its user agent: it explains plain errors, not probes, since the user agent is not verified',
    match: { userAgent: { contains: HEALTH_CHECK_AGENTS } },
    claimOnly: true,
  },
  {
    id: 'health-check-path',
    category: 'health-check',
    class: 'benign',
    severity: 'info',
    score: 0,
    explain: 'A load-balancer or monitor health check on the health endpoint the site answers',
    match: {
      path: {
        equals: ['/health', '/healthz', '/healthcheck', '/health-check', '/_health', '/ready', '/readyz', '/livez', '/ping', '/elb-status', '/__health'],
      },
      status: ['2xx'],
    },
  },
  {
    id: 'idle-connection',
    category: 'idle-connection',
    class: 'benign',
    severity: 'info',
    score: 0,
    explain: 'A connection that sent no request before the server timed it out (408): browsers open spare connections in advance and drop them',
    match: { request: { equals: ['-', ''] }, status: ['408'] },
    suppresses: ['protocol'],
  },
  {
    id: 'static-asset',
    category: 'static-asset',
    class: 'benign',
    severity: 'info',
    score: 0,
    explain: 'Images, stylesheets, scripts and fonts: a missing one is a broken link, not a probe',
    match: {
      path: { suffix: [...ASSET_EXTENSIONS].map((x) => `.${x}`) },
      // Only the missing ones need explaining; served assets are ordinary browsing.
      status: ['4xx'],
    },
    // A stylesheet name after a script, a secret or a status handler (`/index.php/x.css`,
    // `/.env/x.css`, `/server-status/x.css`) is a decoy: the server runs or looks up what comes
    // before it, and probe rules read that path too. (`;x.css`, `%00.css` and `%3f.css` are cut
    // off when the path is resolved, and then end in no asset suffix.)
    unless: {
      path: {
        prefix: STATUS_HANDLERS,
        contains: [
          ...[...SCRIPT_EXTENSIONS].map((x) => `.${x}/`),
          '/.git/',
          '/.svn/',
          '/.hg/',
          '/.aws/',
          '/.ssh/',
          '.env/',
          '.sql/',
          '.bak/',
          '.old/',
          '.ini/',
          '.conf/',
          '.config/',
        ],
      },
    },
  },

  {
    id: 'search-engine-crawler',
    category: 'crawler-broken-link',
    class: 'benign',
    severity: 'info',
    score: 0,
    explain:
      'A search-engine or SEO crawler following a broken link. User agents can be forged and are not verified here, so its probes are still flagged; only its plain 404s do not count towards an error burst (crawlers replay broken links scraped from other sites in bursts)',
    match: {
      userAgent: {
        contains: [
          'googlebot',
          'bingbot',
          'mj12bot',
          'ahrefsbot',
          'semrushbot',
          'yandexbot',
          'baiduspider',
          'duckduckbot',
          'applebot',
          'petalbot',
          'dotbot',
          'slurp',
          'seznambot',
          'exabot',
          'sogou web spider',
          'qwantify',
          'facebookexternalhit',
        ],
      },
      status: ['4xx'],
    },
  },

  // ── probing ───────────────────────────────────────────────────────────────────────────────
  {
    id: 'cgi-directory',
    category: 'cgi-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'A request for a CGI script that does not exist, typical of scanners hunting for Shellshock-era CGI programs',
    references: ['https://nvd.nist.gov/vuln/detail/CVE-2014-6271'],
    match: {
      path: { prefix: ['/cgi-bin/', '/cgi-sys/', '/cgi-mod/', '/cgi-bin-sdb/', '/cgi/', '/fcgi-bin/', '/cgi-local/', '/cgi-win/', '/htbin/'] },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'cgi-script',
    category: 'cgi-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'A request for a CGI or Perl script that does not exist',
    match: { path: { suffix: ['.cgi', '.pl', '/printenv', '/test-cgi'] }, notStatus: NOT_SERVED },
  },
  {
    id: 'php-interpreter',
    category: 'php-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'Looking for a PHP interpreter exposed as a CGI binary (the PHP-CGI argument-injection family of exploits)',
    references: ['https://nvd.nist.gov/vuln/detail/CVE-2012-1823', 'https://nvd.nist.gov/vuln/detail/CVE-2024-4577'],
    match: {
      path: { prefix: ['/phppath/', '/php-cgi', '/php/'], regex: '/php[0-9]?(-cli|-cgi)?(\\.exe)?$' },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'php-info',
    category: 'php-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'Looking for a phpinfo() page or a leftover PHP test script that reveals the server configuration',
    match: {
      path: {
        equals: [
          '/phpinfo.php',
          '/info.php',
          '/i.php',
          '/test.php',
          '/php.php',
          '/phpinfo',
          '/php_info.php',
          '/pi.php',
          '/infophp.php',
          '/phpversion.php',
          '/php-info.php',
          '/temp.php',
          '/old_phpinfo.php',
          '/time.php',
          '/phptest.php',
        ],
        suffix: ['/php.ini'],
      },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'wordpress-probe',
    category: 'cms-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'Looking for a WordPress installation (login page, XML-RPC, plugins) on a site that does not run one',
    match: {
      path: {
        contains: ['/wp-login.php', '/wp-admin', '/wp-content/', '/wp-includes/', '/xmlrpc.php', '/wlwmanifest.xml', '/wp-json/'],
        prefix: ['/wordpress', '/wp/'],
      },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'joomla-probe',
    category: 'cms-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'Looking for a Joomla installation or one of its components',
    match: {
      target: { contains: ['option=com_', '/components/com_', '/administrator/manifests/', '/joomla'] },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'joomla-admin',
    category: 'cms-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: "Looking for Joomla's administrator back end",
    match: { path: { prefix: ['/administrator/', '/administrator/index.php'], equals: ['/administrator'] }, notStatus: NOT_SERVED },
  },
  {
    id: 'drupal-probe',
    category: 'cms-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'Looking for a Drupal installation (its changelog, install script or default files)',
    match: {
      path: {
        equals: ['/changelog.txt', '/core/install.php', '/misc/drupal.js', '/core/misc/drupal.js', '/user/password', '/core/changelog.txt'],
        prefix: ['/sites/default/', '/sites/all/'],
      },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'other-cms-probe',
    category: 'cms-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'Looking for a well-known CMS or shop back end (TYPO3, Magento, Bitrix, Umbraco, vBulletin, Discuz…)',
    match: {
      path: {
        prefix: ['/typo3/', '/magento/', '/bitrix/', '/umbraco/', '/vbulletin/', '/forum/', '/bbs/', '/uc_server/', '/plus/', '/dede/', '/member/'],
        equals: ['/typo3', '/downloader/', '/app/etc/local.xml', '/admin/config.php'],
      },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'registration-form-probe',
    category: 'registration-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'Looking for a sign-up or login form to register spam accounts: a bot trying the URL patterns of many forum and CMS products',
    // The path only: a login redirect naming the sign-up page (`?came_from=/register`) is no probe.
    match: {
      path: {
        contains: [
          'signup',
          'sign_up',
          'sign-up',
          'register',
          'registration',
          '/join',
          'newuser',
          'create_account',
          'createaccount',
          'account/create',
          'quicklogin',
          'reg.php',
          'regist',
        ],
      },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'registration-form-query',
    category: 'registration-probe',
    class: 'probing',
    severity: 'medium',
    score: 5,
    explain: 'Looking for the sign-up action of a forum or CMS front controller (`?mod=register`, `?action=register`, `?option=com_registration`)',
    match: {
      param: {
        regex: '^(action|mode|mod|do|section|task|view|option|act|op|module|page|a|ac|m)=.{0,100}(regist|signup|sign_up|newuser|join)',
      },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'admin-interface',
    category: 'admin-interface-probe',
    class: 'probing',
    severity: 'medium',
    score: 8,
    explain: 'Looking for a database or server administration interface (phpMyAdmin, Tomcat manager, Adminer, Jenkins…)',
    match: {
      path: {
        contains: [
          'phpmyadmin',
          '/pma/',
          '/myadmin',
          '/mysqladmin',
          '/sqladmin',
          '/dbadmin',
          '/db/',
          'adminer',
          '/manager/html',
          '/host-manager',
          '/jmx-console',
          '/web-console',
          '/jenkins',
          '/solr/admin',
          '/actuator',
          '/_profiler',
          '/webdav',
          '/cpanel',
          '/whm',
          '/webmin',
          '/phpPgAdmin',
          '/mysql/',
          '/sql/',
          '/websql',
          '/admin.php',
          '/admin/',
          '/console/',
          '/telescope',
          '/horizon/api',
          '/hudson',
          '/jolokia',
          '/elmah.axd',
          '/trace.axd',
          '/druid/index.html',
          '/nacos/',
        ],
        equals: ['/admin', '/pma', '/console', '/manager', '/login.action', '/boaform'],
      },
      notStatus: NOT_SERVED,
    },
  },
  {
    id: 'phpmyadmin-probe',
    category: 'admin-interface-probe',
    class: 'probing',
    severity: 'medium',
    score: 8,
    explain: 'Looking for phpMyAdmin under one of the many names sweeps try',
    references: ['https://www.phpmyadmin.net/'],
    match: {
      segment: {
        prefix: ['phpmyadmin', 'phpmyadm', 'php-myadmin', 'php-my-admin', 'myadmin', 'mysqladmin', 'mysql-admin', 'mysqlmanager', 'sqladmin', 'dbadmin'],
        equals: ['pma', 'pma2', 'pma3', 'pma4', 'pma5', 'phpma', 'websql', 'sqlweb', 'sqlbuddy'],
      },
      notStatus: NOT_DELIVERED,
    },
  },
  {
    id: 'wordpress-author-enum',
    category: 'user-enumeration',
    class: 'probing',
    severity: 'medium',
    score: 10,
    explain: 'Enumerating WordPress user names with `/?author=N` (the site redirects it to the author page, which names the account)',
    references: ['https://github.com/wpscanteam/wpscan'],
    match: { path: { equals: ['/', '/index.php'] }, param: { regex: '^author=[0-9]{1,9}$' } },
    // One author link is a reader; five numbered authors within an hour is a list being walked.
    threshold: { count: 5, windowSeconds: 3600 },
  },
  {
    id: 'cache-busting',
    category: 'cache-busting-flood',
    class: 'abuse',
    severity: 'medium',
    score: 1,
    explain: 'The home page with a random bare query (`/?x7f3k2j1a9`) so that every request misses the cache: an HTTP flood aimed at the origin server',
    references: ['https://www.cloudflare.com/learning/ddos/http-flood-ddos-attack/'],
    match: { path: { equals: ['/', '/index.php', '/index.html'] }, query: { regex: '^[a-z0-9]{8,40}$' } },
    threshold: { count: 30, windowSeconds: 60 },
  },
  {
    id: 'webdav-method',
    category: 'webdav-probe',
    class: 'protocol',
    severity: 'medium',
    score: 1,
    explain: 'A WebDAV method (PROPFIND, SEARCH…) the server refused: repeated hundreds of times, it is a flood or an exploit search',
    match: { method: ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH'], notStatus: ['2xx'] },
    threshold: { count: 100, windowSeconds: 3600 },
  },
  {
    id: 'secret-file',
    category: 'sensitive-file',
    class: 'probing',
    severity: 'high',
    score: 20,
    threshold: SECRETS_THRESHOLD,
    explain: 'Looking for files that hold secrets (environment files, version-control metadata, credentials): if one was served, treat its contents as leaked',
    references: ['https://github.com/coreruleset/coreruleset/blob/main/rules/restricted-files.data'],
    // Whole segments and file names, not substrings: `/secrets-of-baking` is a page, and a decoy
    // extension (`/.env.js.map`) does not hide `.env`.
    match: {
      file: {
        equals: [
          '.env',
          '.envrc',
          '.ds_store',
          '.htaccess',
          '.htpasswd',
          '.gitignore',
          '.git-credentials',
          '.gitconfig',
          '.npmrc',
          '.dockerenv',
          '.bash_history',
          '.zsh_history',
          '.travis.yml',
          '.gitlab-ci.yml',
          '.s3cfg',
          '.boto',
          '.pgpass',
          '.my.cnf',
          '.user.ini',
          // Private SSH keys: the one list the decoy cut reads too (`/id_rsa/x.png`).
          ...DOTLESS_SECRET_FILES,
          'wp-config.php',
          'web.config',
          'appsettings.json',
          'secrets.json',
          'secrets.yml',
          'secrets.yaml',
          'credentials.json',
          'credentials.xml',
          'wallet.dat',
        ],
        prefix: ['config.php.'],
      },
    },
    // `/.well-known/` is a standard location (ACME, security.txt), not a secret.
    unless: { path: { prefix: ['/.well-known/'] } },
  },
  {
    id: 'secret-directory',
    category: 'sensitive-file',
    class: 'probing',
    severity: 'high',
    score: 20,
    threshold: SECRETS_THRESHOLD,
    explain: 'Looking inside directories that hold secrets (version-control metadata, cloud and SSH credentials)',
    references: ['https://github.com/coreruleset/coreruleset/blob/main/rules/restricted-files.data'],
    match: {
      segment: {
        equals: ['.git', '.svn', '.hg', '.bzr', '.aws', '.ssh', '.docker', '.vscode', '.idea', '.kube', '.config'],
      },
    },
  },
  {
    id: 'secret-store-path',
    category: 'sensitive-file',
    class: 'probing',
    severity: 'high',
    score: 20,
    threshold: SECRETS_THRESHOLD,
    explain: 'Looking for a `secrets` or `credentials` directory that does not exist here',
    // Applications have real pages by these names (`/settings/credentials`): only a miss is a probe.
    match: { segment: { equals: ['secrets', 'credentials'] }, notStatus: NOT_SERVED },
  },
  {
    id: 'secret-config-root',
    category: 'sensitive-file',
    class: 'probing',
    severity: 'high',
    score: 20,
    threshold: SECRETS_THRESHOLD,
    explain: 'Looking for deployment and application configuration files at the top of the web root',
    match: {
      path: {
        equals: ['/docker-compose.yml', '/docker-compose.yaml', '/config.json', '/config.yml', '/database.yml', '/settings.py', '/config/database.yml'],
      },
    },
  },
  {
    id: 'server-status',
    category: 'sensitive-file',
    class: 'probing',
    severity: 'high',
    score: 20,
    // No day-long count: monitoring on another host scrapes these pages all day long.
    explain: "Looking for Apache's server-status or server-info pages, which reveal every client and URL being served",
    // A handler location answers every path below it (`/server-status/x.css` is mod_status).
    match: { path: { equals: ['/server-status', '/server-info', '/server-status/', '/nginx_status', '/status.php'], prefix: STATUS_HANDLERS } },
    // mod_status scraped from the same host is monitoring, not probing.
    unless: { peer: 'loopback' },
  },
  {
    id: 'backup-file',
    category: 'sensitive-file',
    class: 'probing',
    severity: 'high',
    score: 20,
    threshold: SECRETS_THRESHOLD,
    explain: 'Looking for backups and database dumps left in the web root',
    match: { file: { suffix: BACKUP_SUFFIXES }, notStatus: NOT_SERVED },
  },
  {
    id: 'backup-sweep',
    category: 'sensitive-file',
    class: 'probing',
    severity: 'high',
    score: 20,
    threshold: SECRETS_THRESHOLD,
    explain: 'Looking for an archive or dump of the whole site at the top of the web root (`/backup.zip`, `/site.tar.gz`, `/<host>.sql`)',
    // At the top level a redirect proves nothing: sites answer every unknown name with the same
    // redirect to the home or login page, and only a delivered file means it exists. Deeper
    // down, a redirect is more often a real download that moved.
    match: { path: { regex: '^/[^/]{1,255}$' }, file: { suffix: BACKUP_SUFFIXES }, notStatus: NOT_DELIVERED },
  },
  {
    id: 'backup-directory',
    category: 'sensitive-file',
    class: 'probing',
    severity: 'high',
    score: 20,
    threshold: SECRETS_THRESHOLD,
    explain: 'Looking for a directory of backups or database dumps in the web root',
    match: { segment: { equals: ['backup', 'backups', 'dump', 'dumps', 'db_backup', 'db_backups', 'sql_backup'] }, notStatus: NOT_SERVED },
  },
  {
    id: 'http-auth-failure',
    category: 'brute-force',
    class: 'abuse',
    severity: 'high',
    score: 3,
    explain: 'Repeated failed authentication (401): someone guessing passwords',
    match: { status: ['401'] },
    threshold: { count: 8, windowSeconds: 60 },
  },
  {
    id: 'login-post',
    category: 'brute-force',
    class: 'abuse',
    severity: 'high',
    score: 3,
    explain: 'Repeated login form submissions that did not log in: someone guessing passwords',
    match: {
      method: ['POST'],
      path: {
        contains: [
          '/wp-login.php',
          '/xmlrpc.php',
          '/login',
          '/signin',
          '/sign-in',
          '/logon',
          '/auth',
          '/j_security_check',
          '/session',
          '/administrator/index.php',
        ],
      },
      status: ['200', '401', '403', '429'],
    },
    threshold: { count: 8, windowSeconds: 60 },
  },

  // ── exploit ───────────────────────────────────────────────────────────────────────────────
  {
    id: 'traversal-sequence',
    category: 'path-traversal',
    class: 'exploit',
    severity: 'high',
    score: 25,
    explain: 'Directory traversal (`../`): trying to read files outside the web root',
    match: { target: { contains: ['../', '..\\', '/..;/', '..%2f', '..%5c', '%c0%ae', '.%2e/', '..;/'] } },
  },
  {
    id: 'traversal-target-file',
    category: 'path-traversal',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'Trying to read system files such as /etc/passwd through the web server',
    match: {
      target: {
        contains: [
          '/etc/passwd',
          '/etc/shadow',
          '/etc/hosts',
          'win.ini',
          'boot.ini',
          '/proc/self/',
          'c:\\windows',
          'c:/windows',
          '/etc/issue',
          'web-inf/web.xml',
        ],
      },
    },
  },
  {
    id: 'sql-injection',
    category: 'sqli',
    class: 'exploit',
    severity: 'high',
    score: 25,
    explain: 'SQL injection: trying to make the application run attacker-written database queries',
    match: {
      target: {
        contains: [
          'union select',
          'union all select',
          'union/**/select',
          "' or '1'='1",
          "' or 1=1",
          '" or "1"="1',
          ' or 1=1--',
          'sleep(',
          'benchmark(',
          'waitfor delay',
          'information_schema',
          'extractvalue(',
          'updatexml(',
          'load_file(',
          'into outfile',
          'xp_cmdshell',
          '@@version',
          'concat(0x',
          'pg_sleep(',
          "'--",
          'order by 1--',
          'dbms_pipe.receive_message',
          'utl_inaddr.get_host',
          'sysobjects',
          'sysdatabases',
          'randomblob(',
          'gtid_subset(',
          'exp(~(',
        ],
        // Comments, newlines and brackets instead of spaces (`union/**/select`, `union%0aselect`),
        // and quoted tautologies (`' or '1'='1`, `") and 2=2`).
        regex:
          'union[\\s/*+()]{1,20}select|union[\\s/*+()]{1,20}all[\\s/*+()]{1,20}select|[\'")]\\s{0,5}(or|and)\\s{1,5}[\'"(]?[0-9]{1,5}[\'")]?\\s{0,5}=\\s{0,5}[\'"(]?[0-9]{1,5}',
      },
    },
  },
  {
    id: 'cross-site-scripting',
    category: 'xss',
    class: 'exploit',
    severity: 'high',
    score: 20,
    explain: 'Cross-site scripting: trying to get script into a page the site serves',
    match: {
      target: {
        contains: [
          '<script',
          'javascript:',
          'onerror=',
          'onload=',
          '<svg',
          '<img',
          'alert(',
          'document.cookie',
          '<iframe',
          'prompt(',
          'confirm(',
          'onmouseover=',
          'onfocus=',
          'ontoggle=',
          'onanimationstart=',
          'onpointerenter=',
          'srcdoc=',
          'formaction=',
          'vbscript:',
          '<body',
          '<details',
          '<object',
          '<embed',
          '<math',
          'fromcharcode(',
          '\\u003cscript',
        ],
      },
    },
  },
  {
    id: 'shellshock',
    category: 'shellshock',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'Shellshock (CVE-2014-6271): a bash function definition smuggled in a header to run commands through CGI scripts',
    references: ['https://nvd.nist.gov/vuln/detail/CVE-2014-6271'],
    match: { anyField: { contains: ['() {', '(){', '()  {', '() \t{'] } },
  },
  {
    id: 'log4shell',
    category: 'log4shell',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'Log4Shell (CVE-2021-44228): a JNDI lookup string that makes vulnerable Java applications load remote code',
    references: ['https://nvd.nist.gov/vuln/detail/CVE-2021-44228'],
    // Every field, decoded until stable: `%24%7B`, `%2524%257B` and nested lookups reach it as `${`.
    match: {
      anyField: {
        contains: [
          '${jndi:',
          '${${',
          '${lower:',
          '${upper:',
          '${::-',
          '${env:',
          '${sys:',
          '${base64:',
          '${dns:',
          '${ldap:',
          '${ldaps:',
          '${rmi:',
          '${iiop:',
          '${corba:',
          '${nds:',
          '${nis:',
          '${date:',
          '${java:',
          '${main:',
          '${ctx:',
          '${k8s:',
          '${docker:',
          '${log4j:',
          '${spring:',
          '${jvmrunargs',
          '${hostname',
          '${web:',
          '${bundle:',
          '${marker:',
          '${event:',
        ],
      },
    },
  },
  {
    id: 'text4shell',
    category: 'text4shell',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'Text4Shell (CVE-2022-42889): an Apache Commons Text interpolation (`${script:`, `${url:`) that runs code or fetches a URL',
    references: [NVD('CVE-2022-42889')],
    match: { anyField: { contains: ['${script:', '${url:'] } },
  },
  {
    id: 'spring4shell',
    category: 'rce-probe',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'Spring4Shell (CVE-2022-22965): request parameters that reach the class loader to write a JSP web shell',
    references: [NVD('CVE-2022-22965'), NVD('CVE-2014-0094')],
    match: { param: { prefix: ['class.module.classloader', 'class.classloader', 'class[module][classloader]'] } },
  },
  {
    id: 'shell-substitution',
    category: 'command-injection',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'A shell command substitution (`$(…)`, backticks, `${IFS}`) in a parameter: trying to run commands on the server',
    references: ['https://owasp.org/www-community/attacks/Command_Injection'],
    match: {
      paramValue: {
        contains: ['${ifs}', '$ifs$', ';wget ', ';curl ', '|wget ', '|curl ', '; wget ', '; curl ', ';busybox ', '|busybox ', ';chmod ', '&&wget ', '&&curl '],
        regex:
          '(\\$\\(|`)\\s{0,3}(id|whoami|uname|wget|curl|cat|echo|nslookup|ping|sleep|sh|bash|busybox|tftp|nc|rm|chmod|ls|pwd|ifconfig|powershell|cmd|printf|expr)\\b',
      },
    },
  },
  {
    id: 'php-code-injection',
    category: 'command-injection',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'PHP source code in a parameter: trying to get the server to evaluate or include it',
    references: ['https://owasp.org/www-community/attacks/Code_Injection'],
    match: { paramValue: { contains: ['<?php', '<?=', 'base64_decode(', 'file_put_contents(', 'shell_exec(', 'passthru(', 'system($_', 'eval($_'] } },
  },
  {
    id: 'file-inclusion-wrapper',
    category: 'file-inclusion',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'A PHP stream wrapper (`php://`, `expect://`, `data://`, `file://`…) as a parameter value: local file inclusion or code execution',
    references: [
      'https://www.php.net/manual/en/wrappers.php',
      'https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/07-Input_Validation_Testing/11.1-Testing_for_Local_File_Inclusion',
    ],
    match: {
      paramValue: {
        prefix: [
          'php://',
          'expect://',
          'file://',
          'phar://',
          'zip://',
          'glob://',
          'compress.zlib://',
          'data://',
          'data:text/plain',
          'data:;base64',
          'data:application/x-httpd-php',
        ],
      },
    },
  },
  {
    id: 'remote-file-inclusion',
    category: 'file-inclusion',
    class: 'exploit',
    severity: 'high',
    score: 25,
    explain: 'A remote URL in a parameter that PHP applications include as a file (`?page=http://…`): remote file inclusion',
    references: [
      'https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/07-Input_Validation_Testing/11.2-Testing_for_Remote_File_Inclusion',
    ],
    match: { param: { regex: `^${INCLUDED_PARAMS}=(https?|ftp)://` } },
  },
  {
    id: 'remote-file-inclusion-ip',
    category: 'file-inclusion',
    class: 'exploit',
    severity: 'high',
    score: 50,
    immediate: true,
    explain:
      'A script on a bare IP address, shaped to be included (a text file, or a trailing `?` or NUL cutting off the extension the application appends), in a parameter that PHP applications include as a file (`?page=http://203.0.113.50/sh.txt?`): the payload sits on a host with no name, as on the compromised servers inclusion payloads are served from',
    references: [
      'https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/07-Input_Validation_Testing/11.2-Testing_for_Remote_File_Inclusion',
      'https://cwe.mitre.org/data/definitions/98.html',
    ],
    // Shaped to be included, as the any-parameter rule reads it (a text file with a query after
    // it, a trailing `?` or NUL cutting off what the application appends, a text file over FTP),
    // on a public address: an intranet viewer's `?file=http://10.0.0.5/logs/app.txt` is not.
    match: {
      param: {
        regex: `^${INCLUDED_PARAMS}(\\[\\])?=(?:(?:https?|ftp)://${USERINFO}${PUBLIC_IPV4}(?::\\d+)?(?:/[^?#\\s\\x00]*)?(?:\\.txt\\?.*|\\?+|\\x00.*)|ftp://${USERINFO}${PUBLIC_IPV4}(?::\\d+)?/[^?#\\s\\x00]*\\.txt)$`,
      },
    },
  },
  {
    id: 'remote-file-inclusion-any-parameter',
    category: 'file-inclusion',
    class: 'exploit',
    severity: 'high',
    score: 25,
    explain:
      'A remote URL in a parameter, shaped to be included as PHP: ending in `?` or a NUL byte (`%00`) that cuts off the extension the application appends, or naming a `.txt` file followed by a query or fetched over FTP (code kept as text so the remote server does not run it)',
    references: [
      'https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/07-Input_Validation_Testing/11.2-Testing_for_Remote_File_Inclusion',
      'https://cwe.mitre.org/data/definitions/98.html',
    ],
    match: {
      paramValue: {
        // A redirect or return URL (`?next=https://…/account`) has none of these shapes: it ends
        // in a path, a page or its own query, not in a file name followed by a bare `?`.
        regex: [
          '^(?:https?|ftp)://[^\\x00]*\\x00', // a NUL anywhere after the URL
          '^(?:https?|ftp)://[^/?#\\s]+/[^?#\\s]*\\.[a-z0-9]{1,5}\\?+$', // a file name, then only `?`
          // A text file with a query after it (`shell.txt?&cmd=id`), or over FTP: a plain
          // `?url=https://site/robots.txt` (SEO and ads.txt checkers) is not an inclusion.
          '^(?:https?|ftp)://[^/?#\\s]+/[^?#\\s]*\\.txt\\?',
          '^ftp://[^/?#\\s]+/[^?#\\s]*\\.txt$',
        ].join('|'),
      },
    },
    // Analytics beacons carry the visited page's URL, which may end in `?` after an empty form.
    unless: { file: { equals: ['matomo.php', 'piwik.php'] } },
  },
  {
    id: 'known-rce-path',
    category: 'rce-probe',
    class: 'exploit',
    severity: 'high',
    score: 50,
    immediate: true,
    explain: 'A request for the exact URL of a known remote-code-execution exploit (botnets try these on every address)',
    references: [
      'https://nvd.nist.gov/vuln/detail/CVE-2017-9841',
      'https://nvd.nist.gov/vuln/detail/CVE-2018-20062',
      'https://nvd.nist.gov/vuln/detail/CVE-2018-10561',
      'https://nvd.nist.gov/vuln/detail/CVE-2017-5638',
    ],
    match: {
      target: {
        contains: [
          'eval-stdin.php',
          'invokefunction',
          'call_user_func_array',
          '\\think\\app',
          'think\\container',
          '/boaform/admin/formlogin',
          '/gponform/diag_form',
          '/hnap1',
          '/shell?cd',
          'cd /tmp',
          'cd+/tmp',
          'wget http',
          'curl http',
          'chmod 777',
          'chmod +x',
          '%{(#',
          '${(#',
          '(#_memberaccess',
          '#context[',
          '/cgi-bin/luci/;stok=',
          'next_file=netgear.cfg',
          '/tmunblock.cgi',
          '/ctrlt/deviceupgrade_1',
          '/mgmt/tm/util/bash',
          '/_ignition/execute-solution',
          '/actuator/gateway/routes',
          '/api/jsonws/invoke',
          '/remote/fgt_lang',
          'connector.minimal.php',
          '/device.rsp?opt=sys',
          // With the value an exploit sets: a search that names the setting is no exploit.
          'allow_url_include=',
          'auto_prepend_file=',
          '/containers/json',
          '/cgi-bin/kerbynet',
          '/picsdesc.xml',
          '/setup.cgi?',
          '/apply.cgi',
          '/goform/set',
          'xdebug_session_start',
          '/hudson/script',
          '/script?command',
          '/vpns/',
          '/mifs/',
          '/ecp/default.flt',
          '/autodiscover/autodiscover.json?@',
          'powershell',
          '/wls-wsat/',
          '/_async/asyncresponseservice',
          '/console/css/%2e',
        ],
      },
    },
  },
  {
    id: 'java-rce-payload',
    category: 'rce-probe',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain:
      'Java code in the query that runs a command or loads a remote Spring configuration (the WebLogic console payloads of CVE-2020-14882/14883, SpEL and OGNL injections): trying to run code on the server',
    references: [NVD('CVE-2020-14882'), NVD('CVE-2020-14883')],
    // Calls, not class names: a search for `java.lang.Runtime` is no payload. Read in the query,
    // so no rewrite of the path hides it.
    match: {
      query: {
        contains: [
          'mvel2.sh.shellsession',
          'filesystemxmlapplicationcontext',
          'classpathxmlapplicationcontext',
          'java.lang.runtime.getruntime',
          'java.lang.runtime).getruntime',
          'java.lang.runtime@getruntime',
          // Through reflection, as expression-language payloads reach it
          // (`''.getClass().forName('java.lang.Runtime').getMethod('getRuntime')`).
          "getmethod('getruntime'",
          'getmethod("getruntime"',
          'java.lang.processbuilder(',
        ],
      },
    },
  },
  {
    id: 'webshell',
    category: 'webshell',
    class: 'exploit',
    severity: 'high',
    score: 50,
    immediate: true,
    explain: 'Looking for a web shell another attacker may have left behind; if one answered, the site is likely compromised',
    match: {
      path: {
        suffix: [
          '/shell.php',
          '/c99.php',
          '/r57.php',
          '/wso.php',
          '/alfa.php',
          '/cmd.php',
          '/b374k.php',
          '/indoxploit.php',
          '/mini.php',
          '/upl.php',
          '/fox.php',
          '/wso112233.php',
          '/alfanew.php',
          '/marijuana.php',
          '/leaf.php',
          '/0x.php',
          '/shell.aspx',
          '/cmd.jsp',
          '/shell.jsp',
          '/cmd.aspx',
          '/wp-conflg.php',
          '/radio.php',
          '/about.php7',
        ],
        contains: ['alfacgiapi', '/.well-known/shell', 'filesman'],
      },
    },
  },
  {
    id: 'webshell-command',
    category: 'webshell',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain: 'Running a shell command through a query parameter',
    match: { query: { regex: '(^|&)(cmd|exec|command|execute|c)=(id|whoami|uname|ls|cat|wget|curl|echo|pwd)\\b' } },
  },

  {
    id: 'worm-request',
    category: 'worm',
    class: 'exploit',
    severity: 'high',
    score: 50,
    immediate: true,
    explain: 'The fixed request of a known self-spreading worm or its scanner (Code Red `/default.ida?XXXX`, Nimda `root.exe`/`cmd.exe`, DFind `w00tw00t`)',
    references: [
      'https://www.cisa.gov/news-events/alerts/2001/07/19/code-red-worm-exploiting-buffer-overflow-iis-indexing-service-dll',
      'https://isc.sans.edu/diary/900',
    ],
    match: {
      path: {
        equals: ['/default.ida'],
        prefix: ['/w00tw00t.at.', '/scripts/root.exe', '/msadc/root.exe', '/c/winnt/system32/cmd.exe', '/d/winnt/system32/cmd.exe'],
        contains: ['/winnt/system32/cmd.exe'],
      },
    },
  },
  {
    id: 'normalisation-bypass',
    category: 'path-traversal',
    class: 'exploit',
    severity: 'critical',
    score: 50,
    immediate: true,
    explain:
      'A path written to slip past URL normalisation (`/..;/`, `/.%2e/`, `%%32%65`, double or overlong encoding): an exploit for a proxy or servlet container that normalises differently from the application behind it',
    references: [
      NVD('CVE-2021-41773'),
      NVD('CVE-2020-5902'),
      'https://i.blackhat.com/us-18/Wed-August-8/us-18-Orange-Tsai-Breaking-Parser-Logic-Take-Your-Path-Normalization-Off-And-Pop-0days-Out-2.pdf',
    ],
    // The raw target: these spellings are the evidence, and decoding would erase them.
    match: {
      rawTarget: {
        contains: [
          // `/..;/` and `/..;jsessionid=x/`: Tomcat drops the parameter and climbs a level.
          '/..;',
          '/.;/',
          '/.%2e/',
          '/%2e./',
          '/.%2e%2f',
          // The second digit may be escaped as either case of its hex letter (`%65` or `%45`).
          '%%32%65',
          '%%32%45',
          '%%32%66',
          '%%32%46',
          '%%35%63',
          '%%35%43',
          '%252e%252e',
          '..%252f',
          '..%255c',
          '%c0%ae',
          '%c0%af',
          '%e0%80%af',
          '%c1%9c',
          '%u002e',
          '%u2215',
          '%u2216',
        ],
      },
    },
  },
  ...EXPLOITED_PRODUCTS.flatMap((p): Rule[] => {
    const rule = (id: string, explain: string, match: Rule['match']): Rule => ({
      id,
      category: 'product-exploit',
      class: 'exploit',
      severity: 'critical',
      score: 50,
      immediate: true,
      explain,
      references: p.cves.map(NVD),
      match: { ...match, ...(p.method ? { method: [...p.method] } : {}) },
    });
    const rules: Rule[] = [];
    if (p.needles.length > 0) {
      rules.push(rule(`exploited-${p.id}`, `An exploit request for ${p.product} (${p.cves.join(', ')})`, { target: { contains: [...p.needles] } }));
    }
    // After the plain rule: a request both match keeps the plain rule's id.
    if (p.traversal) {
      rules.push(
        rule(`exploited-${p.id}-traversal`, `A path traversal of an exploit for ${p.product} (${p.cves.join(', ')})`, {
          target: { contains: [...p.traversal.needles] },
          path: { regex: p.traversal.path },
        }),
      );
    }
    if (p.injection) {
      rules.push(
        rule(`exploited-${p.id}-injection`, `An injection in the query of an exploit for ${p.product} (${p.cves.join(', ')})`, {
          path: { contains: [...p.injection.paths] },
          query: { contains: [...p.injection.query] },
        }),
      );
    }
    return rules;
  }),

  // ── protocol ──────────────────────────────────────────────────────────────────────────────
  {
    id: 'malformed-request-line',
    category: 'malformed-request',
    class: 'protocol',
    severity: 'low',
    score: 5,
    explain: 'A request line no browser would send (missing or doubled parts, e.g. `GET HTTP/1.1 HTTP/1.1`): a scanner fingerprinting the server',
    match: { malformed: true },
  },
  {
    id: 'tls-on-plain-port',
    category: 'malformed-request',
    class: 'protocol',
    severity: 'low',
    score: 5,
    explain: 'TLS handshake bytes sent to a plain-HTTP port: a scanner checking which protocol the port speaks',
    match: { request: { prefix: ['\u0016\u0003', '\\x16\\x03'] } },
  },
  {
    id: 'overlong-request',
    category: 'malformed-request',
    class: 'protocol',
    severity: 'medium',
    score: 10,
    explain: 'A request line over 4 KB: buffer-overflow attempts or fuzzing',
    match: { minLength: 4096 },
  },
  {
    id: 'debug-method',
    category: 'malformed-request',
    class: 'protocol',
    severity: 'low',
    score: 5,
    explain: 'TRACE, TRACK or DEBUG: methods only scanners send, to test for cross-site tracing',
    match: { method: ['TRACE', 'TRACK', 'DEBUG'] },
  },
  {
    id: 'connect-method',
    category: 'proxy-probe',
    class: 'protocol',
    severity: 'medium',
    score: 15,
    explain: 'Testing whether the server is an open proxy that would relay traffic for others',
    match: { method: ['CONNECT'] },
    unless: WEBSOCKET_OVER_HTTP2,
    threshold: PROXY_THRESHOLD,
  },
  {
    id: 'connect-accepted',
    category: 'proxy-probe',
    class: 'protocol',
    severity: 'high',
    score: 50,
    immediate: true,
    explain:
      'The server answered a CONNECT to another host with success: it opened a tunnel for this client, so it works as an open proxy anyone can relay traffic through (unless it is meant to be a proxy for these clients)',
    match: { method: ['CONNECT'], status: ['2xx'] },
    unless: WEBSOCKET_OVER_HTTP2,
  },
  {
    id: 'connect-non-web-port',
    category: 'proxy-probe',
    class: 'protocol',
    severity: 'high',
    score: 50,
    immediate: true,
    explain: 'CONNECT to a mail, remote-login or database port: testing the server as a relay for spam or attacks, never a browser',
    match: {
      method: ['CONNECT'],
      rawTarget: {
        suffix: [
          ':25',
          ':465',
          ':587',
          ':110',
          ':995',
          ':143',
          ':993',
          ':22',
          ':23',
          ':3389',
          ':5900',
          ':6667',
          ':1080',
          ':3306',
          ':5432',
          ':6379',
          ':11211',
          ':27017',
        ],
      },
    },
  },
  {
    id: 'absolute-uri',
    category: 'proxy-probe',
    class: 'protocol',
    severity: 'medium',
    score: 15,
    explain: 'A full URL to another site as the request target: testing whether the server is an open proxy',
    match: { rawTarget: { prefix: ['http://', 'https://', 'ftp://'] } },
    // Some clients and proxies send the absolute form for the site itself (RFC 9112 §3.2.2).
    unless: { ownHost: true },
    threshold: PROXY_THRESHOLD,
  },
  {
    id: 'invalid-http-version',
    category: 'malformed-request',
    class: 'protocol',
    severity: 'low',
    score: 10,
    explain: 'An HTTP version that does not exist (`HTTP/1.2`, `HTTP/2.1`): a fuzzer or scanner testing how the server parses requests',
    references: ['https://www.rfc-editor.org/rfc/rfc9110#section-2.5'],
    // Decided on the request line alone (cached per distinct line): every version that is not
    // 0.9, 1.0, 1.1, 2, 2.0, 3 or 3.0.
    match: {
      malformed: false,
      request: { regex: ' http/(0|1|0\\.[0-8]|1\\.[2-9]|1\\.[0-9]{2}|2\\.[1-9]|3\\.[1-9]|[4-9]|[4-9]\\.[0-9]|[0-9]{2}|[0-9]{2}\\.[0-9])$' },
    },
  },

  // ── client ────────────────────────────────────────────────────────────────────────────────
  {
    id: 'scanner-agent',
    category: 'scanner-user-agent',
    class: 'client',
    severity: 'high',
    score: 25,
    explain: 'The user agent of a vulnerability scanner or attack tool (the list, with a source per tool, is in scanner-tools.ts)',
    references: ['https://github.com/coreruleset/coreruleset/blob/main/rules/scanners-user-agents.data'],
    match: { userAgent: { contains: SCANNER_TOOLS.flatMap((t) => t.agents) } },
    // Whatever the status and however slowly: a tool that names itself is the evidence.
    threshold: SCANNER_THRESHOLD,
  },
  {
    id: 'scanner-marker',
    category: 'scanner-marker',
    class: 'client',
    severity: 'high',
    score: 25,
    explain: 'A scanner test string or an out-of-band callback domain (Interactsh `*.oast.*`, Burp Collaborator, `bxss.me`) in the request or its headers',
    references: [...new Set(SCANNER_MARKERS.flatMap((m) => m.references))],
    match: { anyField: { contains: SCANNER_MARKERS.flatMap((m) => m.markers) } },
    threshold: SCANNER_THRESHOLD,
  },
  {
    id: 'bad-bot-agent',
    category: 'bad-bot-user-agent',
    class: 'client',
    severity: 'medium',
    score: 10,
    explain: 'An e-mail harvester or spam bot that identifies itself',
    references: ['https://github.com/fail2ban/fail2ban/blob/master/config/filter.d/apache-badbots.conf'],
    match: {
      userAgent: {
        contains: [
          'emailcollector',
          'emailsiphon',
          'emailwolf',
          'webemailextrac',
          'extractorpro',
          'cherrypicker',
          'atomic_email_hunter',
          'email extractor',
          'webbandit',
          'copyrightcheck',
          'contactbot',
          'contentsmartz',
          'datacha0s',
          'dbrowse',
          'demo bot',
          'franklin locator',
          'full web bot',
          'guestbook auto submitter',
          'industry program',
          'isc systems irc search',
          'mailto:craftbot@yahoo.com',
          'missigua locator',
          'program shareware',
          'surveybot',
          'under the rainbow',
          'webvulnscan',
          'wordpress hash grabber',
          'morzilla',
          'lwp-request',
          'atspider',
          'cegbfeieh',
          'mozilla/3.mozilla/2.01',
          'trackback/',
          'fastlwspider',
          'emailharvest',
          'zeus',
        ],
      },
    },
  },
  {
    id: 'outdated-agent',
    category: 'outdated-user-agent',
    class: 'client',
    severity: 'low',
    score: 1,
    explain: 'A browser that has not existed in use for well over a decade (MSIE 6 or older): almost always a script pretending to be a browser',
    match: { userAgent: { regex: 'msie [1-6]\\.', contains: ['windows 95', 'windows 98', 'windows nt 4.0', 'win 9x'] } },
  },
];

/** How an alert describes each category: what it probably is and what to do about it. */
export const CATEGORY_INFO: Record<string, CategoryInfo> = {
  'cgi-probe': {
    title: 'CGI probe sweep',
    what: 'an automated scanner trying a list of CGI scripts that are vulnerable on other servers (Shellshock and friends)',
    todo: 'None of the probed scripts exists here (every probe got an error). Block the source at the firewall or WAF if it keeps going, and keep any CGI you do run up to date',
  },
  'php-probe': {
    title: 'PHP probe',
    what: 'a scanner looking for an exposed PHP interpreter or phpinfo() page',
    todo: 'Check that no PHP binary is reachable under /cgi-bin/ and that no phpinfo() page is left in the web root',
  },
  'cms-probe': {
    title: 'CMS probing',
    what: 'a bot fingerprinting which CMS the site runs (WordPress, Joomla, Drupal…) to try its known exploits',
    todo: 'If the site does not run that CMS, nothing was exposed. If it does, add its real routes to knownRoutes and keep it patched',
  },
  'registration-probe': {
    title: 'Registration/login probing',
    what: 'a spam bot trying the sign-up URLs of many forum and CMS products to create accounts',
    todo: 'None of these forms exists here (every probe got an error). List your real sign-up and login routes in knownRoutes, and block the source if it persists',
  },
  'admin-interface-probe': {
    title: 'Admin interface probing',
    what: 'a scanner looking for database or server administration consoles',
    todo: 'Make sure no admin console is reachable from the internet, and block the source',
  },
  'sensitive-file': {
    title: 'Sensitive file probing',
    what: 'a scanner looking for leaked secrets (.env, .git, backups)',
    todo: 'Check the statuses: any 200 means that file was served; rotate every secret it held. Otherwise block the source',
  },
  'error-burst': {
    title: 'Error burst',
    what: 'many different paths that do not exist, in a short time: content discovery with a word list',
    todo: 'Block the source at the firewall or WAF',
  },
  'brute-force': {
    title: 'Password guessing',
    what: 'repeated failed logins from one source',
    todo: 'Block the source, rate-limit the login endpoint and check the targeted accounts for lock-outs or compromise',
  },
  'path-traversal': {
    title: 'Path traversal attempt',
    what: 'an attempt to read files outside the web root',
    todo: 'Check the statuses: a 200 on a traversal request needs immediate investigation. Block the source',
  },
  sqli: {
    title: 'SQL injection attempt',
    what: 'an attempt to run attacker-written database queries',
    todo: 'Check the statuses and response sizes of these requests; make sure the endpoint uses parameterised queries. Block the source',
  },
  xss: {
    title: 'Cross-site scripting attempt',
    what: 'an attempt to inject script into pages',
    todo: 'Check that the parameters are escaped on output. Block the source',
  },
  shellshock: {
    title: 'Shellshock exploit attempt',
    what: 'an exploit for CVE-2014-6271 (bash) through CGI',
    todo: 'Make sure bash is patched and no CGI script runs through it. Block the source',
  },
  log4shell: {
    title: 'Log4Shell exploit attempt',
    what: 'an exploit for CVE-2021-44228 (Log4j JNDI lookup)',
    todo: 'Make sure no Java service behind this host runs Log4j < 2.17; block the source and look for outbound LDAP/RMI connections',
  },
  'rce-probe': {
    title: 'Remote-code-execution exploit attempt',
    what: 'a botnet trying the exact URL of a known remote-code-execution exploit',
    todo: 'Check that the product it targets is not running here (or is patched). Block the source',
  },
  webshell: {
    title: 'Web shell probing',
    what: 'a search for a web shell left behind by an earlier compromise',
    todo: 'Any 200 means a file by that name exists: investigate the host now. Otherwise block the source',
  },
  'malformed-request': {
    title: 'Malformed requests',
    what: 'request lines no browser sends, used to fingerprint the server',
    todo: 'Harmless on its own; it usually comes with a scan from the same source',
  },
  'proxy-probe': {
    title: 'Open-proxy probing',
    what: 'a test of whether the server relays traffic to other sites',
    todo: 'Make sure the server answers such requests with an error (not 200). Block the source',
  },
  'file-inclusion': {
    title: 'File inclusion attempt',
    what: 'an attempt to make the application include a local file, a PHP stream wrapper or a remote script',
    todo: 'Check the statuses and sizes: a 200 with a large body may mean the file was read. Make sure include paths never come from parameters. Block the source',
  },
  'command-injection': {
    title: 'Command injection attempt',
    what: 'shell commands or PHP code smuggled into a parameter',
    todo: 'Check the statuses of these requests and the endpoint that received them; look for outbound connections from the host. Block the source',
  },
  text4shell: {
    title: 'Text4Shell exploit attempt',
    what: 'an exploit for CVE-2022-42889 (Apache Commons Text interpolation)',
    todo: 'Make sure no Java service behind this host uses Commons Text 1.5–1.9 on request data. Block the source',
  },
  'product-exploit': {
    title: 'Known product exploit',
    what: 'an exploit for a publicly known vulnerability of a widely deployed product (VPN gateway, collaboration server, framework)',
    todo: 'If that product runs here, check it is patched and look for signs of compromise; otherwise nothing was exposed. Block the source',
  },
  worm: {
    title: 'Worm request',
    what: 'the fixed request of a self-spreading worm or its scanner',
    todo: 'Harmless to a patched server; block the source',
  },
  'user-enumeration': {
    title: 'User enumeration',
    what: "a bot listing the site's user names (WordPress `?author=N`) to guess their passwords next",
    todo: 'Make the author archives not reveal login names, watch the login endpoint, and block the source',
  },
  'cache-busting-flood': {
    title: 'Cache-busting flood',
    what: 'a flood of home-page requests with random queries, made to miss every cache and load the origin',
    todo: 'Rate-limit or challenge the source at the CDN or WAF, and make the cache ignore unknown query strings',
  },
  'webdav-probe': {
    title: 'WebDAV probing',
    what: 'WebDAV requests the server refused, often repeated in a flood',
    todo: 'If the site offers no WebDAV, nothing was exposed; block the source if it keeps going',
  },
  'scanner-marker': {
    title: 'Scanner payloads',
    what: 'a vulnerability scanner recognised by the test strings or callback domains it injects',
    todo: 'If nobody you know runs this scan, block the source; a callback domain in a 200 response path deserves a look at that endpoint',
  },
  'scanner-user-agent': {
    title: 'Vulnerability scanner',
    what: 'a known scanning tool that names itself in the user agent',
    todo: 'If nobody you know runs this scan, block the source; if it is your own scanner, allowlist it by CIDR or user agent',
  },
  'bad-bot-user-agent': {
    title: 'Spam bot',
    what: 'an e-mail harvester or spam bot',
    todo: 'Block the source',
  },
  'outdated-user-agent': {
    title: 'Outdated user agent',
    what: 'a script pretending to be a long-dead browser',
    todo: 'Harmless on its own; it marks automated traffic',
  },
};
