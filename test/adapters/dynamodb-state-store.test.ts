import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type AttributeValue, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import {
  DynamoStateStore,
  STORED_PATH_HASH_BITS,
  dynamoItemSize,
  markerBytes,
  markerOf,
  nameOf,
  packBuckets,
  storedName,
  unpackBuckets,
} from '../../lambdas/adapters/dynamodb-state-store.js';
import { alertIdOf } from '../../lambdas/core/alert-message.js';
import { type AlertRecord, type ClaimRequest, MAX_REMEMBERED_ALERTS, type SourceDelta, objectMarker, rememberedKey } from '../../lambdas/core/ports.js';
import { BUILTIN_RULES } from '../../lambdas/core/rules/builtin.js';
import type { Severity } from '../../lambdas/core/rules/types.js';
import { type LocalStack, startLocalStack } from '../../lambdas/local/stack.js';
import { MemoryStateStore } from '../support/memory-store.js';

let stack: LocalStack;
let n = 0;
const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 0, 1, 10, 0, 0);
const NOW = 1_900_000_000; // wall clock for TTLs, later than every event here

/** A claim by one run (owner) of an object, leased for 5 minutes of wall clock from NOW. */
function claimOf(objectId: string, over: Partial<ClaimRequest> = {}): ClaimRequest {
  return {
    source: 's',
    at: T0,
    severity: 'medium',
    cooldownMs: HOUR,
    objectId,
    owner: `run-of-${objectId}`,
    leaseUntil: NOW + 300,
    alertId: `id-${objectId}`,
    publishedAt: NOW * 1000,
    ...over,
  };
}

/** The alert record a run writes once it has published the alert of a claim. */
function recordOf(c: ClaimRequest): AlertRecord {
  return {
    alertId: c.alertId,
    source: c.source,
    severity: c.severity,
    categories: ['cgi-probe'],
    reason: 'CGI probe sweep: 3 requests',
    firstSeen: new Date(c.at).toISOString(),
    lastSeen: new Date(c.at).toISOString(),
    publishedAt: new Date(c.publishedAt).toISOString(),
    horizon: '2m',
    environment: 'test',
  };
}

async function store(opts: { retentionHours?: number } = {}) {
  const tableName = `store-${++n}`;
  await stack.createTable(tableName);
  return { tableName, s: new DynamoStateStore({ tableName, client: stack.dynamo, ...opts }) };
}

/** A store on `tableName` whose document client lists the name of every command it sends. */
function countingStore(tableName: string, opts: { maxRememberedObjectNames?: number } = {}) {
  const commands: string[] = [];
  const doc = DynamoDBDocumentClient.from(stack.dynamo);
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize' },
  );
  return { store: new DynamoStateStore({ tableName, documentClient: doc, ...opts }), commands };
}

const HOUR_KEY = { pk: { S: 'SRC#198.51.100.1' }, sk: { S: 'W#2024-01-01T10' } };

/** Writes the 10:00 hour item of 198.51.100.1 as an earlier release laid it out. */
async function putHourItem(tableName: string, attributes: Record<string, AttributeValue>): Promise<void> {
  await stack.dynamo.send(new PutItemCommand({ TableName: tableName, Item: { ...HOUR_KEY, ...attributes, expiresAt: { N: String(NOW + 3600) } } }));
}

/** The stored 10:00 hour item of 198.51.100.1, as DynamoDB returns it. */
async function hourItem(tableName: string): Promise<Record<string, AttributeValue>> {
  return (await stack.dynamo.send(new GetItemCommand({ TableName: tableName, Key: HOUR_KEY }))).Item ?? {};
}

function delta(objectId: string, over: Partial<SourceDelta> = {}): SourceDelta {
  return {
    source: '198.51.100.1',
    objectId,
    requests: 3,
    score: 15,
    firstSeen: T0,
    lastSeen: T0 + 20_000,
    labels: { 'cgi-probe': 3 },
    statuses: { '404': 3 },
    rules: ['cgi-directory'],
    buckets: [
      { start: T0, score: 10, paths: ['aaaa0001', 'aaaa0002'], counts: {} },
      { start: T0 + 20_000, score: 5, paths: ['aaaa0003'], counts: { 'login-post': 1 } },
    ],
    samples: ['{"t":1,"r":"GET /cgi-bin/x HTTP/1.1","s":404,"u":"","l":["cgi-probe"]}'],
    referer: '',
    ...over,
  };
}

describe('DynamoStateStore on DynamoDB Local', { timeout: 120_000 }, () => {
  before(async () => {
    stack = await startLocalStack({ bridgeEvents: false });
  });
  after(async () => {
    await stack?.stop();
  });

  it('merges deltas from several objects, applying each exactly once', async () => {
    const { s } = await store();
    await s.applyDelta(delta('o1'), NOW);
    await s.applyDelta(delta('o1'), NOW); // redelivery
    const m = await s.applyDelta(delta('o2', { buckets: [{ start: T0 + 20_000, score: 5, paths: ['aaaa0003', 'aaaa0004'], counts: {} }] }), NOW);
    assert.equal(m.requests, 6);
    assert.equal(m.score, 30);
    assert.deepEqual(m.labels, { 'cgi-probe': 6 });
    assert.deepEqual(m.statuses, { '404': 6 });
    assert.deepEqual(m.objects, [objectMarker('o1'), objectMarker('o2')].sort(), 'objects are kept as short markers');
    // Error-path hashes are kept by their low 24 bits (STORED_PATH_HASH_BITS).
    assert.deepEqual(
      m.buckets.map((b) => [b.start - T0, b.score, [...b.paths].sort(), b.counts]),
      [
        [0, 10, ['00aa0001', '00aa0002'], {}],
        [20_000, 10, ['00aa0003', '00aa0004'], { 'login-post': 1 }],
      ],
    );
    assert.equal(m.firstSeen, T0);
    assert.equal(m.lastSeen, T0 + 20_000);
  });

  it('a batch is one update per hour item, and a redelivery batched differently applies only its new objects', async () => {
    const { s, tableName } = await store();
    const { store: counting, commands: writes } = countingStore(tableName);
    await counting.applyDeltas([delta('o1'), delta('o2')], NOW);
    assert.deepEqual(
      writes.filter((w) => w === 'UpdateItemCommand'),
      ['UpdateItemCommand'],
      'two objects, one hour: one write',
    );
    // o2 comes back with o3 (its message failed for another reason): o2 must not count twice.
    const m = await s.applyDeltas([delta('o2'), delta('o3')], NOW);
    assert.equal(m.requests, 9, 'three objects of 3 requests each');
    assert.equal(m.score, 45);
    assert.deepEqual(m.objects, ['o1', 'o2', 'o3'].map(objectMarker).sort());
    assert.equal(
      m.buckets.reduce((n, b) => n + (b.counts['login-post'] ?? 0), 0),
      3,
    );
    const again = await s.applyDeltas([delta('o3'), delta('o1')], NOW);
    assert.equal(again.requests, 9, 'a whole batch again changes nothing');
  });

  it('one object twice in one call is applied once', async () => {
    const { s } = await store();
    const m = await s.applyDeltas([delta('o7'), delta('o8'), delta('o7')], NOW);
    assert.equal(m.requests, 6, 'two objects of 3 requests each');
    assert.deepEqual(m.objects, ['o7', 'o8'].map(objectMarker).sort());
  });

  it("a persistent scanner's hour item stays under 1 KB: every write to it costs one write unit", async () => {
    // Ten built-in probe rules in four categories in the hour (the benchmark's scanners match about as many).
    const SCANNER_RULES = BUILTIN_RULES.filter((r) => r.class !== 'benign').slice(0, 10);
    const CATEGORIES = [...new Set(SCANNER_RULES.map((r) => r.category))].slice(0, 6);
    const { s, tableName } = await store();
    // As in the benchmark: about 80 probes an hour in bursts of a few seconds. 12 objects of 5
    // minutes, each with 7 probes in 3 buckets (84 probes in the hour).
    const objectDelta = (o: number) =>
      delta(`bucket/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/01/01/node-${o}.log.gz#0123456789abcdef0123456789abcdef`, {
        requests: 7,
        score: 35,
        firstSeen: T0 + o * 300_000,
        lastSeen: T0 + o * 300_000 + 240_000,
        // As many rules and labels as the benchmark's scanners match in an hour.
        labels: Object.fromEntries(CATEGORIES.map((c) => [c, 1])),
        statuses: { '404': 7 },
        rules: SCANNER_RULES.map((r) => r.id),
        buckets: [3, 2, 2].map((n, b) => ({
          start: T0 + o * 300_000 + b * 100_000,
          score: 5 * n,
          paths: Array.from({ length: n }, (_, k) => (o * 7 + b * 3 + k).toString(16).padStart(8, '0')),
          counts: { '~err': n },
        })),
        samples: [
          JSON.stringify({
            t: T0 + o * 300_000,
            r: `GET /${'wp-content/'.repeat(10)}.env HTTP/1.1`,
            s: 404,
            u: 'Mozilla/5.0 '.repeat(10),
            l: ['sensitive-file'],
          }),
        ],
      });
    // Two writes of 6 objects (a batch of 100 five-minute objects holds hours of a scanner's probes).
    for (let o = 0; o < 12; o += 6)
      await s.applyDeltas(
        [0, 1, 2, 3, 4, 5].map((k) => objectDelta(o + k)),
        NOW,
      );
    const item = await hourItem(tableName);
    const size = dynamoItemSize(item);
    assert.ok(size < 1024, `the full hour item is ${size} bytes`);
    const m = await s.read('198.51.100.1', T0, T0, NOW);
    assert.equal(m.requests, 84);
    assert.equal(m.rules.length, 10, 'every rule read back');
    assert.deepEqual(m.labels, Object.fromEntries(CATEGORIES.map((c) => [c, 12])));
    assert.equal(
      m.buckets.reduce((n, b) => n + b.paths.length, 0),
      84,
      'every error path kept',
    );
    assert.ok(m.samples.length <= 2, 'samples: the first of the hour only');
  });

  it('object markers are kept as 9 bytes (the same 72 bits) and rule ids and categories by a short code, and read back whole', async () => {
    const { s, tableName } = await store();
    const id = 'bucket/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/01/01/node-1.log.gz#0123456789abcdef';
    await s.applyDelta(delta(id, { labels: { 'cgi-probe': 3, 'my-custom': 1, '~odd': 1 }, rules: ['cgi-directory', 'my-rule', '~odd'] }), NOW);
    const item = await hourItem(tableName);
    assert.deepEqual(
      item.o?.BS?.map((b) => b.length),
      [9],
      'one binary marker of 9 bytes',
    );
    assert.equal(item.objs, undefined, 'no string markers any more');
    assert.deepEqual(
      Object.keys(item)
        .filter((k) => k.startsWith('l_'))
        .sort(),
      ['l_my-custom', `l_${storedName('cgi-probe')}`, 'l_~~odd'].sort(),
    );
    assert.match(storedName('cgi-probe'), /^~[\w-]{4}$/);
    const m = await s.read('198.51.100.1', T0, T0, NOW);
    assert.deepEqual(m.objects, [objectMarker(id)]);
    assert.deepEqual(m.labels, { 'cgi-probe': 3, 'my-custom': 1, '~odd': 1 });
    assert.deepEqual([...m.rules].sort(), ['cgi-directory', 'my-rule', '~odd'].sort());
  });

  it('every built-in rule id and category has a code of its own, and codes and markers round-trip', () => {
    const names = new Set(BUILTIN_RULES.flatMap((r) => [r.id, r.category]));
    const codes = new Set([...names].map(storedName));
    assert.equal(codes.size, names.size, 'no two names share a code');
    for (const n of names) {
      assert.ok(storedName(n).length <= Math.min(5, n.length), n);
      assert.equal(nameOf(storedName(n)), n);
    }
    assert.equal(nameOf('~zzzz'), undefined, 'a code no built-in name has is not read as a name');
    assert.equal(nameOf('plain-old-name'), 'plain-old-name', 'names in items of the previous layout read as they are');
    for (const id of ['a', 'b/c#d', 'x'.repeat(1024)]) {
      const m = objectMarker(id);
      assert.equal(markerOf(markerBytes(m)), m);
      assert.equal(markerOf(markerBytes(`${m}#p3`)), `${m}#p3`);
    }
    assert.throws(() => markerBytes('short'), /not an object marker/);
  });

  it('an hour item of the previous layout (string markers in objs, whole names) is read, and its objects are not applied again', async () => {
    const { s, tableName } = await store();
    const old = delta('o1');
    await putHourItem(tableName, {
      req: { N: '3' },
      score: { N: '15' },
      ts: { NS: [String(old.firstSeen), String(old.lastSeen)] },
      'l_cgi-probe': { N: '3' },
      st_404: { N: '3' },
      rules: { SS: ['cgi-directory'] },
      objs: { SS: [objectMarker('o1')] },
    });
    // o1 again (a retry that straddles the deploy) with a new object o2: only o2 is added.
    const m = await s.applyDeltas([delta('o1'), delta('o2')], NOW);
    assert.equal(m.requests, 6, 'o1 counted once');
    assert.deepEqual(m.labels, { 'cgi-probe': 6 });
    assert.deepEqual(m.rules, ['cgi-directory']);
    assert.deepEqual(m.objects, [objectMarker('o1'), objectMarker('o2')].sort());
    const again = await s.applyDeltas([delta('o2'), delta('o1')], NOW);
    assert.equal(again.requests, 6, 'both markers found, whichever layout holds them');
  });

  it('an hour item of the previous bucket layout (4-byte hashes in d<marker>, a sample as an object) is read, and its paths are the same paths as now', async () => {
    const { s, tableName } = await store();
    // Layout `d`: no counter names; one bucket at offset 20 s, score 10 (twice: 20), 1 error,
    // two 4-byte path hashes, no counters.
    const v1 = Uint8Array.from([0, 20, 20, 1, 2, 0xaa, 0xaa, 0x00, 0x01, 0xbb, 0xbb, 0x00, 0x02, 0]);
    await putHourItem(tableName, {
      req: { N: '2' },
      o: { BS: [markerBytes(objectMarker('o1'))] },
      [`d${objectMarker('o1')}`]: { B: v1 },
      smp: { SS: ['{"t":7,"r":"GET /old HTTP/1.1","s":404,"u":"curl","l":["cgi-probe"]}'] },
    });
    // The same path again, from an object written now (layout `e`), in the same bucket.
    const m = await s.applyDelta(delta('o2', { buckets: [{ start: T0 + 20_000, score: 5, paths: ['aaaa0001', 'cccc0003'], counts: {} }] }), NOW);
    assert.deepEqual(
      m.buckets.map((b) => [b.start - T0, b.score, b.counts['~err'] ?? 0, [...b.paths].sort()]),
      [[20_000, 15, 1, ['00aa0001', '00bb0002', '00cc0003']]],
      'the path both layouts hold counts once',
    );
    assert.ok(m.samples.includes('{"t":7,"r":"GET /old HTTP/1.1","s":404,"u":"curl","l":["cgi-probe"]}'), 'the old sample reads as it was');
  });

  it('a sample is kept as a short array and read back in the shape the pipeline wrote it', async () => {
    const { s, tableName } = await store();
    const long = `GET /${'a'.repeat(100)} HTTP/1.1`;
    const sample = JSON.stringify({ t: T0, r: long, s: 404, u: 'curl/8.0', l: ['cgi-probe', 'my-custom'] });
    await s.applyDelta(delta('o1', { samples: [sample] }), NOW);
    const item = await hourItem(tableName);
    const kept = item.smp?.SS?.[0] ?? '';
    assert.deepEqual(JSON.parse(kept), [T0, 404, `GET /${'a'.repeat(34)}…`, 'curl/8.0', [storedName('cgi-probe'), 'my-custom']]);
    const m = await s.read('198.51.100.1', T0, T0, NOW);
    assert.deepEqual(
      m.samples.map((x) => JSON.parse(x)),
      [{ t: T0, r: `GET /${'a'.repeat(34)}…`, s: 404, u: 'curl/8.0', l: ['cgi-probe', 'my-custom'] }],
    );
  });

  it('a delta spanning an hour boundary lands in both hour items and reads back whole', async () => {
    const { s } = await store();
    const m = await s.applyDelta(
      delta('o1', {
        buckets: [
          { start: T0 + HOUR - 10_000, score: 5, paths: ['p1'], counts: {} },
          { start: T0 + HOUR, score: 5, paths: ['p2'], counts: {} },
        ],
      }),
      NOW,
    );
    assert.equal(m.buckets.length, 2);
    assert.equal(m.requests, 3, 'totals are counted once');
  });

  it('a delta too large for one expression is split, and still applies once', async () => {
    const { s } = await store();
    const buckets = Array.from({ length: 200 }, (_, i) => ({ start: T0 + i * 10_000, score: 1, paths: [`p${i}`], counts: {} }));
    await s.applyDelta(delta('big', { buckets }), NOW);
    const m = await s.applyDelta(delta('big', { buckets }), NOW);
    assert.equal(m.buckets.length, 200);
    assert.equal(
      m.buckets.reduce((n, b) => n + b.score, 0),
      200,
    );
    assert.deepEqual(m.objects, [objectMarker('big')]);
  });

  it('reads ignore expired items that DynamoDB has not deleted yet', async () => {
    const { s, tableName } = await store();
    await stack.dynamo.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: 'SRC#198.51.100.1' }, sk: { S: 'W#2024-01-01T10' }, req: { N: '999' }, expiresAt: { N: String(NOW - 1) } },
      }),
    );
    const m = await s.read('198.51.100.1', T0 - HOUR, T0 + HOUR, NOW);
    assert.equal(m.requests, 0);
    const fresh = await s.read('198.51.100.1', T0 - HOUR, T0 + HOUR, NOW - 10);
    assert.equal(fresh.requests, 999, 'the same item counts while it is live');
  });

  it('every item carries the TTL attribute', async () => {
    const { s, tableName } = await store();
    await s.applyDelta(delta('o1'), NOW);
    await s.claimAlert(claimOf('o1', { source: '198.51.100.1' }), NOW);
    await s.markObjectDone('o1', { lines: 1, parsed: 1, sources: 1, alerts: 1 }, NOW);
    const { ScanCommand } = await import('@aws-sdk/client-dynamodb');
    const items = (await stack.dynamo.send(new ScanCommand({ TableName: tableName }))).Items ?? [];
    assert.equal(items.length, 3);
    for (const i of items) assert.ok(Number(i.expiresAt?.N) > NOW, JSON.stringify(i.sk));
  });

  it('concurrent claims for one source: exactly one wins', async () => {
    const { s } = await store();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.claimAlert(claimOf(`o${i}`, { source: '198.51.100.9', at: T0 + i * 1000 }), NOW)));
    assert.equal(results.filter((r) => r === 'claimed').length, 1);
  });

  it('two runs of the same object claiming at the same moment: one claims, the others are told busy', async () => {
    const { s } = await store();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.claimAlert(claimOf('same', { owner: `run-${i}` }), NOW)));
    assert.equal(results.filter((r) => r === 'claimed').length, 1);
    assert.equal(results.filter((r) => r === 'busy').length, 7);
  });

  it('two runs of the same object deciding different severities at the same moment: one claims, the other is told busy (both stores)', async () => {
    for (const [name, s] of await bothStores()) {
      const runs = (['medium', 'high', 'critical', 'low'] as const).map((severity, i) =>
        claimOf('same', { severity, alertId: alertIdOf('s', severity, 'same'), owner: `run-${i}` }),
      );
      const results = await Promise.all(runs.map((c) => s.claimAlert(c, NOW)));
      assert.equal(results.filter((r) => r === 'claimed').length, 1, `${name}: a more severe alert of the same object is not an escalation`);
      assert.equal(results.filter((r) => r === 'busy').length, 3, name);
    }
  });

  it('cooldown in event time, escalation, and a pending claim taken over only by its own object once the lease ran out', async () => {
    const { s } = await store();
    const claim = (objectId: string, over: Partial<ClaimRequest>, now = NOW) => s.claimAlert(claimOf(objectId, over), now);
    assert.equal(await claim('a', { owner: 'a1' }), 'claimed');
    assert.equal(await claim('b', { at: T0 + 60_000 }), 'cooldown');
    assert.equal(await claim('c', { at: T0 - 60_000 }), 'cooldown', 'an older object arriving late');
    assert.equal(await claim('a', { owner: 'a2', at: T0 + 60_000 }), 'busy', 'another run of the same object while the first may still publish');
    const retake = { owner: 'a2', at: T0 + 60_000, publishedAt: (NOW + 301) * 1000, leaseUntil: NOW + 600 };
    assert.equal(await claim('a', retake, NOW + 301), 'claimed', 'the first run crashed before recording the alert: its lease ran out');
    assert.equal((await s.read('s', T0, T0, NOW + 301)).claim?.status, 'pending');
    await s.markAlertSent('s', 'a2', recordOf(claimOf('a', retake)));
    assert.equal(
      await claim('a', { owner: 'a3', at: T0 + 60_000 }, NOW + 302),
      'cooldown',
      'recorded: another run of the object during the lease sends nothing',
    );
    assert.equal(await claim('a', { owner: 'a3', at: T0 + 60_000, publishedAt: (NOW + 900) * 1000 }, NOW + 900), 'cooldown', 'nor once the lease is over');
    assert.equal((await s.read('s', T0, T0, NOW + 900)).claim?.status, 'sent', 'the claim taken over was put back as sent');
    const records = await s.listAlerts((NOW - 60) * 1000, (NOW + 3600) * 1000, 10);
    assert.deepEqual(
      records.map((r) => [r.alertId, r.publishedAt]),
      [['id-a', new Date((NOW + 301) * 1000).toISOString()]],
      'one record, keyed by the claim that was sent',
    );
    assert.equal(await claim('d', { at: T0 + 120_000, severity: 'critical' }), 'claimed', 'escalation');
    assert.equal(await claim('e', { at: T0 + 2 * HOUR }), 'claimed', 'a cooldown later');
  });

  it('a run that could not publish releases its claim, and a retry takes it at once', async () => {
    const { s } = await store();
    assert.equal(await s.claimAlert(claimOf('a', { owner: 'a1' }), NOW), 'claimed');
    await s.releaseClaim({ ...claimOf('a'), owner: 'someone-else' });
    assert.equal(await s.claimAlert(claimOf('a', { owner: 'a2' }), NOW), 'busy', 'only the owner releases');
    await s.releaseClaim({ ...claimOf('a'), owner: 'a1' });
    assert.equal(await s.claimAlert(claimOf('a', { owner: 'a2' }), NOW), 'claimed');
  });

  /** The same claim operations on a DynamoDB Local table and on the memory store the core tests use. */
  async function bothStores(): Promise<[string, DynamoStateStore | MemoryStateStore][]> {
    return [
      ['DynamoDB', (await store()).s],
      ['memory', new MemoryStateStore()],
    ];
  }

  it('a release of an alert the claim no longer holds leaves the lease of the one it holds (both stores)', async () => {
    for (const [name, s] of await bothStores()) {
      // Two alerts of one owner claimed together: the claim holds the second.
      const g = [claimOf('a', { owner: 'r1' }), claimOf('b', { owner: 'r1', at: T0 + 2 * HOUR, publishedAt: (NOW + 1) * 1000 })] as const;
      await assert.rejects(s.claimAlerts([g[0], { ...g[1], objectId: 'a' }], NOW), RangeError, `${name}: one alert per object in a group`);
      assert.equal(await s.claimAlerts(g, NOW), true, name);
      await s.releaseClaim(g[0]);
      assert.equal(
        await s.claimAlert({ ...g[1], owner: 'r2', publishedAt: (NOW + 2) * 1000 }, NOW + 1),
        'busy',
        `${name}: the second is still its run's to publish`,
      );
      assert.equal(await s.claimAlert({ ...g[0], owner: 'r2', publishedAt: (NOW + 3) * 1000 }, NOW + 1), 'claimed', `${name}: the first was released`);
    }
  });

  it('recording an alert leaves its claim pending, and a retry of its object after the lease puts it back as sent (both stores)', async () => {
    for (const [name, s] of await bothStores()) {
      const c = claimOf('a', { owner: 'a1' });
      assert.equal(await s.claimAlert(c, NOW), 'claimed', name);
      await s.markAlertSent('s', 'a1', recordOf(c));
      assert.equal((await s.applyDeltas([delta('x', { source: 's' })], NOW)).claim?.status, 'pending', `${name}: the record is the mark`);
      const late = NOW + 301;
      const retry = claimOf('a', { owner: 'a2', at: T0 + 1000, publishedAt: late * 1000, leaseUntil: late + 300 });
      assert.equal(await s.claimAlert(retry, late), 'cooldown', `${name}: recorded`);
      const m = await s.applyDeltas([delta('y', { source: 's' })], late);
      assert.deepEqual(m.claim, { lastAt: T0 + 1000, severity: 'medium', status: 'sent', objectId: name === 'memory' ? 'a' : objectMarker('a') }, name);
      assert.equal(await s.claimAlert(claimOf('a', { owner: 'a3', publishedAt: (late + 1) * 1000 }), late + 1), 'cooldown', `${name}: and stays sent`);
    }
  });

  it("an object decided again with a lower severity: its first alert recorded, the retry sends nothing; never recorded, the retry's takes its place once the lease is over (both stores)", async () => {
    for (const [name, s] of await bothStores()) {
      const late = NOW + 301;
      const high = claimOf('a', { severity: 'high', alertId: 'id-a-high', owner: 'a1' });
      assert.equal(await s.claimAlert(high, NOW), 'claimed', name);
      await s.markAlertSent('s', 'a1', recordOf(high));
      // The retry of the object merges other evidence (or runs with another configuration).
      const medium = claimOf('a', { alertId: 'id-a-medium', owner: 'a2', publishedAt: late * 1000, leaseUntil: late + 300 });
      assert.equal(await s.claimAlert(medium, late), 'cooldown', `${name}: the object's alert went out, a less severe one within its cooldown does not`);
      // Never recorded (the run died before publishing): the retry's alert goes out instead, by one run.
      const other = { source: 's2' };
      assert.equal(await s.claimAlert(claimOf('b', { ...other, severity: 'high', alertId: 'id-b-high', owner: 'b1' }), NOW), 'claimed', name);
      const retry = (owner: string, severity: 'medium' | 'low') =>
        claimOf('b', { ...other, severity, alertId: `id-b-${severity}`, owner, publishedAt: late * 1000, leaseUntil: late + 300 });
      assert.equal(await s.claimAlert(retry('b2', 'medium'), NOW + 1), 'busy', `${name}: its run may still be publishing`);
      assert.equal(await s.claimAlert(retry('b2', 'medium'), late), 'claimed', `${name}: its lease is over`);
      assert.equal(await s.claimAlert(retry('b3', 'low'), late), 'busy', `${name}: another run of the object holds it now`);
    }
  });

  it('an object retried after a later alert took the claim, deciding another severity: remembered by its object, sent once (both stores)', async () => {
    for (const [name, s] of await bothStores()) {
      const late = NOW + 301;
      const claim = (objectId: string, over: Partial<ClaimRequest>, now = NOW) => s.claimAlert(claimOf(objectId, over), now);
      // Alert ids as the pipeline makes them: the store finds a record by the severity it remembers.
      const idOf = (objectId: string, severity: Severity) => alertIdOf('s', severity, objectId);
      const a = claimOf('a', { severity: 'high', alertId: idOf('a', 'high'), owner: 'a1' });
      assert.equal(await s.claimAlert(a, NOW), 'claimed', name);
      await s.markAlertSent('s', 'a1', recordOf(a));
      assert.equal(await claim('b', { at: T0 + 2 * HOUR }), 'claimed', `${name}: a later alert takes the claim`);
      // The retry of a decides medium: a cooldown away from b, with an alert id never claimed.
      const retry = (objectId: string, owner: string) =>
        claimOf(objectId, { alertId: idOf(objectId, 'medium'), owner, publishedAt: late * 1000, leaseUntil: late + 300 });
      assert.equal(await s.claimAlert(retry('a', 'a2'), late), 'cooldown', `${name}: a's alert was recorded, at the severity it was claimed at`);
      // c's run dies before recording its high alert; d takes the claim; c's retry decides medium.
      const c = claimOf('c', { at: T0 + 4 * HOUR, severity: 'high', alertId: idOf('c', 'high'), owner: 'c1' });
      assert.equal(await s.claimAlert(c, NOW), 'claimed', name);
      assert.equal(await claim('d', { at: T0 + 6 * HOUR }), 'claimed', name);
      assert.equal(
        await s.claimAlert({ ...retry('c', 'c2'), at: T0 + 4 * HOUR, leaseUntil: NOW + 300 }, NOW + 1),
        'busy',
        `${name}: c's run may still be publishing`,
      );
      const retried = { ...retry('c', 'c3'), at: T0 + 4 * HOUR };
      assert.equal(await s.claimAlert(retried, late), 'claimed', `${name}: never recorded, its lease over: the retry's alert goes out instead`);
      await s.markAlertSent('s', 'c3', recordOf(retried));
      assert.equal(
        await s.claimAlert({ ...retry('c', 'c4'), at: T0 + 4 * HOUR, severity: 'low', alertId: idOf('c', 'low'), publishedAt: (late + 1) * 1000 }, late + 1),
        'cooldown',
        `${name}: and then it is remembered as sent`,
      );
    }
  });

  it('an alert the claim remembers: recorded, it is not claimed again after a later alert; never recorded, it is, once its lease is over, by one run', async () => {
    const { s } = await store();
    const claim = (objectId: string, over: Partial<ClaimRequest>, now = NOW) => s.claimAlert(claimOf(objectId, over), now);
    assert.equal(await claim('a', { owner: 'a1' }), 'claimed');
    await s.markAlertSent('s', 'a1', recordOf(claimOf('a', { owner: 'a1' })));
    assert.equal(await claim('b', { at: T0 + 2 * HOUR, publishedAt: (NOW + 1) * 1000 }), 'claimed', 'a later alert takes the claim');
    assert.equal(await claim('a', { owner: 'a2' }, NOW + 60), 'cooldown', 'the object retried: its alert was recorded');
    assert.equal(await claim('c', { at: T0 + 4 * HOUR, owner: 'c1' }), 'claimed');
    // c's run dies before recording; a later alert takes the claim meanwhile.
    assert.equal(await claim('d', { at: T0 + 6 * HOUR, publishedAt: (NOW + 2) * 1000 }), 'claimed');
    assert.equal(await claim('c', { at: T0 + 4 * HOUR, owner: 'c2' }, NOW + 60), 'busy', 'its run may still be publishing');
    const late = NOW + 301;
    const retries = await Promise.all(
      ['c3', 'c4', 'c5'].map((owner) => claim('c', { at: T0 + 4 * HOUR, owner, publishedAt: late * 1000, leaseUntil: late + 300 }, late)),
    );
    assert.deepEqual(retries.filter((r) => r === 'claimed').length, 1, 'once the lease is over, one retry claims it again');
    assert.deepEqual(retries.filter((r) => r === 'busy').length, 2);
    const m = await s.read('s', T0, T0, late);
    assert.equal(m.claim?.lastAt, T0 + 6 * HOUR, 'claiming an older alert again leaves the claim on the latest');
    assert.deepEqual(m.remembered, ['a', 'b', 'd', 'c'].map(rememberedKey), 'oldest first, by when each was claimed');
  });

  it('a claim released after a failed publish lets the retry claim its alert at once, even after a later alert', async () => {
    const { s } = await store();
    assert.equal(await s.claimAlert(claimOf('a', { owner: 'a1' }), NOW), 'claimed');
    await s.releaseClaim(claimOf('a', { owner: 'a1' }));
    assert.equal(await s.claimAlert(claimOf('b', { at: T0 + 2 * HOUR }), NOW), 'claimed');
    assert.equal(await s.claimAlert(claimOf('a', { owner: 'a2' }), NOW + 1), 'claimed');
  });

  it('a claim released after a failed publish, then passed by a more severe alert within its cooldown: the retry sends nothing', async () => {
    const { s } = await store();
    assert.equal(await s.claimAlert(claimOf('a', { owner: 'a1' }), NOW), 'claimed');
    await s.releaseClaim(claimOf('a', { owner: 'a1' }));
    assert.equal(await s.claimAlert(claimOf('b', { at: T0 + 60_000, severity: 'critical' }), NOW), 'claimed', 'escalation');
    assert.equal(await s.claimAlert(claimOf('a', { owner: 'a2' }), NOW + 1), 'cooldown', 'the escalation went out with the merged evidence');
  });

  it(`a claim stops holding off at its cooldown but remembers its alerts as long as an object claim (4 days), at most ${MAX_REMEMBERED_ALERTS}, under 1 KB`, async () => {
    const { s, tableName } = await store();
    const source = '2001:0db8:85a3:0000:0000:8a2e:0370:7334';
    const id = (k: number) => createHash('sha256').update(String(k)).digest('hex').slice(0, 32);
    const sent: string[] = [];
    const objectOf = (k: number) => `bucket/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/01/01/node-${k}.log.gz#0123456789abcdef0123456789abcdef`;
    for (let k = 0; k < MAX_REMEMBERED_ALERTS + 3; k++) {
      const c = claimOf(objectOf(k), {
        source,
        at: T0 + k * 2 * HOUR,
        severity: 'critical',
        owner: '0f8e9c5e-3b1a-4c7d-9e2f-1a2b3c4d5e6f',
        alertId: id(k),
        publishedAt: (NOW + k) * 1000,
        forget: sent.slice(0, Math.max(0, sent.length - (MAX_REMEMBERED_ALERTS - 1))),
      });
      assert.equal(await s.claimAlert(c, NOW), 'claimed');
      sent.splice(0, c.forget?.length ?? 0);
      sent.push(rememberedKey(c.objectId));
    }
    const item = (await stack.dynamo.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: `SRC#${source}` }, sk: { S: 'ALERT' } } }))).Item ?? {};
    assert.equal(Object.keys(item).filter((k) => /^h/.test(k)).length, MAX_REMEMBERED_ALERTS);
    const size = dynamoItemSize(item);
    assert.ok(size < 1024, `the claim item is ${size} bytes: one write unit`);
    assert.ok(Number(item.expiresAt?.N) >= NOW + 96 * 3600, 'kept as long as an object claim');
    const lastAt = T0 + (MAX_REMEMBERED_ALERTS + 2) * 2 * HOUR;
    const later = NOW + 2 * 3600;
    const m = await s.read(source, lastAt, lastAt, later);
    assert.equal(m.claim, undefined, 'a cooldown of wall clock later the claim no longer holds off');
    assert.deepEqual(m.remembered, sent, 'but its alerts are remembered');
    assert.equal(await s.claimAlert(claimOf('next', { source, at: lastAt + 60_000, alertId: id(99) }), later), 'claimed', 'an alert close in event time');
    const remembered = claimOf(objectOf(MAX_REMEMBERED_ALERTS + 2), {
      source,
      at: lastAt,
      alertId: id(MAX_REMEMBERED_ALERTS + 2),
      owner: 'x',
      publishedAt: (NOW + MAX_REMEMBERED_ALERTS + 2) * 1000,
    });
    await s.markAlertSent(source, 'x', recordOf(remembered));
    assert.equal(await s.claimAlert(remembered, later), 'cooldown', 'but not one it remembers as sent');
  });

  it('several alerts of a source in one write: taken only when the claim takes each and remembers none, and left as taking them one by one would', async () => {
    const { s, tableName } = await store();
    const group = (ids: string[], over: (k: number) => Partial<ClaimRequest> = () => ({})) =>
      ids.map((o, k) => claimOf(o, { at: T0 + k * 2 * HOUR, publishedAt: (NOW + k) * 1000, ...over(k) }));
    assert.equal(await s.claimAlerts(group(['a', 'b', 'c']), NOW), true);
    const item = (await stack.dynamo.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'SRC#s' }, sk: { S: 'ALERT' } } }))).Item ?? {};
    assert.equal(Number(item.lastAt?.N), T0 + 4 * HOUR, 'the claim holds the last');
    assert.equal(item.alertId?.S, 'id-c');
    assert.equal(item.owner?.S, 'run-of-c');
    assert.equal(Number(item.alertCount?.N), 3);
    assert.deepEqual((await s.read('s', T0, T0, NOW)).remembered, ['a', 'b', 'c'].map(rememberedKey));
    const before = JSON.stringify(item);
    const same = async () =>
      JSON.stringify((await stack.dynamo.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'SRC#s' }, sk: { S: 'ALERT' } } }))).Item);
    assert.equal(
      await s.claimAlerts(
        group(['b', 'd'], (k) => ({ at: T0 + (6 + k * 2) * HOUR })),
        NOW,
      ),
      false,
      'one of them is remembered',
    );
    assert.equal(await same(), before, 'and nothing was written');
    assert.equal(
      await s.claimAlerts(
        group(['d', 'e'], (k) => ({ at: T0 + (4 + k * 2) * HOUR + 60_000 })),
        NOW,
      ),
      false,
      'one is within the cooldown of the claim',
    );
    assert.equal(
      await s.claimAlerts(
        group(['d', 'e'], (k) => ({ at: T0 + (4 + k * 2) * HOUR + 60_000, severity: 'critical' })),
        NOW,
      ),
      true,
      'unless more severe',
    );
    assert.equal(
      await s.claimAlerts(
        group(['f', 'g'], () => ({ at: T0 })),
        NOW + 3 * 3600 * 24,
      ),
      true,
      'or once the claim no longer holds off',
    );
  });

  it(`${MAX_REMEMBERED_ALERTS} alerts in one write forgetting ${MAX_REMEMBERED_ALERTS} remembered: within DynamoDB's expression limits, the item under 1 KB`, async () => {
    const { s, tableName } = await store();
    const source = '2001:0db8:85a3:0000:0000:8a2e:0370:7334';
    const id = (k: number) => createHash('sha256').update(String(k)).digest('hex').slice(0, 32);
    const group = (from: number, forget: string[] = []) =>
      Array.from({ length: MAX_REMEMBERED_ALERTS }, (_, k) =>
        claimOf(`bucket/AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2024/01/01/node-${from + k}.log.gz`, {
          source,
          at: T0 + (from + k) * 2 * HOUR,
          severity: 'critical',
          owner: `0f8e9c5e-3b1a-4c7d-9e2f-1a2b3c4d5e${String(from + k).padStart(2, '0')}`,
          alertId: id(from + k),
          publishedAt: (NOW + from + k) * 1000,
          ...(k === 0 && forget.length ? { forget } : {}),
        }),
      );
    const first = group(0);
    assert.equal(await s.claimAlerts(first, NOW), true);
    const second = group(
      MAX_REMEMBERED_ALERTS,
      first.map((c) => rememberedKey(c.objectId)),
    );
    assert.equal(await s.claimAlerts(second, NOW), true);
    const item = (await stack.dynamo.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: `SRC#${source}` }, sk: { S: 'ALERT' } } }))).Item ?? {};
    assert.deepEqual(
      Object.keys(item)
        .filter((k) => /^h/.test(k))
        .sort(),
      second.map((c) => rememberedKey(c.objectId)).sort(),
      'the second group remembered, the first forgotten',
    );
    assert.equal(Number(item.alertCount?.N), 2 * MAX_REMEMBERED_ALERTS);
    const size = dynamoItemSize(item);
    assert.ok(size < 1024, `the claim item is ${size} bytes`);
  });

  it('an alert claimed with others, released after a failed publish, is claimed by the retry of its object at once', async () => {
    const { s } = await store();
    const g = ['a', 'b', 'c'].map((o, k) => claimOf(o, { at: T0 + k * 2 * HOUR, publishedAt: (NOW + k) * 1000 }));
    assert.equal(await s.claimAlerts(g, NOW), true);
    await s.releaseClaim(g[1] as ClaimRequest);
    assert.equal(await s.claimAlert(claimOf('b', { at: T0 + 2 * HOUR, owner: 'b2' }), NOW + 1), 'claimed', 'released: no wait for its lease');
    assert.equal(await s.claimAlert(claimOf('a', { owner: 'a2' }), NOW + 1), 'busy', 'one not released waits for its lease');
    await s.releaseClaim(g[2] as ClaimRequest);
    assert.equal(await s.claimAlert(claimOf('c', { at: T0 + 4 * HOUR, owner: 'c2' }), NOW + 1), 'claimed', 'the one the claim holds, too');
  });

  it('a claim item of the previous layout (no liveUntil, nothing remembered) holds off until it expires', async () => {
    const { s, tableName } = await store();
    await stack.dynamo.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          pk: { S: 'SRC#s' },
          sk: { S: 'ALERT' },
          lastAt: { N: String(T0) },
          sevRank: { N: '2' },
          severity: { S: 'medium' },
          status: { S: 'pending' },
          objectId: { S: objectMarker('old') },
          owner: { S: 'run-old' },
          leaseUntil: { N: String(NOW - 1) },
          alertId: { S: 'id-old' },
          publishedAt: { S: new Date(NOW * 1000).toISOString() },
          expiresAt: { N: String(NOW + 3600) },
          alertCount: { N: '1' },
        },
      }),
    );
    assert.equal((await s.read('s', T0, T0, NOW)).claim?.lastAt, T0);
    assert.equal(await s.claimAlert(claimOf('b', { at: T0 + 60_000 }), NOW), 'cooldown');
    assert.equal(await s.claimAlert(claimOf('b', { at: T0 + 60_000 }), NOW + 3600), 'claimed', 'expired');
  });

  it('inspection: alerts by time (newest first, limited, joined with live blocks), a source described, the top sources', async () => {
    const { s, tableName } = await store();
    await s.applyDeltas([delta('o1'), delta('o2')], NOW);
    await assert.rejects(s.applyDeltas([delta('o1'), delta('o3', { source: '198.51.100.2' })], NOW), /one source/);
    await s.applyDeltas(
      [delta('o2', { source: '198.51.100.2', score: 500, buckets: [{ start: T0, score: 500, paths: ['bbbb0001'], counts: { '~err': 2 } }] })],
      NOW,
    );
    const nowMs = Date.now();
    const c = claimOf('o1', { source: '198.51.100.1', publishedAt: nowMs - 60_000, leaseUntil: Math.floor(nowMs / 1000) + 300 });
    assert.equal(await s.claimAlert(c, NOW), 'claimed');
    await s.markAlertSent(c.source, c.owner, recordOf(c));
    const older = { ...recordOf(c), alertId: 'id-older', publishedAt: new Date(nowMs - 2 * 86_400_000).toISOString() };
    await s.markAlertSent(c.source, c.owner, older);
    // A block record of the source, as the blocker writes it.
    const putBlock = (dryRun: boolean) =>
      stack.dynamo.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            pk: { S: 'BLOCKS' },
            sk: { S: '198.51.100.1/32' },
            cidr: { S: '198.51.100.1/32' },
            source: { S: '198.51.100.1' },
            until: { S: new Date(nowMs + 3_600_000).toISOString() },
            dryRun: { BOOL: dryRun },
            expiresAt: { N: String(NOW + 90_000) },
          },
        }),
      );
    await putBlock(true);
    const alerts = await s.listAlerts(nowMs - 3 * 86_400_000, nowMs, 10);
    assert.deepEqual(
      alerts.map((a) => a.alertId),
      ['id-o1', 'id-older'],
      'newest first, across day partitions',
    );
    assert.deepEqual(alerts[0], recordOf(c), 'a dry-run record is not a block: no blockedUntil');
    assert.deepEqual(
      (await s.listAlerts(nowMs - 3 * 86_400_000, nowMs, 1)).map((a) => a.alertId),
      ['id-o1'],
      'the limit holds',
    );
    assert.deepEqual(await s.listAlerts(nowMs - 3_600_000, nowMs, 10).then((a) => a.map((x) => x.alertId)), ['id-o1'], 'the time range holds');

    const view = await s.describeSource('198.51.100.1', NOW * 1000);
    assert.equal(view?.requests, 6);
    assert.equal(view?.score, 30);
    assert.deepEqual(view?.labels, { 'cgi-probe': 6 });
    assert.deepEqual(
      view?.windows.map((w) => [w.start, w.score]),
      [
        [new Date(T0).toISOString(), 20],
        [new Date(T0 + 20_000).toISOString(), 10],
      ],
    );
    assert.deepEqual(
      view?.long.map((l) => [l.horizon, l.score, l.paths]),
      [
        ['1h', 30, 3],
        ['24h', 30, 3],
      ],
    );
    assert.equal(view?.alert?.status, 'sent', 'the claim is pending in the item, but its record exists');
    assert.equal(view?.alert?.alertId, 'id-o1');
    assert.deepEqual(view?.block, { cidr: '198.51.100.1/32', until: new Date(nowMs + 3_600_000).toISOString(), dryRun: true });
    // The same block made for real: now the alert shows until when its source is blocked.
    await putBlock(false);
    assert.equal((await s.listAlerts(nowMs - 3_600_000, nowMs, 10))[0]?.blockedUntil, new Date(nowMs + 3_600_000).toISOString());
    assert.match(view?.samples[0] ?? '', /^1970-01-01T00:00:00.001Z 404 GET \/cgi-bin\/x HTTP\/1.1$/);
    assert.equal(await s.describeSource('192.0.2.200', NOW * 1000), undefined);

    const top = await s.topSources(T0 + HOUR, 5);
    assert.deepEqual(
      top.map((v) => [v.source, v.score]),
      [
        ['198.51.100.2', 500],
        ['198.51.100.1', 30],
      ],
      'by score, each object counted once',
    );
    assert.equal((await s.topSources(T0 + HOUR, 1)).length, 1);
  });

  it('object claims', async () => {
    const { s } = await store();
    assert.equal(await s.isObjectDone('x'), false);
    await s.markObjectDone('x', { lines: 10, parsed: 9, sources: 1, alerts: 0 }, Math.floor(Date.now() / 1000));
    assert.equal(await s.isObjectDone('x'), true);
  });

  it('object names are read once and then come from memory, the least recently used going past the bound', async () => {
    const { s: writer, tableName } = await store();
    const nowSec = Math.floor(Date.now() / 1000);
    for (const id of ['obj-a', 'obj-b', 'obj-c']) await writer.markObjectDone(id, { lines: 1, parsed: 1, sources: 1, alerts: 0 }, nowSec);
    const { store: s, commands: reads } = countingStore(tableName, { maxRememberedObjectNames: 2 });
    const [a, b, c] = ['obj-a', 'obj-b', 'obj-c'].map(objectMarker) as [string, string, string];
    const namesRead = async (markers: string[]) => {
      reads.length = 0;
      const names = await s.objectNames(markers);
      return { names: Object.fromEntries(names), reads: reads.length };
    };
    assert.deepEqual(await namesRead([a, b]), { names: { [a]: 'obj-a', [b]: 'obj-b' }, reads: 1 });
    assert.deepEqual(await namesRead([b, a]), { names: { [b]: 'obj-b', [a]: 'obj-a' }, reads: 0 }, 'the second time from memory');
    // c is one more than the bound: b, the least recently used, goes.
    assert.deepEqual(await namesRead([c]), { names: { [c]: 'obj-c' }, reads: 1 });
    assert.equal(s.objectNamesForgotten, 1);
    assert.deepEqual(await namesRead([a, c]), { names: { [a]: 'obj-a', [c]: 'obj-c' }, reads: 0 });
    assert.deepEqual(await namesRead([b]), { names: { [b]: 'obj-b' }, reads: 1 }, 'a forgotten name is read again');
    // An object this store marks done is named without a read; a marker nobody named stays unnamed.
    await s.markObjectDone('obj-d', { lines: 1, parsed: 1, sources: 1, alerts: 0 }, nowSec);
    assert.deepEqual(await namesRead([objectMarker('obj-d')]), { names: { [objectMarker('obj-d')]: 'obj-d' }, reads: 0 });
    assert.deepEqual(await namesRead([objectMarker('never-done')]), { names: {}, reads: 1 });
  });
});

describe('DynamoStateStore item bounds on DynamoDB Local', { timeout: 180_000 }, () => {
  let local: LocalStack;
  before(async () => {
    local = await startLocalStack({ bridgeEvents: false });
  });
  after(async () => {
    await local?.stop();
  });

  it('the worst case: many objects with 1-KB keys, a full hour of buckets and full samples never fail, and every count lands', async () => {
    const tableName = 'worst-case';
    await local.createTable(tableName);
    const limits: string[] = [];
    const s = new DynamoStateStore({ tableName, client: local.dynamo, onLimit: (w) => limits.push(w) });
    const hex = (i: number) => (i >>> 0).toString(16).padStart(8, '0');
    const bigSample = JSON.stringify({ t: T0, r: `GET /${'"'.repeat(500)} HTTP/1.1`, s: 404, u: 'x'.repeat(512), l: ['secret-file'] });
    const objects = 8;
    for (let o = 0; o < objects; o++) {
      const key = `logs/${'k"'.repeat(500)}/${o}.log`;
      const buckets = Array.from({ length: 360 }, (_, b) => ({
        start: T0 + b * 10_000,
        score: 1,
        paths: Array.from({ length: 64 }, (_, p) => hex(o * 1_000_000 + b * 100 + p)),
        counts: { 'login-post': 1 },
      }));
      const samples = [0, 1, 2].map((i) => bigSample.replace('"t":', `"i":${o * 3 + i},"t":`));
      await s.applyDelta(delta(`bucket/${key}#etag${o}`, { buckets, samples, requests: 360, lastSeen: T0 + HOUR - 1 }), NOW);
    }
    assert.ok(limits.includes('item-size'), 'the item reached its bound and the store said so');
    const m = await s.read('198.51.100.1', T0 - HOUR, T0 + HOUR, NOW);
    assert.equal(m.requests, 360 * objects, 'every object counted');
    assert.equal(m.objects.length, objects);
    assert.ok(
      m.objects.every((o) => o.length === 12),
      'object ids read back as their 12-character markers',
    );
    assert.equal(new Set(m.objects).size, objects, 'and stay distinct');
    assert.equal(
      m.buckets.reduce((n, b) => n + (b.counts['login-post'] ?? 0), 0),
      360 * objects,
      'threshold counts are never dropped',
    );
  });
});

describe('packed buckets', () => {
  const bucket = fc.record({
    offset: fc.integer({ min: 0, max: 359 }),
    score: fc.oneof(
      fc.integer({ min: 0, max: 10_000 }).map((n) => n / 2),
      fc.double({ min: 0, max: 1e6, noNaN: true }),
    ),
    errors: fc.nat(500),
    paths: fc.array(fc.nat(2 ** 32 - 1), { maxLength: 20 }),
    counts: fc.dictionary(fc.constantFrom('~err', 'login-post', 'x'), fc.integer({ min: 1, max: 1000 })),
  });

  it('round-trip: offsets, scores, errors and counts whole; paths by their kept low bits, once per bucket', () => {
    fc.assert(
      fc.property(fc.uniqueArray(bucket, { selector: (b) => b.offset, maxLength: 40 }), fc.constantFrom(1, 10, 60), fc.boolean(), (raw, step, withPaths) => {
        const buckets = raw.map((b) => ({ ...b, offset: b.offset * step }));
        const back = unpackBuckets(packBuckets(buckets, withPaths));
        const mask = 2 ** STORED_PATH_HASH_BITS - 1;
        const want = [...buckets]
          .sort((a, b) => a.offset - b.offset)
          .map((b) => ({ ...b, paths: withPaths ? [...new Set(b.paths.map((h) => h & mask))] : [], counts: { ...b.counts } }));
        assert.deepEqual(back, want);
      }),
    );
  });

  it('a path costs 3 bytes, and buckets 10 s apart cost one byte of offset each', () => {
    const at = (offset: number, paths: number[]) => ({ offset, score: 5, errors: 1, paths, counts: {} });
    const one = packBuckets([at(0, [1])], true).length;
    assert.equal(packBuckets([at(0, [1, 2, 3])], true).length - one, 6);
    const spread = packBuckets(
      Array.from({ length: 360 }, (_, i) => at(i * 10, [])),
      true,
    );
    assert.equal(spread.length, packBuckets([at(0, [])], true).length + 359 * 5, 'offset, score, errors, paths and counters: a byte each');
    assert.throws(() => unpackBuckets(spread.subarray(0, spread.length - 1)), /truncated/);
  });
});
