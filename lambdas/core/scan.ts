import { Aggregator, type AlertListener, type SourceState } from './aggregate.js';
import { ClientIpResolver } from './client-ip.js';
import type { DetectorConfig } from './config.js';
import { ConfigError } from './errors.js';
import { sanitize } from './escape.js';
import { FORMAT_NAMES, detectFormat, makeParser } from './formats/index.js';
import { parseIPv4, sourceKey } from './ip.js';
import { detach } from './lines.js';
import { type LineParser, type LogRecord, requestLineOf } from './model.js';
import { BUILTIN_RULES } from './rules/builtin.js';
import { Classifier, type LabelHit } from './rules/engine.js';
import type { Rule } from './rules/types.js';

/** Line accounting for one log object (file or S3 object). */
export interface ObjectStats {
  name: string;
  format: string;
  /** How the format was chosen. */
  formatSource: 'detected' | 'given';
  total: number;
  parsed: number;
  skipped: Record<string, number>;
  /** Set when most lines failed: what was tried and how to pass the right format. */
  hint?: string;
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
const NEUTRAL_REASONS = new Set(['blank-line', 'header']);
const SAMPLE_LIMIT = 20;
const DETECTION_SAMPLE = 50;

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

  constructor(
    readonly config: DetectorConfig,
    private readonly options: DetectorOptions = {},
  ) {
    try {
      this.classifier = new Classifier(effectiveRules(config), {
        knownRoutes: config.knownRoutes,
        allowCidrs: config.allowlist.cidrs,
        allowUserAgents: config.allowlist.userAgents,
      });
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      throw new ConfigError(`rules: ${(e as Error).message}`, { cause: e });
    }
    if (options.format) makeParser(options.format, config.jsonFields); // fail fast on a bad --format
    this.resolver = new ClientIpResolver(config.trustedProxies);
    this.aggregator = new Aggregator(config, options.onAlert);
    this.explainKey = options.explain ? sourceKey(options.explain) : null;
  }

  /** Starts a log object; lines are pushed into the returned scanner. */
  openObject(name: string): ObjectScanner {
    const stats: ObjectStats = {
      name,
      format: this.options.format ?? '',
      formatSource: this.options.format ? 'given' : 'detected',
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

  /** Classifies and aggregates one parsed record. */
  addRecord(r: LogRecord, objectName: string, lineNo: number): void {
    if (r.forwardedFor !== '') r.clientIp = this.resolver.resolve(r.peerIp, r.forwardedFor);
    const v4 = parseIPv4(r.clientIp);
    const key = v4 >= 0 ? r.clientIp : sourceKey(r.clientIp);
    let state: SourceState;
    let labels: readonly LabelHit[];
    if (this.classifier.isAllowlisted(r.clientIp)) {
      state = this.aggregator.add(key, r, ALLOWLISTED, null, v4);
      labels = ALLOWLISTED.labels;
    } else {
      const c = this.classifier.classify(r);
      state = this.aggregator.add(key, r, c, this.classifier.errorPathOf(r, c), v4);
      labels = c.labels;
    }
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
    if (this.explainKey !== null && key === this.explainKey && this.explained.length < 10_000) {
      this.explained.push({
        object: objectName,
        line: lineNo,
        time: r.time,
        request: detach(requestLineOf(r)),
        status: r.status,
        userAgent: detach(r.userAgent),
        labels: labels.map((l) => ({ category: l.category, rule: l.rule.id, score: l.rule.score, explain: l.rule.explain })),
      });
    }
  }
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

/** Feeds the lines of one object: detects its format on the first lines, then parses each. */
export class ObjectScanner {
  private buffer: string[] | null;
  private lineNo = 0;
  private confidence = 1;

  constructor(
    private readonly detector: Detector,
    private readonly stats: ObjectStats,
    private parser: LineParser | null,
  ) {
    this.buffer = parser ? null : [];
  }

  /** Pushes one line (without its newline). */
  push(line: string): void {
    if (this.buffer !== null) {
      this.buffer.push(line);
      if (this.buffer.length >= DETECTION_SAMPLE) this.flushDetection();
      return;
    }
    this.process(line);
  }

  /** Reports a line that was too long to keep (or text cut off for another `reason`). */
  overlong(prefix: string, reason = 'line-too-long'): void {
    this.lineNo++;
    this.stats.total++;
    this.detector.skip(this.stats, this.lineNo, reason, prefix);
  }

  private flushDetection(): void {
    const sample = this.buffer ?? [];
    this.buffer = null;
    const d = detectFormat(sample, this.detector.config.jsonFields);
    this.parser = d.parser;
    this.confidence = d.confidence;
    this.stats.format = d.parser.format;
    for (const l of sample) this.process(l);
  }

  private process(line: string): void {
    this.lineNo++;
    this.stats.total++;
    if (line.length === 0 || (line.length < 3 && line.trim() === '')) {
      this.detector.skip(this.stats, this.lineNo, 'blank-line', line);
      return;
    }
    const result = (this.parser as LineParser).parse(line);
    if (result === null) {
      this.detector.skip(this.stats, this.lineNo, 'header', line);
      return;
    }
    if (!result.ok) {
      this.detector.skip(this.stats, this.lineNo, result.reason, line);
      return;
    }
    this.stats.parsed++;
    this.detector.addRecord(result.record, this.stats.name, this.lineNo);
  }

  /** Ends the object; returns its statistics (with a hint when most lines failed). */
  end(): ObjectStats {
    if (this.buffer !== null) this.flushDetection();
    const s = this.stats;
    let neutral = 0;
    for (const r of NEUTRAL_REASONS) neutral += s.skipped[r] ?? 0;
    const meaningful = s.total - neutral;
    if (meaningful > 0 && s.parsed / meaningful < 0.5) {
      const how =
        s.formatSource === 'given'
          ? 'as given with --format'
          : `auto-detected from the first lines${this.confidence === 0 ? ', none of which matched any known format' : ''}`;
      s.hint =
        `${meaningful - s.parsed} of ${meaningful} lines did not parse as "${s.format}" (${how}). ` +
        `If this is another format, pass --format with one of ${FORMAT_NAMES.join(', ')}, ` +
        `or the server's own format string, e.g. --format 'apache:%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"' ` +
        `or --format 'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'.`;
    }
    return s;
  }
}
