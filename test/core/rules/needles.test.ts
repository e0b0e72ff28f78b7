import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { LogRecord } from '../../../lambdas/core/model.js';
import { BUILTIN_RULES } from '../../../lambdas/core/rules/builtin.js';
import { CACHE_LIMIT, type Classification, Classifier, MAX_CACHED_KEY, MAX_VERDICTS_PER_REQUEST, requestNeedles } from '../../../lambdas/core/rules/engine.js';
import { MAX_NEEDLE_CHARS, NeedleAutomaton } from '../../../lambdas/core/rules/needles.js';
import type { Pattern, Rule } from '../../../lambdas/core/rules/types.js';
import { record } from '../../support/records.js';

// The needle automaton only narrows which rules are tested on a new request line, and the verdict
// cache only reuses a verdict for the same request line, user agent and status: both must give
// exactly the verdicts of testing every rule on every request.

const found = (a: NeedleAutomaton, s: string) => {
  const ids = new Set<number>();
  a.scan(s, (id) => ids.add(id));
  return [...ids].sort((x, y) => x - y);
};

describe('needle automaton', () => {
  it('reports every needle that occurs, overlapping and nested ones included', () => {
    const a = new NeedleAutomaton();
    ['he', 'she', 'his', 'hers', '.env', 'env'].forEach((n, i) => a.add(n, i));
    a.build();
    assert.deepEqual(found(a, 'ushers'), [0, 1, 3]);
    assert.deepEqual(found(a, '/a/.env.bak'), [4, 5]);
    assert.deepEqual(found(a, 'nothing here'), [0]);
    assert.deepEqual(found(a, 'xyz'), []);
    assert.deepEqual(found(a, ''), []);
  });

  it('agrees with a plain substring search on random needles and texts', () => {
    const text = (max: number) => fc.string({ unit: fc.constantFrom(...'ab./%é\u{1f600}'), maxLength: max });
    fc.assert(
      fc.property(
        fc.array(
          text(5).filter((s) => s.length > 0),
          { minLength: 1, maxLength: 12 },
        ),
        text(40),
        (needles, s) => {
          const a = new NeedleAutomaton();
          needles.forEach((n, i) => a.add(n, i));
          a.build();
          const expected = needles.flatMap((n, i) => (s.includes(n) ? [i] : []));
          assert.deepEqual(found(a, s), expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses empty needles, needles past the character bound, and use before build', () => {
    const a = new NeedleAutomaton();
    assert.throws(() => a.add('', 0), /empty needle/);
    assert.throws(() => a.scan('x', () => {}), /build/);
    const big = new NeedleAutomaton();
    big.add('x'.repeat(MAX_NEEDLE_CHARS), 0);
    assert.throws(() => big.add('y', 1), /exceed/);
  });
});

/** Every string any built-in rule pattern holds: the fragments random requests are built from. */
function fragments(): string[] {
  const out = new Set<string>();
  const add = (p: Pattern | undefined) => {
    for (const x of [...(p?.equals ?? []), ...(p?.prefix ?? []), ...(p?.suffix ?? []), ...(p?.contains ?? [])]) out.add(x);
  };
  for (const r of BUILTIN_RULES) {
    for (const m of [r.match, r.unless]) {
      if (!m) continue;
      for (const v of Object.values(m)) if (v && typeof v === 'object' && !Array.isArray(v)) add(v as Pattern);
    }
  }
  return [...out];
}

const FRAGMENTS = fragments();
const encode = (s: string, passes: number) => {
  let x = s;
  for (let i = 0; i < passes; i++) x = x.replace(/[^a-z0-9/]/gi, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return x;
};
/** A request target built from rule fragments, path separators, query syntax and escapes. */
const target = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...FRAGMENTS) },
      { weight: 3, arbitrary: fc.constantFrom('/', '?', '&', '=', '.', '\\', '%', '%2e', '%252f', '%c0%af', '%u002e', '+', '..', 'x', 'A', 'Z9', '#') },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...FRAGMENTS), fc.integer({ min: 1, max: 2 })).map(([f, n]) => encode(f, n)) },
      { weight: 1, arbitrary: fc.constantFrom(...FRAGMENTS).map((f) => f.toUpperCase()) },
    ),
    { maxLength: 8 },
  )
  .map((parts) => {
    const t = parts.join('');
    return t.startsWith('/') || t.startsWith('http') ? t : `/${t}`;
  });
const method = fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PROPFIND', 'CONNECT', 'TRACE', 'get');
const requestLine = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(method, target, fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9')).map((p) => p.join(' ')) },
  { weight: 1, arbitrary: fc.constantFrom('-', '\\x16\\x03\\x01', 'GET', 'GET /a b HTTP/1.1', 'OPTIONS * HTTP/1.0') },
  { weight: 1, arbitrary: fc.tuple(method, target).map((p) => p.join(' ')) },
);
const agent = fc.oneof(
  fc.constantFrom('Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0', 'curl/8.4.0', 'Googlebot/2.1', 'kube-probe/1.29', 'Nikto', '-', '() { :; }; echo'),
  fc.constantFrom(...FRAGMENTS),
);
const status = fc.constantFrom(200, 204, 301, 304, 400, 401, 403, 404, 405, 408, 500);
const ip = fc.constantFrom('203.0.113.50', '127.0.0.1', '10.0.1.5', '::1');
const referer = fc.constantFrom('-', 'https://example.com/', '${jndi:ldap://x}', '/%2e%2e/');
const recordArb = fc.record({ request: requestLine, ua: agent, status, ip, referer }).map((o) => {
  try {
    return record(o);
  } catch {
    return null;
  }
});

/** A verdict in comparable form. */
const verdict = (c: Classification) => ({
  labels: c.labels.map((l) => `${l.category}:${l.rule.id}`),
  score: c.score,
  immediate: c.immediate?.rule.id ?? null,
  errorPath: c.errorPath,
});

describe('classifier: needle automaton and verdict cache', () => {
  it('every rule has needles or is tested on every new request line, and most have needles', () => {
    const withNeedles = BUILTIN_RULES.filter((r) => requestNeedles(r.match) !== null);
    assert.ok(withNeedles.length > 40, `${withNeedles.length} rules reduced to needles`);
    // A regex-only condition cannot be reduced; a needle condition next to it still can.
    assert.equal(requestNeedles({ path: { regex: 'a+' } }), null);
    assert.deepEqual(requestNeedles({ path: { regex: 'a+' }, segment: { equals: ['.Git'] } }), ['.git']);
    assert.deepEqual(requestNeedles({ path: { contains: ['ab'] }, file: { suffix: ['.bak', '.sql'] } }), ['.bak', '.sql']);
    assert.equal(requestNeedles({ method: ['PUT'] }), null);
  });

  it('finds the same request rules as testing every rule, on random requests built from the rules', () => {
    const c = new Classifier(BUILTIN_RULES, { knownRoutes: ['/login', '/cgi-bin/*', '/api/*/items'] });
    let matched = 0;
    fc.assert(
      fc.property(recordArb, (r) => {
        if (r === null) return;
        const exhaustive = c.requestRuleIdsExhaustive(r);
        matched += exhaustive.length;
        assert.deepEqual(c.requestRuleIds(r), exhaustive);
      }),
      { numRuns: 3000 },
    );
    assert.ok(matched > 500, `the random requests matched rules (${matched} matches)`);
  });

  it('gives each request the verdict a fresh classifier gives it, across repeats of lines, agents and statuses', () => {
    const rules: Rule[] = [
      ...BUILTIN_RULES,
      // A record rule that reads the peer: verdicts must not be shared between peers.
      {
        id: 'internal-404',
        category: 'internal-404',
        class: 'probing',
        severity: 'low',
        score: 1,
        explain: 'test',
        match: { status: ['404'], peer: 'internal' },
      },
    ];
    for (const set of [BUILTIN_RULES, rules]) {
      const cached = new Classifier(set);
      fc.assert(
        fc.property(
          fc.array(requestLine, { minLength: 1, maxLength: 3 }),
          fc.array(agent, { minLength: 1, maxLength: 2 }),
          fc.array(fc.tuple(fc.nat(), fc.nat(), status, ip, referer), { minLength: 60, maxLength: 150 }),
          (requests, agents, picks) => {
            // Few request lines and agents, many combinations: lines repeat with other statuses, peers, agents.
            for (const [q, a, st, peer, ref] of picks) {
              let r: LogRecord;
              try {
                r = record({ request: requests[q % requests.length], ua: agents[a % agents.length], status: st, ip: peer, referer: ref });
              } catch {
                continue;
              }
              const got = cached.classify(r);
              const want = new Classifier(set).classify(r);
              assert.deepEqual(
                { ...verdict(got), errorPath: cached.errorPathOf(r, got) },
                { ...verdict(want), errorPath: new Classifier(set).errorPathOf(r, want) },
              );
            }
          },
        ),
        { numRuns: 60 },
      );
    }
  });

  it('skips anyField rules on referers and forwarded-for values only when none of their needles can be there', () => {
    // The reference: the same rules plus an anyField regex that never matches, which turns the
    // needle shortcut off (a regex cannot be reduced to needles).
    const never: Rule = {
      id: 'never',
      category: 'never',
      class: 'client',
      severity: 'low',
      score: 1,
      explain: 'test',
      match: { anyField: { regex: 'zq\\x00qz' } },
    };
    const fast = new Classifier(BUILTIN_RULES);
    const reference = new Classifier([...BUILTIN_RULES, never]);
    const anyNeedles = BUILTIN_RULES.flatMap((r) => r.match.anyField?.contains ?? []);
    const piece = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...anyNeedles) },
      { weight: 2, arbitrary: fc.constantFrom(...anyNeedles).map((n) => n.toUpperCase()) },
      { weight: 1, arbitrary: fc.constantFrom(...anyNeedles).map((n) => encodeURIComponent(n)) },
      { weight: 3, arbitrary: fc.constantFrom('https://example.com/', 'a', 'Z', ' ', '%', '%24%7b', '\u212a', 'é', '(', ')', '{', '$', ':') },
    );
    let hits = 0;
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 5 }), fc.boolean(), (parts, inReferer) => {
        const value = parts.join('').replace(/"/g, '');
        const r = record(inReferer ? { referer: value || '-' } : { ua: value || '-' });
        const got = verdict(fast.classify(r));
        hits += got.labels.length;
        assert.deepEqual(got, verdict(reference.classify(r)));
      }),
      { numRuns: 1500 },
    );
    assert.ok(hits > 100, `anyField rules matched (${hits} labels)`);
    // Escapes and characters that lower-case into ASCII (the Kelvin sign) still reach the rules.
    for (const referer of ['https://x/%6eetsparker', 'https://x/NETSPAR\u212aER', 'https://x/%2524%257bjndi:ldap']) {
      const r = record({ referer });
      assert.ok(fast.classify(r).labels.length > 0, referer);
      assert.deepEqual(verdict(fast.classify(r)), verdict(reference.classify(r)));
    }
  });

  it('finds the same agent and anyField rules as testing each, on random texts built from the rules', () => {
    const c = new Classifier(BUILTIN_RULES, { allowUserAgents: ['MyMonitor/1'] });
    const text = fc
      .array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.constantFrom(' ', '/', '(', ';', 'x', '1.0', 'mymonitor/1')), { maxLength: 6 })
      .map((p) => p.join('').toLowerCase());
    let matched = 0;
    fc.assert(
      fc.property(text, fc.constantFrom('agent' as const, 'any' as const), (t, side) => {
        const exhaustive = c.textRuleIds(t, side, true);
        matched += exhaustive.length;
        assert.deepEqual(c.textRuleIds(t, side, false), exhaustive);
      }),
      { numRuns: 3000 },
    );
    assert.ok(matched > 300, `the random texts matched rules (${matched} matches)`);
  });

  it('keeps at most MAX_VERDICTS_PER_REQUEST verdicts per request line and still answers right past it', () => {
    const c = new Classifier(BUILTIN_RULES);
    const fresh = (r: LogRecord) => verdict(new Classifier(BUILTIN_RULES).classify(r));
    // Distinct agents on one request line: more verdicts than the bound.
    for (let i = 0; i < MAX_VERDICTS_PER_REQUEST * 2 + 3; i++) {
      const r = record({ request: 'GET /.env HTTP/1.1', status: 404, ua: i % 2 ? `Mozilla/5.0 agent-${i}` : `sqlmap/${i}` });
      assert.deepEqual(verdict(c.classify(r)), fresh(r));
    }
    assert.equal(c.verdictsCleared, 2, 'the verdicts of the line were cleared each time the bound was reached');
    const first = record({ request: 'GET /.env HTTP/1.1', status: 404, ua: 'sqlmap/0' });
    assert.deepEqual(verdict(c.classify(first)), fresh(first));
  });

  it(`keeps at most CACHE_LIMIT referers (${CACHE_LIMIT}), none over MAX_CACHED_KEY characters, matching or not, and still answers right past it`, () => {
    const c = new Classifier(BUILTIN_RULES);
    const fresh = (r: LogRecord) => verdict(new Classifier(BUILTIN_RULES).classify(r));
    const at = (referer: string) => record({ request: 'GET / HTTP/1.1', status: 200, ua: 'Mozilla/5.0', referer });
    for (let i = 0; i < CACHE_LIMIT; i++) c.classify(at(`https://a.example/page-${i}`));
    assert.equal(c.cachedOtherValues, CACHE_LIMIT, 'referers no rule can match are kept too, up to the bound');
    const hostile = at('https://a.example/${jndi:ldap://x/a}');
    assert.deepEqual(verdict(c.classify(hostile)), fresh(hostile));
    assert.ok(verdict(c.classify(hostile)).labels.length > 0, 'the one after the bound is still labelled');
    assert.equal(c.cachedOtherValues, 1, 'the cache started again when full');
    const long = at(`https://a.example/${'x'.repeat(MAX_CACHED_KEY)}`);
    assert.deepEqual(verdict(c.classify(long)), fresh(long));
    assert.equal(c.cachedOtherValues, 1, 'an overlong value is not kept');
  });

  it('caches a request line from its second sight: a sweep of one-off paths leaves nothing cached', () => {
    const c = new Classifier(BUILTIN_RULES);
    for (let i = 0; i < 5000; i++) {
      const r = record({ request: `GET /w${i}.php HTTP/1.1`, status: 404, ua: 'curl/8.4' });
      assert.deepEqual(verdict(c.classify(r)), verdict(new Classifier(BUILTIN_RULES).classify(r)));
    }
    assert.equal(c.cachedRequestLines, 0, 'no one-off request line was kept');
    const page = (ua: string) => record({ request: 'GET /blog/post-1 HTTP/1.1', status: 200, ua });
    c.classify(page('curl/8.4'));
    assert.equal(c.cachedRequestLines, 0);
    for (const ua of ['curl/8.4', 'sqlmap/1.7', 'curl/8.4'])
      assert.deepEqual(verdict(c.classify(page(ua))), verdict(new Classifier(BUILTIN_RULES).classify(page(ua))));
    assert.equal(c.cachedRequestLines, 1, 'seen again, the line is kept');
  });
});
