import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { AdapterError } from '../core/errors.js';
import type { AlertMessage, AlertPublisher } from '../core/ports.js';

/** Options of the SNS publisher. */
export interface SnsPublisherOptions {
  topicArn: string;
  /** @default a new SNSClient with 5 attempts */
  client?: SNSClient;
}

/**
 * Publishes one message that serves people and machines (`MessageStructure: json`): e-mail gets
 * the plain text, SQS/Lambda/HTTP(S) subscribers get the JSON document. The attributes let
 * subscribers filter by severity, category and environment.
 */
export class SnsAlertPublisher implements AlertPublisher {
  private readonly client: SNSClient;

  constructor(private readonly opts: SnsPublisherOptions) {
    this.client = opts.client ?? new SNSClient({ maxAttempts: 5 });
  }

  async publish(m: AlertMessage): Promise<void> {
    const json = JSON.stringify(m.document);
    try {
      await this.client.send(
        new PublishCommand({
          TopicArn: this.opts.topicArn,
          Subject: m.subject,
          MessageStructure: 'json',
          Message: JSON.stringify({ default: m.text, email: m.text, 'email-json': json, sqs: json, lambda: json, http: json, https: json }),
          MessageAttributes: {
            severity: { DataType: 'String', StringValue: m.attributes.severity },
            category: { DataType: 'String', StringValue: m.attributes.category },
            environment: { DataType: 'String', StringValue: m.attributes.environment },
          },
        }),
      );
    } catch (e) {
      throw new AdapterError(`SNS Publish to ${this.opts.topicArn} failed: ${(e as Error).message}`, { cause: e });
    }
  }
}
