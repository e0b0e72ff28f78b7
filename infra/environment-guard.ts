/**
 * First-run errors of `cdk ls`/`cdk synth`/`cdk deploy`: a missing or unknown `-c env=NAME`, or
 * an environment cdk.json refuses, end with one sentence and the list of environments instead of
 * a stack trace.
 */
import { nodeTooOld } from '../lambdas/cli/node-version.js';
import { type EnvironmentConfig, selectEnvironment } from './config.js';
import { EnvironmentConfigError } from './config.js';

/** What to print for a failed selection (null when `e` is not a configuration error). */
export function explainSelection(e: unknown, environments: unknown): string | null {
  if (!(e instanceof EnvironmentConfigError)) return null;
  const known = environments && typeof environments === 'object' ? Object.keys(environments).sort() : [];
  const example = known[0] ?? 'dev';
  return [
    `ProbeWatch: ${e.message}`,
    known.length ? `Environments in cdk.json: ${known.join(', ')}.` : 'cdk.json has no environments yet.',
    `For example: npx cdk synth -c env=${example}   (or cdk ls / cdk deploy with the same -c env=${example})`,
  ].join('\n');
}

/** selectEnvironment, or a message on stderr and exit status 1. */
export function environmentOrExit(environments: unknown, name: unknown): { name: string; config: EnvironmentConfig } {
  const old = nodeTooOld(process.version, 'The ProbeWatch CDK app');
  if (old) {
    process.stderr.write(`${old}\n`);
    process.exit(1);
  }
  try {
    return selectEnvironment(environments, name);
  } catch (e) {
    const text = explainSelection(e, environments);
    if (!text) throw e;
    process.stderr.write(`${text}\n`);
    process.exit(1);
  }
}
