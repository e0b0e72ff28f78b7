import type { AlertDocument, AlertMessage } from './ports.js';
import type { AlertReport } from './report.js';

const SUBJECT_MAX = 100;

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * Builds the published alert from the same facts as the CLI report: a subject a person can
 * triage from an inbox (≤ 100 characters), a plain-text body, a JSON document for machines and
 * the attributes subscribers filter on. Every attacker-controlled string in `report` is already
 * escaped and truncated.
 */
export function buildAlertMessage(report: AlertReport, environment: string, objects: readonly string[]): AlertMessage {
  const headline = report.reason.split(':')[0] ?? 'Probing';
  // Integer-like keys iterate in numeric order, not by count: pick the most common explicitly.
  const topStatus = Object.entries(report.statuses)
    .filter(([k]) => /^\d{3}$/.test(k))
    .sort((a, b) => b[1] - a[1])[0];
  const subject = truncate(
    `[${environment}] ${headline} from ${report.source}: ${report.requests} ${report.requests === 1 ? 'request' : 'requests'}${topStatus ? `, ${topStatus[1]} × ${topStatus[0]}` : ''}`,
    SUBJECT_MAX,
  );
  const document: AlertDocument = { version: 1, environment, ...report, objects: objects.slice(0, 20) };
  const lines = [
    `ProbeWatch alert (${environment})`,
    '',
    `Source:      ${report.source}`,
    `Verdict:     alert, severity ${report.severity}, score ${report.score} (${report.windowScore} within one window)`,
    `What:        ${report.reason}`,
    `Categories:  ${report.categories.join(', ')}`,
    `First seen:  ${report.firstSeen}`,
    `Last seen:   ${report.lastSeen}`,
    `Trigger:     ${report.trigger} at ${report.triggeredAt}`,
    '',
    report.what,
    `What to do: ${report.todo}`,
  ];
  if (report.note) lines.push('', `Note: ${report.note}`);
  lines.push('', `Sample requests (${Math.min(10, report.samples.length)}):`);
  for (const s of report.samples.slice(0, 10)) lines.push(`  ${s.time}  ${s.status}  ${s.request}${s.userAgent ? `  [${s.userAgent}]` : ''}`);
  if (objects.length) {
    lines.push('', 'Log objects:');
    for (const o of objects.slice(0, 10)) lines.push(`  ${o}`);
    if (objects.length > 10) lines.push(`  … and ${objects.length - 10} more`);
  }
  lines.push('', 'This message was sent by ProbeWatch. The JSON form of it goes to SQS, Lambda and HTTPS subscribers.');
  return {
    subject,
    text: lines.join('\n'),
    document,
    attributes: { severity: report.severity, category: report.categories[0] ?? 'unknown', environment },
  };
}
