import { type DigestSummary, severityLine } from './digest.js';
import { clipSlack, slackCode, slackCodeText, slackEscape, slackText } from './notify-escape.js';
import type { AlertDocument } from './ports.js';
import type { Severity } from './rules/types.js';

/**
 * Slack messages (incoming webhook, Block Kit). Slack refuses a message whose blocks break its
 * limits (`invalid_blocks`), which would lose the alert: every bound below is Slack's, and each
 * text is built within it.
 */

/** Slack: a message holds at most 50 blocks. */
export const SLACK_MAX_BLOCKS = 50;
/** Slack: the text of a section block is at most 3,000 characters. */
export const SLACK_TEXT_MAX = 3000;
/** Slack: a header block's plain text is at most 150 characters. */
export const SLACK_HEADER_MAX = 150;
/** Slack: a field of a section is at most 2,000 characters (the alert uses 6 fields of the 10 allowed). */
export const SLACK_FIELD_MAX = 2000;
/** The notification text (shown in pop-ups and where blocks cannot be); Slack advises at most 4,000. */
export const SLACK_FALLBACK_MAX = 3000;
/** Longest sample request shown (the processor keeps 200 characters). */
export const SLACK_SAMPLE_MAX = 200;

type Text = { type: 'mrkdwn'; text: string; verbatim: true } | { type: 'plain_text'; text: string; emoji: boolean };
/** The Block Kit blocks this module builds. */
export type SlackBlock =
  | { type: 'header'; text: Text }
  | { type: 'section'; text?: Text; fields?: Text[] }
  | { type: 'context'; elements: Text[] }
  | { type: 'divider' };
/** An incoming-webhook payload. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** A mrkdwn text object: verbatim, so Slack links and mentions nothing on its own; cut to `max`. */
function md(text: string, max = SLACK_TEXT_MAX): Text {
  return { type: 'mrkdwn', text: clipSlack(text, max), verbatim: true };
}

const ICON: Record<Severity, string> = {
  info: ':information_source:',
  low: ':large_blue_circle:',
  medium: ':large_orange_circle:',
  high: ':red_circle:',
  critical: ':rotating_light:',
};

/**
 * Joins lines into a code block of at most `max` characters (fences included): lines are added
 * while they fit, and a last line says how many were left out.
 */
export function codeBlock(lines: readonly string[], max: number): string {
  const open = '```\n';
  const close = '\n```';
  const kept: string[] = [];
  let used = open.length + close.length;
  for (const [i, line] of lines.entries()) {
    const left = lines.length - i - 1;
    const tail = left ? `\n… ${left} more`.length + 1 : 0;
    if (used + line.length + 1 + tail > max) {
      kept.push(`… ${lines.length - i} more`);
      break;
    }
    kept.push(line);
    used += line.length + 1;
  }
  return `${open}${kept.join('\n')}${close}`;
}

/**
 * Joins whole lines (each may hold code spans) into at most `max` characters: lines are added
 * while they fit and a last line says how many were left out, so no span is ever cut.
 */
export function linesWithin(lines: readonly string[], max: number, sep = '\n'): string {
  const kept: string[] = [];
  let used = 0;
  for (const [i, line] of lines.entries()) {
    const more = `… and ${lines.length - i} more`;
    const reserve = i < lines.length - 1 ? sep.length + more.length + 1 : 0;
    if (used + (kept.length ? sep.length : 0) + line.length + reserve > max) {
      kept.push(more);
      break;
    }
    used += (kept.length ? sep.length : 0) + line.length;
    kept.push(line);
  }
  return kept.join(sep);
}

/**
 * Keeps a message within Slack's 50 blocks: the first 49 and a last context block saying how
 * many were left out.
 */
export function boundBlocks(blocks: readonly SlackBlock[]): SlackBlock[] {
  if (blocks.length <= SLACK_MAX_BLOCKS) return [...blocks];
  const kept = blocks.slice(0, SLACK_MAX_BLOCKS - 1);
  kept.push({ type: 'context', elements: [md(`${blocks.length - kept.length} more blocks were left out (Slack shows at most ${SLACK_MAX_BLOCKS}).`)] });
  return kept;
}

/** The Slack message of one alert: severity and source, what it is and what to do, the evidence and sample requests. */
export function slackAlertMessage(doc: AlertDocument): SlackMessage {
  const env = slackText(doc.environment, 40);
  const source = slackText(doc.source, 100);
  const header = `${doc.severity.toUpperCase()} alert: ${slackText(doc.reason.split(':')[0] ?? 'Probing', 60)} from ${source} (${env})`;
  const samples = doc.samples.map(
    (s) =>
      `${slackCodeText(s.time, 30)}  ${Number.isFinite(s.status) ? s.status : '?'}  ${slackCodeText(s.request, SLACK_SAMPLE_MAX)}${s.userAgent ? `  [${slackCodeText(s.userAgent, 120)}]` : ''}`,
  );
  const cats = doc.categories.slice(0, 8).map((c) => slackCode(c, 64));
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: clipSlack(header, SLACK_HEADER_MAX), emoji: true } },
    {
      type: 'section',
      text: md(`${ICON[doc.severity]} *${slackText(doc.reason, 300)}*\n${slackText(doc.what, 1200)}\n*What to do:* ${slackText(doc.todo, 1200)}`),
    },
    {
      type: 'section',
      fields: [
        md(`*Source*\n${slackCode(doc.source, 100)}`, SLACK_FIELD_MAX),
        md(`*Severity*\n${doc.severity}, score ${Number(doc.score)}`, SLACK_FIELD_MAX),
        md(`*First seen*\n${slackText(doc.firstSeen, 40)}`, SLACK_FIELD_MAX),
        md(`*Last seen*\n${slackText(doc.lastSeen, 40)}`, SLACK_FIELD_MAX),
        md(`*Requests*\n${Number(doc.requests)}`, SLACK_FIELD_MAX),
        md(`*Trigger*\n${slackCode(doc.trigger, 120)}`, SLACK_FIELD_MAX),
      ],
    },
    { type: 'section', text: md(`*Evidence:* ${slackText(doc.evidence, 400)}`) },
    {
      type: 'section',
      text: md(
        `*Top categories:* ${linesWithin(cats, SLACK_TEXT_MAX - 60, ', ') || 'none'}${doc.categories.length > cats.length ? ` and ${doc.categories.length - cats.length} more` : ''}`,
      ),
    },
  ];
  if (doc.note) blocks.push({ type: 'section', text: md(`*Note:* ${slackText(doc.note, 1500)}`) });
  if (samples.length) {
    const head = `*Sample requests (${samples.length}${doc.shortened ? `, ${doc.shortened.samples} left out to fit` : ''})*\n`;
    blocks.push({ type: 'section', text: md(head + codeBlock(samples, SLACK_TEXT_MAX - head.length)) });
  }
  blocks.push({
    type: 'context',
    elements: [md(`Alert ${slackCode(doc.alertId, 64)} · ${env} · ${Number(doc.objectCount ?? doc.objects?.length ?? 0)} log objects · sent by ProbeWatch`)],
  });
  return { text: clipSlack(`${header}: ${slackText(doc.reason, 300)}`, SLACK_FALLBACK_MAX), blocks: boundBlocks(blocks) };
}

/** The Slack message of a digest: counts, time range, top sources and categories. */
export function slackDigestMessage(d: DigestSummary): SlackMessage {
  const env = slackText(d.environment, 40);
  const header = `Digest: ${d.alerts} ${d.alerts === 1 ? 'alert' : 'alerts'} from ${d.sources.length + d.otherSources} ${d.sources.length + d.otherSources === 1 ? 'source' : 'sources'} (${env})`;
  // Digest records were escaped when queued; slackText keeps their escapes and escapes for Slack.
  const sourceLines = d.sources.map(
    (s) =>
      `${slackCode(s.source, 100)}  ${s.alerts} ${s.alerts === 1 ? 'alert' : 'alerts'}, ${s.severity}${s.categories.length ? ` (${s.categories.map((c) => slackText(c, 64)).join(', ')})` : ''}`,
  );
  if (d.otherSources) sourceLines.push(`… and ${d.otherSources} more sources`);
  const catLines = d.categories.map((c) => `${slackCode(c.category, 64)} ${c.alerts}`);
  if (d.otherCategories) catLines.push(`… and ${d.otherCategories} more categories`);
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: clipSlack(header, SLACK_HEADER_MAX), emoji: true } },
    {
      type: 'section',
      fields: [
        md(`*Alerts*\n${d.alerts} (${severityLine(d.severities)})`, SLACK_FIELD_MAX),
        md(`*Seen*\n${slackText(d.firstSeen || '?', 40)} to ${slackText(d.lastSeen || '?', 40)}`, SLACK_FIELD_MAX),
      ],
    },
    { type: 'section', text: md(`*Top sources*\n${linesWithin(sourceLines, SLACK_TEXT_MAX - 20)}`) },
    { type: 'section', text: md(`*Categories*\n${linesWithin(catLines, SLACK_TEXT_MAX - 20, ', ') || 'none'}`) },
  ];
  if (d.waiting) blocks.push({ type: 'section', text: md(`${d.waiting} more alerts are waiting and go out in the next digest.`) });
  blocks.push({
    type: 'context',
    elements: [
      md(
        `Queued ${slackEscape(d.queuedFrom)} to ${slackEscape(d.queuedUntil)} · alerts at or above the immediate severity were sent on their own · ProbeWatch`,
      ),
    ],
  });
  return { text: clipSlack(header, SLACK_FALLBACK_MAX), blocks: boundBlocks(blocks) };
}
