import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeForMatch, decodeFully } from '../../../lambdas/core/rules/engine.js';

/** Percent-encodes every UTF-8 byte of a string, in upper or lower case hex. */
function encodeAll(s: string, upper: boolean): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const h = b.toString(16).padStart(2, '0');
    out += `%${upper ? h.toUpperCase() : h}`;
  }
  return out;
}

/** Text mixing plain characters, valid escapes of any code point, and broken or stray escapes. */
const mixed = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
      { weight: 3, arbitrary: fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }), fc.boolean()).map(([s, u]) => encodeAll(s, u)) },
      {
        weight: 2,
        arbitrary: fc.constantFrom('%', '%2', '%zz', '%%', '%c0%ae', '%ed%a0%80', '%f4%90%80%80', '%e2%82', '%e2%41', '%ff', '%80', '%u002e', '%25'),
      },
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

describe('decodeForMatch', () => {
  it('decodes exactly as decodeURIComponent does wherever that succeeds', () => {
    fc.assert(
      fc.property(mixed, (s) => {
        let expected: string;
        try {
          expected = decodeURIComponent(s);
        } catch {
          return; // compared below instead
        }
        assert.equal(decodeForMatch(s), expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips any string encoded byte by byte, in either case of hex', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), fc.boolean(), (s, upper) => {
        // Lone surrogates are not UTF-8: encode what Buffer makes of them (U+FFFD).
        const valid = Buffer.from(s, 'utf8').toString('utf8');
        assert.equal(decodeForMatch(encodeAll(s, upper)), valid);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws, and leaves each invalid escape as written while decoding the valid ones around it', () => {
    // Parts with the string each decodes to: plain text (no `%`, no hex digit, so a stray `%`
    // before it cannot become an escape), whole characters encoded, and broken escapes.
    const part = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'ghijklmnopqrstuvwxyz/.-_ ?&=\u00e9\u20ac'), maxLength: 4 }).map((s) => [s, s] as const),
      fc.tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }), fc.boolean()).map(([s, u]) => [encodeAll(s, u), s] as const),
      fc.constantFrom('%', '%%', '%zz', '%ff', '%c0%ae', '%C1%9C', '%ed%a0%80', '%f4%90%80%80', '%e2%82', '%u002e').map((s) => [s, s] as const),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 12 }), (parts) => {
        const input = parts.map((p) => p[0]).join('');
        assert.equal(decodeForMatch(input), parts.map((p) => p[1]).join(''));
      }),
      { numRuns: 3000 },
    );
    assert.equal(decodeForMatch('100%'), '100%');
    assert.equal(decodeForMatch('%zz%41'), '%zzA');
    assert.equal(decodeForMatch('%e2%80%99 100% sure'), '\u2019 100% sure');
    assert.equal(decodeForMatch('%ff%41'), '%ffA');
    // Overlong forms, surrogates and code points above U+10FFFF are not UTF-8.
    assert.equal(decodeForMatch('%c0%ae%2e'), '%c0%ae.');
    assert.equal(decodeForMatch('%ed%a0%80x'), '%ed%a0%80x');
    assert.equal(decodeForMatch('%f4%90%80%80'), '%f4%90%80%80');
    // A truncated sequence keeps its lead byte; what follows is decoded on its own.
    assert.equal(decodeForMatch('%e2%82%41'), '%e2%82A');
    assert.equal(decodeForMatch('%%32%65'), '%2e');
    assert.equal(decodeForMatch('a=%25&b=%'), 'a=%&b=%');
  });

  it('returns the same string when there is nothing to decode', () => {
    const s = 'plain/path?q=1';
    assert.equal(decodeForMatch(s), s);
    assert.equal(decodeForMatch('%'), '%');
  });
});

describe('decodeFully', () => {
  it('decodes nested and mixed escapes until stable, upper or lower case', () => {
    assert.equal(decodeFully('%%32%65%%32%45'), '..');
    assert.equal(decodeFully('%252E%252e%252F'), '../');
    assert.equal(decodeFully('a=%25&'), 'a=%&');
    assert.equal(decodeFully('%c0%ae%C0%AE/'), '../');
  });
});
