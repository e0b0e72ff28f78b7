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
} from '../../lambdas/core/ports.js';
import { SEVERITIES } from '../../lambdas/core/rules/types.js';

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
      expiresAt: number;
      count: number;
    }
  >();
  readonly done = new Set<string>();
  writes = 0;
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

  async applyDeltas(deltas: readonly SourceDelta[], _nowSec = 0, aroundMs = HOUR): Promise<MergedSourceState> {
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
    if (claim) merged.claim = { lastAt: claim.lastAt, severity: SEVERITIES[claim.rank] ?? 'info', status: claim.status, objectId: claim.objectId };
    return merged;
  }

  async claimAlert(c: ClaimRequest, nowSec: number): Promise<ClaimResult> {
    const rank = SEVERITIES.indexOf(c.severity);
    const prev = this.claims.get(c.source);
    // The DynamoDB store's condition, clause by clause.
    const live = prev !== undefined && prev.expiresAt > nowSec;
    const retake = prev?.status === 'pending' && prev.objectId === c.objectId;
    const ok = !live || Math.abs(c.at - prev.lastAt) >= c.cooldownMs || rank > prev.rank || (retake && prev.leaseUntil <= nowSec);
    if (!ok) return retake ? 'busy' : 'cooldown';
    this.claims.set(c.source, {
      lastAt: c.at,
      rank,
      status: 'pending',
      objectId: c.objectId,
      owner: c.owner,
      leaseUntil: c.leaseUntil,
      alertId: c.alertId,
      expiresAt: Math.max(Math.floor((c.at + c.cooldownMs) / 1000), nowSec + Math.floor(c.cooldownMs / 1000)),
      count: (prev?.count ?? 0) + 1,
    });
    return 'claimed';
  }

  async markAlertSent(source: string, owner: string, record: AlertRecord): Promise<void> {
    const c = this.claims.get(source);
    // The record is the mark that the claim was sent (as in the DynamoDB store).
    if (!this.records.some((r) => r.alertId === record.alertId && r.publishedAt === record.publishedAt)) this.records.push(record);
    if (c && c.owner === owner && c.status === 'pending') c.status = 'sent';
  }

  async releaseClaim(source: string, owner: string): Promise<void> {
    const c = this.claims.get(source);
    if (c && c.owner === owner && c.status === 'pending') c.leaseUntil = 0;
  }
}

function merge(source: string, deltas: SourceDelta[], from: number, to: number): MergedSourceState {
  const inRange = deltas.filter((d) => d.buckets.some((b) => b.start >= from && b.start < to));
  const m = emptyMergedState(source);
  const buckets = new Map<number, { start: number; score: number; paths: Set<string>; counts: Record<string, number> }>();
  for (const d of inRange) {
    m.requests += d.requests;
    m.score += d.score;
    m.firstSeen = Math.min(m.firstSeen, d.firstSeen);
    m.lastSeen = Math.max(m.lastSeen, d.lastSeen);
    for (const [k, n] of Object.entries(d.labels)) m.labels[k] = (m.labels[k] ?? 0) + n;
    for (const [k, n] of Object.entries(d.statuses)) m.statuses[k] = (m.statuses[k] ?? 0) + n;
    m.rules = [...new Set([...m.rules, ...d.rules])];
    m.samples = [...new Set([...m.samples, ...d.samples])];
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
