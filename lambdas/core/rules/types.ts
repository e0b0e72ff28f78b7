/** Rules are data: these types are what a built-in rule or a user's config file declares. */

/** The broad kind of a label. Benign labels explain noise and never raise an alert. */
export type RuleClass = 'benign' | 'probing' | 'abuse' | 'exploit' | 'protocol' | 'client';

/** Severities, least to most severe. */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
/** How bad a finding is. */
export type Severity = (typeof SEVERITIES)[number];

/**
 * A test on one string. The forms are OR-ed; every string is compared in lower case, and paths
 * and queries are percent-decoded first: once, as most servers do, and, when that still leaves
 * escapes, until stable (double encoding `%252e`, `%%32%65`, overlong UTF-8 `%c0%af`, IIS
 * `%u002e`); either form matching is a match. `regex` must be linear-time safe (no nested
 * quantifiers, no back-references); it is checked when the rule is loaded.
 */
export interface Pattern {
  equals?: string[];
  prefix?: string[];
  suffix?: string[];
  contains?: string[];
  regex?: string;
}

/** Conditions of a rule; all present conditions must hold. */
export interface RuleMatch {
  /** Request method, upper case (`OPTIONS`). */
  method?: string[];
  /** Percent-decoded, lower-cased path without the query. */
  path?: Pattern;
  /** Percent-decoded, lower-cased query string without `?`. */
  query?: Pattern;
  /** Percent-decoded, lower-cased path plus `?query`. Prefer the narrower fields below: a word inside a harmless value (`?came_from=/credentials`) is not a probe. */
  target?: Pattern;
  /** Any one segment of the decoded path (split on `/` and `\`): `.git` matches `/a/.git/config`, not `/a.github.io`. */
  segment?: Pattern;
  /**
   * The file name (last path segment; none when the path ends in `/`), also tested without up to
   * three trailing extensions, so a decoy suffix does not hide it (`.env.js.map` is tested as
   * `.env.js.map`, `.env.js`, `.env`).
   */
  file?: Pattern;
  /** Any query parameter as `name=value` (a bare `name` when it has no `=`), decoded. */
  param?: Pattern;
  /** Any query parameter's value, decoded ("" for a bare name). */
  paramValue?: Pattern;
  /** The target exactly as logged (e.g. `*`). */
  rawTarget?: Pattern;
  /** The request line as logged, lower-cased. */
  request?: Pattern;
  /** Protocol as logged (`HTTP/1.0`). */
  protocol?: string[];
  /** Lower-cased user agent ("" when none was logged). */
  userAgent?: Pattern;
  /** Any attacker-controlled field: request line, user agent, referer, X-Forwarded-For (lower-cased, percent-decoded). */
  anyField?: Pattern;
  /** Status codes or classes: `404`, `4xx`. */
  status?: string[];
  /** Status codes or classes that exclude the rule. */
  notStatus?: string[];
  /** Where the request came from: the client a trusted proxy forwarded, else the connecting peer. */
  peer?: 'loopback' | 'internal';
  /** The request line could (true) or could not (false) be split into method, target, protocol. */
  malformed?: boolean;
  /** The request line is longer than this many characters. */
  minLength?: number;
  /**
   * The absolute-URI or `CONNECT` target names the site's own host as logged (true), or not
   * (false; also when no Host was logged or the target is a plain path).
   */
  ownHost?: boolean;
}

/** One detection rule. */
export interface Rule {
  /** Stable identifier; a config rule with the same id replaces the built-in one. */
  id: string;
  /** The label a matching request gets (`cgi-probe`, `health-check`, …). */
  category: string;
  class: RuleClass;
  severity: Severity;
  /** Added to the source's windowed score per matching request (per category, highest wins). */
  score: number;
  /** One line for a person: what this is. */
  explain: string;
  references?: string[];
  match: RuleMatch;
  /** A request matching this is excluded from the rule. */
  unless?: RuleMatch;
  /** High-confidence signature: alert at once instead of waiting for the score. */
  immediate?: boolean;
  /**
   * Benign rules only: the label rests on what the client says about itself (a crawler's or a
   * monitor's user agent). It explains the request to a person, but a 404 it explains still
   * counts towards an error burst, since anyone can send that user agent.
   */
  claimOnly?: boolean;
  /** Classes of other labels this one cancels on the same request (benign rules). */
  suppresses?: RuleClass[];
  /** Alert when this many matches fall within `windowSeconds` (brute force; at most a day, 86400). */
  threshold?: {
    count: number;
    windowSeconds: number;
    /** Count matches of this rule alone (default), or of every rule of its category with `per: category`. */
    per?: 'rule' | 'category';
  };
}

/** Per-category wording for alerts: what it probably is and what to do. */
export interface CategoryInfo {
  title: string;
  what: string;
  todo: string;
}
