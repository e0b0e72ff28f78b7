import { InputError } from '../errors.js';
import type { LineParser, ParseResult } from '../model.js';
import { AlbParser } from './alb.js';
import { APACHE_PRESETS, apacheParser } from './apache.js';
import { HaproxyParser } from './haproxy.js';
import { type JsonFieldMap, JsonLinesParser } from './jsonl.js';
import { nginxParser } from './nginx.js';
import { S3AccessParser } from './s3.js';
import { SyslogParser, syslogMessageStart } from './syslog.js';
import { TemplateParser } from './template.js';
import { W3cParser } from './w3c.js';

/** Names accepted by `--format` besides `apache:<LogFormat>`, `nginx:<log_format>` and `syslog:<format>`. */
export const FORMAT_NAMES = [...Object.keys(APACHE_PRESETS), 'alb', 'elb', 'cloudfront', 'w3c', 'iis', 'json', 'haproxy', 's3'];

/** Builds the parser for a format name or format string. Throws InputError for bad specs. */
export function makeParser(spec: string, jsonFields: JsonFieldMap = {}): LineParser {
  const s = spec.trim();
  if (s.startsWith('apache:')) return apacheParser(s.slice(7));
  if (s.startsWith('nginx:')) return nginxParser(s.slice(6));
  if (s.startsWith('syslog:')) return new SyslogParser(makeParser(s.slice(7), jsonFields));
  if (APACHE_PRESETS[s]) return apacheParser(s);
  switch (s) {
    case 'alb':
      return new AlbParser('alb');
    case 'elb':
      return new AlbParser('elb');
    case 'cloudfront':
    case 'w3c':
    case 'iis':
      return new W3cParser();
    case 'json':
    case 'jsonl':
      return new JsonLinesParser(jsonFields);
    case 'haproxy':
      // HAProxy logs through syslog; `log stdout format raw` writes the bare message.
      return new SyslogParser(new HaproxyParser(), true);
    case 's3':
      return new S3AccessParser();
  }
  if (s.includes('%')) return apacheParser(s);
  if (s.includes('$')) return nginxParser(s);
  throw new InputError(
    `unknown format "${spec}". Use one of ${FORMAT_NAMES.join(', ')}, syslog:<one of them> for lines behind a syslog header, or a format string: --format 'apache:%h %l %u %t "%r" %>s %b' or --format 'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'`,
  );
}

/**
 * Reasons that say a line is in the parser's format but carries no usable request (a load
 * balancer's TCP connection, an impossible timestamp): the format fits, so no other is tried.
 */
export const FITTING_REASONS: ReadonlySet<string> = new Set(['invalid-timestamp', 'not-http']);

/**
 * Reasons (besides `bad-<field>`) that say a line is not in the parser's format at all: the
 * opposite of `FITTING_REASONS`.
 */
export const FORMAT_REFUSALS: ReadonlySet<string> = new Set([
  'format-mismatch',
  'too-few-fields',
  'not-json',
  'not-json-object',
  'invalid-json',
  'no-request-fields',
  'unrecognised-message',
]);

/** Formats that can follow a syslog header, richer (stricter) first. */
const TEXT_FORMATS = ['json', 'haproxy', 'combined_xff', 'combined', 'vhost_combined', 'vhost_common', 'common'];

/**
 * Reads each line in whichever known format fits it. The current format is kept while lines
 * parse; a line it refuses is tried in the others (each refuses foreign lines cheaply) and the
 * first that fits becomes current. A line a poorer format accepts only by ignoring its tail
 * (combined read as common) is tried in the richer formats first, so one bare line early in a
 * file never costs the user agents of the rest.
 */
export class AutoParser implements LineParser {
  private current: LineParser;
  /** The format current before the last switch: files that interleave two formats flip between them. */
  private previous: LineParser | null = null;
  private readonly rank = new Map<LineParser, number>();

  /** `candidates`: richer and stricter formats first; the first also starts as current. */
  constructor(private readonly candidates: readonly LineParser[]) {
    this.current = candidates[0] as LineParser;
    candidates.forEach((p, i) => this.rank.set(p, i));
  }

  /** The format of the last line that parsed (or the starting format). */
  get format(): string {
    return this.current.format;
  }

  /** The last line was read loosely (see `LineParser.loose`), no other format reading it as written. */
  get loose(): boolean {
    return this.current.loose === true;
  }

  parse(line: string): ParseResult | null {
    const cur = this.current;
    const r = cur.parse(line);
    if (r === null) return r;
    if (r.ok) {
      if (cur.loose === true) return this.asWritten(line, cur, r);
      return this.richerIfTrailing(line, cur, r);
    }
    if (FITTING_REASONS.has(r.reason)) return r;
    const prev = this.previous;
    if (prev !== null) {
      const other = prev.parse(line);
      if (other === null) return other;
      if (other.ok || FITTING_REASONS.has(other.reason)) return this.switchTo(prev, line, other);
    }
    for (const p of this.candidates) {
      if (p === cur || p === prev) continue;
      const other = p.parse(line);
      if (other === null) return other; // a header (W3C #Fields) for a parser that keeps it
      if (other.ok || FITTING_REASONS.has(other.reason)) return this.switchTo(p, line, other);
    }
    return r;
  }

  /**
   * A line `cur` read only loosely: the first other format (the previous one first) that reads
   * it without stretching a field wins (a combined line behind a syslog header), else `cur`'s
   * reading (or a richer format's, when it left text over).
   */
  private asWritten(line: string, cur: LineParser, r: ParseResult): ParseResult {
    const prev = this.previous;
    if (prev !== null && prev !== cur) {
      const other = prev.parse(line);
      if (other?.ok && prev.loose !== true) return this.switchTo(prev, line, other);
    }
    for (const p of this.candidates) {
      if (p === cur || p === prev) continue;
      const other = p.parse(line);
      if (other?.ok && p.loose !== true) return this.switchTo(p, line, other);
    }
    return this.richerIfTrailing(line, cur, r);
  }

  private switchTo(p: LineParser, line: string, r: ParseResult): ParseResult {
    this.previous = this.current;
    this.current = p;
    return this.richerIfTrailing(line, p, r);
  }

  /** `r`, or a richer format's reading when `p` parsed the line with text left over. */
  private richerIfTrailing(line: string, p: LineParser, r: ParseResult): ParseResult {
    return r.ok && p instanceof TemplateParser && p.trailing ? this.richer(line, p, r) : r;
  }

  /** Tries the richer text formats listed before `cur` on a line `cur` parsed with text left over. */
  private richer(line: string, cur: TemplateParser, r: ParseResult): ParseResult {
    const limit = this.rank.get(cur) as number;
    const prev = this.previous;
    if (prev instanceof TemplateParser && (this.rank.get(prev) as number) < limit) {
      const other = prev.parse(line);
      if (other.ok) return this.promote(prev, other);
    }
    for (let i = 0; i < limit; i++) {
      const p = this.candidates[i] as LineParser;
      if (p === prev || !(p instanceof TemplateParser)) continue;
      const other = p.parse(line);
      if (other.ok) return this.promote(p, other);
    }
    return r;
  }

  private promote(p: LineParser, r: ParseResult): ParseResult {
    this.previous = this.current;
    this.current = p;
    return r;
  }
}

/** A fresh per-line format chooser over every known access-log format (parsers keep state per object). */
export function autoParser(jsonFields: JsonFieldMap = {}): AutoParser {
  const text = (names: string[]) => names.map((n) => makeParser(n, jsonFields));
  const syslog = new SyslogParser(new AutoParser(text(TEXT_FORMATS)));
  return new AutoParser([
    makeParser('w3c'),
    makeParser('json', jsonFields),
    makeParser('alb'),
    makeParser('elb'),
    makeParser('s3'),
    new HaproxyParser(),
    syslog,
    ...text(TEXT_FORMATS.slice(2)),
  ]);
}

/** Result of auto-detection on the first lines of an object. */
export interface Detection {
  parser: LineParser;
  /** Share of the sample's meaningful lines that fit a known format (0–1). */
  confidence: number;
}

/**
 * Picks the format most of the sample parses in (for callers that want one format for a whole
 * file; the scanner decides per line). Comment and header lines are neutral.
 */
export function detectFormat(sample: readonly string[], jsonFields: JsonFieldMap = {}): Detection {
  const auto = autoParser(jsonFields);
  const counts = new Map<string, number>();
  let fits = 0;
  let considered = 0;
  for (const line of sample) {
    if (line === '') continue;
    const r = auto.parse(line);
    if (r === null || (!r.ok && r.reason === 'not-http')) continue;
    considered++;
    if (r.ok || FITTING_REASONS.has(r.reason)) {
      fits++;
      counts.set(auto.format, (counts.get(auto.format) ?? 0) + 1);
    }
  }
  let best = '';
  for (const [f, n] of counts) if (n > (counts.get(best) ?? 0)) best = f;
  return { parser: makeParser(best || 'combined', jsonFields), confidence: considered === 0 ? 0 : fits / considered };
}

const APACHE_ERROR = /^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4}\] \[/;
const NGINX_ERROR = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(?:debug|info|notice|warn|error|crit|alert|emerg)\] /;

/** Names what lines that are not access-log lines most look like: an error log, syslog, or null. */
export function describeOtherLog(lines: readonly string[]): string | null {
  const kinds = new Map<string, number>();
  for (const l of lines) {
    const kind = APACHE_ERROR.test(l)
      ? 'an Apache error log'
      : NGINX_ERROR.test(l)
        ? 'an Nginx error log'
        : syslogMessageStart(l) >= 0
          ? 'syslog messages'
          : '';
    if (kind) kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  let best: string | null = null;
  for (const [k, n] of kinds) if (n * 2 > lines.length && n > (best === null ? 0 : (kinds.get(best) ?? 0))) best = k;
  return best;
}
