import { main } from './main.js';

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, now: Date.now }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`probewatch: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 70;
  },
);
