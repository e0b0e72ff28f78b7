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

/** Receives lines; the line source pushes into it. */
export interface LineSink {
  line(line: string): void;
  /** Text that was not kept: a line over the length limit, or (with `reason`) the rest of an object cut off at a bound. */
  overlong(prefix: string, reason?: string): void;
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
  /** The source's live alert claim, read with the windows (the conditional write decides). */
  claim?: { lastAt: number; severity: Severity; status: 'pending' | 'sent'; objectId: string };
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
}

/** Result of a claim: only `claimed` may publish. */
export type ClaimResult = 'claimed' | 'cooldown';

/** Port: per-source probe state with TTLs, alert claims and object claims. */
export interface StateStore {
  /** True when this object was fully processed before (a redelivery). */
  isObjectDone(objectId: string): Promise<boolean>;
  /** Applies a delta once (a second call with the same object changes nothing) and returns the merged state. */
  applyDelta(delta: SourceDelta, nowSec: number): Promise<MergedSourceState>;
  /**
   * At most one alert per source per cooldown, even with concurrent writers. A claim left
   * pending by the same object (its publish failed) may be taken again.
   */
  claimAlert(claim: ClaimRequest, nowSec: number): Promise<ClaimResult>;
  /** Marks a claimed alert as sent, so a retry of the object does not send it again. */
  markAlertSent(source: string, objectId: string): Promise<void>;
  markObjectDone(objectId: string, stats: { lines: number; parsed: number; sources: number; alerts: number }, nowSec: number): Promise<void>;
}

/** An alert as published: the facts for machines, and the words for people. */
export interface AlertMessage {
  subject: string;
  text: string;
  document: AlertDocument;
  attributes: { severity: Severity; category: string; environment: string };
}

/** The machine-readable alert (version 1). */
export interface AlertDocument extends AlertReport {
  version: 1;
  environment: string;
  objects: string[];
}

/** Port: publishes an alert (SNS in AWS). */
export interface AlertPublisher {
  publish(message: AlertMessage): Promise<void>;
}
