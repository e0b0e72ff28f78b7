import { setTarget } from '../formats/shared.js';
import { CidrSet, isInternal, isLoopback } from '../ip.js';
import { detach } from '../lines.js';
import { type LogRecord, emptyRecord, requestLineOf } from '../model.js';
import { pathHashNumber } from '../window.js';
import { compileRegex } from './linear-regex.js';
import { NeedleAutomaton } from './needles.js';
import type { Pattern, Rule, RuleClass, RuleMatch } from './types.js';

/** One label on one request: the category and the rule that gave it. */
export interface LabelHit {
  readonly category: string;
  readonly rule: Rule;
}

/** What the classifier says about one request. */
export interface Classification {
  /** One hit per category (the highest-scoring rule of that category). */
  readonly labels: readonly LabelHit[];
  /** Sum of the scores of the non-benign labels. */
  readonly score: number;
  /** The first high-confidence signature among the labels, if any. */
  readonly immediate: LabelHit | null;
  /** Normalised path when the request counts toward "distinct 4xx paths" (error burst). */
  readonly errorPath: string | null;
}

const NO_LABELS: Classification = Object.freeze({ labels: [], score: 0, immediate: null, errorPath: null });

type Test = (s: string) => boolean;

/** The value of one hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** The byte of the escape `%XX` at `i` (where `s[i]` is `%`), or -1 when it is not one. */
function escapedByte(s: string, i: number): number {
  if (i + 2 >= s.length || s.charCodeAt(i) !== 37) return -1;
  const hi = hexDigit(s.charCodeAt(i + 1));
  const lo = hexDigit(s.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

/**
 * Percent-decodes for matching, as `decodeURIComponent` does, but never throws: an escape that
 * is not part of a valid UTF-8 sequence (a stray `%`, `%ff`, a surrogate, an overlong form) is
 * left as it is and the rest is still decoded. One pass over the string, so hostile input
 * (thousands of `%25` or broken escapes) costs what plain text of its length costs.
 */
export function decodeForMatch(s: string): string {
  let i = s.indexOf('%');
  if (i < 0) return s;
  let out = '';
  let from = 0;
  while (i >= 0) {
    const b = escapedByte(s, i);
    let cp = -1;
    let end = i + 3;
    if (b < 0x80) cp = b;
    else {
      // Continuation bytes needed, and the range of the first (which rules out overlong forms,
      // surrogates and code points above U+10FFFF), as UTF-8 (RFC 3629) defines them.
      let need = 0;
      let lo = 0x80;
      let hi = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) {
        need = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        cp = b & 0x0f;
        if (b === 0xe0) lo = 0xa0;
        else if (b === 0xed) hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        cp = b & 0x07;
        if (b === 0xf0) lo = 0x90;
        else if (b === 0xf4) hi = 0x8f;
      }
      for (let k = 0; k < need; k++) {
        const c = escapedByte(s, end);
        if (c < lo || c > hi) {
          cp = -1;
          break;
        }
        cp = (cp << 6) | (c & 0x3f);
        end += 3;
        lo = 0x80;
        hi = 0xbf;
      }
      if (need === 0) cp = -1;
    }
    if (cp < 0) {
      // Not a valid escape: kept as written.
      i = s.indexOf('%', i + 1);
      continue;
    }
    out += s.slice(from, i) + String.fromCodePoint(cp);
    from = end;
    i = s.indexOf('%', end);
  }
  return from === 0 ? s : out + s.slice(from);
}

/**
 * Decoding passes at most: a double-encoded payload (`%252e`) needs two, `%%32%65` three. Input
 * still holding an escape after this many is hostile, and matching sees the last pass.
 */
export const MAX_DECODE_PASSES = 3;

/**
 * Trailing extensions at most cut off a file name to find the name under a decoy suffix
 * (`.env.js.map` → `.env.js` → `.env`). Bounded because every cut is one more string to test.
 */
export const MAX_DECOY_EXTENSIONS = 3;

/**
 * A file name is also tested as its first parts, up to this many (`.env.a.b.c.d` as `.env`;
 * `site.tar.gz.1.2.3.4` as `site`, `site.tar`, `site.tar.gz`), so adding decoy extensions never
 * hides a name of at most this many parts (every built-in one; a test keeps it so). With the
 * trailing cuts, every prefix of a name of up to `MAX_NAME_PARTS + MAX_DECOY_EXTENSIONS + 1`
 * parts is tested; a longer name leaves some in the middle untested and is counted.
 */
export const MAX_NAME_PARTS = 3;

/**
 * Extensions of scripts a server runs with the rest of the path handed to them (PATH_INFO):
 * `/phpinfo.php/x.css` runs phpinfo.php, so the path up to the script is read as a probe too.
 */
export const SCRIPT_EXTENSIONS: ReadonlySet<string> = new Set([
  'php',
  'php3',
  'php4',
  'php5',
  'php7',
  'phtml',
  'asp',
  'aspx',
  'ashx',
  'asmx',
  'axd',
  'jsp',
  'jspx',
  'do',
  'action',
  'cgi',
  'pl',
  'cfm',
  'exe',
  'dll',
]);

/**
 * Extensions of static assets: images, stylesheets, scripts, fonts and media. A missing one is a
 * broken link (the static-asset rule), and one below a file name is a decoy: `/.env/x.css` is read
 * as `/.env` too (see `decoySegments`).
 */
export const ASSET_EXTENSIONS: ReadonlySet<string> = new Set([
  'css',
  'js',
  'mjs',
  'map',
  'png',
  'jpg',
  'jpeg',
  'gif',
  'svg',
  'ico',
  'webp',
  'avif',
  'bmp',
  'woff',
  'woff2',
  'ttf',
  'eot',
  'otf',
  'mp4',
  'webm',
  'mp3',
  'ogg',
]);

/**
 * Secret file names without a dot (private SSH keys), as the secret-file rule lists them. A decoy
 * asset name below one is cut off as one below a dotted name is (`/id_rsa/x.png` is read as
 * `/id_rsa` too, see `decoySegments`); other dotless directories are not, since real assets live
 * in them (`/admin/app.js`, `/static/keys/logo.png`).
 */
export const DOTLESS_SECRET_FILES: readonly string[] = Object.freeze(['id_rsa', 'id_dsa', 'id_ecdsa', 'id_ed25519']);
const DOTLESS_SECRET_SET: ReadonlySet<string> = new Set(DOTLESS_SECRET_FILES);

/** The longest threshold window a rule may ask for: the aggregator keeps counts for a day. */
export const MAX_THRESHOLD_SECONDS = 86_400;

/** Counts of inputs that hit a limit of the classifier (shown to operators, never silent). */
export interface ClassifierLimitCounts {
  /** Request lines, user agents or headers still percent-encoded after `MAX_DECODE_PASSES`. */
  decodePassesExhausted: number;
  /** File names with more parts than the leading and trailing cuts cover (see `MAX_NAME_PARTS`). */
  decoyExtensionsCut: number;
  /** Paths and queries with a run of more combining marks than `MAX_COMBINING_RUN`, read as cut into runs. */
  combiningRunsCut: number;
}

// Overlong UTF-8 forms of `.`, `/` and `\` that old IIS and Tomcat decoded as the real thing.
const OVERLONG = /%c0%ae|%c0%af|%c1%9c|%c1%1c|%e0%80%ae|%e0%80%af|%c0%2e|%c0%2f|%c0%5c/gi;
const OVERLONG_AS: Record<string, string> = {
  '%c0%ae': '.',
  '%e0%80%ae': '.',
  '%c0%2e': '.',
  '%c0%af': '/',
  '%e0%80%af': '/',
  '%c0%2f': '/',
  '%c1%9c': '\\',
  '%c1%1c': '\\',
  '%c0%5c': '\\',
};
// IIS `%uXXXX` escapes (`%u002e`), which decodeURIComponent does not know.
const IIS_UNICODE = /%u([0-9a-f]{4})/gi;

/**
 * Decodes until nothing changes (at most `MAX_DECODE_PASSES`), so double encoding, `%%32%65`,
 * overlong UTF-8 and `%uXXXX` reach the rules as the characters a lenient server would see.
 * `limits` counts inputs that were still encoded after the last pass.
 */
export function decodeFully(s: string, limits?: ClassifierLimitCounts): string {
  let cur = s;
  for (let pass = 0; pass < MAX_DECODE_PASSES; pass++) {
    if (cur.indexOf('%') < 0) return cur;
    const next = decodeForMatch(
      cur.replace(OVERLONG, (m) => OVERLONG_AS[m.toLowerCase()] ?? m).replace(IIS_UNICODE, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    );
    if (next === cur) return cur;
    cur = next;
  }
  if (limits && /%[0-9a-f]{2}|%u[0-9a-f]{4}/i.test(cur)) limits.decodePassesExhausted++;
  return cur;
}

function commonStart(list: readonly string[]): string {
  let start = list[0] ?? '';
  for (const x of list) {
    let i = 0;
    while (i < start.length && i < x.length && start.charCodeAt(i) === x.charCodeAt(i)) i++;
    start = start.slice(0, i);
  }
  return start;
}

function compilePattern(p: Pattern, where: string): Test {
  const tests: Test[] = [];
  if (p.equals?.length) {
    const set = new Set(p.equals.map((x) => x.toLowerCase()));
    tests.push((s) => set.has(s));
  }
  if (p.prefix?.length) {
    const list = p.prefix.map((x) => x.toLowerCase());
    tests.push((s) => list.some((x) => s.startsWith(x)));
  }
  if (p.suffix?.length) {
    const list = p.suffix.map((x) => x.toLowerCase());
    tests.push((s) => list.some((x) => s.endsWith(x)));
  }
  if (p.contains?.length) {
    const list = p.contains.map((x) => x.toLowerCase());
    // Needles that share a start (`${jndi:`, `${lower:`…) are all absent when the start is.
    const gate = commonStart(list);
    tests.push(gate.length >= 2 ? (s) => s.includes(gate) && list.some((x) => s.includes(x)) : (s) => list.some((x) => s.includes(x)));
  }
  if (p.regex !== undefined) {
    // RE2, not the backtracking native engine: linear in the input whoever wrote the pattern.
    try {
      tests.push(compileRegex(p.regex));
    } catch (e) {
      throw new Error(`${where}.regex ${(e as Error).message}`);
    }
  }
  const globs = ROUTE_GLOBS.get(p);
  if (globs) tests.push(...globs.map(globTest));
  if (tests.length === 0) throw new Error(`${where}: a pattern needs at least one of equals, prefix, suffix, contains, regex`);
  if (tests.length === 1) return tests[0] as Test;
  return (s) => tests.some((t) => t(s));
}

function statusTest(specs: readonly string[]): (status: number) => boolean {
  const exact = new Set<number>();
  const classes = new Set<number>();
  for (const s of specs) {
    if (/^[1-5]xx$/i.test(s)) classes.add(Number(s[0]));
    else if (/^\d{3}$/.test(s)) exact.add(Number(s));
    else throw new Error(`status "${s}" is neither a code (404) nor a class (4xx)`);
  }
  return (status) => exact.has(status) || classes.has(Math.floor(status / 100));
}

/** The request-line facts every rule tests, computed once per distinct request line. */
interface RequestContext {
  method: string;
  rawTarget: string;
  /** Decoded once, as most servers do. */
  path: string;
  query: string;
  target: string;
  /** Decoded until stable (double encoding, overlong UTF-8); the same string when nothing changed. */
  deepPath: string;
  deepQuery: string;
  deepTarget: string;
  /**
   * The fully decoded path as a server resolves it (`resolvePath`), and the target made of it and
   * the query; the same strings as `deepPath` and `deepTarget` when resolving changed nothing.
   */
  normPath: string;
  normTarget: string;
  /** Non-empty path segments of the fully decoded path (split on `/` and `\`). */
  segments: readonly string[];
  /** The last segment and the same name without up to `MAX_DECOY_EXTENSIONS` trailing extensions. */
  fileNames: readonly string[];
  /** The same of the resolved path (the same arrays when resolving changed nothing). */
  normSegments: readonly string[];
  normFileNames: readonly string[];
  /**
   * The resolved path cut after the first script that takes the rest as PATH_INFO
   * (`/phpinfo.php/x.css` → `/phpinfo.php`, see `SCRIPT_EXTENSIONS`), or else before a decoy
   * asset name below a file name (`/.env/x.css` → `/.env`, see `decoySegments`), its target and
   * file names; null when neither applies. Read by probes only: an excuse must hold for the path
   * as requested.
   */
  infoPath: string | null;
  infoTarget: string | null;
  infoFileNames: readonly string[] | null;
  /** Query parameters as `name=value` (a bare `name` when it has no `=`), fully decoded. */
  params: readonly string[];
  /** The value of every parameter ("" for a bare name). */
  paramValues: readonly string[];
  /** Host named by an absolute-URI or authority-form target (no port), "" for origin form. */
  targetHost: string;
  protocol: string;
  request: string;
  malformed: boolean;
  length: number;
}

const NO_STRINGS: readonly string[] = Object.freeze([]);

function fileNamesOf(segments: readonly string[], path: string, limits: ClassifierLimitCounts): readonly string[] {
  if (segments.length === 0 || path.endsWith('/')) return NO_STRINGS;
  const name = segments[segments.length - 1] as string;
  const names = [name];
  let end = name.length;
  for (let cut = 0; cut < MAX_DECOY_EXTENSIONS; cut++) {
    const dot = name.lastIndexOf('.', end - 1);
    // A leading dot starts a hidden name (`.env`), not an extension.
    if (dot <= 0) return names;
    end = dot;
    names.push(name.slice(0, end));
  }
  // More extensions than the trailing cuts: the name is also tested as its first parts. (Only
  // here: a name of fewer parts had every prefix tested above.)
  let dot = 0;
  for (let part = 0; part < MAX_NAME_PARTS; part++) {
    dot = name.indexOf('.', dot + 1);
    if (dot < 0 || dot >= end) return names;
    names.push(name.slice(0, dot));
  }
  if (name.lastIndexOf('.', end - 1) > dot) limits.decoyExtensionsCut++;
  return names;
}

function paramsOf(query: string): { params: readonly string[]; values: readonly string[] } {
  if (query === '') return { params: NO_STRINGS, values: NO_STRINGS };
  const params: string[] = [];
  const values: string[] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    params.push(part);
    const eq = part.indexOf('=');
    values.push(eq < 0 ? '' : part.slice(eq + 1));
  }
  return { params, values };
}

function targetHostOf(target: string, method: string): string {
  let authority = '';
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(target);
  if (scheme) {
    const rest = target.slice(scheme[0].length);
    const end = rest.search(/[/?#]/);
    authority = end < 0 ? rest : rest.slice(0, end);
  } else if (method === 'CONNECT') authority = target;
  else return '';
  const at = authority.lastIndexOf('@');
  const hostPort = (at < 0 ? authority : authority.slice(at + 1)).toLowerCase();
  if (hostPort.startsWith('[')) return hostPort.slice(0, hostPort.indexOf(']') + 1);
  const colon = hostPort.indexOf(':');
  return colon < 0 ? hostPort : hostPort.slice(0, colon);
}

/**
 * Whether `resolvePath` can change a path: it holds a character or sequence a server removes or
 * rewrites. Most paths hold none, and are then used as they are.
 */
function needsResolving(p: string): boolean {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const c = p.charCodeAt(i);
    if (c === 59 /* ; */ || c === 92 /* \ */ || c === 0 || c === 63 /* ? */ || c === 35 /* # */ || c >= 128) return true;
    if (c === 47 /* / */) {
      const next = p.charCodeAt(i + 1);
      if (next === 47 || next === 46 || (i === n - 1 && i > 0)) return true;
    } else if (c === 46 /* . */ || c === 32) {
      const next = p.charCodeAt(i + 1);
      if (next === 47 || i === n - 1) return true;
    } else if (c === 58 /* : */ && p.startsWith('::$', i)) return true;
  }
  return false;
}

// Look-alikes that NFKC leaves as they are (it folds `．`, `／`, `＼`, `․`, `﹒` itself): of `/` and
// `\`, and U+3002 IDEOGRAPHIC FULL STOP `。`, which NFKC also makes of U+FF61 HALFWIDTH
// IDEOGRAPHIC FULL STOP `｡` and U+FE12 (vertical form). No normalisation form turns `。` into `.`,
// but IDNA (UTS #46) maps all three to `.` as label separators, and URL and host handling built on
// it (WHATWG URL hosts, IDNA libraries reused on paths, proxies that "clean" URLs) may do the
// same: `/。env` is read as `/.env`. The cost is that CJK text ending a sentence in a path is read
// with a `.` there (`/wiki/こんにちは。` resolves to `/wiki/こんにちは`, the trailing dot dropped),
// which names no probe; in a query, see `QUERY_SEGMENT_STOPS`.
const SLASH_LOOKALIKES = /[\u2044\u2215\u29f8\u2216\u29f5\u29f9]/g;
const LOOKALIKE_AS: Record<string, string> = {
  '\u2044': '/',
  '\u2215': '/',
  '\u29f8': '/',
  '\u2216': '\\',
  '\u29f5': '\\',
  '\u29f9': '\\',
};
const IDEOGRAPHIC_STOPS = /\u3002/g;
// In a query, a run of ideographic full stops is read as dots only where it starts a segment (at
// the start of a name or value, or after `/`, `\`, `=`, `&`, `.`, `:` or `;`): only a whole `..`
// segment climbs a directory (`c:。。\windows` is `c:..\windows`), while CJK text puts its full
// stops right after the words, so `?q=こんにちは。。/` stays text and `?file=。。/。。/etc/passwd` is
// still `../../etc/passwd`.
const QUERY_SEGMENT_STOPS = /(^|[/\\=&.:;])(\u3002+)/g;
const NON_ASCII = /[\u0080-\uffff]/;

function fold(s: string, query: boolean, limits?: ClassifierLimitCounts): string {
  if (!NON_ASCII.test(s)) return s;
  const lower = s.toLowerCase();
  const cut = cutCombiningRuns(lower);
  if (cut !== lower && limits) limits.combiningRunsCut++;
  const n = cut.normalize('NFKC').replace(SLASH_LOOKALIKES, (c) => LOOKALIKE_AS[c] ?? c);
  // Cut again after: a decomposition (U+0344 is two marks) or lower-casing (`İ` gains U+0307) can
  // lengthen a run, and the fold of a folded string must be the string itself.
  const f = cutCombiningRuns(
    (query
      ? n.replace(QUERY_SEGMENT_STOPS, (_m, before: string, stops: string) => before + '.'.repeat(stops.length))
      : n.replace(IDEOGRAPHIC_STOPS, '.')
    ).toLowerCase(),
  );
  return f === s ? s : f;
}

/**
 * Combining marks in a row at most that are normalised together; a longer run is read as runs of
 * this many, each closed by U+034F COMBINING GRAPHEME JOINER (a starter that joins nothing), as
 * Unicode's Stream-Safe Text Format (UAX #15) does. Normalisation puts each run of marks in
 * canonical order by an insertion sort: a run of marks of alternating classes (U+0301 U+0316 …)
 * costs the square of its length, and one path of 128,000 marks took 16 s. Cut, a run costs at
 * most this many squared. No look-alike of ASCII is a mark, and a run this long is no text, so no
 * reading a rule looks for changes.
 */
export const MAX_COMBINING_RUN = 30;
/**
 * Characters normalisation reorders as combining marks: marks (other than U+034F, which is a
 * starter), and those whose compatibility decomposition starts with one (the half-width voiced
 * sound marks, Thai and Lao SARA AM). A test checks every code point against `isMark`.
 */
const MARK = /^\p{M}$/u;
/** Starters whose compatibility decomposition starts with a mark (see `isMark`). */
const DECOMPOSE_TO_MARK: ReadonlySet<number> = new Set([0x0e33, 0x0eb3, 0xff9e, 0xff9f]);
/** U+034F COMBINING GRAPHEME JOINER: a mark by category, but a starter. */
const CGJ = 0x034f;
/** The first mark: every code unit below it is a starter. */
const FIRST_MARK = 0x300;
/** `isMark` of each code point once asked: 0 not yet, 1 a mark, 2 not one (made at the first). */
let marks: Uint8Array | null = null;

function isMark(c: number): boolean {
  if (marks === null) marks = new Uint8Array(0x110000);
  let k = marks[c] as number;
  if (k === 0) {
    k = c !== CGJ && (DECOMPOSE_TO_MARK.has(c) || MARK.test(String.fromCodePoint(c))) ? 1 : 2;
    marks[c] = k;
  }
  return k === 1;
}

/** `s` with U+034F after every `MAX_COMBINING_RUN` marks of a longer run (see there); `s` itself when it has none. One pass. */
export function cutCombiningRuns(s: string): string {
  let run = 0;
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < FIRST_MARK) {
      run = 0;
      continue;
    }
    const at = i;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const low = s.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (!isMark(c)) run = 0;
    else if (run < MAX_COMBINING_RUN) run++;
    else {
      out += `${s.slice(from, at)}\u034f`;
      from = at;
      run = 1;
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

/**
 * A lower-cased string with Unicode look-alikes of ASCII folded into it, as IIS and frameworks
 * that normalise (NFKC) do: full-width `．／＼` and letters, `․` (one dot leader), `∕` (division
 * slash); and the ideographic full stops `。｡`, as IDNA does (see `IDEOGRAPHIC_STOPS`; a query
 * folds them only where they start a segment, see `foldQueryLookalikes`). ASCII
 * is returned as it is, without normalising: the fold costs one scan for a non-ASCII character.
 * A run of more than `MAX_COMBINING_RUN` combining marks is read cut into runs of that many
 * (counted in `limits.combiningRunsCut`), so the fold is linear in the length. Idempotent.
 */
export function foldLookalikes(s: string, limits?: ClassifierLimitCounts): string {
  return fold(s, false, limits);
}

/**
 * A query, or a parameter or value of one, folded as `foldLookalikes` folds a path, except that
 * ideographic full stops become dots only where they start a segment (`QUERY_SEGMENT_STOPS`).
 * Idempotent.
 */
export function foldQueryLookalikes(s: string, limits?: ClassifierLimitCounts): string {
  return fold(s, true, limits);
}

/**
 * A decoded, lower-cased path as a server resolves it before looking it up, so that rewrites
 * which name the same resource do not hide it from the rules: Unicode look-alikes folded
 * (`foldLookalikes`), cut at a NUL (C string APIs) or at
 * a decoded `?` or `#` (a proxy that decodes once hands them on as delimiters), `\` read as `/`
 * (IIS), `;params` dropped from each segment (Tomcat and other Java servers), trailing dots,
 * spaces and an NTFS stream name (`::$DATA`) dropped from each segment (Windows), empty and `.`
 * segments dropped, `seg/..` resolved (never above the root), and no trailing `/`. A path that
 * does not start with `/` (`*`, an authority, junk) is returned as it is.
 */
export function resolvePath(p: string, limits?: ClassifierLimitCounts): string {
  if (!needsResolving(p)) return p;
  const q = foldLookalikes(p, limits);
  const c0 = q.charCodeAt(0);
  if (c0 !== 47 && c0 !== 92) return p;
  let end = q.length;
  for (const stop of ['\u0000', '?', '#']) {
    const at = q.indexOf(stop);
    if (at >= 0 && at < end) end = at;
  }
  const out: string[] = [];
  for (const raw of q.slice(0, end).split(/[/\\]/)) {
    let seg = raw;
    const semi = seg.indexOf(';');
    if (semi >= 0) seg = seg.slice(0, semi);
    const stream = seg.indexOf('::$');
    if (stream >= 0) seg = seg.slice(0, stream);
    let e = seg.length;
    while (e > 0 && seg.charCodeAt(e - 1) === 32) e--;
    seg = seg.slice(0, e);
    if (seg !== '.' && seg !== '..') {
      while (e > 0 && (seg.charCodeAt(e - 1) === 46 || seg.charCodeAt(e - 1) === 32)) e--;
      seg = seg.slice(0, e);
    }
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const resolved = `/${out.join('/')}`;
  return resolved === p ? p : resolved;
}

/** Record fields re-read from a target logged with spaces around it (`GET  /.env HTTP/1.1`). */
const trimmed = emptyRecord('');

function segmentsOf(path: string): readonly string[] {
  return path.split(/[/\\]/).filter((x) => x !== '');
}

/**
 * Script extensions that are also country domains (`example.pl`, `example.do`), which image
 * proxies and redirectors put in a path: not read as a script with PATH_INFO (their assets are
 * still no excuse, see the static-asset rule).
 */
const HOST_LIKE_EXTENSIONS: ReadonlySet<string> = new Set(['pl', 'do']);

/**
 * How many segments of a resolved path lead up to the file name a decoy asset name follows
 * (`/.env/x.css`, `/backup.sql/a/b.png`, `/id_rsa/x.png`: the nearest segment before the last that
 * holds a dot or is a secret name without one); 0 when the last segment is no asset name
 * (`ASSET_EXTENSIONS`) or no earlier segment is such a name. A server that serves the longest
 * existing file of a path (Apache's `AcceptPathInfo`, routes that ignore what follows) answers
 * with that file, and a cache or a filter that trusts the extension takes it for a stylesheet (web
 * cache deception). Any other name without a dot is passed over: directories of real assets are
 * named so (`/admin/app.js`), so only the few in `DOTLESS_SECRET_FILES` are cut at.
 */
function decoySegments(segments: readonly string[]): number {
  const last = segments[segments.length - 1] as string;
  const dot = last.lastIndexOf('.');
  if (dot < 0 || !ASSET_EXTENSIONS.has(last.slice(dot + 1))) return 0;
  for (let i = segments.length - 2; i >= 0; i--) {
    const seg = segments[i] as string;
    const at = seg.lastIndexOf('.');
    if (at < 0) {
      if (DOTLESS_SECRET_SET.has(seg)) return i + 1;
      continue;
    }
    // A script extension here is one `scriptSegments` passed over: a host name in an image
    // proxy's path (`/proxy/www.example.pl/logo.png`), not a file.
    return SCRIPT_EXTENSIONS.has(seg.slice(at + 1)) ? 0 : i + 1;
  }
  return 0;
}

/** How many segments of a resolved path lead up to its first script with more path after it; 0 when none. */
function scriptSegments(segments: readonly string[]): number {
  for (let i = 0; i < segments.length - 1; i++) {
    const seg = segments[i] as string;
    const dot = seg.lastIndexOf('.');
    if (dot <= 0) continue;
    const ext = seg.slice(dot + 1);
    if (SCRIPT_EXTENSIONS.has(ext) && !HOST_LIKE_EXTENSIONS.has(ext)) return i + 1;
  }
  return 0;
}

function requestContext(r: LogRecord, limits: ClassifierLimitCounts): RequestContext {
  // A target with spaces around it is read as the server reads it: without them.
  let rec = r;
  const t0 = r.target.charCodeAt(0);
  const tn = r.target.charCodeAt(r.target.length - 1);
  if (t0 === 32 || t0 === 9 || tn === 32 || tn === 9) {
    setTarget(trimmed, r.target.trim());
    rec = trimmed;
  }
  // Cached beyond this line: every string is detached from the chunk it was cut from.
  const path = detach(decodeForMatch(rec.path).toLowerCase());
  const rawQuery = rec.query.replace(/\+/g, ' ');
  const query = detach(decodeForMatch(rawQuery).toLowerCase());
  // Later passes can yield capitals (`%254A` → `J`): lower-case again.
  const deepPath = path.indexOf('%') < 0 ? path : detach(decodeFully(path, limits).toLowerCase());
  // Look-alikes folded in the query too (`?file=．．／etc/passwd`): only when it holds non-ASCII.
  const deepQuery = foldQueryLookalikes(query.indexOf('%') < 0 ? query : detach(decodeFully(query, limits).toLowerCase()), limits);
  const normPath = resolvePath(deepPath, limits);
  const segments = segmentsOf(deepPath);
  const cutBefore = limits.decoyExtensionsCut;
  const fileNames = fileNamesOf(segments, deepPath, limits);
  // Parameters split before decoding, so an encoded `&` or `=` stays inside its value; without
  // any escape the decoded query splits the same and its parts are already detached.
  const encoded = rawQuery.indexOf('%') >= 0;
  const split = paramsOf(encoded ? rawQuery : query);
  const decode = encoded ? (x: string) => foldQueryLookalikes(detach(decodeFully(x, limits).toLowerCase())) : (x: string) => x;
  const folded = !encoded && query !== deepQuery;
  // Parts of the query, whose cut runs the query counted.
  const foldPart = (x: string) => foldQueryLookalikes(x);
  const method = detach(r.method);
  const target = query ? `${path}?${query}` : path;
  const deepTarget = deepPath === path && deepQuery === query ? target : deepQuery ? `${deepPath}?${deepQuery}` : deepPath;
  let normTarget = deepTarget;
  let normSegments = segments;
  let normFileNames = fileNames;
  if (normPath !== deepPath) {
    normTarget = deepQuery ? `${normPath}?${deepQuery}` : normPath;
    normSegments = segmentsOf(normPath);
    // A name cut in both forms is counted once.
    normFileNames = fileNamesOf(normSegments, normPath, limits.decoyExtensionsCut === cutBefore ? limits : { ...limits });
  }
  let infoPath: string | null = null;
  let infoTarget: string | null = null;
  let infoFileNames: readonly string[] | null = null;
  // Only a dot before the last `/` can end a script with a path after it (most paths have
  // none), and only a dot in the path can end a decoy asset name.
  const firstDot = normPath.indexOf('.');
  const mayCut = firstDot > 0 && normPath.charCodeAt(0) === 47;
  const dotBeforeName = mayCut && firstDot < normPath.lastIndexOf('/');
  const cut = mayCut ? (dotBeforeName && scriptSegments(normSegments)) || decoySegments(normSegments) : 0;
  if (cut > 0) {
    const infoSegments = normSegments.slice(0, cut);
    infoPath = `/${infoSegments.join('/')}`;
    infoTarget = deepQuery ? `${infoPath}?${deepQuery}` : infoPath;
    // The cut name's own limits: counted with the name of the whole path, if at all.
    infoFileNames = fileNamesOf(infoSegments, infoPath, { ...limits });
  }
  return {
    method,
    rawTarget: detach(r.target),
    path,
    query,
    target,
    deepPath,
    deepQuery,
    deepTarget,
    normPath,
    normTarget,
    segments,
    fileNames,
    normSegments,
    normFileNames,
    infoPath,
    infoTarget,
    infoFileNames,
    params: split.params === NO_STRINGS || !(encoded || folded) ? split.params : split.params.map(encoded ? decode : foldPart),
    paramValues: split.values === NO_STRINGS || !(encoded || folded) ? split.values : split.values.map(encoded ? decode : foldPart),
    targetHost: targetHostOf(rec.target, method),
    protocol: detach(r.protocol),
    request: detach(r.request.toLowerCase()),
    malformed: r.requestMalformed,
    length: r.request.length || r.target.length,
  };
}

/**
 * Where a rule is first tested: once per distinct request line, once per distinct user agent,
 * once per distinct value of any attacker-controlled field (`anyField`), or on every record.
 */
type Side = 'request' | 'agent' | 'any' | 'record';

type RecordTest = (r: LogRecord, c: RequestContext) => boolean;

interface Compiled {
  rule: Rule;
  side: Side;
  request: ((c: RequestContext) => boolean) | null;
  agent: Test | null;
  any: Test | null;
  record: RecordTest | null;
  unless: ((r: LogRecord, c: RequestContext, agent: string) => boolean) | null;
  /** The rule reads the record's peer address or Host (so a verdict cannot be reused across them). */
  peerOrHost: boolean;
}

/** The logged Host (vhost), without port, lower-cased; "" when the format did not log one. */
function hostOf(r: LogRecord): string {
  const h = r.host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/**
 * How a condition reads a request whose path has several readings (decoded once, decoded until
 * stable, resolved as a server would): `some` holds when any reading matches (a probe must not
 * hide behind a rewrite), `every` only when the resolved path matches too (an excuse must hold
 * for the resource the server would really look up: `/.env;.css` is no stylesheet).
 */
type Readings = 'some' | 'every';

function compileMatch(m: RuleMatch, where: string, readings: Readings) {
  const req: ((c: RequestContext) => boolean)[] = [];
  if (m.method) {
    const set = new Set(m.method.map((x) => x.toUpperCase()));
    req.push((c) => set.has(c.method));
  }
  // Decoded fields are tested as decoded once and, when it differs, as decoded until stable;
  // paths and targets also as resolved when that differs.
  // A probe also reads the path up to a script that takes the rest as PATH_INFO.
  const decoded = { path: 'deepPath', query: 'deepQuery', target: 'deepTarget' } as const;
  const resolved = { path: 'normPath', query: null, target: 'normTarget' } as const;
  const script = { path: 'infoPath', query: null, target: 'infoTarget' } as const;
  for (const name of ['path', 'query', 'target'] as const) {
    const p = m[name];
    if (!p) continue;
    const t = compilePattern(p, `${where}.${name}`);
    const deep = decoded[name];
    const norm = resolved[name];
    const info = script[name];
    if (norm === null || info === null) req.push((c) => t(c[name]) || (c[deep] !== c[name] && t(c[deep])));
    else if (readings === 'some') {
      req.push((c) => t(c[name]) || (c[deep] !== c[name] && t(c[deep])) || (c[norm] !== c[deep] && t(c[norm])) || (c[info] !== null && t(c[info] as string)));
    } else req.push((c) => (t(c[name]) || (c[deep] !== c[name] && t(c[deep]))) && (c[norm] === c[deep] || t(c[norm])));
  }
  if (m.rawTarget) {
    const t = compilePattern(m.rawTarget, `${where}.rawTarget`);
    req.push((c) => t(c.rawTarget.toLowerCase()));
  }
  if (m.request) {
    const t = compilePattern(m.request, `${where}.request`);
    req.push((c) => t(c.request));
  }
  const list = (name: 'segment' | 'file' | 'param' | 'paramValue', of: (c: RequestContext) => readonly string[]) => {
    const p = m[name];
    if (!p) return;
    const t = compilePattern(p, `${where}.${name}`);
    req.push((c) => of(c).some(t));
  };
  // Segments and file names of the decoded and of the resolved path (the same arrays when
  // resolving changed nothing).
  const both = (name: 'segment' | 'file', of: (c: RequestContext) => readonly string[], ofNorm: (c: RequestContext) => readonly string[]) => {
    const p = m[name];
    if (!p) return;
    const t = compilePattern(p, `${where}.${name}`);
    if (readings === 'some') {
      if (name === 'file') req.push((c) => of(c).some(t) || (ofNorm(c) !== of(c) && ofNorm(c).some(t)) || (c.infoFileNames?.some(t) ?? false));
      // The segments up to a script are among those of the resolved path.
      else req.push((c) => of(c).some(t) || (ofNorm(c) !== of(c) && ofNorm(c).some(t)));
    } else req.push((c) => of(c).some(t) && (ofNorm(c) === of(c) || ofNorm(c).some(t)));
  };
  both(
    'segment',
    (c) => c.segments,
    (c) => c.normSegments,
  );
  both(
    'file',
    (c) => c.fileNames,
    (c) => c.normFileNames,
  );
  list('param', (c) => c.params);
  list('paramValue', (c) => c.paramValues);
  if (m.protocol) {
    const set = new Set(m.protocol.map((x) => x.toUpperCase()));
    req.push((c) => set.has(c.protocol.toUpperCase()));
  }
  if (m.malformed !== undefined) {
    const want = m.malformed;
    req.push((c) => c.malformed === want);
  }
  if (m.minLength !== undefined) {
    const min = m.minLength;
    req.push((c) => c.length > min);
  }
  const agent = m.userAgent ? compilePattern(m.userAgent, `${where}.userAgent`) : null;
  const rec: RecordTest[] = [];
  if (m.status) {
    const t = statusTest(m.status);
    rec.push((r) => t(r.status));
  }
  if (m.notStatus) {
    const t = statusTest(m.notStatus);
    rec.push((r) => !t(r.status));
  }
  // Where the request came from: behind a trusted proxy the client it forwarded, not the proxy
  // (an outside scanner sending a monitor's user agent through the load balancer is outside).
  if (m.peer === 'loopback') rec.push((r) => isLoopback(r.clientIp));
  else if (m.peer === 'internal') rec.push((r) => isInternal(r.clientIp));
  else if (m.peer !== undefined) throw new Error(`${where}.peer must be "loopback" or "internal"`);
  if (m.ownHost !== undefined) {
    const want = m.ownHost;
    rec.push((r, c) => {
      const host = c.targetHost === '' ? '' : hostOf(r);
      return (host !== '' && host === c.targetHost) === want;
    });
  }
  const any = m.anyField ? compilePattern(m.anyField, `${where}.anyField`) : null;
  const all = <T extends unknown[]>(fs: ((...a: T) => boolean)[]) =>
    fs.length === 0 ? null : fs.length === 1 ? (fs[0] as (...a: T) => boolean) : (...a: T) => fs.every((f) => f(...a));
  return { request: all(req), agent, record: all(rec), any };
}

function compileRule(rule: Rule): Compiled {
  const where = `rule "${rule.id}"`;
  // A probe matches on any reading of the path, an excuse only on every one; `unless` is the
  // other way round (an exemption from a probe must hold for every reading).
  const readings: Readings = rule.class === 'benign' ? 'every' : 'some';
  const m = compileMatch(rule.match, `${where}.match`, readings);
  if (!m.request && !m.agent && !m.record && !m.any) throw new Error(`${where}: match has no condition`);
  let unless: Compiled['unless'] = null;
  if (rule.unless) {
    const u = compileMatch(rule.unless, `${where}.unless`, readings === 'some' ? 'every' : 'some');
    if (u.any) throw new Error(`${where}.unless: anyField cannot be used in unless`);
    unless = (r, c, agent) => (!u.request || u.request(c)) && (!u.agent || u.agent(agent)) && (!u.record || u.record(r, c));
  }
  if (rule.threshold && !(rule.threshold.count >= 1 && rule.threshold.windowSeconds > 0 && rule.threshold.windowSeconds <= MAX_THRESHOLD_SECONDS)) {
    throw new Error(`${where}.threshold: count must be ≥ 1 and windowSeconds between 1 and ${MAX_THRESHOLD_SECONDS}`);
  }
  if (rule.threshold?.per !== undefined && rule.threshold.per !== 'rule' && rule.threshold.per !== 'category') {
    throw new Error(`${where}.threshold.per must be "rule" or "category"`);
  }
  const side: Side = m.any ? 'any' : m.request ? 'request' : m.agent ? 'agent' : 'record';
  const peerOrHost = [rule.match, rule.unless].some((x) => x !== undefined && (x.peer !== undefined || x.ownHost !== undefined));
  return { rule, side, request: m.request, agent: m.agent, any: m.any, record: m.record, unless, peerOrHost };
}

/** Fields of a request-side match whose patterns can be reduced to needles (substrings). */
const NEEDLE_FIELDS = ['path', 'query', 'target', 'rawTarget', 'request', 'segment', 'file', 'param', 'paramValue'] as const;

/**
 * Needles at least one of which occurs (lower-cased) in the strings a request-side rule tests
 * whenever it matches, or null when the rule cannot be reduced so (its string conditions are
 * regexes or route globs, or it has none: a method, `malformed`, `minLength`). Every form of a
 * pattern (equals, prefix, suffix, contains) holds its needle as a substring of the tested
 * string, and every condition must hold, so any one condition's needles will do: the most
 * selective (longest shortest needle) is taken.
 */
export function requestNeedles(m: RuleMatch): string[] | null {
  let best: string[] | null = null;
  let bestMin = 0;
  for (const f of NEEDLE_FIELDS) {
    const p = m[f];
    if (!p || p.regex !== undefined || ROUTE_GLOBS.has(p)) continue;
    const list = [...(p.equals ?? []), ...(p.prefix ?? []), ...(p.suffix ?? []), ...(p.contains ?? [])].map((x) => x.toLowerCase());
    if (list.length === 0 || list.some((x) => x === '')) continue;
    let min = Number.POSITIVE_INFINITY;
    for (const x of list) min = Math.min(min, x.length);
    if (best === null || min > bestMin) {
      best = list;
      bestMin = min;
    }
  }
  return best;
}

/** Needles of one pattern (lower-cased), or null when it has a regex, a route glob or an empty needle. */
function patternNeedles(p: Pattern | undefined): string[] | null {
  if (!p || p.regex !== undefined || ROUTE_GLOBS.has(p)) return null;
  const list = [...(p.equals ?? []), ...(p.prefix ?? []), ...(p.suffix ?? []), ...(p.contains ?? [])].map((x) => x.toLowerCase());
  return list.length === 0 || list.some((x) => x === '') ? null : list;
}

/**
 * The rules of a list whose one pattern (`of`) can match a text already lower-cased: one
 * automaton pass finds the rules whose needles occur, and only those (and the rules without
 * needles) are tested, in list order.
 */
class PatternFilter {
  private readonly needles = new NeedleAutomaton();
  private readonly always: Uint8Array;
  private readonly found: Float64Array;
  private generation = 0;
  private readonly mark: (id: number) => void;

  constructor(
    private readonly list: readonly Compiled[],
    of: (c: Compiled) => Pattern | undefined,
    private readonly test: (c: Compiled, text: string) => boolean,
  ) {
    this.always = new Uint8Array(list.length);
    this.found = new Float64Array(list.length);
    list.forEach((c, i) => {
      const n = patternNeedles(of(c));
      if (n === null) this.always[i] = 1;
      else for (const x of n) this.needles.add(x, i);
    });
    this.needles.build();
    this.mark = (id) => {
      this.found[id] = this.generation;
    };
  }

  matching(text: string): readonly Compiled[] {
    this.generation++;
    this.needles.scan(text, this.mark);
    let out: Compiled[] | null = null;
    for (let i = 0; i < this.list.length; i++) {
      if (this.always[i] === 0 && this.found[i] !== this.generation) continue;
      const c = this.list[i] as Compiled;
      if (!this.test(c, text)) continue;
      if (out === null) out = [];
      out.push(c);
    }
    return out ?? NONE;
  }
}

/** One automaton over every anyField needle (ASCII case folded), or null when a rule has none. */
function anyFieldNeedles(rules: readonly Rule[]): NeedleAutomaton | null {
  const a = new NeedleAutomaton();
  for (const r of rules) {
    const p = r.match.anyField;
    if (!p || p.regex !== undefined) return null;
    const list = [...(p.equals ?? []), ...(p.prefix ?? []), ...(p.suffix ?? []), ...(p.contains ?? [])].map((x) => x.toLowerCase());
    if (list.length === 0 || list.some((x) => x === '')) return null;
    for (const n of list) a.add(n, 0);
  }
  return a.build(true);
}

/**
 * False only when no anyField rule can match `value`: it is plain ASCII without `%` (so decoding
 * and lower-casing change nothing but ASCII capitals) and holds no needle.
 */
function mayHoldNeedle(needles: NeedleAutomaton, value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || c === 37) return true;
  }
  return needles.has(value);
}

function anyFieldTrigger(rules: readonly Rule[]): RegExp | null {
  const chars = new Set<string>(['%']);
  for (const r of rules) {
    const p = r.match.anyField;
    if (!p) continue;
    if (p.regex !== undefined) return null;
    for (const needle of [...(p.equals ?? []), ...(p.prefix ?? []), ...(p.suffix ?? []), ...(p.contains ?? [])]) {
      const c = [...needle].find((ch) => !/[a-z0-9]/i.test(ch));
      if (c === undefined) return null;
      chars.add(c);
    }
  }
  return new RegExp(`[${[...chars].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}]`);
}

/**
 * Known-route globs with a star before the end (`/api/*\/items`), keyed by the pattern that
 * `knownRoutePattern` made for them; `compilePattern` matches them with `globTest`.
 */
const ROUTE_GLOBS = new WeakMap<Pattern, readonly string[]>();

/**
 * A route glob as a test: `*` stands for any run of characters except `?`. Linear in the path:
 * the literal pieces are found left to right, each at its first occurrence after the previous
 * one, which leaves the most room for the rest (a backtracking regex took 6.8 s for `/a/*\/*\/*\/b`
 * on one 4 KB path).
 */
export function globTest(glob: string): (path: string) => boolean {
  const parts = glob.split('*');
  const head = parts[0] as string;
  const tail = parts[parts.length - 1] as string;
  const middle = parts.slice(1, -1);
  const noQuery = (s: string, from: number, to: number) => {
    const q = s.indexOf('?', from);
    return q < 0 || q >= to;
  };
  return (s) => {
    const end = s.length - tail.length;
    if (end < head.length || !s.startsWith(head) || !s.endsWith(tail)) return false;
    let at = head.length;
    for (const piece of middle) {
      const i = s.indexOf(piece, at);
      if (i < 0 || i + piece.length > end || !noQuery(s, at, i)) return false;
      at = i + piece.length;
    }
    return noQuery(s, at, end);
  };
}

/** Turns a known-route spec (`/login`, `/cgi-bin/*`, `/api/*\/items`) into a pattern. */
export function knownRoutePattern(routes: readonly string[]): Pattern {
  const equals: string[] = [];
  const prefix: string[] = [];
  const globs: string[] = [];
  for (const raw of routes) {
    const route = raw.toLowerCase();
    const star = route.indexOf('*');
    if (star < 0) {
      const bare = route.length > 1 && route.endsWith('/') ? route.slice(0, -1) : route;
      equals.push(bare, `${bare}/`);
    } else if (star === route.length - 1) prefix.push(route.slice(0, -1));
    else globs.push(route);
  }
  const p: Pattern = {};
  if (equals.length) p.equals = equals;
  if (prefix.length) p.prefix = prefix;
  if (globs.length) ROUTE_GLOBS.set(p, globs);
  return p;
}

/** Options for the classifier besides the rules themselves. */
export interface ClassifierOptions {
  knownRoutes?: readonly string[];
  allowCidrs?: readonly string[];
  allowUserAgents?: readonly string[];
}

/** Entries of each classifier cache (request lines, user agents, referer and forwarded-for values) at most. */
export const CACHE_LIMIT = 20_000;
/**
 * Keys longer than this are not cached: a hostile log of distinct 8-KB fields would otherwise
 * fill each cache with hundreds of MB. Long fields are rare in real traffic, so skipping them
 * costs no speed there.
 */
export const MAX_CACHED_KEY = 1024;
const NONE: readonly Compiled[] = [];

/** A bounded memo: cleared when full, so hostile input cannot grow it without limit. */
function remember<V>(map: Map<string, V>, key: string, value: V): V {
  if (key.length > MAX_CACHED_KEY) return value;
  if (map.size >= CACHE_LIMIT) map.clear();
  map.set(detach(key), value);
  return value;
}

interface RequestInfo {
  ctx: RequestContext;
  rules: readonly Compiled[];
  any: readonly Compiled[];
  /**
   * Verdicts reached for this request line can be reused, by `agent id * 1000 + status`: the same
   * page fetched by the same browser gets the same labels, so most lines cost one comparison.
   * False when a verdict here can depend on more than that (a rule reads the peer or Host, or the
   * request line holds an anyField needle).
   */
  reusable: boolean;
  /**
   * Keys of the verdicts kept for this line and the verdicts, in the order reached (made with
   * the first one). A line sees a few agents and statuses: searching a short list of numbers
   * costs less than a map look-up.
   */
  verdictKeys: number[] | null;
  verdictValues: Classification[] | null;
  /** The verdict reached last, and its key (-1 before any). */
  lastVerdictKey: number;
  lastVerdict: Classification | null;
}

/** Slots of the filter that remembers request lines seen once (a hash each). */
const SEEN_ONCE_SLOTS = 1 << 16;

interface AgentInfo {
  /** Distinct per cached agent: part of the verdict key. */
  id: number;
  lower: string;
  rules: readonly Compiled[];
  any: readonly Compiled[];
  /** One of `rules` reads the peer or Host. */
  peerOrHost: boolean;
}

/** Verdicts kept per request line; cleared when full (then recomputed, never wrong). */
export const MAX_VERDICTS_PER_REQUEST = 64;

/**
 * Labels requests with rules. Conditions are evaluated once per distinct request line, user
 * agent, referer and X-Forwarded-For value (bounded caches), so a log of repeated pages costs a
 * few map look-ups per line.
 */
export class Classifier {
  private readonly requestRules: Compiled[] = [];
  private readonly agentRules: Compiled[] = [];
  private readonly anyRules: Compiled[] = [];
  private readonly recordRules: Compiled[] = [];
  private readonly byRequest = new Map<string, RequestInfo>();
  private readonly byAgent = new Map<string, AgentInfo>();
  private readonly byOtherField = new Map<string, readonly Compiled[]>();
  /** Hashes of request lines seen once and not cached (see `requestInfo`). */
  private readonly seenOnce = new Uint32Array(SEEN_ONCE_SLOTS);
  private readonly allowCidrs: CidrSet;
  /**
   * Characters at least one of which any `anyField` match needs, or null when some rule's
   * pattern cannot be reduced so (a regex, or a needle of letters only). Lower-casing does not
   * change them and percent-decoding needs a `%`, so a field holding none of them and no `%`
   * cannot match and skips the cache.
   */
  private readonly anyTrigger: RegExp | null;
  private lastAgent: AgentInfo | null = null;
  private agentIds = 0;
  /** Times a request line's verdict cache was full and cleared (speed only, never verdicts). */
  verdictsCleared = 0;
  /** The record `classify` saw last and its request line's facts (for `errorPathOf`). */
  private lastRecord: LogRecord | null = null;
  private lastInfo: RequestInfo | null = null;
  /** Rules (by index in `requestRules`) reduced to needles, and the automaton over them. */
  private readonly needles: NeedleAutomaton;
  /** Per request rule: 1 when it has no needles, so it is tested on every new request line. */
  private readonly alwaysTested: Uint8Array;
  /** Per request rule: the scan generation that found one of its needles. */
  private readonly found: Float64Array;
  private generation = 0;
  private readonly markFound: (id: number) => void;
  /** Some record-side rule reads the peer or Host. */
  private readonly recordPeerOrHost: boolean;
  /**
   * Every anyField needle, matched as if lower-cased, or null when some anyField rule cannot be
   * reduced to needles (a regex). A referer or X-Forwarded-For value of plain ASCII without `%`
   * is what the rules see once lower-cased, so when no needle occurs in it no anyField rule can
   * match, and the value is not decoded nor tested rule by rule.
   */
  private readonly anyNeedles: NeedleAutomaton | null;
  /** Agent rules and anyField rules, each found through its own needle automaton. */
  private readonly agentFilter: PatternFilter;
  private readonly anyFilter: PatternFilter;
  private lastOtherText = '';
  private lastOther: readonly Compiled[] = NONE;
  private lastAgentText = '';
  readonly rules: readonly Rule[];
  /** Inputs that hit a limit so far (see `ClassifierLimitCounts`). */
  readonly limits: ClassifierLimitCounts = { decodePassesExhausted: 0, decoyExtensionsCut: 0, combiningRunsCut: 0 };

  constructor(rules: readonly Rule[], options: ClassifierOptions = {}) {
    const all = [...rules];
    if (options.knownRoutes?.length) {
      all.push({
        id: 'known-route',
        category: 'known-route',
        class: 'benign',
        severity: 'info',
        score: 0,
        explain: "A route this site really has (from the configuration's knownRoutes): a 404 there is a broken link, not probing",
        // A served route needs no explaining; only errors on it would otherwise look like probing.
        match: { path: knownRoutePattern(options.knownRoutes), notStatus: ['2xx', '3xx'] },
        suppresses: ['probing'],
      });
    }
    if (options.allowUserAgents?.length) {
      all.push({
        id: 'allowlisted-agent',
        category: 'allowlisted',
        class: 'benign',
        severity: 'info',
        score: 0,
        explain: "A user agent on the configuration's allowlist",
        match: { userAgent: { contains: [...options.allowUserAgents] } },
        suppresses: ['probing', 'abuse', 'exploit', 'protocol', 'client'],
      });
    }
    this.rules = all;
    for (const rule of all) {
      const c = compileRule(rule);
      if (c.side === 'request') this.requestRules.push(c);
      else if (c.side === 'agent') this.agentRules.push(c);
      else if (c.side === 'any') this.anyRules.push(c);
      else this.recordRules.push(c);
    }
    this.allowCidrs = new CidrSet(options.allowCidrs ?? []);
    this.anyTrigger = anyFieldTrigger(all);
    this.recordPeerOrHost = this.recordRules.some((c) => c.peerOrHost);
    this.needles = new NeedleAutomaton();
    this.alwaysTested = new Uint8Array(this.requestRules.length);
    this.found = new Float64Array(this.requestRules.length);
    this.requestRules.forEach((c, i) => {
      const needles = requestNeedles(c.rule.match);
      if (needles === null) this.alwaysTested[i] = 1;
      else for (const n of needles) this.needles.add(n, i);
    });
    this.needles.build();
    this.anyNeedles = anyFieldNeedles(this.anyRules.map((c) => c.rule));
    this.agentFilter = new PatternFilter(
      this.agentRules,
      (c) => c.rule.match.userAgent,
      (c, t) => (c.agent as Test)(t),
    );
    this.anyFilter = new PatternFilter(
      this.anyRules,
      (c) => c.rule.match.anyField,
      (c, t) => (c.any as Test)(t),
    );
    this.markFound = (id) => {
      this.found[id] = this.generation;
    };
  }

  /** Request lines whose facts are cached now (for tests of the bound). */
  get cachedRequestLines(): number {
    return this.byRequest.size;
  }

  /** Referer and forwarded-for values whose anyField hits are cached now (for tests of the bound). */
  get cachedOtherValues(): number {
    return this.byOtherField.size;
  }

  /** True when the source address is allowlisted by CIDR (it is then never labelled). */
  isAllowlisted(ip: string): boolean {
    return this.allowCidrs.has(ip);
  }

  private anyMatches(text: string): readonly Compiled[] {
    if (this.anyRules.length === 0 || text === '') return NONE;
    return this.anyFilter.matching(text);
  }

  private requestInfo(r: LogRecord): RequestInfo {
    const key = r.requestMalformed ? `\u0001${r.request}` : requestLineOf(r);
    const info = this.byRequest.get(key);
    if (info !== undefined) return info;
    const ctx = requestContext(r, this.limits);
    const rules = this.requestRulesFor(ctx, r.query.indexOf('%') >= 0);
    const any = this.anyMatches(decodeFully(key, this.limits).toLowerCase());
    const reusable = any.length === 0 && !this.recordPeerOrHost && !rules.some((c) => c.peerOrHost);
    const fresh: RequestInfo = { ctx, rules, any, reusable, verdictKeys: null, verdictValues: null, lastVerdictKey: -1, lastVerdict: null };
    // Kept from its second sight on: a line seen once (a scanner's random path) is not cached,
    // so its facts die young instead of filling the cache and the old generation.
    if (key.length > MAX_CACHED_KEY) return fresh;
    const h = pathHashNumber(key) || 1; // FNV-1a; 0 is the filter's empty slot
    const slot = h & (SEEN_ONCE_SLOTS - 1);
    if (this.seenOnce[slot] !== h) {
      this.seenOnce[slot] = h;
      return fresh;
    }
    return remember(this.byRequest, key, fresh);
  }

  /**
   * The request rules that match a new request line, in rule order. One pass of the needle
   * automaton over each string the rules test finds the rules that can match; only those, and
   * the rules without needles, are tested. Paths and queries are parts of the targets, segments
   * and file names parts of the decoded or the resolved path, and parameters parts of the query unless they were
   * decoded apart (`encoded`), when they are scanned themselves.
   */
  private requestRulesFor(ctx: RequestContext, encoded: boolean): readonly Compiled[] {
    this.generation++;
    const mark = this.markFound;
    this.needles.scan(ctx.target, mark);
    if (ctx.deepTarget !== ctx.target) this.needles.scan(ctx.deepTarget, mark);
    if (ctx.normTarget !== ctx.deepTarget) this.needles.scan(ctx.normTarget, mark);
    if (ctx.infoTarget !== null) this.needles.scan(ctx.infoTarget, mark);
    this.needles.scan(ctx.rawTarget.toLowerCase(), mark);
    this.needles.scan(ctx.request, mark);
    if (encoded) {
      for (const p of ctx.params) this.needles.scan(p, mark);
      for (const v of ctx.paramValues) this.needles.scan(v, mark);
    }
    let rules: Compiled[] | null = null;
    const list = this.requestRules;
    for (let i = 0; i < list.length; i++) {
      if (this.alwaysTested[i] === 0 && this.found[i] !== this.generation) continue;
      const c = list[i] as Compiled;
      if (!(c.request as (x: RequestContext) => boolean)(ctx)) continue;
      if (rules === null) rules = [];
      rules.push(c);
    }
    return rules ?? NONE;
  }

  /** The request rules that match, tested one by one (the reference the automaton must agree with). */
  requestRuleIdsExhaustive(r: LogRecord): string[] {
    const ctx = requestContext(r, { decodePassesExhausted: 0, decoyExtensionsCut: 0, combiningRunsCut: 0 });
    return this.requestRules.filter((c) => (c.request as (x: RequestContext) => boolean)(ctx)).map((c) => c.rule.id);
  }

  /** Agent (`side` agent, on a lower-cased user agent) or anyField rules matching a text: through the automaton, or each tested. */
  textRuleIds(text: string, side: 'agent' | 'any', exhaustive: boolean): string[] {
    const list = side === 'agent' ? this.agentRules : this.anyRules;
    const hits = exhaustive
      ? list.filter((c) => (side === 'agent' ? (c.agent as Test)(text) : (c.any as Test)(text)))
      : (side === 'agent' ? this.agentFilter : this.anyFilter).matching(text);
    return hits.map((c) => c.rule.id);
  }

  /** The request rules that match, found through the needle automaton. */
  requestRuleIds(r: LogRecord): string[] {
    const ctx = requestContext(r, { decodePassesExhausted: 0, decoyExtensionsCut: 0, combiningRunsCut: 0 });
    return this.requestRulesFor(ctx, r.query.indexOf('%') >= 0).map((c) => c.rule.id);
  }

  private agentInfo(ua: string): AgentInfo {
    // Consecutive lines often come from the same browser: an equality test beats hashing.
    if (ua === this.lastAgentText && this.lastAgent !== null) return this.lastAgent;
    const info = this.byAgent.get(ua) ?? this.newAgentInfo(ua);
    this.lastAgent = info;
    this.lastAgentText = ua;
    return info;
  }

  private newAgentInfo(ua: string): AgentInfo {
    const lower = detach(ua.toLowerCase());
    const rules = this.agentFilter.matching(lower);
    return remember(this.byAgent, ua, {
      id: this.agentIds++,
      lower,
      rules,
      any: this.anyMatches(decodeFully(lower, this.limits).toLowerCase()),
      peerOrHost: rules.some((c) => c.peerOrHost),
    });
  }

  private otherField(value: string): readonly Compiled[] {
    if (value === '' || this.anyRules.length === 0) return NONE;
    if (value === this.lastOtherText) return this.lastOther;
    // Values that cannot match are kept too: a referer changes every few lines among a few
    // hundred, and finding one in the cache costs a fraction of scanning it again.
    let hits = this.byOtherField.get(value);
    if (hits === undefined) {
      hits = NONE;
      if (this.anyNeedles !== null ? mayHoldNeedle(this.anyNeedles, value) : this.anyTrigger === null || this.anyTrigger.test(value)) {
        hits = this.anyMatches(decodeFully(value, this.limits).toLowerCase());
      }
      remember(this.byOtherField, value, hits);
    }
    this.lastOtherText = value;
    this.lastOther = hits;
    return hits;
  }

  /** Labels one request. Never throws; returns a shared empty value for unlabelled requests. */
  classify(r: LogRecord): Classification {
    const req = this.requestInfo(r);
    this.lastRecord = r;
    this.lastInfo = req;
    const agent = this.agentInfo(r.userAgent);
    const referer = this.otherField(r.referer);
    const xff = this.otherField(r.forwardedFor);
    const rest = this.restOfLine(r.raw);
    const status = r.status;
    if (
      req.reusable &&
      referer.length === 0 &&
      xff.length === 0 &&
      rest.length === 0 &&
      agent.any.length === 0 &&
      !agent.peerOrHost &&
      status >= 0 &&
      status < 1000 &&
      Number.isInteger(status)
    ) {
      const key = agent.id * 1000 + status;
      // The same agent fetching the same page again (assets, reloads): no map look-up.
      if (req.lastVerdictKey === key) return req.lastVerdict as Classification;
      let v: Classification | undefined;
      const keys = req.verdictKeys;
      const values = req.verdictValues;
      if (keys !== null && values !== null) {
        for (let i = 0; i < keys.length; i++) {
          if (keys[i] === key) {
            v = values[i] as Classification;
            break;
          }
        }
      }
      if (v === undefined) {
        v = this.decide(r, req, agent, referer, xff);
        if (keys === null || values === null) {
          req.verdictKeys = [key];
          req.verdictValues = [v];
        } else {
          if (keys.length >= MAX_VERDICTS_PER_REQUEST) {
            keys.length = 0;
            values.length = 0;
            this.verdictsCleared++;
          }
          keys.push(key);
          values.push(v);
        }
      }
      req.lastVerdictKey = key;
      req.lastVerdict = v;
      return v;
    }
    return this.decide(r, req, agent, referer, xff, rest);
  }

  /**
   * anyField rules on the whole logged line, when it holds the start of an injection (`${`, `()`):
   * the fields a record does not keep (the user name, the Host, a logged header, a JSON field) are
   * the client's as much as its user agent is. Both hold a `{`: a line without one costs one
   * search for a character.
   */
  private restOfLine(raw: string): readonly Compiled[] {
    if (this.anyRules.length === 0) return NONE;
    const brace = raw.indexOf('{');
    if (brace < 0 || (raw.indexOf('${', brace - 1) < 0 && raw.indexOf('()') < 0)) return NONE;
    return this.anyMatches(decodeFully(raw, this.limits).toLowerCase());
  }

  private decide(
    r: LogRecord,
    req: RequestInfo,
    agent: AgentInfo,
    referer: readonly Compiled[],
    xff: readonly Compiled[],
    rest: readonly Compiled[] = NONE,
  ): Classification {
    if (
      req.rules.length === 0 &&
      agent.rules.length === 0 &&
      req.any.length === 0 &&
      agent.any.length === 0 &&
      referer.length === 0 &&
      xff.length === 0 &&
      rest.length === 0 &&
      this.recordRules.length === 0
    ) {
      return NO_LABELS;
    }
    const hits: Compiled[] = [];
    this.consider(req.rules, r, req, agent, hits);
    this.consider(agent.rules, r, req, agent, hits);
    this.consider(this.recordRules, r, req, agent, hits);
    if (req.any.length || agent.any.length || referer.length || xff.length || rest.length) {
      const seen = new Set<Compiled>();
      for (const list of [req.any, agent.any, referer, xff, rest]) for (const c of list) seen.add(c);
      this.consider([...seen], r, req, agent, hits);
    }
    if (hits.length === 0) return NO_LABELS;
    return this.settle(hits, req.ctx, r.status);
  }

  /** Checks the conditions a cache could not answer (status, peer, the other sides). */
  private consider(list: readonly Compiled[], r: LogRecord, req: RequestInfo, agent: AgentInfo, hits: Compiled[]): void {
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as Compiled;
      if (c.side !== 'request' && c.request && !c.request(req.ctx)) continue;
      if (c.side !== 'agent' && c.agent && !c.agent(agent.lower)) continue;
      if (c.record && !c.record(r, req.ctx)) continue;
      if (c.unless?.(r, req.ctx, agent.lower)) continue;
      hits.push(c);
    }
  }

  private settle(hits: Compiled[], ctx: RequestContext, status: number): Classification {
    const suppressed = new Set<RuleClass>();
    for (const h of hits) for (const s of h.rule.suppresses ?? []) suppressed.add(s);
    const best = new Map<string, Rule>();
    let hasNonBenign = false;
    for (const h of hits) {
      const rule = h.rule;
      if (suppressed.has(rule.class)) continue;
      if (rule.class !== 'benign') hasNonBenign = true;
      const prev = best.get(rule.category);
      if (!prev || rule.score > prev.score) best.set(rule.category, rule);
    }
    const labels: LabelHit[] = [];
    let score = 0;
    let immediate: LabelHit | null = null;
    let benignOnly = true;
    // A label resting only on what the client claims (its user agent) explains a 404 to a
    // person, but must not take it out of the error-burst count: anyone can claim to be Googlebot.
    let explainedByFact = false;
    for (const [category, rule] of best) {
      // A benign label that cancels nothing (a static file, a health path) only explains
      // requests that nothing else flagged.
      if (rule.class === 'benign' && !rule.suppresses?.length && hasNonBenign) continue;
      const hit = { category, rule };
      labels.push(hit);
      if (rule.class === 'benign' && !rule.claimOnly) explainedByFact = true;
      if (rule.class !== 'benign') {
        benignOnly = false;
        score += rule.score;
        if (rule.immediate && (!immediate || rule.score > immediate.rule.score)) immediate = hit;
      }
    }
    if (labels.length === 0) return NO_LABELS;
    const isError = status === 400 || status === 403 || status === 404 || status === 405;
    const errorPath = isError && (!benignOnly || !explainedByFact) ? ctx.path : null;
    return { labels, score, immediate, errorPath };
  }

  /** Distinct-4xx counting also needs unlabelled 404s: this says whether one counts. */
  errorPathOf(r: LogRecord, c: Classification): string | null {
    if (c.errorPath !== null) return c.errorPath;
    if (c.labels.length > 0) return null; // only benign labels: static, known route, health
    const s = r.status;
    if (s !== 400 && s !== 403 && s !== 404 && s !== 405) return null;
    return (r === this.lastRecord && this.lastInfo !== null ? this.lastInfo : this.requestInfo(r)).ctx.path;
  }
}
