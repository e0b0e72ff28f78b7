/**
 * Checks that a rule's regular expression runs in linear time on attacker-controlled input.
 *
 * JavaScript regexes backtrack, so a pattern such as `(a+)+$` takes exponential time on a crafted
 * path. Rather than trust every author, patterns are restricted to a subset that cannot blow up:
 * no back-references or look-arounds, no unbounded quantifiers (`*`, `+`, `{n,}`: matching is an
 * unanchored search already, and `{0,100}` bounds the rest), and no repeated group that itself
 * contains a quantifier or an alternation. Returns a reason, or null when the pattern is safe.
 */
export function regexSafetyProblem(source: string): string | null {
  try {
    new RegExp(source);
  } catch (e) {
    return `it is not a valid regular expression (${(e as Error).message})`;
  }
  const groups: { risky: boolean }[] = [{ risky: false }];
  let lastWasGroupClose = false;
  let closedRisky = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    const top = groups[groups.length - 1] as { risky: boolean };
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (/[1-9k]/.test(next)) return 'back-references are not allowed';
      i++;
      lastWasGroupClose = false;
      continue;
    }
    if (c === '[') {
      // Skip the character class: its content is not syntax.
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      i = j;
      lastWasGroupClose = false;
      continue;
    }
    if (c === '(') {
      if (source.startsWith('(?=', i) || source.startsWith('(?!', i) || source.startsWith('(?<=', i) || source.startsWith('(?<!', i)) {
        return 'look-arounds are not allowed';
      }
      groups.push({ risky: false });
      lastWasGroupClose = false;
      continue;
    }
    if (c === ')') {
      const closed = groups.pop();
      if (!closed || groups.length === 0) return 'unbalanced parentheses';
      closedRisky = closed.risky;
      if (closed.risky) (groups[groups.length - 1] as { risky: boolean }).risky = true;
      lastWasGroupClose = true;
      continue;
    }
    if (c === '|') {
      top.risky = true;
      lastWasGroupClose = false;
      continue;
    }
    if (c === '*' || c === '+') {
      if (source[i - 1] === '*' || source[i - 1] === '+' || source[i - 1] === '?' || source[i - 1] === '}') {
        return 'possessive or stacked quantifiers are not allowed';
      }
      return `the unbounded quantifier "${c}" at column ${i + 1} is not allowed; use a bounded one such as {0,100}`;
    }
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
      if (m) {
        if (m[2] !== undefined && m[3] === '') return `the unbounded quantifier "${m[0]}" at column ${i + 1} is not allowed; give it an upper bound`;
        const max = Number(m[3] ?? m[1]);
        if (max > 1000) return `the quantifier "${m[0]}" allows more than 1000 repetitions`;
        if (max > 1 && lastWasGroupClose && closedRisky) return `the group repeated by "${m[0]}" contains a quantifier or an alternation`;
        top.risky = true;
        i += m[0].length - 1;
        lastWasGroupClose = false;
        continue;
      }
    }
    // `?` (an optional item matches at most once) and literals are harmless.
    lastWasGroupClose = false;
  }
  if (groups.length !== 1) return 'unbalanced parentheses';
  return null;
}
