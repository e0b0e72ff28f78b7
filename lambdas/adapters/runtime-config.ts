import { z } from 'zod';
import { configErrorMap, issueLines, problem, shown } from '../core/config-issues.js';
import { DEFAULT_CONFIG, type DetectorConfig, detectorConfigProblems, logSourceSchema, parseDetectorConfig } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { makeParser } from '../core/formats/index.js';
import { MAX_LINE_LENGTH } from '../core/lines.js';

/** Where the deployed detector configuration is read from, and how often a warm function re-checks it. */
export interface DetectorConfigLocation {
  bucket: string;
  key: string;
  refreshSeconds: number;
}

/** Everything the Lambda reads from its environment, validated once at cold start. */
export interface RuntimeConfig {
  tableName: string;
  topicArn: string;
  environment: string;
  /**
   * The detector configuration in use. With `configObject` set, the handler replaces it with the
   * last good configuration read from S3 before each invocation.
   */
  detector: DetectorConfig;
  /** The deployed detector configuration (S3), if any: `CONFIG_BUCKET`, `CONFIG_KEY`, `CONFIG_REFRESH_SECONDS`. */
  configObject?: DetectorConfigLocation;
  /** Log format for every object, or auto-detection per object. */
  format?: string;
  /** Formats by key prefix/suffix (the first match wins over `format`). */
  formats: { prefix: string; suffix?: string; format: string }[];
  retentionHours: number;
  maxLineLength: number;
}

/** The detector configuration's object key in the config bucket when `CONFIG_KEY` is not set. */
export const DEFAULT_CONFIG_KEY = 'detector.json';
/** Seconds between checks of the deployed configuration when `CONFIG_REFRESH_SECONDS` is not set. */
export const DEFAULT_CONFIG_REFRESH_SECONDS = 60;

/** The format configured for an object key, if any. */
export function formatFor(config: RuntimeConfig, key: string): string | undefined {
  const hit = config.formats.find((f) => key.startsWith(f.prefix) && (!f.suffix || key.endsWith(f.suffix)));
  return hit?.format ?? config.format;
}

const required = z.string({ error: 'is not set' }).min(1, { error: 'is not set' });
const whole = (min: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min) {
        problem(ctx, `must be a ${min === 0 ? 'whole number ≥ 0' : 'positive whole number'} (got ${shown(raw)})`);
        return z.NEVER;
      }
      return n;
    });
const json = (what: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return undefined;
      try {
        return JSON.parse(raw) as unknown;
      } catch (e) {
        problem(ctx, `is not valid JSON (${(e as Error).message}); it must be ${what}`);
        return z.NEVER;
      }
    });

/** The function's environment variables, as the stack sets them. */
export const runtimeEnvSchema = z.object({
  STATE_TABLE_NAME: required,
  ALERT_TOPIC_ARN: required,
  ENVIRONMENT_NAME: required,
  CONFIG_BUCKET: z.string().optional(),
  CONFIG_KEY: z.string().optional(),
  CONFIG_REFRESH_SECONDS: whole(0, DEFAULT_CONFIG_REFRESH_SECONDS),
  DETECTOR_CONFIG: json('the detector configuration as JSON'),
  LOG_FORMAT: z.string().optional(),
  LOG_FORMATS: json('a JSON list of { prefix, suffix?, format }'),
  STATE_RETENTION_HOURS: whole(1, 4),
  MAX_LINE_BYTES: whole(1, MAX_LINE_LENGTH),
});

/**
 * Reads and validates the runtime configuration. Every problem is reported at once, each naming
 * the variable, so a broken deployment fails its first invocation with one clear message. The
 * detector configuration itself comes from S3 (`CONFIG_BUCKET`; see `S3DetectorConfig`), or, for
 * runs without a bucket, from `DETECTOR_CONFIG`; without either, the defaults.
 */
export function loadRuntimeConfig(env: NodeJS.ProcessEnv): RuntimeConfig {
  const problems: string[] = [];
  const r = runtimeEnvSchema.safeParse(env, { error: configErrorMap });
  if (!r.success) problems.push(...issueLines(r.error.issues, (field, message) => `${field} ${message}`));
  const v = r.success ? r.data : undefined;
  let detector = structuredClone(DEFAULT_CONFIG);
  if (v?.DETECTOR_CONFIG !== undefined) {
    const found = detectorConfigProblems(v.DETECTOR_CONFIG, 'DETECTOR_CONFIG');
    if (found.length) problems.push(...found);
    else detector = parseDetectorConfig(v.DETECTOR_CONFIG, 'DETECTOR_CONFIG');
  } else if (!r.success && env.DETECTOR_CONFIG) {
    // The variables above failed as a whole: still say what is wrong with the configuration.
    try {
      problems.push(...detectorConfigProblems(JSON.parse(env.DETECTOR_CONFIG), 'DETECTOR_CONFIG'));
    } catch {
      // its JSON problem is listed already
    }
  }
  const format = env.LOG_FORMAT || undefined;
  if (format) {
    try {
      makeParser(format, detector.jsonFields);
    } catch (e) {
      problems.push(`LOG_FORMAT: ${(e as Error).message}`);
    }
  }
  let formats: RuntimeConfig['formats'] = [];
  if (v?.LOG_FORMATS !== undefined) {
    const list = z.array(logSourceSchema).safeParse(v.LOG_FORMATS, { error: configErrorMap });
    if (!list.success) problems.push(...issueLines(list.error.issues, (field, message) => `LOG_FORMATS: ${field} ${message}`));
    else formats = list.data.filter((s): s is RuntimeConfig['formats'][number] => s.format !== undefined);
  }
  if (problems.length || !v) throw new ConfigError(`invalid runtime configuration: ${problems.join('; ')}`);
  const configObject = v.CONFIG_BUCKET
    ? { bucket: v.CONFIG_BUCKET, key: v.CONFIG_KEY || DEFAULT_CONFIG_KEY, refreshSeconds: v.CONFIG_REFRESH_SECONDS }
    : undefined;
  return {
    tableName: v.STATE_TABLE_NAME,
    topicArn: v.ALERT_TOPIC_ARN,
    environment: v.ENVIRONMENT_NAME,
    detector,
    ...(configObject ? { configObject } : {}),
    ...(format ? { format } : {}),
    formats,
    retentionHours: v.STATE_RETENTION_HOURS,
    maxLineLength: v.MAX_LINE_BYTES,
  };
}
