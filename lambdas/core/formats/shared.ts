import type { LogRecord } from '../model.js';

const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

function num2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9) return Number.NaN;
  return a * 10 + b;
}

let lastClfText = '';
let lastClfValue = Number.NaN;

/**
 * Parses the Apache/Nginx `%t` / `$time_local` timestamp, `10/Oct/2000:13:55:36 -0700`, with or
 * without its brackets, into epoch milliseconds (NaN when malformed). Consecutive lines usually
 * share a second, so the last answer is kept.
 */
export function parseClfTime(input: string): number {
  if (input === lastClfText) return lastClfValue;
  const s = input.charCodeAt(0) === 91 ? input.slice(1, input.length - 1) : input;
  let value = Number.NaN;
  if (s.length >= 20 && s.charCodeAt(2) === 47 && s.charCodeAt(6) === 47 && s.charCodeAt(11) === 58) {
    const day = num2(s, 0);
    const month = MONTHS[s.slice(3, 6)];
    const year = num2(s, 7) * 100 + num2(s, 9);
    const hour = num2(s, 12);
    const minute = num2(s, 15);
    const second = num2(s, 18);
    let offsetMin = 0;
    if (s.length >= 26) {
      const sign = s.charCodeAt(21) === 45 ? -1 : 1;
      offsetMin = sign * (num2(s, 22) * 60 + num2(s, 24));
    }
    if (month !== undefined && day >= 1 && day <= 31 && hour <= 24 && minute <= 59 && second <= 60) {
      value = Date.UTC(year, month, day, hour, minute, second) - offsetMin * 60_000;
    }
  }
  lastClfText = input;
  lastClfValue = value;
  return value;
}

/** Parses ISO 8601 (and RFC 3339 with microseconds) into epoch milliseconds, or NaN. */
export function parseIsoTime(s: string): number {
  if (s.length < 10) return Number.NaN;
  return Date.parse(s);
}

/** Parses a Unix timestamp in seconds (fractions allowed) or milliseconds, or NaN. */
export function parseEpoch(value: number | string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || n <= 0) return Number.NaN;
  return n > 1e12 ? n : n * 1000; // seconds until the year 33658
}

/** Parses whatever a structured log puts in its time field. */
export function parseAnyTime(value: unknown): number {
  if (typeof value === 'number') return parseEpoch(value);
  if (typeof value !== 'string' || value === '') return Number.NaN;
  const c = value.charCodeAt(0);
  if (c === 91 || (value.length > 2 && value.charCodeAt(2) === 47)) return parseClfTime(value);
  if (/^\d+(\.\d+)?$/.test(value)) return parseEpoch(value);
  return parseIsoTime(value);
}

/** Parses a status or byte count; "-" and garbage give `fallback`. */
export function parseIntField(s: string, fallback: number): number {
  if (s.length === 0 || s.length > 15) return fallback;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return fallback;
    n = n * 10 + c;
  }
  return n;
}

/** Undoes the escaping Apache (`\"`, `\\`, `\xHH`) and Nginx (`\xHH`) apply to logged strings. */
export function unescapeLogged(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  return s.replace(/\\(x[0-9a-fA-F]{2}|["\\nrt])/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (e === 'n') return '\n';
    if (e === 'r') return '\r';
    if (e === 't') return '\t';
    return e;
  });
}

/** Valid HTTP method token (RFC 9110 tchar, upper case as every real client sends). */
function isMethodToken(m: string): boolean {
  if (m.length === 0 || m.length > 24) return false;
  for (let i = 0; i < m.length; i++) {
    const c = m.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || c === 45 || c === 95)) return false;
  }
  return true;
}

/** Splits a target into path and query, dropping the scheme and authority of an absolute URI. */
export function setTarget(r: LogRecord, target: string): void {
  r.target = target;
  let pathStart = 0;
  if (target.charCodeAt(0) !== 47 /* / */ && /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target)) {
    const authorityStart = target.indexOf('//') + 2;
    const slash = target.indexOf('/', authorityStart);
    pathStart = slash < 0 ? target.length : slash;
  }
  const q = target.indexOf('?', pathStart);
  if (q < 0) {
    r.path = pathStart === 0 ? target : target.slice(pathStart) || '/';
    r.query = '';
  } else {
    r.path = target.slice(pathStart, q) || '/';
    r.query = target.slice(q + 1);
  }
}

/**
 * Fills method, target, path, query and protocol from a logged request line, and flags lines
 * that are not `METHOD target HTTP/x.y` (scanners send junk; Apache logs what it got).
 */
export function setRequestLine(r: LogRecord, line: string): void {
  r.request = line;
  if (line === '-' || line === '') {
    r.requestMalformed = true;
    return;
  }
  const first = line.indexOf(' ');
  if (first < 0) {
    r.method = line;
    r.requestMalformed = true;
    return;
  }
  const last = line.lastIndexOf(' ');
  const method = line.slice(0, first);
  r.method = method;
  let malformed = !isMethodToken(method);
  if (last === first) {
    // HTTP/0.9 "GET /path": legal but only ever sent by scripts.
    setTarget(r, line.slice(first + 1));
  } else {
    const protocol = line.slice(last + 1);
    r.protocol = protocol;
    const target = line.slice(first + 1, last);
    setTarget(r, target);
    if (!protocol.startsWith('HTTP/') || target.indexOf(' ') >= 0) malformed = true;
  }
  const t0 = r.target.charCodeAt(0);
  // Valid forms: origin (/path), asterisk (OPTIONS *), absolute (http://host/...), authority (CONNECT host:port).
  if (t0 !== 47 && r.target !== '*' && r.path === r.target && method !== 'CONNECT') malformed = true;
  r.requestMalformed = malformed;
}
