import { randomUUID } from 'node:crypto';
import {
  GetIPSetCommand,
  type GetIPSetCommandInput,
  UpdateIPSetCommand,
  type UpdateIPSetCommandInput,
  WAFInvalidParameterException,
  WAFLimitsExceededException,
  WAFNonexistentItemException,
  WAFOptimisticLockException,
  WAFV2Client,
} from '@aws-sdk/client-wafv2';
import { mockClient } from 'aws-sdk-client-mock';
import { type IpSetRef, WAF_IP_SET_LIMIT, canonicalCidr, parseIpSetArn } from '../../lambdas/core/blocking.js';

const meta = { $metadata: { httpStatusCode: 400 } };

interface ModelSet {
  name: string;
  id: string;
  scope: 'REGIONAL' | 'CLOUDFRONT';
  version: 'IPV4' | 'IPV6';
  description?: string;
  addresses: string[];
  lockToken: string;
}

/**
 * A stateful model of WAF v2 IP sets behind aws-sdk-client-mock, as the real API behaves:
 * GetIPSet returns the addresses and a LockToken; UpdateIPSet replaces the whole list, only with the
 * latest token (WAFOptimisticLockException otherwise), and issues a new token each time; more than
 * 10,000 addresses is WAFLimitsExceededException; an unknown set is WAFNonexistentItemException; an
 * address of the wrong family or not a CIDR is WAFInvalidParameterException; an update without a
 * description clears it. `interfere` lets another writer change a set between a read and an update.
 */
export class FakeWaf {
  readonly client = new WAFV2Client({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  readonly mock = mockClient(this.client);
  private readonly sets = new Map<string, ModelSet>();
  readonly calls = { get: 0, update: 0, conflicts: 0 };
  /** WAF's per-set limit (an account's quota may be lower than the default). */
  limit = WAF_IP_SET_LIMIT;
  /** Called before each UpdateIPSet: return true to have another writer change the set first. */
  interfere: (set: ModelSet, update: UpdateIPSetCommandInput) => boolean = () => false;

  constructor() {
    this.mock.on(GetIPSetCommand).callsFake((input: GetIPSetCommandInput) => this.get(input));
    this.mock.on(UpdateIPSetCommand).callsFake((input: UpdateIPSetCommandInput) => this.update(input));
  }

  /** Creates a set; returns its reference as the blocker reads it from an ARN. */
  create(name: string, version: 'IPV4' | 'IPV6', addresses: string[] = [], scope: 'REGIONAL' | 'CLOUDFRONT' = 'REGIONAL'): IpSetRef {
    const id = randomUUID();
    this.sets.set(`${scope}/${id}`, { name, id, scope, version, addresses: [...addresses], lockToken: randomUUID(), description: `${name} set` });
    const arn = `arn:aws:wafv2:${scope === 'CLOUDFRONT' ? 'us-east-1' : 'eu-west-1'}:123456789012:${scope === 'CLOUDFRONT' ? 'global' : 'regional'}/ipset/${name}/${id}`;
    return parseIpSetArn(arn) as IpSetRef;
  }

  /** The set's addresses now (for assertions). */
  addresses(ref: IpSetRef): string[] {
    return [...(this.sets.get(`${ref.scope}/${ref.id}`)?.addresses ?? [])];
  }

  description(ref: IpSetRef): string | undefined {
    return this.sets.get(`${ref.scope}/${ref.id}`)?.description;
  }

  /** Another writer's change (a new token, as in WAF). */
  writeBehind(ref: IpSetRef, addresses: string[]): void {
    const s = this.sets.get(`${ref.scope}/${ref.id}`);
    if (!s) throw new Error('no such set');
    s.addresses = [...addresses];
    s.lockToken = randomUUID();
  }

  delete(ref: IpSetRef): void {
    this.sets.delete(`${ref.scope}/${ref.id}`);
  }

  private find(input: { Name?: string; Id?: string; Scope?: string }): ModelSet {
    const s = this.sets.get(`${input.Scope}/${input.Id}`);
    if (!s || s.name !== input.Name) {
      throw new WAFNonexistentItemException({ message: 'AWS WAF couldn’t perform the operation because your resource doesn’t exist.', ...meta });
    }
    return s;
  }

  private get(input: GetIPSetCommandInput) {
    this.calls.get++;
    const s = this.find(input);
    return {
      IPSet: { Name: s.name, Id: s.id, ARN: `arn:${s.id}`, IPAddressVersion: s.version, Addresses: [...s.addresses], Description: s.description },
      LockToken: s.lockToken,
    };
  }

  private update(input: UpdateIPSetCommandInput) {
    this.calls.update++;
    const s = this.find(input);
    if (this.interfere(s, input)) {
      s.lockToken = randomUUID();
      s.addresses = [...s.addresses];
    }
    if (input.LockToken !== s.lockToken) {
      this.calls.conflicts++;
      throw new WAFOptimisticLockException({
        message: 'AWS WAF couldn’t save your changes because someone changed the resource after you started to edit it. Reapply your changes.',
        ...meta,
      });
    }
    const addresses = input.Addresses ?? [];
    if (addresses.length > this.limit) {
      throw new WAFLimitsExceededException({ message: 'AWS WAF couldn’t perform the operation because you exceeded your resource limit.', ...meta });
    }
    for (const a of addresses) {
      const c = canonicalCidr(a);
      const v6 = a.includes(':');
      if (!c || !a.includes('/') || c.endsWith('/0') || v6 !== (s.version === 'IPV6')) {
        throw new WAFInvalidParameterException({ message: `Error reason: invalid address ${a}`, Field: 'IP_ADDRESS', ...meta });
      }
    }
    s.addresses = [...addresses];
    s.description = input.Description;
    s.lockToken = randomUUID();
    return { NextLockToken: s.lockToken };
  }
}
