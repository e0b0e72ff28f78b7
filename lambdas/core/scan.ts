import { Aggregator, type AlertListener, type SourceState, keep } from './aggregate.js';
import { type FormKind, formMatcher } from './behaviour.js';
import { ClientIpResolver } from './client-ip.js';
import type { DetectorConfig } from './config.js';
import { ConfigError } from './errors.js';
import { sanitize } from './escape.js';
import { FITTING_REASONS, FORMAT_NAMES, FORMAT_REFUSALS, autoParser, describeOtherLog, makeParser } from './formats/index.js';
import { INVALID_TIMESTAMP, PLAUSIBLE_YEAR_END, PLAUSIBLE_YEAR_MIN, isPlausibleTime } from './formats/shared.js';
import { normalizeIp, parseIPv4, sourceKey } from './ip.js';
import { detach } from './lines.js';
import { type LineParser, type LogRecord, type ParseResult, requestLineOf } from './model.js';
import { BUILTIN_RULES } from './rules/builtin.js';
import { Classifier, type LabelHit } from './rules/engine.js';
import type { Rule } from './rules/types.js';

/** Line accounting for one log object (file or S3 object). */
export interface ObjectStats {
  name: string;
  format: string;
  /** How the format was chosen: given, or detected per line. */
  formatSource: 'detected' | 'given';
  /** Lines parsed per format (a file may mix formats, e.g. common and combined). */
  formats: Record<string, number>;
  total: number;
  parsed: number;
  skipped: Record<string, number>;
  /** Set when most lines failed: what was tried and how to pass the right format. */
  hint?: string;
  /** Set when the object is not an access log (an error log, syslog, prose): none of it was used. */
  notLog?: string;
}

/** A skipped line kept as an example (text already escaped and truncated). */
export interface SkippedSample {
  object: string;
  line: number;
  reason: string;
  text: string;
}

/** One request of the source under `--explain`. */
export interface ExplainedRequest {
  object: string;
  line: number;
  time: number;
  request: string;
  status: number;
  userAgent: string;
  labels: { category: string; rule: string; score: number; explain: string }[];
}

/** Lines that are not requests and are not errors either. */
/** Skip reason of a line outside the `since`/`until` range of a scan. */
export const OUTSIDE_TIME_RANGE = 'outside-time-range';
const NEUTRAL_REASONS = new Set(['blank-line', 'header', OUTSIDE_TIME_RANGE]);
const SAMPLE_LIMIT = 20;
/** Requests of the source under `--explain` that are kept (the rest are counted, not listed). */
export const EXPLAIN_LIMIT = 10_000;
/** Lines held at the start of an object until it is known to be an access log. */
const DETECTION_SAMPLE = 50;
/**
 * Share of the sample's meaningful lines that must fit some access-log format; below it the
 * object is refused as not an access log, even if a few of its lines look like requests.
 */
const MIN_ACCESS_SHARE = 0.5;
/** Skip reason of every line of an object refused as not an access log. */
const NOT_ACCESS_LOG = 'not-an-access-log';

/** Builds the full rule list: built-ins, minus disabled ids, with config rules replacing by id. */
export function effectiveRules(config: DetectorConfig): Rule[] {
  const byId = new Map<string, Rule>();
  for (const r of BUILTIN_RULES) byId.set(r.id, r);
  for (const r of config.rules) byId.set(r.id, r);
  for (const id of config.disableRules) {
    if (!byId.delete(id)) throw new ConfigError(`disableRules: there is no rule with id "${id}"`);
  }
  return [...byId.values()];
}

/** Options of one detector run. */
export interface DetectorOptions {
  /** Format name or format string; auto-detected per object when absent. */
  format?: string;
  /** Source (IP or /64) whose every request is recorded for `--explain`. */
  explain?: string;
  onAlert?: AlertListener;
  /** Sources tracked at once (default MAX_SOURCES). */
  maxSources?: number;
  /** Only requests at or after this event time (epoch ms) are read; the others are counted as `outside-time-range`. */
  since?: number;
  /** Only requests before this event time (epoch ms) are read. */
  until?: number;
  /**
   * A classifier compiled before from the same configuration (see {@link classifierFor}), used
   * instead of compiling the rules again. Its caches hold facts of request lines and agents,
   * never anything of one source, so detectors may share it; its counters (`limits`,
   * `verdictsCleared`) then add up over all of them.
   */
  classifier?: Classifier;
}

/** Compiles the configuration's rules (built-in and its own) into a classifier. */
export function classifierFor(config: DetectorConfig): Classifier {
  try {
    return new Classifier(effectiveRules(config), {
      knownRoutes: config.knownRoutes,
      allowCidrs: config.allowlist.cidrs,
      allowUserAgents: config.allowlist.userAgents,
    });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`rules: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The use case "scan log objects": lines in, per-source verdicts out. Pure: no I/O, no clock.
 * Feed each object through `openObject(name).push(line)…end()`, then read the state.
 */
export class Detector {
  readonly classifier: Classifier;
  readonly aggregator: Aggregator;
  readonly objects: ObjectStats[] = [];
  readonly skippedSamples: SkippedSample[] = [];
  /** Benign categories: requests and (up to 5) sources. */
  readonly benign = new Map<string, { requests: number; sources: Set<string>; rule: Rule }>();
  readonly explained: ExplainedRequest[] = [];
  private readonly resolver: ClientIpResolver;
  private readonly explainKey: string | null;
  private readonly formKindOf: (path: string, query: string) => FormKind | null;

  constructor(
    readonly config: DetectorConfig,
    private readonly options: DetectorOptions = {},
  ) {
    this.classifier = options.classifier ?? classifierFor(config);
    if (options.format) makeParser(options.format, config.jsonFields); // fail fast on a bad --format
    this.resolver = new ClientIpResolver(config.trustedProxies);
    this.aggregator = new Aggregator(config, options.onAlert, this.classifier.rules, options.maxSources);
    this.formKindOf = formMatcher(config.forms);
    this.explainKey = options.explain ? sourceKey(options.explain) : null;
  }

  /** Ends the scan: decisions still pending (the long horizons' last buckets) are taken. */
  finish(): void {
    this.aggregator.finish();
  }

  /** Starts a log object; lines are pushed into the returned scanner. */
  openObject(name: string): ObjectScanner {
    const stats: ObjectStats = {
      name,
      format: this.options.format ?? '',
      formatSource: this.options.format ? 'given' : 'detected',
      formats: {},
      total: 0,
      parsed: 0,
      skipped: {},
    };
    this.objects.push(stats);
    const parser = this.options.format ? makeParser(this.options.format, this.config.jsonFields) : null;
    return new ObjectScanner(this, stats, parser);
  }

  /** Records a skipped line (counted by reason, a few kept as samples). */
  skip(stats: ObjectStats, lineNo: number, reason: string, text: string): void {
    stats.skipped[reason] = (stats.skipped[reason] ?? 0) + 1;
    if (!NEUTRAL_REASONS.has(reason) && this.skippedSamples.length < SAMPLE_LIMIT) {
      this.skippedSamples.push({ object: stats.name, line: lineNo, reason, text: detach(sanitize(text, 200)) });
    }
  }

  /**
   * Classifies and aggregates one parsed record. Returns a skip reason when the record cannot be
   * attributed to a source (its client field is not an IP address), or null.
   */
  addRecord(r: LogRecord, objectName: string, lineNo: number): string | null {
    if ((this.options.since !== undefined && r.time < this.options.since) || (this.options.until !== undefined && r.time >= this.options.until)) {
      return OUTSIDE_TIME_RANGE;
    }
    if (r.forwardedFor !== '') r.clientIp = this.resolver.resolve(r.peerIp, r.forwardedFor);
    const v4 = parseIPv4(r.clientIp);
    let key = r.clientIp;
    if (v4 < 0) {
      // Only addresses become sources: a key is then at most a 43-character CIDR, never a field
      // an attacker filled with kilobytes.
      if (normalizeIp(r.clientIp) === null) return 'invalid-client-address';
      key = this.aggregator.keyOf(sourceKey(r.clientIp), r.clientIp);
    }
    let state: SourceState | null;
    let labels: readonly LabelHit[];
    if (this.classifier.isAllowlisted(r.clientIp)) {
      state = this.aggregator.add(key, r, ALLOWLISTED, null, v4);
      labels = ALLOWLISTED.labels;
    } else {
      const c = this.classifier.classify(r);
      const m = r.method;
      // Form behaviour reads POSTs to form endpoints, and GETs of pages and their assets.
      const form = m === 'POST' ? this.formKindOf(r.path, r.query) : null;
      state = this.aggregator.add(key, r, c, this.classifier.errorPathOf(r, c), v4, form, m === 'GET' && isAssetPath(r.path));
      labels = c.labels;
    }
    if (state === null) return null; // past the source budget: counted in the report's bounds
    if (v4 < 0 && state.address !== '' && state.address !== r.clientIp) state.address = state.address === undefined ? keep(r.clientIp) : '';
    for (const l of labels) {
      if (l.rule.class !== 'benign') continue;
      let b = this.benign.get(l.category);
      if (!b) {
        b = { requests: 0, sources: new Set(), rule: l.rule };
        this.benign.set(l.category, b);
      }
      b.requests++;
      if (b.sources.size < 5) b.sources.add(state.key);
    }
    if (this.explainKey !== null && key === this.explainKey && this.explained.length < EXPLAIN_LIMIT) {
      this.explained.push({
        object: objectName,
        line: lineNo,
        time: r.time,
        request: keep(requestLineOf(r)),
        status: r.status,
        userAgent: keep(r.userAgent),
        labels: labels.map((l) => ({ category: l.category, rule: l.rule.id, score: l.rule.score, explain: l.rule.explain })),
      });
    }
    return null;
  }
}

const ASSET = /\.(?:css|js|mjs|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|eot|otf)$/i;

/** A page asset (stylesheet, script, image, font): browsers fetch them, most bots do not. */
function isAssetPath(path: string): boolean {
  return ASSET.test(path);
}

const ALLOWLISTED_RULE: Rule = {
  id: 'allowlisted-source',
  category: 'allowlisted',
  class: 'benign',
  severity: 'info',
  score: 0,
  explain: "A source in the configuration's allowlisted CIDRs",
  match: {},
};
const ALLOWLISTED = { labels: [{ category: 'allowlisted', rule: ALLOWLISTED_RULE }], score: 0, immediate: null, errorPath: null };

/** A line too long to keep, held in its place among the first lines (see `ObjectScanner.overlong`). */
interface HeldOverlong {
  prefix: string;
  reason: string;
}

/**
 * Feeds the lines of one object. Without a given format, each line is read in whichever known
 * format fits it; the first lines are held until they show the object is an access log at all.
 */
export class ObjectScanner {
  /** The first lines, held until they show the object is an access log (overlong ones in their place). */
  private buffer: (string | HeldOverlong)[] | null;
  private lineNo = 0;
  private readonly parser: LineParser;
  private refused = false;
  /** The content was not text at all (see `refuse`). */
  private unreadable = false;
  /** Run-length count of the format of consecutive parsed lines (cheaper than a map per line). */
  private runFormat = '';
  private runCount = 0;

  constructor(
    private readonly detector: Detector,
    private readonly stats: ObjectStats,
    given: LineParser | null,
  ) {
    this.parser = given ?? autoParser(detector.config.jsonFields);
    this.buffer = given ? null : [];
  }

  /** Pushes one line (without its newline). */
  push(line: string): void {
    if (this.buffer !== null) {
      this.buffer.push(line);
      if (this.buffer.length >= DETECTION_SAMPLE) this.flushSample();
      return;
    }
    if (this.refused) {
      this.lineNo++;
      this.stats.total++;
      this.stats.skipped[NOT_ACCESS_LOG] = (this.stats.skipped[NOT_ACCESS_LOG] ?? 0) + 1;
      return;
    }
    this.lineNo++;
    this.stats.total++;
    if (isBlank(line)) {
      this.detector.skip(this.stats, this.lineNo, 'blank-line', line);
      return;
    }
    const result = this.parser.parse(line);
    this.account(line, result, result?.ok ? this.parser.format : '');
  }

  /**
   * Marks the object as not a log for a reason found outside its lines (binary content): none of
   * it is used, and no format advice is given.
   */
  refuse(reason: string): void {
    this.stats.notLog ??= reason;
    this.unreadable = true;
  }

  /**
   * True once most lines read are requests in a known format: a high compression ratio is then
   * the log's own (a client can send thousands of identical requests), not a decompression bomb.
   */
  usable(): boolean {
    return this.stats.parsed > 0 && this.stats.parsed * 2 >= this.stats.total;
  }

  /** Reports a line that was too long to keep (or text cut off for another `reason`). */
  overlong(prefix: string, reason = 'line-too-long'): void {
    if (this.buffer !== null) {
      // Among the held first lines, in its place: the lines after it keep their numbers.
      this.buffer.push({ prefix, reason });
      if (this.buffer.length >= DETECTION_SAMPLE) this.flushSample();
      return;
    }
    this.lineNo++;
    this.stats.total++;
    this.detector.skip(this.stats, this.lineNo, reason, prefix);
  }

  /** Parses the held lines, refuses the object when too few fit an access format, else accounts them. */
  private flushSample(): void {
    const sample = this.buffer ?? [];
    this.buffer = null;
    const results: (ParseResult | null | undefined)[] = [];
    const formats: string[] = [];
    let meaningful = 0;
    let fits = 0;
    const unfit: string[] = [];
    for (const line of sample) {
      // A line too long to keep, like a blank one, is neither a request nor a sign that the
      // object is something else.
      if (typeof line !== 'string' || isBlank(line)) {
        results.push(undefined);
        formats.push('');
        continue;
      }
      const r = this.parser.parse(line);
      results.push(r);
      formats.push(r?.ok ? this.parser.format : '');
      if (r === null || (!r.ok && r.reason === 'not-http')) continue;
      meaningful++;
      if (r.ok || FITTING_REASONS.has(r.reason)) fits++;
      else unfit.push(line);
    }
    if (meaningful > 0 && fits < meaningful * MIN_ACCESS_SHARE) {
      const kind = describeOtherLog(unfit);
      this.refused = true;
      const look = kind ? `; they look like ${kind}` : '';
      this.stats.notLog =
        fits === 0
          ? `no line is an access-log line (${meaningful === 1 ? 'the only one is' : `the first ${meaningful} are`} in no known access-log format${look})`
          : `not an access log: ${meaningful - fits} of the first ${meaningful} lines are in no known access-log format${look} (${fits === 1 ? 'the one that looks like a request was' : `the ${fits} that look like requests were`} not used)`;
      for (const line of sample) {
        if (typeof line === 'string') {
          this.lineNo++;
          this.stats.total++;
          this.stats.skipped[NOT_ACCESS_LOG] = (this.stats.skipped[NOT_ACCESS_LOG] ?? 0) + 1;
        } else this.overlong(line.prefix, line.reason);
      }
      return;
    }
    for (let i = 0; i < sample.length; i++) {
      const line = sample[i] as string | HeldOverlong;
      if (typeof line !== 'string') {
        this.overlong(line.prefix, line.reason);
        continue;
      }
      this.lineNo++;
      this.stats.total++;
      const r = results[i];
      if (r === undefined) this.detector.skip(this.stats, this.lineNo, 'blank-line', line);
      else this.account(line, r, formats[i] as string);
    }
  }

  private account(line: string, result: ParseResult | null, format: string): void {
    if (result === null) {
      this.detector.skip(this.stats, this.lineNo, 'header', line);
      return;
    }
    if (!result.ok) {
      this.detector.skip(this.stats, this.lineNo, result.reason, line);
      return;
    }
    // Every parser validates its time; this guard keeps any that does not from feeding the
    // event-time windows a NaN or a date they cannot span.
    if (!isPlausibleTime(result.record.time)) {
      this.detector.skip(this.stats, this.lineNo, INVALID_TIMESTAMP, line);
      return;
    }
    const unattributed = this.detector.addRecord(result.record, this.stats.name, this.lineNo);
    if (unattributed !== null) {
      this.detector.skip(this.stats, this.lineNo, unattributed, line);
      return;
    }
    if (format !== this.runFormat) {
      this.flushRun();
      this.runFormat = format;
    }
    this.runCount++;
    this.stats.parsed++;
  }

  private flushRun(): void {
    if (this.runCount > 0) this.stats.formats[this.runFormat] = (this.stats.formats[this.runFormat] ?? 0) + this.runCount;
    this.runCount = 0;
  }

  /** Ends the object; returns its statistics (with a hint when most lines failed). */
  end(): ObjectStats {
    if (this.buffer !== null) this.flushSample();
    this.flushRun();
    const s = this.stats;
    if (s.formatSource === 'detected') {
      let best = '';
      for (const [f, n] of Object.entries(s.formats)) if (n > (s.formats[best] ?? 0)) best = f;
      s.format = best;
    }
    const formatAdvice =
      `pass --format with one of ${FORMAT_NAMES.join(', ')}, ` +
      `or the server's own format string, e.g. --format 'apache:%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"' ` +
      `or --format 'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'.`;
    if (s.notLog) {
      if (!this.unreadable) s.hint = `If this is an access log in a format of its own, ${formatAdvice}`;
      return s;
    }
    let neutral = 0;
    for (const r of NEUTRAL_REASONS) neutral += s.skipped[r] ?? 0;
    const meaningful = s.total - neutral;
    // A format given for the object that fits none of its lines: nothing of it was used, which is
    // an input problem, not a quiet log. Only lines the format refused count: lines in the format
    // that carry no usable request (lifecycle entries, TCP connections, host names for addresses,
    // impossible times, overlong lines) say the format is right.
    let refused = 0;
    for (const [reason, n] of Object.entries(s.skipped)) if (FORMAT_REFUSALS.has(reason) || reason.startsWith('bad-')) refused += n;
    if (s.formatSource === 'given' && s.parsed === 0 && meaningful > 0 && refused === meaningful) {
      s.notLog = `none of its ${meaningful} ${meaningful === 1 ? 'line is' : 'lines are'} in the given format "${s.format}"`;
    }
    if (meaningful > 0 && s.parsed / meaningful < 0.5) {
      const how =
        s.formatSource === 'given'
          ? `as "${s.format}" (given with --format)`
          : `in any known format (detected per line${s.parsed > 0 ? `; seen: ${formatCounts(s.formats)}` : ''})`;
      const times = s.skipped[INVALID_TIMESTAMP]
        ? ` ${s.skipped[INVALID_TIMESTAMP]} had an impossible timestamp or one outside ${PLAUSIBLE_YEAR_MIN}–${PLAUSIBLE_YEAR_END - 1}.`
        : '';
      s.hint = `${meaningful - s.parsed} of ${meaningful} lines did not parse ${how}.${times} If this is another format, ${formatAdvice}`;
    }
    return s;
  }
}

function isBlank(line: string): boolean {
  return line.length === 0 || (line.length < 3 && line.trim() === '');
}

/** `combined 120, common 3`: formats seen, most lines first. */
export function formatCounts(formats: Record<string, number>): string {
  return Object.entries(formats)
    .sort((a, b) => b[1] - a[1])
    .map(([f, n]) => `${f} ${n}`)
    .join(', ');
}
