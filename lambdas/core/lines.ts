/**
 * Longest line kept, in characters; a longer one is counted as `line-too-long` and dropped. A
 * client writes most of a line (request, referer, user agent), and a server logs each control
 * byte as four characters (`\x01`): two 8 KB headers, the most Apache and Nginx take by default,
 * reach 64 K characters, which would let a client have its own request dropped. This holds four
 * such fields.
 */
export const MAX_LINE_LENGTH = 256 * 1024;

const LF = 10;

/**
 * Splits a stream of text chunks into lines without ever holding more than one line (capped)
 * in memory. A line ends at LF, CRLF or a lone CR (old Mac exports): reading CR-only files as
 * one line would drop every request in them. A line longer than `maxLength` is reported, not kept.
 */
export class LineSplitter {
  /**
   * The start of the current line, from earlier chunks (none holds a line end). Kept as pieces
   * and joined once, when the line ends: joined and searched again with every chunk, a line
   * that arrives in many chunks cost the square of its length (a 256-K line in 1-KB chunks,
   * 165 ns a character).
   */
  private parts: string[] = [];
  /** Characters in `parts`. */
  private held = 0;
  private overlong = false;
  /** The last chunk ended with a CR: an LF at the start of the next one belongs to it. */
  private afterCr = false;
  /** Characters searched for a line end so far: each once, whatever the chunks (for tests). */
  searched = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOverlong: (prefix: string) => void,
    private readonly maxLength = MAX_LINE_LENGTH,
  ) {}

  /** Feeds one decoded chunk. */
  push(chunk: string): void {
    if (chunk.length === 0) return;
    let start = 0;
    if (this.afterCr) {
      this.afterCr = false;
      if (chunk.charCodeAt(0) === LF) start = 1;
    }
    this.searched += chunk.length - start;
    // Logs end lines with LF almost always: look for CR once, and only mix the two when present.
    let cr = chunk.indexOf('\r', start);
    let lf = chunk.indexOf('\n', start);
    while (lf >= 0 || cr >= 0) {
      let end: number;
      let next: number;
      if (cr < 0 || (lf >= 0 && lf < cr)) {
        end = lf;
        next = lf + 1;
      } else {
        end = cr;
        if (cr + 1 === chunk.length) {
          next = cr + 1;
          this.afterCr = true;
        } else next = chunk.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
        cr = chunk.indexOf('\r', next);
      }
      if (lf >= 0 && lf < next) lf = chunk.indexOf('\n', next);
      this.emit(chunk, start, end);
      start = next;
    }
    if (start < chunk.length) this.hold(start === 0 ? chunk : chunk.slice(start));
  }

  /** Keeps the start of a line that goes on in the next chunk, or reports it once it is too long. */
  private hold(piece: string): void {
    if (this.overlong) return; // still inside a line already reported
    if (this.held + piece.length > this.maxLength) {
      this.onOverlong(this.take(piece).slice(0, 200));
      this.overlong = true;
      return;
    }
    this.parts.push(piece);
    this.held += piece.length;
  }

  /** The held start of the line with `last` after it; nothing is held after. */
  private take(last: string): string {
    const parts = this.parts;
    this.parts = [];
    this.held = 0;
    if (parts.length === 0) return last;
    parts.push(last);
    return parts.join('');
  }

  private emit(chunk: string, start: number, end: number): void {
    if (this.overlong) {
      this.overlong = false;
      return;
    }
    if (this.held + end - start > this.maxLength) {
      this.onOverlong(this.take(chunk.slice(start, Math.min(end, start + 200))).slice(0, 200));
      return;
    }
    this.onLine(this.held === 0 ? chunk.slice(start, end) : this.take(chunk.slice(start, end)));
  }

  /** Flushes the last line (a file need not end with a newline). */
  end(): void {
    this.afterCr = false;
    if (this.overlong) {
      this.overlong = false;
      return;
    }
    if (this.held > 0) this.onLine(this.take(''));
  }
}

/** Bytes at the start of an object that decide whether it is text. */
const BINARY_HEAD_BYTES = 4096;

/** Compressed formats other than gzip, by their magic bytes: named so that the user knows what to do. */
const OTHER_COMPRESSION: readonly { name: string; tool: string; magic: readonly number[] }[] = [
  { name: 'bzip2', tool: 'bzcat', magic: [0x42, 0x5a, 0x68] },
  { name: 'xz', tool: 'xzcat', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { name: 'zstd', tool: 'zstdcat', magic: [0x28, 0xb5, 0x2f, 0xfd] },
  { name: 'zip', tool: 'unzip -p', magic: [0x50, 0x4b, 0x03, 0x04] },
  { name: '7-Zip', tool: '7z x -so', magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c] },
];

/**
 * Why binary content at the start of an object is not read: a compression other than gzip is
 * named with the command that unpacks it to standard input.
 */
export function binaryReason(head: Uint8Array): string {
  const other = OTHER_COMPRESSION.find((c) => c.magic.every((b, i) => head[i] === b));
  if (other)
    return `the content is ${other.name}-compressed, and only gzip is read: unpack it first (${other.tool} FILE | probewatch scan -), or store it gzipped`;
  return 'the content is binary (an image, archive or executable?), not a text log';
}

/**
 * True when the start of an object is clearly not text (an image, an archive, a binary): most of
 * its lines hold a NUL byte or more than 10 % bytes that are neither printable ASCII, whitespace
 * nor UTF-8. Decided per line, so one request line full of raw exploit bytes (servers log what
 * they got) does not make a whole access log binary.
 */
export function looksBinary(head: Uint8Array): boolean {
  const n = Math.min(head.length, BINARY_HEAD_BYTES);
  if (n === 0) return false;
  let lines = 0;
  let binaryLines = 0;
  let start = 0;
  let odd = 0;
  let nul = false;
  for (let i = 0; i <= n; i++) {
    const b = i < n ? (head[i] as number) : 10;
    if (b === 10) {
      const len = i - start;
      if (len > 0 || i < n) {
        lines++;
        if (nul || odd * 10 > len) binaryLines++;
      }
      start = i + 1;
      odd = 0;
      nul = false;
    } else if (b === 0) nul = true;
    else if (b < 9 || (b > 13 && b < 32) || b === 127) odd++;
  }
  return binaryLines * 2 > lines;
}

/**
 * A copy of `s` that does not pin the text it was cut from. V8 represents `slice()` results as
 * views into the parent string, so keeping a 12-byte address from a line keeps the whole
 * decoded chunk alive; anything stored beyond the current line goes through this.
 */
export function detach(s: string): string {
  return s.length < 13 ? s : ` ${s}`.slice(1);
}
