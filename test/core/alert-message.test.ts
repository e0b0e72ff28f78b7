import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ATTRIBUTE_MAX_CHARS,
  OBJECT_ID_MAX_CHARS,
  SOURCE_MAX_CHARS,
  SUBJECT_MAX_CHARS,
  alertIdOf,
  buildAlertMessage,
} from '../../lambdas/core/alert-message.js';
import type { AlertMessage } from '../../lambdas/core/ports.js';
import type { AlertReport } from '../../lambdas/core/report.js';
import { alertReportFixture } from '../support/alert-report.js';

// ESC, BEL, CR, LF, DEL, a C1 control, bidi overrides (RLO, LRI…PDI), zero-width space.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/;
const NASTY = 'x\u001b[31mred\u0007\u202eexe.txt\r\nInjected: yes';

const report = alertReportFixture;

/** Every string a subscriber or a person sees: subject, body, attributes and the document's strings. */
function strings(m: AlertMessage): string[] {
  const out = [m.subject, m.text, ...Object.values(m.attributes)];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(m.document);
  return out;
}

describe('buildAlertMessage', () => {
  it('the subject is printable ASCII and fewer than 100 characters, whatever the headline and source', () => {
    const long = buildAlertMessage(
      report({ source: `host-${'a'.repeat(120)}`, reason: `${'Very long custom category title '.repeat(5)}: 31 requests` }),
      'production-eu',
      [],
      { alertId: 'a' },
    );
    assert.ok(long.subject.length < 100 && long.subject.length === SUBJECT_MAX_CHARS, long.subject);
    assert.match(long.subject, /\.\.\.$/);
    assert.equal(long.document.source.length, SOURCE_MAX_CHARS, 'a logged host name is cut');
    assert.match(long.document.source, /…$/);
    const seed = buildAlertMessage(report(), 'prod', [], { alertId: 'a' });
    assert.equal(seed.subject, '[prod] CGI probe sweep from 203.0.113.9: 31 requests, 28 x 404');
    const odd = buildAlertMessage(report({ source: `münchen\u202e${NASTY}`, reason: 'Probe… sweep: 1 request' }), 'prod', [], { alertId: 'a' });
    assert.match(odd.subject, /^[\x20-\x7e]+$/, odd.subject);
  });

  it('escapes every string that came from a log or a key: source, object ids, categories, user agents, requests', () => {
    const m = buildAlertMessage(
      report({
        source: `evil${NASTY}`,
        categories: [`custom${NASTY}`],
        trigger: `threshold:${NASTY}`,
        samples: [{ time: '2024-01-01T00:00:00Z', request: 'GET /x HTTP/1.1', status: 404, userAgent: 'ua', labels: [`l${NASTY}`] }],
      }),
      `env${NASTY}`,
      [`logs/${NASTY}.log#e1`],
      { alertId: 'a' },
    );
    for (const s of strings(m)) assert.ok(!UNSAFE.test(s.replace(/\n/g, ' ')), JSON.stringify(s));
    assert.match(m.text, /Source: +evilx\\x1b\[31mred\\x07\\u\{202e\}exe\.txt\\x0d\\x0aInjected: yes/);
    assert.match(m.text, /logs\/x\\x1b\[31mred/);
    assert.ok(m.attributes.category.length <= ATTRIBUTE_MAX_CHARS && m.attributes.environment.length <= ATTRIBUTE_MAX_CHARS);
    const wide = buildAlertMessage(report({ categories: [`internal-${'api-'.repeat(30)}probe`] }), 'e'.repeat(100), [], { alertId: 'a' });
    assert.equal(wide.attributes.category.length, ATTRIBUTE_MAX_CHARS, 'attribute values are bounded');
    assert.equal(wide.attributes.environment.length, ATTRIBUTE_MAX_CHARS);
  });

  it('an object id longer than its limit is cut visibly; the list says how many more there are', () => {
    const objects = Array.from({ length: 25 }, (_, i) => `logs/${'"'.repeat(1000)}-${i}.log#etag`);
    const m = buildAlertMessage(report(), 'prod', objects, { alertId: 'a' });
    assert.equal(m.document.objects.length, 20);
    assert.equal(m.document.objectCount, 25);
    for (const o of m.document.objects) assert.ok(o.length <= OBJECT_ID_MAX_CHARS && o.endsWith('…'));
    assert.match(m.text, /… and 15 more/);
    assert.equal(m.document.shortened, undefined, 'within the limit nothing else is cut');
  });

  it('too large for the publisher: evidence is cut level by level and the alert still goes out, saying so', () => {
    const objects = Array.from({ length: 20 }, (_, i) => `logs/${'k'.repeat(250)}-${i}.log#etag`);
    const budget = 4_000;
    const fits = (x: AlertMessage) => JSON.stringify(x.document).length + x.text.length <= budget;
    const m = buildAlertMessage(report(), 'prod', objects, { alertId: 'a', fits });
    assert.ok(fits(m));
    assert.ok(m.document.shortened, 'the cut is recorded');
    assert.ok((m.document.shortened?.samples ?? 0) > 0 && (m.document.shortened?.objects ?? 0) > 0);
    assert.equal(m.document.objectCount, 20);
    assert.match(m.text, /Shortened to fit the message size limit: \d+ sample requests and \d+ log objects left out/);
    assert.equal(m.document.source, '203.0.113.9', 'the facts stay');
    const none = buildAlertMessage(report(), 'prod', objects, { alertId: 'a', fits: () => false });
    assert.deepEqual([none.document.samples.length, none.document.objects.length], [0, 0], 'nothing fits: the bare alert, not no alert');
  });

  it('the alert id depends on source, severity and object only', () => {
    assert.equal(alertIdOf('203.0.113.9', 'medium', 'b/k#e'), alertIdOf('203.0.113.9', 'medium', 'b/k#e'));
    assert.notEqual(alertIdOf('203.0.113.9', 'medium', 'b/k#e'), alertIdOf('203.0.113.9', 'high', 'b/k#e'));
    assert.notEqual(alertIdOf('203.0.113.9', 'medium', 'b/k#e'), alertIdOf('203.0.113.9', 'medium', 'b/k#f'));
    assert.match(alertIdOf('s', 'low', 'o'), /^[0-9a-f]{32}$/);
  });
});
