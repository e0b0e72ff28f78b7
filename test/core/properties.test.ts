import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { readLines } from '../../lambdas/adapters/log-stream.js';
import { makeStyle, renderExplain, renderReport } from '../../lambdas/cli/render.js';
import { DEFAULT_CONFIG, type DetectorConfig } from '../../lambdas/core/config.js';
import { sanitize } from '../../lambdas/core/escape.js';
import { FORMAT_NAMES, makeParser } from '../../lambdas/core/formats/index.js';
import { LineSplitter } from '../../lambdas/core/lines.js';
import { buildReport } from '../../lambdas/core/report.js';
import { Detector } from '../../lambdas/core/scan.js';
import { EventWindow, longPeak } from '../../lambdas/core/window.js';
import { everyString } from '../support/strings.js';

// Property-based tests: arbitrary lines, timestamps, addresses and sizes through the parsers, the
// window, the aggregator and the renderers. Run counts are modest so the suite stays quick; a
// failure prints the seed and the shrunk counterexample to replay.

/** Characters that must never reach an output raw (the text report may contain LF). */
const RAW =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Our own colour codes, the only escape sequences the text report may contain. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping our own colour codes
const COLOUR = /\u001b\[\d+m/g;
/**
 * Longest time one line may take anywhere in the core: generous for a loaded machine, far below a
 * pathology (super-linear work on a 2,000-character line takes seconds). A line over it is timed
 * again before the test fails: a collection or a busy machine pauses once, a pathology every time.
 */
const LINE_BUDGET_MS = 250;

const HOSTILE = ['\u001b', '\u0007', '\u202e', '\u2066', '\r', '\n', '\u0000', '\u0085', '\u200b', '\ufeff', '\ud800', '\udfff', '\u{1f600}'];
const SYNTAX = ['"', '[', ']', ' ', '\t', '\\', '%', '%2e', '%00', '?', '&', '=', '/', '../', '{', '}', '-', ':', '+', '.', ',', '#'];
/** Strings built from log syntax, hostile characters, letters and any UTF-16 unit. */
const messy = (maxLength = 40) =>
  fc.string({
    unit: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789ABCXYZ') },
      { weight: 3, arbitrary: fc.constantFrom(...SYNTAX) },
      { weight: 1, arbitrary: fc.constantFrom(...HOSTILE) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    ),
    maxLength,
  });

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');
const dates = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2100-12-31T23:59:59Z'), noInvalidDate: true });
/** Dates a run of a minute can start at and stay inside the plausible time range. */
const inRange = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2099-12-31T23:58:00Z'), noInvalidDate: true });
const offsets = fc.integer({ min: -14 * 60, max: 14 * 60 });
const clfTime = fc.tuple(dates, offsets).map(([d, off]) => {
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${sign}${p2(Math.floor(a / 60))}${p2(a % 60)}`;
});
const timestamp = fc.oneof({ weight: 6, arbitrary: clfTime }, { weight: 1, arbitrary: messy(30) });
const isoTime = fc.oneof(
  dates.map((d) => d.toISOString()),
  dates.map((d) => String(d.getTime() / 1000)),
  messy(25),
);

const address = fc.oneof(
  { weight: 5, arbitrary: fc.ipV4() },
  { weight: 2, arbitrary: fc.ipV6() },
  { weight: 1, arbitrary: fc.tuple(fc.ipV4(), fc.nat(65535)).map(([ip, port]) => `${ip}:${port}`) },
  { weight: 2, arbitrary: messy(20) },
  { weight: 1, arbitrary: fc.tuple(fc.ipV4(), fc.constantFrom(...HOSTILE)).map(([ip, h]) => `${ip}${h}`) },
);
const size = fc.oneof(fc.nat().map(String), fc.constant('-'), fc.double().map(String), fc.bigInt().map(String), messy(8));
const status = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 100, max: 599 }).map(String) }, { weight: 1, arbitrary: messy(5) });
const target = fc.oneof(
  fc.webPath().map((p) => p || '/'),
  fc.tuple(fc.webPath(), fc.webQueryParameters()).map(([p, q]) => `${p || '/'}?${q}`),
  messy(60).map((s) => `/${s}`),
  fc.constantFrom('/.env', '/cgi-bin/php5', '/wp-login.php', '/../../etc/passwd', '*', '/?cmd=id', '/${jndi:ldap://x/a}'),
);
const method = fc.oneof({ weight: 5, arbitrary: fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'PROPFIND') }, { weight: 1, arbitrary: messy(8) });

const combinedLine = fc
  .record({ ip: address, time: timestamp, method, target, status, size, referer: messy(), ua: messy() })
  .map((f) => `${f.ip} - - [${f.time}] "${f.method} ${f.target} HTTP/1.1" ${f.status} ${f.size} "${f.referer}" "${f.ua}"`);
const jsonLine = fc.oneof(
  fc
    .record({ time: isoTime, remote_addr: address, request: fc.tuple(method, target).map(([m, t]) => `${m} ${t} HTTP/1.1`), status, size, ua: messy() })
    .map((f) =>
      JSON.stringify({
        time: f.time,
        remote_addr: f.remote_addr,
        request: f.request,
        status: Number(f.status) || f.status,
        body_bytes_sent: f.size,
        http_user_agent: f.ua,
      }),
    ),
  fc.json({ maxDepth: 3 }),
);
const albLine = fc
  .record({ time: isoTime, client: address, status, size, target, ua: messy() })
  .map(
    (f) =>
      `http ${f.time} app/my-lb/50dc6c495c0c9188 ${f.client}:2817 10.0.0.1:80 0.000 0.001 0.000 ${f.status} ${f.status} 34 ${f.size} "GET http://example.com:80${f.target} HTTP/1.1" "${f.ua}" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 ${f.time} "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"`,
  );
const w3cLine = fc
  .record({ time: dates, ip: address, status, target, ua: messy() })
  .map(
    (f) =>
      `${f.time.toISOString().slice(0, 10)} ${f.time.toISOString().slice(11, 19)} LAX1-C1 ${f.ip.replace(/\s/g, '')} 10.0.0.2 GET d111111abcdef8.cloudfront.net ${f.target.replace(/\s/g, '')} ${f.status} - ${encodeURIComponent(f.ua.replace(/[\ud800-\udfff]/g, '?'))} - - Miss`,
  );
const anyLine = fc.oneof(
  { weight: 4, arbitrary: combinedLine },
  { weight: 2, arbitrary: jsonLine },
  { weight: 1, arbitrary: albLine },
  { weight: 1, arbitrary: w3cLine },
  { weight: 1, arbitrary: fc.constantFrom('#Version: 1.0', '#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(User-Agent)', '') },
  { weight: 2, arbitrary: messy(200) },
);
/** A log: mostly lines of one kind, as real objects are, with any line mixed in. */
const logLines = fc.oneof(fc.array(combinedLine, { maxLength: 40 }), fc.array(jsonLine, { maxLength: 40 }), fc.array(anyLine, { maxLength: 40 }));

function config(): DetectorConfig {
  return structuredClone(DEFAULT_CONFIG);
}

/** Pushes every line, timing each; returns the slowest. */
function scan(d: Detector, name: string, lines: readonly string[]): number {
  const o = d.openObject(name);
  let slowest = 0;
  for (const l of lines) {
    const t = performance.now();
    o.push(l);
    slowest = Math.max(slowest, performance.now() - t);
  }
  const t = performance.now();
  o.end();
  return Math.max(slowest, performance.now() - t);
}

function assertEscaped(text: string, where: string): void {
  const m = RAW.exec(text.replace(COLOUR, ''));
  assert.equal(
    m,
    null,
    `${where}: raw ${JSON.stringify(m?.[0])} at ${m?.index}: ${JSON.stringify(text.slice(Math.max(0, (m?.index ?? 0) - 40), (m?.index ?? 0) + 20))}`,
  );
}

describe('properties of the core on arbitrary input', () => {
  it('every parser returns a value for any line and never throws, in bounded time', () => {
    const parsers = [...FORMAT_NAMES, 'apache:%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"', 'nginx:$remote_addr [$time_local] "$request" $status'];
    fc.assert(
      fc.property(fc.oneof(anyLine, messy(2000)), (line) => {
        for (const name of parsers) {
          const timed = () => {
            const parser = makeParser(name);
            const t = performance.now();
            const r = parser.parse(line);
            return { r, ms: performance.now() - t };
          };
          let { r, ms } = timed();
          if (ms >= LINE_BUDGET_MS) ({ r, ms } = timed());
          assert.ok(ms < LINE_BUDGET_MS, `${name} took ${ms} ms, twice`);
          if (r === null) continue;
          if (r.ok) assert.equal(typeof r.record.time, 'number');
          else assert.equal(typeof r.reason, 'string');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('every line read is either parsed or skipped with a reason (counts conserved), whatever the format', () => {
    fc.assert(
      fc.property(logLines, fc.constantFrom(undefined, 'combined', 'json', 'alb', 'w3c'), (lines, format) => {
        let d = new Detector(config(), format ? { format } : {});
        let slowest = scan(d, 'access.log', lines);
        if (slowest >= LINE_BUDGET_MS) {
          d = new Detector(config(), format ? { format } : {});
          slowest = scan(d, 'access.log', lines);
        }
        assert.ok(slowest < LINE_BUDGET_MS, `a line took ${slowest} ms, twice`);
        const [stats] = d.objects;
        assert.ok(stats);
        assert.equal(stats.total, lines.length);
        const skipped = Object.values(stats.skipped).reduce((a, b) => a + b, 0);
        assert.equal(stats.parsed + skipped, stats.total);
        // Sources forgotten behind the watermark while clean take their requests with them.
        let requests = d.aggregator.forgotten.requests;
        for (const s of d.aggregator.sources.values()) requests += s.requests;
        assert.equal(requests, stats.parsed, 'every parsed line is one request of one source');
      }),
      { numRuns: 300 },
    );
  });

  it('reports, text and JSON, are built for any input and carry no raw control character', () => {
    fc.assert(
      fc.property(logLines, messy(30), (lines, name) => {
        const d = new Detector(config());
        scan(d, name, lines);
        const report = buildReport(d);
        for (const st of [makeStyle(false), makeStyle(true)]) assertEscaped(renderReport(report, st), 'text report');
        for (const s of everyString(JSON.parse(JSON.stringify(report)))) assertEscaped(s, 'JSON report');
        const first = report.sources[0]?.source;
        if (first !== undefined) assertEscaped(renderExplain(first, d.explained, report, makeStyle(false)), 'explain');
      }),
      { numRuns: 200 },
    );
  });

  it('a source probing at any time between 1990 and 2100 is windowed and alerted like any other', () => {
    fc.assert(
      // Starts early enough that the whole run stays inside the plausible range (before 2100).
      fc.property(inRange, fc.integer({ min: 12, max: 40 }), fc.ipV4(), (start, n, ip) => {
        const d = new Detector(config());
        const lines = Array.from({ length: n }, (_, i) => {
          const t = new Date(start.getTime() + i * 1000);
          const clf = `${p2(t.getUTCDate())}/${MONTHS[t.getUTCMonth()]}/${t.getUTCFullYear()}:${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())} +0000`;
          return `${ip} - - [${clf}] "GET /backup-${i}.sql HTTP/1.1" 404 153 "-" "python-requests/2.31"`;
        });
        scan(d, 'access.log', lines);
        assert.equal(d.objects[0]?.parsed, n);
        assert.ok(buildReport(d).alerts.some((a) => a.source === ip));
      }),
      { numRuns: 100 },
    );
  });

  it('the window never throws or loops, for any finite time, score and order of events', () => {
    const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
    const event = fc.record({ time: fc.oneof(finite, fc.integer({ min: 631152000000, max: 4133980799000 })), score: fc.nat(100), path: fc.option(messy(10)) });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), fc.constantFrom(1000, 10_000), fc.constantFrom(10_000, 120_000), (events, bucketMs, windowMs) => {
        const w = new EventWindow(bucketMs, windowMs, 900_000, 86_400_000);
        for (const e of events) {
          w.add(e.time, e.score, e.path, e.path === null ? [] : ['brute-force']);
          const long = longPeak(w.coarse, e.time, 3_600_000);
          assert.ok(Number.isFinite(long.score) && long.score >= 0 && long.distinctPaths >= 0);
          const peak = w.peakAround(e.time);
          assert.ok(Number.isFinite(peak.score) && peak.score >= 0);
          assert.ok(w.boundAround(e.time).score >= 0);
          assert.ok(w.countAround(e.time, 'brute-force', windowMs) >= 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the aggregator and the reports never throw or loop, for any finite event time', () => {
    const parse = makeParser('combined');
    const base = parse.parse('203.0.113.9 - - [01/Jan/2024:00:00:00 +0000] "GET /.git/config HTTP/1.1" 404 153 "-" "curl/8.4"');
    assert.ok(base?.ok);
    const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(fc.array(fc.tuple(finite, fc.constantFrom('203.0.113.9', '198.51.100.4', '2001:db8::1')), { minLength: 1, maxLength: 40 }), (events) => {
        const d = new Detector(config());
        d.openObject('access.log');
        events.forEach(([time, ip], i) => {
          // A labelled request (a .git probe), so every source is listed and its times printed.
          const r = { ...base.record, time, clientIp: ip, peerIp: ip };
          d.addRecord(r, 'access.log', i + 1);
        });
        let requests = 0;
        for (const s of d.aggregator.sources.values()) requests += s.requests;
        assert.equal(requests, events.length);
        renderReport(buildReport(d), makeStyle(false));
      }),
      { numRuns: 300 },
    );
  });

  it('escaping: no unsafe character survives, the length bound holds, and nothing is lost below it', () => {
    fc.assert(
      fc.property(fc.oneof(messy(300), fc.string({ unit: 'binary', maxLength: 300 })), fc.integer({ min: 1, max: 400 }), (s, max) => {
        const out = sanitize(s, max);
        assertEscaped(out, 'sanitize');
        assert.ok(out.length <= max, `${out.length} > ${max}`);
        if (!out.endsWith('…')) {
          // Undo the escapes: the original comes back exactly.
          const back = out.replace(/\\(\\|x([0-9a-f]{2})|u\{([0-9a-f]+)\})/g, (_m, all: string, x?: string, u?: string) =>
            all === '\\' ? '\\' : String.fromCodePoint(Number.parseInt((x ?? u) as string, 16)),
          );
          assert.equal(back, s);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('line splitting does not depend on where chunks break, for LF, CRLF and CR endings', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\r', '\n', '\r\n', 'é', '\u{1f600}'), maxLength: 200 });
    fc.assert(
      fc.property(text, fc.array(fc.nat(200), { maxLength: 10 }), (t, cuts) => {
        const lines: string[] = [];
        const s = new LineSplitter(
          (l) => lines.push(l),
          () => assert.fail('no line is long here'),
        );
        const points = [...new Set(cuts.map((c) => Math.min(c, t.length)))].sort((a, b) => a - b);
        let from = 0;
        for (const p of [...points, t.length]) {
          s.push(t.slice(from, p));
          from = p;
        }
        s.end();
        const expected = t.split(/\r\n|\r|\n/);
        if (expected[expected.length - 1] === '') expected.pop();
        assert.deepEqual(lines, expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('lines over the limit are counted, never delivered, and the others are intact', () => {
    const text = fc.array(fc.string({ unit: fc.constantFrom('x', 'y', 'é'), maxLength: 40 }), { maxLength: 30 });
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 30 }), fc.nat(50), (parts, max, chunk) => {
        const lines: string[] = [];
        let overlong = 0;
        const s = new LineSplitter(
          (l) => lines.push(l),
          () => overlong++,
          max,
        );
        const t = parts.join('\n');
        const step = chunk + 1;
        for (let i = 0; i < t.length; i += step) s.push(t.slice(i, i + step));
        s.end();
        // A text ending with a line break has no empty line after it.
        const expected = parts[parts.length - 1] === '' ? parts.slice(0, -1) : parts;
        assert.deepEqual(
          lines,
          expected.filter((l) => l.length <= max),
        );
        assert.equal(overlong, expected.filter((l) => l.length > max).length);
      }),
      { numRuns: 500 },
    );
  });

  it('plain and gzip bodies, cut into any chunks, give the same lines', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(combinedLine, { maxLength: 30 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        fc.integer({ min: 1, max: 300 }),
        async (lines, eol, chunk) => {
          // Line breaks are the separator under test; other control bytes are left out because the
          // binary-content check (not the subject here) judges only the first chunk it sees.
          // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters
          const clean = lines.map((l) => l.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, ' '));
          const bytes = Buffer.from(clean.join(eol));
          const read = async (body: Buffer) => {
            const got: string[] = [];
            async function* chunks() {
              for (let i = 0; i < body.length; i += chunk) yield body.subarray(i, i + chunk);
            }
            const outcome = await readLines(chunks(), { line: (l) => got.push(l), overlong: () => assert.fail('no overlong line') });
            return outcome.notLog ? null : got;
          };
          const plain = await read(bytes);
          const gz = await read(gzipSync(bytes));
          assert.deepEqual(gz, plain);
          // What UTF-8 can carry: a lone surrogate is stored as U+FFFD.
          const expected = clean.map((l) => Buffer.from(l).toString('utf8'));
          if (plain !== null) assert.deepEqual(plain, clean.length === 1 && clean[0] === '' ? [] : expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
