// Bundles the CLI so `npx probewatch` starts fast and needs no TypeScript loader: the entry
// dist/probewatch.mjs, and chunks under dist/chunks/ for what only some commands load.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist/chunks', { recursive: true, force: true });
await build({
  entryPoints: { probewatch: 'lambdas/cli/bin.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  // A dynamic import becomes a chunk loaded when it runs, with its own imports of the AWS SDK;
  // in one file they were hoisted to the top and loaded by every command.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __pwRequire } from 'node:module';\nconst require = __pwRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
  // The AWS SDK is loaded from the installed dependencies, and only by the commands that call AWS
  // (dynamic imports, each its own chunk): bundled, its 2 MB would be parsed at every start.
  external: ['@aws-sdk/*'],
});
