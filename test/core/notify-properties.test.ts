import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type DigestEntry, digestEmail, digestEntryOf, summariseDigest } from '../../lambdas/core/digest.js';
import {
  SLACK_FALLBACK_MAX,
  SLACK_FIELD_MAX,
  SLACK_HEADER_MAX,
  SLACK_MAX_BLOCKS,
  SLACK_TEXT_MAX,
  type SlackMessage,
  slackAlertMessage,
  slackDigestMessage,
} from '../../lambdas/core/notify-slack.js';
import { WEBHOOK_BODY_MAX_BYTES, signBody, verifySignature, webhookAlertBody } from '../../lambdas/core/notify-webhook.js';
import type { AlertDocument } from '../../lambdas/core/ports.js';
import { SEVERITIES } from '../../lambdas/core/rules/types.js';
import { alertDocumentFixture } from '../support/alert-document.js';

// Property tests of the Slack and webhook renderers: whatever a log line put in a path, a user
// agent, a referer or a source, no message can mention anyone, link anywhere, leave its code
// span, or break one of Slack's limits.

const HOSTILE = [
  '<',
  '>',
  '&',
  '@',
  '`',
  '```',
  '<!channel>',
  '<!here>',
  '<@U1>',
  '<#C1>',
  '<http://x.y|z>',
  '&amp;',
  '&lt;',
  '|',
  '*',
  '_',
  '~',
  ':',
  '/',
  '\\',
  '\n',
  '\r',
  '\u001b',
  '\u202e',
  '\u200b',
  '\ud800',
  '\u{1f600}',
  'http://',
  'www.',
  '.com',
];
const messy = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789 ') },
      { weight: 3, arbitrary: fc.constantFrom(...HOSTILE) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    ),
    maxLength,
  });
/** Some strings far longer than any bound. */
const anyLength = fc.oneof({ weight: 4, arbitrary: messy(60) }, { weight: 1, arbitrary: messy(4000) });

const alertDoc: fc.Arbitrary<AlertDocument> = fc
  .record({
    source: anyLength,
    severity: fc.constantFrom(...SEVERITIES),
    reason: anyLength,
    what: anyLength,
    todo: anyLength,
    evidence: anyLength,
    trigger: anyLength,
    note: fc.option(anyLength, { nil: undefined }),
    environment: messy(30),
    alertId: messy(64),
    firstSeen: messy(30),
    categories: fc.array(anyLength, { maxLength: 20 }),
    samples: fc.array(fc.record({ time: messy(30), request: anyLength, status: fc.integer(), userAgent: anyLength, labels: fc.constant([] as string[]) }), {
      maxLength: 25,
    }),
  })
  .map(({ note, ...r }) => alertDocumentFixture({ ...r, ...(note === undefined ? {} : { note }) }));

type Text = { type: string; text: string; verbatim?: boolean };
function textsOf(m: SlackMessage): { text: Text; where: 'header' | 'section' | 'field' | 'context' }[] {
  return m.blocks.flatMap((b) => {
    const out: { text: Text; where: 'header' | 'section' | 'field' | 'context' }[] = [];
    if ('text' in b && b.text) out.push({ text: b.text, where: b.type === 'header' ? 'header' : 'section' });
    if ('fields' in b && b.fields) for (const f of b.fields) out.push({ text: f, where: 'field' });
    if ('elements' in b) for (const e of b.elements) out.push({ text: e, where: 'context' });
    return out;
  });
}

const RAW =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Every rule a Slack message must keep, whatever went into it. */
function assertSafeSlack(m: SlackMessage): void {
  assert.ok(m.blocks.length <= SLACK_MAX_BLOCKS);
  assert.ok(m.text.length <= SLACK_FALLBACK_MAX);
  for (const s of [m.text, ...textsOf(m).map((t) => t.text.text)]) {
    // No link and no mention can be written without a raw < (Slack's <url|label>, <@U…>, <!here>).
    assert.ok(!/[<>]/.test(s), `raw angle bracket in ${JSON.stringify(s)}`);
    assert.ok(!s.includes('@'), `an @ in ${JSON.stringify(s)}`);
    // Every & starts one of the three entities Slack decodes: nothing decodes into < or >.
    assert.ok(!/&(?!amp;|lt;|gt;)/.test(s), `a bare & in ${JSON.stringify(s)}`);
    assert.ok(!RAW.test(s), `a raw control or invisible character in ${JSON.stringify(s)}`);
  }
  for (const { text, where } of textsOf(m)) {
    const max = where === 'header' ? SLACK_HEADER_MAX : where === 'field' ? SLACK_FIELD_MAX : SLACK_TEXT_MAX;
    assert.ok(text.text.length <= max, `${where} of ${text.text.length} characters`);
    if (text.type === 'mrkdwn') assert.equal(text.verbatim, true);
    // Code spans stay closed: at most one fenced block, opened and closed, and an even number
    // of single backticks elsewhere, none of them spanning a line.
    const fences = text.text.match(/```/g)?.length ?? 0;
    assert.ok(fences === 0 || fences === 2, `${fences} fences`);
    const outside = text.text.replace(/```[\s\S]*?```/g, '');
    const ticks = outside.match(/`/g)?.length ?? 0;
    assert.equal(ticks % 2, 0, `unbalanced code span in ${JSON.stringify(text.text)}`);
    for (const span of outside.match(/`[^`]*`/g) ?? []) assert.ok(!span.includes('\n'), 'a span across lines');
  }
}

describe('Slack messages are safe for any input (fast-check)', () => {
  it('alerts: no mention, no link, no broken code span, every bound holds', () => {
    fc.assert(
      fc.property(alertDoc, (doc) => assertSafeSlack(slackAlertMessage(doc))),
      { numRuns: 150 },
    );
  });
  it('digests: the same for any queued alerts', () => {
    const entries = fc.array(alertDoc, { minLength: 1, maxLength: 30 }).map((docs) => docs.map((d, i) => digestEntryOf(d, 1_700_000_000_000 + i * 1000)));
    fc.assert(
      fc.property(entries, fc.nat(1000), (es: DigestEntry[], waiting) => {
        const d = summariseDigest(es, { environment: 'prod', channel: 'slack', waiting });
        assertSafeSlack(slackDigestMessage(d));
        const mail = digestEmail(d);
        assert.ok(mail.subject.length < 100 && /^[\x20-\x7e]*$/.test(mail.subject));
        assert.ok(!RAW.test(mail.text.replace(/\n/g, ' ')));
      }),
      { numRuns: 60 },
    );
  });
});

describe('webhook bodies for any input (fast-check)', () => {
  it('are JSON that reads back as the document, within the bound, and verify with their signature', () => {
    fc.assert(
      fc.property(alertDoc, fc.string({ minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 2_000_000_000 }), (doc, secret, ts) => {
        const b = webhookAlertBody(doc);
        assert.ok(b.bytes <= WEBHOOK_BODY_MAX_BYTES);
        assert.equal(b.bytes, Buffer.byteLength(b.body, 'utf8'));
        const back = JSON.parse(b.body) as AlertDocument;
        assert.equal(back.alertId, doc.alertId);
        assert.deepEqual(
          back.samples.map((s) => s.request),
          doc.samples.map((s) => s.request),
        );
        assert.ok(verifySignature(secret, signBody(secret, ts, b.body), String(ts), b.body, ts));
      }),
      { numRuns: 100 },
    );
  });
});
