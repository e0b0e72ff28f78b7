/** The oldest Node.js release the project supports (package.json "engines"; a test keeps them equal). */
export const MIN_NODE_MAJOR = 20;

/** Null when `version` (process.version, e.g. "v20.11.1") is supported, else what to do, in words. */
export function nodeTooOld(version: string, what = 'probewatch'): string | null {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1] ?? Number.NaN);
  if (Number.isFinite(major) && major >= MIN_NODE_MAJOR) return null;
  return (
    `${what} needs Node.js ${MIN_NODE_MAJOR} or later; this is Node.js ${version}. ` +
    `Install a current release (https://nodejs.org, or \`nvm install ${MIN_NODE_MAJOR}\`) and run it again.`
  );
}
