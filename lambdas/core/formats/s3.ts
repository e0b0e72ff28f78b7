import { type LineParser, type ParseResult, emptyRecord } from '../model.js';
import { splitQuoted } from './alb.js';
import { parseClfTime, parseIntField, setRequestLine, timeProblem } from './shared.js';

function isHex64(s: string, end: number): boolean {
  if (end !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

/**
 * Amazon S3 server access logs: `owner bucket [time] remote-ip requester request-id operation key
 * "request-uri" status error-code bytes-sent object-size total-time turn-around "referer"
 * "user-agent" version-id host-id sigv cipher auth-type host-header tls …` (AWS appends fields).
 * The bucket owner is a 64-hex canonical user id. Internal operations (lifecycle, replication)
 * log no request and are reported as `not-http`.
 */
export class S3AccessParser implements LineParser {
  readonly format = 's3';

  parse(line: string): ParseResult {
    const sp = line.indexOf(' ');
    if (!isHex64(line, sp)) return { ok: false, reason: 'format-mismatch' };
    const open = line.indexOf(' [', sp + 1);
    const close = open < 0 ? -1 : line.indexOf('] ', open);
    if (close < 0) return { ok: false, reason: 'format-mismatch' };
    const f = splitQuoted(line.slice(close + 2));
    if (f.length < 14) return { ok: false, reason: 'too-few-fields' }; // through the user agent; older logs end there
    const r = emptyRecord(line);
    r.time = parseClfTime(line.slice(open + 2, close));
    if (Number.isNaN(r.time)) return { ok: false, reason: 'format-mismatch' };
    const request = f[5] as string;
    if (request === '-' || request === '') return { ok: false, reason: 'not-http' };
    const timeWrong = timeProblem(r.time);
    if (timeWrong !== null) return { ok: false, reason: timeWrong };
    const ip = f[0] as string;
    if (ip === '-' || ip === '') return { ok: false, reason: 'missing-client-address' };
    r.peerIp = ip;
    r.clientIp = ip;
    setRequestLine(r, request);
    const status = f[6] as string;
    r.status = status === '-' ? 0 : parseIntField(status, -1);
    if (r.status < 0 || r.status > 999) return { ok: false, reason: 'bad-status' };
    r.bytes = parseIntField(f[8] as string, 0);
    const referer = f[12] as string;
    r.referer = referer === '-' ? '' : referer;
    const ua = f[13] as string;
    r.userAgent = ua === '-' ? '' : ua;
    const host = f[19];
    r.host = host === undefined || host === '-' ? '' : host;
    return { ok: true, record: r };
  }
}
