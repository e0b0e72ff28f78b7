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

/**
 * True when the start of an object is clearly not text (an image, an archive, a binary): a NUL
 * byte, or more than 10 % bytes that are neither printable ASCII, whitespace nor UTF-8.
 */
export function looksBinary(head: Uint8Array): boolean {
  const n = Math.min(head.length, 4096);
  if (n === 0) return false;
  let odd = 0;
  for (let i = 0; i < n; i++) {
    const b = head[i] as number;
    if (b === 0) return true;
    if (b < 9 || (b > 13 && b < 32) || b === 127) odd++;
  }
  return odd / n > 0.1;
}

/**
 * A copy of `s` that does not pin the text it was cut from. V8 represents `slice()` results as
 * views into the parent string, so keeping a 12-byte address from a line keeps the whole
 * decoded chunk alive; anything stored beyond the current line goes through this.
 */
export function detach(s: string): string {
  return s.length < 13 ? s : ` ${s}`.slice(1);
}
