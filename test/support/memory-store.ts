import { MAX_SAMPLES_PER_ITEM, sampleAsKept } from '../../lambdas/adapters/dynamodb-state-store.js';
import { alertIdOf } from '../../lambdas/core/alert-message.js';
import {
  type AlertMessage,
  type AlertPublisher,
  type AlertRecord,
  type ClaimRequest,
  type ClaimResult,
  type MergedSourceState,
  type SourceDelta,
  type StateStore,
  emptyMergedState,
  rememberedKey,
} from '../../lambdas/core/ports.js';
import { SEVERITIES, type Severity } from '../../lambdas/core/rules/types.js';

const HOUR = 3_600_000;

/** An in-memory StateStore with the semantics the DynamoDB one promises (for core tests). */
export class MemoryStateStore implements StateStore {
  readonly deltas = new Map<string, SourceDelta[]>();
  readonly claims = new Map<
    string,
    {
      lastAt: number;
      rank: number;
      status: 'pending' | 'sent';
      objectId: string;
      owner: string;
      leaseUntil: number;
      alertId: string;
      publishedAt: number;
      liveUntil: number;
      expiresAt: number;
      count: number;
      /** Remembered alerts by key (of their object): when each was claimed, its run's lease, its severity. */
      remembered: Map<string, { publishedAt: number; leaseUntil: number; severity: Severity }>;
    }
  >();
  readonly done = new Set<string>();
  writes = 0;
  /** Calls that write an alert claim (one or several alerts), refused ones included. */
  claimWrites = 0;
  /** Throws from applyDelta on the calls whose number (from 1) is listed, to simulate crashes. */
  failOn = new Set<number>();
  private calls = 0;

  async isObjectDone(id: string): Promise<boolean> {
    return this.done.has(id);
  }

  async markObjectDone(id: string): Promise<void> {
    this.done.add(id);
  }

  /** Published alerts as recorded (the `ALERTS#` records). */
  readonly records: AlertRecord[] = [];

  async applyDelta(delta: SourceDelta, nowSec = 0, aroundMs = HOUR): Promise<MergedSourceState> {
    return this.applyDeltas([delta], nowSec, aroundMs);
  }

  async applyDeltas(deltas: readonly SourceDelta[], nowSec = 0, aroundMs = HOUR): Promise<MergedSourceState> {
    this.calls++;
    if (this.failOn.has(this.calls)) throw new Error(`injected failure on applyDeltas call ${this.calls}`);
    const source = (deltas[0] as SourceDelta).source;
    const list = this.deltas.get(source) ?? [];
    let wrote = false;
    for (const delta of deltas) {
      if (!list.some((d) => d.objectId === delta.objectId)) {
        list.push(delta);
        wrote = true;
      }
    }
    // One write per source per call (a batch), as the DynamoDB store writes per hour item.
    if (wrote) this.writes++;
    this.deltas.set(source, list);
    const hours = deltas.flatMap((d) => d.buckets.map((b) => Math.floor(b.start / HOUR) * HOUR));
    // The same hour-aligned reach as the DynamoDB store: whole hours around the delta's hours.
    const around = Math.max(HOUR, Math.ceil(aroundMs / HOUR) * HOUR);
    const from = Math.min(...hours) - around;
    const to = Math.max(...hours) + HOUR + around;
    const merged = merge(source, list, from, to);
    const claim = this.claims.get(source);
    if (claim && claim.liveUntil > nowSec)
      merged.claim = { lastAt: claim.lastAt, severity: SEVERITIES[claim.rank] ?? 'info', status: claim.status, objectId: claim.objectId };
    if (claim && claim.expiresAt > nowSec) merged.remembered = [...claim.remembered].sort((a, b) => a[1].publishedAt - b[1].publishedAt).map(([k]) => k);
    return merged;
  }

  async claimAlert(c: ClaimRequest, nowSec: number): Promise<ClaimResult> {
    this.claimWrites++;
    const key = rememberedKey(c.objectId);
    const stored = this.claims.get(c.source);
    // The DynamoDB store's condition, clause by clause.
    const prev = stored !== undefined && stored.expiresAt > nowSec ? stored : undefined;
    const entry = prev?.remembered.get(key);
    const live = prev !== undefined && prev.liveUntil > nowSec;
    const sameObject = prev?.status === 'pending' && prev.objectId === c.objectId;
    const retake = sameObject && prev?.alertId === c.alertId;
    const fresh = prev === undefined || (entry === undefined && (!live || passes(prev, c)));
    if (!fresh && !(retake && prev.leaseUntil <= nowSec)) {
      if (entry !== undefined && prev?.objectId !== c.objectId) {
        const wasId = entry.severity === c.severity ? c.alertId : alertIdOf(c.source, entry.severity, c.objectId);
        if (this.recorded(entry.publishedAt, wasId)) return 'cooldown';
        if (entry.leaseUntil > nowSec) return 'busy';
        // Not when the claim now holds a later alert within its cooldown, at least as severe.
        if (live && !passes(prev, c)) return 'cooldown';
        prev?.remembered.set(key, { publishedAt: c.publishedAt, leaseUntil: c.leaseUntil, severity: c.severity });
        return 'claimed';
      }
      if (!sameObject) return 'cooldown';
      if (this.recorded(prev?.publishedAt ?? 0, prev?.alertId ?? '')) return 'cooldown';
      // Another alert of this object, never recorded, its run's lease over: this one takes its place.
      if (retake || (prev?.leaseUntil ?? 0) > nowSec) return 'busy';
    }
    const taken = claimTaking(prev, [c], nowSec);
    const remembered = taken.remembered;
    this.claims.set(c.source, taken);
    // Taken over from a run of this object that recorded this same alert: the DynamoDB store
    // puts it back as sent, with the publishedAt of its record, by a second write.
    if (retake && prev.alertId === c.alertId && this.recorded(prev.publishedAt, prev.alertId)) {
      taken.status = 'sent';
      taken.publishedAt = prev.publishedAt;
      taken.leaseUntil = 0;
      remembered.set(key, { publishedAt: prev.publishedAt, leaseUntil: 0, severity: c.severity });
      return 'cooldown';
    }
    return 'claimed';
  }

  async claimAlerts(group: readonly ClaimRequest[], nowSec: number): Promise<boolean> {
    this.claimWrites++;
    const last = group[group.length - 1];
    if (!last) return true;
    if (new Set(group.map((c) => c.objectId)).size < group.length) throw new RangeError('a group claims alerts of distinct objects');
    const stored = this.claims.get(last.source);
    const prev = stored !== undefined && stored.expiresAt > nowSec ? stored : undefined;
    // The DynamoDB store's condition: none remembered, each a cooldown from the claim or more severe.
    if (prev) {
      if (group.some((c) => prev.remembered.has(rememberedKey(c.objectId)))) return false;
      const live = prev.liveUntil > nowSec;
      if (live && !group.every((c) => passes(prev, c))) return false;
    }
    this.claims.set(last.source, claimTaking(prev, group, nowSec));
    return true;
  }

  /** True when the alert record keyed by this claim time and id exists. */
  private recorded(publishedAt: number, alertId: string): boolean {
    const iso = new Date(publishedAt).toISOString();
    return this.records.some((r) => r.alertId === alertId && r.publishedAt === iso);
  }

  async markAlertSent(_source: string, _owner: string, record: AlertRecord): Promise<void> {
    // The record is the mark that the claim was sent; the claim itself stays as it is (pending),
    // as in the DynamoDB store.
    if (!this.records.some((r) => r.alertId === record.alertId && r.publishedAt === record.publishedAt)) this.records.push(record);
  }

  async releaseClaim(r: Pick<ClaimRequest, 'source' | 'owner' | 'objectId' | 'severity' | 'alertId' | 'publishedAt' | 'leaseUntil'>): Promise<void> {
    const c = this.claims.get(r.source);
    if (!c) return;
    const key = rememberedKey(r.objectId);
    const entry = c.remembered.get(key);
    if (entry && entry.publishedAt === r.publishedAt && entry.leaseUntil === r.leaseUntil && entry.severity === r.severity)
      c.remembered.set(key, { ...entry, leaseUntil: 0 });
    if (c.owner === r.owner && c.status === 'pending' && c.alertId === r.alertId && c.publishedAt === r.publishedAt) c.leaseUntil = 0;
  }
}

type StoredClaim = MemoryStateStore['claims'] extends Map<string, infer C> ? C : never;

/** The DynamoDB store's clause: the claim's last alert lets `c` through (a cooldown away or less severe). */
function passes(prev: StoredClaim, c: ClaimRequest): boolean {
  return Math.abs(c.at - prev.lastAt) >= c.cooldownMs || SEVERITIES.indexOf(c.severity) > prev.rank;
}

/** The claim as claiming `group` (in order) one by one leaves it: the last one's, remembering them all. */
function claimTaking(prev: StoredClaim | undefined, group: readonly ClaimRequest[], nowSec: number): StoredClaim {
  const last = group[group.length - 1] as ClaimRequest;
  const keys = group.map((c) => rememberedKey(c.objectId));
  const remembered = new Map(prev?.remembered ?? []);
  for (const k of group.flatMap((c) => c.forget ?? [])) if (!keys.includes(k)) remembered.delete(k);
  for (const c of group) remembered.set(rememberedKey(c.objectId), { publishedAt: c.publishedAt, leaseUntil: c.leaseUntil, severity: c.severity });
  const liveUntil = Math.max(Math.floor((last.at + last.cooldownMs) / 1000), nowSec + Math.floor(last.cooldownMs / 1000));
  return {
    lastAt: last.at,
    rank: SEVERITIES.indexOf(last.severity),
    status: 'pending',
    objectId: last.objectId,
    owner: last.owner,
    leaseUntil: last.leaseUntil,
    alertId: last.alertId,
    publishedAt: last.publishedAt,
    liveUntil,
    expiresAt: Math.max(liveUntil, nowSec + 96 * 3600),
    count: (prev?.count ?? 0) + group.length,
    remembered,
  };
}

function merge(source: string, deltas: SourceDelta[], from: number, to: number): MergedSourceState {
  const inRange = deltas.filter((d) => d.buckets.some((b) => b.start >= from && b.start < to));
  const m = emptyMergedState(source);
  const buckets = new Map<number, { start: number; score: number; paths: Set<string>; counts: Record<string, number> }>();
  // As the DynamoDB store keeps them: the first samples written to the hour item holding a
  // delta's totals (its first hour), cut.
  const samplesByHour = new Map<number, string[]>();
  for (const d of inRange) {
    const hour = Math.floor(Math.min(...d.buckets.map((b) => b.start), d.buckets.length ? Number.POSITIVE_INFINITY : d.firstSeen) / HOUR) * HOUR;
    if (!samplesByHour.has(hour) && d.samples.length) samplesByHour.set(hour, d.samples.slice(0, MAX_SAMPLES_PER_ITEM).map(sampleAsKept));
  }
  m.samples = [...new Set([...samplesByHour.values()].flat())];
  for (const d of inRange) {
    m.requests += d.requests;
    m.score += d.score;
    m.firstSeen = Math.min(m.firstSeen, d.firstSeen);
    m.lastSeen = Math.max(m.lastSeen, d.lastSeen);
    for (const [k, n] of Object.entries(d.labels)) m.labels[k] = (m.labels[k] ?? 0) + n;
    for (const [k, n] of Object.entries(d.statuses)) m.statuses[k] = (m.statuses[k] ?? 0) + n;
    m.rules = [...new Set([...m.rules, ...d.rules])];
    m.referer ||= d.referer;
    m.objects.push(d.objectId);
    for (const b of d.buckets) {
      const x = buckets.get(b.start) ?? { start: b.start, score: 0, paths: new Set<string>(), counts: {} };
      x.score += b.score;
      for (const p of b.paths) x.paths.add(p);
      for (const [k, n] of Object.entries(b.counts)) x.counts[k] = (x.counts[k] ?? 0) + n;
      buckets.set(b.start, x);
    }
  }
  m.buckets = [...buckets.values()].sort((a, b) => a.start - b.start).map((b) => ({ ...b, paths: [...b.paths] }));
  m.objects.sort();
  return m;
}

/** Collects published alerts; can be told to fail the next N publishes. */
export class MemoryPublisher implements AlertPublisher {
  readonly sent: AlertMessage[] = [];
  failNext = 0;
  /** Each publish waits this long first (a real topic is not instant). */
  delayMs = 0;
  async publish(m: AlertMessage): Promise<void> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected publish failure');
    }
    this.sent.push(m);
  }
}

/** A LineSource over in-memory lines. */
export function linesOf(lines: string[]) {
  return {
    async read(sink: { line(l: string): void }) {
      for (const l of lines) sink.line(l);
      return {};
    },
  };
}
