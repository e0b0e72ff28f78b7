import { z } from 'zod';
import { type IpSetRef, MAX_BLOCK_HOURS, WAF_IP_SET_LIMIT, checkPolicyRanges, parseIpSetArn } from '../core/blocking.js';
import { ConfigError } from '../core/errors.js';
import { SEVERITIES, type Severity } from '../core/rules/types.js';

/** What the block and sweep functions read from their environment, validated once at cold start. */
export interface BlockRuntimeConfig {
  tableName: string;
  environment: string;
  dryRun: boolean;
  maxEntries: number;
  /** Block time: blocking.durationHours, or the detector's suggested block time (blockHours). */
  hours: number;
  minSeverity: Severity;
  allowlist: string[];
  trustedProxies: string[];
  sets: { v4: IpSetRef; v6: IpSetRef };
  /** The sets were created by the stack for the blocker alone (anything without a live block leaves them). */
  owned: boolean;
}

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const wholeNumber = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));
const arn = z.string().transform((s, ctx) => {
  const ref = parseIpSetArn(s);
  if (!ref) {
    ctx.addIssue({ code: 'custom', message: `is not a WAF v2 IP set ARN (got "${s}")` });
    return z.NEVER;
  }
  return ref;
});
const ranges = z.string().transform((s, ctx) => {
  let list: unknown;
  try {
    list = JSON.parse(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `is not valid JSON (${(e as Error).message})` });
    return z.NEVER;
  }
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON list of CIDR ranges' });
    return z.NEVER;
  }
  for (const p of checkPolicyRanges(list as string[])) ctx.addIssue({ code: 'custom', message: p });
  return list as string[];
});

const envSchema = z.object({
  STATE_TABLE_NAME: z.string().min(1),
  ENVIRONMENT_NAME: z.string().min(1),
  BLOCK_DRY_RUN: bool,
  BLOCK_MAX_ENTRIES: wholeNumber(1, WAF_IP_SET_LIMIT),
  BLOCK_HOURS: z.string().transform(Number).pipe(z.number().positive().max(MAX_BLOCK_HOURS)),
  BLOCK_MIN_SEVERITY: z.enum(SEVERITIES),
  BLOCK_ALLOWLIST: ranges,
  BLOCK_TRUSTED_PROXIES: ranges,
  IP_SET_V4_ARN: arn,
  IP_SET_V6_ARN: arn,
  IP_SETS_OWNED: bool,
});

/**
 * Reads and validates the blocker's settings. Every problem is reported at once, each naming the
 * variable, so a broken deployment fails its first invocation with one clear message.
 */
export function loadBlockConfig(env: Record<string, string | undefined>): BlockRuntimeConfig {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const problems = r.error.issues.map((i) => {
      const name = String(i.path[0] ?? 'environment');
      return `${name} ${env[name] === undefined || env[name] === '' ? 'is not set' : i.message}`;
    });
    throw new ConfigError(`the blocker's environment is not valid: ${problems.join('; ')}`);
  }
  const e = r.data;
  if (e.IP_SET_V4_ARN.scope !== e.IP_SET_V6_ARN.scope || e.IP_SET_V4_ARN.region !== e.IP_SET_V6_ARN.region) {
    throw new ConfigError('IP_SET_V4_ARN and IP_SET_V6_ARN must be of the same scope and region');
  }
  return {
    tableName: e.STATE_TABLE_NAME,
    environment: e.ENVIRONMENT_NAME,
    dryRun: e.BLOCK_DRY_RUN,
    maxEntries: e.BLOCK_MAX_ENTRIES,
    hours: e.BLOCK_HOURS,
    minSeverity: e.BLOCK_MIN_SEVERITY,
    allowlist: e.BLOCK_ALLOWLIST,
    trustedProxies: e.BLOCK_TRUSTED_PROXIES,
    sets: { v4: e.IP_SET_V4_ARN, v6: e.IP_SET_V6_ARN },
    owned: e.IP_SETS_OWNED,
  };
}
