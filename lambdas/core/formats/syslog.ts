import type { LineParser, ParseResult } from '../model.js';

/** RFC 3164 (BSD) header: `<190>Dec  1 12:00:00 web1 nginx: `, the PRI and the host optional. */
const BSD_HEADER = /^(?:<\d{1,3}>)?[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d(?: \S+)? [^\s:[\]]+(?:\[\d+\])?: /;
/** rsyslog's high-precision file format: `2026-12-01T12:00:00.123456+00:00 web1 nginx: `. */
const ISO_HEADER = /^(?:<\d{1,3}>)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) \S+ [^\s:[\]]+(?:\[\d+\])?: /;
/** RFC 5424 header up to the structured data: `<190>1 TIMESTAMP HOST APP PROCID MSGID `. */
const RFC5424_HEADER = /^<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ /;

/** Where the message of a syslog line starts, or -1 when the line has no syslog header. */
export function syslogMessageStart(line: string): number {
  const c = line.charCodeAt(0);
  let m: RegExpExecArray | null = null;
  if (c === 60 /* < */) {
    const h = RFC5424_HEADER.exec(line);
    if (h) return skipStructuredData(line, h[0].length);
    m = BSD_HEADER.exec(line) ?? ISO_HEADER.exec(line);
  } else if (c >= 48 && c <= 57) m = ISO_HEADER.exec(line);
  else if (c >= 65 && c <= 90) m = BSD_HEADER.exec(line);
  return m ? m[0].length : -1;
}

/** Skips RFC 5424 STRUCTURED-DATA (`-` or `[id k="v"]…`, `\]` escaped) and the space and BOM after it. */
function skipStructuredData(line: string, start: number): number {
  let i = start;
  if (line.charCodeAt(i) === 45 /* - */) i++;
  else {
    while (line.charCodeAt(i) === 91 /* [ */) {
      i++;
      while (i < line.length && line.charCodeAt(i) !== 93) i += line.charCodeAt(i) === 92 ? 2 : 1;
      if (i >= line.length) return -1;
      i++;
    }
    if (i === start) return -1;
  }
  if (i < line.length && line.charCodeAt(i) !== 32) return -1;
  i++;
  if (line.charCodeAt(i) === 0xfeff) i++;
  return Math.min(i, line.length);
}

/**
 * An access-log line relayed through syslog (`access_log syslog:server=…` in Nginx, HAProxy's
 * `log` target, Apache piped to `logger`): the header is dropped and the message parsed by
 * `inner`; the line's own timestamp is used, not the header's (RFC 3164 headers have no year).
 * With `optional`, lines without a header are parsed as they are.
 */
export class SyslogParser implements LineParser {
  private wrapped = true;
  private readonly names = new Map<string, string>();

  constructor(
    private readonly inner: LineParser,
    private readonly optional = false,
  ) {}

  /** The last line's message was read loosely by the inner format (see `LineParser.loose`). */
  get loose(): boolean {
    return this.inner.loose === true;
  }

  /** `syslog:<inner format>` for the last line read, or the inner format when it had no header. */
  get format(): string {
    const f = this.inner.format;
    if (!this.wrapped) return f;
    let name = this.names.get(f);
    if (name === undefined) {
      name = `syslog:${f}`;
      this.names.set(f, name);
    }
    return name;
  }

  parse(line: string): ParseResult | null {
    const start = syslogMessageStart(line);
    if (start < 0) {
      if (!this.optional) return { ok: false, reason: 'format-mismatch' };
      this.wrapped = false;
      return this.inner.parse(line);
    }
    this.wrapped = true;
    const r = this.inner.parse(line.slice(start));
    if (r?.ok) r.record.raw = line;
    return r;
  }
}
