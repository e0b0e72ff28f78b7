// Bundles the CLI into one file so `npx probewatch` starts fast and needs no TypeScript loader.
import { build } from 'esbuild';

await build({
  entryPoints: ['lambdas/cli/bin.ts'],
  outfile: 'dist/probewatch.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __pwRequire } from 'node:module';\nconst require = __pwRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
  // The AWS SDK is loaded only by the commands that call AWS (dynamic import), from the installed
  // dependencies: bundled, its 2 MB would be parsed at every start, scan included.
  external: ['@aws-sdk/*'],
});
