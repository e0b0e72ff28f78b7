import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { AdapterError, InputError } from '../core/errors.js';
import type { LineSink, LineSource, ObjectRef } from '../core/ports.js';
import { type ReadOptions, readLines } from './log-stream.js';

/**
 * Streams an S3 object's lines (gzip by magic bytes, lines and inflation bounded as in
 * `readLines`). A failure while the body streams (a reset connection half-way) rejects the read
 * as an AdapterError, so the caller retries this object only.
 */
export function s3LineSource(client: S3Client, ref: ObjectRef, opts: Omit<ReadOptions, 'onBytes'> = {}): LineSource {
  return {
    async read(sink: LineSink) {
      let body: AsyncIterable<Uint8Array>;
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
        body = r.Body as AsyncIterable<Uint8Array>;
      } catch (e) {
        // Deleted between the notification and now: nothing to read, nothing to retry.
        if (e instanceof NoSuchKey || (e as { name?: string }).name === 'NoSuchKey') return { notLog: 'the object no longer exists' };
        throw new AdapterError(`S3 GetObject s3://${ref.bucket}/${ref.key} failed: ${(e as Error).message}`, { cause: e });
      }
      try {
        const outcome = await readLines(body, sink, opts);
        return outcome.notLog ? { notLog: outcome.notLog } : {};
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`s3://${ref.bucket}/${ref.key}: ${e.message}`, { cause: e });
        throw new AdapterError(`reading s3://${ref.bucket}/${ref.key} failed: ${(e as Error).message}`, { cause: e });
      }
    },
  };
}
