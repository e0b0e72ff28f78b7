import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SNS_MAX_PUBLISH_BYTES, SnsAlertPublisher, snsPublishBytes, snsPublishInput } from '../../lambdas/adapters/sns-publisher.js';
import { buildAlertMessage } from '../../lambdas/core/alert-message.js';
import type { AlertReport } from '../../lambdas/core/report.js';
import { readTap } from '../../lambdas/local/driver.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';
import { alertReportFixture } from '../support/alert-report.js';

let stack: LocalStack;

/** The worst evidence the report lets through: every sample at its length cap, all quotes (escaped again per level). */
function heavyReport(): AlertReport {
  return alertReportFixture({
    severity: 'high',
    score: 500,
    categories: ['sensitive-file', 'error-burst'],
    requests: 400,
    lastSeen: '2024-01-01T00:59:00Z',
    reason: 'Sensitive file probe: 400 requests, 400 × 404',
    trigger: 'error-burst',
    evidence: '400 distinct missing paths within 2 min',
    windowScore: 500,
    distinctErrorPaths: 400,
    statuses: { '404': 400 },
    what: 'Probably a scanner looking for secrets.',
    samples: Array.from({ length: 10 }, () => ({
      time: '2024-01-01T00:00:00Z',
      request: `GET /${'"'.repeat(190)} HTTP/1.1`,
      status: 404,
      userAgent: '"'.repeat(120),
      labels: ['sensitive-file'],
    })),
  });
}

// The issue's case: 20 objects in one source-hour, keys of about 1,000 characters full of quotes.
const objects = Array.from({ length: 20 }, (_, i) => `probewatch-logs/${`q"`.repeat(495)}-${i}.log#0123456789abcdef0123456789abcdef`);

describe('SnsAlertPublisher on the SNS emulator (fauxqs enforces the 256 KiB limit)', { timeout: 120_000 }, () => {
  before(async () => {
    stack = await startLocalStack({ bridgeEvents: false });
  });
  after(async () => {
    await stack?.stop();
  });

  it('the issue case, unbounded, would be refused by SNS', async () => {
    // What the message was before object ids were bounded: every id whole.
    const whole = buildAlertMessage(heavyReport(), 'prod', objects, { alertId: 'a' });
    whole.document.objects = objects;
    const input = snsPublishInput(stack.topicArn, whole);
    assert.ok(snsPublishBytes(input) > SNS_MAX_PUBLISH_BYTES, `${snsPublishBytes(input)} bytes`);
    const publisher = new SnsAlertPublisher({ topicArn: stack.topicArn, client: stack.sns, maxBytes: Number.POSITIVE_INFINITY });
    await assert.rejects(publisher.publish(whole), /Message too long/, 'the emulator refuses it as SNS does');
  });

  it('the issue case as built now is published whole, under the limit, and arrives', async () => {
    const publisher = new SnsAlertPublisher({ topicArn: stack.topicArn, client: stack.sns });
    const m = buildAlertMessage(heavyReport(), 'prod', objects, { alertId: 'a1', fits: (x) => publisher.fits(x) });
    const bytes = snsPublishBytes(snsPublishInput(stack.topicArn, m));
    assert.ok(bytes <= SNS_MAX_PUBLISH_BYTES, `${bytes} bytes`);
    assert.ok(m.subject.length < 100);
    await publisher.publish(m);
    const tapped = await readTap(stack);
    assert.equal(tapped.length, 1);
    assert.equal(tapped[0]?.document.objectCount, 20);
    assert.equal(tapped[0]?.attributes.alertId, 'a1');
  });

  it('when the limit is hit, the evidence is cut and the alert is still published', async () => {
    const maxBytes = 40_000;
    const publisher = new SnsAlertPublisher({ topicArn: stack.topicArn, client: stack.sns, maxBytes });
    const m = buildAlertMessage(heavyReport(), 'prod', objects, { alertId: 'a2', fits: (x) => publisher.fits(x) });
    assert.ok(m.document.shortened, 'shortened, and says so');
    assert.ok(snsPublishBytes(snsPublishInput(stack.topicArn, m)) <= maxBytes);
    await publisher.publish(m);
    const tapped = await readTap(stack);
    assert.equal(tapped[0]?.document.shortened?.objects, m.document.shortened?.objects);
    // A message that still does not fit is refused before SNS is called, with the sizes.
    const tiny = new SnsAlertPublisher({ topicArn: stack.topicArn, client: stack.sns, maxBytes: 100 });
    await assert.rejects(tiny.publish(m), /the alert is \d+ bytes, over 100/);
  });
});
