/**
 * Attacker-controlled strings (paths, user agents, referers) end up in terminals, e-mails and
 * chat tools. This makes them inert: control characters (including ESC, so no terminal escape
 * sequence survives), DEL, C1 controls, bidirectional overrides and zero-width characters are
 * written as visible \xNN / \u{NNNN} escapes, and the result is truncated.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\\]/g;

/** Escapes unsafe characters and truncates to `max` characters (an ellipsis marks the cut). */
export function sanitize(value: string, max = 200): string {
  let s = value.length > max * 4 ? value.slice(0, max * 4) : value;
  s = s.replace(UNSAFE, (ch) => {
    if (ch === '\\') return '\\\\';
    const code = ch.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
  if (s.length > max) s = `${s.slice(0, max - 1)}…`;
  return s;
}
