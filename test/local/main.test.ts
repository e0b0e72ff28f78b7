import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TappedAlert } from '../../lambdas/local/driver.js';
import { alertLines, totalsLine } from '../../lambdas/local/main.js';

const alert = (requests: number): TappedAlert => ({
  subject: '[local] Log4Shell exploit attempt from 203.0.113.9',
  attributes: {},
  document: {
    severity: 'critical',
    score: 55,
    requests,
    firstSeen: '2024-03-01T10:00:00Z',
    lastSeen: '2024-03-01T10:00:00Z',
    what: 'An exploit attempt.',
    todo: 'Block the source.',
    samples: [{ time: '2024-03-01T10:00:00Z', status: 200, request: 'GET /?x=${jndi:…} HTTP/1.1' }],
    objects: ['probewatch-logs/uploads/a.log#1'],
  } as unknown as TappedAlert['document'],
});

describe('npm run local: what it prints', () => {
  it('an alert of one request says "1 request", of several "N requests"', () => {
    assert.match(alertLines(alert(1))[1] as string, /^ {3}severity critical, score 55, 1 request, 2024-03-01T10:00:00Z → /);
    assert.match(alertLines(alert(1200))[1] as string, /, 1,200 requests, /);
    assert.deepEqual(alertLines(alert(1)).at(-1), '   objects: probewatch-logs/uploads/a.log');
  });

  it('the totals are in the singular when there is one', () => {
    const one = { notifications: 1, lines: 1, skipped: 0, sources: 1, alerts: 1, objectsSkipped: 1, deadLettered: 0 };
    assert.equal(totalsLine(one), '1 notification, 1 line (0 skipped), 1 source written, 1 alert published, 1 object skipped, 0 dead-lettered');
    assert.equal(
      totalsLine({ notifications: 8, lines: 210, skipped: 2, sources: 17, alerts: 13, objectsSkipped: 0, deadLettered: 0 }),
      '8 notifications, 210 lines (2 skipped), 17 sources written, 13 alerts published, 0 objects skipped, 0 dead-lettered',
    );
  });
});
