import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { thresholdKey } from '../../lambdas/core/aggregate.js';
import { type FormKind, counterAuto1, counterAuto2, counterPost } from '../../lambdas/core/behaviour.js';
import { DEFAULT_CONFIG } from '../../lambdas/core/config.js';
import { type DecisionContext, decideMerged, mergedView } from '../../lambdas/core/pipeline.js';
import { type MergedSourceState, type SourceDelta, type StoredBucket, emptyMergedState } from '../../lambdas/core/ports.js';
import { buildReport } from '../../lambdas/core/report.js';
import { Detector, classifierFor } from '../../lambdas/core/scan.js';
import { ERROR_COUNTER } from '../../lambdas/core/window.js';

// Work the handler does once and shares: one classifier per configuration for every object,
// one view of a source's merged state for every object of a batch that wrote to it.

const config = structuredClone(DEFAULT_CONFIG);
const GOLDEN_LOGS = ['seed-cgi-sweep.log', 'seed-registration-probe.log', 'sample-mixed-common-combined.log', 'sample-vhost-combined.log', 'sample-alb.log'];
const linesOf = (name: string) => readFileSync(`events/logs/${name}`, 'utf8').trimEnd().split('\n');

/** The report of one detector over one log, as JSON (what a person reads, in full). */
function reportOf(name: string, detector: Detector, lines = linesOf(name)): string {
  const o = detector.openObject(name);
  for (const l of lines) o.push(l);
  o.end();
  detector.finish();
  return JSON.stringify(buildReport(detector));
}

describe('one classifier shared by several detectors', () => {
  it('is the one each detector uses', () => {
    const c = classifierFor(config);
    assert.equal(new Detector(config, { classifier: c }).classifier, c);
    assert.notEqual(new Detector(config).classifier, c);
  });

  it('gives every golden log the report it gets from a classifier of its own, scanned one after another and interleaved', () => {
    const own = GOLDEN_LOGS.map((n) => reportOf(n, new Detector(config)));
    const shared = classifierFor(config);
    // One after another: each log meets the caches the logs before it filled.
    assert.deepEqual(
      GOLDEN_LOGS.map((n) => reportOf(n, new Detector(config, { classifier: shared }))),
      own,
    );
    // Interleaved line by line, as objects read concurrently are.
    const detectors = GOLDEN_LOGS.map(() => new Detector(config, { classifier: shared }));
    const scanners = GOLDEN_LOGS.map((n, i) => (detectors[i] as Detector).openObject(n));
    const all = GOLDEN_LOGS.map(linesOf);
    for (let k = 0; all.some((l) => k < l.length); k++) all.forEach((l, i) => k < l.length && scanners[i]?.push(l[k] as string));
    scanners.forEach((s) => s.end());
    const interleaved = detectors.map((d) => {
      d.finish();
      return JSON.stringify(buildReport(d));
    });
    assert.deepEqual(interleaved, own);
    assert.ok(
      own.some((r) => (JSON.parse(r) as { alerts: unknown[] }).alerts.length > 0),
      'the logs alert, so the comparison covers decisions',
    );
  });
});

describe('one view of a merged state shared by the deltas of a batch', () => {
  const d = new Detector(config);
  const rulesById = new Map(d.classifier.rules.map((r) => [r.id, r]));
  const ctx: DecisionContext = { rulesById, longThresholds: d.aggregator.longThresholdRules, longestMs: d.aggregator.longestHorizonMs };
  const thresholdRules = d.classifier.rules.filter((r) => r.threshold);
  const T0 = Date.UTC(2024, 0, 1);
  const bucket = fc.record({
    // 10-s buckets in two hours of each of three days: dense enough for the horizons to fire,
    // and far enough apart that one delta's day is out of another's 24 hours.
    slot: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 719 })).map(([day, k]) => day * 8640 + k),
    score: fc.integer({ min: 0, max: 40 }),
    paths: fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 6 }),
    errors: fc.integer({ min: 0, max: 6 }),
    rule: fc.integer({ min: 0, max: thresholdRules.length - 1 }),
    hits: fc.integer({ min: 0, max: 4 }),
    // Form posts, some of them with signs of automation: the long horizons label these.
    form: fc.constantFrom<FormKind>('registration', 'comment', 'login'),
    posts: fc.integer({ min: 0, max: 12 }),
    automated: fc.integer({ min: 0, max: 2 }),
  });

  it('a delta is not raised by the behaviour another delta of the batch found outside its own 24 hours', () => {
    const DAY = 86_400_000;
    // Day 0: automated log-in posts (a behaviour finding, severity high). Day 2: a slow scan
    // whose hour of score crosses the 1-hour horizon (low on its own).
    const posts: StoredBucket[] = Array.from({ length: 6 }, (_, i) => ({
      start: T0 + i * 60_000,
      score: 0,
      paths: [],
      counts: { [counterPost('login')]: 5, [counterAuto1('login')]: 5, [counterAuto2('login')]: 5 },
    }));
    const scan: StoredBucket[] = Array.from({ length: 10 }, (_, i) => ({ start: T0 + 2 * DAY + i * 300_000, score: 20, paths: [], counts: {} }));
    const merged: MergedSourceState = {
      ...emptyMergedState('198.51.100.9'),
      buckets: [...posts, ...scan],
      requests: 16,
      firstSeen: T0,
      lastSeen: T0 + 2 * DAY + 2_700_000,
    };
    const deltaOf = (objectId: string, buckets: StoredBucket[]): SourceDelta => ({ ...emptyMergedState('198.51.100.9'), objectId, buckets });
    const both = deltaOf('a', [...posts, ...scan]);
    const scanOnly = deltaOf('b', scan);
    const alone = decideMerged(merged, scanOnly, null, ctx, config);
    assert.equal(alone?.trigger, 'horizon');
    assert.equal(alone?.severity, 'low');
    const view = mergedView(merged, ctx, config);
    assert.equal(decideMerged(merged, both, null, ctx, config, view)?.severity, 'high', 'the posts are in this delta');
    assert.deepEqual(decideMerged(merged, scanOnly, null, ctx, config, view), alone);
  });

  it('decides for each delta what a view of its own decides, after the deltas before it (property)', () => {
    let decided = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(bucket, { minLength: 1, maxLength: 120, selector: (b) => b.slot }),
        fc.array(fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 6 }),
        // The rules the source matched: none, or some (they raise the severity of what fires).
        fc.subarray(thresholdRules.map((r) => r.id)),
        (raw, picks, rules) => {
          const buckets: StoredBucket[] = raw
            .map((b) => {
              const counts: Record<string, number> = {};
              if (b.errors) counts[ERROR_COUNTER] = b.errors;
              const rule = thresholdRules[b.rule];
              if (b.hits && rule) counts[thresholdKey(rule)] = b.hits;
              // Posts on the first day only: a delta of a later day alone is out of their 24 hours.
              if (b.posts && b.slot < 8640) {
                counts[counterPost(b.form)] = b.posts;
                if (b.automated >= 1) counts[counterAuto1(b.form)] = b.posts;
                if (b.automated >= 2) counts[counterAuto2(b.form)] = b.posts;
              }
              return { start: T0 + b.slot * 10_000, score: b.score, paths: b.paths.map((p) => p.toString(16).padStart(8, '0')), counts };
            })
            .sort((a, b) => a.start - b.start);
          const merged: MergedSourceState = {
            ...emptyMergedState('198.51.100.9'),
            buckets,
            rules,
            requests: buckets.length,
            firstSeen: buckets[0]?.start ?? T0,
            lastSeen: buckets[buckets.length - 1]?.start ?? T0,
          };
          const deltas: SourceDelta[] = picks.map((p, i) => ({
            ...emptyMergedState('198.51.100.9'),
            objectId: `o${i}`,
            buckets: [...new Set(p.map((k) => k % buckets.length))].map((k) => buckets[k] as StoredBucket),
          }));
          const view = mergedView(merged, ctx, config);
          for (const delta of deltas) {
            const alone = decideMerged(merged, delta, null, ctx, config);
            if (alone) decided++;
            assert.deepEqual(decideMerged(merged, delta, null, ctx, config, view), alone);
          }
        },
      ),
      { numRuns: 400 },
    );
    assert.ok(decided > 0, 'some deltas alert, so decisions are compared, not only nulls');
  });
});
