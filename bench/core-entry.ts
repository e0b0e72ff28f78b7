/**
 * The core as the benchmark times it: bundled by `bench/run.ts` with esbuild, as the CLI and the
 * function ship it. Run from TypeScript through a loader instead, every call from one module to
 * another goes through an export getter, and the core measures about a tenth slower than it runs.
 */
import { DEFAULT_CONFIG } from '../lambdas/core/config.js';
import { Detector } from '../lambdas/core/scan.js';

/** Parses, classifies and aggregates `lines` as one object; returns the seconds it took and the sources alerted. */
export function scanLines(lines: readonly string[]): { seconds: number; alerts: number } {
  const start = process.hrtime.bigint();
  const d = new Detector(structuredClone(DEFAULT_CONFIG));
  const o = d.openObject('bench');
  for (const l of lines) o.push(l);
  o.end();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  let alerts = 0;
  for (const s of d.aggregator.sources.values()) if (s.alert) alerts++;
  return { seconds, alerts };
}

export { floorLines } from './floor.js';
