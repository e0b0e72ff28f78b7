import { closeSync, createReadStream, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { glob } from 'tinyglobby';
import { parse as parseYaml } from 'yaml';
import { readLines } from '../adapters/log-stream.js';
import { DEFAULT_CONFIG, type DetectorConfig } from '../core/config-defaults.js';
import { InputError, ProbeWatchError } from '../core/errors.js';
import { sanitize } from '../core/escape.js';
import { parseCidr, sourceKey } from '../core/ip.js';
import { buildReport } from '../core/report.js';
import { Detector } from '../core/scan.js';
import { CommandUsageError, argumentProblem, parseCount, parseTimeArg, readProblem } from './commands/common.js';
import { OPS_HELP, isOpsCommand } from './commands/names.js';
import { explainCounts, explainJson, jsonPieces, makeStyle, outputWidth, renderExplain, reportLines, writePieces } from './render.js';

const VERSION = '0.1.0';

const USAGE = `Usage: probewatch scan [options] FILE… | -
       probewatch config check|push … (probewatch config --help)

Reads access logs (plain or gzip, files, globs or - for stdin) and reports which sources probe
the site, what they were after, and which alarming-looking lines are harmless.

Options:
  --json                   print one JSON document (contract version 1) instead of the report
  --format NAME|STRING     log format instead of auto-detection: combined, common, vhost_combined,
                           vhost_common, combined_xff, alb, elb, cloudfront, w3c (alias
                           iis), json, haproxy, s3, 'syslog:<format>', 'apache:<LogFormat>' or
                           'nginx:<log_format>' (without it, detected per line)
  --config FILE            YAML or JSON settings: thresholds, trustedProxies, allowlist,
                           knownRoutes, forms, rules, disableRules, jsonFields (all of them:
                           the README's configuration reference; check one: probewatch config
                           check FILE)
  --trusted-proxies LIST   comma-separated CIDRs whose X-Forwarded-For is believed
  --explain IP             list every request of that source with the rule that matched it
                           (with --json: an "explain" field holds them)
  --since TIME, --until TIME
                           read only the log lines whose own time is in this range (the
                           lines are filtered, before detection; the others are counted as
                           outside-time-range): a date (2024-05-01, 2024-05-01T12:00Z) or a
                           duration back from now (30m, 24h, 7d)
  --top N                  show the N most severe alerted sources in the text report (the
                           summary and the details; --json always lists all)
  --fail-on-alert          exit 1 when any source was alerted
  --no-progress            no progress bar on stderr
  -h, --help               this text
  -v, --version            the version

Exit status: 0 success, 1 alerts with --fail-on-alert, 2 usage or input error.

${OPS_HELP}`;

/** Where the CLI writes; injectable so tests can capture output. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  now: () => number;
}

class UsageError extends ProbeWatchError {}

async function loadConfig(path: string | undefined, trusted: string | undefined): Promise<DetectorConfig> {
  let config = structuredClone(DEFAULT_CONFIG);
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new InputError(`the config file ${sanitize(path, 300)}: ${readProblem(e)}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (e) {
      throw new InputError(`${path} is not valid YAML or JSON: ${(e as Error).message}`);
    }
    // The schema (and its library) loads only when there is a file to check.
    const { parseDetectorConfig } = await import('../core/config.js');
    config = parseDetectorConfig(doc, path);
  }
  if (trusted !== undefined) {
    const list = trusted
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const c of list) {
      try {
        parseCidr(c);
      } catch (e) {
        throw new UsageError(`--trusted-proxies: ${(e as Error).message}`);
      }
    }
    config.trustedProxies = [...config.trustedProxies, ...list];
  }
  return config;
}

function realPath(f: string): string {
  try {
    return realpathSync(f);
  } catch {
    return resolvePath(f);
  }
}

async function expandInputs(args: string[]): Promise<string[]> {
  const out: string[] = [];
  // A file named twice (`access.log access.log*`) is read once: read twice, its requests would
  // count twice towards every threshold.
  const seen = new Set<string>();
  const add = (f: string) => {
    // By the file itself: a symbolic link and its target, or two paths to it, are one file.
    const key = f === '-' ? f : realPath(f);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(f);
  };
  for (const a of args) {
    if (a === '-') {
      if (seen.has(a)) throw new UsageError('standard input (-) can be read only once');
      add(a);
      continue;
    }
    if (/[*?[{]/.test(a)) {
      const found = (await glob(a, { onlyFiles: true })).sort();
      if (found.length === 0) throw new InputError(`no file matches ${sanitize(a, 300)}`);
      for (const f of found) add(f);
      continue;
    }
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(a);
    } catch {
      throw new InputError(`${sanitize(a, 300)}: no such file`);
    }
    if (st.isDirectory()) throw new InputError(`${sanitize(a, 300)} is a directory; pass the files in it, e.g. '${sanitize(a, 300)}/*'`);
    add(a);
  }
  return out;
}

function progressBar(io: CliIo, totalBytes: number, enabled: boolean) {
  let done = 0;
  let lines = 0;
  let last = 0;
  const start = io.now();
  const draw = (force: boolean) => {
    const now = io.now();
    if (!force && now - last < 200) return;
    last = now;
    // The total of a gzip is an estimate: the bar stops at 99% until the input ends.
    const pct = totalBytes ? Math.min(99, Math.floor((done / totalBytes) * 100)) : 0;
    const bar = '█'.repeat(Math.floor(pct / 4)).padEnd(25, '░');
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const rate = (done / 1e6 / Math.max(0.001, (now - start) / 1000)).toFixed(1);
    io.stderr.write(`\r${bar} ${String(pct).padStart(3)}%  ${mb(done)}/${mb(totalBytes)} MB of text  ${lines.toLocaleString('en')} lines  ${rate} MB/s `);
  };
  return {
    bytes(n: number) {
      done += n;
      if (enabled) draw(false);
    },
    line() {
      lines++;
    },
    finish() {
      if (enabled) io.stderr.write('\r\u001b[2K');
    },
  };
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const style = makeStyle(Boolean(io.stdout.isTTY) && !io.env.NO_COLOR);
  const errStyle = makeStyle(Boolean(io.stderr.isTTY) && !io.env.NO_COLOR);
  // The commands on a deployed pipeline parse their own options.
  if (isOpsCommand(argv[0])) return (await import('./commands/index.js')).runOpsCommand(argv[0], argv.slice(1), io);
  try {
    if (argv[0] === 'config') return await (await import('./commands/config.js')).runConfigCommand(argv.slice(1), io);
    let parsed: ReturnType<typeof parseOptions>;
    try {
      parsed = parseOptions(argv);
    } catch (e) {
      throw new UsageError(argumentProblem(e));
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (values.version) {
      io.stdout.write(`probewatch ${VERSION}\n`);
      return 0;
    }
    const [command, ...files] = positionals;
    if (command !== 'scan') throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
    if (files.length === 0) throw new UsageError('no input given: pass log files, globs, or - for standard input');
    const config = await loadConfig(values.config, values['trusted-proxies']);
    const inputs = await expandInputs(files);
    const explain = values.explain;
    if (explain !== undefined && !/^[0-9a-fA-F.:]+(\/64)?$/.test(explain))
      throw new UsageError(`--explain takes an IP address (got "${sanitize(explain, 60)}")`);
    const range = scanRange(values, io.now());
    const top = values.top === undefined ? undefined : parseCount(values.top, '--top', 0, 1_000_000);
    const detector = new Detector(config, { ...(values.format ? { format: values.format } : {}), ...(explain ? { explain } : {}), ...range });

    // Progress counts decompressed bytes: a gzip's size is estimated from its trailer.
    const totalBytes = inputs.reduce((n, f) => (f === '-' ? n : n + textSizeOf(f)), 0);
    const showProgress = Boolean(io.stderr.isTTY) && !values['no-progress'] && totalBytes > 20e6;
    const progress = progressBar(io, totalBytes, showProgress);
    let inputErrors = 0;
    for (const input of inputs) {
      const name = input === '-' ? '(stdin)' : input;
      const scanner = detector.openObject(name);
      const body = (input === '-' ? io.stdin : createReadStream(input, { highWaterMark: 256 * 1024 })) as AsyncIterable<Uint8Array>;
      try {
        const sink = showProgress
          ? {
              line: (l: string) => {
                progress.line();
                scanner.push(l);
              },
              overlong: (p: string, reason?: string) => scanner.overlong(p, reason),
              usable: () => scanner.usable(),
            }
          : { line: (l: string) => scanner.push(l), overlong: (p: string, reason?: string) => scanner.overlong(p, reason), usable: () => scanner.usable() };
        const outcome = await readLines(body, sink, { onText: (n) => progress.bytes(n) });
        // Said once, below, with the report's entry for the file.
        if (outcome.notLog) scanner.refuse(outcome.notLog);
        else if (outcome.cutOff) {
          // The report covers only the start of this file: say so, and exit 2 like other input problems.
          progress.finish();
          io.stderr.write(errStyle.yellow(`probewatch: ${sanitize(name, 200)}: only partly read (${outcome.cutOff}), it looks like a decompression bomb\n`));
          inputErrors++;
        }
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        progress.finish();
        io.stderr.write(errStyle.red(`probewatch: ${sanitize(name, 200)}: ${e.message}\n`));
        inputErrors++;
      }
      const stats = scanner.end();
      if (stats.notLog) {
        progress.finish();
        io.stderr.write(errStyle.yellow(`probewatch: ${sanitize(name, 200)}: skipped: ${stats.notLog}\n`));
        inputErrors++;
      }
    }
    progress.finish();
    const report = buildReport(detector);
    // --explain: the source's requests as counted (its entry in the report, else its state when
    // it was clean), beside the first EXPLAIN_LIMIT the detector kept.
    const explainKey = explain ? sourceKey(explain) : '';
    const counts = explain
      ? explainCounts(
          detector.explained.length,
          report.sources.find((s) => s.source === explainKey)?.requests ?? detector.aggregator.sources.get(explainKey)?.requests,
        )
      : undefined;
    if (values.json) {
      const doc = explain && counts ? { ...report, explain: explainJson(explainKey, detector.explained, counts) } : report;
      await writePieces(io.stdout, jsonPieces(doc as unknown as Record<string, unknown>));
    } else if (explain) {
      io.stdout.write(`${renderExplain(explainKey, detector.explained, report, style, outputWidth(io.stdout), counts)}\n`);
    } else {
      // Rendered as written, in pieces of 500 lines: never the whole text of thousands of alerts.
      const lines = reportLines(report, style, outputWidth(io.stdout), {
        ...(top !== undefined ? { top } : {}),
        windowSeconds: config.windowSeconds,
      });
      const chunks = function* () {
        let piece: string[] = [];
        for (const line of lines) {
          piece.push(line);
          if (piece.length < 500) continue;
          yield `${piece.join('\n')}\n`;
          piece = [];
        }
        if (piece.length) yield `${piece.join('\n')}\n`;
      };
      await writePieces(io.stdout, chunks());
    }
    if (inputErrors > 0) return 2;
    if (values['fail-on-alert'] && report.alerts.length > 0) return 1;
    return 0;
  } catch (e) {
    if (e instanceof ProbeWatchError) {
      io.stderr.write(errStyle.red(`probewatch: ${e.message}\n`));
      if (e instanceof UsageError || e instanceof CommandUsageError) io.stderr.write('Run probewatch --help for usage.\n');
      return 2;
    }
    throw e;
  }
}

/** `--since`/`--until` as event-time bounds of the lines read. */
function scanRange(values: { since?: string; until?: string }, now: number): { since?: number; until?: number } {
  const since = values.since === undefined ? undefined : parseTimeArg(values.since, now, '--since');
  const until = values.until === undefined ? undefined : parseTimeArg(values.until, now, '--until');
  if (since !== undefined && until !== undefined && since >= until) throw new UsageError('--since must be before --until');
  return { ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) };
}

/**
 * A file's size as text: a gzip's from its trailer (ISIZE, the last member's size modulo 4 GiB,
 * so an estimate, never less than the compressed size), a plain file's from its size.
 */
export function textSizeOf(path: string): number {
  const size = statSync(path).size;
  if (size < 18) return size;
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(2);
    readSync(fd, head, 0, 2, 0);
    if (head[0] !== 0x1f || head[1] !== 0x8b) return size;
    const tail = Buffer.alloc(4);
    readSync(fd, tail, 0, 4, size - 4);
    return Math.max(size, tail.readUInt32LE(0));
  } finally {
    closeSync(fd);
  }
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      format: { type: 'string' },
      config: { type: 'string' },
      'trusted-proxies': { type: 'string' },
      explain: { type: 'string' },
      'fail-on-alert': { type: 'boolean' },
      'no-progress': { type: 'boolean' },
      since: { type: 'string' },
      until: { type: 'string' },
      top: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}
