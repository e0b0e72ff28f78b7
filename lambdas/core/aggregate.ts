import type { DetectorConfig } from './config.js';
import { type AlertClaim, applyClaim, decideClaim, maxSeverity, severityRank } from './decide.js';
import { detach } from './lines.js';
import { type LogRecord, requestLineOf } from './model.js';
import type { Classification } from './rules/engine.js';
import type { Rule, Severity } from './rules/types.js';
import { EventWindow } from './window.js';

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
export type Trigger = 'signature' | 'score' | 'error-burst' | 'threshold';

/** An alert decision for a source, with the facts at the moment it fired. */
export interface AlertState {
  claim: AlertClaim;
  firstAt: number;
  trigger: Trigger;
  /** The rule (signature or threshold rule) that fired it, when one did. */
  rule: Rule | null;
  windowScore: number;
  distinctPaths: number;
}

const MAX_SAMPLES = 10;

function sample(r: LogRecord, c: Classification): SampleRequest {
  return { time: r.time, request: detach(requestLineOf(r)), status: r.status, userAgent: detach(r.userAgent), labels: c.labels.map((l) => l.category) };
}

/** Everything known about one source (an IPv4 address or an IPv6 /64). */
export class SourceState {
  requests = 0;
  firstSeen = Number.POSITIVE_INFINITY;
  lastSeen = Number.NEGATIVE_INFINITY;
  /** Requests per label category (benign ones included). */
  readonly labels = new Map<string, number>();
  /** The highest-severity rule seen per category. */
  readonly ruleOf = new Map<string, Rule>();
  /** Requests per HTTP error status (4xx, 5xx); other statuses are counted by class. */
  readonly statuses = new Map<number, number>();
  /** Requests with status 0 (not logged), 1xx, 2xx, 3xx, by class. */
  readonly statusClasses = [0, 0, 0, 0];
  /** Sum of the scores of every request. */
  score = 0;
  peakWindowScore = 0;
  peakDistinctPaths = 0;
  window: EventWindow | null = null;
  readonly samples: SampleRequest[] = [];
  alert: AlertState | null = null;
  firstReferer = '';
  /** The strongest high-confidence signature seen (for stored state and alerts), with its time. */
  signature: { rule: Rule; time: number } | null = null;
  /** Every rule that labelled a request of this source, by id. */
  readonly rulesSeen = new Map<string, Rule>();
  /** Addresses seen under this key (an IPv6 /64 can hold many), capped. */
  readonly addresses = new Set<string>();

  constructor(readonly key: string) {}

  /** Categories that are not benign, by descending request count. */
  suspiciousCategories(): [string, number][] {
    return [...this.labels].filter(([c]) => this.ruleOf.get(c)?.class !== 'benign').sort((a, b) => b[1] - a[1]);
  }

  /** Error statuses by code, the rest by class: `{ "404": 28, "403": 1, "2xx": 1 }`, most first. */
  statusCounts(): Record<string, number> {
    const out: [string, number][] = [...this.statuses].map(([k, v]) => [String(k), v]);
    this.statusClasses.forEach((n, i) => {
      if (n > 0) out.push([i === 0 ? 'none' : `${i}xx`, n]);
    });
    return Object.fromEntries(out.sort((x, y) => y[1] - x[1]));
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
    for (const [c] of this.labels) {
      const rule = this.ruleOf.get(c);
      if (rule && rule.class !== 'benign') s = maxSeverity(s, rule.severity);
    }
    return s;
  }
}

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
  private readonly bucketMs: number;
  private readonly windowMs: number;
  private readonly retainMs: number;
  private readonly cooldownMs: number;

  constructor(
    private readonly config: DetectorConfig,
    private readonly onAlert: AlertListener = () => {},
  ) {
    this.bucketMs = config.bucketSeconds * 1000;
    this.windowMs = config.windowSeconds * 1000;
    this.retainMs = config.latenessSeconds * 1000;
    this.cooldownMs = config.cooldownSeconds * 1000;
  }

  /** The state of a source, created on first sight. `v4` is the address as a number, or -1. */
  source(key: string, v4 = -1): SourceState {
    let s = v4 >= 0 ? this.byIPv4.get(v4) : this.sources.get(key);
    if (s === undefined) {
      s = this.sources.get(key);
      if (s === undefined) {
        s = new SourceState(detach(key));
        this.sources.set(key, s);
      }
      if (v4 >= 0) this.byIPv4.set(v4, s);
    }
    return s;
  }

  /** Adds one classified request of a source (`v4`: its IPv4 value when it is one, else -1). */
  add(key: string, r: LogRecord, c: Classification, errorPath: string | null, v4 = -1): SourceState {
    const s = this.source(key, v4);
    s.requests++;
    if (r.time < s.firstSeen) s.firstSeen = r.time;
    if (r.time > s.lastSeen) s.lastSeen = r.time;
    if (key !== r.clientIp && s.addresses.size < 16) s.addresses.add(detach(r.clientIp));
    const status = r.status;
    if (status >= 400) s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    else {
      const i = status >= 100 ? Math.floor(status / 100) : 0;
      s.statusClasses[i] = (s.statusClasses[i] ?? 0) + 1;
    }
    if (c.labels.length === 0 && errorPath === null) return s;

    let thresholdRule: Rule | null = null;
    let suspicious = false;
    for (const l of c.labels) {
      s.labels.set(l.category, (s.labels.get(l.category) ?? 0) + 1);
      if (!s.rulesSeen.has(l.rule.id)) s.rulesSeen.set(l.rule.id, l.rule);
      const prev = s.ruleOf.get(l.category);
      if (!prev || severityRank(l.rule.severity) > severityRank(prev.severity)) s.ruleOf.set(l.category, l.rule);
      if (l.rule.threshold) thresholdRule = l.rule;
      if (l.rule.class !== 'benign') suspicious = true;
    }
    if (suspicious && s.firstReferer === '' && r.referer !== '') s.firstReferer = detach(r.referer);
    if (s.samples.length < MAX_SAMPLES && (suspicious || s.samples.length < 3)) {
      s.samples.push(sample(r, c));
    } else if (suspicious && s.samples.some((x) => !x.labels.some((cat) => s.ruleOf.get(cat)?.class !== 'benign'))) {
      // Evidence beats noise: replace a benign sample with a suspicious one.
      const i = s.samples.findIndex((x) => !x.labels.some((cat) => s.ruleOf.get(cat)?.class !== 'benign'));
      s.samples[i] = sample(r, c);
    }
    s.score += c.score;
    if (!suspicious && errorPath === null) return s;

    if (!s.window) s.window = new EventWindow(this.bucketMs, this.windowMs, this.retainMs);
    if (!s.window.add(r.time, c.score, errorPath, thresholdRule?.id ?? null)) return s;

    if (c.immediate) {
      const sig = c.immediate.rule;
      if (!s.signature || severityRank(sig.severity) > severityRank(s.signature.rule.severity)) s.signature = { rule: sig, time: r.time };
      this.trigger(s, r.time, 'signature', sig, sig.severity);
    }
    if (thresholdRule?.threshold) {
      const n = s.window.countAround(r.time, thresholdRule.id, thresholdRule.threshold.windowSeconds * 1000);
      if (n >= thresholdRule.threshold.count) this.trigger(s, r.time, 'threshold', thresholdRule, thresholdRule.severity);
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

  private trigger(s: SourceState, at: number, trigger: Trigger, rule: Rule | null, severity: Severity): void {
    const claim = s.alert?.claim ?? null;
    const decision = decideClaim(claim, at, severity, this.cooldownMs);
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
    };
    this.onAlert(s, s.alert);
  }
}
