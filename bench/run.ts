/**
 * Benchmarks (run on demand with `npm run bench`; never part of the tests). Prints numbers:
 * the read+gunzip+split baseline, the core (parse + classify + aggregate) on plain input, the CLI
 * end to end on gzip input, peak RSS at 1M and 5M lines, and the Lambda handler on the local
 * emulator stack. Options: --lines N (default 1e6), --big N (default 5e6, 0 to skip),
 * --object-lines N (lines per S3 object for the handler run, default 5000; 0 to skip).
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { DEFAULT_CONFIG } from '../lambdas/core/config.js';
import { LineSplitter } from '../lambdas/core/lines.js';
import { Detector } from '../lambdas/core/scan.js';
import { generate } from './generate.js';
import { benchPipeline } from './pipeline.js';

const { values } = parseArgs({
  options: { lines: { type: 'string', default: '1000000' }, big: { type: 'string', default: '5000000' }, 'object-lines': { type: 'string', default: '5000' } },
});
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

function core(plain: string): { lines: number; seconds: number; alerts: number } {
  const lines = readFileSync(plain, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const start = process.hrtime.bigint();
  const d = new Detector(structuredClone(DEFAULT_CONFIG));
  const o = d.openObject('bench');
  for (const l of lines) o.push(l);
  o.end();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  let alerts = 0;
  for (const s of d.aggregator.sources.values()) if (s.alert) alerts++;
  return { lines: lines.length, seconds, alerts };
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
const base = await baseline(small.gz);
const baseMBs = mb(small.plainBytes) / base.seconds;
console.log(`baseline read+gunzip+split:        ${fmt(base.lines / base.seconds)} lines/s  ${baseMBs.toFixed(1)} MB/s (uncompressed)`);
const c = core(small.plain);
console.log(
  `core parse+classify+aggregate:     ${fmt(c.lines / c.seconds)} lines/s  ${(mb(small.plainBytes) / c.seconds).toFixed(1)} MB/s  (${c.alerts} sources alerted)`,
);
const e = cli(small.gz);
const eMBs = mb(small.plainBytes) / e.seconds;
console.log(
  `CLI end to end on gzip:            ${fmt(N / e.seconds)} lines/s  ${eMBs.toFixed(1)} MB/s  = ${((eMBs / baseMBs) * 100).toFixed(0)} % of baseline; peak RSS ${e.rssMb.toFixed(0)} MB`,
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
