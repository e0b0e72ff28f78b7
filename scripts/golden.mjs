// Writes what the CLI prints today for every sample in events/logs/manifest.json next to the
// expected file as <name>.actual.json, and shows the differences. It never touches the expected
// files: a person reads the diff and copies an .actual.json over its .expected.json by hand.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync('events/logs/manifest.json', 'utf8'));
let differences = 0;
for (const entry of manifest) {
  const run = spawnSync(process.execPath, ['dist/probewatch.mjs', 'scan', '--json', ...entry.args, `events/logs/${entry.log}`], { encoding: 'utf8' });
  const actualPath = `events/logs/${entry.expected.replace('.expected.json', '.actual.json')}`;
  writeFileSync(actualPath, run.stdout);
  const expectedPath = `events/logs/${entry.expected}`;
  if (!existsSync(expectedPath)) {
    console.log(`${entry.log}: no expected file yet; review ${actualPath}`);
    differences++;
    continue;
  }
  const diff = spawnSync('diff', ['-u', expectedPath, actualPath], { encoding: 'utf8' });
  if (diff.status !== 0) {
    differences++;
    console.log(diff.stdout);
  } else console.log(`${entry.log}: unchanged`);
}
process.exit(differences ? 1 : 0);
