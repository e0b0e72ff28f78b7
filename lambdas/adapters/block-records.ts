import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type BlockRecord, REFUSAL_TTL_SECONDS, type RefusalReason, isoSeconds } from '../core/blocking.js';
import { AdapterError } from '../core/errors.js';

/** Partition of the block records in the state table (CONTRACTS.md section 1). */
export const BLOCKS_PK = 'BLOCKS';
/** Partition of the alerts that were not blocked, and why (sort key: the alert id). */
export const REFUSALS_PK = 'BLOCK_REFUSALS';
/**
 * Records read by one sweep: both sets full (2 × 10,000) plus as many expired ones waiting to be
 * swept. Past it the sweep works on what it read and says so (`truncated`); the next one continues.
 */
export const MAX_RECORDS_PER_SWEEP = 40_000;

/** Options of {@link BlockRecords}. */
export interface BlockRecordsOptions {
  tableName: string;
  client?: DynamoDBClient;
  /** @default MAX_RECORDS_PER_SWEEP */
  maxRecords?: number;
}

const isConditionFailure = (e: unknown) => e instanceof ConditionalCheckFailedException || (e as Error)?.name === 'ConditionalCheckFailedException';

/** The block records in the state table: `BLOCKS` / `<cidr>`, and the refusals. */
export class BlockRecords {
  private readonly doc: DynamoDBDocumentClient;
  private readonly maxRecords: number;

  constructor(private readonly opts: BlockRecordsOptions) {
    this.doc = DynamoDBDocumentClient.from(opts.client ?? new DynamoDBClient({ maxAttempts: 5 }));
    this.maxRecords = opts.maxRecords ?? MAX_RECORDS_PER_SWEEP;
  }

  private fail(what: string, e: unknown): never {
    throw new AdapterError(`DynamoDB ${what} on ${this.opts.tableName} failed: ${(e as Error).message}`, { cause: e });
  }

  /**
   * Writes a block unless the one recorded lasts as long or longer (see `mergeBlock`): the same
   * alert again changes nothing, a later end from another alert extends it, a real block replaces a
   * dry-run record, and a dry run never touches a real block. One conditional put, so concurrent
   * writers cannot shorten a block.
   */
  async record(rec: BlockRecord): Promise<'written' | 'kept'> {
    const condition = rec.dryRun
      ? 'attribute_not_exists(pk) OR (dryRun = :yes AND alertId <> :id AND untilEpoch < :until)'
      : 'attribute_not_exists(pk) OR dryRun = :yes OR (alertId <> :id AND untilEpoch < :until)';
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.opts.tableName,
          Item: { pk: BLOCKS_PK, sk: rec.cidr, ...rec },
          ConditionExpression: condition,
          ExpressionAttributeValues: { ':yes': true, ':id': rec.alertId, ':until': rec.untilEpoch },
        }),
      );
      return 'written';
    } catch (e) {
      if (isConditionFailure(e)) return 'kept';
      return this.fail('PutItem (block)', e);
    }
  }

  /** The record of a range, expired or not. */
  async get(cidr: string): Promise<BlockRecord | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.opts.tableName, Key: { pk: BLOCKS_PK, sk: cidr }, ConsistentRead: true }));
      return out.Item ? toRecord(out.Item) : undefined;
    } catch (e) {
      return this.fail('GetItem (block)', e);
    }
  }

  /** Deletes a record this alert wrote (the set was full: nothing was blocked). */
  async withdraw(cidr: string, alertId: string): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.opts.tableName,
          Key: { pk: BLOCKS_PK, sk: cidr },
          ConditionExpression: 'alertId = :id',
          ExpressionAttributeValues: { ':id': alertId },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      return this.fail('DeleteItem (block)', e);
    }
  }

  /** Every block record (up to the sweep's bound), expired or not: the sweep needs both. */
  async list(): Promise<{ records: BlockRecord[]; truncated: boolean }> {
    const records: BlockRecord[] = [];
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const out = await this.doc.send(
          new QueryCommand({
            TableName: this.opts.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': BLOCKS_PK },
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        for (const item of out.Items ?? []) {
          if (records.length >= this.maxRecords) return { records, truncated: true };
          records.push(toRecord(item));
        }
        start = out.LastEvaluatedKey;
      } while (start);
    } catch (e) {
      return this.fail('Query (blocks)', e);
    }
    return { records, truncated: false };
  }

  /** Deletes a record whose block has ended, unless another alert extended it meanwhile. */
  async deleteExpired(cidr: string, nowSec: number): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.opts.tableName,
          Key: { pk: BLOCKS_PK, sk: cidr },
          ConditionExpression: 'untilEpoch <= :now',
          ExpressionAttributeValues: { ':now': nowSec },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      return this.fail('DeleteItem (expired block)', e);
    }
  }

  /** Records why an alert was not blocked (one item per alert; a repeat overwrites it). */
  async refuse(r: { alertId: string; source: string; reason: RefusalReason; detail: string; cidr?: string }, nowSec: number): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.opts.tableName,
          Item: { pk: REFUSALS_PK, sk: r.alertId, ...r, at: isoSeconds(nowSec), expiresAt: nowSec + REFUSAL_TTL_SECONDS },
        }),
      );
    } catch (e) {
      this.fail('PutItem (refusal)', e);
    }
  }
}

function toRecord(item: Record<string, unknown>): BlockRecord {
  return {
    cidr: String(item.cidr ?? item.sk),
    source: String(item.source ?? ''),
    alertId: String(item.alertId ?? ''),
    until: String(item.until ?? ''),
    untilEpoch: Number(item.untilEpoch ?? 0),
    dryRun: item.dryRun === true,
    ipSet: item.ipSet === 'v6' ? 'v6' : 'v4',
    blockedAt: String(item.blockedAt ?? ''),
    expiresAt: Number(item.expiresAt ?? 0),
  };
}
