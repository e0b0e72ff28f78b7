import { makeParser } from '../../lambdas/core/formats/index.js';
import type { LogRecord } from '../../lambdas/core/model.js';

const combined = makeParser('combined');

/** Builds a record from the parts of a combined log line (the real parser does the work). */
export function record(opts: {
  ip?: string;
  time?: string;
  request?: string;
  status?: number;
  ua?: string;
  referer?: string;
}): LogRecord {
  const line = `${opts.ip ?? '203.0.113.50'} - - [${opts.time ?? '01/Jan/2024:00:00:00 +0000'}] "${opts.request ?? 'GET / HTTP/1.1'}" ${opts.status ?? 200} 100 "${opts.referer ?? '-'}" "${opts.ua ?? 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0'}"`;
  const r = combined.parse(line);
  if (!r || !r.ok) throw new Error(`test line did not parse: ${line}`);
  return r.record;
}

/** A combined line at `second` seconds after 2024-01-01 00:00:00 UTC. */
export function timeAt(second: number): string {
  const d = new Date(Date.UTC(2024, 0, 1, 0, 0, 0) + second * 1000);
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${mon}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
