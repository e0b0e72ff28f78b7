/** `probewatch state --env NAME [SOURCE] [--json]`: what the detector holds for a source, or the top sources now. */
import { sanitize } from '../../core/escape.js';
import { ipv6Prefix, normalizeIp, sourceKey } from '../../core/ip.js';
import type { SourceView, StateInspector } from '../../core/ports.js';
import { fitList, writePieces } from '../render.js';
import { CommandUsageError, type OpsIo, parseCount, parseStackArgs, shortTime, table, widthOf, wrapWords } from './common.js';

export const STATE_USAGE = `Usage: probewatch state --env NAME [SOURCE] [--top N] [--json]

Shows what the detector holds now: for one source (an IPv4 address, or an IPv6 address or /64),
its totals, labels, recent 10-second windows, long-horizon sums, samples, alert claim, block and
expiry; without a source, the sources with the highest score.

Options:
  --env NAME        the environment (cdk.json), or local for \`npm run local -- --keep-running\`
  --top N           how many sources without SOURCE (default 20)
  --region REGION   the stack's AWS region (default: AWS_REGION or your profile's)
  --json            one JSON document`;

export const DEFAULT_TOP_SOURCES = 20;
export const MAX_TOP_SOURCES = 1000;

export function parseStateArgs(argv: string[]) {
  const { values, positionals } = parseStackArgs(argv, { top: { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length > 1) throw new CommandUsageError('state takes at most one source');
  const source = positionals[0];
  // Checked before any stack is looked up: a typo is a usage error, wherever the stack is.
  if (source !== undefined) stateKeyOf(source);
  return { values, source };
}

/** The state key of what a person types: an IPv6 address becomes its /64, as the detector keys it. */
export function stateKeyOf(text: string): string {
  const t = text.trim();
  const notAddress = () => new CommandUsageError(`"${sanitize(t, 60)}" is not an IP address`);
  const slash = t.indexOf('/');
  const address = slash < 0 ? t : t.slice(0, slash);
  // Checked, not only shaped like one: 999.1.1.1 would otherwise be looked up and "not held".
  const normal = normalizeIp(address);
  if (normal === null) throw notAddress();
  if (slash < 0) return sourceKey(t);
  const bits = t.slice(slash + 1);
  // An IPv4 source (an IPv4-mapped IPv6 address too) is kept by its address.
  if (!normal.includes(':')) {
    if (bits === '32') return sourceKey(address);
    throw new CommandUsageError(`an IPv4 source is kept by its address: give ${sanitize(address, 60)} without "/${sanitize(bits, 10)}"`);
  }
  // A /64 is how every IPv6 source is kept; a flood aggregated as its /48 or /32 is kept under
  // that prefix, as written in the report.
  const prefix = bits === '64' || bits === '48' || bits === '32' ? ipv6Prefix(address, Number(bits) as 32 | 48 | 64) : null;
  if (prefix === null) throw new CommandUsageError(`an IPv6 source is kept by its /64 (or its /48 or /32 when aggregated), not by "/${sanitize(bits, 10)}"`);
  return prefix;
}

function escapedView(v: SourceView): SourceView {
  const counts = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).map(([k, n]) => [sanitize(k, 60), n]));
  return {
    ...v,
    source: sanitize(v.source, 100),
    labels: counts(v.labels),
    statuses: counts(v.statuses),
    // Samples are raw requests from the log (JSON-encoded): decoded, then every field escaped.
    samples: v.samples.map(sampleText),
    ...(v.alert ? { alert: { ...v.alert, severity: sanitize(v.alert.severity, 20), status: sanitize(v.alert.status, 20) } } : {}),
  };
}

const countsText = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}×${n}`)
    .join(' ') || '-';

/**
 * A stored sample (the store's `<ISO time> <status> <request>` line, or JSON of the raw request:
 * time, request, status, user agent), as one escaped line.
 */
export function sampleText(s: string): string {
  // The store's own line form: `<ISO time> <status> <request>`.
  const line = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\d{1,3}) (.*)$/s.exec(s);
  if (line) return `${shortTime(line[1] as string)}  ${line[2]}  ${sanitize(line[3] as string, 200)}`;
  try {
    const x = JSON.parse(s) as { t?: number; r?: string; s?: number; u?: string };
    const t = typeof x.t === 'number' && Number.isFinite(x.t) && Math.abs(x.t) < 8.64e15 ? new Date(x.t).toISOString() : '';
    return `${shortTime(t)}  ${Number(x.s ?? 0)}  ${sanitize(String(x.r ?? ''), 200)}${x.u ? `  "${sanitize(String(x.u), 120)}"` : ''}`;
  } catch {
    return sanitize(s, 400);
  }
}

function describe(v: SourceView, width: number): string[] {
  const out: string[] = [];
  out.push(
    `${v.source}: ${v.requests} ${v.requests === 1 ? 'request' : 'requests'}, score ${v.score}, last seen ${shortTime(v.lastSeen)} UTC, forgotten after ${shortTime(v.expiresAt)} UTC`,
  );
  const wrap = (label: string, text: string) => {
    const lines = wrapWords(text, Math.max(20, width - 4 - label.length));
    out.push(`  ${label}${lines[0]}`);
    for (const l of lines.slice(1)) out.push(`  ${' '.repeat(label.length)}${l}`);
  };
  wrap('labels: ', countsText(v.labels));
  wrap('statuses: ', countsText(v.statuses));
  wrap('long horizons: ', v.long.map((h) => `${h.horizon}: score ${h.score}, ${h.paths} distinct error paths`).join('; ') || '-');
  if (v.alert) {
    wrap(
      'alert claim: ',
      `${v.alert.severity} at ${shortTime(v.alert.at)} UTC, ${v.alert.status}${v.alert.alertId ? `, id ${v.alert.alertId}` : ''}${v.alert.leaseUntil ? `, leased until ${shortTime(v.alert.leaseUntil)} UTC` : ''}`,
    );
  } else out.push('  alert claim: none');
  out.push(
    v.block ? `  block: ${v.block.cidr} until ${shortTime(v.block.until)} UTC${v.block.dryRun ? ' (dry run: recorded, not blocked)' : ''}` : '  block: none',
  );
  if (v.windows.length) {
    out.push(`  recent 10-second windows (${v.windows.length}, oldest first):`);
    out.push(...table([['start', 'score', 'errors'], ...v.windows.map((w) => [shortTime(w.start), String(w.score), String(w.errors)])], width, '    '));
  }
  if (v.samples.length) {
    out.push('  samples:');
    for (const s of v.samples) out.push(...wrapWords(s, width - 4).map((l) => `    ${l}`));
  }
  return out;
}

export async function runState(parsed: ReturnType<typeof parseStateArgs>, inspector: StateInspector, io: OpsIo, where: string): Promise<number> {
  const { values, source } = parsed;
  const now = io.now();
  const width = widthOf(io.stdout);
  if (source !== undefined) {
    const key = stateKeyOf(source);
    const view = await inspector.describeSource(key, now);
    if (values.json) {
      await writePieces(io.stdout, [`${JSON.stringify({ version: 1, source: key, state: view ? escapedView(view) : null }, null, 2)}\n`]);
      return view ? 0 : 1;
    }
    if (!view) {
      io.stdout.write(`${key}: nothing held in ${where} (never flagged, or its state has expired)\n`);
      return 1;
    }
    await writePieces(io.stdout, [`${describe(escapedView(view), width).join('\n')}\n`]);
    return 0;
  }
  const top = parseCount(values.top, '--top', DEFAULT_TOP_SOURCES, MAX_TOP_SOURCES);
  const views = (await inspector.topSources(now, top)).map(escapedView);
  if (values.json) {
    await writePieces(io.stdout, [`${JSON.stringify({ version: 1, sources: views }, null, 2)}\n`]);
    return 0;
  }
  const lines = [`${views.length} ${views.length === 1 ? 'source' : 'sources'} held in ${where}${views.length >= top ? ` (the top ${top} by score)` : ''}`];
  if (views.length) {
    lines.push('');
    const rows = [['source', 'requests', 'score', 'last seen', 'alert']];
    for (const v of views) {
      rows.push([v.source, String(v.requests), String(v.score), shortTime(v.lastSeen), v.alert ? `${v.alert.severity} (${v.alert.status})` : '-']);
    }
    // One line per source: the labels take the room left on the line, the rest counted.
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
    const room = width - 2 - widths.reduce((n, w) => n + w + 2, 0);
    rows[0]?.push('labels');
    views.forEach((v, i) => {
      rows[i + 1]?.push(
        fitList(
          Object.entries(v.labels)
            .sort((a, b) => b[1] - a[1])
            .map(([k, n]) => `${k}×${n}`),
          room,
        ) || '-',
      );
    });
    lines.push(...table(rows, width));
    lines.push('', 'probewatch state --env … SOURCE shows one source in full.');
  }
  await writePieces(io.stdout, [`${lines.join('\n')}\n`]);
  return 0;
}
