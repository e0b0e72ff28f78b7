import { type AlertState, MAX_SUBNETS_PER_PREFIX, type SourceState } from './aggregate.js';
import { BEHAVIOUR_INFO } from './behaviour.js';
import { severityRank } from './decide.js';
import { escapeUntrusted, sanitize } from './escape.js';
import { isInternal, isLoopback } from './ip.js';
import { CATEGORY_INFO } from './rules/builtin.js';
import type { Severity } from './rules/types.js';
import type { Detector, ObjectStats, SkippedSample } from './scan.js';

/** The stable machine-readable result of a scan (`--json`, version 1). */
export interface ScanReport {
  version: 1;
  lines: { total: number; parsed: number; skipped: Record<string, number> };
  alerts: AlertReport[];
  sources: SourceReport[];
  benign: BenignReport[];
  files: ObjectStats[];
  skippedSamples: SkippedSample[];
  /** Sources whose every request was unremarkable (not listed individually). */
  cleanSources: number;
  /**
   * Present when a memory bound or a classifier limit was reached: what it did (see the README's
   * Limits). The classifier's counts are of the fields and names it read: a request line
   * repeated is mostly answered from its cache and not counted again.
   */
  bounds?: {
    sourcesEvicted: number;
    requestsUntracked: number;
    requestsAggregated: number;
    sourcesNotRemembered: number;
    decodePassesExhausted?: number;
    decoyExtensionsCut?: number;
    combiningRunsCut?: number;
  };
}

/** One alerted source, as the CLI prints it and alerts carry it. */
export interface AlertReport {
  source: string;
  /** IPv6: the address, when it was the only one seen in the source's /64 (`source` stays the /64). */
  address?: string;
  severity: Severity;
  score: number;
  categories: string[];
  requests: number;
  firstSeen: string;
  lastSeen: string;
  reason: string;
  trigger: string;
  triggeredAt: string;
  alertCount: number;
  /** Why it alerted, in words: the trigger with the horizon and the numbers that crossed it. */
  evidence: string;
  /** The horizon that fired: its length and what it held (null for the short window and signatures). */
  horizon: { seconds: number; score: number; distinctErrorPaths: number } | null;
  /** Highest score within one short window (2 minutes by default); `score` is the sum of every request. */
  windowScore: number;
  distinctErrorPaths: number;
  statuses: Record<string, number>;
  what: string;
  todo: string;
  note?: string;
  samples: { time: string; request: string; status: number; userAgent: string; labels: string[] }[];
}

/** One labelled source and its verdict. */
export interface SourceReport {
  source: string;
  /** IPv6: the address, when it was the only one seen in the source's /64. */
  address?: string;
  verdict: 'alert' | 'suspicious' | 'benign';
  severity: Severity;
  score: number;
  labels: Record<string, number>;
  requests: number;
  firstSeen: string;
  lastSeen: string;
  reason: string;
}

/** One benign category: how much noise it explained, and why it is harmless. */
export interface BenignReport {
  category: string;
  requests: number;
  sources: string[];
  explanation: string;
}

/** Longest source key shown: an IPv6 /64 key is 24 characters; anything longer is not an address. */
const SOURCE_MAX = 100;

/** Farthest time a Date can hold (±100,000,000 days around 1970). */
const MAX_DATE_MS = 8.64e15;

/** ISO 8601 in UTC, or "" for an unknown (or unrepresentable) time. */
export function iso(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString().replace('.000Z', 'Z') : '';
}

/** Categories that qualify another finding rather than stand as the headline. */
const ACCESSORY = new Set(['malformed-request', 'outdated-user-agent']);

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Non-benign categories, most telling first: weighted by requests × rule score, with qualifiers
 * (malformed lines, old user agents) and the generic error burst after the specific findings.
 */
export function rankedCategories(s: SourceState): string[] {
  const weight = (c: string, n: number) => {
    const base = n * Math.max(1, s.ruleOf.get(c)?.score ?? 0);
    return ACCESSORY.has(c) ? base * 0.01 : c === 'error-burst' ? base * 0.1 : base;
  };
  return s
    .suspiciousCategories()
    .sort((a, b) => weight(b[0], b[1]) - weight(a[0], a[1]))
    .map(([c]) => c);
}

/** Headline for a source: the category that explains most of its score. */
export function headline(s: SourceState): string {
  const top = rankedCategories(s)[0];
  if (!top) return 'Unremarkable';
  // The classic sweep tries CGI scripts and PHP binaries together: name both when they lead.
  if ((top === 'cgi-probe' || top === 'php-probe') && s.labels.has('cgi-probe') && s.labels.has('php-probe')) return 'CGI/PHP probe sweep';
  return infoOf(top)?.title ?? top;
}

/** Wording of a category: rules' and behaviours'. */
function infoOf(category: string) {
  return CATEGORY_INFO[category] ?? BEHAVIOUR_INFO[category];
}

function statusSummary(s: SourceState): string {
  const errors = [...s.statuses].sort((a, b) => b[1] - a[1]);
  return errors
    .slice(0, 3)
    .map(([code, n]) => `${n} × ${code}`)
    .join(', ');
}

/** One line a person can triage from: what, how many, and the qualifiers. */
export function reasonLine(s: SourceState): string {
  const statuses = statusSummary(s);
  let line = `${headline(s)}: ${plural(s.requests, 'request')}${statuses ? `, ${statuses}` : ''}`;
  const extras: string[] = [];
  const malformed = s.labels.get('malformed-request');
  if (malformed && headline(s) !== CATEGORY_INFO['malformed-request']?.title) extras.push(`${plural(malformed, 'malformed request line')}`);
  if (s.labels.has('outdated-user-agent') && headline(s) !== CATEGORY_INFO['outdated-user-agent']?.title) extras.push('an outdated browser user agent');
  if (s.labels.has('scanner-user-agent') && headline(s) !== CATEGORY_INFO['scanner-user-agent']?.title) extras.push('a scanner user agent');
  if (s.peakDistinctPaths >= 5 && !s.labels.has('error-burst')) extras.push(`${s.peakDistinctPaths} distinct missing paths`);
  if (extras.length) line += `; ${extras.join(', ')}`;
  return line;
}

/** The note for internal addresses: a proxy to configure, or an inside host to look at. */
export function internalSourceNote(source: string, referer: string): string | undefined {
  if (!isInternal(source)) return undefined;
  const where = isLoopback(source) ? 'a loopback address (this host itself)' : 'a private address';
  let note =
    `${source} is ${where}. Either a proxy or load balancer sits in front of the site ` +
    '(list it in trustedProxies so the real client is taken from X-Forwarded-For), ' +
    'or a host inside your network is probing its neighbours (check that host for malware).';
  if (referer) note += ` The requests carry a referer (${sanitize(referer, 80)}), but any client can send any referer: it is not evidence of innocence.`;
  return note;
}

/** The note for an IPv6 prefix aggregated from a flood of /64s. */
function aggregatedNote(s: SourceState): string | undefined {
  if (!s.key.endsWith('/48') && !s.key.endsWith('/32')) return undefined;
  return (
    `${s.key} is a whole IPv6 prefix: requests from more than ${MAX_SUBNETS_PER_PREFIX} of its subnets were counted as one source ` +
    '(a scan spread over many addresses of one network). Block the prefix rather than single addresses.'
  );
}

function whatAndTodo(s: SourceState, blockHours: number): { what: string; todo: string } {
  const ranked = rankedCategories(s);
  const main = ranked.filter((c) => !ACCESSORY.has(c));
  const info = (main.length ? main : ranked).map(infoOf).filter((x) => x !== undefined);
  const what = info.length
    ? `Probably ${info
        .slice(0, 2)
        .map((i) => i.what)
        .join('; and ')}.`
    : 'Probably automated traffic.';
  const todo = `${info[0]?.todo ?? 'Watch this source'}. Suggested block: ${blockHours} h.`;
  return { what, todo };
}

function verdict(s: SourceState): SourceReport['verdict'] {
  if (s.alert) return 'alert';
  return s.suspiciousCategories().length > 0 ? 'suspicious' : 'benign';
}

/** The alert facts for one source (shared by the CLI report and published alerts). */
export function alertReport(s: SourceState, a: AlertState, blockHours: number, windowSeconds = 120): AlertReport {
  const { what, todo } = whatAndTodo(s, blockHours);
  const note = internalSourceNote(s.key, s.firstReferer) ?? aggregatedNote(s);
  return {
    // The key is the log's client-address field: not always an address when a line is hostile.
    source: sanitize(s.key, SOURCE_MAX),
    ...(s.address ? { address: sanitize(s.address, SOURCE_MAX) } : {}),
    severity: a.claim.severity,
    score: s.score,
    categories: rankedCategories(s),
    requests: s.requests,
    firstSeen: iso(s.firstSeen),
    lastSeen: iso(s.lastSeen),
    reason: sanitize(reasonLine(s), 300),
    trigger:
      a.trigger === 'signature' || a.trigger === 'threshold' || a.trigger === 'behaviour'
        ? `${a.trigger}:${a.rule?.id ?? ''}`
        : a.trigger === 'horizon' && a.horizon
          ? `horizon:${duration(a.horizon.seconds).replace(' ', '')}`
          : a.trigger,
    triggeredAt: iso(a.firstAt),
    alertCount: a.claim.count,
    evidence: sanitize(evidenceLine(s, a, windowSeconds), 300),
    horizon: a.horizon ? { seconds: a.horizon.seconds, score: a.horizon.score, distinctErrorPaths: a.horizon.distinctPaths } : null,
    windowScore: s.peakWindowScore,
    distinctErrorPaths: s.peakDistinctPaths,
    statuses: s.statusCounts(),
    what,
    todo,
    ...(note ? { note } : {}),
    samples: s.samples.map((x) => ({
      time: iso(x.time),
      request: sanitize(x.request, 200),
      status: x.status,
      userAgent: sanitize(x.userAgent, 120),
      labels: x.labels,
    })),
  };
}

/** A duration in words: "2 min", "1 h", "3 min 10 s". */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/**
 * Why a source alerted, in one line that cannot be misread: which horizon, over how long, and
 * the short-window peak beside it ("score 175 within 1 h, over 58 min of activity (highest
 * 2-minute window: 25)").
 */
export function evidenceLine(s: SourceState, a: AlertState, windowSeconds: number): string {
  // The same number as the report's `windowScore`: the best short window seen, not the one at the trigger.
  const peak = Math.max(a.windowScore, s.peakWindowScore);
  const win = `highest ${duration(windowSeconds).replace(' ', '-')} window: score ${peak}`;
  const span = Number.isFinite(s.firstSeen) && s.lastSeen > s.firstSeen ? `, over ${duration((s.lastSeen - s.firstSeen) / 1000)} of activity` : '';
  const h = a.horizon;
  switch (a.trigger) {
    case 'signature':
      return `one high-confidence signature is enough: ${a.rule?.explain ?? a.rule?.id ?? 'exploit attempt'}`;
    case 'threshold': {
      const t = a.rule?.threshold;
      return `${t ? `${t.count} or more matches within ${duration(t.windowSeconds)}` : 'a rule threshold'}: ${a.rule?.explain ?? ''}${span}`;
    }
    case 'behaviour':
      return `${h?.why ?? 'form posts like a bot'}${span}`;
    case 'horizon':
      if (h?.why) return `${h.why}${span} (${win})`;
      return h
        ? `score ${h.score} and ${h.distinctPaths} distinct missing paths within ${duration(h.seconds)}${span} (${win})`
        : `a long horizon${span} (${win})`;
    case 'error-burst':
      return `${a.distinctPaths} distinct missing paths within ${duration(windowSeconds)}`;
    default:
      return `score ${peak} within ${duration(windowSeconds)} (total score ${s.score}${span})`;
  }
}

/** Builds the report from a detector whose objects have all ended (pending decisions are taken first). */
export function buildReport(d: Detector): ScanReport {
  d.finish();
  const skipped: Record<string, number> = {};
  let total = 0;
  let parsed = 0;
  for (const o of d.objects) {
    total += o.total;
    parsed += o.parsed;
    for (const [k, v] of Object.entries(o.skipped)) skipped[k] = (skipped[k] ?? 0) + v;
  }
  const listed: SourceState[] = [];
  for (const s of d.aggregator.sources.values()) if (s.labelled || s.alert) listed.push(s);
  const rank = (s: SourceState) => (s.alert ? 2 : verdict(s) === 'suspicious' ? 1 : 0);
  listed.sort((a, b) => rank(b) - rank(a) || severityRank(b.severity()) - severityRank(a.severity()) || b.score - a.score || b.requests - a.requests);
  const blockHours = d.config.blockHours;
  return {
    version: 1,
    lines: { total, parsed, skipped },
    alerts: listed.filter((s) => s.alert).map((s) => alertReport(s, s.alert as AlertState, blockHours, d.config.windowSeconds)),
    sources: listed.map((s) => ({
      source: sanitize(s.key, SOURCE_MAX),
      ...(s.address ? { address: sanitize(s.address, SOURCE_MAX) } : {}),
      verdict: verdict(s),
      severity: s.alert?.claim.severity ?? s.severity(),
      score: s.score,
      labels: Object.fromEntries([...s.labels].sort((x, y) => y[1] - x[1])),
      requests: s.requests,
      firstSeen: iso(s.firstSeen),
      lastSeen: iso(s.lastSeen),
      reason: verdict(s) === 'benign' ? sanitize(benignReason(s), 300) : sanitize(reasonLine(s), 300),
    })),
    benign: [...d.benign]
      .sort((a, b) => b[1].requests - a[1].requests)
      .map(([category, b]) => ({
        category,
        requests: b.requests,
        sources: [...b.sources].map((x) => sanitize(x, SOURCE_MAX)),
        explanation: b.rule.explain,
      })),
    // File names and object keys can be chosen by whoever writes the logs.
    files: d.objects.map((o) => ({ ...o, name: escapeUntrusted(o.name) })),
    skippedSamples: d.skippedSamples.map((x) => ({ ...x, object: escapeUntrusted(x.object) })),
    // Every source is counted once, also those forgotten while clean (behind the watermark or
    // to make room); the listed ones are the rest.
    cleanSources: d.aggregator.distinctSources - listed.length,
    ...boundsOf(d),
  };
}

/** The bounds a scan reached, when any: the aggregator's, and the classifier's limits that were hit. */
function boundsOf(d: Detector): Pick<ScanReport, 'bounds'> {
  const limits = Object.fromEntries(Object.entries(d.classifier.limits).filter(([, n]) => n > 0));
  if (!Object.values(d.aggregator.bounds).some((n) => n > 0) && Object.keys(limits).length === 0) return {};
  return { bounds: { ...d.aggregator.bounds, ...limits } };
}

function benignReason(s: SourceState): string {
  const top = [...s.labels].sort((a, b) => b[1] - a[1])[0];
  if (!top) return 'No findings';
  return `${plural(s.requests, 'request')}, benign: ${s.ruleOf.get(top[0])?.explain ?? top[0]}`;
}
