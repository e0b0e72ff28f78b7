import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'probewatch-cli-'));
const seed = readFileSync('events/logs/seed-cgi-sweep.log');

describe('probewatch scan', () => {
  it('reads gzip by its magic bytes, whatever the file is called', async () => {
    const path = join(dir, 'access.log');
    writeFileSync(path, gzipSync(seed));
    const { code, stdout } = await runCli(['scan', '--json', path]);
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout).lines.parsed, 81);
  });

  it('reads standard input with -', async () => {
    const { code, stdout } = await runCli(['scan', '--json', '-'], { stdin: seed });
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout).alerts.length, 2);
  });

  it('expands globs', async () => {
    const { stdout } = await runCli(['scan', '--json', 'events/logs/seed-*.log']);
    assert.equal(JSON.parse(stdout).files.length, 2);
  });

  it('prints the human report with the benign explanation and no colour off a TTY', async () => {
    const { code, stdout } = await runCli(['scan', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(code, 0);
    assert.match(stdout, /ALERTS \(2\)/);
    assert.match(stdout, /BENIGN NOISE/);
    assert.match(stdout, /apache-internal-dummy-connection: 19 requests from 127\.0\.0\.1/);
    assert.ok(!stdout.includes('\u001b['), 'no ANSI codes when stdout is not a TTY');
  });

  it('colours on a TTY unless NO_COLOR is set', async () => {
    assert.ok((await runCli(['scan', 'events/logs/seed-cgi-sweep.log'], { tty: true })).stdout.includes('\u001b['));
    assert.ok(!(await runCli(['scan', 'events/logs/seed-cgi-sweep.log'], { tty: true, env: { NO_COLOR: '1' } })).stdout.includes('\u001b['));
  });

  it('never lets attacker-written escape sequences reach the terminal', async () => {
    const evil = Array.from(
      { length: 3 },
      (_, i) => `198.51.100.9 - - [01/Jan/2024:00:00:0${i} +0000] "GET /.env\u001b]2;owned\u0007 HTTP/1.1" 404 1 "-" "\u001b[2J() { :; }; echo"`,
    ).join('\n');
    const { stdout } = await runCli(['scan', '-'], { stdin: evil, tty: true });
    assert.ok(stdout.includes('\\x1b]2;owned\\x07'), 'the path is shown escaped');
    assert.ok(!stdout.includes('\u001b]2'), 'no raw OSC sequence');
    assert.ok(!stdout.includes('\u001b[2J'), 'no raw screen clear');
  });

  it('--explain lists every request of one source with the matching rule', async () => {
    const { code, stdout } = await runCli(['scan', '--explain', '5.135.167.145', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(code, 0);
    assert.match(stdout, /Requests from 5\.135\.167\.145: 31/);
    assert.match(stdout, /GET \/cgi-bin\/php HTTP\/1\.1\n\s+cgi-probe \[cgi-directory, \+5\]/);
    assert.match(stdout, /GET \/ HTTP\/1\.1\n\s+no rule matched/);
  });

  it('--fail-on-alert exits 1 when something was alerted, 0 otherwise', async () => {
    assert.equal((await runCli(['scan', '--fail-on-alert', 'events/logs/seed-cgi-sweep.log'])).code, 1);
    const quiet = join(dir, 'quiet.log');
    writeFileSync(quiet, '198.51.100.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5\n');
    assert.equal((await runCli(['scan', '--fail-on-alert', quiet])).code, 0);
  });

  it('--format and --trusted-proxies are honoured', async () => {
    const lines = Array.from(
      { length: 12 },
      (_, i) => `10.0.0.9 [01/Jan/2024:00:00:${String(i).padStart(2, '0')} +0000] "GET /p${i} HTTP/1.1" 404 "203.0.113.99"`,
    ).join('\n');
    const { stdout } = await runCli(['scan', '--json', '--format', 'apache:%h %t "%r" %>s "%{X-Forwarded-For}i"', '--trusted-proxies', '10.0.0.0/8', '-'], {
      stdin: lines,
    });
    assert.equal(JSON.parse(stdout).alerts[0].source, '203.0.113.99');
  });

  it('--config loads YAML and rejects a wrong field by name', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'knownRoutes: ["/cgi-bin/*", "/phppath/*"]\n');
    const quietened = JSON.parse((await runCli(['scan', '--json', '--config', good, 'events/logs/seed-cgi-sweep.log'])).stdout);
    assert.ok(
      !quietened.alerts.some((a: { categories: string[] }) => a.categories.includes('cgi-probe')),
      'a site that serves /cgi-bin/ is not alerted for it',
    );
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'thresholds:\n  score: -3\n');
    const r = await runCli(['scan', '--config', bad, 'events/logs/seed-cgi-sweep.log']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml: thresholds\.score must be a positive number/);
  });

  const usage: [string, string[], RegExp][] = [
    ['no command', [], /no command given/],
    ['unknown command', ['watch'], /unknown command "watch"/],
    ['no input', ['scan'], /no input given/],
    ['unknown option', ['scan', '--bogus', 'x'], /^probewatch: unknown option "--bogus"\nRun probewatch --help for usage\.\n$/],
    ['missing file', ['scan', 'nope.log'], /nope\.log: no such file/],
    ['a directory', ['scan', 'events'], /is a directory/],
    ['an empty glob', ['scan', 'events/*.nothing'], /no file matches/],
    ['a bad format', ['scan', '--format', 'syslog', 'events/logs/seed-cgi-sweep.log'], /unknown format "syslog"/],
    ['a bad CIDR', ['scan', '--trusted-proxies', '10.0.0.0/99', 'events/logs/seed-cgi-sweep.log'], /prefix length/],
  ];
  for (const [name, args, message] of usage) {
    it(`exits 2 with a clear message on ${name}`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
    });
  }

  it('skips an object that is not a log, says why, and exits 2', async () => {
    const png = join(dir, 'logo.png');
    writeFileSync(png, Buffer.from('89504e470d0a1a0a0000000d49484452000000100000001008060000001ff3ff61', 'hex'));
    const r = await runCli(['scan', '--json', png, 'events/logs/seed-cgi-sweep.log']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /logo\.png: skipped: the content is binary/);
    assert.equal(JSON.parse(r.stdout).alerts.length, 2, 'the other file is still scanned');
  });

  it('reports a truncated gzip file and still scans the rest', async () => {
    const gz = gzipSync(seed);
    const cut = join(dir, 'cut.log.gz');
    writeFileSync(cut, gz.subarray(0, Math.floor(gz.length / 2)));
    const r = await runCli(['scan', '--json', cut, 'events/logs/seed-registration-probe.log']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cut\.log\.gz: the gzip data is truncated or corrupt/);
    assert.ok(JSON.parse(r.stdout).alerts.some((a: { source: string }) => a.source === '10.122.71.83'));
  });

  it('refuses text that is not an access log (exit 2) and says how to pass a format of its own', async () => {
    const prose = join(dir, 'notes.txt');
    writeFileSync(prose, 'this is\nnot an access log\nat all\n');
    const { code, stdout, stderr } = await runCli(['scan', prose]);
    assert.equal(code, 2);
    assert.match(stderr, /notes\.txt: skipped: no line is an access-log line \(the first 3 are in no known access-log format\)/);
    assert.match(
      stdout,
      /notes\.txt: not read: no line is an access-log line .*, 0\/3 lines parsed.*If this is an access log in a format of its own, pass --format/s,
    );
  });

  it('refuses binary content with its reason in the report and the JSON, once, and gives no format advice', async () => {
    const bin = join(dir, 'image.png');
    writeFileSync(bin, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 1, 2, 3]));
    const { code, stdout, stderr } = await runCli(['scan', '--json', bin]);
    assert.equal(code, 2);
    assert.equal(stderr.match(/skipped: the content is binary/g)?.length, 1, stderr);
    const [file] = JSON.parse(stdout).files;
    assert.match(file.notLog, /the content is binary/);
    assert.equal(file.hint, undefined);
    const text = await runCli(['scan', bin]);
    assert.match(text.stdout, /image\.png: not read: the content is binary/);
    assert.doesNotMatch(text.stdout, /--format/);
  });

  it('a --format that fits no line is an input problem (exit 2), not a quiet log', async () => {
    const { code, stdout, stderr } = await runCli(['scan', '--fail-on-alert', '--format', 'alb', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(code, 2);
    assert.match(stderr, /seed-cgi-sweep\.log: skipped: none of its 81 lines are in the given format "alb"/);
    assert.match(stdout, /81 of 81 lines did not parse as "alb" \(given with --format\)/);
    // Lines of the right format that all fall outside --since/--until are not that problem.
    const outside = await runCli(['scan', '--format', 'common', '--since', '2030-01-01T00:00:00Z', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(outside.code, 0, outside.stderr);
    // Nor are lines in the format that carry no usable request: host names where addresses go.
    const hosts = join(dir, 'hosts.log');
    writeFileSync(hosts, '' + ['a', 'b'].map((h) => `${h}.example.net - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5`).join('\n'));
    const named = await runCli(['scan', '--format', 'common', hosts]);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, /invalid-client-address 2/);
    // Or S3 lifecycle entries, which are in the S3 format but are not requests.
    const lifecycle = join(dir, 's3-lifecycle.log');
    writeFileSync(
      lifecycle,
      '5f1e0c7b9a4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f shop-assets [01/Dec/2026:03:00:00 +0000] - AmazonS3 8B2D1E0F3A4C5B67 S3.EXPIRE.OBJECT old/report.csv "-" - - - 1024 - - "-" "-" - - - - - - - -\n',
    );
    const s3 = await runCli(['scan', '--format', 's3', lifecycle]);
    assert.equal(s3.code, 0, s3.stderr);
  });

  it('reads a file named twice once, and standard input at most once', async () => {
    const { stdout } = await runCli(['scan', '--json', 'events/logs/seed-cgi-sweep.log', './events/logs/seed-cgi-sweep.log', 'events/logs/seed-*.log']);
    const doc = JSON.parse(stdout);
    assert.deepEqual(
      doc.files.map((f: { name: string }) => f.name),
      ['events/logs/seed-cgi-sweep.log', 'events/logs/seed-registration-probe.log'],
    );
    const link = join(dir, 'link-to-seed.log');
    symlinkSync(join(process.cwd(), 'events/logs/seed-cgi-sweep.log'), link);
    const linked = JSON.parse((await runCli(['scan', '--json', 'events/logs/seed-cgi-sweep.log', link])).stdout);
    assert.equal(linked.files.length, 1, 'a symbolic link to a file already named is the same file');
    assert.equal(linked.lines.total, 81);
    const twice = await runCli(['scan', '-', '-'], { stdin: seed });
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /standard input \(-\) can be read only once/);
  });

  it('lists the formats of a file that mixes them, with their line counts', async () => {
    const { code, stdout } = await runCli(['scan', 'events/logs/sample-mixed-common-combined.log']);
    assert.equal(code, 0);
    assert.match(stdout, /sample-mixed-common-combined\.log: combined 10, common 3 \(detected per line\), 13\/13 lines parsed/);
  });

  it('tells the user how to pass the right format when most lines of an access log fail', async () => {
    const file = join(dir, 'half.log');
    const good = Array.from({ length: 50 }, (_, i) => `192.0.2.1 - - [01/Jan/2024:00:00:${String(i % 60).padStart(2, '0')} +0000] "GET / HTTP/1.1" 200 5`);
    const bad = Array.from({ length: 60 }, (_, i) => `192.0.2.1 01/Jan/2024 GET /page${i}`);
    writeFileSync(file, `${[...good, ...bad].join('\n')}\n`);
    const { code, stdout } = await runCli(['scan', file]);
    assert.equal(code, 0);
    assert.match(stdout, /60 of 110 lines did not parse in any known format \(detected per line; seen: common 50\).*--format/s);
  });
});
