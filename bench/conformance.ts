/**
 * Checks the parsers and rules against third-party logs that no one on this project wrote
 * (`npm run conformance -- <dir>`, a folder of third-party logs). Not part of `npm test`: the samples
 * are not ours to ship. Prints, per file, the formats detected (per line, as the CLI and the
 * function read) and the lines parsed, and for annotated samples (fail2ban's `# failJSON`) how
 * often ProbeWatch agrees.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DEFAULT_CONFIG } from '../lambdas/core/config.js';
import { autoParser } from '../lambdas/core/formats/index.js';
import { buildReport } from '../lambdas/core/report.js';
import { BUILTIN_RULES } from '../lambdas/core/rules/builtin.js';
import { Classifier } from '../lambdas/core/rules/engine.js';
import { Detector, formatCounts } from '../lambdas/core/scan.js';

const root = process.argv[2];
if (!root) {
  console.error('usage: npm run conformance -- <corpus dir>');
  process.exit(2);
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

function text(path: string): string | null {
  const buf = readFileSync(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) return gunzipSync(buf).toString('utf8');
  if (path.endsWith('.bz2') || path.endsWith('.md')) return null;
  return buf.toString('utf8');
}

const classifier = new Classifier(BUILTIN_RULES);
let agree = 0;
let disagree = 0;

console.log('file'.padEnd(64), 'format'.padEnd(16), 'parsed');
for (const file of walk(root)) {
  const body = text(file);
  if (body === null) continue;
  const lines = body.split('\n').map((l) => l.replace(/\r$/, ''));
  const annotated = lines.some((l) => l.startsWith('# failJSON'));
  const dataLines = lines.filter((l) => l !== '' && !(annotated && l.startsWith('#')));
  if (dataLines.length === 0) continue;
  // Per line, as the CLI and the function read: a file may mix formats.
  const parser = autoParser();
  const formats: Record<string, number> = {};
  const parse = (line: string) => {
    const r = parser.parse(line);
    if (r?.ok) formats[parser.format] = (formats[parser.format] ?? 0) + 1;
    return r;
  };
  const parsed = dataLines.map(parse);
  const ok = parsed.filter((r) => r?.ok).length;
  const headers = parsed.filter((r) => r === null).length;
  console.log(
    file.slice(root.length + 1).padEnd(64),
    (ok ? formatCounts(formats) : '-').padEnd(16),
    `${ok}/${dataLines.length - headers}${ok * 2 < dataLines.length - headers ? '  (no supported format)' : ''}`,
  );

  if (annotated) {
    // fail2ban: the annotation says whether its filter must match the next line.
    for (let i = 0; i < lines.length; i++) {
      const m = /^# failJSON: (.*)$/.exec(lines[i] as string);
      if (!m) continue;
      const expectMatch = /"match"\s*:\s*true/.test(m[1] as string);
      let j = i + 1;
      while (j < lines.length && (lines[j] === '' || (lines[j] as string).startsWith('#'))) j++;
      const r = parse(lines[j] ?? '');
      if (!r?.ok) {
        console.log(`   line ${j + 1}: not parsed (${r?.ok === false ? r.reason : 'header'}); fail2ban expects match=${expectMatch}`);
        continue;
      }
      const labels = classifier
        .classify(r.record)
        .labels.filter((l) => l.rule.class !== 'benign')
        .map((l) => l.category);
      const flagged = labels.length > 0;
      if (flagged === expectMatch) agree++;
      else disagree++;
      console.log(
        `   line ${j + 1}: fail2ban match=${expectMatch}, ProbeWatch ${flagged ? labels.join('+') : 'no label'}${flagged === expectMatch ? '' : '   <- differs'}`,
      );
    }
  }

  if (!annotated && dataLines.length > 1000) {
    // Unlabelled real traffic: every alert is a candidate false positive for a person to read.
    const d = new Detector(structuredClone(DEFAULT_CONFIG));
    const o = d.openObject(file);
    for (const l of dataLines) o.push(l);
    o.end();
    const report = buildReport(d);
    const suspicious = report.sources.filter((s) => s.verdict === 'suspicious').length;
    const sources = report.sources.length + report.cleanSources;
    console.log(`   ${sources} sources: ${report.alerts.length} alerted, ${suspicious} suspicious, ${report.cleanSources} with nothing to note`);
    for (const a of report.alerts) console.log(`   ALERT ${a.source.padEnd(16)} ${a.severity.padEnd(8)} ${a.reason}`);
  }
}
console.log(`\nfail2ban annotations: ${agree} agree, ${disagree} differ`);
