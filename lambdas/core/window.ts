import { detach } from './lines.js';

const NO_COUNTERS: readonly string[] = [];

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
  /** Error responses (a number, not a map entry: most sources with a window have only these). */
  errors: number;
}

/** Best values over every window that contains a given time. */
export interface WindowPeak {
  score: number;
  distinctPaths: number;
}

/**
 * A coarse bucket for the long horizons (1 h, 24 h): the same facts as a fine bucket, with error
 * paths kept as 32-bit hashes so a source probing all day costs a few bytes per path.
 */
export interface CoarseBucket {
  start: number;
  score: number;
  /** Distinct error-path hashes (a short array: ~50 bytes where a Set costs ~170). */
  paths: number[] | null;
  counts: Map<string, number> | null;
  errors: number;
}

/** The counter name error responses have where counters are named (stored items, peaks). */
export const ERROR_COUNTER = '~err';

/** Distinct error paths kept per fine bucket (a 10-s bucket past this is a burst anyway). */
export const MAX_PATHS_PER_BUCKET = 64;
/** Distinct error-path hashes kept per coarse bucket; long-horizon path thresholds must not exceed it. */
export const MAX_PATHS_PER_COARSE_BUCKET = 64;
/** Coarse buckets of the long horizons: 5 minutes. */
export const COARSE_BUCKET_MS = 300_000;

/** Error paths longer than this are kept as their start and a hash: distinct stays distinct, 8-KB paths cost little. */
export const MAX_KEPT_PATH = 256;

/** The form an error path is kept in a window: whole when short, else its start and its hash. */
export function keptPath(path: string): string {
  return path.length <= MAX_KEPT_PATH ? path : `${path.slice(0, MAX_KEPT_PATH - 18)}…#${pathHash(path)}:${path.length}`;
}

/** Short, stable hash of an error path (FNV-1a, 32 bits), so stored and long-horizon path sets stay small. */
export function pathHashNumber(path: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The hash of `pathHashNumber` as 8 hex digits (the stored form). */
export function pathHash(path: string): string {
  return pathHashNumber(path).toString(16).padStart(8, '0');
}

/**
 * A multiset of 32-bit path hashes for the long sweeps, reused from one sweep to the next: an
 * open-addressed table in typed arrays, cleared by bumping a generation, where a `Map` cost an
 * allocation per path and most of a sweep's time. A slot keeps its key when its count falls to
 * zero, so a path leaving and re-entering the window finds its own slot again.
 */
class PathTally {
  /** Slots: above the most paths a day's window can hold (288 buckets of 64), at most half full. */
  private static readonly SLOTS = 1 << 16;
  private readonly keys = new Uint32Array(PathTally.SLOTS);
  private readonly counts = new Int32Array(PathTally.SLOTS);
  private readonly stamps = new Uint32Array(PathTally.SLOTS);
  private stamp = 0;
  /** Keys whose count is above zero. */
  distinct = 0;

  reset(): void {
    this.stamp++;
    if (this.stamp === 0xffffffff) {
      this.stamps.fill(0);
      this.stamp = 1;
    }
    this.distinct = 0;
  }

  private slot(key: number): number {
    const mask = PathTally.SLOTS - 1;
    let i = Math.imul(key, 0x9e3779b1) >>> 16;
    for (;;) {
      if (this.stamps[i] !== this.stamp) {
        this.stamps[i] = this.stamp;
        this.keys[i] = key;
        this.counts[i] = 0;
        return i;
      }
      if (this.keys[i] === key) return i;
      i = (i + 1) & mask;
    }
  }

  add(key: number): void {
    const i = this.slot(key);
    const n = this.counts[i] as number;
    this.counts[i] = n + 1;
    if (n === 0) this.distinct++;
  }

  remove(key: number): void {
    const i = this.slot(key);
    const n = (this.counts[i] as number) - 1;
    this.counts[i] = n;
    if (n === 0) this.distinct--;
  }
}

// Counter sums of a sweep, as `forEach` callbacks on the sums' map (no entry pairs allocated).
function addCount(this: Map<string, number>, n: number, key: string): void {
  this.set(key, (this.get(key) ?? 0) + n);
}
function subtractCount(this: Map<string, number>, n: number, key: string): void {
  this.set(key, (this.get(key) ?? 0) - n);
}
function raiseCount(this: Map<string, number>, n: number, key: string): void {
  if (n > (this.get(key) ?? 0)) this.set(key, n);
}

/** Distinct-path tally shared by every sweep (sweeps run one at a time). */
const tally = new PathTally();

/** Best values over every long window containing a time. */
export interface LongPeak extends WindowPeak {
  /** Highest count per counter key over the same windows (each key's own best window). */
  counts: Map<string, number>;
}

/** Index of the first of `buckets` (sorted by start) whose start is above `bound`, by bisection. */
export function firstStartAbove(buckets: readonly { start: number }[], bound: number): number {
  let lo = 0;
  let top = buckets.length;
  while (lo < top) {
    const mid = (lo + top) >>> 1;
    if ((buckets[mid] as { start: number }).start <= bound) lo = mid + 1;
    else top = mid;
  }
  return lo;
}

/**
 * Sweeps every window [e - length, e) with `e` on the coarse grid that contains `time`, over
 * buckets sorted by start, in one pass: the window's sums are updated as buckets enter and leave
 * (O(buckets + windows)), so a 24-hour horizon costs a few hundred steps, not a few hundred
 * thousand.
 */
export function longPeak(buckets: readonly CoarseBucket[], time: number, lengthMs: number, stepMs = COARSE_BUCKET_MS, withPaths = true): LongPeak {
  const start = Math.floor(time / stepMs) * stepMs;
  const out: LongPeak = { score: 0, distinctPaths: 0, counts: new Map() };
  // The first bucket that can be in a window: found by bisection, since a source's day of
  // buckets lies mostly before the horizon being decided.
  let lo = firstStartAbove(buckets, start - lengthMs);
  let hi = lo;
  let score = 0;
  let errors = 0;
  let maxErrors = 0;
  const paths = tally;
  paths.reset();
  const counts = new Map<string, number>();
  // A counted loop: far beyond real dates `end += stepMs` would not move `end` at all.
  const steps = Math.max(0, Math.floor(lengthMs / stepMs));
  let k = 1;
  while (k <= steps) {
    const end = start + k * stepMs;
    let entered = false;
    while (hi < buckets.length && (buckets[hi] as CoarseBucket).start < end) {
      const b = buckets[hi++] as CoarseBucket;
      entered = true;
      score += b.score;
      errors += b.errors;
      if (b.paths && withPaths) for (const p of b.paths) paths.add(p);
      if (b.counts) b.counts.forEach(addCount, counts);
    }
    while (lo < hi && (buckets[lo] as CoarseBucket).start < end - lengthMs) {
      const b = buckets[lo++] as CoarseBucket;
      score -= b.score;
      errors -= b.errors;
      if (b.paths && withPaths) for (const p of b.paths) paths.remove(p);
      if (b.counts) b.counts.forEach(subtractCount, counts);
    }
    // Only a window that gained a bucket can beat the previous ones (losing buckets only lowers).
    if (entered || k === 1) {
      if (score > out.score) out.score = score;
      if (errors > maxErrors) maxErrors = errors;
      if (paths.distinct > out.distinctPaths) out.distinctPaths = paths.distinct;
      counts.forEach(raiseCount, out.counts);
    }
    if (hi >= buckets.length) break; // the windows after this one only lose buckets
    // Straight to the first window the next bucket enters: the ones between gain nothing.
    const next = Math.floor(((buckets[hi] as CoarseBucket).start - start) / stepMs) + 1;
    k = next > k ? next : k + 1;
  }
  if (maxErrors > 0) out.counts.set(ERROR_COUNTER, maxErrors);
  return out;
}

/**
 * Where a long horizon was first crossed among the windows of `lengthMs` containing `time`: the
 * start of the coarse bucket whose entry first brought a window (in order of its end) to
 * `minScore` or to `minPaths` distinct error paths, or the bucket of `time` when that came earlier,
 * or null when none does. The same windows as `longPeak`, swept the same way, stopping at the
 * first that reaches.
 */
export function longCrossing(buckets: readonly CoarseBucket[], time: number, lengthMs: number, minScore: number, minPaths: number): number | null {
  const stepMs = COARSE_BUCKET_MS;
  const start = Math.floor(time / stepMs) * stepMs;
  let lo = firstStartAbove(buckets, start - lengthMs);
  let hi = lo;
  let score = 0;
  const paths = tally;
  paths.reset();
  const steps = Math.max(0, Math.floor(lengthMs / stepMs));
  let k = 1;
  while (k <= steps) {
    const end = start + k * stepMs;
    while (lo < hi && (buckets[lo] as CoarseBucket).start < end - lengthMs) {
      const b = buckets[lo++] as CoarseBucket;
      score -= b.score;
      if (b.paths && minPaths !== Number.POSITIVE_INFINITY) for (const p of b.paths) paths.remove(p);
    }
    // Bucket by bucket: the one whose entry reaches a threshold is where it was crossed.
    while (hi < buckets.length && (buckets[hi] as CoarseBucket).start < end) {
      const b = buckets[hi++] as CoarseBucket;
      score += b.score;
      if (b.paths && minPaths !== Number.POSITIVE_INFINITY) for (const p of b.paths) paths.add(p);
      // Crossed with what came before the bucket of `time`: it is crossed there (what matters is
      // when a decision at that bucket could first be taken, as a re-alert after a cooldown is).
      if (score >= minScore || paths.distinct >= minPaths) return Math.max(b.start, start);
    }
    if (hi >= buckets.length) break;
    const next = Math.floor(((buckets[hi] as CoarseBucket).start - start) / stepMs) + 1;
    k = next > k ? next : k + 1;
  }
  return null;
}

/**
 * `longPeak` around one time for any length, each length swept once: a decision asks for the same
 * horizon several times (a horizon, a long threshold and the form behaviours share 1 h and 24 h).
 */
export function peaksAround(buckets: readonly CoarseBucket[], time: number, withPaths = true): (lengthMs: number) => LongPeak {
  const peaks = new Map<number, LongPeak>();
  return (lengthMs) => {
    let p = peaks.get(lengthMs);
    if (p === undefined) {
      p = longPeak(buckets, time, lengthMs, COARSE_BUCKET_MS, withPaths);
      peaks.set(lengthMs, p);
    }
    return p;
  };
}

/** Adds one event to a sorted list of coarse buckets (created on demand). */
function addCoarse(list: CoarseBucket[], time: number, score: number, pathHashValue: number | null, counter: string | null, n: number): void {
  const start = Math.floor(time / COARSE_BUCKET_MS) * COARSE_BUCKET_MS;
  let i = list.length;
  while (i > 0 && (list[i - 1] as CoarseBucket).start > start) i--;
  let b = i > 0 ? (list[i - 1] as CoarseBucket) : undefined;
  if (!b || b.start !== start) {
    b = { start, score: 0, paths: null, counts: null, errors: 0 };
    list.splice(i, 0, b);
  }
  b.score += score;
  if (pathHashValue !== null) {
    if (!b.paths) b.paths = [pathHashValue];
    // A copy of the exact size: `push` would leave room for 16 more.
    else if (b.paths.length < MAX_PATHS_PER_COARSE_BUCKET && !b.paths.includes(pathHashValue)) b.paths = [...b.paths, pathHashValue];
  }
  if (counter === ERROR_COUNTER) b.errors += n;
  else if (counter !== null) {
    if (!b.counts) b.counts = new Map();
    b.counts.set(counter, (b.counts.get(counter) ?? 0) + n);
  }
}

/** Folds fine buckets (as stored) into coarse ones: what a long horizon reads in the pipeline. */
export function coarsen(fine: readonly { start: number; score: number; paths: Iterable<string>; counts: Readonly<Record<string, number>> }[]): CoarseBucket[] {
  const out: CoarseBucket[] = [];
  for (const b of [...fine].sort((x, y) => x.start - y.start)) {
    addCoarse(out, b.start, b.score, null, null, 0);
    for (const p of b.paths) addCoarse(out, b.start, 0, Number.parseInt(p, 16) >>> 0, null, 0);
    for (const [k, n] of Object.entries(b.counts)) addCoarse(out, b.start, 0, null, k, n);
  }
  return out;
}

/**
 * Writes a source's state as two flat arrays, numbers and texts: the folded form of a source that
 * waits only for its long horizons (see `SourceState.fold`). A number array of doubles costs 8
 * bytes an entry; the objects, arrays and maps it replaces cost 50 to 200 bytes each.
 */
export class FoldWriter {
  private readonly nums: number[] = [];
  private readonly texts: string[] = [];

  num(n: number): void {
    this.nums.push(n);
  }

  text(s: string): void {
    this.texts.push(s);
  }

  /** Exact-size copies (a growing array keeps room for more). */
  done(): { nums: number[]; texts: readonly string[] } {
    return { nums: this.nums.slice(), texts: this.texts.length ? this.texts.slice() : NO_TEXTS };
  }
}

/** The texts of a folded state that has none (one shared empty array). */
export const NO_TEXTS: readonly string[] = Object.freeze([]);

/** Reads back what a `FoldWriter` wrote, in the order it was written. */
export class FoldReader {
  private n = 0;
  private t = 0;

  constructor(
    private readonly nums: readonly number[],
    private readonly texts: readonly string[],
  ) {}

  num(): number {
    return this.nums[this.n++] as number;
  }

  text(): string {
    return this.texts[this.t++] as string;
  }
}

/** A source's event-time buckets, kept sorted, with sliding-window queries over them. */
export class EventWindow {
  /** Buckets sorted by start. */
  readonly buckets: Bucket[] = [];
  /** Coarse buckets for the long horizons, sorted by start. */
  readonly coarse: CoarseBucket[] = [];
  /** Start of the coarse bucket last evaluated for the long horizons (-1: none pending). */
  longPending = -1;
  /** Event time of the first event added to the pending coarse bucket: when its decision is timed. */
  longPendingFirst = -1;
  /** Start of the newest fine bucket ever made (kept when idle buckets are released). */
  private newestStart = Number.NEGATIVE_INFINITY;

  constructor(
    readonly bucketMs: number,
    readonly windowMs: number,
    /** How far behind the newest event an out-of-order event is still placed. */
    readonly retainMs: number,
    /** The longest horizon: coarse buckets older than this (plus retainMs) are dropped. */
    readonly longestMs = 0,
  ) {}

  private bucketAt(time: number): Bucket | null {
    const start = Math.floor(time / this.bucketMs) * this.bucketMs;
    const b = this.buckets;
    const last = b.length ? (b[b.length - 1] as Bucket).start : start;
    const newest = Math.max(last, this.newestStart);
    if (start < newest - this.retainMs) return null; // too late to matter
    if (start > this.newestStart) this.newestStart = start;
    let i = b.length;
    while (i > 0 && (b[i - 1] as Bucket).start > start) i--;
    if (i > 0 && (b[i - 1] as Bucket).start === start) return b[i - 1] as Bucket;
    const bucket: Bucket = { start, score: 0, paths: null, counts: null, errors: 0 };
    b.splice(i, 0, bucket);
    // Drop buckets that no window around the newest event can reach any more.
    const horizon = (b[b.length - 1] as Bucket).start - this.retainMs - this.windowMs;
    let drop = 0;
    while (drop < b.length && (b[drop] as Bucket).start < horizon) drop++;
    if (drop) b.splice(0, drop);
    return bucket;
  }

  /**
   * Adds one event; returns false when it is older than the retention horizon. `counters` are
   * behaviour counters (form posts, evidence of automation) kept in both bucket sizes.
   */
  add(time: number, score: number, errorPath: string | null, counters: readonly string[] = NO_COUNTERS): boolean {
    const bucket = this.bucketAt(time);
    if (!bucket) return false;
    if (this.longestMs > 0) {
      addCoarse(this.coarse, time, score, errorPath === null ? null : pathHashNumber(errorPath), null, 0);
      for (const c of counters) addCoarse(this.coarse, time, 0, null, c, 1);
      const c = this.coarse;
      const horizon = (c[c.length - 1] as CoarseBucket).start - this.retainMs - this.longestMs;
      let drop = 0;
      while (drop < c.length && (c[drop] as CoarseBucket).start < horizon) drop++;
      if (drop) c.splice(0, drop);
    }
    for (const k of counters) {
      if (k === ERROR_COUNTER) {
        bucket.errors++;
        continue;
      }
      if (!bucket.counts) bucket.counts = new Map();
      bucket.counts.set(k, (bucket.counts.get(k) ?? 0) + 1);
    }
    bucket.score += score;
    if (errorPath !== null) {
      if (!bucket.paths) bucket.paths = new Set();
      if (bucket.paths.size < MAX_PATHS_PER_BUCKET) {
        const kept = keptPath(errorPath);
        if (!bucket.paths.has(kept)) bucket.paths.add(detach(kept));
      }
    }
    return true;
  }

  /**
   * Lets go of every fine bucket of an idle source: the caller knows no window around an event
   * still to come can reach them. Their newest start is kept, so lateness is judged as before.
   */
  releaseFine(): void {
    const b = this.buckets;
    if (b.length === 0) return;
    this.newestStart = Math.max(this.newestStart, (b[b.length - 1] as Bucket).start);
    b.length = 0;
  }

  /**
   * Writes the coarse buckets and the marks of a window whose fine buckets were released (an idle
   * source); `restore` on a new window of the same sizes reads them back.
   */
  fold(out: FoldWriter): void {
    if (this.buckets.length > 0) throw new Error('only a window without fine buckets is folded');
    out.num(this.newestStart);
    out.num(this.longPending);
    out.num(this.longPendingFirst);
    out.num(this.coarse.length);
    for (const b of this.coarse) {
      out.num(b.start);
      out.num(b.score);
      out.num(b.errors);
      // A bucket's paths and counts are null or not empty (made with their first entry).
      out.num(b.paths?.length ?? 0);
      for (const p of b.paths ?? []) out.num(p);
      out.num(b.counts?.size ?? 0);
      for (const [k, n] of b.counts ?? []) {
        out.text(k);
        out.num(n);
      }
    }
  }

  /** Marks the pending long-horizon bucket of a folded window as decided (`longPending` is written second). */
  static clearFoldedPending(nums: number[]): void {
    nums[1] = -1;
  }

  /**
   * Reads back, into this window, what `fold` wrote. The coarse bucket objects (and their path
   * arrays and counter maps) the window holds already are used again: a scratch window read for
   * one decision after another makes no garbage.
   */
  restore(r: FoldReader): this {
    this.newestStart = r.num();
    this.longPending = r.num();
    this.longPendingFirst = r.num();
    const c = this.coarse;
    const n = r.num();
    for (let i = 0; i < n; i++) {
      let b = c[i];
      if (b === undefined) {
        b = { start: 0, score: 0, paths: null, counts: null, errors: 0 };
        c.push(b);
      }
      b.start = r.num();
      b.score = r.num();
      b.errors = r.num();
      const paths = r.num();
      if (paths === 0) b.paths = null;
      else {
        const p = b.paths ?? new Array<number>(paths);
        p.length = paths;
        for (let k = 0; k < paths; k++) p[k] = r.num();
        b.paths = p;
      }
      const counts = r.num();
      if (counts === 0) b.counts = null;
      else {
        const m = b.counts ?? new Map<string, number>();
        m.clear();
        for (let k = 0; k < counts; k++) m.set(r.text(), r.num());
        b.counts = m;
      }
    }
    c.length = n;
    return this;
  }

  /** Windows [e - length, e) for every e that makes the window contain `time`, in order of e. */
  private windows(time: number, lengthMs: number, visit: (from: number, to: number, end: number) => unknown): void {
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
      if (visit(from, to, end) === true) return;
    }
  }

  /**
   * Where a threshold was first crossed among the windows of `lengthMs` containing `time`: the
   * start of the last bucket of the first such window, in order of its end, that `reached`
   * (given the window's buckets `from` to `to`), or null when none does. That bucket holds events:
   * either it is the bucket of `time` itself or the window before it fell short and gained it.
   */
  firstCrossingAround(time: number, lengthMs: number, reached: (from: number, to: number) => boolean): number | null {
    let at: number | null = null;
    this.windows(time, lengthMs, (from, to, end) => {
      if (!reached(from, to)) return false;
      at = end - this.bucketMs;
      return true;
    });
    return at;
  }

  /** The bucket where the window's score first reached `threshold` around `time` (see `firstCrossingAround`). */
  scoreCrossingAround(time: number, threshold: number): number | null {
    return this.firstCrossingAround(time, this.windowMs, (from, to) => {
      let s = 0;
      for (let i = from; i < to; i++) s += (this.buckets[i] as Bucket).score;
      return s >= threshold;
    });
  }

  /** The bucket where the window's distinct error paths first reached `threshold` around `time`. */
  pathsCrossingAround(time: number, threshold: number): number | null {
    return this.firstCrossingAround(time, this.windowMs, (from, to) => {
      const union = new Set<string>();
      for (let i = from; i < to; i++) for (const p of (this.buckets[i] as Bucket).paths ?? []) union.add(p);
      return union.size >= threshold;
    });
  }

  /** The bucket where a threshold rule's count first reached `count` within `lengthMs` around `time`. */
  countCrossingAround(time: number, ruleId: string, lengthMs: number, count: number): number | null {
    return this.firstCrossingAround(time, lengthMs, (from, to) => {
      let n = 0;
      for (let i = from; i < to; i++) n += (this.buckets[i] as Bucket).counts?.get(ruleId) ?? 0;
      return n >= count;
    });
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
