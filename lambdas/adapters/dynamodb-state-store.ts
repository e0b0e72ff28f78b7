import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { AdapterError } from '../core/errors.js';
import {
  type ClaimRequest,
  type ClaimResult,
  type MergedSourceState,
  type SourceDelta,
  type StateStore,
  type StoredBucket,
  emptyMergedState,
} from '../core/ports.js';
import { SEVERITIES, type Severity } from '../core/rules/types.js';

const HOUR_MS = 3_600_000;
/** Clauses per UpdateItem: keeps every expression well under DynamoDB's 4 KB limit. */
const MAX_CLAUSES = 80;

/** Options of the DynamoDB state store. */
export interface DynamoStateStoreOptions {
  tableName: string;
  /** @default a DynamoDBClient with adaptive retries (8 attempts) */
  client?: DynamoDBClient;
  /** A ready document client (wins over `client`; tests inject faults through it). */
  documentClient?: DynamoDBDocumentClient;
  /** How long window items live after their hour ends (or after the last write). @default 4 */
  retentionHours?: number;
  /** How long an object stays marked as processed (SQS keeps messages 4 days by default). @default 96 */
  objectRetentionHours?: number;
  /** Told when a bound is hit (`item-size`: evidence left out of a full item), for metrics. */
  onLimit?: (what: string) => void;
}

/** One attribute an update adds; bulky ones (samples, path hashes) are left out of a full item. */
type Clause = { name: string; value: unknown; bulky?: boolean };

/** Overflow items per source-hour for counts that no longer fit the hour item. */
export const MAX_OVERFLOW_ITEMS = 8;

/** Object ids kept in items are cut to this many characters (plus a hash), so 1-KB keys cannot fill an item. */
export const MAX_OBJECT_MARKER = 200;

/** The object id as stored in `objs`: whole when short, else cut with a hash that keeps it unique. */
export function objectMarker(id: string): string {
  if (id.length <= MAX_OBJECT_MARKER) return id;
  return `${id.slice(0, MAX_OBJECT_MARKER - 18)}…#${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
}

function isItemTooLarge(e: unknown): boolean {
  const err = e as { name?: string; message?: string };
  return err?.name === 'ValidationException' && /item size/i.test(err.message ?? '');
}

type Item = Record<string, unknown>;

const sourcePk = (source: string) => `SRC#${source}`;
const hourSk = (hourStart: number) => `W#${new Date(hourStart).toISOString().slice(0, 13)}`;

function rethrow(what: string, e: unknown): never {
  throw new AdapterError(`DynamoDB ${what} failed: ${(e as Error).message}`, { cause: e });
}

/**
 * Per-source probe state in one DynamoDB table (DESIGN "State in DynamoDB"):
 *
 * - `SRC#<source>` / `W#<hour>`: one item per source per hour of event time. Each 10-second
 *   bucket is a set of top-level attributes (`b<offset>_s` score, `b<offset>_p` error-path hashes,
 *   `b<offset>_c_<rule>` threshold counts), and totals are `req`, `score`, `l_<category>`,
 *   `st_<status>`, so one `ADD` merges a delta whatever else was written concurrently.
 *   `objs` holds the objects already applied: the condition on it makes re-applying a no-op.
 * - `SRC#<source>` / `ALERT`: the alert claim (last alert time in event time, severity, status).
 * - `OBJ#<bucket>/<key>#<etag>` / `OBJ`: the object claim, written when an object is done.
 *
 * Every item carries `expiresAt` (TTL). DynamoDB deletes expired items late, so reads ignore them.
 */
export class DynamoStateStore implements StateStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly retentionSec: number;
  private readonly objectRetentionSec: number;
  private readonly onLimit: (what: string) => void;

  constructor(opts: DynamoStateStoreOptions) {
    this.doc =
      opts.documentClient ??
      DynamoDBDocumentClient.from(opts.client ?? new DynamoDBClient({ maxAttempts: 8, retryMode: 'adaptive' }), {
        marshallOptions: { removeUndefinedValues: true },
      });
    this.table = opts.tableName;
    this.retentionSec = (opts.retentionHours ?? 4) * 3600;
    this.objectRetentionSec = (opts.objectRetentionHours ?? 96) * 3600;
    this.onLimit = opts.onLimit ?? (() => {});
  }

  async isObjectDone(objectId: string): Promise<boolean> {
    try {
      const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: `OBJ#${objectId}`, sk: 'OBJ' }, ConsistentRead: true }));
      const exp = Number(r.Item?.expiresAt ?? 0);
      return r.Item?.status === 'done' && exp > Date.now() / 1000;
    } catch (e) {
      rethrow('GetItem (object claim)', e);
    }
  }

  async markObjectDone(objectId: string, stats: { lines: number; parsed: number; sources: number; alerts: number }, nowSec: number): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: `OBJ#${objectId}`, sk: 'OBJ', status: 'done', ...stats, doneAt: nowSec, expiresAt: nowSec + this.objectRetentionSec },
        }),
      );
    } catch (e) {
      rethrow('PutItem (object claim)', e);
    }
  }

  async applyDelta(delta: SourceDelta, nowSec: number, aroundMs = HOUR_MS): Promise<MergedSourceState> {
    // Whole hours around the delta's hours: the longest horizon must see every item it spans.
    const around = Math.max(HOUR_MS, Math.ceil(aroundMs / HOUR_MS) * HOUR_MS);
    const byHour = new Map<number, StoredBucket[]>();
    for (const b of delta.buckets) {
      const h = Math.floor(b.start / HOUR_MS) * HOUR_MS;
      const list = byHour.get(h) ?? [];
      list.push(b);
      byHour.set(h, list);
    }
    if (byHour.size === 0) byHour.set(Math.floor(delta.firstSeen / HOUR_MS) * HOUR_MS, []);
    const hours = [...byHour.keys()].sort((a, b) => a - b);
    for (const [i, hour] of hours.entries()) {
      // Totals go on the first hour's item only, so a merged read counts them once.
      await this.applyToHour(delta, hour, byHour.get(hour) ?? [], i === 0, nowSec, around);
    }
    return this.read(delta.source, (hours[0] as number) - around, (hours[hours.length - 1] as number) + around, nowSec);
  }

  private async applyToHour(delta: SourceDelta, hour: number, buckets: StoredBucket[], withTotals: boolean, nowSec: number, around: number): Promise<void> {
    const clauses: Clause[] = [];
    const add = (name: string, value: unknown, bulky = false) => clauses.push({ name, value, bulky });
    if (withTotals) {
      add('req', delta.requests);
      if (delta.score) add('score', delta.score);
      add('ts', new Set([delta.firstSeen, delta.lastSeen]));
      for (const [c, n] of Object.entries(delta.labels)) add(`l_${c}`, n);
      for (const [k, n] of Object.entries(delta.statuses)) add(`st_${k}`, n);
      if (delta.rules.length) add('rules', new Set(delta.rules));
      if (delta.samples.length) add('smp', new Set(delta.samples), true);
    }
    for (const b of buckets) {
      const off = Math.round((b.start - hour) / 1000);
      if (b.score) add(`b${off}_s`, b.score);
      if (b.paths.length) add(`b${off}_p`, new Set(b.paths), true);
      for (const [rule, n] of Object.entries(b.counts)) add(`b${off}_c_${rule}`, n);
    }
    // An item lives at least as long as a horizon can reach back to it.
    const expiresAt = Math.max(Math.floor((hour + HOUR_MS) / 1000), nowSec) + Math.max(this.retentionSec, around / 1000);
    for (let part = 0, start = 0; start < clauses.length || part === 0; part++, start += MAX_CLAUSES) {
      // A large delta is split; each part is guarded by its own marker so each applies once.
      const id = objectMarker(delta.objectId);
      const marker = part === 0 ? id : `${id}#p${part}`;
      const chunk = clauses.slice(start, start + MAX_CLAUSES);
      await this.applyChunk(delta, hour, marker, chunk, expiresAt);
      if (start + MAX_CLAUSES >= clauses.length) break;
    }
  }

  /**
   * Writes one part of a delta to the hour item. When that item has reached DynamoDB's 400 KB,
   * the counts go to the hour's overflow items (`W#<hour>#o1`, `#o2`…) instead, without the bulky
   * evidence (samples, error-path hashes): tried in a fixed order, and items only grow, so a
   * retried object finds its marker where it went the first time. Every bound hit is reported.
   */
  private async applyChunk(delta: SourceDelta, hour: number, marker: string, chunk: Clause[], expiresAt: number): Promise<void> {
    const lean = chunk.filter((c) => !c.bulky);
    for (let k = 0; k <= MAX_OVERFLOW_ITEMS; k++) {
      try {
        await this.update(delta, k === 0 ? hourSk(hour) : `${hourSk(hour)}#o${k}`, marker, k === 0 ? chunk : lean, expiresAt);
        return;
      } catch (e) {
        if (!isItemTooLarge(e)) throw e;
        this.onLimit(k === 0 ? 'item-size' : 'overflow-item-size');
      }
    }
    this.onLimit('overflow-items-full');
    throw new AdapterError(`DynamoDB: ${sourcePk(delta.source)} ${hourSk(hour)} and its ${MAX_OVERFLOW_ITEMS} overflow items are full`);
  }

  private async update(delta: SourceDelta, sk: string, marker: string, chunk: Clause[], expiresAt: number): Promise<void> {
    // Every name goes through a placeholder: DynamoDB reserves hundreds of words (REF, STATUS…).
    const names: Record<string, string> = { '#objs': 'objs', '#exp': 'expiresAt', '#ref': 'ref' };
    const values: Record<string, unknown> = { ':obj': marker, ':objs': new Set([marker]), ':exp': expiresAt, ':ref': delta.referer || '' };
    const adds = chunk.map((c, i) => {
      names[`#a${i}`] = c.name;
      values[`:v${i}`] = c.value;
      return `#a${i} :v${i}`;
    });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: sourcePk(delta.source), sk },
          // ADD merges numbers and sets, so concurrent objects never overwrite each other;
          // expiresAt moves forward with the newest write.
          UpdateExpression: `ADD #objs :objs${adds.length ? `, ${adds.join(', ')}` : ''} SET #exp = :exp, #ref = if_not_exists(#ref, :ref)`,
          // Applied once per object: a redelivered or retried object finds its id already here.
          ConditionExpression: 'attribute_not_exists(#objs) OR NOT contains(#objs, :obj)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return; // already applied: a domain outcome
      if (isItemTooLarge(e)) throw e;
      rethrow(`UpdateItem (${sourcePk(delta.source)} ${sk})`, e);
    }
  }

  /**
   * Merges every live hour item of a source between two hours (inclusive), and returns its alert
   * claim with it: both live in the source's partition, so one query reads them.
   */
  async read(source: string, fromHour: number, toHour: number, nowSec: number): Promise<MergedSourceState> {
    const items: Item[] = [];
    try {
      let start: Record<string, unknown> | undefined;
      do {
        const r = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            // "ALERT" sorts before "W#…": one range covers the claim and the windows up to `to`.
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :alert AND :to',
            // TTL deletion is best effort and late: an expired item must not count.
            FilterExpression: '#exp > :now',
            ExpressionAttributeNames: { '#exp': 'expiresAt' },
            ExpressionAttributeValues: { ':pk': sourcePk(source), ':alert': 'ALERT', ':to': hourSk(toHour), ':now': nowSec },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        items.push(...((r.Items ?? []) as Item[]));
        start = r.LastEvaluatedKey;
      } while (start);
    } catch (e) {
      rethrow(`Query (${sourcePk(source)})`, e);
    }
    const from = hourSk(fromHour);
    const merged = mergeItems(
      source,
      items.filter((i) => String(i.sk).startsWith('W#') && String(i.sk) >= from),
    );
    const claim = items.find((i) => i.sk === 'ALERT');
    if (claim) {
      merged.claim = {
        lastAt: Number(claim.lastAt),
        severity: (SEVERITIES as readonly string[]).includes(String(claim.severity)) ? (claim.severity as Severity) : 'info',
        status: claim.status === 'sent' ? 'sent' : 'pending',
        objectId: String(claim.objectId),
      };
    }
    return merged;
  }

  async claimAlert(c: ClaimRequest, nowSec: number): Promise<ClaimResult> {
    const rank = SEVERITIES.indexOf(c.severity);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: sourcePk(c.source), sk: 'ALERT' },
          UpdateExpression:
            'SET #last = :at, #rank = :rank, #sev = :sev, #st = :pending, #obj = :obj, #owner = :owner, #lease = :lease, #aid = :aid, #exp = :exp ADD #count :one',
          // One alert per source per cooldown in event time, whoever writes first. Let it
          // through when: there is no live claim, the last alert is a cooldown away (either
          // direction: objects arrive out of order), this one is more severe, or this same
          // object claimed it before and its owner's lease has run out (it crashed or gave up
          // before marking it sent). A live lease is never taken over: two runs of one object at
          // once would otherwise both publish.
          ConditionExpression:
            'attribute_not_exists(#pk) OR #exp <= :now OR #last <= :before OR #last >= :after OR #rank < :rank OR (#st = :pending AND #obj = :obj AND (attribute_not_exists(#lease) OR #lease <= :now))',
          ExpressionAttributeNames: {
            '#pk': 'pk',
            '#last': 'lastAt',
            '#rank': 'sevRank',
            '#sev': 'severity',
            '#st': 'status',
            '#obj': 'objectId',
            '#owner': 'owner',
            '#lease': 'leaseUntil',
            '#aid': 'alertId',
            '#exp': 'expiresAt',
            '#count': 'alertCount',
          },
          ExpressionAttributeValues: {
            ':at': c.at,
            ':rank': rank,
            ':sev': c.severity,
            ':pending': 'pending',
            ':obj': c.objectId,
            ':owner': c.owner,
            ':lease': c.leaseUntil,
            ':aid': c.alertId,
            ':exp': Math.max(Math.floor((c.at + c.cooldownMs) / 1000), nowSec + Math.floor(c.cooldownMs / 1000)),
            ':one': 1,
            ':now': nowSec,
            ':before': c.at - c.cooldownMs,
            ':after': c.at + c.cooldownMs,
          },
          // The refused item tells "cooldown" from "busy" without a second read.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return 'claimed';
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) {
        // A pending claim of this same object was refused only because its lease is live:
        // another run of the object holds it.
        const old = e.Item;
        return old?.status?.S === 'pending' && old.objectId?.S === c.objectId ? 'busy' : 'cooldown';
      }
      rethrow(`UpdateItem (${sourcePk(c.source)} ALERT)`, e);
    }
  }

  async markAlertSent(source: string, owner: string): Promise<void> {
    await this.updateOwnClaim(source, owner, 'SET #st = :sent REMOVE #lease', { ':sent': 'sent' }, 'sent');
  }

  async releaseClaim(source: string, owner: string): Promise<void> {
    await this.updateOwnClaim(source, owner, 'SET #lease = :zero', { ':zero': 0 }, 'release');
  }

  private async updateOwnClaim(source: string, owner: string, update: string, values: Record<string, unknown>, what: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: sourcePk(source), sk: 'ALERT' },
          UpdateExpression: update,
          // Only our own pending claim: another run may have claimed a newer alert since.
          ConditionExpression: '#owner = :owner AND #st = :pending',
          ExpressionAttributeNames: { '#st': 'status', '#owner': 'owner', '#lease': 'leaseUntil' },
          ExpressionAttributeValues: { ...values, ':owner': owner, ':pending': 'pending' },
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return;
      rethrow(`UpdateItem (${sourcePk(source)} ALERT ${what})`, e);
    }
  }
}

const BUCKET_ATTR = /^b(\d+)_(s|p|c_(.+))$/;

/** Sums hour items into one merged state (pure; exported for tests). */
export function mergeItems(source: string, items: readonly Item[]): MergedSourceState {
  const m = emptyMergedState(source);
  const rules = new Set<string>();
  const samples = new Set<string>();
  const objects = new Set<string>();
  const buckets = new Map<number, StoredBucket>();
  for (const item of items) {
    // `W#2024-01-01T10` or an overflow item `W#2024-01-01T10#o1`.
    const hour = Date.parse(`${String(item.sk).slice(2, 15)}:00:00Z`);
    for (const [k, v] of Object.entries(item)) {
      if (k === 'req') m.requests += Number(v);
      else if (k === 'score') m.score += Number(v);
      else if (k === 'ts') {
        for (const t of v as Set<number>) {
          if (t < m.firstSeen) m.firstSeen = t;
          if (t > m.lastSeen) m.lastSeen = t;
        }
      } else if (k.startsWith('l_')) m.labels[k.slice(2)] = (m.labels[k.slice(2)] ?? 0) + Number(v);
      else if (k.startsWith('st_')) m.statuses[k.slice(3)] = (m.statuses[k.slice(3)] ?? 0) + Number(v);
      else if (k === 'rules') {
        for (const r of v as Set<string>) rules.add(r);
      } else if (k === 'smp') {
        for (const s of v as Set<string>) samples.add(s);
      } else if (k === 'objs') {
        // Parts of a split delta carry "#p<n>" markers (an ETag has no "p"); the object is listed once.
        for (const o of v as Set<string>) if (!/#p\d+$/.test(o)) objects.add(o);
      } else if (k === 'ref') {
        if (!m.referer && v) m.referer = String(v);
      } else {
        const b = BUCKET_ATTR.exec(k);
        if (!b) continue;
        const start = hour + Number(b[1]) * 1000;
        const bucket = buckets.get(start) ?? { start, score: 0, paths: [], counts: {} };
        buckets.set(start, bucket);
        if (b[2] === 's') bucket.score += Number(v);
        else if (b[2] === 'p') bucket.paths = [...new Set([...bucket.paths, ...(v as Set<string>)])];
        else bucket.counts[b[3] as string] = (bucket.counts[b[3] as string] ?? 0) + Number(v);
      }
    }
  }
  m.rules = [...rules];
  m.samples = [...samples];
  m.objects = [...objects].sort();
  m.buckets = [...buckets.values()].sort((a, b) => a.start - b.start);
  return m;
}
