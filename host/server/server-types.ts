/**
 * The pipeline's interfaces (the routing plugin, the flood guard, the route observer), its options
 * and its counters. Split out of server.ts.
 */
import type { Logger } from 'pino';
import type { RequestContext } from '../core/message-context.js';
import type { SiphonConfig } from '../config/types.js';
import type { LoadedPlugin } from '../wasm/types.js';
import type { StreamFramer } from '../transport/framing.js';
import type { TransportStats } from '../transport/types.js';
import type { TransactionTimers } from '../transaction/index.js';
import type { MessagePrefetcher } from '../modules/types.js';
import type { UtilizationSource } from './overload.js';

/**
 * Sees every request the pipeline routes (the dialog module, host/modules/dialog): `beforeRoute`
 * right before request_route (in-dialog requests are matched to their dialog there: ACK confirms,
 * BYE ends, the timeout is refreshed), `afterRoute` once request_route returned and the relay it
 * asked for was performed (a dialog dlg_manage() created without a transaction is dropped). Both
 * must not throw. (additive)
 */
export interface RouteObserver {
  beforeRoute(ctx: RequestContext): void;
  afterRoute(ctx: RequestContext): void;
}

/** The part of a loaded plugin the pipeline calls. */
export type RequestRouter = Pick<LoadedPlugin, 'requestRoute'>;

/**
 * A per-source check of every request before transactions, sanity and the plugin see it: pike's
 * `auto` mode (host/modules/pike). (additive)
 */
export interface FloodGuard {
  /** counts one request of `address`: 0 pass, 1 drop silently, 2 refuse with 503. */
  shed(address: string): number;
  /** extra header lines of that 503 (Retry-After). */
  readonly retryAfterHeaders: readonly string[];
}

export interface ServerOptions {
  config: SiphonConfig;
  log: Logger;
  /** the routing plugin; null answers every request 500 (no routing logic loaded). */
  router: RequestRouter | null;
  /** TCP framer; default the SIP layer's frameStream. */
  framer?: StreamFramer;
  /**
   * Transactions and stateful proxying (additive): true or timer overrides enable them; absent or
   * false keeps the stateless pipeline (RELAY answered 501, responses dropped).
   */
  transactions?: boolean | { timers?: Partial<TransactionTimers> };
  /**
   * Loaded before request_route for the requests that want it (additive): the modules' prefetchers
   * (db_mode 3 registrar snapshots, subscriber rows for digest auth), so their synchronous plugin
   * imports decide on data read from the DB (host/modules/types.ts MessagePrefetcher).
   */
  prefetchers?: readonly MessagePrefetcher[];
  /** core.overload's busy-share source (additive; tests): default Node's event-loop utilisation. */
  overloadUtilization?: UtilizationSource;
}

/** Pipeline counters (plain numbers; the control plane turns them into metrics). */
export interface PipelineStats {
  received: number;
  requests: number;
  responsesDropped: number;
  parseErrors: number;
  /** parse failures answered with failure.status. */
  parseErrorsReplied: number;
  /** parse failures dropped (no usable partial, an ACK, or status 0). */
  parseErrorsDropped: number;
  sanityFailures: number;
  acksAbsorbed: number;
  routed: number;
  /** requests the route ended without a reply (CONTINUE) or explicitly dropped (DROP). */
  dropped: number;
  relayNotImplemented: number;
  pluginErrors: number;
  /** exceptions caught in the receive path (bugs): logged, never propagated. */
  internalErrors: number;
  repliesSent: number;
  replyFailures: number;
  /** requests consumed by the transaction layer (retransmissions, ACK of non-2xx, CANCEL). (additive) */
  transactionAbsorbed: number;
  /** requests relayed by tm after request_route (t_relay / RELAY). (additive) */
  relayed: number;
  /** responses matched to a client transaction or forwarded statelessly. (additive) */
  responsesProxied: number;
  /** new dialogs / registrations refused with 503 while overloaded (core.overload). (additive) */
  overloadRejected: number;
  /** new requests refused with 503 because the transaction table was full (core.tm.max_transactions). (additive) */
  transactionsFullRejected: number;
  /** requests of blocked sources dropped / answered 503 by the flood guard (modules.pike.auto). (additive) */
  floodDropped: number;
  floodRejected: number;
}

export interface ServerStats extends PipelineStats {
  transports: Array<{ listen: string } & TransportStats>;
}

/** every counter at zero. */
export function newPipelineStats(): PipelineStats {
  return {
    received: 0,
    requests: 0,
    responsesDropped: 0,
    parseErrors: 0,
    parseErrorsReplied: 0,
    parseErrorsDropped: 0,
    sanityFailures: 0,
    acksAbsorbed: 0,
    routed: 0,
    dropped: 0,
    relayNotImplemented: 0,
    pluginErrors: 0,
    internalErrors: 0,
    repliesSent: 0,
    replyFailures: 0,
    transactionAbsorbed: 0,
    relayed: 0,
    responsesProxied: 0,
    overloadRejected: 0,
    transactionsFullRejected: 0,
    floodDropped: 0,
    floodRejected: 0,
  };
}
