import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { thresholdKey } from '../../lambdas/core/aggregate.js';
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
    slot: fc.integer({ min: 0, max: 3 * 8640 - 1 }), // 10-s buckets over three days
    score: fc.integer({ min: 0, max: 40 }),
    paths: fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 6 }),
    errors: fc.integer({ min: 0, max: 6 }),
    rule: fc.integer({ min: 0, max: thresholdRules.length - 1 }),
    hits: fc.integer({ min: 0, max: 4 }),
  });

  it('decides for each delta, in any order, what a view of its own decides (property)', () => {
    let decided = 0;
    fc.assert(
      fc.property(
        fc.uniqueArray(bucket, { minLength: 1, maxLength: 120, selector: (b) => b.slot }),
        fc.array(fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 6 }),
        (raw, picks) => {
          const buckets: StoredBucket[] = raw
            .map((b) => {
              const counts: Record<string, number> = {};
              if (b.errors) counts[ERROR_COUNTER] = b.errors;
              const rule = thresholdRules[b.rule];
              if (b.hits && rule) counts[thresholdKey(rule)] = b.hits;
              return { start: T0 + b.slot * 10_000, score: b.score, paths: b.paths.map((p) => p.toString(16).padStart(8, '0')), counts };
            })
            .sort((a, b) => a.start - b.start);
          const merged: MergedSourceState = {
            ...emptyMergedState('198.51.100.9'),
            buckets,
            rules: thresholdRules.map((r) => r.id),
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
      { numRuns: 150 },
    );
    assert.ok(decided > 0, 'some deltas alert, so decisions are compared, not only nulls');
  });
});
