import { RE2JS } from 're2js';

/**
 * Every rule's regular expression, built-in or configured, runs on RE2 (re2js, pure JavaScript,
 * so it needs no native build in the Lambda): matching is linear in the input whatever the
 * pattern, so no pattern can make a crafted request line take exponential time, and no checker of
 * "safe" syntax is needed. RE2 refuses what it cannot run in linear time (back-references,
 * look-arounds) with a parse error.
 *
 * What remains is the size of the pattern once repetitions are expanded (`a{0,1000}` is 2,000
 * instructions): it multiplies the per-character cost of matching and the time to compile.
 */

/**
 * Sum of the repetition counts written in one pattern (`x{0,500}` counts 500). Checked before
 * compiling, because compiling a pattern of many large repetitions is itself slow.
 */
export const MAX_REGEX_REPEAT_SUM = 2000;
/** Largest compiled program (RE2 instructions) accepted. */
export const MAX_REGEX_PROGRAM_SIZE = 20_000;

const REPEAT = /\{(\d+)(?:,(\d*))?\}/g;

function repeatSum(source: string): number {
  let sum = 0;
  for (const m of source.matchAll(REPEAT)) sum += Math.max(Number(m[1]), Number(m[2] || 0));
  return sum;
}

/** Compiles a pattern for linear-time search; throws an Error whose message says what is wrong. */
export function compileRegex(source: string): (s: string) => boolean {
  const repeats = repeatSum(source);
  if (repeats > MAX_REGEX_REPEAT_SUM) {
    throw new Error(`repeats too much: its repetition counts add up to ${repeats}, more than ${MAX_REGEX_REPEAT_SUM}`);
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (e) {
    throw new Error(`is not a valid regular expression (RE2 syntax: no back-references or look-arounds): ${(e as Error).message}`);
  }
  if (re.programSize() > MAX_REGEX_PROGRAM_SIZE) {
    throw new Error(`is too large once its repetitions are expanded (${re.programSize()} instructions, at most ${MAX_REGEX_PROGRAM_SIZE})`);
  }
  return (s) => re.test(s);
}

/** Why a pattern cannot be used, or null when it can. */
export function regexProblem(source: string): string | null {
  try {
    compileRegex(source);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
