import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parse as parseYaml } from 'yaml';
import { type DetectorConfig, detectorConfigProblems, parseDetectorConfig } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { sanitize } from '../core/escape.js';

/** Largest detector configuration read (bytes): a bigger object is refused, not read into memory. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** What happened at one check of the deployed configuration. */
export type ConfigCheck =
  | { outcome: 'loaded'; etag: string; versionId?: string }
  | { outcome: 'unchanged' }
  | { outcome: 'rejected'; etag: string; versionId?: string; problems: string[] }
  | { outcome: 'unreadable'; error: string };

/** Options of {@link S3DetectorConfig}. */
export interface S3DetectorConfigOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  /** A warm function re-checks the object at most this often (0: at every `current()`). */
  refreshSeconds: number;
  /** Wall clock in ms. */
  now: () => number;
  /** Told of every check that did something (load, rejection, read failure). */
  onCheck?: (check: ConfigCheck) => void;
}

/**
 * The deployed detector configuration, read from S3 at cold start and re-checked at most every
 * `refreshSeconds` (a conditional GET: an unchanged object costs no transfer and no parse). Each
 * new version is validated with the same schema as the CLI and `cdk synth`; a version that fails
 * is reported (every problem) and the last good configuration stays in use, so a bad update never
 * fails objects. Only when no good configuration was ever read does `current()` throw.
 */
export class S3DetectorConfig {
  private good: DetectorConfig | undefined;
  /** ETag of the last version read, good or rejected: a rejected version is reported once. */
  private seenEtag: string | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private readonly where: string;

  constructor(private readonly opts: S3DetectorConfigOptions) {
    this.where = `s3://${opts.bucket}/${opts.key}`;
  }

  /** The configuration to use now; throws a `ConfigError` when there has never been a good one. */
  async current(): Promise<DetectorConfig> {
    const now = this.opts.now();
    if (this.good === undefined || now - this.checkedAt >= this.opts.refreshSeconds * 1000) {
      this.checkedAt = now;
      const check = await this.check();
      if (check.outcome !== 'unchanged') this.opts.onCheck?.(check);
      if (this.good === undefined) {
        const why = check.outcome === 'rejected' ? check.problems.join('; ') : check.outcome === 'unreadable' ? check.error : 'no configuration';
        // Cold start without a good configuration: nothing is processed with a guess; the
        // messages are retried and, in the end, dead-lettered with their bodies.
        this.seenEtag = undefined;
        throw new ConfigError(`no valid detector configuration at ${this.where}: ${why}`);
      }
    }
    return this.good;
  }

  private async check(): Promise<ConfigCheck> {
    let body: string;
    let etag: string;
    let versionId: string | undefined;
    try {
      const r = await this.opts.s3.send(
        new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.opts.key, ...(this.seenEtag ? { IfNoneMatch: this.seenEtag } : {}) }),
      );
      if ((r.ContentLength ?? 0) > MAX_CONFIG_BYTES) {
        (r.Body as { destroy?: () => void } | undefined)?.destroy?.();
        return { outcome: 'unreadable', error: `the object is ${r.ContentLength} bytes, more than ${MAX_CONFIG_BYTES}` };
      }
      body = (await r.Body?.transformToString('utf8')) ?? '';
      etag = r.ETag ?? '';
      versionId = r.VersionId;
    } catch (e) {
      const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      if (err.$metadata?.httpStatusCode === 304 || err.name === 'NotModified') return { outcome: 'unchanged' };
      const status = err.$metadata?.httpStatusCode;
      const hint = status === 404 || status === 403 ? ' (the object is missing, or the function may not read it)' : '';
      return { outcome: 'unreadable', error: `cannot read ${this.where}: ${err.name ?? 'Error'}: ${err.message ?? String(e)}${hint}` };
    }
    this.seenEtag = etag || undefined;
    const version = versionId ? { versionId } : {};
    const where = `${this.where}${versionId ? ` (version ${versionId})` : ''}`;
    let doc: unknown;
    try {
      // JSON is YAML: `probewatch config push` uploads JSON, a hand upload may be either.
      doc = parseYaml(body);
    } catch (e) {
      return { outcome: 'rejected', etag, ...version, problems: [`${where} is not valid JSON or YAML: ${(e as Error).message}`] };
    }
    const problems = detectorConfigProblems(doc, where);
    if (problems.length) return { outcome: 'rejected', etag, ...version, problems };
    this.good = parseDetectorConfig(doc, where);
    return { outcome: 'loaded', etag, ...version };
  }
}

type ReportLogger = Pick<Logger, 'info' | 'error' | 'critical'>;
type ReportMetrics = Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;

/** Longest problem line logged (problems quote the offending value, cut already). */
const LOGGED_PROBLEM_CHARS = 500;

/**
 * Logs each check of the deployed configuration and counts `ConfigRejected` (an alarm watches
 * it) when a version cannot be used: invalid, or unreadable.
 */
export function reportConfigCheck(logger: ReportLogger, metrics: ReportMetrics): (check: ConfigCheck) => void {
  return (check) => {
    if (check.outcome === 'loaded') {
      logger.info('detector configuration loaded', { etag: check.etag, versionId: check.versionId });
    } else if (check.outcome === 'rejected') {
      metrics.addMetric('ConfigRejected', MetricUnit.Count, 1);
      logger.error('detector configuration rejected: the last good one stays in use', {
        etag: check.etag,
        versionId: check.versionId,
        problems: check.problems.map((p) => sanitize(p, LOGGED_PROBLEM_CHARS)),
      });
    } else if (check.outcome === 'unreadable') {
      metrics.addMetric('ConfigRejected', MetricUnit.Count, 1);
      logger.error('detector configuration unreadable: the last good one stays in use', { error: sanitize(check.error, LOGGED_PROBLEM_CHARS) });
    }
  };
}

/**
 * The detector configuration for the next invocation. Without any good one (a cold start on a
 * missing or invalid object) the invocation fails clearly: logged, counted, and its messages are
 * retried, then dead-lettered; nothing is processed with a configuration nobody wrote.
 */
export async function currentDetector(deployed: { source: S3DetectorConfig; logger: ReportLogger; metrics: ReportMetrics }): Promise<DetectorConfig> {
  try {
    return await deployed.source.current();
  } catch (e) {
    deployed.logger.critical('cannot start: no valid detector configuration', { error: sanitize((e as Error).message, 4000) });
    deployed.metrics.publishStoredMetrics();
    throw e;
  }
}
