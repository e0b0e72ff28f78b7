/**
 * The file through which `probewatch alerts|state|backfill|replay-dlq --env local` find a running
 * local stack: its endpoints, names and the emulators' fixed credentials (nothing secret).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { type LocalStackFile, localStackFilePath } from '../cli/commands/resolve.js';
import type { LocalStack } from './stack.js';

/** The file's content for a running stack. */
export function localStackFileOf(stack: LocalStack, pid = process.pid): LocalStackFile {
  return {
    pid,
    region: stack.region,
    bucket: stack.bucket,
    tableName: stack.tableName,
    queueUrl: stack.queueUrl,
    dlqUrl: stack.dlqUrl,
    topicArn: stack.topicArn,
    endpoints: stack.endpoints,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  };
}

/** Writes the file (owner-only) and returns a function that removes it. */
export function writeLocalStackFile(stack: LocalStack, path = localStackFilePath()): () => void {
  writeFileSync(path, `${JSON.stringify(localStackFileOf(stack), null, 2)}\n`, { mode: 0o600 });
  return () => rmSync(path, { force: true });
}
