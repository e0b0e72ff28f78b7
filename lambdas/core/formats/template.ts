import { InputError } from '../errors.js';
import { type LineParser, type LogRecord, type ParseResult, emptyRecord } from '../model.js';
import { parseClfTime, parseEpoch, parseIntIn, parseIsoTime, setRequestLine, setTarget, timeProblem, unescapeLogged } from './shared.js';

/** What a directive of a format string fills in. */
export enum Field {
  Ignore = 0,
  Peer = 1,
  TimeClf = 2,
  TimeIso = 3,
  TimeEpochSeconds = 4,
  Request = 5,
  Method = 6,
  Path = 7,
  Query = 8,
  Target = 9,
  Protocol = 10,
  Status = 11,
  Bytes = 12,
  Referer = 13,
  UserAgent = 14,
  ForwardedFor = 15,
  Host = 16,
  TimeEpochMillis = 17,
  /** A server port (`%p`, `$server_port`): read and ignored, except right after a host and ":". */
  Port = 18,
  /**
   * `%v:%p` / `$host:$server_port`, one word: the host, then its port if one was logged. Apache's
   * `vhost_combined` writes the port, but the equally common hand-written variant leaves it out.
   */
  HostPort = 19,
}

/** One piece of a compiled format: literal text or a field. */
export type Token = { lit: string } | { field: Field; name: string };

interface Step {
  field: Field;
  name: string;
  /** Literal that ends this field ("" for the last field: rest of line). */
  until: string;
  /** The field sits inside double quotes, so escaped quotes must be skipped. */
  quoted: boolean;
  /** The field is Apache's `%t`, which logs its own brackets. */
  bracketed: boolean;
  /** A last field that never holds a space (a number, an address): it ends at the first space. */
  word: boolean;
  /**
   * An ignored field right before a `%t` / `$time_local` timestamp (`%u`, the user): its value
   * comes from the client's Authorization header, so it may hold the separator itself.
   */
  timeNext: boolean;
  /**
   * A user agent or referer field: its text on the line before, as logged and as read. Lines in a
   * row mostly repeat them, and the repeated value is then the same string, which later stages
   * compare by identity instead of character by character.
   */
  lastRaw: string;
  lastValue: string;
}

/** Places a timestamp may start that are tried for a user name holding the separator (a bound on forged ones). */
export const MAX_TIME_CANDIDATES = 16;

/** Fields whose logged value may contain spaces; any other field is one word. */
const TEXT_FIELDS = new Set([Field.Ignore, Field.Request, Field.Referer, Field.UserAgent, Field.ForwardedFor]);

function findUnescaped(line: string, needle: string, from: number): number {
  let i = line.indexOf(needle, from);
  while (i > 0) {
    let backslashes = 0;
    for (let j = i - 1; j >= from && line.charCodeAt(j) === 92; j--) backslashes++;
    if (backslashes % 2 === 0) return i;
    i = line.indexOf(needle, i + 1);
  }
  return i;
}

/**
 * `host:port` → `host`; a value without a port is the host itself. A bracketed IPv6 literal keeps
 * its brackets; a bare one (several colons) is taken to have no port.
 */
export function withoutPort(hostPort: string): string {
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0 || colon === hostPort.length - 1) return hostPort;
  for (let i = colon + 1; i < hostPort.length; i++) {
    const c = hostPort.charCodeAt(i);
    if (c < 48 || c > 57) return hostPort;
  }
  const host = hostPort.slice(0, colon);
  return host.indexOf(':') < 0 || (host.startsWith('[') && host.endsWith(']')) ? host : hostPort;
}

/**
 * A parser built from a list of tokens (compiled from an Apache `LogFormat` or an Nginx
 * `log_format`). It walks the line once with `indexOf`, so it is linear in the line length.
 */
export class TemplateParser implements LineParser {
  private readonly prefix: string;
  private readonly steps: Step[];
  private readonly hasTime: boolean;
  private readonly hasStatus: boolean;
  /**
   * Set by each successful `parse`: the line went on after the last field. Servers append fields,
   * so that is tolerated, but the line may then fit a richer format (combined read as common).
   */
  trailing = false;
  /**
   * Set by each successful `parse`: the field before the timestamp was read past its first
   * separator (a user name holding it). That is what a client may send, but it is also how a line
   * of another format reads in this one (a syslog header before a combined line reads as a host
   * and a user name), so another format that reads the line as written is preferred.
   */
  loose = false;
  /** Where the field before the timestamp ends, while `fieldBeforeTime` tries a place (else -1). */
  private forcedEnd = -1;

  constructor(
    readonly format: string,
    tokens: readonly Token[],
  ) {
    const merged: Token[] = [];
    for (const t of tokens) {
      const prev = merged[merged.length - 1];
      if ('lit' in t && prev && 'lit' in prev) prev.lit += t.lit;
      else if (!('lit' in t) && prev && !('lit' in prev) && prev.field === Field.Path && t.field === Field.Query) {
        // `%U%q` / `$uri$is_args$args`: the query carries its own "?", so the pair is one target.
        merged[merged.length - 1] = { field: Field.Target, name: `${prev.name}${t.name}` };
      } else if (!('lit' in t) && t.field === Field.Port && prev && 'lit' in prev && prev.lit === ':') {
        const host = merged[merged.length - 2];
        if (host && !('lit' in host) && host.field === Field.Host) {
          merged.pop();
          merged[merged.length - 1] = { field: Field.HostPort, name: `${host.name}:${t.name}` };
        } else merged.push(t);
      } else merged.push('lit' in t ? { lit: t.lit } : t);
    }
    let i = 0;
    this.prefix = '';
    if (merged[0] && 'lit' in merged[0]) {
      this.prefix = merged[0].lit;
      i = 1;
    }
    this.steps = [];
    for (; i < merged.length; i += 2) {
      const f = merged[i];
      const after = merged[i + 1];
      if (!f || 'lit' in f) break;
      if (after && !('lit' in after)) {
        throw new InputError(`format "${format}": fields ${f.name} and ${after.name} follow each other with nothing between them, so a line cannot be split`);
      }
      const before = i === 0 ? this.prefix : ((merged[i - 1] as { lit: string }).lit ?? '');
      const until = after ? after.lit : '';
      const next = merged[i + 2];
      this.steps.push({
        field: f.field,
        name: f.name,
        until,
        quoted: before.endsWith('"') && until.startsWith('"'),
        bracketed: f.field === Field.TimeClf && !before.endsWith('['),
        word: until === '' && !TEXT_FIELDS.has(f.field),
        timeNext: f.field === Field.Ignore && until !== '' && next !== undefined && !('lit' in next) && next.field === Field.TimeClf,
        lastRaw: '-',
        lastValue: '',
      });
    }
    const fields = this.steps.map((s) => s.field);
    this.hasTime = fields.some((f) => f === Field.TimeClf || f === Field.TimeIso || f === Field.TimeEpochSeconds || f === Field.TimeEpochMillis);
    this.hasStatus = fields.includes(Field.Status);
    if (!this.hasTime) throw new InputError(`format "${format}" has no timestamp field; ProbeWatch needs one to place requests in time`);
    if (!fields.includes(Field.Peer)) throw new InputError(`format "${format}" has no client address field (%h / %a / $remote_addr)`);
  }

  /**
   * Where the field before the timestamp ends, when its value is not the usual `-`: the first
   * separator after which a timestamp follows. A user name may hold the separator, and even a
   * whole forged line tail; then, of the places a timestamp follows (at most
   * MAX_TIME_CANDIDATES), the one the rest of the line parses after with nothing left over wins
   * (the server's own fields end the line), else the first that parses.
   */
  private fieldBeforeTime(line: string, step: Step, pos: number, first: number): ParseResult | number {
    const candidates: number[] = [];
    const lead = step.until.length;
    for (let e = first; e >= 0 && candidates.length < MAX_TIME_CANDIDATES; e = line.indexOf(step.until, e + 1)) {
      let t = e + lead;
      if (line.charCodeAt(t) === 91 /* [ */) t++;
      const c = line.charCodeAt(t);
      if (c >= 48 && c <= 57) candidates.push(e);
    }
    if (candidates.length <= 1) return candidates[0] ?? first;
    let fallback: ParseResult | null = null;
    let fallbackLoose = false;
    for (const e of candidates) {
      this.forcedEnd = e;
      const r = this.parse(line);
      this.forcedEnd = -1;
      if (!r.ok) continue;
      if (!this.trailing) return r;
      if (fallback === null) {
        fallback = r;
        fallbackLoose = this.loose;
      }
    }
    if (fallback === null) return first;
    this.trailing = true;
    this.loose = fallbackLoose;
    return fallback;
  }

  /** Parses one line; never throws. */
  parse(line: string): ParseResult {
    const forcedEnd = this.forcedEnd;
    if (!line.startsWith(this.prefix)) return { ok: false, reason: 'format-mismatch' };
    const r = emptyRecord(line);
    let loose = false;
    // A line without a backslash escapes nothing: its quoted fields end at the first quote
    // after them and are read as they are (one search instead of one per field).
    const escaped = line.indexOf('\\') >= 0;
    let pos = this.prefix.length;
    const steps = this.steps;
    for (let s = 0; s < steps.length; s++) {
      const step = steps[s] as Step;
      let end: number;
      if (step.bracketed) {
        if (line.charCodeAt(pos) !== 91) return { ok: false, reason: 'format-mismatch' };
        const close = line.indexOf(']', pos);
        if (close < 0) return { ok: false, reason: 'format-mismatch' };
        end = close + 1;
        if (step.until !== '' && !line.startsWith(step.until, end)) return { ok: false, reason: 'format-mismatch' };
      } else if (step.until === '') {
        end = step.word ? line.indexOf(' ', pos) : -1;
        if (end < 0) end = line.length;
      } else {
        end = step.quoted && escaped ? findUnescaped(line, step.until, pos) : line.indexOf(step.until, pos);
        if (end < 0) return { ok: false, reason: 'format-mismatch' };
        if (step.timeNext && !(end === pos + 1 && line.charCodeAt(pos) === 45) /* - */) {
          const first = end;
          if (forcedEnd >= 0) end = forcedEnd;
          else {
            const found = this.fieldBeforeTime(line, step, pos, end);
            if (typeof found !== 'number') return found;
            end = found;
          }
          loose = end !== first;
        }
      }
      // Fields read in place: no string is cut for them.
      const field = step.field;
      if (field === Field.Status) {
        r.status = end - pos === 1 && line.charCodeAt(pos) === 45 /* - */ ? 0 : parseIntIn(line, pos, end, -1);
        if (!(r.status >= 0 && r.status < 1000)) return { ok: false, reason: `bad-${step.name}` };
      } else if (field === Field.Bytes) r.bytes = parseIntIn(line, pos, end, 0);
      else if (field === Field.TimeClf) {
        // Cut out and compared with the last one as a string: V8 runs `startsWith` with a
        // position in its runtime, which cost more than the cut.
        r.time = parseClfTime(line.slice(pos, end));
        if (Number.isNaN(r.time)) return { ok: false, reason: `bad-${step.name}` };
      } else if (field === Field.UserAgent || field === Field.Referer) {
        const raw = line.slice(pos, end);
        if (raw !== step.lastRaw) {
          // Not copied (a copy per change cost more than the identity saves): this keeps the
          // text the value was cut from until the value changes, one chunk at most.
          step.lastRaw = raw;
          step.lastValue = raw === '-' ? '' : escaped ? unescapeLogged(raw) : raw;
        }
        if (field === Field.UserAgent) r.userAgent = step.lastValue;
        else r.referer = step.lastValue;
      } else if (field === Field.Request) setRequestLine(r, step.quoted && escaped ? unescapeLogged(line.slice(pos, end)) : line.slice(pos, end));
      else if (field !== Field.Ignore && !this.assign(r, step, line.slice(pos, end))) return { ok: false, reason: `bad-${step.name}` };
      pos = end + step.until.length;
    }
    // Text after the last field is tolerated: servers and shippers append fields.
    const timeWrong = timeProblem(r.time);
    if (timeWrong !== null) return { ok: false, reason: timeWrong };
    if (this.hasStatus && r.status === -1) return { ok: false, reason: 'bad-status' };
    if (r.peerIp === '' || r.peerIp === '-') return { ok: false, reason: 'missing-client-address' };
    r.clientIp = r.peerIp;
    this.trailing = pos < line.length;
    this.loose = loose;
    return { ok: true, record: r };
  }

  /** Sets a field that `parse` does not read in place (see the fields it handles first). */
  private assign(r: LogRecord, step: Step, raw: string): boolean {
    switch (step.field) {
      case Field.Ignore:
      case Field.Port:
        return true;
      case Field.Peer:
        r.peerIp = raw;
        return raw.length > 0 && raw.indexOf(' ') < 0;
      case Field.TimeIso:
        r.time = parseIsoTime(raw);
        return !Number.isNaN(r.time);
      case Field.TimeEpochSeconds:
      case Field.TimeEpochMillis:
        r.time = step.field === Field.TimeEpochMillis ? (raw === '' ? Number.NaN : Number(raw)) : parseEpoch(raw);
        return !Number.isNaN(r.time);
      case Field.Method:
        r.method = raw;
        return true;
      case Field.Path:
        r.path = raw;
        r.target = r.query ? `${raw}?${r.query}` : raw;
        return true;
      case Field.Query: {
        const q = raw === '-' ? '' : raw.charCodeAt(0) === 63 ? raw.slice(1) : raw;
        r.query = q;
        if (r.path) r.target = q ? `${r.path}?${q}` : r.path;
        return true;
      }
      case Field.Target:
        setTarget(r, raw);
        return true;
      case Field.Protocol:
        r.protocol = raw;
        return true;
      case Field.ForwardedFor:
        r.forwardedFor = raw === '-' ? '' : raw;
        return true;
      case Field.Host:
        r.host = raw === '-' ? '' : raw;
        return true;
      case Field.HostPort:
        // A host is one word: with a separator other than a space after the port, this keeps a
        // line whose host and port are missing from being read with its next fields as the host.
        if (raw.indexOf(' ') >= 0) return false;
        r.host = raw === '-' ? '' : withoutPort(raw);
        return true;
      case Field.TimeClf:
      case Field.Request:
      case Field.Status:
      case Field.Bytes:
      case Field.Referer:
      case Field.UserAgent:
        // Read in place by `parse`, which never hands them here.
        throw new Error(`field ${step.name} is read in place, not assigned`);
    }
  }
}
