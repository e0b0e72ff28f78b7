import { FAST_POST_MS, FORM_CONTEXT_MS, type FormKind, behaviourFindings, isScriptedAgent, postCounters } from './behaviour.js';
import type { DetectorConfig } from './config.js';
import { type AlertClaim, applyClaim, decideClaim, maxSeverity, severityRank } from './decide.js';
import { DistinctSources, MAX_DISTINCT_SOURCES, sourceNumber } from './distinct.js';
import { ipv6Prefix } from './ip.js';
import { detach } from './lines.js';
import { type LogRecord, requestLineOf } from './model.js';
import type { Classification } from './rules/engine.js';
import type { Rule, Severity } from './rules/types.js';
import { COARSE_BUCKET_MS, ERROR_COUNTER, EventWindow, FoldReader, FoldWriter, type LongPeak, NO_TEXTS, pathHashNumber, peaksAround } from './window.js';

/** A request kept as evidence. Strings are raw here and escaped on output. */
export interface SampleRequest {
  time: number;
  /** The request line as logged (or rebuilt from its parts). */
  request: string;
  status: number;
  userAgent: string;
  labels: string[];
}

/** Why an alert fired. */
export type Trigger = 'signature' | 'score' | 'error-burst' | 'threshold' | 'horizon' | 'behaviour';

/** What a long horizon held when it fired (or at its highest). */
export interface HorizonFacts {
  /** Horizon length in seconds (120 for the short window). */
  seconds: number;
  score: number;
  distinctPaths: number;
  /** The fact that decided a behaviour alert, in words. */
  why?: string;
}

/** An alert decision for a source, with the facts at the moment it fired. */
export interface AlertState {
  claim: AlertClaim;
  firstAt: number;
  trigger: Trigger;
  /** The rule (signature or threshold rule) that fired it, when one did. */
  rule: Rule | null;
  /** Highest score within one short window (2 minutes by default). */
  windowScore: number;
  distinctPaths: number;
  /** Set when a long horizon (or a behaviour over one) fired the alert. */
  horizon: HorizonFacts | null;
  /** The cooldown the last claim took (long-horizon alerts claim the longest horizon). */
  cooldownMs?: number;
}

/** Sample requests a source keeps (and an alert shows). */
export const MAX_SAMPLES = 10;

/**
 * Sources held before idle ones are folded (see `SourceState.fold`). Below this, keeping them
 * whole costs at most about 30 MB (2.8 KB each), while folding clients that come back only
 * churns: an ordinary log of 4,400 sources was folded 14,000 times and unfolded 13,500 times per
 * million lines, for a tenth of the core's time and 12 MB more peak RSS at 5M lines.
 */
export const FOLD_ABOVE_SOURCES = 10_000;
/**
 * Characters kept of each attacker-written string a source keeps (sample request lines, user
 * agents, the referer, addresses): enough to show what it was, and what is printed is cut
 * shorter still, so 8-KB fields cost a source no more than short ones.
 */
export const MAX_KEPT_CHARS = 512;

/** At most MAX_KEPT_CHARS of an attacker-written string (still a view of its line). */
function cutToKept(s: string): string {
  return s.length > MAX_KEPT_CHARS ? s.slice(0, MAX_KEPT_CHARS) : s;
}

/** A copy of at most MAX_KEPT_CHARS of an attacker-written string, detached from its line. */
export function keep(s: string): string {
  return detach(cutToKept(s));
}

const NO_LABELS: string[] = [];
/** What a folded source shows in place of its samples and status classes: nothing, and frozen. */
const FOLDED_SAMPLES: SampleRequest[] = Object.freeze([]) as unknown as SampleRequest[];
const FOLDED_CLASSES: number[] = Object.freeze([]) as unknown as number[];

/** Distinct texts a scan's sources share one copy of; when full, the table starts again. */
export const MAX_SHARED_STRINGS = 50_000;

/**
 * One kept copy (`keep`) of each sample request line and user agent, for every source that keeps
 * the same text: a day's browsers fetch the same pages with the same few agents, and 30,000
 * sources kept for the long horizons held their own copies (about a third of their memory).
 */
export class SharedStrings {
  private readonly table = new Map<string, string>();

  get(s: string): string {
    const text = cutToKept(s);
    const known = this.table.get(text);
    if (known !== undefined) return known;
    const copy = detach(text);
    if (this.table.size >= MAX_SHARED_STRINGS) this.table.clear();
    this.table.set(copy, copy);
    return copy;
  }

  /** Texts held now (for tests of the bound). */
  get size(): number {
    return this.table.size;
  }
}

/** A sample of a source's request; its user agent shares the copy the source holds already when equal. */
function sample(s: SourceState, r: LogRecord, c: Classification, shared: SharedStrings): SampleRequest {
  const ua = r.userAgent;
  const labels = c.labels.length === 0 ? NO_LABELS : c.labels.map((l) => l.category);
  return {
    time: r.time,
    request: shared.get(requestLineOf(r)),
    status: r.status,
    userAgent: ua === '' ? '' : ua === s.lastAgent ? s.lastAgent : shared.get(ua),
    labels,
  };
}

/**
 * A record keyed by status codes, built small. An object given the key "404" by assignment
 * reserves array slots up to that index (about 5 KB, for two or three counts); a parsed one keeps
 * a dictionary of the keys it has (about 200 bytes). A handler batch holds one per flagged source
 * of each object: 23 MB of slots for a batch of 100 objects before this.
 */
export function statusRecord(entries: Iterable<readonly [string, number]>): Record<string, number> {
  return JSON.parse(JSON.stringify(Object.fromEntries(entries))) as Record<string, number>;
}

/** Everything known about one source (an IPv4 address or an IPv6 /64). */
export class SourceState {
  requests = 0;
  firstSeen = Number.POSITIVE_INFINITY;
  lastSeen = Number.NEGATIVE_INFINITY;
  // The maps are made on first use: most sources kept all day have an error status or two and
  // no label, and an empty Map costs ~180 bytes.
  private labelMap: Map<string, number> | null = null;
  private ruleMap: Map<string, Rule> | null = null;
  private statusMap: Map<number, number> | null = null;
  private seenRules: Map<string, Rule> | null = null;
  /** Requests per label category (benign ones included). */
  get labels(): Map<string, number> {
    if (this.labelMap === null) this.labelMap = new Map();
    return this.labelMap;
  }
  /** True when any request got a label (without making the map). */
  get labelled(): boolean {
    return this.labelMap !== null && this.labelMap.size > 0;
  }
  /** The highest-severity rule seen per category. */
  get ruleOf(): Map<string, Rule> {
    if (this.ruleMap === null) this.ruleMap = new Map();
    return this.ruleMap;
  }
  /** Requests per HTTP error status (4xx, 5xx); other statuses are counted by class. */
  get statuses(): Map<number, number> {
    if (this.statusMap === null) this.statusMap = new Map();
    return this.statusMap;
  }
  /** Requests with status 0 (not logged), 1xx, 2xx, 3xx, by class. */
  statusClasses: number[] = [0, 0, 0, 0];
  /** Sum of the scores of every request. */
  score = 0;
  peakWindowScore = 0;
  peakDistinctPaths = 0;
  window: EventWindow | null = null;
  samples: SampleRequest[] = [];
  alert: AlertState | null = null;
  firstReferer = '';
  /** The strongest high-confidence signature seen (for stored state and alerts), with its time. */
  signature: { rule: Rule; time: number } | null = null;
  /** Every rule that labelled a request of this source, by id. */
  get rulesSeen(): Map<string, Rule> {
    if (this.seenRules === null) this.seenRules = new Map();
    return this.seenRules;
  }
  /** Event time of the last fetch of a page and of a page asset (for form-post evidence). */
  lastPageGetAt = Number.NEGATIVE_INFINITY;
  lastAssetAt = Number.NEGATIVE_INFINITY;
  /** Target of the last form post (a new endpoint is evidence of a bot trying many). */
  lastPostTarget = '';
  /** True once the source posted to a form (form abuse can then be decided for it). */
  formPosts = false;
  /** Hashes of the first few user agents seen (several: people behind a NAT or proxy). */
  agents: number[] | null = null;
  /** The last user agent noted (most sources have one: no hashing after the first request). */
  lastAgent = '';
  /**
   * True while nothing remarkable was seen (no label, error path, form post or alert): the
   * source is then forgotten once the event-time watermark leaves it behind.
   */
  fresh = true;
  /**
   * IPv6 sources (keyed by their /64): the one address seen so far, or '' once a second one was
   * seen. Lets a report show `2001:db8::1`, not its /64, when that address was the only one.
   */
  address: string | undefined = undefined;
  /** The folded state (see `fold`) as numbers and texts; null while unfolded. */
  private foldedNums: number[] | null = null;
  private foldedTexts: readonly string[] = NO_TEXTS;

  constructor(
    readonly key: string,
    /** Its IPv4 value, or -1. */
    readonly v4 = -1,
  ) {}

  /** True while the source is folded: its window, statuses, agents and samples are packed away. */
  get folded(): boolean {
    return this.foldedNums !== null;
  }

  /**
   * Folds a source that only waits for its long horizons (its fine buckets were released) and
   * has no alert: its window, user-agent hashes and samples, and its status counts when it has
   * no label, become two flat arrays, a few hundred bytes where the objects, arrays and maps they
   * were cost a few KB. What a report reads of a listed source (labels, rules, statuses, totals)
   * stays as it is; the aggregator unfolds a source (`unfold`) before anything else reads it.
   * Returns false, changing nothing, for any other source.
   */
  fold(): boolean {
    const w = this.window;
    if (w === null || w.buckets.length > 0 || this.alert !== null) return false;
    const out = new FoldWriter();
    w.fold(out);
    // A source with a label is listed in reports, which read its statuses.
    const statuses = !this.labelled && (this.ruleMap?.size ?? 0) === 0 && (this.seenRules?.size ?? 0) === 0;
    out.num(statuses ? 1 : 0);
    if (statuses) {
      for (const n of this.statusClasses) out.num(n);
      out.num(this.statusMap?.size ?? 0);
      for (const [status, n] of this.statusMap ?? []) {
        out.num(status);
        out.num(n);
      }
    }
    out.num(this.agents === null ? -1 : this.agents.length);
    for (const h of this.agents ?? []) out.num(h);
    out.num(this.samples.length);
    for (const x of this.samples) {
      out.num(x.time);
      out.num(x.status);
      out.text(x.request);
      out.text(x.userAgent);
      out.num(x.labels.length);
      for (const l of x.labels) out.text(l);
    }
    const { nums, texts } = out.done();
    this.foldedNums = nums;
    this.foldedTexts = texts;
    this.window = null;
    if (statuses) {
      this.statusClasses = FOLDED_CLASSES;
      this.statusMap = null;
    }
    this.agents = null;
    this.samples = FOLDED_SAMPLES;
    return true;
  }

  /** Gives a folded source back its state, its window in `w` (a new window of the aggregator's sizes). */
  unfold(w: EventWindow): void {
    const nums = this.foldedNums;
    if (nums === null) return;
    const r = new FoldReader(nums, this.foldedTexts);
    this.window = w.restore(r);
    if (r.num() === 1) {
      this.statusClasses = [r.num(), r.num(), r.num(), r.num()];
      const statuses = r.num();
      if (statuses > 0) {
        this.statusMap = new Map();
        for (let i = 0; i < statuses; i++) this.statusMap.set(r.num(), r.num());
      }
    }
    const agents = r.num();
    if (agents >= 0) {
      this.agents = [];
      for (let i = 0; i < agents; i++) this.agents.push(r.num());
    }
    const samples = r.num();
    this.samples = [];
    for (let i = 0; i < samples; i++) {
      // In `sample`'s order (numbers and texts are read from two streams).
      const x: SampleRequest = { time: r.num(), request: r.text(), status: r.num(), userAgent: r.text(), labels: NO_LABELS };
      const labels = r.num();
      if (labels > 0) {
        x.labels = [];
        for (let k = 0; k < labels; k++) x.labels.push(r.text());
      }
      this.samples.push(x);
    }
    this.foldedNums = null;
    this.foldedTexts = NO_TEXTS;
  }

  /**
   * The window of a folded source, read into `w` (see `EventWindow.restore`) without unfolding it:
   * all that deciding its long horizons reads besides its labels, rules and totals.
   */
  foldedWindow(w: EventWindow): EventWindow | null {
    return this.foldedNums === null ? null : w.restore(new FoldReader(this.foldedNums, this.foldedTexts));
  }

  /** Marks the pending long-horizon decision of a folded source as taken (see `foldedWindow`). */
  foldedDecided(): void {
    if (this.foldedNums !== null) EventWindow.clearFoldedPending(this.foldedNums);
  }

  /** Categories that are not benign, by descending request count. */
  suspiciousCategories(): [string, number][] {
    if (!this.labelled) return [];
    return [...this.labels].filter(([c]) => this.ruleOf.get(c)?.class !== 'benign').sort((a, b) => b[1] - a[1]);
  }

  /** Error statuses by code, the rest by class: `{ "404": 28, "403": 1, "2xx": 1 }`, most first. */
  statusCounts(): Record<string, number> {
    const out: [string, number][] = [...(this.statusMap ?? [])].map(([k, v]) => [String(k), v]);
    this.statusClasses.forEach((n, i) => {
      if (n > 0) out.push([i === 0 ? 'none' : `${i}xx`, n]);
    });
    return statusRecord(out.sort((x, y) => y[1] - x[1]));
  }

  /** Adds counts in the form `statusCounts()` writes (the inverse, for stored state). */
  addStatusCounts(counts: Readonly<Record<string, number>>): void {
    for (const [k, n] of Object.entries(counts)) {
      if (/^\d{3}$/.test(k) && Number(k) >= 400) this.statuses.set(Number(k), (this.statuses.get(Number(k)) ?? 0) + n);
      else {
        const i = k === 'none' ? 0 : Number(k[0]);
        if (i >= 0 && i <= 3) this.statusClasses[i] = (this.statusClasses[i] ?? 0) + n;
      }
    }
  }

  /** The highest severity among the non-benign labels ('info' when none). */
  severity(): Severity {
    let s: Severity = 'info';
    if (!this.labelled) return s;
    for (const [c] of this.labels) {
      const rule = this.ruleOf.get(c);
      if (rule && rule.class !== 'benign') s = maxSeverity(s, rule.severity);
    }
    return s;
  }
}

/**
 * The error-flood pseudo-rule: the same few missing paths hammered hundreds of times (a broken
 * bot, a login or XML-RPC endpoint that is gone, a denial-of-wallet attempt). Distinct paths
 * miss it; a count of error responses per hour does not.
 */
export const ERROR_FLOOD_RULE: Rule = {
  id: 'error-flood',
  category: 'error-flood',
  class: 'probing',
  severity: 'low',
  score: 0,
  explain: 'Hundreds of requests answered with an error (400/403/404/405) within an hour, whether or not the paths differ',
  match: {},
};

/** Error responses per source within one hour that make an error flood. */
export const ERROR_FLOOD_PER_HOUR = 300;
export { ERROR_COUNTER };

/** The error-burst pseudo-rule: it has no per-request matcher, the window decides. */
export const ERROR_BURST_RULE: Rule = {
  id: 'error-burst',
  category: 'error-burst',
  class: 'probing',
  severity: 'medium',
  score: 0,
  explain: 'Many different paths that do not exist, requested in a short time',
  match: {},
};

/** Callback for each alert decision (new or escalated). */
export type AlertListener = (source: SourceState, alert: AlertState) => void;

/**
 * Folds classified requests into per-source state and decides, in event time, when a source
 * crosses a threshold. Sources with no label and no error never get a window.
 */
export class Aggregator {
  /** Every source by its key. */
  readonly sources = new Map<string, SourceState>();
  /** IPv4 sources by their 32-bit value too: a numeric look-up needs no string hashing. */
  private readonly byIPv4 = new Map<number, SourceState>();
  /** Sample request lines and user agents, one copy each. */
  private readonly shared = new SharedStrings();
  /** The source `source()` returned last (forgotten with it). */
  private lastSource: SourceState | null = null;
  /** The user agent `keptAgent` was asked for last, and its shared copy. */
  private agentIn = '';
  private agentKept = '';
  private readonly bucketMs: number;
  private readonly windowMs: number;
  private readonly retainMs: number;
  private readonly cooldownMs: number;
  /** Cooldown of long-horizon alerts: one per source per longest horizon. */
  private readonly longCooldownMs: number;
  private readonly longestMs: number;
  /** Threshold rules whose window is longer than the short window, by id. */
  private readonly longThresholds = new Map<string, Rule>();

  constructor(
    private readonly config: DetectorConfig,
    private readonly onAlert: AlertListener = () => {},
    rules: readonly Rule[] = [],
    /** The source budget (tests lower it to reach it). */
    private readonly maxSources = MAX_SOURCES,
    /** Sources remembered for counting (tests lower it to reach it). */
    maxDistinct = MAX_DISTINCT_SOURCES,
  ) {
    this.bucketMs = config.bucketSeconds * 1000;
    this.windowMs = config.windowSeconds * 1000;
    this.retainMs = config.latenessSeconds * 1000;
    this.cooldownMs = config.cooldownSeconds * 1000;
    let longest: number = BEHAVIOUR_HORIZONS_MS[1];
    for (const h of config.horizons) longest = Math.max(longest, h.seconds * 1000);
    for (const r of rules) {
      if (r.threshold && r.threshold.windowSeconds > config.windowSeconds) {
        this.longThresholds.set(r.id, r);
        longest = Math.max(longest, longWindowMs(r.threshold.windowSeconds));
      }
    }
    this.longestMs = longest;
    this.longCooldownMs = Math.max(this.cooldownMs, longest);
    this.forgetFreshAfterMs = Math.max(FORM_CONTEXT_MS, this.windowMs) + this.retainMs;
    this.seen = new DistinctSources(maxDistinct);
  }

  /** Threshold rules with windows longer than the short window (decided on long horizons). */
  get longThresholdRules(): ReadonlyMap<string, Rule> {
    return this.longThresholds;
  }

  /** How far around a time the long horizons reach, and their cooldown. */
  get longestHorizonMs(): number {
    return this.longestMs;
  }

  /**
   * What the bounds did: clean sources forgotten to make room, requests of sources past the
   * budget, requests aggregated into an IPv6 prefix, sources counted past MAX_DISTINCT_SOURCES.
   */
  readonly bounds = { sourcesEvicted: 0, requestsUntracked: 0, requestsAggregated: 0, sourcesNotRemembered: 0 };
  /**
   * IPv6 /64 sources seen per /48, and /48s per /32, for aggregating floods, keyed by the
   * prefix's `sourceNumber` (a 52-bit hash: a number costs a fraction of the prefix's text).
   */
  private readonly perPrefix = new Map<number, number>();
  /** Set when the budget is full of suspicious sources: new sources are counted, not tracked. */
  private full = false;
  /** Every source seen, counted once however often it is forgotten and comes back. */
  private readonly seen: DistinctSources;
  /** Sources with nothing remarkable yet (`fresh`): the only ones the watermark sweep visits. */
  private readonly freshSources = new Set<SourceState>();
  /** The newest event time added (the event-time watermark). */
  private watermark = Number.NEGATIVE_INFINITY;
  /** Watermark at which the next sweep runs. */
  private nextSweepAt = Number.NEGATIVE_INFINITY;
  /** Watermark at which the next sweep of idle sources' windows runs. */
  private nextIdleSweepAt = Number.NEGATIVE_INFINITY;
  /**
   * A fresh source is forgotten this long after its last request, behind the watermark: the
   * longest look-back a clean source's facts serve (a form post reads the page and asset fetches
   * of the previous FORM_CONTEXT_MS), plus the lateness an out-of-order event may have.
   */
  readonly forgetFreshAfterMs: number;
  /** Set by tests to keep every source and bucket, to compare verdicts with forgetting. */
  keepEverything = false;
  /**
   * Idle sources are folded only while more than this many sources are held (see
   * FOLD_ABOVE_SOURCES). Tests set 0 to fold every idle source, or Infinity never to.
   */
  foldAboveSources = FOLD_ABOVE_SOURCES;
  /** Sources folded while idle (see `SourceState.fold`), and unfolded again (back, or decided). */
  readonly folding = { folded: 0, unfolded: 0 };
  /** What the watermark let go: sources (and their requests) forgotten while clean. */
  readonly forgotten = { sources: 0, requests: 0 };

  /**
   * The key a request is aggregated under. An IPv6 source is its /64; a /48 that has shown
   * MAX_SUBNETS_PER_PREFIX /64s already (an attacker rotating through its allocation) is
   * aggregated as one source, and likewise a /32 with that many /48s: one "distributed scan"
   * finding instead of tens of thousands, in bounded memory.
   */
  keyOf(key: string, clientIp: string): string {
    if (!key.endsWith('/64') || this.sources.has(key)) return key;
    // A /64 forgotten while clean is not a new subnet of its prefix when it comes back.
    if (this.seen.has(sourceNumber(key, -1))) return key;
    const p48 = ipv6Prefix(clientIp, 48);
    const p32 = ipv6Prefix(clientIp, 32);
    if (p48 === null || p32 === null) return key;
    if (this.sources.has(p32)) return this.aggregated(p32);
    if (this.sources.has(p48)) return this.aggregated(p48);
    // The prefix counts are bounded like the sources: past twice the source budget they start
    // over (a flood is then aggregated again after its next MAX_SUBNETS_PER_PREFIX subnets).
    if (this.perPrefix.size >= this.maxSources * 2) this.perPrefix.clear();
    const k48 = sourceNumber(p48, -1);
    const n48 = this.perPrefix.get(k48) ?? 0;
    if (n48 < MAX_SUBNETS_PER_PREFIX) {
      if (n48 === 0) {
        const k32 = sourceNumber(p32, -1);
        const n32 = this.perPrefix.get(k32) ?? 0;
        if (n32 >= MAX_SUBNETS_PER_PREFIX) return this.aggregated(p32);
        this.perPrefix.set(k32, n32 + 1);
      }
      this.perPrefix.set(k48, n48 + 1);
      return key;
    }
    return this.aggregated(p48);
  }

  /** How many prefixes are being counted for aggregation (bounded by twice the source budget). */
  get prefixesCounted(): number {
    return this.perPrefix.size;
  }

  private aggregated(prefix: string): string {
    this.bounds.requestsAggregated++;
    return prefix;
  }

  /**
   * The state of a source, created on first sight (`v4`: the address as a number, or -1), or
   * null past the source budget: then the request is only counted.
   */
  source(key: string, v4 = -1): SourceState | null {
    // A page and its assets come from one client in a row: the source of the line before is
    // compared first, an equality instead of a hash look-up.
    const last = this.lastSource;
    if (last !== null && (v4 >= 0 ? v4 === last.v4 : key === last.key)) return last;
    let s = v4 >= 0 ? this.byIPv4.get(v4) : this.sources.get(key);
    if (s === undefined) {
      s = this.sources.get(key);
      if (s === undefined) {
        if (this.sources.size >= this.maxSources && !this.makeRoom()) return null;
        s = new SourceState(detach(key), v4);
        // The detached copy as the key too: the caller's key may be a slice pinning its line.
        this.sources.set(s.key, s);
        this.freshSources.add(s);
        this.seen.add(sourceNumber(s.key, v4));
        this.bounds.sourcesNotRemembered = this.seen.overflow;
      }
      if (v4 >= 0) this.byIPv4.set(v4, s);
    }
    this.lastSource = s;
    return s;
  }

  /**
   * The shared copy of a user agent. Parsers hand the same string for an agent repeated line
   * after line, so this is mostly one identity test, and a source's last agent is then compared
   * with it by identity too, not character by character.
   */
  private keptAgent(ua: string): string {
    if (ua !== this.agentIn) {
      this.agentIn = ua;
      this.agentKept = this.shared.get(ua);
    }
    return this.agentKept;
  }

  /**
   * Frees the budget of sources that never did anything remarkable (no label, no window, no
   * alert): they are only counted. When that frees little, the budget is full of suspicious
   * sources and stays full: new sources are counted, not tracked, and the report says so.
   */
  private makeRoom(): boolean {
    if (this.full) return false;
    for (const s of this.sources.values()) {
      if (s.labelled || s.window !== null || s.folded || s.alert !== null) continue;
      this.drop(s);
      this.bounds.sourcesEvicted++;
    }
    if (this.sources.size > this.maxSources * 0.9) this.full = true;
    return this.sources.size < this.maxSources;
  }

  private drop(s: SourceState): void {
    if (s === this.lastSource) this.lastSource = null;
    this.sources.delete(s.key);
    if (s.v4 >= 0) this.byIPv4.delete(s.v4);
    this.freshSources.delete(s);
  }

  /** Different sources seen (tracked at some point), each counted once. */
  get distinctSources(): number {
    return this.seen.count;
  }

  /**
   * Forgets, behind the event-time watermark, what no later event can need. Every
   * SWEEP_STEP_MS of event time: fresh sources idle for `forgetFreshAfterMs`. Every window plus
   * lateness: the fine buckets of sources idle for that long (no window around a later event can
   * reach them); for sources idle past every horizon, their coarse buckets, and the sources
   * themselves when those buckets were all they had (error counts, no label, post or alert).
   */
  private sweep(): void {
    const at = this.watermark;
    this.nextSweepAt = at + SWEEP_STEP_MS;
    const cutoff = at - this.forgetFreshAfterMs;
    for (const s of this.freshSources) {
      if (s.lastSeen >= cutoff) continue;
      this.drop(s);
      this.forgotten.sources++;
      this.forgotten.requests += s.requests;
    }
    if (at < this.nextIdleSweepAt) return;
    const idleMs = this.windowMs + this.retainMs;
    this.nextIdleSweepAt = at + idleMs;
    const idle = at - idleMs;
    const expired = at - this.longestMs - this.retainMs;
    for (const s of this.sources.values()) {
      if (s.lastSeen >= idle) continue;
      if (s.folded) {
        if (s.lastSeen >= expired) continue;
        this.unfold(s);
      }
      const w = s.window;
      if (w === null) continue;
      w.releaseFine();
      if (s.lastSeen >= expired) {
        // Only its long horizons can still need it: the few hundred bytes of its folded form.
        this.fold(s);
        continue;
      }
      // Idle past every horizon: its pending long-horizon decision (which a later event could
      // no longer change) is taken before its coarse buckets go.
      if (w.longPending >= 0) {
        const pending = w.longPending;
        w.longPending = -1;
        this.evaluateLong(s, pending, w, w.longPendingFirst);
      }
      w.coarse.length = 0;
      if (!s.labelled && s.alert === null && !s.formPosts) {
        this.drop(s);
        this.forgotten.sources++;
        this.forgotten.requests += s.requests;
      } else this.fold(s);
    }
  }

  /**
   * Adds one classified request of a source (`v4`: its IPv4 value when it is one, else -1).
   * `form` is the kind of form endpoint a POST went to (null otherwise), `asset` whether a GET
   * fetched a page asset.
   */
  add(key: string, r: LogRecord, c: Classification, errorPath: string | null, v4 = -1, form: FormKind | null = null, asset = false): SourceState | null {
    const s = this.source(key, v4);
    if (s === null) {
      this.bounds.requestsUntracked++;
      return null;
    }
    if (s.folded) this.unfold(s);
    s.requests++;
    if (r.time < s.firstSeen) s.firstSeen = r.time;
    if (r.time > s.lastSeen) {
      s.lastSeen = r.time;
      if (r.time > this.watermark) {
        this.watermark = r.time;
        if (r.time >= this.nextSweepAt && !this.keepEverything) this.sweep();
      }
    }
    const status = r.status;
    if (status >= 400) s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    else {
      const i = status >= 100 ? Math.floor(status / 100) : 0;
      s.statusClasses[i] = (s.statusClasses[i] ?? 0) + 1;
    }
    let counters: readonly string[] = NO_COUNTERS;
    const m = r.method;
    if (m === 'GET' || m === 'POST') {
      if (s.agents === null || s.agents.length < MULTI_CLIENT_AGENTS) {
        const kept = this.keptAgent(r.userAgent);
        if (kept !== s.lastAgent) noteAgent(s, r.userAgent, kept);
      }
      if (asset) s.lastAssetAt = Math.max(s.lastAssetAt, r.time);
      else if (m === 'GET') {
        // Any page can hold a form (comment forms sit on every post), so any page fetch counts.
        if (status < 400) s.lastPageGetAt = Math.max(s.lastPageGetAt, r.time);
      } else if (form !== null) {
        s.formPosts = true;
        counters = this.postEvidence(s, r, form);
      }
    }
    if (c.labels.length === 0 && errorPath === null && counters.length === 0) return s;
    if (s.fresh) {
      s.fresh = false;
      this.freshSources.delete(s);
    }

    // Every threshold rule of the request counts (a scanner's request that also got a 401
    // counts towards both the scanner threshold and password guessing).
    let thresholdRules: Rule[] | null = null;
    let suspicious = false;
    for (const l of c.labels) {
      s.labels.set(l.category, (s.labels.get(l.category) ?? 0) + 1);
      if (!s.rulesSeen.has(l.rule.id)) s.rulesSeen.set(l.rule.id, l.rule);
      const prev = s.ruleOf.get(l.category);
      if (!prev || severityRank(l.rule.severity) > severityRank(prev.severity)) s.ruleOf.set(l.category, l.rule);
      if (l.rule.threshold) {
        if (thresholdRules === null) thresholdRules = [];
        thresholdRules.push(l.rule);
      }
      if (l.rule.class !== 'benign') suspicious = true;
    }
    if (suspicious && s.firstReferer === '' && r.referer !== '') s.firstReferer = keep(r.referer);
    if (s.samples.length < MAX_SAMPLES && (suspicious || s.samples.length < 3)) {
      s.samples.push(sample(s, r, c, this.shared));
    } else if (suspicious && s.samples.some((x) => !x.labels.some((cat) => s.ruleOf.get(cat)?.class !== 'benign'))) {
      // Evidence beats noise: replace a benign sample with a suspicious one.
      const i = s.samples.findIndex((x) => !x.labels.some((cat) => s.ruleOf.get(cat)?.class !== 'benign'));
      s.samples[i] = sample(s, r, c, this.shared);
    }
    s.score += c.score;
    if (!suspicious && errorPath === null && counters.length === 0) return s;

    if (!s.window) s.window = this.newWindow();
    if (thresholdRules !== null) counters = [...counters, ...new Set(thresholdRules.map(thresholdKey))];
    if (errorPath !== null) counters = counters.length ? [...counters, ERROR_COUNTER] : ERROR_ONLY;
    if (!s.window.add(r.time, c.score, errorPath, counters)) return s;
    this.markLong(s, r.time);

    if (c.immediate) {
      const sig = c.immediate.rule;
      if (!s.signature || severityRank(sig.severity) > severityRank(s.signature.rule.severity)) s.signature = { rule: sig, time: r.time };
      this.trigger(s, r.time, 'signature', sig, sig.severity);
    }
    for (const t of thresholdRules ?? []) {
      if (!t.threshold || this.longThresholds.has(t.id)) continue;
      const n = s.window.countAround(r.time, thresholdKey(t), t.threshold.windowSeconds * 1000);
      if (n >= t.threshold.count) this.trigger(s, r.time, 'threshold', t, t.severity);
    }
    // The exact peak needs set unions over a dozen windows; skip it when even the upper bound
    // can neither raise a recorded peak nor cross a threshold.
    const bound = s.window.boundAround(r.time);
    const canCross = bound.score >= this.config.scoreThreshold || bound.distinctPaths >= this.config.distinctErrorPaths;
    const coolingDown = s.alert !== null && Math.abs(r.time - s.alert.claim.lastAt) < this.cooldownMs;
    const canRaisePeak = bound.score > s.peakWindowScore || bound.distinctPaths > s.peakDistinctPaths;
    if (!canRaisePeak && (!canCross || coolingDown)) return s;
    const peak = s.window.peakAround(r.time);
    if (peak.score > s.peakWindowScore) s.peakWindowScore = peak.score;
    if (peak.distinctPaths > s.peakDistinctPaths) s.peakDistinctPaths = peak.distinctPaths;
    if (peak.distinctPaths >= this.config.distinctErrorPaths) {
      s.labels.set(ERROR_BURST_RULE.category, s.peakDistinctPaths);
      s.ruleOf.set(ERROR_BURST_RULE.category, ERROR_BURST_RULE);
      this.trigger(s, r.time, 'error-burst', ERROR_BURST_RULE, maxSeverity('medium', s.severity()));
    }
    if (peak.score >= this.config.scoreThreshold) this.trigger(s, r.time, 'score', null, maxSeverity('low', s.severity()));
    return s;
  }

  private postEvidence(s: SourceState, r: LogRecord, form: FormKind): readonly string[] {
    const since = r.time - s.lastPageGetAt;
    // Compared in the form it is kept in: a long target must equal itself on the next post.
    const full = r.query ? `${r.path}?${r.query}` : r.path;
    const target = full.length > MAX_KEPT_CHARS ? full.slice(0, MAX_KEPT_CHARS) : full;
    // Timing and page assets describe one client's flow. Behind a NAT several people interleave
    // (one fetches the form, another posts), so with several user agents only the agent counts.
    const oneClient = (s.agents?.length ?? 0) < MULTI_CLIENT_AGENTS;
    const evidence = {
      scriptedAgent: isScriptedAgent(r.userAgent),
      noFormOrFast: oneClient && !(since >= FAST_POST_MS && since <= FORM_CONTEXT_MS),
      noAssets: oneClient && !(r.time - s.lastAssetAt <= FORM_CONTEXT_MS),
      newEndpoint: oneClient && s.lastPostTarget !== '' && s.lastPostTarget !== target,
    };
    if (s.lastPostTarget !== target) s.lastPostTarget = keep(target);
    return postCounters(form, evidence, r.status);
  }

  /**
   * Long horizons are evaluated once per coarse bucket a source touched, when its activity moves
   * past that bucket or the scan ends (`finish`), not on every request: a 24-hour horizon is a
   * few hundred steps, which every request of a fast scanner could not afford.
   */
  private markLong(s: SourceState, time: number): void {
    const w = s.window as EventWindow;
    const cb = Math.floor(time / COARSE_BUCKET_MS) * COARSE_BUCKET_MS;
    const pending = w.longPending;
    if (pending === cb) {
      if (time < w.longPendingFirst) w.longPendingFirst = time;
      return;
    }
    if (pending >= 0 && cb > pending) {
      const first = w.longPendingFirst;
      w.longPending = cb;
      w.longPendingFirst = time;
      this.evaluateLong(s, pending, w, first);
    } else if (pending < 0) {
      w.longPending = cb;
      w.longPendingFirst = time;
    } else {
      // An out-of-order event in an earlier bucket: evaluate it now (its windows include the
      // pending bucket's data), and keep the later bucket pending.
      this.evaluateLong(s, cb, w, time);
    }
  }

  /**
   * Evaluates the pending long-horizon bucket of every source (at the end of a scan), or of the
   * sources given (the pipeline needs the decisions of the sources it writes only).
   */
  finish(only: Iterable<SourceState> = this.sources.values()): void {
    // Folded sources are read, one after another, into one window.
    const scratch = this.newWindow();
    for (const s of only) {
      // A folded source is decided on its window read from the folded form, and stays folded
      // unless the decision finds something: unfolding thousands of sources at the end of a scan
      // would cost, all at once, the memory folding saved.
      const w = s.folded ? s.foldedWindow(scratch) : s.window;
      if (w === null || w.longPending < 0) continue;
      const at = w.longPending;
      w.longPending = -1;
      const first = w.longPendingFirst;
      s.foldedDecided();
      this.evaluateLong(s, at, w, first);
    }
  }

  /** Gives a folded source its window and the rest back (see `SourceState.fold`). */
  private fold(s: SourceState): void {
    if (this.sources.size > this.foldAboveSources && s.fold()) this.folding.folded++;
  }

  private unfold(s: SourceState): void {
    if (!s.folded) return;
    s.unfold(this.newWindow());
    this.folding.unfolded++;
  }

  private newWindow(): EventWindow {
    return new EventWindow(this.bucketMs, this.windowMs, this.retainMs, this.longestMs);
  }

  /**
   * Decides the long horizons of a source around `at`, over its window `w` (read from the folded
   * form when the source is folded: it is unfolded only when something is found). An alert is
   * timed at `first`, the first event of the source in that coarse bucket.
   */
  private evaluateLong(s: SourceState, at: number, w: EventWindow, first: number): void {
    if (!this.mayCrossLong(w)) return;
    // Settled: nothing can be sent, but the report still names the behaviours found, which need
    // counts only (the distinct-path union is what makes a day-long sweep expensive).
    if (this.longSettled(s, at)) {
      // Only the labels: the hour's error count, and the day's form posts when there were any.
      behaviourLabels(s, peaksAround(w.coarse, at, false), s.severity(), s.formPosts);
      return;
    }
    const found = decideLong(s, this.config, this.longThresholds, peaksAround(w.coarse, at));
    // Labelled now, or about to alert: whatever reads it next reads all of it.
    if (found.length > 0) this.unfold(s);
    // Timed at an event of the source, not at the bucket's start (which may precede its first request).
    const when = Math.max(at, first);
    for (const f of found) this.trigger(s, when, f.trigger, f.rule, f.severity, f.horizon, this.longCooldownMs);
  }

  /**
   * True when no long-horizon decision could send anything: the source alerted within the long
   * cooldown already, at a severity no long trigger can exceed (a horizon or an error flood at
   * most the source's own severity or medium, a long threshold its rule's, form abuse high).
   * Persistent scanners spend most of their requests here, so their day-long sweeps are skipped.
   */
  private longSettled(s: SourceState, at: number): boolean {
    const claim = s.alert?.claim;
    if (!claim || Math.abs(at - claim.lastAt) >= this.longCooldownMs) return false;
    let ceiling = maxSeverity(s.severity(), 'medium');
    if (s.formPosts) ceiling = maxSeverity(ceiling, 'high');
    for (const r of this.longThresholds.values()) if (s.rulesSeen.has(r.id)) ceiling = maxSeverity(ceiling, r.severity);
    return severityRank(claim.severity) >= severityRank(ceiling);
  }

  /**
   * A cheap upper bound first: the sums over every coarse bucket kept. When even those cannot
   * reach a horizon's thresholds, and no behaviour or long threshold counter was added, no
   * window can, and the sweep is skipped (most sources with a few 404s end here).
   */
  private mayCrossLong(w: EventWindow): boolean {
    let score = 0;
    let paths = 0;
    let errors = 0;
    for (const b of w.coarse) {
      score += b.score;
      paths += b.paths?.length ?? 0;
      errors += b.errors;
      if (b.counts !== null) return true;
    }
    if (errors >= ERROR_FLOOD_PER_HOUR) return true;
    for (const h of this.config.horizons) if (score >= h.score || paths >= h.distinctErrorPaths) return true;
    return false;
  }

  private trigger(
    s: SourceState,
    at: number,
    trigger: Trigger,
    rule: Rule | null,
    severity: Severity,
    horizon: HorizonFacts | null = null,
    cooldownMs = this.cooldownMs,
  ): void {
    const claim = s.alert?.claim ?? null;
    const decision = decideClaim(claim, at, severity, cooldownMs);
    if (decision === 'cooldown') return;
    const next = applyClaim(claim, decision, at, severity) as AlertClaim;
    const peak = s.window?.peakAround(at) ?? { score: 0, distinctPaths: 0 };
    s.alert = {
      claim: next,
      firstAt: s.alert?.firstAt ?? at,
      trigger: s.alert && decision === 'escalate' && trigger === 'score' ? s.alert.trigger : trigger,
      rule: rule ?? s.alert?.rule ?? null,
      windowScore: peak.score,
      distinctPaths: peak.distinctPaths,
      horizon: horizon ?? s.alert?.horizon ?? null,
      cooldownMs,
    };
    this.onAlert(s, s.alert);
  }
}

/**
 * Sources tracked at once (per scan, and per object in the pipeline). A few hundred bytes each
 * when clean, a few KB when suspicious: this keeps a scan's memory well under 300 MB.
 */
export const MAX_SOURCES = 200_000;
/** Event time between two watermark sweeps of the fresh sources. */
export const SWEEP_STEP_MS = 60_000;
/** IPv6 /64s per /48 (and /48s per /32) before the prefix is aggregated as one source. */
export const MAX_SUBNETS_PER_PREFIX = 256;

/** Behaviour decisions read these two horizons: 1 h and 24 h. */
export const BEHAVIOUR_HORIZONS_MS = [3_600_000, 86_400_000] as const;
/** This many different user agents on pages and forms of one source: several people (a NAT). */
export const MULTI_CLIENT_AGENTS = 3;

function noteAgent(s: SourceState, ua: string, kept: string): void {
  s.lastAgent = kept;
  const h = pathHashNumber(ua);
  if (s.agents === null) s.agents = [h];
  else if (!s.agents.includes(h)) s.agents.push(h);
}

const NO_COUNTERS: readonly string[] = [];
const ERROR_ONLY: readonly string[] = [ERROR_COUNTER];

/** The counter a threshold rule's matches go to: its id, or its category's with `per: category`. */
export function thresholdKey(r: Rule): string {
  return r.threshold?.per === 'category' ? `cat:${r.category}` : r.id;
}

/** A long threshold rule's window, rounded up to whole coarse buckets. */
export function longWindowMs(seconds: number): number {
  return Math.ceil((seconds * 1000) / COARSE_BUCKET_MS) * COARSE_BUCKET_MS;
}

/** One long-horizon decision. */
export interface LongFinding {
  trigger: Trigger;
  rule: Rule | null;
  severity: Severity;
  horizon: HorizonFacts;
}

/**
 * The long-horizon decision, shared by the CLI and the pipeline: horizons (score, distinct error
 * paths), threshold rules with long windows, and form-abuse behaviour. `peakOf(ms)` gives the
 * best values over the windows of that length around the time being decided. Labels for the
 * behaviours found are added to the source so the report names them.
 */
export function decideLong(s: SourceState, config: DetectorConfig, longThresholds: ReadonlyMap<string, Rule>, peakOf: (ms: number) => LongPeak): LongFinding[] {
  const out: LongFinding[] = [];
  const base = s.severity();
  for (const h of config.horizons) {
    const p = peakOf(h.seconds * 1000);
    const facts = { seconds: h.seconds, score: p.score, distinctPaths: p.distinctPaths };
    if (p.distinctPaths >= h.distinctErrorPaths)
      out.push({ trigger: 'horizon', rule: ERROR_BURST_RULE, severity: maxSeverity('medium', base), horizon: facts });
    else if (p.score >= h.score) out.push({ trigger: 'horizon', rule: null, severity: maxSeverity('low', base), horizon: facts });
  }
  const keys = new Set<string>();
  for (const r of longThresholds.values()) {
    const key = thresholdKey(r);
    if (!r.threshold || keys.has(key)) continue;
    keys.add(key);
    const p = peakOf(longWindowMs(r.threshold.windowSeconds));
    const n = p.counts.get(key) ?? 0;
    if (n >= r.threshold.count) {
      out.push({
        trigger: 'threshold',
        rule: r,
        severity: r.severity,
        horizon: { seconds: r.threshold.windowSeconds, score: p.score, distinctPaths: p.distinctPaths },
      });
    }
  }
  out.push(...behaviourLabels(s, peakOf, base, true));
  // The strongest first, so the claim records it (escalation lets a stronger one through once).
  return out.sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
}

/**
 * The error-flood and form-behaviour part of `decideLong`: labels the source with what it found
 * (the report names them) and returns the findings. `posted`: the source may hold form-post
 * counters; when it cannot, the day-long sweep they need is skipped (it finds nothing).
 */
export function behaviourLabels(s: SourceState, peakOf: (ms: number) => LongPeak, base: Severity, posted: boolean): LongFinding[] {
  const out: LongFinding[] = [];
  const hour = peakOf(BEHAVIOUR_HORIZONS_MS[0]);
  const errors = hour.counts.get(ERROR_COUNTER) ?? 0;
  if (errors >= ERROR_FLOOD_PER_HOUR) {
    if ((s.labels.get(ERROR_FLOOD_RULE.category) ?? 0) < errors) s.labels.set(ERROR_FLOOD_RULE.category, errors);
    s.ruleOf.set(ERROR_FLOOD_RULE.category, ERROR_FLOOD_RULE);
    s.rulesSeen.set(ERROR_FLOOD_RULE.id, ERROR_FLOOD_RULE);
    out.push({
      trigger: 'horizon',
      rule: ERROR_FLOOD_RULE,
      severity: maxSeverity('low', base),
      horizon: { seconds: 3600, score: hour.score, distinctPaths: hour.distinctPaths, why: `${errors} error responses within 1 h` },
    });
  }
  if (!posted) return out;
  const day = peakOf(BEHAVIOUR_HORIZONS_MS[1]);
  for (const f of behaviourFindings(hour, day)) {
    const c = f.rule.category;
    if ((s.labels.get(c) ?? 0) < f.posts) s.labels.set(c, f.posts);
    s.ruleOf.set(c, f.rule);
    s.rulesSeen.set(f.rule.id, f.rule);
    out.push({
      trigger: 'behaviour',
      rule: f.rule,
      severity: f.rule.severity,
      horizon: { seconds: 86_400, score: day.score, distinctPaths: day.distinctPaths, why: f.why },
    });
  }
  return out;
}
