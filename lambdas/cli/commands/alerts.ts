/** `probewatch alerts --env NAME [--since 24h] [--until …] [--limit N] [--json]`: past alerts from the state table. */
import { sanitize } from '../../core/escape.js';
import type { AlertRecord, StateInspector } from '../../core/ports.js';
import { writePieces } from '../render.js';
import { CommandUsageError, type OpsIo, parseCount, parseStackArgs, parseTimeArg, shortTime, table, widthOf } from './common.js';

export const ALERTS_USAGE = `Usage: probewatch alerts --env NAME [--since 24h] [--until TIME] [--limit N] [--json]

Lists the alerts the pipeline published (newest first): when, source, severity, categories,
the reason, and until when the source is blocked (when blocking is on).

Options:
  --env NAME        the environment (cdk.json), or local for \`npm run local -- --keep-running\`
  --since TIME      from this time: 30m, 24h, 7d back from now, or a date (default 24h)
  --until TIME      up to this time (default now)
  --limit N         at most N alerts, the newest (default 200)
  --region REGION   the stack's AWS region (default: AWS_REGION or your profile's)
  --json            one JSON document: { "alerts": [...] }`;

/** Alerts listed at most unless --limit says otherwise. */
export const DEFAULT_ALERT_LIMIT = 200;
/** The most --limit accepts. */
export const MAX_ALERT_LIMIT = 10_000;

export function parseAlertsArgs(argv: string[]) {
  const { values, positionals } = parseStackArgs(argv, {
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length) throw new CommandUsageError(`alerts takes no argument (got "${sanitize(positionals[0] ?? '', 60)}")`);
  return values;
}

/** Every string of a record escaped: sources, reasons and categories come from logs and rules. */
function escaped(a: AlertRecord): AlertRecord {
  const out: AlertRecord = {
    alertId: sanitize(a.alertId, 80),
    source: sanitize(a.source, 100),
    severity: sanitize(a.severity, 20),
    categories: a.categories.map((c) => sanitize(c, 60)),
    reason: sanitize(a.reason, 300),
    firstSeen: sanitize(a.firstSeen, 40),
    lastSeen: sanitize(a.lastSeen, 40),
    publishedAt: sanitize(a.publishedAt, 40),
  };
  if (a.horizon) out.horizon = sanitize(a.horizon, 10);
  if (a.environment) out.environment = sanitize(a.environment, 40);
  if (a.blockedUntil) out.blockedUntil = sanitize(a.blockedUntil, 60);
  return out;
}

export async function runAlerts(values: ReturnType<typeof parseAlertsArgs>, inspector: StateInspector, io: OpsIo, where: string): Promise<number> {
  const now = io.now();
  const since = parseTimeArg(values.since ?? '24h', now, '--since');
  const until = values.until ? parseTimeArg(values.until, now, '--until') : now;
  if (since > until) throw new CommandUsageError('--since is after --until');
  const limit = parseCount(values.limit, '--limit', DEFAULT_ALERT_LIMIT, MAX_ALERT_LIMIT);
  const alerts = (await inspector.listAlerts(since, until, limit)).map(escaped);
  const range = `${shortTime(new Date(since).toISOString())} → ${shortTime(new Date(until).toISOString())} UTC`;
  if (values.json) {
    await writePieces(io.stdout, [
      `${JSON.stringify({ version: 1, since: new Date(since).toISOString(), until: new Date(until).toISOString(), alerts }, null, 2)}\n`,
    ]);
    return 0;
  }
  const width = widthOf(io.stdout);
  const lines: string[] = [];
  lines.push(
    `${alerts.length} ${alerts.length === 1 ? 'alert' : 'alerts'} in ${where}, ${range}${alerts.length >= limit ? ` (the newest ${limit}; --limit for more)` : ''}`,
  );
  if (alerts.length) {
    lines.push('');
    const rows = [['published', 'source', 'severity', 'blocked until', 'what']];
    for (const a of alerts) {
      rows.push([
        shortTime(a.publishedAt),
        a.source,
        a.severity + (a.horizon ? ` (${a.horizon})` : ''),
        a.blockedUntil ? shortTime(a.blockedUntil) : '-',
        `${a.reason} [${a.categories.join(', ')}] seen ${shortTime(a.firstSeen)} → ${shortTime(a.lastSeen)}`,
      ]);
    }
    lines.push(...table(rows, width));
  }
  await writePieces(io.stdout, [`${lines.join('\n')}\n`]);
  return 0;
}
