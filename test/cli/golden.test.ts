import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runCli } from '../support/cli.js';

// Expected outputs are reviewed by a person: `node scripts/golden.mjs` writes .actual.json files
// and a diff; it never overwrites an .expected.json.
const manifest = JSON.parse(readFileSync('events/logs/manifest.json', 'utf8')) as { log: string; args: string[]; expected: string }[];

describe('golden samples (events/logs)', () => {
  for (const entry of manifest) {
    it(`${entry.log} matches ${entry.expected}`, async () => {
      const { code, stdout, stderr } = await runCli(['scan', '--json', ...entry.args, `events/logs/${entry.log}`]);
      assert.equal(code, 0, stderr);
      assert.deepEqual(JSON.parse(stdout), JSON.parse(readFileSync(`events/logs/${entry.expected}`, 'utf8')));
    });
  }
});

describe('the seed expectations, stated outright', () => {
  it('Apache probe sweeps: both scanners alerted, the malformed request noted, every OPTIONS * benign', async () => {
    const report = JSON.parse((await runCli(['scan', '--json', 'events/logs/seed-cgi-sweep.log'])).stdout);
    for (const ip of ['5.135.167.145', '64.34.169.223']) {
      const alert = report.alerts.find((a: { source: string }) => a.source === ip);
      assert.ok(alert, `${ip} alerted`);
      assert.match(alert.reason, /^CGI\/PHP probe sweep/);
      assert.match(alert.reason, /1 malformed request line/);
      assert.ok(alert.categories.includes('malformed-request'));
    }
    const loopback = report.sources.find((s: { source: string }) => s.source === '127.0.0.1');
    assert.equal(loopback.verdict, 'benign');
    assert.deepEqual(loopback.labels, { 'apache-internal-dummy-connection': 19 });
    assert.match(report.benign[0].explanation, /wake idle workers when it shrinks its pool after a burst/);
  });

  it('registration probing from a private address: alerted, outdated agent, private-source note', async () => {
    const report = JSON.parse((await runCli(['scan', '--json', 'events/logs/seed-registration-probe.log'])).stdout);
    const alert = report.alerts.find((a: { source: string }) => a.source === '10.122.71.83');
    assert.ok(alert);
    assert.equal(alert.categories[0], 'registration-probe');
    assert.ok(alert.categories.includes('outdated-user-agent'));
    assert.match(alert.note, /private address.*trustedProxies.*inside your network.*referer.*not evidence of innocence/s);
    assert.equal(report.alerts.length, 1, 'the real users of /login and /register are not alerted');
  });
});
