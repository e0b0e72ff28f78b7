import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

/** Runs the real entry point with its stdout read by nobody, as `probewatch scan … | head -1` does once head exits. */
async function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'lambdas/cli/bin.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stderr };
}

describe('probewatch scan into a closed pipe', () => {
  it('exits quietly with the status of the scan when the reader has gone', { timeout: 60_000 }, async () => {
    const report = await runWithClosedStdout(['scan', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(report.stderr, '');
    assert.equal(report.code, 0);
    const json = await runWithClosedStdout(['scan', '--json', '--fail-on-alert', 'events/logs/seed-cgi-sweep.log']);
    assert.equal(json.stderr, '');
    assert.equal(json.code, 1, 'the alerts still decide the status');
  });
});
