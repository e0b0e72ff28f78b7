/**
 * `probewatch replay-dlq --env NAME [--max N] [--dry-run]`: moves the messages of the dead-letter
 * queue back to the object queue once the cause of their failure is fixed. Each message is sent to
 * the queue first and deleted from the dead-letter queue only after the send succeeded, so a
 * message is never lost; a crash between the two leaves it in both queues, and the object claims
 * make the second processing a no-op.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { escapeUntrusted, sanitize } from '../../core/escape.js';
import { CommandUsageError, type OpsIo, parseCount, parseStackArgs } from './common.js';
import type { StackResources } from './resolve.js';

export const REPLAY_USAGE = `Usage: probewatch replay-dlq --env NAME [--max N] [--dry-run]

Moves the messages waiting in the dead-letter queue (objects that failed 3 times) back to the
object queue, after you fixed what made them fail. Each message is sent to the queue before it
is deleted from the dead-letter queue: none is lost, and one moved twice (after a crash) counts
nothing twice: the pipeline records every object it finished that flagged a source (and skips it
when it comes again), and an object that flagged none wrote nothing to count again.

Options:
  --env NAME        the environment (cdk.json), or local for \`npm run local -- --keep-running\`
  --max N           move at most N messages (default: all, up to 100,000)
  --dry-run         show what waits there, move nothing
  --region REGION   the stack's AWS region (default: AWS_REGION or your profile's)`;

/** Messages moved at most in one run unless --max says otherwise. */
export const MAX_REPLAY = 100_000;
/** How long received messages stay hidden from other readers while they are moved. */
export const VISIBILITY_SECONDS = 60;
/** Messages listed by name at most (the counts cover the rest). */
export const LISTED = 100;

export function parseReplayArgs(argv: string[]) {
  const { values, positionals } = parseStackArgs(argv, { max: { type: 'string' }, 'dry-run': { type: 'boolean' } });
  if (positionals.length) throw new CommandUsageError(`replay-dlq takes no argument (got "${sanitize(positionals[0] ?? '', 60)}")`);
  return values;
}

/**
 * What a dead-lettered message names, in words (its objects), escaped. For display only: the
 * message is moved as it is, and the handler reads it as it reads any (plain S3 → SQS, or through SNS).
 */
export function describeMessage(body: string): string {
  try {
    let doc = JSON.parse(body) as { Type?: string; Message?: string; Event?: string; Records?: unknown };
    if (doc.Type === 'Notification' && typeof doc.Message === 'string') doc = JSON.parse(doc.Message);
    if (doc.Event === 's3:TestEvent') return 'an S3 test event';
    if (!Array.isArray(doc.Records)) throw new Error('no Records');
    const names = (doc.Records as { s3?: { bucket?: { name?: string }; object?: { key?: string } } }[]).map((r) => {
      const key = String(r.s3?.object?.key ?? '');
      let decoded = key;
      try {
        decoded = decodeURIComponent(key.replace(/\+/g, ' '));
      } catch {
        // shown as it came
      }
      return `s3://${escapeUntrusted(String(r.s3?.bucket?.name ?? '?'))}/${escapeUntrusted(decoded)}`;
    });
    return names.join(', ') || 'a message without objects';
  } catch (e) {
    return `not an S3 notification (${sanitize((e as Error).message, 100)}): ${sanitize(body, 120)}`;
  }
}

export async function runReplay(values: ReturnType<typeof parseReplayArgs>, stack: StackResources, sqs: SQSClient, io: OpsIo): Promise<number> {
  const max = parseCount(values.max, '--max', MAX_REPLAY, MAX_REPLAY);
  const dryRun = Boolean(values['dry-run']);
  const seen = new Set<string>();
  const held: Message[] = [];
  let moved = 0;
  let listed = 0;
  const list = (verb: string, m: Message) => {
    if (++listed <= LISTED) io.stdout.write(`  ${verb} ${describeMessage(m.Body ?? '')}\n`);
  };
  io.stderr.write(`${dryRun ? 'Dry run: reading' : 'Moving'} the dead-letter queue of ${stack.env} back to its object queue\n`);
  try {
    while (seen.size < max) {
      const r = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: stack.dlqUrl,
          MaxNumberOfMessages: Math.min(10, max - seen.size),
          WaitTimeSeconds: 1,
          VisibilityTimeout: VISIBILITY_SECONDS,
          MessageAttributeNames: ['All'],
        }),
      );
      const msgs = (r.Messages ?? []).filter((m) => !seen.has(m.MessageId ?? ''));
      if (msgs.length === 0) break;
      for (const m of msgs) {
        seen.add(m.MessageId ?? '');
        if (dryRun) {
          held.push(m);
          list('waiting:', m);
          continue;
        }
        // Send first; delete only what reached the queue. A failed send leaves the message in the
        // dead-letter queue, visible again after the visibility timeout.
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: stack.queueUrl,
            MessageBody: m.Body ?? '',
            ...(m.MessageAttributes && Object.keys(m.MessageAttributes).length ? { MessageAttributes: m.MessageAttributes } : {}),
          }),
        );
        await sqs.send(new DeleteMessageCommand({ QueueUrl: stack.dlqUrl, ReceiptHandle: m.ReceiptHandle }));
        moved++;
        list('moved:', m);
      }
    }
  } finally {
    // A dry run gives back what it held, at once.
    for (const m of held) {
      await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: stack.dlqUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })).catch(() => {});
    }
  }
  if (listed > LISTED) io.stdout.write(`  … and ${listed - LISTED} more\n`);
  io.stdout.write(
    dryRun
      ? `Dry run: ${seen.size} ${seen.size === 1 ? 'message waits' : 'messages wait'} in the dead-letter queue; nothing was moved.\n`
      : `Moved ${moved} ${moved === 1 ? 'message' : 'messages'} from the dead-letter queue to the object queue${seen.size >= max ? ` (stopped at --max ${max})` : ''}.\n`,
  );
  return 0;
}
