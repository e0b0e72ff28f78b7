import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DIGEST_MAX_ALERTS, type DigestEntry } from '../core/digest.js';
import { AdapterError } from '../core/errors.js';
import type { DeliveryClaim, DigestRun, NotifyStore } from '../core/notify.js';

/**
 * Delivery records and digest queues in the state table:
 *
 * - `NOTIFIED#<channel>` / `<alertId>`: one alert's delivery to one channel (`status` pending,
 *   sent or queued; `owner` and `leaseUntil` while pending; `queuedAt` for the digest entry).
 *   Kept {@link DELIVERY_RECORD_TTL_SECONDS}: longer than a message can live in the queue and
 *   its dead-letter queue, so a redrive never delivers twice.
 * - `DIGEST#<channel>` / `A#<queuedAt ISO>#<alertId>`: an alert waiting for the digest (oldest
 *   first), `claimedBy` the digest period that summarises it.
 * - `DIGEST#<channel>` / `CURSOR`: the digest's state: `lastSentAt`, and while a run sends,
 *   `period`, `owner` and `leaseUntil`; `version` makes every change of it a compare-and-set.
 */

/** 18 days: the alert queue keeps messages 4 days and its dead-letter queue 14. */
export const DELIVERY_RECORD_TTL_SECONDS = 18 * 24 * 3600;
/** A waiting alert is forgotten after 7 days (a digest is sent at most a day apart; a week covers a long outage). */
export const DIGEST_ENTRY_TTL_SECONDS = 7 * 24 * 3600;
/** DynamoDB: BatchWriteItem takes at most 25 requests. */
const BATCH_MAX = 25;

const deliveryPk = (channel: string) => `NOTIFIED#${channel}`;
const digestPk = (channel: string) => `DIGEST#${channel}`;
const CURSOR = 'CURSOR';

function rethrow(what: string, e: unknown): never {
  throw new AdapterError(`DynamoDB ${what} failed: ${(e as Error).message}`, { cause: e });
}

/** Options of {@link DynamoNotifyStore}. */
export interface DynamoNotifyStoreOptions {
  tableName: string;
  client?: DynamoDBClient;
  /** Alerts one digest summarises (tests lower it). @default DIGEST_MAX_ALERTS */
  maxAlerts?: number;
}

/** The {@link NotifyStore} on the state table. */
export class DynamoNotifyStore implements NotifyStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly maxAlerts: number;

  constructor(opts: DynamoNotifyStoreOptions) {
    this.maxAlerts = opts.maxAlerts ?? DIGEST_MAX_ALERTS;
    this.doc = DynamoDBDocumentClient.from(opts.client ?? new DynamoDBClient({ maxAttempts: 8 }), { marshallOptions: { removeUndefinedValues: true } });
    this.table = opts.tableName;
  }

  async claimDelivery(channel: string, alertId: string, owner: string, leaseUntilSec: number, nowMs: number): Promise<DeliveryClaim> {
    const nowSec = Math.floor(nowMs / 1000);
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: deliveryPk(channel), sk: alertId },
          // A new record, or a pending one whose owner's lease ran out (its run died). queuedAt is
          // kept from the first claim, so a digest entry written again has the same key.
          UpdateExpression: 'SET #s = :pending, #o = :owner, leaseUntil = :lease, expiresAt = :exp, queuedAt = if_not_exists(queuedAt, :now)',
          ConditionExpression: 'attribute_not_exists(pk) OR (#s = :pending AND leaseUntil < :nowSec)',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
          ExpressionAttributeValues: {
            ':pending': 'pending',
            ':owner': owner,
            ':lease': leaseUntilSec,
            ':exp': nowSec + DELIVERY_RECORD_TTL_SECONDS,
            ':now': nowMs,
            ':nowSec': nowSec,
          },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { outcome: 'claimed', queuedAt: Number(out.Attributes?.queuedAt ?? nowMs) };
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) {
        const old = e.Item as { status?: { S?: string } } | undefined;
        return old?.status?.S === 'pending' ? { outcome: 'busy' } : { outcome: 'done' };
      }
      return rethrow('claim of a delivery', e);
    }
  }

  async markDelivered(channel: string, alertId: string, owner: string, how: 'sent' | 'queued'): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: deliveryPk(channel), sk: alertId },
          UpdateExpression: 'SET #s = :how REMOVE leaseUntil',
          // Only the owner marks its own claim (a run whose lease ran out must not mark another's).
          ConditionExpression: '#o = :owner',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
          ExpressionAttributeValues: { ':how': how, ':owner': owner },
        }),
      );
    } catch (e) {
      // Taken over by another run meanwhile: that run delivers (at most one repeat, as documented).
      if (e instanceof ConditionalCheckFailedException) return;
      rethrow('mark of a delivery', e);
    }
  }

  async releaseDelivery(channel: string, alertId: string, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: deliveryPk(channel), sk: alertId },
          ConditionExpression: '#o = :owner AND #s = :pending',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
          ExpressionAttributeValues: { ':owner': owner, ':pending': 'pending' },
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return;
      rethrow('release of a delivery', e);
    }
  }

  async queueForDigest(channel: string, entry: DigestEntry, nowMs: number): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: digestPk(channel),
            sk: `A#${new Date(entry.queuedAt).toISOString()}#${entry.alertId}`,
            ...entry,
            expiresAt: Math.floor(nowMs / 1000) + DIGEST_ENTRY_TTL_SECONDS,
          },
          // Written again by a retry: the first one stands (it may be claimed by a digest already).
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return;
      rethrow('queueing for the digest', e);
    }
  }

  /** Waiting entries, oldest first (expired ones ignored: TTL deletes late). */
  private async entries(
    channel: string,
    nowSec: number,
    limit: number,
  ): Promise<{ items: (DigestEntry & { sk: string; claimedBy?: string })[]; more: boolean }> {
    const items: (DigestEntry & { sk: string; claimedBy?: string })[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc
        .send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :a)',
            ExpressionAttributeValues: { ':pk': digestPk(channel), ':a': 'A#' },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        )
        .catch((e) => rethrow('query of the digest queue', e));
      for (const it of out.Items ?? []) {
        if (Number(it.expiresAt ?? Number.POSITIVE_INFINITY) <= nowSec) continue;
        if (items.length >= limit) return { items, more: true };
        items.push(it as DigestEntry & { sk: string; claimedBy?: string });
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return { items, more: false };
  }

  async claimDigest(channel: string, everyMs: number, owner: string, leaseUntilSec: number, nowMs: number): Promise<DigestRun | undefined> {
    const nowSec = Math.floor(nowMs / 1000);
    const got = await this.doc
      .send(new GetCommand({ TableName: this.table, Key: { pk: digestPk(channel), sk: CURSOR }, ConsistentRead: true }))
      .catch((e) => rethrow('read of the digest cursor', e));
    const cursor = got.Item as { status?: string; leaseUntil?: number; period?: string; lastSentAt?: number; version?: number } | undefined;
    let period: string;
    if (cursor?.status === 'pending') {
      if (Number(cursor.leaseUntil) >= nowSec) return undefined; // another run is sending it
      period = String(cursor.period); // its run died: send the same period again
    } else {
      if (cursor?.lastSentAt !== undefined && nowMs - cursor.lastSentAt < everyMs) return undefined;
      const oldest = await this.entries(channel, nowSec, 1);
      const first = oldest.items[0];
      // Nothing waits, or the oldest alert has not waited a whole digest interval yet: a wave of
      // alerts within the interval becomes one digest.
      if (!first || nowMs - first.queuedAt < everyMs) return undefined;
      period = `P${nowMs}`;
    }
    const version = cursor?.version ?? 0;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: digestPk(channel), sk: CURSOR },
          UpdateExpression: 'SET #s = :pending, #o = :owner, leaseUntil = :lease, period = :period, version = :next',
          // Compare-and-set on the version read above: of two overlapping runs, one claims the period.
          ConditionExpression: 'attribute_not_exists(pk) OR version = :version',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
          ExpressionAttributeValues: {
            ':pending': 'pending',
            ':owner': owner,
            ':lease': leaseUntilSec,
            ':period': period,
            ':version': version,
            ':next': version + 1,
          },
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return undefined;
      rethrow('claim of a digest', e);
    }
    const { items, more } = await this.entries(channel, nowSec, Number.POSITIVE_INFINITY);
    const entries: DigestEntry[] = [];
    const leftovers: string[] = [];
    let waiting = 0;
    for (const it of items) {
      // Claimed by an earlier period that was sent (only one period is in flight at a time, so
      // any other period is finished): a deletion that did not happen then.
      if (it.claimedBy && it.claimedBy !== period) {
        leftovers.push(it.sk);
        continue;
      }
      if (entries.length >= this.maxAlerts) {
        waiting++;
        continue;
      }
      if (!it.claimedBy) {
        try {
          await this.doc.send(
            new UpdateCommand({
              TableName: this.table,
              Key: { pk: digestPk(channel), sk: it.sk },
              UpdateExpression: 'SET claimedBy = :p',
              ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(claimedBy) OR claimedBy = :p)',
              ExpressionAttributeValues: { ':p': period },
            }),
          );
        } catch (e) {
          if (e instanceof ConditionalCheckFailedException) continue;
          rethrow('claim of a digest entry', e);
        }
      }
      const { sk: _sk, claimedBy: _c, ...entry } = it;
      entries.push({ ...entry, queuedAt: Number(entry.queuedAt) });
    }
    if (more) waiting++;
    await this.deleteEntries(channel, leftovers);
    if (entries.length === 0) {
      // Nothing left to say (the waiting alerts expired or were sent): back to idle, no digest.
      await this.doc
        .send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: digestPk(channel), sk: CURSOR },
            UpdateExpression: 'SET #s = :idle, version = version + :one REMOVE leaseUntil, #o',
            ConditionExpression: '#o = :owner',
            ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
            ExpressionAttributeValues: { ':idle': 'idle', ':owner': owner, ':one': 1 },
          }),
        )
        .catch((e) => {
          if (!(e instanceof ConditionalCheckFailedException)) rethrow('reset of a digest', e);
        });
      return undefined;
    }
    return { period, entries, waiting };
  }

  async finishDigest(channel: string, run: DigestRun, owner: string, nowMs: number): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: digestPk(channel), sk: CURSOR },
          UpdateExpression: 'SET #s = :idle, lastSentAt = :now, lastPeriod = :period, version = version + :one REMOVE leaseUntil, #o',
          ConditionExpression: '#o = :owner AND period = :period',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
          ExpressionAttributeValues: { ':idle': 'idle', ':now': nowMs, ':period': run.period, ':owner': owner, ':one': 1 },
        }),
      );
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) rethrow('finishing a digest', e);
    }
    // The cursor says the period was sent; its entries go now (a later run deletes any left).
    await this.deleteEntries(
      channel,
      run.entries.map((e) => `A#${new Date(e.queuedAt).toISOString()}#${e.alertId}`),
    );
  }

  async releaseDigest(channel: string, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: digestPk(channel), sk: CURSOR },
          // The lease ends now: the next run takes the same period over (and its claimed alerts).
          UpdateExpression: 'SET leaseUntil = :zero, version = version + :one',
          ConditionExpression: '#o = :owner',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':zero': 0, ':owner': owner, ':one': 1 },
        }),
      );
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) rethrow('release of a digest', e);
    }
  }

  private async deleteEntries(channel: string, sks: readonly string[]): Promise<void> {
    for (let i = 0; i < sks.length; i += BATCH_MAX) {
      let requests: Record<string, unknown>[] = sks.slice(i, i + BATCH_MAX).map((sk) => ({ DeleteRequest: { Key: { pk: digestPk(channel), sk } } }));
      // Unprocessed deletes are retried a few times; what is left is deleted by the next digest run.
      for (let tries = 0; requests.length && tries < 5; tries++) {
        const out = await this.doc
          .send(new BatchWriteCommand({ RequestItems: { [this.table]: requests } }))
          .catch((e) => rethrow('deletion of sent digest entries', e));
        requests = (out.UnprocessedItems?.[this.table] ?? []) as Record<string, unknown>[];
      }
    }
  }
}
