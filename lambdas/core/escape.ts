/**
 * Attacker-controlled strings (paths, user agents, referers, client addresses, object keys, file
 * names) end up in terminals, JSON documents, e-mails and chat tools. This makes them inert:
 * control characters (including ESC, so no terminal escape sequence survives), DEL, C1 controls,
 * bidirectional marks and overrides, invisible format characters (zero-width, soft hyphen, tag
 * characters that smuggle hidden text) and lone surrogates are written as visible \xNN / \u{NNNN}
 * escapes, a backslash as \\ (so no literal text can forge an escape), and the result is truncated.
 */
const UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\\]|\udb40[\udc00-\udc7f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeOne(ch: string): string {
  if (ch === '\\') return '\\\\';
  const code = ch.codePointAt(0) as number;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/**
 * Escapes unsafe characters and truncates to `max` characters (an ellipsis marks the cut). The
 * cut never splits an escape or a surrogate pair. Safe for every sink: terminal, JSON, e-mail,
 * subject lines, message attributes and log lines.
 */
export function sanitize(value: string, max = 200): string {
  // More than 4 × max input characters can never fit: the tail is not even looked at.
  const input = value.length > max * 4 ? value.slice(0, max * 4) : value;
  if (input.search(UNSAFE) < 0) return input.length > max ? cut(input, max, null) : input;
  const escapes: [number, number][] = [];
  let out = '';
  let last = 0;
  for (const m of input.matchAll(UNSAFE)) {
    out += input.slice(last, m.index);
    const e = escapeOne(m[0]);
    escapes.push([out.length, out.length + e.length]);
    out += e;
    last = m.index + m[0].length;
  }
  out += input.slice(last);
  return out.length > max ? cut(out, max, escapes) : out;
}

function cut(s: string, max: number, escapes: readonly [number, number][] | null): string {
  let end = Math.max(0, max - 1);
  for (const [a, b] of escapes ?? []) {
    if (a < end && end < b) {
      end = a;
      break;
    }
  }
  const before = s.charCodeAt(end - 1);
  if (before >= 0xd800 && before <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

/** The same escaping without truncation, for values that must stay whole (object keys, file names). */
export function escapeUntrusted(value: string): string {
  return sanitize(value, Number.POSITIVE_INFINITY);
}

/**
 * Truncates text that `sanitize` already escaped (no double escaping), never inside an escape
 * or a surrogate pair.
 */
export function clipEscaped(escaped: string, max: number): string {
  if (escaped.length <= max) return escaped;
  const limit = Math.max(0, max - 1);
  let i = 0;
  for (;;) {
    let next = i + 1;
    if (escaped.charCodeAt(i) === 0x5c) {
      const kind = escaped[i + 1];
      next = kind === 'x' ? i + 4 : kind === 'u' ? escaped.indexOf('}', i) + 1 || i + 2 : i + 2;
    } else if (escaped.charCodeAt(i) >= 0xd800 && escaped.charCodeAt(i) <= 0xdbff) next = i + 2;
    if (next > limit) break;
    i = next;
  }
  return `${escaped.slice(0, i)}…`;
}
