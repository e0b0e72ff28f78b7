import { SEVERITIES, type Severity } from './rules/types.js';

/** Severity as a number, for comparisons. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** The higher of two severities. */
export function maxSeverity(a: Severity, b: Severity): Severity {
  return severityRank(a) >= severityRank(b) ? a : b;
}

/** What is remembered about a source's last alert (the "alert claim"). */
export interface AlertClaim {
  /** Event time of the last alert sent, epoch ms. */
  lastAt: number;
  severity: Severity;
  count: number;
}

/** Outcome of asking whether a new alert may go out. */
export type ClaimDecision = 'new' | 'escalate' | 'cooldown';

/**
 * At most one alert per source per cooldown, in event time. A higher severity inside the
 * cooldown is let through once (a probe that turns into an exploit attempt is news).
 * Distances are absolute because objects arrive out of order.
 */
export function decideClaim(claim: AlertClaim | null, at: number, severity: Severity, cooldownMs: number): ClaimDecision {
  if (claim === null) return 'new';
  if (Math.abs(at - claim.lastAt) >= cooldownMs) return 'new';
  if (severityRank(severity) > severityRank(claim.severity)) return 'escalate';
  return 'cooldown';
}

/** Applies a decision to a claim, returning the new claim (unchanged on cooldown). */
export function applyClaim(claim: AlertClaim | null, decision: ClaimDecision, at: number, severity: Severity): AlertClaim | null {
  if (decision === 'cooldown') return claim;
  return { lastAt: Math.max(at, claim?.lastAt ?? at), severity, count: (claim?.count ?? 0) + 1 };
}
