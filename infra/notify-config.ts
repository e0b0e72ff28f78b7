import { z } from 'zod';
import { SEVERITIES } from '../lambdas/core/rules/types.js';

/**
 * `environments.<name>.notifications`: where alerts go besides the topic's subscribers.
 *
 * - `slack`: a Slack incoming webhook, its URL stored in Secrets Manager under `webhookSecretName`.
 * - `webhooks[]`: HTTPS endpoints receiving the alert document as JSON, signed with the secret
 *   stored under `signingSecretName` (HMAC-SHA256 of `<timestamp>.<body>`).
 * - `digestMinutes` (per channel): alerts below `immediateSeverity` wait and go out as one
 *   summary at most every this many minutes; alerts at or above it go at once.
 * - `emailDigestMinutes`: the topic's e-mail subscribers receive only alerts at or above
 *   `immediateSeverity` at once, and the others in a digest e-mail at most every this many minutes.
 */

const severity = z.enum(SEVERITIES);
/** Secrets Manager: names are 1–512 characters of letters, digits and /_+=.@- */
const secretName = z
  .string()
  .regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'must be a Secrets Manager secret name (letters, digits and /_+=.@-)')
  // A name ending in a hyphen and six characters looks like a full ARN suffix to IAM's wildcard match.
  .refine((n) => !/-[A-Za-z0-9]{6}$/.test(n), 'must not end with a hyphen and six characters (Secrets Manager reads that as a random ARN suffix)');
/** Between two digests: a minute (the schedule's resolution) to a day. */
const digestMinutes = z.number().int().min(1).max(1440);
/** Webhooks per environment: each is a queue consumer's extra HTTP call per alert. */
export const MAX_WEBHOOKS = 10;

export const notificationsSchema = z
  .object({
    slack: z
      .object({
        webhookSecretName: secretName.meta({ description: 'Secrets Manager secret holding the Slack incoming-webhook URL' }),
        minSeverity: severity.default('medium').meta({ description: 'least severity posted to Slack' }),
        digestMinutes: digestMinutes
          .optional()
          .meta({ description: 'alerts below immediateSeverity wait and are posted as one summary at most every this many minutes (omitted: each at once)' }),
      })
      .strict()
      .optional()
      .meta({ description: 'a Slack incoming webhook' }),
    webhooks: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(/^[a-z0-9-]{1,32}$/, 'must be 1 to 32 lower-case letters, digits and dashes')
              .meta({ description: 'unique name of the channel (in logs and dead letters)' }),
            urlSecretName: secretName.meta({ description: 'Secrets Manager secret holding the https:// URL' }),
            signingSecretName: secretName.optional().meta({
              description: 'Secrets Manager secret holding the key that signs each body (HMAC-SHA256 of the timestamp, a dot and the body); omitted: unsigned',
            }),
            minSeverity: severity.meta({ description: 'least severity sent to this webhook' }),
            digestMinutes: digestMinutes
              .optional()
              .meta({ description: 'alerts below immediateSeverity wait and are sent as one summary at most every this many minutes (omitted: each at once)' }),
          })
          .strict(),
      )
      .max(MAX_WEBHOOKS)
      .optional()
      .refine((list) => !list || new Set(list.map((w) => w.name)).size === list.length, 'webhook names must be unique')
      .meta({ description: `HTTPS endpoints that receive each alert as JSON, at most ${MAX_WEBHOOKS} webhooks, names unique` }),
    emailDigestMinutes: digestMinutes.optional().meta({
      description:
        "the topic's e-mail subscribers get alerts at or above immediateSeverity at once and the others in one digest e-mail at most every this many minutes (omitted: every alert at once)",
    }),
    immediateSeverity: severity.default('high').meta({ description: 'alerts at or above it skip the digests and go at once' }),
  })
  .strict();

/** The validated `notifications` settings of an environment. */
export type NotificationsConfig = z.infer<typeof notificationsSchema>;
