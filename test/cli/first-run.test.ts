import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MIN_NODE_MAJOR, nodeTooOld } from '../../lambdas/cli/node-version.js';
import { cdkContext } from '../support/infra.js';

describe('first-run errors: an old Node', () => {
  it('package.json engines and the checked release agree', () => {
    const engines = JSON.parse(readFileSync('package.json', 'utf8')).engines.node as string;
    assert.equal(engines, `>=${MIN_NODE_MAJOR}`);
  });

  it('says which release is needed and how to get it', () => {
    assert.equal(nodeTooOld('v20.0.0'), null);
    assert.equal(nodeTooOld('v22.11.0'), null);
    assert.match(nodeTooOld('v18.19.1') ?? '', /^probewatch needs Node\.js 20 or later; this is Node\.js v18\.19\.1\. Install a current release/);
    assert.match(nodeTooOld('garbage') ?? '', /needs Node\.js 20/);
  });

  it('the built CLI stops with that sentence before loading anything on Node 18', () => {
    const r = spawnSync(
      process.execPath,
      ['-e', "Object.defineProperty(process, 'version', { value: 'v18.19.1' }); await import('./dist/probewatch.mjs')", '--input-type=module'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^probewatch needs Node\.js 20 or later; this is Node\.js v18\.19\.1/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

describe('first-run errors: npm start before npm ci', () => {
  it('says to run npm ci (which builds dist/) instead of a module-not-found stack', () => {
    const start = JSON.parse(readFileSync('package.json', 'utf8')).scripts.start as string;
    // The script as npm runs it, in a directory without dist/.
    const r = spawnSync(start, { shell: true, cwd: mkdtempSync(join(tmpdir(), 'probewatch-start-')), encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, 'dist/probewatch.mjs is missing: run npm ci first (it builds dist/)\n');
    assert.doesNotMatch(r.stderr, /MODULE_NOT_FOUND|\n\s+at /);
    // With dist/ built, the same script scans the samples.
    const built = spawnSync(start, { shell: true, encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    assert.match(built.stdout, /^ProbeWatch scan: 2 files/);
  });
});

describe('first-run errors: cdk without -c env=NAME', () => {
  /** infra/bin/app.ts as the cdk CLI runs it: context in CDK_CONTEXT_JSON. */
  function app(context: Record<string, unknown>) {
    return spawnSync(process.execPath, ['--import', 'tsx', '--no-warnings', 'infra/bin/app.ts'], {
      encoding: 'utf8',
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: '/nonexistent-never-written' },
      timeout: 120_000,
    });
  }

  it('lists the environments of cdk.json and shows the command, without a stack trace', () => {
    const r = app({ environments: cdkContext.environments });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^ProbeWatch: no environment given: deploy with -c env=NAME, where NAME is one of: dev, prod\n/);
    assert.match(r.stderr, /Environments in cdk\.json: dev, prod\.\nFor example: npx cdk synth -c env=dev/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('an unknown environment: the same, naming it', () => {
    const r = app({ environments: cdkContext.environments, env: 'staging' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /unknown environment "staging"; known: dev, prod/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
