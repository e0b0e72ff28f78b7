import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import {
  FOLD_ABOVE_SOURCES,
  MAX_KEPT_CHARS,
  MAX_SHARED_STRINGS,
  MAX_SUBNETS_PER_PREFIX,
  SWEEP_STEP_MS,
  SharedStrings,
  statusRecord,
} from '../../lambdas/core/aggregate.js';
import { FORM_CONTEXT_MS } from '../../lambdas/core/behaviour.js';
import { DEFAULT_CONFIG } from '../../lambdas/core/config.js';
import { DistinctSources, sourceNumber } from '../../lambdas/core/distinct.js';
import { type ScanReport, buildReport } from '../../lambdas/core/report.js';
import { Detector } from '../../lambdas/core/scan.js';
import { EventWindow } from '../../lambdas/core/window.js';
import { scanLines } from '../support/detector.js';
import { timeAt } from '../support/records.js';

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0';
const line = (ip: string, second: number, request: string, status: number, ua = BROWSER) =>
  `${ip} - - [${timeAt(second)}] "${request}" ${status} 10 "-" "${ua}"`;

/** Seconds after which a clean source is forgotten with the default settings (10 min + lateness). */
const FORGET_S = (FORM_CONTEXT_MS + DEFAULT_CONFIG.latenessSeconds * 1000) / 1000;

/** Lines of another visitor that move the event-time watermark to `second`. */
const tick = (second: number) => line('192.0.2.250', second, 'GET / HTTP/1.1', 200);

describe('state behind the event-time watermark', () => {
  it('a clean source is forgotten once the watermark has passed it, and a later probe from it still counts', () => {
    const a = '198.51.100.7';
    const d = new Detector(structuredClone(DEFAULT_CONFIG), { format: 'combined' });
    const o = d.openObject('access.log');
    for (let i = 0; i < 5; i++) o.push(line(a, i * 10, 'GET /about/ HTTP/1.1', 200));
    o.push(tick(FORGET_S + 100));
    o.push(tick(FORGET_S + 100 + SWEEP_STEP_MS / 1000));
    assert.equal(d.aggregator.sources.has(a), false, 'the idle clean source holds no state');
    assert.ok(d.aggregator.forgotten.sources >= 1);
    assert.equal(d.aggregator.forgotten.requests, 5);
    // It comes back and probes: the probes are counted and decided as if it were new.
    const back = FORGET_S + 200;
    for (const [k, p] of ['/.env', '/.git/config', '/wp-config.php.bak'].entries()) o.push(line(a, back + k, `GET ${p} HTTP/1.1`, 404));
    o.end();
    const report = buildReport(d);
    const src = report.sources.find((s) => s.source === a);
    assert.ok(src, 'the returning source is listed');
    assert.equal(src.verdict, 'alert');
    assert.equal(src.requests, 3, 'requests since it came back');
    assert.equal(src.labels['sensitive-file'], 3);
    // Two sources seen: the returning one (listed) and the ticking visitor (clean), each once.
    assert.equal(report.cleanSources, 1);
  });

  it('a source with something remarkable is not forgotten: its earlier requests stay counted', () => {
    const a = '198.51.100.8';
    const lines = [
      ...Array.from({ length: 6 }, (_, i) => line(a, i, 'GET /blog/ HTTP/1.1', 200)),
      line(a, 10, 'GET /.env HTTP/1.1', 404),
      tick(3 * 3600),
      tick(3 * 3600 + 120),
      line(a, 3 * 3600 + 130, 'GET /.git/config HTTP/1.1', 404),
    ];
    const { report, detector } = scanLines({ a: lines });
    assert.equal(detector.aggregator.sources.get(a)?.requests, 8);
    const src = report.sources.find((s) => s.source === a);
    assert.equal(src?.requests, 8);
    assert.equal(src?.firstSeen, '2024-01-01T00:00:00Z');
    assert.equal(src?.labels['sensitive-file'], 2);
  });

  it('a form post still sees the page fetched within FORM_CONTEXT_MS, however much traffic passed', () => {
    const a = '198.51.100.9';
    const lines = [line(a, 0, 'GET /register HTTP/1.1', 200), line(a, 1, 'GET /wp-content/themes/x/style.css HTTP/1.1', 200)];
    // Another visitor keeps the watermark moving for nine minutes.
    for (let s = 10; s < 540; s += 30) lines.push(tick(s));
    lines.push(line(a, 540, 'POST /register HTTP/1.1', 302));
    const { detector } = scanLines({ a: lines });
    const s = detector.aggregator.sources.get(a);
    assert.ok(s, 'kept: it posted to a form');
    // Neither "no form fetched" nor "no assets": the post carries no sign of automation.
    const counts = s.window?.coarse.flatMap((b) => [...(b.counts ?? new Map())]) ?? [];
    assert.deepEqual(counts, [['~post:registration', 1]]);
  });

  it('a source whose only facts are a few error paths is forgotten once every horizon has left them', () => {
    const a = '198.51.100.10';
    const d = new Detector(structuredClone(DEFAULT_CONFIG), { format: 'combined' });
    d.aggregator.foldAboveSources = 0;
    const o = d.openObject('access.log');
    o.push(line(a, 0, 'GET /old-page HTTP/1.1', 404));
    o.push(line(a, 5, 'GET /older-page HTTP/1.1', 404));
    o.push(tick(12 * 3600));
    assert.equal(d.aggregator.sources.get(a)?.folded, true, 'kept, folded, within the 24-hour horizon');
    o.push(tick(26 * 3600));
    o.push(tick(26 * 3600 + 60));
    assert.equal(d.aggregator.sources.has(a), false);
    o.end();
    assert.equal(buildReport(d).cleanSources, 2);
  });

  it('a /64 forgotten and back is not a new subnet of its /48: no aggregation from returns', () => {
    const v6 = '2001:db8:99:1::5';
    const lines: string[] = [];
    for (let k = 0; k < MAX_SUBNETS_PER_PREFIX + 20; k++) {
      const t = k * (FORGET_S + 120);
      lines.push(line(v6, t, 'GET / HTTP/1.1', 200), tick(t + FORGET_S + 60));
    }
    const { report } = scanLines({ a: lines });
    assert.equal(report.bounds, undefined, 'nothing aggregated, nothing evicted');
    assert.equal(report.cleanSources, 2);
  });
});

describe('counting distinct sources without an object per source', () => {
  it('counts each source once, IPv4 exactly, and stays exact across growth', () => {
    const d = new DistinctSources();
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) d.add(sourceNumber('', i * 65_537));
      for (let i = 0; i < 5000; i++) d.add(sourceNumber(`2001:db8:${i.toString(16)}::/64`, -1));
    }
    assert.equal(d.count, 10_000);
    assert.equal(d.has(sourceNumber('', 65_537 * 4999)), true);
    assert.equal(d.has(sourceNumber('', 3)), false);
    assert.notEqual(sourceNumber('2001:db8::/64', -1), sourceNumber('2001:db8::/48', -1));
    assert.ok(sourceNumber('2001:db8::/64', -1) >= 2 ** 32, 'never equal to an IPv4 value');
  });

  it('past its bound, new sources are counted without being remembered, and say so', () => {
    const d = new DistinctSources(3);
    for (const n of [1, 2, 3, 4, 5, 4]) d.add(n);
    assert.equal(d.overflow, 3, 'the 4 that came back is counted again: it could not be remembered');
    assert.equal(d.count, 6);
  });
});

/**
 * Streams of 1 to 80 requests of these sources (each with its own agent), in time order, a few
 * seconds or up to an hour and a half apart.
 */
function requestStreams(ips: readonly string[], requests: readonly [string, number][], agents: readonly string[]): fc.Arbitrary<string[]> {
  const event = fc.record({
    ip: fc.integer({ min: 0, max: ips.length - 1 }),
    gap: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 600, max: 5400 })),
    req: fc.integer({ min: 0, max: requests.length - 1 }),
  });
  return fc.array(event, { minLength: 1, maxLength: 80 }).map((events) => {
    let t = 0;
    return events.map((e) => {
      t += e.gap;
      const [request, status] = requests[e.req] as [string, number];
      return line(ips[e.ip] as string, t, request, status, agents[e.ip]);
    });
  });
}

describe('forgetting gives the verdicts of keeping everything', () => {
  const ips = ['198.51.100.1', '198.51.100.2', '203.0.113.3', '2001:db8:5::1', '2001:db8:5::2'];
  const requests: [string, number][] = [
    ['GET / HTTP/1.1', 200],
    ['GET /blog/post/ HTTP/1.1', 200],
    ['GET /wp-content/themes/x/app.js HTTP/1.1', 200],
    ['GET /missing-page HTTP/1.1', 404],
    ['GET /.env HTTP/1.1', 404],
    ['GET /wp-login.php HTTP/1.1', 200],
    ['POST /wp-login.php HTTP/1.1', 200],
    ['POST /register HTTP/1.1', 302],
    ['GET /cgi-bin/test.cgi HTTP/1.1', 404],
  ];
  // The verdicts, not the order: sources tied on severity and score are listed by request count,
  // and a source that came back after being forgotten counts its requests from its return.
  const verdicts = (r: ScanReport) => ({
    alerts: r.alerts.map((a) => JSON.stringify([a.source, a.severity, a.trigger, a.triggeredAt, a.alertCount, a.categories])).sort(),
    sources: r.sources.map((s) => JSON.stringify([s.source, s.verdict, s.severity, Object.keys(s.labels).sort()])).sort(),
    clean: r.cleanSources,
  });
  // One user agent per source: a source forgotten while clean also forgets the agents it showed,
  // so NAT detection (several agents on one address) counts those seen since it came back. The
  // test below pins that on its own.
  const AGENTS = [BROWSER, 'curl/8.4.0', 'Mozilla/5.0 (Macintosh) Safari/17', BROWSER, 'python-requests/2.31'];
  it('on any ordered stream of pages, assets, probes and form posts over hours', () => {
    let forgot = 0;
    fc.assert(
      fc.property(requestStreams(ips, requests, AGENTS), (lines) => {
        const run = scanLines({ a: lines });
        const forgetting = run.report;
        if (run.detector.aggregator.forgotten.sources > 0 && run.report.sources.length > 0) forgot++;
        const d = new Detector(structuredClone(DEFAULT_CONFIG), { format: 'combined' });
        d.aggregator.keepEverything = true;
        const o = d.openObject('a');
        for (const l of lines) o.push(l);
        o.end();
        assert.deepEqual(verdicts(forgetting), verdicts(buildReport(d)));
      }),
      { numRuns: 100 },
    );
    assert.ok(forgot > 10, `only ${forgot} runs forgot a source: the property would say little`);
  });

  it('NAT detection counts the user agents seen since a forgotten source came back', () => {
    const a = '198.51.100.77';
    const other = (ua: string, t: number) => line(a, t, 'GET /blog/ HTTP/1.1', 200, ua);
    // Two people on pages in the morning, then, an hour later, a scripted client that posts
    // straight at the sign-up form twice: with the morning forgotten, the address shows one
    // agent, so the posts carry their signs of automation.
    const lines = [other(BROWSER, 0), other('Mozilla/5.0 (Macintosh) Safari/17', 5), tick(3600), tick(3660)];
    lines.push(line(a, 3700, 'POST /register HTTP/1.1', 302, 'curl/8.4.0'), line(a, 3760, 'POST /register HTTP/1.1', 302, 'curl/8.4.0'));
    const { report } = scanLines({ a: lines });
    assert.equal(report.alerts.find((x) => x.source === a)?.trigger, 'behaviour:registration-spam');
  });
});

describe('status records', () => {
  it('statusRecord keeps every count, in the order Object.fromEntries gives', () => {
    const key = fc.oneof(fc.integer({ min: 100, max: 599 }).map(String), fc.constantFrom('none', '1xx', '2xx', '3xx'));
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, fc.nat()), { selector: ([k]) => k, maxLength: 12 }), (entries) => {
        const r = statusRecord(entries);
        const plain = Object.fromEntries(entries);
        assert.deepEqual(r, plain);
        assert.deepEqual(Object.keys(r), Object.keys(plain));
      }),
    );
  });
});

describe('shared copies of kept texts', () => {
  it('gives back the text it was given (cut to MAX_KEPT_CHARS), and holds at most MAX_SHARED_STRINGS', () => {
    const shared = new SharedStrings();
    for (let i = 0; i <= MAX_SHARED_STRINGS; i++) assert.equal(shared.get(`GET /page-${i} HTTP/1.1`), `GET /page-${i} HTTP/1.1`);
    assert.ok(shared.size <= MAX_SHARED_STRINGS, `${shared.size} texts held`);
    assert.equal(shared.get('x'.repeat(MAX_KEPT_CHARS + 10)), 'x'.repeat(MAX_KEPT_CHARS));
  });

  it('two sources fetching the same page with the same agent report the same samples', () => {
    const ua = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
    const lines = ['203.0.113.1', '203.0.113.2'].flatMap((ip) =>
      Array.from({ length: 12 }, (_, i) => `${ip} - - [${timeAt(i)}] "GET /.env HTTP/1.1" 404 10 "-" "${ua}"`),
    );
    const { report } = scanLines({ a: lines });
    const samples = report.alerts.map((a) => a.samples.map((s) => [s.request, s.userAgent]));
    assert.equal(samples.length, 2);
    assert.deepEqual(samples[0], samples[1]);
    assert.deepEqual(samples[0]?.[0], ['GET /.env HTTP/1.1', ua]);
  });
});

describe('idle sources folded while they wait for their long horizons', () => {
  const ips = ['198.51.100.1', '198.51.100.2', '203.0.113.3', '2001:db8:5::1', '2001:db8:6::2'];
  const requests: [string, number][] = [
    ['GET / HTTP/1.1', 200],
    ['GET /wp-content/themes/x/app.js HTTP/1.1', 200],
    ['GET /missing-page HTTP/1.1', 404],
    ['GET /old-feed/ HTTP/1.1', 404],
    ['GET /.env HTTP/1.1', 404],
    ['GET /wp-login.php HTTP/1.1', 200],
    ['POST /wp-login.php HTTP/1.1', 200],
    ['POST /register HTTP/1.1', 302],
    ['GET /cgi-bin/test.cgi HTTP/1.1', 404],
  ];
  const AGENTS = [BROWSER, 'curl/8.4.0', 'Mozilla/5.0 (Macintosh) Safari/17', BROWSER, 'python-requests/2.31'];
  /** Idle this long, a source is past its short window and lateness: the next sweeps fold it. */
  const IDLE_S = DEFAULT_CONFIG.windowSeconds + DEFAULT_CONFIG.latenessSeconds;

  /** A scan of `lines`, with idle sources folded or not. */
  const scan = (lines: string[], fold: boolean) => {
    const d = new Detector(structuredClone(DEFAULT_CONFIG), { format: 'combined' });
    d.aggregator.foldAboveSources = fold ? 0 : Number.POSITIVE_INFINITY;
    const o = d.openObject('a');
    for (const l of lines) o.push(l);
    o.end();
    return { detector: d, report: buildReport(d) };
  };

  it('a source folded and unfolded is the source it was, field for field', () => {
    const event = fc.record({
      ip: fc.integer({ min: 0, max: ips.length - 1 }),
      gap: fc.integer({ min: 0, max: 400 }),
      req: fc.integer({ min: 0, max: requests.length - 1 }),
    });
    let folded = 0;
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 60 }), (events) => {
        let t = 0;
        const lines = events.map((e) => {
          t += e.gap;
          const [request, status] = requests[e.req] as [string, number];
          return line(ips[e.ip] as string, t, request, status, AGENTS[e.ip]);
        });
        const { detector } = scan(lines, false);
        for (const s of detector.aggregator.sources.values()) {
          const w = s.window;
          w?.releaseFine();
          const before = inspect(s, { depth: 10, breakLength: Number.POSITIVE_INFINITY });
          if (!w || !s.fold()) continue;
          folded++;
          assert.equal(s.window, null);
          assert.equal(s.samples.length, 0, 'a folded source shows no samples');
          s.unfold(new EventWindow(w.bucketMs, w.windowMs, w.retainMs, w.longestMs));
          assert.equal(s.folded, false);
          assert.equal(inspect(s, { depth: 10, breakLength: Number.POSITIVE_INFINITY }), before);
        }
      }),
      { numRuns: 60 },
    );
    assert.ok(folded > 100, `only ${folded} sources were folded: the property would say little`);
  });

  it('a source with an alert is not folded', () => {
    const a = '203.0.113.80';
    const lines = ['/.env', '/.git/config', '/wp-config.php.bak'].map((p, k) => line(a, k, `GET ${p} HTTP/1.1`, 404));
    const { detector } = scan(lines, false);
    const s = detector.aggregator.sources.get(a);
    assert.ok(s?.alert);
    s.window?.releaseFine();
    assert.equal(s.fold(), false);
    assert.ok(s.window, 'kept as it was');
  });

  it('on any stream of pages, probes, logins and form posts over hours, folding decides as keeping everything unfolded', () => {
    let folds = 0;
    let returns = 0;
    fc.assert(
      fc.property(requestStreams(ips, requests, AGENTS), (lines) => {
        const folding = scan(lines, true);
        const f = folding.detector.aggregator.folding;
        if (f.folded > 0) folds++;
        if (f.unfolded > 0) returns++;
        // The whole report: verdicts, order, samples, counts, times.
        assert.deepEqual(folding.report, scan(lines, false).report);
      }),
      { numRuns: 100 },
    );
    assert.ok(folds > 20 && returns > 10, `${folds} runs folded a source, ${returns} unfolded one: the property would say little`);
  });

  it('a slow scanner folded between its probes still adds up to the 24-hour horizon', () => {
    const a = '198.51.100.30';
    // Two new missing paths every 30 minutes, all day, while another visitor moves the watermark:
    // idle past its short window between visits, the scanner is folded and unfolded again.
    const lines = Array.from({ length: 48 }, (_, i) => [
      line(a, i * 1800, `GET /w/${i}-item HTTP/1.1`, 404, 'Mozilla/5.0 (compatible; Fetcher/1.0)'),
      line(a, i * 1800 + 1, `GET /w/${i}-other HTTP/1.1`, 404, 'Mozilla/5.0 (compatible; Fetcher/1.0)'),
      ...[300, 600, 900, 1200, 1500].map((s) => tick(i * 1800 + s)),
    ]).flat();
    const folding = scan(lines, true);
    assert.ok(folding.detector.aggregator.folding.folded >= 10, `folded ${folding.detector.aggregator.folding.folded} times`);
    assert.equal(folding.report.alerts.find((x) => x.source === a)?.trigger, 'horizon:24h');
    assert.deepEqual(folding.report, scan(lines, false).report);
  });

  it("a folded source's pending decision is taken at the end of the scan as if it were never folded", () => {
    const a = '198.51.100.31';
    // 310 errors within one five-minute bucket (an error flood), then another visitor for 45 minutes.
    const lines = Array.from({ length: 310 }, (_, i) => line(a, Math.floor(i / 2), 'GET /old-feed/ HTTP/1.1', 404));
    for (let s = 200; s < 200 + 45 * 60; s += 60) lines.push(tick(s));
    const d = new Detector(structuredClone(DEFAULT_CONFIG), { format: 'combined' });
    d.aggregator.foldAboveSources = 0;
    const o = d.openObject('a');
    for (const l of lines) o.push(l);
    o.end();
    assert.equal(d.aggregator.sources.get(a)?.folded, true, 'folded before the end');
    const report = buildReport(d);
    assert.equal(d.aggregator.sources.get(a)?.folded, false, 'unfolded: it alerted');
    assert.equal(report.alerts.find((x) => x.source === a)?.trigger, 'horizon:1h');
    assert.equal(report.sources.find((x) => x.source === a)?.labels['error-flood'], 310);
    assert.deepEqual(report, scan(lines, false).report);
  });

  it('idle sources are folded only while more than FOLD_ABOVE_SOURCES sources are held', () => {
    const addresses = ['198.51.100.41', '198.51.100.42', '198.51.100.43'];
    const lines = [...addresses.map((a, i) => line(a, i, 'GET /a-missing-page HTTP/1.1', 404)), tick(IDLE_S + 120), tick(IDLE_S + 240)];
    const foldedWith = (above?: number) => {
      const d = new Detector(structuredClone(DEFAULT_CONFIG), { format: 'combined' });
      if (above !== undefined) d.aggregator.foldAboveSources = above;
      const o = d.openObject('a');
      for (const l of lines) o.push(l);
      return addresses.filter((a) => d.aggregator.sources.get(a)?.folded).length;
    };
    assert.ok(addresses.length + 1 < FOLD_ABOVE_SOURCES);
    assert.equal(foldedWith(), 0, 'a few sources stay whole');
    // Four sources are held (the three and the one of the ticks): above three, idle ones fold.
    assert.equal(foldedWith(3), 3);
    assert.equal(foldedWith(4), 0);
  });

  it('a source that comes back is unfolded with every earlier fact', () => {
    const a = '198.51.100.32';
    const lines = [line(a, 0, 'GET /a-missing-page HTTP/1.1', 404), line(a, 5, 'GET /blog/ HTTP/1.1', 200), tick(IDLE_S + 120), tick(IDLE_S + 240)];
    const d = new Detector(structuredClone(DEFAULT_CONFIG), { format: 'combined' });
    d.aggregator.foldAboveSources = 0;
    const o = d.openObject('a');
    for (const l of lines) o.push(l);
    assert.equal(d.aggregator.sources.get(a)?.folded, true);
    o.push(line(a, IDLE_S + 300, 'GET /another-missing-page HTTP/1.1', 404));
    const s = d.aggregator.sources.get(a);
    assert.equal(s?.folded, false);
    assert.equal(s?.requests, 3);
    assert.deepEqual(s?.statusCounts(), { '404': 2, '2xx': 1 });
    assert.deepEqual(
      s?.samples.map((x) => x.request),
      ['GET /a-missing-page HTTP/1.1', 'GET /another-missing-page HTTP/1.1'],
    );
    assert.equal(
      s?.window?.coarse.reduce((n, b) => n + (b.paths?.length ?? 0), 0),
      2,
      'both error paths on the long horizons',
    );
  });
});
