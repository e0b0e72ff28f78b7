import type { DetectorConfig } from './config.js';
import type { CategoryInfo, Rule } from './rules/types.js';
import type { LongPeak } from './window.js';

/**
 * Served form abuse: registration, comment and contact spam, credential stuffing. Probing rules
 * only see resources that were not served; a bot that fetches a real sign-up form and posts it
 * (200/302) is seen here instead, from how a source posts over time, not from one request.
 *
 * Each form POST adds event-time counters to the source's buckets: one per post, and one more
 * for each post that carries one or two pieces of evidence of automation. The decision reads the
 * counters over the long horizons, so a bot that posts three times a day from each of 500
 * addresses is caught, while a person who signs up once or mistypes a password twice is not.
 */
export type FormKind = 'registration' | 'comment' | 'login';

/** Built-in form endpoints: path prefixes (lower case, decoded) per kind, with where they come from. */
export const FORM_ENDPOINTS: Readonly<Record<FormKind, readonly string[]>> = {
  // WordPress (wp-login.php?action=register, wp-signup.php), phpBB (ucp.php?mode=register), MyBB
  // (member.php?action=register), Drupal (/user/register), Joomla (com_users registration),
  // Discourse/Rails/Django/Laravel conventions (/users, /signup, /accounts/signup, /register).
  registration: [
    '/register',
    '/registration',
    '/signup',
    '/sign-up',
    '/sign_up',
    '/join',
    '/wp-signup.php',
    '/user/register',
    '/users/sign_up',
    '/accounts/signup',
    '/account/register',
    '/account/create',
    '/create-account',
    '/create_account',
    '/member.php?action=register',
    '/ucp.php?mode=register',
    '/wp-login.php?action=register',
    '/index.php?option=com_users&task=registration.register',
  ],
  // WordPress comments and pingbacks, common contact/feedback/guestbook forms.
  comment: [
    '/wp-comments-post.php',
    '/comment',
    '/comments',
    '/contact',
    '/contact-us',
    '/contactus',
    '/feedback',
    '/guestbook',
    '/trackback',
    '/wp-json/contact-form-7/',
    '/index.php?option=com_contact',
  ],
  // WordPress (wp-login.php, xmlrpc.php system.multicall), Drupal (/user/login), Joomla
  // (administrator), generic session and token endpoints, password resets.
  login: [
    '/wp-login.php',
    '/xmlrpc.php',
    '/login',
    '/signin',
    '/sign-in',
    '/log-in',
    '/logon',
    '/user/login',
    '/users/sign_in',
    '/accounts/login',
    '/account/login',
    '/administrator/index.php',
    '/admin/login',
    '/auth/login',
    '/session',
    '/sessions',
    // API token endpoints (/oauth/token, /api/login) are left to the site's configuration: apps
    // post to them directly and often, which would look like automation here.
    '/j_security_check',
    '/password/reset',
    '/password/forgot',
    '/forgot-password',
    '/lostpassword',
    '/wp-login.php?action=lostpassword',
  ],
};

/**
 * User agents no person browses with: scripted HTTP clients, or browsers retired long ago. An
 * empty one is not evidence: many formats (common) do not log the user agent at all.
 */
const SCRIPTED_AGENT =
  /^(?:curl\/.*|wget\/.*|python-.*|python\/.*|go-http-client\/.*|java\/.*|okhttp\/.*|libwww-perl\/.*|lwp::.*|php\/.*|guzzlehttp\/.*|axios\/.*|node-fetch\/.*|undici.*|ruby.*|mechanize.*|scrapy\/.*|aiohttp\/.*|httpx\/.*|apache-httpclient\/.*|winhttp.*|powershell.*)$|msie [1-8]\.|windows (?:95|98|nt 4\.0)/;

/** True for a user agent a person would not have. */
export function isScriptedAgent(userAgent: string): boolean {
  return SCRIPTED_AGENT.test(userAgent.toLowerCase());
}

/**
 * A form post sooner than this after fetching the form was not typed by a person (logs have
 * whole seconds, so "3 s" in a log may be 2.0 s).
 */
export const FAST_POST_MS = 5000;
/** A fetch of the form (or of a page asset) older than this says nothing about a post. */
export const FORM_CONTEXT_MS = 600_000;

/** Counter names in the source's buckets (stored as-is; `~` keeps them apart from rule ids). */
export const counterPost = (k: FormKind) => `~post:${k}`;
export const counterAuto1 = (k: FormKind) => `~auto1:${k}`;
export const counterAuto2 = (k: FormKind) => `~auto2:${k}`;

/** What a source did around one form post that a person would not do. */
export interface PostEvidence {
  scriptedAgent: boolean;
  /** Posted without fetching a page first, or less than FAST_POST_MS after fetching one. */
  noFormOrFast: boolean;
  /** No page asset fetched since the form (or in FORM_CONTEXT_MS). */
  noAssets: boolean;
  /** A different endpoint of the same kind than the source's previous post. */
  newEndpoint: boolean;
}

/**
 * The counters one post adds: the post itself, and its evidence of automation. A login that
 * visibly succeeded (a redirect) is never evidence: credential stuffing is mostly failures, and a
 * person with a password manager and cached pages logs in fast without fetching assets.
 */
export function postCounters(kind: FormKind, e: PostEvidence, status: number): string[] {
  const out = [counterPost(kind)];
  if (kind === 'login' && status >= 300 && status < 400) return out;
  const n = Number(e.scriptedAgent) + Number(e.noFormOrFast) + Number(e.noAssets) + Number(e.newEndpoint);
  if (n >= 1) out.push(counterAuto1(kind));
  if (n >= 2) out.push(counterAuto2(kind));
  return out;
}

/**
 * Compiles the endpoint lists (built-in plus the site's) into a matcher of a request's path and
 * query. Most requests are rejected by one set look-up of their first path segment.
 */
export function formMatcher(extra: DetectorConfig['forms']): (path: string, query: string) => FormKind | null {
  const lists = (Object.keys(FORM_ENDPOINTS) as FormKind[]).map((k) => [k, [...FORM_ENDPOINTS[k], ...extra[k].map((p) => p.toLowerCase())]] as const);
  const firstSegments = new Set<string>();
  for (const [, prefixes] of lists) for (const p of prefixes) firstSegments.add(firstSegment(p));
  return (path, query) => {
    if (!firstSegments.has(firstSegment(path).toLowerCase())) return null;
    const target = (query ? `${path}?${query}` : path).toLowerCase();
    for (const [kind, prefixes] of lists) {
      for (const p of prefixes) {
        // A prefix must end at a segment or query boundary: /join matches /join and /join/step2, not /joinery.
        if (target.startsWith(p)) {
          const next = target.charCodeAt(p.length);
          if (Number.isNaN(next) || next === 47 || next === 63 || next === 38 || next === 46 || p.endsWith('/') || p.includes('?')) return kind;
        }
      }
    }
    return null;
  };
}

/** `/a/b?c` → `/a`; `/a?c` → `/a`. */
function firstSegment(p: string): string {
  let end = p.length;
  for (let i = 1; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 47 || c === 63) {
      end = i;
      break;
    }
  }
  return end === p.length ? p : p.slice(0, end);
}

/** The behaviour a kind of form abuse alerts as. */
const BEHAVIOUR_RULES: Record<FormKind, Rule> = {
  registration: {
    id: 'registration-spam',
    category: 'registration-spam',
    class: 'abuse',
    severity: 'medium',
    score: 0,
    explain: 'Sign-up forms submitted like a bot: repeatedly, faster than a person types, or from a scripted client',
    match: {},
  },
  comment: {
    id: 'comment-spam',
    category: 'comment-spam',
    class: 'abuse',
    severity: 'medium',
    score: 0,
    explain: 'Comment or contact forms submitted like a bot: repeatedly, faster than a person types, or from a scripted client',
    match: {},
  },
  login: {
    id: 'credential-stuffing',
    category: 'credential-stuffing',
    class: 'abuse',
    severity: 'high',
    score: 0,
    explain: 'Many login or password-reset submissions: someone trying stolen or guessed credentials',
    match: {},
  },
};

/** Every behaviour rule, for look-ups by id. */
export const BEHAVIOUR_RULE_LIST: readonly Rule[] = Object.values(BEHAVIOUR_RULES);

/**
 * When each kind alerts, from counts within 1 h and 24 h. Two posts that each carry two pieces
 * of evidence are a bot; so are many posts of any kind. A person signing up once (1 post) or
 * logging in after a few typos (≤ 5 posts, a browser, at a person's pace) stays below all of them.
 */
export const BEHAVIOUR_THRESHOLDS: Readonly<Record<FormKind, { auto2: number; auto1: number; perHour: number; perDay: number }>> = {
  registration: { auto2: 2, auto1: 3, perHour: 10, perDay: 20 },
  comment: { auto2: 2, auto1: 4, perHour: 10, perDay: 25 },
  login: { auto2: 3, auto1: 12, perHour: 20, perDay: 50 },
};

/** One behaviour that crossed its threshold. */
export interface BehaviourFinding {
  rule: Rule;
  /** Form posts of that kind within the longer horizon. */
  posts: number;
  /** The fact that decided it, for the alert. */
  why: string;
}

/** Decides form abuse from the counters over 1 h and 24 h around a time (pure, order-independent). */
export function behaviourFindings(hour: LongPeak, day: LongPeak): BehaviourFinding[] {
  const out: BehaviourFinding[] = [];
  for (const kind of Object.keys(BEHAVIOUR_THRESHOLDS) as FormKind[]) {
    const t = BEHAVIOUR_THRESHOLDS[kind];
    const posts = day.counts.get(counterPost(kind)) ?? 0;
    if (posts === 0) continue;
    const perHour = hour.counts.get(counterPost(kind)) ?? 0;
    const auto2 = day.counts.get(counterAuto2(kind)) ?? 0;
    const auto1 = day.counts.get(counterAuto1(kind)) ?? 0;
    let why = '';
    if (auto2 >= t.auto2) why = `${auto2} posts with at least two signs of automation within 24 h`;
    else if (auto1 >= t.auto1) why = `${auto1} posts with a sign of automation within 24 h`;
    else if (perHour >= t.perHour) why = `${perHour} posts within 1 h`;
    else if (posts >= t.perDay) why = `${posts} posts within 24 h`;
    if (why) out.push({ rule: BEHAVIOUR_RULES[kind], posts, why });
  }
  return out;
}

/** How alerts describe each behaviour: what it probably is and what to do. */
export const BEHAVIOUR_INFO: Record<string, CategoryInfo> = {
  'registration-spam': {
    title: 'Registration spam',
    what: 'a bot creating accounts through the real sign-up form (spam accounts, later used for spam posts or abuse)',
    todo: 'Add a CAPTCHA or e-mail confirmation to sign-up, review the accounts created by this source, and rate-limit the form',
  },
  'comment-spam': {
    title: 'Comment or contact-form spam',
    what: 'a bot posting through the comment or contact form (link spam, phishing)',
    todo: 'Turn on comment moderation or an anti-spam filter for the form, and rate-limit it',
  },
  'credential-stuffing': {
    title: 'Credential stuffing',
    what: 'someone trying stolen or guessed username/password pairs against the login form',
    todo: 'Rate-limit the login form, turn on multi-factor authentication, and check the accounts tried for successful logins',
  },
};
