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
});
