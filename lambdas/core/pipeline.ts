import { type AlertState, ERROR_BURST_RULE, type SampleRequest, SourceState, type Trigger } from './aggregate.js';
import { buildAlertMessage } from './alert-message.js';
import type { DetectorConfig } from './config.js';
import { decideClaim, maxSeverity, severityRank } from './decide.js';
import {
  type AlertPublisher,
  type LineSource,
  type MergedSourceState,
  type ObjectRef,
  type SourceDelta,
  type StateStore,
  type StoredBucket,
  objectId,
} from './ports.js';
import { alertReport } from './report.js';
import type { Rule, Severity } from './rules/types.js';
import { Detector } from './scan.js';
import { type Bucket, EventWindow } from './window.js';

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
  /** State writes (one per source per hour item touched). */
  stateWrites: number;
}

/** Everything the use case needs besides the object itself. */
export interface PipelineDeps {
  store: StateStore;
  publisher: AlertPublisher;
  config: DetectorConfig;
  environment: string;
  /** Wall-clock seconds at invocation, for TTLs only (decisions use event time). */
  nowSec: number;
  format?: string;
  /** How many sources are written concurrently. */
  concurrency?: number;
}

/** Short, stable hash of an error path (FNV-1a, 32 bits), so stored path sets stay small. */
export function pathHash(path: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

const MAX_SAMPLES_PER_OBJECT = 3;
const MIN_ERROR_PATHS_TO_STORE = 3;

/**
 * Only sources worth remembering cost a write: any non-benign label, or several distinct
 * error paths (the start of an error burst that later objects may complete).
 */
function isFlagged(s: SourceState): boolean {
  if (s.suspiciousCategories().length > 0) return true;
  let paths = 0;
  for (const b of s.window?.buckets ?? []) paths += b.paths?.size ?? 0;
  return paths >= MIN_ERROR_PATHS_TO_STORE;
}

function sampleOf(x: SampleRequest): string {
  return JSON.stringify({ t: x.time, r: x.request, s: x.status, u: x.userAgent, l: x.labels });
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
      counts: Object.fromEntries(b.counts ?? []),
    })),
    samples: (suspicious.length ? suspicious : s.samples).slice(0, MAX_SAMPLES_PER_OBJECT).map(sampleOf),
    referer: s.firstReferer,
  };
}

/** An alert decision on merged state. */
export interface MergedDecision {
  trigger: Trigger;
  rule: Rule | null;
  at: number;
  severity: Severity;
  windowScore: number;
  distinctPaths: number;
}

function windowOf(buckets: readonly StoredBucket[], config: DetectorConfig): EventWindow {
  const w = new EventWindow(config.bucketSeconds * 1000, config.windowSeconds * 1000, Number.POSITIVE_INFINITY);
  const sorted = [...buckets].sort((a, b) => a.start - b.start);
  for (const b of sorted) {
    const bucket: Bucket = { start: b.start, score: b.score, paths: b.paths.length ? new Set(b.paths) : null, counts: null };
    const entries = Object.entries(b.counts);
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
 * Decides on a source's merged state (every object so far), looking at the windows around the
 * times this object added. Order-independent: the same set of objects gives the same decision
 * whatever order they arrived in. The strongest trigger wins; on a tie, the earliest.
 */
export function decideMerged(
  merged: MergedSourceState,
  delta: SourceDelta,
  signature: SourceState['signature'],
  rulesById: ReadonlyMap<string, Rule>,
  config: DetectorConfig,
): MergedDecision | null {
  const w = windowOf(merged.buckets, config);
  const seen = merged.rules.map((id) => rulesById.get(id)).filter((r): r is Rule => r !== undefined);
  const sev = severityOf(seen);
  const candidates: MergedDecision[] = [];
  let best = { score: 0, distinctPaths: 0 };
  const thresholdRules = seen.filter((r) => r.threshold);
  for (const b of [...delta.buckets].sort((x, y) => x.start - y.start)) {
    const peak = w.peakAround(b.start);
    if (peak.score > best.score) best = { ...best, score: peak.score };
    if (peak.distinctPaths > best.distinctPaths) best = { ...best, distinctPaths: peak.distinctPaths };
    if (peak.distinctPaths >= config.distinctErrorPaths) {
      candidates.push({
        trigger: 'error-burst',
        rule: ERROR_BURST_RULE,
        at: b.start,
        severity: maxSeverity('medium', sev),
        windowScore: peak.score,
        distinctPaths: peak.distinctPaths,
      });
    }
    if (peak.score >= config.scoreThreshold) {
      candidates.push({
        trigger: 'score',
        rule: null,
        at: b.start,
        severity: maxSeverity('low', sev),
        windowScore: peak.score,
        distinctPaths: peak.distinctPaths,
      });
    }
    for (const r of thresholdRules) {
      if (!b.counts[r.id] || !r.threshold) continue;
      if (w.countAround(b.start, r.id, r.threshold.windowSeconds * 1000) >= r.threshold.count) {
        candidates.push({ trigger: 'threshold', rule: r, at: b.start, severity: r.severity, windowScore: peak.score, distinctPaths: peak.distinctPaths });
      }
    }
  }
  if (signature) {
    candidates.push({
      trigger: 'signature',
      rule: signature.rule,
      at: signature.time,
      severity: signature.rule.severity,
      windowScore: best.score,
      distinctPaths: best.distinctPaths,
    });
  }
  if (candidates.length === 0) return null;
  candidates.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.at - b.at);
  const pick = candidates[0] as MergedDecision;
  return { ...pick, windowScore: Math.max(pick.windowScore, best.score), distinctPaths: Math.max(pick.distinctPaths, best.distinctPaths) };
}

/** Rebuilds a SourceState from merged stored state, so alerts reuse the report's wording. */
export function stateFromMerged(m: MergedSourceState, decision: MergedDecision, rulesById: ReadonlyMap<string, Rule>): SourceState {
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
  s.peakWindowScore = decision.windowScore;
  s.peakDistinctPaths = decision.distinctPaths;
  if (decision.distinctPaths >= 1 && (decision.trigger === 'error-burst' || s.labels.has('error-burst'))) {
    s.labels.set(ERROR_BURST_RULE.category, decision.distinctPaths);
    s.ruleOf.set(ERROR_BURST_RULE.category, ERROR_BURST_RULE);
  }
  const samples = m.samples
    .map((j) => {
      try {
        const x = JSON.parse(j) as { t: number; r: string; s: number; u: string; l: string[] };
        return { time: x.t, request: x.r, status: x.s, userAgent: x.u, labels: x.l };
      } catch {
        return null;
      }
    })
    .filter((x): x is SampleRequest => x !== null)
    .sort((a, b) => a.time - b.time);
  s.samples.push(...samples.slice(0, 10));
  s.firstReferer = m.referer;
  const alert: AlertState = {
    claim: { lastAt: decision.at, severity: decision.severity, count: 1 },
    firstAt: decision.at,
    trigger: decision.trigger,
    rule: decision.rule,
    windowScore: decision.windowScore,
    distinctPaths: decision.distinctPaths,
  };
  s.alert = alert;
  return s;
}

/**
 * Runs `work` over `items`, `limit` at a time. After a failure no new item starts, but work in
 * flight is awaited before the error is raised: an orphaned publish racing the retry of the same
 * object could otherwise send an alert twice.
 */
/** True when an existing live claim certainly refuses this decision (mirrors the store's condition). */
export function claimWouldFail(claim: NonNullable<MergedSourceState['claim']>, d: MergedDecision, objectId: string, cooldownMs: number): boolean {
  if (claim.status === 'pending' && claim.objectId === objectId) return false;
  return decideClaim({ lastAt: claim.lastAt, severity: claim.severity, count: 1 }, d.at, d.severity, cooldownMs) === 'cooldown';
}

async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && failure === null) {
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
}

/**
 * The use case "process one log object": lines in, state updated once per flagged source,
 * alerts claimed and published. Safe to run again on the same object (redelivery, a crash
 * half-way): state updates are idempotent per object, and a claimed alert is published until it
 * is marked sent, exactly once in the absence of a crash between publishing and marking.
 */
export async function processLogObject(ref: ObjectRef, lines: LineSource, deps: PipelineDeps): Promise<ObjectOutcome> {
  const id = objectId(ref);
  const { store, config } = deps;
  const base = { objectId: id, format: '', lines: 0, parsed: 0, skipped: {}, sourcesFlagged: 0, alertsPublished: 0, stateWrites: 0 };
  if (await store.isObjectDone(id)) return { ...base, status: 'already-processed' };

  // Within one object nothing is too late: the whole object is one batch of evidence.
  const detector = new Detector({ ...config, latenessSeconds: 366 * 24 * 3600 }, deps.format ? { format: deps.format } : {});
  const scanner = detector.openObject(`s3://${ref.bucket}/${ref.key}`);
  const read = await lines.read({ line: (l) => scanner.push(l), overlong: (p) => scanner.overlong(p) });
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

  const rulesById = new Map(detector.classifier.rules.map((r) => [r.id, r]));
  const flagged = [...detector.aggregator.sources.values()].filter(isFlagged);
  let alerts = 0;
  let writes = 0;
  await pool(flagged, deps.concurrency ?? 8, async (s) => {
    const delta = toDelta(s, id);
    writes += new Set(delta.buckets.map((b) => Math.floor(b.start / 3_600_000))).size || 1;
    const merged = await store.applyDelta(delta, deps.nowSec);
    const decision = decideMerged(merged, delta, s.signature, rulesById, config);
    if (!decision) return;
    // Skip a claim the store would certainly refuse (a conditional write costs as much as a
    // successful one); the store's condition stays the authority when this says go.
    if (merged.claim && claimWouldFail(merged.claim, decision, id, config.cooldownSeconds * 1000)) return;
    const claim = await store.claimAlert(
      { source: s.key, at: decision.at, severity: decision.severity, cooldownMs: config.cooldownSeconds * 1000, objectId: id },
      deps.nowSec,
    );
    if (claim !== 'claimed') return;
    const state = stateFromMerged(merged, decision, rulesById);
    const message = buildAlertMessage(alertReport(state, state.alert as AlertState, config.blockHours), deps.environment, merged.objects);
    await deps.publisher.publish(message);
    await store.markAlertSent(s.key, id);
    alerts++;
  });
  await store.markObjectDone(id, { lines: stats.total, parsed: stats.parsed, sources: flagged.length, alerts }, deps.nowSec);
  return { ...base, ...counts, status: 'processed', sourcesFlagged: flagged.length, alertsPublished: alerts, stateWrites: writes };
}
