import { createHash } from 'node:crypto';
import { sanitize } from './escape.js';
import type { AlertDocument, AlertMessage, AlertShortening } from './ports.js';
import type { AlertReport } from './report.js';
import type { Severity } from './rules/types.js';

/** SNS: a subject must be fewer than 100 characters. */
export const SUBJECT_MAX_CHARS = 99;
/** Message attribute values (category, environment): short enough to filter on, bounded in size. */
export const ATTRIBUTE_MAX_CHARS = 64;
/** A source key is an address or an IPv6 /64; anything longer is a logged host name or junk. */
export const SOURCE_MAX_CHARS = 100;
/** An object id (`bucket/key#etag`): S3 keys reach 1,024 bytes and are chosen by whoever uploads. */
export const OBJECT_ID_MAX_CHARS = 300;
/** Objects listed in the body for people (the document lists up to the level's count). */
export const TEXT_OBJECTS_MAX = 10;

/**
 * How much evidence an alert carries, from all of it to none. The first level whose message the
 * publisher accepts is used: the alert is never dropped, its evidence is cut.
 */
export const EVIDENCE_LEVELS: readonly { samples: number; objects: number; chars: number }[] = [
  { samples: 10, objects: 20, chars: OBJECT_ID_MAX_CHARS },
  { samples: 5, objects: 10, chars: 160 },
  { samples: 3, objects: 3, chars: 80 },
  { samples: 1, objects: 1, chars: 40 },
  { samples: 0, objects: 0, chars: 0 },
];

/** Idempotency key of one alert: the same source, severity and object give the same id (a repeat after a crash). */
export function alertIdOf(source: string, severity: Severity, objectId: string): string {
  return createHash('sha256').update(`${source}\n${severity}\n${objectId}`).digest('hex').slice(0, 32);
}

/** Cuts an already escaped string to `max` characters, an ellipsis marking the cut. */
function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  if (max <= 1) return max === 1 ? '…' : '';
  let head = s.slice(0, max - 1);
  // Never leave half a surrogate pair behind.
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  return `${head}…`;
}

/**
 * SNS requires a subject of printable text without line breaks or control characters; some
 * e-mail paths mangle anything beyond ASCII, so the subject is kept to printable ASCII.
 */
function subjectText(s: string): string {
  const ascii = s
    .replace(/×/g, 'x')
    .replace(/…/g, '...')
    .replace(/[^\x20-\x7e]/g, '?');
  return ascii.length <= SUBJECT_MAX_CHARS ? ascii : `${ascii.slice(0, SUBJECT_MAX_CHARS - 3)}...`;
}

/** Options of {@link buildAlertMessage}. */
export interface AlertMessageOptions {
  alertId: string;
  /** The publisher's size check; the first evidence level it accepts is used. @default everything fits */
  fits?: (m: AlertMessage) => boolean;
}

/**
 * Builds the published alert from the same facts as the CLI report: a subject a person can
 * triage from an inbox (printable ASCII, fewer than 100 characters), a plain-text body, a JSON
 * document for machines and the attributes subscribers filter on. Every string that came from a
 * log or a key is escaped and bounded here (sources, object ids, categories) or already was by the
 * report (requests, user agents, referers). When the message is too large for the publisher, the
 * evidence is cut (fewer samples and objects, shorter strings) and the cut is said in both forms.
 */
export function buildAlertMessage(report: AlertReport, environment: string, objects: readonly string[], opts: AlertMessageOptions): AlertMessage {
  let message: AlertMessage | undefined;
  for (const [i, level] of EVIDENCE_LEVELS.entries()) {
    message = compose(report, environment, objects, opts.alertId, level, i > 0);
    if (!opts.fits || opts.fits(message)) return message;
  }
  // Even the last level is refused: hand it over anyway; the publisher's error names the sizes.
  return message as AlertMessage;
}

function compose(
  report: AlertReport,
  environmentRaw: string,
  allObjects: readonly string[],
  alertId: string,
  level: (typeof EVIDENCE_LEVELS)[number],
  isShortened: boolean,
): AlertMessage {
  const environment = sanitize(environmentRaw, ATTRIBUTE_MAX_CHARS);
  // Sources are addresses or CIDRs (nothing to escape twice); escaped again in case a caller's is not.
  const source = sanitize(report.source, SOURCE_MAX_CHARS);
  const categories = report.categories.map((c) => sanitize(c, ATTRIBUTE_MAX_CHARS));
  const trigger = sanitize(report.trigger, 120);
  const samples = report.samples.slice(0, level.samples).map((s) => ({
    ...s,
    request: cut(s.request, Math.max(level.chars, 1)),
    userAgent: cut(s.userAgent, Math.min(level.chars, 120)),
    labels: s.labels.map((l) => sanitize(l, ATTRIBUTE_MAX_CHARS)),
  }));
  const objects = allObjects.slice(0, level.objects).map((o) => sanitize(o, level.chars || OBJECT_ID_MAX_CHARS));
  const shortened: AlertShortening | undefined = isShortened
    ? { samples: report.samples.length - samples.length, objects: allObjects.length - objects.length, maxChars: level.chars }
    : undefined;

  const headline = report.reason.split(':')[0] ?? 'Probing';
  // Integer-like keys iterate in numeric order, not by count: pick the most common explicitly.
  const topStatus = Object.entries(report.statuses)
    .filter(([k]) => /^\d{3}$/.test(k))
    .sort((a, b) => b[1] - a[1])[0];
  const subject = subjectText(
    `[${environment}] ${headline} from ${source}: ${report.requests} ${report.requests === 1 ? 'request' : 'requests'}${topStatus ? `, ${topStatus[1]} x ${topStatus[0]}` : ''}`,
  );
  const document: AlertDocument = {
    version: 1,
    environment,
    alertId,
    ...report,
    source,
    categories,
    trigger,
    samples,
    objects,
    objectCount: allObjects.length,
    ...(shortened ? { shortened } : {}),
  };
  const lines = [
    `ProbeWatch alert (${environment})`,
    '',
    `Source:      ${source}`,
    `Verdict:     alert, severity ${report.severity}, total score ${report.score}`,
    `Why:         ${report.evidence}`,
    `What:        ${report.reason}`,
    `Categories:  ${categories.join(', ')}`,
    `First seen:  ${report.firstSeen}`,
    `Last seen:   ${report.lastSeen}`,
    `Trigger:     ${trigger} at ${report.triggeredAt}`,
    '',
    report.what,
    `What to do: ${report.todo}`,
  ];
  if (report.note) lines.push('', `Note: ${report.note}`);
  lines.push('', `Sample requests (${samples.length}):`);
  for (const s of samples) lines.push(`  ${s.time}  ${s.status}  ${s.request}${s.userAgent ? `  [${s.userAgent}]` : ''}`);
  if (allObjects.length) {
    lines.push('', 'Log objects:');
    const listed = objects.slice(0, TEXT_OBJECTS_MAX);
    for (const o of listed) lines.push(`  ${o}`);
    if (allObjects.length > listed.length) lines.push(`  … and ${allObjects.length - listed.length} more`);
  }
  if (shortened) {
    lines.push(
      '',
      `Shortened to fit the message size limit: ${shortened.samples} sample requests and ${shortened.objects} log objects left out, strings cut to ${shortened.maxChars} characters.`,
    );
  }
  lines.push('', `Alert id ${alertId}. This message was sent by ProbeWatch. The JSON form of it goes to SQS, Lambda and HTTPS subscribers.`);
  return {
    subject,
    text: lines.join('\n'),
    document,
    attributes: { severity: report.severity, category: categories[0] ?? 'unknown', environment, alertId },
  };
}
