import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type CoarseBucket, EventWindow, longCrossing } from '../../lambdas/core/window.js';

const BUCKET = 10_000;
const WINDOW = 120_000;

/** Events: a time (s), a score, an error path or none, a threshold counter or none. */
const events = fc.array(
  fc.record({
    t: fc.integer({ min: 0, max: 400 }),
    score: fc.integer({ min: 0, max: 20 }),
    path: fc.option(fc.integer({ min: 0, max: 15 }).map((n) => `/p${n}`)),
    counted: fc.boolean(),
  }),
  { minLength: 1, maxLength: 60 },
);

function windowOf(list: readonly { t: number; score: number; path: string | null; counted: boolean }[]): EventWindow {
  const w = new EventWindow(BUCKET, WINDOW, Number.POSITIVE_INFINITY);
  for (const e of list) w.add(e.t * 1000, e.score, e.path, e.counted ? ['rule'] : []);
  return w;
}

/** The window [end - length, end) summed from the events themselves. */
function brute(list: readonly { t: number; score: number; path: string | null; counted: boolean }[], end: number, length: number) {
  const inside = list.filter((e) => e.t * 1000 >= end - length && e.t * 1000 < end);
  return {
    score: inside.reduce((s, e) => s + e.score, 0),
    paths: new Set(inside.flatMap((e) => (e.path === null ? [] : [e.path]))).size,
    count: inside.filter((e) => e.counted).length,
  };
}

/** The first end, over windows containing `time` in order of their end, whose window reaches it. */
function bruteCrossing(list: Parameters<typeof brute>[0], time: number, length: number, reached: (x: ReturnType<typeof brute>) => boolean): number | null {
  const start = Math.floor(time / BUCKET) * BUCKET;
  for (let end = start + BUCKET; end <= start + length; end += BUCKET) if (reached(brute(list, end, length))) return end - BUCKET;
  return null;
}

describe('where a window first crossed a threshold', () => {
  it('is the last bucket of the first window containing the time of an event that reaches it, and that bucket holds events', () => {
    fc.assert(
      // Asked, as the pipeline asks, about the time of an event (a bucket its delta holds).
      fc.property(events, fc.nat(), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 6 }), (list, pick, score, paths) => {
        const w = windowOf(list);
        const time = (list[pick % list.length] as { t: number }).t * 1000;
        const checks: [number | null, number | null][] = [
          [w.scoreCrossingAround(time, score), bruteCrossing(list, time, WINDOW, (x) => x.score >= score)],
          [w.pathsCrossingAround(time, paths), bruteCrossing(list, time, WINDOW, (x) => x.paths >= paths)],
          [w.countCrossingAround(time, 'rule', 60_000, paths), bruteCrossing(list, time, 60_000, (x) => x.count >= paths)],
        ];
        for (const [got, want] of checks) {
          assert.equal(got, want);
          if (got === null) continue;
          // Never before the bucket of the time asked about, and always a bucket with an event in it.
          assert.ok(got >= Math.floor(time / BUCKET) * BUCKET);
          assert.ok(list.some((e) => Math.floor((e.t * 1000) / BUCKET) * BUCKET === got));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a burst crossing late in its bucket is placed in that bucket, not in an earlier one the windows around it reach', () => {
    const w = new EventWindow(BUCKET, WINDOW, Number.POSITIVE_INFINITY);
    w.add(19_000, 5, '/a'); // bucket 10 s
    for (let i = 0; i < 9; i++) w.add(22_000 + i * 100, 5, `/b${i}`); // bucket 20 s
    // Every window containing the 10-s bucket reaches 50 (the later ones hold the 20-s bucket),
    // but it is the 20-s bucket's requests that crossed.
    assert.equal(w.peakAround(10_000).score, 50);
    assert.equal(w.scoreCrossingAround(10_000, 50), 20_000);
    assert.equal(w.pathsCrossingAround(10_000, 10), 20_000);
    assert.equal(w.scoreCrossingAround(10_000, 51), null);
  });
});

describe('where a long horizon was first crossed', () => {
  const COARSE = 300_000;
  const HOUR = 3_600_000;
  /** Coarse buckets of (start in 5-minute steps, score, path numbers). */
  const coarse = fc
    .uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 25 })
    .chain((starts) =>
      fc.tuple(
        ...[...starts]
          .sort((a, b) => a - b)
          .map((s) =>
            fc.record({
              start: fc.constant(s * COARSE),
              score: fc.integer({ min: 0, max: 30 }),
              paths: fc.option(fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 6 })),
            }),
          ),
      ),
    )
    .map((list) => list.map((b) => ({ ...b, counts: null, errors: 0 }) as CoarseBucket));

  it("is the bucket whose entry first brings a window containing the time to a threshold (in order of window end), or the time's own bucket if earlier", () => {
    fc.assert(
      fc.property(
        coarse,
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 20 }),
        (buckets, at, minScore, minPaths) => {
          const time = at * COARSE;
          // Brute force: windows [end - 1 h, end) containing the time, in order of end; inside
          // each, the buckets in order, the first to reach a threshold.
          let expected: number | null = null;
          for (let end = time + COARSE; end <= time + HOUR && expected === null; end += COARSE) {
            let score = 0;
            const paths = new Set<number>();
            for (const b of buckets) {
              if (b.start < end - HOUR || b.start >= end) continue;
              score += b.score;
              for (const p of b.paths ?? []) paths.add(p);
              if (score >= minScore || paths.size >= minPaths) {
                expected = Math.max(b.start, time);
                break;
              }
            }
          }
          assert.equal(longCrossing(buckets, time, HOUR, minScore, minPaths), expected);
          assert.equal(longCrossing(buckets, time, HOUR, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY), null);
        },
      ),
    );
  });
});
