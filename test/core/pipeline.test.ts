import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { sampleAsKept } from '../../lambdas/adapters/dynamodb-state-store.js';
import { DEFAULT_CONFIG } from '../../lambdas/core/config.js';
import {
  type BatchDeps,
  ClaimBusyError,
  DEFAULT_LEASE_SECONDS,
  FINISH_RESERVE_MS,
  OutOfTimeError,
  alertSamples,
  pathHash,
  processLogBatch,
  processLogObject,
  sharedClassifier,
} from '../../lambdas/core/pipeline.js';
import { MAX_REMEMBERED_ALERTS, rememberedKey } from '../../lambdas/core/ports.js';
import { BUILTIN_RULES } from '../../lambdas/core/rules/builtin.js';
import { MemoryPublisher, MemoryStateStore, linesOf } from '../support/memory-store.js';
import { timeAt } from '../support/records.js';

const config = structuredClone(DEFAULT_CONFIG);
const seed = readFileSync('events/logs/seed-cgi-sweep.log', 'utf8').trimEnd().split('\n');
const ref = (key: string, etag = 'e1') => ({ bucket: 'logs', key, etag });
let runs = 0;
// Every call is a new run of the object, with its own claim owner.
const deps = (store: MemoryStateStore, publisher: MemoryPublisher) => ({
  store,
  publisher,
  config,
  environment: 'test',
  nowSec: 1_700_000_000,
  owner: `run-${++runs}`,
});
const probe = (ip: string, second: number, i: number) => `${ip} - - [${timeAt(second)}] "GET /word${i} HTTP/1.1" 404 10 "-" "curl/8"`;

/**
 * One batch of two scans of `ip` two hours apart ("early", "late": an alert each), in which the
 * early object fails (the caller makes it fail) and the late one succeeds.
 */
async function earlyThenLate(ip: string, store: MemoryStateStore, publisher: MemoryPublisher, options: Partial<BatchDeps> = {}) {
  const early = Array.from({ length: 12 }, (_, i) => probe(ip, i * 8, i));
  const late = Array.from({ length: 12 }, (_, i) => probe(ip, 2 * 3600 + i * 8, i));
  const results = await processLogBatch(
    [
      { ref: ref('early.log'), lines: linesOf(early), owner: 'run-early' },
      { ref: ref('late.log'), lines: linesOf(late), owner: 'run-late' },
    ],
    { ...deps(store, publisher), ...options },
  );
  assert.deepEqual(
    results.map((r) => r.ok),
    [false, true],
  );
  return { early, late };
}

describe('alertSamples', () => {
  const sample = (t: number, r = `GET /probe-${t}/with/a/path/longer/than/an/hour/item/keeps HTTP/1.1`) =>
    JSON.stringify({ t, r, s: 404, u: 'curl/8', l: ['cgi-probe'] });

  it("puts the deciding object's samples first: a batch of many objects never crowds them out", () => {
    const deciding = [100, 101, 102].map((t) => sample(t));
    const others = Array.from({ length: 12 }, (_, i) => sample(i + 1));
    const shown = alertSamples([], [...deciding, ...others]);
    assert.equal(shown.length, 10);
    for (const t of [100, 101, 102])
      assert.ok(
        shown.some((x) => x.time === t),
        `sample at ${t}`,
      );
    assert.deepEqual(
      shown.map((x) => x.time),
      [1, 2, 3, 4, 5, 6, 7, 100, 101, 102],
    );
  });

  it("leaves out an hour item's cut copy of a batch sample, fills up with the other kept ones, most recent first, and skips what does not parse", () => {
    const batch = Array.from({ length: 8 }, (_, i) => sample(50 + i));
    const stored = [sampleAsKept(sample(50)), sampleAsKept(sample(1)), sampleAsKept(sample(3)), sampleAsKept(sample(2)), '{not json'];
    const shown = alertSamples(stored, batch);
    assert.deepEqual(
      shown.map((x) => x.time),
      [2, 3, 50, 51, 52, 53, 54, 55, 56, 57],
    );
    assert.equal(shown.filter((x) => x.request.endsWith('…')).length, 2, 'the two kept ones are cut; the batch ones are whole');
  });
});

describe('processLogObject', () => {
  it('alerts the two seed scanners once each, with subject and body a person can act on', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const out = await processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher));
    assert.equal(out.status, 'processed');
    assert.equal(out.parsed, 81);
    assert.equal(out.alertsPublished, 2);
    const subjects = publisher.sent.map((m) => m.subject).sort();
    assert.deepEqual(subjects, [
      '[test] CGI/PHP probe sweep from 5.135.167.145: 31 requests, 28 x 404',
      '[test] CGI/PHP probe sweep from 64.34.169.223: 31 requests, 28 x 404',
    ]);
    const m = publisher.sent[0];
    assert.ok(m && m.subject.length <= 100);
    assert.match(m?.text ?? '', /Source: +\S+\nVerdict: +alert, severity medium/);
    assert.match(m?.text ?? '', /What to do: .*Suggested block: 4 h/);
    assert.match(m?.text ?? '', /Log objects:\n {2}logs\/seed\.log#e1/);
    assert.deepEqual(m?.attributes, { severity: 'medium', category: 'cgi-probe', environment: 'test', alertId: m?.document.alertId });
    assert.equal(m?.document.version, 1);
    assert.equal(m?.document.environment, 'test');
    assert.ok((m?.document.samples.length ?? 0) >= 1);
    assert.equal(store.deltas.has('127.0.0.1'), false, 'benign traffic costs no write');
  });

  it("shows the deciding object's own requests whole in the alert, beside what earlier hours kept", async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const ip = '198.51.100.77';
    const long = (i: number) => `/wp-content/plugins/some-vulnerable-plugin/includes/admin/ajax-${i}.php`;
    const req = (second: number, i: number) => `${ip} - - [${timeAt(second)}] "GET ${long(i)} HTTP/1.1" 404 10 "-" "curl/8"`;
    // Hour 0: four probes, stored (several error paths) but not alerted; hour 2: the burst.
    const early = Array.from({ length: 4 }, (_, i) => req(i * 600, 100 + i));
    const burst = Array.from({ length: 12 }, (_, i) => req(2 * 3600 + i * 5, i));
    const first = await processLogObject(ref('early.log'), linesOf(early), deps(store, publisher));
    assert.equal(first.alertsPublished, 0);
    const out = await processLogObject(ref('burst.log'), linesOf(burst), deps(store, publisher));
    assert.equal(out.alertsPublished, 1);
    const samples = publisher.sent[0]?.document.samples ?? [];
    const whole = samples.filter((s) => /^GET \/wp-content\/plugins\/some-vulnerable-plugin\/includes\/admin\/ajax-\d+\.php HTTP\/1\.1$/.test(s.request));
    assert.ok(whole.length >= 3, `the burst's requests are shown whole: ${JSON.stringify(samples.map((s) => s.request))}`);
    assert.ok(
      samples.some((s) => Date.parse(String(s.time)) < Date.UTC(2024, 0, 1, 2) && s.request.endsWith('…')),
      'the earlier hour is shown by the sample it kept (cut)',
    );
    assert.ok(
      !samples.some((s) => Date.parse(String(s.time)) >= Date.UTC(2024, 0, 1, 2) && s.request.endsWith('…')),
      'the hour item of the burst keeps a cut copy of one of its samples; it is not shown beside the whole one',
    );
    const times = samples.map((s) => Date.parse(String(s.time)));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      'in time order',
    );
    assert.ok(!times.some(Number.isNaN));
  });

  it('decides on the same horizon as the CLI (the golden report of the seed)', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    await processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher));
    const golden = JSON.parse(readFileSync('events/logs/seed-cgi-sweep.expected.json', 'utf8')) as {
      alerts: { source: string; trigger: string; triggeredAt: string; horizon: unknown }[];
    };
    const sent = publisher.sent.map((m) => [m.document.source, m.document.horizon, m.document.trigger, m.document.triggeredAt]).sort();
    // A 2-minute burst inside a 5-minute bucket comes first, as in the CLI, not the 1-hour horizon;
    // the object alone is decided request by request, so the score and the error burst that
    // crossed within one 10-s bucket are told apart as the CLI tells them.
    assert.deepEqual(sent, golden.alerts.map((a) => [a.source, a.horizon, a.trigger, a.triggeredAt]).sort());
    assert.ok(publisher.sent.every((m) => m.document.horizon === null));
  });

  it('processing the same object again changes nothing and sends nothing', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    await processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher));
    const again = await processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher));
    assert.equal(again.status, 'already-processed');
    store.done.clear(); // even when the object claim is lost, deltas apply once
    const third = await processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher));
    assert.equal(third.alertsPublished, 0);
    assert.equal(publisher.sent.length, 2);
    assert.equal(store.deltas.get('5.135.167.145')?.length, 1);
  });

  it('an object that flags no source writes nothing, not even its object claim, and running it again changes nothing', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const quiet = Array.from({ length: 50 }, (_, i) => `198.51.100.${i % 5} - - [${timeAt(i)}] "GET /articles/${i} HTTP/1.1" 200 512 "-" "Mozilla/5.0"`);
    for (let run = 0; run < 2; run++) {
      const out = await processLogObject(ref('quiet.log'), linesOf(quiet), deps(store, publisher));
      assert.equal(out.status, 'processed');
      assert.equal(out.parsed, 50);
      assert.equal(out.sourcesFlagged, 0);
    }
    assert.equal(store.done.size, 0, 'no object claim');
    assert.equal(store.deltas.size, 0, 'no state');
    assert.equal(publisher.sent.length, 0);
    // An object that flags a source is claimed once it is done.
    await processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher));
    assert.deepEqual([...store.done], ['logs/seed.log#e1']);
  });

  it('a crash half-way through an object, then the retry: counted once, alerted once', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    store.failOn.add(2);
    await assert.rejects(processLogObject(ref('seed.log'), linesOf(seed), { ...deps(store, publisher), concurrency: 1 }), /injected failure/);
    const retry = await processLogObject(ref('seed.log'), linesOf(seed), { ...deps(store, publisher), concurrency: 1 });
    assert.equal(retry.status, 'processed');
    assert.equal(publisher.sent.length, 2);
    for (const ip of ['5.135.167.145', '64.34.169.223']) assert.equal(store.deltas.get(ip)?.length, 1);
  });

  it('a failed publish is not lost: the retry of the object sends it, once', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    publisher.failNext = 1;
    await assert.rejects(processLogObject(ref('seed.log'), linesOf(seed), { ...deps(store, publisher), concurrency: 1 }), /injected publish failure/);
    await processLogObject(ref('seed.log'), linesOf(seed), { ...deps(store, publisher), concurrency: 1 });
    assert.equal(publisher.sent.length, 2);
    await processLogObject(ref('seed.log', 'e1'), linesOf(seed), deps(store, publisher));
    assert.equal(publisher.sent.length, 2);
  });

  it('one scan split over three objects, delivered out of order: exactly one alert', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const scan = Array.from({ length: 12 }, (_, i) => probe('198.51.100.99', i * 8, i));
    const parts = [scan.slice(0, 4), scan.slice(4, 8), scan.slice(8)];
    const outs = [];
    for (const i of [2, 0, 1]) outs.push(await processLogObject(ref(`part-${i}.log`), linesOf(parts[i] ?? []), deps(store, publisher)));
    assert.deepEqual(
      outs.map((o) => o.alertsPublished),
      [0, 0, 1],
    );
    assert.equal(publisher.sent.length, 1);
    assert.match(publisher.sent[0]?.subject ?? '', /Error burst from 198\.51\.100\.99: 12 requests, 12 x 404/);
    assert.deepEqual(publisher.sent[0]?.document.objects, ['logs/part-0.log#e1', 'logs/part-1.log#e1', 'logs/part-2.log#e1']);
  });

  it('a source that stays under every threshold across objects is stored but not alerted', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    await processLogObject(ref('a.log'), linesOf([0, 1, 2].map((i) => probe('198.51.100.7', i, i))), deps(store, publisher));
    await processLogObject(ref('b.log'), linesOf([3, 4, 5].map((i) => probe('198.51.100.7', 600 + i, i))), deps(store, publisher));
    assert.equal(publisher.sent.length, 0);
    assert.equal(store.deltas.get('198.51.100.7')?.length, 2);
  });

  it('an empty object and a non-log are skipped with a reason', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const empty = await processLogObject(ref('empty.log'), linesOf([]), deps(store, publisher));
    assert.equal(empty.status, 'not-a-log');
    assert.equal(empty.reason, 'the object is empty');
    const prose = await processLogObject(ref('readme.txt'), linesOf(['hello', 'world']), deps(store, publisher));
    assert.equal(prose.status, 'not-a-log');
    assert.match(prose.reason ?? '', /no line is an access-log line/);
  });

  it('two runs of the same object at the same moment send each alert once', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    publisher.delayMs = 20; // SNS takes a while: the other run claims while this one publishes
    const runs = await Promise.allSettled([
      processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher)),
      processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher)),
    ]);
    assert.deepEqual(publisher.sent.map((m) => m.document.source).sort(), ['5.135.167.145', '64.34.169.223']);
    const busy = runs.filter((r) => r.status === 'rejected');
    assert.ok(
      busy.every((r) => (r as PromiseRejectedResult).reason instanceof ClaimBusyError),
      'a run that met the other one holding a claim fails, to be retried',
    );
    // The busy run's retry (SQS redelivers it) finds the alerts sent.
    for (const _ of busy) await processLogObject(ref('seed.log'), linesOf(seed), deps(store, publisher));
    assert.equal(publisher.sent.length, 2);
  });

  it('a crash between publishing and marking sent repeats at most that one alert, with the same alert id', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const scanners = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4'];
    const lines = scanners.flatMap((ip) => Array.from({ length: 12 }, (_, i) => probe(ip, i * 5, i)));
    // The process dies right after SNS accepted the first alert: nothing after it runs.
    const markAlertSent = store.markAlertSent.bind(store);
    store.markAlertSent = async () => {
      store.markAlertSent = markAlertSent;
      throw new Error('the process died');
    };
    await assert.rejects(processLogObject(ref('crash.log'), linesOf(lines), deps(store, publisher)), /the process died/);
    assert.equal(publisher.sent.length, 1, 'one alert at a time: only one was out when it died');
    // SQS redelivers the object after its visibility timeout, when the dead run's lease is over.
    const later = { ...deps(store, publisher), nowSec: 1_700_000_000 + DEFAULT_LEASE_SECONDS + 1 };
    await processLogObject(ref('crash.log'), linesOf(lines), later);
    const bySource = new Map<string, string[]>();
    for (const m of publisher.sent) bySource.set(m.document.source, [...(bySource.get(m.document.source) ?? []), m.attributes.alertId]);
    assert.deepEqual([...bySource.keys()].sort(), scanners, 'every alert went out');
    assert.equal(publisher.sent.length, scanners.length + 1, 'exactly one repeat');
    const repeated = [...bySource.values()].find((ids) => ids.length === 2);
    assert.equal(repeated?.[0], repeated?.[1], 'the repeat carries the same alert id, so a subscriber can drop it');
  });

  it('an object retried after a later alert of its source was claimed does not send its own alert again', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const ip = '198.51.100.61';
    // The first object's alert goes out, then the second's takes the claim; the first object
    // cannot be marked done (DynamoDB throttled it past its retries), so SQS delivers it again.
    const markObjectDone = store.markObjectDone.bind(store);
    store.markObjectDone = async (id: string) => {
      if (id.includes('early')) throw new Error('throttled');
      return markObjectDone(id);
    };
    const { early } = await earlyThenLate(ip, store, publisher);
    assert.equal(publisher.sent.length, 2, 'an alert two hours apart is an alert of its own');
    store.markObjectDone = markObjectDone;
    const retry = await processLogObject(ref('early.log'), linesOf(early), deps(store, publisher));
    assert.equal(retry.alertsPublished, 0);
    assert.equal(publisher.sent.length, 2, 'its alert is remembered as sent: not sent again');
    assert.equal(store.records.length, 2);
  });

  it('an object retried after a later alert of its source, deciding its alert at another severity, does not send it again', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const ip = '198.51.100.67';
    const markObjectDone = store.markObjectDone.bind(store);
    store.markObjectDone = async (id: string) => {
      if (id.includes('early')) throw new Error('throttled');
      return markObjectDone(id);
    };
    // A rule the operator adds, then drops again: the probes' paths are high-severity scanning.
    const word = {
      id: 'word-scan',
      category: 'word-scan',
      class: 'probing' as const,
      severity: 'high' as const,
      score: 1,
      explain: 'Words',
      match: { path: { prefix: ['/word'] } },
    };
    const high = { ...structuredClone(config), rules: [...config.rules, word] };
    const { early } = await earlyThenLate(ip, store, publisher, { config: high });
    assert.deepEqual(
      publisher.sent.map((m) => m.document.severity),
      ['high', 'high'],
    );
    store.markObjectDone = markObjectDone;
    // Retried with the severity of its rules lowered meanwhile: the alert it decides has another
    // id, and the claim now holds the later alert, two hours (a cooldown) away.
    const retry = await processLogObject(ref('early.log'), linesOf(early), deps(store, publisher));
    assert.equal(retry.alertsPublished, 0, "the object's alert went out: the claim remembers it by its object");
    assert.equal(publisher.sent.length, 2);
  });

  it('an alert claimed but not published, then passed by a later alert of its source, is sent by the retry, once', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const ip = '198.51.100.62';
    publisher.failNext = 1;
    const { early } = await earlyThenLate(ip, store, publisher);
    assert.equal(publisher.sent.length, 1, 'the later alert went out; the earlier one failed');
    const lateId = publisher.sent[0]?.attributes.alertId;
    await processLogObject(ref('early.log'), linesOf(early), deps(store, publisher));
    assert.equal(publisher.sent.length, 2, 'the retry sends the earlier alert');
    assert.notEqual(publisher.sent[1]?.attributes.alertId, lateId);
    await processLogObject(ref('early.log'), linesOf(early), deps(store, publisher));
    assert.equal(publisher.sent.length, 2, 'and a third run sends nothing');
  });

  it("a source's alerts of one batch are claimed in one write, then published and recorded one by one", async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const ip = '198.51.100.64';
    const batch = [0, 1, 2].map((h) => ({
      ref: ref(`hourly-${h}.log`),
      lines: linesOf(Array.from({ length: 12 }, (_, i) => probe(ip, h * 2 * 3600 + i * 8, i))),
      owner: `run-hourly-${h}`,
    }));
    const results = await processLogBatch(batch, deps(store, publisher));
    assert.ok(results.every((r) => r.ok));
    assert.equal(publisher.sent.length, 3);
    assert.equal(store.claimWrites, 1, 'three alerts, one claim');
    assert.equal(store.records.length, 3, 'and a record each');
    assert.equal(store.claims.get(ip)?.remembered.size, 3);
    // The batch again (its messages failed for another reason): nothing is sent twice.
    store.done.clear();
    await processLogBatch(batch, deps(store, publisher));
    assert.equal(publisher.sent.length, 3);
  });

  it('an alert claimed with others whose publish failed is sent by the retry of its object at once, once', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const ip = '198.51.100.65';
    const lines = (h: number) => Array.from({ length: 12 }, (_, i) => probe(ip, h * 2 * 3600 + i * 8, i));
    publisher.failNext = 1;
    const results = await processLogBatch(
      [0, 1, 2].map((h) => ({ ref: ref(`part-${h}.log`), lines: linesOf(lines(h)), owner: `run-part-${h}` })),
      deps(store, publisher),
    );
    assert.deepEqual(
      results.map((r) => r.ok),
      [false, true, true],
    );
    assert.equal(publisher.sent.length, 2);
    // The run released it: the retry need not wait for the lease.
    await processLogObject(ref('part-0.log'), linesOf(lines(0)), deps(store, publisher));
    assert.equal(publisher.sent.length, 3);
    assert.equal(new Set(publisher.sent.map((m) => m.attributes.alertId)).size, 3, 'each alert once');
    await processLogObject(ref('part-0.log'), linesOf(lines(0)), deps(store, publisher));
    assert.equal(publisher.sent.length, 3);
  });

  it('an alert between two claimed together, held off by the first whose publish failed, is not claimed in its place', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const ip = '198.51.100.66';
    const lines = (second: number) => Array.from({ length: 12 }, (_, i) => probe(ip, second + i * 8, i));
    const part = (name: string, second: number) => ({ ref: ref(`${name}.log`), lines: linesOf(lines(second)), owner: `run-${name}` });
    // a at 0, b half an hour later (within a's cooldown), c two hours later: a and c are claimed
    // together, b is held off by a. a's publish fails.
    publisher.failNext = 1;
    const results = await processLogBatch([part('a', 0), part('b', 1800), part('c', 7200)], deps(store, publisher));
    assert.deepEqual(
      results.map((r) => r.ok),
      [false, true, true],
    );
    assert.equal(publisher.sent.length, 1, 'c went out; b stays held off by a, which its retry sends');
    // d, half an hour after c, is within c's cooldown.
    await processLogObject(ref('d.log'), linesOf(lines(9000)), deps(store, publisher));
    assert.equal(publisher.sent.length, 1, 'nothing within the cooldown of the last alert sent');
    await processLogObject(ref('a.log'), linesOf(lines(0)), deps(store, publisher));
    assert.equal(publisher.sent.length, 2, "a's retry sends it");
    assert.equal(new Set(publisher.sent.map((m) => m.attributes.alertId)).size, 2);
  });

  it('an object retried after its alerts went out, decided again at a lower severity (another configuration), sends nothing again', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const high = { ...structuredClone(config), rules: BUILTIN_RULES.map((r) => ({ ...r, severity: 'high' as const })) };
    // Its alerts go out and are recorded, but the object cannot be marked done (throttled).
    const markObjectDone = store.markObjectDone.bind(store);
    store.markObjectDone = async () => {
      throw new Error('throttled');
    };
    await assert.rejects(processLogObject(ref('seed.log'), linesOf(seed), { ...deps(store, publisher), config: high }), /throttled/);
    assert.equal(publisher.sent.length, 2);
    store.markObjectDone = markObjectDone;
    // Retried after its run's lease, with the severity of its rules lowered meanwhile.
    const later = deps(store, publisher).nowSec + DEFAULT_LEASE_SECONDS + 1;
    const retry = await processLogObject(ref('seed.log'), linesOf(seed), { ...deps(store, publisher), nowSec: later });
    assert.equal(retry.alertsPublished, 0, 'the same sources, within the cooldown of the alerts sent, less severe');
    assert.equal(publisher.sent.length, 2);
  });

  it(`a claim remembers at most the last ${MAX_REMEMBERED_ALERTS} alerts of its source`, async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const ip = '198.51.100.63';
    const hours = MAX_REMEMBERED_ALERTS + 3;
    const batch = Array.from({ length: hours }, (_, h) => ({
      ref: ref(`hour-${h}.log`),
      lines: linesOf(Array.from({ length: 12 }, (_, i) => probe(ip, h * 2 * 3600 + i * 8, i))),
      owner: `run-hour-${h}`,
    }));
    const results = await processLogBatch(batch, deps(store, publisher));
    assert.ok(results.every((r) => r.ok));
    assert.equal(publisher.sent.length, hours, 'one alert per object: each is two hours after the last');
    assert.equal(
      results.reduce((n, r) => n + (r.ok ? (r.outcome.alertsForgotten ?? 0) : 0), 0),
      3,
      'the alerts forgotten within the batch are counted',
    );
    assert.equal(store.claimWrites, 2, `claimed ${MAX_REMEMBERED_ALERTS} at a time`);
    const kept = [...(store.claims.get(ip)?.remembered.keys() ?? [])];
    assert.equal(kept.length, MAX_REMEMBERED_ALERTS, 'the oldest are forgotten by the claims that pass the bound');
    assert.deepEqual(
      kept.sort(),
      results
        .slice(-MAX_REMEMBERED_ALERTS)
        .map((r) => rememberedKey(r.ok ? r.outcome.objectId : ''))
        .sort(),
      'the newest are kept',
    );
  });

  it('a batch out of time writes and claims nothing more: its unfinished objects fail with what they have left, and their retry sends each alert once', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const item = (name: string, ip: string) => ({
      ref: ref(`${name}.log`),
      lines: linesOf(Array.from({ length: 12 }, (_, i) => probe(ip, i * 8, i))),
      owner: `run-${name}-${++runs}`,
    });
    const batch = () => [item('first', '198.51.100.81'), item('second', '198.51.100.82')];
    // Time runs out once the first source is written: one source at a time, then 5 s left.
    const remainingMs = () => (store.writes >= 1 ? 5_000 : 60_000);
    const results = await processLogBatch(batch(), { ...deps(store, publisher), concurrency: 1, remainingMs });
    const errors = results.map((r) => (r.ok ? null : r.error));
    assert.ok(errors.every((e) => e instanceof OutOfTimeError));
    assert.deepEqual(
      errors.map((e) => (e as OutOfTimeError).left),
      [
        { sources: 0, alerts: 1 },
        { sources: 1, alerts: 0 },
      ],
      "the first object's source was written but its alert not claimed; the second's source not written",
    );
    assert.equal(publisher.sent.length, 0);
    assert.equal(store.claimWrites, 0, 'nothing claimed out of time');
    assert.equal(store.writes, 1);
    const retry = await processLogBatch(batch(), deps(store, publisher));
    assert.ok(retry.every((r) => r.ok));
    assert.deepEqual(publisher.sent.map((m) => m.document.source).sort(), ['198.51.100.81', '198.51.100.82']);
    assert.equal(publisher.sent.find((m) => m.document.source === '198.51.100.81')?.document.requests, 12, 'counted once');
  });

  it('with time left, the same batch finishes every object', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const lines = linesOf(Array.from({ length: 12 }, (_, i) => probe('198.51.100.83', i * 8, i)));
    const results = await processLogBatch([{ ref: ref('in-time.log'), lines, owner: 'run-in-time' }], {
      ...deps(store, publisher),
      remainingMs: () => FINISH_RESERVE_MS + 1,
    });
    assert.ok(results.every((r) => r.ok));
    assert.equal(publisher.sent.length, 1);
  });

  it('an object named twice in one batch is processed once, and both copies get its result', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const scan = Array.from({ length: 12 }, (_, i) => probe('198.51.100.97', i * 8, i));
    const item = (i: number, lines: string[]) => ({ ref: ref(`twice-${i}.log`), lines: linesOf(lines), owner: `run-${++runs}` });
    const results = await processLogBatch([item(0, scan.slice(0, 6)), item(1, scan.slice(6)), item(0, scan.slice(0, 6))], deps(store, publisher));
    assert.equal(results.length, 3);
    assert.ok(results.every((r) => r.ok));
    assert.deepEqual(results[2], results[0], "the copy gets the first one's result");
    assert.equal(publisher.sent.length, 1);
    assert.equal(publisher.sent[0]?.document.requests, 12, 'the object named twice is counted once');
    assert.equal(store.done.size, 2);
  });

  it('a batch writes each source once, each object counted once, and a redelivered part of it counts nothing twice', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const scan = Array.from({ length: 12 }, (_, i) => probe('198.51.100.98', i * 8, i));
    const item = (i: number, lines: string[]) => ({ ref: ref(`batch-${i}.log`), lines: linesOf(lines), owner: `run-${++runs}` });
    const batch = [item(0, scan.slice(0, 4)), item(1, scan.slice(4, 8)), item(2, scan.slice(8))];
    const results = await processLogBatch(batch, deps(store, publisher));
    assert.ok(results.every((r) => r.ok));
    assert.equal(store.writes, 1, 'three objects, one source: one write');
    assert.equal(publisher.sent.length, 1, 'the scan is one scan');
    assert.equal(publisher.sent[0]?.document.requests, 12);
    assert.equal(store.records.length, 1, 'and one alert record');
    assert.equal(store.records[0]?.alertId, publisher.sent[0]?.attributes.alertId);
    // Objects 1 and 2 come back with a new one (their messages failed for another reason).
    store.done.clear();
    const later = [
      item(1, scan.slice(4, 8)),
      item(2, scan.slice(8)),
      item(
        3,
        [0, 1, 2, 3].map((k) => probe('198.51.100.98', 200 + k, 100 + k)),
      ),
    ];
    await processLogBatch(later, deps(store, publisher));
    assert.deepEqual(
      store.deltas.get('198.51.100.98')?.map((d) => d.objectId),
      ['logs/batch-0.log#e1', 'logs/batch-1.log#e1', 'logs/batch-2.log#e1', 'logs/batch-3.log#e1'],
      'each object applied once',
    );
    assert.equal(publisher.sent.length, 1, 'nothing sent twice');
  });

  it('one bad object in a batch fails alone: the others are written, alerted and marked done', async () => {
    const store = new MemoryStateStore();
    const publisher = new MemoryPublisher();
    const broken = {
      async read(): Promise<{ notLog?: string }> {
        throw new Error('unexpected end of the gzip stream');
      },
    };
    const results = await processLogBatch(
      [
        { ref: ref('seed.log'), lines: linesOf(seed), owner: 'run-a' },
        { ref: ref('cut.log.gz'), lines: broken, owner: 'run-b' },
      ],
      deps(store, publisher),
    );
    assert.equal(results[0]?.ok, true);
    assert.equal(results[1]?.ok, false);
    assert.match(String((results[1] as { error: Error }).error.message), /gzip/);
    assert.equal(publisher.sent.length, 2);
    assert.deepEqual([...store.done], ['logs/seed.log#e1'], 'only the good object is done');
  });

  it('one classifier per configuration: reused while its rule fields stay, compiled again when any of them changes in place', () => {
    const cfg = structuredClone(DEFAULT_CONFIG);
    const first = sharedClassifier(cfg);
    assert.equal(sharedClassifier(cfg), first, 'reused');
    assert.notEqual(sharedClassifier(structuredClone(cfg)), first, 'another configuration object has its own');
    const changes: ((c: typeof cfg) => void)[] = [
      (c) => c.knownRoutes.push('/shop/*'),
      (c) => c.allowlist.userAgents.push('UptimeRobot'),
      (c) => c.allowlist.cidrs.push('192.0.2.0/24'),
      (c) => c.disableRules.push('scanner-agent'),
      (c) =>
        c.rules.push({
          id: 'own-rule',
          category: 'own',
          class: 'probing',
          severity: 'low',
          score: 1,
          explain: 'a rule of the site',
          match: { path: { contains: ['/own'] } },
        }),
    ];
    let last = first;
    for (const change of changes) {
      change(cfg);
      const next = sharedClassifier(cfg);
      assert.notEqual(next, last);
      assert.equal(sharedClassifier(cfg), next);
      last = next;
    }
  });

  it('a configuration changed in place between objects is compiled again (its classifier is not reused)', async () => {
    const changing = structuredClone(DEFAULT_CONFIG);
    const first = new MemoryPublisher();
    await processLogObject(ref('before.log'), linesOf(seed), { ...deps(new MemoryStateStore(), first), config: changing });
    assert.equal(first.sent.length, 2);
    changing.allowlist.cidrs.push('0.0.0.0/0');
    const second = new MemoryPublisher();
    await processLogObject(ref('after.log'), linesOf(seed), { ...deps(new MemoryStateStore(), second), config: changing });
    assert.equal(second.sent.length, 0, 'every address is allowlisted now');
  });

  it('hashes error paths compactly and stably', () => {
    assert.equal(pathHash('/cgi-bin/test.cgi'), pathHash('/cgi-bin/test.cgi'));
    assert.notEqual(pathHash('/a'), pathHash('/b'));
    assert.match(pathHash('/x'.repeat(1000)), /^[0-9a-f]{8}$/);
  });
});
