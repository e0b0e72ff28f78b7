import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scanLines } from '../../support/detector.js';
import { timeAt } from '../../support/records.js';

// Scan-level checks of rules whose thresholds span hours (decided on the long horizons).

const line = (ip: string, second: number, request: string, status: number, ua: string) => `${ip} - - [${timeAt(second)}] "${request}" ${status} 10 "-" "${ua}"`;

describe('tool evidence spread over a day', () => {
  it('three requests of a self-named scanner, hours apart, alert on the third', () => {
    const ua = 'sqlmap/1.8.2#stable (https://sqlmap.org)';
    const hour = 3600;
    const lines = [0, 5 * hour, 11 * hour].map((t, i) => line('192.0.2.70', t, `GET /item.php?id=${i} HTTP/1.1`, 200, ua));
    const two = scanLines({ a: lines.slice(0, 2) }).report;
    assert.equal(two.alerts.length, 0);
    const three = scanLines({ a: lines }).report;
    assert.equal(three.alerts[0]?.trigger, 'threshold:scanner-agent');
  });

  it('three out-of-band callback domains over a day alert, whatever the status', () => {
    const ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0';
    const lines = [0, 7000, 40000].map((t, i) => line('192.0.2.71', t, `GET /api/fetch?url=http://c${i}q9x2.oast.live/ HTTP/1.1`, 404, ua));
    assert.equal(scanLines({ a: lines }).report.alerts[0]?.trigger, 'threshold:scanner-marker');
  });
});
