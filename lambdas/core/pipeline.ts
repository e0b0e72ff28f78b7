import {
  type AlertState,
  ERROR_BURST_RULE,
  ERROR_COUNTER,
  ERROR_FLOOD_RULE,
  type HorizonFacts,
  MAX_SAMPLES,
  type SampleRequest,
  SourceState,
  type Trigger,
  decideLong,
  thresholdKey,
} from './aggregate.js';
import { alertIdOf, buildAlertMessage } from './alert-message.js';
import { BEHAVIOUR_RULE_LIST } from './behaviour.js';
import type { DetectorConfig } from './config.js';
import { decideClaim, maxSeverity, severityRank } from './decide.js';
import { ProbeWatchError } from './errors.js';
import {
  type AlertPublisher,
  type AlertRecord,
  type ClaimRequest,
  type LineSource,
  MAX_REMEMBERED_ALERTS,
  type MergedSourceState,
  type ObjectRef,
  type SourceDelta,
  type StateStore,
  type StoredBucket,
  objectId,
  objectMarker,
  rememberedKey,
} from './ports.js';
import { alertReport } from './report.js';
import type { Classifier } from './rules/engine.js';
import type { Rule, Severity } from './rules/types.js';
import { Detector, classifierFor } from './scan.js';
import {
  type Bucket,
  COARSE_BUCKET_MS,
  type CoarseBucket,
  EventWindow,
  type LongPeak,
  coarsen,
  firstStartAbove,
  longCrossing,
  pathHash,
  peaksAround,
} from './window.js';

/** What happened to one object. */
export interface ObjectOutcome {
  objectId: string;
  status: 'processed' | 'already-processed' | 'not-a-log';
  reason?: string;
  format: string;
  lines: number;
  parsed: number;
  skipped: Record<string, number>;
  hint?: string;
  sourcesFlagged: number;
  alertsPublished: number;
  /** Alerts whose evidence was cut to fit the publisher's size limit. */
  alertsShortened: number;
  /**
   * Alerts of this batch its claims forgot before the batch ended (a source with more than
   * {@link MAX_REMEMBERED_ALERTS} alerts in one batch): a retry of their objects may repeat them.
   */
  alertsForgotten?: number;
  /**
   * State writes: one per source per hour item per batch, counted on the first object of the
   * batch that touched the source (the objects of a batch share their writes).
   */
  stateWrites: number;
}

/** Everything the use case needs besides the objects themselves. */
export interface BatchDeps {
  store: StateStore;
  publisher: AlertPublisher;
  config: DetectorConfig;
  environment: string;
  /** Wall-clock seconds at invocation, for TTLs only (decisions use event time). */
  nowSec: number;
  /** Wall clock in ms, read when an alert is claimed (its `publishedAt`). @default nowSec */
  now?: () => number;
  /** How many sources are written concurrently. */
  concurrency?: number;
  /**
   * Milliseconds the run has left before it is stopped (the Lambda context's remaining time).
   * Once fewer than {@link FINISH_RESERVE_MS} remain, no more sources are written and no more
   * alerts claimed: the objects left unfinished fail with {@link OutOfTimeError}, and the rest of
   * the batch is reported. @default no limit
   */
  remainingMs?: () => number;
  /** How many objects of a batch are read and scanned at once. @default {@link OBJECTS_IN_PARALLEL} */
  objectConcurrency?: number;
  /**
   * Wall-clock epoch seconds until which this run may still publish (its deadline). Its claims
   * are leased until then. @default nowSec + {@link DEFAULT_LEASE_SECONDS}
   */
  leaseUntil?: number;
  /**
   * Runs one publish-then-record step. The handler passes one lock for everything it works on
   * at once, so a crash interrupts at most one alert between publishing and recording it.
   * @default runs the step directly (a batch publishes one alert at a time anyway)
   */
  exclusive?: <T>(step: () => Promise<T>) => Promise<T>;
}

/** Everything processing one object needs: a batch of one. */
export interface PipelineDeps extends BatchDeps {
  format?: string;
  /** A token unique to this run of this object: the owner of the alert claims it takes. */
  owner: string;
}

/** One object of a batch. */
export interface BatchObject {
  ref: ObjectRef;
  lines: LineSource;
  format?: string;
  /** A token unique to this run of this object: the owner of the alert claims it takes. */
  owner: string;
}

/** What happened to one object of a batch: an outcome, or the error that fails its message alone. */
export type BatchResult = { ok: true; outcome: ObjectOutcome } | { ok: false; error: unknown };

/** Objects of a batch read and scanned at once: each streams in constant memory. */
export const OBJECTS_IN_PARALLEL = 4;

/** Lambda's longest timeout: a run cannot publish after this, so a claim leased this long is safe. */
export const DEFAULT_LEASE_SECONDS = 900;

/**
 * Time a run keeps to report its batch (mark objects done, return which failed, flush metrics)
 * once it stops starting work: stopped by its timeout instead, it would report nothing, and every
 * object of the batch would be received again.
 */
export const FINISH_RESERVE_MS = 10_000;

/**
 * An object whose batch ran out of time before all its flagged sources were written or all its
 * alerts claimed. Retried, it counts nothing twice and sends no alert already sent.
 */
export class OutOfTimeError extends ProbeWatchError {
  constructor(readonly left: { sources: number; alerts: number }) {
    super(
      `the batch ran out of time with ${left.sources} of this object's flagged sources not yet written and ${left.alerts} of its alerts not yet claimed; the object is retried (nothing written counts twice, no alert sent goes out again)`,
    );
  }
}

/** Raised after an object's other work is done when another live run holds one of its alert claims. */
export class ClaimBusyError extends ProbeWatchError {
  constructor(readonly sources: string[]) {
    super(
      `another run of this object holds the alert claim of ${sources.length} source(s) (${sources.slice(0, 3).join(', ')}); the object is retried so the alert is neither lost nor sent twice`,
    );
  }
}

export { pathHash };

const MAX_SAMPLES_PER_OBJECT = 3;
const MIN_ERROR_PATHS_TO_STORE = 3;
/** Error responses in one object that may be the start of an error flood later objects complete. */
const MIN_ERRORS_TO_STORE = 20;

/**
 * Only sources worth remembering cost a write: any non-benign label, or several distinct
 * error paths (the start of an error burst that later objects may complete).
 */
function isFlagged(s: SourceState): boolean {
  if (s.suspiciousCategories().length > 0) return true;
  let paths = 0;
  let errors = 0;
  for (const b of s.window?.buckets ?? []) {
    paths += b.paths?.size ?? 0;
    errors += b.errors;
    if (!b.counts) continue;
    // A form post counts across objects and hours (form abuse is decided on long horizons).
    for (const k of b.counts.keys()) if (k.startsWith('~post:')) return true;
  }
  return paths >= MIN_ERROR_PATHS_TO_STORE || errors >= MIN_ERRORS_TO_STORE;
}

/** Longest request line and user agent kept in a stored sample (the alert escapes and cuts them again). */
export const SAMPLE_FIELD_MAX_CHARS = 160;

function sampleOf(x: SampleRequest): string {
  const cut = (v: string) => (v.length > SAMPLE_FIELD_MAX_CHARS ? `${v.slice(0, SAMPLE_FIELD_MAX_CHARS - 1)}…` : v);
  return JSON.stringify({ t: x.time, r: cut(x.request), s: x.status, u: cut(x.userAgent), l: x.labels });
}

/** The part of one source's state that one object contributes. */
export function toDelta(s: SourceState, id: string): SourceDelta {
  const labels: Record<string, number> = {};
  for (const [c, n] of s.labels) if (c !== ERROR_BURST_RULE.category) labels[c] = n;
  const suspicious = s.samples.filter((x) => x.labels.some((c) => s.ruleOf.get(c)?.class !== 'benign'));
  return {
    source: s.key,
    objectId: id,
    requests: s.requests,
    score: s.score,
    firstSeen: s.firstSeen,
    lastSeen: s.lastSeen,
    labels,
    statuses: s.statusCounts(),
    rules: [...s.rulesSeen.keys()],
    buckets: (s.window?.buckets ?? []).map((b) => ({
      start: b.start,
      score: b.score,
      paths: [...(b.paths ?? [])].map(pathHash),
      counts: b.errors ? { ...Object.fromEntries(b.counts ?? []), [ERROR_COUNTER]: b.errors } : Object.fromEntries(b.counts ?? []),
    })),
    samples: (suspicious.length ? suspicious : s.samples).slice(0, MAX_SAMPLES_PER_OBJECT).map(sampleOf),
    referer: s.firstReferer,
  };
}

/** An alert decision on merged state. */
export interface MergedDecision {
  trigger: Trigger;
  rule: Rule | null;
  /** Event time the claim is taken at (the cooldown is measured from it). */
  at: number;
  /**
   * Event time of the first trigger (the alert's `triggeredAt`), when it is earlier than `at`: the
   * object's own decision escalated or alerted again after a cooldown, as the CLI reports it.
   */
  firstAt?: number;
  severity: Severity;
  windowScore: number;
  distinctPaths: number;
  /** Set when a long horizon or a behaviour decided it. */
  horizon: HorizonFacts | null;
  /** The cooldown this alert claims (long-horizon alerts: the longest horizon). */
  cooldownMs: number;
  /**
   * Where it ranks among the decisions of the source's other objects in a batch, with
   * {@link TRIGGER_ORDER} on a tie: the bucket it was decided in (decisions on merged buckets cannot
   * be told apart more finely), or its exact time when the object was decided alone. @default at
   */
  rankAt?: number;
  /**
   * Labels the long-horizon decision derived from counters (form behaviours, error floods),
   * which are not stored: the alert lists them as the CLI's report does, whichever trigger won.
   */
  derived?: readonly DerivedLabel[];
}

/** A label derived from counters when deciding (a form behaviour, an error flood): never stored. */
export interface DerivedLabel {
  category: string;
  count: number;
  rule: Rule;
}

/** An object's own alert, as its scan decided it, with the labels deciding derived. */
export type LocalAlert = AlertState & { derived?: readonly DerivedLabel[] };

/** The labels of `s` its stored labels do not hold: those deciding derived from counters. */
function derivedLabels(ruleOf: ReadonlyMap<string, Rule>, labels: ReadonlyMap<string, number>, stored: Readonly<Record<string, number>>): DerivedLabel[] {
  const out: DerivedLabel[] = [];
  for (const [category, rule] of ruleOf) {
    if (stored[category] === undefined && category !== ERROR_BURST_RULE.category) out.push({ category, count: labels.get(category) ?? 1, rule });
  }
  return out;
}

/** What the merged decision needs to know besides the state: the rules and the horizons. */
export interface DecisionContext {
  rulesById: ReadonlyMap<string, Rule>;
  longThresholds: ReadonlyMap<string, Rule>;
  /** The longest horizon (and the cooldown of long-horizon alerts). */
  longestMs: number;
}

function windowOf(buckets: readonly StoredBucket[], config: DetectorConfig): EventWindow {
  const w = new EventWindow(config.bucketSeconds * 1000, config.windowSeconds * 1000, Number.POSITIVE_INFINITY);
  const sorted = [...buckets].sort((a, b) => a.start - b.start);
  for (const b of sorted) {
    const bucket: Bucket = {
      start: b.start,
      score: b.score,
      paths: b.paths.length ? new Set(b.paths) : null,
      counts: null,
      errors: b.counts[ERROR_COUNTER] ?? 0,
    };
    const entries = Object.entries(b.counts).filter(([k]) => k !== ERROR_COUNTER);
    if (entries.length) bucket.counts = new Map(entries);
    w.buckets.push(bucket);
  }
  return w;
}

function severityOf(rules: readonly Rule[]): Severity {
  let s: Severity = 'info';
  for (const r of rules) if (r.class !== 'benign') s = maxSeverity(s, r.severity);
  return s;
}

/**
 * What every decision on one merged state reads, built once per source and batch however many
 * of its objects the batch holds: its short window, its coarse buckets and the long-horizon peaks
 * around each coarse bucket already looked at, its severity and threshold rules. Decisions only
 * read it; the state the long horizons decide on is rebuilt for each delta, since deciding labels it.
 */
export interface MergedView {
  window: EventWindow;
  coarse: CoarseBucket[];
  severity: Severity;
  thresholdRules: Rule[];
  peaksAt: Map<number, (lengthMs: number) => LongPeak>;
}

export function mergedView(merged: MergedSourceState, ctx: DecisionContext, config: DetectorConfig): MergedView {
  const seen = merged.rules.map((id) => ctx.rulesById.get(id)).filter((r): r is Rule => r !== undefined);
  return {
    window: windowOf(merged.buckets, config),
    coarse: coarsen(merged.buckets),
    severity: severityOf(seen),
    thresholdRules: seen.filter((r) => r.threshold),
    peaksAt: new Map(),
  };
}

/**
 * How the CLI orders triggers taken at the same moment: the long horizons of the coarse bucket a
 * request leaves first, then, within one request, a signature, a rule threshold, an error burst,
 * the score (the first one claims; a later one of the same severity is in its cooldown).
 */
const TRIGGER_ORDER: Readonly<Record<Trigger, number>> = { horizon: 0, behaviour: 0, signature: 1, threshold: 2, 'error-burst': 3, score: 4 };

/** The order the CLI would take two decisions in: by time (see `rankAt`), then by kind. */
function byRank(a: MergedDecision, b: MergedDecision): number {
  return (a.rankAt ?? a.at) - (b.rankAt ?? b.at) || TRIGGER_ORDER[a.trigger] - TRIGGER_ORDER[b.trigger];
}

/** Start of the first bucket in [from, to) of buckets sorted by start, or `from` when there is none. */
function firstBucketFrom(buckets: readonly { start: number }[], from: number, to: number): number {
  // Starts are whole milliseconds: the first above from - 1 is the first at or after from.
  const b = buckets[firstStartAbove(buckets, from - 1)];
  return b !== undefined && b.start < to ? b.start : from;
}

/** True when the merged state holds nothing but this object's evidence (however often it was applied). */
function onlyObject(merged: MergedSourceState, id: string): boolean {
  if (merged.objects.length === 0) return true;
  const marker = objectMarker(id);
  return merged.objects.every((o) => o === marker || o === id);
}

/**
 * Decides on a source's merged state (every object so far), looking at the windows around the
 * times this object added. Deltas of one source in one batch share its `view`.
 *
 * When the merged state holds only this object's evidence, the decision is `local`, the one the
 * object's own scan took request by request: exactly the CLI's on that object (trigger, rule,
 * severity, time). Otherwise it is taken on the merged 10-second buckets, where the order of the
 * requests inside a bucket is gone: each trigger is timed at the start of the bucket in which a
 * window first crossed its threshold (never before the source's first request nor after its
 * last), the strongest trigger wins, on a tie the earliest, and triggers of one bucket rank as the
 * CLI ranks them within one request. Order-independent: the same set of objects gives the same
 * merged decision whatever order they arrived in.
 */
export function decideMerged(
  merged: MergedSourceState,
  delta: SourceDelta,
  signature: SourceState['signature'],
  ctx: DecisionContext,
  config: DetectorConfig,
  view: MergedView = mergedView(merged, ctx, config),
  local?: LocalAlert | null,
): MergedDecision | null {
  const shortCooldown = config.cooldownSeconds * 1000;
  const longCooldown = Math.max(shortCooldown, ctx.longestMs);
  const { window: w, severity: sev, thresholdRules } = view;
  const deltaBuckets = [...delta.buckets].sort((x, y) => x.start - y.start);
  let best = { score: 0, distinctPaths: 0 };
  for (const b of deltaBuckets) {
    const peak = w.peakAround(b.start);
    if (peak.score > best.score) best = { ...best, score: peak.score };
    if (peak.distinctPaths > best.distinctPaths) best = { ...best, distinctPaths: peak.distinctPaths };
  }
  // Within [firstSeen, lastSeen]: a bucket or coarse bucket may start before the first request.
  const within = (t: number) => Math.min(Math.max(t, merged.firstSeen), merged.lastSeen);
  if (local !== undefined && onlyObject(merged, delta.objectId)) {
    if (local === null) return null;
    return {
      trigger: local.trigger,
      rule: local.rule,
      at: within(local.claim.lastAt),
      firstAt: within(local.firstAt),
      severity: local.claim.severity,
      windowScore: Math.max(local.windowScore, best.score),
      distinctPaths: Math.max(local.distinctPaths, best.distinctPaths),
      horizon: local.horizon,
      cooldownMs: local.cooldownMs ?? shortCooldown,
      ...(local.derived?.length ? { derived: local.derived } : {}),
    };
  }
  const candidates: MergedDecision[] = [];
  const bucketMs = config.bucketSeconds * 1000;
  const short = (trigger: Trigger, rule: Rule | null, crossedAt: number, severity: Severity) => {
    const peak = w.peakAround(crossedAt);
    candidates.push({
      trigger,
      rule,
      at: within(crossedAt),
      severity,
      windowScore: peak.score,
      distinctPaths: peak.distinctPaths,
      horizon: null,
      cooldownMs: shortCooldown,
    });
  };
  // The first crossing around a later bucket is never earlier than around an earlier one (a window
  // containing both crosses first for both), and a trigger's severity is the same at any time: the
  // earliest crossing of each trigger is all the decision can use.
  const found = new Set<string>();
  for (const b of deltaBuckets) {
    const bound = w.boundAround(b.start);
    if (!found.has('error-burst') && bound.distinctPaths >= config.distinctErrorPaths) {
      const crossed = w.pathsCrossingAround(b.start, config.distinctErrorPaths);
      if (crossed !== null) {
        found.add('error-burst');
        short('error-burst', ERROR_BURST_RULE, crossed, maxSeverity('medium', sev));
      }
    }
    if (!found.has('score') && bound.score >= config.scoreThreshold) {
      const crossed = w.scoreCrossingAround(b.start, config.scoreThreshold);
      if (crossed !== null) {
        found.add('score');
        short('score', null, crossed, maxSeverity('low', sev));
      }
    }
    for (const r of thresholdRules) {
      if (found.has(`rule:${r.id}`) || !b.counts[thresholdKey(r)] || !r.threshold || ctx.longThresholds.has(r.id)) continue;
      const crossed = w.countCrossingAround(b.start, thresholdKey(r), r.threshold.windowSeconds * 1000, r.threshold.count);
      if (crossed !== null) {
        found.add(`rule:${r.id}`);
        short('threshold', r, crossed, r.severity);
      }
    }
  }
  // Long horizons: the same decision the CLI takes, once per coarse bucket this object touched.
  // A state of its own: the long-horizon decision adds behaviour labels to the state it is given.
  const base = baseState(merged, ctx.rulesById);
  const touched = [...new Set(deltaBuckets.map((b) => Math.floor(b.start / COARSE_BUCKET_MS) * COARSE_BUCKET_MS))].sort((a, b) => a - b);
  // The CLI takes a long-horizon decision once the source's activity has left the coarse bucket,
  // so a short trigger inside that bucket comes first there: order them the same way here.
  const longDecided = new Set<MergedDecision>();
  for (const at of touched) {
    let peaks = view.peaksAt.get(at);
    if (peaks === undefined) {
      peaks = peaksAround(view.coarse, at);
      view.peaksAt.set(at, peaks);
    }
    for (const f of decideLong(base, config, ctx.longThresholds, peaks)) {
      // A horizon's score or distinct paths: timed at the coarse bucket where a window containing
      // this one first crossed (the windows around `at` may end hours later). Then, as the CLI
      // times it, at the source's first 10-second bucket there, not at the coarse bucket's start,
      // when the source may have sent nothing. Behaviours and long thresholds: at this bucket.
      let crossedIn = at;
      const h = f.trigger === 'horizon' && f.horizon ? config.horizons.find((x) => x.seconds === f.horizon?.seconds) : undefined;
      if (h) {
        const paths = f.rule === ERROR_BURST_RULE;
        crossedIn =
          longCrossing(
            view.coarse,
            at,
            h.seconds * 1000,
            paths ? Number.POSITIVE_INFINITY : h.score,
            paths ? h.distinctErrorPaths : Number.POSITIVE_INFINITY,
          ) ?? at;
      }
      const first = firstBucketFrom(w.buckets, crossedIn, crossedIn + COARSE_BUCKET_MS);
      const peak = w.peakAround(at);
      const c: MergedDecision = {
        trigger: f.trigger,
        rule: f.rule,
        at: within(first),
        severity: f.severity,
        windowScore: peak.score,
        distinctPaths: peak.distinctPaths,
        horizon: f.horizon,
        cooldownMs: longCooldown,
      };
      longDecided.add(c);
      candidates.push(c);
    }
  }
  if (signature) {
    candidates.push({
      trigger: 'signature',
      rule: signature.rule,
      at: within(signature.time),
      severity: signature.rule.severity,
      windowScore: best.score,
      distinctPaths: best.distinctPaths,
      horizon: null,
      cooldownMs: shortCooldown,
    });
  }
  if (candidates.length === 0) return null;
  // Ranked by the bucket they were decided in: a signature's exact time and the start of the
  // bucket a window crossed in cannot be compared more finely (one request can do both).
  for (const c of candidates) {
    c.rankAt = longDecided.has(c) ? Math.floor(c.at / COARSE_BUCKET_MS) * COARSE_BUCKET_MS + COARSE_BUCKET_MS : Math.floor(c.at / bucketMs) * bucketMs;
  }
  candidates.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || byRank(a, b));
  const pick = candidates[0] as MergedDecision;
  const derived = derivedLabels(base.ruleOf, base.labels, merged.labels);
  return {
    ...pick,
    windowScore: Math.max(pick.windowScore, best.score),
    distinctPaths: Math.max(pick.distinctPaths, best.distinctPaths),
    ...(derived.length ? { derived } : {}),
  };
}

/** Rebuilds a SourceState from merged stored state, so alerts reuse the report's wording. */
export function stateFromMerged(
  m: MergedSourceState,
  decision: MergedDecision,
  rulesById: ReadonlyMap<string, Rule>,
  /** The configuration's `distinctErrorPaths`: a window that held as many is an error burst, as the CLI labels it. */
  distinctErrorPaths: number,
  /**
   * The samples the objects of the deciding batch passed along for the source (`SourceDelta.samples`,
   * whole), the deciding object's first: stored, an hour keeps only its first one, cut (see
   * `MAX_SAMPLES_PER_ITEM`).
   */
  batchSamples: readonly string[] = [],
): SourceState {
  const s = baseState(m, rulesById);
  // Behaviour and error-flood labels are derived from counters, not stored: those the decision
  // found (with the CLI's counts), and the one that decided if it is not among them.
  for (const d of decision.derived ?? []) {
    if (s.labels.has(d.category)) continue;
    s.labels.set(d.category, d.count);
    s.ruleOf.set(d.category, d.rule);
  }
  if (decision.rule && (decision.trigger === 'behaviour' || decision.rule === ERROR_FLOOD_RULE) && !s.labels.has(decision.rule.category)) {
    s.labels.set(decision.rule.category, 1);
    s.ruleOf.set(decision.rule.category, decision.rule);
  }
  return withAlert(s, m, decision, distinctErrorPaths, batchSamples);
}

/** A SourceState holding merged totals, labels and rules (no window, no alert). */
function baseState(m: MergedSourceState, rulesById: ReadonlyMap<string, Rule>): SourceState {
  const s = new SourceState(m.source);
  s.requests = m.requests;
  s.score = m.score;
  s.firstSeen = m.firstSeen;
  s.lastSeen = m.lastSeen;
  for (const [c, n] of Object.entries(m.labels)) s.labels.set(c, n);
  for (const id of m.rules) {
    const r = rulesById.get(id);
    if (!r) continue;
    s.rulesSeen.set(id, r);
    const prev = s.ruleOf.get(r.category);
    if (!prev || severityRank(r.severity) > severityRank(prev.severity)) s.ruleOf.set(r.category, r);
  }
  s.addStatusCounts(m.statuses);
  return s;
}

function parseSamples(list: readonly string[]): SampleRequest[] {
  return list
    .map((j) => {
      try {
        const x = JSON.parse(j) as { t: number; r: string; s: number; u: string; l: string[] };
        return { time: x.t, request: x.r, status: x.s, userAgent: x.u, labels: x.l };
      } catch {
        return null;
      }
    })
    .filter((x): x is SampleRequest => x !== null);
}

/** A stored sample is `whole` as the store keeps it: the same request at the same time, its text cut. */
function keptFormOf(stored: SampleRequest, whole: SampleRequest): boolean {
  if (stored.time !== whole.time || stored.status !== whole.status) return false;
  const r = stored.request;
  return r === whole.request || (r.endsWith('…') && whole.request.startsWith(r.slice(0, -1)));
}

/**
 * The alert's sample requests (at most MAX_SAMPLES, in time order): the batch's own first, whole,
 * in the order given (the deciding object's before the other objects'), for they show what crossed
 * the threshold; then what the hour items keep, the most recent first, less the stored copies of
 * the batch's own (pure; exported for tests).
 */
export function alertSamples(stored: readonly string[], batch: readonly string[]): SampleRequest[] {
  const own = [...new Map(parseSamples(batch).map((x) => [`${x.time}\n${x.status}\n${x.request}`, x])).values()].slice(0, MAX_SAMPLES);
  const kept = parseSamples(stored)
    .filter((x) => !own.some((o) => keptFormOf(x, o)))
    .sort((a, b) => b.time - a.time)
    .slice(0, MAX_SAMPLES - own.length);
  return [...own, ...kept].sort((a, b) => a.time - b.time);
}

function withAlert(s: SourceState, m: MergedSourceState, decision: MergedDecision, distinctErrorPaths: number, batchSamples: readonly string[]): SourceState {
  s.peakWindowScore = decision.windowScore;
  s.peakDistinctPaths = decision.distinctPaths;
  // Whatever triggered the alert (a score often crosses first), a window that held the error
  // burst's distinct missing paths is one, as the CLI labels it.
  if (decision.distinctPaths >= 1 && (decision.trigger === 'error-burst' || decision.distinctPaths >= distinctErrorPaths || s.labels.has('error-burst'))) {
    s.labels.set(ERROR_BURST_RULE.category, decision.distinctPaths);
    s.ruleOf.set(ERROR_BURST_RULE.category, ERROR_BURST_RULE);
  }
  s.samples.push(...alertSamples(m.samples, batchSamples));
  s.firstReferer = m.referer;
  const alert: AlertState = {
    claim: { lastAt: decision.at, severity: decision.severity, count: 1 },
    firstAt: decision.firstAt ?? decision.at,
    trigger: decision.trigger,
    rule: decision.rule,
    windowScore: decision.windowScore,
    distinctPaths: decision.distinctPaths,
    horizon: decision.horizon,
  };
  s.alert = alert;
  return s;
}

/** True when an existing live claim certainly refuses this decision (mirrors the store's condition). */
export function claimWouldFail(claim: NonNullable<MergedSourceState['claim']>, d: MergedDecision, objectId: string, cooldownMs: number): boolean {
  // Stores may keep the claim's object as its marker (object ids reach 1 KB).
  if (claim.status === 'pending' && (claim.objectId === objectId || claim.objectId === objectMarker(objectId))) return false;
  return decideClaim({ lastAt: claim.lastAt, severity: claim.severity, count: 1 }, d.at, d.severity, cooldownMs) === 'cooldown';
}

/**
 * Runs `work` over `items` in order, `limit` at a time, and returns how many it started: none
 * starts once `stop()` says so. After a failure no new item starts, but work in flight is awaited
 * before the error is raised, so nothing of this run is still writing when the retry of the
 * object starts.
 */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, stop: () => boolean = () => false): Promise<number> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && failure === null && !stop()) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  });
  await Promise.all(runners);
  if (failure !== null) throw (failure as { error: unknown }).error;
  return next;
}

/** What scanning one object left for the batch's write step. */
interface Scanned {
  outcome: ObjectOutcome;
  owner: string;
  /** Flagged sources only: their deltas, strongest signatures and the object's own decisions. */
  flagged: { delta: SourceDelta; signature: SourceState['signature']; local: LocalAlert | null }[];
  ctx: DecisionContext;
  rulesById: ReadonlyMap<string, Rule>;
}

/**
 * One classifier per configuration object, shared by every object scanned with it, in this
 * batch and the next ones while the configuration stays the same: compiling the rules costs
 * more than scanning a small object, and request lines repeat from object to object. The
 * fields the classifier is built from are compared too, in case an object is changed in place.
 */
const classifiers = new WeakMap<DetectorConfig, { from: string; classifier: Classifier }>();

export function sharedClassifier(config: DetectorConfig): Classifier {
  const from = JSON.stringify([config.rules, config.disableRules, config.knownRoutes, config.allowlist]);
  const known = classifiers.get(config);
  if (known?.from === from) return known.classifier;
  const classifier = classifierFor(config);
  classifiers.set(config, { from, classifier });
  return classifier;
}

/** Reads and scans one object; null when there is nothing to write (done before, not a log). */
async function scanObject(item: BatchObject, deps: BatchDeps): Promise<ObjectOutcome | Scanned> {
  const { ref } = item;
  const id = objectId(ref);
  const { store, config } = deps;
  const base = { objectId: id, format: '', lines: 0, parsed: 0, skipped: {}, sourcesFlagged: 0, alertsPublished: 0, alertsShortened: 0, stateWrites: 0 };
  if (await store.isObjectDone(id)) return { ...base, status: 'already-processed' };

  // Within one object nothing is too late: the whole object is one batch of evidence.
  const detector = new Detector(
    { ...config, latenessSeconds: 366 * 24 * 3600 },
    { classifier: sharedClassifier(config), ...(item.format ? { format: item.format } : {}) },
  );
  const scanner = detector.openObject(`s3://${ref.bucket}/${ref.key}`);
  const read = await item.lines.read({ line: (l) => scanner.push(l), overlong: (p, reason) => scanner.overlong(p, reason), usable: () => scanner.usable() });
  const stats = scanner.end();
  const counts = { format: stats.format, lines: stats.total, parsed: stats.parsed, skipped: stats.skipped, ...(stats.hint ? { hint: stats.hint } : {}) };
  const notLog =
    read.notLog ??
    stats.notLog ??
    (stats.total === 0 ? 'the object is empty' : stats.parsed === 0 ? `no line is an access-log line (${stats.hint ?? 'unknown format'})` : undefined);
  if (notLog) {
    await store.markObjectDone(id, { lines: stats.total, parsed: stats.parsed, sources: 0, alerts: 0 }, deps.nowSec);
    return { ...base, ...counts, status: 'not-a-log', reason: notLog };
  }
  const rulesById = new Map([...detector.classifier.rules, ...BEHAVIOUR_RULE_LIST, ERROR_FLOOD_RULE].map((r) => [r.id, r]));
  const ctx: DecisionContext = { rulesById, longThresholds: detector.aggregator.longThresholdRules, longestMs: detector.aggregator.longestHorizonMs };
  const sources = [...detector.aggregator.sources.values()].filter(isFlagged);
  const deltas = sources.map((s) => toDelta(s, id));
  // The object's own decisions, as the CLI takes them at the end of a scan (its last long-horizon
  // buckets), taken after the deltas: the labels deciding adds are derived, never stored.
  detector.aggregator.finish(sources);
  const flagged = sources.map((s, k) => ({
    delta: deltas[k] as SourceDelta,
    signature: s.signature,
    local: s.alert ? { ...s.alert, claim: { ...s.alert.claim }, derived: derivedLabels(s.ruleOf, s.labels, (deltas[k] as SourceDelta).labels) } : null,
  }));
  return { outcome: { ...base, ...counts, status: 'processed', sourcesFlagged: flagged.length }, owner: item.owner, flagged, ctx, rulesById };
}

/** Runs `work` over every item, at most `limit` at once; failures are returned per item. */
async function settle<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<({ ok: true; value: R } | { ok: false; error: unknown })[]> {
  const out: ({ ok: true; value: R } | { ok: false; error: unknown })[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await work(items[i] as T) };
      } catch (error) {
        out[i] = { ok: false, error: error ?? new Error('failed') };
      }
    }
  });
  await Promise.all(runners);
  return out;
}

/**
 * The use case "process one log object": a batch of one. Safe to run again on the same object
 * (redelivery, a crash half-way) and to run twice at once. Throws what would fail its message.
 */
export async function processLogObject(ref: ObjectRef, lines: LineSource, deps: PipelineDeps): Promise<ObjectOutcome> {
  const [r] = await processLogBatch([{ ref, lines, owner: deps.owner, ...(deps.format ? { format: deps.format } : {}) }], deps);
  if (!r) throw new Error('no result for the object');
  if (!r.ok) throw r.error;
  return r.outcome;
}

/**
 * The use case "process a batch of log objects": every object is read and scanned on its own
 * (one that fails fails alone), then each flagged source is written once for the whole batch
 * (per hour item it touches), its merged state read back, and each object's decision taken on
 * it; alerts are claimed, published and recorded one at a time. Exactly once per object, whatever
 * objects a redelivery batches it with: every update carries the markers of the objects it
 * holds and applies only those not yet in the item. A claim belongs to one run of one object (a
 * lease); a crash can repeat at most the one alert between publishing and recording it.
 */
export async function processLogBatch(objects: readonly BatchObject[], deps: BatchDeps): Promise<BatchResult[]> {
  // An object named twice in one batch (S3 and SQS both deliver at least once) is processed once,
  // and each copy gets its result: two deltas of one object would count it twice, or be refused.
  const firstOf = new Map<string, number>();
  const copyOf = objects.map((o) => {
    const id = objectId(o.ref);
    const k = firstOf.get(id);
    if (k !== undefined) return k;
    firstOf.set(id, firstOf.size);
    return firstOf.size - 1;
  });
  if (firstOf.size < objects.length) {
    const unique = objects.filter((_, i) => copyOf.indexOf(copyOf[i] as number) === i);
    const results = await processLogBatch(unique, deps);
    return copyOf.map((k) => results[k] as BatchResult);
  }
  const { store, config } = deps;
  const scans = await settle(objects, deps.objectConcurrency ?? OBJECTS_IN_PARALLEL, (item) => scanObject(item, deps));
  const failed = new Map<number, unknown>();
  const scanned = new Map<number, Scanned>();
  scans.forEach((r, i) => {
    if (!r.ok) failed.set(i, r.error);
    else if ('flagged' in r.value) scanned.set(i, r.value);
  });
  // One group per source: the deltas of every object of the batch that flagged it.
  const groups = new Map<string, { deltas: SourceDelta[]; signatures: SourceState['signature'][]; locals: (LocalAlert | null)[]; objects: number[] }>();
  for (const [i, sc] of scanned) {
    for (const f of sc.flagged) {
      let g = groups.get(f.delta.source);
      if (!g) {
        g = { deltas: [], signatures: [], locals: [], objects: [] };
        groups.set(f.delta.source, g);
      }
      g.deltas.push(f.delta);
      g.signatures.push(f.signature);
      g.locals.push(f.local);
      g.objects.push(i);
    }
  }
  const first = scanned.values().next().value as Scanned | undefined;
  const candidates: AlertCandidate[] = [];
  // Past the run's deadline less the time to report, nothing more is started: what each object
  // has left is counted, and it fails with OutOfTimeError after the rest of the batch is done.
  const remainingMs = deps.remainingMs;
  const outOfTime = remainingMs ? () => remainingMs() < FINISH_RESERVE_MS : () => false;
  const left = new Map<number, { sources: number; alerts: number }>();
  const leftOf = (i: number) => {
    let l = left.get(i);
    if (!l) {
      l = { sources: 0, alerts: 0 };
      left.set(i, l);
    }
    return l;
  };
  if (first) {
    const { ctx, rulesById } = first;
    // In the order of the objects that flagged them: when time runs out, the first objects of the
    // batch are the ones finished.
    const work = [...groups.entries()];
    const started = await pool(
      work,
      deps.concurrency ?? 8,
      async ([source, g]) => {
        let merged: MergedSourceState;
        try {
          merged = await store.applyDeltas(g.deltas, deps.nowSec, ctx.longestMs);
        } catch (e) {
          // Every object that wrote to this source fails (and is retried); the others are not held.
          for (const i of g.objects) if (!failed.has(i)) failed.set(i, e);
          return;
        }
        const writes = new Set(g.deltas.flatMap((d) => d.buckets.map((b) => Math.floor(b.start / 3_600_000)))).size || 1;
        const firstObject = scanned.get(g.objects[0] as number);
        if (firstObject) firstObject.outcome.stateWrites += writes;
        const view = mergedView(merged, ctx, config);
        g.deltas.forEach((delta, k) => {
          const decision = decideMerged(merged, delta, g.signatures[k] ?? null, ctx, config, view, g.locals[k] ?? null);
          if (decision) candidates.push({ source, merged, decision, object: g.objects[k] as number, deltas: g.deltas, deciding: k });
        });
      },
      outOfTime,
    );
    for (const [, g] of work.slice(started)) for (const i of g.objects) leftOf(i).sources++;
    // The alerts of what was written go out even for an object left unfinished: its retry finds them sent.
    await publishAlerts(candidates, objects, scanned, failed, rulesById, deps, outOfTime, leftOf);
    for (const [i, l] of left) if (!failed.has(i)) failed.set(i, new OutOfTimeError(l));
  }
  const results: BatchResult[] = [];
  for (const [i, r] of scans.entries()) {
    const err = failed.get(i);
    if (err !== undefined) {
      results.push({ ok: false, error: err });
      continue;
    }
    if (!r.ok) continue; // in `failed`
    const sc = scanned.get(i);
    if (!sc) {
      results.push({ ok: true, outcome: r.value as ObjectOutcome });
      continue;
    }
    try {
      const o = sc.outcome;
      // An object that flagged no source wrote nothing, so running it again changes nothing: its
      // object claim would be a write (a write unit) that no later object needs. A quiet site's
      // small objects are mostly such.
      if (sc.flagged.length)
        await store.markObjectDone(o.objectId, { lines: o.lines, parsed: o.parsed, sources: o.sourcesFlagged, alerts: o.alertsPublished }, deps.nowSec);
      results.push({ ok: true, outcome: o });
    } catch (e) {
      results.push({ ok: false, error: e });
    }
  }
  return results;
}

interface AlertCandidate {
  source: string;
  merged: MergedSourceState;
  decision: MergedDecision;
  /** Index of the object (in the batch) whose delta decided it: the claim is that object's. */
  object: number;
  /**
   * The deltas of every object of the batch for the source (shared by its candidates), and which
   * decided this one: an alert shows their samples, the deciding one's first (see `samplesOf`).
   */
  deltas: readonly SourceDelta[];
  deciding: number;
}

/** The samples a candidate's batch passed along for its source, whole: the deciding object's first. */
function samplesOf(c: AlertCandidate): string[] {
  const first = c.deltas[c.deciding]?.samples ?? [];
  return [...first, ...c.deltas.flatMap((d, j) => (j === c.deciding ? [] : d.samples))];
}

/** The horizon an alert was decided on, as recorded: the short window, `1h`, `24h` (none for signatures). */
function horizonLabel(d: MergedDecision, config: DetectorConfig): string | undefined {
  const seconds = d.horizon ? d.horizon.seconds : d.trigger === 'signature' ? 0 : config.windowSeconds;
  if (!seconds) return undefined;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Object names for an alert: the batch's own objects by their markers, the rest from the store. */
async function objectNamesOf(markers: readonly string[], batch: ReadonlyMap<string, string>, store: StateStore): Promise<string[]> {
  const unknown = markers.filter((m) => !batch.has(m));
  const named = unknown.length && store.objectNames ? await store.objectNames(unknown) : new Map<string, string>();
  // A marker no object record names yet (its object is still being processed elsewhere) is listed as is.
  return markers.map((m) => batch.get(m) ?? named.get(m) ?? m).sort();
}

/**
 * Claims, publishes and records alerts (sources in a fixed order, each source's decisions in the
 * order the CLI takes them: event time, then kind). A source's alerts of the batch are claimed in
 * one write when the claim takes them all (up to {@link MAX_REMEMBERED_ALERTS}), else one at a
 * time; then each is published and recorded, one at a time. A claim the last one certainly
 * refuses costs no write. Every claim is tried even when one is busy; a busy one fails its object
 * afterwards so that it is retried and not marked done while another run may still fail to
 * publish it.
 */
async function publishAlerts(
  candidates: AlertCandidate[],
  objects: readonly BatchObject[],
  scanned: ReadonlyMap<number, Scanned>,
  failed: Map<number, unknown>,
  rulesById: ReadonlyMap<string, Rule>,
  deps: BatchDeps,
  outOfTime: () => boolean,
  leftOf: (object: number) => { alerts: number },
): Promise<void> {
  const { store, config, publisher } = deps;
  const exclusive = deps.exclusive ?? ((step) => step());
  const leaseUntil = deps.leaseUntil ?? deps.nowSec + DEFAULT_LEASE_SECONDS;
  const now = deps.now ?? (() => deps.nowSec * 1000);
  const fits = publisher.fits?.bind(publisher);
  const busy = new Map<number, string[]>();
  const batchNames = new Map<string, string>();
  for (const o of objects) {
    const id = objectId(o.ref);
    batchNames.set(objectMarker(id), id);
    batchNames.set(id, id);
  }
  // Each source's decisions in the order the CLI would take them (a signature before the score
  // its request crossed in the same bucket, decided on another object's delta), so the claim goes
  // to the trigger the CLI names; a later one only escalates.
  candidates.sort((a, b) =>
    a.source < b.source ? -1 : a.source > b.source ? 1 : byRank(a.decision, b.decision) || a.decision.at - b.decision.at || a.object - b.object,
  );
  const claims = new Map<string, MergedSourceState['claim']>();
  const remembered = new Map<string, readonly string[]>();
  const claimedHere = new Set<string>();
  // publishedAt keys an alert's record and orders what a claim remembers: never twice the same.
  let lastPublishedAt = Number.NEGATIVE_INFINITY;
  const claimTime = () => {
    lastPublishedAt = Math.max(now(), lastPublishedAt + 1);
    return lastPublishedAt;
  };
  /** What the source's claim remembers now, oldest first. */
  const recentOf = (c: AlertCandidate) => remembered.get(c.source) ?? c.merged.remembered ?? [];
  /** The oldest remembered keys to forget so that the claim keeps at most the bound with `keys` added. */
  const forgetFor = (recent: readonly string[], keys: readonly string[]) => {
    const kept = recent.filter((k) => !keys.includes(k));
    return kept.slice(0, Math.max(0, kept.length + keys.length - MAX_REMEMBERED_ALERTS));
  };
  const requestOf = (c: AlertCandidate, id: string, owner: string, forget: readonly string[]): ClaimRequest => ({
    source: c.source,
    at: c.decision.at,
    severity: c.decision.severity,
    cooldownMs: c.decision.cooldownMs,
    objectId: id,
    owner,
    leaseUntil,
    alertId: alertIdOf(c.source, c.decision.severity, id),
    publishedAt: claimTime(),
    ...(forget.length ? { forget } : {}),
  });
  /** Notes claimed alerts as remembered, counting those forgotten that this batch claimed. */
  const remember = (c: AlertCandidate, taken: readonly ClaimRequest[], counted: Scanned) => {
    const forget = new Set(taken.flatMap((r) => r.forget ?? []));
    const keys = taken.map((r) => rememberedKey(r.objectId));
    remembered.set(c.source, [...recentOf(c).filter((k) => !forget.has(k) && !keys.includes(k)), ...keys]);
    const early = [...forget].filter((k) => claimedHere.has(`${c.source}\n${k}`)).length;
    if (early) counted.outcome.alertsForgotten = (counted.outcome.alertsForgotten ?? 0) + early;
    for (const k of keys) claimedHere.add(`${c.source}\n${k}`);
  };
  // The alerts claimed together with others of their source, by candidate.
  const grouped = new Map<AlertCandidate, ClaimRequest>();
  for (let i = 0; i < candidates.length; ) {
    let j = i;
    while (j < candidates.length && candidates[j]?.source === candidates[i]?.source) j++;
    await claimTogether(candidates.slice(i, j));
    i = j;
  }
  /**
   * Claims the alerts of one source that the claim, as read, takes one after another: up to the
   * bound in each write. A write refused (or failed) leaves the rest to be claimed one at a time.
   */
  async function claimTogether(list: readonly AlertCandidate[]): Promise<void> {
    let known = list[0]?.merged.claim;
    let from = 0;
    while (from < list.length && !outOfTime()) {
      const plan: { c: AlertCandidate; id: string; sc: Scanned }[] = [];
      for (; from < list.length && plan.length < MAX_REMEMBERED_ALERTS; from++) {
        const c = list[from] as AlertCandidate;
        const sc = scanned.get(c.object);
        const ref = objects[c.object]?.ref;
        if (failed.has(c.object) || !sc || !ref) continue;
        const id = objectId(ref);
        if (known && claimWouldFail(known, c.decision, id, c.decision.cooldownMs)) continue;
        plan.push({ c, id, sc });
        known = { lastAt: c.decision.at, severity: c.decision.severity, status: 'sent', objectId: id };
      }
      const first = plan[0];
      if (first === undefined || plan.length < 2) return;
      const keys = plan.map((p) => rememberedKey(p.id));
      const forget = forgetFor(recentOf(first.c), keys);
      const requests = plan.map((p, k) => requestOf(p.c, p.id, p.sc.owner, k === 0 ? forget : []));
      try {
        if (!(await store.claimAlerts(requests, deps.nowSec))) return;
      } catch {
        return; // claimed one at a time below, where a failure fails its object
      }
      remember(first.c, requests, first.sc);
      plan.forEach((p, k) => grouped.set(p.c, requests[k] as ClaimRequest));
    }
  }
  for (const candidate of candidates) {
    const { source, merged, decision, object } = candidate;
    let request = grouped.get(candidate);
    // Claimed with others or not, it waits for the retry of its object (past its lease, which
    // ends with this run's deadline, the retry takes the claim over).
    if (outOfTime()) {
      leftOf(object).alerts++;
      continue;
    }
    // An alert claimed with others goes out even if its object failed since (it is retried, and
    // finds the alert recorded); any other alert of a failed object waits for that retry.
    if (failed.has(object) && request === undefined) continue;
    const sc = scanned.get(object);
    const ref = objects[object]?.ref;
    if (!sc || !ref) continue;
    const id = objectId(ref);
    if (request === undefined) {
      // Skip a claim the store would certainly refuse (a refused conditional write costs as much
      // as a successful one); the store's condition stays the authority when this says go.
      const known = claims.has(source) ? claims.get(source) : merged.claim;
      if (known && claimWouldFail(known, decision, id, decision.cooldownMs)) continue;
      request = requestOf(candidate, id, sc.owner, forgetFor(recentOf(candidate), [rememberedKey(id)]));
      let claim: Awaited<ReturnType<StateStore['claimAlert']>>;
      try {
        claim = await store.claimAlert(request, deps.nowSec);
      } catch (e) {
        failed.set(object, e);
        continue;
      }
      if (claim === 'claimed') remember(candidate, [request], sc);
      if (claim === 'busy') busy.set(object, [...(busy.get(object) ?? []), source]);
      if (claim !== 'claimed') continue;
    }
    const { alertId, publishedAt } = request;
    // The source's later alerts are held off by this one from its claim on, published or not: a
    // failed publish only releases its lease for the retry of its object. (Claimed with others,
    // the store's claim holds the group's last, so it would not hold off those in between.)
    claims.set(source, { lastAt: decision.at, severity: decision.severity, status: 'sent', objectId: id });
    const state = stateFromMerged(merged, decision, rulesById, config.distinctErrorPaths, samplesOf(candidate));
    const report = alertReport(state, state.alert as AlertState, config.blockHours, config.windowSeconds);
    try {
      const names = await objectNamesOf(merged.objects, batchNames, store);
      const message = buildAlertMessage(report, deps.environment, names, { alertId, ...(fits ? { fits } : {}) });
      const horizon = horizonLabel(decision, config);
      const record: AlertRecord = {
        alertId,
        source: report.source,
        severity: decision.severity,
        categories: report.categories,
        reason: report.reason,
        firstSeen: report.firstSeen,
        lastSeen: report.lastSeen,
        publishedAt: new Date(publishedAt).toISOString(),
        ...(horizon ? { horizon } : {}),
        environment: deps.environment,
      };
      await exclusive(async () => {
        try {
          await publisher.publish(message);
        } catch (e) {
          // Not published (as far as this run knows): let a retry take the claim at once rather
          // than after the lease. If this fails too, the lease runs out by itself.
          await store.releaseClaim(request).catch(() => undefined);
          throw e;
        }
        await store.markAlertSent(source, sc.owner, record);
      });
      sc.outcome.alertsPublished++;
      if (message.document.shortened) sc.outcome.alertsShortened++;
    } catch (e) {
      failed.set(object, e);
    }
  }
  for (const [object, sources] of busy) if (!failed.has(object)) failed.set(object, new ClaimBusyError(sources));
}
