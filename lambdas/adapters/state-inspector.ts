/**
 * Reads the state table for people (`probewatch alerts`, `probewatch state`): the alert records
 * (`ALERTS#<day>`), the blocks (`BLOCKS`) and the per-source items (`SRC#…`), as laid out in the
 * state store and the contracts between the pipeline's writers. Read-only; every read ignores
 * items whose `expiresAt` is past (DynamoDB deletes expired items late).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_CONFIG, type Horizon } from '../core/config.js';
import { AdapterError } from '../core/errors.js';
import type { AlertRecord, SourceView, StateInspector } from '../core/ports.js';
import { ERROR_COUNTER } from '../core/window.js';
import { mergeItems } from './dynamodb-state-store.js';

const DAY_MS = 86_400_000;
/** Days of alert records read at most: they live 30 days, so a longer span finds nothing more. */
export const MAX_ALERT_DAYS = 31;
/** Recent 10-second buckets shown per source. */
export const MAX_WINDOWS_SHOWN = 30;
/** Items a `topSources` scan reads at most (a scan reads the whole table: it stops here and says so). */
export const MAX_SCANNED_ITEMS = 20_000;
/** Blocks read to join to alerts (two WAF IP sets of at most 10,000 entries each). */
export const MAX_BLOCKS_READ = 20_000;

type Item = Record<string, unknown>;

function rethrow(what: string, e: unknown): never {
  throw new AdapterError(`DynamoDB ${what} failed: ${(e as Error).message}`, { cause: e });
}

const isoOrUndefined = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : undefined);
const live = (i: Item, nowSec: number) => i.expiresAt === undefined || Number(i.expiresAt) > nowSec;
const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

/** The block key of a source: an IPv4 address as its /32, an IPv6 /64 as it is. */
export function blockCidrOf(source: string): string {
  return source.includes('/') ? source : source.includes(':') ? `${source}/128` : `${source}/32`;
}

/** Options of {@link DynamoStateInspector}. */
export interface DynamoStateInspectorOptions {
  tableName: string;
  client?: DynamoDBClient;
  documentClient?: DynamoDBDocumentClient;
  /** The long horizons to sum for `long` (the deployed detector's). @default DEFAULT_CONFIG.horizons */
  horizons?: readonly Horizon[];
  /** Told when a bound was hit (`scan-limit`), so the caller can say the list is partial. */
  onLimit?: (what: string) => void;
}

/** {@link StateInspector} over the DynamoDB state table. */
export class DynamoStateInspector implements StateInspector {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly horizons: readonly Horizon[];
  private readonly onLimit: (what: string) => void;

  constructor(opts: DynamoStateInspectorOptions) {
    this.doc = opts.documentClient ?? DynamoDBDocumentClient.from(opts.client ?? new DynamoDBClient({}));
    this.table = opts.tableName;
    this.horizons = opts.horizons ?? DEFAULT_CONFIG.horizons;
    this.onLimit = opts.onLimit ?? (() => {});
  }

  async listAlerts(sinceMs: number, untilMs: number, limit: number): Promise<AlertRecord[]> {
    const nowSec = Math.floor(Date.now() / 1000);
    const out: AlertRecord[] = [];
    const from = new Date(sinceMs).toISOString();
    const to = new Date(untilMs).toISOString();
    // Newest day first, newest record first: a limit keeps the latest alerts.
    const lastDay = Math.floor(untilMs / DAY_MS);
    const firstDay = Math.max(Math.floor(sinceMs / DAY_MS), lastDay - MAX_ALERT_DAYS + 1);
    for (let day = lastDay; day >= firstDay && out.length < limit; day--) {
      const pk = `ALERTS#${new Date(day * DAY_MS).toISOString().slice(0, 10)}`;
      let start: Record<string, unknown> | undefined;
      do {
        let r: { Items?: Item[]; LastEvaluatedKey?: Record<string, unknown> };
        try {
          r = await this.doc.send(
            new QueryCommand({
              TableName: this.table,
              // The sort key starts with the ISO publish time: a range on it is a time range.
              KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
              ExpressionAttributeValues: { ':pk': pk, ':from': from, ':to': `${to}\uffff` },
              ScanIndexForward: false,
              ExclusiveStartKey: start,
            }),
          );
        } catch (e) {
          rethrow(`Query (${pk})`, e);
        }
        for (const i of r.Items ?? []) {
          if (!live(i, nowSec)) continue;
          const publishedAt = str(i.publishedAt);
          const t = Date.parse(publishedAt);
          if (!(t >= sinceMs && t <= untilMs)) continue;
          out.push({
            alertId: str(i.alertId),
            source: str(i.source),
            severity: str(i.severity),
            categories: Array.isArray(i.categories) ? i.categories.map(str) : [],
            reason: str(i.reason),
            firstSeen: str(i.firstSeen),
            lastSeen: str(i.lastSeen),
            publishedAt,
            ...(i.horizon ? { horizon: str(i.horizon) } : {}),
            ...(i.environment ? { environment: str(i.environment) } : {}),
          });
          if (out.length >= limit) break;
        }
        start = out.length < limit ? r.LastEvaluatedKey : undefined;
      } while (start);
    }
    if (out.length === 0) return out;
    const blocks = await this.blocks(nowSec);
    for (const a of out) {
      const b = blocks.get(a.source) ?? blocks.get(blockCidrOf(a.source));
      if (b) a.blockedUntil = b.dryRun ? `${b.until} (dry run)` : b.until;
    }
    return out;
  }

  /** Live blocks by source and by CIDR. */
  private async blocks(nowSec: number): Promise<Map<string, { until: string; dryRun: boolean; cidr: string }>> {
    const map = new Map<string, { until: string; dryRun: boolean; cidr: string }>();
    let start: Record<string, unknown> | undefined;
    let read = 0;
    do {
      let r: { Items?: Item[]; LastEvaluatedKey?: Record<string, unknown> };
      try {
        r = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': 'BLOCKS' },
            ExclusiveStartKey: start,
          }),
        );
      } catch (e) {
        rethrow('Query (BLOCKS)', e);
      }
      for (const i of r.Items ?? []) {
        read++;
        if (!live(i, nowSec) || Number(i.untilEpoch ?? 0) <= nowSec) continue;
        const b = { until: str(i.until), dryRun: i.dryRun === true, cidr: str(i.cidr || i.sk) };
        map.set(b.cidr, b);
        if (i.source) map.set(str(i.source), b);
      }
      start = r.LastEvaluatedKey;
      if (read >= MAX_BLOCKS_READ && start) {
        this.onLimit('blocks-limit');
        break;
      }
    } while (start);
    return map;
  }

  async describeSource(source: string, nowMs: number): Promise<SourceView | undefined> {
    const nowSec = Math.floor(nowMs / 1000);
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      let r: { Items?: Item[]; LastEvaluatedKey?: Record<string, unknown> };
      try {
        r = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': `SRC#${source}` },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
      } catch (e) {
        rethrow(`Query (SRC#${source})`, e);
      }
      items.push(...(r.Items ?? []).filter((i) => live(i, nowSec)));
      start = r.LastEvaluatedKey;
    } while (start);
    if (items.length === 0) return undefined;
    const view = this.viewOf(source, items);
    let block: Item | undefined;
    try {
      block = (await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: 'BLOCKS', sk: blockCidrOf(source) } }))).Item;
    } catch (e) {
      rethrow('GetItem (BLOCKS)', e);
    }
    if (block && live(block, nowSec) && Number(block.untilEpoch ?? 0) > nowSec) {
      view.block = { cidr: str(block.cidr || block.sk), until: str(block.until), dryRun: block.dryRun === true };
    }
    return view;
  }

  async topSources(nowMs: number, limit: number): Promise<SourceView[]> {
    const nowSec = Math.floor(nowMs / 1000);
    const bySource = new Map<string, Item[]>();
    let start: Record<string, unknown> | undefined;
    let read = 0;
    do {
      let r: { Items?: Item[]; LastEvaluatedKey?: Record<string, unknown> };
      try {
        r = await this.doc.send(
          new ScanCommand({
            TableName: this.table,
            FilterExpression: 'begins_with(pk, :src) AND #exp > :now',
            ExpressionAttributeNames: { '#exp': 'expiresAt' },
            ExpressionAttributeValues: { ':src': 'SRC#', ':now': nowSec },
            ExclusiveStartKey: start,
          }),
        );
      } catch (e) {
        rethrow('Scan (sources)', e);
      }
      for (const i of r.Items ?? []) {
        read++;
        const src = str(i.pk).slice(4);
        const list = bySource.get(src) ?? [];
        list.push(i);
        bySource.set(src, list);
      }
      start = r.LastEvaluatedKey;
      if (read >= MAX_SCANNED_ITEMS && start) {
        this.onLimit('scan-limit');
        break;
      }
    } while (start);
    const views = [...bySource].map(([source, items]) => this.viewOf(source, items));
    views.sort((a, b) => b.score - a.score || b.requests - a.requests || a.source.localeCompare(b.source));
    return views.slice(0, limit);
  }

  /** One source's live items (windows and alert claim) as a view. */
  private viewOf(source: string, items: readonly Item[]): SourceView {
    const windows = items.filter((i) => str(i.sk).startsWith('W#'));
    const merged = mergeItems(source, windows);
    const claim = items.find((i) => i.sk === 'ALERT');
    const expires = Math.max(...items.map((i) => Number(i.expiresAt ?? 0)));
    const buckets = merged.buckets;
    const last = Number.isFinite(merged.lastSeen) ? merged.lastSeen : (buckets[buckets.length - 1]?.start ?? 0);
    const long = this.horizons.map((h) => {
      const from = last - h.seconds * 1000;
      let score = 0;
      const paths = new Set<string>();
      for (const b of buckets) {
        if (b.start <= from || b.start > last) continue;
        score += b.score;
        for (const p of b.paths) paths.add(p);
      }
      return { horizon: horizonName(h.seconds), score, paths: paths.size };
    });
    const lastSeen = isoOrUndefined(merged.lastSeen);
    const expiresAt = expires > 0 ? isoOrUndefined(expires * 1000) : undefined;
    return {
      source,
      ...(lastSeen ? { lastSeen } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      requests: merged.requests,
      score: merged.score,
      labels: merged.labels,
      statuses: merged.statuses,
      windows: buckets.slice(-MAX_WINDOWS_SHOWN).map((b) => ({
        start: new Date(b.start).toISOString(),
        score: b.score,
        errors: b.counts[ERROR_COUNTER] ?? 0,
      })),
      long,
      samples: merged.samples,
      ...(claim
        ? {
            alert: {
              severity: str(claim.severity),
              at: isoOrUndefined(Number(claim.lastAt)) ?? '',
              status: str(claim.status),
              ...(claim.alertId ? { alertId: str(claim.alertId) } : {}),
              ...(Number(claim.leaseUntil) > 0 && claim.status === 'pending' ? { leaseUntil: isoOrUndefined(Number(claim.leaseUntil) * 1000) ?? '' } : {}),
            },
          }
        : {}),
    };
  }
}

/** "1h", "24h", "90m". */
export function horizonName(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600}h` : seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}
