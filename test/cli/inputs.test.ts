import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { RATIO_CHECK_AFTER_BYTES } from '../../lambdas/adapters/log-stream.js';
import { runCli } from '../support/cli.js';
import { timeAt } from '../support/records.js';

const dir = mkdtempSync(join(tmpdir(), 'probewatch-inputs-'));
const sweep = (ip: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) => `${ip} - - [${timeAt(i)}] "GET /old/backup-${i}.tar.gz HTTP/1.1" 404 196 "-" "Mozilla/5.0 (compatible; Nmap Scripting Engine)"`,
  );

describe('probewatch scan on awkward inputs', () => {
  it('reads a file with CR-only line endings line by line', async () => {
    const path = join(dir, 'export-mac.log');
    writeFileSync(path, sweep('198.51.100.51', 25).join('\r'));
    const { code, stdout } = await runCli(['scan', '--json', path]);
    assert.equal(code, 0);
    const doc = JSON.parse(stdout);
    assert.equal(doc.lines.total, 25);
    assert.equal(doc.lines.parsed, 25);
    assert.equal(doc.alerts[0]?.source, '198.51.100.51');
  });

  it('cuts a gzip bomb off, counts why, keeps what came before, and exits 2', { timeout: 60_000 }, async () => {
    const path = join(dir, 'access.log.gz');
    const member = gzipSync(Buffer.alloc(16 * 1024 ** 2, '\n'), { level: 9 });
    writeFileSync(path, Buffer.concat([gzipSync(`${sweep('198.51.100.52', 15).join('\n')}\n`), ...Array.from({ length: 64 }, () => member)]));
    const { code, stdout, stderr } = await runCli(['scan', '--json', path]);
    assert.equal(code, 2);
    assert.match(stderr, /access\.log\.gz: only partly read \(compression-ratio-limit\)/);
    const doc = JSON.parse(stdout);
    assert.equal(doc.lines.skipped['compression-ratio-limit'], 1);
    assert.ok(doc.lines.total < RATIO_CHECK_AFTER_BYTES + 1024 ** 2, `${doc.lines.total} lines read of 1 GiB`);
    assert.equal(doc.alerts[0]?.source, '198.51.100.52');
  });

  it('refuses a configured regex RE2 cannot run, naming the file and the field', async () => {
    const path = join(dir, 'rules.yaml');
    writeFileSync(
      path,
      'rules:\n  - id: repeated-word\n    category: odd-path\n    class: probing\n    severity: low\n    score: 5\n    explain: A word repeated in the path\n    match:\n      path: { regex: "/(\\\\w+)/\\\\1" }\n',
    );
    const r = await runCli(['scan', '--config', path, 'events/logs/seed-cgi-sweep.log']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /rules\.yaml: rules\[0\]\.match\.path\.regex is not a valid regular expression \(RE2 syntax/);
  });
});
