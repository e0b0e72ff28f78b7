import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clipEscaped, escapeUntrusted, sanitize } from '../../lambdas/core/escape.js';

describe('escaping attacker-controlled strings, beyond control characters', () => {
  it('escapes invisible and direction-changing characters a person cannot see', () => {
    assert.equal(sanitize('a\u061cb\u2066c\u2069d'), 'a\\u{61c}b\\u{2066}c\\u{2069}d', 'Arabic letter mark and isolates');
    assert.equal(sanitize('ad\u00admin'), 'ad\\xadmin', 'a soft hyphen');
    assert.equal(sanitize('x\u2060y\ufff9z'), 'x\\u{2060}y\\u{fff9}z', 'word joiner and interlinear annotation');
    assert.equal(sanitize('ok\u{e0041}\u{e0042}'), 'ok\\u{e0041}\\u{e0042}', 'tag characters that hide text');
  });

  it('escapes lone surrogates and keeps real pairs', () => {
    assert.equal(sanitize('a\ud800b'), 'a\\u{d800}b');
    assert.equal(sanitize('a\udc00b'), 'a\\u{dc00}b');
    assert.equal(sanitize('smile \u{1f600}'), 'smile \u{1f600}');
  });

  it('never cuts an escape or a surrogate pair in half', () => {
    assert.equal(sanitize('abcd\u001bxyz', 7), 'abcd…', 'the escape \\x1b would straddle the cut');
    assert.equal(sanitize('abc\u{1f600}def', 5), 'abc…', 'the pair would straddle the cut');
    assert.equal(sanitize('a\\b', 3), 'a…', 'an escaped backslash is one unit');
  });

  it('escapeUntrusted keeps long values whole', () => {
    const key = `logs/${'x'.repeat(900)}\u001b.gz`;
    assert.equal(escapeUntrusted(key), `logs/${'x'.repeat(900)}\\x1b.gz`);
  });

  it('clipEscaped truncates escaped text without escaping it again', () => {
    const escaped = sanitize('C:\\logs\\a\u001b.log', 1000);
    assert.equal(clipEscaped(escaped, 1000), escaped);
    assert.equal(clipEscaped(escaped, 5), 'C:\\\\…');
    assert.equal(clipEscaped(escaped, 13), 'C:\\\\logs\\\\a…', 'the \\x1b escape is not split');
    assert.equal(clipEscaped(sanitize('a\u202eb', 100), 4), 'a…');
  });
});
