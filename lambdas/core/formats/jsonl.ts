import { stripPort } from '../ip.js';
import { type LineParser, type LogRecord, type ParseResult, emptyRecord } from '../model.js';
import { apacheParser } from './apache.js';
import { parseAnyTime, setRequestLine, setTarget, timeProblem } from './shared.js';

/** Fields of the normalised record a JSON log can supply, plus `message` for embedded lines. */
export const JSON_FIELDS = [
  'time',
  'clientIp',
  'method',
  'target',
  'query',
  'request',
  'protocol',
  'status',
  'bytes',
  'referer',
  'userAgent',
  'host',
  'forwardedFor',
  'message',
] as const;
/** One of the fields a JSON log can supply. */
export type JsonField = (typeof JSON_FIELDS)[number];

/** Where each field is found: dotted paths tried in order (the first present wins). */
export type JsonFieldMap = Partial<Record<JsonField, string | string[]>>;

/**
 * Defaults that cover Nginx `escape=json` formats, Fluent Bit's and Vector's nginx/apache
 * parsers, Caddy, Traefik, AWS WAF and Elastic Common Schema. Order matters: the first present
 * wins, so Caddy's `client_ip` (after its trusted-proxy resolution) comes before `remote_ip`.
 */
export const DEFAULT_JSON_FIELDS: Record<JsonField, string[]> = {
  time: ['StartUTC', 'time', 'timestamp', '@timestamp', 'ts', 'time_local', 'time_iso8601', 'date', 'datetime', 'start_time'],
  clientIp: [
    'remote_addr',
    'request.client_ip',
    'client_ip',
    'request.remote_ip',
    'remote_ip',
    'ClientHost',
    'ClientAddr',
    'httpRequest.clientIp',
    'clientip',
    'ip',
    'remote',
    'client',
    'source.ip',
    'client.ip',
  ],
  method: ['request_method', 'method', 'request.method', 'RequestMethod', 'httpRequest.httpMethod', 'http.request.method', 'http.method'],
  target: ['request_uri', 'uri', 'request.uri', 'RequestPath', 'httpRequest.uri', 'url.original', 'url', 'path', 'http.url'],
  query: ['args', 'query_string', 'httpRequest.args'],
  request: ['request'],
  protocol: ['server_protocol', 'protocol', 'request.proto', 'RequestProtocol', 'httpRequest.httpVersion', 'http.version'],
  status: ['status', 'status_code', 'code', 'DownstreamStatus', 'response.status', 'http.response.status_code', 'response_status', 'responseCodeSent'],
  bytes: ['body_bytes_sent', 'bytes_sent', 'size', 'bytes', 'length', 'DownstreamContentSize', 'http.response.body.bytes'],
  referer: ['http_referer', 'referer', 'referrer', 'request.headers.Referer', 'request_Referer', 'httpRequest.headers.Referer', 'http.request.referrer'],
  userAgent: [
    'http_user_agent',
    'user_agent',
    'userAgent',
    'agent',
    'request.headers.User-Agent',
    'request_User-Agent',
    'httpRequest.headers.User-Agent',
    'user_agent.original',
    'http.user_agent',
  ],
  host: ['host', 'http_host', 'server_name', 'request.host', 'RequestHost', 'httpRequest.headers.Host', 'url.domain'],
  forwardedFor: [
    'http_x_forwarded_for',
    'x_forwarded_for',
    'xff',
    'request.headers.X-Forwarded-For',
    'request_X-Forwarded-For',
    'httpRequest.headers.X-Forwarded-For',
  ],
  message: ['message', 'log', 'msg'],
};

type Getter = (o: Record<string, unknown>) => unknown;

function getter(path: string): Getter {
  const segs = path.split('.');
  return (o) => {
    if (path in o) return unwrap(o[path]);
    let cur: unknown = o;
    for (const s of segs) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = Array.isArray(cur) ? headerValue(cur, s) : (cur as Record<string, unknown>)[s];
    }
    return unwrap(cur);
  };
}

/** AWS WAF logs headers as a list of `{ name, value }`; names are case-insensitive. */
function headerValue(list: unknown[], name: string): unknown {
  const want = name.toLowerCase();
  for (const h of list) {
    if (h === null || typeof h !== 'object') continue;
    // Only a string is a header name: converting an array to text walks it recursively, and one
    // nested a hundred thousand deep overflows the stack.
    const n = (h as { name?: unknown }).name;
    if (typeof n === 'string' && n.toLowerCase() === want) return (h as { value?: unknown }).value;
  }
  return undefined;
}

/** Caddy logs headers as arrays of values. */
function unwrap(v: unknown): unknown {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A number field's value, or `fallback` when it is neither a number nor a string. `Number` on an
 * array or object converts it to text first, recursively: a field nested a hundred thousand
 * arrays deep (one line of 200 KB) would overflow the stack and end the scan.
 */
function num(v: unknown, fallback: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'boolean') return Number(v);
  return v === undefined || v === null ? fallback : Number.NaN;
}

function str(v: unknown): string {
  if (typeof v === 'string') return v === '-' ? '' : v;
  if (typeof v === 'number') return String(v);
  return '';
}

/** JSON lines with a configurable field map; a `message` holding a text access-log line is parsed too. */
export class JsonLinesParser implements LineParser {
  readonly format = 'json';
  private readonly getters: Record<JsonField, Getter[]>;
  private readonly embedded = [apacheParser('combined'), apacheParser('common')];

  constructor(fields: JsonFieldMap = {}) {
    const g = {} as Record<JsonField, Getter[]>;
    for (const k of JSON_FIELDS) {
      const custom = fields[k];
      const paths = custom === undefined ? DEFAULT_JSON_FIELDS[k] : Array.isArray(custom) ? custom : [custom];
      g[k] = paths.map(getter);
    }
    this.getters = g;
  }

  private first(o: Record<string, unknown>, k: JsonField): unknown {
    for (const get of this.getters[k]) {
      const v = get(o);
      if (v !== undefined && v !== null && v !== '') return v;
    }
    return undefined;
  }

  parse(line: string): ParseResult {
    if (line.charCodeAt(0) !== 123 /* { */) return { ok: false, reason: 'not-json' };
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      return { ok: false, reason: 'invalid-json' };
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return { ok: false, reason: 'not-json-object' };
    const obj = o as Record<string, unknown>;
    const method = this.first(obj, 'method');
    const target = this.first(obj, 'target');
    const request = this.first(obj, 'request');
    if (method === undefined && target === undefined && typeof request !== 'string') {
      const message = this.first(obj, 'message');
      if (typeof message === 'string') return this.parseEmbedded(message, line);
      return { ok: false, reason: 'no-request-fields' };
    }
    const r = emptyRecord(line);
    r.time = parseAnyTime(this.first(obj, 'time'));
    const timeWrong = timeProblem(r.time);
    if (timeWrong !== null) return { ok: false, reason: timeWrong };
    r.peerIp = stripPort(str(this.first(obj, 'clientIp')));
    if (r.peerIp === '') return { ok: false, reason: 'missing-client-address' };
    r.clientIp = r.peerIp;
    if (typeof request === 'string' && (method === undefined || target === undefined)) {
      setRequestLine(r, request);
    } else {
      r.method = str(method);
      const t = str(target);
      const q = str(this.first(obj, 'query'));
      setTarget(r, q && t.indexOf('?') < 0 ? `${t}?${q}` : t);
      r.protocol = str(this.first(obj, 'protocol'));
      r.request = `${r.method} ${r.target}${r.protocol ? ` ${r.protocol}` : ''}`;
      r.requestMalformed = r.method === '' || (r.target.charCodeAt(0) !== 47 && r.target !== '*');
    }
    const status = num(this.first(obj, 'status'), 0);
    if (!Number.isInteger(status) || status < 0 || status > 999) return { ok: false, reason: 'bad-status' };
    r.status = status;
    r.bytes = num(this.first(obj, 'bytes'), 0) || 0;
    r.referer = str(this.first(obj, 'referer'));
    r.userAgent = str(this.first(obj, 'userAgent'));
    r.host = str(this.first(obj, 'host'));
    r.forwardedFor = str(this.first(obj, 'forwardedFor'));
    return { ok: true, record: r };
  }

  private parseEmbedded(message: string, line: string): ParseResult {
    let result: ParseResult = { ok: false, reason: 'unrecognised-message' };
    for (const p of this.embedded) {
      result = p.parse(message.trimEnd());
      if (result.ok) {
        (result.record as LogRecord).raw = line;
        return result;
      }
    }
    return { ok: false, reason: 'unrecognised-message' };
  }
}
