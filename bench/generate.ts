import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createGzip } from 'node:zlib';

/** Small deterministic PRNG (mulberry32), so every run writes the same bytes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36',
];
const SCANNER_AGENTS = [
  'Mozilla/5.0 zgrab/0.x',
  'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None)',
  'python-requests/2.31.0',
  'Mozilla/5.0 (Windows NT 6.1; WOW64; rv:40.0) Gecko/20100101 Firefox/40.1',
];
const PROBES = [
  '/cgi-bin/test.cgi',
  '/cgi-bin/php5',
  '/.env',
  '/.git/config',
  '/wp-login.php',
  '/xmlrpc.php',
  '/phpmyadmin/index.php',
  '/admin/',
  '/user/register',
  '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/backup.sql',
  '/server-status',
  '/actuator/env',
  '/HNAP1/',
  '/index.php?option=com_users',
];

/**
 * Writes `lines` combined-format lines to plain and gzip files: page views followed by their
 * assets from 5,000 browsers, and one burst in ten from one of 60 scanners.
 */
export async function generate(lines: number, plainPath: string, gzipPath: string): Promise<void> {
  const rand = rng(20241121);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const pages = Array.from({ length: 400 }, (_, i) => `/articles/${2015 + (i % 10)}/${i}-some-title-${i % 37}`);
  const assets = Array.from({ length: 60 }, (_, i) => `/static/${['css', 'js', 'img'][i % 3]}/asset-${i}.${['css', 'js', 'png'][i % 3]}`);
  const clients = Array.from({ length: 5000 }, (_, i) => `${11 + (i % 200)}.${(i * 7) % 256}.${(i * 13) % 256}.${(i % 250) + 1}`);
  const scanners = Array.from({ length: 60 }, (_, i) => `203.0.${113 + (i % 3)}.${i + 1}`);
  const plain = createWriteStream(plainPath);
  const gz = createGzip({ level: 6 });
  gz.pipe(createWriteStream(gzipPath));
  let t = Date.UTC(2024, 2, 1);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  let batch = '';
  const stamp = () => {
    const d = new Date(t);
    return `${p2(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
  };
  let written = 0;
  const emit = async (line: string) => {
    batch += `${line}\n`;
    written++;
    if (batch.length > 1 << 20) {
      if (!plain.write(batch)) await once(plain, 'drain');
      if (!gz.write(batch)) await once(gz, 'drain');
      batch = '';
    }
  };
  while (written < lines) {
    t += Math.floor(rand() * 400); // ~5 page views per second, each with its assets
    if (rand() < 0.1) {
      // A scanner: a short run of probes, then it moves on.
      const ip = pick(scanners);
      const ua = pick(SCANNER_AGENTS);
      const n = 1 + Math.floor(rand() * 6);
      for (let k = 0; k < n && written < lines; k++) {
        const path = rand() < 0.5 ? pick(PROBES) : `/${Math.floor(rand() * 1e6).toString(36)}.php`;
        await emit(`${ip} - - [${stamp()}] "GET ${path} HTTP/1.1" 404 196 "-" "${ua}"`);
        t += Math.floor(rand() * 300);
      }
      continue;
    }
    // A page view: the page, then the assets the browser fetches for it.
    const c = Math.floor(rand() * clients.length);
    const ip = clients[c] as string;
    const ua = AGENTS[c % AGENTS.length] as string;
    const missing = rand() < 0.03;
    const page = missing ? `/articles/missing-${Math.floor(rand() * 50)}` : pick(pages);
    const status = missing ? 404 : rand() < 0.1 ? 304 : 200;
    await emit(
      `${ip} - - [${stamp()}] "GET ${page} HTTP/1.1" ${status} ${status === 200 ? 1000 + Math.floor(rand() * 50000) : 0} "https://www.example.com${pick(pages)}" "${ua}"`,
    );
    const assetsPerPage = missing ? 0 : 2 + Math.floor(rand() * 7);
    for (let k = 0; k < assetsPerPage && written < lines; k++) {
      const st = rand() < 0.4 ? 304 : 200;
      await emit(
        `${ip} - - [${stamp()}] "GET ${pick(assets)} HTTP/1.1" ${st} ${st === 200 ? 500 + Math.floor(rand() * 90000) : 0} "https://www.example.com${page}" "${ua}"`,
      );
    }
  }
  plain.write(batch);
  gz.write(batch);
  plain.end();
  gz.end();
  await Promise.all([once(plain, 'finish'), once(gz, 'end')]);
}
