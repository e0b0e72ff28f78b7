import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type EnvironmentConfig, selectEnvironment } from '../../infra/config.js';
import { ProbeWatchStack } from '../../infra/stack.js';

/** cdk.json's context (feature flags and the shipped environments). */
export const cdkContext = JSON.parse(readFileSync('cdk.json', 'utf8')).context as Record<string, unknown> & { environments: Record<string, unknown> };

/** Builds the stack for an environment as infra/bin/app.ts does; bundling is skipped unless asked. */
export function buildStack(envName: string, environments: Record<string, unknown> = cdkContext.environments, opts: { bundle?: boolean; nag?: boolean } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'probewatch-cdk-'));
  const app = new App({
    outdir,
    context: { ...cdkContext, environments, env: envName, ...(opts.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const { name, config } = selectEnvironment(app.node.tryGetContext('environments'), app.node.tryGetContext('env'));
  const stack = new ProbeWatchStack(app, `ProbeWatch-${name}`, { envName: name, config });
  if (opts.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, outdir, config: config as EnvironmentConfig };
}

/** Synthesizes with cdk-nag and returns the unacknowledged findings (rule and construct path). */
export function nagFindings(envName: string, environments?: Record<string, unknown>): string[] {
  const { app, outdir } = buildStack(envName, environments, { nag: true });
  try {
    app.synth();
  } catch (e) {
    if (!/Validation failed/.test((e as Error).message)) throw e;
  }
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
  };
  return report.pluginReports.flatMap((p) => p.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`)));
}
