/**
 * The detector configuration with its defaults filled in: the shape the engine runs on, and the
 * defaults. Apart from the schema (config.ts), so that what only runs the detector does not load
 * the schema library.
 */
import type { JsonFieldMap } from './formats/jsonl.js';
import type { Rule } from './rules/types.js';

/** A long horizon: its length and what, within it, alerts. */
export interface Horizon {
  seconds: number;
  /** Score within the horizon that alerts (Infinity: only distinct error paths alert). */
  score: number;
  distinctErrorPaths: number;
}

/** Everything the detector can be told, defaults filled in (`parseDetectorConfig`). */
export interface DetectorConfig {
  /** Sliding event-time window for scores and distinct 4xx paths (DESIGN: ≥ 10 paths in 120 s). */
  windowSeconds: number;
  /** Granularity of the window; windows slide by this step. */
  bucketSeconds: number;
  /** Alert when a source's score within the window reaches this. */
  scoreThreshold: number;
  /** Alert when a source hits this many distinct 4xx (non-static) paths within the window. */
  distinctErrorPaths: number;
  /** At most one alert per source per this many seconds of event time. */
  cooldownSeconds: number;
  /** Suggested block time, quoted in alerts. */
  blockHours: number;
  /** How late (in event time) an out-of-order line may arrive and still be windowed. */
  latenessSeconds: number;
  /** Long horizons in event time (1 h and 24 h by default). */
  horizons: Horizon[];
  /** The site's own form endpoints, added to the built-in ones (path prefixes). */
  forms: { registration: string[]; comment: string[]; login: string[] };
  trustedProxies: string[];
  allowlist: { cidrs: string[]; userAgents: string[] };
  knownRoutes: string[];
  /** Rules added to (or, by id, replacing) the built-in ones. */
  rules: Rule[];
  disableRules: string[];
  jsonFields: JsonFieldMap;
}

/** Defaults from DESIGN.md (CrowdSec, Wazuh, AWS WAF Security Automations reference values). */
export const DEFAULT_CONFIG: DetectorConfig = {
  windowSeconds: 120,
  bucketSeconds: 10,
  scoreThreshold: 50,
  distinctErrorPaths: 10,
  cooldownSeconds: 3600,
  blockHours: 4,
  latenessSeconds: 900,
  horizons: [
    { seconds: 3600, score: 150, distinctErrorPaths: 30 },
    { seconds: 86_400, score: 300, distinctErrorPaths: 60 },
  ],
  forms: { registration: [], comment: [], login: [] },
  trustedProxies: [],
  allowlist: { cidrs: [], userAgents: [] },
  knownRoutes: [],
  rules: [],
  disableRules: [],
  jsonFields: {},
};
