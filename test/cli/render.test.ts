import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonPieces, makeStyle, renderReport, reportLines } from '../../lambdas/cli/render.js';
import type { AlertReport, ScanReport, SourceReport } from '../../lambdas/core/report.js';

function bigReport(n: number): ScanReport {
  const alerts: AlertReport[] = [];
  const sources: SourceReport[] = [];
  for (let i = 0; i < n; i++) {
    const source = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    alerts.push({
      source,
      severity: 'high',
      score: 60,
      categories: ['cgi-probe', 'php-probe', 'malformed-request'],
      requests: 31,
      firstSeen: '2024-01-01T00:00:00Z',
      lastSeen: '2024-01-01T00:01:40Z',
      reason: 'CGI/PHP probe sweep: 31 requests, 28 × 404; 1 malformed request line',
      trigger: 'error-burst',
      evidence: '10 distinct missing paths within 2 min',
      horizon: null,
      triggeredAt: '2024-01-01T00:00:30Z',
      alertCount: 1,
      windowScore: 60,
      distinctErrorPaths: 12,
      statuses: { '404': 28, '2xx': 3 },
      what: 'Probably an automated scanner looking for CGI scripts and PHP interpreters.',
      todo: 'Block the source at the edge. Suggested block: 4 h.',
      samples: [{ time: '2024-01-01T00:00:00Z', request: 'GET /cgi-bin/php5 HTTP/1.1', status: 404, userAgent: 'curl/8.4', labels: ['cgi-probe'] }],
    });
    sources.push({
      source,
      verdict: 'alert',
      severity: 'high',
      score: 60,
      labels: { 'cgi-probe': 20, 'php-probe': 10, 'malformed-request': 1 },
      requests: 31,
      firstSeen: '2024-01-01T00:00:00Z',
      lastSeen: '2024-01-01T00:01:40Z',
      reason: 'CGI/PHP probe sweep: 31 requests',
    });
  }
  return { version: 1, lines: { total: 31 * n, parsed: 31 * n, skipped: {} }, alerts, sources, benign: [], files: [], skippedSamples: [], cleanSources: 0 };
}

describe('the text report at scale', () => {
  it('reads each source a bounded number of times, however many alerts there are', () => {
    const n = 2000;
    const report = bigReport(n);
    let reads = 0;
    report.sources = new Proxy(report.sources, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    const text = renderReport(report, makeStyle(false));
    assert.match(text, /ALERTS \(2000\)/);
    assert.match(text, /categories: cgi-probe×20 php-probe×10 malformed-request×1/);
    assert.ok(reads <= 5 * n, `${reads} reads of ${n} sources`);
  });

  it('is rendered as it is read: the first alert is written before the others are rendered', () => {
    const report = bigReport(1000);
    let rendered = 0;
    report.alerts = report.alerts.map((a) => ({
      ...a,
      get reason() {
        rendered++;
        return a.reason;
      },
    }));
    const lines = reportLines(report, makeStyle(false));
    let line = lines.next();
    while (!line.done && !String(line.value).startsWith('DETAILS')) line = lines.next();
    for (let i = 0; i < 2; i++) line = lines.next();
    assert.match(String(line.value), /CGI\/PHP probe sweep/, "the first alert's reason");
    assert.equal(rendered, 1, 'no other alert rendered yet');
    const rest = [...lines];
    assert.equal(rendered, 1000);
    assert.equal(rest.filter((l) => l.includes('categories:')).length, 1000, 'the first alert lists its categories after its reason');
  });

  it('renders 10,000 alerts, each once', () => {
    // Linearity is pinned by the read count above; render speed is a benchmark's business.
    const text = renderReport(bigReport(10_000), makeStyle(true));
    assert.equal(text.split('\n').filter((l) => l.includes('categories:')).length, 10_000);
  });
});

describe('the JSON document written in pieces', () => {
  it('is exactly JSON.stringify(doc, null, 2) and a newline, piece by piece', () => {
    const doc = {
      version: 1,
      lines: { total: 3, parsed: 2, skipped: { 'blank-line': 1 } },
      alerts: [{ source: '192.0.2.1', samples: [{ request: 'GET /x "quoted"\n' }], note: undefined }],
      sources: [],
      empty: {},
      files: [{ name: 'a.log', formats: { combined: 2 } }, { name: 'b\u202e.log' }],
      gone: undefined,
      cleanSources: 0,
    };
    const pieces = [...jsonPieces(doc)];
    assert.equal(pieces.join(''), `${JSON.stringify(doc, null, 2)}\n`);
    assert.ok(pieces.length >= 8, 'one piece per field and per element');
    const big = bigReport(2000);
    const out = [...jsonPieces(big as unknown as Record<string, unknown>)];
    assert.equal(out.join(''), `${JSON.stringify(big, null, 2)}\n`);
    assert.ok(Math.max(...out.map((c) => c.length)) < 10_000, 'no piece holds the whole report');
  });
});
