import { type LineParser, type ParseResult, emptyRecord } from '../model.js';
import { parseIntField, parseIsoTime, setRequestLine, setTarget, timeProblem } from './shared.js';

/** Splits on spaces, keeping "quoted fields" whole (quotes removed, `\"` kept as a quote). */
export function splitQuoted(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    if (line.charCodeAt(i) === 32) {
      i++;
      continue;
    }
    if (line.charCodeAt(i) === 34) {
      let j = i + 1;
      let hasEscape = false;
      while (j < n && line.charCodeAt(j) !== 34) {
        if (line.charCodeAt(j) === 92) {
          hasEscape = true;
          j++;
        }
        j++;
      }
      const v = line.slice(i + 1, Math.min(j, n));
      out.push(hasEscape ? v.replace(/\\(.)/g, '$1') : v);
      i = j + 1;
    } else {
      let j = line.indexOf(' ', i);
      if (j < 0) j = n;
      out.push(line.slice(i, j));
      i = j;
    }
  }
  return out;
}

const ALB_TYPES = new Set(['http', 'https', 'h2', 'grpcs', 'ws', 'wss']);

function stripLastPort(s: string): string {
  if (s.charCodeAt(0) === 91) return s.slice(1, s.indexOf(']'));
  const i = s.lastIndexOf(':');
  return i > 0 ? s.slice(0, i) : s;
}

/**
 * AWS Application Load Balancer access logs (and classic ELB, which lacks the leading type).
 * Fields are positional; AWS appends new ones at the end, so anything past the user agent is
 * optional and extra fields are ignored.
 */
export class AlbParser implements LineParser {
  constructor(readonly format: 'alb' | 'elb' = 'alb') {}

  parse(line: string): ParseResult {
    const o = this.format === 'alb' ? 1 : 0;
    // Cheap test first: this parser is also tried on every line that another format refused.
    if (o === 1 ? !ALB_TYPES.has(line.slice(0, line.indexOf(' '))) : !(line.charCodeAt(4) === 45 && line.charCodeAt(10) === 84)) {
      return { ok: false, reason: 'format-mismatch' };
    }
    const f = splitQuoted(line);
    if (f.length < 11 + o) return { ok: false, reason: 'too-few-fields' };
    const r = emptyRecord(line);
    r.time = parseIsoTime(f[o] as string);
    const timeWrong = timeProblem(r.time);
    if (timeWrong !== null) return { ok: false, reason: timeWrong };
    const client = f[o + 2] as string;
    if (client === '-' || client === '') return { ok: false, reason: 'missing-client-address' };
    r.peerIp = stripLastPort(client);
    r.clientIp = r.peerIp;
    const elbStatus = parseIntField(f[o + 7] as string, 0);
    r.status = elbStatus || parseIntField(f[o + 8] as string, 0);
    r.bytes = parseIntField(f[o + 10] as string, 0);
    const request = f[o + 11] ?? '';
    if (request === '- - - ' || request === '- - -') return { ok: false, reason: 'not-http' }; // TCP/TLS listener
    setRequestLine(r, request);
    // The load balancer logs the absolute URI it reconstructed; keep the origin form so that a
    // later rule does not mistake every request for a proxy request.
    const m = /^[a-z]+:\/\/([^/]+)/i.exec(r.target);
    if (m) {
      const authority = m[1] as string;
      r.host = authority.replace(/:\d+$/, '');
      setTarget(r, r.target.slice(m[0].length) || '/');
    }
    const ua = f[o + 12];
    r.userAgent = ua === undefined || ua === '-' ? '' : ua;
    return { ok: true, record: r };
  }
}
