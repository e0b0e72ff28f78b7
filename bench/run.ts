/**
 * Benchmarks (run on demand with `npm run bench`; never part of the tests). Prints numbers, each
 * beside its goal where it has one: the machine's baselines measured in the same run (read +
 * gunzip + split in Node, and `gzip -dc FILE | wc -l` in a shell), the core (parse + classify +
 * aggregate, bundled as it ships) on plain input against 1,000,000 lines/s, beside the floor of a
 * line in this runtime (bench/floor.ts), the CLI end to end on gzip input against half the speed
 * of `gzip -dc | wc -l`, peak RSS at 1M and 5M lines, and the Lambda handler on the local
 * emulator stack. Timed figures are the median of --runs runs (all runs are printed).
 * Options: --lines N (default 1e6), --big N (default 5e6, 0 to skip), --object-lines N (lines
 * per S3 object for the handler run, default 5000; 0 to skip), --runs N (default 3).
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { build } from 'esbuild';
import { LineSplitter } from '../lambdas/core/lines.js';
import { generate } from './generate.js';
import { benchPipeline } from './pipeline.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    big: { type: 'string', default: '5000000' },
    'object-lines': { type: 'string', default: '5000' },
    runs: { type: 'string', default: '3' },
  },
});
const RUNS = Math.max(1, Number(values.runs));
/** Goal of the core: lines per second on one core, every built-in rule on. */
const CORE_GOAL_LINES_PER_S = 1_000_000;
/** Goal of the CLI end to end on gzip: this share of the speed of `gzip -dc FILE | wc -l`. */
const CLI_GOAL_SHARE_OF_GZIP = 0.5;
const N = Number(values.lines);
const BIG = Number(values.big);
mkdirSync('bench/out', { recursive: true });

async function ensure(n: number) {
  const plain = `bench/out/combined-${n}.log`;
  const gz = `${plain}.gz`;
  if (!existsSync(plain) || !existsSync(gz)) {
    process.stdout.write(`generating ${n.toLocaleString('en')} lines… `);
    await generate(n, plain, gz);
    process.stdout.write('done\n');
  }
  return { plain, gz, plainBytes: statSync(plain).size, gzBytes: statSync(gz).size };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const mb = (b: number) => b / 1e6;

async function baseline(gz: string): Promise<{ lines: number; seconds: number }> {
  const start = process.hrtime.bigint();
  let lines = 0;
  const decoder = new StringDecoder('utf8');
  const splitter = new LineSplitter(
    () => {
      lines++;
    },
    () => {},
  );
  for await (const chunk of createReadStream(gz, { highWaterMark: 256 * 1024 }).pipe(createGunzip())) splitter.push(decoder.write(chunk as Buffer));
  splitter.end();
  return { lines, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** `gzip -dc FILE | wc -l` in a shell child: the machine's own decompression speed. */
function gzipBaseline(gz: string): { lines: number; seconds: number } {
  const start = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', 'gzip -dc "$1" | wc -l', 'sh', gz], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`gzip -dc failed (${r.status}): ${r.stderr}`);
  return { lines: Number(r.stdout.trim()), seconds };
}

/** Runs `f` `RUNS` times; returns the run with the median time and every time. */
async function median<T extends { seconds: number }>(f: () => T | Promise<T>): Promise<T & { all: number[] }> {
  const runs: T[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await f());
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  return { ...(sorted[Math.floor((sorted.length - 1) / 2)] as T), all: runs.map((r) => r.seconds) };
}

const times = (all: number[]) => (all.length > 1 ? `  [runs: ${all.map((s) => `${s.toFixed(2)} s`).join(', ')}]` : '');
const verdict = (ok: boolean) => (ok ? 'goal met' : 'goal not met');

/** The core bundled as it ships (see bench/core-entry.ts). */
const CORE_BUNDLE = 'bench/out/core.mjs';
await build({
  entryPoints: ['bench/core-entry.ts'],
  outfile: CORE_BUNDLE,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
});
const { scanLines, floorLines } = (await import(pathToFileURL(resolve(CORE_BUNDLE)).href)) as typeof import('./core-entry.js');

/** The lines of a plain log, read whole (outside what is timed). */
function linesOf(plain: string): string[] {
  const lines = readFileSync(plain, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function core(plain: string): { lines: number; seconds: number; alerts: number } {
  const lines = linesOf(plain);
  return { lines: lines.length, ...scanLines(lines) };
}

/** The floor of a line (bench/floor.ts), on the same lines as the core. */
function floor(plain: string): { lines: number; seconds: number } {
  const lines = linesOf(plain);
  return { lines: lines.length, ...floorLines(lines) };
}

function cli(gz: string): { seconds: number; rssMb: number; alerts: number } {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', './bench/rss-hook.mjs', 'dist/probewatch.mjs', 'scan', '--json', '--no-progress', gz], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`CLI failed (${r.status}): ${r.stderr}`);
  const rss = /PEAK_RSS_KB=(\d+)/.exec(r.stderr);
  return { seconds, rssMb: rss ? Number(rss[1]) / 1024 : Number.NaN, alerts: JSON.parse(r.stdout).alerts.length };
}

const small = await ensure(N);
console.log(
  `\ninput: ${fmt(N)} lines, ${mb(small.plainBytes).toFixed(1)} MB plain, ${mb(small.gzBytes).toFixed(1)} MB gzip (node ${process.version}, ${process.arch})`,
);
const base = await median(() => baseline(small.gz));
const baseMBs = mb(small.plainBytes) / base.seconds;
console.log(`baseline read+gunzip+split (Node): ${fmt(base.lines / base.seconds)} lines/s  ${baseMBs.toFixed(1)} MB/s (uncompressed)${times(base.all)}`);
const gzip = await median(() => gzipBaseline(small.gz));
const gzipLinesPerS = gzip.lines / gzip.seconds;
console.log(`baseline gzip -dc | wc -l (shell): ${fmt(gzipLinesPerS)} lines/s  ${(mb(small.plainBytes) / gzip.seconds).toFixed(1)} MB/s${times(gzip.all)}`);
const c = await median(() => core(small.plain));
const coreLinesPerS = c.lines / c.seconds;
console.log(
  `core parse+classify+aggregate:     ${fmt(coreLinesPerS)} lines/s  ${(mb(small.plainBytes) / c.seconds).toFixed(1)} MB/s  (${c.alerts} sources alerted)${times(c.all)}`,
);
console.log(
  `  goal ≥ ${fmt(CORE_GOAL_LINES_PER_S)} lines/s on one core: ${((coreLinesPerS / CORE_GOAL_LINES_PER_S) * 100).toFixed(0)} % of it, ${verdict(coreLinesPerS >= CORE_GOAL_LINES_PER_S)}`,
);
const f = await median(() => floor(small.plain));
const floorNs = (f.seconds / f.lines) * 1e9;
const coreNs = (c.seconds / c.lines) * 1e9;
console.log(`floor of a line (fields, 2 look-ups, a record; bench/floor.ts): ${fmt(f.lines / f.seconds)} lines/s = ${fmt(floorNs)} ns a line${times(f.all)}`);
console.log(
  `  beyond the floor, the core spends ${fmt(coreNs - floorNs)} ns a line classifying and aggregating; its goal leaves ${fmt(1e9 / CORE_GOAL_LINES_PER_S - floorNs)} ns`,
);
const e = await median(() => cli(small.gz));
const eMBs = mb(small.plainBytes) / e.seconds;
const cliShare = N / e.seconds / gzipLinesPerS;
console.log(
  `CLI end to end on gzip:            ${fmt(N / e.seconds)} lines/s  ${eMBs.toFixed(1)} MB/s  = ${((eMBs / baseMBs) * 100).toFixed(0)} % of the Node baseline; peak RSS ${e.rssMb.toFixed(0)} MB${times(e.all)}`,
);
console.log(
  `  goal ≥ ${CLI_GOAL_SHARE_OF_GZIP} × gzip -dc | wc -l (${fmt(gzipLinesPerS * CLI_GOAL_SHARE_OF_GZIP)} lines/s here): ${cliShare.toFixed(2)} ×, ${verdict(cliShare >= CLI_GOAL_SHARE_OF_GZIP)}`,
);
if (BIG > 0) {
  const big = await ensure(BIG);
  const e5 = cli(big.gz);
  console.log(
    `CLI end to end on gzip, ${fmt(BIG)}:  ${fmt(BIG / e5.seconds)} lines/s; peak RSS ${e5.rssMb.toFixed(0)} MB (vs ${e.rssMb.toFixed(0)} MB at ${fmt(N)})`,
  );
}

const objectLines = Number(values['object-lines']);
if (objectLines > 0) await benchPipeline(small.plain, objectLines);
