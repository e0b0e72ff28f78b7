/**
 * The one normalised record that flows between stages. Parsing is per format; everything after
 * it is format-blind.
 */
export interface LogRecord {
  /** Event time in epoch milliseconds, from the log line itself (never the clock). */
  time: number;
  /** The address the request is attributed to after trusted-proxy resolution. */
  clientIp: string;
  /** The address that connected to the server (or the load balancer's client field). */
  peerIp: string;
  method: string;
  /** The request target as logged (origin form, `*`, or absolute URI). */
  target: string;
  /** The path part of the target, without the query string. */
  path: string;
  /** The query string without the leading `?` ("" when absent). */
  query: string;
  protocol: string;
  /** HTTP status; 0 when the log did not record one. */
  status: number;
  bytes: number;
  referer: string;
  userAgent: string;
  host: string;
  /** Raw X-Forwarded-For value as logged ("" when absent). */
  forwardedFor: string;
  /** True when the request line itself could not be split into method, target and protocol. */
  requestMalformed: boolean;
  /** The raw request line, as logged ("" when the format logs its parts separately). */
  request: string;
  raw: string;
}

/** Parse result of one line: a value, never an exception. */
export type ParseResult = { ok: true; record: LogRecord } | { ok: false; reason: string };

/** A parser for one line of one format. Stateful parsers (W3C `#Fields`) keep their header. */
export interface LineParser {
  readonly format: string;
  parse(line: string): ParseResult | null;
  /**
   * Set by a successful `parse` when the line was read only by stretching a field past its usual
   * end (see `TemplateParser.loose`): another format that reads it as written is preferred.
   */
  readonly loose?: boolean;
}

/** Marker returned by `LineParser.parse` for lines that carry no request (headers, comments). */
export const SKIP_LINE = null;

/** The request line as logged, or rebuilt from its parts when the format logs them separately. */
export function requestLineOf(r: LogRecord): string {
  return r.request || `${r.method} ${r.target} ${r.protocol}`.trim();
}

/** Builds a record with every field present, so all records share one hidden class. */
export function emptyRecord(raw: string): LogRecord {
  return {
    time: Number.NaN,
    clientIp: '',
    peerIp: '',
    method: '',
    target: '',
    path: '',
    query: '',
    protocol: '',
    status: 0,
    bytes: 0,
    referer: '',
    userAgent: '',
    host: '',
    forwardedFor: '',
    requestMalformed: false,
    request: '',
    raw,
  };
}
