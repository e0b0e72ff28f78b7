import { InputError } from '../errors.js';
import { Field, TemplateParser, type Token } from './template.js';

const VARIABLES: Record<string, Field> = {
  remote_addr: Field.Peer,
  realip_remote_addr: Field.Peer,
  time_local: Field.TimeClf,
  time_iso8601: Field.TimeIso,
  msec: Field.TimeEpochSeconds,
  request: Field.Request,
  request_method: Field.Method,
  request_uri: Field.Target,
  uri: Field.Path,
  document_uri: Field.Path,
  args: Field.Query,
  query_string: Field.Query,
  server_protocol: Field.Protocol,
  status: Field.Status,
  body_bytes_sent: Field.Bytes,
  bytes_sent: Field.Bytes,
  http_referer: Field.Referer,
  http_user_agent: Field.UserAgent,
  http_x_forwarded_for: Field.ForwardedFor,
  proxy_add_x_forwarded_for: Field.ForwardedFor,
  host: Field.Host,
  http_host: Field.Host,
  server_name: Field.Host,
  server_port: Field.Port,
};

/** Turns an Nginx `log_format` string into tokens; unknown variables are read and ignored. */
export function tokenizeNginxFormat(format: string): Token[] {
  const f = format.replace(/'\s*'/g, '').replace(/^'|'$/g, ''); // joined multi-line log_format
  const tokens: Token[] = [];
  let lit = '';
  let i = 0;
  while (i < f.length) {
    const c = f[i] as string;
    if (c !== '$') {
      lit += c;
      i++;
      continue;
    }
    let name: string;
    if (f[i + 1] === '{') {
      const close = f.indexOf('}', i);
      if (close < 0) throw new InputError(`log_format "${format}": unclosed \${ at column ${i + 1}`);
      name = f.slice(i + 2, close);
      i = close + 1;
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(f.slice(i + 1));
      if (!m) throw new InputError(`log_format "${format}": a $ at column ${i + 1} is not followed by a variable name`);
      name = m[0];
      i += 1 + name.length;
    }
    if (name === 'is_args') continue; // "?" or "", logged between $uri and $args
    if (lit) tokens.push({ lit });
    lit = '';
    tokens.push({ field: VARIABLES[name] ?? Field.Ignore, name: `$${name}` });
  }
  if (lit) tokens.push({ lit });
  return tokens;
}

/** Builds a parser for an Nginx `log_format` string. */
export function nginxParser(format: string): TemplateParser {
  return new TemplateParser(`nginx:${format}`, tokenizeNginxFormat(format));
}
