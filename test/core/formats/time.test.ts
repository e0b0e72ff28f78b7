import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../../lambdas/core/config.js';
import { makeParser } from '../../../lambdas/core/formats/index.js';
import {
  PLAUSIBLE_TIME_MAX_MS,
  PLAUSIBLE_TIME_MIN_MS,
  isPlausibleTime,
  parseAnyTime,
  parseClfTime,
  parseIsoTime,
} from '../../../lambdas/core/formats/shared.js';
import { type LineParser, emptyRecord } from '../../../lambdas/core/model.js';
import { Detector, ObjectScanner, type ObjectStats } from '../../../lambdas/core/scan.js';
import { scanLines } from '../../support/detector.js';

/** One line per format family with its timestamp replaced by `t` (in that format's notation). */
const lineWith: Record<string, (t: string) => string> = {
  common: (t) => `203.0.113.1 - - [${t}] "GET / HTTP/1.1" 200 5`,
  combined: (t) => `203.0.113.1 - - [${t}] "GET / HTTP/1.1" 200 5 "-" "curl/8.4.0"`,
  'nginx:$remote_addr [$time_iso8601] "$request" $status': (t) => `203.0.113.1 [${t}] "GET / HTTP/1.1" 200`,
  'apache:%h %{sec}t "%r" %>s': (t) => `203.0.113.1 ${t} "GET / HTTP/1.1" 200`,
  'apache:%h %{msec}t "%r" %>s': (t) => `203.0.113.1 ${t} "GET / HTTP/1.1" 200`,
  alb: (t) =>
    `http ${t} app/shop/1f2e 203.0.113.1:40000 10.0.1.5:80 0.001 0.002 0.000 200 200 120 300 "GET http://shop.example.com:80/ HTTP/1.1" "curl/8.4.0" - -`,
  elb: (t) => `${t} shop 203.0.113.1:40000 10.0.1.5:80 0.001 0.002 0.000 200 200 0 29 "GET http://shop.example.com:80/ HTTP/1.1" "curl/8.4.0" - -`,
  cloudfront: (t) => `${t.replace('T', '\t').replace('Z', '')}\tFRA2\t182\t203.0.113.1\tGET\td111.cloudfront.net\t/\t200\t-\tcurl/8.4.0\t-`,
  json: (t) => `{"time":${t},"remote_addr":"203.0.113.1","request":"GET / HTTP/1.1","status":200}`,
  haproxy: (t) => `203.0.113.1:40000 [${t}] fe be/web1 0/0/1/2/3 200 10 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  s3: (t) =>
    `5f1e0c7b9a4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f shop [${t}] 203.0.113.1 - 7A1C REST.GET.OBJECT k "GET /shop/k HTTP/1.1" 200 - 5 5 1 1 "-" "curl/8.4.0" - h= SigV4 - AuthHeader shop.s3.amazonaws.com TLSv1.3`,
  'syslog:combined': (t) => `<190>Dec  1 12:00:00 web1 nginx: 203.0.113.1 - - [${t}] "GET / HTTP/1.1" 200 5 "-" "curl/8.4.0"`,
};

/** Bad and good timestamps per notation: [format, good, bad values…]. */
const clf = [
  '01/Dec/2026:12:00:00 +0000',
  '30/Feb/2024:00:00:00 +0000',
  '31/Apr/2024:00:00:00 +0000',
  '29/Feb/2023:00:00:00 +0000',
  '01/Jan/0050:00:00:00 +0000',
  '01/Jan/1989:23:59:59 +0000',
  '01/Jan/2100:00:00:00 +0000',
  '01/Dec/2026:24:00:00 +0000',
  '01/Dec/2026:23:00:61 +0000',
  '01/Dec/2026:12:00:00 +2500',
];
const iso = [
  '2026-12-01T12:00:00Z',
  '2024-02-30T00:00:00Z',
  '2024-04-31T00:00:00Z',
  '2026-12-01T24:00:61Z',
  '0050-01-01T00:00:00Z',
  '2100-01-01T00:00:00Z',
  '2026-13-01T00:00:00Z',
];
const haproxyTimes = ['01/Dec/2026:12:00:00.123', '30/Feb/2024:00:00:00.000', '01/Jan/0050:00:00:00.000', '01/Dec/2026:24:00:61.000'];
const epochSeconds = ['1796126400', '1e23', '8640000000000001', '-5', '0', '4102444800'];
const epochMillis = ['1796126400000', '100000000000000000000000', '8640000000000001', '4102444800000'];
const jsonTimes = [
  '1796126400',
  '1e23',
  '8.64e15',
  '8640000000000001',
  '-1',
  '"2024-02-30T00:00:00Z"',
  '"2026-12-01T24:00:61Z"',
  '"30/Feb/2024:00:00:00 +0000"',
  '"01/Jan/0050:00:00:00 +0000"',
  '"1e23"',
];
const table: [string, string[]][] = [
  ['common', clf],
  ['combined', clf],
  ['nginx:$remote_addr [$time_iso8601] "$request" $status', iso],
  ['apache:%h %{sec}t "%r" %>s', epochSeconds],
  ['apache:%h %{msec}t "%r" %>s', epochMillis],
  ['alb', iso],
  ['elb', iso.map((t) => t.replace('Z', '.000000Z'))],
  ['cloudfront', iso],
  ['json', jsonTimes],
  ['haproxy', haproxyTimes],
  ['s3', clf],
  ['syslog:combined', clf],
];

describe('timestamps: one plausible range for every format', () => {
  for (const [format, [good, ...bad]] of table) {
    it(`${format}: a real time parses; impossible or out-of-range ones are invalid-timestamp`, () => {
      const build = lineWith[format] as (t: string) => string;
      const r = makeParser(format).parse(build(good as string));
      assert.ok(r?.ok, `${good}: ${r && !r.ok ? r.reason : 'header'}`);
      assert.ok(isPlausibleTime(r.record.time));
      for (const t of bad) {
        const b = makeParser(format).parse(build(t));
        assert.ok(b && !b.ok, `${t} must not give a record (got ${b?.ok ? new Date(b.record.time).toISOString() : 'a header'})`);
        assert.equal(b.reason, 'invalid-timestamp', t);
      }
    });
  }

  it('the range is 1990-01-01 (inclusive) to 2100-01-01 (exclusive)', () => {
    assert.equal(new Date(PLAUSIBLE_TIME_MIN_MS).toISOString(), '1990-01-01T00:00:00.000Z');
    assert.equal(new Date(PLAUSIBLE_TIME_MAX_MS).toISOString(), '2100-01-01T00:00:00.000Z');
    assert.ok(isPlausibleTime(PLAUSIBLE_TIME_MIN_MS) && !isPlausibleTime(PLAUSIBLE_TIME_MAX_MS));
    assert.ok(!isPlausibleTime(Number.NaN) && !isPlausibleTime(Number.POSITIVE_INFINITY));
  });

  it('reads calendar fields without rollover: year 50 stays 50, 30 February and 24:00:61 are impossible', () => {
    assert.equal(new Date(parseClfTime('01/Jan/0050:00:00:00 +0000')).getUTCFullYear(), 50);
    assert.equal(new Date(parseIsoTime('0050-06-01T00:00:00Z')).getUTCFullYear(), 50);
    assert.equal(parseClfTime('30/Feb/2024:00:00:00 +0000'), Number.NEGATIVE_INFINITY);
    assert.equal(parseIsoTime('2024-04-31T00:00:00Z'), Number.NEGATIVE_INFINITY);
    assert.equal(parseIsoTime('2026-12-01T24:00:61Z'), Number.NEGATIVE_INFINITY);
    assert.equal(new Date(parseIsoTime('2024-02-29T23:59:60Z')).toISOString(), '2024-03-01T00:00:00.000Z', 'a leap second is accepted');
  });

  it('reads a zone-less ISO time as UTC whatever the machine zone, and accepts the usual offsets', () => {
    assert.equal(parseIsoTime('2023-08-11T11:41:25'), Date.UTC(2023, 7, 11, 11, 41, 25));
    assert.equal(parseIsoTime('2024-05-01T12:00:00+0200'), Date.UTC(2024, 4, 1, 10));
    assert.equal(parseIsoTime('2024-05-01 12:00:00.5 -03:30'), Date.UTC(2024, 4, 1, 15, 30, 0, 500));
    assert.ok(Number.isNaN(parseIsoTime('Tue Dec 01 12:00:00 2026')), 'not ISO 8601: not a timestamp, not a guess');
    assert.equal(parseAnyTime('Sat, 23 Dec 2023 23:17:54 GMT'), Date.UTC(2023, 11, 23, 23, 17, 54));
  });

  it('no parser emits a record with a time outside the range, whatever the JSON time value', () => {
    const parser = makeParser('json');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double(),
          fc.integer(),
          fc.string(),
          fc.date({ noInvalidDate: false }).map((d) => d.toString()),
        ),
        (t) => {
          const r = parser.parse(JSON.stringify({ time: t, remote_addr: '203.0.113.1', request: 'GET / HTTP/1.1', status: 200 }));
          return !r?.ok || isPlausibleTime(r.record.time);
        },
      ),
    );
  });

  it('a JSON log with "time": 1e23 or 8.64e15+ is counted as invalid, not hung on or thrown at', () => {
    const ok = '{"time":"2026-12-01T12:00:00Z","remote_addr":"203.0.113.2","request":"GET / HTTP/1.1","status":200}';
    const far = '{"time":1e23,"remote_addr":"203.0.113.3","request":"GET /x HTTP/1.1","status":404}';
    const past = '{"time":8640000000000001,"remote_addr":"203.0.113.3","request":"GET /y HTTP/1.1","status":404}';
    const { report } = scanLines({ 'app.jsonl': [ok, far, past, ok] });
    assert.equal(report.lines.parsed, 2);
    assert.equal(report.lines.skipped['invalid-timestamp'], 2);
    assert.deepEqual(report.files[0]?.formats, { json: 2 });
  });

  it('the scanner refuses a record with an implausible time even from a parser that let it through', () => {
    const leaky: LineParser = {
      format: 'leaky',
      parse(line) {
        const r = emptyRecord(line);
        r.time = line === 'nan' ? Number.NaN : 1e23;
        r.peerIp = '203.0.113.4';
        r.clientIp = r.peerIp;
        return { ok: true, record: r };
      },
    };
    const detector = new Detector(structuredClone(DEFAULT_CONFIG));
    const stats: ObjectStats = { name: 'x', format: 'leaky', formatSource: 'given', formats: {}, total: 0, parsed: 0, skipped: {} };
    const scanner = new ObjectScanner(detector, stats, leaky);
    scanner.push('nan');
    scanner.push('far');
    scanner.end();
    assert.equal(stats.parsed, 0);
    assert.equal(stats.skipped['invalid-timestamp'], 2);
    assert.equal(detector.aggregator.sources.size, 0);
  });
});
