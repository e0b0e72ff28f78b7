import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BUILTIN_RULES } from '../../../lambdas/core/rules/builtin.js';
import { Classifier, resolvePath } from '../../../lambdas/core/rules/engine.js';
import { scanLines } from '../../support/detector.js';
import { record, timeAt } from '../../support/records.js';

const classifier = new Classifier(BUILTIN_RULES);

function labels(request: string, status = 404): string[] {
  return classifier
    .classify(record({ request, status }))
    .labels.map((l) => `${l.category}/${l.rule.id}`)
    .sort();
}

/** The labels of the plain request must all be on the rewritten one (the rewrite may add a traversal label). */
function assertLabelledAsPlain(plain: string, rewritten: string, status = 404): void {
  const want = labels(`GET ${plain} HTTP/1.1`, status);
  assert.ok(
    want.some((l) => !l.startsWith('static-asset')),
    `plain form ${plain} has a probe label: ${want.join(', ')}`,
  );
  const got = labels(`GET ${rewritten} HTTP/1.1`, status);
  for (const l of want) assert.ok(got.includes(l), `${rewritten}: expected ${l} as on ${plain}, got ${got.join(', ') || 'nothing'}`);
}

describe('resolvePath', () => {
  it('resolves a path as a server looks it up', () => {
    const cases: [string, string][] = [
      ['/_ignition//execute-solution', '/_ignition/execute-solution'],
      ['/_ignition/./execute-solution', '/_ignition/execute-solution'],
      ['/_ignition;x/execute-solution', '/_ignition/execute-solution'],
      ['/a/../_ignition/execute-solution', '/_ignition/execute-solution'],
      ['/../../etc/./passwd', '/etc/passwd'],
      ['/..//..//etc//passwd', '/etc/passwd'],
      ['/.env;', '/.env'],
      ['/.env;x=1', '/.env'],
      ['/.git;/config', '/.git/config'],
      ['/.git./config', '/.git/config'],
      ['/.env ', '/.env'],
      ['/.env\u0000.jpg', '/.env'],
      ['/.env::$data', '/.env'],
      ['/.env/', '/.env'],
      ['/.env/.', '/.env'],
      ['/index.php?.css', '/index.php'],
      ['/.git#/config', '/.git'],
      ['\\.env', '/.env'],
      ['/x/..;/y', '/y'],
      ['/cgi-bin/.. /.. /bin/sh', '/bin/sh'],
      ['/a/.../b', '/a/b'],
      ['/', '/'],
      ['//', '/'],
    ];
    for (const [input, want] of cases) assert.equal(resolvePath(input), want, input);
  });

  it('returns the same string when nothing changes, and leaves paths that are not absolute', () => {
    for (const p of ['/', '/index.html', '/assets/app.min.css', '/.well-known/security.txt', '/api/v1.2/items', '*', 'mail.example:25', 'junk']) {
      assert.equal(resolvePath(p), p, p);
    }
  });

  it('yields an absolute path with no empty, `.` or `..` segment, no parameters, and is stable', () => {
    const segment = fc.oneof(
      fc.constantFrom('', '.', '..', '...', '. ', '.. ', 'a;b', ';', 'x::$data', 'env.', 'b ', '%2e', '?', '#', '\u0000'),
      fc.string({ unit: fc.constantFrom(...'abc.;: \\'), maxLength: 5 }),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (segs) => {
        const r = resolvePath(`/${segs.join('/')}`);
        assert.ok(r.startsWith('/'), r);
        assert.equal(resolvePath(r), r);
        const parts = r.split('/').slice(1);
        if (r !== '/') for (const s of parts) assert.ok(s !== '' && s !== '.' && s !== '..' && !s.endsWith('.') && !s.endsWith(' '), `${r}`);
        for (const bad of [';', '\\', '\u0000', '?', '#', '::$']) assert.ok(!r.includes(bad), r);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('rewrites of a probe path are labelled as the plain path is', () => {
  const products = [
    '/_ignition/execute-solution',
    '/tmui/locallb/workspace/fileRead.jsp',
    '/ui/vropspluginui/rest/services/uploadova',
    '/gwtest/formssso?event=start',
    '/api/jsonws/invoke',
    '/containers/json',
    '/actuator/gateway/routes',
  ];
  const rewrites: [string, (p: string) => string][] = [
    ['a doubled slash', (p) => p.replace(/^(\/[^/]+)\//, '$1//')],
    ['a `.` segment', (p) => p.replace(/^(\/[^/]+)\//, '$1/./')],
    ['a path parameter', (p) => p.replace(/^(\/[^/]+)\//, '$1;x/')],
    ['a segment and `..`', (p) => `/a/..${p}`],
  ];
  for (const plain of products) {
    for (const [what, rewrite] of rewrites) {
      it(`${plain} with ${what}`, () => assertLabelledAsPlain(plain, rewrite(plain)));
    }
  }

  for (const rewritten of ['/.env;', '/.env;x=1', '/.env%20', '/.env%00', '/.env::$DATA', '/.env/', '/.env.', '/.env%2500', '/.env%00.jpg', '/.env;.css']) {
    it(`${rewritten} as /.env`, () => assertLabelledAsPlain('/.env', rewritten));
  }
  for (const rewritten of ['/.git;/config', '/.git./config', '/.git%20/config']) {
    it(`${rewritten} as /.git/config`, () => assertLabelledAsPlain('/.git/config', rewritten));
  }

  it('/etc/passwd behind doubled slashes and `.` segments', () => {
    for (const t of ['/..//..//etc//passwd', '/../../etc/./passwd', '/static/..%2f..%2f..%2fetc/./passwd']) {
      assert.ok(labels(`GET ${t} HTTP/1.1`).includes('path-traversal/traversal-target-file'), t);
    }
  });

  it('%%32%45 (a capital hex letter in the nested escape) is a normalisation bypass as %%32%65 is', () => {
    for (const t of ['/cgi-bin/%%32%65%%32%65/x', '/cgi-bin/%%32%45%%32%45/x', '/x/%%35%43..%%35%43y', '/x/..%%32%46y']) {
      assert.ok(labels(`GET ${t} HTTP/1.1`).includes('path-traversal/normalisation-bypass'), t);
    }
  });

  it('a Tomcat parameter on a `..` segment is a normalisation bypass', () => {
    assert.ok(labels('GET /x/..;jsessionid=1/manager/html HTTP/1.1').includes('path-traversal/normalisation-bypass'));
  });

  it('a target logged with spaces around it is read without them', () => {
    for (const line of ['GET /.env  HTTP/1.1', 'GET  /.env HTTP/1.1', 'GET  /.env  HTTP/1.1']) {
      const got = labels(line);
      assert.ok(got.includes('sensitive-file/secret-file'), `${line}: ${got.join(', ')}`);
      assert.ok(got.includes('malformed-request/malformed-request-line'), `${line}: ${got.join(', ')}`);
    }
  });
});

describe('a static-asset name after the real resource is no excuse', () => {
  it('is not benign when the resolved path is not an asset, or the asset name follows a script or a secret', () => {
    for (const t of ['/old/index.php;x.css', '/old/index.php%00.css', '/old/index.php%3f.css', '/old/index.php/x.css']) {
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`), [], t);
    }
    // A secret or a backup under the decoy is labelled as the plain name is.
    assert.deepEqual(labels('GET /.env/x.css HTTP/1.1'), ['sensitive-file/secret-file']);
    assert.deepEqual(labels('GET /backup.sql/x.js HTTP/1.1'), ['sensitive-file/backup-file']);
  });

  it('a wordlist sweep dressed as stylesheets is an error burst, as the plain sweep is', () => {
    const words = [
      'old',
      'new',
      'test',
      'dev',
      'staging',
      'api2',
      'internal',
      'private',
      'tmp',
      'bak',
      'beta',
      'portal',
      'demo',
      'files',
      'upload',
      'uploads2',
      'data',
      'export',
      'import',
      'reports',
    ];
    for (const decoy of ['', '/x.css', ';x.css', '%3f.css', '%00.css']) {
      const lines = words.map(
        (w, i) => `198.51.100.9 - - [${timeAt(i * 2)}] "GET /${w}/index.php${decoy} HTTP/1.1" 404 0 "-" "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"`,
      );
      const s = scanLines({ sweep: lines }).detector.aggregator.sources.get('198.51.100.9');
      assert.ok(s?.alert, `decoy "${decoy}": no alert`);
    }
  });
});

describe('ordinary site paths do not become probes', () => {
  const site = [
    '/shop/cart;jsessionid=A1B2C3D4E5',
    '/app/login.jsp;jsessionid=0123456789ABCDEF',
    '/blog//2024/01/post',
    '/images//logo.png',
    '/docs/./guide',
    '/search/',
    '/catalog/item;v=2',
    '/download/report.pdf.',
    '/static/v1.2.3/app.js',
  ];
  for (const t of site) {
    it(`${t} gets no probe label`, () => {
      for (const status of [200, 404]) {
        const got = labels(`GET ${t} HTTP/1.1`, status).filter((l) => !l.startsWith('static-asset'));
        assert.deepEqual(got, [], `${t} ${status}`);
      }
    });
  }

  it('a missing asset behind a doubled slash is still benign', () => {
    for (const t of ['/images//logo.png', '/css/site.css', '/js/app.js?v=3']) {
      assert.deepEqual(labels(`GET ${t} HTTP/1.1`), ['static-asset/static-asset'], t);
    }
  });

  it('a /.well-known/ path that climbs out of it is not exempt', () => {
    assert.ok(labels('GET /.well-known/../.env HTTP/1.1').includes('sensitive-file/secret-file'));
    assert.deepEqual(labels('GET /.well-known/security.txt HTTP/1.1'), []);
  });
});
