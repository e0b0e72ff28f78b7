/**
 * Checks `npm run local` makes before it starts anything, so a first run on a fresh machine ends
 * with a sentence saying what to do instead of a stack trace: Java for DynamoDB Local, and input
 * files that exist and can be read.
 */
import { spawnSync } from 'node:child_process';
import { constants, accessSync, statSync } from 'node:fs';
import { sanitize } from '../core/escape.js';

/** DynamoDB Local's jar needs this Java release or later. */
export const MIN_JAVA = 17;

export const JAVA_HELP = `DynamoDB Local (the state table of the local stack) runs on Java ${MIN_JAVA} or later. Install it:
  Debian/Ubuntu:  sudo apt-get install openjdk-17-jre-headless
  Fedora/RHEL:    sudo dnf install java-17-openjdk-headless
  macOS:          brew install openjdk@17   (then follow brew's note to put it on the PATH)
  Windows:        winget install Microsoft.OpenJDK.17
then check with \`java -version\` and run npm run local again.`;

/** The major release in `java -version` output ("1.8.0_392" is 8, "17.0.15" is 17), or null. */
export function javaMajor(versionOutput: string): number | null {
  const m = /version "(\d+)(?:\.(\d+))?[^"]*"/.exec(versionOutput);
  if (!m) return null;
  const first = Number(m[1]);
  return first === 1 && m[2] ? Number(m[2]) : first;
}

/** Null when a usable Java is on the PATH, else what is wrong and how to fix it. */
export function checkJava(run: (cmd: string, args: string[]) => { error?: Error; stdout?: string; stderr?: string } = spawnSync0): string | null {
  const r = run('java', ['-version']);
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return `${code === 'ENOENT' ? 'Java was not found on the PATH' : `Java could not be started (${r.error.message})`}.\n${JAVA_HELP}`;
  }
  const major = javaMajor(`${r.stderr ?? ''}\n${r.stdout ?? ''}`);
  if (major === null) return `\`java -version\` did not say which version it is.\n${JAVA_HELP}`;
  if (major < MIN_JAVA) return `Java ${major} was found, but DynamoDB Local needs Java ${MIN_JAVA} or later.\n${JAVA_HELP}`;
  return null;
}

function spawnSync0(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  return { ...(r.error ? { error: r.error } : {}), stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** One message per file that cannot be uploaded (missing, a directory, unreadable); empty when all can. */
export function checkFiles(files: readonly string[]): string[] {
  const problems: string[] = [];
  for (const f of files) {
    const name = sanitize(f, 300);
    try {
      const st = statSync(f);
      if (st.isDirectory()) {
        problems.push(`${name} is a directory: pass the log files in it (e.g. ${name}/*.log)`);
        continue;
      }
      accessSync(f, constants.R_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ENOENT'
          ? `${name}: no such file`
          : code === 'EACCES' || code === 'EPERM'
            ? `${name}: not readable (permission denied)`
            : `${name}: ${(e as Error).message}`,
      );
    }
  }
  return problems;
}
