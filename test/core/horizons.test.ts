import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_CONFIG, parseDetectorConfig } from '../../lambdas/core/config.js';
import { processLogObject } from '../../lambdas/core/pipeline.js';
import { COARSE_BUCKET_MS, type CoarseBucket, longPeak } from '../../lambdas/core/window.js';
import { scanLines } from '../support/detector.js';
import { MemoryPublisher, MemoryStateStore, linesOf } from '../support/memory-store.js';
import { timeAt } from '../support/records.js';

const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const line = (ip: string, second: number, request: string, status: number, ua = FIREFOX, referer = '-') =>
  `${ip} - - [${timeAt(second)}] "${request}" ${status} 512 "${referer}" "${ua}"`;

/** One distinct missing path every `gap` seconds: a slow wordlist scan. */
const slowScan = (ip: string, start: number, n: number, gap: number) =>
  Array.from({ length: n }, (_, i) => line(ip, start + i * gap, `GET /w/${i}-item HTTP/1.1`, 404, 'Mozilla/5.0 (compatible; Fetcher/1.0)'));

describe('long horizons', () => {
  it('a scanner that sends one missing path a minute for an hour alerts on the 1-hour horizon', () => {
    const { report } = scanLines({ a: slowScan('198.51.100.20', 0, 60, 60) });
    const a = report.alerts[0];
    assert.equal(report.alerts.length, 1);
    assert.equal(a?.trigger, 'horizon:1h');
    assert.equal(a?.horizon?.seconds, 3600);
    assert.ok((a?.horizon?.distinctErrorPaths ?? 0) >= 30, 'the distinct-path threshold of the hour was crossed');
    assert.ok((a?.distinctErrorPaths ?? 99) < 10, 'no 2-minute window held a burst');
    assert.match(a?.evidence ?? '', /distinct missing paths within 1 h, over \d+ min/);
  });

  it('the same probes over the short window only do not alert when the long horizons are turned off', () => {
    const { report } = scanLines({ a: slowScan('198.51.100.20', 0, 60, 60) }, { horizons: [] });
    assert.equal(report.alerts.length, 0);
  });

  it('one probe every five minutes all day alerts on the 24-hour horizon, once', () => {
    const { report } = scanLines({ a: slowScan('198.51.100.21', 0, 288, 300) });
    assert.equal(report.alerts.length, 1);
    assert.equal(report.alerts[0]?.trigger, 'horizon:24h');
    assert.equal(report.alerts[0]?.alertCount, 1, 'a slow scan alerts once per longest horizon, not once an hour');
  });

  it('a throttled scanner-tool run (one request every 8 minutes) alerts on its score over the hour', () => {
    const nikto = 'Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000045)';
    const lines = Array.from({ length: 14 }, (_, i) => line('203.0.113.44', i * 480, `GET /page${i}.html HTTP/1.1`, 200, nikto));
    const { report } = scanLines({ a: lines }, { disableRules: [] });
    assert.equal(report.alerts.length, 1);
    const a = report.alerts[0];
    assert.ok(a?.trigger.startsWith('horizon') || a?.trigger.startsWith('threshold'), `trigger ${a?.trigger}`);
    assert.ok((a?.windowScore ?? 0) < 50, 'no 2-minute window crossed the score threshold');
  });

  it('a visitor with a few broken links an hour, all day, does not alert', () => {
    const lines: string[] = [];
    for (let h = 0; h < 24; h++) {
      for (let k = 0; k < 2; k++) lines.push(line('192.0.2.55', h * 3600 + k * 600, `GET /blog/post-${h}-${k} HTTP/1.1`, 404, FIREFOX, 'https://example.org/'));
      lines.push(line('192.0.2.55', h * 3600 + 1200, 'GET / HTTP/1.1', 200));
    }
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 0);
  });

  it('a horizon must be a whole number of coarse buckets and its path threshold within the kept paths', () => {
    assert.throws(
      () => parseDetectorConfig({ thresholds: { horizons: [{ seconds: 1000, score: 10, distinctErrorPaths: 5 }] } }),
      /horizons\[0\]\.seconds must be a multiple of 300/,
    );
    assert.throws(
      () => parseDetectorConfig({ thresholds: { horizons: [{ seconds: 3600, score: 10, distinctErrorPaths: 500 }] } }),
      /distinctErrorPaths must be at most 64/,
    );
    assert.deepEqual(parseDetectorConfig({}).horizons, DEFAULT_CONFIG.horizons);
  });
});

describe('longPeak (one sweep over coarse buckets)', () => {
  const b = (i: number, score: number, paths: number[] = []): CoarseBucket => ({
    start: i * COARSE_BUCKET_MS,
    score,
    paths: paths.length ? [...new Set(paths)] : null,
    counts: null,
    errors: 0,
  });

  it('finds the best window containing a time, in either direction', () => {
    // Scores at buckets 0, 5, 11 and 13: the 1-hour windows (12 buckets) containing bucket 5
    // hold {0, 5, 11} = 30 at best, never 13 together with 0.
    const buckets = [b(0, 10, [1]), b(5, 10, [2]), b(11, 10, [3]), b(13, 10, [1])];
    const p = longPeak(buckets, 5 * COARSE_BUCKET_MS, 3_600_000);
    assert.equal(p.score, 30);
    assert.equal(p.distinctPaths, 3);
    const q = longPeak(buckets, 13 * COARSE_BUCKET_MS, 3_600_000);
    assert.equal(q.score, 30, '{5, 11, 13}');
    assert.equal(q.distinctPaths, 3, 'path 1 counted once inside {5, 11, 13}? no: {2, 3, 1}');
  });

  it('a path repeated in two buckets of a window counts once', () => {
    const p = longPeak([b(0, 1, [7]), b(1, 1, [7])], 0, 3_600_000);
    assert.equal(p.distinctPaths, 1);
  });

  /** Every window [end - length, end) on the grid that contains `time`, each summed from scratch. */
  function bruteForce(buckets: readonly CoarseBucket[], time: number, lengthMs: number) {
    const start = Math.floor(time / COARSE_BUCKET_MS) * COARSE_BUCKET_MS;
    let score = 0;
    let distinctPaths = 0;
    const counts = new Map<string, number>();
    for (let k = 1; k <= lengthMs / COARSE_BUCKET_MS; k++) {
      const end = start + k * COARSE_BUCKET_MS;
      const inside = buckets.filter((x) => x.start >= end - lengthMs && x.start < end);
      score = Math.max(
        score,
        inside.reduce((n, x) => n + x.score, 0),
      );
      distinctPaths = Math.max(distinctPaths, new Set(inside.flatMap((x) => x.paths ?? [])).size);
      const sums = new Map<string, number>();
      const errors = inside.reduce((n, x) => n + x.errors, 0);
      if (errors > 0) sums.set('~err', errors);
      for (const x of inside) for (const [c, n] of x.counts ?? []) sums.set(c, (sums.get(c) ?? 0) + n);
      for (const [c, n] of sums) if (n > (counts.get(c) ?? 0)) counts.set(c, n);
    }
    return { score, distinctPaths, counts };
  }

  it('agrees with every window summed from scratch, for any buckets, time and horizon', () => {
    const bucket = fc.record({
      index: fc.integer({ min: 0, max: 400 }),
      score: fc.nat(20),
      paths: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 4 }),
      brute: fc.nat(3),
      errors: fc.nat(3),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(bucket, { selector: (x) => x.index, maxLength: 30 }),
        fc.integer({ min: 0, max: 400 }),
        fc.constantFrom(1, 12, 288),
        (raw, at, length) => {
          const buckets = [...raw]
            .sort((x, y) => x.index - y.index)
            .map((x) => ({
              ...b(x.index, x.score, x.paths),
              counts: x.brute > 0 ? new Map([['brute-force', x.brute]]) : null,
              errors: x.errors,
            }));
          const got = longPeak(buckets, at * COARSE_BUCKET_MS, length * COARSE_BUCKET_MS);
          const want = bruteForce(buckets, at * COARSE_BUCKET_MS, length * COARSE_BUCKET_MS);
          assert.equal(got.score, want.score);
          assert.equal(got.distinctPaths, want.distinctPaths);
          assert.deepEqual(new Map([...got.counts].filter(([, n]) => n > 0)), want.counts);
        },
      ),
      { numRuns: 500 },
    );
  });
});

const RESERVED = '198.18.0.';
/** A botnet member: fetches the form and posts it a second later, no assets, an old agent. */
const botSignup = (ip: string, second: number) => [
  line(ip, second, 'GET /register HTTP/1.1', 200, 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)'),
  line(ip, second + 1, 'POST /register HTTP/1.1', 302, 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)', 'https://example.org/register'),
];

describe('served form abuse', () => {
  it('a registration botnet that fills in the real form alerts every member as registration spam', () => {
    const lines: string[] = [];
    for (let i = 1; i <= 20; i++) {
      // Two sign-ups per address, hours apart: never two in one window.
      lines.push(...botSignup(`${RESERVED}${i}`, i * 60), ...botSignup(`${RESERVED}${i}`, 6 * 3600 + i * 60));
    }
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 20);
    for (const a of report.alerts) {
      assert.equal(a.trigger, 'behaviour:registration-spam');
      assert.ok(a.categories.includes('registration-spam'));
      assert.match(a.evidence, /2 posts with at least two signs of automation within 24 h/);
    }
  });

  it('a person who signs up once, with the page and its assets, is neither alerted nor suspicious', () => {
    const ip = '192.0.2.77';
    const lines = [
      line(ip, 0, 'GET /register HTTP/1.1', 200),
      line(ip, 1, 'GET /static/site.css HTTP/1.1', 200),
      line(ip, 1, 'GET /static/app.js HTTP/1.1', 200),
      line(ip, 48, 'POST /register HTTP/1.1', 302, FIREFOX, 'https://example.org/register'),
      line(ip, 49, 'GET /welcome HTTP/1.1', 200),
    ];
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 0);
    assert.equal(report.sources.filter((s) => s.verdict !== 'benign').length, 0);
  });

  it('a person who mistypes a password three times, then logs in, does not alert', () => {
    const ip = '192.0.2.78';
    const lines = [line(ip, 0, 'GET /login HTTP/1.1', 200), line(ip, 1, 'GET /static/site.css HTTP/1.1', 200)];
    for (let i = 0; i < 4; i++) lines.push(line(ip, 20 + i * 15, 'POST /login HTTP/1.1', i < 3 ? 200 : 302, FIREFOX, 'https://example.org/login'));
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 0);
  });

  it('credential stuffing at a browser-like pace (one login every two minutes for an hour) alerts', () => {
    const ip = '203.0.113.90';
    const lines: string[] = [];
    for (let i = 0; i < 30; i++) {
      lines.push(line(ip, i * 120, 'GET /login HTTP/1.1', 200), line(ip, i * 120 + 9, 'POST /login HTTP/1.1', 200, FIREFOX));
    }
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 1);
    assert.equal(report.alerts[0]?.trigger, 'behaviour:credential-stuffing');
    assert.equal(report.alerts[0]?.severity, 'high');
  });

  it('comment spam from a scripted client alerts; the site can name its own form endpoints', () => {
    const ip = '203.0.113.91';
    const post = (s: number, path: string) => line(ip, s, `POST ${path} HTTP/1.1`, 200, 'python-requests/2.31.0');
    const builtin = scanLines({ a: [post(0, '/wp-comments-post.php'), post(5000, '/wp-comments-post.php')] }).report;
    assert.equal(builtin.alerts[0]?.trigger, 'behaviour:comment-spam');
    const own = [post(0, '/kontakt/senden'), post(5000, '/kontakt/senden')];
    assert.equal(scanLines({ a: own }).report.alerts.length, 0, 'an unknown endpoint is not a form');
    const configured = scanLines({ a: own }, { forms: { registration: [], comment: ['/kontakt/senden'], login: [] } }).report;
    assert.equal(configured.alerts[0]?.trigger, 'behaviour:comment-spam');
  });
});

describe('the pipeline decides long horizons like the CLI', () => {
  const config = structuredClone(DEFAULT_CONFIG);
  const split = (lines: string[], size: number) => Array.from({ length: Math.ceil(lines.length / size) }, (_, i) => lines.slice(i * size, (i + 1) * size));

  for (const [name, lines, trigger] of [
    ['a slow scan over an hour', slowScan('198.51.100.30', 0, 60, 60), 'horizon'],
    ['a registration bot posting hours apart', [...botSignup('198.18.0.200', 0), ...botSignup('198.18.0.200', 5 * 3600)], 'behaviour'],
  ] as const) {
    it(`${name}, split into objects delivered in reverse order: one alert, same trigger`, async () => {
      const cli = scanLines({ all: [...lines] }).report;
      assert.equal(cli.alerts.length, 1);
      const store = new MemoryStateStore();
      const publisher = new MemoryPublisher();
      const parts = split([...lines], 5).reverse();
      for (const [i, part] of parts.entries()) {
        await processLogObject({ bucket: 'logs', key: `part-${i}.log`, etag: `e${i}` }, linesOf(part), {
          store,
          publisher,
          config,
          environment: 'test',
          nowSec: 1_700_000_000,
          owner: `run-${i}`,
        });
      }
      assert.equal(publisher.sent.length, 1);
      const doc = publisher.sent[0]?.document;
      assert.equal(doc?.source, cli.alerts[0]?.source);
      assert.ok(doc?.trigger.startsWith(trigger), `pipeline trigger ${doc?.trigger}`);
      assert.ok(cli.alerts[0]?.trigger.startsWith(trigger), `CLI trigger ${cli.alerts[0]?.trigger}`);
    });
  }
});

describe('form abuse evidence', () => {
  it('seven login posts straight at the form, never fetched, are credential stuffing even below the brute-force threshold', () => {
    const lines = Array.from({ length: 7 }, (_, i) => line('203.0.113.92', i * 5, 'POST /wp-login.php HTTP/1.1', 200));
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts[0]?.trigger, 'behaviour:credential-stuffing');
  });

  it('an empty user agent is not evidence: the common format does not log one', () => {
    const ip = '192.0.2.79';
    const common = (s: number, req: string, status: number) => `${ip} - - [${timeAt(s)}] "${req}" ${status} 512`;
    const lines = [
      // Assets cached by the browser: only the page and the posts reach the log.
      common(0, 'GET /register HTTP/1.1', 200),
      common(40, 'POST /register HTTP/1.1', 200),
      common(90, 'POST /register HTTP/1.1', 302),
    ];
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 0);
  });
});

describe('slow evidence that adds up over a day', () => {
  const hunter = (n: number) =>
    ['/.env', '/.git/config', '/.aws/credentials', '/config/.env.production', '/id_rsa']
      .slice(0, n)
      .map((p, i) => line('198.51.100.77', i * 3 * 3600, `GET ${p} HTTP/1.1`, 404));

  it('four secret files from any of the sensitive-file rules, hours apart, alert on the category threshold', () => {
    assert.equal(scanLines({ a: hunter(3) }).report.alerts.length, 0);
    const a = scanLines({ a: hunter(4) }).report.alerts[0];
    assert.match(a?.trigger ?? '', /^threshold:/);
    assert.ok(a?.categories.includes('sensitive-file'));
  });

  it('a person with a password manager and cached pages, logging in quickly four times a day, does not alert', () => {
    const ip = '192.0.2.80';
    const lines = [0, 3, 6, 9].flatMap((h) => [
      line(ip, h * 3600, 'GET /login HTTP/1.1', 200),
      line(ip, h * 3600 + 2, 'POST /login HTTP/1.1', 302, FIREFOX, 'https://example.org/login'),
    ]);
    assert.equal(scanLines({ a: lines }).report.alerts.length, 0);
  });

  it('three failed direct logins in a day, no form fetched, are credential stuffing (one address of a distributed run)', () => {
    const lines = [0, 5, 11].map((h) => line('198.51.100.78', h * 3600, 'POST /login HTTP/1.1', 401));
    assert.equal(scanLines({ a: lines }).report.alerts[0]?.trigger, 'behaviour:credential-stuffing');
  });
});

describe('enumeration and proxy tests that add up', () => {
  it('five numbered authors within an hour alert; two do not', () => {
    const walk = (n: number) => Array.from({ length: n }, (_, i) => line('198.51.100.81', i * 400, `GET /?author=${i + 1} HTTP/1.1`, i < 2 ? 301 : 404));
    assert.equal(scanLines({ a: walk(2) }).report.alerts.length, 0);
    assert.equal(scanLines({ a: walk(5) }).report.alerts[0]?.trigger, 'threshold:wordpress-author-enum');
  });

  it('three open-proxy tests in a day alert, whichever form they take', () => {
    const lines = [
      line('198.51.100.82', 0, 'GET http://proxy-judge.example/azenv.php HTTP/1.1', 404),
      line('198.51.100.82', 4 * 3600, 'CONNECT www.example.net:443 HTTP/1.1', 400),
      line('198.51.100.82', 9 * 3600, 'GET http://ip-check.example/ HTTP/1.1', 404),
    ];
    assert.equal(scanLines({ a: lines.slice(0, 2) }).report.alerts.length, 0);
    const a = scanLines({ a: lines }).report.alerts[0];
    assert.match(a?.trigger ?? '', /^threshold:(absolute-uri|connect-method)$/);
  });

  it('one CONNECT the server accepted (2xx) alerts at once, high: the server relayed a tunnel', () => {
    const accepted = (status: number) => [line('198.51.100.84', 0, 'CONNECT mail.example.net:443 HTTP/1.1', status)];
    assert.equal(scanLines({ a: accepted(405) }).report.alerts.length, 0, 'refused: one test, below the threshold');
    const a = scanLines({ a: accepted(200) }).report.alerts[0];
    assert.equal(a?.trigger, 'signature:connect-accepted');
    assert.equal(a?.severity, 'high');
    // Over HTTP/1.1 a CONNECT names a host whatever it starts with: only HTTP/2 and 3 carry WebSockets so.
    const slashed = [line('198.51.100.84', 0, 'CONNECT //mail.example.net:443 HTTP/1.1', 200)];
    assert.equal(scanLines({ a: slashed }).report.alerts[0]?.trigger, 'signature:connect-accepted');
  });

  it('WebSockets over HTTP/2 (a CONNECT to a path, RFC 8441) are not proxy tests', () => {
    const lines = Array.from({ length: 6 }, (_, i) => line('198.51.100.85', i * 3600, 'CONNECT /chat/socket HTTP/2.0', 200));
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.length, 0);
    assert.ok(!report.sources.some((s) => 'proxy-probe' in s.labels), JSON.stringify(report.sources));
  });
});

describe('several people behind one address', () => {
  it('a NAT where one person fetches the comment form and another posts a second later is not a bot', () => {
    const ip = '192.0.2.90';
    const agents = [FIREFOX, 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1', 'Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile'];
    const lines: string[] = [];
    for (let i = 0; i < 6; i++) {
      const t = i * 1800;
      lines.push(line(ip, t, `GET /blog/post-${i} HTTP/1.1`, 200, agents[i % 3]));
      lines.push(line(ip, t + 1, 'POST /wp-comments-post.php HTTP/1.1', 302, agents[(i + 1) % 3]));
    }
    assert.equal(scanLines({ a: lines }).report.alerts.length, 0);
  });
});

describe('the same missing path, hammered', () => {
  it('300 errors on one path within an hour are an error flood; the distinct-path count would never see it', () => {
    const hammer = (n: number) => Array.from({ length: n }, (_, i) => line('198.51.100.83', i * 10, 'POST /xmlrpc-old.php HTTP/1.1', 404));
    assert.equal(scanLines({ a: hammer(299) }).report.alerts.length, 0);
    const a = scanLines({ a: hammer(300) }).report.alerts[0];
    assert.ok(a?.categories.includes('error-flood'));
    assert.match(a?.evidence ?? '', /^300 error responses within 1 h/);
  });

  it('the pipeline sees a flood spread over objects the same way', async () => {
    const lines = Array.from({ length: 320 }, (_, i) => line('198.51.100.84', i * 10, 'GET /feed.rss HTTP/1.1', 404));
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    for (let i = 0; i < 8; i++) {
      await processLogObject({ bucket: 'logs', key: `flood-${i}.log`, etag: `e${i}` }, linesOf(lines.slice(i * 40, i * 40 + 40)), {
        store,
        publisher,
        config: structuredClone(DEFAULT_CONFIG),
        environment: 'test',
        nowSec: 1_700_000_000,
        owner: `run-${i}`,
      });
    }
    assert.equal(publisher.sent.length, 1);
    assert.ok(publisher.sent[0]?.document.categories.includes('error-flood'));
  });
});

describe('the same long form endpoint, posted again', () => {
  it('is the same endpoint, not a new one each time (a long query does not fake a sign of automation)', () => {
    const ip = '192.0.2.91';
    const target = `/comment?post=42&ref=${'a'.repeat(600)}`;
    // A person: the page, its stylesheet, and a comment a minute later, five times in a day.
    const lines = [0, 3, 6, 9, 12].flatMap((h) => [
      line(ip, h * 3600, 'GET /blog/post-42 HTTP/1.1', 200),
      line(ip, h * 3600 + 1, 'GET /static/site.css HTTP/1.1', 200),
      line(ip, h * 3600 + 60, `POST ${target} HTTP/1.1`, 302),
    ]);
    assert.equal(scanLines({ a: lines }).report.alerts.length, 0);
  });
});
