import { clipEscaped, sanitize } from './escape.js';

/**
 * Escaping for Slack's mrkdwn. Slack reads three characters as control characters in every text
 * object: `&`, `<` and `>` (links, mentions and `<!channel>` need `<`); they are written as
 * entities. Every mrkdwn text we send is also marked `verbatim`, so Slack does not turn bare URLs,
 * channel names or `@name` into links or mentions on its own. As a second guard an `@` from
 * outside is shown as the full-width `＠` (U+FF20), so no text can read `@here` or `@channel`, and
 * a backtick as `ˋ` (U+02CB), so no value can close the code span it is shown in.
 */
const SLACK_ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '@': '\uff20' };

/** Escapes already sanitized text for a Slack text object (entities, mentions neutralised). */
export function slackEscape(text: string): string {
  return text.replace(/[&<>@]/g, (c) => SLACK_ENTITY[c] as string);
}

/**
 * Makes text from an alert document inert for any sink, cut to `max` characters. The processor
 * escaped the document's strings already (its backslashes are doubled), so a backslash is kept
 * as it is rather than doubled again; anything unsafe the text still holds (a control character,
 * a bidirectional override) is escaped as `sanitize` does. The cut never splits an escape.
 */
export function inert(text: string, max: number): string {
  // More than 8 × max characters can never fit: the tail is not looked at.
  const input = text.length > max * 8 ? text.slice(0, max * 8) : text;
  const escaped = input
    .split('\\')
    .map((part) => sanitize(part, Number.POSITIVE_INFINITY))
    .join('\\');
  return clipEscaped(escaped, max);
}

/** Untrusted text for Slack prose: made {@link inert}, cut to `max` characters, then Slack-escaped. */
export function slackText(untrusted: string, max: number): string {
  return slackEscape(inert(untrusted, max).replace(/`/g, '\u02cb'));
}

/**
 * Untrusted text for the inside of a code span or block: as {@link slackText}, and line breaks
 * are already escaped by `sanitize`, so neither a backtick nor a new line can end the span.
 */
export function slackCodeText(untrusted: string, max: number): string {
  return slackText(untrusted, max);
}

/** An inline code span around untrusted text; an empty value is shown as an empty pair of quotes. */
export function slackCode(untrusted: string, max: number): string {
  const inner = slackCodeText(untrusted, max);
  return inner === '' ? '""' : `\`${inner}\``;
}

/**
 * Cuts text that {@link slackEscape} produced to at most `max` characters (an ellipsis marks
 * the cut), never inside an entity (`&amp;`) or a surrogate pair.
 */
export function clipSlack(escaped: string, max: number): string {
  if (escaped.length <= max) return escaped;
  let end = Math.max(0, max - 1);
  const amp = escaped.lastIndexOf('&', end);
  if (amp >= 0 && amp < end) {
    const semi = escaped.indexOf(';', amp);
    if (semi >= end && semi - amp <= 5) end = amp;
  }
  const before = escaped.charCodeAt(end - 1);
  if (before >= 0xd800 && before <= 0xdbff) end--;
  return `${escaped.slice(0, end)}…`;
}
