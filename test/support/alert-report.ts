import type { AlertReport } from '../../lambdas/core/report.js';

/** An alert as the report builds it (a CGI sweep, ten samples), with any field replaced. */
export function alertReportFixture(over: Partial<AlertReport> = {}): AlertReport {
  return {
    source: '203.0.113.9',
    severity: 'medium',
    score: 120,
    categories: ['cgi-probe', 'error-burst'],
    requests: 31,
    firstSeen: '2024-01-01T00:00:00Z',
    lastSeen: '2024-01-01T00:01:00Z',
    reason: 'CGI probe sweep: 31 requests, 28 × 404',
    trigger: 'score',
    triggeredAt: '2024-01-01T00:00:10Z',
    alertCount: 1,
    evidence: 'score 120 within 2 min (total score 120)',
    horizon: null,
    windowScore: 120,
    distinctErrorPaths: 28,
    statuses: { '404': 28, '2xx': 3 },
    what: 'Probably a scanner.',
    todo: 'Block it. Suggested block: 4 h.',
    samples: Array.from({ length: 10 }, (_, i) => ({
      time: '2024-01-01T00:00:00Z',
      request: `GET /cgi-bin/test${i}.cgi HTTP/1.1`,
      status: 404,
      userAgent: 'curl/8.4',
      labels: ['cgi-probe'],
    })),
    ...over,
  };
}
