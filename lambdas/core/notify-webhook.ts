import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DigestSummary } from './digest.js';
import type { AlertDocument } from './ports.js';

/**
 * Generic HTTPS webhooks: the alert document as JSON (the same document SQS and HTTPS
 * subscribers of the topic get), or the digest summary, signed so the receiver can tell it came
 * from this deployment and was not replayed later.
 *
 * Signature: `X-ProbeWatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`,
 * with the timestamp (Unix seconds) in `X-ProbeWatch-Timestamp`. Signing the timestamp with the
 * body lets the receiver refuse an old request replayed by whoever recorded it.
 */

/**
 * Largest webhook body sent, in bytes. The alert reached us through SNS, whose messages are at
 * most 256 KiB, so an alert that was published fits whole as a rule; a body past it (re-encoding
 * can grow it) is shortened, samples and log objects first, never dropped.
 */
export const WEBHOOK_BODY_MAX_BYTES = 262_144;
export const SIGNATURE_HEADER = 'X-ProbeWatch-Signature';
export const TIMESTAMP_HEADER = 'X-ProbeWatch-Timestamp';
export const EVENT_HEADER = 'X-ProbeWatch-Event';

/** The signature header's value for a body sent at `timestampSec`. */
export function signBody(secret: string, timestampSec: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampSec}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does: recompute the signature over the timestamp and the raw body, compare in
 * constant time, and refuse a timestamp older (or newer) than `toleranceSec`.
 */
export function verifySignature(secret: string, header: string, timestampHeader: string, body: string, nowSec: number, toleranceSec = 300): boolean {
  const ts = Number(timestampHeader);
  if (!/^\d+$/.test(timestampHeader) || Math.abs(nowSec - ts) > toleranceSec) return false;
  const expected = Buffer.from(signBody(secret, ts, body));
  const got = Buffer.from(header);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** A body ready to send, with what was cut to fit. */
export interface WebhookBody {
  body: string;
  bytes: number;
  /** True when samples or log objects were left out to fit {@link WEBHOOK_BODY_MAX_BYTES}. */
  shortened: boolean;
}

/** Steps of cutting an alert that is too large: kept samples and log objects. */
const CUTS: readonly { samples: number; objects: number }[] = [
  { samples: Number.POSITIVE_INFINITY, objects: Number.POSITIVE_INFINITY },
  { samples: 5, objects: 5 },
  { samples: 1, objects: 1 },
  { samples: 0, objects: 0 },
];

/**
 * The webhook body of an alert: the document as JSON (JSON escaping makes every string safe for
 * a JSON consumer; the processor escaped control characters in them already). When it is over
 * `maxBytes`, samples and log objects are left out step by step and `shortened` says so.
 */
export function webhookAlertBody(doc: AlertDocument, maxBytes = WEBHOOK_BODY_MAX_BYTES): WebhookBody {
  let last: WebhookBody | undefined;
  for (const [i, cut] of CUTS.entries()) {
    const d: AlertDocument =
      i === 0
        ? doc
        : {
            ...doc,
            samples: doc.samples.slice(0, cut.samples),
            objects: doc.objects.slice(0, cut.objects),
            shortened: {
              samples: doc.samples.length - Math.min(cut.samples, doc.samples.length) + (doc.shortened?.samples ?? 0),
              objects: (doc.objectCount ?? doc.objects.length) - Math.min(cut.objects, doc.objects.length),
              maxChars: doc.shortened?.maxChars ?? 0,
            },
          };
    const body = JSON.stringify(d);
    last = { body, bytes: Buffer.byteLength(body, 'utf8'), shortened: i > 0 };
    if (last.bytes <= maxBytes) return last;
  }
  // Even without evidence it is too large (its other strings are bounded by the processor):
  // the caller refuses it with the size rather than send what the receiver would reject.
  return last as WebhookBody;
}

/** The webhook body of a digest (its lists are bounded by the summary). */
export function webhookDigestBody(d: DigestSummary): WebhookBody {
  const body = JSON.stringify(d);
  return { body, bytes: Buffer.byteLength(body, 'utf8'), shortened: false };
}
