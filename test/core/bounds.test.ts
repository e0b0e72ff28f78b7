import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_KEPT_CHARS, MAX_SUBNETS_PER_PREFIX } from '../../lambdas/core/aggregate.js';
import { DEFAULT_CONFIG } from '../../lambdas/core/config.js';
import { MAX_COMBINING_RUN } from '../../lambdas/core/rules/engine.js';
import { Detector } from '../../lambdas/core/scan.js';
import { scanLines } from '../support/detector.js';
import { timeAt } from '../support/records.js';

const line = (ip: string, second: number, request: string, status: number, ua = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0') =>
  `${ip} - - [${timeAt(second)}] "${request}" ${status} 10 "-" "${ua}"`;

describe('memory bounds of a scan', () => {
  it('a client field that is not an IP address is a counted skipped line, never a source', () => {
    const json = (client: string) =>
      JSON.stringify({ remote_addr: client, time_iso8601: '2024-01-01T00:00:00+00:00', request: 'GET /.env HTTP/1.1', status: 404 });
    const { report } = scanLines({ a: [json('x'.repeat(3000)), json('203.0.113.9'), json('not-an-address')] });
    assert.equal(report.lines.skipped['invalid-client-address'], 2);
    assert.equal(report.lines.parsed, 1);
    assert.deepEqual(
      report.sources.map((s) => s.source),
      ['203.0.113.9'],
    );
  });

  it("the rules' decoding limits reached are counted in the report's bounds", () => {
    const deep = '/%252525252e%252525252e/etc/passwd';
    const { report } = scanLines({
      a: [
        line('198.51.100.20', 0, 'GET /.env.1.2.3.4.5.6.7.8.9.js HTTP/1.1', 404),
        line('198.51.100.21', 2, `GET ${deep} HTTP/1.1`, 404),
        line('198.51.100.22', 3, 'GET /index.html HTTP/1.1', 200),
      ],
    });
    assert.equal(report.bounds?.decoyExtensionsCut, 1);
    assert.ok(
      (report.bounds?.decodePassesExhausted ?? 0) >= 1,
      'a field of the line is still encoded after the last pass (the path, and the line as searched whole)',
    );
    assert.equal(report.bounds?.sourcesEvicted, 0);
    assert.equal(scanLines({ a: [line('198.51.100.22', 3, 'GET /index.html HTTP/1.1', 200)] }).report.bounds, undefined, 'no bound reached: no bounds');
  });

  it("a path or query with a run of combining marks longer than the rules normalise together is counted in the report's bounds", () => {
    const marks = '\u0301\u0316'.repeat(MAX_COMBINING_RUN);
    const { report } = scanLines({
      a: [
        line('198.51.100.30', 0, `GET /a${marks}/\uff0eenv HTTP/1.1`, 404),
        line('198.51.100.31', 1, `GET /search?q=a${marks} HTTP/1.1`, 200),
        line('198.51.100.32', 2, `GET /a${marks.slice(0, MAX_COMBINING_RUN)} HTTP/1.1`, 404),
      ],
    });
    assert.equal(report.bounds?.combiningRunsCut, 2);
    const probe = report.sources.find((s) => s.source === '198.51.100.30');
    assert.equal(probe?.labels['sensitive-file'], 1, 'the look-alike `.env` after the run is still read');
  });

  it('a flood from many /64s of one /48 is aggregated into one source past the prefix budget', () => {
    const lines: string[] = [];
    const n = MAX_SUBNETS_PER_PREFIX + 200;
    for (let i = 0; i < n; i++) {
      const ip = `2001:db8:77:${i.toString(16)}::1`;
      for (const p of ['/.env', '/.git/config', '/wp-config.php.bak']) lines.push(line(ip, i, `GET ${p} HTTP/1.1`, 404));
    }
    const { report, detector } = scanLines({ a: lines });
    assert.equal(detector.aggregator.sources.size, MAX_SUBNETS_PER_PREFIX + 1);
    const agg = report.alerts.find((a) => a.source === '2001:db8:77::/48');
    assert.ok(agg, 'the /48 alerted as one source');
    assert.equal(agg.requests, 200 * 3);
    assert.match(agg.note ?? '', /more than 256 of its subnets were counted as one source/);
    assert.equal(report.bounds?.requestsAggregated, 200 * 3);
  });

  it('past the source budget, clean sources are forgotten first, then new ones are only counted', () => {
    const clean = Array.from({ length: 30 }, (_, i) => line(`192.0.2.${i + 1}`, i, 'GET / HTTP/1.1', 200));
    const probes = Array.from({ length: 30 }, (_, i) => line(`198.51.100.${i + 1}`, 100 + i, 'GET /.env HTTP/1.1', 404));
    const late = Array.from({ length: 5 }, (_, i) => line(`203.0.113.${i + 1}`, 200 + i, 'GET /.git/config HTTP/1.1', 404));
    const { report, detector } = scanLines({ a: [...clean, ...probes, ...late] }, {}, { maxSources: 40 });
    assert.ok(detector.aggregator.sources.size <= 40);
    assert.equal(report.bounds?.sourcesEvicted, 30, 'every clean source was forgotten to make room');
    assert.equal(report.bounds?.requestsUntracked, 0 + 0, 'room was found for every probing source');
    assert.equal(report.cleanSources, 30, 'forgotten clean sources are still counted');
    const full = scanLines({ a: [...probes, ...late] }, {}, { maxSources: 30 });
    assert.equal(full.report.bounds?.requestsUntracked, 5, 'a budget full of probing sources counts newcomers');
    assert.equal(full.report.lines.parsed, 35);
  });

  it('kept evidence is cut: an 8-KB request line and user agent cost a source at most MAX_KEPT_CHARS each', () => {
    const long = `/${'a'.repeat(8000)}`;
    const { detector } = scanLines({ a: [line('198.51.100.60', 0, `GET /.env?x=${long} HTTP/1.1`, 404, `sqlmap/1.8 ${'b'.repeat(8000)}`)] });
    const s = detector.aggregator.sources.get('198.51.100.60');
    assert.ok(s && s.samples.length === 1);
    assert.equal(s.samples[0]?.request.length, MAX_KEPT_CHARS);
    assert.equal(s.samples[0]?.userAgent.length, MAX_KEPT_CHARS);
  });
});

describe('the prefix counts behind IPv6 aggregation', () => {
  it('stay within twice the source budget however many networks appear', () => {
    // 200 sources from 200 different /32s: each adds a /48 and a /32 to the counts.
    const lines = Array.from({ length: 200 }, (_, i) => line(`2001:${(0xdb8 + i).toString(16)}:1:1::1`, i, 'GET / HTTP/1.1', 200));
    const { detector } = scanLines({ a: lines }, {}, { maxSources: 40 });
    assert.ok(detector.aggregator.prefixesCounted <= 80, String(detector.aggregator.prefixesCounted));
    assert.ok(detector.aggregator.prefixesCounted > 0);
  });
});

describe('lines too long to keep', () => {
  const ok = (i: number) => `198.51.100.7 - - [${timeAt(i)}] "GET /p${i} HTTP/1.1" 200 5 "-" "curl/8"`;

  it('among the first lines (held to detect the format) keep their line numbers, and so do the lines after them', () => {
    const d = new Detector(structuredClone(DEFAULT_CONFIG));
    const o = d.openObject('f.log');
    o.push(ok(1));
    o.push(ok(2));
    o.push(ok(3));
    o.overlong('198.51.100.7 - - [');
    o.push('not a request');
    o.push(ok(5));
    const stats = o.end();
    assert.deepEqual(
      d.skippedSamples.map((x) => `${x.line} ${x.reason}`),
      ['4 line-too-long', '5 format-mismatch'],
    );
    assert.equal(stats.total, 6);
    assert.equal(stats.parsed, 4);
  });

  it('a scanner is usable (a high compression ratio is the log’s own) once most of its lines are requests', () => {
    const d = new Detector(structuredClone(DEFAULT_CONFIG));
    const o = d.openObject('f.log');
    assert.equal(o.usable(), false, 'nothing read yet');
    for (let i = 0; i < 60; i++) o.push(ok(i));
    assert.equal(o.usable(), true);
    for (let i = 0; i < 61; i++) o.push('');
    assert.equal(o.usable(), false, 'more blank lines than requests');
  });
});
