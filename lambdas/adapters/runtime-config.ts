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
  const retentionHours = positiveInt(env, 'STATE_RETENTION_HOURS', 4, problems);
  const maxLineLength = positiveInt(env, 'MAX_LINE_BYTES', 64 * 1024, problems);
  if (problems.length) throw new ConfigError(`invalid runtime configuration: ${problems.join('; ')}`);
  return { tableName, topicArn, environment, detector, ...(format ? { format } : {}), retentionHours, maxLineLength };
}
