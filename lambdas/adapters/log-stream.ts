import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { InputError } from '../core/errors.js';
import { LineSplitter, looksBinary } from '../core/lines.js';
import type { LineSink } from '../core/ports.js';

/** What reading an object found besides its lines. */
export interface ReadOutcome {
  compressed: boolean;
  /** Bytes of the stored object (compressed size for gzip). */
  bytesIn: number;
  /** Set when the object is not a text log at all; no line was delivered. */
  notLog?: string;
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

/**
 * Streams an object's bytes into lines in constant memory. Gzip is recognised by its magic
 * bytes, never by the name; binary content is refused before any line is parsed.
 * `onBytes` reports progress in stored (possibly compressed) bytes.
 */
export async function readLines(
  body: AsyncIterable<Uint8Array>,
  sink: LineSink,
  opts: { maxLineLength?: number; onBytes?: (n: number) => void } = {},
): Promise<ReadOutcome> {
  const iterator = body[Symbol.asyncIterator]();
  let first = await iterator.next();
  while (!first.done && first.value.length < 2) {
    // Tiny first chunks (stdin) are joined until the magic bytes can be read.
    const more = await iterator.next();
    if (more.done) break;
    first = { done: false, value: Buffer.concat([first.value, more.value]) };
  }
  const outcome: ReadOutcome = { compressed: false, bytesIn: 0 };
  if (first.done) return outcome;
  const head = first.value;
  outcome.compressed = head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1;
  async function* raw(): AsyncGenerator<Uint8Array> {
    outcome.bytesIn += head.length;
    opts.onBytes?.(head.length);
    yield head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      outcome.bytesIn += next.value.length;
      opts.onBytes?.(next.value.length);
      yield next.value;
    }
  }
  let text: AsyncIterable<Uint8Array> = raw();
  if (outcome.compressed) {
    const gunzip = createGunzip();
    text = Readable.from(raw()).pipe(gunzip);
    // pipe() does not forward source errors; make them fail the read.
  }
  const decoder = new StringDecoder('utf8');
  const splitter = new LineSplitter(
    (l) => sink.line(l),
    (p) => sink.overlong(p),
    opts.maxLineLength,
  );
  let checked = false;
  try {
    for await (const chunk of text) {
      if (!checked) {
        checked = true;
        if (looksBinary(chunk)) {
          outcome.notLog = outcome.compressed
            ? 'the decompressed content is binary, not a text log'
            : 'the content is binary (an image, archive or executable?), not a text log';
          return outcome;
        }
      }
      splitter.push(decoder.write(chunk as Buffer));
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR' || /unexpected end of file|incorrect header/i.test((e as Error).message)) {
      throw new InputError(`the gzip data is truncated or corrupt (${(e as Error).message})`, { cause: e });
    }
    throw e;
  }
  splitter.push(decoder.end());
  splitter.end();
  return outcome;
}
