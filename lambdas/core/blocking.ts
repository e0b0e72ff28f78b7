/**
 * Blocking that expires: which range an alerted source is blocked as, what is never blocked, how
 * long a block lasts, and how an IP set is brought in line with the block records. Pure: the
 * WAF and DynamoDB adapters and the block handler do the I/O.
 */
import { CidrSet, ipv6Prefix, normalizeIp, parseCidr, parseIPv4, parseIp } from './ip.js';
import { SEVERITIES, type Severity } from './rules/types.js';

/** WAF's limit of addresses per IP set. */
export const WAF_IP_SET_LIMIT = 10_000;
/** Entries per set by default: headroom below WAF's limit for entries added by hand. */
export const DEFAULT_MAX_ENTRIES = 9_000;
/**
 * The widest IPv6 range blocked. The detector aggregates a /48 into one source only after many of
 * its /64s probed (one site rotating through its subnets; a /48 is what a site is usually given);
 * a /32 is usually a provider's whole allocation, millions of customers, so it is reported, never blocked.
 */
export const MIN_IPV6_BLOCK_BITS = 48;
/** Longest block, whatever the configuration says (30 days). */
export const MAX_BLOCK_HOURS = 720;
/** A block record outlives its block by this much (seconds), so `probewatch alerts` can still show it. */
export const RECORD_GRACE_SECONDS = 86_400;
/** Refusal records are kept this long (seconds), like alert records. */
export const REFUSAL_TTL_SECONDS = 30 * 86_400;

/** Which of the pair of IP sets a range goes to. */
export type IpSetKind = 'v4' | 'v6';

/** Why an alerted source is not blocked (each one is counted). */
export type RefusalReason = 'below-min-severity' | 'not-an-address' | 'prefix-too-wide' | 'reserved' | 'allowlisted' | 'trusted-proxy' | 'cap' | 'waf-limit';

/** Every refusal reason, for metrics and documentation. */
export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'below-min-severity',
  'not-an-address',
  'prefix-too-wide',
  'reserved',
  'allowlisted',
  'trusted-proxy',
  'cap',
  'waf-limit',
];

/** A range to block. */
export interface BlockTarget {
  cidr: string;
  ipSet: IpSetKind;
}

/** What to do with an alert. */
export type BlockDecision = ({ action: 'block' } & BlockTarget) | { action: 'refuse'; reason: RefusalReason; detail: string };

/**
 * Ranges that are never blocked: not globally routable (private, shared, loopback, link-local,
 * multicast, reserved), set aside for documentation and benchmarks, or translation prefixes that
 * stand for many unrelated clients. IPv6 outside 2000::/3 (global unicast) is refused as well.
 */
export const RESERVED_RANGES: readonly { cidr: string; name: string }[] = [
  { cidr: '0.0.0.0/8', name: '"this network"' },
  { cidr: '10.0.0.0/8', name: 'private' },
  { cidr: '100.64.0.0/10', name: 'carrier-grade NAT' },
  { cidr: '127.0.0.0/8', name: 'loopback' },
  { cidr: '169.254.0.0/16', name: 'link-local' },
  { cidr: '172.16.0.0/12', name: 'private' },
  { cidr: '192.0.0.0/24', name: 'IETF protocol assignments' },
  { cidr: '192.0.2.0/24', name: 'documentation' },
  { cidr: '192.88.99.0/24', name: '6to4 relay' },
  { cidr: '192.168.0.0/16', name: 'private' },
  { cidr: '198.18.0.0/15', name: 'benchmarking' },
  { cidr: '198.51.100.0/24', name: 'documentation' },
  { cidr: '203.0.113.0/24', name: 'documentation' },
  { cidr: '224.0.0.0/4', name: 'multicast' },
  { cidr: '240.0.0.0/4', name: 'reserved' },
  { cidr: '2001::/23', name: 'IETF protocol assignments (Teredo and others)' },
  { cidr: '2001:db8::/32', name: 'documentation' },
  { cidr: '3fff::/20', name: 'documentation' },
];
const GLOBAL_UNICAST_V6 = parseCidr('2000::/3');
const RESERVED = RESERVED_RANGES.map((r) => ({ ...r, range: parseCidr(r.cidr) }));

/** Canonical text of a CIDR (`1.2.3.4/32`, `2001:db8::/64`: host bits cleared), or null. */
export function canonicalCidr(text: string): string | null {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text.trim() : text.slice(0, slash).trim();
  const p = parseIp(addr);
  if (!p) return null;
  const max = p.v === 4 ? 32 : 128;
  const bitsText = slash < 0 ? String(max) : text.slice(slash + 1).trim();
  if (!/^\d{1,3}$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  if (bits > max) return null;
  if (p.v === 4) {
    const n = bits === 0 ? 0 : Math.floor(p.n / 2 ** (32 - bits)) * 2 ** (32 - bits);
    return `${Math.floor(n / 2 ** 24) % 256}.${Math.floor(n / 2 ** 16) % 256}.${Math.floor(n / 256) % 256}.${n % 256}/${bits}`;
  }
  const h = p.h.map((x, i) => {
    const left = bits - i * 16;
    if (left >= 16) return x;
    if (left <= 0) return 0;
    return x & ((0xffff << (16 - left)) & 0xffff);
  });
  return `${normalizeIp(h.map((x) => x.toString(16)).join(':'))}/${bits}`;
}

/** True when two ranges share at least one address (ranges of different families never do). */
export function cidrsOverlap(a: string, b: string): boolean {
  const base = (c: string) => c.split('/')[0] ?? '';
  try {
    return parseCidr(a).contains(base(b)) || parseCidr(b).contains(base(a));
  } catch {
    return false;
  }
}

/**
 * The range an alerted source is blocked as: an IPv4 address as its /32, an IPv6 address or /64
 * as the /64, an aggregated /48 as itself. A /32 IPv6 prefix is refused (`prefix-too-wide`), and
 * anything that is not an address (a host name logged in place of one) is refused too.
 */
export function blockTarget(source: string): BlockTarget | { reason: 'not-an-address' | 'prefix-too-wide'; detail: string } {
  const s = source.trim();
  const slash = s.indexOf('/');
  if (slash < 0) {
    if (parseIPv4(s) >= 0) return { cidr: `${s}/32`, ipSet: 'v4' };
    const p = parseIp(s);
    if (!p) return { reason: 'not-an-address', detail: 'the source is not an IP address' };
    if (p.v === 4) return { cidr: `${normalizeIp(s)}/32`, ipSet: 'v4' };
    return { cidr: ipv6Prefix(s, 64) as string, ipSet: 'v6' };
  }
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const p = parseIp(addr);
  if (!p || !/^\d{1,3}$/.test(bits)) return { reason: 'not-an-address', detail: 'the source is not an address or a CIDR range' };
  const n = Number(bits);
  if (p.v === 4) {
    if (n === 32) return { cidr: `${normalizeIp(addr)}/32`, ipSet: 'v4' };
    return { reason: 'not-an-address', detail: `IPv4 sources are single addresses; /${n} is not one` };
  }
  if (n === 64 || n === 48) return { cidr: ipv6Prefix(addr, n) as string, ipSet: 'v6' };
  if (n === 128) return { cidr: ipv6Prefix(addr, 64) as string, ipSet: 'v6' };
  if (n < MIN_IPV6_BLOCK_BITS) return { reason: 'prefix-too-wide', detail: `an IPv6 /${n} is wider than the /${MIN_IPV6_BLOCK_BITS} blocked at most` };
  return { reason: 'not-an-address', detail: `an IPv6 /${n} is not a source the detector reports` };
}

/** A WAF v2 IP set ARN: `arn:aws:wafv2:<region>:<account>:<regional|global>/ipset/<name>/<id>`. */
export const IP_SET_ARN = /^arn:aws[a-z-]*:wafv2:([a-z0-9-]+):(\d{12}):(regional|global)\/ipset\/([\w-]{1,128})\/([0-9a-f-]{1,36})$/;

/** CloudFront's WAF resources (web ACLs, IP sets) exist only in this region. */
export const CLOUDFRONT_REGION = 'us-east-1';

/** The parts of an IP set ARN the WAF API needs (GetIPSet and UpdateIPSet take name, id and scope). */
export interface IpSetRef {
  arn: string;
  name: string;
  id: string;
  scope: 'REGIONAL' | 'CLOUDFRONT';
  /** The region the WAF API is called in (us-east-1 for CLOUDFRONT sets). */
  region: string;
}

/** Splits an IP set ARN into the parts the WAF API takes, or null when it is not one. */
export function parseIpSetArn(arn: string): IpSetRef | null {
  const m = IP_SET_ARN.exec(arn);
  if (!m) return null;
  return { arn, region: m[1] as string, scope: m[3] === 'global' ? 'CLOUDFRONT' : 'REGIONAL', name: m[4] as string, id: m[5] as string };
}

/** What is never blocked, from the detector configuration. */
export interface BlockPolicy {
  minSeverity: Severity;
  /** `allowlist.cidrs` of the detector configuration. */
  allowlist: readonly string[];
  /** `trustedProxies` of the detector configuration. */
  trustedProxies: readonly string[];
}

/** The range reserved or private that a block range overlaps, or undefined. */
export function reservedOverlap(cidr: string): { cidr: string; name: string } | undefined {
  const base = cidr.split('/')[0] ?? '';
  const p = parseIp(base);
  if (p?.v === 6 && !GLOBAL_UNICAST_V6.contains(p)) return { cidr: '2000::/3', name: 'outside global unicast' };
  return RESERVED.find((r) => cidrsOverlap(cidr, r.cidr));
}

/**
 * Decides whether an alerted source is blocked, and as which range. Refused: alerts below the
 * minimum severity, sources that are not addresses, IPv6 prefixes wider than /48, and ranges that
 * overlap a private or reserved range, the allowlist or a trusted proxy (a /64 that holds one
 * allowlisted address is not blocked).
 */
export function decideBlock(alert: { source: string; severity: string }, policy: BlockPolicy): BlockDecision {
  const rank = SEVERITIES.indexOf(alert.severity as Severity);
  if (rank < SEVERITIES.indexOf(policy.minSeverity)) {
    return { action: 'refuse', reason: 'below-min-severity', detail: `severity ${alert.severity} is below ${policy.minSeverity}` };
  }
  const target = blockTarget(alert.source);
  if ('reason' in target) return { action: 'refuse', reason: target.reason, detail: target.detail };
  const reserved = reservedOverlap(target.cidr);
  if (reserved) return { action: 'refuse', reason: 'reserved', detail: `${target.cidr} overlaps ${reserved.cidr} (${reserved.name})` };
  const allowed = policy.allowlist.find((c) => cidrsOverlap(target.cidr, c));
  if (allowed !== undefined) return { action: 'refuse', reason: 'allowlisted', detail: `${target.cidr} overlaps the allowlisted ${allowed}` };
  const proxy = policy.trustedProxies.find((c) => cidrsOverlap(target.cidr, c));
  if (proxy !== undefined) return { action: 'refuse', reason: 'trusted-proxy', detail: `${target.cidr} overlaps the trusted proxy range ${proxy}` };
  return { action: 'block', ...target };
}

/** Checks the never-block lists once (cold start), so a bad entry fails loudly rather than never matching. */
export function checkPolicyRanges(ranges: readonly string[]): string[] {
  const problems: string[] = [];
  for (const r of ranges) {
    try {
      new CidrSet([r]);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return problems;
}

/** One block as recorded in the state table (`BLOCKS` / `<cidr>`). */
export interface BlockRecord {
  cidr: string;
  source: string;
  alertId: string;
  /** ISO time the block ends. */
  until: string;
  untilEpoch: number;
  dryRun: boolean;
  ipSet: IpSetKind;
  /** ISO time the block was recorded. */
  blockedAt: string;
  /** TTL (epoch seconds): the day after the block ends. */
  expiresAt: number;
}

/** ISO 8601 of epoch seconds, without milliseconds. */
export function isoSeconds(epochSec: number): string {
  return new Date(epochSec * 1000).toISOString().replace('.000Z', 'Z');
}

/** The record of a block decided now for `hours` (at most {@link MAX_BLOCK_HOURS}). */
export function blockRecord(target: BlockTarget, alert: { source: string; alertId: string }, nowSec: number, hours: number, dryRun: boolean): BlockRecord {
  if (!(hours > 0)) throw new RangeError(`a block lasts a positive number of hours (got ${hours})`);
  const untilEpoch = nowSec + Math.ceil(Math.min(hours, MAX_BLOCK_HOURS) * 3600);
  return {
    cidr: target.cidr,
    source: alert.source,
    alertId: alert.alertId,
    until: isoSeconds(untilEpoch),
    untilEpoch,
    dryRun,
    ipSet: target.ipSet,
    blockedAt: isoSeconds(nowSec),
    expiresAt: untilEpoch + RECORD_GRACE_SECONDS,
  };
}

/**
 * How a new block record meets the one already there (the state store's conditional write does the
 * same): `create` when there is none; `keep` for the same alert again (a redelivery extends
 * nothing), when the block already lasts longer (a block is never shortened), or for a dry run
 * meeting a real block; `upgrade` when a real block meets a dry-run record; `extend` when another
 * alert asks for a later end.
 */
export function mergeBlock(existing: BlockRecord | undefined, next: BlockRecord): 'create' | 'keep' | 'extend' | 'upgrade' {
  if (!existing) return 'create';
  if (existing.dryRun && !next.dryRun) return 'upgrade';
  // A dry run never lengthens a real block: that would keep an address in WAF longer.
  if (!existing.dryRun && next.dryRun) return 'keep';
  if (existing.alertId === next.alertId) return 'keep';
  return next.untilEpoch > existing.untilEpoch ? 'extend' : 'keep';
}

/** Result of adding a range to a set's addresses. */
export type AddPlan = { kind: 'present' } | { kind: 'cap'; size: number } | { kind: 'add'; addresses: string[] };

/** Adds a range unless it is there already or the set holds `maxEntries` (compared canonically). */
export function planAdd(addresses: readonly string[], cidr: string, maxEntries: number): AddPlan {
  const want = canonicalCidr(cidr) ?? cidr;
  if (addresses.some((a) => (canonicalCidr(a) ?? a) === want)) return { kind: 'present' };
  if (addresses.length >= maxEntries) return { kind: 'cap', size: addresses.length };
  return { kind: 'add', addresses: [...addresses, want] };
}

/** What a sweep does to one IP set and to the records. */
export interface SweepPlan {
  /** The set's new addresses, or null when nothing changes (no update call). */
  addresses: string[] | null;
  removed: string[];
  /** Live real blocks missing from the set, put back. */
  restored: string[];
  /** Live real blocks missing from the set that the cap kept out. */
  capped: string[];
  /** Expired records to delete (each deleted only if still expired). */
  expiredRecords: string[];
}

/**
 * Brings one IP set in line with the block records: expired ranges leave the set (and their records
 * are deleted), live real blocks missing from the set are put back (a block whose WAF update failed
 * for good, or that a sweep raced), within the cap. With `owned` (a set this stack created and no
 * one else writes) every range without a live real block leaves it too, so a record deleted by TTL
 * before a sweep could remove its range leaves nothing blocked for ever. In dry run nothing is
 * added; expired real blocks from before are still removed.
 */
export function planSweep(
  records: readonly BlockRecord[],
  addresses: readonly string[],
  opts: { nowSec: number; ipSet: IpSetKind; owned: boolean; dryRun: boolean; maxEntries: number },
): SweepPlan {
  const mine = records.filter((r) => r.ipSet === opts.ipSet);
  const expired = mine.filter((r) => r.untilEpoch <= opts.nowSec);
  const live = new Set(mine.filter((r) => r.untilEpoch > opts.nowSec && !r.dryRun).map((r) => canonicalCidr(r.cidr) ?? r.cidr));
  const expiredReal = new Set(expired.filter((r) => !r.dryRun).map((r) => canonicalCidr(r.cidr) ?? r.cidr));
  const removed: string[] = [];
  const kept: string[] = [];
  for (const a of addresses) {
    const c = canonicalCidr(a) ?? a;
    const drop = !live.has(c) && (expiredReal.has(c) || opts.owned);
    (drop ? removed : kept).push(a);
  }
  const present = new Set(kept.map((a) => canonicalCidr(a) ?? a));
  const restored: string[] = [];
  const capped: string[] = [];
  if (!opts.dryRun) {
    for (const c of [...live].sort()) {
      if (present.has(c)) continue;
      if (kept.length + restored.length >= opts.maxEntries) capped.push(c);
      else restored.push(c);
    }
  }
  const changed = removed.length > 0 || restored.length > 0;
  return {
    addresses: changed ? [...kept, ...restored] : null,
    removed,
    restored,
    capped,
    expiredRecords: expired.map((r) => r.cidr),
  };
}
