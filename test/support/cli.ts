import { PassThrough, Readable } from 'node:stream';
import { main } from '../../lambdas/cli/main.js';

/** Runs the CLI in-process with captured output. */
export async function runCli(
  args: string[],
  opts: { stdin?: Buffer | string; env?: NodeJS.ProcessEnv; tty?: boolean; columns?: number; now?: () => number } = {},
) {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  out.on('data', (c: Buffer) => chunks.out.push(c));
  err.on('data', (c: Buffer) => chunks.err.push(c));
  Object.assign(out, { isTTY: opts.tty ?? false, ...(opts.columns ? { columns: opts.columns } : {}) });
  Object.assign(err, { isTTY: false });
  const stdin = Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]);
  const code = await main(args, { stdout: out, stderr: err, stdin, env: opts.env ?? {}, now: opts.now ?? (() => 0) });
  return { code, stdout: Buffer.concat(chunks.out).toString('utf8'), stderr: Buffer.concat(chunks.err).toString('utf8') };
}
