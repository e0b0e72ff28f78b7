import { InputError } from '../errors.js';
import type { LineParser } from '../model.js';
import { AlbParser } from './alb.js';
import { APACHE_PRESETS, apacheParser } from './apache.js';
import { type JsonFieldMap, JsonLinesParser } from './jsonl.js';
import { nginxParser } from './nginx.js';
import { W3cParser } from './w3c.js';

/** Names accepted by `--format` besides `apache:<LogFormat>` and `nginx:<log_format>`. */
export const FORMAT_NAMES = [...Object.keys(APACHE_PRESETS), 'alb', 'elb', 'cloudfront', 'w3c', 'iis', 'json'];

/** Builds the parser for a format name or format string. Throws InputError for bad specs. */
export function makeParser(spec: string, jsonFields: JsonFieldMap = {}): LineParser {
  const s = spec.trim();
  if (s.startsWith('apache:')) return apacheParser(s.slice(7));
  if (s.startsWith('nginx:')) return nginxParser(s.slice(6));
  if (APACHE_PRESETS[s]) return apacheParser(s);
  switch (s) {
    case 'alb':
      return new AlbParser('alb');
    case 'elb':
      return new AlbParser('elb');
    case 'cloudfront':
    case 'w3c':
    case 'iis':
      return new W3cParser();
    case 'json':
    case 'jsonl':
      return new JsonLinesParser(jsonFields);
  }
  if (s.includes('%')) return apacheParser(s);
  if (s.includes('$')) return nginxParser(s);
  throw new InputError(
    `unknown format "${spec}". Use one of ${FORMAT_NAMES.join(', ')}, or a format string: --format 'apache:%h %l %u %t "%r" %>s %b' or --format 'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'`,
  );
}

/** Candidates in order of specificity: on a tie, the earlier (stricter) one wins. */
const CANDIDATES = ['w3c', 'json', 'alb', 'elb', 'combined_xff', 'combined', 'vhost_combined', 'vhost_common', 'common'];

/** Result of auto-detection on the first lines of an object. */
export interface Detection {
  parser: LineParser;
  /** Share of the sample's lines that parsed (0–1). */
  confidence: number;
}

/**
 * Picks the format under which most of the sample parses. Comment and header lines (W3C
 * `#Fields`) count for the parser that understands them.
 */
export function detectFormat(sample: readonly string[], jsonFields: JsonFieldMap = {}): Detection {
  let best: Detection | null = null;
  for (const name of CANDIDATES) {
    const parser = makeParser(name, jsonFields);
    let ok = 0;
    let considered = 0;
    for (const line of sample) {
      if (line === '') continue;
      const r = parser.parse(line);
      if (r === null) {
        // Only real W3C directives speak for that format; other comment lines speak for none.
        if (name === 'w3c' && /^#(Fields|Version|Software|Date|Remark):/.test(line)) ok++;
        considered++;
        continue;
      }
      if (!r.ok && r.reason === 'not-http') continue; // a load balancer's TCP line: neutral
      considered++;
      if (r.ok) ok++;
    }
    const confidence = considered === 0 ? 0 : ok / considered;
    if (!best || confidence > best.confidence) best = { parser: makeParser(name, jsonFields), confidence };
  }
  return best as Detection;
}
