import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { parseEnvironmentConfig } from '../../infra/config.js';
import { detectorConfigProblems } from '../../lambdas/core/config.js';
import { CDK_SCHEMA_FILE, DETECTOR_SCHEMA_FILE, readmeWithReference, schemaFiles } from '../../scripts/config-reference.js';

const readme = readFileSync('README.md', 'utf8');
const section = (title: string) => {
  const start = readme.indexOf(`\n${title}\n`);
  assert.ok(start >= 0, `README has ${title}`);
  const level = title.split(' ')[0] as string;
  const next = readme.slice(start + title.length + 2).search(new RegExp(`\\n#{1,${level.length}} [A-Z\\x60]`));
  return readme.slice(start, next < 0 ? undefined : start + title.length + 2 + next);
};

describe('what the configuration schema generates is checked in and current', () => {
  it('the JSON Schema files equal what the schemas generate (npm run config:reference)', () => {
    for (const [path, text] of Object.entries(schemaFiles())) {
      assert.equal(readFileSync(path, 'utf8'), text, `${path} is stale: run npm run config:reference`);
    }
  });
  it("the README's configuration reference equals what the schemas generate", () => {
    assert.equal(readme, readmeWithReference(readme), 'README.md is stale: run npm run config:reference');
  });
  it('the JSON Schema files know every setting and refuse unknown ones', () => {
    const detector = JSON.parse(readFileSync(DETECTOR_SCHEMA_FILE, 'utf8'));
    assert.deepEqual(Object.keys(detector.properties), [
      'thresholds',
      'trustedProxies',
      'allowlist',
      'knownRoutes',
      'forms',
      'rules',
      'disableRules',
      'jsonFields',
    ]);
    assert.equal(detector.additionalProperties, false);
    // A status is a list of strings, a method a list, not `4xx` or `{ equals }` as the README once said.
    assert.equal(detector.$defs.conditions.properties.status.type, 'array');
    assert.equal(detector.$defs.conditions.properties.method.type, 'array');
    const cdk = JSON.parse(readFileSync(CDK_SCHEMA_FILE, 'utf8'));
    const env = cdk.properties.context.properties.environments.additionalProperties;
    assert.deepEqual(env.required.sort(), ['alerts', 'logs']);
    assert.equal(env.properties.detector.additionalProperties, false);
  });
  it('the README documents only what the loader accepts', () => {
    const config = section('## Configuration');
    const example = /```yaml\n([\s\S]*?)```/.exec(config)?.[1];
    assert.ok(example, 'the Configuration section has a YAML example');
    assert.deepEqual(detectorConfigProblems(parseYaml(example), 'README example'), []);
    assert.ok(!/method: \{ ?equals/.test(readme), 'method is a list, not a pattern');
    assert.ok(!/status: 4xx/.test(readme), 'status is a list');
    // The environment example in the README is accepted too.
    const envSection = section('### Environment configuration (`cdk.json` → `context.environments.<name>`)');
    assert.match(envSection, /environments\.prod\.alerts\.emails\[0\] is not an e-mail address \(got "oncall"\)/);
    assert.throws(
      () => parseEnvironmentConfig('prod', { logs: { sources: [{ prefix: '' }] }, alerts: { emails: ['oncall'] } }),
      /environments\.prod\.alerts\.emails\[0\] is not an e-mail address \(got "oncall"\)/,
    );
  });
  it('every blocking, notifications and jsonFields row of the references says what the setting means', () => {
    const reference = readmeWithReference(readme);
    const rows = reference.split('\n').filter((l) => /^\| `(blocking|notifications|jsonFields)\./.test(l));
    const blank = rows.filter((l) => / \|\s*\|$/.test(l)).map((l) => l.split(' | ')[0]);
    assert.deepEqual(blank, []);
    for (const prefix of ['blocking.', 'notifications.', 'jsonFields.'])
      assert.ok(
        rows.some((l) => l.startsWith(`| \`${prefix}`)),
        `${prefix} rows`,
      );
    // The limits and the built-in paths a user needs to read are there.
    assert.match(reference, /\| `notifications\.webhooks` \|[^\n]*at most 10 webhooks/);
    assert.match(reference, /\| `jsonFields\.clientIp` \|[^\n]*built-in paths: remote_addr, request\.client_ip/);
    assert.match(reference, /\| `blocking\.maxEntries` \|[^\n]*10,000/);
  });
});
