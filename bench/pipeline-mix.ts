/**
 * Logs for the cost benchmark with a chosen share of scanner traffic: a quiet site (0.1 % of the
 * lines from scanners), the benchmark's own mix, an attacked one (10 %). The same shapes as
 * bench/generate.ts (page views with their assets from 5,000 browsers, short probe bursts), with
 * the burst rate and the number of scanners set from the share.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rng } from './generate.js';

const AGENT = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36';
const SCANNER_AGENTS = ['Mozilla/5.0 zgrab/0.x', 'python-requests/2.31.0', 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None)'];
const PROBES = ['/.env', '/.git/config', '/wp-login.php', '/xmlrpc.php', '/phpmyadmin/index.php', '/cgi-bin/test.cgi', '/actuator/env', '/backup.sql'];
/** Average lines of a page view (the page and 2–8 assets) and of a probe burst (1–6 probes). */
const PAGE_LINES = 6.3;
const BURST_LINES = 3.5;

/** Scanners for a share of scanner lines: 60 at the benchmark's share (about 6 %), at least 10. */
export function scannersFor(share: number): number {
  return Math.max(10, Math.round(share * 1000));
}

/** Writes `lines` combined-format lines of which about `share` come from scanners. */
export async function generateMix(lines: number, share: number, path: string, seed = 7): Promise<void> {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  // Probability that the next event is a burst, so that bursts make `share` of the lines.
  const burst = (share * PAGE_LINES) / (BURST_LINES * (1 - share) + share * PAGE_LINES);
  const clients = Array.from({ length: 5000 }, (_, i) => `${11 + (i % 200)}.${(i * 7) % 256}.${(i * 13) % 256}.${(i % 250) + 1}`);
  const n = scannersFor(share);
  const scanners = Array.from({ length: n }, (_, i) => `203.${i >> 8}.${113 + (i % 3)}.${(i % 250) + 1}`);
  const out = createWriteStream(path);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (x: number) => String(x).padStart(2, '0');
  let t = Date.UTC(2024, 2, 1);
  const stamp = () => {
    const d = new Date(t);
    return `${p2(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
  };
  let written = 0;
  let chunk = '';
  const emit = async (line: string) => {
    chunk += `${line}\n`;
    written++;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  };
  while (written < lines) {
    t += Math.floor(rand() * 400);
    if (rand() < burst) {
      const ip = pick(scanners);
      const ua = pick(SCANNER_AGENTS);
      const k = 1 + Math.floor(rand() * 6);
      for (let j = 0; j < k && written < lines; j++) {
        const target = rand() < 0.5 ? pick(PROBES) : `/${Math.floor(rand() * 1e6).toString(36)}.php`;
        await emit(`${ip} - - [${stamp()}] "GET ${target} HTTP/1.1" 404 196 "-" "${ua}"`);
        t += Math.floor(rand() * 300);
      }
      continue;
    }
    const ip = pick(clients);
    const page = `/articles/${Math.floor(rand() * 400)}-some-title`;
    await emit(`${ip} - - [${stamp()}] "GET ${page} HTTP/1.1" 200 ${1000 + Math.floor(rand() * 50000)} "https://www.example.com/" "${AGENT}"`);
    const assets = 2 + Math.floor(rand() * 7);
    for (let j = 0; j < assets && written < lines; j++) {
      await emit(
        `${ip} - - [${stamp()}] "GET /static/asset-${Math.floor(rand() * 60)}.js HTTP/1.1" 200 ${500 + Math.floor(rand() * 90000)} "https://www.example.com${page}" "${AGENT}"`,
      );
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}
