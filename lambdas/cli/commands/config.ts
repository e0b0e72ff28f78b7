/**
 * `probewatch config check FILE` and `probewatch config push --env NAME FILE`: the detector
 * configuration checked with the same schema as `scan --config`, `cdk synth` and the Lambda, and
 * uploaded to the deployed stack's config bucket (the function picks it up without a redeploy).
 */
import { readFile } from 'node:fs/promises';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { S3Client } from '@aws-sdk/client-s3';
import { parse as parseYaml } from 'yaml';
import { environmentProblems, parseEnvironmentConfig } from '../../../infra/config.js';
import { DEFAULT_CONFIG_KEY } from '../../adapters/runtime-config.js';
import { type DetectorConfig, detectorConfigProblems, parseDetectorConfig } from '../../core/config.js';
import { InputError, ProbeWatchError } from '../../core/errors.js';
import { sanitize } from '../../core/escape.js';
import { BUILTIN_RULES } from '../../core/rules/builtin.js';
import { plural } from '../render.js';
import { argumentProblem, parseStackArgs, readProblem } from './common.js';

export const CONFIG_USAGE = `Usage: probewatch config check FILE
       probewatch config push --env NAME [--bucket BUCKET] [--region REGION] FILE

check   validates a detector configuration (YAML or JSON, as for scan --config), or every
        environment of a cdk.json, exactly as scan, cdk synth and the deployed function do;
        prints a summary, or every problem with its field (exit 2).
push    validates FILE, then uploads it as detector.json to the config bucket of the stack
        ProbeWatch-NAME (found in the stack's outputs, or given with --bucket). The function
        uses it within lambda.configRefreshSeconds (60 s by default), without a redeploy.

Exit status: 0 valid (or pushed), 2 invalid configuration, usage or AWS error.`;

/** Where `config` writes. */
export interface ConfigIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** The AWS clients `config push` uses; tests pass clients of the local stack or mocks. */
export interface ConfigDeps {
  s3: (region: string | undefined) => S3Client | Promise<S3Client>;
  cloudFormation: (region: string | undefined) => CloudFormationClient | Promise<CloudFormationClient>;
}

/** The real clients, loaded only when a push needs them (scan starts no faster with them in). */
export const awsConfigDeps: ConfigDeps = {
  s3: async (region) => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    return new S3Client({ ...(region ? { region } : {}), maxAttempts: 5 });
  },
  cloudFormation: async (region) => {
    const { CloudFormationClient } = await import('@aws-sdk/client-cloudformation');
    return new CloudFormationClient({ ...(region ? { region } : {}), maxAttempts: 5 });
  },
};

/**
 * The config bucket of a deployed environment, from its stack's outputs. Small and on its own so
 * a shared reader of stack outputs can replace it.
 */
export async function configBucketOf(cfn: CloudFormationClient, envName: string): Promise<string> {
  const { resolveStack, StackError } = await import('./resolve.js');
  try {
    return (await resolveStack(envName, { cfn, only: 'configBucket' })).configBucket as string;
  } catch (e) {
    if (e instanceof StackError) throw new InputError(`${e.message}, or pass --bucket`);
    throw e;
  }
}

class ConfigUsageError extends ProbeWatchError {}

async function readDoc(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InputError(`${sanitize(file, 300)}: ${readProblem(e)}`);
  }
  try {
    return parseYaml(text);
  } catch (e) {
    throw new InputError(`${file} is not valid YAML or JSON: ${(e as Error).message}`);
  }
}

const duration = (s: number) => (s % 86_400 === 0 ? `${s / 86_400} d` : s % 3600 === 0 ? `${s / 3600} h` : `${s} s`);

/** A few lines saying what a valid configuration does. */
export function summarize(c: DetectorConfig): string[] {
  const builtin = new Set(BUILTIN_RULES.map((r) => r.id));
  const replacing = c.rules.filter((r) => builtin.has(r.id)).length;
  const inUse = BUILTIN_RULES.length - c.disableRules.filter((id) => builtin.has(id)).length - replacing;
  const horizons = c.horizons.map((h) => `${duration(h.seconds)} (${Number.isFinite(h.score) ? `score ${h.score}, ` : ''}${h.distinctErrorPaths} paths)`);
  return [
    `window ${c.windowSeconds} s in steps of ${c.bucketSeconds} s: alert at score ${c.scoreThreshold} or ${c.distinctErrorPaths} distinct error paths; cooldown ${c.cooldownSeconds} s`,
    `long horizons: ${horizons.join(', ') || 'none'}`,
    `rules: ${inUse} built-in in use, ${plural(c.rules.length - replacing, 'added rule')}, ${plural(replacing, 'replaced built-in rule')}, ${plural(c.disableRules.length, 'disabled rule')}`,
    `known routes: ${c.knownRoutes.length}; trusted proxies: ${c.trustedProxies.length}; allowlist: ${plural(c.allowlist.cidrs.length, 'range')}, ${plural(c.allowlist.userAgents.length, 'user agent')}`,
  ];
}

function isCdkJson(doc: unknown): doc is { context: { environments: Record<string, unknown> } } {
  const ctx = (doc as { context?: { environments?: unknown } } | null)?.context;
  return typeof ctx?.environments === 'object' && ctx.environments !== null;
}

function writeProblems(io: ConfigIo, file: string, problems: string[]): number {
  io.stderr.write(`probewatch: ${sanitize(file, 300)}: ${plural(problems.length, 'problem')}\n`);
  for (const p of problems) io.stderr.write(`  ${sanitize(p, 2000)}\n`);
  return 2;
}

async function check(file: string, io: ConfigIo): Promise<number> {
  const doc = await readDoc(file);
  if (isCdkJson(doc)) {
    const names = Object.keys(doc.context.environments).sort();
    const problems = names.flatMap((n) => environmentProblems(n, doc.context.environments[n]));
    if (problems.length) return writeProblems(io, file, problems);
    for (const n of names) {
      const env = parseEnvironmentConfig(n, doc.context.environments[n]);
      io.stdout.write(`${sanitize(file, 300)}: environment ${n} is valid\n`);
      for (const line of summarize(parseDetectorConfig(env.detector))) io.stdout.write(`  ${line}\n`);
    }
    return 0;
  }
  const problems = detectorConfigProblems(doc, file);
  if (problems.length) return writeProblems(io, file, problems);
  io.stdout.write(`${sanitize(file, 300)} is valid\n`);
  for (const line of summarize(parseDetectorConfig(doc, file))) io.stdout.write(`  ${line}\n`);
  return 0;
}

async function push(file: string, opts: { env?: string; bucket?: string; region?: string }, io: ConfigIo, deps: ConfigDeps): Promise<number> {
  if (!opts.env && !opts.bucket) throw new ConfigUsageError('config push needs --env NAME (or --bucket BUCKET)');
  if (opts.env !== undefined && !/^[a-z][a-z0-9-]{0,20}$/.test(opts.env))
    throw new ConfigUsageError(`--env: "${sanitize(opts.env, 40)}" is not an environment name`);
  const doc = await readDoc(file);
  // Validated before anything is uploaded: a file the function would reject never reaches it.
  const problems = detectorConfigProblems(doc, file);
  if (problems.length) {
    writeProblems(io, file, problems);
    io.stderr.write('Nothing was uploaded.\n');
    return 2;
  }
  const config = parseDetectorConfig(doc, file);
  const bucket = opts.bucket ?? (await configBucketOf(await deps.cloudFormation(opts.region), opts.env as string));
  const s3 = await deps.s3(opts.region);
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  let version: string | undefined;
  try {
    const r = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: DEFAULT_CONFIG_KEY, Body: `${JSON.stringify(doc ?? {}, null, 2)}\n`, ContentType: 'application/json' }),
    );
    version = r.VersionId;
  } catch (e) {
    throw new InputError(`cannot upload to s3://${bucket}/${DEFAULT_CONFIG_KEY}: ${(e as Error).message}`);
  }
  io.stdout.write(`pushed ${sanitize(file, 300)} to s3://${bucket}/${DEFAULT_CONFIG_KEY}${version ? ` (version ${version})` : ''}\n`);
  for (const line of summarize(config)) io.stdout.write(`  ${line}\n`);
  io.stdout.write('The function uses it at its next check (lambda.configRefreshSeconds, 60 s by default).\n');
  return 0;
}

/** Runs `probewatch config …` (argv after `config`); returns the exit status. */
export async function runConfigCommand(argv: string[], io: ConfigIo, deps: ConfigDeps = awsConfigDeps): Promise<number> {
  try {
    let parsed: ReturnType<typeof parseConfigArgs>;
    try {
      parsed = parseConfigArgs(argv);
    } catch (e) {
      throw new ConfigUsageError(argumentProblem(e));
    }
    const { values, positionals } = parsed;
    if (values.help) {
      io.stdout.write(`${CONFIG_USAGE}\n`);
      return 0;
    }
    const [sub, ...files] = positionals;
    if (sub !== 'check' && sub !== 'push') throw new ConfigUsageError(sub ? `unknown config command "${sanitize(sub, 40)}"` : 'config needs check or push');
    if (files.length !== 1) throw new ConfigUsageError(`config ${sub} takes one file`);
    const file = files[0] as string;
    if (sub === 'check') return await check(file, io);
    return await push(file, values, io, deps);
  } catch (e) {
    if (e instanceof ProbeWatchError) {
      // Line by line: a YAML error shows the offending lines under its message.
      io.stderr.write(
        `probewatch: ${e.message
          .split('\n')
          .map((l) => sanitize(l, 2000))
          .join('\n')}\n`,
      );
      if (e instanceof ConfigUsageError) io.stderr.write('Run probewatch config --help for usage.\n');
      return 2;
    }
    throw e;
  }
}

function parseConfigArgs(argv: string[]) {
  return parseStackArgs(argv, { bucket: { type: 'string' } });
}
