#!/usr/bin/env node
import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { environmentOrExit } from '../environment-guard.js';
import { ProbeWatchStack } from '../stack.js';

// The only place that reads the environment name: `npx cdk deploy -c env=prod`.
const app = new App();
const { name, config } = environmentOrExit(app.node.tryGetContext('environments'), app.node.tryGetContext('env'));
const stack = new ProbeWatchStack(app, `ProbeWatch-${name}`, {
  envName: name,
  config,
  ...(config.account || config.region ? { env: { account: config.account, region: config.region } } : {}),
  description: `ProbeWatch (${name}): detects web-server probing in access logs`,
});
Tags.of(stack).add('application', 'probewatch');
Tags.of(stack).add('environment', name);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
