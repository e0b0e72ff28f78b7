import { collectGarbageSooner } from '../adapters/heap.js';
import { nodeTooOld } from './node-version.js';

collectGarbageSooner();

/**
 * `probewatch scan … | head -1`: the reader may go away before the report is written. A closed
 * pipe is not a failure of the scan, so it ends the output quietly instead of crashing on an
 * unhandled 'error' event; any other write error is still reported.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') {
      stream.destroy();
      return;
    }
    process.stderr.write(`probewatch: cannot write the output: ${e.message}\n`);
    process.exitCode = 74;
  });
}

quietOnClosedPipe(process.stdout);
quietOnClosedPipe(process.stderr);

// Checked before the rest of the CLI is even loaded: an old Node gets a sentence, not a stack trace.
const tooOld = nodeTooOld(process.version);
if (tooOld) {
  process.stderr.write(`${tooOld}\n`);
  process.exit(1);
}
// The AWS SDK warns on every run that its releases after January 2027 will need Node 22: about
// the SDK's future, not this tool (which supports Node 20), so that one warning is not shown.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (!`${w.name} ${w.message}`.includes('NodeVersionSupportWarning')) process.stderr.write(`probewatch: ${w.name}: ${w.message}\n`);
});
const { main } = await import('./main.js');

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, now: Date.now }).then(
  (code) => {
    process.exitCode ??= code;
  },
  (e: unknown) => {
    process.stderr.write(`probewatch: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 70;
  },
);
