import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigProblemsError } from '../../lambdas/core/config-issues.js';
import { DEFAULT_CONFIG, detectorConfigProblems, parseDetectorConfig } from '../../lambdas/core/config.js';
import { ConfigError } from '../../lambdas/core/errors.js';

const rule = (match: unknown) => ({ id: 'x', category: 'c', class: 'probing', severity: 'high', score: 1, explain: 'e', match });

describe('the detector configuration schema', () => {
  it('nothing, null and {} are the defaults', () => {
    assert.deepEqual(parseDetectorConfig(undefined), DEFAULT_CONFIG);
    assert.deepEqual(parseDetectorConfig(null), DEFAULT_CONFIG);
    assert.deepEqual(parseDetectorConfig({}), DEFAULT_CONFIG);
  });
  it('a horizon without a score alerts on paths only; its paths default to the most kept', () => {
    assert.deepEqual(parseDetectorConfig({ thresholds: { horizons: [{ seconds: 600 }] } }).horizons, [
      { seconds: 600, score: Number.POSITIVE_INFINITY, distinctErrorPaths: 64 },
    ]);
  });
  it('a status may be written as YAML reads [404]: a number', () => {
    assert.deepEqual(parseDetectorConfig({ rules: [rule({ status: [404, '5xx'] })] }).rules[0]?.match.status, ['404', '5xx']);
  });
  it('lists every problem, each naming its field, in one ConfigError', () => {
    const raw = { thresholds: { score: -1, bucketSeconds: 0 }, knownRoutes: ['x'], rules: [rule({ peer: 'remote' })], jsonFields: { ip: 'a' } };
    assert.throws(
      () => parseDetectorConfig(raw, 'p.yaml'),
      (e: Error) => {
        assert.ok(e instanceof ConfigError && e instanceof ConfigProblemsError);
        assert.deepEqual(e.problems.sort(), [
          'p.yaml: jsonFields.ip is not a known setting (known: time, clientIp, method, target, query, request, protocol, status, bytes, referer, userAgent, host, forwardedFor, message)',
          'p.yaml: knownRoutes[0] must start with "/" (got "x")',
          'p.yaml: rules[0].match.peer must be one of "loopback", "internal" (got "remote")',
          'p.yaml: thresholds.bucketSeconds must be a positive number (got 0)',
          'p.yaml: thresholds.score must be a positive number (got -1)',
        ]);
        return true;
      },
    );
  });
  it('rule ids are unique; disabled ids exist', () => {
    assert.deepEqual(detectorConfigProblems({ rules: [rule({ method: ['GET'] }), rule({ method: ['PUT'] })] }, 'c'), [
      'c: rules[1].id repeats the id of rules[0] ("x"); ids must be unique',
    ]);
    assert.deepEqual(detectorConfigProblems({ disableRules: ['outdated-agent'] }, 'c'), []);
  });
  it('a value quoted in a message is cut, so a huge value cannot flood a terminal', () => {
    const [p] = detectorConfigProblems({ knownRoutes: ['x'.repeat(10_000)] }, 'c');
    assert.ok(p && p.length < 200, p);
  });
  it('never throws anything but a ConfigError, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseDetectorConfig(v);
        } catch (e) {
          assert.ok(e instanceof ConfigProblemsError, String(e));
          assert.ok(e.problems.length > 0 && e.problems.every((p) => p.startsWith('configuration: ')));
        }
      }),
      { numRuns: 300 },
    );
  });
  it('what it accepts, it accepts again after a JSON round trip (what config push uploads) (property)', () => {
    const thresholds = fc.record(
      {
        score: fc.integer({ min: 1, max: 1000 }),
        cooldownSeconds: fc.integer({ min: 1, max: 86_400 }),
        blockHours: fc.double({ min: 0.1, max: 100, noNaN: true }),
      },
      { requiredKeys: [] },
    );
    const doc = fc.record(
      {
        thresholds,
        knownRoutes: fc.array(fc.stringMatching(/^\/[a-z*/]{0,20}$/), { maxLength: 5 }),
        trustedProxies: fc.array(
          fc.ipV4().map((ip) => `${ip}/24`),
          { maxLength: 3 },
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(doc, (d) => {
        const once = parseDetectorConfig(d);
        assert.deepEqual(parseDetectorConfig(JSON.parse(JSON.stringify(d))), once);
      }),
      { numRuns: 200 },
    );
  });
});
