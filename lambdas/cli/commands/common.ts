/** What the commands that look at a deployed pipeline share: options, times, output. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ProbeWatchError } from '../../core/errors.js';
import { sanitize } from '../../core/escape.js';
import { PLAUSIBLE_YEAR_END, PLAUSIBLE_YEAR_MIN } from '../../core/formats/shared.js';
import type { StackResources } from './resolve.js';

/** Where a command writes; the same streams as the scan's. */
export interface OpsIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  now: () => number;
}

/** Test seams: how a stack is found, and how a command waits between batches. */
export interface OpsDeps {
  resolve?: (env: string, region?: string) => Promise<StackResources>;
  sleep?: (ms: number) => Promise<void>;
}

/** A bad option or argument of a command (exit status 2, with the usage hint). */
export class CommandUsageError extends ProbeWatchError {}

/** The options every command on a deployed stack takes (each adds its own beside them). */
export const STACK_OPTIONS = {
  env: { type: 'string' },
  region: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A command's arguments: its own `options` beside `STACK_OPTIONS`, strictly, with positionals. */
export function parseStackArgs<const O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  return parseArgs({ args: argv, allowPositionals: true, strict: true, options: { ...STACK_OPTIONS, ...options } });
}

/**
 * What is wrong with the command line, in a line of our own: Node's message for an unknown option
 * goes on about positionals after `--` with an unbalanced quote.
 */
export function argumentProblem(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const message = err.message ?? String(e);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /^Unknown option '(.*?)'\./s.exec(message)?.[1];
    return option === undefined ? 'unknown option' : `unknown option "${sanitize(option, 60)}"`;
  }
  if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
    return `unexpected argument: ${sanitize(message.replace(/^Unexpected argument '(.*?)'.*$/s, '$1'), 60)}`;
  // Node's other messages are sentences on lines of their own (`--since -5m`: "argument is
  // ambiguous", then how to pass a value starting with a dash): shown as lines, each escaped.
  return message
    .split('\n')
    .slice(0, MESSAGE_LINES)
    .map((line) => sanitize(line, 300))
    .join('\n  ');
}

/** Lines of a message from Node's argument parser shown (its longest has three). */
const MESSAGE_LINES = 5;

/**
 * Why a file could not be read, in words (Node's `ENOENT: no such file or directory, open '…'`
 * repeats the name): "no such file", as the scan says it.
 */
export function readProblem(e: unknown): string {
  const err = e as { code?: string; message?: string };
  switch (err.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    default:
      return sanitize(err.message ?? String(e), 200);
  }
}

/** The report's width: the terminal's, or 100 columns when the output is not a terminal. */
export const DEFAULT_WIDTH = 100;
export function widthOf(out: { isTTY?: boolean; columns?: number }): number {
  return out.isTTY && out.columns && out.columns >= 40 ? out.columns : DEFAULT_WIDTH;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time for `--since`/`--until`: a duration back from now (`30m`, `24h`, `7d`), or an
 * ISO 8601 date or date-time (a date alone is midnight UTC; a time without a zone is UTC). A date
 * must exist (no 2015-02-31, no 29 February outside leap years) and fall in the years log
 * timestamps are read in (PLAUSIBLE_YEAR_MIN to before PLAUSIBLE_YEAR_END); nothing rolls over.
 */
export function parseTimeArg(text: string, nowMs: number, option: string): number {
  const rel = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (rel) return nowMs - Number(rel[1]) * (UNITS[rel[2] as string] as number);
  const iso = ISO_ARG.exec(text.trim());
  if (iso) {
    const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone = 'Z'] = iso;
    const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, sec].map(Number) as [number, number, number, number, number, number];
    const problem =
      year < PLAUSIBLE_YEAR_MIN || year >= PLAUSIBLE_YEAR_END
        ? `the year must be from ${PLAUSIBLE_YEAR_MIN} to ${PLAUSIBLE_YEAR_END - 1}, the years log times are read in`
        : month < 1 || month > 12
          ? 'there is no such month'
          : day < 1 || day > daysIn(year, month)
            ? `${y}-${mo} has ${daysIn(year, month)} days`
            : hour > 23 || minute > 59 || second > 59
              ? 'there is no such time of day'
              : null;
    const offset = zoneMinutes(zone);
    if (problem === null && offset !== null) {
      const ms = Date.UTC(year, month - 1, day, hour, minute, second, Math.floor(Number(`0.${frac || '0'}`) * 1000));
      return ms - offset * 60_000;
    }
    throw new CommandUsageError(`${option}: ${problem ?? 'a zone offset is at most ±23:59'} (got "${sanitize(text, 60)}")`);
  }
  throw new CommandUsageError(`${option} takes a duration back from now (30m, 24h, 7d) or a date (2024-05-01, 2024-05-01T12:00Z); got "${sanitize(text, 60)}"`);
}

/** `2024-05-01`, `2024-05-01T12:00`, `2024-05-01 12:00:03.5+02:00`, `…Z`. */
const ISO_ARG = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Days of a month (1–12) of a year of the Gregorian calendar. */
function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A zone as minutes east of UTC (`Z`, `+02:00`, `-0530`), or null when it cannot be one. */
function zoneMinutes(zone: string): number | null {
  if (zone === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
  if (!m) return null;
  const [hours, minutes] = [Number(m[2]), Number(m[3])];
  if (hours > 23 || minutes > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

/** A positive integer option. */
export function parseCount(text: string | undefined, option: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max)
    throw new CommandUsageError(`${option} takes a whole number from 1 to ${max} (got "${sanitize(text, 40)}")`);
  return Number(text);
}

/** Columns aligned, the last one wrapped to the width (continuation lines indented under it). */
export function table(rows: readonly string[][], width: number, indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  const out: string[] = [];
  for (const r of rows) {
    const head = r
      .slice(0, -1)
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ');
    const lead = indent + (head ? `${head}  ` : '');
    const room = Math.max(20, width - lead.length);
    const lastCell = r[r.length - 1] ?? '';
    const parts = wrapWords(lastCell, room);
    out.push((lead + (parts[0] ?? '')).trimEnd());
    for (const p of parts.slice(1)) out.push(' '.repeat(lead.length) + p);
  }
  return out;
}

/** Words into lines of at most `width` characters (a longer word is cut, never overflows). */
export function wrapWords(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (let word of text.split(' ')) {
    while (word.length > width) {
      if (line) {
        out.push(line);
        line = '';
      }
      out.push(word.slice(0, width));
      word = word.slice(width);
    }
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line || out.length === 0) out.push(line);
  return out;
}

/** "2024-05-01 12:00:03" from an ISO time ("-" when absent). */
export function shortTime(isoText: string | undefined): string {
  if (!isoText) return '-';
  return isoText.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** Sleeps (the pacing of backfill and replay). */
export const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
