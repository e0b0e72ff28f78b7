import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DEFAULT_CONFIG } from './lambdas/core/config.js';
import { buildReport } from './lambdas/core/report.js';
import { Detector } from './lambdas/core/scan.js';
const d = new Detector(structuredClone(DEFAULT_CONFIG));
const o = d.openObject('x');
const rl = createInterface({ input: createReadStream(process.argv[2] as string), crlfDelay: Number.POSITIVE_INFINITY });
let n = 0;
let peak = 0;
for await (const l of rl) {
  o.push(l);
  if (++n % 5000 === 0) {
    (globalThis as any).gc();
    const h = process.memoryUsage();
    peak = Math.max(peak, h.heapUsed);
    console.log(n, Math.round(h.heapUsed / 1e6), 'MB heap', Math.round(h.rss / 1e6), 'MB rss');
  }
}
o.end();
const r = buildReport(d);
(globalThis as any).gc();
console.log(
  'sources',
  d.aggregator.sources.size,
  'alerts',
  r.alerts.length,
  'heap',
  Math.round(process.memoryUsage().heapUsed / 1e6),
  'rss',
  Math.round(process.memoryUsage().rss / 1e6),
);
