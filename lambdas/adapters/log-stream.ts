import { Readable, type TransformOptions } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { type ZlibOptions, createGunzip } from 'node:zlib';
import { InputError } from '../core/errors.js';
import { LineSplitter, binaryReason, looksBinary } from '../core/lines.js';
import type { LineSink } from '../core/ports.js';

/** What reading an object found besides its lines. */
export interface ReadOutcome {
  compressed: boolean;
  /** Bytes of the stored object (compressed size for gzip). */
  bytesIn: number;
  /** Bytes after decompression that were read (equal to `bytesIn` for plain objects). */
  bytesOut: number;
  /** Set when the object is not a text log at all; no line was delivered. */
  notLog?: string;
  /** Set when reading stopped at a decompression bound; the reason was also counted in the sink. */
  cutOff?: CutOffReason;
}

/** Why the rest of a compressed object was not read. */
export type CutOffReason = 'decompressed-size-limit' | 'compression-ratio-limit';

/**
 * Most bytes one compressed object may inflate to. Far above any access-log object a server or
 * load balancer writes; a small gzip that claims more is a decompression bomb, not a log.
 */
export const MAX_DECOMPRESSED_BYTES = 16 * 1024 ** 3;
/**
 * Highest inflation ratio allowed once `RATIO_CHECK_AFTER_BYTES` were inflated. Access logs
 * compress 10–40 : 1 (identical health-check lines reach about 37 : 1); deflate's ceiling, which
 * bombs sit at, is about 1030 : 1.
 */
export const MAX_COMPRESSION_RATIO = 200;
/**
 * Below this many inflated bytes the ratio is not judged: small objects are never cut, and a bomb
 * of blank lines delivers at most this many before it is.
 */
export const RATIO_CHECK_AFTER_BYTES = 16 * 1024 ** 2;

/**
 * Inflated bytes the gunzip stream may hold ready before the reader takes them. Inflation runs on
 * libuv's thread pool; with the stream's default 16 KB it stopped after every chunk until the
 * main thread, busy parsing, asked for more, so the two never overlapped (about a fifth of the
 * CLI's time on a gzipped log). At this size it keeps inflating while lines are parsed.
 */
export const INFLATE_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * Bytes decoded into text at a time. A decoded chunk is one string and the lines are slices of it;
 * a string over 128 KB lands in V8's large-object space, which only a full collection frees, while
 * its lines keep it alive. Plain files read 256 KB at a time took 7.0 s for 1M lines, with 1.8 s
 * of it in the kernel, against 4.3 s decoded in pieces of this size (two-byte text doubles a
 * string's size, hence 32 KB and not 64).
 */
export const TEXT_PIECE_BYTES = 32 * 1024;

/** Bounds and hooks of one read. */
export interface ReadOptions {
  maxLineLength?: number;
  /** Progress in stored (possibly compressed) bytes. */
  onBytes?: (n: number) => void;
  /** Progress in decompressed bytes (the text the lines come from). */
  onText?: (n: number) => void;
  maxDecompressedBytes?: number;
  maxCompressionRatio?: number;
}

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

function isGzipDataError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR' || /unexpected end of file|incorrect header/i.test((e as Error).message);
}

/**
 * Streams an object's bytes into lines in constant memory. Gzip is recognised by its magic
 * bytes, never by the name; binary content is refused before any line is parsed. Inflation is
 * bounded (`MAX_DECOMPRESSED_BYTES`, `MAX_COMPRESSION_RATIO`): past a bound the rest is not read,
 * and the sink is told why. An error of the body, before or inside decompression, rejects the
 * returned promise; it never escapes as an unhandled stream error.
 */
export async function readLines(body: AsyncIterable<Uint8Array>, sink: LineSink, opts: ReadOptions = {}): Promise<ReadOutcome> {
  const iterator = body[Symbol.asyncIterator]();
  const release = async () => {
    // Stops the body (an HTTP response keeps its socket otherwise); its own errors no longer matter.
    await iterator.return?.().catch(() => {});
  };
  const outcome: ReadOutcome = { compressed: false, bytesIn: 0, bytesOut: 0 };
  let first: IteratorResult<Uint8Array>;
  try {
    first = await iterator.next();
    while (!first.done && first.value.length < 2) {
      // Tiny first chunks (stdin) are joined until the magic bytes can be read.
      const more = await iterator.next();
      if (more.done) break;
      first = { done: false, value: Buffer.concat([first.value, more.value]) };
    }
  } catch (e) {
    await release();
    throw e;
  }
  if (first.done) return outcome;
  const head = first.value;
  outcome.compressed = head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1;
  async function* raw(): AsyncGenerator<Uint8Array> {
    try {
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
    } finally {
      await release();
    }
  }
  let text: AsyncIterable<Uint8Array> = raw();
  let piped: Promise<void> | null = null;
  // Compressed bytes the inflater has consumed (not merely fetched: the body is read ahead).
  let consumed = () => outcome.bytesIn;
  if (outcome.compressed) {
    // The zlib streams take the stream options too (their types leave them out).
    const options: ZlibOptions & TransformOptions = { chunkSize: 64 * 1024, readableHighWaterMark: INFLATE_AHEAD_BYTES };
    const gunzip = createGunzip(options);
    consumed = () => gunzip.bytesWritten;
    // pipeline() (unlike pipe()) destroys the gunzip stream with the body's error, so a network
    // failure half-way surfaces in the loop below instead of as an unhandled 'error' event.
    piped = pipeline(Readable.from(raw()), gunzip);
    piped.catch(() => {}); // the same error is raised by the loop below
    text = gunzip;
  }
  const maxOut = opts.maxDecompressedBytes ?? MAX_DECOMPRESSED_BYTES;
  const maxRatio = opts.maxCompressionRatio ?? MAX_COMPRESSION_RATIO;
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
          outcome.notLog = outcome.compressed ? 'the decompressed content is binary, not a text log' : binaryReason(chunk);
          return outcome;
        }
      }
      outcome.bytesOut += chunk.length;
      opts.onText?.(chunk.length);
      if (outcome.compressed) {
        // A client can fill a log with identical requests, which deflate packs near its own
        // ceiling: past the ratio, the rest is read while the lines so far are requests.
        const cut =
          outcome.bytesOut > maxOut
            ? 'decompressed-size-limit'
            : outcome.bytesOut > RATIO_CHECK_AFTER_BYTES && outcome.bytesOut > consumed() * maxRatio && !sink.usable?.()
              ? 'compression-ratio-limit'
              : null;
        if (cut) {
          outcome.cutOff = cut;
          const why =
            cut === 'decompressed-size-limit'
              ? `more than ${maxOut} bytes once decompressed`
              : `more than ${maxRatio} times its compressed size (${outcome.bytesOut} bytes from ${consumed()})`;
          sink.overlong(`the rest of the object was not read: it inflates to ${why}`, cut);
          return outcome;
        }
      }
      const bytes = chunk as Buffer;
      if (bytes.length <= TEXT_PIECE_BYTES) splitter.push(decoder.write(bytes));
      else for (let i = 0; i < bytes.length; i += TEXT_PIECE_BYTES) splitter.push(decoder.write(bytes.subarray(i, i + TEXT_PIECE_BYTES)));
    }
    await piped;
  } catch (e) {
    if (outcome.compressed && isGzipDataError(e)) {
      throw new InputError(`the gzip data is truncated or corrupt (${(e as Error).message})`, { cause: e });
    }
    throw e;
  }
  splitter.push(decoder.end());
  splitter.end();
  return outcome;
}
