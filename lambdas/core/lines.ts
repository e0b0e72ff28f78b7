/**
 * Splits a stream of text chunks into lines without ever holding more than one line (capped)
 * in memory. CRLF is tolerated. A line longer than `maxLength` is reported, not kept.
 */
export class LineSplitter {
  private rest = '';
  private overlong = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOverlong: (prefix: string) => void,
    private readonly maxLength = 64 * 1024,
  ) {}

  /** Feeds one decoded chunk. */
  push(chunk: string): void {
    let start = 0;
    let data = chunk;
    if (this.rest !== '') {
      data = this.rest + chunk;
      this.rest = '';
    }
    for (;;) {
      const nl = data.indexOf('\n', start);
      if (nl < 0) break;
      this.emit(data, start, nl);
      start = nl + 1;
    }
    if (start < data.length) {
      if (this.overlong) return; // still inside a line already reported
      if (data.length - start > this.maxLength) {
        this.onOverlong(data.slice(start, start + 200));
        this.overlong = true;
        return;
      }
      this.rest = data.slice(start);
    }
  }

  private emit(data: string, start: number, end: number): void {
    if (this.overlong) {
      this.overlong = false;
      return;
    }
    let e = end;
    if (e > start && data.charCodeAt(e - 1) === 13) e--;
    if (e - start > this.maxLength) {
      this.onOverlong(data.slice(start, start + 200));
      return;
    }
    this.onLine(data.slice(start, e));
  }

  /** Flushes the last line (a file need not end with a newline). */
  end(): void {
    if (this.overlong) {
      this.overlong = false;
      return;
    }
    if (this.rest !== '') {
      const last = this.rest.charCodeAt(this.rest.length - 1) === 13 ? this.rest.slice(0, -1) : this.rest;
      this.rest = '';
      this.onLine(last);
    }
  }
}

/** Bytes at the start of an object that decide whether it is text. */
const BINARY_HEAD_BYTES = 4096;

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
