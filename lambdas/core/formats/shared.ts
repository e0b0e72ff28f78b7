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

function num4(s: string, i: number): number {
  return num2(s, i) * 100 + num2(s, i + 2);
}

/**
 * First year an event may fall in: there are no web server logs from before 1990, so an earlier
 * timestamp is a broken clock or a forged field.
 */
export const PLAUSIBLE_YEAR_MIN = 1990;
/**
 * First year an event may no longer fall in. Far-future times would make event-time windows span
 * absurd ranges (and past 8.64e15 ms, `Date` throws).
 */
export const PLAUSIBLE_YEAR_END = 2100;
/** Earliest event time a record may carry (1990-01-01T00:00:00Z). */
export const PLAUSIBLE_TIME_MIN_MS = Date.UTC(PLAUSIBLE_YEAR_MIN, 0, 1);
/** Event times from here on are refused (2100-01-01T00:00:00Z). */
export const PLAUSIBLE_TIME_MAX_MS = Date.UTC(PLAUSIBLE_YEAR_END, 0, 1);

/**
 * Returned by the time parsers for a timestamp that is well formed but names no real instant
 * (30 February, 24:00:61, offset +2500). It is outside the plausible range, so one check covers it.
 */
export const IMPOSSIBLE_TIME = Number.NEGATIVE_INFINITY;

/** Skip reason of a line whose timestamp is well formed but impossible or outside the plausible range. */
export const INVALID_TIMESTAMP = 'invalid-timestamp';

/** True when `ms` is a finite time inside [PLAUSIBLE_TIME_MIN_MS, PLAUSIBLE_TIME_MAX_MS). */
export function isPlausibleTime(ms: number): boolean {
  return ms >= PLAUSIBLE_TIME_MIN_MS && ms < PLAUSIBLE_TIME_MAX_MS;
}

/**
 * Why a parsed time cannot be used: `bad-timestamp` when it is not a timestamp at all (NaN),
 * `invalid-timestamp` when it is impossible or implausible, null when it is fine.
 */
export function timeProblem(ms: number): 'bad-timestamp' | typeof INVALID_TIMESTAMP | null {
  if (Number.isNaN(ms)) return 'bad-timestamp';
  return isPlausibleTime(ms) ? null : INVALID_TIMESTAMP;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Epoch milliseconds of a UTC calendar time, or IMPOSSIBLE_TIME when a component is out of range
 * (no rollover: 30 February is not 2 March). Years 0–99 are those years, not 19xx. Second 60 (a
 * leap second) is accepted.
 */
export function utcTime(year: number, month: number, day: number, hour: number, minute: number, second: number, ms = 0): number {
  if (!(month >= 1 && month <= 12 && day >= 1 && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 60)) {
    return IMPOSSIBLE_TIME;
  }
  if (!(year >= 0 && year <= 9999) || day > (DAYS_IN_MONTH[month - 1] as number)) return IMPOSSIBLE_TIME;
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return IMPOSSIBLE_TIME;
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Date.UTC maps years 0–99 to 1900–1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

/** Milliseconds east of UTC for a zone offset, or NaN when it is not one (`±14:00` at most). */
function offsetMs(sign: number, hours: number, minutes: number): number {
  if (Number.isNaN(hours) || Number.isNaN(minutes)) return Number.NaN;
  if (hours > 14 || minutes > 59) return IMPOSSIBLE_TIME;
  return sign * (hours * 60 + minutes) * 60_000;
}

/** Milliseconds from a run of fraction digits at `i` (any precision), and where the run ends. */
function fraction(s: string, i: number): [number, number] {
  let j = i;
  let ms = 0;
  let scale = 100;
  while (j < s.length) {
    const d = s.charCodeAt(j) - 48;
    if (d < 0 || d > 9) break;
    if (scale >= 1) ms += d * scale;
    scale /= 10;
    j++;
  }
  return [j === i ? Number.NaN : ms, j];
}

let lastClfText = '';
let lastClfValue = Number.NaN;

/**
 * Parses the Apache/Nginx `%t` / `$time_local` timestamp, `10/Oct/2000:13:55:36 -0700`, with or
 * without its brackets, into epoch milliseconds. HAProxy's variant with milliseconds and no zone
 * (`06/Feb/2009:12:14:14.655`, the proxy's local time) is read as UTC. NaN when it is not such a
 * timestamp, IMPOSSIBLE_TIME when its fields name no real instant. Consecutive lines usually
 * share a second, so the last answer is kept.
 */
export function parseClfTime(input: string): number {
  if (input === lastClfText) return lastClfValue;
  const s = input.charCodeAt(0) === 91 ? input.slice(1, input.charCodeAt(input.length - 1) === 93 ? input.length - 1 : input.length) : input;
  let value = Number.NaN;
  const month = MONTHS[s.slice(3, 6)];
  if (s.length >= 20 && s.charCodeAt(2) === 47 && s.charCodeAt(6) === 47 && s.charCodeAt(11) === 58 && month !== undefined) {
    const day = num2(s, 0);
    const year = num4(s, 7);
    const hour = num2(s, 12);
    const minute = num2(s, 15);
    const second = num2(s, 18);
    let pos = 20;
    let ms = 0;
    if (s.charCodeAt(pos) === 46 /* . */) [ms, pos] = fraction(s, pos + 1);
    let offset = 0;
    if (pos < s.length) {
      const sign = s.charCodeAt(pos + 1) === 45 ? -1 : s.charCodeAt(pos + 1) === 43 ? 1 : 0;
      offset = s.charCodeAt(pos) === 32 && sign !== 0 && s.length === pos + 6 ? offsetMs(sign, num2(s, pos + 2), num2(s, pos + 4)) : Number.NaN;
    }
    if (!Number.isNaN(day + year + hour + minute + second + ms + offset)) {
      const t = utcTime(year, month + 1, day, hour, minute, second, ms);
      value = t === IMPOSSIBLE_TIME || offset === IMPOSSIBLE_TIME ? IMPOSSIBLE_TIME : t - offset;
    }
  }
  lastClfText = input;
  lastClfValue = value;
  return value;
}

/**
 * Parses ISO 8601 / RFC 3339 date-times (`2024-01-01T00:00:00.123456Z`, `+02:00`, `+0200`, a space
 * instead of the `T`, no zone meaning UTC) into epoch milliseconds. Strict, unlike `Date.parse`:
 * NaN when it is not such a timestamp, IMPOSSIBLE_TIME for 30 February or 24:00:61.
 */
export function parseIsoTime(s: string): number {
  if (s.length < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return Number.NaN;
  const sep = s.charCodeAt(10);
  if (sep !== 84 && sep !== 32 && sep !== 116) return Number.NaN;
  const year = num4(s, 0);
  const month = num2(s, 5);
  const day = num2(s, 8);
  const hour = num2(s, 11);
  const minute = num2(s, 14);
  const second = num2(s, 17);
  let pos = 19;
  let ms = 0;
  if (s.charCodeAt(pos) === 46 || s.charCodeAt(pos) === 44) [ms, pos] = fraction(s, pos + 1);
  if (s.charCodeAt(pos) === 32) pos++;
  let offset = 0;
  if (pos < s.length) {
    const c = s.charCodeAt(pos);
    if ((c === 90 || c === 122) && pos === s.length - 1) offset = 0;
    else if (c === 43 || c === 45) {
      const sign = c === 45 ? -1 : 1;
      const rest = s.length - pos - 1;
      if (rest === 2) offset = offsetMs(sign, num2(s, pos + 1), 0);
      else if (rest === 4) offset = offsetMs(sign, num2(s, pos + 1), num2(s, pos + 3));
      else if (rest === 5 && s.charCodeAt(pos + 3) === 58) offset = offsetMs(sign, num2(s, pos + 1), num2(s, pos + 4));
      else offset = Number.NaN;
    } else offset = Number.NaN;
  }
  if (Number.isNaN(year + month + day + hour + minute + second + ms + offset)) return Number.NaN;
  const t = utcTime(year, month, day, hour, minute, second, ms);
  return t === IMPOSSIBLE_TIME || offset === IMPOSSIBLE_TIME ? IMPOSSIBLE_TIME : t - offset;
}

/**
 * Parses a Unix timestamp in seconds (fractions allowed) or milliseconds. NaN when it is not a
 * number; a number far outside the plausible range (1e23, negative) comes back as given and is
 * refused by the range check, never wrapped into a plausible-looking date.
 */
export function parseEpoch(value: number | string): number {
  const n = typeof value === 'number' ? value : value === '' ? Number.NaN : Number(value);
  if (Number.isNaN(n)) return Number.NaN;
  if (!Number.isFinite(n)) return IMPOSSIBLE_TIME;
  return n > 1e12 || n < -1e12 ? n : n * 1000; // seconds until the year 33658
}

const HTTP_DATE = /^[A-Z][a-z]{2}, (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (?:GMT|UTC|\+0000)$/;

/** Parses whatever a structured log puts in its time field (epoch, ISO 8601, CLF, HTTP date). */
export function parseAnyTime(value: unknown): number {
  if (typeof value === 'number') return parseEpoch(value);
  if (typeof value !== 'string' || value === '') return Number.NaN;
  const c = value.charCodeAt(0);
  if (c === 91 || (value.length > 2 && value.charCodeAt(2) === 47)) return parseClfTime(value);
  if (/^-?\d+(\.\d+)?(e\+?\d+)?$/i.test(value)) return parseEpoch(value);
  const m = HTTP_DATE.exec(value);
  if (m) {
    const month = MONTHS[m[2] as string];
    if (month === undefined) return Number.NaN;
    return utcTime(Number(m[3]), month + 1, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  return parseIsoTime(value);
}

/** Parses a status or byte count; "-" and garbage give `fallback`. */
export function parseIntField(s: string, fallback: number): number {
  return parseIntIn(s, 0, s.length, fallback);
}

/** `parseIntField` on `s.slice(start, end)`, without cutting it. */
export function parseIntIn(s: string, start: number, end: number, fallback: number): number {
  if (end <= start || end - start > 15) return fallback;
  let n = 0;
  for (let i = start; i < end; i++) {
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

/** `protocol.startsWith('HTTP/')`, without the call (which V8 makes a runtime call on a cut string). */
function isHttpProtocol(p: string): boolean {
  return p.length >= 5 && p.charCodeAt(0) === 72 && p.charCodeAt(1) === 84 && p.charCodeAt(2) === 84 && p.charCodeAt(3) === 80 && p.charCodeAt(4) === 47;
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
  // The methods of nearly every line first: a comparison each, not a loop over characters.
  let malformed = !(method === 'GET' || method === 'POST' || method === 'HEAD' || isMethodToken(method));
  if (last === first) {
    // HTTP/0.9 "GET /path": legal but only ever sent by scripts.
    setTarget(r, line.slice(first + 1));
  } else {
    const protocol = line.slice(last + 1);
    r.protocol = protocol;
    const target = line.slice(first + 1, last);
    setTarget(r, target);
    if (!isHttpProtocol(protocol) || target.indexOf(' ') >= 0) malformed = true;
  }
  const t0 = r.target.charCodeAt(0);
  // Valid forms: origin (/path), asterisk (OPTIONS *), absolute (http://host/...), authority (CONNECT host:port).
  if (t0 !== 47 && r.target !== '*' && r.path === r.target && method !== 'CONNECT') malformed = true;
  r.requestMalformed = malformed;
}
