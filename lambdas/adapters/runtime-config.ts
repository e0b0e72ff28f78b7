import { type DetectorConfig, parseDetectorConfig } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { makeParser } from '../core/formats/index.js';

/** Everything the Lambda reads from its environment, validated once at cold start. */
export interface RuntimeConfig {
  tableName: string;
  topicArn: string;
  environment: string;
  detector: DetectorConfig;
  /** Log format for every object, or auto-detection per object. */
  format?: string;
  /** Formats by key prefix/suffix (the first match wins over `format`). */
  formats: { prefix: string; suffix?: string; format: string }[];
  retentionHours: number;
  maxLineLength: number;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    problems.push(`${name} must be a positive whole number (got "${raw}")`);
    return fallback;
  }
  return n;
}

/** The format configured for an object key, if any. */
export function formatFor(config: RuntimeConfig, key: string): string | undefined {
  const hit = config.formats.find((f) => key.startsWith(f.prefix) && (!f.suffix || key.endsWith(f.suffix)));
  return hit?.format ?? config.format;
}

/**
 * Reads and validates the runtime configuration. Every problem is reported at once, each naming
 * the variable, so a broken deployment fails its first invocation with one clear message.
 */
export function loadRuntimeConfig(env: NodeJS.ProcessEnv): RuntimeConfig {
  const problems: string[] = [];
  const required = (name: string) => {
    const v = env[name];
    if (!v) problems.push(`${name} is not set`);
    return v ?? '';
  };
  const tableName = required('STATE_TABLE_NAME');
  const topicArn = required('ALERT_TOPIC_ARN');
  const environment = required('ENVIRONMENT_NAME');
  let detector: DetectorConfig = parseDetectorConfig(undefined);
  if (env.DETECTOR_CONFIG) {
    try {
      detector = parseDetectorConfig(JSON.parse(env.DETECTOR_CONFIG), 'DETECTOR_CONFIG');
    } catch (e) {
      problems.push(e instanceof SyntaxError ? `DETECTOR_CONFIG is not valid JSON (${e.message})` : (e as Error).message);
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
  if (env.LOG_FORMATS) {
    try {
      const list = JSON.parse(env.LOG_FORMATS) as unknown;
      if (!Array.isArray(list)) throw new Error('it must be a JSON list of { prefix, suffix?, format }');
      formats = list.map((x: { prefix?: unknown; suffix?: unknown; format?: unknown }, i) => {
        if (typeof x?.prefix !== 'string' || typeof x.format !== 'string') throw new Error(`entry ${i} needs a string prefix and format`);
        makeParser(x.format, detector.jsonFields);
        return { prefix: x.prefix, format: x.format, ...(typeof x.suffix === 'string' ? { suffix: x.suffix } : {}) };
      });
    } catch (e) {
      problems.push(`LOG_FORMATS: ${(e as Error).message}`);
    }
  }
  const retentionHours = positiveInt(env, 'STATE_RETENTION_HOURS', 4, problems);
  const maxLineLength = positiveInt(env, 'MAX_LINE_BYTES', 64 * 1024, problems);
  if (problems.length) throw new ConfigError(`invalid runtime configuration: ${problems.join('; ')}`);
  return { tableName, topicArn, environment, detector, ...(format ? { format } : {}), formats, retentionHours, maxLineLength };
}
