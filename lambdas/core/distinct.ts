/**
 * How many different sources a scan has seen, in a few bytes per source and no object per source:
 * an open-addressing set of numbers in one typed array. An IPv4 source is its 32-bit value (exact);
 * any other key is a 52-bit hash of its text (two independent 32-bit hashes; a collision among a
 * million keys has odds of about one in ten thousand). Sources can then be forgotten while clean
 * and still be counted once however often they come back.
 */

/** Sources remembered for counting; past it a new source is counted without being remembered. */
export const MAX_DISTINCT_SOURCES = 2_000_000;

const EMPTY = 0;
const TWO_32 = 2 ** 32;

/** The number a source key is remembered as (`v4`: its IPv4 value, or -1). */
export function sourceNumber(key: string, v4: number): number {
  if (v4 >= 0) return v4;
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b + c, 0x5bd1e995) ^ (b >>> 15);
  }
  // Above every IPv4 value: 2^32 × (1 + 20 bits) + 32 bits stays below 2^53.
  return TWO_32 * (1 + ((b >>> 0) & 0xfffff)) + (a >>> 0);
}

/** A set of source numbers that only grows, with its count (and a count of those not kept). */
export class DistinctSources {
  private slots = new Float64Array(1024);
  /** log2 of the slot count. */
  private bits = 10;
  private used = 0;
  /** New sources counted after the set was full: a later return of one of them counts again. */
  overflow = 0;

  constructor(private readonly max = MAX_DISTINCT_SOURCES) {}

  /** Sources counted (each once while the set had room). */
  get count(): number {
    return this.used + this.overflow;
  }

  /** True when `n` (a `sourceNumber`) was added before. */
  has(n: number): boolean {
    const s = this.slots;
    const mask = s.length - 1;
    for (let i = hashSlot(n, this.bits); ; i = (i + 1) & mask) {
      const v = s[i] as number;
      if (v === EMPTY) return false;
      if (v === n + 1) return true;
    }
  }

  /** Adds `n`; returns true when it was new. */
  add(n: number): boolean {
    if (this.has(n)) return false;
    if (this.used >= this.max) {
      this.overflow++;
      return true;
    }
    if ((this.used + 1) * 2 > this.slots.length) this.grow();
    this.insert(this.slots, this.bits, n + 1);
    this.used++;
    return true;
  }

  private insert(s: Float64Array, bits: number, stored: number): void {
    const mask = s.length - 1;
    let i = hashSlot(stored - 1, bits);
    while (s[i] !== EMPTY) i = (i + 1) & mask;
    s[i] = stored;
  }

  private grow(): void {
    const old = this.slots;
    const next = new Float64Array(old.length * 2);
    for (const v of old) if (v !== EMPTY) this.insert(next, this.bits + 1, v);
    this.slots = next;
    this.bits++;
  }
}

/** The slot a number starts probing at: the top bits of a multiplicative hash of both halves. */
function hashSlot(n: number, bits: number): number {
  const lo = n >>> 0;
  const hi = Math.floor(n / TWO_32) >>> 0;
  // The top bits of a multiplicative hash mix every input bit.
  return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> (32 - bits);
}
