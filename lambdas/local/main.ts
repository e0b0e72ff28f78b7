/**
 * `npm run local [-- [--json] FILE…]`: the pipeline on this machine. Starts DynamoDB Local,
 * s3rver and fauxqs on 127.0.0.1, uploads the log files (default: the sample logs in
 * events/logs/), drives the real Lambda handler from the S3 → SQS notifications, prints every
 * alert as it arrives on an SQS subscription of the alert topic, summarises what DynamoDB holds,
 * and stops everything it started, also on Ctrl-C. With `--keep-running` it leaves the stack up
 * (until Ctrl-C) and writes where it listens, so `probewatch … --env local` can use it.
 */
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoStateStore } from '../adapters/dynamodb-state-store.js';
import { nodeTooOld } from '../cli/node-version.js';
import { plural } from '../cli/render.js';
import { sanitize } from '../core/escape.js';
import { makeHandler } from '../handlers/process-logs.js';
import { CapturedMetrics, type TappedAlert, localHandlerDeps, pumpQueue, readTap } from './driver.js';
import { checkFiles, checkJava } from './preflight.js';
import { writeLocalStackFile } from './stack-file.js';
import { type LocalStack, startLocalStack } from './stack.js';

const out = (s: string) => process.stdout.write(`${s}\n`);

/** The samples that auto-detect (the custom Nginx format needs its own --format). */
function defaultFiles(): string[] {
  return readdirSync('events/logs')
    .filter((f) => /\.(log|jsonl)$/.test(f) && !f.includes('custom'))
    .sort()
    .map((f) => `events/logs/${f}`);
}

function printAlert(a: TappedAlert, json: boolean): void {
  if (json) {
    out(JSON.stringify({ subject: a.subject, attributes: a.attributes, alert: a.document }));
    return;
  }
  for (const line of alertLines(a)) out(line);
}

/** An alert as `npm run local` prints it (a blank line first). */
export function alertLines(a: TappedAlert): string[] {
  const d = a.document;
  const lines = [
    `\nALERT ${a.subject}`,
    `   severity ${d.severity}, score ${d.score}, ${plural(d.requests, 'request')}, ${d.firstSeen} → ${d.lastSeen}`,
    `   ${d.what}`,
    `   What to do: ${d.todo}`,
  ];
  if (d.note) lines.push(`   Note: ${d.note}`);
  for (const s of d.samples.slice(0, 3)) lines.push(`     ${s.time}  ${s.status}  ${s.request}`);
  lines.push(`   objects: ${d.objects.map((o) => o.split('#')[0]).join(', ')}`);
  return lines;
}

/** The run's totals, in one line. */
export function totalsLine(t: {
  notifications: number;
  lines: number;
  skipped: number;
  sources: number;
  alerts: number;
  objectsSkipped: number;
  deadLettered: number;
}): string {
  return (
    `${plural(t.notifications, 'notification')}, ${plural(t.lines, 'line')} (${t.skipped.toLocaleString('en')} skipped), ` +
    `${plural(t.sources, 'source')} written, ${plural(t.alerts, 'alert')} published, ${plural(t.objectsSkipped, 'object')} skipped, ${t.deadLettered.toLocaleString('en')} dead-lettered`
  );
}

async function summary(stack: LocalStack): Promise<void> {
  const items = (await stack.dynamo.send(new ScanCommand({ TableName: stack.tableName }))).Items ?? [];
  const count = (p: (sk: string, pk: string) => boolean) => items.filter((i) => p(i.sk?.S ?? '', i.pk?.S ?? '')).length;
  out(
    `\nDynamoDB (${stack.tableName}): ${items.length} items: ${count((sk) => sk.startsWith('W#'))} source windows, ${count((sk) => sk === 'ALERT')} alert claims, ${count((_, pk) => pk.startsWith('ALERTS#'))} alert records, ${count((sk) => sk === 'OBJ')} objects done`,
  );
  // What `probewatch state --env local` shows, read the same way.
  const store = new DynamoStateStore({ tableName: stack.tableName, client: stack.dynamo });
  out(`  ${'source'.padEnd(22)} ${'requests'.padStart(8)} ${'score'.padStart(6)}  alert`);
  for (const v of await store.topSources(Date.now(), 50)) {
    const alert = v.alert ? `${v.alert.severity} alert (${v.alert.status})` : '-';
    out(`  ${sanitize(v.source, 40).padEnd(22)} ${String(v.requests).padStart(8)} ${String(v.score).padStart(6)}  ${alert}`);
  }
}

function parseLocalArgs() {
  return parseArgs({ allowPositionals: true, strict: true, options: { json: { type: 'boolean' }, 'keep-running': { type: 'boolean' } } });
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseLocalArgs>;
  try {
    parsed = parseLocalArgs();
  } catch (e) {
    process.stderr.write(`npm run local: ${(e as Error).message}\nUsage: npm run local -- [--json] [--keep-running] [FILE…]\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const files = positionals.length ? positionals : defaultFiles();
  const json = Boolean(values.json);
  const log = (s: string) => (json ? process.stderr.write(`${s}\n`) : out(s));
  // Before anything starts: an old Node, a missing file or a missing Java is a sentence, not a stack trace.
  const oldNode = nodeTooOld(process.version, 'npm run local');
  if (oldNode) {
    process.stderr.write(`${oldNode}\n`);
    return 2;
  }
  const unreadable = checkFiles(files);
  if (unreadable.length) {
    process.stderr.write(
      `npm run local: cannot upload ${unreadable.length === 1 ? 'a file' : `${unreadable.length} files`}:\n${unreadable.map((p) => `  ${p}\n`).join('')}`,
    );
    return 2;
  }
  const noJava = checkJava();
  if (noJava) {
    process.stderr.write(`npm run local: ${noJava}\n`);
    return 2;
  }
  log('Starting DynamoDB Local, s3rver and fauxqs on 127.0.0.1…');
  const stack = await startLocalStack();
  let stopping = false;
  let removeFile = () => {};
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    removeFile();
    await stack.stop();
  };
  process.once('SIGINT', () => {
    process.stderr.write('\nInterrupted: stopping the local stack…\n');
    void stop().then(() => process.exit(130));
  });
  try {
    log(`  S3 ${stack.endpoints.s3}  DynamoDB ${stack.endpoints.dynamo}  SQS/SNS ${stack.endpoints.fauxqs}`);
    for (const f of files) {
      const key = `uploads/${basename(f)}`;
      await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: key, Body: readFileSync(f) }));
      log(`  uploaded s3://${stack.bucket}/${key}`);
    }
    const metrics = new CapturedMetrics({ namespace: 'ProbeWatch', serviceName: 'probewatch' });
    const handler = makeHandler(localHandlerDeps(stack, { metrics }));
    let alerts = 0;
    const pumped = await pumpQueue(stack, handler, {
      afterBatch: async () => {
        for (const a of await readTap(stack)) {
          alerts++;
          printAlert(a, json);
        }
      },
    });
    log(
      `\n${totalsLine({
        notifications: pumped.messages,
        lines: metrics.total('LinesRead'),
        skipped: metrics.total('LinesSkipped'),
        sources: metrics.total('SourcesFlagged'),
        alerts,
        objectsSkipped: metrics.total('ObjectsSkipped'),
        deadLettered: pumped.deadLettered,
      })}`,
    );
    if (!json) await summary(stack);
    if (values['keep-running']) {
      removeFile = writeLocalStackFile(stack);
      log('\nThe local stack keeps running; in another terminal, for example:');
      log('  npx probewatch alerts --env local --since 30d');
      log('  npx probewatch state --env local');
      log(`  npx probewatch backfill --env local s3://${stack.bucket}/uploads/`);
      log('Ctrl-C stops it.');
      try {
        // Keeps processing what backfill and replay-dlq send, until Ctrl-C.
        while (!stopping) {
          await pumpQueue(stack, handler, {
            idlePolls: 1,
            afterBatch: async () => {
              for (const a of await readTap(stack)) printAlert(a, json);
            },
          });
          await new Promise((r) => setTimeout(r, 500));
        }
      } finally {
        removeFile();
      }
    }
    return pumped.deadLettered ? 1 : 0;
  } finally {
    await stop();
  }
}

// Run when started (npm run local); a test imports the formatting without starting a stack.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`local run failed: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
