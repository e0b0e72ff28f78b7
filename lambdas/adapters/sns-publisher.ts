import { PublishCommand, type PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { AdapterError } from '../core/errors.js';
import type { AlertMessage, AlertPublisher } from '../core/ports.js';

/**
 * SNS: a published message, message attributes included, is at most 256 KiB (bytes, not
 * characters). The subject is counted too, to stay on the safe side.
 */
export const SNS_MAX_PUBLISH_BYTES = 262_144;

/** Options of the SNS publisher. */
export interface SnsPublisherOptions {
  topicArn: string;
  /** @default a new SNSClient with 5 attempts */
  client?: SNSClient;
  /** The size limit checked before publishing (tests lower it). @default SNS_MAX_PUBLISH_BYTES */
  maxBytes?: number;
}

/** The Publish request for an alert: one message for people and machines (`MessageStructure: json`). */
export function snsPublishInput(topicArn: string, m: AlertMessage): PublishCommandInput {
  const json = JSON.stringify(m.document);
  return {
    TopicArn: topicArn,
    Subject: m.subject,
    MessageStructure: 'json',
    // The document is embedded once per protocol, escaped again each time: that is what counts.
    Message: JSON.stringify({ default: m.text, email: m.text, 'email-json': json, sqs: json, lambda: json, http: json, https: json }),
    MessageAttributes: {
      severity: { DataType: 'String', StringValue: m.attributes.severity },
      category: { DataType: 'String', StringValue: m.attributes.category },
      environment: { DataType: 'String', StringValue: m.attributes.environment },
      alertId: { DataType: 'String', StringValue: m.attributes.alertId },
    },
  };
}

/** Bytes a Publish request counts against the limit: message, subject, attribute names, types and values. */
export function snsPublishBytes(input: PublishCommandInput): number {
  let n = Buffer.byteLength(input.Message ?? '', 'utf8') + Buffer.byteLength(input.Subject ?? '', 'utf8');
  for (const [name, a] of Object.entries(input.MessageAttributes ?? {})) {
    n += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(a.DataType ?? '', 'utf8') + Buffer.byteLength(a.StringValue ?? '', 'utf8');
  }
  return n;
}

/**
 * Publishes one message that serves people and machines (`MessageStructure: json`): e-mail gets
 * the plain text, SQS/Lambda/HTTP(S) subscribers get the JSON document. The attributes let
 * subscribers filter by severity, category and environment, and drop a repeat by `alertId`.
 */
export class SnsAlertPublisher implements AlertPublisher {
  private readonly client: SNSClient;
  private readonly maxBytes: number;

  constructor(private readonly opts: SnsPublisherOptions) {
    this.client = opts.client ?? new SNSClient({ maxAttempts: 5 });
    this.maxBytes = opts.maxBytes ?? SNS_MAX_PUBLISH_BYTES;
  }

  fits(m: AlertMessage): boolean {
    return snsPublishBytes(snsPublishInput(this.opts.topicArn, m)) <= this.maxBytes;
  }

  async publish(m: AlertMessage): Promise<void> {
    const input = snsPublishInput(this.opts.topicArn, m);
    const bytes = snsPublishBytes(input);
    // Refused here with the sizes rather than by SNS with a bare "Message too long".
    if (bytes > this.maxBytes) throw new AdapterError(`SNS Publish to ${this.opts.topicArn} refused: the alert is ${bytes} bytes, over ${this.maxBytes}`);
    try {
      await this.client.send(new PublishCommand(input));
    } catch (e) {
      throw new AdapterError(`SNS Publish to ${this.opts.topicArn} failed: ${(e as Error).message}`, { cause: e });
    }
  }
}
