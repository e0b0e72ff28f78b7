// Loaded with --import: reports the process's peak resident set size when it exits. On Linux from
// VmHWM: getrusage's maxRSS starts from the parent's resident size at the fork (Linux keeps it
// over exec), so a benchmark holding hundreds of MB when it starts the CLI would see that figure.
import { readFileSync } from 'node:fs';

process.on('exit', () => {
  let kb = process.resourceUsage().maxRSS;
  try {
    const hwm = /^VmHWM:\s*(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) kb = Number(hwm[1]);
  } catch {
    // not Linux: maxRSS it is
  }
  process.stderr.write(`\nPEAK_RSS_KB=${kb}\n`);
});
