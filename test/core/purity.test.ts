import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// The core takes values and returns values: no SDK, no runtime, no environment, no clock.
describe('lambdas/core stays pure', () => {
  const forbidden: [RegExp, string][] = [
    [/from ['"]@aws-sdk\//, 'imports the AWS SDK'],
    [/from ['"]aws-lambda['"]/, 'imports the Lambda runtime types'],
    [/from ['"]node:(fs|net|http|https|child_process|process)/, 'does I/O'],
    [/process\.env/, 'reads the environment'],
    [/Date\.now\(\)|new Date\(\)/, 'reads the clock'],
    [/console\./, 'writes to the console'],
  ];
  for (const file of files('lambdas/core')) {
    it(file, () => {
      const text = readFileSync(file, 'utf8');
      for (const [re, what] of forbidden) assert.ok(!re.test(text), `${file} ${what}`);
    });
  }
});
