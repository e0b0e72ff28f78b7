import { type LineParser, type ParseResult, emptyRecord } from '../model.js';
import { parseClfTime, parseIntField, setRequestLine, timeProblem } from './shared.js';

/** Undoes HAProxy's `#XX` encoding of quotes and non-printable bytes in logged strings. */
function unescapeHaproxy(s: string): string {
  if (s.indexOf('#') < 0) return s;
  return s.replace(/#([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/**
 * HAProxy's HTTP log format (`option httplog`), the message part of its syslog line:
 * `10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ----
 * 1/1/1/1/0 0/0 {captured} {headers} "GET /index.html HTTP/1.1"`. The accept date has no zone
 * (it is the proxy's local time) and is read as UTC. TCP-mode lines (`option tcplog`) carry no
 * request and are reported as `not-http`.
 */
export class HaproxyParser implements LineParser {
  readonly format = 'haproxy';

  parse(line: string): ParseResult {
    const sp = line.indexOf(' ');
    if (sp < 3 || line.charCodeAt(sp + 1) !== 91 /* [ */) return { ok: false, reason: 'format-mismatch' };
    const client = line.slice(0, sp);
    const colon = client.lastIndexOf(':');
    if (colon < 0 || parseIntField(client.slice(colon + 1), -1) < 0) return { ok: false, reason: 'format-mismatch' };
    const close = line.indexOf(']', sp);
    if (close < 0) return { ok: false, reason: 'format-mismatch' };
    const r = emptyRecord(line);
    r.time = parseClfTime(line.slice(sp + 2, close));
    if (Number.isNaN(r.time)) return { ok: false, reason: 'format-mismatch' };
    // HTTP: frontend, backend/server, 5 timers, status, bytes, cookies ×2, termination, connections,
    // queues, then the request. TCP: frontend, backend/server, 3 timers, bytes, termination, …
    const f = line.slice(close + 2).split(' ', 10);
    const timers = (f[2] ?? '').split('/').length;
    if ((f[1] ?? '').indexOf('/') < 0) return { ok: false, reason: 'format-mismatch' };
    const quote = line.indexOf(' "', close);
    if (quote < 0) return timers === 3 && f.length >= 7 ? { ok: false, reason: 'not-http' } : { ok: false, reason: 'format-mismatch' };
    if (timers !== 5 || f.length < 10) return { ok: false, reason: 'format-mismatch' };
    const timeWrong = timeProblem(r.time);
    if (timeWrong !== null) return { ok: false, reason: timeWrong };
    const status = f[3] as string;
    r.status = status === '-1' ? 0 : parseIntField(status, -1);
    if (r.status < 0 || r.status > 999) return { ok: false, reason: 'bad-status' };
    const bytes = f[4] as string;
    r.bytes = parseIntField(bytes.charCodeAt(0) === 43 /* + */ ? bytes.slice(1) : bytes, 0);
    // HAProxy always appends the port, also to an IPv6 address without brackets (2001:db8::1:443).
    r.peerIp = client.charCodeAt(0) === 91 ? client.slice(1, client.indexOf(']')) : client.slice(0, colon);
    r.clientIp = r.peerIp;
    const end = line.charCodeAt(line.length - 1) === 34 ? line.length - 1 : line.length;
    const request = line.slice(quote + 2, end);
    setRequestLine(r, request === '<BADREQ>' ? '-' : unescapeHaproxy(request));
    return { ok: true, record: r };
  }
}
