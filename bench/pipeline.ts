/**
 * The handler path on the local stack: a log split into ALB-sized gzip objects, uploaded to
 * s3rver (S3 → SQS notifications), then processed by the real handler in a child process, in
 * batches as the SQS event source hands them over. Prints objects/s, lines/s, DynamoDB writes,
 * write units (as DynamoDB Local reports them: one per started KB of the larger of the item
 * before and after each write) and reads per million lines beside the goal, SNS publishes, and
 * the handler's peak RSS; then the same on one object of the whole log (peak RSS beside its
 * goal), on a quiet and an attacked site, and the cost per GB of logs from those numbers.
 *
 * Standalone: node --import tsx bench/pipeline.ts [--lines N] [--object-lines N] [--batch N] [--no-mixes]
 * [--only batches|one] [--node-options=FLAGS] [--node-flags=FLAGS]. The handler runs bundled as the
 * function is, with the function's NODE_OPTIONS unless --node-options gives others;
 * --node-flags adds command-line flags to its process, for diagnosis
 * (e.g. "--node-flags=--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=/tmp"). Flag values start
 * with dashes: give them after "=", or the option parser takes them for options.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { startLocalStack } from '../lambdas/local/stack.js';
import { generateMix, scannersFor } from './pipeline-mix.js';

/** Goals of the handler benchmark (issue: speed and cost). */
export const WCU_PER_MILLION_GOAL = 2_000;
export const HANDLER_RSS_GOAL_MB = 200;
/** Objects per invocation: the SQS event source's batch size in infra/stack.ts. */
export const BENCH_BATCH = 100;

/** List prices used for the cost table (us-east-1, on demand, ARM Lambda). */
const PRICE = {
  writeUnit: 0.625 / 1e6,
  readUnit: 0.125 / 1e6,
  gbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  publish: 0.5 / 1e6,
  email: 2 / 1e5,
  s3Get: 0.0004 / 1e3,
  sqsRequest: 0.4 / 1e6,
};
/** Memory sizes the cost table compares; Lambda gives one full vCPU at 1,769 MB. */
const MEMORY_SIZES_MB = [512, 1024, 1769];
const FULL_VCPU_MB = 1769;
/** Assumed wall time per DynamoDB call and per publish in AWS (same region), for the Lambda estimate. */
const DYNAMO_CALL_MS = 6;
const PUBLISH_MS = 25;

/**
 * NODE_OPTIONS of the processor function (infra/stack.ts): the handler's process gets the same,
 * unless --node-options says otherwise.
 */
export const FUNCTION_NODE_OPTIONS = '--enable-source-maps';
/** The handler's process, bundled as the function is (esbuild, minified, source map, the AWS SDK left to the runtime). */
const CHILD_BUNDLE = 'bench/out/pipeline-child.mjs';

/**
 * Bundles the handler's process once per run. Run from source through a TypeScript loader it
 * would carry the loader and its compiled copies (about 50 MB) that the function does not.
 */
let bundled: Promise<unknown> | null = null;
function bundleChild(): Promise<unknown> {
  bundled ??= build({
    entryPoints: ['bench/pipeline-child.ts'],
    outfile: CHILD_BUNDLE,
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    platform: 'node',
    target: 'node20',
    format: 'esm',
    banner: { js: "import { createRequire as __pwRequire } from 'node:module';\nconst require = __pwRequire(import.meta.url);" },
    external: ['@aws-sdk/*'],
    logLevel: 'warning',
  });
  return bundled;
}

/** What one handler run measured. */
export interface PipelineRun {
  label: string;
  lines: number;
  plainBytes: number;
  objects: number;
  batches: number;
  seconds: number;
  cpuSeconds: number;
  /** Of `cpuSeconds`, the time in the kernel (socket writes and reads to the emulators, mostly). */
  cpuSystemSeconds: number;
  writes: number;
  writeUnits: number;
  refusedWrites: number;
  readUnits: number;
  reads: number;
  dynamoCalls: number;
  publishes: number;
  sourcesFlagged: number;
  deadLettered: number;
  peakRssMb: number;
  /** The process's memory (MB) at the highest of its samples (every 50 ms), to see what the peak is made of. */
  atPeak: { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };
  /** Write units and writes by operation and item kind. */
  byKind: Record<string, number>;
  /** Read units and reads by operation. */
  readsByCommand: Record<string, number>;
  /** Billed sizes of the source-hour items at the end of the run (bytes). */
  hourItems: { items: number; median: number; max: number; over1k: number; mean: Record<string, number> };
}

/** Runs the handler over `plainPath` in objects of `linesPerObject`, `batch` objects per invocation. */
export async function runPipeline(
  plainPath: string,
  linesPerObject: number,
  batch: number,
  label: string,
  nodeOptions = FUNCTION_NODE_OPTIONS,
  /** Node command-line flags of the handler's process only, for diagnosis (--trace-gc, --heapsnapshot-signal=SIGUSR2). */
  nodeFlags: readonly string[] = [],
): Promise<PipelineRun> {
  mkdirSync('bench/out', { recursive: true });
  await bundleChild();
  const lines = readFileSync(plainPath, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const stack = await startLocalStack();
  try {
    let objects = 0;
    for (let i = 0; i < lines.length; i += linesPerObject) {
      // ALB names: one object per load-balancer node per 5 minutes.
      const key = `AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/03/01/obj-${String(objects).padStart(5, '0')}.log.gz`;
      await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: gzipSync(`${lines.slice(i, i + linesPerObject).join('\n')}\n`) }));
      objects++;
    }
    lines.length = 0;
    await stack.settled();
    // Asynchronously: the emulators live in this process and must keep answering the child.
    const child = spawn(process.execPath, [...nodeFlags, CHILD_BUNDLE], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        S3: stack.endpoints.s3,
        DYNAMO: stack.endpoints.dynamo,
        FAUXQS: stack.endpoints.fauxqs,
        BUCKET: stack.bucket,
        TABLE: stack.tableName,
        QUEUE: stack.queueUrl,
        DLQ: stack.dlqUrl,
        TOPIC: stack.topicArn,
        BATCH: String(batch),
        NODE_OPTIONS: nodeOptions,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`handler process failed (${code}): ${stderr}`);
    const r = JSON.parse(stdout.trim().split('\n').pop() as string);
    const c = r.commands as Record<string, number>;
    const n = (k: string) => c[k] ?? 0;
    return {
      label,
      lines: r.lines,
      plainBytes: statSync(plainPath).size,
      objects,
      batches: r.pumped.batches,
      seconds: r.seconds,
      cpuSeconds: r.cpuSeconds,
      cpuSystemSeconds: r.cpuSystemSeconds,
      writes: n('UpdateItemCommand') + n('PutItemCommand'),
      writeUnits: r.capacity.write,
      refusedWrites: r.capacity.refusedWrites,
      readUnits: r.capacity.read,
      reads: n('QueryCommand') + n('GetItemCommand') + n('BatchGetItemCommand'),
      dynamoCalls: Object.entries(c)
        .filter(([k]) => !k.startsWith('Publish'))
        .reduce((a, [, v]) => a + v, 0),
      publishes: n('PublishCommand'),
      sourcesFlagged: r.sourcesFlagged,
      deadLettered: r.pumped.deadLettered,
      peakRssMb: r.peakRssMb,
      atPeak: r.atPeak,
      byKind: r.capacity.byKind,
      readsByCommand: r.capacity.readsByCommand,
      hourItems: r.hourItems,
    };
  } finally {
    await stack.stop();
  }
}

/** What the handler's memory was made of at its highest sample. */
function memoryAtPeak(r: PipelineRun): string {
  const p = r.atPeak;
  return ` (highest sample ${fmt(p.rss)} MB: JavaScript heap ${fmt(p.heapUsed)} MB used of ${fmt(p.heapTotal)} MB, outside the heap ${fmt(p.external)} MB of which buffers ${fmt(p.arrayBuffers)} MB)`;
}

const perMillion = (r: PipelineRun, x: number) => (x / r.lines) * 1e6;
const fmt = (x: number) => Math.round(x).toLocaleString('en');

function printRun(r: PipelineRun, linesPerObject: number, batch: number): void {
  console.log(`handler on the local stack, ${r.label} (${r.objects} objects of ${linesPerObject.toLocaleString('en')} lines, gzip, ${batch} per invocation):`);
  console.log(
    `  ${(r.objects / r.seconds).toFixed(1)} objects/s, ${fmt(r.lines / r.seconds)} lines/s (${r.seconds.toFixed(1)} s, ${r.cpuSeconds.toFixed(1)} s CPU, ${r.cpuSystemSeconds.toFixed(1)} s of it in the kernel)`,
  );
  const wcu = perMillion(r, r.writeUnits);
  console.log(
    `  DynamoDB write units: ${fmt(wcu)} per million lines (goal ≤ ${fmt(WCU_PER_MILLION_GOAL)}: ${wcu <= WCU_PER_MILLION_GOAL ? 'met' : 'NOT met'}); ${fmt(perMillion(r, r.writes))} writes per million lines (${r.refusedWrites} refused conditional writes, counted at 1 unit)`,
  );
  const kinds = Object.keys(r.byKind).filter((k) => !k.endsWith('(writes)'));
  console.log(
    `  write units per million lines by item: ${kinds.map((k) => `${k} ${fmt(perMillion(r, r.byKind[k] ?? 0))} (${fmt(perMillion(r, r.byKind[`${k} (writes)`] ?? 0))} writes)`).join(', ')}`,
  );
  const h = r.hourItems;
  console.log(
    `  source-hour items: ${h.items}, billed size median ${fmt(h.median)} B, largest ${fmt(h.max)} B, ${h.over1k} over 1 KB; mean bytes per item by attribute: ${Object.entries(
      h.mean,
    )
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n} B`)
      .join(', ')}`,
  );
  const readKinds = Object.keys(r.readsByCommand).filter((k) => !k.endsWith('(reads)'));
  console.log(
    `  DynamoDB reads: ${fmt(perMillion(r, r.reads))} per million lines, ${fmt(perMillion(r, r.readUnits))} read units (${readKinds.map((k) => `${k} ${fmt(perMillion(r, r.readsByCommand[k] ?? 0))} units in ${fmt(perMillion(r, r.readsByCommand[`${k} (reads)`] ?? 0))} reads`).join(', ')})`,
  );
  console.log(
    `  SNS publishes: ${r.publishes} (${fmt(perMillion(r, r.publishes))} per million lines); sources written ${r.sourcesFlagged} (per object); dead-lettered ${r.deadLettered}; peak RSS ${r.peakRssMb.toFixed(0)} MB${memoryAtPeak(r)}`,
  );
}

/** Lambda GB-seconds per GB of logs at a memory size: CPU at that size's vCPU share, plus waits. */
function gbSeconds(r: PipelineRun, memoryMb: number): { perGb: number; secondsPerGb: number } {
  const perGbFactor = 1e9 / r.plainBytes;
  const vcpu = Math.min(1, memoryMb / FULL_VCPU_MB);
  // The handler runs one JavaScript thread: its CPU time (measured here, on this machine) at the
  // size's share of a vCPU, plus the waits on DynamoDB (calls run 8 at a time) and SNS (one at a time).
  const seconds = r.cpuSeconds / vcpu + (r.dynamoCalls * DYNAMO_CALL_MS) / 8 / 1000 + (r.publishes * PUBLISH_MS) / 1000;
  const secondsPerGb = seconds * perGbFactor;
  return { perGb: secondsPerGb * (memoryMb / 1024), secondsPerGb };
}

/** The cost table for one run, per GB of logs. */
function printCost(r: PipelineRun, memoryMb: number): number {
  const g = 1e9 / r.plainBytes;
  const wcu = r.writeUnits * g;
  const rcu = r.readUnits * g;
  const lambda = gbSeconds(r, memoryMb);
  const publishes = r.publishes * g;
  const objects = r.objects * g;
  const invocations = r.batches * g;
  const rows: [string, number, string][] = [
    ['DynamoDB writes', wcu * PRICE.writeUnit, `${fmt(r.writes * g)} writes, ${fmt(wcu)} write units`],
    ['DynamoDB reads', rcu * PRICE.readUnit, `${fmt(r.reads * g)} reads, ${fmt(rcu)} read units`],
    [
      'Lambda',
      lambda.perGb * PRICE.gbSecond + invocations * PRICE.lambdaRequest,
      `${fmt(lambda.perGb)} GB-s at ${memoryMb} MB (${fmt(lambda.secondsPerGb)} s), ${fmt(invocations)} invocations`,
    ],
    ['SNS', publishes * PRICE.publish, `${fmt(publishes)} publishes (e-mail: +$${(publishes * PRICE.email).toFixed(3)})`],
    ['S3 GET, SQS', objects * PRICE.s3Get + objects * 3 * PRICE.sqsRequest, `${fmt(objects)} objects`],
  ];
  const total = rows.reduce((a, [, x]) => a + x, 0);
  console.log(`  cost per GB of logs (${fmt(r.lines * g)} lines per GB), ${r.label}:`);
  for (const [name, usd, inputs] of rows) console.log(`    ${name.padEnd(16)} $${usd.toFixed(4).padStart(7)}  ${inputs}`);
  console.log(`    ${'total'.padEnd(16)} $${total.toFixed(4).padStart(7)}  (without e-mail)`);
  return total;
}

/**
 * The whole handler benchmark: the log at `linesPerObject` lines per object in batches, one
 * object of the whole log (peak RSS), then a quiet and an attacked site, and the cost tables.
 */
export async function benchPipeline(
  plainPath: string,
  linesPerObject: number,
  opts: { batch?: number; mixes?: boolean; mixLines?: number; only?: 'batches' | 'one'; nodeOptions?: string; nodeFlags?: string[] } = {},
): Promise<void> {
  const batch = opts.batch ?? BENCH_BATCH;
  const text = readFileSync(plainPath, 'utf8');
  const total = text.split('\n').length - 1;
  const scannerLines = text.split('\n').filter((l) => l.startsWith('203.0.')).length;
  console.log(`scanner share of ${plainPath}: ${((scannerLines / total) * 100).toFixed(1)} % of the lines`);
  const main = opts.only === 'one' ? null : await runPipeline(plainPath, linesPerObject, batch, 'benchmark log', opts.nodeOptions, opts.nodeFlags);
  if (main) printRun(main, linesPerObject, batch);
  if (opts.only === 'batches') return;
  const one = await runPipeline(plainPath, total, 1, `one object of ${total.toLocaleString('en')} lines`, opts.nodeOptions, opts.nodeFlags);
  console.log(
    `handler on one object of ${total.toLocaleString('en')} lines: peak RSS ${one.peakRssMb.toFixed(0)} MB (goal < ${HANDLER_RSS_GOAL_MB} MB: ${one.peakRssMb < HANDLER_RSS_GOAL_MB ? 'met' : 'NOT met'})${memoryAtPeak(one)}, ${fmt(one.lines / one.seconds)} lines/s`,
  );
  if (!main) return;
  for (const mb of MEMORY_SIZES_MB) {
    const g = gbSeconds(main, mb);
    console.log(`  Lambda at ${mb} MB: ${fmt(g.perGb)} GB-s per GB of logs (${fmt(g.secondsPerGb)} s per GB)`);
  }
  const memoryMb = MEMORY_SIZES_MB.reduce((best, mb) => (gbSeconds(main, mb).perGb < gbSeconds(main, best).perGb - 1e-9 ? mb : best));
  const runs = [main];
  if (opts.mixes !== false) {
    mkdirSync('bench/out', { recursive: true });
    for (const [label, share] of [
      ['quiet site (0.1 % scanners)', 0.001],
      ['attacked site (10 % scanners)', 0.1],
    ] as const) {
      // Per-GB figures do not depend on the length: the mixes run on fewer lines to save time.
      const mixLines = opts.mixLines ?? Math.min(total, 300_000);
      const path = `bench/out/mix-${share}-${mixLines}.log`;
      if (!existsSync(path)) await generateMix(mixLines, share, path);
      const r = await runPipeline(path, linesPerObject, batch, `${label}, ${scannersFor(share)} scanners`);
      printRun(r, linesPerObject, batch);
      runs.push(r);
    }
  }
  console.log(`cost per GB of logs at the recommended ${memoryMb} MB (list prices, us-east-1):`);
  for (const r of runs) printCost(r, memoryMb);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '1000000' },
      'object-lines': { type: 'string', default: '5000' },
      batch: { type: 'string', default: String(BENCH_BATCH) },
      'no-mixes': { type: 'boolean', default: false },
      only: { type: 'string' },
      'node-options': { type: 'string' },
      'node-flags': { type: 'string' },
    },
  });
  if (values.only !== undefined && values.only !== 'batches' && values.only !== 'one') throw new Error('--only takes batches or one');
  const plain = `bench/out/combined-${values.lines}.log`;
  if (!existsSync(plain)) {
    const { generate } = await import('./generate.js');
    await generate(Number(values.lines), plain, `${plain}.gz`);
  }
  await benchPipeline(plain, Number(values['object-lines']), {
    batch: Number(values.batch),
    mixes: !values['no-mixes'],
    ...(values.only ? { only: values.only as 'batches' | 'one' } : {}),
    ...(values['node-options'] !== undefined ? { nodeOptions: values['node-options'] } : {}),
    ...(values['node-flags'] ? { nodeFlags: values['node-flags'].split(' ').filter(Boolean) } : {}),
  });
}
