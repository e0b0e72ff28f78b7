/**
 * Recall and precision of the detector on a synthetic day (`npm run recall`; a benchmark, never a
 * test). Writes the day with `bench/day.ts`, scans it the way `probewatch scan --json` does (the
 * CLI's `main`, default configuration), and scores each source's verdict against the truth file,
 * which the detector never sees. Prints a table per behaviour and the totals against the goal:
 * recall ≥ 0.95 of attacking sources at precision ≥ 0.99. Always exits 0: it measures, it does
 * not judge. Options: --lines N (default 300000), --seed N, --out DIR, or --log FILE --truth FILE
 * to score an existing pair; --format NAME is passed to the scan instead of auto-detection.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { main } from '../lambdas/cli/main.js';
import { sourceKey } from '../lambdas/core/ip.js';
import type { ScanReport } from '../lambdas/core/report.js';
import { BEHAVIOURS, type DayTruth, generateDay } from './day.js';

const GOAL_RECALL = 0.95;
const GOAL_PRECISION = 0.99;

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '300000' },
    seed: { type: 'string', default: '8' },
    out: { type: 'string', default: 'bench/out' },
    log: { type: 'string' },
    truth: { type: 'string' },
    format: { type: 'string' },
  },
});

let logPath = values.log;
let truthPath = values.truth;
if (!logPath || !truthPath) {
  mkdirSync(values.out, { recursive: true });
  logPath = join(values.out, 'day.log');
  truthPath = join(values.out, 'day.truth.json');
  const started = Date.now();
  process.stdout.write(`generating the day (~${Number(values.lines).toLocaleString('en')} lines, seed ${values.seed})… `);
  await generateDay({ lines: Number(values.lines), seed: Number(values.seed), logPath, truthPath });
  process.stdout.write(`done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
const truth = JSON.parse(readFileSync(truthPath, 'utf8')) as DayTruth;

// The CLI, in process, exactly as `probewatch scan --json --no-progress FILE` runs it.
const chunks: Buffer[] = [];
const stdout = new Writable({
  write(chunk, _enc, done) {
    chunks.push(Buffer.from(chunk));
    done();
  },
});
const stderr = new Writable({
  write(chunk, _enc, done) {
    process.stderr.write(chunk);
    done();
  },
});
const started = process.hrtime.bigint();
const args = ['scan', '--json', '--no-progress', ...(values.format ? ['--format', values.format] : []), logPath];
const code = await main(args, { stdout, stderr, stdin: new PassThrough(), env: {}, now: Date.now });
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
if (code !== 0) {
  console.log(`probewatch scan exited with ${code}; no scores.`);
  process.exit(0);
}
const report = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ScanReport;

/** The detector's key for a truth source: IPv4 as is, IPv6 by its /64. */
const keyOf = (s: string) => sourceKey(s.includes('/') ? (s.split('/')[0] as string) : s);
const verdicts = new Map(report.sources.map((s) => [s.source, s.verdict]));
const triggers = new Map(report.alerts.map((a) => [a.source, a.trigger.replace(/^(signature|threshold):/, '')]));

interface Row {
  sources: number;
  alerted: number;
  suspicious: number;
  clean: number;
  how: Map<string, number>;
  examples: string[];
}
const rows = new Map<string, Row>();
for (const b of Object.keys(BEHAVIOURS)) rows.set(b, { sources: 0, alerted: 0, suspicious: 0, clean: 0, how: new Map(), examples: [] });
const known = new Set<string>();
for (const [source, t] of Object.entries(truth.sources)) {
  const key = keyOf(source);
  known.add(key);
  const row = rows.get(t.behaviour) as Row;
  row.sources++;
  const v = verdicts.get(key) ?? 'benign';
  if (v === 'alert') {
    row.alerted++;
    const how = triggers.get(key) ?? '?';
    row.how.set(how, (row.how.get(how) ?? 0) + 1);
    if (!t.attacking && row.examples.length < 3) row.examples.push(key);
  } else if (v === 'suspicious') row.suspicious++;
  else row.clean++;
}
const unknownAlerts = report.alerts.filter((a) => !known.has(a.source)).map((a) => a.source);

const fmt = (n: number) => n.toLocaleString('en');
const ratio = (a: number, b: number) => (b === 0 ? '   -' : (a / b).toFixed(2));
const howText = (how: Map<string, number>) =>
  [...how]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');

const lines = report.lines;
const skipped = Object.entries(lines.skipped)
  .sort((a, b) => b[1] - a[1])
  .map(([k, n]) => `${k} ${fmt(n)}`)
  .join(', ');
console.log(
  `\nday: ${fmt(lines.total)} lines, ${fmt(lines.parsed)} parsed${skipped ? ` (skipped: ${skipped})` : ''}; format ${report.files.map((f) => `${f.format} (${f.formatSource})`).join(', ')}; scanned in ${seconds.toFixed(1)} s`,
);
console.log(`truth: ${fmt(Object.keys(truth.sources).length)} sources, seed ${truth.seed}, ${truth.from} – ${truth.to}\n`);

const W = 34;
console.log(`${'attacking behaviour'.padEnd(W)} sources  alerted  suspicious  missed  recall  alerted by`);
let tp = 0;
let attackers = 0;
let flagged = 0;
for (const [b, row] of rows) {
  if (!BEHAVIOURS[b]?.attacking || row.sources === 0) continue;
  attackers += row.sources;
  tp += row.alerted;
  flagged += row.alerted + row.suspicious;
  console.log(
    `${b.padEnd(W)} ${String(row.sources).padStart(7)}  ${String(row.alerted).padStart(7)}  ${String(row.suspicious).padStart(10)}  ${String(row.clean).padStart(6)}  ${ratio(row.alerted, row.sources).padStart(6)}  ${howText(row.how)}`,
  );
}
console.log(`\n${'benign behaviour'.padEnd(W)} sources  false alerts  suspicious  clean  alerted by (examples)`);
let fp = 0;
for (const [b, row] of rows) {
  if (BEHAVIOURS[b]?.attacking || row.sources === 0) continue;
  fp += row.alerted;
  const ex = row.examples.length ? ` (${row.examples.join(', ')})` : '';
  console.log(
    `${b.padEnd(W)} ${String(row.sources).padStart(7)}  ${String(row.alerted).padStart(12)}  ${String(row.suspicious).padStart(10)}  ${String(row.clean).padStart(5)}  ${howText(row.how)}${ex}`,
  );
}
if (unknownAlerts.length > 0) {
  fp += unknownAlerts.length;
  console.log(`alerts on sources the truth does not know (counted as false): ${unknownAlerts.length}, e.g. ${unknownAlerts.slice(0, 3).join(', ')}`);
}

const recall = attackers === 0 ? 0 : tp / attackers;
const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
console.log(
  `\nrecall    ${recall.toFixed(3)}  (${fmt(tp)} of ${fmt(attackers)} attacking sources alerted; goal ≥ ${GOAL_RECALL}: ${mark(recall >= GOAL_RECALL)})`,
);
console.log(
  `precision ${precision.toFixed(3)}  (${fmt(tp)} of ${fmt(tp + fp)} alerted sources are attacking; goal ≥ ${GOAL_PRECISION}: ${mark(precision >= GOAL_PRECISION)})`,
);
console.log(`alerted or suspicious: ${(flagged / Math.max(1, attackers)).toFixed(3)} of attacking sources`);
