import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAlertsArgs, runAlerts } from '../../../lambdas/cli/commands/alerts.js';
import { parseStateArgs, runState, sampleText, stateKeyOf } from '../../../lambdas/cli/commands/state.js';
import type { AlertRecord, SourceView, StateInspector } from '../../../lambdas/core/ports.js';
import { everyString } from '../../support/strings.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/;

function capture() {
  const chunks: string[] = [];
  return {
    chunks,
    stream: { write: (s: string) => chunks.push(s) > 0, on() {}, once() {}, off() {} } as unknown as NodeJS.WritableStream,
  };
}

function inspectorOf(view: SourceView, alert: AlertRecord): StateInspector {
  return {
    listAlerts: async () => [alert],
    describeSource: async (s) => (s === view.source ? view : undefined),
    topSources: async () => [view],
  };
}

describe('state and alerts: what reaches the terminal', () => {
  it('an IPv6 address is looked up as its /64, an aggregated prefix as written; anything else is refused', () => {
    assert.equal(stateKeyOf('2001:db8:4:5::99'), '2001:db8:4:5::/64');
    assert.equal(stateKeyOf('2001:DB8:4:5::/64'), '2001:db8:4:5::/64');
    assert.equal(stateKeyOf('2001:db8:4::/48'), '2001:db8:4::/48');
    assert.equal(stateKeyOf('203.0.113.7'), '203.0.113.7');
    assert.throws(() => stateKeyOf('evil\u001b[2J'), /is not an IP address/);
    // Shaped like an address but not one: refused, not looked up and reported as "not held".
    for (const bad of ['999.1.1.1', '1.2.3', '2001:db8::1::2', '999.1.1.1/32']) {
      assert.throws(() => stateKeyOf(bad), /is not an IP address/, bad);
    }
    // An address with a prefix the state is not kept by: said so, not called a non-address.
    assert.throws(() => stateKeyOf('203.0.113.7/24'), /an IPv4 source is kept by its address: give 203\.0\.113\.7 without "\/24"/);
    assert.throws(() => stateKeyOf('2001:db8::/56'), /an IPv6 source is kept by its \/64 .*not by "\/56"/);
    assert.throws(() => stateKeyOf('2001:db8::/'), /not by "\/"/);
    assert.equal(stateKeyOf('203.0.113.7/32'), '203.0.113.7');
    assert.equal(stateKeyOf('::ffff:203.0.113.7'), '203.0.113.7', 'an IPv4-mapped address is its IPv4 source');
    assert.throws(() => stateKeyOf('::ffff:203.0.113.7/64'), /an IPv4 source is kept by its address/);
    assert.throws(() => parseStateArgs(['--env', 'prod', '999.1.1.1']), /"999\.1\.1\.1" is not an IP address/, 'refused before any stack is looked up');
    // A prefix is canonicalised as the report writes it.
    assert.equal(stateKeyOf('2001:DB8:4:0::/48'), '2001:db8:4::/48');
    assert.equal(stateKeyOf('2001:db8:4:5:6:7:8:9/32'), '2001:db8::/32');
  });

  it("a sample in the store's line form is shown like the others, escaped", () => {
    assert.equal(sampleText('2015-03-22T21:34:19.000Z 400 GET HTTP/1.1 HTTP/1.1'), '2015-03-22 21:34:19  400  GET HTTP/1.1 HTTP/1.1');
    assert.equal(sampleText('2015-03-22T21:34:19.250Z 404 GET /\u001b[2J HTTP/1.1'), '2015-03-22 21:34:19  404  GET /\\x1b[2J HTTP/1.1');
  });

  it('a stored sample is decoded and each field escaped', () => {
    const s = JSON.stringify({ t: Date.UTC(2024, 0, 1), r: 'GET /\u001b[2Jx HTTP/1.1', s: 404, u: 'curl\u202e' });
    assert.equal(sampleText(s), '2024-01-01 00:00:00  404  GET /\\x1b[2Jx HTTP/1.1  "curl\\u{202e}"');
  });

  it('whatever the table holds, the text and the JSON carry no control or bidirectional character', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(text, text, text, text, async (a, b, c, d) => {
        const view: SourceView = {
          source: '203.0.113.7',
          requests: 3,
          score: 9,
          labels: { [a]: 1 },
          statuses: { [b]: 2 },
          windows: [{ start: '2024-01-01T00:00:00.000Z', score: 9, errors: 1 }],
          long: [{ horizon: '1h', score: 9, paths: 1 }],
          samples: [JSON.stringify({ t: 0, r: c, s: 404, u: d }), c],
          alert: { severity: a, at: '2024-01-01T00:00:00.000Z', status: b },
        };
        const alert: AlertRecord = {
          alertId: a,
          source: b,
          severity: 'high',
          categories: [c],
          reason: d,
          firstSeen: a,
          lastSeen: b,
          publishedAt: '2024-01-01T00:00:00.000Z',
          blockedUntil: c,
        };
        const io = (out: NodeJS.WritableStream) => ({ stdout: out, stderr: out, env: {}, now: () => Date.UTC(2024, 0, 2) });
        for (const json of [false, true]) {
          const one = capture();
          await runState(parseStateArgs(['--env', 'x', '203.0.113.7', ...(json ? ['--json'] : [])]), inspectorOf(view, alert), io(one.stream), 'x');
          const top = capture();
          await runState(parseStateArgs(['--env', 'x', ...(json ? ['--json'] : [])]), inspectorOf(view, alert), io(top.stream), 'x');
          const alerts = capture();
          await runAlerts(parseAlertsArgs(['--env', 'x', '--since', '7d', ...(json ? ['--json'] : [])]), inspectorOf(view, alert), io(alerts.stream), 'x');
          for (const out of [one, top, alerts]) {
            const all = out.chunks.join('');
            // In JSON, every decoded string must be escaped too (JSON's own \u escapes would hide a raw ESC).
            for (const t of json ? everyString(JSON.parse(all)) : [all]) assert.doesNotMatch(t, UNSAFE);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
