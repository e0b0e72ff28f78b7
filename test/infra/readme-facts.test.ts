/**
 * What the README states about the deployed stack, checked against what the stack synthesizes:
 * the alarm counts and their monthly price, and the DynamoDB calls the processor may make.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { buildStack, cdkContext } from '../support/infra.js';

const readme = readFileSync('README.md', 'utf8').replace(/\s+/g, ' ');

/** prod as shipped, with blocking and/or notifications turned on. */
function prodWith(extra: Record<string, unknown>): Record<string, unknown> {
  const envs = structuredClone(cdkContext.environments) as Record<string, Record<string, unknown>>;
  envs.prod = { ...envs.prod, ...extra };
  return envs;
}
const BLOCKING = { blocking: { enabled: true } };
const NOTIFICATIONS = { notifications: { slack: { webhookSecretName: 'probewatch/prod/slack' } } };
const alarms = (envs?: Record<string, unknown>) =>
  Object.keys(Template.fromStack(buildStack('prod', envs).stack).findResources('AWS::CloudWatch::Alarm')).length;

describe("the README's facts about the stack", { timeout: 300_000 }, () => {
  it('alarms: as many as a prod synth creates, with and without blocking and notifications, at $0.10 each', () => {
    const counts = {
      plain: alarms(),
      notifications: alarms(prodWith(NOTIFICATIONS)),
      blocking: alarms(prodWith(BLOCKING)),
      both: alarms(prodWith({ ...BLOCKING, ...NOTIFICATIONS })),
    };
    assert.deepEqual(counts, { plain: 4, notifications: 6, blocking: 7, both: 9 });
    const price = (n: number) => `$${(n / 10).toFixed(2)}`;
    assert.ok(
      readme.includes(
        `four (${price(counts.plain)}), six with notifications (${price(counts.notifications)}), seven with blocking (${price(counts.blocking)}), nine with both (${price(counts.both)})`,
      ),
    );
    assert.ok(readme.includes('Alarms, all to the operations topic: four in every stack'));
    assert.ok(readme.includes('blocking adds three') && readme.includes('notifications two') && readme.includes('nine with both.'));
  });

  it("the processor's DynamoDB calls are the ones the README lists", () => {
    const t = Template.fromStack(buildStack('prod').stack);
    const actions = new Set<string>();
    for (const [id, p] of Object.entries(t.findResources('AWS::IAM::Policy'))) {
      if (!id.startsWith('ProcessorServiceRole')) continue;
      for (const s of p.Properties.PolicyDocument.Statement as { Action: string | string[] }[])
        for (const a of [s.Action].flat()) if (a.startsWith('dynamodb:')) actions.add(a.slice('dynamodb:'.length));
    }
    const listed = /make five DynamoDB calls \(([^)]*)\) on its table/.exec(readme)?.[1];
    assert.ok(listed, 'the README lists the calls');
    assert.deepEqual(
      listed
        .split(',')
        .map((a) => a.trim().replace(/`/g, ''))
        .sort(),
      [...actions].sort(),
    );
    assert.equal(actions.size, 5);
  });
});
