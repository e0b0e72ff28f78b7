/**
 * A multi-needle automaton (Aho–Corasick): one left-to-right pass over a string reports every
 * needle that occurs in it, however many needles there are. The classifier uses it to find, in
 * one pass per field, which rules can possibly match a new request line; only those are then
 * tested exactly. Time is linear in the text (one table step per character) plus the reports.
 */

/** Needle characters at most (after lower-casing by the caller): more are refused at build time. */
export const MAX_NEEDLE_CHARS = 200_000;

export class NeedleAutomaton {
  /** UTF-16 code unit → character class (0: a character no needle holds). */
  private readonly classOf = new Uint16Array(65536);
  private classes = 1;
  /** Trie during building: per state, class → next state. */
  private trie: Map<number, number>[] = [new Map()];
  private outputs: number[][] = [[]];
  private chars = 0;
  /** Dense transitions after `build`: delta[state * classes + class]. */
  private delta: Int32Array = new Int32Array(0);
  /** Per state, the needle ids ending there (its own and its suffixes'), or null. */
  private ends: (Int32Array | null)[] = [];
  private built = false;

  /** Adds a non-empty needle under `id` (ids need not be unique: a rule has several needles). */
  add(needle: string, id: number): void {
    if (this.built) throw new Error('the automaton is already built');
    if (needle.length === 0) throw new Error('an empty needle matches everything');
    this.chars += needle.length;
    if (this.chars > MAX_NEEDLE_CHARS) throw new Error(`the rules' needles exceed ${MAX_NEEDLE_CHARS} characters`);
    let state = 0;
    for (let i = 0; i < needle.length; i++) {
      const code = needle.charCodeAt(i);
      let cls = this.classOf[code] as number;
      if (cls === 0) {
        cls = this.classes++;
        this.classOf[code] = cls;
      }
      const edges = this.trie[state] as Map<number, number>;
      let next = edges.get(cls);
      if (next === undefined) {
        next = this.trie.length;
        this.trie.push(new Map());
        this.outputs.push([]);
        edges.set(cls, next);
      }
      state = next;
    }
    const out = this.outputs[state] as number[];
    if (!out.includes(id)) out.push(id);
  }

  /**
   * Computes failure links and the dense transition table; no needle can be added after. With
   * `foldAscii`, an ASCII capital steps like its small letter (needles are then given in lower
   * case): the automaton reads text as if `toLowerCase()` had been applied to its ASCII letters.
   */
  build(foldAscii = false): this {
    if (foldAscii) {
      for (let c = 65; c <= 90; c++) this.classOf[c] = this.classOf[c + 32] as number;
    }
    const n = this.trie.length;
    const k = this.classes;
    const delta = new Int32Array(n * k);
    const fail = new Int32Array(n);
    const order: number[] = [];
    // Breadth first from the root: a state's failure target is always settled before it.
    const root = this.trie[0] as Map<number, number>;
    for (const [cls, next] of root) {
      delta[cls] = next;
      fail[next] = 0;
      order.push(next);
    }
    for (let q = 0; q < order.length; q++) {
      const s = order[q] as number;
      const f = fail[s] as number;
      const outS = this.outputs[s] as number[];
      for (const id of this.outputs[f] as number[]) if (!outS.includes(id)) outS.push(id);
      const edges = this.trie[s] as Map<number, number>;
      for (let cls = 0; cls < k; cls++) {
        const next = edges.get(cls);
        if (next === undefined) delta[s * k + cls] = delta[f * k + cls] as number;
        else {
          delta[s * k + cls] = next;
          fail[next] = delta[f * k + cls] as number;
          order.push(next);
        }
      }
    }
    this.delta = delta;
    this.ends = this.outputs.map((o) => (o.length ? Int32Array.from(o) : null));
    this.trie = [];
    this.outputs = [];
    this.built = true;
    return this;
  }

  /** True when some needle occurs in `s`. */
  has(s: string): boolean {
    if (!this.built) throw new Error('build the automaton before scanning');
    const classOf = this.classOf;
    const delta = this.delta;
    const ends = this.ends;
    const k = this.classes;
    let state = 0;
    for (let i = 0; i < s.length; i++) {
      state = delta[state * k + (classOf[s.charCodeAt(i)] as number)] as number;
      if (ends[state] !== null) return true;
    }
    return false;
  }

  /** Calls `found(id)` for each needle id occurring in `s` (an id may be reported more than once). */
  scan(s: string, found: (id: number) => void): void {
    if (!this.built) throw new Error('build the automaton before scanning');
    const classOf = this.classOf;
    const delta = this.delta;
    const ends = this.ends;
    const k = this.classes;
    let state = 0;
    for (let i = 0; i < s.length; i++) {
      state = delta[state * k + (classOf[s.charCodeAt(i)] as number)] as number;
      const out = ends[state];
      if (out !== null && out !== undefined) for (let j = 0; j < out.length; j++) found(out[j] as number);
    }
  }
}
