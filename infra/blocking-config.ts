import { z } from 'zod';
import { CLOUDFRONT_REGION, DEFAULT_MAX_ENTRIES, IP_SET_ARN, MAX_BLOCK_HOURS, WAF_IP_SET_LIMIT, parseIpSetArn } from '../lambdas/core/blocking.js';
import { SEVERITIES } from '../lambdas/core/rules/types.js';

const ipSetArn = z.string().refine((s) => IP_SET_ARN.test(s), {
  message: 'is not a WAF v2 IP set ARN (arn:aws:wafv2:REGION:ACCOUNT:regional|global/ipset/NAME/ID)',
});

/**
 * `environments.<name>.blocking`: blocking of alerted sources in a pair of WAF IP sets, off by
 * default, and in dry run (records what would be blocked, never changes WAF) until turned off.
 */
export const blockingSchema = z
  .strictObject({
    enabled: z.boolean().default(false).meta({ description: 'turns the blocker on (its queue, functions and IP sets are created only then)' }),
    dryRun: z.boolean().default(true).meta({ description: 'records what would be blocked without changing WAF; set false to block' }),
    minSeverity: z.enum(SEVERITIES).default('high').meta({ description: 'alerts of this severity or more are blocked' }),
    scope: z
      .enum(['REGIONAL', 'CLOUDFRONT'])
      .default('REGIONAL')
      .meta({ description: 'WAF scope: REGIONAL (ALB, API Gateway, AppSync…) or CLOUDFRONT (a stack in us-east-1 only)' }),
    ipSetArns: z
      .strictObject({
        v4: ipSetArn.meta({ description: 'ARN of the WAF v2 IP set for IPv4 sources' }),
        v6: ipSetArn.meta({ description: 'ARN of the WAF v2 IP set for IPv6 ranges (another set, same region and scope)' }),
      })
      .optional()
      .meta({ description: 'existing IP sets to use instead of a new pair (omitted: the stack creates both)' }),
    maxEntries: z
      .number()
      .int()
      .min(1)
      .max(WAF_IP_SET_LIMIT)
      .default(DEFAULT_MAX_ENTRIES)
      .meta({ description: 'most entries the blocker keeps in each set (WAF allows 10,000)' }),
    durationHours: z
      .number()
      .positive()
      .max(MAX_BLOCK_HOURS)
      .optional()
      .meta({ description: "block time in hours (omitted: the alert's suggested block time, from the detector's blockHours)" }),
  })
  .superRefine((b, ctx) => {
    if (!b.ipSetArns) return;
    const { v4, v6 } = b.ipSetArns;
    if (v4 === v6)
      ctx.addIssue({ code: 'custom', path: ['ipSetArns', 'v6'], message: 'must be another set than ipSetArns.v4 (one holds IPv4, the other IPv6)' });
    const [r4, r6] = [parseIpSetArn(v4), parseIpSetArn(v6)];
    if (r4 && r6 && r4.region !== r6.region)
      ctx.addIssue({ code: 'custom', path: ['ipSetArns', 'v6'], message: `is in ${r6.region}, ipSetArns.v4 in ${r4.region}: both sets must be in one region` });
    for (const [k, arn] of Object.entries({ v4, v6 })) {
      const ref = parseIpSetArn(arn);
      if (!ref) continue;
      if (ref.scope !== b.scope) {
        ctx.addIssue({ code: 'custom', path: ['ipSetArns', k], message: `is a ${ref.scope} set but scope is ${b.scope}` });
      }
      if (ref.scope === 'CLOUDFRONT' && ref.region !== CLOUDFRONT_REGION) {
        ctx.addIssue({ code: 'custom', path: ['ipSetArns', k], message: `is a CLOUDFRONT set outside ${CLOUDFRONT_REGION}, where CloudFront's WAF sets live` });
      }
    }
  });

/** The validated blocking settings, defaults filled in. */
export type BlockingConfig = z.output<typeof blockingSchema>;
