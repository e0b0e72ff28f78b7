import { severityRank } from './decide.js';
import { sanitize } from './escape.js';
import { ALERT_ID_MAX_CHARS } from './notify.js';
import type { AlertDocument } from './ports.js';
import { iso } from './report.js';
import type { Severity } from './rules/types.js';

/**
 * Digests: alerts below the immediate severity wait (one small record each) and are summarised
 * in one message per channel at most every N minutes: how many, from whom, what, how bad, when.
 */

/** A source key as kept in a digest record: an address or an IPv6 prefix is far shorter. */
export const DIGEST_SOURCE_MAX_CHARS = 100;
/** Categories kept per digest record: an alert lists a handful; the summary ranks the top ones anyway. */
export const DIGEST_CATEGORIES_PER_ALERT = 10;
/** A category name as kept (rule ids and category names are short). */
export const DIGEST_CATEGORY_MAX_CHARS = 64;
/** The alert's one-line reason as kept (the processor cuts it at 300 characters). */
export const DIGEST_REASON_MAX_CHARS = 300;
/**
 * Alerts one digest summarises. The rest wait for the next one (and the digest says how many):
 * a digest run must finish within the function's timeout, one conditional write per alert.
 */
export const DIGEST_MAX_ALERTS = 500;
/** Sources and categories listed by name in a digest; the rest are counted. */
export const DIGEST_TOP = 10;

/** One waiting alert, as stored for the digest (bounded, already escaped). */
export interface DigestEntry {
  alertId: string;
  source: string;
  severity: Severity;
  categories: string[];
  reason: string;
  firstSeen: string;
  lastSeen: string;
  /** Wall clock when it was queued for the digest, epoch ms. */
  queuedAt: number;
}

/** The digest record of an alert: every string escaped and bounded, so a record stays small whatever the alert held. */
export function digestEntryOf(doc: AlertDocument, queuedAt: number): DigestEntry {
  return {
    alertId: sanitize(doc.alertId, ALERT_ID_MAX_CHARS),
    source: sanitize(doc.source, DIGEST_SOURCE_MAX_CHARS),
    severity: doc.severity,
    categories: doc.categories.slice(0, DIGEST_CATEGORIES_PER_ALERT).map((c) => sanitize(c, DIGEST_CATEGORY_MAX_CHARS)),
    reason: sanitize(doc.reason, DIGEST_REASON_MAX_CHARS),
    firstSeen: sanitize(doc.firstSeen, 40),
    lastSeen: sanitize(doc.lastSeen, 40),
    queuedAt,
  };
}

/** What a digest says. */
export interface DigestSummary {
  version: 1;
  type: 'digest';
  environment: string;
  channel: string;
  /** Alerts summarised. */
  alerts: number;
  /** Alerts still waiting beyond {@link DIGEST_MAX_ALERTS} (sent in the next digest). */
  waiting: number;
  /** Event time covered: earliest first-seen and latest last-seen of the alerts. */
  firstSeen: string;
  lastSeen: string;
  /** Wall-clock span in which the alerts were queued. */
  queuedFrom: string;
  queuedUntil: string;
  severities: Partial<Record<Severity, number>>;
  /** Most alerted sources first, with their worst severity and top categories. */
  sources: { source: string; alerts: number; severity: Severity; categories: string[] }[];
  /** Sources not listed by name. */
  otherSources: number;
  categories: { category: string; alerts: number }[];
  otherCategories: number;
  alertIds: string[];
}

const byCountThenName = <T extends { n: number; k: string }>(a: T, b: T) => b.n - a.n || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0);

/** Summarises waiting alerts (at least one) for one channel. */
export function summariseDigest(entries: readonly DigestEntry[], opts: { environment: string; channel: string; waiting?: number }): DigestSummary {
  const severities: Partial<Record<Severity, number>> = {};
  const sources = new Map<string, { n: number; severity: Severity; cats: Map<string, number> }>();
  const categories = new Map<string, number>();
  let firstSeen = '';
  let lastSeen = '';
  let queuedFrom = Number.POSITIVE_INFINITY;
  let queuedUntil = Number.NEGATIVE_INFINITY;
  for (const e of entries) {
    severities[e.severity] = (severities[e.severity] ?? 0) + 1;
    const s = sources.get(e.source) ?? { n: 0, severity: e.severity, cats: new Map<string, number>() };
    s.n++;
    if (severityRank(e.severity) > severityRank(s.severity)) s.severity = e.severity;
    for (const c of e.categories) {
      s.cats.set(c, (s.cats.get(c) ?? 0) + 1);
      categories.set(c, (categories.get(c) ?? 0) + 1);
    }
    sources.set(e.source, s);
    // ISO strings of one format compare in time order; an empty one (unknown) is ignored.
    if (e.firstSeen && (!firstSeen || e.firstSeen < firstSeen)) firstSeen = e.firstSeen;
    if (e.lastSeen && e.lastSeen > lastSeen) lastSeen = e.lastSeen;
    queuedFrom = Math.min(queuedFrom, e.queuedAt);
    queuedUntil = Math.max(queuedUntil, e.queuedAt);
  }
  const rankedSources = [...sources].map(([k, v]) => ({ k, n: v.n, v })).sort(byCountThenName);
  const rankedCats = [...categories].map(([k, n]) => ({ k, n })).sort(byCountThenName);
  return {
    version: 1,
    type: 'digest',
    environment: opts.environment,
    channel: opts.channel,
    alerts: entries.length,
    waiting: opts.waiting ?? 0,
    firstSeen,
    lastSeen,
    queuedFrom: iso(queuedFrom),
    queuedUntil: iso(queuedUntil),
    severities,
    sources: rankedSources.slice(0, DIGEST_TOP).map(({ k, n, v }) => ({
      source: k,
      alerts: n,
      severity: v.severity,
      categories: [...v.cats]
        .map(([c, m]) => ({ k: c, n: m }))
        .sort(byCountThenName)
        .slice(0, 3)
        .map((x) => x.k),
    })),
    otherSources: Math.max(0, rankedSources.length - DIGEST_TOP),
    categories: rankedCats.slice(0, DIGEST_TOP).map(({ k, n }) => ({ category: k, alerts: n })),
    otherCategories: Math.max(0, rankedCats.length - DIGEST_TOP),
    alertIds: entries.map((e) => e.alertId),
  };
}

/** Severities most severe first, as "2 high, 5 medium". */
export function severityLine(s: DigestSummary['severities']): string {
  return (Object.entries(s) as [Severity, number][])
    .sort((a, b) => severityRank(b[0]) - severityRank(a[0]))
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
}

/** SNS: a subject must be fewer than 100 characters. */
const EMAIL_SUBJECT_MAX = 99;

/**
 * The digest e-mail: a subject and a plain-text body. Sources and categories were escaped when
 * the alerts were queued; the subject is printable ASCII for SNS and mail paths.
 */
export function digestEmail(d: DigestSummary): { subject: string; text: string } {
  const subject =
    `[${d.environment}] ProbeWatch digest: ${d.alerts} ${d.alerts === 1 ? 'alert' : 'alerts'} from ${d.sources.length + d.otherSources} ${d.sources.length + d.otherSources === 1 ? 'source' : 'sources'}`
      .replace(/[^\x20-\x7e]/g, '?')
      .slice(0, EMAIL_SUBJECT_MAX);
  const lines = [
    `ProbeWatch digest (${d.environment})`,
    '',
    `Alerts:      ${d.alerts} (${severityLine(d.severities)})`,
    `Seen:        ${d.firstSeen || '?'} to ${d.lastSeen || '?'}`,
    `Queued:      ${d.queuedFrom} to ${d.queuedUntil}`,
    '',
    'Top sources:',
    ...d.sources.map(
      (s) => `  ${s.source}  ${s.alerts} ${s.alerts === 1 ? 'alert' : 'alerts'}, ${s.severity}${s.categories.length ? `  (${s.categories.join(', ')})` : ''}`,
    ),
  ];
  if (d.otherSources) lines.push(`  … and ${d.otherSources} more`);
  lines.push('', 'Categories:', ...d.categories.map((c) => `  ${c.category}  ${c.alerts}`));
  if (d.otherCategories) lines.push(`  … and ${d.otherCategories} more`);
  if (d.waiting) lines.push('', `${d.waiting} more alerts are waiting and go out in the next digest.`);
  lines.push(
    '',
    'Alerts at or above the immediate severity were sent on their own. Look any of these up with `probewatch alerts`.',
    'This digest was sent by ProbeWatch.',
  );
  return { subject, text: lines.join('\n') };
}
