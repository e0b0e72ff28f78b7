// Loaded with --import: reports the process's peak resident set size when it exits. On Linux from
// VmHWM: getrusage's maxRSS carries the parent's peak over fork and exec, so a benchmark that had
// generated its input in-process (hundreds of MB) saw that figure in every child it started.
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
