import { detach } from './lines.js';

/**
 * A per-source sliding window over event time, kept as fixed buckets so it can be stored and
 * merged. Any run of consecutive buckets as long as the window is evaluated, so a burst that
 * straddles a bucket or window boundary is still counted whole.
 */
export interface Bucket {
  /** Bucket start, epoch ms, a multiple of the bucket size. */
  start: number;
  score: number;
  /** Distinct error paths seen in this bucket (capped). */
  paths: Set<string> | null;
  /** Matches of threshold rules (brute force), by rule id. */
  counts: Map<string, number> | null;
}

/** Best values over every window that contains a given time. */
export interface WindowPeak {
  score: number;
  distinctPaths: number;
}

const MAX_PATHS_PER_BUCKET = 64;

/** A source's event-time buckets, kept sorted, with sliding-window queries over them. */
export class EventWindow {
  /** Buckets sorted by start. */
  readonly buckets: Bucket[] = [];

  constructor(
    readonly bucketMs: number,
    readonly windowMs: number,
    /** How far behind the newest event an out-of-order event is still placed. */
    readonly retainMs: number,
  ) {}

  private bucketAt(time: number): Bucket | null {
    const start = Math.floor(time / this.bucketMs) * this.bucketMs;
    const b = this.buckets;
    const newest = b.length ? (b[b.length - 1] as Bucket).start : start;
    if (start < newest - this.retainMs) return null; // too late to matter
    let i = b.length;
    while (i > 0 && (b[i - 1] as Bucket).start > start) i--;
    if (i > 0 && (b[i - 1] as Bucket).start === start) return b[i - 1] as Bucket;
    const bucket: Bucket = { start, score: 0, paths: null, counts: null };
    b.splice(i, 0, bucket);
    // Drop buckets that no window around the newest event can reach any more.
    const horizon = (b[b.length - 1] as Bucket).start - this.retainMs - this.windowMs;
    let drop = 0;
    while (drop < b.length && (b[drop] as Bucket).start < horizon) drop++;
    if (drop) b.splice(0, drop);
    return bucket;
  }

  /** Adds one event; returns false when it is older than the retention horizon. */
  add(time: number, score: number, errorPath: string | null, thresholdRule: string | null): boolean {
    const bucket = this.bucketAt(time);
    if (!bucket) return false;
    bucket.score += score;
    if (errorPath !== null) {
      if (!bucket.paths) bucket.paths = new Set();
      if (bucket.paths.size < MAX_PATHS_PER_BUCKET && !bucket.paths.has(errorPath)) bucket.paths.add(detach(errorPath));
    }
    if (thresholdRule !== null) {
      if (!bucket.counts) bucket.counts = new Map();
      bucket.counts.set(thresholdRule, (bucket.counts.get(thresholdRule) ?? 0) + 1);
    }
    return true;
  }

  /** Windows [e - length, e) for every e that makes the window contain `time`. */
  private windows(time: number, lengthMs: number, visit: (from: number, to: number) => void): void {
    const b = this.buckets;
    const start = Math.floor(time / this.bucketMs) * this.bucketMs;
    // Only buckets within one window length either side can share a window with `time`;
    // events are mostly the newest, so search from the end.
    let hi = b.length;
    while (hi > 0 && (b[hi - 1] as Bucket).start >= start + lengthMs) hi--;
    let lo = hi;
    while (lo > 0 && (b[lo - 1] as Bucket).start > start - lengthMs) lo--;
    // Counted, not `end += bucketMs`: far beyond any real date a double cannot hold the step
    // (start + bucketMs === start) and that loop never ended.
    const steps = Math.floor(lengthMs / this.bucketMs);
    for (let k = 1; k <= steps; k++) {
      const end = start + k * this.bucketMs;
      let from = lo;
      while (from < hi && (b[from] as Bucket).start < end - lengthMs) from++;
      let to = from;
      while (to < hi && (b[to] as Bucket).start < end) to++;
      visit(from, to);
    }
  }

  /**
   * A cheap upper bound of `peakAround(time)`: the sums over every bucket that any window
   * containing `time` can reach, with no set unions. When it cannot beat what is already known,
   * the exact computation can be skipped.
   */
  boundAround(time: number): WindowPeak {
    const b = this.buckets;
    const start = Math.floor(time / this.bucketMs) * this.bucketMs;
    let score = 0;
    let distinctPaths = 0;
    for (let i = b.length - 1; i >= 0; i--) {
      const x = b[i] as Bucket;
      if (x.start >= start + this.windowMs) continue;
      if (x.start <= start - this.windowMs) break;
      score += x.score;
      distinctPaths += x.paths?.size ?? 0;
    }
    return { score, distinctPaths };
  }

  /** Highest score and distinct-path count over all windows containing `time`. */
  peakAround(time: number): WindowPeak {
    let score = 0;
    let distinctPaths = 0;
    this.windows(time, this.windowMs, (from, to) => {
      let s = 0;
      let union: Set<string> | null = null;
      for (let i = from; i < to; i++) {
        const b = this.buckets[i] as Bucket;
        s += b.score;
        if (b.paths) {
          if (!union) union = new Set(b.paths);
          else for (const p of b.paths) union.add(p);
        }
      }
      if (s > score) score = s;
      if (union && union.size > distinctPaths) distinctPaths = union.size;
    });
    return { score, distinctPaths };
  }

  /** Highest count of a threshold rule over windows of its own length containing `time`. */
  countAround(time: number, ruleId: string, lengthMs: number): number {
    let best = 0;
    this.windows(time, lengthMs, (from, to) => {
      let n = 0;
      for (let i = from; i < to; i++) n += (this.buckets[i] as Bucket).counts?.get(ruleId) ?? 0;
      if (n > best) best = n;
    });
    return best;
  }
}
