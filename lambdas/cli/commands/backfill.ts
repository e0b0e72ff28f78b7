/**
 * `probewatch backfill --env NAME s3://bucket/prefix [--since DATE] [--rate N] [--dry-run]`:
 * sends the queue an S3 notification for every object already under a prefix (logs delivered
 * before the stack existed, or a replay after a configuration change), paced, so the queue and the
 * function are not flooded. Idempotent: an object already processed is recorded in the state table
 * (its object claim, kept 4 days), so a second run, or an object also notified by S3 itself, is
 * skipped by the function and counted once.
 */
import { ListObjectsV2Command, type S3Client, type _Object } from '@aws-sdk/client-s3';
import { type SQSClient, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { escapeUntrusted, sanitize } from '../../core/escape.js';
import { s3EventKey } from '../../core/s3-event.js';
import { CommandUsageError, type OpsIo, parseStackArgs, parseTimeArg } from './common.js';
import type { StackResources } from './resolve.js';

export const BACKFILL_USAGE = `Usage: probewatch backfill --env NAME s3://BUCKET/PREFIX [--since TIME] [--rate N] [--dry-run]

Sends the pipeline's queue one S3 "object created" notification per object under the prefix,
as S3 itself would, paced (default 10 per second, in batches of 10). Safe to run twice: the
function records every object it finished that flagged a source (for 4 days) and skips it when
it comes again, and an object that flagged none wrote nothing, so nothing is counted twice.

Options:
  --env NAME        the environment (cdk.json), or local for \`npm run local -- --keep-running\`
  --since TIME      only objects last modified at or after this time (a date, or 24h, 7d back)
  --rate N          notifications per second (default 10, at most 500)
  --dry-run         list what would be sent, send nothing
  --region REGION   the stack's AWS region (default: AWS_REGION or your profile's)`;

/** Notifications per second unless --rate says otherwise. */
export const DEFAULT_RATE = 10;
/** The highest --rate: the queue takes more, but the function's concurrency is what limits. */
export const MAX_RATE = 500;
/** SQS takes at most 10 messages per SendMessageBatch. */
export const BATCH_SIZE = 10;
/** Times a refused batch entry is sent again before it is reported as failed. */
export const SEND_ATTEMPTS = 3;
/** Object keys printed in a dry run (the count covers the rest). */
export const DRY_RUN_LISTED = 50;

export function parseBackfillArgs(argv: string[]) {
  const { values, positionals } = parseStackArgs(argv, { since: { type: 'string' }, rate: { type: 'string' }, 'dry-run': { type: 'boolean' } });
  if (positionals.length !== 1) throw new CommandUsageError('backfill takes one s3://BUCKET/PREFIX');
  return { values, url: positionals[0] as string };
}

/** `s3://bucket/prefix` → bucket and prefix (the prefix may be empty). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new CommandUsageError(`"${sanitize(url, 100)}" is not an s3://BUCKET/PREFIX address`);
  return { bucket: m[1] as string, prefix: m[2] ?? '' };
}

/** The notification S3 sends to SQS for a new object (event version 2.1), for one listed object. */
export function s3NotificationOf(bucket: string, obj: _Object, region: string, nowMs: number): string {
  const key = obj.Key ?? '';
  const record = {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: region,
    eventTime: new Date(nowMs).toISOString(),
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'probewatch-backfill' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'probewatch-backfill', 'x-amz-id-2': 'probewatch-backfill' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'probewatch-backfill',
      bucket: { name: bucket, ownerIdentity: { principalId: '' }, arn: `arn:aws:s3:::${bucket}` },
      // As in S3's own notifications: the key URL-encoded, the ETag without quotes. The ETag is
      // what makes the object id (bucket/key#etag) the same as S3's notification of the upload.
      object: { key: s3EventKey(key), size: obj.Size ?? 0, eTag: (obj.ETag ?? '').replace(/"/g, ''), sequencer: '0' },
    },
  };
  return JSON.stringify({ Records: [record] });
}

export async function runBackfill(
  parsed: ReturnType<typeof parseBackfillArgs>,
  stack: StackResources,
  clients: { s3: S3Client; sqs: SQSClient },
  io: OpsIo,
  sleep: (ms: number) => Promise<void>,
): Promise<number> {
  const { values, url } = parsed;
  const { bucket, prefix } = parseS3Url(url);
  const now = io.now();
  const since = values.since === undefined ? undefined : parseTimeArg(values.since, now, '--since');
  const rate = values.rate === undefined ? DEFAULT_RATE : Number(values.rate.replace(/\/s$/, ''));
  if (!Number.isFinite(rate) || rate <= 0 || rate > MAX_RATE)
    throw new CommandUsageError(`--rate takes notifications per second, more than 0 and at most ${MAX_RATE}`);
  if (bucket !== stack.bucket) {
    throw new CommandUsageError(
      `the ${stack.env} pipeline reads the bucket ${stack.bucket}, not ${bucket}: its function may not read other buckets, so those objects would fail into the dead-letter queue`,
    );
  }
  const dryRun = Boolean(values['dry-run']);
  const say = (s: string) => io.stderr.write(`${s}\n`);
  const region = stack.region ?? 'us-east-1';
  const perBatch = Math.max(1, Math.min(BATCH_SIZE, Math.ceil(rate)));
  const pauseMs = (perBatch / rate) * 1000;
  let listed = 0;
  let older = 0;
  let sent = 0;
  let failed = 0;
  let bytes = 0;
  let batch: _Object[] = [];
  let nextAt = now;
  const failures: string[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const objects = batch;
    batch = [];
    // Paced: one batch per pause, however fast listing goes.
    const wait = nextAt - io.now();
    if (wait > 0) await sleep(wait);
    nextAt = Math.max(io.now(), nextAt) + pauseMs;
    let pending = objects.map((o, i) => ({ Id: String(i), MessageBody: s3NotificationOf(bucket, o, region, io.now()), key: o.Key ?? '' }));
    for (let attempt = 1; pending.length && attempt <= SEND_ATTEMPTS; attempt++) {
      let refused: { Id?: string; Message?: string }[];
      try {
        const r = await clients.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: stack.queueUrl, Entries: pending.map(({ Id, MessageBody }) => ({ Id, MessageBody })) }),
        );
        refused = r.Failed ?? [];
      } catch (e) {
        if (attempt === SEND_ATTEMPTS) throw e;
        await sleep(500 * attempt);
        continue;
      }
      const ok = new Set(pending.map((p) => p.Id));
      for (const f of refused) ok.delete(f.Id ?? '');
      sent += ok.size;
      const again = pending.filter((p) => !ok.has(p.Id));
      if (attempt === SEND_ATTEMPTS) {
        for (const p of again) {
          failed++;
          if (failures.length < 20) failures.push(`${escapeUntrusted(p.key)}: ${sanitize(refused.find((f) => f.Id === p.Id)?.Message ?? 'refused', 200)}`);
        }
      } else if (again.length) await sleep(500 * attempt);
      pending = again;
    }
    if (Math.floor((sent + failed) / 100) !== Math.floor((sent + failed - objects.length) / 100))
      say(`  … ${sent} sent, ${failed} failed, ${listed} listed so far`);
  };

  say(
    `${dryRun ? 'Dry run: would send' : 'Sending'} notifications for s3://${bucket}/${escapeUntrusted(prefix)}${since !== undefined ? ` (modified since ${new Date(since).toISOString()})` : ''} to ${stack.env}'s queue, ${rate} per second`,
  );
  let token: string | undefined;
  do {
    const page = await clients.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (!o.Key || o.Key.endsWith('/')) continue; // "folder" placeholders are not logs
      if (since !== undefined && (o.LastModified?.getTime() ?? 0) < since) {
        older++;
        continue;
      }
      listed++;
      bytes += o.Size ?? 0;
      if (dryRun) {
        if (listed <= DRY_RUN_LISTED)
          io.stdout.write(`  s3://${bucket}/${escapeUntrusted(o.Key)}  ${o.Size ?? 0} bytes  ${o.LastModified?.toISOString() ?? ''}\n`);
        continue;
      }
      batch.push(o);
      if (batch.length >= perBatch) await flush();
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  await flush();
  const mb = (bytes / 1e6).toFixed(1);
  if (dryRun) {
    if (listed > DRY_RUN_LISTED) io.stdout.write(`  … and ${listed - DRY_RUN_LISTED} more\n`);
    io.stdout.write(`Dry run: ${listed} objects (${mb} MB) would be sent${older ? `, ${older} older than --since left out` : ''}; nothing was sent.\n`);
    return 0;
  }
  for (const f of failures) io.stderr.write(`  not sent: ${f}\n`);
  io.stdout.write(
    `Backfill: ${listed} objects (${mb} MB) listed${older ? `, ${older} older than --since left out` : ''}; ${sent} notifications sent${failed ? `, ${failed} failed (run again to retry them)` : ''}.\n` +
      'Objects the pipeline already processed are skipped by it, so running this again counts nothing twice.\n',
  );
  return failed ? 1 : 0;
}
