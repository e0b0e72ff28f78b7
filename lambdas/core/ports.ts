import { createHash } from 'node:crypto';
import type { AlertReport } from './report.js';
import type { Severity } from './rules/types.js';

/** One stored log object. The ETag makes a re-upload under the same key a different object. */
export interface ObjectRef {
  bucket: string;
  key: string;
  etag: string;
  size?: number;
}

/** Stable identity of an object in state (`<bucket>/<key>#<etag>`). */
export function objectId(ref: ObjectRef): string {
  return `${ref.bucket}/${ref.key}#${ref.etag.replace(/"/g, '')}`;
}

/**
 * The short, stable marker an object is kept under in state items (idempotency and evidence):
 * 72 bits of its id's SHA-256, base64url. Object ids reach 1 KB; markers keep items small.
 */
export function objectMarker(id: string): string {
  return createHash('sha256').update(id).digest('base64url').slice(0, 12);
}

/** Receives lines; the line source pushes into it. */
export interface LineSink {
  line(line: string): void;
  /** Text that was not kept: a line over the length limit, or (with `reason`) the rest of an object cut off at a bound. */
  overlong(prefix: string, reason?: string): void;
  /**
   * True while most lines delivered are requests: a compression ratio past the bomb bound is then
   * the log's own, and only the size bound applies. Without it, the ratio bound always does.
   */
  usable?(): boolean;
}

/** Port: delivers an object's lines (decompressed, split) into a sink, in constant memory. */
export interface LineSource {
  /** Resolves when every line was delivered; `notLog` explains an object that is not a log. */
  read(sink: LineSink): Promise<{ notLog?: string }>;
}

/** One 10-second bucket of a source's activity, as stored. */
export interface StoredBucket {
  start: number;
  score: number;
  /** Short hashes of the distinct error paths (capped). */
  paths: string[];
  /** Matches of threshold rules by rule id. */
  counts: Record<string, number>;
}

/** What one object adds to one source's state: applied once per object, idempotently. */
export interface SourceDelta {
  source: string;
  objectId: string;
  requests: number;
  score: number;
  firstSeen: number;
  lastSeen: number;
  labels: Record<string, number>;
  /** Error statuses by code, the others by class ("2xx"). */
  statuses: Record<string, number>;
  rules: string[];
  buckets: StoredBucket[];
  /** Up to 3 sample requests, JSON-encoded (raw strings; escaped when a message is built). */
  samples: string[];
  referer: string;
}

/** A source's state merged over every live item around the times of a delta. */
export interface MergedSourceState extends Omit<SourceDelta, 'objectId'> {
  /** Every object applied to those items. */
  objects: string[];
  /** Log objects in the evidence (`objects` may name only some of them). */
  objectCount?: number;
  /** The source's live alert claim, read with the windows (the conditional write decides). */
  claim?: { lastAt: number; severity: Severity; status: 'pending' | 'sent'; objectId: string };
  /** Keys ({@link rememberedKey}: by object) of the alerts the source's claim item remembers, oldest first. */
  remembered?: readonly string[];
}

/**
 * Alerts a source's claim remembers at most: the last ones claimed, each under its object (a
 * source has at most one alert per object). An object retried after a later alert of its source
 * was claimed (its own was sent, but the object was not marked done) finds its alert among them
 * and does not send it again, whatever severity it decides this time. A source with more alerts
 * than this in one batch forgets its oldest ones, and a retry of their objects may repeat them
 * (with the same alert id when it decides the same severity).
 */
export const MAX_REMEMBERED_ALERTS = 8;

/** The key under which a claim remembers the alert of an object: `h` and the object's marker. */
export function rememberedKey(objectId: string): string {
  return `h${objectMarker(objectId)}`;
}

/** The merged state of a source nothing is known about yet (the identity of merging). */
export function emptyMergedState(source: string): MergedSourceState {
  return {
    source,
    requests: 0,
    score: 0,
    firstSeen: Number.POSITIVE_INFINITY,
    lastSeen: Number.NEGATIVE_INFINITY,
    labels: {},
    statuses: {},
    rules: [],
    buckets: [],
    samples: [],
    referer: '',
    objects: [],
  };
}

/** What an alert claim decides on. */
export interface ClaimRequest {
  source: string;
  /** Event time of the trigger, epoch ms. */
  at: number;
  severity: Severity;
  cooldownMs: number;
  objectId: string;
  /**
   * Who claims: a token unique to one processing of one object. Two runs of the same object
   * (S3 and SQS both deliver at least once) are two owners, so neither can take the other's claim.
   */
  owner: string;
  /**
   * Wall-clock epoch seconds until which the owner may still publish (its invocation's deadline).
   * Another run of the same object may take a pending claim over only after this.
   */
  leaseUntil: number;
  /** Idempotency key of the alert (source, severity and object); published with it so subscribers can drop a repeat. */
  alertId: string;
  /** Wall clock (epoch ms) at the claim: the alert's `publishedAt`, which keys its alert record. */
  publishedAt: number;
  /** Keys of remembered alerts to forget with this claim (the oldest past {@link MAX_REMEMBERED_ALERTS}). */
  forget?: readonly string[];
}

/**
 * Result of a claim: only `claimed` may publish. `busy`: another live run of the same object
 * holds the pending claim, so this run must not finish the object (its retry checks again).
 */
export type ClaimResult = 'claimed' | 'cooldown' | 'busy';

/** Port: per-source probe state with TTLs, alert claims and object claims. */
export interface StateStore {
  /** True when this object was fully processed before (a redelivery). */
  isObjectDone(objectId: string): Promise<boolean>;
  /**
   * Applies the deltas of one source from several objects (one batch), each object exactly once
   * (an object already applied, by this call or any earlier one, changes nothing), and returns
   * the merged state of every live item within `aroundMs` (the longest horizon) of the deltas'
   * times. Items must live at least that long after their hour.
   */
  applyDeltas(deltas: readonly SourceDelta[], nowSec: number, aroundMs: number): Promise<MergedSourceState>;
  /**
   * At most one alert per source per cooldown, even with concurrent writers. A claim left
   * pending by the same object may be taken again once its owner's lease has run out: by the
   * same alert, or by another alert of the object (another severity) only if the one it holds
   * was never recorded. An alert the claim remembers is never claimed again once it was
   * recorded, nor is another alert of its object (decided again at another severity); one
   * claimed and never recorded may be claimed again, by either, once its lease has run out, even
   * after a later alert.
   */
  claimAlert(claim: ClaimRequest, nowSec: number): Promise<ClaimResult>;
  /**
   * Claims several alerts of one source in one write (at most {@link MAX_REMEMBERED_ALERTS}, of
   * distinct objects, in the order their claims would be taken one by one, each a cooldown after
   * the last or more severe): true when the claim holds none of them and each passes the condition of a claim
   * against the claim as it is, leaving the claim as taking them one by one would. False when
   * any does not, and nothing is written: claim them one at a time to learn why.
   */
  claimAlerts(claims: readonly ClaimRequest[], nowSec: number): Promise<boolean>;
  /**
   * Records a published alert (the `ALERTS#<day>` record, keyed by the claim's `publishedAt` and
   * `alertId`). The record is what marks the claim sent: a retry of the same object that finds
   * it publishes nothing.
   */
  markAlertSent(source: string, owner: string, record: AlertRecord): Promise<void>;
  /**
   * Ends the lease of an alert its run could not publish, so a retry may take it at once: the
   * lease the claim remembers for it, and the claim's own when the claim still holds that alert.
   */
  releaseClaim(claim: Pick<ClaimRequest, 'source' | 'owner' | 'objectId' | 'severity' | 'alertId' | 'publishedAt' | 'leaseUntil'>): Promise<void>;
  markObjectDone(objectId: string, stats: { lines: number; parsed: number; sources: number; alerts: number }, nowSec: number): Promise<void>;
  /**
   * Names of objects by the short marker kept in state items (object ids are kept as hashes so
   * that items stay small). Markers it cannot name are left out.
   */
  objectNames?(markers: readonly string[]): Promise<Map<string, string>>;
}

/** What the detector holds for one source, for people (probewatch state). */
export interface SourceView {
  source: string;
  /** ISO event time. */
  lastSeen?: string;
  /** ISO: when the state is forgotten. */
  expiresAt?: string;
  requests: number;
  score: number;
  /** Category -> count. */
  labels: Record<string, number>;
  statuses: Record<string, number>;
  /** Recent buckets, oldest first. */
  windows: { start: string; score: number; errors: number }[];
  /** Long-horizon peaks now. */
  long: { horizon: string; score: number; paths: number }[];
  samples: string[];
  alert?: { severity: string; at: string; status: string; alertId?: string; leaseUntil?: string };
  block?: { cidr: string; until: string; dryRun: boolean };
}

/** One published alert as recorded in the state table (`ALERTS#<day>`). */
export interface AlertRecord {
  alertId: string;
  source: string;
  severity: string;
  categories: string[];
  /** The alert's plain-language "what" line. */
  reason: string;
  /** ISO event time. */
  firstSeen: string;
  /** ISO event time. */
  lastSeen: string;
  /** ISO wall clock. */
  publishedAt: string;
  horizon?: string;
  environment?: string;
  /** Joined from BLOCKS by the reader. */
  blockedUntil?: string;
}

/** Port: what people ask of the stored state (probewatch alerts, probewatch state). */
export interface StateInspector {
  listAlerts(sinceMs: number, untilMs: number, limit: number): Promise<AlertRecord[]>;
  describeSource(source: string, nowMs: number): Promise<SourceView | undefined>;
  topSources(nowMs: number, limit: number): Promise<SourceView[]>;
}

/** An alert as published: the facts for machines, and the words for people. */
export interface AlertMessage {
  subject: string;
  text: string;
  document: AlertDocument;
  attributes: { severity: Severity; category: string; environment: string; alertId: string };
}

/** What was left out of an alert so that it fits the publisher's size limit. */
export interface AlertShortening {
  /** Sample requests left out. */
  samples: number;
  /** Log objects left out of the list. */
  objects: number;
  /** The longest a kept sample request, user agent or object id may be (characters). */
  maxChars: number;
}

/** The machine-readable alert (version 1). */
export interface AlertDocument extends AlertReport {
  version: 1;
  environment: string;
  /** Idempotency key: a repeat after a crash carries the same id. */
  alertId: string;
  objects: string[];
  /** Log objects in the evidence, including any left out of `objects`. */
  objectCount: number;
  /** Present when evidence was cut to fit the size limit. */
  shortened?: AlertShortening;
}

/** Port: publishes an alert (SNS in AWS). */
export interface AlertPublisher {
  publish(message: AlertMessage): Promise<void>;
  /** True when the message fits the transport's size limits (absent: no limit). */
  fits?(message: AlertMessage): boolean;
}
