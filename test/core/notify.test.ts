import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { DIGEST_MAX_ALERTS, DIGEST_TOP, type DigestEntry, digestEmail, digestEntryOf, summariseDigest } from '../../lambdas/core/digest.js';
import { ConfigError, InputError } from '../../lambdas/core/errors.js';
import { slackCode, slackText } from '../../lambdas/core/notify-escape.js';
import {
  SLACK_MAX_BLOCKS,
  SLACK_TEXT_MAX,
  type SlackBlock,
  boundBlocks,
  codeBlock,
  linesWithin,
  slackAlertMessage,
  slackDigestMessage,
} from '../../lambdas/core/notify-slack.js';
import { WEBHOOK_BODY_MAX_BYTES, signBody, verifySignature, webhookAlertBody, webhookDigestBody } from '../../lambdas/core/notify-webhook.js';
import { type Channel, parseAlertMessage, parseNotifySettings, routeAlert } from '../../lambdas/core/notify.js';
import type { AlertDocument } from '../../lambdas/core/ports.js';
import { alertDocumentFixture } from '../support/alert-document.js';

const texts = (blocks: SlackBlock[]): string[] =>
  blocks.flatMap((b) =>
    ('text' in b && b.text ? [b.text.text] : []).concat(
      'fields' in b && b.fields ? b.fields.map((f) => f.text) : [],
      'elements' in b ? b.elements.map((e) => e.text) : [],
    ),
  );

describe('routing an alert to a channel', () => {
  const slack: Channel = { id: 'slack', kind: 'slack', urlSecretName: 's', minSeverity: 'medium', digestMinutes: 15 };
  const hook: Channel = { id: 'webhook:soc', kind: 'webhook', urlSecretName: 'u', minSeverity: 'low' };
  const email: Channel = { id: 'email', kind: 'email', minSeverity: 'info', digestMinutes: 30 };
  it('skips below the minimum, digests below the immediate severity, sends the rest at once', () => {
    assert.deepEqual(
      (['info', 'low', 'medium', 'high', 'critical'] as const).map((s) => [
        routeAlert(slack, s, 'high'),
        routeAlert(hook, s, 'high'),
        routeAlert(email, s, 'high'),
      ]),
      [
        ['skip', 'skip', 'digest'],
        ['skip', 'now', 'digest'],
        ['digest', 'now', 'digest'],
        ['now', 'now', 'skip'],
        ['now', 'now', 'skip'],
      ],
    );
  });
  it('an immediate severity of medium sends medium at once', () => assert.equal(routeAlert(slack, 'medium', 'medium'), 'now'));
});

describe('reading an alert message', () => {
  it('reads the raw document and an SNS envelope around it', () => {
    const doc = alertDocumentFixture();
    assert.equal(parseAlertMessage(JSON.stringify(doc)).alertId, doc.alertId);
    assert.equal(parseAlertMessage(JSON.stringify({ Type: 'Notification', Message: JSON.stringify(doc) })).source, doc.source);
  });
  it('refuses what is not an alert, saying why', () => {
    assert.throws(
      () => parseAlertMessage('{nope'),
      (e: Error) => e instanceof InputError && /not JSON/.test(e.message),
    );
    assert.throws(
      () => parseAlertMessage(JSON.stringify({ Records: [] })),
      (e: Error) => e instanceof InputError && /version/.test(e.message),
    );
    assert.throws(() => parseAlertMessage(JSON.stringify(alertDocumentFixture({ severity: 'urgent' as never }))), /severity/);
    assert.throws(() => parseAlertMessage(JSON.stringify(alertDocumentFixture({ alertId: 'a\r\nX-Evil: 1' }))), /alertId must be letters, digits/);
  });
});

describe('the notify settings (environment, validated at cold start)', () => {
  const base = {
    STATE_TABLE_NAME: 't',
    ENVIRONMENT_NAME: 'prod',
    NOTIFY_CHANNELS: JSON.stringify([{ id: 'slack', kind: 'slack', urlSecretName: 's', minSeverity: 'medium' }]),
  };
  it('fills in defaults', () => {
    const s = parseNotifySettings(base);
    assert.deepEqual([s.immediateSeverity, s.secretsTtlSeconds, s.maxReceives, s.channels.length], ['high', 300, 5, 1]);
  });
  it('names every problem at once', () => {
    assert.throws(
      () =>
        parseNotifySettings({
          ENVIRONMENT_NAME: 'prod',
          NOTIFY_CHANNELS: JSON.stringify([{ id: 'email', kind: 'email', minSeverity: 'info', digestMinutes: 0 }]),
          SECRETS_TTL_SECONDS: '-1',
        }),
      (e: Error) => e instanceof ConfigError && /STATE_TABLE_NAME/.test(e.message) && /SECRETS_TTL_SECONDS/.test(e.message) && /digestMinutes/.test(e.message),
    );
    assert.throws(
      () => parseNotifySettings({ ...base, NOTIFY_CHANNELS: JSON.stringify([{ id: 'email', kind: 'email', minSeverity: 'info', digestMinutes: 30 }]) }),
      /ALERT_TOPIC_ARN is required for the e-mail digest/,
    );
    assert.throws(() => parseNotifySettings({ ...base, NOTIFY_CHANNELS: '[' }), /NOTIFY_CHANNELS is not valid JSON/);
    assert.throws(
      () => parseNotifySettings({ ...base, NOTIFY_CHANNELS: JSON.stringify([{ id: 'slack', kind: 'slack', minSeverity: 'low' }]) }),
      /needs urlSecretName/,
    );
  });
});

describe('Slack message of an alert', () => {
  it('has a header with severity and source, the what and todo, evidence, categories, samples as code, first/last seen', () => {
    const m = slackAlertMessage(alertDocumentFixture());
    const header = m.blocks[0] as Extract<SlackBlock, { type: 'header' }>;
    assert.equal(header.type, 'header');
    assert.equal(header.text.text, 'MEDIUM alert: CGI probe sweep from 203.0.113.9 (prod)');
    const all = texts(m.blocks).join('\n');
    assert.match(all, /Probably a scanner\./);
    assert.match(all, /\*What to do:\* Block it\. Suggested block: 4 h\./);
    assert.match(all, /\*Evidence:\* score 120 within 2 min/);
    assert.match(all, /\*Top categories:\* `cgi-probe`, `error-burst`/);
    assert.match(all, /\*First seen\*\n2024-01-01T00:00:00Z/);
    assert.match(all, /\*Last seen\*\n2024-01-01T00:01:00Z/);
    assert.match(all, /```\n2024-01-01T00:00:00Z {2}404 {2}GET \/cgi-bin\/test0\.cgi HTTP\/1\.1 {2}\[curl\/8\.4\]\n/);
    assert.match(all, /Alert `0123456789abcdef0123456789abcdef`/);
    for (const b of m.blocks)
      for (const t of 'text' in b && b.text?.type === 'mrkdwn' ? [b.text] : []) assert.equal(t.verbatim, true, 'Slack links and mentions nothing itself');
    assert.match(m.text, /^MEDIUM alert: CGI probe sweep from 203\.0\.113\.9/);
  });

  it('escapes what came from the log: no mention, no link, no way out of the code span', () => {
    const evil = 'GET /<!channel>@here<https://evil.example|click>`\n``` &amp; HTTP/1.1';
    const m = slackAlertMessage(
      alertDocumentFixture({
        source: '<@U123>',
        note: 'referer <!here|x> http://evil.example',
        samples: [{ time: 't', request: evil, status: 404, userAgent: '`rm -rf`<b>', labels: [] }],
      }),
    );
    const all = texts(m.blocks).join('\n');
    assert.ok(!/[<>]/.test(all), 'no raw < or >');
    assert.ok(!all.includes('@'), 'no @ at all');
    assert.match(all, /`&lt;＠U123&gt;`/, 'the source in a code span, escaped');
    assert.match(all, /GET \/&lt;!channel&gt;＠here&lt;https:\/\/evil\.example\|click&gt;ˋ\\x0aˋˋˋ &amp;amp; HTTP\/1\.1/);
    assert.match(all, /\[ˋrm -rfˋ&lt;b&gt;\]/);
    const block = all.slice(all.indexOf('```'));
    assert.equal(block.match(/```/g)?.length, 2, 'one code block, opened and closed');
  });

  it('keeps every text within 3,000 characters and cuts samples with a count', () => {
    const samples = Array.from({ length: 40 }, (_, i) => ({
      time: '2024-01-01T00:00:00Z',
      request: `GET /${'&'.repeat(190)}${i}`,
      status: 404,
      userAgent: '<'.repeat(120),
      labels: [],
    }));
    const m = slackAlertMessage(alertDocumentFixture({ samples, what: '&'.repeat(5000), note: '>'.repeat(5000) }));
    for (const t of texts(m.blocks)) assert.ok(t.length <= SLACK_TEXT_MAX, `${t.length}`);
    const sampleText = texts(m.blocks).find((t) => t.startsWith('*Sample requests')) ?? '';
    assert.match(sampleText, /… \d+ more\n```$/);
  });
});

describe('Slack bounds (named constants, each hit)', () => {
  it('at most 50 blocks: the rest are counted in a last block', () => {
    const many: SlackBlock[] = Array.from({ length: 60 }, () => ({ type: 'divider' }));
    const out = boundBlocks(many);
    assert.equal(out.length, SLACK_MAX_BLOCKS);
    assert.deepEqual(texts([out.at(-1) as SlackBlock]), ['11 more blocks were left out (Slack shows at most 50).']);
    assert.equal(boundBlocks(many.slice(0, 50)).length, 50);
  });
  it('a code block keeps whole lines within its budget', () => {
    const out = codeBlock(['a'.repeat(10), 'b'.repeat(10), 'c'.repeat(10)], 30);
    assert.ok(out.length <= 30, out);
    assert.equal(out, '```\naaaaaaaaaa\n… 2 more\n```');
  });
  it('lines within a budget are whole, with a count of the rest', () => {
    const spans = Array.from({ length: 100 }, (_, i) => slackCode(`source-${i}`, 100));
    const out = linesWithin(spans, 200, ', ');
    assert.ok(out.length <= 200);
    assert.equal(out.match(/`/g)?.length ?? 0, (out.match(/`[^`]*`/g)?.length ?? 0) * 2, 'spans whole');
    assert.match(out, /… and \d+ more$/);
  });
});

describe('webhook body and signature', () => {
  it('is the alert document as JSON', () => {
    const doc = alertDocumentFixture();
    const b = webhookAlertBody(doc);
    assert.deepEqual(JSON.parse(b.body), doc);
    assert.equal(b.shortened, false);
  });
  it('a body over the bound drops samples and objects, says so, and fits', () => {
    const doc = alertDocumentFixture({
      samples: Array.from({ length: 10 }, () => ({ time: 't', request: 'x'.repeat(200), status: 404, userAgent: 'u', labels: [] })),
      objects: Array.from({ length: 20 }, (_, i) => `${'k'.repeat(300)}${i}`),
      objectCount: 25,
    });
    const small = 2_000;
    const b = webhookAlertBody(doc, small);
    assert.ok(b.bytes <= small, `${b.bytes}`);
    assert.equal(b.shortened, true);
    const parsed = JSON.parse(b.body) as AlertDocument;
    assert.ok(parsed.samples.length < 10);
    assert.deepEqual(parsed.shortened, { samples: 10 - parsed.samples.length, objects: 25 - parsed.objects.length, maxChars: 0 });
    assert.equal(WEBHOOK_BODY_MAX_BYTES, 256 * 1024);
    assert.equal(webhookAlertBody(doc).shortened, false, 'the real bound fits a normal alert whole');
  });
  it('signs sha256=HMAC(secret, "timestamp.body"), which a receiver verifies', () => {
    const body = '{"a":1}';
    const sig = signBody('s3cret', 1_700_000_000, body);
    assert.equal(sig, `sha256=${createHmac('sha256', 's3cret').update(`1700000000.${body}`).digest('hex')}`);
    assert.ok(verifySignature('s3cret', sig, '1700000000', body, 1_700_000_100));
    assert.ok(!verifySignature('s3cret', sig, '1700000000', '{"a":2}', 1_700_000_100), 'another body');
    assert.ok(!verifySignature('other', sig, '1700000000', body, 1_700_000_100), 'another secret');
    assert.ok(!verifySignature('s3cret', sig, '1700000001', body, 1_700_000_100), 'another timestamp');
    assert.ok(!verifySignature('s3cret', sig, '1700000000', body, 1_700_001_000), 'too old: a replay');
  });
});

describe('digest summary', () => {
  const entry = (i: number, over: Partial<DigestEntry> = {}): DigestEntry => ({
    alertId: `id${i}`,
    source: `198.51.100.${i % 3}`,
    severity: i % 4 === 0 ? 'high' : 'medium',
    categories: i % 2 ? ['cgi-probe', 'error-burst'] : ['sensitive-file'],
    reason: 'r',
    firstSeen: `2024-01-01T00:0${i}:00Z`,
    lastSeen: `2024-01-01T00:0${i}:30Z`,
    queuedAt: Date.UTC(2024, 0, 1, 1, i),
    ...over,
  });
  it('counts alerts, ranks sources and categories, counts severities, spans the time range', () => {
    const d = summariseDigest(
      [0, 1, 2, 3, 4, 5].map((i) => entry(i)),
      { environment: 'prod', channel: 'slack' },
    );
    assert.equal(d.alerts, 6);
    assert.deepEqual(d.severities, { high: 2, medium: 4 });
    assert.deepEqual(
      d.sources.map((s) => [s.source, s.alerts, s.severity]),
      [
        ['198.51.100.0', 2, 'high'],
        ['198.51.100.1', 2, 'high'],
        ['198.51.100.2', 2, 'medium'],
      ],
    );
    assert.deepEqual(d.categories, [
      { category: 'cgi-probe', alerts: 3 },
      { category: 'error-burst', alerts: 3 },
      { category: 'sensitive-file', alerts: 3 },
    ]);
    assert.deepEqual(
      [d.firstSeen, d.lastSeen, d.queuedFrom, d.queuedUntil],
      ['2024-01-01T00:00:00Z', '2024-01-01T00:05:30Z', '2024-01-01T01:00:00Z', '2024-01-01T01:05:00Z'],
    );
  });
  it('lists the top sources by name and counts the rest', () => {
    const d = summariseDigest(
      Array.from({ length: 25 }, (_, i) => entry(i, { source: `s${i}` })),
      { environment: 'prod', channel: 'slack', waiting: 7 },
    );
    assert.equal(d.sources.length, DIGEST_TOP);
    assert.equal(d.otherSources, 25 - DIGEST_TOP);
    const mail = digestEmail(d);
    assert.match(mail.subject, /^\[prod\] ProbeWatch digest: 25 alerts from 25 sources$/);
    assert.match(mail.text, /… and 15 more/);
    assert.match(mail.text, /7 more alerts are waiting/);
    const slack = texts(slackDigestMessage(d).blocks).join('\n');
    assert.match(slack, /… and 15 more sources/);
    assert.match(slack, /7 more alerts are waiting/);
    assert.ok(DIGEST_MAX_ALERTS >= 100);
  });
  it('a digest entry is bounded and escaped whatever the alert holds', () => {
    const e = digestEntryOf(alertDocumentFixture({ source: `\u001b[31m${'x'.repeat(500)}`, categories: Array.from({ length: 50 }, (_, i) => `c${i}`) }), 5);
    assert.ok(e.source.length <= 100);
    assert.ok(e.source.startsWith('\\x1b[31m'));
    assert.equal(e.categories.length, 10);
  });
  it('the webhook digest body is the summary as JSON', () => {
    const d = summariseDigest([entry(1)], { environment: 'prod', channel: 'webhook:soc' });
    assert.deepEqual(JSON.parse(webhookDigestBody(d).body), d);
  });
});

describe('Slack escaping helpers', () => {
  it('keeps the processor escapes as they are (no doubled backslashes)', () => {
    assert.equal(slackText('GET /a\\x1bb', 100), 'GET /a\\x1bb');
    assert.equal(slackText('a\u001bb', 100), 'a\\x1bb');
  });
  it('an empty value is shown as a visible empty pair, not a broken span', () => assert.equal(slackCode('', 10), '""'));
});
