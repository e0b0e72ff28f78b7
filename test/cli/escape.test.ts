import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeStyle, renderReport } from '../../lambdas/cli/render.js';
import { DEFAULT_CONFIG } from '../../lambdas/core/config.js';
import { buildReport } from '../../lambdas/core/report.js';
import { Detector } from '../../lambdas/core/scan.js';
import { runCli } from '../support/cli.js';
import { record, timeAt } from '../support/records.js';
import { everyString } from '../support/strings.js';

const dir = mkdtempSync(join(tmpdir(), 'probewatch-escape-'));
const seed = readFileSync('events/logs/seed-cgi-sweep.log');

/** ESC (an OSC title sequence), BEL, a right-to-left override and a bare CR: each one a terminal or display attack. */
const HOSTILE = '\u001b]2;owned\u0007\u202eevil\r';
const ESCAPED = '\\x1b]2;owned\\x07\\u{202e}evil\\x0d';
/** Characters that must never appear raw in any output (the text report may contain LF). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/;

describe('strings from logs and file names are escaped in every CLI output', () => {
  it('a hostile client-address field is escaped in the report, the text and the JSON', () => {
    const d = new Detector(structuredClone(DEFAULT_CONFIG));
    d.openObject('access.log');
    for (let i = 0; i < 12; i++) {
      // The address field as a parser took it from a line; whether a format accepts such a
      // field is its own decision, the sinks must be safe either way.
      const r = record({ time: timeAt(i), request: `GET /backup${i}.zip HTTP/1.1`, status: 404 });
      r.peerIp = HOSTILE;
      r.clientIp = HOSTILE;
      // Only addresses become sources: the field never reaches a key, a report or a sink.
      assert.equal(d.addRecord(r, 'access.log', i + 1), 'invalid-client-address');
    }
    const report = buildReport(d);
    assert.equal(report.alerts.length, 0);
    assert.equal(report.sources.length, 0);
    const text = renderReport(report, makeStyle(false));
    assert.doesNotMatch(text, RAW);
    for (const s of everyString(JSON.parse(JSON.stringify(report)))) assert.doesNotMatch(s, RAW, s);
  });

  it('a hostile file name is escaped in the JSON document, the text report and the messages', async () => {
    const name = join(dir, `access${HOSTILE}.log`);
    writeFileSync(name, seed);
    const json = await runCli(['scan', '--json', name]);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.files[0].name, join(dir, `access${ESCAPED}.log`));
    for (const s of everyString(doc)) assert.doesNotMatch(s, RAW, s);
    const text = await runCli(['scan', name]);
    assert.doesNotMatch(text.stdout, RAW);
    assert.ok(text.stdout.includes('\\x1b]2;owned'));
    const explain = await runCli(['scan', '--json', '--explain', '5.135.167.145', name]);
    for (const s of everyString(JSON.parse(explain.stdout))) assert.doesNotMatch(s, RAW, s);
  });

  it('JSON log lines with control characters in every field leave no raw control character in any output', async () => {
    const lines = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({
        time: `2024-01-01T00:00:${String(i).padStart(2, '0')}Z`,
        remote_addr: `198.51.100.7${HOSTILE}`,
        request: `GET /backup${i}.sql${HOSTILE} HTTP/1.1`,
        status: 404,
        http_user_agent: `curl${HOSTILE}`,
        http_referer: `http://x/${HOSTILE}`,
      }),
    ).join('\n');
    for (const args of [
      ['scan', '-'],
      ['scan', '--json', '-'],
      ['scan', '--json', '--explain', '198.51.100.7', '-'],
    ]) {
      const r = await runCli(args, { stdin: lines, tty: false });
      assert.equal(r.code, 0, r.stderr);
      const strings = args.includes('--json') ? everyString(JSON.parse(r.stdout)) : [r.stdout];
      for (const s of strings) assert.doesNotMatch(s, RAW, `${args.join(' ')}: ${s}`);
      assert.doesNotMatch(r.stderr, RAW);
    }
  });
});
