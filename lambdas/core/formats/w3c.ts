import { type LineParser, type ParseResult, emptyRecord } from '../model.js';
import { splitQuoted } from './alb.js';
import { parseIntField, parseIsoTime, setTarget, timeProblem } from './shared.js';

/** CloudFront's standard log fields, used when an object has no `#Fields` header. */
export const CLOUDFRONT_FIELDS =
  'date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end'.split(
    ' ',
  );

function decodeOnce(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** CloudFront writes user agents URL-encoded twice (a space is %2520). */
function decodeW3c(s: string, plusIsSpace: boolean): string {
  if (s === '-') return '';
  let v = plusIsSpace ? s.replace(/\+/g, ' ') : s;
  for (let i = 0; i < 2 && v.indexOf('%') >= 0; i++) v = decodeOnce(v);
  return v;
}

interface Layout {
  date: number;
  time: number;
  ip: number;
  method: number;
  stem: number;
  query: number;
  uri: number;
  status: number;
  bytes: number;
  referer: number;
  ua: number;
  host: number;
  xff: number;
  protocol: number;
}

function layout(fields: readonly string[]): Layout {
  const at = (...names: string[]): number => {
    for (const n of names) {
      const i = fields.indexOf(n);
      if (i >= 0) return i;
    }
    return -1;
  };
  return {
    date: at('date'),
    time: at('time'),
    ip: at('c-ip'),
    method: at('cs-method'),
    stem: at('cs-uri-stem'),
    query: at('cs-uri-query'),
    uri: at('cs-uri'),
    status: at('sc-status'),
    bytes: at('sc-bytes'),
    referer: at('cs(referer)'),
    ua: at('cs(user-agent)'),
    host: at('x-host-header', 'cs(host)', 's-computername'),
    xff: at('x-forwarded-for', 'cs(x-forwarded-for)'),
    protocol: at('cs-protocol-version', 'cs-version'),
  };
}

/**
 * W3C extended logs: CloudFront standard logs (tab-separated, URL-encoded values) and IIS
 * (space-separated, `+` for spaces). The `#Fields:` header sets the column order; without one,
 * CloudFront's documented order is assumed.
 */
export class W3cParser implements LineParser {
  readonly format = 'w3c';
  private cols: Layout = layout(CLOUDFRONT_FIELDS.map((f) => f.toLowerCase()));

  parse(line: string): ParseResult | null {
    if (line.charCodeAt(0) === 35 /* # */) {
      if (line.startsWith('#Fields:')) {
        this.cols = layout(line.slice(8).trim().toLowerCase().split(/\s+/));
      }
      return null;
    }
    // With the date first (CloudFront, IIS, Incapsula's quoted fields), refuse other lines before splitting them.
    const q = line.charCodeAt(0) === 34 ? 1 : 0;
    if (this.cols.date === 0 && (line.charCodeAt(4 + q) !== 45 || line.charCodeAt(7 + q) !== 45)) return { ok: false, reason: 'format-mismatch' };
    const tab = line.indexOf('\t') >= 0;
    // IIS separates by spaces and may quote a field that holds spaces (cookies).
    const f = tab ? line.split('\t') : splitQuoted(line);
    const c = this.cols;
    const get = (i: number): string => (i >= 0 ? (f[i] ?? '') : '');
    if (c.date < 0 || c.ip < 0) return { ok: false, reason: 'format-mismatch' };
    const date = get(c.date);
    if (date.length !== 10 || date.charCodeAt(4) !== 45) return { ok: false, reason: 'format-mismatch' };
    const r = emptyRecord(line);
    r.time = parseIsoTime(`${date}T${get(c.time)}Z`);
    const timeWrong = timeProblem(r.time);
    if (timeWrong !== null) return { ok: false, reason: timeWrong };
    r.peerIp = get(c.ip);
    if (r.peerIp === '' || r.peerIp === '-') return { ok: false, reason: 'missing-client-address' };
    r.clientIp = r.peerIp;
    r.method = get(c.method);
    if (c.stem >= 0) {
      const q = get(c.query);
      const stem = get(c.stem);
      setTarget(r, q && q !== '-' ? `${stem}?${q}` : stem);
    } else setTarget(r, get(c.uri));
    r.status = parseIntField(get(c.status), -1);
    if (r.status < 0) return { ok: false, reason: 'bad-status' };
    r.bytes = parseIntField(get(c.bytes), 0);
    r.referer = decodeW3c(get(c.referer), !tab);
    r.userAgent = decodeW3c(get(c.ua), !tab);
    const host = get(c.host);
    r.host = host === '-' ? '' : host;
    const xff = get(c.xff);
    r.forwardedFor = xff === '-' ? '' : decodeW3c(xff, false);
    const proto = get(c.protocol);
    r.protocol = proto === '-' ? '' : proto;
    r.request = `${r.method} ${r.target} ${r.protocol}`.trim();
    r.requestMalformed = r.method === '' || r.method === '-';
    return { ok: true, record: r };
  }
}
