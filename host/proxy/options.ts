/**
 * What ProxyCore is built from and what it counts: the sockets it sends through, the stateless
 * replier, plugin version pinning, its options (max_branches, use_dns_failover) and its counters.
 * Split out of proxy.ts.
 */
import type { Logger } from 'pino';
import type { Endpoint, Proto } from '../core/context.js';
import type { SipMessage } from '../sip/types.js';
import type { ReplyBody } from '../core/sl.js';
import type { Channel } from '../transport/types.js';
import type { TransactionLayer } from '../transaction/index.js';
import type { TmHooks } from './hooks.js';
import type { IsMyself } from './record-route.js';
import type { Resolver } from './resolver.js';

/** Sockets the proxy may send through (the server's listeners). */
export interface ChannelProvider {
  /** a channel able to reach `address:port` over that protocol and address family; null when none listens. */
  /** `name`: the host the target URI named when it is not an address (TLS: RFC 5922 identity, SNI). */
  channelFor(proto: Proto, family: 4 | 6, address: string, port: number, name?: string): Channel | null;
  /** whether a listener of that transport exists (RFC 3263 §4.1: NAPTR/SRV offer only those); absent = all. */
  hasTransport?(proto: Proto): boolean;
}

/** Builds a reply from a request (the stateless replier, RFC 3261 §8.2.6). */
export interface ReplyBuilder {
  build(req: SipMessage, source: Endpoint, code: number, reason: string, extra?: readonly string[], more?: readonly string[], body?: ReplyBody): Buffer;
  toTagFor(req: SipMessage): string;
}

/**
 * Pins plugin versions for transactions (host/wasm/manager.ts PluginManager.pin/release): a
 * transaction's hooks run on the version current when it was created, even after a reload.
 */
export interface HookPinner {
  pin(): TmHooks | null;
  release(hooks: TmHooks): void;
}

export interface ProxyOptions {
  layer: TransactionLayer;
  /** plugin version pinning; without it a transaction keeps the hooks given to setActiveHooks(). */
  pinner?: HookPinner;
  channels: ChannelProvider;
  replies: ReplyBuilder;
  isMyself: IsMyself;
  log: Logger;
  resolver?: Resolver;
  /**
   * Kamailio core `max_branches` (default 12): the most branches one transaction creates over its
   * life (parallel and serial forking together, as tm's nr_of_outgoings); more are not created.
   */
  maxBranches?: number;
  /**
   * Kamailio `use_dns_failover` (default true): a branch answered 503, timed out or failing at the
   * transport is retried on the next target of its DNS answer (RFC 3263 §4.3) as a new branch.
   */
  dnsFailover?: boolean;
}

export interface ProxyStats {
  relayed: number;
  branches: number;
  forwardedStateless: number;
  responsesForwarded: number;
  responsesForwardedStateless: number;
  responsesDropped: number;
  cancelsReceived: number;
  cancelsSent: number;
  failureRoutes: number;
  localReplies: number;
  relayFailures: number;
  /** branches not created because the transaction had max_branches already. (additive) */
  branchesRefused: number;
  /** branches started on the next DNS target after a 503/timeout/transport error (RFC 3263 §4.3). (additive) */
  dnsFailovers: number;
}

/** Kamailio's max_branches default. */
export const DEFAULT_MAX_BRANCHES = 12;
