import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { JAVA_HELP, checkFiles, checkJava, javaMajor } from '../../lambdas/local/preflight.js';

const dir = mkdtempSync(join(tmpdir(), 'probewatch-preflight-'));

/** `npm run local -- ARGS` as npm runs it, with a PATH of our choosing. */
function runLocal(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--no-warnings', 'lambdas/local/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
}

describe('npm run local: first-run checks', () => {
  it('reads the major release from java -version, old and new numbering', () => {
    assert.equal(javaMajor('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment'), 17);
    assert.equal(javaMajor('java version "1.8.0_392"\nJava(TM) SE Runtime Environment'), 8);
    assert.equal(javaMajor('openjdk version "21" 2023-09-19'), 21);
    assert.equal(javaMajor('command not understood'), null);
  });

  it('no Java, an old Java, or an unreadable version: says how to install Java 17', () => {
    const enoent = Object.assign(new Error('spawnSync java ENOENT'), { code: 'ENOENT' });
    assert.match(checkJava(() => ({ error: enoent })) ?? '', /^Java was not found on the PATH\.\nDynamoDB Local .* Java 17 or later/);
    assert.match(checkJava(() => ({ stderr: 'openjdk version "11.0.2" 2019-01-15' })) ?? '', /^Java 11 was found, but DynamoDB Local needs Java 17/);
    assert.match(checkJava(() => ({ stderr: 'garbage' })) ?? '', /did not say which version/);
    assert.equal(
      checkJava(() => ({ stderr: 'openjdk version "17.0.15" 2025-04-15' })),
      null,
    );
    assert.match(JAVA_HELP, /apt-get install openjdk-17-jre-headless/);
    assert.match(JAVA_HELP, /brew install openjdk@17/);
  });

  it('missing, unreadable and directory inputs are each named', () => {
    const ok = join(dir, 'ok.log');
    writeFileSync(ok, 'x');
    const locked = join(dir, 'locked.log');
    writeFileSync(locked, 'x');
    chmodSync(locked, 0o000);
    const problems = checkFiles([ok, join(dir, 'missing.log'), dir, locked]);
    assert.match(problems[0] ?? '', /missing\.log: no such file/);
    assert.match(problems[1] ?? '', /is a directory: pass the log files in it/);
    // root reads any file whatever its mode: only then is the locked file readable.
    if (process.getuid?.() !== 0) assert.match(problems[2] ?? '', /locked\.log: not readable \(permission denied\)/);
    assert.equal(problems.length, process.getuid?.() === 0 ? 2 : 3);
  });

  it('an unreadable file given to npm run local: a message and exit 2, before anything starts', () => {
    const r = runLocal([join(dir, 'nope.log')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^npm run local: cannot upload a file:\n {2}.*nope\.log: no such file\n$/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('no Java on the PATH: a message saying how to install it, exit 2', () => {
    const ok = join(dir, 'fine.log');
    writeFileSync(ok, 'x');
    const r = runLocal([ok], { PATH: dir });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /Java was not found on the PATH\.\nDynamoDB Local .*Java 17 or later\. Install it:/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('an unknown option: the usage, exit 2', () => {
    const r = runLocal(['--jsno']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Usage: npm run local -- \[--json\] \[--keep-running\] \[FILE…\]/);
  });
});
