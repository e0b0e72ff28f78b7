import { CidrSet, normalizeIp } from './ip.js';

/**
 * Decides which address a request is attributed to.
 *
 * X-Forwarded-For is written by whoever sends the request, so it is believed only when the peer
 * is a proxy the operator trusts. Each trusted proxy appends the address it received from, so the
 * client is the rightmost entry that is not itself a trusted proxy; everything left of that entry
 * could have been forged by the client.
 */
export class ClientIpResolver {
  private readonly trusted: CidrSet;

  constructor(trustedProxies: readonly string[]) {
    this.trusted = new CidrSet(trustedProxies);
  }

  /** Returns the client address for a peer and its (possibly empty) X-Forwarded-For value. */
  resolve(peerIp: string, forwardedFor: string): string {
    if (this.trusted.size === 0 || forwardedFor === '' || forwardedFor === '-') return peerIp;
    if (!this.trusted.has(peerIp)) return peerIp;
    const hops = forwardedFor.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeIp((hops[i] as string).trim());
      if (hop === null) return peerIp; // garbage in the chain: stop believing it here
      if (!this.trusted.has(hop)) return hop;
    }
    // Every hop is a trusted proxy: the request started inside the trusted network.
    return normalizeIp((hops[0] as string).trim()) ?? peerIp;
  }
}
