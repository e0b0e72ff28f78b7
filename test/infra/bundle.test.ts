import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildStack } from '../support/infra.js';

// The artifact Lambda runs is the esbuild bundle, not the TypeScript the other tests import:
// bundle it for real (local esbuild, no Docker) and invoke what came out.
describe('the bundled processor', { timeout: 120_000 }, () => {
  it('loads, validates its configuration, and handles an s3:TestEvent', async () => {
    const { app, outdir } = buildStack('dev', undefined, { bundle: true });
    app.synth();
    // CDK's own helpers are assets too; ours is the one that carries the processing handler.
    const assets = readdirSync(outdir).filter(
      (d) =>
        d.startsWith('asset.') && existsSync(join(outdir, d, 'index.js')) && readFileSync(join(outdir, d, 'index.js'), 'utf8').includes('STATE_TABLE_NAME'),
    );
    assert.equal(assets.length, 1, 'one bundled processor');
    assert.ok(existsSync(join(outdir, assets[0] as string, 'index.js.map')), 'with its source map');
    // The SDK is external (the Lambda runtime provides it): run the bundle from inside this
    // project, where the SDK is installed, as the runtime's module path would provide it.
    const dir = join('node_modules', '.cache', 'probewatch-bundle-test');
    mkdirSync(dir, { recursive: true });
    const bundle = join(process.cwd(), dir, 'index.cjs');
    copyFileSync(join(outdir, assets[0] as string, 'index.js'), bundle);
    const saved = { ...process.env };
    try {
      Object.assign(process.env, {
        STATE_TABLE_NAME: 'state',
        ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:alerts',
        ENVIRONMENT_NAME: 'dev',
        AWS_REGION: 'eu-west-1',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
      });
      const mod = createRequire(bundle)(bundle) as { handler: (e: unknown) => Promise<{ batchItemFailures: unknown[] }> };
      const result = await mod.handler({
        Records: [{ messageId: 'm1', eventSource: 'aws:sqs', body: JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'logs' }) }],
      });
      assert.deepEqual(result, { batchItemFailures: [] });
    } finally {
      process.env = saved;
    }
  });
});
