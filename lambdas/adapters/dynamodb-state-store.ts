import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ERROR_BURST_RULE, ERROR_COUNTER, ERROR_FLOOD_RULE, statusRecord } from '../core/aggregate.js';
import { alertIdOf } from '../core/alert-message.js';
import { BEHAVIOUR_RULE_LIST } from '../core/behaviour.js';
import { AdapterError } from '../core/errors.js';
import {
  type AlertRecord,
  type ClaimRequest,
  type ClaimResult,
  MAX_REMEMBERED_ALERTS,
  type MergedSourceState,
  type SourceDelta,
  type SourceView,
  type StateInspector,
  type StateStore,
  type StoredBucket,
  emptyMergedState,
  objectMarker,
  rememberedKey,
} from '../core/ports.js';
import { BUILTIN_RULES } from '../core/rules/builtin.js';
import { SEVERITIES, type Severity } from '../core/rules/types.js';
import { coarsen, longPeak, pathHashNumber } from '../core/window.js';

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
  /** Long horizons a source view reports peaks for. @default 1 h and 24 h */
  horizonsMs?: number[];
  /**
   * Told when a bound is hit, for metrics and for people: `item-size` (evidence left out of a full
   * item), `scan-limit` / `blocks-limit` (an inspection read stopped at its bound: the answer is partial).
   */
  onLimit?: (what: string) => void;
  /** Object names kept in memory (see {@link MAX_REMEMBERED_OBJECT_NAMES}). */
  maxRememberedObjectNames?: number;
}

/**
 * Object names (marker → object id) a store keeps in memory: a name never changes, and the
 * alerts of a busy source name the same objects again and again (read from DynamoDB each time,
 * they were 96 % of the handler's read units). Past this many, the least recently used goes;
 * 5,000 ids of at most 1 KB each cost at most about 10 MB.
 */
export const MAX_REMEMBERED_OBJECT_NAMES = 5_000;

/** One attribute an update adds (`ADD`: numbers add up, sets unite). */
type Clause = { name: string; value: unknown };

/** What one object adds to one hour item. */
interface Part {
  marker: string;
  clauses: Clause[];
  buckets: PackedBucket[];
  samples: string[];
  referer: string;
}

/** Overflow items per source-hour for counts that no longer fit the hour item. */
export const MAX_OVERFLOW_ITEMS = 8;

/** Objects whose parts one update carries at most (each adds a clause to the condition). */
export const MAX_OBJECTS_PER_UPDATE = 25;

/** Sample requests kept per hour item: the first written (evidence for a message, not counts). */
export const MAX_SAMPLES_PER_ITEM = 1;

/**
 * Longest request line and user agent of a sample kept in an hour item (the samples an alert gets
 * from the objects of its own batch are whole, see `stateFromMerged`).
 */
export const STORED_SAMPLE_FIELD_CHARS = 40;

/**
 * A sample as kept in an hour item: a JSON array of time, status, request, user agent and the
 * labels by their short names (see {@link storedName}), the request and user agent cut. It is
 * evidence for people, not counts; as an object with named fields it took 131 bytes of the
 * benchmark's average hour item, as an array about 75.
 */
function storedSample(json: string): string {
  const cut = (v: unknown) => {
    const t = typeof v === 'string' ? v : '';
    return t.length > STORED_SAMPLE_FIELD_CHARS ? `${t.slice(0, STORED_SAMPLE_FIELD_CHARS - 1)}…` : t;
  };
  try {
    const x = JSON.parse(json) as Record<string, unknown>;
    const labels = Array.isArray(x.l) ? x.l.filter((l): l is string => typeof l === 'string').map(storedName) : [];
    return JSON.stringify([x.t, x.s, cut(x.r), cut(x.u), labels]);
  } catch {
    return json.slice(0, 2 * STORED_SAMPLE_FIELD_CHARS);
  }
}

/**
 * A stored sample in the shape the pipeline gives and reads (`{"t","r","s","u","l"}`): kept as
 * an array (see {@link storedSample}), or as that object by items of the previous layout.
 */
function sampleOfStored(stored: string): string {
  if (!stored.startsWith('[')) return stored;
  try {
    const [t, s, r, u, l] = JSON.parse(stored) as [unknown, unknown, unknown, unknown, unknown];
    const labels = Array.isArray(l) ? l.map((x) => nameOf(String(x))).filter((x): x is string => x !== undefined) : [];
    return JSON.stringify({ t, r, s, u, l: labels });
  } catch {
    return stored;
  }
}

/** A sample as an hour item keeps it and a read gives it back: cut, in the pipeline's shape (pure; for tests). */
export function sampleAsKept(json: string): string {
  return sampleOfStored(storedSample(json));
}

/** Longest referer kept (the first of the hour item; shown in an alert's note). */
export const MAX_REFERER_CHARS = 200;

/** One bucket as packed: its offset in the hour (seconds), score, error responses, error-path hashes, counters. */
interface PackedBucket {
  offset: number;
  score: number;
  errors: number;
  paths: number[];
  counts: Record<string, number>;
}

function writeVarint(out: number[], n: number): void {
  let v = Math.max(0, Math.floor(n));
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/**
 * Bits of an error-path hash as kept in an hour item (the low 24 of the 32-bit hash). Two
 * distinct paths of one window share a kept hash with a chance of about n² / 2²⁵ (n = 60, the
 * 24-hour horizon's threshold: 1 in 9,000), and then count once: a window at its threshold by
 * exactly one path can miss it. Three bytes instead of four bring 187 of the benchmark's 780
 * hour items under 1 KB (each a write unit less per write).
 */
export const STORED_PATH_HASH_BITS = 24;
const STORED_PATH_HASH_MASK = 2 ** STORED_PATH_HASH_BITS - 1;

/** A path hash as the merged state holds it, whatever layout it was read from (8 hex digits). */
const storedHashHex = (h: number) => ((h & STORED_PATH_HASH_MASK) >>> 0).toString(16).padStart(8, '0');

/**
 * Layouts of the packed buckets, by the first letter of their attribute: `d` (4-byte path
 * hashes, offsets in seconds; read, no longer written) and `e` (the current one, below).
 */
export type BucketLayout = 'd' | 'e';

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Packs the buckets one write adds into one binary attribute (layout `e`): first the unit of
 * the offsets in seconds (varint: the largest that divides them all, the bucket width) and the
 * counter names the buckets use (count, then each as length and UTF-8); then per bucket the
 * offset from the previous one in units (varint), the score (varint of twice an integer score; 1
 * then a float64 for any other), error responses (varint), the path hashes (count, then
 * {@link STORED_PATH_HASH_BITS} bits in 3 bytes each) and the counters (count, then name index
 * and value as varints). A bucket of one probe costs about 8 bytes, where one attribute per fact
 * cost over 50.
 */
export function packBuckets(buckets: readonly PackedBucket[], withPaths: boolean): Uint8Array {
  const out: number[] = [];
  const sorted = [...buckets].sort((x, y) => x.offset - y.offset);
  const unit = Math.max(
    1,
    sorted.reduce((g, b) => gcd(b.offset, g), 0),
  );
  writeVarint(out, unit);
  const names = [...new Set(buckets.flatMap((b) => Object.keys(b.counts)))];
  const index = new Map(names.map((n, i) => [n, i]));
  writeVarint(out, names.length);
  for (const n of names) {
    const bytes = Buffer.from(n, 'utf8');
    writeVarint(out, bytes.length);
    for (const x of bytes) out.push(x);
  }
  let prev = 0;
  for (const b of sorted) {
    writeVarint(out, (b.offset - prev) / unit);
    prev = b.offset;
    if (Number.isInteger(b.score) && b.score >= 0 && b.score < 2 ** 50) writeVarint(out, b.score * 2);
    else {
      writeVarint(out, 1);
      const f = new DataView(new ArrayBuffer(8));
      f.setFloat64(0, b.score);
      for (let i = 0; i < 8; i++) out.push(f.getUint8(i));
    }
    writeVarint(out, b.errors);
    // Distinct within the bucket as kept: two paths whose kept hashes agree are one.
    const paths = withPaths ? [...new Set(b.paths.map((h) => h & STORED_PATH_HASH_MASK))] : [];
    writeVarint(out, paths.length);
    for (const h of paths) out.push((h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff);
    const counts = Object.entries(b.counts);
    writeVarint(out, counts.length);
    for (const [k, v] of counts) {
      writeVarint(out, index.get(k) as number);
      writeVarint(out, v);
    }
  }
  return Uint8Array.from(out);
}

/**
 * The inverse of {@link packBuckets} for either layout (`d`: the previous one, 4-byte hashes and
 * offsets in seconds). Offsets come back in seconds, hashes as packed. Throws on a truncated or
 * malformed value.
 */
export function unpackBuckets(bytes: Uint8Array, layout: BucketLayout = 'e'): PackedBucket[] {
  let i = 0;
  const byte = () => {
    if (i >= bytes.length) throw new Error('truncated bucket data');
    return bytes[i++] as number;
  };
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = byte();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
  };
  const unit = layout === 'e' ? varint() : 1;
  if (unit < 1) throw new Error('bucket data with no offset unit');
  const hashBytes = layout === 'e' ? 3 : 4;
  const names: string[] = [];
  for (let n = varint(); n > 0; n--) {
    const len = varint();
    if (i + len > bytes.length) throw new Error('truncated bucket data');
    names.push(Buffer.from(bytes.subarray(i, i + len)).toString('utf8'));
    i += len;
  }
  const out: PackedBucket[] = [];
  let offset = 0;
  while (i < bytes.length) {
    offset += varint() * unit;
    const s = varint();
    let score: number;
    if (s === 1) {
      const f = new DataView(new ArrayBuffer(8));
      for (let k = 0; k < 8; k++) f.setUint8(k, byte());
      score = f.getFloat64(0);
    } else score = s / 2;
    const errors = varint();
    const paths: number[] = [];
    for (let n = varint(); n > 0; n--) {
      let h = 0;
      for (let k = 0; k < hashBytes; k++) h = h * 256 + byte();
      paths.push(h);
    }
    const counts: Record<string, number> = {};
    for (let n = varint(); n > 0; n--) {
      const name = names[varint()];
      if (name === undefined) throw new Error('unknown counter in bucket data');
      counts[name] = (counts[name] ?? 0) + varint();
    }
    out.push({ offset, score, errors, paths, counts });
  }
  return out;
}

/** Characters of a short name: `~` and this many base64url characters of the name's SHA-256 (24 bits). */
const SHORT_NAME_CHARS = 4;
const shortCode = (name: string) => `~${createHash('sha256').update(name).digest('base64url').slice(0, SHORT_NAME_CHARS)}`;

/**
 * Rule ids and categories of the built-in rules, kept in hour items by a 5-character code when longer
 * (`rules` and `l_<category>` were a quarter of a scanner's hour item). Codes are hashes, so they
 * do not change when rules are added; a code two names share is not used (both are kept whole),
 * nor read. Other names (custom rules) are kept whole, one that starts with `~` escaped as `~~`.
 */
const SHORT_NAMES: ReadonlyMap<string, string> = (() => {
  const names = new Set<string>();
  for (const r of [...BUILTIN_RULES, ...BEHAVIOUR_RULE_LIST, ERROR_FLOOD_RULE, ERROR_BURST_RULE]) names.add(r.id).add(r.category);
  const byCode = new Map<string, string[]>();
  for (const n of names) byCode.set(shortCode(n), [...(byCode.get(shortCode(n)) ?? []), n]);
  return new Map([...byCode].filter(([, list]) => list.length === 1).map(([code, list]) => [code, list[0] as string]));
})();
/** Codes of the names they shorten (a name of 5 characters or fewer is kept as it is). */
const CODE_OF: ReadonlyMap<string, string> = new Map([...SHORT_NAMES].filter(([code, name]) => name.length > code.length).map(([code, name]) => [name, code]));

/** A rule id or category as kept in an hour item (see {@link SHORT_NAMES}). */
export function storedName(name: string): string {
  return CODE_OF.get(name) ?? (name.startsWith('~') ? `~${name}` : name);
}

/** The inverse of {@link storedName}; undefined for a code no built-in name has (a rule since removed). */
export function nameOf(stored: string): string | undefined {
  if (!stored.startsWith('~')) return stored;
  if (stored.startsWith('~~')) return stored.slice(1);
  return SHORT_NAMES.get(stored);
}

/** A stored error-path hash (8 hex digits) as a number. */
const hashNumber = (p: string) => (/^[0-9a-f]{8}$/.test(p) ? Number.parseInt(p, 16) : pathHashNumber(p));

/**
 * An object marker as kept in an hour item's `o` set: the 12 base64url characters of
 * {@link objectMarker} as their 9 bytes (the same 72 bits, so the marker names the object claim
 * `OBJ#<marker>` as before), and for a piece of a split part (`<marker>#p<n>`) one more byte, n.
 */
export function markerBytes(marker: string): Uint8Array {
  const piece = /^(.{12})#p(\d+)$/.exec(marker);
  const bytes = Buffer.from(piece ? (piece[1] as string) : marker, 'base64url');
  if (bytes.length !== 9 || (piece && Number(piece[2]) > 255)) throw new AdapterError(`DynamoDB: not an object marker: ${marker}`);
  return piece ? Uint8Array.from([...bytes, Number(piece[2])]) : new Uint8Array(bytes);
}

/** The inverse of {@link markerBytes}. */
export function markerOf(bytes: Uint8Array): string {
  const m = Buffer.from(bytes.subarray(0, 9)).toString('base64url');
  return bytes.length > 9 ? `${m}#p${bytes[9]}` : m;
}

/**
 * What one object adds to one hour item: totals (on the object's first hour only) as attributes
 * `ADD` merges, and its buckets (packed by the write, see {@link packBuckets}).
 * Short names and packed values: an item's size is what every write to it costs.
 */
function partOf(delta: SourceDelta, hour: number, buckets: readonly StoredBucket[], withTotals: boolean): Part {
  const clauses: Clause[] = [];
  const add = (name: string, value: unknown) => clauses.push({ name, value });
  if (withTotals) {
    add('req', delta.requests);
    if (delta.score) add('score', delta.score);
    add('ts', new Set([delta.firstSeen, delta.lastSeen]));
    for (const [c, n] of Object.entries(delta.labels)) add(`l_${storedName(c)}`, n);
    for (const [k, n] of Object.entries(delta.statuses)) add(`st_${k}`, n);
    if (delta.rules.length) add('rules', new Set(delta.rules.map(storedName)));
  }
  const packed: PackedBucket[] = [];
  for (const b of buckets) {
    const counts: Record<string, number> = {};
    for (const [counter, n] of Object.entries(b.counts)) if (n && counter !== ERROR_COUNTER) counts[counter] = n;
    packed.push({ offset: Math.round((b.start - hour) / 1000), score: b.score, errors: b.counts[ERROR_COUNTER] ?? 0, paths: b.paths.map(hashNumber), counts });
  }
  return {
    marker: objectMarker(delta.objectId),
    clauses,
    buckets: packed,
    samples: withTotals ? delta.samples.slice(0, MAX_SAMPLES_PER_ITEM).map(storedSample) : [],
    referer: delta.referer.length > MAX_REFERER_CHARS ? delta.referer.slice(0, MAX_REFERER_CHARS) : delta.referer,
  };
}

function isItemTooLarge(e: unknown): boolean {
  const err = e as { name?: string; message?: string };
  return err?.name === 'ValidationException' && /item size/i.test(err.message ?? '');
}

type Item = Record<string, unknown>;

const sourcePk = (source: string) => `SRC#${source}`;
const objPk = (objectId: string) => `OBJ#${objectMarker(objectId)}`;
/** The partition of one UTC day's alert records. */
export const alertsPk = (ms: number) => `ALERTS#${new Date(ms).toISOString().slice(0, 10)}`;
const alertSk = (publishedAtIso: string, alertId: string) => `${publishedAtIso}#${alertId}`;
/** Attributes of a claim item that remember an alert (see rememberedKey; the previous layout's keyed by alert id match too). */
const REMEMBERED_KEY = /^h[\w-]{1,12}$/;
/** Longest reason line kept in an alert record. */
export const MAX_REASON_CHARS = 500;
/** Object names an alert resolves from object claims at most (the rest are counted, listed by marker). */
export const MAX_OBJECT_NAMES = 300;
/** Recent buckets a source view lists at most. */
export const MAX_VIEW_BUCKETS = 60;
/** State items topSources examines at most (a bounded Scan). */
export const MAX_TOP_SCAN_ITEMS = 20_000;
/** Block items read at most to join blocks with alerts. */
export const MAX_BLOCKS_READ = 20_000;
/** Alert records live this long (CONTRACTS 1). */
export const ALERT_RECORD_DAYS = 30;
const hourSk = (hourStart: number) => `W#${new Date(hourStart).toISOString().slice(0, 13)}`;

function rethrow(what: string, e: unknown): never {
  throw new AdapterError(`DynamoDB ${what} failed: ${(e as Error).message}`, { cause: e });
}

/**
 * Per-source probe state in one DynamoDB table (DESIGN "State in DynamoDB"). Every write costs
 * one write unit per started KB of the larger of the item before and after it, so items are
 * kept small and written once per source per batch:
 *
 * - `SRC#<source>` / `W#<hour>`: one item per source per hour of event time: totals `req`,
 *   `score`, `ts` (first/last), `l_<category>`, `st_<status>`, `rules` (`ADD` merges them whatever
 *   else was written concurrently; built-in names by code, see storedName); the 10-second buckets
 *   of each write packed in one binary attribute of its own, `e<marker of its first object>`
 *   (score, error responses, 24-bit error-path hashes, counters: see packBuckets; items of the
 *   previous layout hold `d<marker>`, also read); `o` holds the markers
 *   of the objects applied as 9 bytes each (the condition on it makes re-applying a no-op; items
 *   of the previous layout hold them as text in `objs`, also checked); `smp` (one sample, a JSON
 *   array: see storedSample) and `ref` are the first written in the hour.
 * - `SRC#<source>` / `ALERT`: the alert claim (last alert time in event time, severity, status,
 *   owner, lease, alert id, publishedAt; `liveUntil`: until when it holds off other alerts) and
 *   the source's last alerts it remembers (`h<object marker>`: publishedAt, lease and severity,
 *   see rememberedKey). It lives as long as an object claim, so that a retried object finds its
 *   alert.
 * - `ALERTS#<day>` / `<publishedAt>#<alertId>`: a published alert (CONTRACTS 1). It is the mark
 *   that the claim with that publishedAt and alert id was sent.
 * - `OBJ#<marker>` / `OBJ`: the object claim, written when an object is done, with its full id.
 *
 * Every item carries `expiresAt` (TTL). DynamoDB deletes expired items late, so reads ignore them.
 */
export class DynamoStateStore implements StateStore, StateInspector {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly retentionSec: number;
  private readonly objectRetentionSec: number;
  private readonly onLimit: (what: string) => void;
  private readonly horizonsMs: number[];

  private readonly names = new Map<string, string>();
  private readonly maxNames: number;
  /** Names forgotten to stay within the bound (a later alert naming them reads them again). */
  objectNamesForgotten = 0;

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
    this.horizonsMs = opts.horizonsMs ?? [3_600_000, 86_400_000];
    const maxNames = opts.maxRememberedObjectNames ?? MAX_REMEMBERED_OBJECT_NAMES;
    this.maxNames = Number.isFinite(maxNames) ? Math.max(0, Math.floor(maxNames)) : MAX_REMEMBERED_OBJECT_NAMES;
  }

  /** Keeps an object's name by its marker, the least recently used one going past the bound. */
  private rememberName(marker: string, id: string): void {
    if (this.maxNames === 0) return;
    if (!this.names.delete(marker) && this.names.size >= this.maxNames) {
      const oldest = this.names.keys().next().value as string;
      this.names.delete(oldest);
      this.objectNamesForgotten++;
    }
    this.names.set(marker, id);
  }

  async isObjectDone(objectId: string): Promise<boolean> {
    try {
      const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: objPk(objectId), sk: 'OBJ' }, ConsistentRead: true }));
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
          Item: { pk: objPk(objectId), sk: 'OBJ', id: objectId, status: 'done', ...stats, doneAt: nowSec, expiresAt: nowSec + this.objectRetentionSec },
        }),
      );
    } catch (e) {
      rethrow('PutItem (object claim)', e);
    }
    // The next batches' alerts name this object without reading it back.
    this.rememberName(objectMarker(objectId), objectId);
  }

  /** Applies one object's delta (a batch of one). */
  async applyDelta(delta: SourceDelta, nowSec: number, aroundMs = HOUR_MS): Promise<MergedSourceState> {
    return this.applyDeltas([delta], nowSec, aroundMs);
  }

  async applyDeltas(deltas: readonly SourceDelta[], nowSec: number, aroundMs = HOUR_MS): Promise<MergedSourceState> {
    const first = deltas[0];
    if (!first) throw new AdapterError('DynamoDB: applyDeltas needs at least one delta');
    if (deltas.some((d) => d.source !== first.source)) throw new AdapterError('DynamoDB: applyDeltas takes the deltas of one source');
    // Whole hours around the deltas' hours: the longest horizon must see every item it spans.
    const around = Math.max(HOUR_MS, Math.ceil(aroundMs / HOUR_MS) * HOUR_MS);
    // Per hour item, what each object adds to it. An object given twice is applied once (its
    // marker twice in one set is refused by DynamoDB, and would fail the whole source).
    const byHour = new Map<number, Part[]>();
    const given = new Set<string>();
    for (const delta of deltas) {
      if (given.has(delta.objectId)) continue;
      given.add(delta.objectId);
      const hours = new Map<number, StoredBucket[]>();
      for (const b of delta.buckets) {
        const h = Math.floor(b.start / HOUR_MS) * HOUR_MS;
        const list = hours.get(h) ?? [];
        list.push(b);
        hours.set(h, list);
      }
      if (hours.size === 0) hours.set(Math.floor(delta.firstSeen / HOUR_MS) * HOUR_MS, []);
      const sorted = [...hours.keys()].sort((a, b) => a - b);
      for (const [i, hour] of sorted.entries()) {
        // Totals go on the object's first hour item only, so a merged read counts them once.
        const part = partOf(delta, hour, hours.get(hour) ?? [], i === 0);
        const list = byHour.get(hour) ?? [];
        list.push(part);
        byHour.set(hour, list);
      }
    }
    const hours = [...byHour.keys()].sort((a, b) => a - b);
    for (const hour of hours) {
      // An item lives at least as long as a horizon can reach back to it.
      const expiresAt = Math.max(Math.floor((hour + HOUR_MS) / 1000), nowSec) + Math.max(this.retentionSec, around / 1000);
      await this.applyToHour(first.source, hour, byHour.get(hour) ?? [], expiresAt);
    }
    return this.read(first.source, (hours[0] as number) - around, (hours[hours.length - 1] as number) + around, nowSec);
  }

  /**
   * Writes what several objects add to one hour item: small parts together in one update (up to
   * {@link MAX_CLAUSES} clauses and {@link MAX_OBJECTS_PER_UPDATE} objects), a part too large for
   * one expression alone and split, each piece under its own marker (as every object always is,
   * whatever it is batched with, so a retry finds the same markers).
   */
  private async applyToHour(source: string, hour: number, parts: Part[], expiresAt: number): Promise<void> {
    let group: Part[] = [];
    // Clauses of the update: the same attribute of several objects is one clause.
    const names = new Set<string>();
    const flush = async () => {
      if (group.length) await this.applyGroup(source, hour, group, expiresAt);
      group = [];
      names.clear();
    };
    for (const part of parts) {
      if (part.clauses.length > MAX_CLAUSES / 2) {
        for (let piece = 0, start = 0; start < part.clauses.length || piece === 0; piece++, start += MAX_CLAUSES) {
          const marker = piece === 0 ? part.marker : `${part.marker}#p${piece}`;
          await this.applyGroup(
            source,
            hour,
            [
              {
                ...part,
                marker,
                clauses: part.clauses.slice(start, start + MAX_CLAUSES),
                buckets: piece === 0 ? part.buckets : [],
                samples: piece === 0 ? part.samples : [],
              },
            ],
            expiresAt,
          );
          if (start + MAX_CLAUSES >= part.clauses.length) break;
        }
        continue;
      }
      const added = part.clauses.filter((c) => !names.has(c.name)).length;
      if (names.size + added > MAX_CLAUSES || group.length >= MAX_OBJECTS_PER_UPDATE) await flush();
      group.push(part);
      for (const c of part.clauses) names.add(c.name);
    }
    await flush();
  }

  /**
   * Writes one group of parts to the hour item. An object already in the item (a redelivery,
   * or a retry batched differently) is dropped from the group and the rest written again. When
   * the item has reached DynamoDB's 400 KB, the counts go to the hour's overflow items
   * (`W#<hour>#o1`, `#o2`…) instead, without the bulky evidence (samples, error-path hashes):
   * tried in a fixed order, and items only grow, so a retried object finds its marker where it
   * went the first time. Every bound hit is reported.
   */
  private async applyGroup(source: string, hour: number, parts: Part[], expiresAt: number): Promise<void> {
    let todo = parts;
    for (let k = 0; k <= MAX_OVERFLOW_ITEMS; k++) {
      const sk = k === 0 ? hourSk(hour) : `${hourSk(hour)}#o${k}`;
      try {
        // Each refusal removes at least one object, so this ends.
        while (todo.length) {
          const present = await this.update(source, sk, todo, k > 0, expiresAt);
          if (present === null) return;
          const left = todo.filter((p) => !present.has(p.marker));
          if (left.length === todo.length) throw new AdapterError(`DynamoDB: ${sourcePk(source)} ${sk} refused an update none of whose objects it holds`);
          todo = left;
        }
        return;
      } catch (e) {
        if (!isItemTooLarge(e)) throw e;
        this.onLimit(k === 0 ? 'item-size' : 'overflow-item-size');
      }
    }
    this.onLimit('overflow-items-full');
    throw new AdapterError(`DynamoDB: ${sourcePk(source)} ${hourSk(hour)} and its ${MAX_OVERFLOW_ITEMS} overflow items are full`);
  }

  /**
   * One conditional update of a hour item with several objects' parts. Returns null when it was
   * applied, or the markers the item already holds when its condition refused it.
   */
  private async update(source: string, sk: string, parts: Part[], lean: boolean, expiresAt: number): Promise<Set<string> | null> {
    // Every name goes through a placeholder: DynamoDB reserves hundreds of words (REF, STATUS…).
    const names: Record<string, string> = { '#o': 'o', '#objs': 'objs', '#exp': 'expiresAt' };
    const values: Record<string, unknown> = { ':o': new Set(parts.map((p) => markerBytes(p.marker))), ':exp': expiresAt };
    // Same attributes of several objects add up before they are sent (ADD merges numbers and sets).
    const merged = new Map<string, unknown>();
    for (const p of parts) {
      for (const c of p.clauses) {
        const prev = merged.get(c.name);
        if (prev === undefined) merged.set(c.name, c.value instanceof Set ? new Set(c.value) : c.value);
        else if (prev instanceof Set) for (const v of c.value as Set<unknown>) prev.add(v);
        else merged.set(c.name, (prev as number) + (c.value as number));
      }
    }
    // First and last seen: the earliest and latest of the write are enough (the set only grows).
    const ts = merged.get('ts') as Set<number> | undefined;
    if (ts && ts.size > 2) merged.set('ts', new Set([Math.min(...ts), Math.max(...ts)]));
    const adds = [...merged].map(([name, value], i) => {
      names[`#a${i}`] = name;
      values[`:v${i}`] = value;
      return `#a${i} :v${i}`;
    });
    const sets = ['#exp = :exp'];
    // The buckets of this write, packed into one attribute of its own (named after its first
    // object: a marker is applied to an item once, so no other write uses the name). Buckets of
    // several objects at the same offset add up here; the reader adds up those of every write.
    const byOffset = new Map<number, PackedBucket>();
    for (const p of parts) {
      for (const b of p.buckets) {
        const x = byOffset.get(b.offset);
        if (!x) byOffset.set(b.offset, { ...b, paths: [...b.paths], counts: { ...b.counts } });
        else {
          x.score += b.score;
          x.errors += b.errors;
          for (const h of b.paths) if (!x.paths.includes(h)) x.paths.push(h);
          for (const [k, n] of Object.entries(b.counts)) x.counts[k] = (x.counts[k] ?? 0) + n;
        }
      }
    }
    if (byOffset.size) {
      names['#d'] = `e${(parts[0] as Part).marker}`;
      // A full item's overflow keeps the counts, not the error-path hashes.
      values[':d'] = packBuckets([...byOffset.values()], !lean);
      sets.push('#d = :d');
    }
    const referer = parts.find((p) => p.referer)?.referer;
    if (referer) {
      names['#ref'] = 'ref';
      values[':ref'] = referer;
      sets.push('#ref = if_not_exists(#ref, :ref)');
    }
    // Samples are evidence for a message, not counts: the first ones of the hour are kept, no more.
    const samples = lean ? [] : [...new Set(parts.flatMap((p) => p.samples))].slice(0, MAX_SAMPLES_PER_ITEM);
    if (samples.length) {
      names['#smp'] = 'smp';
      values[':smp'] = new Set(samples);
      sets.push('#smp = if_not_exists(#smp, :smp)');
    }
    // Items written before markers were binary hold them as strings in `objs`: an object applied
    // then is not applied again either (NOT contains is true where the attribute is missing).
    const notIn = parts.map((p, i) => {
      values[`:m${i}`] = markerBytes(p.marker);
      values[`:s${i}`] = p.marker;
      return `NOT contains(#o, :m${i}) AND NOT contains(#objs, :s${i})`;
    });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: sourcePk(source), sk },
          // ADD merges numbers and sets, so concurrent batches never overwrite each other;
          // expiresAt moves forward with the newest write.
          UpdateExpression: `ADD #o :o${adds.length ? `, ${adds.join(', ')}` : ''} SET ${sets.join(', ')}`,
          // Applied once per object: a redelivered or retried object finds its marker already here.
          ConditionExpression: notIn.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          // The refused item names the objects already applied, so the rest go again at once.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return null;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return new Set([...(e.Item?.o?.BS ?? []).map(markerOf), ...(e.Item?.objs?.SS ?? [])]);
      if (isItemTooLarge(e)) throw e;
      rethrow(`UpdateItem (${sourcePk(source)} ${sk})`, e);
    }
  }

  /**
   * Merges every live hour item of a source between two hours (inclusive), and returns its alert
   * claim with it: both live in the source's partition, so one query reads them.
   */
  async read(source: string, fromHour: number, toHour: number, nowSec: number): Promise<MergedSourceState> {
    const items: Item[] = [];
    const query = {
      TableName: this.table,
      // "ALERT" sorts before "W#…": one range covers the claim and the windows up to `to`.
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :alert AND :to',
      // TTL deletion is best effort and late: an expired item must not count.
      FilterExpression: '#exp > :now',
      ExpressionAttributeNames: { '#exp': 'expiresAt' },
      ExpressionAttributeValues: { ':pk': sourcePk(source), ':alert': 'ALERT', ':to': hourSk(toHour), ':now': nowSec },
      ConsistentRead: true,
    };
    for await (const r of this.queryPages(query, `Query (${sourcePk(source)})`)) items.push(...((r.Items ?? []) as Item[]));
    const from = hourSk(fromHour);
    const merged = mergeItems(
      source,
      items.filter((i) => String(i.sk).startsWith('W#') && String(i.sk) >= from),
    );
    const claim = items.find((i) => i.sk === 'ALERT');
    // The item outlives its claim (it remembers the source's alerts): only a live claim holds off.
    if (claim && claimLive(claim, nowSec)) {
      merged.claim = {
        lastAt: Number(claim.lastAt),
        severity: (SEVERITIES as readonly string[]).includes(String(claim.severity)) ? (claim.severity as Severity) : 'info',
        status: claim.status === 'sent' ? 'sent' : 'pending',
        objectId: String(claim.objectId),
      };
    }
    if (claim) merged.remembered = rememberedKeys(claim);
    return merged;
  }

  async claimAlert(c: ClaimRequest, nowSec: number): Promise<ClaimResult> {
    const marker = objectMarker(c.objectId);
    const key = rememberedKey(c.objectId);
    const fields = claimFields(c, nowSec, this.objectRetentionSec);
    const forget = [...new Set(c.forget ?? [])].filter((k) => k !== key);
    const forgetNames = Object.fromEntries(forget.map((k, i) => [`#f${i}`, k]));
    /** Writes this claim if `condition` holds (its own names and values besides the update's). */
    const take = (condition: string, names: Record<string, string>, values: Record<string, unknown>) =>
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: sourcePk(c.source), sk: 'ALERT' },
          UpdateExpression: `${fields.set}, #h = :entry ADD #count :one${forget.length ? ` REMOVE ${Object.keys(forgetNames).join(', ')}` : ''}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: { ...CLAIM_NAMES, '#h': key, ...forgetNames, ...names },
          ExpressionAttributeValues: {
            ...fields.values,
            ':entry': rememberedEntry(c.publishedAt, c.leaseUntil, c.severity),
            ':one': 1,
            ':now': nowSec,
            ...values,
          },
          // The claim taken over tells whether it was a crashed run's, which may have been sent.
          ReturnValues: 'ALL_OLD',
          // The refused item tells "cooldown" from "busy" without a second read.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    let old: Item | undefined;
    const passes = passesClaim(c);
    try {
      const r = await take(
        // One alert per source per cooldown in event time, whoever writes first. Let it
        // through when the claim remembers no alert of this object and: there is no live claim, the last
        // alert is a cooldown away (either direction: objects arrive out of order), or this one
        // is more severe. Or when this same alert of this same object was claimed before and
        // its owner's lease has run out (it crashed or gave up before recording it). A live
        // lease is never taken over: two runs of one object at once would otherwise both publish.
        `attribute_not_exists(#pk) OR (attribute_not_exists(#h) AND (${CLAIM_NOT_LIVE} OR ${passes.clause})) OR (#st = :pending AND #obj = :obj AND #aid = :aid AND (attribute_not_exists(#lease) OR #lease <= :now))`,
        { '#pk': 'pk' },
        passes.values,
      );
      old = r.Attributes;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) {
        const o = e.Item;
        const entry = o?.[key]?.S;
        // The alert of this object, remembered while the claim holds another object's: sent if
        // recorded (at whatever severity it was decided), else claimed again once its run's
        // lease is over (it crashed or could not publish, and a later alert took the claim).
        if (entry !== undefined && o?.objectId?.S !== marker) return this.reclaimRemembered(c, key, entry, nowSec);
        // A pending claim of this same object, refused only because its lease is live (another
        // run of the object holds it) or because it holds another alert of the object, which
        // went out if it was recorded.
        if (o?.status?.S !== 'pending' || o.objectId?.S !== marker) return 'cooldown';
        if (await this.alertRecorded(o.publishedAt?.S, o.alertId?.S)) return 'cooldown';
        // Another alert of this object (decided again with another severity: other evidence
        // merged, or another configuration), never recorded: once its run's lease is over, this
        // one takes its place, if the claim is still as read (else another run took it).
        const leaseOver = o.leaseUntil?.N === undefined || Number(o.leaseUntil.N) <= nowSec;
        if (o.alertId?.S === c.alertId || !leaseOver || o.alertId?.S === undefined || o.publishedAt?.S === undefined) return 'busy';
        try {
          await take(
            '#st = :pending AND #obj = :obj AND #aid = :was AND #pub = :wasPub AND (attribute_not_exists(#lease) OR #lease <= :now)',
            {},
            { ':was': o.alertId.S, ':wasPub': o.publishedAt.S },
          );
          return 'claimed';
        } catch (e2) {
          if (e2 instanceof ConditionalCheckFailedException) return 'busy';
          rethrow(`UpdateItem (${sourcePk(c.source)} ALERT)`, e2);
        }
      }
      rethrow(`UpdateItem (${sourcePk(c.source)} ALERT)`, e);
    }
    // Taken over from a run of this object whose lease ran out: if that run recorded this same
    // alert, it went out; put the claim back as sent instead of publishing it again.
    if (old?.status === 'pending' && old.objectId === marker && old.alertId === c.alertId && (await this.alertRecorded(old.publishedAt, old.alertId))) {
      const sentEntry = rememberedEntry(Date.parse(String(old.publishedAt)), 0, c.severity);
      await this.updateOwnClaim(
        c.source,
        c.owner,
        'SET #st = :sent, #pub = :pub, #h = :entry REMOVE #lease',
        { ':sent': 'sent', ':pub': old.publishedAt, ':entry': sentEntry },
        'sent',
        key,
      );
      return 'cooldown';
    }
    return 'claimed';
  }

  async claimAlerts(claims: readonly ClaimRequest[], nowSec: number): Promise<boolean> {
    const last = claims[claims.length - 1];
    if (!last) return true;
    if (claims.length > MAX_REMEMBERED_ALERTS) throw new RangeError(`at most ${MAX_REMEMBERED_ALERTS} alerts are claimed in one write`);
    const source = last.source;
    const keys = claims.map((c) => rememberedKey(c.objectId));
    if (new Set(keys).size < keys.length) throw new RangeError('a source has one alert per object: a group claims alerts of distinct objects');
    const forget = [...new Set(claims.flatMap((c) => c.forget ?? []))].filter((k) => !keys.includes(k));
    const fields = claimFields(last, nowSec, this.objectRetentionSec);
    const names: Record<string, string> = { ...CLAIM_NAMES, '#pk': 'pk' };
    const values: Record<string, unknown> = { ...fields.values, ':n': claims.length, ':now': nowSec };
    const sets: string[] = [];
    const fresh: string[] = [];
    const far: string[] = [];
    claims.forEach((c, i) => {
      names[`#h${i}`] = keys[i] as string;
      values[`:e${i}`] = rememberedEntry(c.publishedAt, c.leaseUntil, c.severity);
      const passes = passesClaim(c, String(i));
      Object.assign(values, passes.values);
      sets.push(`#h${i} = :e${i}`);
      fresh.push(`attribute_not_exists(#h${i})`);
      far.push(passes.clause);
    });
    forget.forEach((k, i) => {
      names[`#f${i}`] = k;
    });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: sourcePk(source), sk: 'ALERT' },
          UpdateExpression: `${fields.set}, ${sets.join(', ')} ADD #count :n${forget.length ? ` REMOVE ${forget.map((_, i) => `#f${i}`).join(', ')}` : ''}`,
          // The claim's condition for each alert against the claim as it is (each also passed it
          // against the one before it, checked by the caller), and none of them remembered.
          ConditionExpression: `attribute_not_exists(#pk) OR (${fresh.join(' AND ')} AND (${CLAIM_NOT_LIVE} OR (${far.join(' AND ')})))`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return false;
      rethrow(`UpdateItem (${sourcePk(source)} ALERT, ${claims.length} alerts)`, e);
    }
  }

  /**
   * Claims again the remembered alert of an object that was claimed and never recorded, once its
   * lease is over, unless the claim now holds a later alert within its cooldown at least as
   * severe (which went out with the merged evidence). The alert is the one decided now, which
   * may be of another severity (and so another alert id) than the one remembered.
   */
  private async reclaimRemembered(c: ClaimRequest, key: string, entry: string, nowSec: number): Promise<ClaimResult> {
    const was = parseRememberedEntry(entry);
    // Its record is keyed by the alert id of the severity it was claimed at (entries of the
    // previous layout, keyed by alert id, were claimed at this alert's).
    const wasId = was?.severity === undefined || was.severity === c.severity ? c.alertId : alertIdOf(c.source, was.severity, c.objectId);
    if (was && (await this.alertRecorded(new Date(was.publishedAt).toISOString(), wasId))) return 'cooldown';
    if (was && was.leaseUntil > nowSec) return 'busy';
    const passes = passesClaim(c);
    try {
      await this.setRemembered(
        c.source,
        key,
        rememberedEntry(c.publishedAt, c.leaseUntil, c.severity),
        // Only the entry as read (of two runs retrying it at once, one claims it), and the
        // claim's own condition against the alert it holds now.
        `#h = :was AND (${CLAIM_NOT_LIVE} OR ${passes.clause})`,
        { '#live': 'liveUntil', '#exp': 'expiresAt', '#last': 'lastAt', '#rank': 'sevRank' },
        { ':was': entry, ':now': nowSec, ...passes.values },
      );
      return 'claimed';
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return e.Item?.[key]?.S === entry ? 'cooldown' : 'busy';
      rethrow(`UpdateItem (${sourcePk(c.source)} ALERT remembered)`, e);
    }
  }

  /** True when the alert record of a claim (its publishedAt and alert id) exists: it was sent. */
  private async alertRecorded(publishedAt: unknown, alertId: unknown): Promise<boolean> {
    if (typeof publishedAt !== 'string' || typeof alertId !== 'string') return false;
    const ms = Date.parse(publishedAt);
    if (!Number.isFinite(ms)) return false;
    try {
      const r = await this.doc.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: alertsPk(ms), sk: alertSk(publishedAt, alertId) },
          ConsistentRead: true,
          ProjectionExpression: 'pk',
        }),
      );
      return r.Item !== undefined;
    } catch (e) {
      rethrow('GetItem (alert record)', e);
    }
  }

  /**
   * Writes the alert record: the claim counts as sent from then on (a retry of the object that
   * finds it publishes nothing). Its key comes from the claim, so writing it twice is harmless.
   */
  async markAlertSent(_source: string, _owner: string, record: AlertRecord): Promise<void> {
    const ms = Date.parse(record.publishedAt);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: alertsPk(ms),
            sk: alertSk(record.publishedAt, record.alertId),
            ...record,
            reason: record.reason.length > MAX_REASON_CHARS ? `${record.reason.slice(0, MAX_REASON_CHARS - 1)}…` : record.reason,
            expiresAt: Math.floor(ms / 1000) + ALERT_RECORD_DAYS * 86_400,
          },
        }),
      );
    } catch (e) {
      rethrow('PutItem (alert record)', e);
    }
  }

  /** Names of objects by marker, from their object claims (written when each object was done). */
  async objectNames(markers: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const keys: string[] = [];
    for (const m of [...new Set(markers)].slice(0, MAX_OBJECT_NAMES)) {
      const known = this.names.get(m);
      if (known === undefined) keys.push(m);
      else {
        out.set(m, known);
        this.rememberName(m, known); // now the most recently used
      }
    }
    for (let i = 0; i < keys.length; i += 100) {
      let request:
        | Record<string, { Keys: Record<string, unknown>[]; ProjectionExpression: string; ExpressionAttributeNames: Record<string, string> }>
        | undefined = {
        [this.table]: {
          Keys: keys.slice(i, i + 100).map((m) => ({ pk: `OBJ#${m}`, sk: 'OBJ' })),
          ProjectionExpression: 'pk, #id',
          ExpressionAttributeNames: { '#id': 'id' },
        },
      };
      try {
        for (let round = 0; request && Object.keys(request).length && round < 5; round++) {
          const r: BatchGetCommandOutput = await this.doc.send(new BatchGetCommand({ RequestItems: request }));
          for (const item of r.Responses?.[this.table] ?? []) {
            if (typeof item.id !== 'string') continue;
            const marker = String(item.pk).slice(4);
            out.set(marker, item.id);
            this.rememberName(marker, item.id);
          }
          request = r.UnprocessedKeys as typeof request;
        }
      } catch (e) {
        rethrow('BatchGetItem (object names)', e);
      }
    }
    return out;
  }

  // ── StateInspector: what people ask of the state (probewatch alerts, state) ─────────────

  /** Published alerts between two wall-clock times, newest first, at most `limit`, joined with live blocks. */
  async listAlerts(sinceMs: number, untilMs: number, limit: number): Promise<AlertRecord[]> {
    const nowSec = Math.floor(Date.now() / 1000);
    const out: AlertRecord[] = [];
    const since = new Date(sinceMs).toISOString();
    const until = new Date(untilMs).toISOString();
    // Day partitions from the newest; records live 30 days, so no more are read.
    const firstDay = Math.max(sinceMs, untilMs - (ALERT_RECORD_DAYS + 1) * 86_400_000);
    for (
      let day = Math.floor(untilMs / 86_400_000) * 86_400_000;
      day >= Math.floor(firstDay / 86_400_000) * 86_400_000 && out.length < limit;
      day -= 86_400_000
    ) {
      const query = {
        TableName: this.table,
        // Keys start with the ISO publish time: a range of times is a range of keys.
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        FilterExpression: '#exp > :now',
        ExpressionAttributeNames: { '#exp': 'expiresAt' },
        ExpressionAttributeValues: { ':pk': alertsPk(day), ':from': since, ':to': `${until}\uffff`, ':now': nowSec },
        ScanIndexForward: false,
      };
      for await (const r of this.queryPages(query, 'Query (alert records)')) {
        for (const i of (r.Items ?? []) as Item[]) {
          if (out.length >= limit) break;
          out.push(recordOf(i));
        }
        if (out.length >= limit) break;
      }
    }
    if (out.length) {
      const blocks = await this.liveBlocks(nowSec);
      for (const a of out) {
        const until = blocks.get(a.source);
        if (until) a.blockedUntil = until;
      }
    }
    return out;
  }

  /** Live blocks by source (the latest `until` of each, dry runs left out), read from the blocker's `BLOCKS` items. */
  private async liveBlocks(nowSec: number): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    let read = 0;
    const query = {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      FilterExpression: '#exp > :now',
      ExpressionAttributeNames: { '#exp': 'expiresAt' },
      ExpressionAttributeValues: { ':pk': 'BLOCKS', ':now': nowSec },
    };
    for await (const r of this.queryPages(query, 'Query (blocks)')) {
      for (const i of (r.Items ?? []) as Item[]) {
        const src = String(i.source ?? '');
        const until = String(i.until ?? '');
        // A dry-run record says what would have been blocked: the source was not blocked.
        if (src && i.dryRun !== true && until > (out.get(src) ?? '')) out.set(src, until);
      }
      read += r.ScannedCount ?? 0;
      if (read >= MAX_BLOCKS_READ && r.LastEvaluatedKey) {
        this.onLimit('blocks-limit');
        break;
      }
    }
    return out;
  }

  /** Everything held for one source: totals, recent buckets, long-horizon peaks now, claim and block. */
  async describeSource(source: string, nowMs: number): Promise<SourceView | undefined> {
    const nowSec = Math.floor(nowMs / 1000);
    const items: Item[] = [];
    const query = {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk',
      FilterExpression: '#exp > :now',
      ExpressionAttributeNames: { '#exp': 'expiresAt' },
      ExpressionAttributeValues: { ':pk': sourcePk(source), ':now': nowSec },
      ConsistentRead: true,
    };
    for await (const r of this.queryPages(query, `Query (${sourcePk(source)})`)) items.push(...((r.Items ?? []) as Item[]));
    if (items.length === 0) return undefined;
    const windows = items.filter((i) => String(i.sk).startsWith('W#'));
    const m = mergeItems(source, windows);
    const iso = (ms: number) => new Date(ms).toISOString();
    const maxExp = Math.max(...windows.map((i) => Number(i.expiresAt ?? 0)), 0);
    const coarse = coarsen(m.buckets);
    const at = Number.isFinite(m.lastSeen) ? m.lastSeen : nowMs;
    const view: SourceView = {
      source,
      ...(Number.isFinite(m.lastSeen) ? { lastSeen: iso(m.lastSeen) } : {}),
      ...(maxExp ? { expiresAt: iso(maxExp * 1000) } : {}),
      requests: m.requests,
      score: m.score,
      labels: m.labels,
      statuses: m.statuses,
      windows: m.buckets.slice(-MAX_VIEW_BUCKETS).map((b) => ({ start: iso(b.start), score: b.score, errors: b.counts[ERROR_COUNTER] ?? 0 })),
      long: this.horizonsMs.map((ms) => {
        const p = longPeak(coarse, at, ms);
        return { horizon: ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${Math.round(ms / 60_000)}m`, score: p.score, paths: p.distinctPaths };
      }),
      samples: m.samples
        .map(sampleLine)
        .filter((x): x is string => x !== null)
        .sort(),
    };
    const claim = items.find((i) => i.sk === 'ALERT');
    if (claim) {
      const pending = claim.status === 'pending';
      // A pending claim whose record exists was sent (the record is the mark).
      const sent = !pending || (await this.alertRecorded(claim.publishedAt, claim.alertId));
      const lease = Number(claim.leaseUntil ?? 0);
      view.alert = {
        severity: String(claim.severity),
        at: iso(Number(claim.lastAt)),
        status: sent ? 'sent' : 'pending',
        ...(claim.alertId ? { alertId: String(claim.alertId) } : {}),
        ...(!sent && lease > 0 ? { leaseUntil: iso(lease * 1000) } : {}),
      };
    }
    const cidr = source.includes('/') ? source : source.includes(':') ? `${source}/128` : `${source}/32`;
    try {
      const b = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: 'BLOCKS', sk: cidr } }));
      if (b.Item && Number(b.Item.expiresAt ?? 0) > nowSec) view.block = { cidr, until: String(b.Item.until), dryRun: b.Item.dryRun === true };
    } catch (e) {
      rethrow('GetItem (block)', e);
    }
    return view;
  }

  /**
   * The sources with the highest score in the live state (items not yet expired: the retention
   * follows the longest horizon, so logs delivered late or backfilled are included), described. Reads
   * with a bounded Scan (no index is written on the hot path: it would cost every batch a write):
   * at most {@link MAX_TOP_SCAN_ITEMS} items are examined, so on a larger table the answer covers
   * the part scanned. An on-demand command, not part of the pipeline.
   */
  async topSources(nowMs: number, limit: number): Promise<SourceView[]> {
    const nowSec = Math.floor(nowMs / 1000);
    const scores = new Map<string, number>();
    let scanned = 0;
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const r = await this.doc.send(
          new ScanCommand({
            TableName: this.table,
            FilterExpression: 'begins_with(pk, :src) AND begins_with(sk, :w) AND #exp > :now',
            ProjectionExpression: 'pk, #score',
            ExpressionAttributeNames: { '#exp': 'expiresAt', '#score': 'score' },
            ExpressionAttributeValues: { ':src': 'SRC#', ':w': 'W#', ':now': nowSec },
            ExclusiveStartKey: start,
            Limit: Math.min(1000, MAX_TOP_SCAN_ITEMS - scanned),
          }),
        );
        for (const i of (r.Items ?? []) as Item[]) {
          const src = String(i.pk).slice(4);
          scores.set(src, (scores.get(src) ?? 0) + Number(i.score ?? 0));
        }
        scanned += r.ScannedCount ?? 0;
        start = scanned < MAX_TOP_SCAN_ITEMS ? r.LastEvaluatedKey : undefined;
        if (r.LastEvaluatedKey && !start) this.onLimit('scan-limit');
      } while (start);
    } catch (e) {
      rethrow('Scan (top sources)', e);
    }
    const top = [...scores].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, Math.max(0, limit));
    const out: SourceView[] = [];
    for (const [src] of top) {
      const v = await this.describeSource(src, nowMs);
      if (v) out.push(v);
    }
    return out;
  }

  /** The pages of one query, in order; a failed page is an AdapterError naming `what`. Stop early with `break`. */
  private async *queryPages(input: Omit<QueryCommandInput, 'ExclusiveStartKey'>, what: string): AsyncGenerator<QueryCommandOutput> {
    let start: Record<string, unknown> | undefined;
    do {
      let r: QueryCommandOutput;
      try {
        r = await this.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      } catch (e) {
        rethrow(what, e);
      }
      yield r;
      start = r.LastEvaluatedKey;
    } while (start);
  }

  async releaseClaim(c: Pick<ClaimRequest, 'source' | 'owner' | 'objectId' | 'severity' | 'alertId' | 'publishedAt' | 'leaseUntil'>): Promise<void> {
    const key = rememberedKey(c.objectId);
    // The alert as remembered (it may have been claimed with others, the claim holding a later one)...
    try {
      await this.setRemembered(
        c.source,
        key,
        rememberedEntry(c.publishedAt, 0, c.severity),
        '#h = :mine',
        {},
        { ':mine': rememberedEntry(c.publishedAt, c.leaseUntil, c.severity) },
      );
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) rethrow(`UpdateItem (${sourcePk(c.source)} ALERT release)`, e);
    }
    // ...and the claim, when it still holds this alert (not another of the same run).
    await this.updateOwnClaim(c.source, c.owner, 'SET #lease = :zero', { ':zero': 0 }, 'release', key, {
      alertId: c.alertId,
      publishedAt: new Date(c.publishedAt).toISOString(),
    });
  }

  /** Sets one remembered alert of a source's claim if `condition` holds (with its own names and values). */
  private async setRemembered(source: string, key: string, entry: string, condition: string, names: Record<string, string>, values: Record<string, unknown>) {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: sourcePk(source), sk: 'ALERT' },
        UpdateExpression: 'SET #h = :entry',
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#h': key, ...names },
        ExpressionAttributeValues: { ':entry': entry, ...values },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  }

  private async updateOwnClaim(
    source: string,
    owner: string,
    update: string,
    values: Record<string, unknown>,
    what: string,
    key: string,
    holds?: { alertId: string; publishedAt: string },
  ): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: sourcePk(source), sk: 'ALERT' },
          UpdateExpression: update,
          // Only our own pending claim: another run may have claimed a newer alert since.
          ConditionExpression: `#owner = :owner AND #st = :pending${holds ? ' AND #aid = :aid AND #pub = :heldPub' : ''}`,
          ExpressionAttributeNames: {
            '#st': 'status',
            '#owner': 'owner',
            ...(update.includes('#h') ? { '#h': key } : {}),
            ...(update.includes('#lease') ? { '#lease': 'leaseUntil' } : {}),
            ...(update.includes('#pub') || holds ? { '#pub': 'publishedAt' } : {}),
            ...(holds ? { '#aid': 'alertId' } : {}),
          },
          ExpressionAttributeValues: {
            ...values,
            ':owner': owner,
            ':pending': 'pending',
            ...(holds ? { ':aid': holds.alertId, ':heldPub': holds.publishedAt } : {}),
          },
        }),
      );
    } catch (e) {
      if (e instanceof ConditionalCheckFailedException) return;
      rethrow(`UpdateItem (${sourcePk(source)} ALERT ${what})`, e);
    }
  }
}

/** Names of a claim item's own attributes in its updates and conditions. */
const CLAIM_NAMES: Readonly<Record<string, string>> = {
  '#last': 'lastAt',
  '#rank': 'sevRank',
  '#sev': 'severity',
  '#st': 'status',
  '#obj': 'objectId',
  '#owner': 'owner',
  '#lease': 'leaseUntil',
  '#aid': 'alertId',
  '#pub': 'publishedAt',
  '#live': 'liveUntil',
  '#exp': 'expiresAt',
  '#count': 'alertCount',
};

/** In a condition: the claim no longer holds off other alerts (items of the previous layout: by their TTL). */
const CLAIM_NOT_LIVE = '#live <= :now OR (attribute_not_exists(#live) AND #exp <= :now)';

/**
 * In a condition: the claim's last alert lets alert `c` through, being a cooldown away from it
 * (either direction: objects arrive out of order) or less severe. `tag` names its placeholders.
 */
function passesClaim(c: ClaimRequest, tag = ''): { clause: string; values: Record<string, unknown> } {
  return {
    clause: `(#last <= :b${tag} OR #last >= :a${tag} OR #rank < :r${tag})`,
    values: { [`:b${tag}`]: c.at - c.cooldownMs, [`:a${tag}`]: c.at + c.cooldownMs, [`:r${tag}`]: SEVERITIES.indexOf(c.severity) },
  };
}

/** The claim as alert `c` leaves it: the SET clauses and their values (names: {@link CLAIM_NAMES}). */
function claimFields(c: ClaimRequest, nowSec: number, retentionSec: number): { set: string; values: Record<string, unknown> } {
  const live = Math.max(Math.floor((c.at + c.cooldownMs) / 1000), nowSec + Math.floor(c.cooldownMs / 1000));
  return {
    set: 'SET #last = :at, #rank = :rank, #sev = :sev, #st = :pending, #obj = :obj, #owner = :owner, #lease = :lease, #aid = :aid, #pub = :pub, #live = :live, #exp = :exp',
    values: {
      ':at': c.at,
      ':rank': SEVERITIES.indexOf(c.severity),
      ':sev': c.severity,
      ':pending': 'pending',
      ':obj': objectMarker(c.objectId),
      ':owner': c.owner,
      ':lease': c.leaseUntil,
      ':aid': c.alertId,
      ':pub': new Date(c.publishedAt).toISOString(),
      // The claim holds off other alerts until `liveUntil`; the item, and the alerts it
      // remembers, stay as long as an object claim, the horizon of a redelivery.
      ':live': live,
      ':exp': Math.max(live, nowSec + retentionSec),
    },
  };
}

/**
 * A remembered alert: when it was claimed and its severity (which, with its object, key its
 * record), and its run's lease.
 */
function rememberedEntry(publishedAtMs: number, leaseUntil: number, severity: Severity): string {
  return `${publishedAtMs}/${leaseUntil}/${SEVERITIES.indexOf(severity)}`;
}

/** A remembered alert's entry; items of the previous layout have no severity. */
function parseRememberedEntry(entry: string): { publishedAt: number; leaseUntil: number; severity?: Severity } | null {
  const m = /^(\d+)\/(\d+)(?:\/(\d))?$/.exec(entry);
  if (!m) return null;
  const severity = m[3] === undefined ? undefined : SEVERITIES[Number(m[3])];
  return { publishedAt: Number(m[1]), leaseUntil: Number(m[2]), ...(severity ? { severity } : {}) };
}

/** Keys of the alerts a claim item remembers, oldest first. */
function rememberedKeys(claim: Item): string[] {
  const out: { key: string; at: number }[] = [];
  for (const [k, v] of Object.entries(claim)) {
    if (!REMEMBERED_KEY.test(k) || typeof v !== 'string') continue;
    out.push({ key: k, at: parseRememberedEntry(v)?.publishedAt ?? 0 });
  }
  return out.sort((a, b) => a.at - b.at || (a.key < b.key ? -1 : 1)).map((e) => e.key);
}

/** True when a claim item holds off other alerts now (`liveUntil`; items of the previous layout: `expiresAt`). */
function claimLive(claim: Item, nowSec: number): boolean {
  return Number(claim.liveUntil ?? claim.expiresAt ?? 0) > nowSec;
}

/** Bucket attributes of items written before buckets were packed: `b<s>_s`, `b<s>_p`, `b<s>_c_<counter>`. */
const OLD_BUCKET_ATTR = /^b(\d+)_(s|p|c_(.+))$/;

/** Sums hour items into one merged state (pure; exported for tests). */
export function mergeItems(source: string, items: readonly Item[]): MergedSourceState {
  const m = emptyMergedState(source);
  const rules = new Set<string>();
  const samples = new Set<string>();
  const objects = new Set<string>();
  const statuses = new Map<string, number>();
  const buckets = new Map<number, { start: number; score: number; paths: Set<string>; counts: Record<string, number> }>();
  const bucketAt = (start: number) => {
    let b = buckets.get(start);
    if (!b) {
      b = { start, score: 0, paths: new Set(), counts: {} };
      buckets.set(start, b);
    }
    return b;
  };
  for (const item of items) {
    // `W#2024-01-01T10` or an overflow item `W#2024-01-01T10#o1`.
    const hour = Date.parse(`${String(item.sk).slice(2, 15)}:00:00Z`);
    for (const [k, v] of Object.entries(item)) {
      if (k === 'pk' || k === 'sk' || k === 'expiresAt') continue;
      if (k === 'req') m.requests += Number(v);
      else if (k === 'score') m.score += Number(v);
      else if (k === 'ts') {
        for (const t of v as Set<number>) {
          if (t < m.firstSeen) m.firstSeen = t;
          if (t > m.lastSeen) m.lastSeen = t;
        }
      } else if (k.startsWith('l_')) {
        const c = nameOf(k.slice(2));
        if (c !== undefined) m.labels[c] = (m.labels[c] ?? 0) + Number(v);
      } else if (k.startsWith('st_')) statuses.set(k.slice(3), (statuses.get(k.slice(3)) ?? 0) + Number(v));
      else if (k === 'rules') {
        for (const r of v as Set<string>) {
          const id = nameOf(r);
          if (id !== undefined) rules.add(id);
        }
      } else if (k === 'smp') {
        for (const x of v as Set<string>) samples.add(sampleOfStored(x));
      } else if (k === 'o') {
        // Pieces of a split part carry a tenth byte; the object is listed once.
        for (const o of v as Set<Uint8Array>) if (o.length === 9) objects.add(markerOf(o));
      } else if (k === 'objs') {
        // Markers as strings, in items written before they were binary.
        for (const o of v as Set<string>) if (!/#p\d+$/.test(o)) objects.add(o);
      } else if (k === 'ref') {
        if (!m.referer && v) m.referer = String(v);
      } else if ((k[0] === 'd' || k[0] === 'e') && v instanceof Uint8Array) {
        let packed: PackedBucket[];
        try {
          packed = unpackBuckets(v, k[0] as BucketLayout);
        } catch {
          continue; // not written by this store: ignored rather than failing every read of the source
        }
        for (const b of packed) {
          const x = bucketAt(hour + b.offset * 1000);
          x.score += b.score;
          if (b.errors) x.counts[ERROR_COUNTER] = (x.counts[ERROR_COUNTER] ?? 0) + b.errors;
          for (const h of b.paths) x.paths.add(storedHashHex(h));
          for (const [c, n] of Object.entries(b.counts)) x.counts[c] = (x.counts[c] ?? 0) + n;
        }
      } else {
        const o = OLD_BUCKET_ATTR.exec(k);
        if (!o) continue;
        const x = bucketAt(hour + Number(o[1]) * 1000);
        if (o[2] === 's') x.score += Number(v);
        else if (o[2] === 'p') for (const p of v as Set<string>) x.paths.add(storedHashHex(hashNumber(p)));
        else x.counts[o[3] as string] = (x.counts[o[3] as string] ?? 0) + Number(v);
      }
    }
  }
  // Collected in a map and built once: a record given status codes as keys one by one costs ~5 KB.
  m.statuses = statusRecord(statuses);
  m.rules = [...rules];
  m.samples = [...samples];
  m.objects = [...objects].sort();
  m.objectCount = m.objects.length;
  m.buckets = [...buckets.values()].sort((a, b) => a.start - b.start).map((b) => ({ ...b, paths: [...b.paths] }));
  return m;
}

/** An alert record as stored, in the contract's shape. */
function recordOf(i: Item): AlertRecord {
  const str = (k: string) => (typeof i[k] === 'string' ? (i[k] as string) : undefined);
  return {
    alertId: String(i.alertId ?? ''),
    source: String(i.source ?? ''),
    severity: String(i.severity ?? ''),
    categories: Array.isArray(i.categories) ? (i.categories as unknown[]).map(String) : [],
    reason: String(i.reason ?? ''),
    firstSeen: String(i.firstSeen ?? ''),
    lastSeen: String(i.lastSeen ?? ''),
    publishedAt: String(i.publishedAt ?? ''),
    ...(str('horizon') ? { horizon: str('horizon') as string } : {}),
    ...(str('environment') ? { environment: str('environment') as string } : {}),
  };
}

/** A stored sample as one line for people: time, status, request (raw: the reader escapes it). */
function sampleLine(json: string): string | null {
  try {
    const x = JSON.parse(json) as { t: number; r: string; s: number };
    return `${new Date(x.t).toISOString()} ${x.s} ${x.r}`;
  } catch {
    return null;
  }
}

/** Bytes DynamoDB counts for a number: about one per two significant digits, plus one. */
function numberSize(n: string): number {
  const digits = n.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** The size of one attribute value as DynamoDB counts it (raw AttributeValue form). */
function valueSize(v: Record<string, unknown>): number {
  if (typeof v.S === 'string') return Buffer.byteLength(v.S);
  if (typeof v.N === 'string') return numberSize(v.N);
  if (v.B instanceof Uint8Array) return v.B.length;
  if (Array.isArray(v.SS)) return (v.SS as string[]).reduce((n, x) => n + Buffer.byteLength(x), 0);
  if (Array.isArray(v.NS)) return (v.NS as string[]).reduce((n, x) => n + numberSize(x), 0);
  if (Array.isArray(v.BS)) return (v.BS as Uint8Array[]).reduce((n, x) => n + x.length, 0);
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (Array.isArray(v.L)) return 3 + (v.L as Record<string, unknown>[]).reduce((n, x) => n + 1 + valueSize(x), 0);
  if (v.M && typeof v.M === 'object')
    return 3 + Object.entries(v.M as Record<string, Record<string, unknown>>).reduce((n, [k, x]) => n + 1 + Buffer.byteLength(k) + valueSize(x), 0);
  return 0;
}

/**
 * An item's size as DynamoDB bills it: attribute names plus values (raw AttributeValue form).
 * A write costs one write unit per started KB of the larger of the item before and after it.
 */
export function dynamoItemSize(item: Record<string, unknown>): number {
  return Object.entries(item).reduce((n, [k, v]) => n + Buffer.byteLength(k) + valueSize(v as Record<string, unknown>), 0);
}
