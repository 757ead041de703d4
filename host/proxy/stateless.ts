/**
 * Stateless forwarding (RFC 3261 §16.11): Kamailio forward() of a request, with a Via branch that
 * is a hash of the incoming one, and responses no transaction claims sent on to the next Via
 * (§18.2.2). Split out of proxy.ts.
 */
import { protoOfViaTransport, type MessageContext, type Proto } from '../core/context.js';
import { hashHex } from '../core/hash.js';
import type { SipMessage } from '../sip/types.js';
import { stripBrackets } from '../transport/reply-route.js';
import { viaValue } from './branches.js';
import { ensureMaxForwardsProcessed } from './max-forwards.js';
import type { ProxyCore } from './proxy.js';
import { markReceived } from './received.js';
import { nextHopOf, type ResolvedAddress, type Target } from './resolver.js';

/** Kamailio forward(): stateless relay to $du or the R-URI (§16.11). 1 sent (or resolving), -1 failed. */
export function forwardStateless(core: ProxyCore, ctx: MessageContext): number {
  const msg = ctx.msg;
  if (msg.kind !== 'request') return -1;
  const hop = nextHopOf(ctx.dstUri ?? msg.requestUri);
  if (hop === null) return -1;
  if (!ensureMaxForwardsProcessed(msg)) return -1; // §16.11: stateless forwarding follows §16.6 too
  markReceived(msg, ctx.source);
  const branch = statelessBranch(msg);
  // RFC 3263 §4: the first target a socket here reaches (stateless: no failover, §16.11)
  const send = (targets: readonly Target[] | null): boolean => {
    if (targets === null) return false;
    for (const t of targets) {
      if (core.isMyself(t.address, t.port)) return false;
      const channel = core.channels.channelFor(t.proto, t.family, t.address, t.port, hop.host);
      if (channel === null) continue;
      msg.addHeader('Via', viaValue(channel, t.proto, branch), 'first');
      channel.send(msg.toBuffer(), t.address, t.port);
      core.stats.forwardedStateless++;
      core.metrics?.requestOut(msg.method);
      return true;
    }
    return false;
  };
  const cached = core.resolver.targetsCached(hop);
  if (cached !== undefined) return send(cached) ? 1 : -1;
  void core.resolver.resolveTargets(hop).then((t) => {
    if (!send(t)) core.log.debug({ host: hop.host }, 'forward(): next hop does not resolve');
  });
  return 1;
}

/**
 * §16.11 / §18.2.2: a response no transaction claims is forwarded when its top Via is ours: our
 * Via removed, sent to the next Via (received / rport honoured). Late non-2xx responses of our own
 * stateful branches (the transaction is gone) are dropped.
 */
export function forwardResponseStatelessly(core: ProxyCore, resp: SipMessage): boolean {
  const top = resp.vias[0];
  if (top === undefined || !core.isMyself(top.host, top.port) || resp.vias.length < 2) {
    core.stats.responsesDropped++;
    return false;
  }
  if (resp.status >= 300 || resp.status < 200) {
    if (top.branch !== undefined && core.layer.isOwnBranch(top.branch)) {
      core.stats.responsesDropped++;
      return false;
    }
  }
  resp.removeHeader('via', 0);
  const next = resp.vias[0]!;
  const host = stripBrackets(next.received ?? next.maddr ?? next.host);
  const proto: Proto = protoOfViaTransport(next.transport) ?? 'udp';
  const port = typeof next.rport === 'number' ? next.rport : next.port ?? (proto === 'tls' ? 5061 : 5060);
  const send = (addr: ResolvedAddress | null): void => {
    const channel = addr === null ? null : core.channels.channelFor(proto, addr.family, addr.address, port);
    if (channel === null || addr === null) {
      core.stats.responsesDropped++;
      return;
    }
    channel.send(resp.toBuffer(), addr.address, port);
    core.stats.responsesForwardedStateless++;
    core.metrics?.replyOut(resp.status);
  };
  const cached = core.resolver.resolveCached(host);
  if (cached !== undefined) send(cached);
  else void core.resolver.resolve(host).then(send);
  return true;
}

/**
 * §16.11: a stateless proxy's branch must be the same for a retransmission and differ between
 * requests: a hash of the incoming top Via branch (RFC 3261 peers) or of the RFC 2543 matching
 * fields. An ACK for a non-2xx and a CANCEL carry the INVITE's branch and so get the INVITE's
 * downstream branch, as the next hop expects.
 */
export function statelessBranch(msg: SipMessage): string {
  const via = msg.vias[0];
  const input = via?.branch !== undefined && via.branch.startsWith('z9hG4bK')
    ? `${via.branch}${via.host}:${via.port ?? ''}`
    : `${msg.requestUri}|${msg.from?.tag ?? ''}|${msg.callId}|${msg.cseq?.seq ?? ''}|${via?.raw ?? ''}`;
  return `z9hG4bKsl.${hashHex('md5', input).slice(0, 20)}`;
}
