import { DEFAULT_CONFIG, type DetectorConfig } from '../../lambdas/core/config.js';
import { type ScanReport, buildReport } from '../../lambdas/core/report.js';
import { Detector, type DetectorOptions } from '../../lambdas/core/scan.js';

/** Runs the detector over in-memory objects (name → lines) and returns its report. */
export function scanLines(
  objects: Record<string, string[]>,
  config: Partial<DetectorConfig> = {},
  options: DetectorOptions = {},
): { report: ScanReport; detector: Detector } {
  const detector = new Detector({ ...structuredClone(DEFAULT_CONFIG), ...config }, options);
  for (const [name, lines] of Object.entries(objects)) {
    const o = detector.openObject(name);
    for (const l of lines) o.push(l);
    o.end();
  }
  return { report: buildReport(detector), detector };
}
