import { clipEscaped, escapeUntrusted, sanitize } from '../core/escape.js';
import type { AlertReport, ScanReport } from '../core/report.js';
import { iso } from '../core/report.js';
import { EXPLAIN_LIMIT, type ExplainedRequest, formatCounts } from '../core/scan.js';

/** ANSI styling that disappears when colour is off. */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
}

/** Colour only on a TTY, and never when NO_COLOR is set (https://no-color.org). */
export function makeStyle(enabled: boolean): Style {
  const wrap = (open: number, close: number) => (s: string) => (enabled ? `\u001b[${open}m${s}\u001b[${close}m` : s);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), yellow: wrap(33, 39), green: wrap(32, 39) };
}

function shortTime(isoText: string): string {
  return isoText.replace('T', ' ').replace('Z', '');
}

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visibleLength(c));
    });
  }
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visibleLength(c))))
        .join('  ')
        .trimEnd(),
  );
}

function visibleLength(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips our own colour codes
  return s.replace(/\u001b\[\d+m/g, '').length;
}

function wrapText(text: string, width: number, indent: string): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(indent + line);
  return out;
}

/** Options of the text report. */
export interface RenderOptions {
  /** Alerted sources shown (summary and details), the most severe first. @default all */
  top?: number;
  /** The short window of the detector, for the horizon column. @default 120 */
  windowSeconds?: number;
}

/** The report's width when the output is not a terminal (or the terminal is narrower than 60). */
export const FALLBACK_WIDTH = 100;

/** The width to wrap to: the terminal's columns, else {@link FALLBACK_WIDTH}. */
export function outputWidth(out: { isTTY?: boolean; columns?: number }): number {
  return out.isTTY && typeof out.columns === 'number' && out.columns >= 60 ? out.columns : FALLBACK_WIDTH;
}

/**
 * How a source is shown: an IPv6 /64 in which one address was seen is that address (the /64 is
 * what state is kept under, but `::1` is not `::/64`).
 */
export function sourceLabel(x: { source: string; address?: string }): string {
  return x.address ?? x.source;
}

/** The horizon that alerted, short: `2m` (the short window), `1h`, `24h`. */
export function horizonLabel(a: AlertReport, windowSeconds = 120): string {
  const seconds = a.horizon?.seconds ?? windowSeconds;
  return seconds % 3600 === 0 ? `${seconds / 3600}h` : seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/**
 * As many items as fit in `room` characters, then `+N` for the rest; the first item is always
 * shown, cut (with an ellipsis) when even it does not fit. Items are escaped text.
 */
export function fitList(items: readonly string[], room: number): string {
  let text = '';
  for (const [i, item] of items.entries()) {
    const rest = items.length - i - 1;
    const tail = rest ? ` +${rest}`.length : 0;
    if (!text) {
      if (item.length + tail <= room) {
        text = item;
        continue;
      }
      // Without its count (`×34`) when that makes it fit whole; else cut to leave room for the
      // count of the others: nothing after it is shown, not even a short item.
      const bare = item.replace(/×\d+$/, '');
      if (bare !== item && bare.length + tail <= room) return rest ? `${bare} +${rest}` : bare;
      const cut = clipEscaped(bare, Math.max(8, room - tail));
      return rest ? `${cut} +${rest}` : cut;
    }
    if (text.length + 1 + item.length + tail > room) return `${text} +${items.length - i}`;
    text = `${text} ${item}`;
  }
  return text;
}

/**
 * `2024-01-01 00:00:00 → 00:01:40` (the date once when both are on the same day), to the second:
 * the details give milliseconds when the log has them.
 */
function span(first: string, last: string): string {
  const f = shortTime(first).slice(0, 19);
  const l = shortTime(last).slice(0, 19);
  return `${f} → ${last.slice(0, 10) === first.slice(0, 10) ? l.slice(11) : l}`;
}

/** `1 line`, `1,200 lines`. */
export const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;

/**
 * The human report: a summary of the alerted sources, their details, suspicious sources, benign
 * noise, then parse statistics. Every string from a log or a file name arrives escaped by
 * `buildReport`; only truncation happens here.
 */
export function renderReport(report: ScanReport, st: Style, width = FALLBACK_WIDTH, opts: RenderOptions = {}): string {
  return [...reportLines(report, st, width, opts)].join('\n');
}

/**
 * The human report, line by line as it is written: a report of 100,000 alerts is never all its
 * text in memory at once, only the report and the lines of the piece being written.
 */
export function* reportLines(report: ScanReport, st: Style, width = FALLBACK_WIDTH, opts: RenderOptions = {}): Generator<string> {
  const files = report.files.length;
  const alerted = report.alerts.length;
  const suspicious = report.sources.filter((s) => s.verdict === 'suspicious');
  yield st.bold(`ProbeWatch scan: ${files} ${files === 1 ? 'file' : 'files'}, ${plural(report.lines.total, 'line')}, `) +
    (alerted ? st.red(st.bold(`${alerted} alerted`)) : st.green('nothing alerted')) +
    // Quiet: every other source, those the report explains as benign and the uncounted clean ones.
    st.bold(`, ${suspicious.length} suspicious, ${plural(report.sources.length - alerted - suspicious.length + report.cleanSources, 'quiet source')}`);
  yield '';
  if (alerted) {
    // One lookup table, not a search of every source per alert: 10,000 alerts stay linear.
    const labelsOf = new Map(report.sources.map((s) => [s.source, s.labels]));
    const shown = opts.top !== undefined ? report.alerts.slice(0, opts.top) : report.alerts;
    const more = alerted - shown.length;
    const moreLine = st.dim(`  … and ${more} more alerted ${more === 1 ? 'source' : 'sources'} (--top to show more; --json lists all)`);
    // The summary: one line per alerted source, the most severe first.
    yield st.bold(`ALERTS (${alerted})`);
    // Column widths first, then each row as it is written: never every row of 100,000 alerts at once.
    const head = ['source', 'severity', 'horizon', 'req', 'first → last seen (UTC)'];
    const cells = (a: AlertReport) => [sourceLabel(a), a.severity, horizonLabel(a, opts.windowSeconds), String(a.requests), span(a.firstSeen, a.lastSeen)];
    const widths = head.map((h) => h.length);
    for (const a of shown) {
      const row = cells(a);
      for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i] ?? 0, (row[i] as string).length);
    }
    // One line per source: the categories take the room left on the line (at least the first).
    const room = width - 2 - widths.reduce((n, w) => n + w + 2, 0);
    // Plain padding (no colour in these cells): one pass, however many alerts.
    const line = (r: string[]) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd();
    yield st.dim(line([...head, room >= 'top categories'.length ? 'top categories' : 'categories']));
    for (const a of shown) {
      const labels = labelsOf.get(a.source);
      yield line([
        ...cells(a),
        fitList(
          a.categories.map((c) => `${c}×${labels?.[c] ?? 0}`),
          room,
        ),
      ]);
    }
    if (more > 0) yield moreLine;
    yield '';
    yield st.bold('DETAILS');
    for (const a of shown) {
      const sev = a.severity === 'critical' || a.severity === 'high' ? st.red(a.severity) : st.yellow(a.severity);
      // One row: no column widths to compute (table() per alert dominated large reports).
      yield `  ${st.bold(sourceLabel(a))}  ${sev}  score ${a.score}  ${a.requests} req  ${shortTime(a.firstSeen)} → ${shortTime(a.lastSeen)} UTC`;
      if (a.address) yield st.dim(`    the only address seen in ${a.source}`);
      yield* wrapText(a.reason, width - 4, '    ');
      yield* wrapText(`Why it alerted: ${a.evidence}`, width - 4, '    ');
      const labels = labelsOf.get(a.source);
      const cats = a.categories.map((c) => `${c}×${labels?.[c] ?? 0}`).join(' ');
      yield* wrapText(`categories: ${cats}`, width - 4, '    ').map((l) => st.dim(l));
      yield* wrapText(a.what, width - 4, '    ');
      yield* wrapText(`What to do: ${a.todo}`, width - 4, '    ');
      if (a.note) yield* wrapText(`Note: ${a.note}`, width - 4, '    ').map((l) => st.yellow(l));
      const samples = a.samples.slice(0, 3);
      for (const s of samples) yield st.dim(`      ${shortTime(s.time)}  ${s.status}  ${s.request}`);
      if (a.samples.length > samples.length) yield st.dim(`      … (--explain ${sourceLabel(a)} lists every request)`);
      yield '';
    }
    if (more > 0) {
      yield moreLine;
      yield '';
    }
  }
  if (suspicious.length) {
    yield st.bold(`SUSPICIOUS, BELOW THE ALERT THRESHOLD (${suspicious.length})`);
    const rows = suspicious.slice(0, 20).map((s) => [
      sourceLabel(s),
      s.severity,
      `score ${s.score}`,
      `${s.requests} req`,
      `${shortTime(s.firstSeen)} → ${s.lastSeen.slice(0, 10) === s.firstSeen.slice(0, 10) ? shortTime(s.lastSeen).slice(11) : shortTime(s.lastSeen)}`,
      Object.entries(s.labels)
        .map(([c, n]) => `${c}×${n}`)
        .join(' '),
    ]);
    yield* table(rows);
    if (suspicious.length > 20) yield st.dim(`  … and ${suspicious.length - 20} more (--json lists them all)`);
    yield '';
  }
  if (report.benign.length) {
    yield st.bold('BENIGN NOISE (ignored, and why)');
    for (const b of report.benign) {
      const who = b.sources.length ? ` from ${b.sources.slice(0, 3).join(', ')}${b.sources.length > 3 ? ', …' : ''}` : '';
      yield `  ${b.category}: ${b.requests} ${b.requests === 1 ? 'request' : 'requests'}${who}`;
      yield* wrapText(b.explanation, width - 6, '      ').map((l) => st.dim(l));
    }
    yield '';
  }
  yield st.bold('PARSING');
  for (const f of report.files) {
    const skipped = Object.entries(f.skipped)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    yield `  ${clipEscaped(f.name, 80)}: ${f.notLog ? `not read: ${clipEscaped(f.notLog, 160)}` : Object.keys(f.formats).length > 1 ? `${formatCounts(f.formats)} (${f.formatSource} per line)` : `${f.format || 'unknown'} (${f.formatSource})`}, ${f.parsed}/${f.total} lines parsed${skipped ? `; skipped: ${skipped}` : ''}`;
    if (f.hint) yield* wrapText(f.hint, width - 6, '      ').map((l) => st.yellow(l));
  }
  // The whole file name: two files that differ only at the end must stay told apart.
  for (const s of report.skippedSamples.slice(0, 5)) yield st.dim(`    ${s.object}:${s.line} ${s.reason}: ${s.text}`);
}

/** How many requests of the explained source were seen, and how many of them are listed. */
export interface ExplainCounts {
  /** Requests of the source the scan counted (at least those listed). */
  requestsSeen: number;
  /** Requests listed: the first ones, at most `limit`. */
  listed: number;
  /** Most requests listed ({@link EXPLAIN_LIMIT}). */
  limit: number;
}

/**
 * The counts of `--explain`: `seen` is the source's request count from the report's entry (or
 * the detector's state when the source was clean, so not listed in the report).
 */
export function explainCounts(listed: number, seen: number | undefined): ExplainCounts {
  return { requestsSeen: Math.max(listed, seen ?? 0), listed, limit: EXPLAIN_LIMIT };
}

/** The explained requests as the JSON document holds them: times in ISO 8601 UTC, strings escaped. */
export function explainJson(source: string, requests: readonly ExplainedRequest[], counts: ExplainCounts) {
  return {
    source,
    ...counts,
    requests: requests.map((r) => ({
      ...r,
      time: iso(r.time),
      object: escapeUntrusted(r.object),
      request: sanitize(r.request, 300),
      userAgent: sanitize(r.userAgent, 200),
    })),
  };
}

/** `--explain IP`: every request of one source (the first {@link EXPLAIN_LIMIT}) with the rules that matched it. */
export function renderExplain(
  source: string,
  requests: readonly ExplainedRequest[],
  report: ScanReport,
  st: Style,
  width = FALLBACK_WIDTH,
  counts: ExplainCounts = explainCounts(requests.length, undefined),
): string {
  const out: string[] = [];
  const summary = report.sources.find((s) => s.source === source);
  const how =
    counts.requestsSeen > counts.listed
      ? `${counts.requestsSeen.toLocaleString('en')} seen, the first ${counts.listed.toLocaleString('en')} listed`
      : counts.listed >= counts.limit
        ? `${counts.listed.toLocaleString('en')} listed, the most --explain lists (any later ones are not)`
        : counts.listed.toLocaleString('en');
  out.push(st.bold(`Requests from ${source}: ${how}${summary ? ` (verdict: ${summary.verdict}, score ${summary.score})` : ''}`));
  if (summary) out.push(`  ${summary.reason}`);
  for (const r of requests) {
    out.push(`  ${shortTime(iso(r.time))}  ${r.status}  ${sanitize(r.request, 160)}`);
    if (r.labels.length === 0) out.push(st.dim('      no rule matched'));
    for (const l of r.labels) out.push(...wrapText(`${l.category} [${l.rule}, +${l.score}]: ${l.explain}`, width - 6, '      ').map((x) => st.dim(x)));
  }
  if (requests.length === 0) out.push('  No request from this source was found.');
  else if (counts.requestsSeen > counts.listed)
    out.push(st.dim(`  … ${(counts.requestsSeen - counts.listed).toLocaleString('en')} later requests not listed (--since/--until narrow the scan)`));
  return out.join('\n');
}

/**
 * `JSON.stringify(doc, null, 2)` and a newline, the same text, in pieces: one per top-level field
 * and one per element of a top-level array. A report of thousands of alerts is then never one
 * string of tens of MB (and its copy as bytes) in memory at once.
 */
export function* jsonPieces(doc: Readonly<Record<string, unknown>>): Generator<string> {
  const indent = (json: string, pad: string) => json.replace(/\n/g, `\n${pad}`);
  const keys = Object.keys(doc).filter((k) => doc[k] !== undefined && typeof doc[k] !== 'function');
  yield '{\n';
  for (const [i, k] of keys.entries()) {
    const v = doc[k];
    const end = i < keys.length - 1 ? ',\n' : '\n';
    if (Array.isArray(v) && v.length > 0) {
      yield `  ${JSON.stringify(k)}: [\n`;
      for (const [j, e] of v.entries()) yield `    ${indent(JSON.stringify(e ?? null, null, 2), '    ')}${j < v.length - 1 ? ',' : ''}\n`;
      yield `  ]${end}`;
    } else yield `  ${JSON.stringify(k)}: ${indent(JSON.stringify(v, null, 2), '  ')}${end}`;
  }
  yield '}\n';
}

/**
 * Writes pieces to a stream, waiting whenever it asks to (a pipe to a slow reader would otherwise
 * queue the whole report in memory). Stops at an error or a close (a reader that went away).
 */
export async function writePieces(out: NodeJS.WritableStream, pieces: Iterable<string>): Promise<void> {
  let gone = false;
  const onGone = () => {
    gone = true;
  };
  out.once('error', onGone);
  out.once('close', onGone);
  try {
    for (const piece of pieces) {
      if (gone) return;
      if (out.write(piece)) continue;
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done);
          out.off('error', done);
          out.off('close', done);
          resolve();
        };
        out.once('drain', done);
        out.once('error', done);
        out.once('close', done);
      });
    }
  } finally {
    out.off('error', onGone);
    out.off('close', onGone);
  }
}
