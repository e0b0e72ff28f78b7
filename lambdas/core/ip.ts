import { detach } from './lines.js';

/** IP addresses, CIDR ranges and the per-source key (IPv4 address or IPv6 /64). */

/** Parses dotted-quad IPv4 into an unsigned 32-bit number, or -1. */
export function parseIPv4(s: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero: ambiguous (octal), refuse
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255 || digits > 3) return -1;
    } else if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/** Parses an IPv6 address (with `::`, embedded IPv4 and zone id) into 8 hextets, or null. */
export function parseIPv6(input: string): number[] | null {
  let s = input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.length < 2 || s.length > 45) return null;
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const groups = part.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as string;
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 < 0) return null;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  if (dbl < 0) {
    const all = parseGroups(s);
    return all && all.length === 8 ? all : null;
  }
  const head = parseGroups(s.slice(0, dbl));
  const tail = parseGroups(s.slice(dbl + 2));
  if (!head || !tail || head.length + tail.length > 7) return null;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

function formatIPv6(h: readonly number[]): string {
  // RFC 5952: compress the longest run (≥ 2) of zero groups, lower case.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (h[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && h[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = h.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function ipv4ToString(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Removes a port or brackets: `1.2.3.4:80` → `1.2.3.4`, `[::1]:443` → `::1`. */
export function stripPort(s: string): string {
  if (s.charCodeAt(0) === 91 /* [ */) {
    const end = s.indexOf(']');
    return end > 0 ? s.slice(1, end) : s;
  }
  const colon = s.indexOf(':');
  if (colon > 0 && s.indexOf(':', colon + 1) < 0) return s.slice(0, colon);
  return s;
}

/** A parsed address: IPv4 as one number, IPv6 as hextets. */
export type ParsedIp = { v: 4; n: number } | { v: 6; h: number[] };

/** Parses an address in any common notation (port, brackets, IPv4-mapped IPv6), or null. */
export function parseIp(input: string): ParsedIp | null {
  const s = stripPort(input.trim());
  const v4 = parseIPv4(s);
  if (v4 >= 0) return { v: 4, n: v4 };
  const h = parseIPv6(s);
  if (!h) return null;
  // ::ffff:a.b.c.d is an IPv4 client seen through a dual-stack socket.
  if (h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff) {
    return { v: 4, n: (h[6] as number) * 65536 + (h[7] as number) };
  }
  return { v: 6, h };
}

/** Canonical text of an address (IPv4 dotted, IPv6 RFC 5952), or null when it is not one. */
export function normalizeIp(input: string): string | null {
  const p = parseIp(input);
  if (!p) return null;
  return p.v === 4 ? ipv4ToString(p.n) : formatIPv6(p.h);
}

const sourceKeyMemo = new Map<string, string>();

/**
 * The key state is kept under: the IPv4 address, or the IPv6 /64 in CIDR form (one host usually
 * owns a whole /64, so per-address keys would let it rotate freely). Non-addresses (a logged host
 * name) are kept as they are.
 */
export function sourceKey(ip: string): string {
  // The common case: a dotted quad that parseIPv4 accepts is already canonical.
  if (parseIPv4(ip) >= 0) return ip;
  const hit = sourceKeyMemo.get(ip);
  if (hit !== undefined) return hit;
  const p = parseIp(ip);
  let key: string;
  if (!p) key = ip;
  else if (p.v === 4) key = ipv4ToString(p.n);
  else key = `${formatIPv6([p.h[0] as number, p.h[1] as number, p.h[2] as number, p.h[3] as number, 0, 0, 0, 0])}/64`;
  if (sourceKeyMemo.size > 100_000) sourceKeyMemo.clear(); // bound memory on hostile input
  // Detached: a slice of the line as a key would pin the whole decoded chunk it came from.
  sourceKeyMemo.set(detach(ip), key);
  return key;
}

/** The IPv6 prefix of an address as a CIDR (`2001:db8::/48`), or null for anything else. */
export function ipv6Prefix(ip: string, bits: 32 | 48 | 64): string | null {
  const p = parseIp(ip);
  if (!p || p.v !== 6) return null;
  const h = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < bits / 16; i++) h[i] = p.h[i] as number;
  return `${formatIPv6(h)}/${bits}`;
}

/** A CIDR range that can test addresses. */
export interface Cidr {
  readonly text: string;
  contains(ip: string | ParsedIp): boolean;
}

/** Parses `a.b.c.d/n`, `x::/n` or a bare address (a /32 or /128); throws on bad input. */
export function parseCidr(text: string): Cidr {
  const [addr = '', bitsText] = text.trim().split('/');
  const base = parseIp(addr);
  if (!base) throw new Error(`"${text}" is not an IP address or CIDR range`);
  const max = base.v === 4 ? 32 : 128;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new Error(`"${text}" has a prefix length outside 0–${max}`);
  }
  const contains = (ip: string | ParsedIp): boolean => {
    const p = typeof ip === 'string' ? parseIp(ip) : ip;
    if (!p || p.v !== base.v) return false;
    if (p.v === 4 && base.v === 4) {
      if (bits === 0) return true;
      const shift = 32 - bits;
      return Math.floor(p.n / 2 ** shift) === Math.floor(base.n / 2 ** shift);
    }
    if (p.v === 6 && base.v === 6) {
      let left = bits;
      for (let i = 0; i < 8 && left > 0; i++, left -= 16) {
        const take = Math.min(16, left);
        const mask = (0xffff << (16 - take)) & 0xffff;
        if (((p.h[i] as number) & mask) !== ((base.h[i] as number) & mask)) return false;
      }
      return true;
    }
    return false;
  };
  return { text: text.trim(), contains };
}

/** A set of CIDR ranges with a memo, for per-line membership tests. */
export class CidrSet {
  private readonly ranges: Cidr[];
  private readonly memo = new Map<string, boolean>();
  constructor(ranges: readonly string[]) {
    this.ranges = ranges.map(parseCidr);
  }
  get size(): number {
    return this.ranges.length;
  }
  /** True when the address is in any range. */
  has(ip: string): boolean {
    if (this.ranges.length === 0) return false;
    const hit = this.memo.get(ip);
    if (hit !== undefined) return hit;
    const p = parseIp(ip);
    const result = p !== null && this.ranges.some((r) => r.contains(p));
    if (this.memo.size > 100_000) this.memo.clear();
    this.memo.set(ip, result);
    return result;
  }
}

const LOOPBACK = new CidrSet(['127.0.0.0/8', '::1/128']);
const INTERNAL = new CidrSet([
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10', // carrier-grade NAT
  '169.254.0.0/16',
  '127.0.0.0/8',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
]);

/** True for 127.0.0.0/8 and ::1. */
export function isLoopback(ip: string): boolean {
  return LOOPBACK.has(ip);
}

/** True for loopback, RFC 1918, CGNAT, link-local and IPv6 ULA/link-local addresses. */
export function isInternal(ip: string): boolean {
  return INTERNAL.has(ip.endsWith('/64') ? ip.slice(0, -3) : ip);
}
