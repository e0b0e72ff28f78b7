import { InputError } from '../errors.js';
import { Field, TemplateParser, type Token } from './template.js';

/** Apache's stock LogFormat nicknames (and the Nginx defaults that print the same text). */
export const APACHE_PRESETS: Record<string, string> = {
  common: '%h %l %u %t "%r" %>s %b',
  combined: '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
  /** Nginx's commented-out `main` format: combined plus X-Forwarded-For. */
  combined_xff: '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i"',
  /** The `:%p` is optional in the lines read: hand-written variants often log `%v` alone. */
  vhost_combined: '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
  vhost_common: '%v %h %l %u %t "%r" %>s %b',
};

const HEADER_FIELDS: Record<string, Field> = {
  referer: Field.Referer,
  'user-agent': Field.UserAgent,
  'x-forwarded-for': Field.ForwardedFor,
  host: Field.Host,
};

function directiveField(letter: string, arg: string | undefined): Field {
  switch (letter) {
    case 'h':
    case 'a':
      return Field.Peer;
    case 't':
      if (arg === undefined) return Field.TimeClf;
      if (arg === 'sec') return Field.TimeEpochSeconds;
      if (arg === 'msec') return Field.TimeEpochMillis;
      if (arg === '%Y-%m-%dT%H:%M:%S%z' || arg === '%FT%T%z' || arg === '%Y-%m-%dT%H:%M:%S') return Field.TimeIso;
      throw new InputError(`%{${arg}}t: only the default %t, %{sec}t, %{msec}t and ISO 8601 (%{%Y-%m-%dT%H:%M:%S%z}t) timestamps are supported`);
    case 'r':
      return Field.Request;
    case 'm':
      return Field.Method;
    case 'U':
      return Field.Path;
    case 'q':
      return Field.Query;
    case 'H':
      return Field.Protocol;
    case 's':
      return Field.Status;
    case 'b':
    case 'B':
    case 'O':
      return Field.Bytes;
    case 'v':
    case 'V':
      return Field.Host;
    case 'p':
      return Field.Port;
    case 'i':
      return HEADER_FIELDS[(arg ?? '').toLowerCase()] ?? Field.Ignore;
    case 'l':
    case 'u':
    case 'A':
    case 'D':
    case 'T':
    case 'P':
    case 'I':
    case 'S':
    case 'X':
    case 'k':
    case 'L':
    case 'R':
    case 'e':
    case 'n':
    case 'o':
    case 'C':
    case 'f':
      return Field.Ignore;
    default:
      throw new InputError(`unknown LogFormat directive %${letter}`);
  }
}

/** Turns an Apache `LogFormat` string (as written in httpd.conf, `\"` allowed) into tokens. */
export function tokenizeApacheFormat(format: string): Token[] {
  const f = format.replace(/\\(["tn\\])/g, (_m, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c));
  const tokens: Token[] = [];
  let lit = '';
  for (let i = 0; i < f.length; i++) {
    const c = f[i] as string;
    if (c !== '%') {
      lit += c;
      continue;
    }
    if (f[i + 1] === '%') {
      lit += '%';
      i++;
      continue;
    }
    let j = i + 1;
    const modStart = j;
    // Modifiers: status conditions (!200,304), < and > (original/final request).
    while (j < f.length && /[!<>,0-9]/.test(f[j] as string)) j++;
    let arg: string | undefined;
    if (f[j] === '{') {
      const close = f.indexOf('}', j);
      if (close < 0) throw new InputError(`LogFormat "${format}": unclosed %{ at column ${j + 1}`);
      arg = f.slice(j + 1, close);
      j = close + 1;
    }
    const letter = f[j];
    if (letter === undefined) throw new InputError(`LogFormat "${format}": it ends in the middle of a directive`);
    if (lit) tokens.push({ lit });
    lit = '';
    const mods = f.slice(modStart, arg === undefined ? j : f.lastIndexOf('{', j));
    tokens.push({ field: directiveField(letter, arg), name: `%${mods}${arg === undefined ? '' : `{${arg}}`}${letter}` });
    i = j;
  }
  if (lit) tokens.push({ lit });
  return tokens;
}

/** Builds a parser for an Apache `LogFormat` string or one of its nicknames. */
export function apacheParser(formatOrNickname: string, name?: string): TemplateParser {
  const preset = APACHE_PRESETS[formatOrNickname];
  const format = preset ?? formatOrNickname;
  return new TemplateParser(name ?? (preset ? formatOrNickname : `apache:${format}`), tokenizeApacheFormat(format));
}
